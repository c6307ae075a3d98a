"""O2 SMS Connector web services: `PPGw` (send, ping, receive, receiveWithTime, confirm) at
`/smsconnector/services/PPGwPort` and `SimpleSmsGw` (sendSms) at `/smsconnector/services/SimpleSmsGwPort`, namespace
`http://b2b.eurotel.cz` with unqualified children, on our SOAP transport (1.1 and 1.2 on one URL; the contract in
`wsdl/o2/` checks every request before it gets here).

Every PPGw answer is the type the WSDL declares, in its field order, with `xsi:nil` for what has no value (the
vendor schema requires every member): a refusal — wrong certificate or unknown baID included — is a `Response` with
O2's type and code, as GP's are (see `common` and `codes`), never a SOAP fault. Where O2's public material is
silent, we chose:

- send answers msgID = our id of the message and refMsgID = the client's msgID (O2SmsCli asserts this echo), or
  our id when it gave none; a delivery report names the message by that same refMsgID, as GP's reports repeat the
  refMsgID GP's send returned.
- reportLevel: absent, empty or 0 asks for no report (as GP without deliveryReport), 1 for the final one, 2 for the
  intermediate ISUC_010 too. validityPeriod is in minutes and priority 0-3, as in GP; intruder is flash;
  multiPart=false means the text must fit one SMS.
- A TextSms's dataCodingScheme may be 0 or 8: the text's characters decide its alphabet. A BinarySms's is sent as
  given, except 0 (what a .NET client sends when it sets none), which is 8-bit data. premiumInfo with values is
  refused: no premium billing here. Mms is refused (EFMT_012).
- receive with nothing queued answers a container whose members are all nil, so that a client reads a null
  selector rather than a null result. An MO is a TextSms or BinarySms whose msgID is what confirm takes; the
  members an MO has no value for are nil or their zero values; receiveWithTime's startTime is when it arrived.
- Times are Czech local time with its offset.
- sendSms's result is a bare string: the message's msgID, the id its reports refer to. It asks for no report. A
  string cannot carry a refusal's type, so a refused sendSms is a SOAP fault: Client/Sender, subcode O2's response
  type (AUTHORIZATION_ERROR, …), reason O2's description with its code (and Retry-After when rate-limited).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from lxml import etree

from ...domain.encoding import data_coding
from ...domain.model import Inbound, MessageSpec, ReportKind, ReportMask
from ...services import Services
from ...soap.contract import Contract
from ...soap.endpoint import Call, Operation, SoapEndpoint
from ...soap.envelope import Fault
from . import codes, common
from .common import ZONE, Refused, Reply

log = logging.getLogger(__name__)

NS = "http://b2b.eurotel.cz"
PPGW_PATH = "/smsconnector/services/PPGwPort"
SIMPLE_PATH = "/smsconnector/services/SimpleSmsGwPort"
SCHEMA = "o2/validation/b2b.eurotel.cz.xsd"
FACE = "o2-soap"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NIL = f"{{{_XSI}}}nil"
_MEMBERS = ("binarySms", "mms", "response", "selector", "textSms")  # a MessageContainer's, in the WSDL's order
_SENDABLE = {"textsms": "textSms", "binarysms": "binarySms", "mms": "mms"}
_REPORTS = {"0": ReportMask.NONE, "1": ReportMask.FINAL, "2": ReportMask.FINAL | ReportMask.INTERMEDIATE}
# What XML 1.0 cannot carry, even escaped; an MO may hold it (GSM's page break is U+000C).
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

Fields = Sequence[tuple[str, str | None]]


def endpoints(services: Services) -> list[SoapEndpoint]:
    face = O2Soap(services)
    return [
        SoapEndpoint("o2 PPGw", (PPGW_PATH,), Contract("o2/PPGwPort.wsdl", SCHEMA), [
            Operation(f"{{{NS}}}{name}", handler, action=f"{NS}/PPGw/{name}")
            for name, handler in (("send", face.send), ("ping", face.ping), ("receive", face.receive),
                                  ("receiveWithTime", face.receive_with_time), ("confirm", face.confirm))]),
        SoapEndpoint("o2 SimpleSmsGw", (SIMPLE_PATH,), Contract("o2/SimpleSmsGwPort.wsdl", SCHEMA), [
            Operation(f"{{{NS}}}sendSms", face.send_sms, action=f"{NS}/SimpleSmsGw/sendSms")]),
    ]


class O2Soap:
    def __init__(self, services: Services) -> None:
        self.services = services

    def send(self, call: Call) -> etree._Element:
        ba_id = msg_id = None
        try:
            kind, sms = _sendable(call.payload)
            ba_id, msg_id = _value(sms, "baID"), _value(sms, "msgID")
            account = common.business_application(self.services, call.request.environ, ba_id)
            if kind == "mms":
                raise Refused(codes.MMS_NOT_SUPPORTED, "send TextSms or BinarySms")
            spec = replace(_text_sms(sms) if kind == "textSms" else _binary_sms(sms), client_ref=msg_id)
            _, message_id = common.submit(self.services, account, spec, FACE)
            reply = Reply(codes.SEND_OK, ba_id, msg_id=str(message_id), ref_ba_id=ba_id,
                          ref_msg_id=msg_id or str(message_id))
        except Refused as refused:
            reply = replace(_refusal(call, ba_id, refused), ref_ba_id=ba_id, ref_msg_id=msg_id)
        return _result("sendResponse", _response(reply))

    def ping(self, call: Call) -> etree._Element:
        ba_id = _value(call.payload, "baID")
        try:
            common.business_application(self.services, call.request.environ, ba_id)
            reply = Reply(codes.PING_OK, ba_id)
        except Refused as refused:
            reply = _refusal(call, ba_id, refused)
        return _result("pingResponse", _response(reply))

    def confirm(self, call: Call) -> etree._Element:
        ba_id = _value(call.payload, "baID")
        try:
            account = common.business_application(self.services, call.request.environ, ba_id)
            reply = common.confirm(self.services, account, ba_id, _value(call.payload, "refBaID"),
                                   _value(call.payload, "refMsgID"))
        except Refused as refused:
            reply = _refusal(call, ba_id, refused)
        return _result("confirmResponse", _response(reply))

    def receive(self, call: Call) -> etree._Element:
        return self._receive(call, "receiveResponse", with_time=False)

    def receive_with_time(self, call: Call) -> etree._Element:
        return self._receive(call, "receiveResponseWithTime", with_time=True)

    def _receive(self, call: Call, name: str, *, with_time: bool) -> etree._Element:
        """The oldest unconfirmed item: a delivery report as a Response, an MO as a TextSms or BinarySms."""
        ba_id = _value(call.payload, "baID")
        try:
            account = common.business_application(self.services, call.request.environ, ba_id)
        except Refused as refused:
            return _container(name, "Response", _response(_refusal(call, ba_id, refused)))
        items = self.services.gateway.receive(account, 1)
        if not items:
            return _container(name, None, ())
        item = items[0]
        if item.kind is not ReportKind.MO:
            return _container(name, "Response", _response(common.report(item, ba_id)))
        mo = item.inbound
        assert mo is not None, "an MO report carries its MO"
        return _container(name, "TextSms" if mo.payload is None else "BinarySms",
                          _inbound(item.id, mo, ba_id, with_time))

    def send_sms(self, call: Call) -> etree._Element:
        request = call.payload
        ba_id = _value(request, "baID")
        try:
            account = common.business_application(self.services, call.request.environ, ba_id)
            spec = MessageSpec(
                recipient=_required(request, "toNumber"),
                text=_value(request, "text"),
                originator=_value(request, "fromNumber"),
                flash=_flag(request, "intruder"),
                validity=common.validity(_integer(request, "validityPeriod")),
                priority=common.priority(_value(request, "priority")),
                reports=ReportMask.NONE,
            )
            _, message_id = common.submit(self.services, account, spec, FACE)
        except Refused as refused:
            reply = _refusal(call, ba_id, refused)
            raise Fault(reply.description, subcode=reply.code.type.value, headers=refused.headers) from None
        answer = _wrapper("sendSmsResponse")
        _add(answer, "result", str(message_id))
        return answer


# --- requests --------------------------------------------------------------------------------------------------------


def _sendable(send: etree._Element) -> tuple[str, etree._Element]:
    """The member of `mc` its selector names, and that name."""
    container = _member(send, "mc")
    if container is None:
        raise Refused(codes.MISSING_PARAMETER, "mc")
    selector = _value(container, "selector")
    if selector is None:
        raise Refused(codes.MISSING_PARAMETER, "mc/selector")
    kind = _SENDABLE.get(selector.strip().lower())
    if kind is None:
        raise Refused(codes.INVALID_PARAMETER, f"mc/selector {selector!r}: TextSms or BinarySms")
    sms = _member(container, kind)
    if sms is None:
        raise Refused(codes.MISSING_PARAMETER, f"mc/{kind}")
    return kind, sms


def _sms(sms: etree._Element) -> MessageSpec:
    """The fields every Sms has."""
    premium = _member(sms, "premiumInfo")
    if premium is not None and any(_value(premium, name) for name in ("billingCode", "orderID", "orderingChannel")):
        raise Refused(codes.INVALID_PARAMETER, "premiumInfo: premium messages are not offered")
    return MessageSpec(
        recipient=_required(sms, "toNumber"),
        originator=_value(sms, "fromNumber"),
        udh=_binary(sms, "header"),
        pid=_protocol_identifier(sms),
        validity=common.validity(_integer(sms, "validityPeriod")),
        priority=common.priority(_value(sms, "priority")),
        reports=_reports(sms),
    )


def _text_sms(sms: etree._Element) -> MessageSpec:
    dcs = _integer(sms, "dataCodingScheme")
    if dcs not in (0, 8):
        raise Refused(codes.INVALID_PARAMETER, f"dataCodingScheme {dcs}: a TextSms is 0 (GSM 03.38) or 8 (UCS-2); "
                      "send other data as a BinarySms")
    return replace(_sms(sms), text=_value(sms, "text"), flash=_flag(sms, "intruder"),
                   max_parts=None if _flag(sms, "multiPart") else 1)


def _binary_sms(sms: etree._Element) -> MessageSpec:
    data = _binary(sms, "data")
    if data is None:
        raise Refused(codes.MISSING_PARAMETER, "data")
    return replace(_sms(sms), payload=data, dcs=_integer(sms, "dataCodingScheme") or None)


def _reports(sms: etree._Element) -> ReportMask:
    level = (_value(sms, "reportLevel") or "0").strip()
    if level not in _REPORTS:
        raise Refused(codes.INVALID_PARAMETER, f"reportLevel {level!r}: 0 (none), 1 (final) or 2 (intermediate "
                      "and final)")
    return _REPORTS[level]


def _protocol_identifier(sms: etree._Element) -> int | None:
    raw = _value(sms, "protocolIdentifier")
    if raw is None:
        return None
    if not (raw.strip().isascii() and raw.strip().isdigit()):
        raise Refused(codes.INVALID_PARAMETER, f"protocolIdentifier {raw!r}: a number 0 to 255")
    return int(raw)


def _member(parent: etree._Element, name: str) -> etree._Element | None:
    """An unqualified child; None when absent or nil."""
    child = parent.find(name)
    return None if child is None or child.get(_NIL, "").strip() in ("true", "1") else child


def _value(parent: etree._Element, name: str) -> str | None:
    """A child's text; None when absent, nil or empty."""
    child = _member(parent, name)
    return None if child is None else child.text or None


