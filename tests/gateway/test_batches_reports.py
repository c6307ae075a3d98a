"""Batches (status, cancel), the pull queue of reports (receive, confirm) and inbound routing (ingest_mo)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import OperationalError

from smsgw.accounts import Accounts
from smsgw.domain.errors import ErrorCode, GatewayError, RequestError
from smsgw.domain.model import (
    Account,
    Cancelled,
    MessageSpec,
    ReportItem,
    ReportKind,
    ReportMask,
    Status,
    SubmitRequest,
    SubmitResult,
)
from smsgw.gateway import Gateway
from smsgw.store.database import Store
from smsgw.store.tables import inbound, messages, reports

NO = "+4741000000"
SHORT = "+4741900000"


def later(now_ms: int, hours: int = 3) -> datetime:
    return datetime.fromtimestamp((now_ms + hours * 3_600_000) / 1000, UTC)


def set_status(store: Store, message_id: int | None, status: Status) -> None:
    with store.write() as conn:
        conn.execute(update(messages).where(messages.c.id == message_id).values(status=status.value))


def ids(result: SubmitResult) -> list[int]:
    found = [o.message_id for o in result.outcomes if o.message_id is not None]
    assert len(found) == len(result.outcomes), result
    return found


# --- batches -------------------------------------------------------------------------------------------------------


def test_batch_status_counts_the_batchs_messages_by_status(
    clocked: Gateway, clock: Callable[[], int], store: Store, account: Account
) -> None:
    result = clocked.submit(account, SubmitRequest([
        MessageSpec(NO, "now"),
        MessageSpec(NO, "now too"),
        MessageSpec(NO, "later", send_at=later(clock())),
        MessageSpec("1", "refused"),
        MessageSpec(NO, "sent"),
    ], batch_ref="b-1"))
    set_status(store, result.outcomes[4].message_id, Status.SUBMITTED)
    batch = clocked.batch_status(account, "b-1")
    assert batch.batch_ref == "b-1"
    assert batch.total == 4  # a refused message never joins its batch
    assert dict(batch.by_status) == {Status.ACCEPTED: 2, Status.SCHEDULED: 1, Status.SUBMITTED: 1}
    assert batch.pending == 3


def test_batch_status_of_an_unknown_or_foreign_batch_is_not_found(
    gateway: Gateway, account: Account, other: Account
) -> None:
    gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")], batch_ref="mine"))
    for who, ref in ((account, "nope"), (other, "mine")):
        with pytest.raises(GatewayError) as caught:
            gateway.batch_status(who, ref)
        assert caught.value.code is ErrorCode.NOT_FOUND


def test_cancel_batch_cancels_only_what_is_not_yet_sent(
    clocked: Gateway, clock: Callable[[], int], store: Store, account: Account
) -> None:
    now = clock()
    result = clocked.submit(account, SubmitRequest([
        MessageSpec(NO, "accepted", client_ref="c-accepted"),
        MessageSpec(NO, "scheduled", client_ref="c-scheduled", send_at=later(now), reports=ReportMask.NONE),
        MessageSpec(NO, "sent", client_ref="c-sent"),
    ], batch_ref="b-2"))
    accepted, scheduled, sent = ids(result)
    set_status(store, sent, Status.SUBMITTED)
    unrelated = clocked.submit(account, SubmitRequest([MessageSpec(NO, "other batch")], batch_ref="b-3"))

    cancelled = clocked.cancel_batch(account, "b-2")

    assert cancelled == [Cancelled(accepted, "c-accepted"), Cancelled(scheduled, "c-scheduled")]
    assert [clocked.status(i).status for i in (accepted, scheduled, sent)] == [
        Status.CANCELLED, Status.CANCELLED, Status.SUBMITTED]
    assert clocked.status(ids(unrelated)[0]).status is Status.ACCEPTED
    at = datetime.fromtimestamp(now / 1000, UTC)
    assert clocked.history(accepted) == [(Status.ACCEPTED, at, None), (Status.CANCELLED, at, None)]
    assert clocked.history(scheduled) == [(Status.SCHEDULED, at, None), (Status.CANCELLED, at, None)]
    assert dict(clocked.batch_status(account, "b-2").by_status) == {Status.CANCELLED: 2, Status.SUBMITTED: 1}
    # A second cancel finds nothing left to cancel; the batch still exists.
    assert clocked.cancel_batch(account, "b-2") == []


def test_cancel_batch_queues_a_delivery_report_for_messages_that_asked_for_final_reports(
    gateway: Gateway, account: Account
) -> None:
    result = gateway.submit(account, SubmitRequest([
        MessageSpec(NO, "wants a report"),
        MessageSpec(NO, "wants none", reports=ReportMask.NONE),
        MessageSpec(NO, "intermediate only", reports=ReportMask.INTERMEDIATE),
    ], batch_ref="b-4"))
    wants, _, _ = ids(result)
    assert gateway.receive(account, 10) == []
    gateway.cancel_batch(account, "b-4")
    items = gateway.receive(account, 10)
    assert len(items) == 1
    item = items[0]
    assert (item.kind, item.status, item.error_code, item.inbound) == (ReportKind.DR, Status.CANCELLED, None, None)
    assert item.message is not None and item.message.id == wants and item.message.status is Status.CANCELLED


def test_cancel_batch_of_an_unknown_or_foreign_batch_is_not_found(
    gateway: Gateway, account: Account, other: Account
) -> None:
    result = gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")], batch_ref="mine"))
    for who, ref in ((account, "nope"), (other, "mine")):
        with pytest.raises(GatewayError) as caught:
            gateway.cancel_batch(who, ref)
        assert caught.value.code is ErrorCode.NOT_FOUND
    assert gateway.status(ids(result)[0]).status is Status.ACCEPTED


def test_pending_batches_lists_batches_with_unsent_messages(
    gateway: Gateway, store: Store, account: Account
) -> None:
    gateway.submit(account, SubmitRequest([MessageSpec(NO, "a")], batch_ref="waiting"))
    sent = gateway.submit(account, SubmitRequest([MessageSpec(NO, "b")], batch_ref="gone"))
    set_status(store, ids(sent)[0], Status.SUBMITTED)
    assert [b.batch_ref for b in gateway.pending_batches(account)] == ["waiting"]


# --- the pull queue -----------------------------------------------------------------------------------------------


def three_mos(gateway: Gateway, accounts: Accounts) -> None:
    accounts.add_number("acme", SHORT)
    for body in ("one", "two", "three"):
        gateway.ingest_mo("+4792000001", SHORT, text=body)


def texts(items: list[ReportItem]) -> list[str | None]:
    return [i.inbound.text if i.inbound else None for i in items]


def test_receive_hands_out_the_oldest_reports_first_without_removing_them(
    gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    three_mos(gateway, accounts)
    first = gateway.receive(account, 2)
    assert texts(first) == ["one", "two"]
    assert all(i.kind is ReportKind.MO for i in first)
    assert first[0].id < first[1].id
    assert [i.id for i in gateway.receive(account, 2)] == [i.id for i in first]
    assert texts(gateway.receive(account)) == ["one"]  # one at a time by default


def test_confirm_removes_only_the_given_reports(
    gateway: Gateway, accounts: Accounts, account: Account, other: Account
) -> None:
    three_mos(gateway, accounts)
    one, two, three = gateway.receive(account, 10)
    assert gateway.confirm(other, [one.id]) == 0  # not theirs
    assert gateway.confirm(account, [two.id]) == 1
    assert [i.id for i in gateway.receive(account, 10)] == [one.id, three.id]
    assert gateway.confirm(account, [two.id, 999_999]) == 0  # confirmed already / unknown: ignored
    assert gateway.confirm(account, [one.id, three.id]) == 2
    assert gateway.receive(account, 10) == []
    assert gateway.confirm(account, []) == 0


def test_receive_takes_one_to_one_thousand_items(gateway: Gateway, account: Account) -> None:
    for limit in (0, -1, 1001):
        with pytest.raises(RequestError) as caught:
            gateway.receive(account, limit)
        assert caught.value.code is ErrorCode.INVALID_FIELD
    assert gateway.receive(account, 1000) == []


def test_receive_mixes_delivery_reports_and_mos_in_the_order_they_arose(
    gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    accounts.add_number("acme", SHORT)
    gateway.ingest_mo("+4792000001", SHORT, text="before")
    result = gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")], batch_ref="b"))
    gateway.cancel_batch(account, "b")
    gateway.ingest_mo("+4792000001", SHORT, text="after")
    items = gateway.receive(account, 10)
    assert [i.kind for i in items] == [ReportKind.MO, ReportKind.DR, ReportKind.MO]
    assert items[1].message is not None and items[1].message.id == ids(result)[0]
    assert texts(items) == ["before", None, "after"]


def test_a_pushed_accounts_reports_are_not_handed_out_by_receive(
    gateway: Gateway, accounts: Accounts, store: Store
) -> None:
    pushed = accounts.create("pusher", "pw", default_country="NO", report_format="modica",
                             dlr_url="https://example.com/dlr", mo_url="https://example.com/mo")
    accounts.add_number("pusher", SHORT)
    gateway.ingest_mo("+4792000001", SHORT, text="hello")
    gateway.submit(pushed, SubmitRequest([MessageSpec(NO, "hi")], batch_ref="b"))
    gateway.cancel_batch(pushed, "b")
    assert gateway.receive(pushed, 10) == []
    with store.read() as conn:
        rows = conn.execute(select(reports.c.kind, reports.c.delivery, reports.c.state)
                            .where(reports.c.account_id == pushed.id).order_by(reports.c.id)).all()
    assert [tuple(r) for r in rows] == [("mo", "push", "pending"), ("dr", "push", "pending")]
    assert gateway.confirm(pushed, [1, 2]) == 0  # confirm cannot drain the push outbox either


# --- inbound routing ------------------------------------------------------------------------------------------------


def test_ingest_mo_routes_by_number_and_keyword_and_falls_back_to_the_catch_all(
    gateway: Gateway, accounts: Accounts, account: Account, other: Account
) -> None:
    accounts.add_number("acme", SHORT, "pizza")
    accounts.add_number("globex", SHORT)
    by_keyword = gateway.ingest_mo("+4792000001", SHORT, text="Pizza  margherita please", smsc_id="s1",
                                   operator="telenor")
    by_number = gateway.ingest_mo("+4792000001", SHORT, text="hello there")
    empty = gateway.ingest_mo("+4792000001", SHORT, text="   ")
    assert (by_keyword.account_id, by_keyword.keyword) == (account.id, "PIZZA")
    assert (by_number.account_id, by_number.keyword) == (other.id, "HELLO")
    assert (empty.account_id, empty.keyword) == (other.id, None)

    [mine] = gateway.receive(account, 10)
    assert mine.kind is ReportKind.MO and mine.inbound is not None
    assert mine.inbound == by_keyword
    assert (mine.inbound.smsc_id, mine.inbound.operator) == ("s1", "telenor")
    assert [i.inbound.id for i in gateway.receive(other, 10) if i.inbound] == [by_number.id, empty.id]


def test_ingest_mo_to_a_short_code(gateway: Gateway, accounts: Accounts, account: Account) -> None:
    accounts.add_number("acme", "1960")
    mo = gateway.ingest_mo("+4792000001", "1960", text="STOP")
    assert mo.account_id == account.id
    assert gateway.receive(account)[0].inbound == mo


@pytest.mark.parametrize(("owned", "sent_to"), [("0000", "0000"), ("00471", "00471"), ("+4741999999", "4741999999"),
                                                ("+4741999999", "004741999999")])
def test_an_mo_reaches_the_number_as_it_was_added(gateway: Gateway, accounts: Accounts, account: Account,
                                                 owned: str, sent_to: str) -> None:
    """Up to 8 digits is a short code even with leading zeros (Rapporto's example short number is 0000); longer
    digit strings are international numbers, with or without 00."""
    accounts.add_number("acme", owned)
    assert gateway.ingest_mo("+4792000001", sent_to, text="hi").account_id == account.id


def test_an_mo_no_account_owns_is_kept_unrouted(
    gateway: Gateway, accounts: Accounts, account: Account, store: Store
) -> None:
    accounts.add_number("acme", SHORT, "PIZZA")  # keyword only: no catch-all on this number
    wrong_keyword = gateway.ingest_mo("+4792000001", SHORT, text="burger")
    unknown_number = gateway.ingest_mo("+4792000001", "+4741999999", payload=b"\x00\x01")
    assert wrong_keyword.account_id is None and unknown_number.account_id is None
    assert gateway.receive(account, 10) == []
    with store.read() as conn:
        rows = conn.execute(select(inbound.c.id, inbound.c.account_id, inbound.c.text, inbound.c.payload)
                            .order_by(inbound.c.id)).all()
        queued = conn.execute(select(reports.c.id)).all()
    assert [tuple(r) for r in rows] == [(wrong_keyword.id, None, "burger", None),
                                        (unknown_number.id, None, None, b"\x00\x01")]
    assert queued == []


def test_ingest_mo_keeps_the_time_the_network_received_it(
    clocked: Gateway, clock: Callable[[], int], accounts: Accounts, account: Account
) -> None:
    accounts.add_number("acme", SHORT)
    received = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    given = clocked.ingest_mo("+4792000001", SHORT, text="a", received_at=received)
    defaulted = clocked.ingest_mo("+4792000001", SHORT, text="b")
    items = clocked.receive(account, 10)
    assert [i.inbound.received_at for i in items if i.inbound] == [
        received, datetime.fromtimestamp(clock() / 1000, UTC)]
    assert (given.received_at, defaulted.received_at) == (received, datetime.fromtimestamp(clock() / 1000, UTC))
    assert items[0].created_at == datetime.fromtimestamp(clock() / 1000, UTC)


# --- races and history ------------------------------------------------------------------------------------------


# PostgreSQL only: on SQLite one writer holds the database for the whole cancel, so no worker can come between.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_message_submitted_while_its_batch_is_cancelled_is_not_reported_cancelled(
    gateway: Gateway, store: Store, account: Account
) -> None:
    result = gateway.submit(account, SubmitRequest([MessageSpec(NO, "a"), MessageSpec(NO, "b")], batch_ref="race"))
    first, second = ids(result)
    fired: list[bool] = []

    def worker_submits_second(conn: object, cursor: object, statement: str, *_: object) -> None:
        # Right after cancel_pending reads the pending messages, before it changes them: the worker claims and
        # submits `second`. If the cancel holds the row (SELECT … FOR UPDATE), the worker has to wait: give up.
        if not fired and statement.lstrip().upper().startswith("SELECT MESSAGES.ID, MESSAGES.CLIENT_REF"):
            fired.append(True)
            try:
                with store.write() as worker:
                    worker.execute(text("SET LOCAL lock_timeout = '1s'"))
                    worker.execute(update(messages).where(messages.c.id == second).values(status="submitted"))
            except OperationalError:
                pass

    event.listen(store.engine, "after_cursor_execute", worker_submits_second)
    try:
        cancelled = {c.message_id for c in gateway.cancel_batch(account, "race")}
    finally:
        event.remove(store.engine, "after_cursor_execute", worker_submits_second)
    # Whoever won, what cancel_batch says, the message rows, their history and the DRs must agree.
    assert first in cancelled
    for message_id in (first, second):
        is_cancelled = gateway.status(message_id).status is Status.CANCELLED
        assert (message_id in cancelled) == is_cancelled, message_id
        assert (Status.CANCELLED in [h[0] for h in gateway.history(message_id)]) == is_cancelled, message_id
    assert {i.message.id for i in gateway.receive(account, 10) if i.message} == cancelled


def test_history_starts_with_accepted_even_after_a_retry_moved_the_due_time(
    gateway: Gateway, store: Store, account: Account
) -> None:
    [message_id] = ids(gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")])))
    with store.write() as conn:  # what the worker does on a temporary failure
        conn.execute(update(messages).where(messages.c.id == message_id)
                     .values(due_at=messages.c.due_at + 30_000, attempts=1))
    assert gateway.history(message_id)[0][0] is Status.ACCEPTED


def test_a_batch_reference_reused_in_two_requests_names_all_their_messages(
    gateway: Gateway, account: Account, other: Account
) -> None:
    first = gateway.submit(account, SubmitRequest([MessageSpec(NO, "a")], batch_ref="daily"))
    second = gateway.submit(account, SubmitRequest([MessageSpec(NO, "b"), MessageSpec(NO, "c")], batch_ref="daily"))
    theirs = gateway.submit(other, SubmitRequest([MessageSpec(NO, "d")], batch_ref="daily"))
    assert gateway.batch_status(account, "daily").total == 3
    cancelled = gateway.cancel_batch(account, "daily")
    assert sorted(c.message_id for c in cancelled) == sorted(ids(first) + ids(second))
    assert gateway.status(ids(theirs)[0]).status is Status.ACCEPTED
    assert gateway.batch_status(other, "daily").total == 1
