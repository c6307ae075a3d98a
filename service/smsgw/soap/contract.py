"""A SOAP service's contract: the WSDL and schema files it serves, and the schema its requests are checked against.

The files live in `wsdl/` at the top of the project. What a client downloads is the committed file byte for byte,
except the service address, which names the host the client asked (behind a proxy too). The schemas a WSDL imports
by a relative location are served beside it, so a client resolves them as it would at the vendor. Requests are
validated against a separate committed copy that widens the vendor schema only where real clients differ from it
(`wsdl/README.md` lists each widening): spyne and our readers are lenient, only this check makes a request mean what
the schema says.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lxml import etree

from .envelope import Fault

WSDL_DIR = Path(__file__).resolve().parents[3] / "wsdl"
_ADDRESS = re.compile(rb'(<[\w.-]+:address\s+location=")[^"]*(")')
_IMPORTED = re.compile(rb'schemaLocation="([^"/:]+)"')


class Contract:
    def __init__(self, wsdl: str, schema: str, directory: Path = WSDL_DIR) -> None:
        """`wsdl` and `schema` are paths relative to `directory`: what clients download, and what requests are
        checked against."""
        path = directory / wsdl
        self.wsdl_name = path.name
        self.wsdl = path.read_bytes()
        # The files the WSDL imports, and the ones those import, served beside it under their own names.
        self.files: dict[str, bytes] = {}
        pending = [self.wsdl]
        while pending:
            for name in _IMPORTED.findall(pending.pop()):
                if name.decode() not in self.files:
                    self.files[name.decode()] = (path.parent / name.decode()).read_bytes()
                    pending.append(self.files[name.decode()])
        self.schema = etree.XMLSchema(etree.parse(str(directory / schema)))

    def document(self, address: str) -> bytes:
        """The WSDL as served at `address` (the URL the client asked, without its query)."""
        return _ADDRESS.sub(lambda m: m.group(1) + address.encode() + m.group(2), self.wsdl)

    def check(self, element: etree._Element) -> None:
        """Raise a sender fault naming the first element the schema refuses, by its path (zeep sends a whole body
        on one line, so a line number says nothing)."""
        if self.schema.validate(element):
            return
        errors: Any = self.schema.error_log  # the stubs declare none of its members
        first = next(iter(errors), None)
        if first is None:
            raise Fault("the request does not match the service's schema")
        raise Fault(f"schema violation at {_path(first.path)}: {first.message}", subcode="SchemaValidation")


def _path(path: str | None) -> str:
    """lxml's XPath of the failing node, without namespace prefixes a reader cannot resolve."""
    return re.sub(r"[\w.-]+:", "", path or "/")
