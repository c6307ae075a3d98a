# spyne ships no type information: ServiceBase and `rpc` are Any to mypy (the bodies below are checked all the same).
# mypy: disallow-subclassing-any=False, disallow-untyped-decorators=False
"""The native SOAP API's operations, and the endpoint that serves them at `/ws/v1`.

spyne is used for what it does well here: the operations below declare their types, from which it generates the
WSDL (`contract.py`), and it reads a request's payload element into those types and writes the answer's. The SOAP
transport does the rest as for every face: envelopes of both versions, the size limit, dispatch by the body's root
element, validation against the committed schema, and faults with the right code and HTTP status in each version
(spyne's own SOAP 1.2 faults have the wrong status and cannot carry our detail elements where the WSDL says).

The caller is the account named by HTTP Basic, checked on every request (the password cache makes that cheap).
Every fault a client can get is declared in the WSDL: its code is `Client.<detail type>` (`Server.Internal` for ours)
and its detail element is that type, so generated proxies raise a typed exception.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree
from spyne import (
    Application,
    Boolean,
    ByteArray,
    DateTime,
    Integer32,
    Long,
    ServiceBase,
    Unicode,
    UnsignedInteger8,
    rpc,
)
from spyne.model.fault import Fault as SpyneFault
from spyne.protocol.soap import Soap11
from spyne.util.xml import get_object_as_xml, get_xml_as_object
from werkzeug.wrappers import Request

from ...domain.errors import ErrorCode, GatewayError, MessageError, RateLimited, RequestError
from ...domain.model import (
    MAX_MESSAGES_PER_REQUEST,
    Account,
    MessageSpec,
    MessageView,
    Outcome,
    Priority,
    ReportItem,
    ReportMask,
    Status,
    SubmitRequest,
)
from ...domain.numbers import NumberFormat
from ...gateway import Gateway
from ...services import Services
from ...soap.contract import Contract
from ...soap.endpoint import Call, Operation, SoapEndpoint
from ...soap.envelope import Fault
from . import types as t
from .types import optional, repeated, required

log = logging.getLogger(__name__)

PATH = "/ws/v1"
WSDL = "native/smsgw-v1.wsdl"
SCHEMA = "native/smsgw-v1.xsd"
DEFAULT_RECEIVE = 100
_AUTH_CODES = (ErrorCode.AUTH_FAILED, ErrorCode.ACCOUNT_DISABLED, ErrorCode.ADDRESS_NOT_ALLOWED)
_FAULTS = [t.Authentication, t.InvalidRequest, t.Internal]
_SEND_FAULTS = [*_FAULTS, t.MessageRefused, t.RateLimited]


@dataclass(frozen=True, slots=True)
class Caller:
    """What an operation runs as: the authenticated account, and the gateway it calls."""

    account: Account
    gateway: Gateway


class SmsGateway(ServiceBase):
    """The operations. Each is called with the Caller first, then its request's elements in WSDL order."""

    @rpc(required(Unicode), required(Unicode), optional(Unicode), optional(Unicode), optional(Integer32),
         optional(DateTime), optional(DateTime), optional(t.MessagePriority), optional(Boolean),
         optional(Boolean), _returns=required(t.SendResult), _throws=_SEND_FAULTS)
    def SendTextMessage(caller: Caller, recipient: str, text: str, originator: str | None,
                        clientReference: str | None, validitySeconds: int | None, expiresAt: datetime | None,
                        scheduledAt: datetime | None, priority: str | None, flash: bool | None,
                        deliveryReport: bool | None) -> t.SendResult:
        """Send one text message. A number without + or 00 is national in the account's default country (if it has
        one). A message the gateway refuses is a MessageRefused fault."""
        return _send_one(caller, _spec(
            recipient, text=text, originator=originator, clientReference=clientReference,
            validitySeconds=validitySeconds, expiresAt=expiresAt, scheduledAt=scheduledAt, priority=priority,
            flash=flash, deliveryReport=deliveryReport))

    @rpc(required(Unicode), required(ByteArray), optional(ByteArray), optional(UnsignedInteger8),
         optional(UnsignedInteger8), optional(Unicode), optional(Unicode), optional(Integer32), optional(DateTime),
         optional(DateTime), optional(t.MessagePriority), optional(Boolean), _returns=required(t.SendResult),
         _throws=_SEND_FAULTS)
    def SendBinaryMessage(caller: Caller, recipient: str, payload: Sequence[bytes], udh: Sequence[bytes] | None,
                          dataCoding: int | None, protocolId: int | None, originator: str | None,
                          clientReference: str | None, validitySeconds: int | None, expiresAt: datetime | None,
                          scheduledAt: datetime | None, priority: str | None,
                          deliveryReport: bool | None) -> t.SendResult:
        """Send one binary message: the payload without its user data header, which `udh` gives (concatenation
        headers are added when the payload needs more than one SMS)."""
        return _send_one(caller, _spec(
            recipient, payload=payload, udh=udh, dataCoding=dataCoding, protocolId=protocolId, originator=originator,
            clientReference=clientReference, validitySeconds=validitySeconds, expiresAt=expiresAt,
            scheduledAt=scheduledAt, priority=priority, deliveryReport=deliveryReport))

    @rpc(optional(Unicode), repeated(t.BatchMessage, least=1), _returns=required(t.BatchResult),
         _throws=[*_FAULTS, t.TooManyMessages, t.RateLimited])
    def SendBatch(caller: Caller, batchReference: str | None, message: list[Any]) -> t.BatchResult:
        """Send up to 10,000 messages as one batch (a reference is made up when none is given). Each message gets
        its own result, in request order: a refused one does not stop the others."""
        result = caller.gateway.submit(caller.account, SubmitRequest(
            [_spec(**m.as_dict()) for m in message],
            batch_ref=batchReference, number_format=_number_format(caller.account), face="native"))
        accepted = sum(1 for o in result.outcomes if o.accepted)
        return t.BatchResult(batchReference=result.batch_ref, accepted=accepted,
                             refused=len(result.outcomes) - accepted, result=[_result(o) for o in result.outcomes])

    @rpc(optional(Long), optional(Unicode), _returns=required(t.MessageInfo),
         _throws=[*_FAULTS, t.UnknownMessage])
    def GetMessageStatus(caller: Caller, messageId: int | None, clientReference: str | None) -> t.MessageInfo:
        """A message's status and history, by its id or by its client reference (the newest message that has it)."""
        if messageId is not None and clientReference is None:
            view = caller.gateway.status(messageId, caller.account)
        elif clientReference is not None and messageId is None:
            view = caller.gateway.status_by_client_ref(caller.account, clientReference)
        else:
            raise RequestError(ErrorCode.INVALID_FIELD, "give either messageId or clientReference", "messageId")
        return _info(view, caller.gateway.history(view.id))

    @rpc(required(Unicode), _returns=required(t.BatchStatus), _throws=[*_FAULTS, t.UnknownBatch])
    def GetBatchStatus(caller: Caller, batchReference: str) -> t.BatchStatus:
        """How many of a batch's messages are in each status."""
        batch = caller.gateway.batch_status(caller.account, batchReference)
        return t.BatchStatus(batchReference=batch.batch_ref, total=batch.total, pending=batch.pending,
                             count=[t.StatusCount(status=s.value, count=batch.by_status[s])
                                    for s in Status if s in batch.by_status])

    @rpc(required(Unicode), _returns=repeated(t.CancelledMessage), _throws=[*_FAULTS, t.UnknownBatch])
    def CancelBatch(caller: Caller, batchReference: str) -> list[t.CancelledMessage]:
        """Cancel what of a batch is not yet sent, and list those messages; what was sent stays sent."""
        return [t.CancelledMessage(messageId=c.message_id, clientReference=c.client_ref)
                for c in caller.gateway.cancel_batch(caller.account, batchReference)]

    @rpc(optional(Integer32), _returns=repeated(t.Report), _throws=_FAULTS)
    def ReceiveMessages(caller: Caller, maxReports: int | None) -> list[t.Report]:
        """The oldest unconfirmed delivery reports and inbound messages, up to `maxReports` (1 to 1,000; 100 when
        absent). They stay queued, and are handed out again, until ConfirmMessages names them."""
        items = caller.gateway.receive(caller.account, DEFAULT_RECEIVE if maxReports is None else maxReports)
        return [_report(item) for item in items]

    @rpc(repeated(Long, least=1), _returns=required(Integer32), _throws=_FAULTS)
    def ConfirmMessages(caller: Caller, reportId: list[int]) -> int:
        """Remove received reports from the queue; answers how many were still queued (others are ignored)."""
        return caller.gateway.confirm(caller.account, reportId)


