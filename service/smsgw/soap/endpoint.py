"""One SOAP service on its URLs: `?wsdl` and the schemas beside it on GET, operations on POST.

A POST is answered in the SOAP version its Content-Type names. Its body is read within the request size limit (413
beyond it), checked as an envelope (see `envelope.payload`), dispatched by the body's root element — not by
SOAPAction, which a client generated from the vendor's unpublished WSDL may set to anything, and which SOAP 1.2
carries in the Content-Type; an unexpected one is logged — and validated against the contract before its handler
runs. Every failure is a SOAP fault with a log line; an error of ours is logged with its traceback and answered with
a Server/Receiver fault that shows none of it.
"""

from __future__ import annotations

import functools
import logging
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from .contract import Contract
from .envelope import SOAP11, Fault, Version, action_of, envelope, fault_envelope, payload, version_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: the request (for its environ: client address, certificate, HTTP Basic), the SOAP version
    it speaks and the validated payload element."""

    request: Request
    version: Version
    payload: etree._Element


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole envelope a handler wrote itself, in the request's version (Puzzel's batch answer, written as text)."""

    body: bytes


Handler = Callable[[Call], "etree._Element | Answer"]


@dataclass(frozen=True, slots=True)
class Operation:
    element: str  # the body root element it answers, as "{namespace}localname"
    handler: Handler
    action: str = ""  # the SOAPAction its WSDL declares


class SoapEndpoint:
    def __init__(self, name: str, paths: Sequence[str], contract: Contract, operations: Iterable[Operation]) -> None:
        self.name = name
        self.paths = paths
        self.contract = contract
        self.operations: Mapping[str, Operation] = {op.element: op for op in operations}

    def rules(self) -> list[Rule]:
        rules = [Rule(path, endpoint=self.serve, methods=["GET", "POST"]) for path in self.paths]
        folders = sorted({posixpath.dirname(path) for path in self.paths})
        rules += [Rule(f"{folder}/{name}", endpoint=functools.partial(self.schema_file, name=name), methods=["GET"])
                  for folder in folders for name in self.contract.files]
        return rules

    def schema_file(self, request: Request, name: str) -> Response:
        return Response(self.contract.files[name], mimetype="text/xml")

    def serve(self, request: Request) -> Response | Reply:
        if request.method != "POST":
            if "wsdl" in (key.lower() for key in request.args):
                return Response(self.contract.document(request.base_url), mimetype="text/xml")
            return Response(f"{self.name}: POST a SOAP request here, or GET {request.path}?wsdl for its contract\n",
                            mimetype="text/plain")
        version = version_of(request.content_type)
        if version is None:
            log.info("%s: %s from %s: not SOAP (Content-Type %r)", self.name, request.path, request.remote_addr,
                     request.content_type)
            return _fault(SOAP11, Fault(f"Content-Type {request.content_type or '(none)'} is not SOAP: send "
                                        "text/xml (SOAP 1.1) or application/soap+xml (SOAP 1.2)", http_status=415))
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            log.info("%s: request from %s over %s bytes refused", self.name, request.remote_addr,
                     request.max_content_length)
            return _fault(version, Fault(f"the request is larger than {request.max_content_length} bytes",
                                         http_status=413))
        try:
            element = payload(body, version)
            operation = self.operations.get(element.tag)
            if operation is None:
                raise Fault(f"{self.name} has no operation {element.tag}", subcode="UnknownOperation")
            action = action_of(version, request.content_type, request.headers.get("SOAPAction"))
            if action and action != operation.action:
                log.info("%s: %s called with SOAPAction %r (the contract says %r); dispatched by its body",
                         self.name, etree.QName(element).localname, action, operation.action)
            self.contract.check(element)
            result = operation.handler(Call(request, version, element))
        except Fault as fault:
            log.info("%s: %s from %s: %s fault: %s", self.name, request.path, request.remote_addr,
                     "client" if fault.sender else "server", fault.reason)
            return _fault(version, fault)
        except Exception:
            log.exception("%s: %s: unexpected error", self.name, request.path)
            return _fault(version, Fault("internal error; the request may be sent again", sender=False))
        if isinstance(result, Answer):
            return Reply(result.body, version.content_type())
        return Reply(envelope(version, result), version.content_type())


class Reply:
    """A 200 answer, sent as werkzeug's `Response(body, content_type=…)` sends it (the same status line, Content-Type
    and Content-Length; no body to a HEAD) without building its header machinery for every request: every operation
    that succeeds answers this way. Faults and other statuses keep werkzeug's Response. The body goes back as a list,
    which granian sends in one piece."""

    __slots__ = ("body", "headers")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]

    def __call__(self, environ: Mapping[str, object], start_response: Callable[..., object]) -> list[bytes]:
        start_response("200 OK", self.headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [self.body]


def _fault(version: Version, fault: Fault) -> Response:
    return Response(fault_envelope(version, fault), status=fault.status(version), content_type=version.content_type(),
                    headers=fault.headers)
