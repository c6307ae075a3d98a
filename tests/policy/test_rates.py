"""Rate limits: token-bucket arithmetic, buckets shared by the processes of one machine (and only on one database),
the refill divided among the machines of the node leases, and a full slot table that admits."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from smsgw.policy import rates as rates_module
from smsgw.policy.rates import Rates, default_path, host_of
from smsgw.store.database import Store
from smsgw.store.tables import node_leases

NOW_MS = 1_800_000_000_000
ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    store = Store(sqlite_url)
    store.migrate()
    yield store
    store.dispose()


def admit(limits: Rates, account_id: int, kind: str, limit: int, n: int = 1) -> float:
    """One limit's answer: 0.0 when admitted, else the seconds to wait."""
    refused = limits.admit(account_id, [(kind, limit, n)])
    return 0.0 if refused is None else refused[1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rates(sqlite_store: Store, clock: FakeClock, tmp_path: Path) -> Iterator[Rates]:
    limits = Rates(sqlite_store, path=tmp_path / "rates", clock=clock, wall=lambda: NOW_MS)
    yield limits
    limits.close()


def test_a_burst_of_the_limit_then_the_wait_for_one_token(rates: Rates, clock: FakeClock) -> None:
    assert [admit(rates, 7, "requests", 5) for _ in range(5)] == [0.0] * 5
    assert admit(rates, 7, "requests", 5) == pytest.approx(0.2)
    assert admit(rates, 7, "requests", 5) == pytest.approx(0.2)  # a refusal takes nothing
    clock.now += 0.1
    assert admit(rates, 7, "requests", 5) == pytest.approx(0.1)
    clock.now += 0.1
    assert admit(rates, 7, "requests", 5) == 0.0
    assert admit(rates, 7, "requests", 5) == pytest.approx(0.2)


def test_refills_to_the_capacity_and_no_more(rates: Rates, clock: FakeClock) -> None:
    for _ in range(5):
        admit(rates, 7, "requests", 5)
    clock.now += 0.6  # three tokens back
    assert [admit(rates, 7, "requests", 5) for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.2)]
    clock.now += 3600  # a long pause refills one second's worth, not an hour's
    assert [admit(rates, 7, "requests", 5) for _ in range(6)] == [0.0] * 5 + [pytest.approx(0.2)]


def test_a_batch_beyond_the_capacity_goes_at_once_and_then_is_repaid(rates: Rates, clock: FakeClock) -> None:
    assert admit(rates, 7, "messages", 100, 10_000) == 0.0
    assert admit(rates, 7, "messages", 100, 1) == pytest.approx((1 + 9_900) / 100)  # 99 s in debt, one token more
    clock.now += 99.0
    assert admit(rates, 7, "messages", 100, 1) == pytest.approx(0.01)
    clock.now += 0.01
    assert admit(rates, 7, "messages", 100, 50) == 0.0  # one token admits a request of any size again


def test_a_refusal_waits_at_least_a_millisecond(rates: Rates, clock: FakeClock) -> None:
    for _ in range(1000):
        admit(rates, 7, "messages", 1000)
    clock.now += 0.000999  # 0.999 of a token
    assert admit(rates, 7, "messages", 1000) == pytest.approx(0.001)


def test_kinds_and_accounts_have_their_own_buckets(rates: Rates) -> None:
    assert admit(rates, 7, "requests", 1) == 0.0
    assert admit(rates, 7, "requests", 1) > 0
    assert admit(rates, 7, "messages", 1) == 0.0
    assert admit(rates, 8, "requests", 1) == 0.0


def test_no_limit_admits_everything_and_touches_nothing(sqlite_store: Store, tmp_path: Path) -> None:
    limits = Rates(sqlite_store, path=tmp_path / "rates")
    assert all(admit(limits, 7, "messages", 0, 10**9) == 0.0 for _ in range(1000))
    assert admit(limits, 7, "requests", -1) == 0.0
    assert not (tmp_path / "rates").exists()  # not even the file was made
    limits.close()


def test_a_lowered_limit_applies_at_once(rates: Rates) -> None:
    assert admit(rates, 7, "requests", 100) == 0.0  # 99 left
    assert [admit(rates, 7, "requests", 2) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]


def test_an_unknown_kind_is_an_error(rates: Rates) -> None:
    with pytest.raises(ValueError, match="unknown rate kind"):
        admit(rates, 7, "bytes", 5)


