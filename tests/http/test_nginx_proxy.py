"""Behind a TLS-terminating reverse proxy: Debian's nginx asks for the client certificate (`ssl_verify_client
optional_no_ca`) and forwards it URL-escaped (`$ssl_client_escaped_cert`) with the client address; the account
believes those headers from its trusted proxies only. Real TLS, certificates openssl makes here, the app on a real
socket behind nginx.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
from smsgw_testing import require

from smsgw.auth import client_from_environ
from smsgw.domain.model import Account
from smsgw.services import Services

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT = 10  # seconds for nginx to accept connections
GP = "/smsconnector/getpost/GP"

# What the README tells operators to put in nginx: TLS here, the certificate and address forwarded to smsgw.
SERVER_BLOCK = """
server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_verify_client optional_no_ca;  # any certificate; smsgw decides by its registered fingerprints

    location / {{
        proxy_pass http://{upstream};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Client-Cert $ssl_client_escaped_cert;  # empty (so left out) without a certificate
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
}}
"""


# --- certificates, made by openssl ----------------------------------------------------------------------------


def openssl(*args: str) -> str:
    require(shutil.which("openssl") is not None, "openssl not installed (apt-get install openssl)")
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


def self_signed(folder: Path, name: str, *extensions: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    extra = [arg for ext in extensions for arg in ("-addext", ext)]
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}", *extra)
    return cert, key


def sha256(cert: Path) -> str:
    printed = openssl("x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256")
    return printed.strip().split("=", 1)[1].replace(":", "").lower()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """nginx's server certificate, alice's registered client certificate, bob's unregistered one."""
    folder = tmp_path_factory.mktemp("pki")
    return {"server": self_signed(folder, "server", "subjectAltName=IP:127.0.0.1"),
            "alice": self_signed(folder, "alice"), "bob": self_signed(folder, "bob")}


# --- nginx ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Nginx:
    """Debian's nginx in the foreground, everything it writes under `prefix`."""

    def __init__(self, prefix: Path, upstream: str, cert: Path, key: Path) -> None:
        self.port = free_port()
        self.error_log = prefix / "error.log"
        temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                              "uwsgi", "scgi"))
        conf = prefix / "nginx.conf"
        conf.write_text(
            ("user root;\n" if os.geteuid() == 0 else "")  # workers keep access to the test's private directory
            + "worker_processes 1;\nevents { worker_connections 64; }\nhttp {\n    access_log off;\n" + temp + "\n"
            + SERVER_BLOCK.format(port=self.port, cert=cert, key=key, upstream=upstream) + "}\n")
        self.proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(self.error_log),
                                      "-g", f"daemon off; pid {prefix / 'nginx.pid'};"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"nginx exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"nginx did not listen on {self.port} within {START_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        return self.error_log.read_text() if self.error_log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture
def nginx(live_url: str, pki: dict[str, tuple[Path, Path]], tmp_path: Path) -> Iterator[Nginx]:
    require(shutil.which("nginx") is not None or os.path.exists("/usr/sbin/nginx"),
            "nginx not installed (apt-get install nginx)")
    cert, key = pki["server"]
    proxy = Nginx(tmp_path, urlsplit(live_url).netloc, cert, key)
    try:
        proxy.wait_listening()
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def acme(services: Services, pki: dict[str, tuple[Path, Path]]) -> Account:
    """Known by alice's certificate fingerprint alone (enough behind a proxy), believing the proxy on 127.0.0.1, and
    taking calls only from 127.0.0.3 (as the proxy reports the client)."""
    return services.accounts.create(
        "acme", "s3cret-Pa55", account_id=4711, client_certs=(sha256(pki["alice"][0]),),
        trusted_proxies=("127.0.0.1/32",), client_cert_header="X-Client-Cert",
        client_address_header="X-Forwarded-For", allowed_networks=("127.0.0.3/32",))


def ping(account: Account) -> str:
    return f"{GP}?{urlencode({'action': 'ping', 'baID': account.id})}"


def through_nginx(proxy: Nginx, pki: dict[str, tuple[Path, Path]], path: str, client: str | None,
                  source: str = "127.0.0.3", headers: dict[str, str] | None = None) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(pki["server"][0]))
    if client is not None:
        context.load_cert_chain(*map(str, pki[client]))
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context, timeout=10,
                                       source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def escaped(cert: Path) -> str:
    """A certificate as nginx's `$ssl_client_escaped_cert` spells it."""
    return quote(cert.read_text(), safe="")


