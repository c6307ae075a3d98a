"""O2 SMS Connector HTTP GET/POST ("GP"): `action=send|receive|confirm|ping` at `/smsconnector/getpost/GP`.

The caller is the business application `baID` with its client certificate (see `common`). Replies are
text/plain `key=value` lines; an error has the same keys and a non-2xx status. GP is O2's reduced interface: it
sends text only; binary messages need the web services interface, as at O2.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ...domain.model import Account, MessageSpec, ReportItem, ReportKind, ReportMask
from ...services import Services
from ..http import Contradiction, client_address, flag, params, plain, single
from . import codes, common
from .codes import ResponseType
from .common import ZONE, Refused, Reply

log = logging.getLogger(__name__)

PATH = "/smsconnector/getpost/GP"
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
            account = common.business_application(self.services, request.environ, ba_id)
            action = _required(form, "action")
            act = self._actions.get(action.lower())
            if act is None:
                raise Refused(codes.UNKNOWN_ACTION, f"action {action!r}: send, receive, confirm or ping")
            return act(account, ba_id, form)
        except Refused as refused:
            log.info("o2 GP refused: baID=%r client=%s action=%r %s: %s", ba_id, client_address(request),
                     form.get("action"), refused.code.code, refused.why)
            status = _CODE_STATUS.get(refused.code.code) or _HTTP_STATUS[refused.code.type]
            return plain(_body(_response(Reply(refused.code, ba_id, refused.detail))), status, refused.headers)

    def _send(self, account: Account, ba_id: str, form: MultiDict[str, str]) -> Response:
        for name in BINARY_PARAMETERS:
            if _optional(form, name) is not None:
                raise Refused(codes.BINARY_NOT_SUPPORTED, f"parameter {name}")
        spec = MessageSpec(
            recipient=_required(form, "toNumber"),
            text=_required(form, "text"),
            originator=_optional(form, "fromNumber"),
            flash=_flag(form, "intruder") is True,
            max_parts=1 if _flag(form, "multipart") is False else None,
            validity=_validity(form),
            priority=common.priority(_optional(form, "priority")),
            reports=ReportMask.FINAL if _flag(form, "deliveryReport") else ReportMask.NONE,
        )
        batch_ref, message_id = common.submit(self.services, account, spec, "o2-getpost")
        # The response's own msgID is the request's batch reference; refMsgID is the message's id.
        return _reply(_response(Reply(codes.SEND_OK, ba_id, msg_id=batch_ref, ref_ba_id=ba_id,
                                      ref_msg_id=str(message_id))))

    def _receive(self, account: Account, ba_id: str, form: MultiDict[str, str]) -> Response:
        """The oldest unconfirmed item (an MO or a delivery report); an empty body when there is none. The item's
        msgID is what `confirm` takes as refMsgID."""
        items = self.services.gateway.receive(account, 1)
        if not items:
            return plain("")
        item = items[0]
        return _reply(_inbound(item, ba_id) if item.kind is ReportKind.MO else _response(common.report(item, ba_id)))

    def _confirm(self, account: Account, ba_id: str, form: MultiDict[str, str]) -> Response:
        return _reply(_response(common.confirm(self.services, account, ba_id, _optional(form, "refBaID"),
                                               _optional(form, "refMsgID"))))

    def _ping(self, account: Account, ba_id: str, form: MultiDict[str, str]) -> Response:
        return _reply(_response(Reply(codes.PING_OK, ba_id)))


def _response(reply: Reply) -> Fields:
    """A `selector=Response` item, in the order of O2's own send reply."""
    return [
        ("selector", "Response"),
        ("responseType", reply.code.type.value),
        ("responseCode", reply.code.code),
        ("responseDescription", reply.description),
        ("baID", reply.ba_id),
        ("refBaID", reply.ref_ba_id),
        ("msgID", reply.msg_id),
        ("timestamp", _timestamp(reply.at)),
        ("refMsgID", reply.ref_msg_id),
    ]


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
    """Czech local time without an offset, as O2's GP sends it."""
    return at.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M:%S")


def _body(fields: Fields) -> str:
    """`key=value` lines; a line break inside a value becomes a space, since clients split the body on them."""
    return "".join(f"{key}={_LINE_BREAK.sub(' ', value)}\n" for key, value in fields if value is not None)


def _reply(fields: Fields) -> Response:
    return plain(_body(fields))


def _validity(form: MultiDict[str, str]) -> timedelta | None:
    raw = _optional(form, "validityPeriod")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise Refused(codes.INVALID_VALIDITY, f"validityPeriod {raw!r}: whole minutes")
    return common.validity(int(raw))


def _flag(form: MultiDict[str, str], name: str) -> bool | None:
    try:
        return flag(_single(form, name))
    except ValueError:
        raise Refused(codes.INVALID_PARAMETER, f"{name}: TRUE or FALSE") from None


def _single(form: MultiDict[str, str], name: str) -> str | None:
    """A parameter's value; given twice with different values it contradicts itself."""
    try:
        return single(form, name)
    except Contradiction:
        raise Refused(codes.INVALID_PARAMETER, f"{name} given more than once with different values") from None


def _optional(form: MultiDict[str, str], name: str) -> str | None:
    return _single(form, name) or None


def _required(form: MultiDict[str, str], name: str) -> str:
    value = _single(form, name)
    if not value:
        raise Refused(codes.MISSING_PARAMETER, name)
    return value