APPLICATION = Application([SmsGateway], tns=t.NS, name="SmsGateway", in_protocol=Soap11(), out_protocol=Soap11())
APPLICATION.transport = "http://schemas.xmlsoap.org/soap/http"  # what the WSDL's binding names (spyne's servers set it)


def endpoints(services: Services) -> list[SoapEndpoint]:
    operations = [_operation(services, method) for method in SmsGateway.public_methods.values()]
    return [SoapEndpoint("native", [PATH], Contract(wsdl=WSDL, schema=SCHEMA), operations)]


def _operation(services: Services, method: Any) -> Operation:
    """One operation as the transport dispatches it: authenticate, read the payload with spyne, run, write."""
    arguments = list(method.in_message._type_info)
    answer = method.out_message
    (result_name,) = answer._type_info
    function: Callable[..., Any] = method.function

    def handle(call: Call) -> etree._Element:
        caller = Caller(_account(services, call.request), services.gateway)
        try:
            request = get_xml_as_object(call.payload, method.in_message)
        except SpyneFault as error:  # a value the schema allows and Python cannot hold (a year after 9999)
            raise _fault(t.InvalidRequest(code=ErrorCode.INVALID_FIELD.value, text=error.faultstring)) from None
        try:
            result = function(caller, *(getattr(request, name) for name in arguments))
            element: etree._Element = get_object_as_xml(answer(**{result_name: result}), answer)
        except GatewayError as error:
            raise _refusal(error) from None
        except Exception:
            log.exception("native: %s for account %s failed", method.name, caller.account.name)
            raise _fault(t.Internal(text="internal error"), sender=False) from None
        return element

    return Operation(f"{{{t.NS}}}{method.name}", handle, method.operation_name)


