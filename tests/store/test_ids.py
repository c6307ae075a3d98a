"""Id allocation: the 64-bit layout and its promises under a fake clock, node leases on both databases, and two
processes allocating at once."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Connection, insert, select, text, update

from smsgw.store.database import Store
from smsgw.store.ids import (
    EPOCH_MS,
    MAX_NODE,
    NODE_BITS,
    SEQ_BITS,
    SEQ_PER_MS,
    IdAllocator,
    LeaseLost,
    NodeLease,
    id_time_ms,
)
from smsgw.store.tables import node_leases

if TYPE_CHECKING:
    from conftest import Children  # tests/store/conftest.py

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FOREVER = 2**62


class FakeClock:
    def __init__(self, ms: int = T0) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def _node_of(ident: int) -> int:
    return (ident >> SEQ_BITS) & MAX_NODE


def _allocator(node: int = 5, clock: FakeClock | None = None, until: int = FOREVER) -> tuple[IdAllocator, FakeClock]:
    clock = clock or FakeClock()
    return IdAllocator(node, lambda: until, clock), clock


def _strictly_increasing(ids: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(ids))


# --- IdAllocator ----------------------------------------------------------------------------------------------


def test_ids_are_strictly_increasing_positive_and_below_2_to_the_63() -> None:
    allocator, clock = _allocator()
    ids: list[int] = []
    for step, n in enumerate([1, 3, 100, 1, 4096, 7, 5000, 1]):
        clock.ms = T0 + 3 * step  # the clock moves on, sometimes less than the last burst borrowed
        ids += allocator.allocate(n)
    ids += [allocator.one() for _ in range(50)]
    assert _strictly_increasing(ids)
    assert all(0 < i < 2**63 for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_stay_below_2_to_the_63_until_the_end_of_the_41_bit_clock() -> None:
    last_ms = EPOCH_MS + (1 << 41) - 1
    allocator, _ = _allocator(node=MAX_NODE, clock=FakeClock(last_ms))
    ids = allocator.allocate(SEQ_PER_MS)
    assert max(ids) == 2**63 - 1
    assert all(i > 0 for i in ids)


@pytest.mark.parametrize("node", [0, 1, 513, MAX_NODE])
def test_ids_carry_the_node_bits(node: int) -> None:
    allocator, clock = _allocator(node)
    ids = allocator.allocate(10)
    clock.ms += 1
    ids += allocator.allocate(SEQ_PER_MS + 10)  # borrowing milliseconds keeps the node too
    assert {_node_of(i) for i in ids} == {node}


@pytest.mark.parametrize("node", [-1, MAX_NODE + 1])
def test_a_node_outside_ten_bits_is_refused(node: int) -> None:
    with pytest.raises(ValueError):
        IdAllocator(node, lambda: FOREVER)


def test_id_time_ms_recovers_the_millisecond_of_allocation() -> None:
    allocator, clock = _allocator()
    for offset in (0, 1, 999, 86_400_000, 10 * 365 * 86_400_000):
        clock.ms = T0 + offset
        assert id_time_ms(allocator.one()) == T0 + offset


def test_the_sequence_fills_the_low_twelve_bits_in_order() -> None:
    allocator, _ = _allocator(node=3)
    ids = allocator.allocate(5)
    base = ((T0 - EPOCH_MS) << (NODE_BITS + SEQ_BITS)) | (3 << SEQ_BITS)
    assert ids == [base, base + 1, base + 2, base + 3, base + 4]


def test_a_burst_of_10000_in_one_millisecond_is_unique_ordered_and_borrows_the_next_milliseconds() -> None:
    allocator, clock = _allocator()
    burst = allocator.allocate(10_000)
    assert len(set(burst)) == 10_000
    assert _strictly_increasing(burst)
    per_ms: dict[int, int] = {}
    for ident in burst:
        per_ms[id_time_ms(ident)] = per_ms.get(id_time_ms(ident), 0) + 1
    assert per_ms == {T0: SEQ_PER_MS, T0 + 1: SEQ_PER_MS, T0 + 2: 10_000 - 2 * SEQ_PER_MS}

    # The clock reaching a borrowed millisecond does not hand out its ids twice.
    clock.ms = T0 + 1
    after = allocator.allocate(3)
    assert after[0] > burst[-1]
    assert {id_time_ms(i) for i in after} == {T0 + 2}


def test_10000_single_allocations_in_one_millisecond_are_unique_and_ordered() -> None:
    allocator, _ = _allocator()
    ids = [allocator.one() for _ in range(10_000)]
    assert _strictly_increasing(ids)
    assert id_time_ms(ids[-1]) == T0 + 2


def test_a_clock_going_backwards_never_yields_a_duplicate() -> None:
    allocator, clock = _allocator()
    ids = allocator.allocate(10)
    for back in (1, 5, 1000, 3_600_000):
        clock.ms = T0 - back
        more = allocator.allocate(10)
        assert more[0] > ids[-1]
        ids += more
    clock.ms = T0  # and forward again, to where it was
    ids += allocator.allocate(10)
    assert _strictly_increasing(ids)


def test_a_clock_wandering_back_and_forth_under_bursts_never_yields_a_duplicate() -> None:
    rng = random.Random(20240101)
    allocator, clock = _allocator()
    ids: list[int] = []
    for _ in range(2_000):
        clock.ms += rng.choice([-50, -3, -1, 0, 0, 1, 1, 2, 40])
        ids += allocator.allocate(rng.choice([1, 1, 2, 17, 300, 5000]))
    assert _strictly_increasing(ids)


def test_allocation_after_the_lease_expired_raises_lease_lost() -> None:
    clock = FakeClock()
    until = {"ms": T0 + 10}
    allocator = IdAllocator(7, lambda: until["ms"], clock)
    assert allocator.one() > 0
    clock.ms = T0 + 9
    assert allocator.allocate(2)
    clock.ms = T0 + 10  # the lease is good until, not including, this millisecond
    with pytest.raises(LeaseLost):
        allocator.allocate(1)
    with pytest.raises(LeaseLost):
        allocator.one()
    until["ms"] = T0 + 60_000  # renewed: allocation resumes
    assert allocator.one() > 0
    until["ms"] = 0  # taken over (NodeLease.renew sets 0)
    with pytest.raises(LeaseLost):
        allocator.one()


def test_ids_allocated_from_many_threads_at_once_are_unique() -> None:
    allocator = IdAllocator(9, lambda: FOREVER)  # the real clock
    results: list[list[int]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def work(out: list[int]) -> None:
        start.wait()
        for _ in range(200):
            out += allocator.allocate(50)

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for out in results for i in out]
    assert len(every) == len(set(every)) == 8 * 200 * 50
    assert all(_strictly_increasing(out) for out in results)


# --- NodeLease, on both databases -----------------------------------------------------------------------------


def _holders(store: Store) -> dict[int, str]:
    with store.read() as conn:
        return {r.node_id: r.holder for r in conn.execute(select(node_leases))}


def test_two_leases_get_different_nodes(store: Store) -> None:
    first, second = NodeLease(store, "first"), NodeLease(store, "second")
    try:
        assert first.acquire() != second.acquire()
        assert _holders(store) == {first.node: "first", second.node: "second"}
        assert first.valid_until > 0 and second.valid_until > 0
    finally:
        first.release()
        second.release()


def test_a_released_node_is_reused_and_its_allocator_stops(store: Store) -> None:
    first, second = NodeLease(store, "first"), NodeLease(store, "second")
    allocator = first.start()
    second.acquire()
    node = first.node
    assert allocator.one() > 0
    first.release()
    assert node not in _holders(store)
    with pytest.raises(LeaseLost):
        allocator.one()
    third = NodeLease(store, "third")
    try:
        assert third.acquire() == node
    finally:
        third.release()
        second.release()


def test_an_expired_lease_is_taken_over_and_its_old_holder_can_neither_renew_nor_allocate(store: Store) -> None:
    old = NodeLease(store, "old")
    allocator = old.start()
    node = old.node
    # Every other node is held by a live process, so the only way to a node is the expired one.
    with store.write() as conn:
        conn.execute(insert(node_leases), [
            {"node_id": n, "holder": f"live-{n}", "expires_at": FOREVER} for n in range(MAX_NODE + 1) if n != node
        ])
        conn.execute(update(node_leases).where(node_leases.c.node_id == node).values(expires_at=1))
    new = NodeLease(store, "new")
    try:
        assert new.acquire() == node
        assert _holders(store)[node] == "new"
        assert old.renew() is False
        with pytest.raises(LeaseLost):
            allocator.one()
        assert new.renew() is True
        old.release()  # releasing a lost lease must not free the new holder's node
        assert _holders(store)[node] == "new"
    finally:
        old.release()
        new.release()


def test_a_live_lease_is_never_taken_over(store: Store) -> None:
    with store.write() as conn:
        conn.execute(insert(node_leases), [
            {"node_id": n, "holder": f"live-{n}", "expires_at": FOREVER} for n in range(MAX_NODE + 1)
        ])
    with pytest.raises(RuntimeError, match="1,024"):
        NodeLease(store, "late").acquire()
    assert set(_holders(store).values()) == {f"live-{n}" for n in range(MAX_NODE + 1)}


def test_renew_extends_the_lease_in_the_database(store: Store) -> None:
    lease = NodeLease(store, "renewer")
    try:
        lease.acquire()
        with store.write() as conn:
            conn.execute(update(node_leases).values(expires_at=text("expires_at - 60000")))
        before = lease.valid_until
        assert lease.renew() is True
        with store.read() as conn:
            stored = conn.execute(select(node_leases.c.expires_at)).scalar_one()
        assert stored == lease.valid_until >= before
    finally:
        lease.release()


class _PausingStore:
    """Lets the store's writes through, but holds one chosen thread just after its write committed."""

    def __init__(self, store: Store, thread_name: str) -> None:
        self.store = store
        self.thread_name = thread_name
        self.committed = threading.Event()
        self.proceed = threading.Event()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.store.write() as conn:
            yield conn
        if threading.current_thread().name == self.thread_name:
            self.committed.set()
            assert self.proceed.wait(10)


