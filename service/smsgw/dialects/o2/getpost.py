"""O2 SMS Connector HTTP GET/POST ("GP"): `action=send|receive|confirm|ping` at `/smsconnector/getpost/GP`.

The caller is the business application `baID` (our account id, or its name) and proves it with a TLS client
certificate registered on the account (directly, or through one of the account's trusted proxies). Replies are
text/plain `key=value` lines; an error has the same keys and a non-2xx status. GP is O2's reduced interface: it
sends text only; binary messages need the web services interface, as at O2.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ...auth import client_from_environ
from ...domain.errors import GatewayError, RateLimited
from ...domain.model import Account, MessageSpec, Priority, ReportItem, ReportKind, ReportMask, SubmitRequest
from ...domain.numbers import NumberFormat
from ...services import Services
from ..http import Contradiction, client_address, flag, params, plain, retry_after, single
from . import codes
from .codes import ResponseCode, ResponseType

log = logging.getLogger(__name__)

PATH = "/smsconnector/getpost/GP"
ZONE = ZoneInfo("Europe/Prague")  # O2's timestamps are Czech local time without an offset
# The web services' BinarySms fields: a GP request that names one wants a binary message, which GP cannot send.
BINARY_PARAMETERS = ("data", "header", "dataCodingScheme", "protocolIdentifier")

_HTTP_STATUS = {
    ResponseType.SUCCESS: 200,
    ResponseType.FORMAT_ERROR: 400,
    ResponseType.AUTHORIZATION_ERROR: 403,
    ResponseType.APPL_ERROR: 400,
    ResponseType.INTERNAL_ERROR: 500,
}
# Codes whose HTTP status says more than their type's.
_CODE_STATUS = {codes.NOT_FOUND.code: 404, codes.THROTTLED.code: 429}
_LINE_BREAK = re.compile(r"\r\n|[\r\n]")

Fields = Sequence[tuple[str, str | None]]


class _Refused(Exception):
    """A request O2 would refuse: its response code, what the caller is told, and why (for the log)."""

    def __init__(self, code: ResponseCode, detail: str | None = None, why: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(code.code)
        self.code = code
        self.detail = detail
        self.why = why or detail or code.english
        self.headers = headers or {}


class GetPost:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._actions: dict[str, Callable[[Account, str, MultiDict[str, str]], Response]] = {
            "send": self._send, "receive": self._receive, "confirm": self._confirm, "ping": self._ping,
        }

    def rules(self) -> list[Rule]:
        return [Rule(PATH, endpoint=self.handle, methods=["GET", "POST"])]

    def handle(self, request: Request) -> Response:
        form = params(request)
        ba_id = None
        try:
            ba_id = _required(form, "baID")
            account = self._authorise(request, ba_id)
            action = _required(form, "action")
            act = self._actions.get(action.lower())
            if act is None:
                raise _Refused(codes.UNKNOWN_ACTION, f"action {action!r}: send, receive, confirm or ping")
            return act(account, ba_id, form)
        except _Refused as refused:
            log.info("o2 GP refused: baID=%r client=%s action=%r %s: %s", ba_id, client_address(request),
                     form.get("action"), refused.code.code, refused.why)
            status = _CODE_STATUS.get(refused.code.code) or _HTTP_STATUS[refused.code.type]
            return plain(_body(_response(refused.code, ba_id, refused.detail)), status, refused.headers)

    def _authorise(self, request: Request, ba_id: str) -> Account:
        auth = self.services.auth
        account = None
        if ba_id.isascii() and ba_id.isdigit() and 0 < int(ba_id) < 2**63:
            account = auth.account(account_id=int(ba_id))
        account = account or auth.account(name=ba_id)
        if account is None:
            raise _Refused(codes.NOT_AUTHORIZED, why="no such business application")
        try:
            return auth.by_certificate(account, client_from_environ(request.environ, account))
        except GatewayError as error:
            raise _Refused(codes.FOR_ERROR[error.code], why=error.detail) from None

    def _send(self, account: Account, ba_id: str, form: MultiDict[str, str]) -> Response:
        for name in BINARY_PARAMETERS:
            if _optional(form, name) is not None:
                raise _Refused(codes.BINARY_NOT_SUPPORTED, f"parameter {name}")
        spec = MessageSpec(
            recipient=_required(form, "toNumber"),
            text=_required(form, "text"),
            originator=_optional(form, "fromNumber"),
            flash=_flag(form, "intruder") is True,
            max_parts=1 if _flag(form, "multipart") is False else None,
            validity=_validity(form),
            priority=_priority(form),
            reports=ReportMask.FINAL if _flag(form, "deliveryReport") else ReportMask.NONE,
        )
        try:
            result = self.services.gateway.submit(account, SubmitRequest(
                [spec], number_format=NumberFormat.INTERNATIONAL, face="o2-getpost"))
        except GatewayError as error:
            detail = error.detail
            if isinstance(error, RateLimited):
                detail += f"; retry after {error.retry_after_header} s"
            raise _Refused(codes.FOR_ERROR[error.code], detail, headers=retry_after(error)) from None
        outcome = result.outcomes[0]
        if outcome.error is not None:
            raise _Refused(codes.FOR_ERROR[outcome.error.code], outcome.error.detail)
        # The response's own msgID is the request's batch reference; refMsgID is the message's id.
        return _reply(_response(codes.SEND_OK, ba_id, msg_id=result.batch_ref, ref_ba_id=ba_id,
                                ref_msg_id=str(outcome.message_id)))

    def _receive(self, account: Account, ba_id: str, form: MultiDict[str, str]) -> Response:
        """The oldest unconfirmed item (an MO or a delivery report); an empty body when there is none. The item's
        msgID is what `confirm` takes as refMsgID."""
        items = self.services.gateway.receive(account, 1)
        if not items:
            return plain("")
        item = items[0]
        return _reply(_inbound(item, ba_id) if item.kind is ReportKind.MO else _report(item, ba_id))

    def _confirm(self, account: Account, ba_id: str, form: MultiDict[str, str]) -> Response:
        ref_ba_id, ref_msg_id = _required(form, "refBaID"), _required(form, "refMsgID")
        if ref_ba_id not in (ba_id, str(account.id), account.name):
            raise _Refused(codes.NOT_FOUND, f"refBaID {ref_ba_id} is not this business application")
        if not (ref_msg_id.isascii() and ref_msg_id.isdigit() and 0 < int(ref_msg_id) < 2**63):
            raise _Refused(codes.INVALID_PARAMETER, f"refMsgID {ref_msg_id!r} is not a msgID from receive")
        if self.services.gateway.confirm(account, [int(ref_msg_id)]) == 0:
            raise _Refused(codes.NOT_FOUND, f"no received message {ref_msg_id} waits for confirmation")
        return _reply(_response(codes.CONFIRM_OK, ba_id, ref_ba_id=ref_ba_id, ref_msg_id=ref_msg_id))

    def _ping(self, account: Account, ba_id: str, form: MultiDict[str, str]) -> Response:
        return _reply(_response(codes.PING_OK, ba_id))


def _response(code: ResponseCode, ba_id: str | None, detail: str | None = None, *, msg_id: str | None = None,
              ref_ba_id: str | None = None, ref_msg_id: str | None = None, at: datetime | None = None) -> Fields:
    """A `selector=Response` item, in the order of O2's own send reply."""
    return [
        ("selector", "Response"),
        ("responseType", code.type.value),
        ("responseCode", code.code),
        ("responseDescription", code.description(detail)),
        ("baID", ba_id),
        ("refBaID", ref_ba_id),
        ("msgID", msg_id or str(uuid.uuid4())),
        ("timestamp", _timestamp(at or datetime.now(UTC))),
        ("refMsgID", ref_msg_id),
    ]


