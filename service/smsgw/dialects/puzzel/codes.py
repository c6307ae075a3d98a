"""Puzzel's words for what the core says: status codes and texts, parameter names, message ids, originator types and
the XML namespaces. Every Puzzel face (REST, GET, SOAP, management) answers in these."""

from __future__ import annotations

import re
from enum import IntEnum
from typing import NamedTuple

from ...domain.errors import ErrorCode, GatewayError, RateLimited
from ...domain.numbers import OriginatorType

REQUEST_NS = "http://chimera.intele.com/gw/xsd/SMSGateway/Request/2013/02"
RESPONSE_NS = "http://chimera.intele.com/gw/xsd/SMSGateway/Response/2013/02"
FAULT_NS = "http://chimera.intele.com/gw/xsd/SMSGateway/Fault/2013/02"
MGMT_NS_V10 = "http://chimera.intele.com/gw/wsdl/GatewayManagement-v1.0"  # stopBatch
MGMT_NS_V11 = "http://chimera.intele.com/gw/wsdl/GatewayManagement-v1.1"  # getBatchList, getBatchStatus


class StatusCode(IntEnum):
    """A message's synchronous `statusCode`."""

    MESSAGE_DELIVERED_OK = 1  # accepted and queued, not yet delivered
    ACCESS_ERROR = 2
    ILLEGAL_ACTION = 3
    ILLEGAL_SERVICE = 4
    SYNTAX_ERROR = 5
    INTERNAL_ERROR = 6
    QUOTA_EXCEEDED = 24
    ERROR_NOT_UNIQUE = 25


ENQUEUED = "Message enqueued for sending"
ACCESS_DENIED = "No access. Authentication failed."
INTERNAL = "An internal error occurred in the gateway"

_BY_ERROR = {
    ErrorCode.AUTH_FAILED: StatusCode.ACCESS_ERROR,
    ErrorCode.ACCOUNT_DISABLED: StatusCode.ACCESS_ERROR,
    ErrorCode.ADDRESS_NOT_ALLOWED: StatusCode.ACCESS_ERROR,
    # Puzzel: "the originator can only be overridden when price = 0": an operation the service may not do.
    ErrorCode.ORIGINATOR_NOT_ALLOWED: StatusCode.ILLEGAL_ACTION,
    ErrorCode.DUPLICATE: StatusCode.ERROR_NOT_UNIQUE,
    # Puzzel documents no code for an exhausted prepaid balance or an opted-out recipient. Neither is a syntax error
    # (the client would look for a bad parameter) nor QUOTA_EXCEEDED (that message is kept, these are not): the
    # service may not send this message, so ILLEGAL_ACTION ("operation not allowed"), with a statusMessage saying
    # which it is.
    ErrorCode.INSUFFICIENT_CREDIT: StatusCode.ILLEGAL_ACTION,
    ErrorCode.SUPPRESSED: StatusCode.ILLEGAL_ACTION,
    # Over the service's requests or messages per second: the request is answered with HTTP 429 and Retry-After, and
    # every message with INTERNAL_ERROR, the one code of 1–6 that clients take as "not processed, send it again
    # later" (ILLEGAL_ACTION would read as final, and the messages would be lost); statusMessage says it is the rate.
    ErrorCode.RATE_LIMITED: StatusCode.INTERNAL_ERROR,
}
# Refusals whose statusMessage says what happened rather than which parameter is wrong.
_PLAIN = {
    ErrorCode.INSUFFICIENT_CREDIT: "Insufficient credit",
    ErrorCode.SUPPRESSED: "Recipient opted out",
    ErrorCode.RATE_LIMITED: "Too many requests",
}

# The core's field names as Puzzel's request spells them, so that statusMessage names the parameter at fault.
_PARAMETER = {
    "text": "content",
    "payload": "content",
    "key": "clientReference",
    "originator": "settings.originatorSettings.originator",
    "validity": "settings.validity",
    "sendWindow": "settings.sendWindow",
    "udh": "settings.parameter udh",
    "dcs": "settings.parameter dcs",
    "pid": "settings.parameter pid",
}


class PuzzelError(Exception):
    """A message (or a whole request) refused in Puzzel's terms: the status code and the parameter at fault."""

    def __init__(self, status: StatusCode, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.parameter = parameter
        self.detail = detail

    @classmethod
    def syntax(cls, parameter: str, detail: str) -> PuzzelError:
        return cls(StatusCode.SYNTAX_ERROR, parameter, detail)

    @classmethod
    def from_core(cls, error: GatewayError) -> PuzzelError:
        status = _BY_ERROR.get(error.code, StatusCode.SYNTAX_ERROR)
        heading = _PLAIN.get(error.code)
        if heading is None:
            return cls(status, parameter_name(error.field), error.detail)
        detail = f"{heading}: {error.detail}"
        if isinstance(error, RateLimited):
            detail += f"; nothing was sent: send again after {error.retry_after_header} s"
        return cls(status, "", detail)

    @property
    def text(self) -> str:
        """The statusMessage: what is wrong, and with which parameter."""
        if self.status is StatusCode.ACCESS_ERROR:
            return ACCESS_DENIED  # the log says which check failed; the caller learns nothing more
        return f"{self.parameter}: {self.detail}" if self.parameter else self.detail


def held(quota: int, window_s: int) -> str:
    """The statusMessage of a message held over the per-recipient quota (QUOTA_EXCEEDED, Puzzel's spam filter: too
    many messages to one MSISDN). Unlike the other refusals the message is stored and has its messageId."""
    return (f"Message held: more than {quota} messages to this recipient within {window_s} s; it is sent once an "
            f"operator approves it")


def parameter_name(core_field: str | None) -> str:
    if not core_field:
        return ""
    head, dot, rest = core_field.partition(".")
    return _PARAMETER.get(head, head) + dot + rest


def message_id(core_id: int) -> str:
    """The core's 64-bit id as Puzzel shows message ids: base 36, lower case (e.g. "760081j04w00")."""
    if core_id < 0:
        raise ValueError("message ids are not negative")
    pairs = []  # two digits at a time, least significant first
    while core_id >= 1296:
        core_id, low = divmod(core_id, 1296)
        pairs.append(_BASE36_PAIRS[low])
    pairs.append(_BASE36_PAIRS[core_id] if core_id >= 36 else _BASE36[core_id])  # no leading zero
    pairs.reverse()
    return "".join(pairs)


_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_BASE36_PAIRS = [high + low for high in _BASE36 for low in _BASE36]  # "00" … "zz", by value


def originator_type(raw: str) -> OriginatorType:
    """`originatorType` in any case: the XSD says `Alphanumeric`, the JSON and GET docs `ALPHANUMERIC`."""
    try:
        return OriginatorType(raw.strip().lower())
    except ValueError:
        raise PuzzelError.syntax(
            "settings.originatorSettings.originatorType",
            f"must be INTERNATIONAL, ALPHANUMERIC or NETWORK, got {raw!r}",
        ) from None


_NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str | None) -> str | None:
    """Echoed client text with the characters XML 1.0 cannot carry (controls, lone surrogates) replaced."""
    return None if text is None else _NOT_XML_CHARS.sub("\ufffd", text)


class MessageStatus(NamedTuple):
    """One `messageStatus` of a response (sessionId is always absent: sessions are not supported). A named tuple: a
    request makes one per message, and a tuple is the cheapest immutable record to make."""

    sequence_index: int  # 1-based, request order
    status: StatusCode
    text: str
    recipient: str | None
    client_reference: str | None = None
    message_id: str | None = None
