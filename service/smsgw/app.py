"""The WSGI application: health, the HTTP facade's dialects and the SOAP faces; metrics and the console mount here."""

from __future__ import annotations

import gc
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from multiprocessing.util import Finalize
from typing import Any

from sqlalchemy import text
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import facade
from .config import Settings
from .services import Services
from .soap import faces as soap_faces

log = logging.getLogger(__name__)

# Everything werkzeug's `bind_to_environ(environ).match()` reads from the environ: the path and method matched, and the
# host, scheme and upgrade headers the binding checks (a Host werkzeug cannot encode is a 400; a WebSocket upgrade
# matches no rule of ours). Its answer is a function of these values alone.
_ROUTE_KEYS = ("PATH_INFO", "REQUEST_METHOD", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT",
               "HTTP_CONNECTION", "HTTP_UPGRADE")
_ROUTES_REMEMBERED = 1024  # distinct keys kept (the Host is the client's to choose); forgotten all at once beyond


class App:
    def __init__(self, services: Services, settings: Settings | None = None) -> None:
        self.services = services
        self.max_request_bytes = (settings or Settings()).max_request_bytes
        self.routes = Map([Rule("/healthz", endpoint=self.health, methods=["GET", "HEAD"]),
                           *facade.rules(services), *soap_faces.rules(services)])
        # werkzeug's answers for rules without arguments, by the environ values it read (`_route`): binding the map
        # and walking its state machine cost more per request than the rest of the routing together.
        self._routed: dict[tuple[Any, ...], Callable[..., Any]] = {}

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
        # Not put into the environ (werkzeug's default): the request and the environ would refer to each other, and
        # every request would be left for the cycle collector instead of freed when answered.
        request = Request(environ, populate_request=False)
        request.max_content_length = self.max_request_bytes
        try:
            endpoint, values = self._route(environ)
            response: Any = endpoint(request, **values)
        except NotFound:
            response = _json({"error": "not found", "path": request.path}, 404)
        except HTTPException as error:  # 405, 413, …: the client's mistake, said plainly
            log.info("%s %s from %s: %s", request.method, request.path, request.remote_addr, error)
            response = Response(f"{error.code} {error.name}: {error.description}\n", status=error.code or 400,
                                mimetype="text/plain", headers=error.get_headers(environ)[1:])
        except Exception:  # ours, never the client's: logged with its traceback, never shown
            log.exception("%s %s: unexpected error", request.method, request.path)
            response = Response("500 Internal Server Error\n", status=500, mimetype="text/plain")
        result: Iterable[bytes] = response(environ, start_response)
        if isinstance(response, Response) and response.is_sequence:
            # A body already in memory (every answer here but a streamed one) goes back as a list: granian sends a
            # list in one piece, anything else a chunk at a time, each a call back into Python. Closed once read,
            # as the server would close it once sent (a buffered response holds nothing to release then).
            close = getattr(result, "close", None)
            try:
                return list(result)
            finally:
                if close is not None:
                    close()
        return result

    def _route(self, environ: dict[str, Any]) -> tuple[Callable[..., Any], Mapping[str, Any]]:
        """The endpoint and its arguments, as werkzeug matches them; a match without arguments is remembered."""
        key = tuple(map(environ.get, _ROUTE_KEYS))
        endpoint = self._routed.get(key)
        if endpoint is not None:
            return endpoint, {}
        endpoint, values = self.routes.bind_to_environ(environ).match()
        if not values:
            if len(self._routed) >= _ROUTES_REMEMBERED:
                self._routed.clear()
            self._routed[key] = endpoint
        return endpoint, values


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
    app = App(services, settings)
    # What start-up built (modules, tables, schemas, the app) lives as long as the process: out of the cycle
    # collector's reach, a full collection walks only what came after (some 100,000 objects fewer, a fifth of the
    # pause).
    gc.collect()
    gc.freeze()
    return app