# --- through the proxy ----------------------------------------------------------------------------------------


def test_the_certificate_nginx_forwards_identifies_the_account(
    nginx: Nginx, acme: Account, pki: dict[str, tuple[Path, Path]]
) -> None:
    status, body = through_nginx(nginx, pki, ping(acme), "alice")
    assert (status, "responseCode=ISUC_000" in body) == (200, True), body


def test_an_unregistered_certificate_or_none_through_nginx_is_refused_by_the_app(
    nginx: Nginx, acme: Account, pki: dict[str, tuple[Path, Path]]
) -> None:
    for client in ("bob", None):
        status, body = through_nginx(nginx, pki, ping(acme), client)
        assert (status, "responseType=AUTHORIZATION_ERROR" in body) == (403, True), (client, body)


def test_a_client_cannot_smuggle_a_certificate_header_through_nginx(
    nginx: Nginx, acme: Account, pki: dict[str, tuple[Path, Path]]
) -> None:
    forged = {"X-Client-Cert": escaped(pki["alice"][0])}
    for client in ("bob", None):
        status, body = through_nginx(nginx, pki, ping(acme), client, headers=forged)
        assert status == 403, (client, body)


def test_the_client_address_nginx_forwards_is_checked_against_the_allowed_networks(
    nginx: Nginx, acme: Account, pki: dict[str, tuple[Path, Path]]
) -> None:
    assert through_nginx(nginx, pki, ping(acme), "alice", source="127.0.0.3")[0] == 200
    status, body = through_nginx(nginx, pki, ping(acme), "alice", source="127.0.0.4")
    assert (status, "AUTHORIZATION_ERROR" in body) == (403, True), body


def test_the_same_headers_sent_directly_and_not_from_a_trusted_proxy_are_ignored(
    nginx: Nginx, live_url: str, acme: Account, pki: dict[str, tuple[Path, Path]]
) -> None:
    app = urlsplit(live_url)
    conn = http.client.HTTPConnection(app.hostname or "", app.port, timeout=10, source_address=("127.0.0.3", 0))
    try:
        conn.request("GET", ping(acme), headers={"X-Client-Cert": escaped(pki["alice"][0]),
                                                 "X-Forwarded-For": "127.0.0.3"})
        response = conn.getresponse()
        assert (response.status, "AUTHORIZATION_ERROR" in response.read().decode()) == (403, True)
    finally:
        conn.close()


# --- how the app reads what a proxy forwards ------------------------------------------------------------------


def test_a_trusted_proxys_header_may_hold_the_escaped_certificate_or_its_fingerprint(
    pki: dict[str, tuple[Path, Path]]
) -> None:
    account = Account(id=1, name="acme", password_hash="x", trusted_proxies=("10.0.0.0/8",),
                      client_cert_header="X-Client-Cert")
    cert = pki["alice"][0]
    for header in (escaped(cert), cert.read_text().replace("\n", " "), sha256(cert).upper()):
        environ = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_CLIENT_CERT": header}
        assert client_from_environ(environ, account).certificate == sha256(cert), header
    garbled = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_CLIENT_CERT": escaped(cert)[:200]}
    assert client_from_environ(garbled, account).certificate is None


def test_without_the_header_a_trusted_proxys_own_tls_certificate_is_not_taken_for_the_clients(
    pki: dict[str, tuple[Path, Path]]
) -> None:
    account = Account(id=1, name="acme", password_hash="x", trusted_proxies=("10.0.0.0/8",),
                      client_cert_header="X-Client-Cert")
    environ = {"REMOTE_ADDR": "10.0.0.1", "SSL_CLIENT_CERT": pki["alice"][0].read_text()}
    assert client_from_environ(environ, account).certificate is None