def test_a_request_is_taken_from_every_bucket_or_from_none(rates: Rates) -> None:
    both = [("requests", 10, 1), ("messages", 5, 5)]
    assert rates.admit(7, both) is None
    assert rates.admit(7, both) == ("messages", pytest.approx(0.2))  # the message bucket is in debt
    # The refused request took no request token: nine are left of ten.
    assert [admit(rates, 7, "requests", 10) for _ in range(10)] == [0.0] * 9 + [pytest.approx(0.1)]
    assert rates.admit(8, [("requests", 1, 1), ("messages", 0, 5)]) is None  # a limit of 0 is none


def test_close_then_admit_maps_the_file_again_with_its_buckets(rates: Rates) -> None:
    admit(rates, 7, "requests", 1)
    rates.close()
    assert admit(rates, 7, "requests", 1) > 0


CHILD = """
import sys
from smsgw.policy.rates import Rates
from smsgw.store.database import Store
rates = Rates(Store(sys.argv[1]), clock=lambda: 1000.0)  # a frozen clock: no refill, only the shared burst
print(rates.path, flush=True)
sys.stdin.readline()
admitted = sum(rates.admit(7, [("requests", int(sys.argv[2]), 1)]) is None for _ in range(int(sys.argv[3])))
print(admitted, flush=True)
"""


def _children(url: str, limit: int, tries: int, count: int) -> list[int]:
    """Start `count` processes on `url`, release them at once, and return how many requests each admitted."""
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, url, str(limit), str(tries)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    paths: set[str] = set()
    try:
        for proc in procs:
            assert proc.stdout is not None
            paths.add(proc.stdout.readline().strip())
        assert len(paths) == 1 and paths != {""}
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        admitted = []
        for proc in procs:
            assert proc.stdout is not None
            admitted.append(int(proc.stdout.readline()))
            assert proc.wait(30) == 0
        return admitted
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for path in paths:
            if path:
                Path(path).unlink(missing_ok=True)


@pytest.mark.slow
def test_processes_on_one_database_share_the_buckets(sqlite_store: Store) -> None:
    admitted = _children(sqlite_store.url, 100, 2000, 2)
    assert sum(admitted) == 100  # together one bucket's worth, not two


def test_processes_on_one_database_share_the_file_and_others_do_not(tmp_path: Path) -> None:
    first, second = Store(f"sqlite:///{tmp_path / 'a.db'}"), Store(f"sqlite:///{tmp_path / 'b.db'}")
    for store in (first, second):
        store.migrate()
    clock = FakeClock()
    a1, a2, b = (Rates(store, clock=clock) for store in (first, first, second))
    try:
        assert a1.path == a2.path != b.path
        assert a1.path == default_path(f"sqlite:///{tmp_path}/./a.db")  # the same file however it is named
        assert admit(a1, 7, "requests", 3) == 0.0
        assert admit(a2, 7, "requests", 3) == 0.0
        assert admit(a1, 7, "requests", 3) == 0.0
        assert admit(a2, 7, "requests", 3) > 0  # the bucket of database a is empty
        assert [admit(b, 7, "requests", 3) for _ in range(3)] == [0.0] * 3  # database b's is not
    finally:
        for limits in (a1, a2, b):
            limits.close()
        a1.path.unlink(missing_ok=True)
        b.path.unlink(missing_ok=True)
        first.dispose()
        second.dispose()


