"""The outbox's HTTP client against servers on 127.0.0.1 that answer byte for byte as each test scripts: keep-alive
reuse, servers that close (with and without saying so, before answering), chunked and HTTP/1.0 answers, timeouts,
refused connections, TLS, oversize bodies; on asyncio's loop and on uvloop's (the one `smsgw outbox` runs on)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from smsgw_testing import require

from smsgw.reports.http_client import HttpClient

T = TypeVar("T")
HANG = b"<hang>"  # answer nothing; wait until the client goes
DROP = b"<drop>"  # close the connection without answering


@dataclass(frozen=True)
class Seen:
    connection: int  # 1, 2, ... in the order the server accepted them
    number: int  # 1, 2, ... on that connection
    head: str  # request line and headers
    body: bytes

    def header(self, name: str) -> str | None:
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def ok(body: bytes = b"OK", *extra: str) -> bytes:
    headers = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


class Server:
    """Accepts connections on 127.0.0.1 and answers each request with `script(seen)`: the bytes to send (then the
    connection stays open unless the bytes say `Connection: close` or are an HTTP/1.0 answer), HANG or DROP."""

    def __init__(self, script: Callable[[Seen], bytes], tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self.closed_by_client = threading.Event()
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/cb", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._connections += 1
            threading.Thread(target=self._serve, args=(conn, self._connections), daemon=True).start()

    def _serve(self, raw: socket.socket, number: int) -> None:
        with contextlib.suppress(OSError), contextlib.ExitStack() as stack:  # OSError: a refused handshake, say
            conn = stack.enter_context(self._tls.wrap_socket(raw, server_side=True) if self._tls else raw)
            buffer, requests = b"", 0
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                text = head.decode("latin-1")
                length = next((int(line.split(":")[1]) for line in text.split("\r\n")
                               if line.lower().startswith("content-length:")), 0)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                requests += 1
                seen = Seen(number, requests, text, body)
                self.seen.append(seen)
                answer = self.script(seen)
                if answer == DROP:
                    return
                if answer == HANG:
                    while conn.recv(65536):
                        pass
                    self.closed_by_client.set()
                    return
                conn.sendall(answer)
                if answer.startswith(b"HTTP/1.0") or b"Connection: close" in answer:
                    return


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(script: Callable[[Seen], bytes], tls: ssl.SSLContext | None = None) -> Server:
        made.append(Server(script, tls))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Runs a coroutine to its end on a fresh loop of each kind."""
    if request.param == "uvloop":
        import uvloop

        return uvloop.run
    return asyncio.run


async def get_all(client: HttpClient, urls: list[str], timeout: float = 5) -> list[tuple[int, bytes]]:
    answers = []
    for url in urls:
        response = await client.request("GET", url, timeout=timeout)
        answers.append((response.status, response.body))
    client.close()
    return answers


def test_connections_are_kept_alive_and_reused(serve: Callable[..., Server], run: Any) -> None:
    server = serve(lambda seen: ok(f"answer {seen.number}".encode()))
    answers = run(get_all(HttpClient(), [server.url(f"/cb?id={n}") for n in range(3)]))
    assert answers == [(200, b"answer 1"), (200, b"answer 2"), (200, b"answer 3")]
    assert [(s.connection, s.number) for s in server.seen] == [(1, 1), (1, 2), (1, 3)]
    first = server.seen[0]
    assert first.head.split("\r\n")[0] == "GET /cb?id=0 HTTP/1.1"
    assert first.header("host") == f"127.0.0.1:{server.port}" and first.header("user-agent") == "smsgw"


def test_a_post_carries_its_length_and_headers(serve: Callable[..., Server], run: Any) -> None:
    server = serve(lambda seen: ok(b"{}"))

    async def post() -> int:
        client = HttpClient()
        response = await client.request("POST", server.url("/push?x=1#frag"), body=b'{"dr": []}',
                                        headers={"Content-Type": "application/json", "X-Api-Key": "k"}, timeout=5)
        client.close()
        return response.status

    assert run(post()) == 200
    [seen] = server.seen
    assert seen.head.split("\r\n")[0] == "POST /push?x=1 HTTP/1.1"
    assert (seen.header("content-length"), seen.header("content-type"), seen.header("x-api-key")) == (
        "10", "application/json", "k")
    assert seen.body == b'{"dr": []}'


