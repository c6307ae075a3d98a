"""Account policy in the core: prepaid credit (charged in order, refunded when nothing was sent), two processes
spending one balance, the per-recipient quota (held messages, released or dropped), opt-out (STOP/START words,
operator suppressions), rate limits through `submit`, and usage per day."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
from sqlalchemy import func, select, update

from smsgw.accounts import Accounts
from smsgw.domain.errors import ErrorCode, RateLimited
from smsgw.domain.model import (
    Account,
    IdempotencyKey,
    IdempotencyMode,
    MessageSpec,
    ReportKind,
    Status,
    SubmitRequest,
    SubmitResult,
)
from smsgw.gateway import Gateway
from smsgw.store import queue
from smsgw.store.database import Store
from smsgw.store.tables import messages

NO = "+4741000000"
PHONE = "+4791234567"  # a handset that texts the account
OURS = "+4740001234"  # the account's own number


class MovableClock(Protocol):
    """The `clock` fixture: epoch ms that move only when told."""

    now: int

    def __call__(self) -> int: ...

    def advance(self, *, hours: float = 0, ms: int = 0) -> None: ...


def send(gateway: Gateway, account: Account, *recipients: str, text: str = "hello", **spec: Any) -> SubmitResult:
    return gateway.submit(account, SubmitRequest([MessageSpec(r, text, **spec) for r in recipients]))


def errors(result: SubmitResult) -> list[ErrorCode | None]:
    return [o.error.code if o.error else None for o in result.outcomes]


def costs(store: Store, account: Account) -> list[int | None]:
    with store.read() as conn:
        return list(conn.execute(select(messages.c.cost).where(messages.c.account_id == account.id)
                                 .order_by(messages.c.id)).scalars())


def stored_status(store: Store, message_id: int | None) -> str:
    with store.read() as conn:
        return str(conn.execute(select(messages.c.status).where(messages.c.id == message_id)).scalar_one())


# --- credit --------------------------------------------------------------------------------------------------------


def test_messages_mode_charges_one_per_message_in_order_while_the_balance_lasts(
    gateway: Gateway, accounts: Accounts, account: Account, store: Store, count: Callable[..., int]
) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    assert gateway.credit(acme, 3) == 3
    result = send(gateway, acme, *[f"+474100000{i}" for i in range(5)])
    assert errors(result) == [None, None, None, ErrorCode.INSUFFICIENT_CREDIT, ErrorCode.INSUFFICIENT_CREDIT]
    assert [o.accepted for o in result.outcomes] == [True, True, True, False, False]
    assert result.outcomes[3].error is not None and result.outcomes[3].error.field == "credit"
    assert gateway.balance(acme) == 0
    assert count(acme) == 3 and costs(store, acme) == [1, 1, 1]


def test_currency_mode_charges_the_segment_price_per_part_plus_the_message_price(
    gateway: Gateway, accounts: Accounts, account: Account, store: Store
) -> None:
    acme = accounts.update("acme", credit_mode="currency", segment_price=7, default_originator="ACME")
    gateway.credit(acme, 1000)
    result = gateway.submit(acme, SubmitRequest([
        MessageSpec(NO, "one part"),
        MessageSpec(NO, "x" * 200),  # two parts
        MessageSpec(NO, "premium", price=300),
    ]))
    assert [o.parts for o in result.outcomes] == [1, 2, 1]
    assert costs(store, acme) == [7, 14, 7 + 300]
    assert gateway.balance(acme) == 1000 - 7 - 14 - 307


def test_a_message_the_balance_does_not_cover_is_refused_while_a_cheaper_one_after_it_goes(
    gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", credit_mode="currency", segment_price=10)
    gateway.credit(acme, 15)
    result = gateway.submit(acme, SubmitRequest([MessageSpec(NO, "x" * 200), MessageSpec(NO, "short")]))
    assert errors(result) == [ErrorCode.INSUFFICIENT_CREDIT, None]
    assert gateway.balance(acme) == 5


def test_a_replayed_idempotent_request_costs_nothing(
    gateway: Gateway, accounts: Accounts, account: Account, store: Store
) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    gateway.credit(acme, 10)
    request_key = IdempotencyKey("req-1", IdempotencyMode.REPLAY, timedelta(hours=1))
    message_key = IdempotencyKey("msg-1", IdempotencyMode.REPLAY, timedelta(hours=1))
    request = SubmitRequest([MessageSpec(NO, "a"), MessageSpec(NO, "b")], idempotency=request_key)
    first = gateway.submit(acme, request)
    again = gateway.submit(acme, request)
    assert again.replayed and [o.message_id for o in again.outcomes] == [o.message_id for o in first.outcomes]
    assert gateway.balance(acme) == 8
    for _ in range(2):
        gateway.submit(acme, SubmitRequest([MessageSpec(NO, "c", idempotency=message_key)]))
    assert gateway.balance(acme) == 7
    assert costs(store, acme) == [1, 1, 1]


def test_refused_messages_cost_nothing(gateway: Gateway, accounts: Accounts, account: Account) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    gateway.credit(acme, 5)
    result = send(gateway, acme, "12", NO, "not a number")
    assert [e is None for e in errors(result)] == [False, True, False]
    assert gateway.balance(acme) == 4


def test_one_message_requests_are_charged_refused_or_suppressed_like_larger_ones(
    gateway: Gateway, accounts: Accounts, account: Account, store: Store
) -> None:
    acme = accounts.update("acme", credit_mode="messages", recipient_quota=1)
    gateway.credit(acme, 2)
    gateway.suppress(acme, [PHONE])
    assert errors(send(gateway, acme, PHONE)) == [ErrorCode.SUPPRESSED]
    assert [o.status for o in send(gateway, acme, NO).outcomes] == [Status.ACCEPTED]
    assert [o.status for o in send(gateway, acme, NO).outcomes] == [Status.HELD]  # charged, and over the quota
    assert errors(send(gateway, acme, NO)) == [ErrorCode.INSUFFICIENT_CREDIT]
    assert errors(send(gateway, acme, PHONE)) == [ErrorCode.SUPPRESSED]  # suppressed comes first
    assert gateway.balance(acme) == 0 and costs(store, acme) == [1, 1]


def test_a_free_message_goes_without_any_credit(
    gateway: Gateway, accounts: Accounts, account: Account, store: Store
) -> None:
    acme = accounts.update("acme", credit_mode="currency", segment_price=0)
    assert send(gateway, acme, NO).outcomes[0].accepted
    assert gateway.balance(acme) == 0 and costs(store, acme) == [0]


def test_credit_tops_up_and_takes_away(gateway: Gateway, accounts: Accounts, account: Account) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    assert gateway.balance(acme) == 0
    assert gateway.credit(acme, 10) == 10
    assert gateway.credit(acme, -4) == 6
    assert gateway.balance(acme) == 6


def test_an_account_without_credit_mode_is_never_charged(gateway: Gateway, account: Account, store: Store) -> None:
    assert all(o.accepted for o in send(gateway, account, NO, NO).outcomes)
    assert gateway.balance(account) == 0
    assert costs(store, account) == [None, None]


# --- two processes spending one balance -------------------------------------------------------------------------

SPENDER = textwrap.dedent("""
    import json, sys
    from smsgw.domain.model import MessageSpec, SubmitRequest
    from smsgw.services import Services

    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    services = Services.open(url, migrate=False)
    account = services.accounts.get(name)
    print("ready", flush=True)
    sys.stdin.readline()
    accepted, refused = 0, {}
    for i in range(n):
        outcome = services.gateway.submit(account, SubmitRequest([MessageSpec(f"+4741{i:06d}", "spend")])).outcomes[0]
        if outcome.accepted:
            accepted += 1
        else:
            refused[outcome.error.code.value] = refused.get(outcome.error.code.value, 0) + 1
    services.close()
    print(json.dumps({"accepted": accepted, "refused": refused}), flush=True)
