"""What happens to a message after an attempt the SMSC did not take: the retry schedules.

Temporary failures: 30 s, 60 s, 120 s … doubling, 10 attempts in all, never past validity (OpenMarket's retry
strategy in seeds/). Refusals for billing reasons on premium messages: 6 h, then 18 h, then every 24 h until expiry
(OpenMarket's billing schedule), unless the message is single-shot billed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.model import Status
from .connectors.base import Outcome

MAX_ATTEMPTS = 10
FIRST_RETRY_MS = 30_000
BILLING_RETRIES_MS = (6 * 3_600_000, 18 * 3_600_000)
BILLING_THEN_MS = 24 * 3_600_000
THROTTLE_PAUSE_MS = 1_000


@dataclass(frozen=True, slots=True)
class Next:
    status: Status
    due_at: int | None = None  # when it may be tried again (status ACCEPTED)
    error_code: str | None = None
    attempt_counts: bool = True


def after(outcome: Outcome, error: str | None, attempts: int, now_ms: int, expires_at: int,
          single_shot: bool) -> Next:
    """The next state of a message whose `attempts`-th attempt ended with `outcome` (not ACCEPTED)."""
    if outcome is Outcome.THROTTLED:
        return Next(Status.ACCEPTED, min(now_ms + THROTTLE_PAUSE_MS, expires_at), error, attempt_counts=False)
    if outcome is Outcome.PERMANENT:
        return Next(Status.REJECTED, error_code=error)
    if outcome is Outcome.BILLING:
        if single_shot:
            return Next(Status.FAILED, error_code=error or "billing")
        waits = BILLING_RETRIES_MS
        due = now_ms + (waits[attempts - 1] if attempts <= len(waits) else BILLING_THEN_MS)
    else:
        if attempts >= MAX_ATTEMPTS:
            return Next(Status.FAILED, error_code=error or "retries exhausted")
        due = now_ms + FIRST_RETRY_MS * 2 ** (attempts - 1)
    if due >= expires_at:
        return Next(Status.EXPIRED, error_code=error)
    return Next(Status.ACCEPTED, due, error)
