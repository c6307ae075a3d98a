"""Helpers the test modules import by name (conftest modules share one name, so they cannot be imported reliably)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from smsgw.delivery.connectors.simulator import SimulatorConnector
from smsgw.delivery.routes import Router
from smsgw.delivery.worker import Worker
from smsgw.domain.model import Account
from smsgw.services import Services

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


def deliver(services: Services, until: Callable[[], bool]) -> None:
    """Run a delivery worker with the simulator as the SMSC (it delivers every message, and sends the receipts asked
    for: an ENROUTE first when intermediate ones are) until `until()`."""
    worker = Worker(services.store, services.gateway, Router({"sim": SimulatorConnector("sim", delay=0.01)}, []),
                    idle_s=0.02, bind_wait_s=0)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + 20
        while not await asyncio.to_thread(until):
            assert not task.done() and time.monotonic() < deadline, "the worker did not deliver in time"
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(main())


# --- O2's business application, identified by its client certificate --------------------------------------------

O2_BA_ID = "1992125"  # the baID of O2's public examples
CERT_HEADER = "X-Client-Cert-SHA256"  # how the proxy in front of the live server forwards a client certificate


def make_certificate(directory: Path) -> str:
    """A self-signed certificate (PEM), its key beside it."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test", "-days", "2",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert.read_text()


def o2_business_application(services: Services, fingerprint: str) -> Account:
    """O2's business application of the public examples (baID 1992125), named as LinuxBox's demo (`demo`), behind
    a proxy on this host that forwards the client certificate's fingerprint; it may send from the examples'
    originators."""
    return services.accounts.create("demo", "unused", account_id=int(O2_BA_ID), default_country="CZ",
                                    client_certs=(fingerprint,), trusted_proxies=("127.0.0.1/32",),
                                    client_cert_header=CERT_HEADER,
                                    allowed_originators=("+420720002125", "Firma", "Firma.cz"))
