"""Authentication: slow password hashes verified once per process, credential versions, client addresses behind
trusted proxies, client certificates."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import smsgw.auth
from smsgw.accounts import Accounts, parse_settings
from smsgw.auth import (
    Authenticator,
    Client,
    certificate_fingerprint,
    client_from_environ,
    hash_password,
    normalise_fingerprint,
    verify_password,
)
from smsgw.domain.errors import ErrorCode, RequestError
from smsgw.domain.model import Account
from smsgw.store.database import Store

# --- hashes --------------------------------------------------------------------------------------------------------


def test_a_password_hash_verifies_its_password_only() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret ", stored)
    assert not verify_password("", stored)
    assert hash_password("s3cret") != stored  # salted
    assert verify_password("pässwörd", hash_password("pässwörd"))


def test_a_malformed_or_foreign_hash_verifies_nothing() -> None:
    assert not verify_password("s3cret", "")
    assert not verify_password("s3cret", "plain-text-password")
    assert not verify_password("s3cret", hash_password("s3cret").replace("scrypt$", "bcrypt$", 1))


# --- by_password ---------------------------------------------------------------------------------------------------


def refused(call: Callable[[], object]) -> ErrorCode:
    with pytest.raises(RequestError) as caught:
        call()
    return caught.value.code


def test_by_password_returns_the_account_for_its_password(authenticator: Authenticator, account: Account) -> None:
    assert authenticator.by_password("acme", "s3cret") == account
    assert authenticator.by_password("ignored", "s3cret", account_id=account.id) == account


def test_a_wrong_password_or_an_unknown_account_is_auth_failed_alike(
    authenticator: Authenticator, account: Account
) -> None:
    with pytest.raises(RequestError) as wrong:
        authenticator.by_password("acme", "S3CRET")
    with pytest.raises(RequestError) as unknown:
        authenticator.by_password("nobody", "s3cret")
    with pytest.raises(RequestError) as unknown_id:
        authenticator.by_password("", "s3cret", account_id=account.id + 1)
    # The same answer either way: a caller cannot tell which accounts exist.
    assert wrong.value == unknown.value == unknown_id.value
    assert wrong.value.code is ErrorCode.AUTH_FAILED


@dataclass
class Counting:
    calls: int = 0

    def __call__(self, password: str, stored: str) -> bool:
        self.calls += 1
        return verify_password(password, stored)


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Counting:
    """How many times the slow hash is computed."""
    counting = Counting()
    monkeypatch.setattr(smsgw.auth, "verify_password", counting)
    return counting


def test_the_slow_hash_is_computed_once_for_a_password_used_again(
    authenticator: Authenticator, account: Account, hashes: Counting
) -> None:
    authenticator.by_password("acme", "s3cret")
    assert hashes.calls == 1
    for _ in range(5):
        authenticator.by_password("acme", "s3cret")
    assert hashes.calls == 1


def test_a_wrong_password_is_never_remembered(
    authenticator: Authenticator, account: Account, hashes: Counting
) -> None:
    for _ in range(3):
        assert refused(lambda: authenticator.by_password("acme", "wrong")) is ErrorCode.AUTH_FAILED
    assert hashes.calls == 3
    authenticator.by_password("acme", "s3cret")
    assert refused(lambda: authenticator.by_password("acme", "wrong")) is ErrorCode.AUTH_FAILED
    assert hashes.calls == 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_password_change_takes_effect_within_the_refresh_period_in_every_authenticator(
    store: Store, accounts: Accounts, account: Account, hashes: Counting
) -> None:
    clock = Clock()
    here, elsewhere = Authenticator(store, clock=clock), Authenticator(store, clock=clock)  # two processes' caches
    for auth in (here, elsewhere):
        auth.by_password("acme", "s3cret")
        auth.by_password("acme", "s3cret")
    assert hashes.calls == 2

    accounts.update("acme", password="n3w")
    clock.now += here.refresh_s * 0.9
    assert here.by_password("acme", "s3cret").credential_version == 1  # the price of no read per request
    clock.now += here.refresh_s * 0.2

    for auth in (here, elsewhere):
        assert refused(lambda a=auth: a.by_password("acme", "s3cret")) is ErrorCode.AUTH_FAILED
        assert auth.by_password("acme", "n3w").credential_version == 2


def test_disabling_an_account_takes_effect_within_the_refresh_period_despite_the_cache(
    store: Store, accounts: Accounts, account: Account, hashes: Counting
) -> None:
    clock = Clock()
    authenticator = Authenticator(store, clock=clock)
    authenticator.by_password("acme", "s3cret")
    accounts.update("acme", active=False)
    clock.now += authenticator.refresh_s
    assert refused(lambda: authenticator.by_password("acme", "s3cret")) is ErrorCode.ACCOUNT_DISABLED
    # A wrong password on a disabled account is still just a failed login (it reveals nothing more).
    assert refused(lambda: authenticator.by_password("acme", "wrong")) is ErrorCode.AUTH_FAILED
    accounts.update("acme", active=True)
    clock.now += authenticator.refresh_s
    assert authenticator.by_password("acme", "s3cret").active


def test_an_account_is_read_at_most_once_per_refresh_period(
    store: Store, accounts: Accounts, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    authenticator = Authenticator(store, clock=clock)
    reads = []
    real = store.peek

    def counted() -> Any:
        reads.append(1)
        return real()

    monkeypatch.setattr(store, "peek", counted)
    for _ in range(100):
        authenticator.by_password("acme", "s3cret")
    assert len(reads) == 2  # the stamp, then the row it was missing
    clock.now += authenticator.refresh_s
    authenticator.by_password("acme", "s3cret")
    assert len(reads) == 3  # the stamp only: the row has not changed


def test_allowed_networks_limit_where_an_account_may_call_from(
    authenticator: Authenticator, accounts: Accounts, account: Account
) -> None:
    accounts.update("acme", **parse_settings({"allowed_networks": "192.0.2.0/24, 2001:db8::/32"}))
    assert authenticator.by_password("acme", "s3cret", Client("192.0.2.17")).name == "acme"
    assert authenticator.by_password("acme", "s3cret", Client("2001:db8::1")).name == "acme"
    for client in (Client("198.51.100.1"), Client("2001:db9::1"), Client("not an address"), None):
        code = refused(lambda c=client: authenticator.by_password("acme", "s3cret", c))
        assert code is ErrorCode.ADDRESS_NOT_ALLOWED, client


def test_without_allowed_networks_any_address_may_call(authenticator: Authenticator, account: Account) -> None:
    assert authenticator.by_password("acme", "s3cret", Client("203.0.113.9")) == account
    assert authenticator.by_password("acme", "s3cret", None) == account


# --- client addresses ----------------------------------------------------------------------------------------------


def plain() -> Account:
    return Account(id=1, name="acme", password_hash="x")


def proxied(**changes: Any) -> Account:
    settings = {"trusted_proxies": ("10.0.0.0/8",), "client_address_header": "X-Forwarded-For",
                "client_cert_header": "X-Client-Cert-SHA256"}
    settings.update(changes)
    return Account(id=1, name="acme", password_hash="x", **settings)


FP_A = "ab" * 32
FP_B = "cd" * 32


def test_the_client_is_the_direct_peer_when_there_is_no_proxy() -> None:
    environ = {"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    assert client_from_environ(environ, plain()) == Client("203.0.113.5", None)
    assert client_from_environ({}, plain()) == Client("", None)


def test_a_trusted_proxy_names_the_client_by_the_right_most_untrusted_hop() -> None:
    environ = {
        "REMOTE_ADDR": "10.0.0.1",
        # A client may put anything in front; only what our proxies appended counts.
        "HTTP_X_FORWARDED_FOR": "198.51.100.66, 203.0.113.9, 10.0.0.2",
    }
    assert client_from_environ(environ, proxied()).address == "203.0.113.9"
    environ["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    assert client_from_environ(environ, proxied()).address == "203.0.113.9"
    environ["HTTP_X_FORWARDED_FOR"] = "10.0.0.3,10.0.0.2"  # every hop ours: the first one is the client
    assert client_from_environ(environ, proxied()).address == "10.0.0.3"
    del environ["HTTP_X_FORWARDED_FOR"]  # no header: the proxy itself
    assert client_from_environ(environ, proxied()).address == "10.0.0.1"


def test_the_address_header_name_is_the_accounts_own() -> None:
    environ = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_REAL_IP": "203.0.113.4", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    assert client_from_environ(environ, proxied(client_address_header="X-Real-IP")).address == "203.0.113.4"
    assert client_from_environ(environ, proxied(client_address_header=None)).address == "10.0.0.1"


def test_an_untrusted_peers_headers_are_ignored() -> None:
    environ = {"REMOTE_ADDR": "198.51.100.1", "HTTP_X_FORWARDED_FOR": "192.0.2.1",
               "HTTP_X_CLIENT_CERT_SHA256": FP_A}
    assert client_from_environ(environ, proxied()) == Client("198.51.100.1", None)


def test_a_forged_address_does_not_pass_allowed_networks_through_an_untrusted_peer(
    authenticator: Authenticator, accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", **parse_settings({
        "allowed_networks": "192.0.2.0/24", "trusted_proxies": "10.0.0.0/8",
        "client_address_header": "X-Forwarded-For"}))
    forged = client_from_environ({"REMOTE_ADDR": "198.51.100.1", "HTTP_X_FORWARDED_FOR": "192.0.2.1"}, acme)
    assert refused(lambda: authenticator.by_password("acme", "s3cret", forged)) is ErrorCode.ADDRESS_NOT_ALLOWED
    honest = client_from_environ({"REMOTE_ADDR": "10.1.1.1", "HTTP_X_FORWARDED_FOR": "192.0.2.1"}, acme)
    assert authenticator.by_password("acme", "s3cret", honest) == acme


# --- client certificates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    pem: str
    der: bytes
    fingerprint: str  # as openssl prints it: AB:CD:…


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate made by openssl, with openssl's own SHA-256 fingerprint of it."""
    folder: Path = tmp_path_factory.mktemp("cert")
    key, pem, der = folder / "key.pem", folder / "cert.pem", folder / "cert.der"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(pem), "-subj", "/CN=smsgw-test-client", "-days", "2"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER", "-out", str(der)], check=True,
                   capture_output=True)
    printed = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-fingerprint", "-sha256"], check=True,
                             capture_output=True, text=True).stdout
    return Certificate(pem.read_text(), der.read_bytes(), printed.strip().split("=", 1)[1])


