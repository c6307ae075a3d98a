"""The delivery worker's part of account policy: credit back for what never reached an SMSC, numbers the network
says are barred go on the suppressions, and message content erased after the account's retention."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from test_worker import Scripted, all_in, run, statuses, worker_with  # tests/delivery/test_worker.py

from smsgw.accounts import Accounts
from smsgw.delivery.connectors.base import Outcome
from smsgw.delivery.connectors.simulator import SimulatorConnector
from smsgw.domain.errors import ErrorCode
from smsgw.domain.model import Account, MessageSpec, ReportMask, Status, SubmitRequest
from smsgw.gateway import Gateway
from smsgw.store import queue
from smsgw.store.database import Store
from smsgw.store.tables import inbound, messages

T0 = 1_800_000_000_000  # a fixed "now" in epoch ms
DAY_MS = 86_400_000


def submit(gateway: Gateway, account: Account, *texts: str, recipient: str = "+4791234567",
           batch_ref: str | None = None, **spec: Any) -> list[int]:
    result = gateway.submit(account, SubmitRequest(
        [MessageSpec(recipient=recipient, text=t, reports=ReportMask.FINAL, **spec) for t in texts],
        batch_ref=batch_ref, face="test"))
    ids = [o.message_id for o in result.outcomes]
    assert all(ids), result
    return [i for i in ids if i is not None]


def cost(store: Store, message_id: int) -> int | None:
    with store.read() as conn:
        return conn.execute(select(messages.c.cost).where(messages.c.id == message_id)).scalar_one()


def suppressed(gateway: Gateway, account: Account) -> dict[str, str]:
    return {number: reason for number, reason, _ in gateway.suppressions(account)}


@pytest.fixture
def other(accounts: Accounts) -> Account:
    return accounts.create("globex", "hunter2", default_country="NO")


# --- credit back -----------------------------------------------------------------------------------------------------


def test_a_message_the_smsc_rejects_gets_its_credit_back_and_a_delivered_one_does_not(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    gateway.credit(acme, 5)
    refused = submit(gateway, acme, "refused", recipient="+4799000001")[0]
    delivered = submit(gateway, acme, "delivered", recipient="+4791000001")[0]
    assert gateway.balance(acme) == 3
    sim = SimulatorConnector("sim", delay=0, rejected="^4799")
    run(worker_with(store, gateway, sim), all_in(store, [refused, delivered], Status.REJECTED, Status.DELIVERED))
    assert statuses(store, [refused, delivered]) == ["rejected", "delivered"]
    assert gateway.balance(acme) == 4
    assert (cost(store, refused), cost(store, delivered)) == (0, 1)


def test_a_message_that_expires_before_it_is_sent_gets_its_credit_back(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", credit_mode="currency", segment_price=4)
    gateway.clock = lambda: T0
    gateway.credit(acme, 100)
    message = submit(gateway, acme, "x" * 200, validity=timedelta(seconds=20))[0]  # two parts: 8
    assert gateway.balance(acme) == 92
    connector = Scripted("smsc")
    run(worker_with(store, gateway, connector, clock=lambda: T0 + 60_000), all_in(store, [message], Status.EXPIRED))
    assert connector.parts == []
    assert gateway.balance(acme) == 100 and cost(store, message) == 0


def test_a_message_that_fails_after_all_its_retries_without_being_taken_gets_its_credit_back(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", credit_mode="messages", single_shot_billing=True)
    gateway.credit(acme, 1)
    message = submit(gateway, acme, "premium")[0]
    run(worker_with(store, gateway, Scripted("smsc", [Outcome.BILLING])), all_in(store, [message], Status.FAILED))
    assert gateway.balance(acme) == 1


def test_a_message_with_one_part_taken_is_not_refunded_when_another_is_rejected(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    gateway.credit(acme, 1)
    message = submit(gateway, acme, "x" * 200)[0]
    connector = Scripted("smsc", [Outcome.ACCEPTED, Outcome.PERMANENT])
    run(worker_with(store, gateway, connector), all_in(store, [message], Status.REJECTED))
    assert gateway.balance(acme) == 0 and cost(store, message) == 1


def test_a_worker_whose_claim_ran_out_refunds_nothing_when_it_records_a_rejection(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    """Its record does not apply (another worker has the message now, and may send it): nor may its refund."""
    acme = accounts.update("acme", credit_mode="messages")
    gateway.credit(acme, 1)
    message = submit(gateway, acme, "slow worker")[0]
    late = worker_with(store, gateway, Scripted("smsc"), clock=lambda: T0 + 1)
    with store.write() as conn:
        [taken] = queue.claim(conn, late.name, T0 + 1, 10, 1_000)
        assert [m.id for m in queue.claim(conn, "the-next-worker", T0 + 5_000, 10, 60_000)] == [message]
    late._record([taken], [queue.MessageChange(message, Status.REJECTED, error_code="smpp:0x0b")], [],
                 {acme.id: acme}, T0 + 6_000)
    late._writer.close()
    assert statuses(store, [message]) == ["accepted"]
    assert gateway.balance(acme) == 0 and cost(store, message) == 1


# --- barred numbers --------------------------------------------------------------------------------------------------


def test_an_undeliverable_receipt_with_a_suppress_code_suppresses_the_number(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", suppress_codes=("001",))  # the simulator's UNDELIV carries err:001
    message = submit(gateway, acme, "to a barred number", recipient="+4790000001")[0]
    fine = submit(gateway, acme, "to a good one", recipient="+4791000001")[0]
    sim = SimulatorConnector("sim", delay=0, undeliverable="^4790")
    run(worker_with(store, gateway, sim), all_in(store, [message, fine], Status.UNDELIVERABLE, Status.DELIVERED))
    assert statuses(store, [message, fine]) == ["undeliverable", "delivered"]
    assert suppressed(gateway, acme) == {"+4790000001": "barred"}
    refused = gateway.submit(acme, SubmitRequest([MessageSpec("+4790000001", "again")])).outcomes[0]
    assert refused.error is not None and refused.error.code is ErrorCode.SUPPRESSED


def test_an_undeliverable_receipt_with_another_code_suppresses_nothing(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account, other: Account
) -> None:
    acme = accounts.update("acme", suppress_codes=("0x0b", "357"))
    message = submit(gateway, acme, "to a number out of reach", recipient="+4790000001")[0]
    theirs = submit(gateway, other, "globex keeps no codes", recipient="+4790000002")[0]
    sim = SimulatorConnector("sim", delay=0, undeliverable="^4790")
    run(worker_with(store, gateway, sim), all_in(store, [message, theirs], Status.UNDELIVERABLE))
    assert suppressed(gateway, acme) == {} and suppressed(gateway, other) == {}


# --- content retention -----------------------------------------------------------------------------------------------


def _message_rows(store: Store, ids: Sequence[int]) -> dict[int, Any]:
    with store.read() as conn:
        return {r.id: r for r in conn.execute(select(messages).where(messages.c.id.in_(ids)))}


def _mo_rows(store: Store) -> dict[int, Any]:
    with store.read() as conn:
        return {r.id: r for r in conn.execute(select(inbound))}


def _old_traffic(store: Store, gateway: Gateway, accounts: Accounts, retention: int) -> tuple[Account, list[int],
                                                                                               list[int]]:
    """Messages and MOs of 40 and of 10 days ago: for each age one delivered-ish (finished), one cancelled and one
    still pending. Returns the account, the message ids (old finished, old cancelled, old pending, new finished)
    and the MO ids (old, new)."""
    acme = accounts.update("acme", content_retention=retention, default_validity=365 * 86400)
    accounts.add_number("acme", "+4740001234")
    clock = [T0 - 40 * DAY_MS]
    gateway.clock = lambda: clock[0]
    old_done, old_cancelled = submit(gateway, acme, "old and finished", "old and cancelled", batch_ref="old")
    binary = gateway.submit(acme, SubmitRequest([MessageSpec("+4791234567", payload=b"\x01\x02", udh=None)],
                                                batch_ref="old-binary")).outcomes[0].message_id
    old_pending = submit(gateway, acme, "old and still waiting", send_at=datetime.fromtimestamp(
        (T0 + DAY_MS) / 1000, UTC))[0]
    old_mo = gateway.ingest_mo("+4791234567", "+4740001234", text="an old answer",
                               received_at=datetime.fromtimestamp(clock[0] / 1000, UTC)).id
    with store.write() as conn:
        conn.execute(messages.update().where(messages.c.id.in_([old_done, binary]))
                     .values(status="delivered"))
    gateway.cancel_batch(acme, "old")  # old_cancelled (old_done is delivered already)
    clock[0] = T0 - 10 * DAY_MS
    new_done = submit(gateway, acme, "recent and finished")[0]
    with store.write() as conn:
        conn.execute(messages.update().where(messages.c.id == new_done).values(status="delivered"))
    new_mo = gateway.ingest_mo("+4791234567", "+4740001234", text="a recent answer",
                               received_at=datetime.fromtimestamp(clock[0] / 1000, UTC)).id
    assert binary is not None
    return acme, [old_done, old_cancelled, binary, old_pending, new_done], [old_mo, new_mo]


def test_content_older_than_the_retention_is_erased_and_everything_else_kept(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    _, ids, (old_mo, new_mo) = _old_traffic(store, gateway, accounts, retention=30)
    before = _message_rows(store, ids)
    worker = worker_with(store, gateway, Scripted("smsc"), clock=lambda: T0)
    worker._erase_old_content()
    worker._writer.close()
    after = _message_rows(store, ids)
    old_done, old_cancelled, binary, old_pending, new_done = ids
    for erased in (old_done, old_cancelled, binary):
        assert (after[erased].text, after[erased].payload) == (None, None)
        kept = {k: v for k, v in after[erased]._mapping.items() if k not in ("text", "payload")}
        assert kept == {k: v for k, v in before[erased]._mapping.items() if k not in ("text", "payload")}
    assert after[old_pending].text == "old and still waiting"  # not sent yet: it still needs its text
    assert after[new_done].text == "recent and finished"
    mos = _mo_rows(store)
    assert (mos[old_mo].text, mos[old_mo].originator, mos[old_mo].destination) == \
        (None, "+4791234567", "+4740001234")
    assert mos[new_mo].text == "a recent answer"


def test_the_worker_erases_old_content_on_its_hourly_pass(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    _, ids, (old_mo, _) = _old_traffic(store, gateway, accounts, retention=30)
    worker = worker_with(store, gateway, Scripted("smsc"), clock=lambda: T0)
    worker._retention_checked = -float("inf")  # its first round is due at once (however long the machine is up)
    run(worker, lambda: _message_rows(store, ids[:1])[ids[0]].text is None)
    assert _mo_rows(store)[old_mo].text is None


def test_a_retention_of_zero_keeps_content_for_ever(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    _, ids, mo_ids = _old_traffic(store, gateway, accounts, retention=0)
    worker = worker_with(store, gateway, Scripted("smsc"), clock=lambda: T0 + 3650 * DAY_MS)
    worker._erase_old_content()
    worker._writer.close()
    rows = _message_rows(store, ids)
    assert all(rows[i].text is not None or rows[i].payload is not None for i in ids)
    assert all(_mo_rows(store)[i].text is not None for i in mo_ids)


def test_retention_is_per_account(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account, other: Account
) -> None:
    accounts.update("globex", content_retention=365)
    _, ids, _ = _old_traffic(store, gateway, accounts, retention=30)
    theirs = submit(gateway, other, "globex keeps a year")[0]  # gateway's clock: 10 days before T0
    with store.write() as conn:
        conn.execute(messages.update().where(messages.c.id == theirs).values(status="delivered",
                                                                             created_at=T0 - 40 * DAY_MS))
    worker = worker_with(store, gateway, Scripted("smsc"), clock=lambda: T0)
    worker._erase_old_content()
    worker._writer.close()
    rows = _message_rows(store, [ids[0], theirs])
    assert rows[ids[0]].text is None and rows[theirs].text == "globex keeps a year"


def test_a_large_backlog_is_erased_in_several_passes(
    store: Store, gateway: Gateway, accounts: Accounts, account: Account, monkeypatch: Any
) -> None:
    from smsgw.delivery import worker as worker_module

    monkeypatch.setattr(worker_module, "RETENTION_PASS", 7)
    acme = accounts.update("acme", content_retention=1)
    gateway.clock = lambda: T0 - 5 * DAY_MS
    ids = submit(gateway, acme, *[f"m{i}" for i in range(30)], batch_ref="many")
    gateway.cancel_batch(acme, "many")
    worker = worker_with(store, gateway, Scripted("smsc"), clock=lambda: T0)
    worker._erase_old_content()
    worker._writer.close()
    assert all(r.text is None for r in _message_rows(store, ids).values())
