"""The outbox as operators meet it: a report past its retention is dead, `smsgw reports --failed` lists it and
`smsgw reports resend` puts it back; `smsgw serve` runs the outbox beside the server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_outbox import (
    Clock,
    Receiver,
    Reply,
    all_done,
    customer,
    dr,
    fail_until_dead,
    make_outbox,
    row,
    running,
    wait_until,
)

from smsgw.accounts import Accounts
from smsgw.cli import main
from smsgw.gateway import Gateway
from smsgw.services import Services
from smsgw.store.database import Store

SMSGW = str(Path(sys.executable).with_name("smsgw"))
SECOND = 1000


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gw(store: Store, gateway: Gateway, clock: Clock) -> Iterator[Gateway]:
    clocked = Gateway(store, gateway.ids, clock=clock)
    yield clocked
    clocked.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    customer_server = Receiver()
    yield customer_server
    customer_server.close()


def smsgw(database_url: str, *args: str) -> tuple[str, str]:
    """`smsgw --database-url URL ARGS…` in this process: (stdout, stderr); fails on a non-zero exit."""
    result = CliRunner().invoke(main, ["--database-url", database_url, *args])
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result.stdout, result.stderr


def test_a_report_past_its_retention_is_dead_listed_as_failed_and_arrives_once_resent(
        database_url: str, store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    receiver.answer("/dead/dr", Reply(500, b"database on fire"))
    account, _ = customer(accounts, "dead", "modica", receiver.url("/dead/dr"), None, report_retention=1)
    report_id = dr(store, gw, account)
    with running(make_outbox(store, gw, clock)) as run:
        delays = fail_until_dead(run, store, clock, receiver, "/dead/dr", report_id)
    # Tries at 0, 30 s, 1.5, 3.5, 7.5, 15.5 and 31.5 min: an eighth 32 min later would be past the hour's retention.
    assert [d // SECOND for d in delays] == [30, 60, 120, 240, 480, 960]
    r = row(store, report_id)
    assert (r.state, r.attempts, r.last_error) == ("dead", 7, "HTTP 500: database on fire")

    listed = json.loads(smsgw(database_url, "reports", "--failed", "--json")[0])
    assert [(d["id"], d["account"], d["kind"], d["attempts"], d["last_error"]) for d in listed] == [
        (report_id, "dead", "dr", 7, "HTTP 500: database on fire")]
    table = smsgw(database_url, "reports", "--failed", "--account", "dead")[0]
    assert str(report_id) in table and "HTTP 500: database on fire" in table
    assert json.loads(smsgw(database_url, "reports", "--json")[0]) == []  # nothing waiting

    assert "1 report back in the outbox" in smsgw(database_url, "reports", "resend", "--all")[1]
    r = row(store, report_id)
    assert (r.state, r.attempts, r.last_error) == ("pending", 0, None)
    assert json.loads(smsgw(database_url, "reports", "--failed", "--json")[0]) == []

    receiver.answer("/dead/dr", Reply(200, b"OK"))
    with running(make_outbox(store, gw, clock)) as run:
        run.until(all_done(store, [report_id]), "the resent report acknowledged")
    assert [request.status for request in receiver.to("/dead/dr")] == [500] * 7 + [200]


def test_serve_runs_the_outbox_that_pushes_an_mo_to_the_customer(
        sqlite_url: str, services: Services, served_url: str, receiver: Receiver) -> None:
    account, number = customer(services.accounts, "served", "modica", None, receiver.url("/served/mo"))
    simulated = subprocess.run([SMSGW, "--database-url", sqlite_url, "simulate", "mo", "--from", "+4791234567",
                                "--to", number, "--text", "hello from the network"],
                               capture_output=True, text=True, check=True, timeout=60)
    mo_id = simulated.stdout.strip()
    wait_until(lambda: bool(receiver.to("/served/mo")), "the MO at the customer", timeout=30)
    [request] = receiver.to("/served/mo")
    assert request.query["id"] == mo_id and request.query["content"] == "hello from the network"
    assert request.query["destination"] == number and account.report_format == "modica"
