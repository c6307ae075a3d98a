"""Validity (absolute, relative, TP-VP codes) and scheduling (send-at, send windows in local time)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ErrorCode, MessageError

DEFAULT_ZONE = "Europe/Oslo"  # Puzzel's "CET", with summer time

_MIDNIGHT = time(0)
# A day's times become UTC instants up to a day either side of the date (offsets, the end of the day, the
# day before in `_days_from`); dates nearer `date`'s ends would overflow.
_FIRST_DATE = date.min + timedelta(days=2)
_LAST_DATE = date.max - timedelta(days=2)


class _InvalidWindow(ValueError):
    """A SendWindow that cannot exist; `field` names the Puzzel sendWindow field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Dates and daily times between which a message may be sent; times without an offset are in `zone`.

    - Dates run from `start_date` to `stop_date` inclusive. On each date the window is open from
      `start_time` (default 00:00) until `stop_time` (default the end of the day: midnight after the date,
      in the start time's offset if it has one, else in `zone`). Each day is half-open: [open, close).
    - Neither `stop_date` nor `stop_time`: open-ended from the start (a plain send-at).
      `stop_time` without `stop_date`: the start date only.
    - A time with a tzinfo is that wall time at that fixed UTC offset on the date (the client's
      "09:00:00+02:00"); one without is local time in `zone`, summer time included. A local time that does
      not exist (spring-forward gap) means the end of the gap; an ambiguous one (autumn) its first occurrence.
    - Invalid, raising ValueError: stop date before start date; on the start date a stop time not after the
      start time; an unknown zone; a tzinfo that is not a fixed offset. A later day can still be empty (a
      02:00–02:30 window on a spring-forward day); the window then does not open that day.
    """

    start_date: date
    stop_date: date | None = None
    start_time: time | None = None
    stop_time: time | None = None
    zone: str = DEFAULT_ZONE

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise _InvalidWindow("zone", f"unknown time zone {self.zone!r}") from None
        for field, at in (("startTime", self.start_time), ("stopTime", self.stop_time)):
            if at is not None and at.tzinfo is not None and not isinstance(at.tzinfo, timezone):
                raise _InvalidWindow(field, f"a time's zone must be a fixed UTC offset, not {at.tzinfo!r}")
        for field, day in (("startDate", self.start_date), ("stopDate", self.stop_date)):
            if day is not None and not _FIRST_DATE <= day <= _LAST_DATE:
                raise _InvalidWindow(field, f"date out of range: {day.isoformat()}")
        if self.stop_date is not None and self.stop_date < self.start_date:
            raise _InvalidWindow(
                "stopDate",
                f"stop date {self.stop_date.isoformat()} is before start date {self.start_date.isoformat()}",
            )
        if self.stop_time is not None:
            opens, closes = self._day(self.start_date)
            if closes <= opens:
                raise _InvalidWindow(
                    "stopTime",
                    f"stop time {self.stop_time.isoformat()} is not after start time "
                    f"{(self.start_time or _MIDNIGHT).isoformat()} on {self.start_date.isoformat()}",
                )

    def next_opening(self, after: datetime) -> datetime | None:
        """`after` (in UTC) if the window is open then, else when it next opens; None once it has closed for good."""
        if after.utcoffset() is None:
            raise ValueError(f"an aware datetime is needed, not {after!r}")
        after = after.astimezone(UTC)
        for opens, closes in self._days_from(after):
            if closes is None or (opens < closes and after < closes):
                return max(opens, after)
        return None

    def contains(self, t: datetime) -> bool:
        """Whether the window is open at the aware instant `t`."""
        return self.next_opening(t) == t

    def final_close(self) -> datetime | None:
        """When the window closes for good (UTC), or None if it is open-ended.

        That is the close of the last day that opens at all: summer time can empty a last day.
        """
        if self._open_ended:
            return None
        day = self.stop_date or self.start_date
        while True:
            opens, closes = self._day(day)
            if opens < closes or day == self.start_date:
                return closes
            day -= timedelta(days=1)

    def to_dict(self) -> dict[str, str | None]:
        """ISO 8601 strings, offsets included, for the store's JSON; `from_dict` reverses it exactly."""
        return {
            "start_date": self.start_date.isoformat(),
            "stop_date": None if self.stop_date is None else self.stop_date.isoformat(),
            "start_time": None if self.start_time is None else self.start_time.isoformat(),
            "stop_time": None if self.stop_time is None else self.stop_time.isoformat(),
            "zone": self.zone,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, str | None]) -> SendWindow:
        """The window `to_dict` stored; a malformed one raises ValueError (stored data, not customer input)."""
        start_date, zone = d.get("start_date"), d.get("zone")
        if start_date is None or zone is None:
            raise ValueError("a stored send window needs start_date and zone")
        stop_date, start_time, stop_time = d.get("stop_date"), d.get("start_time"), d.get("stop_time")
        return cls(
            date.fromisoformat(start_date),
            None if stop_date is None else date.fromisoformat(stop_date),
            None if start_time is None else time.fromisoformat(start_time),
            None if stop_time is None else time.fromisoformat(stop_time),
            zone,
        )

    @property
    def _open_ended(self) -> bool:
        return self.stop_date is None and self.stop_time is None

    def _day(self, day: date) -> tuple[datetime, datetime]:
        """The window's [open, close) on `day`, in UTC; close may not be after open on a summer-time day."""
        opens = _instant(day, self.start_time or _MIDNIGHT, self.zone)
        if self.stop_time is not None:
            return opens, _instant(day, self.stop_time, self.zone)
        end_of_day = _MIDNIGHT if self.start_time is None else _MIDNIGHT.replace(tzinfo=self.start_time.tzinfo)
        return opens, _instant(day + timedelta(days=1), end_of_day, self.zone)

    def _days_from(self, after: datetime) -> Iterator[tuple[datetime, datetime | None]]:
        """The daily [open, close) pairs, in date order, that may still close after `after` (UTC).

        Opening times grow with the date (same wall time, and local times resolve monotonically), so the
        first pair that closes after `after` holds the next opening. A day closes before UTC midnight two
        days after it (wall times end at 24:00, offsets are above −24 h), so the search starts the day
        before `after`'s UTC date.
        """
        if self._open_ended:
            yield _instant(self.start_date, self.start_time or _MIDNIGHT, self.zone), None
            return
        last = self.stop_date or self.start_date
        latest = min(after.date(), last)
        day = latest - timedelta(days=1) if latest > self.start_date else self.start_date
        while day <= last:
            yield self._day(day)
            day += timedelta(days=1)


