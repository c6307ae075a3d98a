"""The native API's contract files, generated from its spyne service and committed under `wsdl/native/`.

The WSDL is what clients download (and what the Java and .NET proxies are generated from); the XSD is its schema
alone, which requests are validated against. Both are written from the code, so a change to an operation or a type
changes them: regenerate and commit them with it —

    .venv/bin/python -m smsgw.dialects.native.contract

(a test fails while the committed files differ from what the code generates).
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
_XSD = f"{{{XS}}}schema"
_DOCUMENTATION = "{http://schemas.xmlsoap.org/wsdl/}documentation"


def generate() -> dict[str, bytes]:
    """The contract files by their paths under `wsdl/`."""
    wsdl = Wsdl11(APPLICATION.interface)
    wsdl.build_interface_document(ADDRESS)
    definitions = etree.fromstring(wsdl.get_interface_document())
    for documentation in definitions.iter(_DOCUMENTATION):  # an operation's docstring, without its indentation
        documentation.text = " ".join((documentation.text or "").split())
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
