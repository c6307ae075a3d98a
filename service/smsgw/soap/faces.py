"""Every SOAP face's endpoints, mounted into the WSGI app by `app.py` (as `facade.py` mounts the HTTP ones)."""

from __future__ import annotations

from werkzeug.routing import Rule

from ..dialects.native import soap as native_soap
from ..dialects.o2 import soap as o2_soap
from ..dialects.puzzel import soap as puzzel_soap
from ..services import Services
from .endpoint import SoapEndpoint


def endpoints(services: Services) -> list[SoapEndpoint]:
    return [*puzzel_soap.endpoints(services), *o2_soap.endpoints(services),
            *native_soap.endpoints(services)]


def rules(services: Services) -> list[Rule]:
    return [rule for endpoint in endpoints(services) for rule in endpoint.rules()]