def test_a_certificate_fingerprint_is_the_sha256_of_its_der_bytes(certificate: Certificate) -> None:
    expected = certificate.fingerprint.replace(":", "").lower()
    assert certificate_fingerprint(certificate.pem) == expected
    assert certificate_fingerprint(certificate.pem.encode()) == expected
    assert certificate_fingerprint(certificate.der) == expected
    assert normalise_fingerprint(certificate.fingerprint) == expected
    assert normalise_fingerprint(f"sha256:{expected.upper()}") == expected
    with pytest.raises(ValueError):
        normalise_fingerprint("ab:cd")


def test_the_client_certificate_comes_from_ssl_client_cert(certificate: Certificate) -> None:
    expected = normalise_fingerprint(certificate.fingerprint)
    environ = {"REMOTE_ADDR": "203.0.113.5", "SSL_CLIENT_CERT": certificate.pem}
    assert client_from_environ(environ, plain()) == Client("203.0.113.5", expected)


def test_a_trusted_proxy_passes_the_client_certificate_fingerprint_in_its_header(certificate: Certificate) -> None:
    expected = normalise_fingerprint(certificate.fingerprint)
    environ = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5",
               "HTTP_X_CLIENT_CERT_SHA256": certificate.fingerprint}
    assert client_from_environ(environ, proxied()) == Client("203.0.113.5", expected)
    # A header that holds no fingerprint is ignored, not trusted.
    environ["HTTP_X_CLIENT_CERT_SHA256"] = "(null)"
    assert client_from_environ(environ, proxied()).certificate is None


