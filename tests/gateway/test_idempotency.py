"""Idempotency keys: REJECT (Puzzel's clientReference check) and REPLAY (OpenMarket submitid, Rapporto
partnerMsgId), per message and per request, scoped to the account and bounded by a window."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Protocol

import pytest
from sqlalchemy import delete, update

from smsgw.domain.errors import ErrorCode
from smsgw.domain.model import (
    Account,
    IdempotencyKey,
    IdempotencyMode,
    MessageSpec,
    Status,
    SubmitRequest,
    SubmitResult,
)
from smsgw.gateway import Gateway
from smsgw.store.database import Store
from smsgw.store.tables import messages

NO = "+4741000000"


class MovableClock(Protocol):
    """The `clock` fixture: epoch ms that move only when told."""

    def __call__(self) -> int: ...

    def advance(self, *, hours: float = 0, ms: int = 0) -> None: ...

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


def reject(key: str, window: timedelta = HOUR) -> IdempotencyKey:
    return IdempotencyKey(key, IdempotencyMode.REJECT, window)


def replay(key: str, window: timedelta = HOUR) -> IdempotencyKey:
    return IdempotencyKey(key, IdempotencyMode.REPLAY, window)


def one(gateway: Gateway, account: Account, key: IdempotencyKey, text: str = "hi") -> SubmitResult:
    return gateway.submit(account, SubmitRequest([MessageSpec(NO, text, client_ref=key.key, idempotency=key)]))


# --- REJECT --------------------------------------------------------------------------------------------------------


def test_reject_mode_refuses_a_repeat_in_a_later_request_as_duplicate(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    first = one(gateway, account, reject("ref-1")).outcomes[0]
    assert first.accepted and first.error is None and not first.replayed
    repeat = one(gateway, account, reject("ref-1")).outcomes[0]
    assert repeat.error is not None and repeat.error.code is ErrorCode.DUPLICATE
    assert repeat.error.field == "clientReference"
    assert not repeat.accepted and repeat.message_id is None
    assert count(account) == 1


def test_reject_mode_refuses_the_second_of_two_messages_with_one_key_in_one_request(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    key = reject("ref-2")
    result = gateway.submit(account, SubmitRequest([
        MessageSpec(NO, "first", idempotency=key),
        MessageSpec(NO, "other key", idempotency=reject("ref-3")),
        MessageSpec(NO, "second", idempotency=key),
    ]))
    first, other_key, second = result.outcomes
    assert first.accepted and other_key.accepted
    assert second.error is not None and second.error.code is ErrorCode.DUPLICATE and not second.accepted
    assert count(account) == 2


def test_reject_mode_frees_the_key_once_its_window_has_passed(
    clocked: Gateway, clock: MovableClock, account: Account, count: Callable[..., int]
) -> None:
    first = one(clocked, account, reject("ref-4", HOUR)).outcomes[0]
    clock.advance(hours=1, ms=-1)
    inside = one(clocked, account, reject("ref-4", HOUR)).outcomes[0]
    assert inside.error is not None and inside.error.code is ErrorCode.DUPLICATE
    clock.advance(ms=1)
    after = one(clocked, account, reject("ref-4", HOUR)).outcomes[0]
    assert after.accepted and after.error is None and after.message_id != first.message_id
    # The reuse opened a new window of its own.
    clock.advance(hours=0.5)
    again = one(clocked, account, reject("ref-4", HOUR)).outcomes[0]
    assert again.error is not None and again.error.code is ErrorCode.DUPLICATE
    assert count(account) == 2


def test_a_refused_repeat_does_not_extend_the_reject_window(
    clocked: Gateway, clock: MovableClock, account: Account
) -> None:
    one(clocked, account, reject("ref-5", HOUR))
    clock.advance(hours=0.9)
    assert one(clocked, account, reject("ref-5", HOUR)).outcomes[0].error is not None
    clock.advance(hours=0.1)
    assert one(clocked, account, reject("ref-5", HOUR)).outcomes[0].accepted


def test_a_message_refused_for_another_reason_does_not_claim_its_key(
    gateway: Gateway, account: Account
) -> None:
    bad = gateway.submit(account, SubmitRequest([MessageSpec("12", "hi", idempotency=reject("ref-6"))]))
    assert bad.outcomes[0].error is not None and bad.outcomes[0].error.code is ErrorCode.INVALID_RECIPIENT
    assert one(gateway, account, reject("ref-6")).outcomes[0].accepted


# --- REPLAY per message -------------------------------------------------------------------------------------------


def test_replay_mode_answers_a_repeat_with_the_first_message_and_stores_nothing_new(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    first = one(gateway, account, replay("sub-1"), "original").outcomes[0]
    assert first.accepted and not first.replayed
    repeat = one(gateway, account, replay("sub-1"), "a different text").outcomes[0]
    assert repeat.replayed and repeat.error is None
    assert (repeat.message_id, repeat.recipient, repeat.status, repeat.parts, repeat.encoding) == (
        first.message_id, first.recipient, first.status, first.parts, first.encoding)
    assert count(account) == 1
    assert first.message_id is not None
    assert gateway.status(first.message_id).text == "original"


def test_replay_mode_reports_the_first_messages_current_status(
    gateway: Gateway, account: Account, store: Store
) -> None:
    first = one(gateway, account, replay("sub-2")).outcomes[0]
    with store.write() as conn:
        conn.execute(update(messages).where(messages.c.id == first.message_id).values(status="delivered"))
    repeat = one(gateway, account, replay("sub-2")).outcomes[0]
    assert (repeat.message_id, repeat.status, repeat.replayed) == (first.message_id, Status.DELIVERED, True)


def test_replay_mode_answers_a_repeat_inside_one_request_with_the_first_occurrence(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    key = replay("sub-3")
    result = gateway.submit(account, SubmitRequest([
        MessageSpec(NO, "first", idempotency=key, client_ref="a"),
        MessageSpec("+4792000001", "unrelated"),
        MessageSpec(NO, "second", idempotency=key, client_ref="a"),
    ]))
    first, unrelated, second = result.outcomes
    assert not first.replayed and second.replayed
    assert second.message_id == first.message_id and second.index == 2
    assert unrelated.accepted and unrelated.message_id != first.message_id
    assert count(account) == 2


def test_replay_mode_frees_the_key_once_its_window_has_passed(
    clocked: Gateway, clock: MovableClock, account: Account, count: Callable[..., int]
) -> None:
    first = one(clocked, account, replay("sub-4", HOUR)).outcomes[0]
    clock.advance(hours=1)
    later = one(clocked, account, replay("sub-4", HOUR)).outcomes[0]
    assert later.accepted and not later.replayed and later.message_id != first.message_id
    assert count(account) == 2


# --- REPLAY per request -------------------------------------------------------------------------------------------


def test_a_repeated_request_key_replays_the_whole_first_result_and_stores_nothing(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    key = replay("req-1", DAY)
    request = SubmitRequest([MessageSpec(NO, "good", client_ref="c0"), MessageSpec("12", "bad", client_ref="c1")],
                            idempotency=key)
    first = gateway.submit(account, request)
    assert not first.replayed
    assert first.outcomes[0].accepted and first.outcomes[1].error is not None

    # The repeat need not even carry the same messages: the key alone decides.
    repeat = gateway.submit(account, SubmitRequest([MessageSpec(NO, "ignored")], batch_ref="other",
                                                   idempotency=key))
    assert repeat.replayed and repeat.batch_ref == first.batch_ref
    assert len(repeat.outcomes) == 2
    for was, now in zip(first.outcomes, repeat.outcomes, strict=True):
        assert now.replayed
        assert (now.index, now.recipient, now.message_id, now.status, now.parts, now.encoding, now.client_ref) == (
            was.index, was.recipient, was.message_id, was.status, was.parts, was.encoding, was.client_ref)
        assert now.error == was.error  # code, detail and field
    assert repeat.outcomes[1].error is not None and repeat.outcomes[1].error.code is ErrorCode.INVALID_RECIPIENT
    assert count(account) == 1
    assert gateway.batch_status(account, first.batch_ref).total == 1


def test_a_repeated_request_key_extends_its_window(
    clocked: Gateway, clock: MovableClock, account: Account, count: Callable[..., int]
) -> None:
    key = replay("req-2", DAY)
    request = SubmitRequest([MessageSpec(NO, "hi")], idempotency=key)
    first = clocked.submit(account, request)
    clock.advance(hours=20)
    assert clocked.submit(account, request).replayed
    clock.advance(hours=20)  # t+40h: past the first window, inside the one the repeat opened
    at_40h = clocked.submit(account, request)
    assert at_40h.replayed and at_40h.outcomes[0].message_id == first.outcomes[0].message_id
    assert count(account) == 1
    clock.advance(hours=24)  # a quiet day: the key has lapsed
    fresh = clocked.submit(account, request)
    assert not fresh.replayed and fresh.outcomes[0].message_id != first.outcomes[0].message_id
    assert count(account) == 2


# --- scope ---------------------------------------------------------------------------------------------------------


def test_keys_belong_to_one_account(
    gateway: Gateway, account: Account, other: Account, count: Callable[..., int]
) -> None:
    for key in (reject("shared-reject"), replay("shared-replay")):
        mine = one(gateway, account, key).outcomes[0]
        theirs = one(gateway, other, key).outcomes[0]
        assert mine.accepted and theirs.accepted
        assert not theirs.replayed and theirs.error is None and theirs.message_id != mine.message_id
    request = SubmitRequest([MessageSpec(NO, "hi")], idempotency=replay("shared-request"))
    mine_r, theirs_r = gateway.submit(account, request), gateway.submit(other, request)
    assert not theirs_r.replayed and theirs_r.outcomes[0].message_id != mine_r.outcomes[0].message_id
    assert (count(account), count(other)) == (3, 3)


def test_message_and_request_keys_live_in_separate_scopes(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    one(gateway, account, replay("same"))
    result = gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")], idempotency=replay("same")))
    assert not result.replayed and result.outcomes[0].accepted
    assert count(account) == 2


def test_concurrent_submits_with_one_replay_key_store_one_message(
    store: Store, gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    gateways = [Gateway(store, gateway.ids) for _ in range(4)]
    barrier = threading.Barrier(len(gateways))
    results: list[SubmitResult] = []
    errors: list[BaseException] = []

    def run(g: Gateway) -> None:
        try:
            barrier.wait()
            results.append(one(g, account, replay("race", HOUR)))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(g,)) for g in gateways]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len({r.outcomes[0].message_id for r in results}) == 1
    assert sorted(r.outcomes[0].replayed for r in results) == [False, True, True, True]
    assert count(account) == 1


@pytest.mark.parametrize("mode", [IdempotencyMode.REPLAY, IdempotencyMode.REJECT])
def test_concurrent_requests_sharing_one_transaction_claim_a_key_once(
    store: Store, gateway: Gateway, account: Account, count: Callable[..., int], mode: IdempotencyMode
) -> None:
    """Requests of one process share write transactions; two of a group claiming one key must still end as one
    message and one repeat."""
    barrier = threading.Barrier(8)

    def run(_: int) -> SubmitResult:
        barrier.wait()
        return one(gateway, account, IdempotencyKey("shared", mode, HOUR))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(8)))
    firsts = [r for r in results if r.outcomes[0].accepted and not r.outcomes[0].replayed]
    assert len(firsts) == 1 and count(account) == 1
    for other in (r for r in results if r is not firsts[0]):
        if mode is IdempotencyMode.REPLAY:
            assert other.outcomes[0].replayed and other.outcomes[0].message_id == firsts[0].outcomes[0].message_id
        else:
            assert other.outcomes[0].error is not None and other.outcomes[0].error.code is ErrorCode.DUPLICATE


def test_replay_of_a_purged_message_still_answers_with_its_id(
    gateway: Gateway, account: Account, store: Store, count: Callable[..., int]
) -> None:
    first = one(gateway, account, replay("sub-purged")).outcomes[0]
    with store.write() as conn:  # what a retention job does to old messages
        conn.execute(delete(messages).where(messages.c.id == first.message_id))
    repeat = one(gateway, account, replay("sub-purged")).outcomes[0]
    assert repeat.replayed and count(account) == 0
    assert repeat.accepted or repeat.error is not None, "an outcome must be accepted or refused"
    assert repeat.message_id == first.message_id


def test_an_over_long_idempotency_key_is_refused_for_its_message_only(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    long_key = replay("k" * 201)
    result = gateway.submit(account, SubmitRequest([MessageSpec(NO, "keyed", idempotency=long_key),
                                                    MessageSpec(NO, "plain")]))
    keyed, plain = result.outcomes
    assert keyed.error is not None and keyed.error.code is ErrorCode.INVALID_FIELD
    assert plain.accepted and count(account) == 1


def test_a_request_wide_key_must_replay(gateway: Gateway, account: Account, count: Callable[..., int]) -> None:
    with pytest.raises(ValueError, match="must replay"):
        gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")], idempotency=reject("req-x")))
    assert count() == 0
