"""Rapporto HTTP API v5: `/rapporto` sends one SMS, `/rapporto/status` answers a delivery-status inquiry.

Rapporto gives every partner its own URL; `/rapporto` is ours. A reply is text/plain (`OK\\n<id>`, or an HTTP error
status with a short text such as `Invalid password`) or, with `output=xml`, Rapporto's `<response>` document, where
HTTP says only 200 or 500 and the status moves into `<code>`. Rapporto documents no status inquiry request; ours
answers with the parameters of Rapporto's pushed delivery report (msgType, transactionId, status, partnerMsgId).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta, timezone
from urllib.parse import urlencode
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..domain.errors import ErrorCode, GatewayError
from ..domain.model import (
    Account,
    IdempotencyKey,
    IdempotencyMode,
    MessageSpec,
    MessageView,
    Priority,
    Status,
    SubmitRequest,
)
from ..domain.numbers import NumberFormat
from ..domain.validity import SendWindow
from ..services import Services
from .http import Contradiction, client_address, params, plain, retry_after, single

log = logging.getLogger(__name__)

MAX_CLIENT_ID = 25
MAX_MESSAGE = 2000  # characters, text or hex
MAX_TAG = 50  # ptag and partnerMsgId
REPLAY_WINDOW_DEFAULT = 24 * 3600  # seconds a partnerMsgId replays when the account's duplicate window is off
DEFAULT_ZONE = "Europe/Moscow"  # sending_time without time_zone
UDHI = 0x40  # esm_class bit: the payload starts with a user data header

_TAG = re.compile(r"[0-9a-zA-Z-]{1,50}")
_HOURS = re.compile(r"(\d{1,2})_(\d{1,2})")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_PRIORITIES = {"0": Priority.LOW, "1": Priority.NORMAL, "2": Priority.HIGH}

# Rapporto's status numbers: 0 handed to the operator (not final), 2 delivered, 5 not delivered. A message we have
# not yet handed over (accepted, scheduled, or held over the per-recipient quota) is also "not final": Rapporto's
# clients know no other value.
_STATUS_NUMBERS = {
    Status.DELIVERED: 2,
    **dict.fromkeys((Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED, Status.FAILED, Status.CANCELLED), 5),
}

# The core's reasons for refusing a message, as Rapporto's status codes and texts; the rest are 400.
# A recipient who opted out (STOP) or is on the account's suppression list is refused like a number Rapporto cannot
# send to: 406 is the documented status for "this clientId", and its partners already stop sending to it. A message
# held over the per-recipient quota is not refused: Rapporto has no such status, so it is OK with its id (the
# status inquiry says 0, not final, until an operator releases or drops it).
_REFUSALS = {
    ErrorCode.INVALID_RECIPIENT: (406, "Cannot send to this clientId"),
    ErrorCode.SUPPRESSED: (406, "Cannot send to this clientId"),
    ErrorCode.INSUFFICIENT_CREDIT: (402, "Prepaid balance exhausted"),  # Rapporto: "don't retry"
    ErrorCode.RATE_LIMITED: (408, "Rate exceeded"),  # Rapporto: "retry slower"; with Retry-After
    ErrorCode.TOO_LONG: (414, "Message too long"),
    ErrorCode.DUPLICATE: (409, "Duplicate message"),
    ErrorCode.AUTH_FAILED: (401, "Invalid password"),
    ErrorCode.ADDRESS_NOT_ALLOWED: (401, "Invalid password"),
    ErrorCode.ACCOUNT_DISABLED: (403, "Service is not active"),
}


class _Refused(Exception):
    """A request Rapporto would refuse: its status code, the text the partner sees, and why (for the log)."""

    def __init__(self, status: int, text: str, why: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.why = why or text
        self.headers = dict(headers or {})

    @classmethod
    def from_core(cls, error: GatewayError) -> _Refused:
        status, text = _REFUSALS.get(error.code, (400, "Invalid parameters"))
        shown = text if status in (401, 403) else f"{text}: {error.detail}"
        headers = retry_after(error)
        if headers:
            shown += f"; retry after {headers['Retry-After']} s"
        return cls(status, shown, f"{error.code.value}: {error.detail}", headers)


class Rapporto:
    def __init__(self, services: Services) -> None:
        self.services = services

    def rules(self) -> list[Rule]:
        return [
            Rule("/rapporto", endpoint=self.send, methods=["GET", "POST"]),
            Rule("/rapporto/status", endpoint=self.status, methods=["GET", "POST"]),
        ]

    def send(self, request: Request) -> Response:
        form = params(request)
        try:
            account = self._account(request, form)
            spec = _message(form, account)
            result = self.services.gateway.submit(account, SubmitRequest(
                [spec], number_format=NumberFormat.INTERNATIONAL, face="rapporto"))
        except _Refused as refused:
            return _refusal(request, form, refused)
        except GatewayError as error:
            return _refusal(request, form, _Refused.from_core(error))
        outcome = result.outcomes[0]
        if outcome.error is not None:
            return _refusal(request, form, _Refused.from_core(outcome.error))
        return _reply(form, str(outcome.message_id), [("id", str(outcome.message_id))])

    def status(self, request: Request) -> Response:
        form = params(request)
        try:
            account = self._account(request, form)
            view = self._find(form, account)
        except _Refused as refused:
            return _refusal(request, form, refused)
        fields = [("msgType", "SMS"), ("transactionId", str(view.id)),
                  ("status", str(_STATUS_NUMBERS.get(view.status, 0)))]
        if view.client_ref is not None:
            fields.append(("partnerMsgId", view.client_ref))
        return _reply(form, urlencode(fields), fields)

    def _account(self, request: Request, form: MultiDict[str, str]) -> Account:
        name, password = _single(form, "serviceId"), _single(form, "pass")
        if not name or not password:
            raise _Refused(401, "Invalid password", "serviceId or pass missing")
        try:
            return self.services.auth.from_request(request.environ, password, name=name)
        except GatewayError as error:
            raise _Refused.from_core(error) from None

    def _find(self, form: MultiDict[str, str], account: Account) -> MessageView:
        """The message a status inquiry names: by transactionId (our id) or partnerMsgId; both must agree."""
        raw_id, partner_id = _optional(form, "transactionId"), _optional(form, "partnerMsgId")
        gateway = self.services.gateway
        try:
            if raw_id is not None:
                view = gateway.status(_transaction_id(raw_id), account)
                if partner_id is not None and view.client_ref != partner_id:
                    raise _Refused(400, "transactionId and partnerMsgId name different messages")
                return view
            if partner_id is not None:
                return gateway.status_by_client_ref(account, partner_id)
        except GatewayError as error:
            if error.code is ErrorCode.NOT_FOUND:
                raise _Refused(400, f"Unknown {'transactionId' if raw_id is not None else 'partnerMsgId'}") from None
            raise _Refused.from_core(error) from None
        raise _Refused(400, "Missing parameter: transactionId or partnerMsgId")


def _message(form: MultiDict[str, str], account: Account) -> MessageSpec:
    """The SMS a send request describes, in core terms."""
    recipient = _required(form, "clientId")
    if len(recipient) > MAX_CLIENT_ID:
        raise _Refused(400, f"Invalid parameter clientId: longer than {MAX_CLIENT_ID} characters")
    message = _required(form, "message")
    if len(message) > MAX_MESSAGE:
        raise _Refused(414, f"Message too long: {len(message)} characters, at most {MAX_MESSAGE}")
    ptag = _optional(form, "ptag")
    if ptag is not None and _TAG.fullmatch(ptag) is None:
        raise _Refused(400, "Invalid parameter ptag: 1 to 50 of 0-9, a-z, A-Z and -")
    partner_id = _optional(form, "partnerMsgId")
    if partner_id is not None and len(partner_id) > MAX_TAG:
        raise _Refused(400, f"Invalid parameter partnerMsgId: longer than {MAX_TAG} characters")
    priority = _optional(form, "smsPriority")
    if priority is not None and priority not in _PRIORITIES:
        raise _Refused(400, "Invalid parameter smsPriority: 0, 1 or 2")
    flash = _single(form, "flash") == "1"  # Rapporto: anything but "1" is an ordinary SMS
    window = _window(form, account)
    dcs, esm_class = _octet(form, "smpp_encoding"), _octet(form, "smpp_esm_class")
    if dcs is None and esm_class is None:
        text, payload, udh = message, None, None
    else:
        text = None
        payload, udh = _binary(message, esm_class or 0)
    key = None
    if partner_id is not None:
        window_s = account.duplicate_window or REPLAY_WINDOW_DEFAULT
        key = IdempotencyKey(partner_id, IdempotencyMode.REPLAY, timedelta(seconds=window_s))
    return MessageSpec(
        recipient=recipient, text=text, payload=payload, udh=udh, dcs=dcs,
        originator=_optional(form, "source"), flash=flash, max_parts=1 if flash else None,
        send_window=window, priority=_PRIORITIES[priority] if priority is not None else None,
        client_ref=partner_id, idempotency=key, extras={"ptag": ptag} if ptag is not None else {},
    )


def _binary(message: str, esm_class: int) -> tuple[bytes, bytes | None]:
    """(payload, UDH) of a hex message; with UDHI set in esm_class the payload opens with its UDH (UDHL first)."""
    if _HEX.fullmatch(message) is None:
        raise _Refused(400, "Invalid parameter message: binary messages are hex octets")
    data = bytes.fromhex(message)
    if not esm_class & UDHI:
        return data, None
    end = 1 + data[0]
    if len(data) < end:
        raise _Refused(400, f"Invalid parameter message: the UDH length {data[0]} runs past the message")
    return data[end:], data[:end]


def _window(form: MultiDict[str, str], account: Account) -> SendWindow | None:
    """sending_time `hh_hh` (time_zone `±hh:mm`, else Moscow time) as a daily window from today.

    Rapporto delivers within the hours each day until the message expires; the core's SendWindow is daily only
    between two dates, so the window runs to a stop date past the account's validity (which bounds it first)."""
    offset = _offset(_optional(form, "time_zone"))
    raw = _single(form, "sending_time")
    if raw is None:
        return None
    hours = _HOURS.fullmatch(raw.strip())
    if hours is None:
        raise _Refused(400, "Invalid parameter sending_time: hh_hh, e.g. 10_20")
    opens, closes = int(hours[1]), int(hours[2])
    if not 0 <= opens < closes <= 24:
        raise _Refused(400, "Invalid parameter sending_time: two hours from 0 to 24, the first before the second")
    today = datetime.now(offset or ZoneInfo(DEFAULT_ZONE)).date()
    days = math.ceil(account.default_validity / 86400) + 1
    return SendWindow(
        start_date=today,
        stop_date=today + timedelta(days=days),
        start_time=time(opens, tzinfo=offset) if opens or offset is not None else None,
        stop_time=time(closes, tzinfo=offset) if closes < 24 else None,
        zone=DEFAULT_ZONE,
    )