def test_a_lease_released_while_a_renewal_is_in_flight_stays_released(store: Store) -> None:
    lease = NodeLease(store, "closing")
    allocator = lease.start()
    pausing = _PausingStore(store, "renewal")
    lease.store = pausing  # type: ignore[assignment]
    renewal = threading.Thread(target=lease.renew, name="renewal")
    closing = threading.Thread(target=lease.release, name="closing")
    renewal.start()
    try:
        assert pausing.committed.wait(10)  # the renewal's UPDATE is committed; it has not yet set valid_until
        closing.start()
        closing.join(2)  # a release that waits for the renewal in flight would still be waiting here
    finally:
        pausing.proceed.set()
        renewal.join(10)
        if closing.ident is not None:
            closing.join(10)
    assert not renewal.is_alive() and not closing.is_alive()
    assert _holders(store) == {}
    with pytest.raises(LeaseLost):
        allocator.one()


# --- two processes --------------------------------------------------------------------------------------------

_ALLOCATE = """
import sys
from smsgw.store.database import Store
from smsgw.store.ids import NodeLease

store = Store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
lease = NodeLease(store)
allocator = lease.start()
ids = []
for _ in range(20):
    ids += allocator.allocate(10_000)
with open(sys.argv[2], "w") as out:
    out.write("\\n".join(map(str, ids)))
print("node", lease.node, flush=True)
lease.release()
store.dispose()
"""


