"""HTTPS served by smsgw itself, asking each client for a certificate and trusting exactly the registered ones.

granian, our usual server, cannot hand a TLS client certificate to a WSGI application (emmett-framework/granian#788);
cheroot can: its builtin adapter puts the verified certificate in the environ as `SSL_CLIENT_CERT`, where
`auth.client_from_environ` reads it. OpenSSL verifies a client certificate against the loaded trust anchors, so the
certificates registered with `smsgw cert add` are the trust bundle, each its own anchor (a self-signed certificate
and one issued by a public CA alike). A client that presents any other certificate fails the handshake; a client
that presents none is let in (verify mode OPTIONAL), for the interfaces that take a password. Which account a
certificate may act for is the application's check (`Authenticator.by_certificate`), the authority.

The context is rebuilt when the registered certificates change (looked at every few seconds) or when the server's
own certificate or key file does; each new connection takes the newest one, so neither a registration, a removal
nor a renewed server certificate needs a restart. Handshakes run in cheroot's worker threads, not in its one
accepting loop: a client that stalls its handshake holds one thread for at most the timeout, not every newcomer.
"""

from __future__ import annotations

import logging
import os
import signal
import ssl
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any

from cheroot import wsgi
from cheroot.server import HTTPConnection
from cheroot.ssl.builtin import BuiltinSSLAdapter

from .store import repository as repo
from .store.database import Store

log = logging.getLogger(__name__)

RELOAD_SECONDS = 3.0  # how soon a newly registered (or removed) certificate counts for new connections
TIMEOUT_SECONDS = 10  # a handshake, a request's reading, an idle keep-alive connection


def server_context(cert_file: str, key_file: str, trusted_pems: Iterable[str]) -> ssl.SSLContext:
    """TLS 1.2 or newer with our certificate, asking for a client certificate and trusting exactly `trusted_pems`
    (no system CAs: a certificate a public CA issued is trusted only once it is registered itself)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a registered certificate is an anchor, CA-issued or not
    bundle = "".join(trusted_pems)
    if bundle:
        context.load_verify_locations(cadata=bundle)
    return context


def _no_passphrase() -> str:
    # OpenSSL would otherwise ask on the terminal, at start and at every reload.
    raise ValueError("the private key is encrypted; give smsgw an unencrypted key file (readable by it alone)")


class _Adapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter, leaving the handshake to the connection's worker thread (see `_Connection`)."""

    def wrap(self, sock: Any) -> tuple[ssl.SSLSocket, dict[str, Any]]:
        context: ssl.SSLContext = self.context
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), {}


class _Connection(HTTPConnection):
    """Completes the TLS handshake before reading the first request, then exposes the certificate as cheroot does."""

    handshaken = False

    def communicate(self) -> bool:
        if not self.handshaken:
            try:
                self.socket.do_handshake()
            except OSError as error:  # an unregistered certificate, plain HTTP, a stall, a dropped connection
                log.info("TLS handshake with %s failed: %s", self.remote_addr, error)
                return False
            self.ssl_env = self.server.ssl_adapter.get_environ(self.socket)
            self.handshaken = True
        keep_open: bool = super().communicate()  # type: ignore[no-untyped-call]
        return keep_open


class _Server(wsgi.Server):
    """cheroot's WSGI server with our connections, logging through `logging` rather than to stderr."""

    ConnectionClass = _Connection

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        log.log(level, "%s", msg, exc_info=traceback)


class ClientTrust:
    """Keeps the adapter's context trusting exactly the registered certificates and serving the current server
    certificate: `refresh` rebuilds it when either changed; `start` does so every RELOAD_SECONDS in a thread."""

    def __init__(self, store: Store, adapter: BuiltinSSLAdapter, cert_file: str, key_file: str,
                 interval: float = RELOAD_SECONDS) -> None:
        self.store, self.adapter = store, adapter
        self.cert_file, self.key_file = cert_file, key_file
        self.interval = interval
        self._built_from: tuple[frozenset[str], tuple[int, ...]] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smsgw-tls-trust", daemon=True)

    def refresh(self) -> bool:
        """Rebuild the context if the registered certificates or the server's files changed; True if it did."""
        files = self._files()
        with self.store.read() as conn:
            if self._built_from == (frozenset(repo.trusted_fingerprints(conn)), files):
                return False
            pems = repo.trusted_pems(conn)
        self.adapter.context = server_context(self.cert_file, self.key_file, pems.values())
        self._built_from = (frozenset(pems), files)
        log.info("TLS: trusting %d registered client certificate(s)", len(pems))
        return True

    def _files(self) -> tuple[int, ...]:
        cert, key = os.stat(self.cert_file), os.stat(self.key_file)
        return cert.st_ino, cert.st_mtime_ns, cert.st_size, key.st_ino, key.st_mtime_ns, key.st_size

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.refresh()
            except (OSError, ValueError) as error:  # a key replaced before its certificate, or not yet there
                log.warning("TLS: keeping the current context, the server's files are not usable yet: %s", error)
            except Exception:  # the database away: the current context stays
                log.exception("TLS: could not read the registered client certificates; keeping the current ones")


class HTTPSServer:
    """cheroot serving `app` over TLS with client certificates, from a pool of threads."""

    def __init__(self, app: Any, store: Store, address: tuple[str, int], cert_file: str, key_file: str, *,
                 threads: int) -> None:
        server_context(cert_file, key_file, ())  # unusable files fail here, clearly, before cheroot reads them
        self.adapter = _Adapter(cert_file, key_file)
        self.trust = ClientTrust(store, self.adapter, cert_file, key_file)
        self.trust.refresh()
        self.server = _Server(address, app, numthreads=threads, timeout=TIMEOUT_SECONDS)
        self.server.ssl_adapter = self.adapter

    def serve(self) -> None:
        """Bind and serve until `stop` (from another thread)."""
        self.trust.start()
        try:
            self.server.prepare()
            self.server.serve()
        finally:
            self.trust.stop()

    def stop(self) -> None:
        self.server.stop()

    def serve_until_signalled(self) -> None:
        """Serve in this (main) thread until SIGTERM or SIGINT; cheroot has no signal handling of its own. The stop
        runs in a thread of its own: it waits for the serving loop, which the handler has interrupted."""
        stoppers: list[threading.Thread] = []

        def stop(signum: int, _frame: FrameType | None) -> None:
            if not stoppers:
                log.info("%s: stopping", signal.Signals(signum).name)
                stoppers.append(threading.Thread(target=self.stop, name="smsgw-stop"))
                stoppers[0].start()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.serve()
        finally:
            for thread in stoppers:
                thread.join()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
