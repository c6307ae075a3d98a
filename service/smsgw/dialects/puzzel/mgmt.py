"""Puzzel's management REST API: batches that still have unsent messages, listed, looked at and stopped.

`/mgmt/rs/service/{serviceId}/batch[/{ref}]` (and the newer client's `/management/{serviceId}/batch…`), HTTP Basic
with the service's username and password. XML (`text/xml`, the default) or JSON by `Accept`. 401 for credentials
that do not own the service, 404 for a batch the service does not have; both with an RFC 7807 problem body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from lxml import etree
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ...domain.errors import ErrorCode, GatewayError, RequestError
from ...domain.model import Account, BatchStatus, Cancelled, Status
from ...services import Services
from ..http import client_address
from .codes import MGMT_NS_V10, MGMT_NS_V11, message_id, xml_text

log = logging.getLogger(__name__)

_SERVICE = "<int(min=1, max=9223372036854775807):service_id>"
_BASES = (f"/mgmt/rs/service/{_SERVICE}", f"/management/{_SERVICE}")
_OFFERS = ["text/xml", "application/xml", "application/json"]
_CACHE = "max-age=60, private"
_PROBLEM_NS = "urn:ietf:rfc:7807"
_T = TypeVar("_T")


class _Problem(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class PuzzelManagement:
    def __init__(self, services: Services) -> None:
        self.services = services

    def rules(self) -> Iterable[Rule]:
        for base in _BASES:
            yield Rule(f"{base}/batch", endpoint=self.batches, methods=["GET"])
            yield Rule(f"{base}/batch/", endpoint=self.batches, methods=["GET"])
            yield Rule(f"{base}/batch/<path:batch_ref>", endpoint=self.batch, methods=["GET", "DELETE"])

    def batches(self, request: Request, service_id: int) -> Response:
        """Every batch of the service that still has messages waiting to be sent."""
        try:
            account = self._account(request, service_id)
        except _Problem as problem:
            return _problem(request, problem)
        listed = self.services.gateway.pending_batches(account)
        if _json_wanted(request):
            return _json({"messageBatch": [_batch_json(b) for b in listed]}, cached=True)
        return _xml(request, batch_list_element(listed), cached=True)

    def batch(self, request: Request, service_id: int, batch_ref: str) -> Response:
        """GET: how many of the batch's messages are still waiting; DELETE: stop them (sent ones stay sent)."""
        try:
            account = self._account(request, service_id)
            if request.method == "DELETE":
                return self._stop(request, account, batch_ref)
            batch = self._found(lambda: self.services.gateway.batch_status(account, batch_ref), request, account)
        except _Problem as problem:
            return _problem(request, problem)
        if _json_wanted(request):
            return _json({"messageBatch": _batch_json(batch)}, cached=True)
        return _xml(request, batch_status_element(batch), cached=True)

    def _stop(self, request: Request, account: Account, batch_ref: str) -> Response:
        stopped = self._found(lambda: self.services.gateway.cancel_batch(account, batch_ref), request, account)
        if _json_wanted(request):
            return _json({
                "serviceId": account.id,
                "clientBatchReference": batch_ref,
                "stoppedMessages": [{"messageId": message_id(m.message_id), "clientMessageReference": m.client_ref}
                                    for m in stopped],
            })
        return _xml(request, stopped_element(account, batch_ref, stopped))

    def _account(self, request: Request, service_id: int) -> Account:
        credentials = request.authorization
        if credentials is None or credentials.type != "basic" or credentials.username is None:
            log.info("puzzel mgmt: service %d from %s: no HTTP Basic credentials", service_id,
                     client_address(request))
            raise _Problem(401, "Unauthorized", "HTTP Basic authentication with the service's username and password "
                                                "is required")
        try:
            return self.services.auth.from_request(request.environ, credentials.password or "",
                                                   name=credentials.username, account_id=service_id)
        except RequestError as error:
            log.info("puzzel mgmt: service %d user %r from %s refused: %s (%s)", service_id, credentials.username,
                     client_address(request), error.code.value, error.detail)
            raise _Problem(401, "Unauthorized", f"the username and password given may not manage service "
                                                f"{service_id}") from None

    def _found(self, call: Callable[[], _T], request: Request, account: Account) -> _T:
        try:
            return call()
        except GatewayError as error:
            if error.code is not ErrorCode.NOT_FOUND:
                raise
            log.info("puzzel mgmt: account %s from %s: %s", account.name, client_address(request), error.detail)
            raise _Problem(404, "Not Found", "no batch with that reference for this service") from None


