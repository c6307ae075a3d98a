"""`smsgw serve --tls-cert --tls-key`: HTTPS served by smsgw itself (cheroot), asking every client for a certificate and
trusting exactly those registered with `smsgw cert add`, end to end with real TLS and certificates openssl makes here.

The certificate reaching the application is proven with the O2 GP face's `ping`, which identifies the business
application by the client certificate alone.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from alembic import command
from smsgw_testing import require
from sqlalchemy import inspect, select, text

from smsgw.auth import ACCOUNT_REFRESH_S
from smsgw.services import SHUTDOWN_GRACE_MS, Services
from smsgw.store.database import Store, alembic_config
from smsgw.store.tables import client_certificates, node_leases
from smsgw.tls import RELOAD_SECONDS, TIMEOUT_SECONDS

pytestmark = pytest.mark.slow

SMSGW = shutil.which("smsgw", path=str(Path(sys.executable).parent))
START_TIMEOUT = 20  # seconds for `serve` to answer /healthz
STOP_TIMEOUT = 10  # seconds for `serve` to stop after SIGTERM
RELOADED = RELOAD_SECONDS + 5  # a change to the registered certificates counts within this many seconds
GP = "/smsconnector/getpost/GP"


# --- certificates, made by openssl ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path

    @property
    def fingerprint(self) -> str:
        """openssl's own SHA-256 fingerprint, as it prints it (`AB:CD:…`)."""
        printed = openssl("x509", "-in", str(self.cert), "-noout", "-fingerprint", "-sha256")
        return printed.strip().split("=", 1)[1]

    @property
    def hex(self) -> str:
        return self.fingerprint.replace(":", "").lower()


def openssl(*args: str) -> str:
    require(shutil.which("openssl") is not None, "openssl not installed (apt-get install openssl)")
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


def self_signed(folder: Path, name: str, *extensions: str) -> Pair:
    pair = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    extra = [arg for ext in extensions for arg in ("-addext", ext)]
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-keyout", str(pair.key), "-out", str(pair.cert), "-subj", f"/CN={name}", *extra)
    return pair


def issued(folder: Path, name: str, ca: Pair) -> Pair:
    """A client certificate that `ca` issued (as a public CA would), not self-signed."""
    pair, request = Pair(folder / f"{name}.pem", folder / f"{name}.key"), folder / f"{name}.csr"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(pair.key), "-out", str(request), "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-days", "2",
            "-out", str(pair.cert))
    return pair


def server_pair(folder: Path, name: str = "server") -> Pair:
    return self_signed(folder, name, "subjectAltName=IP:127.0.0.1")


@dataclass(frozen=True)
class Certificates:
    server: Pair
    alice: Pair  # self-signed, registered on acme
    bob: Pair  # self-signed, registered on nobody
    ca: Pair  # a CA, never registered
    carol: Pair  # issued by ca, registered on acme by itself
    dave: Pair  # issued by ca, never registered


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("certs")
    ca = self_signed(folder, "ca")
    return Certificates(server_pair(folder), self_signed(folder, "alice"), self_signed(folder, "bob"), ca,
                        issued(folder, "carol", ca), issued(folder, "dave", ca))


# --- the server and its clients -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def smsgw_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    return {**env, "SMSGW_DATABASE_URL": database_url, **extra}


