"""Puzzel SMS Gateway callbacks: DRs (type 6) and MOs (type 1) pushed as REST JSON, REST XML or a GET URL template.

Puzzel's customers pick one of three shapes per service, so there are three formats with one set of fields:
`{"dr":[…]}` / `{"mo":[…]}` and `<dr>`/`<mo>` with one `<message>` per report (both batched), or one GET per report
through the account's URL template with `[field]` placeholders. Keys are all lower case and every id is Puzzel's
base-36 message id. Only HTTP 200 settles a callback: Puzzel retries anything else, 201 and 204 included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from lxml import etree

from ...dialects.puzzel.codes import StatusCode, message_id, xml_text
from ...domain.encoding import Encoding
from ...domain.model import PERMANENT_FAILURES, Account, ReportItem, ReportKind, Status
from ..callback import Answer, Callback, Format
from .query import with_query

Value = str | int | None
Fields = dict[str, Value]

DR_TYPE = 6
MO_TYPE = 1

_IN_PROGRESS = int(StatusCode.MESSAGE_DELIVERED_OK)  # Puzzel's "accepted and queued, not yet delivered" (send reply)

# Our statuses as Puzzel's DR statuscode (reference §3.2) and statusdescription. Puzzel documents final codes only;
# intermediate DRs reach a Puzzel customer only when an operator sets report_intermediate on the account.
STATUS_CODES: Mapping[Status, tuple[int, str]] = {
    # Puzzel's own example text for a delivered message.
    Status.DELIVERED: (0, "OK. Message processed successfully."),
    # The network cannot reach the phone (SMPP UNDELIV, DELETED): 351 is Puzzel's generic "cannot deliver to him".
    Status.UNDELIVERABLE: (351, "Recipient unknown, not on the operator's network, or illegal"),
    # Exactly Puzzel's meaning.
    Status.EXPIRED: (361, "Validity period expired before delivery"),
    # The SMSC refused the message (submit_sm error, REJECTD receipt): "could not be processed" by the SMSC.
    Status.REJECTED: (363, "SMSC operation failed: the message could not be processed"),
    # We gave up after our retries towards the SMSC: the message never got there and will not be sent.
    Status.FAILED: (371, "Transmit error towards the SMSC; message cancelled"),
    # Stopped before it was sent: 371 is the only code that says "message cancelled" (it never reached the SMSC).
    Status.CANCELLED: (371, "Message cancelled before it was sent"),
    # Not final. 0 would claim delivery and every 3xx/6xx code a final failure (a client may resend), so these use
    # 1, Puzzel's synchronous "Message enqueued for sending": its own word for "accepted, not yet delivered".
    Status.SUBMITTED: (_IN_PROGRESS, "Message submitted to the SMSC; not yet delivered"),
    Status.BUFFERED: (_IN_PROGRESS, "Message buffered in the network; not yet delivered"),
    # Never reported (nothing has happened yet); here so that every status has a code.
    Status.ACCEPTED: (_IN_PROGRESS, "Message enqueued for sending"),
    Status.SCHEDULED: (_IN_PROGRESS, "Message enqueued for sending"),
    Status.HELD: (_IN_PROGRESS, "Message held until approved (quota exceeded)"),
}

# Our own error codes (set by the delivery worker, never by a network) that a §3.2 code names more exactly.
OWN_ERROR_CODES: Mapping[str, tuple[int, str]] = {
    "no route": (651, "No route to subscriber"),  # REJECTED: no connector routes to the recipient
    "encoding": (653, "Unknown or unexpected data: the text cannot be encoded"),  # FAILED before sending
}

_PLACEHOLDER = re.compile(r"\[([A-Za-z_][A-Za-z0-9_]*)\]")  # word characters only: an IPv6 host "[::1]" is no field
_TIMESTAMP = "%Y%m%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class PuzzelPost:
    """Puzzel's REST push: every report given in one POST (the outbox keeps to one request per second)."""

    name: str
    content_type: str
    encode: Callable[[ReportKind, Sequence[Fields]], bytes]
    batched: bool = True

    def callbacks(self, account: Account, url: str, kind: ReportKind, items: Sequence[ReportItem]) -> list[Callback]:
        if not items:
            return []
        body = self.encode(kind, [fields(account, kind, item) for item in items])
        return [Callback("POST", url, tuple(item.id for item in items), body, {"Content-Type": self.content_type})]

    def acknowledged(self, kind: ReportKind, answer: Answer) -> bool:
        return _acknowledged(answer)

    def replies(self, kind: ReportKind, answer: Answer) -> list[str]:
        return []


@dataclass(frozen=True, slots=True)
class PuzzelGet:
    """Puzzel's GET push: one request per report, the account's URL a template of `[field]` placeholders."""

    name: str = "puzzel-get"
    batched: bool = False

    def callbacks(self, account: Account, url: str, kind: ReportKind, items: Sequence[ReportItem]) -> list[Callback]:
        return [Callback("GET", fill(url, account, kind, item), (item.id,)) for item in items]

    def acknowledged(self, kind: ReportKind, answer: Answer) -> bool:
        return _acknowledged(answer)

    def replies(self, kind: ReportKind, answer: Answer) -> list[str]:
        return []


def _acknowledged(answer: Answer) -> bool:
    """Puzzel: "only HTTP 200 counts"; anything else is retried later with the same messageid."""
    return answer.status == 200


