"""The HTTP GET/POST facade: every plain-HTTP dialect's routes, mounted into the WSGI app by `app.py`."""

from __future__ import annotations

from werkzeug.routing import Rule

from .dialects.http import Face
from .services import Services


def faces(services: Services) -> list[Face]:
    """Every HTTP dialect, each built around the same services."""
    return []


def rules(services: Services) -> list[Rule]:
    return [rule for face in faces(services) for rule in face.rules()]
