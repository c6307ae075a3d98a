"""Puzzel's REST and HTTP GET MT interface: `/gw/rs/sendMessages`.

POST takes JSON, XML or a web form (by Content-Type); GET takes the same fields as query parameters
(`message[0].recipient`, `message[0].settings.parameter[0].key`, …). The reply is XML unless `Accept` prefers JSON:
HTTP 200 with one messageStatus per message, in request order. A request with no message to answer for (an
unreadable body, no `message`, keys outside Puzzel's notation) gets HTTP 400 — 415 for an unknown Content-Type —
with one SYNTAX_ERROR messageStatus saying why. A request over the service's requests or messages per second gets
HTTP 429 with Retry-After, every message INTERNAL_ERROR (nothing was stored: send it again then).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from lxml import etree
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ...services import Services
from ..http import client_address, params
from .codes import REQUEST_NS
from .request import Reply, Unreadable, parse, response_xml, send, tree_from_xml, unreadable_reply

log = logging.getLogger(__name__)

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_XML_TYPES = ("application/xml", "text/xml")
# What GET and POST answer by default (the first) and what Accept may choose.
_OFFERS = {"GET": ["text/xml", "application/xml", "application/json"],
           "POST": ["application/xml", "text/xml", "application/json"]}
_XML_DECLARATION = b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"  # as lxml writes it
_SEGMENT = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)(?:\[(\d{1,5})\])?")


class PuzzelRest:
    def __init__(self, services: Services) -> None:
        self.services = services

    def rules(self) -> Iterable[Rule]:
        return [Rule("/gw/rs/sendMessages", endpoint=self.send_messages, methods=["GET", "POST"])]

    def send_messages(self, request: Request) -> Response:
        if request.method == "HEAD":  # werkzeug routes HEAD with GET; a HEAD must not send messages
            return Response("405 Method Not Allowed\n", 405, mimetype="text/plain", headers={"Allow": "GET, POST"})
        face = "puzzel-get" if request.method == "GET" else "puzzel-rest"
        try:
            parsed = parse(_tree(request))
        except Unreadable as error:
            log.info("puzzel %s: unreadable request from %s: %s", face, client_address(request), error.error.text)
            return _render(request, unreadable_reply(error), error.http_status)
        return _render(request, send(self.services, request.environ, parsed, face))


# --- reading -------------------------------------------------------------------------------------------------------


def _tree(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        return tree_from_params(request.args)
    mimetype = request.mimetype
    if mimetype in _FORMS:
        return tree_from_params(params(request))
    body = request.get_data(cache=False)
    if mimetype == "application/json" or mimetype.endswith("+json"):
        return _json_tree(body)
    if mimetype in _XML_TYPES or mimetype.endswith("+xml"):
        return _xml_tree(body)
    if not mimetype and not body:  # `curl -X POST 'https://…/sendMessages?serviceId=…'`
        return tree_from_params(request.args)
    raise Unreadable("Content-Type", f"send application/json, application/xml or application/x-www-form-urlencoded, "
                     f"not {mimetype or 'a body without a Content-Type'}", 415)


def _json_tree(body: bytes) -> dict[str, Any]:
    try:
        tree = json.loads(body.decode("utf-8-sig"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise Unreadable("request", "the body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise Unreadable("request", f"not JSON: {error}") from None
    except _DuplicateKey as error:
        raise Unreadable(str(error), "given twice") from None
    except RecursionError:
        raise Unreadable("request", "JSON nested too deeply") from None
    if not isinstance(tree, dict):
        raise Unreadable("request", "the JSON body must be an object")
    return tree


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        raise _DuplicateKey(next(k for k in keys if keys.count(k) > 1))
    return obj


def _xml_tree(body: bytes) -> dict[str, Any]:
    if b"<!DOCTYPE" in body:
        raise Unreadable("request", "a DOCTYPE is not allowed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True,
                             remove_pis=True)  # one per request: lxml parsers must not be shared between threads
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError) as error:
        raise Unreadable("request", f"not well-formed XML: {error}") from None
    if root.getroottree().docinfo.internalDTD is not None:  # a DOCTYPE in UTF-16, say
        raise Unreadable("request", "a DOCTYPE is not allowed")
    name = etree.QName(root)
    if name.localname != "request" or name.namespace not in (None, REQUEST_NS):
        raise Unreadable("request", f"the root element must be request in {REQUEST_NS}, not {root.tag}")
    return tree_from_xml(root)


def tree_from_params(fields: MultiDict[str, str]) -> dict[str, Any]:
    """GET and form keys (`message[0].settings.parameter[1].value`) as the tree `parse` reads. Indices are zero-based
    and must run without gaps; a key repeated becomes a list (which `parse` refuses as given twice)."""
    root: dict[Any, Any] = {}
    for raw_key, values in fields.lists():
        key = raw_key.strip()  # the GET docs' own example has "& message[0].recipient"
        matches = [_SEGMENT.fullmatch(segment) for segment in key.split(".")]
        steps: list[str | int] = []
        for match in matches:
            if match is None:
                if "." in key or "[" in key:
                    raise Unreadable(key, "not a parameter name in Puzzel's notation, like message[0].content")
                break  # not a Puzzel name at all (a cache-buster, say): ignored like any unknown field
            steps.append(match.group(1))
            if match.group(2) is not None:
                steps.append(int(match.group(2)))
        else:
            container = root
            for step, following in itertools.pairwise(steps):
                kind = _Indexed if isinstance(following, int) else dict
                child = container.setdefault(step, kind())
                if type(child) is not kind:
                    raise Unreadable(key, "given both as a value and as an object, or with and without an index")
                container = child
            if steps[-1] in container:
                raise Unreadable(key, "given both as a value and as an object")
            container[steps[-1]] = values[0] if len(values) == 1 else values
    return _lists(root)  # type: ignore[no-any-return]


class _Indexed(dict[int, Any]):
    """`name[n]` entries while the keys are read; a list once every key is in."""


def _lists(node: Any, path: str = "") -> Any:
    if isinstance(node, _Indexed):
        indices = sorted(node)
        if indices != list(range(len(indices))):
            missing = next(i for i, n in enumerate(indices) if i != n)
            raise Unreadable(f"{path}[{missing}]", "missing: indices start at 0 and have no gaps")
        return [_lists(node[i], f"{path}[{i}]") for i in indices]
    if isinstance(node, dict):
        return {k: _lists(v, f"{path}.{k}" if path else k) for k, v in node.items()}
    return node


# --- answering -----------------------------------------------------------------------------------------------------


def _render(request: Request, reply: Reply, status: int | None = None) -> Response:
    offers = _OFFERS["GET" if request.method == "GET" else "POST"]
    mimetype = request.accept_mimetypes.best_match(offers, default=offers[0])
    code, headers = status or reply.http_status, dict(reply.headers)
    if mimetype == "application/json":
        return Response(json.dumps(_json_reply(reply)), code, mimetype=mimetype, headers=headers)
    return Response(_xml_reply(reply), code, mimetype=mimetype, headers=headers)


def _json_reply(reply: Reply) -> dict[str, Any]:
    return {
        "batchReference": reply.batch_ref,
        "messageStatus": [
            {"statusCode": int(s.status), "statusMessage": s.text, "clientReference": s.client_reference,
             "recipient": s.recipient, "messageId": s.message_id, "sessionId": None, "sequenceIndex": s.sequence_index}
            for s in reply.statuses
        ],
    }


def _xml_reply(reply: Reply) -> bytes:
    return _XML_DECLARATION + response_xml(reply).encode()