def _json(kind: ReportKind, reports: Sequence[Fields]) -> bytes:
    # "replace" only matters for a lone surrogate in an MO's text, which UTF-8 cannot carry.
    return json.dumps({kind.value: list(reports)}, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def _xml(kind: ReportKind, reports: Sequence[Fields]) -> bytes:
    root = etree.Element(kind.value)
    for report in reports:
        message = etree.SubElement(root, "message")
        for key, value in report.items():
            # No text at all (not ""), so that an empty value is written `<sessionid/>` as in Puzzel's example.
            etree.SubElement(message, key).text = xml_text(_text(value)) or None
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


PUZZEL_JSON: Format = PuzzelPost("puzzel-json", "application/json; charset=utf-8", _json)
PUZZEL_XML: Format = PuzzelPost("puzzel-xml", "application/xml; charset=utf-8", _xml)
PUZZEL_GET: Format = PuzzelGet()


def fields(account: Account, kind: ReportKind, item: ReportItem) -> Fields:
    """A report's documented fields, in the order of Puzzel's field table (reference §3.3, §4.1)."""
    return _dr(account, item) if kind is ReportKind.DR else _mo(account, item)


def fill(template: str, account: Account, kind: ReportKind, item: ReportItem) -> str:
    """The GET URL for one report.

    Each `[field]` is replaced, whatever its case (Puzzel's own MO example writes `[sessionId]`), by the URL-encoded
    value (UTF-8, space as %20, valid in a path as in a query); a placeholder naming no field becomes empty, as a
    template Puzzel fills would have no value for it. A URL with no placeholder at all is taken as a plain endpoint:
    the documented fields are appended as a query, named as in the JSON format.
    """
    report = fields(account, kind, item)
    if not _PLACEHOLDER.search(template):
        return with_query(template, [(key, _text(value)) for key, value in report.items()])
    values = {**report, **_get_only(kind, item)}

    def value(match: re.Match[str]) -> str:
        return quote(_text(values.get(match.group(1).lower())), safe="")

    return _PLACEHOLDER.sub(value, template)


def _get_only(kind: ReportKind, item: ReportItem) -> Fields:
    """Placeholders a template may use beyond the JSON fields: MO `commandtype` is in Puzzel's MO GET example (we have
    no command types, so it is empty); DR `originator` is in the DR field table but in no example, so only a template
    that asks for it gets it (a strict JSON or XML deserializer could refuse an unexpected key)."""
    if kind is ReportKind.MO:
        return {"commandtype": ""}
    return {"originator": item.message.originator if item.message else None}


def _dr(account: Account, item: ReportItem) -> Fields:
    message = item.message
    if message is None:
        raise ValueError(f"report {item.id}: a DR without its message")
    status = item.status or message.status
    code, description = STATUS_CODES[status]
    if status in PERMANENT_FAILURES and item.error_code:
        code, description = OWN_ERROR_CODES.get(item.error_code, (code, description))
    return {
        "messageid": message_id(message.id),
        "customerbatchreference": message.batch_ref,
        "customermessagereference": message.client_ref or "",
        "serviceid": account.id,
        "servicename": account.name,
        # Operator codes are unknown to us. The table says int: null (JSON), an empty element (XML) or an empty value
        # (GET) says "unknown" where "" would fail an int deserializer and 0 would be a wrong code. The keys stay, as
        # in every example, for clients that read them by name.
        "mcc": None,
        "mnc": None,
        "statuscode": code,
        "statusdescription": description,
        # The network's own code, a string; Puzzel's example has "0" for a delivered message.
        "extstatuscode": item.error_code or ("0" if status is Status.DELIVERED else ""),
        "extstatusdescription": status.value.capitalize(),  # "Delivered" as in Puzzel's example
        "type": DR_TYPE,
    }


def _mo(account: Account, item: ReportItem) -> Fields:
    mo = item.inbound
    if mo is None:
        raise ValueError(f"report {item.id}: an MO without its message")
    binary = mo.encoding is Encoding.BINARY
    content = (mo.payload or b"").hex().upper() if binary else mo.text or ""
    keyword = None if binary else mo.keyword
    timestamp = _timestamp(mo.received_at)
    return {
        "messageid": message_id(mo.id),
        "sno": mo.destination,
        "command": keyword or "",
        "content": content,
        "strippedcontent": _stripped(content, keyword),
        # Puzzel names no time zone; ours is UTC. We know no separate SMSC time, so sctimestamp is the same.
        "timestamp": timestamp,
        "sctimestamp": timestamp,
        "serviceid": account.id,
        "servicename": account.name,
        "originator": mo.originator,
        "mcc": None,  # unknown, as for DRs
        "mnc": None,
        "sessionid": message_id(mo.reply_to) if mo.reply_to is not None else "",
        "type": MO_TYPE,
    }


def _stripped(content: str, keyword: str | None) -> str:
    """`content` without its leading keyword and the spaces around it; unchanged when it does not start with it."""
    if not keyword:
        return content
    match = re.match(rf"\s*{re.escape(keyword)}(?!\w)\s*", content, re.IGNORECASE)
    return content[match.end():] if match else content


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the model's times are UTC; a naive one is read as such
    return moment.astimezone(UTC).strftime(_TIMESTAMP)


def _text(value: Value) -> str:
    return "" if value is None else str(value)