def _offset(raw: str | None) -> timezone | None:
    """A `±hh:mm` time zone; an unencoded "+" arrives as a space and is read as the "+" it was."""
    if raw is None:
        return None
    match = _OFFSET.fullmatch(raw.replace(" ", "+", 1) if raw.startswith(" ") else raw)
    if match is None or int(match[2]) > 23 or int(match[3]) > 59:
        raise _Refused(400, "Invalid parameter time_zone: ±hh:mm, e.g. %2B03:00")
    delta = timedelta(hours=int(match[2]), minutes=int(match[3]))
    return timezone(-delta if match[1] == "-" else delta)


def _octet(form: MultiDict[str, str], name: str) -> int | None:
    raw = _optional(form, name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 255:
        raise _Refused(400, f"Invalid parameter {name}: a number from 0 to 255")
    return int(raw)


def _transaction_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**63:
        raise _Refused(400, "Invalid parameter transactionId: a positive 64-bit number")
    return int(raw)


def _single(form: MultiDict[str, str], name: str) -> str | None:
    """A parameter's value; given twice with different values it contradicts itself."""
    try:
        return single(form, name)
    except Contradiction:
        raise _Refused(400, f"Invalid parameter {name}: given more than once with different values") from None


def _optional(form: MultiDict[str, str], name: str) -> str | None:
    """An optional parameter; empty counts as absent."""
    return _single(form, name) or None


def _required(form: MultiDict[str, str], name: str) -> str:
    value = _single(form, name)
    if not value:
        raise _Refused(400, f"Missing parameter: {name}")
    return value


def _xml(code: int, text: str, payload: Sequence[tuple[str, str]] | None = None) -> str:
    inner = "" if payload is None else "<payload>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in payload) + \
        "</payload>"
    return f'<?xml version="1.0" encoding="utf-8"?><response><code>{code}</code><text>{escape(text)}</text>' \
        f"{inner}</response>"


def _wants_xml(form: MultiDict[str, str]) -> bool:
    values = form.getlist("output")
    return bool(values) and values[0].lower() == "xml"


def _reply(form: MultiDict[str, str], line: str, payload: Sequence[tuple[str, str]]) -> Response:
    if _wants_xml(form):
        return Response(_xml(200, "OK", payload), mimetype="application/xml")
    return plain(f"OK\n{line}")


def _refusal(request: Request, form: MultiDict[str, str], refused: _Refused) -> Response:
    log.info("rapporto %s refused: account=%r client=%s status=%d: %s", request.path, form.get("serviceId"),
             client_address(request), refused.status, refused.why)
    if _wants_xml(form):  # HTTP 200; the status is the XML's <code> (a Retry-After header all the same)
        return Response(_xml(refused.status, refused.text), mimetype="application/xml", headers=refused.headers)
    return plain(refused.text, refused.status, refused.headers)
