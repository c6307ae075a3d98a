"""The WSGI app's own work around every face: routing (werkzeug's answers, remembered for rules without arguments),
the request left out of the environ, and buffered answers handed back as lists."""

from __future__ import annotations

import gc
import io
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.exceptions import HTTPException

from smsgw.app import App
from smsgw.services import Services


def environ(path: str, method: str = "GET", query: str = "", body: bytes = b"", **extra: Any) -> dict[str, Any]:
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:8080", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)), **extra}


def werkzeug_says(app: App, env: dict[str, Any]) -> Any:
    """What werkzeug's own binding and matching answer: (endpoint, arguments), or the HTTP error's type and code."""
    try:
        endpoint, values = app.routes.bind_to_environ(env).match()
    except HTTPException as error:
        return type(error), error.code
    return endpoint, dict(values)


def app_says(app: App, env: dict[str, Any]) -> Any:
    try:
        endpoint, values = app._route(env)
    except HTTPException as error:
        return type(error), error.code
    return endpoint, dict(values)


ASKED = [
    ("/healthz", "GET", {}), ("/healthz", "HEAD", {}), ("/healthz", "POST", {}), ("/healthz/", "GET", {}),
    ("//healthz", "GET", {}), ("/message", "GET", {}), ("/message", "POST", {}), ("/message", "DELETE", {}),
    ("/gw/ws/SMSGatewayV10", "POST", {}), ("/gw/ws/SMSGatewayV10", "PUT", {}), ("/nowhere", "GET", {}),
    ("/mgmt/rs/service/1000/batch", "GET", {}), ("/mgmt/rs/service/1000/batch/", "GET", {}),
    ("/mgmt/rs/service/1000/batch/b-1", "DELETE", {}), ("/mgmt/rs/service/0/batch", "GET", {}),
    ("/management/7/batch/a/b", "GET", {}),
    # The binding's own checks: a Host it cannot encode, a WebSocket upgrade, a scheme of its own.
    ("/message", "GET", {"HTTP_HOST": "a" * 64 + ".example"}),
    ("/message", "GET", {"HTTP_CONNECTION": "Upgrade", "HTTP_UPGRADE": "websocket"}),
    ("/message", "GET", {"HTTP_HOST": "other.example:8443", "wsgi.url_scheme": "https"}),
    ("/message", "GET", {"HTTP_HOST": None}),
]


@pytest.mark.parametrize(("path", "method", "extra"), ASKED)
def test_routing_answers_what_werkzeug_answers_every_time(services: Services, path: str, method: str,
                                                           extra: dict[str, Any]) -> None:
    app = App(services)
    env = environ(path, method, **extra)
    if extra.get("HTTP_HOST", "") is None:
        del env["HTTP_HOST"]
    expected = werkzeug_says(app, env)
    assert app_says(app, env) == expected
    assert app_says(app, env) == expected  # remembered (or not) the second time


def test_only_matches_without_arguments_are_remembered(services: Services) -> None:
    app = App(services)
    for path in ("/mgmt/rs/service/1000/batch", "/mgmt/rs/service/1001/batch", "/nowhere", "/healthz/"):
        app_says(app, environ(path))
    assert app._routed == {}
    app_says(app, environ("/healthz"))
    assert list(app._routed.values()) == [app.health]


def test_what_is_remembered_stays_bounded(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("smsgw.app._ROUTES_REMEMBERED", 3)
    app = App(services)
    for port in range(10):
        assert app_says(app, environ("/healthz", HTTP_HOST=f"127.0.0.1:{port}")) == (app.health, {})
        assert len(app._routed) <= 3


def test_a_buffered_answer_goes_back_as_a_list(services: Services) -> None:
    """granian sends a list in one piece, and walks any other iterable chunk by chunk through Python."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    app = App(services)
    result = app(environ("/healthz"), lambda status, headers, exc_info=None: started.append((status, headers)))
    assert type(result) is list and b"".join(result).startswith(b'{"status": "ok"')
    assert started[0][0] == "200 OK"
    missing = app(environ("/nowhere"), lambda status, headers, exc_info=None: started.append((status, headers)))
    assert type(missing) is list and started[1][0] == "404 NOT FOUND"
    head = app(environ("/healthz", "HEAD"), lambda status, headers, exc_info=None: started.append((status, headers)))
    assert head == [] and started[2][0] == "200 OK"


def test_a_request_leaves_nothing_for_the_cycle_collector(services: Services) -> None:
    """The request is not stored in its environ (werkzeug's default would make a cycle of the two), so a request's
    objects are freed when it is answered."""
    services.accounts.create("example_app", "example_pass", default_originator="4433")
    app = App(services)
    query = urlencode({"application": "example_app", "password": "example_pass", "content": "Hello",
                       "destination": "+64211234567", "version": "2"})
    for _ in range(2):  # the first time through: caches, compiled statements, the route remembered
        env = environ("/message", query=query)
        assert b"".join(app(env, lambda status, headers, exc_info=None: None)).isdigit()
    assert "werkzeug.request" not in env
    gc.collect()
    gc.disable()
    try:
        b"".join(app(environ("/message", query=query), lambda status, headers, exc_info=None: None))
        assert gc.collect() == 0
    finally:
        gc.enable()
