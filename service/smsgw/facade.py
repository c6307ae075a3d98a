"""The HTTP GET/POST facade: every plain-HTTP dialect's routes, mounted into the WSGI app by `app.py`."""

from __future__ import annotations

from werkzeug.routing import Rule

from .dialects.http import Face
from .dialects.modica import Modica
from .dialects.o2.getpost import GetPost as O2GetPost
from .dialects.openmarket import OpenMarket
from .dialects.puzzel.mgmt import PuzzelManagement
from .dialects.puzzel.rest import PuzzelRest
from .dialects.rapporto import Rapporto
from .services import Services


def faces(services: Services) -> list[Face]:
    """Every HTTP dialect, each built around the same services."""
    return [Modica(services), OpenMarket(services), Rapporto(services), O2GetPost(services),
            PuzzelRest(services), PuzzelManagement(services)]


def rules(services: Services) -> list[Rule]:
    return [rule for face in faces(services) for rule in face.rules()]
