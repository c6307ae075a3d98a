"""The native API's contract files, generated from its spyne service and committed under `wsdl/native/`.

The WSDL is what clients download (and what the Java and .NET proxies are generated from); the XSD is its schema
alone, which requests are validated against. Both are written from the code, so a change to an operation or a type
changes them: regenerate and commit them with it —

    .venv/bin/python -m smsgw.dialects.native.contract

(a test fails while the committed files differ from what the code generates).

spyne's WSDL is then made conventional, so that the proxies wsimport, wsdl.exe and svcutil generate from it are
clean: `parameters` parts (document/literal wrapped), a name each for service, port and binding, `<Type>Fault` fault
messages, and no unused namespace declarations or `parameterOrder`. The server does not depend on any of these
names: it dispatches by the body's root element.
"""

from __future__ import annotations

import copy
from pathlib import Path

from lxml import etree
from spyne.interface.wsdl import Wsdl11

from ...soap.contract import WSDL_DIR
from .soap import APPLICATION, PATH, SCHEMA, WSDL
from .types import NS

ADDRESS = f"http://localhost:8080{PATH}"  # the served WSDL names the host the client asked instead
COMMAND = ".venv/bin/python -m smsgw.dialects.native.contract"
XS = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SERVICE = "SmsGatewayService"
PORT = "SmsGatewayPort"
BINDING = "SmsGatewayBinding"  # the portType keeps spyne's name, the application's: SmsGateway
FAULT_SUFFIX = "Fault"
_XSD = f"{{{XS}}}schema"
_DOCUMENTATION = f"{{{WSDL_NS}}}documentation"
# Attributes whose value is a QName: the prefix in it is a use that lxml cannot see.
_QNAME_ATTRIBUTES = frozenset({"type", "base", "element", "ref", "message", "binding", "itemType"})


def generate() -> dict[str, bytes]:
    """The contract files by their paths under `wsdl/`."""
    wsdl = Wsdl11(APPLICATION.interface)
    wsdl.build_interface_document(ADDRESS)
    definitions = etree.fromstring(wsdl.get_interface_document())
    for documentation in definitions.iter(_DOCUMENTATION):  # an operation's docstring, without its indentation
        documentation.text = " ".join((documentation.text or "").split())
    _name_parts_parameters(definitions)
    _name_service_port_and_binding(definitions)
    _name_fault_messages(definitions)
    _drop_parameter_order(definitions)
    _drop_unused_namespaces(definitions)
    (schema,) = definitions.iter(_XSD)  # one namespace, one schema: it stands alone as the XSD
    return {WSDL: _document(definitions), SCHEMA: _document(_standalone(schema))}


def write(directory: Path = WSDL_DIR) -> list[Path]:
    written = []
    for name, content in generate().items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


def _name_parts_parameters(definitions: etree._Element) -> None:
    """Each input and output message's one part is `parameters`, the document/literal wrapped convention: .NET's
    generators (wsdl.exe, Mono's wsdl, svcutil) unwrap an operation into typed arguments only then, and spyne names
    the part after its element."""
    for message in _messages(definitions, "input", "output"):
        (part,) = message.iterfind(_wsdl("part"))
        part.set("name", "parameters")


def _name_service_port_and_binding(definitions: etree._Element) -> None:
    """Service, port and binding get names of their own: spyne calls all four (with the portType) the application's
    name, and wsimport then names the service class `SmsGateway_Service` to keep it apart from the port's."""
    (service,) = definitions.iterfind(_wsdl("service"))
    (port,) = service.iterfind(_wsdl("port"))
    (binding,) = definitions.iterfind(_wsdl("binding"))
    service.set("name", SERVICE)
    port.set("name", PORT)
    port.set("binding", f"tns:{BINDING}")
    binding.set("name", BINDING)


def _name_fault_messages(definitions: etree._Element) -> None:
    """A fault's message is `<Type>Fault`: spyne names it as its detail element, and wsimport, which names the
    exception after the message, then adds `_Exception` to keep it apart from the detail's class. The faults keep
    their names (the binding's refer to them)."""
    for message in _messages(definitions, "fault"):
        old = message.get("name")
        message.set("name", f"{old}{FAULT_SUFFIX}")
        for fault in definitions.iterfind(f"{_wsdl('portType')}/{_wsdl('operation')}/{_wsdl('fault')}"):
            if fault.get("message") == f"tns:{old}":
                fault.set("message", f"tns:{old}{FAULT_SUFFIX}")


def _drop_parameter_order(definitions: etree._Element) -> None:
    """No `parameterOrder`: WSDL 1.1 gives it for RPC-style operations only, and ours are document/literal."""
    for operation in definitions.iterfind(f"{_wsdl('portType')}/{_wsdl('operation')}"):
        if "parameterOrder" in operation.attrib:
            del operation.attrib["parameterOrder"]


def _drop_unused_namespaces(definitions: etree._Element) -> None:
    """Only the namespaces the WSDL uses are declared: spyne declares a dozen on the root (plink, wsa, xop, SOAP 1.2,
    …), which make readers and tools look for what is not there. A prefix used only inside a QName-valued attribute
    (`type="xs:string"`, `message="tns:…"`) is a use lxml cannot see, so those are kept by name."""
    qnames = (element.get(name) for element in definitions.iter() for name in _QNAME_ATTRIBUTES)
    used = {qname.split(":", 1)[0] for qname in qnames if qname and ":" in qname}
    etree.cleanup_namespaces(definitions, keep_ns_prefixes=sorted(used))


def _messages(definitions: etree._Element, *uses: str) -> list[etree._Element]:
    """The messages the portType's operations use as one of `uses` (input, output, fault), in document order."""
    names = {reference.get("message", "").removeprefix("tns:") for use in uses
             for reference in definitions.iterfind(f"{_wsdl('portType')}/{_wsdl('operation')}/{_wsdl(use)}")}
    return [message for message in definitions.iterfind(_wsdl("message")) if message.get("name") in names]


def _wsdl(name: str) -> str:
    return f"{{{WSDL_NS}}}{name}"


def _standalone(schema: etree._Element) -> etree._Element:
    """The schema out of the WSDL, declaring the prefixes its type references use (the WSDL's root declared them)."""
    root = etree.Element(schema.tag, nsmap={"xs": XS, "tns": NS})
    root.attrib.update(schema.attrib)
    root.extend(copy.deepcopy(child) for child in schema)
    return root


def _document(root: etree._Element) -> bytes:
    """Indented, so that a change to the contract reads as a diff."""
    etree.indent(root, space="  ")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8")) + b"\n"


if __name__ == "__main__":
    for path in write():
        print(path)
