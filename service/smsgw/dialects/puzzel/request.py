"""A Puzzel MT request in core terms, and the core's outcomes back as Puzzel message statuses.

JSON, XML, web forms and GET queries are all first read into one tree of dicts, lists and scalars (JSON as it is;
XML and forms with every leaf a string; a repeated element or key becomes a list), so one reader serves the REST,
GET and SOAP faces. The reader is lenient where real clients differ (§8 of the reference): explicit nulls and empty
strings are absent, numbers and booleans may be strings or typed, `parameter` may be a key/value list or a map,
`originatorType` any case, unknown fields are ignored. Everything it cannot read is a SYNTAX_ERROR naming the
parameter; a bad message does not sink the others.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lxml import etree

from ...domain.encoding import ParsingType
from ...domain.errors import MessageError, RateLimited, RequestError
from ...domain.model import (
    MAX_MESSAGES_PER_REQUEST,
    IdempotencyKey,
    IdempotencyMode,
    MessageSpec,
    Outcome,
    Priority,
    ReportMask,
    Status,
    SubmitRequest,
)
from ...domain.numbers import NumberFormat
from ...domain.validity import parse_window, puzzel_validity
from ...services import Services
from ..http import flag, retry_after
from .codes import (
    ENQUEUED,
    INTERNAL,
    REQUEST_NS,
    RESPONSE_NS,
    MessageStatus,
    PuzzelError,
    StatusCode,
    held,
    message_id,
    originator_type,
    xml_text,
)

log = logging.getLogger(__name__)

_MAX_ID = 2**63 - 1
_XSD_INT_MAX = 2**31 - 1
_PRIORITY = {1: Priority.LOW, 2: Priority.NORMAL, 3: Priority.HIGH}
_AGES = (0, 16, 18)
_PARAMETER_ALIASES = {"business_model": "businessModel", "parsing_type": "parsing-type"}  # py2 client, typo
_STREX = ("strex_verification_timeout", "strex_merchant_sell_option", "strex_confirm_channel",
          "strex_authorization_token")
_WHOLE_NUMBER = re.compile(r"[+-]?\d{1,19}")
_HEX_OCTET = re.compile(r"[0-9A-Fa-f]{1,2}")
# Whether an element or any below it has xsi:nil (an XPath object evaluates under its own lock: threads may share it).
_HAS_NIL = etree.XPath("boolean(.//@xsi:nil)", namespaces={"xsi": "http://www.w3.org/2001/XMLSchema-instance"})
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_REQUEST_PREFIX = f"{{{REQUEST_NS}}}"
_ABSENT = object()
# What `_escaped` changes: what XML 1.0 cannot carry (codes.xml_text), CR, and &, < and > (\x26, \x3c, \x3e).
_NOT_PLAIN = re.compile("[^\t\n\x20-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Unreadable(Exception):
    """The request holds nothing to answer message by message (no message, or a body that cannot be read)."""

    def __init__(self, parameter: str, detail: str, http_status: int = 400) -> None:
        super().__init__(detail)
        self.error = PuzzelError.syntax(parameter, detail)
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class Header:
    service_id: int
    username: str
    password: str
    batch_ref: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    """A message the reader could not turn into a MessageSpec, with what of it could be echoed."""

    error: PuzzelError
    recipient: str | None
    client_ref: str | None


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    header: Header | PuzzelError  # an error here answers every message
    messages: Sequence[Any]  # the `message` nodes, read into MessageSpecs once the account is known


@dataclass(frozen=True, slots=True)
class Reply:
    batch_ref: str
    statuses: Sequence[MessageStatus]
    http_status: int = 200  # 429 when the whole request is over the service's rate
    headers: Mapping[str, str] = field(default_factory=dict)  # Retry-After with a 429


def unreadable_reply(error: Unreadable) -> Reply:
    """The answer to a request with no message to answer for: one status, sequenceIndex 1."""
    return Reply(str(uuid.uuid4()), [MessageStatus(1, error.error.status, error.error.text, None)])


# --- reading the tree ---------------------------------------------------------------------------------------------


def parse(tree: Mapping[str, Any]) -> ParsedRequest:
    """The request's credentials and batch reference, and its messages (still to be read: see `_message`)."""
    nodes = _many(tree, "message")
    if not nodes:
        raise Unreadable("message", "the request holds no message")
    try:
        service_id = _int(tree, "serviceId")
        if service_id is None:
            raise PuzzelError.syntax("serviceId", "missing")
        if not 0 < service_id <= _MAX_ID:
            raise PuzzelError.syntax("serviceId", f"not a service id: {service_id}")
        header: Header | PuzzelError = Header(
            service_id, _required(tree, "username"), _required(tree, "password"), _text(tree, "batchReference"))
    except PuzzelError as error:
        header = error
    return ParsedRequest(header, nodes)


