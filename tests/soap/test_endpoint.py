"""The SOAP endpoint's own answer to a successful operation: exactly what werkzeug's Response would send."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.wrappers import Response

from smsgw.soap.endpoint import Reply
from smsgw.soap.envelope import SOAP11, SOAP12, Version


def sent(app: Any, method: str) -> tuple[str, list[tuple[str, str]], bytes]:
    started: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(app({"REQUEST_METHOD": method, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                         "wsgi.url_scheme": "http"}, lambda status, headers, exc_info=None: started.append(
                             (status, list(headers)))))
    return started[0][0], started[0][1], body


@pytest.mark.parametrize("version", [SOAP11, SOAP12])
@pytest.mark.parametrize("method", ["POST", "HEAD"])
@pytest.mark.parametrize("body", [b"", b"<x/>", "<æ>ü</æ>".encode() * 1000])
def test_a_reply_is_what_werkzeug_sends(version: Version, method: str, body: bytes) -> None:
    assert sent(Reply(body, version.content_type()), method) == sent(
        Response(body, content_type=version.content_type()), method)