""")


@pytest.mark.slow
def test_two_processes_spending_one_balance_at_once_never_overdraw_it(
    database_url: str, store: Store, accounts: Accounts, account: Account, gateway: Gateway
) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    gateway.credit(acme, 1000)
    spenders = [subprocess.Popen([sys.executable, "-c", SPENDER, database_url, "acme", "600"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True) for _ in range(2)]
    lowest = [1000]
    done = threading.Event()

    def watch() -> None:  # the balance as other connections see it while the two spend
        while not done.is_set():
            lowest[0] = min(lowest[0], gateway.balance(acme))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    try:
        for spender in spenders:
            assert spender.stdout is not None and spender.stdout.readline().strip() == "ready"
        watcher.start()
        for spender in spenders:  # both go at once
            assert spender.stdin is not None
            spender.stdin.write("go\n")
            spender.stdin.flush()
        reports = []
        for spender in spenders:
            out, _ = spender.communicate(timeout=300)
            assert spender.returncode == 0
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        done.set()
        if watcher.is_alive():
            watcher.join()
        for spender in spenders:
            if spender.poll() is None:
                spender.kill()
    assert all(r["accepted"] > 0 for r in reports), reports  # both really spent
    assert sum(r["accepted"] for r in reports) == 1000
    assert sum(r["refused"].get("insufficient_credit", 0) for r in reports) == 200, reports
    assert all(set(r["refused"]) <= {"insufficient_credit"} for r in reports), reports
    assert gateway.balance(acme) == 0
    assert lowest[0] >= 0
    with store.read() as conn:
        row = conn.execute(select(func.count(), func.sum(messages.c.cost))
                           .where(messages.c.account_id == acme.id)).one()
    assert (row[0], int(row[1])) == (1000, 1000)  # no lost update: every accepted message was paid for once


def test_concurrent_requests_of_one_process_share_a_balance_exactly(
    gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    """Requests grouped into one write transaction each see the balance the previous left."""
    acme = accounts.update("acme", credit_mode="messages")
    gateway.credit(acme, 50)
    results: list[SubmitResult] = []
    lock = threading.Lock()

    def spend() -> None:
        for _ in range(10):
            result = send(gateway, acme, NO, NO)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.accepted for r in results for o in r.outcomes) == 50
    assert gateway.balance(acme) == 0


# --- refunds -------------------------------------------------------------------------------------------------------


def test_cancelling_pending_messages_refunds_them(
    gateway: Gateway, accounts: Accounts, account: Account, store: Store
) -> None:
    acme = accounts.update("acme", credit_mode="currency", segment_price=5)
    gateway.credit(acme, 100)
    gateway.submit(acme, SubmitRequest([MessageSpec(NO, "a"), MessageSpec(NO, "x" * 200)], batch_ref="b-1"))
    assert gateway.balance(acme) == 85
    assert len(gateway.cancel_batch(acme, "b-1")) == 2
    assert gateway.balance(acme) == 100
    assert costs(store, acme) == [0, 0]
    gateway.cancel_batch(acme, "b-1")  # nothing left to cancel, nothing refunded twice
    assert gateway.balance(acme) == 100


def test_a_sent_message_is_not_refunded_when_its_batch_is_cancelled(
    gateway: Gateway, accounts: Accounts, account: Account, store: Store
) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    gateway.credit(acme, 10)
    sent, waiting = (o.message_id for o in gateway.submit(acme, SubmitRequest(
        [MessageSpec(NO, "a"), MessageSpec(NO, "b")], batch_ref="b-2")).outcomes)
    with store.write() as conn:  # the first went out (an SMSC took its part) and was delivered
        conn.execute(update(messages).where(messages.c.id == sent).values(status="delivered"))
        queue.record_attempts(conn, "w", 0, [{"message_id": sent, "seq": 1, "smsc_id": "x1", "connector": "c",
                                              "status": "delivered", "error_code": None, "updated_at": 0}], [])
    assert [c.message_id for c in gateway.cancel_batch(acme, "b-2")] == [waiting]
    assert gateway.balance(acme) == 9


# --- the per-recipient quota -----------------------------------------------------------------------------------------


@pytest.fixture
def quota(accounts: Accounts, account: Account) -> Account:
    return accounts.update("acme", recipient_quota=2, recipient_window=3600)


def test_over_the_recipient_quota_a_message_is_held_and_another_number_is_not(
    clocked: Gateway, quota: Account, store: Store
) -> None:
    first = send(clocked, quota, NO, NO)
    assert [o.status for o in first.outcomes] == [Status.ACCEPTED, Status.ACCEPTED]
    third = send(clocked, quota, NO, "+4741000001")
    assert [o.status for o in third.outcomes] == [Status.HELD, Status.ACCEPTED]
    assert all(o.accepted and o.error is None for o in third.outcomes)
    assert stored_status(store, third.outcomes[0].message_id) == "held"
    assert clocked.status(third.outcomes[0].message_id).status is Status.HELD


def test_the_quota_counts_within_one_request_too(clocked: Gateway, quota: Account) -> None:
    result = send(clocked, quota, NO, NO, NO, NO)
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED, Status.ACCEPTED, Status.HELD, Status.HELD]


def test_outside_the_window_the_quota_starts_again(clocked: Gateway, clock: MovableClock, quota: Account) -> None:
    send(clocked, quota, NO, NO)
    clock.advance(ms=3599_000)
    assert send(clocked, quota, NO).outcomes[0].status is Status.HELD
    clock.advance(ms=2_000)  # the first two are now older than the window
    assert send(clocked, quota, NO).outcomes[0].status is Status.ACCEPTED


def test_concurrent_requests_to_one_number_are_held_past_the_quota(
    gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    """Requests of one process share write transactions (group commit); the quota must still count each."""
    acme = accounts.update("acme", recipient_quota=2)
    barrier = threading.Barrier(8)
    results: list[SubmitResult] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        result = send(gateway, acme, NO)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(o.status.value for r in results for o in r.outcomes if o.status)
    assert statuses == ["accepted"] * 2 + ["held"] * 6


def test_held_messages_are_never_claimed_and_released_ones_are(
    clocked: Gateway, clock: MovableClock, quota: Account, store: Store
) -> None:
    result = send(clocked, quota, NO, NO, NO)
    free, held = [o.message_id for o in result.outcomes[:2]], result.outcomes[2].message_id
    assert held is not None
    clock.advance(ms=10_000)
    with store.write() as conn:
        claimed = [m.id for m in queue.claim(conn, "w1", clock(), 100, 60_000)]
    assert sorted(claimed) == sorted(free)  # the held one stays
    assert clocked.release_held(account=quota, ids=[held]) == 1
    assert stored_status(store, held) == "accepted"
    assert clocked.release_held(account=quota) == 0  # nothing held any more
    with store.write() as conn:
        assert [m.id for m in queue.claim(conn, "w1", clock(), 100, 60_000)] == [held]
    assert [h[0] for h in clocked.history(held)] == [Status.HELD, Status.ACCEPTED]


def test_a_released_message_keeps_its_send_time_or_expires_if_its_validity_passed(
    clocked: Gateway, clock: MovableClock, quota: Account, store: Store
) -> None:
    later = datetime.fromtimestamp(clock() / 1000, UTC) + timedelta(hours=2)
    send(clocked, quota, NO, NO)
    scheduled = send(clocked, quota, NO, send_at=later).outcomes[0].message_id
    short = send(clocked, quota, NO, validity=timedelta(minutes=5)).outcomes[0].message_id
    assert {stored_status(store, scheduled), stored_status(store, short)} == {"held"}
    clock.advance(ms=600_000)
    assert clocked.release_held(account=quota) == 2
    assert (stored_status(store, scheduled), stored_status(store, short)) == ("scheduled", "expired")


def test_dropping_a_held_message_cancels_it_with_its_report_and_refunds_it(
    clocked: Gateway, accounts: Accounts, quota: Account, store: Store
) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    clocked.credit(acme, 10)
    held = send(clocked, acme, NO, NO, NO).outcomes[2].message_id
    assert clocked.balance(acme) == 7
    assert clocked.drop_held(account=acme, ids=[held]) == 1
    assert stored_status(store, held) == "cancelled"
    assert clocked.balance(acme) == 8
    reports = clocked.receive(acme, 10)
    assert [(r.kind, r.message.id if r.message else None, r.status) for r in reports] == \
        [(ReportKind.DR, held, Status.CANCELLED)]
    assert clocked.drop_held(account=acme, ids=[held]) == 0  # once
    assert clocked.balance(acme) == 8


def test_release_and_drop_touch_only_the_account_or_ids_named(
    clocked: Gateway, accounts: Accounts, quota: Account, other: Account, store: Store
) -> None:
    globex = accounts.update("globex", recipient_quota=1)
    mine = send(clocked, quota, NO, NO, NO).outcomes[2].message_id
    theirs = send(clocked, globex, NO, NO).outcomes[1].message_id
    assert clocked.drop_held(account=quota) == 1
    assert (stored_status(store, mine), stored_status(store, theirs)) == ("cancelled", "held")
    assert clocked.release_held(ids=[theirs]) == 1
    assert stored_status(store, theirs) == "accepted"


# --- opt-out ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def owner(accounts: Accounts, account: Account) -> Account:
    accounts.add_number("acme", OURS)
    return accounts.get("acme")


def suppressed_numbers(gateway: Gateway, account: Account) -> dict[str, str]:
    return {number: reason for number, reason, _ in gateway.suppressions(account)}


def test_a_stop_mo_suppresses_its_sender_and_a_message_to_it_is_refused(gateway: Gateway, owner: Account) -> None:
    gateway.ingest_mo("4791234567", OURS, text=" stop! ")
    assert suppressed_numbers(gateway, owner) == {PHONE: "stop"}
    result = send(gateway, owner, PHONE, NO)
    assert errors(result) == [ErrorCode.SUPPRESSED, None]
    assert result.outcomes[0].error is not None and result.outcomes[0].error.field == "recipient"
    assert gateway.messages(account=owner, recipient=PHONE) == []


def test_the_stop_reply_goes_from_the_mos_destination_to_the_suppressed_sender(
    gateway: Gateway, accounts: Accounts, owner: Account
) -> None:
    acme = accounts.update("acme", stop_reply="You will get no more messages. Text START to undo.",
                           start_reply="Welcome back.")
    gateway.ingest_mo(PHONE, OURS, text="STOP")
    [reply] = gateway.messages(account=acme, recipient=PHONE)
    assert (reply.originator, reply.status, reply.text) == \
        (OURS, Status.ACCEPTED, "You will get no more messages. Text START to undo.")
    assert PHONE in suppressed_numbers(gateway, acme)
    gateway.ingest_mo(PHONE, OURS, text="Start")
    assert suppressed_numbers(gateway, acme) == {}
    newest = gateway.messages(account=acme, recipient=PHONE)[0]
    assert (newest.originator, newest.text) == (OURS, "Welcome back.")
    assert send(gateway, acme, PHONE).outcomes[0].accepted


def test_start_takes_a_number_off_the_suppressions_without_a_reply_when_none_is_set(
    gateway: Gateway, owner: Account
) -> None:
    gateway.ingest_mo(PHONE, OURS, text="stop")
    gateway.ingest_mo(PHONE, OURS, text="START")
    assert suppressed_numbers(gateway, owner) == {}
    assert gateway.messages(account=owner) == []  # no reply configured, none sent


def test_a_stop_word_inside_a_longer_text_does_nothing(gateway: Gateway, owner: Account) -> None:
    for text in ("stop please", "please stop", "STOP STOP", "stopped", ""):
        gateway.ingest_mo(PHONE, OURS, text=text)
    gateway.ingest_mo(PHONE, OURS, payload=b"STOP")  # binary: not a word
    assert suppressed_numbers(gateway, owner) == {}


def test_the_mo_itself_is_still_reported_to_the_account(gateway: Gateway, owner: Account) -> None:
    mo = gateway.ingest_mo(PHONE, OURS, text="STOP")
    [item] = gateway.receive(owner, 10)
    assert item.kind is ReportKind.MO and item.inbound is not None and item.inbound.id == mo.id


@pytest.mark.parametrize("word", ["STOPP", "stopp.", "KONEC", "konec", "Avslutt", "ODHLASIT", "Odhlásit"])
def test_norwegian_and_czech_stop_words_opt_out_by_default(gateway: Gateway, owner: Account, word: str) -> None:
    gateway.ingest_mo(PHONE, OURS, text=word)
    assert suppressed_numbers(gateway, owner) == {PHONE: "stop"}


@pytest.mark.parametrize("word", ["START", "Påmeld", "PAMELD", "začít"])
def test_start_words_opt_back_in_with_or_without_diacritics(gateway: Gateway, owner: Account, word: str) -> None:
    gateway.suppress(owner, [PHONE])
    gateway.ingest_mo(PHONE, OURS, text=word)
    assert suppressed_numbers(gateway, owner) == {}


def test_custom_stop_and_start_keywords_replace_the_defaults(
    gateway: Gateway, accounts: Accounts, owner: Account
) -> None:
    acme = accounts.update("acme", stop_keywords=("AVBRYT",), start_keywords=("IGJEN",))
    gateway.ingest_mo(PHONE, OURS, text="STOP")
    assert suppressed_numbers(gateway, acme) == {}
    gateway.ingest_mo(PHONE, OURS, text="avbryt")
    assert suppressed_numbers(gateway, acme) == {PHONE: "stop"}
    gateway.ingest_mo(PHONE, OURS, text="START")
    assert PHONE in suppressed_numbers(gateway, acme)
    gateway.ingest_mo(PHONE, OURS, text="igjen!")
    assert suppressed_numbers(gateway, acme) == {}


def test_an_mo_to_a_number_no_account_owns_suppresses_nothing(gateway: Gateway, account: Account) -> None:
    gateway.ingest_mo(PHONE, "+4740009999", text="STOP")
    assert suppressed_numbers(gateway, account) == {}


def test_operator_suppress_and_unsuppress(gateway: Gateway, account: Account) -> None:
    assert gateway.suppress(account, ["91234567", "0047 41 00 00 00"]) == [PHONE, NO]  # national in the account's NO
    assert suppressed_numbers(gateway, account) == {PHONE: "operator", NO: "operator"}
    assert errors(send(gateway, account, PHONE, NO)) == [ErrorCode.SUPPRESSED, ErrorCode.SUPPRESSED]
    assert gateway.unsuppress(account, ["+4791234567"]) == 1
    assert gateway.unsuppress(account, ["+4791234567"]) == 0
    assert errors(send(gateway, account, PHONE, NO)) == [None, ErrorCode.SUPPRESSED]


def test_a_stop_keeps_its_first_reason(gateway: Gateway, owner: Account) -> None:
    gateway.suppress(owner, [PHONE])
    gateway.ingest_mo(PHONE, OURS, text="STOP")
    assert suppressed_numbers(gateway, owner) == {PHONE: "operator"}


def test_a_number_suppressed_for_one_account_is_not_for_another(
    gateway: Gateway, owner: Account, other: Account
) -> None:
    gateway.ingest_mo(PHONE, OURS, text="STOP")
    assert errors(send(gateway, owner, PHONE)) == [ErrorCode.SUPPRESSED]
    assert errors(send(gateway, other, PHONE)) == [None]
    assert suppressed_numbers(gateway, other) == {}


@pytest.mark.parametrize("size", [2, 300, 1200])  # 1200: more than one IN list's worth
@pytest.mark.parametrize("credit_mode", ["none", "messages"])
def test_suppressed_numbers_are_found_in_batches_of_any_size(
    gateway: Gateway, accounts: Accounts, account: Account, credit_mode: str, size: int
) -> None:
    acme = accounts.update("acme", credit_mode=credit_mode)
    gateway.credit(acme, 10_000)
    recipients = [f"+4741{i:06d}" for i in range(size)]
    barred = sorted({recipients[0], recipients[size // 2], recipients[-1]})
    assert send(gateway, acme, *recipients).outcomes[-1].accepted  # none suppressed yet: all go
    gateway.suppress(acme, barred)
    result = send(gateway, acme, *recipients)
    assert [o.recipient for o in result.outcomes if o.error is not None] == barred
    assert all(o.error.code is ErrorCode.SUPPRESSED for o in result.outcomes if o.error is not None)
    if credit_mode == "messages":
        assert gateway.balance(acme) == 10_000 - size - (size - len(barred))


def test_a_suppressed_message_costs_nothing(gateway: Gateway, accounts: Accounts, account: Account) -> None:
    acme = accounts.update("acme", credit_mode="messages")
    gateway.credit(acme, 2)
    gateway.suppress(acme, [PHONE])
    assert errors(send(gateway, acme, PHONE, NO)) == [ErrorCode.SUPPRESSED, None]
    assert gateway.balance(acme) == 1


# --- rate limits -----------------------------------------------------------------------------------------------------


def test_over_the_request_rate_a_request_is_refused_whole_with_a_retry_after(
    gateway: Gateway, accounts: Accounts, account: Account, count: Callable[..., int]
) -> None:
    acme = accounts.update("acme", request_rate=2)
    send(gateway, acme, NO)
    send(gateway, acme, NO)
    with pytest.raises(RateLimited) as refused:
        send(gateway, acme, NO)
    assert refused.value.code is ErrorCode.RATE_LIMITED
    assert 0 < refused.value.retry_after <= 0.5 + 1e-6
    assert refused.value.retry_after_header == "1"
    assert count(acme) == 2
    time.sleep(refused.value.retry_after + 0.01)
    assert send(gateway, acme, NO).outcomes[0].accepted


def test_over_the_message_rate_a_request_is_refused_and_a_large_batch_goes_into_debt(
    gateway: Gateway, accounts: Accounts, account: Account, count: Callable[..., int]
) -> None:
    acme = accounts.update("acme", message_rate=5)
    started = time.monotonic()
    assert all(o.accepted for o in send(gateway, acme, *[NO] * 10).outcomes)  # one second's worth was there
    with pytest.raises(RateLimited) as refused:
        send(gateway, acme, NO)
    # The 5 messages of debt, then one whole token: 1.2 s, less what has refilled between the two requests.
    assert 1.2 - (time.monotonic() - started) - 1e-6 <= refused.value.retry_after <= 1.2 + 1e-6
    assert count(acme) == 10


def test_a_rate_limited_batch_is_never_half_committed(
    gateway: Gateway, accounts: Accounts, account: Account, count: Callable[..., int]
) -> None:
    acme = accounts.update("acme", request_rate=1)
    send(gateway, acme, NO)
    with pytest.raises(RateLimited):
        send(gateway, acme, *[f"+474100000{i}" for i in range(10)])
    assert count(acme) == 1


def test_a_limit_of_zero_is_no_limit(gateway: Gateway, account: Account, count: Callable[..., int]) -> None:
    assert (account.request_rate, account.message_rate) == (0, 0)
    for _ in range(30):
        send(gateway, account, *[NO] * 20)
    assert count(account) == 600


def test_one_accounts_limit_does_not_touch_another(
    gateway: Gateway, accounts: Accounts, account: Account, other: Account
) -> None:
    acme = accounts.update("acme", request_rate=1)
    send(gateway, acme, NO)
    with pytest.raises(RateLimited):
        send(gateway, acme, NO)
    for _ in range(5):
        assert send(gateway, other, NO).outcomes[0].accepted


# --- usage -----------------------------------------------------------------------------------------------------------


DAY_MS = 86_400_000


def test_usage_counts_a_days_messages_segments_outcomes_and_credit(
    clocked: Gateway, clock: MovableClock, accounts: Accounts, account: Account, other: Account, store: Store
) -> None:
    acme = accounts.update("acme", credit_mode="currency", segment_price=10)
    clocked.credit(acme, 10_000)
    day = datetime(2031, 3, 14, tzinfo=UTC)
    start = int(day.timestamp() * 1000)
    clock.now = start - 3_600_000  # the day before: excluded
    send(clocked, acme, NO)
    clock.now = start + 3_600_000
    ids = [o.message_id for o in clocked.submit(acme, SubmitRequest([
        MessageSpec(NO, "delivered"), MessageSpec(NO, "x" * 200),  # 2 parts, delivered
        MessageSpec(NO, "undeliverable"), MessageSpec(NO, "expired"), MessageSpec(NO, "rejected"),
        MessageSpec(NO, "pending, then cancelled"), MessageSpec(NO, "x" * 200 + " pending, then cancelled"),
    ], batch_ref="usage")).outcomes]
    with store.write() as conn:
        for message_id, status in zip(ids[:5], ["delivered", "delivered", "undeliverable", "expired", "rejected"],
                                      strict=True):
            conn.execute(update(messages).where(messages.c.id == message_id).values(status=status))
    clock.now = start + 2 * 3_600_000
    with store.write() as conn:  # pretend the first five went out: an SMSC took their parts (no refund)
        queue.record_attempts(conn, "w", clock.now, [
            {"message_id": i, "seq": 1, "smsc_id": f"s{i}", "connector": "c", "status": "submitted",
             "error_code": None, "updated_at": clock.now} for i in ids[:5]], [])
    clocked.cancel_batch(acme, "usage")  # cancels the pending two, refunding them
    clock.now = start + DAY_MS + 60_000  # the day after: excluded
    send(clocked, acme, NO)
    send(clocked, other, NO)  # another account: excluded
    clock.now = start + 3 * 3_600_000

    [today] = clocked.usage(acme, day, day + timedelta(days=1))
    assert today.day == "2031-03-14"
    assert (today.messages, today.segments, today.delivered, today.failed) == (7, 9, 2, 3)
    assert today.credit == 10 + 20 + 10 + 10 + 10  # the cancelled two were refunded
    three = clocked.usage(acme, day - timedelta(days=1), day + timedelta(days=2))
    assert [(u.day, u.messages, u.credit) for u in three] == \
        [("2031-03-13", 1, 10), ("2031-03-14", 7, 60), ("2031-03-15", 1, 10)]
    assert clocked.usage(acme, day + timedelta(days=5), day + timedelta(days=6)) == []
