"""Validity codes, timestamps and send windows (Europe/Oslo summer time included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from smsgw.domain.errors import ErrorCode, MessageError
from smsgw.domain.validity import (
    SendWindow,
    parse_timestamp,
    parse_window,
    puzzel_validity,
    validity_code,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, 0, microsecond, tzinfo=UTC)


MICROSECOND = timedelta(microseconds=1)


# Validity codes


@pytest.mark.parametrize(
    ("code", "period"),
    [
        (0, timedelta(minutes=5)),
        (143, timedelta(hours=12)),
        (144, timedelta(hours=12, minutes=30)),
        (167, timedelta(hours=24)),
        (168, timedelta(days=2)),
        (173, timedelta(days=7)),
    ],
)
def test_puzzel_validity_follows_the_tp_vp_table_at_every_boundary(code: int, period: timedelta) -> None:
    assert puzzel_validity(code) == period


@pytest.mark.parametrize("code", [-1, 174, 255])
def test_puzzel_validity_refuses_codes_outside_0_to_173(code: int) -> None:
    with pytest.raises(MessageError) as caught:
        puzzel_validity(code)
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_VALIDITY, "validity")


def tp_vp(code: int) -> timedelta:
    """GSM 03.40 TP-VP relative format, written out independently of the module."""
    if code <= 143:
        return (code + 1) * timedelta(minutes=5)
    if code <= 167:
        return timedelta(hours=12) + (code - 143) * timedelta(minutes=30)
    if code <= 196:
        return (code - 166) * timedelta(days=1)
    return (code - 192) * timedelta(weeks=1)


@pytest.mark.parametrize("code", range(256))
def test_validity_code_is_the_smallest_code_covering_a_period(code: int) -> None:
    assert validity_code(tp_vp(code)) == code
    if code > 0:
        assert validity_code(tp_vp(code - 1) + MICROSECOND) == code


def test_validity_code_round_trips_every_puzzel_code() -> None:
    assert [validity_code(puzzel_validity(code)) for code in range(174)] == list(range(174))


@pytest.mark.parametrize(
    ("period", "code"),
    [
        (timedelta(0), 0),
        (timedelta(minutes=-10), 0),
        (timedelta(weeks=63) + MICROSECOND, 255),
        (timedelta(days=3650), 255),
    ],
)
def test_validity_code_clamps_to_the_table(period: timedelta, code: int) -> None:
    assert validity_code(period) == code


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(weeks=63)))
def test_validity_code_covers_the_period_and_no_smaller_code_does(period: timedelta) -> None:
    code = validity_code(period)
    assert tp_vp(code) >= period
    assert code == 0 or tp_vp(code - 1) < period


# Timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2017-05-05T10:00:00+12:00", utc(2017, 5, 4, 22)),
        ("2017-05-05T10:00:00Z", utc(2017, 5, 5, 10)),
        ("2017-05-05t10:00:00z", utc(2017, 5, 5, 10)),
        ("2017-05-05 10:00:00-02:30", utc(2017, 5, 5, 12, 30)),
        ("2017-05-05T10:00:00.25Z", utc(2017, 5, 5, 10, 0, 250000)),
        ("2017-05-05T10:00:00.123456789+00:00", utc(2017, 5, 5, 10, 0, 123456)),  # Go's nanoseconds
    ],
)
def test_parse_timestamp_reads_rfc_3339_as_utc(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text, "sendTime")
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2017-05-05T10:00:00", "no UTC offset"),
        ("2017-05-05", "not an RFC 3339 timestamp"),
        ("05/05/2017 10:00", "not an RFC 3339 timestamp"),
        ("", "not an RFC 3339 timestamp"),
        ("2017-02-30T10:00:00Z", "no such date"),
        ("2017-05-05T24:00:00Z", "no such time"),
        ("2017-05-05T10:00:00+24:00", "no such UTC offset"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
    ],
)
def test_parse_timestamp_refuses_what_is_not_an_instant(text: str, reason: str) -> None:
    with pytest.raises(MessageError) as caught:
        parse_timestamp(text, "validityTime", ErrorCode.INVALID_VALIDITY)
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_VALIDITY, "validityTime")
    assert reason in caught.value.detail


# Send windows: parsing


PLUS_2 = timezone(timedelta(hours=2))
PLUS_1 = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (("2015-08-05",), SendWindow(date(2015, 8, 5))),
        (
            ("2015-08-05", "2015-08-06", "09:00:00", "10:00:00"),
            SendWindow(date(2015, 8, 5), date(2015, 8, 6), time(9), time(10)),
        ),
        (  # .NET's HH:mm:sszzz
            ("2015-08-05", None, "09:00:00+02:00", "10:00:00+02:00"),
            SendWindow(date(2015, 8, 5), None, time(9, tzinfo=PLUS_2), time(10, tzinfo=PLUS_2)),
        ),
        (("2015-08-05", None, "09:00:00.5Z"), SendWindow(date(2015, 8, 5), None, time(9, 0, 0, 500000, UTC))),
        (  # the TCP example: an offset on a date applies to its times, the default 00:00 included
            ("2015-06-15+01:00",),
            SendWindow(date(2015, 6, 15), None, time(0, tzinfo=PLUS_1)),
        ),
        (
            ("2015-06-15+01:00", "2015-06-16", "09:00:00", "10:00:00"),
            SendWindow(date(2015, 6, 15), date(2015, 6, 16), time(9, tzinfo=PLUS_1), time(10, tzinfo=PLUS_1)),
        ),
        (
            ("2015-06-15+01:00", None, "09:00:00", "10:00:00"),
            SendWindow(date(2015, 6, 15), None, time(9, tzinfo=PLUS_1), time(10, tzinfo=PLUS_1)),
        ),
        (
            ("2015-06-15", "2015-06-16-05:00", None, "10:00:00"),
            SendWindow(date(2015, 6, 15), date(2015, 6, 16), None, time(10, tzinfo=timezone(-timedelta(hours=5)))),
        ),
        (  # Go clients marshal time.Time into every field
            ("2026-03-29T00:00:00+02:00", "2026-03-30T00:00:00+02:00", "0000-01-01T09:00:00Z", "0000-01-01T10:00:00Z"),
            SendWindow(date(2026, 3, 29), date(2026, 3, 30), time(9, tzinfo=UTC), time(10, tzinfo=UTC)),
        ),
        (("2015-08-05", "", "", ""), SendWindow(date(2015, 8, 5))),
        (("2015-08-05", None, None, None, "Europe/London"), SendWindow(date(2015, 8, 5), zone="Europe/London")),
    ],
)
def test_parse_window_reads_xsd_and_rfc_3339_fields(fields: tuple[str | None, ...], expected: SendWindow) -> None:
    window = parse_window(*fields)  # type: ignore[arg-type]
    assert window.to_dict() == expected.to_dict()


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        (("5.8.2015",), "startDate", "not a date"),
        (("",), "startDate", "not a date"),
        (("2015-02-29",), "startDate", "no such date"),
        (("2015-08-05+25:00",), "startDate", "no such UTC offset"),
        (("0001-01-01",), "startDate", "out of range"),
        (("2015-08-05", "2015-13-01"), "stopDate", "no such date"),
        (("2015-08-05", "2015-08-04"), "stopDate", "before start date"),
        (("2015-08-05", None, "9:00"), "startTime", "not a time"),
        (("2015-08-05", None, "09:00"), "startTime", "not a time"),
        (("2015-08-05", None, "25:00:00"), "startTime", "no such time"),
        (("2015-08-05", None, None, "09:60:00"), "stopTime", "no such time"),
        (("2015-08-05", None, "10:00:00", "09:00:00"), "stopTime", "not after start time"),
        (("2015-08-05", None, "10:00:00", "10:00:00"), "stopTime", "not after start time"),
        (("2015-08-05", "2015-08-07", "10:00:00+00:00", "11:00:00"), "stopTime", "not after start time"),
        (("2026-03-29", None, "02:00:00", "02:30:00"), "stopTime", "not after start time"),  # all in the gap
        (("2015-08-05", None, None, None, "Europe/Atlantis"), "zone", "unknown time zone"),
    ],
)
def test_parse_window_names_the_field_at_fault(fields: tuple[str | None, ...], field: str, reason: str) -> None:
    with pytest.raises(MessageError) as caught:
        parse_window(*fields)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_SCHEDULE, f"sendWindow.{field}")
    assert reason in caught.value.detail


def test_send_window_cannot_be_built_invalid() -> None:
    with pytest.raises(ValueError, match="before start date"):
        SendWindow(date(2026, 1, 2), date(2026, 1, 1))
    with pytest.raises(ValueError, match="fixed UTC offset"):
        SendWindow(date(2026, 1, 2), start_time=time(9, tzinfo=ZoneInfo("Europe/Oslo")))


@pytest.mark.parametrize(
    "window",
    [
        SendWindow(date(2026, 3, 29)),
        SendWindow(date(2026, 3, 29), date(2026, 4, 2), time(9), time(17, 30)),
        SendWindow(date(2026, 3, 29), None, time(9, 0, 0, 123456, PLUS_2), time(10, tzinfo=UTC)),
        SendWindow(date(2026, 3, 29), None, time(9, tzinfo=timezone(timedelta(hours=-3, minutes=-30))), zone="UTC"),
    ],
)
def test_send_window_round_trips_through_its_dict_offsets_included(window: SendWindow) -> None:
    stored = window.to_dict()
    restored = SendWindow.from_dict(stored)
    assert restored == window
    assert restored.to_dict() == stored


@pytest.mark.parametrize(
    "stored",
    [
        {"start_date": "2026-03-29"},
        {"start_date": "2026-13-01", "zone": "Europe/Oslo"},
        {"start_date": "2026-03-29", "start_time": "9 o'clock", "zone": "Europe/Oslo"},
    ],
)
def test_send_window_from_a_malformed_dict_raises_value_error(stored: dict[str, str | None]) -> None:
    with pytest.raises(ValueError):
        SendWindow.from_dict(stored)


# Send windows: when they open


def oslo_window(*fields: str | None) -> SendWindow:
    return parse_window(*fields)  # type: ignore[arg-type]


def test_single_day_window_opens_at_its_start_and_closes_for_good_at_its_stop() -> None:
    window = oslo_window("2026-06-10", None, "09:00:00", "10:00:00")  # CEST: 07:00–08:00 UTC
    assert window.next_opening(utc(2026, 6, 10, 5)) == utc(2026, 6, 10, 7)  # before
    assert window.next_opening(utc(2026, 6, 10, 7)) == utc(2026, 6, 10, 7)  # the opening instant is inside
    assert window.next_opening(utc(2026, 6, 10, 7, 30)) == utc(2026, 6, 10, 7, 30)  # inside
    assert window.next_opening(utc(2026, 6, 10, 8)) is None  # the closing instant is outside
    assert window.next_opening(utc(2027, 1, 1)) is None
    assert window.final_close() == utc(2026, 6, 10, 8)


def test_multi_day_window_opens_daily_and_is_closed_between_days() -> None:
    window = oslo_window("2015-08-05", "2015-08-06", "09:00:00", "10:00:00")
    assert window.next_opening(utc(2015, 8, 5, 7, 15)) == utc(2015, 8, 5, 7, 15)
    assert window.next_opening(utc(2015, 8, 5, 8, 30)) == utc(2015, 8, 6, 7)  # between days
    assert not window.contains(utc(2015, 8, 5, 20))
    assert window.contains(utc(2015, 8, 6, 7, 59))
    assert window.next_opening(utc(2015, 8, 6, 8)) is None
    assert window.final_close() == utc(2015, 8, 6, 8)


def test_window_starting_long_ago_finds_todays_opening() -> None:
    window = oslo_window("2020-01-01", "2030-12-31", "09:00:00", "10:00:00")
    assert window.next_opening(utc(2026, 1, 15, 12)) == utc(2026, 1, 16, 8)


def test_stop_date_without_stop_time_runs_each_day_to_midnight() -> None:
    window = oslo_window("2026-06-10", "2026-06-11", "22:00:00")
    assert window.contains(utc(2026, 6, 10, 21, 59))  # 23:59 local
    assert window.next_opening(utc(2026, 6, 10, 22, 30)) == utc(2026, 6, 11, 20)  # 00:30 → 22:00 next day
    assert window.final_close() == utc(2026, 6, 11, 22)  # midnight after 2026-06-11, local


def test_dates_without_times_make_one_continuous_window() -> None:
    window = oslo_window("2026-06-10", "2026-06-11")
    assert window.contains(utc(2026, 6, 10, 21, 59))
    assert window.contains(utc(2026, 6, 10, 22))  # midnight local: the next day opens as the first closes
    assert window.next_opening(utc(2026, 6, 9, 12)) == utc(2026, 6, 9, 22)
    assert window.final_close() == utc(2026, 6, 11, 22)


def test_open_ended_window_is_a_send_at() -> None:
    window = oslo_window("2026-06-10", None, "09:00:00")
    assert window.next_opening(utc(2026, 6, 1)) == utc(2026, 6, 10, 7)
    assert window.next_opening(utc(2099, 1, 1)) == utc(2099, 1, 1)
    assert window.final_close() is None
    assert oslo_window("2026-06-10").next_opening(utc(2026, 6, 1)) == utc(2026, 6, 9, 22)


def test_stop_time_without_stop_date_is_the_start_date_only() -> None:
    window = oslo_window("2026-06-10", None, None, "10:00:00")
    assert window.next_opening(utc(2026, 6, 10, 8, 30)) is None
    assert window.next_opening(utc(2026, 6, 9, 23)) == utc(2026, 6, 9, 23)  # 01:00 local on the 10th


def test_explicit_offsets_override_the_zone() -> None:
    window = oslo_window("2026-01-15", None, "09:00:00+02:00", "10:00:00Z")  # Oslo is +01:00 in January
    assert window.next_opening(utc(2026, 1, 15)) == utc(2026, 1, 15, 7)
    assert window.final_close() == utc(2026, 1, 15, 10)
    dated = oslo_window("2026-01-15-05:00", None, "09:00:00")
    assert dated.next_opening(utc(2026, 1, 15)) == utc(2026, 1, 15, 14)


def test_a_time_with_an_offset_may_fall_on_the_previous_utc_day() -> None:
    window = oslo_window("2026-06-10", None, "01:00:00+14:00", "02:00:00+14:00")
    assert window.next_opening(utc(2026, 6, 9)) == utc(2026, 6, 9, 11)


def test_end_of_day_follows_the_start_times_offset() -> None:
    window = oslo_window("2026-06-10", "2026-06-10", "20:00:00-05:00")
    assert window.final_close() == utc(2026, 6, 11, 5)


# Send windows: summer time in Europe/Oslo (2026-03-29 spring forward, 2026-10-25 fall back)


@pytest.mark.parametrize(
    ("day", "opens", "closes"),
    [
        ("2026-03-28", utc(2026, 3, 28, 8), utc(2026, 3, 28, 9)),  # CET, winter
        ("2026-03-29", utc(2026, 3, 29, 7), utc(2026, 3, 29, 8)),  # CEST from 02:00
        ("2026-10-24", utc(2026, 10, 24, 7), utc(2026, 10, 24, 8)),  # CEST, summer
        ("2026-10-25", utc(2026, 10, 25, 8), utc(2026, 10, 25, 9)),  # CET from 03:00
    ],
)
def test_a_9_to_10_window_follows_oslo_summer_time(day: str, opens: datetime, closes: datetime) -> None:
    window = oslo_window(day, None, "09:00:00", "10:00:00")
    assert window.next_opening(opens - timedelta(hours=3)) == opens
    assert window.final_close() == closes


def test_daily_window_across_spring_forward_shifts_by_an_hour_in_utc() -> None:
    window = oslo_window("2026-03-28", "2026-03-30", "09:00:00", "10:00:00")
    assert window.next_opening(utc(2026, 3, 28, 9)) == utc(2026, 3, 29, 7)
    assert window.next_opening(utc(2026, 3, 29, 8)) == utc(2026, 3, 30, 7)


def test_a_start_in_the_spring_forward_gap_opens_at_the_end_of_the_gap() -> None:
    window = oslo_window("2026-03-29", None, "02:30:00")  # 02:00–03:00 does not exist that night
    assert window.next_opening(utc(2026, 3, 28)) == utc(2026, 3, 29, 1)  # 03:00 CEST


def test_an_ambiguous_start_on_the_fall_back_night_takes_its_first_occurrence() -> None:
    window = oslo_window("2026-10-25", None, "02:30:00")  # 02:00–03:00 happens twice
    assert window.next_opening(utc(2026, 10, 24)) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST


def test_a_daily_window_inside_the_gap_skips_the_spring_forward_day() -> None:
    window = oslo_window("2026-03-28", "2026-03-30", "02:00:00", "02:30:00")
    assert window.next_opening(utc(2026, 3, 28, 2)) == utc(2026, 3, 30, 0)  # 02:00 CEST on the 30th


def test_next_opening_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        oslo_window("2026-06-10").next_opening(datetime(2026, 6, 10))


def test_next_opening_returns_utc_whatever_the_zone_of_its_argument() -> None:
    window = oslo_window("2026-06-10", None, "09:00:00", "10:00:00")
    opening = window.next_opening(datetime(2026, 6, 10, 9, 30, tzinfo=PLUS_2))
    assert opening == utc(2026, 6, 10, 7, 30)
    assert opening is not None and opening.tzinfo is UTC


OFFSETS = st.sampled_from([None, UTC, PLUS_2, timezone(timedelta(hours=-5)), timezone(timedelta(hours=13))])


@st.composite
def send_windows(draw: st.DrawFn) -> SendWindow:
    start = draw(st.dates(date(2026, 3, 20), date(2026, 11, 5)))
    stop = draw(st.one_of(st.none(), st.integers(0, 10).map(lambda days: start + timedelta(days=days))))
    times = st.times().map(lambda t: t.replace(microsecond=0))
    start_time = draw(st.one_of(st.none(), st.builds(time.replace, times, tzinfo=OFFSETS)))
    stop_time = draw(st.one_of(st.none(), st.builds(time.replace, times, tzinfo=OFFSETS)))
    zone = draw(st.sampled_from(["Europe/Oslo", "America/New_York", "Australia/Sydney"]))
    try:
        return SendWindow(start, stop, start_time, stop_time, zone)
    except ValueError:
        reject()


@given(send_windows(), st.datetimes(datetime(2026, 3, 1), datetime(2026, 12, 1), timezones=st.just(UTC)))
def test_next_opening_is_never_before_its_argument_and_always_inside_the_window(
    window: SendWindow, after: datetime
) -> None:
    opening = window.next_opening(after)
    if opening is None:
        close = window.final_close()
        assert close is not None and close <= after
        assert not window.contains(after)
        return
    assert opening.tzinfo is UTC
    assert opening >= after
    assert window.contains(opening)
    if opening > after:
        assert not window.contains(after)
        assert not window.contains(opening - MICROSECOND)  # nothing earlier was open
    close = window.final_close()
    assert close is None or opening < close