def _report(item: ReportItem, ba_id: str) -> Fields:
    """A delivery report: ISUC_010 (reached the network) or ISUC_005 (delivered), else why it failed; refMsgID is
    the message's id as `send` returned it."""
    assert item.status is not None, "a delivery report carries the status it reports"
    detail = f"network error {item.error_code}" if item.error_code else None
    return _response(codes.FOR_REPORT[item.status], ba_id, detail, msg_id=str(item.id), ref_ba_id=ba_id,
                     ref_msg_id=str(item.message.id) if item.message else None, at=item.created_at)


def _inbound(item: ReportItem, ba_id: str) -> Fields:
    """An MO: `TextSms`, or `BinarySms` with the payload in base64 (the web services' `data`)."""
    mo = item.inbound
    assert mo is not None, "an MO report carries its MO"
    body = ("text", mo.text) if mo.payload is None else ("data", base64.b64encode(mo.payload).decode("ascii"))
    return [
        ("selector", "TextSms" if mo.payload is None else "BinarySms"),
        ("baID", ba_id),
        ("msgID", str(item.id)),
        ("fromNumber", mo.originator),
        ("toNumber", mo.destination),
        body,
        ("timestamp", _timestamp(mo.received_at)),
    ]


def _timestamp(at: datetime) -> str:
    return at.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M:%S")


def _body(fields: Fields) -> str:
    """`key=value` lines; a line break inside a value becomes a space, since clients split the body on them."""
    return "".join(f"{key}={_LINE_BREAK.sub(' ', value)}\n" for key, value in fields if value is not None)


def _reply(fields: Fields) -> Response:
    return plain(_body(fields))


def _validity(form: MultiDict[str, str]) -> timedelta | None:
    """validityPeriod in minutes (O2's sample 10000 is just under seven days); 0 or absent: the account's default."""
    raw = _optional(form, "validityPeriod")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise _Refused(codes.INVALID_VALIDITY, f"validityPeriod {raw!r}: whole minutes")
    try:
        return timedelta(minutes=int(raw)) or None
    except OverflowError:
        raise _Refused(codes.INVALID_VALIDITY, f"validityPeriod {raw}: too long") from None


def _priority(form: MultiDict[str, str]) -> Priority | None:
    """priority 0 (low) to 3 (urgent), SMPP's priority_flag; O2's clients send 1."""
    raw = _optional(form, "priority")
    if raw is None:
        return None
    if raw not in ("0", "1", "2", "3"):
        raise _Refused(codes.INVALID_PARAMETER, f"priority {raw!r}: 0 to 3")
    return Priority(int(raw))


def _flag(form: MultiDict[str, str], name: str) -> bool | None:
    try:
        return flag(_single(form, name))
    except ValueError:
        raise _Refused(codes.INVALID_PARAMETER, f"{name}: TRUE or FALSE") from None


def _single(form: MultiDict[str, str], name: str) -> str | None:
    """A parameter's value; given twice with different values it contradicts itself."""
    try:
        return single(form, name)
    except Contradiction:
        raise _Refused(codes.INVALID_PARAMETER, f"{name} given more than once with different values") from None


def _optional(form: MultiDict[str, str], name: str) -> str | None:
    return _single(form, name) or None


def _required(form: MultiDict[str, str], name: str) -> str:
    value = _single(form, name)
    if not value:
        raise _Refused(codes.MISSING_PARAMETER, name)
    return value