def smsgw(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    require(SMSGW is not None, f"no smsgw console script next to {sys.executable}")
    assert SMSGW is not None
    return subprocess.run([SMSGW, *args], env=smsgw_env(database_url, **env), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, check=False)


def client_context(server_cert: Path, pair: Pair | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(server_cert))
    if pair is not None:
        context.load_cert_chain(str(pair.cert), str(pair.key))
    return context


class Server:
    """One `smsgw serve --tls-cert … --tls-key …` in its own process group, its output in a file."""

    def __init__(self, tmp_path: Path, database_url: str, server: Pair, *args: str, from_env: bool = False) -> None:
        """Serves with `server`'s certificate and key, named by --tls-cert and --tls-key, or by SMSGW_TLS_CERT and
        SMSGW_TLS_KEY when `from_env`."""
        require(SMSGW is not None, f"no smsgw console script next to {sys.executable}")
        assert SMSGW is not None
        self.port = free_port()
        self.server_cert = server.cert
        self.log = tmp_path / f"serve-{self.port}.log"
        files = {"SMSGW_TLS_CERT": str(server.cert), "SMSGW_TLS_KEY": str(server.key)} if from_env else {}
        options = [] if from_env else ["--tls-cert", str(server.cert), "--tls-key", str(server.key)]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen([SMSGW, "serve", "--listen", f"127.0.0.1:{self.port}", *options, *args],
                                         env=smsgw_env(database_url, **files), stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def connection(self, pair: Pair | None = None) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=client_context(self.server_cert, pair),
                                           timeout=TIMEOUT_SECONDS + 5)

    def get(self, path: str, pair: Pair | None = None) -> tuple[int, str]:
        conn = self.connection(pair)
        try:
            return request(conn, path)
        finally:
            conn.close()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"serve exited with {self.proc.returncode}\n{self.log.read_text()}")
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"no 200 from https://127.0.0.1:{self.port}/healthz in {START_TIMEOUT} s\n{self.log.read_text()}")

    def stop(self) -> int:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not stop within {STOP_TIMEOUT} s of SIGTERM\n{self.log.read_text()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)


def request(conn: http.client.HTTPSConnection, path: str) -> tuple[int, str]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read().decode()


def ping(account_id: int) -> str:
    return f"{GP}?{urlencode({'action': 'ping', 'baID': account_id})}"


def refused_at_handshake(server: Server, pair: Pair | None, path: str = "/healthz") -> bool:
    """True when the server ends the TLS connection instead of answering (TLS 1.3 clients learn it on reading)."""
    try:
        server.get(path, pair)
    except (ssl.SSLError, ConnectionError):
        return True
    return False


def eventually(check: Callable[[], bool], timeout: float = RELOADED) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.kill()


@dataclass(frozen=True)
class Setup:
    url: str
    services: Services
    acme: int  # account ids
    other: int


@pytest.fixture
def setup(sqlite_url: str, services: Services, certs: Certificates) -> Setup:
    """acme (id 4711) with alice's and carol's certificates registered, and a password; other (id 4712), none."""
    acme = services.accounts.create("acme", "s3cret-Pa55", account_id=4711)
    services.accounts.create("other", "0ther-Pa55", account_id=4712)
    for pair in (certs.alice, certs.carol):
        services.accounts.add_certificate("acme", pair.cert.read_bytes())
    return Setup(sqlite_url, services, acme.id, 4712)


@pytest.fixture
def server(setup: Setup, certs: Certificates, tmp_path: Path, started: list[Server]) -> Server:
    running = Server(tmp_path, setup.url, certs.server, "--workers", "1")
    started.append(running)
    running.wait_healthy()
    return running


# --- who gets in ----------------------------------------------------------------------------------------------


def test_a_registered_certificate_reaches_the_app_and_identifies_its_account(
    server: Server, setup: Setup, certs: Certificates
) -> None:
    assert server.get("/healthz", certs.alice) == (200, '{"status": "ok", "database": "ok"}')
    status, body = server.get(ping(setup.acme), certs.alice)
    assert (status, "responseCode=ISUC_000" in body) == (200, True), body
    # The certificate is acme's, not other's: the application, not TLS, decides which account it may act for.
    status, body = server.get(ping(setup.other), certs.alice)
    assert (status, "responseType=AUTHORIZATION_ERROR" in body) == (403, True), body


def test_a_certificate_a_ca_issued_is_trusted_when_registered_itself_and_its_ca_is_not(
    server: Server, setup: Setup, certs: Certificates
) -> None:
    status, body = server.get(ping(setup.acme), certs.carol)
    assert (status, "responseCode=ISUC_000" in body) == (200, True), body
    # dave comes from the same CA, which is not registered: the CA vouches for nobody.
    assert refused_at_handshake(server, certs.dave)


def test_an_unregistered_certificate_is_refused_at_the_handshake(server: Server, certs: Certificates) -> None:
    assert refused_at_handshake(server, certs.bob)
    assert refused_at_handshake(server, certs.ca)
    assert server.get("/healthz", certs.alice)[0] == 200  # and the server carries on
    assert "TLS handshake with 127.0.0.1 failed" in server.log.read_text()