def _instant(day: date, at: time, zone: str) -> datetime:
    """The UTC instant of wall time `at` on `day`: at its own offset, else in `zone` (see SendWindow)."""
    if at.tzinfo is not None:
        return datetime.combine(day, at).astimezone(UTC)
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the first of two occurrences
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # `wall` falls in a gap. Per PEP 495, fold=1 reads it with the offset after the transition, which puts
    # it before the transition, and fold=0 after it; the gap ends at the transition, a whole second in tzdata.
    before = math.floor(wall.replace(tzinfo=tz, fold=1).timestamp())
    after = math.ceil(first.timestamp())
    old_offset = datetime.fromtimestamp(before, tz).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == old_offset:
            before = middle
        else:
            after = middle
    return datetime.fromtimestamp(after, UTC)


_DATE = r"(?P<date>\d{4}-\d{2}-\d{2})"
_TIME = r"(?P<time>\d{2}:\d{2}:\d{2}(?:\.\d+)?)"
_OFFSET = r"(?P<offset>Z|[+-]\d{2}:\d{2})"
_DATE_FIELD = re.compile(rf"{_DATE}(?:[T ]{_TIME})?{_OFFSET}?", re.ASCII | re.IGNORECASE)
_TIME_FIELD = re.compile(rf"(?:{_DATE}[T ])?{_TIME}{_OFFSET}?", re.ASCII | re.IGNORECASE)
_TIMESTAMP = re.compile(rf"{_DATE}[T ]{_TIME}{_OFFSET}?", re.ASCII | re.IGNORECASE)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"no such date: {text!r}") from None


def _time(text: str, offset: timezone | None) -> time:
    """hh:mm:ss[.fff…]; fractions beyond microseconds are cut off, as Go sends nanoseconds."""
    clock, _, fraction = text.partition(".")
    hour, minute, second = (int(part) for part in clock.split(":"))
    try:
        return time(hour, minute, second, int(fraction[:6].ljust(6, "0")), tzinfo=offset)
    except ValueError:
        raise ValueError(f"no such time: {text!r}") from None


