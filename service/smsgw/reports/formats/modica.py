"""Modica's Mobile Gateway HTTPS API v2 callbacks: one GET per report to the account's DLR or MO URL.

DR: `?id=<MT id>&status=<word>[&reference=<client_ref>]`. MO: `?id=&source=&destination=&content=&operator=`, with
`reply_to` (and the MT's `reference`) for an answer to an MT, and `encoding=base64` for binary content. Modica
documents no answer format, so any 2xx settles a callback.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...domain.encoding import Encoding
from ...domain.model import Account, Inbound, ReportItem, ReportKind, Status
from ..callback import Answer, Callback, Format
from .query import with_query

# Modica's status words are failed, sent, frozen, dead, received, submitted, rejected and expired; its clients
# "need to cater for" exactly these, so each of our statuses maps onto the nearest one. Modica's "sent" (the carrier
# sent it) is our BUFFERED and "received" (on the handset) our DELIVERED; "rejected" covers both an SMSC's refusal
# and a network's "cannot reach" (Modica says carriers differ in how they tell these apart); "dead" (killed by an
# administrator) is the closest to a cancellation. "frozen" (transient) has no counterpart: we report no transient
# errors. Not yet sent (accepted, scheduled) counts as submitted: Modica has no earlier word.
STATUS_WORDS: Mapping[Status, str] = {
    Status.ACCEPTED: "submitted",
    Status.SCHEDULED: "submitted",
    Status.HELD: "frozen",  # held for an operator (per-recipient quota): Modica's "a transient error has frozen it"
    Status.SUBMITTED: "submitted",
    Status.BUFFERED: "sent",
    Status.DELIVERED: "received",
    Status.UNDELIVERABLE: "rejected",
    Status.REJECTED: "rejected",
    Status.EXPIRED: "expired",
    Status.FAILED: "failed",
    Status.CANCELLED: "dead",
}


@dataclass(frozen=True, slots=True)
class Modica:
    name: str = "modica"
    batched: bool = False

    def callbacks(self, account: Account, url: str, kind: ReportKind, items: Sequence[ReportItem]) -> list[Callback]:
        build = _dr if kind is ReportKind.DR else _mo
        return [Callback("GET", with_query(url, build(item)), (item.id,)) for item in items]

    def acknowledged(self, kind: ReportKind, answer: Answer) -> bool:
        return 200 <= answer.status < 300

    def replies(self, kind: ReportKind, answer: Answer) -> list[str]:
        return []


MODICA: Format = Modica()


def _dr(item: ReportItem) -> list[tuple[str, str]]:
    message = item.message
    if message is None:
        raise ValueError(f"report {item.id}: a DR without its message")
    params = [("id", str(message.id)), ("status", STATUS_WORDS[item.status or message.status])]
    if message.client_ref:
        params.append(("reference", message.client_ref))
    return params


def _mo(item: ReportItem) -> list[tuple[str, str]]:
    mo = item.inbound
    if mo is None:
        raise ValueError(f"report {item.id}: an MO without its message")
    params = [("id", str(mo.id)), ("source", mo.originator), ("destination", mo.destination),
              ("content", _content(mo)), ("operator", mo.operator or "")]  # Modica always sends operator
    if mo.encoding is Encoding.BINARY:
        params.append(("encoding", "base64"))
    if mo.reply_to is not None:
        params.append(("reply_to", str(mo.reply_to)))
        # ReportItem has no field for the answered MT's reference: for an MO with reply_to set, the outbox puts that
        # MT's view in `item.message`. The id check keeps a wrong reference out should it ever carry another one.
        mt = item.message
        if mt is not None and mt.id == mo.reply_to and mt.client_ref:
            params.append(("reference", mt.client_ref))
    return params


def _content(mo: Inbound) -> str:
    if mo.encoding is Encoding.BINARY:
        return base64.b64encode(mo.payload or b"").decode("ascii")
    return mo.text or ""
