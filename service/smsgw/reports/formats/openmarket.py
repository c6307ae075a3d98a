"""OpenMarket's (MX Telecom's) legacy UK SMS HTTP callbacks: one GET per report to the account's URL.

DR: `?smsfrom=<handset>&smsmsg=REPORT <MT id> <STATUS>&smsto=&shortcode=<MT originator>&smsid=<report id>
&smsdate=<London time>&reason=<4-byte code>`. MO: `?smsfrom=&smsto=&smsid=&smsdate=[&network=]` with the text as
`smsmsg` (`bits=7`), `smsucs2` (`bits=16`) or `smsbin` (`bits=8`). Numbers go without "+", as OpenMarket writes
them. A callback is settled only by HTTP 200 with a non-empty body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ...domain.encoding import Encoding
from ...domain.model import Account, ReportItem, ReportKind, Status
from ..callback import Answer, Callback, Format
from .query import with_query

LONDON = ZoneInfo("Europe/London")  # OpenMarket's smsdate is UK local time
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# OpenMarket's four report words. Submitted (and not yet sent) counts as BUFFERED, its only intermediate word;
# every permanent failure that is not an SMSC's refusal is FAILED.
STATUS_WORDS: Mapping[Status, str] = {
    Status.ACCEPTED: "BUFFERED",
    Status.SCHEDULED: "BUFFERED",
    Status.HELD: "BUFFERED",
    Status.SUBMITTED: "BUFFERED",
    Status.BUFFERED: "BUFFERED",
    Status.DELIVERED: "DELIVERED",
    Status.REJECTED: "REJECTED",
    Status.UNDELIVERABLE: "FAILED",
    Status.EXPIRED: "FAILED",
    Status.FAILED: "FAILED",
    Status.CANCELLED: "FAILED",
}

# `reason` is 4 bytes: type nibble + billing nibble, reason, reason 2, network. The public table was cut off after
# 0x1 REJECTED and 0x3 BUFFERED; 0x5 DELIVERED comes from the documented example 1359151616 = 0x51030200. FAILED's
# nibble is not public, so a FAILED report carries no `reason` rather than a made-up one. The lower bytes are 0: we
# do not know OpenMarket's reason values.
REASON_TYPES: Mapping[str, int] = {"DELIVERED": 0x5, "BUFFERED": 0x3, "REJECTED": 0x1}


@dataclass(frozen=True, slots=True)
class OpenMarket:
    name: str = "openmarket"
    batched: bool = False

    def callbacks(self, account: Account, url: str, kind: ReportKind, items: Sequence[ReportItem]) -> list[Callback]:
        build = _dr if kind is ReportKind.DR else _mo
        return [Callback("GET", with_query(url, build(item)), (item.id,)) for item in items]

    def acknowledged(self, kind: ReportKind, answer: Answer) -> bool:
        return answer.status == 200 and bool(answer.body.strip())

    def replies(self, kind: ReportKind, answer: Answer) -> list[str]:
        return []


OPENMARKET: Format = OpenMarket()


def _dr(item: ReportItem) -> list[tuple[str, str]]:
    message = item.message
    if message is None:
        raise ValueError(f"report {item.id}: a DR without its message")
    word = STATUS_WORDS[item.status or message.status]
    params = [("smsfrom", _number(message.recipient)), ("smsmsg", f"REPORT {message.id} {word}")]
    if message.originator:
        params += [("smsto", _number(message.originator)), ("shortcode", _number(message.originator))]
    params += [("smsid", str(item.id)), ("smsdate", _london(item.created_at))]
    if word in REASON_TYPES:
        params.append(("reason", str(REASON_TYPES[word] << 28)))
    return params


def _mo(item: ReportItem) -> list[tuple[str, str]]:
    mo = item.inbound
    if mo is None:
        raise ValueError(f"report {item.id}: an MO without its message")
    params = [("smsfrom", _number(mo.originator))]
    if mo.encoding is Encoding.BINARY:
        # OpenMarket's binary parameter name is not public: `smsbin` (hex, like `smsucs2`) is our choice.
        params.append(("smsbin", (mo.payload or b"").hex().upper()))
        bits = "8"
    elif mo.encoding is Encoding.UCS2:
        text = mo.text or ""
        params += [("smsmsg", text), ("smsucs2", text.encode("utf-16-be").hex().upper())]
        bits = "16"
    else:
        params.append(("smsmsg", mo.text or ""))
        bits = "7"
    params += [("smsto", mo.destination), ("smsid", str(mo.id)), ("smsdate", _london(mo.received_at))]
    if mo.operator:
        params.append(("network", mo.operator))
    params.append(("bits", bits))
    return params


def _number(address: str) -> str:
    return address.removeprefix("+")


def _london(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(LONDON).strftime(DATE_FORMAT)