def test_connection_close_is_honoured(serve: Callable[..., Server], run: Any) -> None:
    server = serve(lambda seen: ok(b"bye", "Connection: close"))
    assert run(get_all(HttpClient(), [server.url()] * 2)) == [(200, b"bye")] * 2
    assert [(s.connection, s.number) for s in server.seen] == [(1, 1), (2, 1)]


def test_a_reused_connection_the_server_drops_unanswered_is_retried_once_on_a_new_one(
        serve: Callable[..., Server], run: Any) -> None:
    # The server's keep-alive ran out just as the second request went: it closes without a word.
    server = serve(lambda seen: DROP if (seen.connection, seen.number) == (1, 2) else ok())
    assert run(get_all(HttpClient(), [server.url()] * 3)) == [(200, b"OK")] * 3
    assert [(s.connection, s.number) for s in server.seen] == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_a_fresh_connection_dropped_unanswered_is_an_error(serve: Callable[..., Server], run: Any) -> None:
    server = serve(lambda seen: DROP)
    with pytest.raises(ConnectionError):
        run(get_all(HttpClient(), [server.url()]))
    assert len(server.seen) == 1, "not retried: the request may have done its work"


def test_chunked_answer(serve: Callable[..., Server], run: Any) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    server = serve(lambda seen: chunked)
    assert run(get_all(HttpClient(), [server.url()] * 2)) == [(200, b"abcdefg")] * 2
    assert [s.connection for s in server.seen] == [1, 1]


def test_http_1_0_answer_without_length_ends_with_the_connection(serve: Callable[..., Server], run: Any) -> None:
    server = serve(lambda seen: b"HTTP/1.0 202 Accepted\r\nContent-Type: text/plain\r\n\r\nqueued, thanks")
    assert run(get_all(HttpClient(), [server.url()] * 2)) == [(202, b"queued, thanks")] * 2
    assert [s.connection for s in server.seen] == [1, 2]


def test_timeout_closes_the_connection(serve: Callable[..., Server], run: Any) -> None:
    server = serve(lambda seen: HANG)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        run(get_all(HttpClient(), [server.url()], timeout=0.3))
    assert 0.25 < time.monotonic() - started < 3
    assert server.closed_by_client.wait(5), "the connection was left open"


def test_refused_connection(run: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError, match="onnect"):  # the outbox's reason reads "...Connect..."
        run(get_all(HttpClient(), [f"http://127.0.0.1:{port}/cb"]))


def test_an_oversize_body_is_cut_at_the_cap_and_its_connection_not_reused(
        serve: Callable[..., Server], run: Any) -> None:
    big = bytes(range(256)) * 100  # 25,600 bytes
    server = serve(lambda seen: ok(big) if seen.connection == 1 else ok(b"small"))
    answers = run(get_all(HttpClient(max_answer=1000), [server.url(), server.url()]))
    assert answers == [(200, big[:1000]), (200, b"small")]
    assert [s.connection for s in server.seen] == [1, 2]


def test_malformed_answers_and_urls_are_value_errors(serve: Callable[..., Server], run: Any) -> None:
    server = serve(lambda seen: b"SMTP ready\r\n\r\n")
    with pytest.raises(ValueError, match="malformed"):
        run(get_all(HttpClient(), [server.url()]))
    for url in ("ftp://127.0.0.1/x", f"http://user:pw@127.0.0.1:{server.port}/", "http://127.0.0.1:99999/"):
        with pytest.raises(ValueError):
            run(get_all(HttpClient(), [url]))


# --- TLS ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require(shutil.which("openssl") is not None, "openssl not installed (apt-get install openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_tls_with_a_context_that_trusts_the_servers_certificate(
        serve: Callable[..., Server], run: Any, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    server = serve(lambda seen: ok(b"secure"), server_side)
    trusting = ssl.create_default_context(cafile=str(cert))
    urls = [server.url(scheme="https")] * 2
    assert run(get_all(HttpClient(ssl_context=trusting), urls)) == [(200, b"secure")] * 2
    assert [s.connection for s in server.seen] == [1, 1]
    assert server.seen[0].header("host") == f"127.0.0.1:{server.port}"
    with pytest.raises(ssl.SSLCertVerificationError):  # the system's trust store does not know it
        run(get_all(HttpClient(), urls[:1]))