def _offset(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text.upper() == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(f"no such UTC offset: {text!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def _schedule_error(reason: str, field: str) -> MessageError:
    return MessageError(ErrorCode.INVALID_SCHEDULE, reason, field=f"sendWindow.{field}")


def _parse_date(text: str, field: str) -> tuple[date, timezone | None]:
    match = _DATE_FIELD.fullmatch(text.strip())
    if match is None:
        raise _schedule_error(f"not a date (CCYY-MM-DD[Z|±hh:mm]) or RFC 3339 timestamp: {text!r}", field=field)
    try:
        return _date(match["date"]), _offset(match["offset"])
    except ValueError as exc:
        raise _schedule_error(str(exc), field=field) from None


def _parse_time(text: str, field: str, date_offset: timezone | None) -> time:
    match = _TIME_FIELD.fullmatch(text.strip())
    if match is None:
        raise _schedule_error(f"not a time (hh:mm:ss[.fff][Z|±hh:mm]) or RFC 3339 timestamp: {text!r}", field=field)
    try:
        return _time(match["time"], _offset(match["offset"]) or date_offset)
    except ValueError as exc:
        raise _schedule_error(str(exc), field=field) from None


def _given(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


def parse_window(
    start_date: str,
    stop_date: str | None = None,
    start_time: str | None = None,
    stop_time: str | None = None,
    zone: str = DEFAULT_ZONE,
) -> SendWindow:
    """A SendWindow from Puzzel's sendWindow fields, as .NET, Python and Go clients write them.

    Dates are XSD `CCYY-MM-DD[Z|±hh:mm]`, times XSD `hh:mm:ss[.fff][Z|±hh:mm]`; either may also be a full
    RFC 3339 timestamp (Go clients marshal time.Time into both), of which only the date or the time part
    and the offset count. A date's offset applies to times that have none: the start date's to the start
    time (00:00 when absent), the stop date's to the stop time, or else the start date's, since a client
    that gives one offset means it for the whole window. Empty optional fields count as absent. Errors
    raise MessageError(INVALID_SCHEDULE) naming the field, e.g. "sendWindow.stopTime".
    """
    start_day, start_offset = _parse_date(start_date, "startDate")
    stop_day, stop_offset = None, None
    if (stop_date := _given(stop_date)) is not None:
        stop_day, stop_offset = _parse_date(stop_date, "stopDate")
    opens = None if start_offset is None else _MIDNIGHT.replace(tzinfo=start_offset)
    if (start_time := _given(start_time)) is not None:
        opens = _parse_time(start_time, "startTime", start_offset)
    closes = None
    if (stop_time := _given(stop_time)) is not None:
        closes = _parse_time(stop_time, "stopTime", stop_offset or start_offset)
    try:
        return SendWindow(start_day, stop_day, opens, closes, zone)
    except _InvalidWindow as exc:
        raise _schedule_error(str(exc), exc.field) from None


def parse_timestamp(text: str, field: str, code: ErrorCode = ErrorCode.INVALID_FIELD) -> datetime:
    """An RFC 3339 timestamp ("2017-05-05T10:00:00+12:00", "Z", fractions, a space for "T") as aware UTC.

    A timestamp without an offset is refused: it names no single instant, and guessing a zone would move
    an absolute expiry or send time by hours.
    """
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise MessageError(code, f"not an RFC 3339 timestamp (like 2017-05-05T10:00:00+12:00): {text!r}", field=field)
    if match["offset"] is None:
        raise MessageError(code, f"timestamp has no UTC offset (add Z or ±hh:mm): {text!r}", field=field)
    try:
        day = _date(match["date"])
        return datetime.combine(day, _time(match["time"], _offset(match["offset"]))).astimezone(UTC)
    except ValueError as exc:
        raise MessageError(code, str(exc), field=field) from None
    except OverflowError:
        raise MessageError(code, f"timestamp out of range: {text!r}", field=field) from None


def _tp_vp_period(code: int) -> timedelta:
    """The period of a GSM 03.40 TP-VP relative code, 0–255."""
    if code <= 143:
        return timedelta(minutes=5 * (code + 1))
    if code <= 167:
        return timedelta(hours=12, minutes=30 * (code - 143))
    if code <= 196:
        return timedelta(days=code - 166)
    return timedelta(weeks=code - 192)


_PUZZEL_MAX_CODE = 173  # 7 days: Puzzel caps the TP-VP table there


def puzzel_validity(code: int) -> timedelta:
    """The period of Puzzel's `validity` code, the TP-VP relative table up to 173 (5 minutes to 7 days)."""
    if not 0 <= code <= _PUZZEL_MAX_CODE:
        raise MessageError(
            ErrorCode.INVALID_VALIDITY,
            f"validity must be a code from 0 to {_PUZZEL_MAX_CODE} (5 minutes to 7 days): {code}",
            field="validity",
        )
    return _tp_vp_period(code)


def _ceil_div(period: timedelta, unit: timedelta) -> int:
    return -(-period // unit)


def validity_code(period: timedelta) -> int:
    """The smallest TP-VP relative code whose period covers `period`, for SMPP's validity_period.

    Periods up to 5 minutes (zero and negative ones included) give 0; periods beyond the table's
    63 weeks give 255, its longest.
    """
    if period <= timedelta(hours=12):
        return max(0, _ceil_div(period, timedelta(minutes=5)) - 1)
    if period <= timedelta(hours=24):
        return 143 + _ceil_div(period - timedelta(hours=12), timedelta(minutes=30))
    if period <= timedelta(days=30):
        return 166 + _ceil_div(period, timedelta(days=1))
    return min(255, 192 + _ceil_div(period, timedelta(weeks=1)))