def _message(node: Any, unique_for: timedelta | None) -> MessageSpec | Refused:
    """One message node as a MessageSpec; its clientReference unique for `unique_for` (Puzzel's check, status 25)."""
    if not isinstance(node, Mapping):
        return Refused(PuzzelError.syntax("message", "must hold recipient and content"), None, None)
    recipient = client_ref = None
    try:
        recipient = _text(node, "recipient")
        client_ref = _text(node, "clientReference")
        key = None if unique_for is None or client_ref is None else IdempotencyKey(
            client_ref, IdempotencyMode.REJECT, unique_for)
        return _spec(node, recipient, client_ref, key)
    except PuzzelError as error:
        return Refused(error, recipient, client_ref)
    except MessageError as error:  # the domain's readers of validity codes and send windows
        return Refused(PuzzelError.from_core(error), recipient, client_ref)


def _spec(node: Mapping[str, Any], recipient: str | None, client_ref: str | None,
          key: IdempotencyKey | None) -> MessageSpec:
    if recipient is None:
        raise PuzzelError.syntax("recipient", "missing")
    content = _text(node, "content")
    if content is None:
        raise PuzzelError.syntax("content", "missing")
    price = _int(node, "price")
    if price is not None and abs(price) > _XSD_INT_MAX:
        raise PuzzelError.syntax("price", f"must be an xsd:int, got {price}")
    settings = _section(node, "settings", "settings")
    if settings is None:  # most messages: what the settings below come to when there are none
        return MessageSpec(recipient, text=content, price=price, client_ref=client_ref, idempotency=key, extras={})
    fields: dict[str, Any] = {"recipient": recipient, "client_ref": client_ref, "idempotency": key, "price": price}
    extras: dict[str, str] = {}
    fields.update(_settings(settings, extras))
    params = _parameters(settings.get("parameter"))
    fields.update(_parameter_fields(params, extras))
    fields["parsing_type"] = _parsing_type(settings, params)

    udh, dcs = params.get("udh"), params.get("dcs")
    if udh is not None or dcs is not None:
        # A binary message: content is its user data in hex, sent with the caller's DCS (else 8-bit data) and UDH.
        fields["payload"] = _hex(content, "content")
        fields["udh"] = None if udh is None else _hex(udh, "settings.parameter udh")
        fields["dcs"] = None if dcs is None else _octet(dcs)
    else:
        fields["text"] = content
    return MessageSpec(**fields, extras=extras)


