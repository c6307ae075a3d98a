"""Validity (absolute, relative, TP-VP codes) and scheduling (send-at, send windows in local time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

DEFAULT_ZONE = "Europe/Oslo"  # Puzzel's "CET", with summer time


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Dates and daily times between which a message may be sent; times without an offset are in `zone`."""

    start_date: date
    stop_date: date | None = None
    start_time: time | None = None
    stop_time: time | None = None
    zone: str = DEFAULT_ZONE
