"""Helpers the test modules import by name (conftest modules share one name, so they cannot be imported reliably)."""

from __future__ import annotations

import http.client
import os
from urllib.parse import urlsplit

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip the test when `condition` is false — or fail it, under CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)


def call(live_url: str, target: str, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, str, http.client.HTTPResponse]:
    """One HTTP request on a fresh connection: (status, body as text, the response for its headers)."""
    url = urlsplit(live_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode(), response
    finally:
        conn.close()
