"""What the outbox sends and what it makes of the answer: one small contract every vendor's callback format fills.

A format turns reports (DRs and MOs, with the MT or MO each is about) into HTTP requests to the account's URL, and
says, as its vendor defines it, whether an answer acknowledges them. The outbox does the rest: authentication,
sending, retries, order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..domain.model import Account, ReportItem, ReportKind


@dataclass(frozen=True, slots=True)
class Callback:
    """One HTTP request to a customer, carrying the reports `report_ids` (several only for batching formats)."""

    method: str  # GET or POST
    url: str  # the account's URL with the format's query added (credentials in it are kept: the outbox moves them)
    report_ids: tuple[int, ...]
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. Content-Type of a POST


@dataclass(frozen=True, slots=True)
class Answer:
    """The customer's answer to a Callback."""

    status: int
    body: bytes


class Format(Protocol):
    """One vendor's callback format (`report_format` names it)."""

    @property
    def name(self) -> str: ...

    @property
    def batched(self) -> bool:
        """Whether several reports go in one request; the outbox then sends at most one request per second to each
        endpoint (Puzzel's REST push)."""
        ...

    def callbacks(self, account: Account, url: str, kind: ReportKind, items: Sequence[ReportItem]) -> list[Callback]:
        """The requests carrying `items` (all of one kind, all for `url`), in order; one per item unless batched."""
        ...

    def acknowledged(self, kind: ReportKind, answer: Answer) -> bool:
        """Whether `answer` settles the callback as the vendor defines it; anything else is retried."""
        ...

    def replies(self, kind: ReportKind, answer: Answer) -> list[str]:
        """Texts to send back to the phone an acknowledged MO came from (Rapporto: the 200 body, one SMS per line);
        empty for the others."""
        ...