def _settings(settings: Mapping[str, Any], extras: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    priority = _int(settings, "priority", "settings.priority")
    if priority is not None:
        if priority not in _PRIORITY:
            raise PuzzelError.syntax("settings.priority", f"must be 1 (low), 2 (medium) or 3 (high), got {priority}")
        fields["priority"] = _PRIORITY[priority]
    validity = _int(settings, "validity", "settings.validity")
    if validity is not None:
        fields["validity"] = puzzel_validity(validity)
    for key in ("differentiator", "invoiceNode"):
        value = _text(settings, key, f"settings.{key}")
        if value is not None:
            extras[key] = value
    age = _int(settings, "age", "settings.age")
    if age is not None:
        if age not in _AGES:
            raise PuzzelError.syntax("settings.age", f"must be 0, 16 or 18, got {age}")
        extras["age"] = str(age)
    if _bool(settings, "newSession", "settings.newSession"):
        raise PuzzelError(StatusCode.ILLEGAL_ACTION, "settings.newSession", "sessions are not supported")
    if _text(settings, "sessionId", "settings.sessionId") is not None:
        raise PuzzelError(StatusCode.ILLEGAL_ACTION, "settings.sessionId", "sessions are not supported")

    originator = _section(settings, "originatorSettings", "settings.originatorSettings")
    if originator is not None:
        fields["originator"] = _required(originator, "originator", "settings.originatorSettings.originator")
        kind = _text(originator, "originatorType", "settings.originatorSettings.originatorType")
        fields["originator_type"] = None if kind is None else originator_type(kind)  # None: the core infers it
    gas = _section(settings, "gasSettings", "settings.gasSettings")
    if gas is not None:
        extras["gasServiceCode"] = _required(gas, "serviceCode", "settings.gasSettings.serviceCode")
        description = _text(gas, "description", "settings.gasSettings.description")
        if description is not None:
            extras["gasDescription"] = description
    window = _section(settings, "sendWindow", "settings.sendWindow")
    if window is not None:
        fields["send_window"] = parse_window(
            _required(window, "startDate", "settings.sendWindow.startDate"),
            _text(window, "stopDate", "settings.sendWindow.stopDate"),
            _text(window, "startTime", "settings.sendWindow.startTime"),
            _text(window, "stopTime", "settings.sendWindow.stopTime"),
        )
    return fields


def _parameters(raw: Any) -> dict[str, str]:
    """`settings.parameter` as key → value text: a list of {key, value} (documented; one such object from a lone
    XML element), or a map {"pid": "68"} (the Go clients). Values may be numbers or booleans (the Python client)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    pairs: list[tuple[str, Any]] = []
    if isinstance(raw, Mapping) and not {"key", "value"} & raw.keys():
        pairs.extend(raw.items())
    else:
        for item in raw if isinstance(raw, list) else [raw]:
            if not isinstance(item, Mapping):
                raise PuzzelError.syntax("settings.parameter", "each parameter needs a key and a value")
            key = _text(item, "key", "settings.parameter key")
            if key is None:
                raise PuzzelError.syntax("settings.parameter", "a parameter has no key")
            pairs.append((key, item.get("value")))
    params: dict[str, str] = {}
    for raw_key, raw_value in pairs:
        key = _PARAMETER_ALIASES.get(raw_key, raw_key)
        value = _scalar(raw_value, f"settings.parameter {raw_key}")
        if value is None:
            continue
        if params.get(key, value) != value:
            raise PuzzelError.syntax(f"settings.parameter {key}", "given twice with different values")
        params[key] = value
    return params


def _parameter_fields(params: Mapping[str, str], extras: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if (pid := params.get("pid")) is not None:
        fields["pid"] = _whole_number(pid, "settings.parameter pid")
    if (flash := params.get("flash")) is not None:
        fields["flash"] = flash.strip().lower() == "true"  # Puzzel: "True (case-insensitive); all other values false"
    if (skip := params.get("skip_customer_report_delivery")) is not None:
        try:
            if flag(skip):
                fields["reports"] = ReportMask.NONE
        except ValueError:
            raise PuzzelError.syntax("settings.parameter skip_customer_report_delivery",
                                     f"must be true or false, got {skip!r}") from None
    for key in ("businessModel", *_STREX):
        if key in params:
            extras[key] = params[key]
    return fields


def _parsing_type(settings: Mapping[str, Any], params: Mapping[str, str]) -> ParsingType | None:
    """What to do with non-GSM characters: the `parsing-type` parameter or the settings' booleans (false means "not
    asked", so clients that always send false keep the account's default). Two that disagree are refused."""
    wanted: dict[str, ParsingType] = {}
    if _bool(settings, "autoDetectEncoding", "settings.autoDetectEncoding"):
        wanted["settings.autoDetectEncoding"] = ParsingType.AUTO_DETECT
    if _bool(settings, "safeRemoveNonGsmCharacters", "settings.safeRemoveNonGsmCharacters"):
        wanted["settings.safeRemoveNonGsmCharacters"] = ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE
    if (raw := params.get("parsing-type")) is not None:
        try:
            wanted["settings.parameter parsing-type"] = ParsingType(raw.strip().upper())
        except ValueError:
            raise PuzzelError.syntax("settings.parameter parsing-type",
                                     f"must be one of {', '.join(ParsingType)}, got {raw!r}") from None
    if len(set(wanted.values())) > 1:
        raise PuzzelError.syntax(" and ".join(wanted), "ask for different parsing types")
    return next(iter(wanted.values()), None)


# --- scalar readers: JSON gives typed values, XML and forms strings -----------------------------------------------


def _value(node: Mapping[str, Any], key: str, name: str) -> Any:
    value = node.get(key)
    if isinstance(value, list):
        raise PuzzelError.syntax(name, "given more than once")
    return value


def _scalar(value: Any, name: str) -> str | None:
    """A single value as text; None and "" are absent. Booleans read as Java writes them."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise PuzzelError.syntax(name, "must be a single value")


def _text(node: Mapping[str, Any], key: str, name: str | None = None) -> str | None:
    value = node.get(key)
    if value is None:
        return None
    if isinstance(value, str):  # XML's and the forms' leaves (and JSON's strings): as _scalar reads them
        return value or None
    return _scalar(_value(node, key, name or key), name or key)


def _required(node: Mapping[str, Any], key: str, name: str | None = None) -> str:
    value = _text(node, key, name)
    if value is None:
        raise PuzzelError.syntax(name or key, "missing")
    return value


def _int(node: Mapping[str, Any], key: str, name: str | None = None) -> int | None:
    if node.get(key) is None:
        return None
    name = name or key
    value = _value(node, key, name)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return _whole_number(value, name)
    raise PuzzelError.syntax(name, f"must be a whole number, got {value!r}")


def _whole_number(text: str, name: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(text.strip()):
        raise PuzzelError.syntax(name, f"must be a whole number, got {text!r}")
    return int(text)


def _bool(node: Mapping[str, Any], key: str, name: str) -> bool:
    if node.get(key) is None:
        return False
    value = _value(node, key, name)
    if value is None or isinstance(value, bool):
        return bool(value)
    try:
        return bool(flag(_scalar(value, name)))
    except ValueError:
        raise PuzzelError.syntax(name, f"must be true or false, got {value!r}") from None


def _section(node: Mapping[str, Any], key: str, name: str) -> Mapping[str, Any] | None:
    """A nested object; an empty one (all nulls, or an empty XML element) is absent."""
    if node.get(key) is None:
        return None
    value = _value(node, key, name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, Mapping):
        raise PuzzelError.syntax(name, "must be an object")
    return value if any(v is not None for v in value.values()) else None


def _hex(text: str, name: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise PuzzelError.syntax(name, "must be hex octets, two digits each (a binary message)") from None


def _octet(text: str) -> int:
    if not _HEX_OCTET.fullmatch(text.strip()):
        raise PuzzelError.syntax("settings.parameter dcs", f"must be one octet as 2 hex digits, got {text!r}")
    return int(text, 16)


# --- XML into the tree --------------------------------------------------------------------------------------------


def tree_from_xml(element: etree._Element) -> dict[str, Any]:
    """The children of a `request` element (or of one of its parts) as the tree `parse` reads. Children are
    unqualified in Puzzel's schema; children in the Request namespace are read too, others are ignored. An element
    with xsi:nil true is None (asked of each element only when the request has an xsi:nil at all: a 1,000-message
    request has 3,000 elements)."""
    return _tree(element, bool(_HAS_NIL(element)))


def _tree(element: etree._Element, nils: bool) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for child in element:
        name = child.tag
        if not isinstance(name, str):  # a comment, processing instruction or entity
            continue
        if name[0] == "{":
            if not name.startswith(_REQUEST_PREFIX):
                continue
            name = name[len(_REQUEST_PREFIX):]
        if nils and child.get(_XSI_NIL) in ("true", "1"):
            value: Any = None
        elif len(child):
            value = _tree(child, nils)
        else:
            value = child.text or ""
        earlier = tree.get(name, _ABSENT)
        if earlier is _ABSENT:
            tree[name] = value
        elif isinstance(earlier, list):
            earlier.append(value)
        else:
            tree[name] = [earlier, value]
    return tree


def _many(node: Mapping[str, Any], key: str) -> list[Any]:
    value = node.get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- submitting and answering -------------------------------------------------------------------------------------


def send(services: Services, environ: Mapping[str, Any], parsed: ParsedRequest, face: str) -> Reply:
    """Authenticate, submit every readable message in one call, and answer every message in request order."""
    client = environ.get("REMOTE_ADDR", "?")
    header = parsed.header
    if isinstance(header, PuzzelError):
        log.info("puzzel %s: request from %s refused: %s", face, client, header.text)
        return _everyone(parsed, header, str(uuid.uuid4()))
    batch_ref = header.batch_ref or str(uuid.uuid4())
    try:
        account = services.auth.from_request(environ, header.password, name=header.username,
                                             account_id=header.service_id)
    except RequestError as error:
        log.info("puzzel %s: service %d user %r from %s refused: %s (%s)", face, header.service_id,
                 header.username, client, error.code.value, error.detail)
        return _everyone(parsed, PuzzelError.from_core(error), batch_ref)
    if len(parsed.messages) > MAX_MESSAGES_PER_REQUEST:  # counted before any is refused, so refusals cannot hide it
        too_many = PuzzelError.syntax("message", f"{len(parsed.messages)} messages in one request; at most "
                                                 f"{MAX_MESSAGES_PER_REQUEST:,} allowed")
        log.info("puzzel %s: account %s from %s refused: %s", face, account.name, client, too_many.text)
        return _everyone(parsed, too_many, batch_ref)
    unique_for = timedelta(seconds=account.duplicate_window) if account.duplicate_window > 0 else None
    messages = [_message(node, unique_for) for node in parsed.messages]
    specs = [m for m in messages if isinstance(m, MessageSpec)]
    outcomes: Sequence[Outcome] = ()
    if specs:
        try:
            result = services.gateway.submit(account, SubmitRequest(
                specs, batch_ref=batch_ref, number_format=NumberFormat.INTERNATIONAL, face=face))
        except RequestError as error:
            log.info("puzzel %s: account %s from %s refused: %s", face, account.name, client, error.detail)
            reply = _everyone(parsed, PuzzelError.from_core(error), batch_ref)
            if isinstance(error, RateLimited):  # nothing was stored: HTTP says so, and when to send again
                return Reply(reply.batch_ref, reply.statuses, 429, retry_after(error))
            return reply
        except Exception:
            log.exception("puzzel %s: account %s: submit failed", face, account.name)
            return _everyone(parsed, PuzzelError(StatusCode.INTERNAL_ERROR, "", INTERNAL), batch_ref)
        outcomes = result.outcomes
    statuses: list[MessageStatus] = []
    submitted = iter(outcomes)
    for index, message in enumerate(messages, 1):
        refusal: PuzzelError
        if isinstance(message, Refused):
            refusal, recipient, client_ref = message.error, message.recipient, message.client_ref
        else:
            outcome = next(submitted)
            if outcome.error is None:
                shown_id = None if outcome.message_id is None else message_id(outcome.message_id)
                if outcome.status is Status.HELD:
                    # Accepted and stored, waiting for an operator: its messageId like an enqueued one, but
                    # QUOTA_EXCEEDED (Puzzel's spam filter).
                    statuses.append(MessageStatus(index, StatusCode.QUOTA_EXCEEDED,
                                                  held(account.recipient_quota, account.recipient_window),
                                                  outcome.recipient, message.client_ref, shown_id))
                else:
                    statuses.append(MessageStatus(index, StatusCode.MESSAGE_DELIVERED_OK, ENQUEUED,
                                                  outcome.recipient, message.client_ref, shown_id))
                continue
            refusal, recipient, client_ref = PuzzelError.from_core(outcome.error), outcome.recipient, message.client_ref
        log.info("puzzel %s: account %s from %s: message %d refused (%d): %s", face, account.name, client, index,
                 refusal.status, refusal.text)
        statuses.append(MessageStatus(index, refusal.status, refusal.text, recipient, client_ref))
    return Reply(batch_ref, statuses)


def response_xml(reply: Reply) -> str:
    """The Response schema's `response` as XML text (REST's XML body, SOAP's inside sendMessagesResponse):
    unqualified children in its order; clientReference is required (empty when the message had none), messageId
    and sessionId optional. Written from text, byte for byte as lxml would write the elements: a request of 1,000
    messages is answered with 7,000 of them."""
    parts = [f'<ns2:response xmlns:ns2="{RESPONSE_NS}"><batchReference>{_escaped(reply.batch_ref)}</batchReference>']
    texts: dict[str, str] = {}  # statusMessage is mostly one of a few
    for s in reply.statuses:
        text = texts.get(s.text)
        if text is None:
            text = texts[s.text] = _escaped(s.text)
        reference = ("<clientReference/>" if s.client_reference is None else
                     f"<clientReference>{_escaped(s.client_reference)}</clientReference>")
        recipient = "<recipient/>" if s.recipient is None else f"<recipient>{_escaped(s.recipient)}</recipient>"
        shown_id = "" if s.message_id is None else f"<messageId>{s.message_id}</messageId>"
        parts.append(f"<messageStatus><statusCode>{int(s.status)}</statusCode><statusMessage>{text}</statusMessage>"
                     f"{reference}{recipient}{shown_id}<sequenceIndex>{s.sequence_index}</sequenceIndex>"
                     f"</messageStatus>")
    parts.append("</ns2:response>")
    return "".join(parts)


def _escaped(text: str) -> str:
    """Echoed text as XML character data, as lxml writes it: `xml_text`'s replacements, then &, <, > and CR (which
    a parser would read as a line feed) as character references."""
    if _NOT_PLAIN.search(text) is None:
        return text
    return (str(xml_text(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def _everyone(parsed: ParsedRequest, error: PuzzelError, batch_ref: str) -> Reply:
    """Every message answered with the same refusal (bad credentials, a bad request-level field)."""
    return Reply(batch_ref, [MessageStatus(index, error.status, error.text, *_echo(node))
                             for index, node in enumerate(parsed.messages, 1)])


def _echo(node: Any) -> tuple[str | None, str | None]:
    """A message's recipient and clientReference as given, where they can be read."""
    if not isinstance(node, Mapping):
        return None, None
    shown = []
    for key in ("recipient", "clientReference"):
        try:
            shown.append(_text(node, key))
        except PuzzelError:
            shown.append(None)
    return shown[0], shown[1]