@pytest.mark.slow
def test_two_processes_allocating_at_once_never_make_the_same_id(
    store: Store, children: Children, tmp_path: Path
) -> None:
    files = [tmp_path / f"ids-{n}.txt" for n in range(2)]
    procs = [children.start(_ALLOCATE, store.url, str(path)) for path in files]
    for proc in procs:
        assert proc.line() == "ready"
    for proc in procs:  # released together: they race for a node, then allocate side by side
        proc.go()
    nodes = []
    for proc in procs:
        word, node = proc.line().split()
        assert word == "node"
        nodes.append(int(node))
        proc.finish()
    assert nodes[0] != nodes[1]

    every: list[int] = []
    for path, node in zip(files, nodes, strict=True):
        ids = [int(line) for line in path.read_text().split()]
        assert len(ids) == 200_000
        assert _strictly_increasing(ids)
        assert {_node_of(i) for i in ids} == {node}
        every += ids
    assert len(set(every)) == len(every) == 400_000
    assert _holders(store) == {}  # both released their nodes


def test_a_lease_released_with_grace_still_allocates_until_then_and_only_then_frees_its_node(store: Store) -> None:
    first, second = NodeLease(store, "first"), NodeLease(store, "second")
    allocator = first.start()
    node = first.node
    first.release(grace_ms=60_000)
    assert allocator.one() > 0  # work in flight may finish
    with store.write() as conn:  # every other node is held by a live process
        conn.execute(insert(node_leases), [{"node_id": n, "holder": "other", "expires_at": 2**62}
                                           for n in range(MAX_NODE + 1) if n != node])
    with pytest.raises(RuntimeError, match="all 1,024 id nodes are leased"):
        second.acquire()  # nobody takes the released node during its grace period
    with store.write() as conn:
        conn.execute(update(node_leases).where(node_leases.c.node_id == node).values(expires_at=0))
    assert second.acquire() == node
