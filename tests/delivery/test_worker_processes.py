"""Workers as the processes operators run: `smsgw worker` side by side on PostgreSQL, killed with SIGKILL on
SQLite, and the one `smsgw serve` starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from smsgw_testing import call
from sqlalchemy import func, select

from smsgw.domain.model import MessageSpec, ReportMask, SubmitRequest
from smsgw.services import Services
from smsgw.store import queue
from smsgw.store.tables import messages, segments, status_history

SMSGW = str(Path(sys.executable).with_name("smsgw"))


def start_worker(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([SMSGW, "--database-url", url, "worker", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def count(services: Services, status: str) -> int:
    with services.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(messages).where(messages.c.status == status))
                   .scalar() or 0)


def stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err.decode(errors="replace")


def submit_many(services: Services, n: int, reports: ReportMask = ReportMask.NONE) -> None:
    account = services.accounts.create("bulk", "pw", default_country="NO")
    for start in range(0, n, 5000):
        services.gateway.submit(account, SubmitRequest(face="test", messages=[
            MessageSpec(recipient=f"+479{i:07d}", text=f"message {i}", reports=reports)
            for i in range(start, min(n, start + 5000))]))


@pytest.mark.slow
def test_two_workers_on_postgresql_share_10000_messages_each_submitted_once(pg_url: str) -> None:
    services = Services.open(pg_url)
    try:
        submit_many(services, 10_000)
        workers = [start_worker(pg_url, "--smsc", "simulator://?delay=0", "--chunk", "200") for _ in range(2)]
        try:
            wait_for(lambda: count(services, "submitted") == 10_000, 120, "10,000 messages submitted")
        finally:
            errors = [stop(w) for w in workers]
        with services.store.read() as conn:
            assert conn.execute(select(func.count()).select_from(segments)).scalar() == 10_000
            submitted_twice = conn.execute(
                select(status_history.c.message_id).where(status_history.c.status == "submitted")
                .group_by(status_history.c.message_id).having(func.count() > 1)).all()
            assert submitted_twice == []
            states = queue.connector_state_rows(conn)
        per_worker = {r.worker: r.state["submitted"] for r in states if r.connector == "default"}
        assert sum(per_worker.values()) == 10_000, (per_worker, errors)
        assert len(per_worker) == 2 and min(per_worker.values()) > 0, per_worker  # both did a share
    finally:
        services.close()


@pytest.mark.slow
def test_a_worker_killed_mid_window_loses_nothing(sqlite_url: str) -> None:
    services = Services.open(sqlite_url)
    try:
        submit_many(services, 3000, reports=ReportMask.FINAL)
        first = start_worker(sqlite_url, "--smsc", "simulator://?delay=0.2", "--chunk", "50", "--claim-timeout", "2")
        wait_for(lambda: count(services, "delivered") > 200, 60, "the first worker to get going")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        owed = count(services, "submitted")  # receipts the dead simulator still owed
        assert count(services, "delivered") < 3000
        # The dead worker's SQLite lease runs out (15 s), then its claims (2 s): the next worker takes over.
        second = start_worker(sqlite_url, "--smsc", "simulator://?delay=0.2", "--claim-timeout", "2")
        try:
            wait_for(lambda: count(services, "accepted") == 0 and count(services, "submitted") <= owed, 90,
                     "every message sent")
        finally:
            stop(second)
        with services.store.read() as conn:
            parts = conn.execute(select(func.count()).select_from(segments)).scalar()
            claimed = conn.execute(select(func.count()).select_from(messages)
                                   .where(messages.c.claimed_by.is_not(None))).scalar()
        assert parts == 3000 and claimed == 0
        # The simulator is an SMSC inside the worker: receipts it still owed died with it (a real SMSC keeps them
        # and delivers them on the next bind). Everything else was sent again and delivered.
        assert count(services, "delivered") + count(services, "submitted") == 3000
    finally:
        services.close()


def test_serve_runs_a_worker_that_delivers_what_the_faces_accept(services: Services, served_url: str) -> None:
    services.accounts.create("acme", "s3cret", default_country="NO")
    status, body, _ = call(served_url, "/message?application=acme&password=s3cret&destination=%2B4791234567"
                           "&content=hello", "POST")
    assert status == 200 and body.strip().isdigit(), body
    message_id = int(body.strip())
    wait_for(lambda: services.gateway.status(message_id).status.value == "delivered", 30, "delivery")


def test_connectors_lists_config_and_worker_state(tmp_path: Path, sqlite_url: str) -> None:
    config = tmp_path / "smsgw.toml"
    config.write_text('[connectors.a]\nurl = "simulator://?delay=0"\n[connectors.b]\nurl = "simulator"\n'
                      '[[routes]]\nprefix = "+47"\nconnectors = ["a", "b"]\n', encoding="utf-8")
    worker = start_worker(sqlite_url, "--config", str(config))
    try:
        def listed() -> str:
            return subprocess.run([SMSGW, "--database-url", sqlite_url, "connectors", "--config", str(config)],
                                  capture_output=True, text=True, check=True).stdout
        wait_for(lambda: "worker " in listed(), 30, "the worker's state")
        out = listed()
        assert "connector a (simulator)" in out and "route +47 -> a, b" in out and ": bound" in out
    finally:
        stop(worker)
    bad = tmp_path / "bad.toml"
    bad.write_text('[connectors.a]\nurl = "carrier-pigeon://x"\n', encoding="utf-8")
    result = subprocess.run([SMSGW, "--database-url", sqlite_url, "worker", "--config", str(bad)],
                            capture_output=True, text=True, env={**os.environ})
    assert result.returncode == 2 and "unknown kind of URL" in result.stderr