def test_a_client_without_a_certificate_uses_the_password_interfaces_but_not_o2(
    server: Server, setup: Setup
) -> None:
    query = urlencode({"application": "acme", "password": "s3cret-Pa55", "destination": "+64211234567",
                       "content": "Hello over TLS", "version": "2"})
    status, body = server.get(f"/message?{query}")
    assert status == 200 and body.isdigit(), body
    assert setup.services.gateway.status(int(body)).text == "Hello over TLS"
    status, body = server.get(ping(setup.acme))
    assert (status, "responseType=AUTHORIZATION_ERROR" in body) == (403, True), body


def test_one_connection_carries_several_requests_with_the_certificate(
    server: Server, setup: Setup, certs: Certificates
) -> None:
    conn = server.connection(certs.alice)
    try:
        for _ in range(3):
            status, body = request(conn, ping(setup.acme))
            assert (status, "ISUC_000" in body) == (200, True), body
    finally:
        conn.close()


# --- changes while serving ------------------------------------------------------------------------------------


def test_a_certificate_registered_while_serving_is_trusted_within_the_reload_interval(
    server: Server, setup: Setup, certs: Certificates
) -> None:
    assert refused_at_handshake(server, certs.bob)
    added = smsgw(setup.url, "cert", "add", "other", str(certs.bob.cert))
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"{certs.bob.hex}\n"
    assert eventually(lambda: not refused_at_handshake(server, certs.bob))
    status, body = server.get(ping(setup.other), certs.bob)
    assert (status, "ISUC_000" in body) == (200, True), body


def test_a_removed_certificate_is_refused_by_the_app_within_a_second_and_at_the_handshake_after_reload(
    server: Server, setup: Setup, certs: Certificates
) -> None:
    conn = server.connection(certs.alice)
    try:
        assert request(conn, ping(setup.acme))[0] == 200
        removed = smsgw(setup.url, "cert", "remove", "acme", certs.alice.fingerprint)
        assert removed.returncode == 0, removed.stderr
        answers: list[tuple[int, str]] = []

        def refused_on_this_connection() -> bool:  # the same TLS connection, its next requests
            answers.append(request(conn, ping(setup.acme)))
            return answers[-1][0] == 403 and "AUTHORIZATION_ERROR" in answers[-1][1]

        assert eventually(refused_on_this_connection, ACCOUNT_REFRESH_S + 2), answers[-1]
        assert {status for status, _ in answers} <= {200, 403}
    finally:
        conn.close()
    assert eventually(lambda: refused_at_handshake(server, certs.alice))
    assert server.get(ping(setup.acme), certs.carol)[0] == 200  # the other certificate stays


def test_a_renewed_server_certificate_is_served_without_a_restart(
    setup: Setup, certs: Certificates, tmp_path: Path, started: list[Server]
) -> None:
    files = Pair(tmp_path / "live.pem", tmp_path / "live.key")
    shutil.copy(certs.server.cert, files.cert)
    shutil.copy(certs.server.key, files.key)
    server = Server(tmp_path, setup.url, files, "--workers", "1")
    started.append(server)
    server.wait_healthy()
    renewed = server_pair(tmp_path, "renewed")
    trusting_both = tmp_path / "both.pem"
    trusting_both.write_text(certs.server.cert.read_text() + renewed.cert.read_text())

    client = ssl.create_default_context(cafile=str(trusting_both))

    def served() -> bytes:
        with socket.create_connection(("127.0.0.1", server.port)) as raw, \
                client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            peer = tls.getpeercert(binary_form=True)
            assert peer is not None
            return peer

    assert served() == ssl.PEM_cert_to_DER_cert(certs.server.cert.read_text())
    os.replace(renewed.key, files.key)
    os.replace(renewed.cert, files.cert)
    new = ssl.PEM_cert_to_DER_cert(files.cert.read_text())
    assert eventually(lambda: served() == new)


def test_clients_that_stall_their_handshake_do_not_hold_up_others(server: Server, certs: Certificates) -> None:
    stalled = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]  # connect, say nothing
    try:
        started = time.monotonic()
        assert server.get("/healthz", certs.alice)[0] == 200
        assert time.monotonic() - started < TIMEOUT_SECONDS / 2
    finally:
        for sock in stalled:
            sock.close()


