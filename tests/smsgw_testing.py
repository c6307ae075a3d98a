"""Helpers the test modules import by name (conftest modules share one name, so they cannot be imported reliably)."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
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


SMSGW = str(Path(sys.executable).with_name("smsgw"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(database_url: str, *args: str, log: Path | None = None) -> Iterator[str]:
    """`smsgw serve` (granian, what production runs, with its worker and outbox) on a free port, one HTTP process,
    `args` added; yields its base URL. Its output goes to `log`, if given."""
    port = free_port()
    command = [SMSGW, "serve", "--listen", f"127.0.0.1:{port}", "--database-url", database_url, "--workers", "1",
               *args]
    with log.open("wb") if log else contextlib.nullcontext(subprocess.DEVNULL) as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    shown = log.read_text(errors="replace")[-2000:] if log else ""
                    pytest.fail(f"smsgw serve did not start: {command}\n{shown}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
