"""The WSGI application: health now; the SOAP and HTTP faces, metrics and the admin console mount here."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from multiprocessing.util import Finalize
from typing import Any

from sqlalchemy import text
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .config import Settings
from .services import Services

log = logging.getLogger(__name__)


class App:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.routes = Map([Rule("/healthz", endpoint="health", methods=["GET", "HEAD"])])

    def health(self, request: Request) -> Response:
        """200 when the database answers; 503 otherwise (load balancers take the node out)."""
        try:
            with self.services.store.read() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            log.exception("health: database unreachable")
            return _json({"status": "unavailable", "database": "unreachable"}, 503)
        return _json({"status": "ok", "database": "ok"}, 200)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, _ = self.routes.bind_to_environ(environ).match()
            response: Any = getattr(self, endpoint)(request)
        except NotFound:
            response = _json({"error": "not found", "path": request.path}, 404)
        except HTTPException as error:
            response = error
        result: Iterable[bytes] = response(environ, start_response)
        return result


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def create_app() -> App:
    """Factory for the HTTP server: each server process opens its own services from the environment."""
    # granian copies the process environment into every request's environ: a client certificate variable there
    # would vouch for every caller.
    for key in [k for k in os.environ if k.startswith("SSL_CLIENT_")]:
        log.warning("ignoring %s from the process environment: it would look like every caller's certificate", key)
        del os.environ[key]
    settings = Settings.from_env()
    services = Services.open(settings.database_url, migrate=False)
    # Give the id node back when the worker stops. Server workers are multiprocessing children, which leave through
    # os._exit: atexit never runs there, multiprocessing's own finalizers do (and at exit in a main process too).
    Finalize(services, services.close, exitpriority=10)
    return App(services)