def test_serve_stops_on_sigterm_and_gives_back_its_id_node(server: Server, setup: Setup) -> None:
    assert server.stop() == 0
    with setup.services.store.read() as conn:
        leases = conn.execute(select(node_leases.c.holder, node_leases.c.expires_at)).all()
    others = [expires for holder, expires in leases if holder != setup.services.lease.holder]
    # The leases of the server and of the delivery worker it started end within the shutdown grace (requests in
    # flight may finish), not minutes later.
    assert len(others) == 2 and all(e <= time.time() * 1000 + SHUTDOWN_GRACE_MS for e in others)


# --- starting ---------------------------------------------------------------------------------------------------


def test_the_tls_files_may_come_from_smsgw_tls_cert_and_smsgw_tls_key(
    setup: Setup, certs: Certificates, tmp_path: Path, started: list[Server]
) -> None:
    server = Server(tmp_path, setup.url, certs.server, from_env=True)
    started.append(server)
    server.wait_healthy()
    assert server.get(ping(setup.acme), certs.alice)[0] == 200
    assert f"serving on https://127.0.0.1:{server.port} (TLS with client certificates, 16 threads" in \
        server.log.read_text()


def test_serve_refuses_half_a_tls_setup_and_key_files_it_cannot_use_without_asking_for_a_passphrase(
    setup: Setup, certs: Certificates, tmp_path: Path
) -> None:
    listen = ("--listen", f"127.0.0.1:{free_port()}")
    alone = smsgw(setup.url, "serve", *listen, "--tls-cert", str(certs.server.cert))
    assert alone.returncode == 2 and "--tls-cert and --tls-key" in alone.stderr, alone.stderr
    encrypted = tmp_path / "encrypted.key"
    openssl("ec", "-in", str(certs.server.key), "-aes256", "-passout", "pass:secret", "-out", str(encrypted))
    for key, reason in [(certs.alice.key, "KEY_VALUES_MISMATCH"), (encrypted, "the private key is encrypted"),
                        (tmp_path / "missing.key", "No such file")]:
        result = smsgw(setup.url, "serve", *listen, SMSGW_TLS_CERT=str(certs.server.cert), SMSGW_TLS_KEY=str(key))
        assert result.returncode == 1, result.stderr
        assert "cannot serve TLS with" in result.stderr and reason in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


# --- registering certificates ---------------------------------------------------------------------------------


def stored_pems(services: Services) -> dict[str, str]:
    with services.store.read() as conn:
        rows = conn.execute(select(client_certificates.c.fingerprint, client_certificates.c.pem))
        return {r.fingerprint: r.pem for r in rows}


def test_cert_add_prints_the_fingerprint_stores_only_the_certificate_and_keeps_client_certs_in_step(
    sqlite_url: str, services: Services, certs: Certificates, tmp_path: Path
) -> None:
    services.accounts.create("acme", "s3cret-Pa55")
    with_key = tmp_path / "with-key.pem"
    with_key.write_text(certs.alice.key.read_text() + certs.alice.cert.read_text())
    added = smsgw(sqlite_url, "cert", "add", "acme", str(with_key))
    assert (added.returncode, added.stdout) == (0, f"{certs.alice.hex}\n"), added.stderr
    assert "registered on acme" in added.stderr
    assert services.accounts.get("acme").client_certs == (certs.alice.hex,)
    pem = stored_pems(services)[certs.alice.hex]
    assert "PRIVATE KEY" not in pem
    assert ssl.PEM_cert_to_DER_cert(pem) == ssl.PEM_cert_to_DER_cert(certs.alice.cert.read_text())

    der = tmp_path / "bob.der"
    openssl("x509", "-in", str(certs.bob.cert), "-outform", "DER", "-out", str(der))
    assert smsgw(sqlite_url, "cert", "add", "acme", str(der)).stdout == f"{certs.bob.hex}\n"
    again = smsgw(sqlite_url, "cert", "add", "acme", str(certs.alice.cert))
    assert again.returncode == 0 and "already registered" in again.stderr
    assert services.accounts.get("acme").client_certs == (certs.alice.hex, certs.bob.hex)