def _account(services: Services, request: Request) -> Account:
    credentials = request.authorization
    if credentials is None or credentials.type != "basic" or not credentials.username or not credentials.password:
        # HTTP's challenge: clients that send credentials only when asked (.NET's) send them on the retry.
        raise _fault(t.Authentication(text="HTTP Basic credentials (account name and password) are required"),
                     http_status=401, headers={"WWW-Authenticate": 'Basic realm="smsgw", charset="UTF-8"'})
    try:
        return services.auth.from_request(request.environ, credentials.password, name=credentials.username)
    except RequestError as error:
        raise _refusal(error) from None


def _refusal(error: GatewayError) -> Fault:
    """The core's refusal as the fault the WSDL declares for it."""
    if isinstance(error, RateLimited):
        return _fault(t.RateLimited(retryAfter=max(1, math.ceil(error.retry_after)), text=error.detail),
                      headers={"Retry-After": error.retry_after_header})
    if error.code in _AUTH_CODES:
        # A disabled account or a refused address looks like a wrong password (the log says which it was).
        return _fault(t.Authentication(text="invalid credentials"))
    if error.code is ErrorCode.TOO_MANY_MESSAGES:
        return _fault(t.TooManyMessages(maximum=MAX_MESSAGES_PER_REQUEST, text=error.detail))
    if error.code is ErrorCode.NOT_FOUND:
        return _fault(t.UnknownBatch(text=error.detail) if error.field == "batchReference" else
                      t.UnknownMessage(text=error.detail))
    if isinstance(error, MessageError):
        return _fault(t.MessageRefused(code=error.code.value, text=error.detail))
    return _fault(t.InvalidRequest(code=error.code.value, text=error.detail))


