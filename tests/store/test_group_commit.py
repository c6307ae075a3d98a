"""Group commit: concurrent submits share transactions, every result is committed before it is returned, and one
failing job never fails the others of its group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, insert, select, text

from smsgw.domain.model import Account, MessageSpec, SubmitRequest
from smsgw.gateway import Gateway
from smsgw.store.database import Store
from smsgw.store.group_commit import GroupCommit
from smsgw.store.tables import node_leases


def _count_commits(store: Store) -> list[int]:
    commits = [0]

    @event.listens_for(store.engine, "commit")
    def counted(_conn: object) -> None:
        commits[0] += 1

    return commits


def test_concurrent_submits_are_all_committed_in_fewer_transactions(gateway: Gateway, store: Store,
                                                                    account: Account,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    commits = _count_commits(store)
    start = threading.Barrier(32)
    write = gateway._commits.work

    def slow_write(conn: Connection, jobs: list[Any]) -> list[Any]:
        # A transaction that takes a few milliseconds, as under load: the callers arriving meanwhile queue behind
        # it (on an idle machine SQLite commits so fast that 32 threads may each find the leader gone).
        time.sleep(0.005)
        return write(conn, jobs)

    monkeypatch.setattr(gateway._commits, "work", slow_write)

    def submit(i: int) -> int | None:
        start.wait()
        result = gateway.submit(account, SubmitRequest([MessageSpec(f"+4741{i:06d}", f"hello {i}")]))
        return result.outcomes[0].message_id

    with ThreadPoolExecutor(32) as pool:
        ids = list(pool.map(submit, range(32)))

    assert all(ids) and len(set(ids)) == 32
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM messages")).scalar_one() == 32
    assert commits[0] < 32, "no two concurrent submits shared a transaction"


def _each(job: Callable[[Connection, int], int]) -> Callable[[Connection, list[int]], list[int]]:
    return lambda conn, nodes: [job(conn, node) for node in nodes]


def test_a_result_is_returned_only_once_it_is_committed(store: Store) -> None:
    @_each
    def work(conn: Connection, node: int) -> int:
        conn.execute(insert(node_leases).values(node_id=node, holder="t", expires_at=0))
        return node

    group: GroupCommit[int, int] = GroupCommit(store, work)

    def run_and_look(node: int) -> int:
        group.run(node)
        with store.read() as conn:  # another connection: sees only what is committed
            return int(conn.execute(select(func.count()).where(node_leases.c.node_id == node)).scalar_one())

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(run_and_look, range(100, 140))) == [1] * 40


def test_one_failing_job_fails_alone_and_its_neighbours_are_committed(store: Store) -> None:
    gate = threading.Event()

    @_each
    def work(conn: Connection, node: int) -> int:
        if node == 0:
            gate.wait(5)  # hold the first transaction open so the others queue up behind it as one group
        if node == 13:
            raise ValueError("job 13 is bad")
        conn.execute(insert(node_leases).values(node_id=node, holder="t", expires_at=0))
        return node

    group: GroupCommit[int, int] = GroupCommit(store, work)
    with ThreadPoolExecutor(20) as pool:
        first = pool.submit(group.run, 0)
        others = {n: pool.submit(group.run, n) for n in range(1, 20)}
        gate.set()
        assert first.result() == 0
        for node, future in others.items():
            if node == 13:
                with pytest.raises(ValueError, match="job 13 is bad"):
                    future.result()
            else:
                assert future.result() == node
    with store.read() as conn:
        stored = {r.node_id for r in conn.execute(select(node_leases.c.node_id))}
    assert stored == set(range(20)) - {13}