def test_cert_list_shows_each_fingerprint_with_its_date_or_that_only_the_fingerprint_is_known(
    sqlite_url: str, services: Services, certs: Certificates
) -> None:
    services.accounts.create("acme", "s3cret-Pa55", client_certs=(certs.bob.hex,))
    services.accounts.add_certificate("acme", certs.alice.cert.read_bytes())
    listed = smsgw(sqlite_url, "cert", "list", "acme")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["FINGERPRINT", "(SHA-256)", "ADDED", "(UTC)"]
    assert lines[1] == f"{certs.bob.hex}  fingerprint only: not trusted by --tls-cert"
    assert lines[2].startswith(f"{certs.alice.hex}  20")
    as_json = smsgw(sqlite_url, "cert", "list", "acme", "--json")
    assert '"certificate_stored": false' in as_json.stdout and '"certificate_stored": true' in as_json.stdout


def test_cert_commands_refuse_what_is_no_certificate_an_unknown_account_and_an_unknown_fingerprint(
    sqlite_url: str, services: Services, certs: Certificates, tmp_path: Path
) -> None:
    services.accounts.create("acme", "s3cret-Pa55")
    chain = tmp_path / "chain.pem"
    chain.write_text(certs.carol.cert.read_text() + certs.ca.cert.read_text())
    garbage = tmp_path / "garbage.der"
    garbage.write_bytes(b"\x30\x82" + os.urandom(300))
    for args, reason in [
        (("add", "acme", str(certs.alice.key)), "no PEM certificate"),
        (("add", "acme", str(chain)), "holds 2 certificates"),
        (("add", "acme", str(garbage)), "not a certificate OpenSSL can read"),
        (("add", "nobody", str(certs.alice.cert)), "no account 'nobody'"),
        (("list", "nobody"), "no account 'nobody'"),
        (("remove", "acme", certs.alice.fingerprint), "has no certificate"),
        (("remove", "acme", "not-a-fingerprint"), "not a SHA-256 fingerprint"),
    ]:
        result = smsgw(sqlite_url, "cert", *args)
        assert result.returncode == 1 and reason in result.stderr, (args, result.stderr)
        assert result.stdout == "" and "Traceback" not in result.stderr
    assert stored_pems(services) == {}


def test_cert_remove_takes_any_spelling_and_client_certs_set_directly_drops_the_stored_certificate(
    sqlite_url: str, services: Services, certs: Certificates
) -> None:
    services.accounts.create("acme", "s3cret-Pa55")
    for pair in (certs.alice, certs.bob, certs.carol):
        services.accounts.add_certificate("acme", pair.cert.read_bytes())
    removed = smsgw(sqlite_url, "cert", "remove", "acme", f"sha256:{certs.alice.hex.upper()}")
    assert removed.returncode == 0, removed.stderr
    assert set(stored_pems(services)) == {certs.bob.hex, certs.carol.hex}
    changed = smsgw(sqlite_url, "account", "set", "acme", "--client-certs", certs.carol.fingerprint)
    assert changed.returncode == 0, changed.stderr
    assert set(stored_pems(services)) == {certs.carol.hex}
    assert services.accounts.get("acme").client_certs == (certs.carol.hex,)


def test_one_certificate_may_be_registered_on_several_accounts(
    database_url: str, certs: Certificates
) -> None:
    services = Services.open(database_url)
    try:
        for name in ("acme", "acme-marketing"):
            services.accounts.create(name, "s3cret-Pa55")
            assert services.accounts.add_certificate(name, certs.alice.cert.read_bytes()) == (certs.alice.hex, True)
        services.accounts.remove_certificate("acme", certs.alice.hex)
        assert services.accounts.certificates("acme") == []
        [(fingerprint, added)] = services.accounts.certificates("acme-marketing")
        assert fingerprint == certs.alice.hex and added is not None
        assert list(stored_pems(services)) == [certs.alice.hex]
    finally:
        services.close()


def test_migration_0002_adds_the_certificate_table_to_a_database_at_0001_and_takes_it_away(
    database_url: str,
) -> None:
    store = Store(database_url)
    try:
        config = alembic_config(store.url)
        command.upgrade(config, "0001")
        with store.write() as conn:
            conn.execute(text("INSERT INTO node_leases (node_id, holder, expires_at) VALUES (3, 'kept', 1)"))
        assert store.needs_migration()
        store.migrate()
        with store.engine.connect() as conn:
            assert "client_certificates" in inspect(conn).get_table_names()
            assert conn.execute(text("SELECT holder FROM node_leases")).scalar_one() == "kept"
        command.downgrade(config, "0001")
        with store.engine.connect() as conn:
            assert "client_certificates" not in inspect(conn).get_table_names()
    finally:
        store.dispose()
