"""`PuzzelClient`: Puzzel's SOAP sendMessages (SMSGateway v1.0) as smsgw serves it at `/gw/ws/SMSGatewayV10`.

The credentials travel in the body (serviceId, username, password), and every message gets its own status: a wrong
password is a statusCode 2 for each message, not a fault. A SOAP fault (a request the schema does not allow) is
raised as PuzzelFault.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import TracebackType
from typing import Any

from ._soap import DEFAULT_TIMEOUT, Cert, Soap, Verify, fault_detail, session
from .errors import PuzzelFault, SoapFault

GATEWAY_NS = "http://chimera.intele.com/gw/wsdl/SMSGateway-v1.0"
FAULT_NS = "http://chimera.intele.com/gw/xsd/SMSGateway/Fault/2013/02"
PATH = "/gw/ws/SMSGatewayV10"
BINDING = f"{{{GATEWAY_NS}}}SMSGatewayV10EndpointServiceSoapBinding"


class StatusCode(IntEnum):
    """Puzzel's synchronous per-message status codes."""

    MESSAGE_DELIVERED_OK = 1  # accepted and queued (not yet delivered)
    ACCESS_ERROR = 2
    ILLEGAL_ACTION = 3
    ILLEGAL_SERVICE = 4
    SYNTAX_ERROR = 5
    INTERNAL_ERROR = 6
    QUOTA_EXCEEDED = 24
    ERROR_NOT_UNIQUE = 25


@dataclass(frozen=True, slots=True)
class PuzzelMessage:
    """One message. `originator_type` is `International`, `Alphanumeric` or `Network`; `priority` 1 (low) to 3
    (high); `validity` Puzzel's encoded validity; `parameters` Puzzel's key/value settings (e.g. `dcs`, `udh`)."""

    recipient: str
    content: str
    client_reference: str | None = None
    price: int | None = None
    originator: str | None = None
    originator_type: str | None = None
    priority: int | None = None
    validity: int | None = None
    differentiator: str | None = None
    invoice_node: str | None = None
    auto_detect_encoding: bool | None = None
    parameters: Mapping[str, str] | None = None

    def _to_soap(self) -> dict[str, Any]:
        settings = _given(
            originatorSettings=None if self.originator is None else {
                "originator": self.originator, "originatorType": self.originator_type or "Alphanumeric"},
            priority=self.priority, validity=self.validity, differentiator=self.differentiator,
            invoiceNode=self.invoice_node, autoDetectEncoding=self.auto_detect_encoding,
            parameter=None if not self.parameters else [{"key": k, "value": v} for k, v in self.parameters.items()])
        return _given(recipient=self.recipient, content=self.content, price=self.price,
                      clientReference=self.client_reference, settings=settings or None)


@dataclass(frozen=True, slots=True)
class PuzzelStatus:
    """What became of one message (`sequence_index` from 1, in request order)."""

    status_code: int
    status_message: str
    recipient: str
    sequence_index: int
    client_reference: str | None = None
    message_id: str | None = None
    session_id: str | None = None

    @property
    def accepted(self) -> bool:
        """Queued for sending (statusCode 1, "MESSAGE_DELIVERED_OK": Puzzel's name; it is not delivered yet)."""
        return self.status_code == StatusCode.MESSAGE_DELIVERED_OK

    @classmethod
    def _from_soap(cls, value: Any) -> PuzzelStatus:
        return cls(int(value.statusCode), str(value.statusMessage or ""), str(value.recipient or ""),
                   int(value.sequenceIndex), value.clientReference or None, value.messageId, value.sessionId)


@dataclass(frozen=True, slots=True)
class PuzzelResponse:
    batch_reference: str
    statuses: tuple[PuzzelStatus, ...]

    @property
    def all_accepted(self) -> bool:
        return all(s.accepted for s in self.statuses)


class PuzzelClient:
    """Puzzel's sendMessages at `base_url` + `/gw/ws/SMSGatewayV10`, as `service_id` (the account's id), `username`
    (its name) and `password`. `verify`, `cert`, `timeout` and `wsdl` are as for SmsgwClient."""

    def __init__(self, base_url: str, service_id: int, username: str, password: str, *, verify: Verify = True,
                 cert: Cert | None = None, timeout: float = DEFAULT_TIMEOUT,
                 wsdl: str | os.PathLike[str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.endpoint = self.base_url + PATH
        self.service_id, self.username = service_id, username
        self._password = password
        http = session(auth=None, verify=verify, cert=cert)
        self._soap = Soap(f"{self.endpoint}?wsdl" if wsdl is None else wsdl, BINDING, self.endpoint, http, timeout,
                          read_fault)

    def send_messages(self, messages: Iterable[PuzzelMessage], batch_reference: str | None = None) -> PuzzelResponse:
        """Send the messages as one request; answers each one's status, in request order."""
        batch = [m._to_soap() for m in messages]
        if not batch:
            raise ValueError("send_messages: no messages")
        request = _given(serviceId=self.service_id, username=self.username, password=self._password,
                         batchReference=batch_reference, message=batch)
        answer = self._soap.call("sendMessages", request=request)
        return PuzzelResponse(str(answer.batchReference or ""),
                              tuple(PuzzelStatus._from_soap(s) for s in answer.messageStatus or ()))

    def close(self) -> None:
        self._soap.close()

    def __enter__(self) -> PuzzelClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def read_fault(text: str, code: str | None, detail: Any) -> SoapFault:
    """A fault whose detail is Puzzel's `fault` (its code and reason), or the transport's own (a schema error)."""
    _, fields = fault_detail(detail, FAULT_NS)
    try:
        number = int(fields["code"]) if fields.get("code") else None
    except ValueError:
        number = None
    return PuzzelFault(fields.get("reason") or text, code, code=number)


def _given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}