def test_by_certificate_accepts_a_registered_certificate_and_refuses_others(
    authenticator: Authenticator, accounts: Accounts, account: Account, certificate: Certificate
) -> None:
    acme = accounts.update("acme", **parse_settings({"client_certs": f"{certificate.fingerprint}, {FP_B}"}))
    presented = client_from_environ({"REMOTE_ADDR": "203.0.113.5", "SSL_CLIENT_CERT": certificate.pem}, acme)
    assert authenticator.by_certificate(acme, presented) == acme
    assert authenticator.by_certificate(acme, Client("203.0.113.5", FP_B)) == acme
    for client in (Client("203.0.113.5", FP_A), Client("203.0.113.5", None)):
        code = refused(lambda c=client: authenticator.by_certificate(acme, c))
        assert code is ErrorCode.AUTH_FAILED


def test_by_certificate_still_checks_that_the_account_is_active_and_the_address_allowed(
    authenticator: Authenticator, accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", client_certs=(FP_A,), allowed_networks=("192.0.2.0/24",))
    assert authenticator.by_certificate(acme, Client("192.0.2.1", FP_A)) == acme
    code = refused(lambda: authenticator.by_certificate(acme, Client("198.51.100.1", FP_A)))
    assert code is ErrorCode.ADDRESS_NOT_ALLOWED
    disabled = accounts.update("acme", active=False)
    assert refused(lambda: authenticator.by_certificate(disabled, Client("192.0.2.1", FP_A))) is (
        ErrorCode.ACCOUNT_DISABLED)


def test_an_ipv4_client_seen_through_a_dual_stack_socket_matches_ipv4_networks(
    authenticator: Authenticator, accounts: Accounts, account: Account
) -> None:
    acme = accounts.update("acme", **parse_settings({
        "allowed_networks": "192.0.2.0/24", "trusted_proxies": "10.0.0.0/8",
        "client_address_header": "X-Forwarded-For"}))
    behind_proxy = client_from_environ({"REMOTE_ADDR": "::ffff:10.0.0.1", "HTTP_X_FORWARDED_FOR": "192.0.2.1"}, acme)
    assert behind_proxy.address == "192.0.2.1"
    assert authenticator.by_password("acme", "s3cret", Client("::ffff:192.0.2.1")) == acme
