"""The outbox's HTTP/1.1 client: keep-alive connections per endpoint on asyncio protocols, with httptools' C parser.

Why not a general client: the outbox sends thousands of small requests a second to a few endpoints and needs only a
status and a short body back; aiohttp spent most of the outbox's CPU on what this does not need (URL objects,
header multidicts, cookie jars, redirects, streams). Here a request is one pre-built write and a parser feeding a
future. One request at a time per connection (no pipelining); the outbox's per-endpoint slots bound how many
connections an endpoint gets. A connection is reused while the server keeps it open; a reused one that the server
closed before answering (its keep-alive ran out as we wrote) is retried once on a fresh connection.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote

from httptools import HttpParserError, HttpResponseParser

from .callback import Answer

MAX_ANSWER = 64 * 1024  # of an answer's body, what is read; the connection is closed when there is more
KEEPALIVE_S = 30.0  # an idle connection older than this is closed rather than reused
_TARGET_SAFE = "/?&=%:@!$'()*+,;~-._"  # what stays as it is when a request target must be percent-encoded


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where a URL's requests go, worked out once per scheme and authority."""

    host: str
    port: int
    tls: bool
    host_header: bytes


class ConnectionClosed(ConnectionError):
    """The server closed the connection before its answer was complete."""


class HttpClient:
    """Pools of keep-alive connections, one pool per (scheme, host, port); `ssl_context` for https (default: the
    system's trust store, with SNI and hostname checks)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_answer: int = MAX_ANSWER) -> None:
        self._ssl = ssl_context
        self._max_answer = max_answer
        self._origins: dict[str, _Origin] = {}
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._swept = time.monotonic()

    async def request(self, method: str, url: str, *, body: bytes | None = None,
                      headers: Mapping[str, str] | None = None, timeout: float) -> Answer:
        """Send one request and read its answer within `timeout` seconds in all. Raises TimeoutError, OSError
        (refused, reset, closed early: ConnectionError) or ValueError (a URL or an answer we cannot use)."""
        origin, target = self._split(url)
        head = _head(method, target, origin.host_header, headers, body)
        deadline = asyncio.get_running_loop().time() + timeout
        connection = self._pooled(origin)
        if connection is not None:
            try:
                return await self._exchange(origin, connection, head, body, deadline)
            except ConnectionClosed:
                if connection.answered_any_byte:
                    raise
                # The server dropped an idle connection as we wrote (its keep-alive ran out): once more, fresh.
        connection = await self._connect(origin, deadline)
        return await self._exchange(origin, connection, head, body, deadline)

    def close(self) -> None:
        """Close every idle connection (those in use close when their request ends or is cancelled)."""
        for pool in self._idle.values():
            for connection in pool:
                connection.close()
        self._idle.clear()

    async def _exchange(self, origin: _Origin, connection: _Connection, head: bytes, body: bytes | None,
                        deadline: float) -> Answer:
        answer = await connection.exchange(head, body, deadline)
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(origin, []).append(connection)
        return answer

    def _pooled(self, origin: _Origin) -> _Connection | None:
        now = time.monotonic()
        if now - self._swept > KEEPALIVE_S:
            self._swept = now
            for pool in self._idle.values():
                for stale in [c for c in pool if now - c.idle_since > KEEPALIVE_S]:
                    stale.close()
                    pool.remove(stale)
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()  # the most recently used: the likeliest to be still open
            if connection.reusable:
                return connection
        return None

    async def _connect(self, origin: _Origin, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        max_answer = self._max_answer
        context = None
        if origin.tls:
            context = self._ssl = self._ssl or ssl.create_default_context()
        async with asyncio.timeout_at(deadline):
            _, connection = await loop.create_connection(
                lambda: _Connection(max_answer), origin.host, origin.port, ssl=context,
                server_hostname=origin.host if context else None)
        return connection

    def _split(self, url: str) -> tuple[_Origin, str]:
        """The origin and the request target (path and query) of an absolute http(s) URL; the fragment is dropped."""
        scheme, sep, rest = url.partition("://")
        end = len(rest)
        for mark in "/?#":
            at = rest.find(mark)
            if at != -1 and at < end:
                end = at
        authority, target = rest[:end], rest[end:].partition("#")[0]
        key = scheme + "://" + authority
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _origin(scheme.lower() if sep else "", authority, url)
        if not target.startswith("/"):
            target = "/" + target
        if not target.isascii() or not target.isprintable() or " " in target:
            target = quote(target, safe=_TARGET_SAFE)
        return origin, target


def _origin(scheme: str, authority: str, url: str) -> _Origin:
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url[:100]}")
    if "@" in authority:
        raise ValueError("credentials in the URL: the outbox sends them as a header")
    host, port_text = authority, ""
    if authority.startswith("["):
        close = authority.find("]")
        host, port_text = authority[1:close], authority[close + 1:].removeprefix(":")
    elif ":" in authority:
        host, _, port_text = authority.rpartition(":")
    default = 443 if scheme == "https" else 80
    try:
        port = int(port_text) if port_text else default
    except ValueError:
        raise ValueError(f"a bad port in {url[:100]}") from None
    if not host or not 0 < port < 65536:
        raise ValueError(f"no host or a bad port in {url[:100]}")
    shown = f"[{host}]" if ":" in host else host
    header = shown if port == default else f"{shown}:{port}"
    return _Origin(host, port, scheme == "https", header.encode("idna" if not header.isascii() else "ascii"))


def _head(method: str, target: str, host: bytes, headers: Mapping[str, str] | None, body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1\r\nHost: ".encode("ascii"), host, b"\r\nUser-Agent: smsgw\r\n"]
    if headers:
        text = "".join(f"{name}: {value}\n" for name, value in headers.items())
        if "\r" in text or text.count("\n") != len(headers):
            raise ValueError("a line break in a header")
        lines.append(text.replace("\n", "\r\n").encode("latin-1"))
    if body is not None:
        lines.append(b"Content-Length: %d\r\n" % len(body))
    lines.append(b"\r\n")
    return b"".join(lines)


class _Connection(asyncio.Protocol):
    """One connection: writes a request, parses its answer into a future."""

    def __init__(self, max_answer: int) -> None:
        self._max_answer = max_answer
        self._parser = HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._delimited = False  # the answer says its length (Content-Length or chunked): EOF does not end it
        self._headers_done = False
        self._status = 0
        self.open = True
        self.reusable = False
        self.answered_any_byte = False
        self.idle_since = 0.0

    async def exchange(self, head: bytes, body: bytes | None, deadline: float) -> Answer:
        transport = self._transport
        if transport is None or not self.open:
            raise ConnectionClosed("the connection closed before the request")
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        self.reusable = self.answered_any_byte = self._headers_done = self._delimited = False
        self._body, self._size, self._status = [], 0, 0
        transport.write(head + body if body else head)
        timer = loop.call_at(deadline, self._expire)
        try:
            answer: Answer = await waiter
            return answer
        except BaseException:
            self.close()  # timed out, cancelled or failed: what the server still sends is of no use
            raise
        finally:
            timer.cancel()
            self._waiter = None

    def close(self) -> None:
        self.open = self.reusable = False
        if self._transport is not None:
            self._transport.abort()

    def _expire(self) -> None:
        self._fail(TimeoutError())

    def _fail(self, error: BaseException) -> None:
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    def _answer(self, *, keep: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(self._status, b"".join(self._body)))
        self.reusable = keep and self.open
        if not self.reusable:
            self.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        self.answered_any_byte = True
        try:
            self._parser.feed_data(data)
        except HttpParserError as error:
            self._fail(ValueError(f"a malformed HTTP answer ({error})"))
            self.close()

    def eof_received(self) -> bool:
        if self._headers_done and not self._delimited and self._waiter is not None:
            self._answer(keep=False)  # an answer delimited by the end of the connection (HTTP/1.0 style)
        self.open = False
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = self.reusable = False
        self._fail(ConnectionClosed(f"the server closed the connection ({exc})" if exc else
                                    "the server closed the connection"))

    # httptools' callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._delimited = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        room = self._max_answer - self._size
        if len(body) <= room:
            self._body.append(body)
            self._size += len(body)
        elif room >= 0:
            self._body.append(body[:room])
            self._size = self._max_answer + 1
            self._answer(keep=False)  # the rest is not read: the connection cannot carry another request

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._headers_done = self._delimited = False
            return
        self._answer(keep=self._parser.should_keep_alive())
