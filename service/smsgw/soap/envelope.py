"""SOAP 1.1 and 1.2 envelopes: which version a request speaks, its body's payload read safely, answers and faults.

Both versions are served on every URL (O2 declares 1.2 and its clients send 1.1). The version comes from the
Content-Type (`text/xml` is 1.1, `application/soap+xml` is 1.2, whatever parameters follow) and the envelope must
agree with it. A fault leaves in the request's version: 1.1 with HTTP 500, 1.2 with 400 for the sender's mistakes
and 500 for ours (SOAP 1.2 part 2, §7.5.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
FAULT_NS = "urn:smsgw:soap:fault"  # the namespace of our SOAP 1.2 subcodes
_TRUE = ("1", "true")
OWN_CODES = ("VersionMismatch", "MustUnderstand")  # fault codes of their own in both versions, not subcodes


@dataclass(frozen=True, slots=True)
class Version:
    name: str
    namespace: str
    media_type: str
    sender: str  # the fault code for the client's mistakes
    receiver: str  # and for ours
    sender_status: int  # the HTTP status of a sender fault

    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"

    # Its elements' and attribute's names, as lxml spells them ("{namespace}localname").
    @property
    def envelope(self) -> str:
        return f"{{{self.namespace}}}Envelope"

    @property
    def header(self) -> str:
        return f"{{{self.namespace}}}Header"

    @property
    def body(self) -> str:
        return f"{{{self.namespace}}}Body"

    @property
    def must_understand(self) -> str:
        return f"{{{self.namespace}}}mustUnderstand"


SOAP11 = Version("1.1", SOAP11_NS, "text/xml", "Client", "Server", 500)
SOAP12 = Version("1.2", SOAP12_NS, "application/soap+xml", "Sender", "Receiver", 400)
VERSIONS = (SOAP11, SOAP12)
_BY_MEDIA_TYPE = {v.media_type: v for v in VERSIONS}


def version_of(content_type: str | None) -> Version | None:
    """The version a Content-Type names, or None for anything that is not SOAP."""
    return _BY_MEDIA_TYPE.get((content_type or "").split(";", 1)[0].strip().lower())


def action_of(version: Version, content_type: str | None, soap_action: str | None) -> str:
    """The action a client names: the SOAPAction header in 1.1, the Content-Type's `action` parameter in 1.2."""
    if version is SOAP11:
        return (soap_action or "").strip().strip('"')
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "action":
            return value.strip().strip('"')
    return ""


class Fault(Exception):
    """A SOAP fault. `sender` says whose mistake it is; `subcode` refines the code (`Client.<subcode>` in 1.1, a
    Subcode in 1.2); `detail` is the vendor's typed fault element, if it has one."""

    def __init__(self, reason: str, *, sender: bool = True, subcode: str | None = None,
                 detail: etree._Element | None = None, http_status: int | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sender = sender
        self.subcode = subcode
        self.detail = detail
        self.http_status = http_status
        self.headers = dict(headers or {})  # HTTP's own words beside the fault: Retry-After, WWW-Authenticate

    def status(self, version: Version) -> int:
        """The HTTP status: SOAP 1.2 gives 400 to Sender faults only, 500 to VersionMismatch and MustUnderstand."""
        if self.http_status is not None:
            return self.http_status
        return version.sender_status if self.sender and self.subcode not in OWN_CODES else 500


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)


def payload(body: bytes, version: Version) -> etree._Element:
    """The one element inside the envelope's Body. Refuses what is not a safe, well-formed envelope of `version`:
    a DOCTYPE (entities, external DTDs) before anything else, then malformed XML, another version's envelope, a
    Header entry we are told we must understand, and a Body that does not hold exactly one element."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise Fault("a DOCTYPE or entity declaration is not allowed in a SOAP message")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        raise Fault(f"malformed XML: {error.msg}") from None
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise Fault("a DOCTYPE or entity declaration is not allowed in a SOAP message")
    if root.tag != version.envelope:  # the usual case settled in one comparison
        if not isinstance(root.tag, str) or etree.QName(root).localname != "Envelope":
            raise Fault("the document is not a SOAP Envelope")
        namespace = etree.QName(root).namespace
        other = next((v for v in VERSIONS if v.namespace == namespace), None)
        said = f"a SOAP {other.name} envelope" if other else f"an envelope in namespace {namespace}"
        raise Fault(f"{said} sent as SOAP {version.name} (Content-Type {version.media_type})",
                    subcode="VersionMismatch")
    # The first child of each name, as `find` gives it, without ElementPath's path handling.
    header = next(root.iterchildren(version.header), None)
    if header is not None:
        for entry in header:
            if entry.get(version.must_understand, "").strip() in _TRUE:
                raise Fault(f"header {entry.tag} must be understood, and is not", subcode="MustUnderstand")
    soap_body: etree._Element | None = next(root.iterchildren(version.body), None)
    if soap_body is None:
        raise Fault("the envelope has no Body")
    elements = [child for child in soap_body if isinstance(child.tag, str)]
    if len(elements) != 1:
        raise Fault(f"the Body must hold exactly one element; it holds {len(elements)}")
    return elements[0]


def envelope(version: Version, content: etree._Element) -> bytes:
    """An answer: `content` as the one element of a Body."""
    env = etree.Element(f"{{{version.namespace}}}Envelope", nsmap={"soap": version.namespace})
    etree.SubElement(env, f"{{{version.namespace}}}Body").append(content)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def fault_envelope(version: Version, fault: Fault) -> bytes:
    """`fault` in the version's own shape, with a code the version defines (VersionMismatch and MustUnderstand are
    codes of their own; everything else is the sender's or ours, refined by the subcode)."""
    ns = version.namespace
    env = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    element = etree.SubElement(etree.SubElement(env, f"{{{ns}}}Body"), f"{{{ns}}}Fault")
    own_code = fault.subcode in OWN_CODES
    code = fault.subcode if own_code else (version.sender if fault.sender else version.receiver)
    if version is SOAP11:
        dotted = code if own_code or not fault.subcode else f"{code}.{fault.subcode}"
        etree.SubElement(element, "faultcode").text = f"soap:{dotted}"
        etree.SubElement(element, "faultstring").text = fault.reason
        if fault.detail is not None:
            etree.SubElement(element, "detail").append(fault.detail)
    else:
        code_element = etree.SubElement(element, f"{{{ns}}}Code")
        etree.SubElement(code_element, f"{{{ns}}}Value").text = f"soap:{code}"
        if fault.subcode and not own_code:
            sub = etree.SubElement(code_element, f"{{{ns}}}Subcode")
            value = etree.SubElement(sub, f"{{{ns}}}Value", nsmap={"f": FAULT_NS})
            value.text = f"f:{fault.subcode}"
        reason = etree.SubElement(element, f"{{{ns}}}Reason")
        text = etree.SubElement(reason, f"{{{ns}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = fault.reason
        if fault.detail is not None:
            etree.SubElement(element, f"{{{ns}}}Detail").append(fault.detail)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))
