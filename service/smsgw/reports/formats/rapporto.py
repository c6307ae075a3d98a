"""Rapporto HTTP API v5 callbacks: one GET per report to the partner's URL.

DR: `?msgType=SMS&transactionId=<MT id>[&ptag=]&status=<0|2|5>[&partnerMsgId=]`, settled only by 200 (Rapporto
retries 400 and 500). MO: `?clientId=&message=[&connectorId=]&serviceId=&receivedDate=<Moscow time>&shortNumber=
&messageId=`, settled by 200 or 204; a 200 body is the reply, one SMS per line.
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

MOSCOW = ZoneInfo("Europe/Moscow")  # receivedDate has no offset: Rapporto's home zone, as for sending_time
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# Rapporto's SMS statuses: 0 handed to the operator (not final), 2 delivered, 5 not delivered (9, read, is for
# messengers). Anything not final is 0, Rapporto has no other intermediate value; every permanent failure is 5.
STATUS_NUMBERS: Mapping[Status, int] = {
    **dict.fromkeys((Status.ACCEPTED, Status.SCHEDULED, Status.HELD, Status.SUBMITTED, Status.BUFFERED),
                     0),
    Status.DELIVERED: 2,
    **dict.fromkeys((Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED, Status.FAILED, Status.CANCELLED), 5),
}


@dataclass(frozen=True, slots=True)
class Rapporto:
    name: str = "rapporto"
    batched: bool = False

    def callbacks(self, account: Account, url: str, kind: ReportKind, items: Sequence[ReportItem]) -> list[Callback]:
        if kind is ReportKind.DR:
            return [Callback("GET", with_query(url, _dr(item)), (item.id,)) for item in items]
        return [Callback("GET", with_query(url, _mo(account, item)), (item.id,)) for item in items]

    def acknowledged(self, kind: ReportKind, answer: Answer) -> bool:
        # A DR is final only with 200; an MO may also get 204 (no reply: the partner answers later by the send API).
        return answer.status == 200 or (kind is ReportKind.MO and answer.status == 204)

    def replies(self, kind: ReportKind, answer: Answer) -> list[str]:
        """An MO's 200 body is sent back to the subscriber: each non-blank line one SMS (Rapporto's documented
        4-line body gives 4 replies). 204, an empty body and DRs give none."""
        if kind is not ReportKind.MO or answer.status != 200:
            return []
        lines = answer.body.decode("utf-8", errors="replace").splitlines()
        return [line.strip() for line in lines if line.strip()]


RAPPORTO: Format = Rapporto()


def _dr(item: ReportItem) -> list[tuple[str, str]]:
    message = item.message
    if message is None:
        raise ValueError(f"report {item.id}: a DR without its message")
    params = [("msgType", "SMS"), ("transactionId", str(message.id))]
    if ptag := message.extras.get("ptag"):
        params.append(("ptag", ptag))
    params.append(("status", str(STATUS_NUMBERS[item.status or message.status])))
    if message.client_ref:
        params.append(("partnerMsgId", message.client_ref))
    return params


def _mo(account: Account, item: ReportItem) -> list[tuple[str, str]]:
    mo = item.inbound
    if mo is None:
        raise ValueError(f"report {item.id}: an MO without its message")
    # A binary MO's message is its payload in hex, as Rapporto's send API takes binary content.
    message = (mo.payload or b"").hex().upper() if mo.encoding is Encoding.BINARY else mo.text or ""
    params = [("clientId", mo.originator.removeprefix("+")), ("message", message)]
    if mo.operator:
        params.append(("connectorId", mo.operator))
    params += [("serviceId", account.name), ("receivedDate", _moscow(mo.received_at)),
               ("shortNumber", mo.destination), ("messageId", str(mo.id))]
    return params


def _moscow(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(MOSCOW).strftime(DATE_FORMAT)
