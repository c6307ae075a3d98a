"""Every SOAP face's endpoints, mounted into the WSGI app by `app.py` (as `facade.py` mounts the HTTP ones)."""

from __future__ import annotations

from werkzeug.routing import Rule

from ..services import Services
from .endpoint import SoapEndpoint


def endpoints(services: Services) -> list[SoapEndpoint]:
    return []


def rules(services: Services) -> list[Rule]:
    return [rule for endpoint in endpoints(services) for rule in endpoint.rules()]