def _json_wanted(request: Request) -> bool:
    return request.accept_mimetypes.best_match(_OFFERS, default=_OFFERS[0]) == "application/json"


def _batch_json(batch: BatchStatus) -> dict[str, Any]:
    # totalSize: the messages not yet sent (a stop cancels them all); onHold: those of them held over the service's
    # per-recipient quota, waiting for an operator (Puzzel's spam filter, status 24 when they were sent).
    return {"clientBatchReference": batch.batch_ref, "totalSize": batch.pending,
            "onHold": batch.by_status.get(Status.HELD, 0)}


# The XML answers, shared with the SOAP face (`soap.py`): the same elements, in a SOAP Body there.


def batch_list_element(batches: Iterable[BatchStatus]) -> etree._Element:
    root = etree.Element(f"{{{MGMT_NS_V11}}}getBatchListResponse", nsmap={"ns2": MGMT_NS_V11})
    for batch in batches:
        _batch_xml(root, batch)
    return root


def batch_status_element(batch: BatchStatus) -> etree._Element:
    root = etree.Element(f"{{{MGMT_NS_V11}}}getBatchStatusResponse", nsmap={"ns2": MGMT_NS_V11})
    _batch_xml(root, batch)
    return root


def stopped_element(account: Account, batch_ref: str, stopped: Iterable[Cancelled]) -> etree._Element:
    root = etree.Element(f"{{{MGMT_NS_V10}}}stopBatchResponse", nsmap={"ns2": MGMT_NS_V10})
    etree.SubElement(root, "serviceId").text = str(account.id)
    etree.SubElement(root, "clientBatchReference").text = xml_text(batch_ref)
    for message in stopped:
        element = etree.SubElement(root, "stoppedMessages")
        etree.SubElement(element, "messageId").text = message_id(message.message_id)
        if message.client_ref is not None:
            etree.SubElement(element, "clientMessageReference").text = xml_text(message.client_ref)
    return root


def _batch_xml(parent: etree._Element, batch: BatchStatus) -> None:
    element = etree.SubElement(parent, "messageBatch")
    for name, value in _batch_json(batch).items():
        etree.SubElement(element, name).text = xml_text(str(value))


def _json(body: dict[str, Any], cached: bool = False) -> Response:
    return Response(json.dumps(body), 200, mimetype="application/json",
                    headers={"Cache-Control": _CACHE} if cached else None)


def _xml(request: Request, root: etree._Element, cached: bool = False) -> Response:
    mimetype = request.accept_mimetypes.best_match(_OFFERS[:2], default=_OFFERS[0])
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return Response(body, 200, mimetype=mimetype, headers={"Cache-Control": _CACHE} if cached else None)


def _problem(request: Request, problem: _Problem) -> Response:
    """RFC 7807 problem details, in JSON or in the RFC's XML form."""
    fields = {"type": "about:blank", "title": problem.title, "status": problem.status, "detail": problem.detail}
    headers = {"WWW-Authenticate": 'Basic realm="smsgw", charset="UTF-8"'} if problem.status == 401 else None
    if _json_wanted(request):
        return Response(json.dumps(fields), problem.status, mimetype="application/problem+json", headers=headers)
    root = etree.Element(f"{{{_PROBLEM_NS}}}problem", nsmap={None: _PROBLEM_NS})  # type: ignore[dict-item]
    for name, value in fields.items():
        etree.SubElement(root, f"{{{_PROBLEM_NS}}}{name}").text = xml_text(str(value))
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, problem.status, mimetype="application/problem+xml", headers=headers)
