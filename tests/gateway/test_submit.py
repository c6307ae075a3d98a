"""gateway.submit: per-message validation, one outcome per message in order, scheduling, storage."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from smsgw.accounts import Accounts
from smsgw.domain.encoding import Encoding, ParsingType
from smsgw.domain.errors import ErrorCode, GatewayError, RequestError
from smsgw.domain.model import (
    MAX_MESSAGES_PER_REQUEST,
    Account,
    MessageSpec,
    MessageView,
    Outcome,
    Status,
    SubmitRequest,
)
from smsgw.domain.numbers import NumberFormat, OriginatorType
from smsgw.domain.validity import SendWindow
from smsgw.gateway import Gateway
from smsgw.store import repository

NO = "+4741000000"
OSLO = ZoneInfo("Europe/Oslo")


def dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def view_of(gateway: Gateway, outcome: Outcome, account: Account | None = None) -> MessageView:
    assert outcome.message_id is not None, outcome.error
    return gateway.status(outcome.message_id, account)


def oslo_today(ms: int) -> date:
    return dt(ms).astimezone(OSLO).date()


def test_each_bad_message_gets_its_own_error_and_the_good_ones_are_stored_in_request_order(
    clocked: Gateway, clock: Callable[[], int], accounts: Accounts, account: Account, count: Callable[..., int]
) -> None:
    acme = accounts.update("acme", allowed_originators=("ACME",))
    now = clock()
    today = oslo_today(now)
    closed = SendWindow(today - timedelta(days=3), today - timedelta(days=2), time(9), time(17))
    specs = [
        MessageSpec(NO, "first good one", client_ref="good-0"),
        MessageSpec("12", "invalid number"),
        MessageSpec(NO, ""),
        MessageSpec(NO, "x" * (153 * 6 + 1)),  # 7 parts; the account allows 6
        MessageSpec(NO, "Привет", parsing_type=ParsingType.NONE),
        MessageSpec(NO, "hi", originator="EVIL"),
        MessageSpec(NO, "hi", expires_at=dt(now - 1000)),
        MessageSpec(NO, "hi", validity=timedelta(hours=1), expires_at=dt(now + 3_600_000)),
        MessageSpec(NO, "hi", send_window=closed),
        MessageSpec("+4792000001", "last good one", originator="ACME", client_ref="good-9"),
    ]
    result = clocked.submit(acme, SubmitRequest(specs))

    assert [o.index for o in result.outcomes] == list(range(len(specs)))
    codes = [o.error.code if o.error else None for o in result.outcomes]
    assert codes == [
        None,
        ErrorCode.INVALID_RECIPIENT,
        ErrorCode.MISSING_FIELD,
        ErrorCode.TOO_LONG,
        ErrorCode.INVALID_CHARACTERS,
        ErrorCode.ORIGINATOR_NOT_ALLOWED,
        ErrorCode.INVALID_VALIDITY,
        ErrorCode.INVALID_VALIDITY,
        ErrorCode.INVALID_SCHEDULE,
        None,
    ]
    for outcome in result.outcomes[1:-1]:
        assert outcome.message_id is None and not outcome.accepted and outcome.status is None
    assert result.outcomes[1].recipient == "12"  # an invalid recipient is echoed as given

    first, last = result.outcomes[0], result.outcomes[-1]
    assert first.accepted and last.accepted and first.message_id != last.message_id
    assert (first.status, first.parts, first.encoding, first.client_ref) == (Status.ACCEPTED, 1, Encoding.GSM7,
                                                                             "good-0")
    view = view_of(clocked, first, acme)
    assert (view.recipient, view.text, view.status, view.batch_ref, view.client_ref) == (
        NO, "first good one", Status.ACCEPTED, result.batch_ref, "good-0")
    assert view.created_at == view.due_at == dt(now)
    view = view_of(clocked, last)
    assert (view.recipient, view.originator, view.originator_type, view.text) == (
        "+4792000001", "ACME", OriginatorType.ALPHANUMERIC, "last good one")
    assert count(acme) == 2
    assert clocked.batch_status(acme, result.batch_ref).total == 2


def test_no_messages_is_a_request_error(gateway: Gateway, account: Account, count: Callable[..., int]) -> None:
    with pytest.raises(RequestError) as caught:
        gateway.submit(account, SubmitRequest([]))
    assert caught.value.code is ErrorCode.NO_MESSAGES
    assert count() == 0


def test_more_than_ten_thousand_messages_is_a_request_error_and_stores_nothing(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    spec = MessageSpec(NO, "hi")
    with pytest.raises(RequestError) as caught:
        gateway.submit(account, SubmitRequest([spec] * (MAX_MESSAGES_PER_REQUEST + 1)))
    assert caught.value.code is ErrorCode.TOO_MANY_MESSAGES
    assert count() == 0


def test_ten_thousand_messages_are_accepted_in_one_request(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    specs = [MessageSpec(f"+47410{i:05d}", f"message {i}", client_ref=str(i)) for i in range(10_000)]
    result = gateway.submit(account, SubmitRequest(specs, batch_ref="big"))
    assert len(result.outcomes) == 10_000
    assert all(o.accepted and o.error is None for o in result.outcomes)
    assert [o.index for o in result.outcomes] == list(range(10_000))
    assert [o.client_ref for o in result.outcomes] == [str(i) for i in range(10_000)]
    assert len({o.message_id for o in result.outcomes}) == 10_000
    assert count(account) == 10_000
    batch = gateway.batch_status(account, "big")
    assert (batch.total, dict(batch.by_status)) == (10_000, {Status.ACCEPTED: 10_000})
    last = view_of(gateway, result.outcomes[-1])
    assert (last.recipient, last.text) == ("+474100" + "9999", "message 9999")


def test_a_generated_batch_reference_is_a_uuid(gateway: Gateway, account: Account) -> None:
    result = gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")]))
    assert str(uuid.UUID(result.batch_ref)) == result.batch_ref
    assert view_of(gateway, result.outcomes[0]).batch_ref == result.batch_ref
    again = gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")], batch_ref=""))
    assert str(uuid.UUID(again.batch_ref)) == again.batch_ref and again.batch_ref != result.batch_ref


def test_a_given_batch_reference_is_kept(gateway: Gateway, account: Account) -> None:
    result = gateway.submit(account, SubmitRequest([MessageSpec(NO, "a"), MessageSpec(NO, "b")], batch_ref="b-1"))
    assert result.batch_ref == "b-1"
    for outcome in result.outcomes:
        assert view_of(gateway, outcome).batch_ref == "b-1"
    assert gateway.batch_status(account, "b-1").total == 2


def test_a_batch_reference_over_one_hundred_characters_is_a_request_error(gateway: Gateway, account: Account) -> None:
    with pytest.raises(RequestError) as caught:
        gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")], batch_ref="b" * 101))
    assert caught.value.code is ErrorCode.INVALID_FIELD


def test_send_at_in_the_future_makes_the_message_scheduled_and_due_then(
    clocked: Gateway, clock: Callable[[], int], account: Account
) -> None:
    now = clock()
    send_at = dt(now + 3 * 3_600_000)
    result = clocked.submit(account, SubmitRequest([MessageSpec(NO, "later", send_at=send_at),
                                                    MessageSpec(NO, "past", send_at=dt(now - 60_000))]))
    later, past = result.outcomes
    assert later.status is Status.SCHEDULED
    view = view_of(clocked, later)
    assert (view.status, view.due_at, view.created_at) == (Status.SCHEDULED, send_at, dt(now))
    # A send time already passed means "now".
    assert past.status is Status.ACCEPTED
    assert view_of(clocked, past).due_at == dt(now)


def test_a_send_window_makes_the_message_due_at_its_next_opening_and_expire_at_its_close(
    clocked: Gateway, clock: Callable[[], int], account: Account
) -> None:
    now = clock()
    start = oslo_today(now) + timedelta(days=2)
    window = SendWindow(start, start + timedelta(days=1), time(9), time(17))
    result = clocked.submit(account, SubmitRequest([MessageSpec(NO, "in the window", send_window=window)]))
    outcome = result.outcomes[0]
    assert outcome.status is Status.SCHEDULED
    view = view_of(clocked, outcome)
    assert view.due_at == datetime.combine(start, time(9), OSLO)
    assert view.expires_at == datetime.combine(start + timedelta(days=1), time(17), OSLO)


def test_a_relative_validity_counts_from_the_window_opening(
    clocked: Gateway, clock: Callable[[], int], account: Account
) -> None:
    now = clock()
    start = oslo_today(now) + timedelta(days=1)
    window = SendWindow(start, start + timedelta(days=30), time(9), time(17))
    outcome = clocked.submit(account, SubmitRequest([
        MessageSpec(NO, "hi", send_window=window, validity=timedelta(days=3)),
    ])).outcomes[0]
    view = view_of(clocked, outcome)
    assert view.due_at == datetime.combine(start, time(9), OSLO)
    assert view.expires_at == view.due_at + timedelta(days=3)


def test_a_send_window_opening_after_the_expiry_time_is_refused(
    clocked: Gateway, clock: Callable[[], int], account: Account
) -> None:
    now = clock()
    start = oslo_today(now) + timedelta(days=3)
    window = SendWindow(start, start, time(9), time(17))
    outcome = clocked.submit(account, SubmitRequest([
        MessageSpec(NO, "hi", send_window=window, expires_at=dt(now + 3_600_000)),
    ])).outcomes[0]
    assert outcome.error is not None and outcome.error.code is ErrorCode.INVALID_SCHEDULE
    assert not outcome.accepted


def test_validity_defaults_to_the_accounts_and_a_given_one_wins(
    clocked: Gateway, clock: Callable[[], int], accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", default_validity=3600)
    now = clock()
    result = clocked.submit(acme, SubmitRequest([
        MessageSpec(NO, "default"),
        MessageSpec(NO, "relative", validity=timedelta(minutes=30)),
        MessageSpec(NO, "absolute", expires_at=dt(now + 7_200_000)),
    ]))
    expiries = [view_of(clocked, o).expires_at for o in result.outcomes]
    assert expiries == [dt(now + 3_600_000), dt(now + 1_800_000), dt(now + 7_200_000)]


def test_a_non_positive_validity_is_refused(gateway: Gateway, account: Account) -> None:
    outcome = gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi", validity=timedelta(0))])).outcomes[0]
    assert outcome.error is not None and outcome.error.code is ErrorCode.INVALID_VALIDITY


def test_national_numbers_are_read_in_the_accounts_default_country(gateway: Gateway, account: Account) -> None:
    # 95299523 is a Norwegian mobile number nationally and a Myanmar number internationally.
    national = gateway.submit(account, SubmitRequest([MessageSpec("952 99 523", "hi")],
                                                     number_format=NumberFormat.NATIONAL))
    assert national.outcomes[0].recipient == "+4795299523"
    assert view_of(gateway, national.outcomes[0]).recipient == "+4795299523"
    international = gateway.submit(account, SubmitRequest([MessageSpec("95299523", "hi")]))
    assert international.outcomes[0].recipient == "+95299523"
    explicit = gateway.submit(account, SubmitRequest([MessageSpec("+4741000000", "hi")],
                                                     number_format=NumberFormat.NATIONAL))
    assert explicit.outcomes[0].recipient == "+4741000000"


def test_national_numbers_of_another_country_follow_that_accounts_default(
    gateway: Gateway, accounts: Accounts
) -> None:
    uk = accounts.create("brit", "pw", default_country="GB")
    outcome = gateway.submit(uk, SubmitRequest([MessageSpec("07911 123456", "hi")],
                                               number_format=NumberFormat.NATIONAL)).outcomes[0]
    assert outcome.recipient == "+447911123456" and outcome.accepted


def test_a_binary_payload_with_a_udh_is_stored_as_binary(gateway: Gateway, account: Account) -> None:
    port_udh = bytes([0x06, 0x05, 0x04, 0x15, 0x81, 0x00, 0x00])  # application port addressing, 16-bit
    short, long_ = b"\x01\x02\x03", bytes(range(256)) + bytes(44)  # 300 octets: 3 parts of 128
    result = gateway.submit(account, SubmitRequest([
        MessageSpec(NO, payload=short, udh=port_udh, dcs=0xF5, pid=0x7F),
        MessageSpec(NO, payload=long_, udh=port_udh),
        MessageSpec(NO, payload=short, udh=b"\x05\x00"),  # length octet says 5, one follows
        MessageSpec(NO, "text", payload=short),
        MessageSpec(NO, "text", udh=port_udh),
        MessageSpec(NO, payload=short, dcs=256),
    ]))
    one, three, bad_udh, both, text_udh, bad_dcs = result.outcomes
    assert (one.encoding, one.parts, one.status) == (Encoding.BINARY, 1, Status.ACCEPTED)
    view = view_of(gateway, one)
    assert (view.encoding, view.payload, view.text) == (Encoding.BINARY, short, None)
    assert (three.encoding, three.parts) == (Encoding.BINARY, 3)
    assert view_of(gateway, three).payload == long_
    assert bad_udh.error is not None and bad_udh.error.code is ErrorCode.INVALID_BINARY
    assert both.error is not None and both.error.code is ErrorCode.INVALID_FIELD
    assert text_udh.error is not None and text_udh.error.code is ErrorCode.INVALID_BINARY
    assert bad_dcs.error is not None and bad_dcs.error.code is ErrorCode.INVALID_FIELD


def test_text_outside_gsm_is_sent_as_ucs2_under_auto_detect(gateway: Gateway, account: Account) -> None:
    outcome = gateway.submit(account, SubmitRequest([MessageSpec(NO, "Привет")])).outcomes[0]
    assert (outcome.encoding, outcome.parts) == (Encoding.UCS2, 1)
    assert view_of(gateway, outcome).text == "Привет"


def test_the_accounts_parsing_type_applies_when_the_message_names_none(
    gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    strict = accounts.update("acme", parsing_type=ParsingType.NONE)
    refused, replaced = gateway.submit(strict, SubmitRequest([
        MessageSpec(NO, "Łódź"),
        MessageSpec(NO, "Łódź", parsing_type=ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE),
    ])).outcomes
    assert refused.error is not None and refused.error.code is ErrorCode.INVALID_CHARACTERS
    assert replaced.accepted and view_of(gateway, replaced).text == "Lodz"


def test_max_parts_comes_from_the_account(gateway: Gateway, accounts: Accounts, account: Account) -> None:
    single = accounts.update("acme", max_parts=1)
    fits, too_long = gateway.submit(single, SubmitRequest([MessageSpec(NO, "x" * 160),
                                                           MessageSpec(NO, "x" * 161)])).outcomes
    assert fits.accepted and fits.parts == 1
    assert too_long.error is not None and too_long.error.code is ErrorCode.TOO_LONG


def test_a_priced_message_may_not_override_the_accounts_originator(gateway: Gateway, accounts: Accounts) -> None:
    shop = accounts.create("shop", "pw", default_country="NO", default_originator="SHOP")
    assert shop.default_originator_type is OriginatorType.ALPHANUMERIC
    result = gateway.submit(shop, SubmitRequest([
        MessageSpec(NO, "premium", price=100, originator="OTHER"),
        MessageSpec(NO, "premium", price=100),
        MessageSpec(NO, "premium", price=100, originator="SHOP"),
        MessageSpec(NO, "free", originator="OTHER"),
    ]))
    overridden, defaulted, same, free = result.outcomes
    assert overridden.error is not None and overridden.error.code is ErrorCode.ORIGINATOR_NOT_ALLOWED
    assert view_of(gateway, defaulted).originator == "SHOP"
    assert view_of(gateway, same).originator == "SHOP"
    assert view_of(gateway, free).originator == "OTHER"


def test_a_negative_price_is_refused(gateway: Gateway, account: Account) -> None:
    outcome = gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi", price=-1)])).outcomes[0]
    assert outcome.error is not None and outcome.error.code is ErrorCode.INVALID_FIELD


def test_the_default_originator_is_used_when_a_message_names_none(gateway: Gateway, accounts: Accounts) -> None:
    shop = accounts.create("shop", "pw", default_country="NO", default_originator="1960")
    outcome = gateway.submit(shop, SubmitRequest([MessageSpec(NO, "hi")])).outcomes[0]
    view = view_of(gateway, outcome)
    assert (view.originator, view.originator_type) == ("1960", OriginatorType.NETWORK)


def test_a_changed_default_originator_applies_to_the_next_message(gateway: Gateway, accounts: Accounts) -> None:
    """The default is worked out once per setting, not once per account: a new one is read afresh."""
    accounts.create("shop", "pw", default_country="NO", default_originator="1960")
    for default, expected in (("1960", OriginatorType.NETWORK), ("SHOP", OriginatorType.ALPHANUMERIC),
                              ("+4741000000", OriginatorType.INTERNATIONAL), ("1960", OriginatorType.NETWORK)):
        shop = accounts.update("shop", default_originator=default)
        view = view_of(gateway, gateway.submit(shop, SubmitRequest([MessageSpec(NO, "hi")])).outcomes[0])
        assert (view.originator, view.originator_type) == (default, expected)


def test_an_invalid_originator_is_refused_for_that_message_only(gateway: Gateway, account: Account) -> None:
    bad, good = gateway.submit(account, SubmitRequest([
        MessageSpec(NO, "hi", originator="MuchTooLongSender"),
        MessageSpec(NO, "hi", originator="0047 41000000"),
    ])).outcomes
    assert bad.error is not None and bad.error.code is ErrorCode.INVALID_ORIGINATOR
    view = view_of(gateway, good)
    assert (view.originator, view.originator_type) == ("+4741000000", OriginatorType.INTERNATIONAL)


def test_a_client_reference_over_one_hundred_characters_is_refused(gateway: Gateway, account: Account) -> None:
    outcome = gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi", client_ref="c" * 101)])).outcomes[0]
    assert outcome.error is not None and outcome.error.code is ErrorCode.INVALID_FIELD


def test_a_request_whose_messages_are_all_bad_stores_nothing_but_answers_each(
    gateway: Gateway, account: Account, count: Callable[..., int]
) -> None:
    result = gateway.submit(account, SubmitRequest([MessageSpec("1", "hi"), MessageSpec(NO, None)],
                                                   batch_ref="nothing"))
    assert [o.error.code for o in result.outcomes if o.error] == [ErrorCode.INVALID_RECIPIENT,
                                                                  ErrorCode.MISSING_FIELD]
    assert count() == 0


def test_status_with_an_account_hides_other_accounts_messages(
    gateway: Gateway, account: Account, other: Account
) -> None:
    outcome = gateway.submit(account, SubmitRequest([MessageSpec(NO, "hi")])).outcomes[0]
    assert view_of(gateway, outcome, account).id == outcome.message_id
    with pytest.raises(GatewayError) as caught:
        view_of(gateway, outcome, other)
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_a_send_window_open_now_makes_the_message_due_at_once(
    clocked: Gateway, clock: Callable[[], int], account: Account
) -> None:
    now = clock()
    today = oslo_today(now)
    window = SendWindow(today - timedelta(days=1), today + timedelta(days=1))  # whole days
    outcome = clocked.submit(account, SubmitRequest([MessageSpec(NO, "hi", send_window=window)])).outcomes[0]
    assert outcome.status is Status.ACCEPTED
    view = view_of(clocked, outcome)
    assert view.due_at == dt(now)
    assert view.expires_at == datetime.combine(today + timedelta(days=2), time(0), OSLO)


def test_a_refused_message_with_a_valid_recipient_reports_it_normalised(gateway: Gateway, account: Account) -> None:
    outcome = gateway.submit(account, SubmitRequest([MessageSpec("0047 41 00 00 00", "")])).outcomes[0]
    assert outcome.error is not None and outcome.error.code is ErrorCode.MISSING_FIELD
    assert outcome.recipient == "+4741000000"


def test_a_failure_while_storing_a_request_stores_none_of_its_messages(
    gateway: Gateway, account: Account, count: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = repository.insert_submission

    def insert_then_fail(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(repository, "insert_submission", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        gateway.submit(account, SubmitRequest([MessageSpec(NO, "a"), MessageSpec(NO, "b")], batch_ref="lost"))
    assert count() == 0
    monkeypatch.undo()
    assert [o.accepted for o in gateway.submit(account, SubmitRequest([MessageSpec(NO, "c")])).outcomes] == [True]
    assert count() == 1


def test_a_message_may_lower_the_accounts_part_limit_but_not_raise_it(gateway: Gateway, account: Account) -> None:
    long_text = "x" * 200  # two parts
    one, two, raised = gateway.submit(account, SubmitRequest([
        MessageSpec(NO, long_text, max_parts=1),
        MessageSpec(NO, long_text, max_parts=2),
        MessageSpec(NO, "y" * 1000, max_parts=50),  # 7 parts: above the account's 6
    ])).outcomes
    assert one.error is not None and one.error.code is ErrorCode.TOO_LONG
    assert two.accepted and two.parts == 2
    assert raised.error is not None and raised.error.code is ErrorCode.TOO_LONG


def test_a_disallowed_originator_falls_back_to_the_default_only_when_asked(
    gateway: Gateway, accounts: Accounts
) -> None:
    acme = accounts.create("masked", "pw", default_originator="ACME", allowed_originators=("ACME", "Promo"))
    kept, fallen_back, refused = gateway.submit(acme, SubmitRequest([
        MessageSpec(NO, "a", originator="Promo", fall_back_to_default_originator=True),
        MessageSpec(NO, "b", originator="Unknown", fall_back_to_default_originator=True),
        MessageSpec(NO, "c", originator="Unknown"),
    ])).outcomes
    assert gateway.status(kept.message_id or 0).originator == "Promo"
    assert gateway.status(fallen_back.message_id or 0).originator == "ACME"
    assert refused.error is not None and refused.error.code is ErrorCode.ORIGINATOR_NOT_ALLOWED


def test_a_message_is_found_by_its_client_reference_within_its_account(gateway: Gateway, account: Account,
                                                                      accounts: Accounts) -> None:
    _, second = gateway.submit(account, SubmitRequest([
        MessageSpec(NO, "a", client_ref="ref-1"), MessageSpec(NO, "b", client_ref="ref-1"),
    ])).outcomes
    assert gateway.status_by_client_ref(account, "ref-1").id == second.message_id  # the newest
    other = accounts.create("other", "pw")
    with pytest.raises(GatewayError) as missing:
        gateway.status_by_client_ref(other, "ref-1")
    assert missing.value.code is ErrorCode.NOT_FOUND