def _required(parent: etree._Element, name: str) -> str:
    value = _value(parent, name)
    if value is None:
        raise Refused(codes.MISSING_PARAMETER, name)
    return value


def _integer(parent: etree._Element, name: str) -> int:
    """An xs:int or xs:long (the contract checked its form); 0 when absent."""
    return int(_value(parent, name) or 0)


def _flag(parent: etree._Element, name: str) -> bool:
    return (_value(parent, name) or "").strip() in ("true", "1")


def _binary(parent: etree._Element, name: str) -> bytes | None:
    """An xs:base64Binary (the contract checked its form); None when empty."""
    value = _value(parent, name)
    if value is None:
        return None
    return base64.b64decode("".join(value.split())) or None


def _refusal(call: Call, ba_id: str | None, refused: Refused) -> Reply:
    log.info("o2 soap refused: %s baID=%r client=%s %s: %s", etree.QName(call.payload).localname, ba_id,
             call.request.remote_addr, refused.code.code, refused.why)
    return Reply(refused.code, ba_id, refused.detail)


# --- answers ---------------------------------------------------------------------------------------------------------


def _response(reply: Reply) -> Fields:
    """A Response's members, in the WSDL's order (Message's baID and msgID first)."""
    return [("baID", reply.ba_id), ("msgID", reply.msg_id), ("code", reply.code.code),
            ("description", reply.description), ("refBaID", reply.ref_ba_id), ("refMsgID", reply.ref_msg_id),
            ("timestamp", _time(reply.at)), ("type", reply.code.type.value)]


