"""Puzzel's SOAP web services: SMSGateway v1.0 `sendMessages`, and the management API's batch operations.

sendMessages is served at `/gw/ws/SMSGatewayV10` (the SOAP page's WSDL URL) and `/gw/SMSGateway` (the one the REST
page quotes). Its request is read by the same reader as REST and GET (`request.py`) once the contract has checked
it, and answered with the Response schema's `response` inside `sendMessagesResponse`: per message statusCode and
statusMessage, never a fault, as Puzzel documents. A request over the service's rate is answered the same way (every
message INTERNAL_ERROR, saying when to send again): a SOAP client reads a 200, where REST gets a 429.

Management (`/mgmt/ws/GatewayManagementV10`) lists, looks at and stops batches with the body's serviceId, username
and password. Puzzel documents its errors as codes: 1000 for a batch the service does not have, and the SMSGateway
status codes (2 for credentials) otherwise. They leave as SOAP faults whose detail is the Fault schema's `fault`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

from lxml import etree

from ...domain.errors import ErrorCode, GatewayError, RequestError
from ...domain.model import Account
from ...services import Services
from ...soap.contract import Contract
from ...soap.endpoint import Answer, Call, Operation, SoapEndpoint
from ...soap.envelope import Fault, Version, envelope
from .codes import FAULT_NS, MGMT_NS_V10, MGMT_NS_V11, REQUEST_NS, StatusCode
from .mgmt import batch_list_element, batch_status_element, stopped_element
from .request import Unreadable, parse, response_xml, send, tree_from_xml, unreadable_reply

log = logging.getLogger(__name__)

GATEWAY_NS = "http://chimera.intele.com/gw/wsdl/SMSGateway-v1.0"
GATEWAY_PATHS = ("/gw/ws/SMSGatewayV10", "/gw/SMSGateway")
MGMT_PATH = "/mgmt/ws/GatewayManagementV10"
NO_SUCH_BATCH = 1000
_T = TypeVar("_T")


def endpoints(services: Services) -> list[SoapEndpoint]:
    gateway = PuzzelSoap(services)
    return [
        SoapEndpoint("puzzel sendMessages", GATEWAY_PATHS,
                     Contract("puzzel/SMSGatewayV10.wsdl", "puzzel/validation/SMSGatewayV10.xsd"),
                     [Operation(f"{{{GATEWAY_NS}}}sendMessages", gateway.send_messages)]),
        SoapEndpoint("puzzel management", (MGMT_PATH,),
                     Contract("puzzel/GatewayManagementV10.wsdl", "puzzel/validation/GatewayManagementV10.xsd"),
                     [Operation(f"{{{MGMT_NS_V11}}}getBatchListRequest", gateway.batch_list),
                      Operation(f"{{{MGMT_NS_V11}}}getBatchStatusRequest", gateway.batch_status),
                      Operation(f"{{{MGMT_NS_V10}}}stopBatchRequest", gateway.stop_batch)]),
    ]


class PuzzelSoap:
    def __init__(self, services: Services) -> None:
        self.services = services

    def send_messages(self, call: Call) -> Answer:
        request = call.payload.find(f"{{{REQUEST_NS}}}request")  # the contract requires it
        try:
            parsed = parse(tree_from_xml(request if request is not None else call.payload))
        except Unreadable as error:
            log.info("puzzel soap: unreadable request from %s: %s", call.request.remote_addr, error.error.text)
            reply = unreadable_reply(error)
        else:
            reply = send(self.services, call.request.environ, parsed, "puzzel-soap")
        head, tail = _frame(call.version)
        return Answer(head + response_xml(reply).encode() + tail)

    def batch_list(self, call: Call) -> etree._Element:
        account = self._account(call)
        return batch_list_element(self.services.gateway.pending_batches(account))

    def batch_status(self, call: Call) -> etree._Element:
        account, batch_ref = self._account(call), _field(call, "clientBatchReference")
        return batch_status_element(self._found(lambda: self.services.gateway.batch_status(account, batch_ref)))

    def stop_batch(self, call: Call) -> etree._Element:
        account, batch_ref = self._account(call), _field(call, "clientBatchReference")
        stopped = self._found(lambda: self.services.gateway.cancel_batch(account, batch_ref))
        return stopped_element(account, batch_ref, stopped)

    def _account(self, call: Call) -> Account:
        service_id = int(_field(call, "serviceId"))  # an xs:int, by the contract
        username = _field(call, "username")
        try:
            return self.services.auth.from_request(call.request.environ, _field(call, "password"), name=username,
                                                   account_id=service_id)
        except RequestError as error:
            log.info("puzzel soap mgmt: service %d user %r from %s refused: %s (%s)", service_id, username,
                     call.request.remote_addr, error.code.value, error.detail)
            raise _fault(StatusCode.ACCESS_ERROR, f"the username and password given may not manage service "
                                                  f"{service_id}") from None

    def _found(self, look: Callable[[], _T]) -> _T:
        try:
            return look()
        except GatewayError as error:
            if error.code is not ErrorCode.NOT_FOUND:
                raise
            raise _fault(NO_SUCH_BATCH, "No batch found matching the given customer batch reference for this "
                                        "service") from None


@functools.cache
def _frame(version: Version) -> tuple[bytes, bytes]:
    """The answer's envelope as `envelope` renders it, before and after the `response`: sendMessagesResponse is
    written as text (`response_xml`), not as elements."""
    answer = etree.Element(f"{{{GATEWAY_NS}}}sendMessagesResponse", nsmap={"ns3": GATEWAY_NS})
    etree.SubElement(answer, "response")
    head, tail = envelope(version, answer).split(b"<response/>")
    return head, tail


def _field(call: Call, name: str) -> str:
    """A management request's field. The examples pad the password with a space (`<password> xdyf3bf2</password>`);
    every field is taken without surrounding whitespace."""
    return (call.payload.findtext(name) or "").strip()


def _fault(code: int, reason: str) -> Fault:
    detail = etree.Element(f"{{{FAULT_NS}}}fault", nsmap={"ns2": FAULT_NS})
    etree.SubElement(detail, "code").text = str(code)
    etree.SubElement(detail, "reason").text = reason
    return Fault(reason, sender=True, detail=detail)