def _fault(detail: Any, *, sender: bool = True, http_status: int | None = None,
           headers: dict[str, str] | None = None) -> Fault:
    """A fault coded `Client.<detail type>` (or `Server.…`), with the detail element the WSDL declares for it."""
    return Fault(detail.text, sender=sender, subcode=detail.get_type_name(),
                 detail=get_object_as_xml(detail, type(detail)), http_status=http_status, headers=headers)


# --- the wire's values as the core's, and back -------------------------------------------------------------------


def _spec(recipient: str, *, text: str | None = None, payload: Sequence[bytes] | None = None,
          udh: Sequence[bytes] | None = None, dataCoding: int | None = None, protocolId: int | None = None,
          originator: str | None = None, clientReference: str | None = None, validitySeconds: int | None = None,
          expiresAt: datetime | None = None, scheduledAt: datetime | None = None, priority: str | None = None,
          flash: bool | None = None, deliveryReport: bool | None = None) -> MessageSpec:
    """One message as the core takes it. (spyne reads base64Binary as a sequence of chunks.)"""
    return MessageSpec(
        recipient=recipient, text=text, payload=None if payload is None else b"".join(payload),
        udh=None if udh is None else b"".join(udh), dcs=dataCoding, pid=protocolId, originator=originator,
        client_ref=clientReference, validity=None if validitySeconds is None else timedelta(seconds=validitySeconds),
        expires_at=_utc(expiresAt), send_at=_utc(scheduledAt),
        priority=None if priority is None else Priority[priority.upper()], flash=bool(flash),
        reports=ReportMask.NONE if deliveryReport is False else ReportMask.FINAL)


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is UTC (what most clients mean, and the only reading that does not depend on the
    server's zone)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _number_format(account: Account) -> NumberFormat:
    return NumberFormat.NATIONAL if account.default_country else NumberFormat.INTERNATIONAL


def _send_one(caller: Caller, spec: MessageSpec) -> t.SendResult:
    result = caller.gateway.submit(caller.account, SubmitRequest(
        [spec], number_format=_number_format(caller.account), face="native"))
    outcome = result.outcomes[0]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.status is not None
    return t.SendResult(messageId=outcome.message_id, status=outcome.status.value, recipient=outcome.recipient,
                        segments=outcome.parts)


def _result(outcome: Outcome) -> t.MessageResult:
    if outcome.error is not None:
        return t.MessageResult(index=outcome.index, recipient=outcome.recipient, errorCode=outcome.error.code.value,
                               errorText=outcome.error.detail)
    assert outcome.status is not None
    return t.MessageResult(index=outcome.index, recipient=outcome.recipient, messageId=outcome.message_id,
                           status=outcome.status.value, segments=outcome.parts)


def _info(view: MessageView, history: Sequence[tuple[Status, datetime, str | None]]) -> t.MessageInfo:
    return t.MessageInfo(
        messageId=view.id, status=view.status.value, recipient=view.recipient, originator=view.originator,
        batchReference=view.batch_ref, clientReference=view.client_ref, segments=view.parts,
        createdAt=view.created_at, updatedAt=view.updated_at, dueAt=view.due_at, expiresAt=view.expires_at,
        errorCode=view.error_code,
        history=[t.StatusChange(status=status.value, at=at, errorCode=error) for status, at, error in history])


def _report(item: ReportItem) -> t.Report:
    report = t.Report(reportId=item.id, createdAt=item.created_at)
    if item.message is not None:
        status = item.status or item.message.status
        report.deliveryReport = t.DeliveryReport(
            messageId=item.message.id, status=status.value, errorCode=item.error_code,
            recipient=item.message.recipient, batchReference=item.message.batch_ref,
            clientReference=item.message.client_ref)
    if item.inbound is not None:
        mo = item.inbound
        report.inboundMessage = t.InboundMessage(
            messageId=mo.id, originator=mo.originator, destination=mo.destination, text=mo.text,
            payload=None if mo.payload is None else [mo.payload], keyword=mo.keyword, receivedAt=mo.received_at,
            replyTo=mo.reply_to)
    return report