def _inbound(report_id: int, mo: Inbound, ba_id: str | None, with_time: bool) -> Fields:
    """An MO as a TextSms or BinarySms (or their WithTime kinds): Message, Request, Sms, [SmsWithTime], then its
    own members. Its msgID is the report's id, which confirm takes."""
    fields: list[tuple[str, str | None]] = [
        ("baID", ba_id), ("msgID", str(report_id)), ("priority", None),
        ("dataCodingScheme", str(data_coding(mo.encoding, False))), ("fromNumber", mo.originator), ("header", None),
        ("premiumInfo", None), ("protocolIdentifier", None), ("reportLevel", None), ("toNumber", mo.destination),
        ("validityPeriod", "0"),
    ]
    if with_time:
        fields.append(("startTime", _time(mo.received_at)))
    if mo.payload is None:
        return [*fields, ("intruder", "false"), ("multiPart", "false"), ("text", mo.text)]
    return [*fields, ("data", base64.b64encode(mo.payload).decode("ascii"))]


def _time(at: datetime) -> str:
    return at.astimezone(ZONE).isoformat(timespec="seconds")


def _wrapper(name: str) -> etree._Element:
    return etree.Element(f"{{{NS}}}{name}", nsmap={"ns2": NS, "xsi": _XSI})


def _add(parent: etree._Element, name: str, value: str | None) -> etree._Element:
    child = etree.SubElement(parent, name)
    if value is None:
        child.set(_NIL, "true")
    else:
        child.text = _NOT_XML.sub("\ufffd", value)
    return child


def _fill(element: etree._Element, fields: Fields) -> etree._Element:
    for name, value in fields:
        _add(element, name, value)
    return element


def _result(name: str, fields: Fields) -> etree._Element:
    """`<name><result>…</result></name>`: the answer of an operation whose result is a Response."""
    answer = _wrapper(name)
    _fill(etree.SubElement(answer, "result"), fields)
    return answer


def _container(name: str, selector: str | None, fields: Fields) -> etree._Element:
    """A MessageContainer result: the member `selector` names holds `fields`, every other member is nil."""
    answer = _wrapper(name)
    result = etree.SubElement(answer, "result")
    for member in _MEMBERS:
        if member == "selector":
            _add(result, member, selector)
        elif selector is not None and member.lower() == selector.lower():
            _fill(etree.SubElement(result, member), fields)
        else:
            _add(result, member, None)
    return answer