def test_the_refill_is_divided_among_the_machines_of_unexpired_leases(store: Store, tmp_path: Path) -> None:
    with store.write() as conn:
        conn.execute(insert(node_leases), [
            {"node_id": 900, "holder": "host-b:11:7f00aa", "expires_at": NOW_MS + 60_000},
            {"node_id": 901, "holder": "host-b:12:7f00bb", "expires_at": NOW_MS + 60_000},
            {"node_id": 902, "holder": "host-c:13:7f00cc", "expires_at": NOW_MS + 1},
            {"node_id": 903, "holder": "host-d:14:7f00dd", "expires_at": NOW_MS},  # expired: not counted
            {"node_id": 904, "holder": "host-e:15:7f00ee", "expires_at": NOW_MS - 60_000},
        ])
    clock = FakeClock()
    limits = Rates(store, path=tmp_path / "rates", clock=clock, wall=lambda: NOW_MS)
    try:
        assert [admit(limits, 7, "requests", 30) for _ in range(30)] == [0.0] * 30  # the burst is the limit
        assert admit(limits, 7, "requests", 30) == pytest.approx(0.1)  # 10 per second: this machine, b and c
        clock.now += 1.0
        assert [admit(limits, 7, "requests", 30) for _ in range(11)] == [0.0] * 10 + [pytest.approx(0.1)]

        with store.write() as conn:
            conn.execute(node_leases.delete())
        clock.now += 1.0  # within 5 s of the count: still three machines
        assert [admit(limits, 7, "requests", 30) for _ in range(11)] == [0.0] * 10 + [pytest.approx(0.1)]
        clock.now += 4.0  # read again: alone now
        assert [admit(limits, 7, "requests", 30) for _ in range(30)] == [0.0] * 30
        assert admit(limits, 7, "requests", 30) == pytest.approx(1 / 30)
    finally:
        limits.close()


def test_a_database_error_admits_as_one_machine_and_says_so(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    unreachable = Store(f"sqlite:///{tmp_path / 'missing' / 'smsgw.db'}")
    limits = Rates(unreachable, path=tmp_path / "rates", clock=FakeClock(), wall=lambda: NOW_MS)
    with caplog.at_level(logging.WARNING, logger="smsgw.policy.rates"):
        assert [admit(limits, 7, "requests", 2) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]
    assert "cannot count the machines" in caplog.text
    limits.close()
    unreachable.dispose()


def test_host_of_a_holder() -> None:
    assert host_of("gw-1.example.net:4242:7f3a") == "gw-1.example.net"
    assert host_of("first") == "first"


def test_a_full_table_admits_and_says_so_once(sqlite_store: Store, tmp_path: Path, clock: FakeClock,
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(rates_module, "SLOTS", 4)
    limits = Rates(sqlite_store, path=tmp_path / "rates", clock=clock, wall=lambda: NOW_MS)
    try:
        with caplog.at_level(logging.ERROR, logger="smsgw.policy.rates"):
            for account in range(1, 5):
                assert admit(limits, account, "requests", 1) == 0.0
                assert admit(limits, account, "requests", 1) > 0
            assert [admit(limits, 5, "requests", 1) for _ in range(3)] == [0.0] * 3  # no slot: no limit
            assert admit(limits, 6, "messages", 1, 10) == 0.0
        assert len(caplog.records) == 1 and "is full" in caplog.text
        assert (tmp_path / "rates").stat().st_size == 64 + 4 * 40

        clock.now += 0.5
        assert admit(limits, 1, "requests", 1) > 0  # still in use: still limited
        clock.now += 0.5  # every bucket full again: their slots may be reused
        assert admit(limits, 5, "requests", 1) == 0.0
        assert admit(limits, 5, "requests", 1) > 0
    finally:
        limits.close()


def test_an_existing_file_keeps_its_number_of_slots(sqlite_store: Store, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rates_module, "SLOTS", 1000)
    Rates(sqlite_store, path=tmp_path / "rates").admit(1, [("requests", 1, 1)])
    monkeypatch.setattr(rates_module, "SLOTS", 8)
    limits = Rates(sqlite_store, path=tmp_path / "rates")
    assert admit(limits, 1, "requests", 1) > 0  # the same bucket, found in the 1,000 slots
    assert (tmp_path / "rates").stat().st_size == 64 + 1000 * 40
    limits.close()


def test_a_file_that_is_not_a_table_is_refused(sqlite_store: Store, tmp_path: Path) -> None:
    (tmp_path / "rates").write_bytes(b"something else entirely, not ours" * 4)
    with pytest.raises(RuntimeError, match="not a rate-limit table"):
        Rates(sqlite_store, path=tmp_path / "rates").admit(1, [("requests", 1, 1)])


def test_a_forked_child_takes_from_the_same_buckets(rates: Rates) -> None:
    assert admit(rates, 7, "requests", 3) == 0.0
    pid = os.fork()
    if pid == 0:  # the child: its own lock and file description, the same buckets
        code = 2
        try:
            code = 0 if admit(rates, 7, "requests", 3) == 0.0 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert admit(rates, 7, "requests", 3) == 0.0
    assert admit(rates, 7, "requests", 3) > 0
