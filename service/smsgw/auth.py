"""Who is calling: accounts by name or id, passwords, client addresses and certificates.

Legacy interfaces send the password with every request. We keep only a slow scrypt hash, and remember in memory
which (account, credential version, SHA-256 of the secret) we have verified, so a hash is computed once per process,
not per request. A process keeps the accounts it has read for up to `ACCOUNT_REFRESH_S`, then checks a small stamp
of the row (and rereads it only when it changed): a password change or a disabled account takes effect in every
process within that second, and a request costs no database read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .domain.errors import ErrorCode, RequestError
from .domain.model import Account
from .store import repository as repo
from .store.database import Store

log = logging.getLogger(__name__)

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_CACHE_SIZE = 10_000
ACCOUNT_REFRESH_S = 1.0


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    encoded = (base64.b64encode(salt).decode(), base64.b64encode(digest).decode())
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encoded[0]}${encoded[1]}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                            dklen=len(expected))
    return hmac.compare_digest(actual, expected)


def certificate_fingerprint(pem_or_der: str | bytes) -> str:
    """SHA-256 of a certificate's DER bytes, lower-case hex: how certificates are registered and compared.
    Accepts DER, PEM, and PEM URL-escaped as proxies pass it (nginx `$ssl_client_escaped_cert`)."""
    if isinstance(pem_or_der, bytes) and not pem_or_der.lstrip().startswith(b"-----BEGIN"):
        der = pem_or_der
    else:
        text = pem_or_der if isinstance(pem_or_der, str) else pem_or_der.decode("ascii", "replace")
        text = unquote(text) if "%" in text else text
        match = _PEM.search(text)
        if match is None:
            raise ValueError("not a PEM certificate")
        try:
            der = base64.b64decode("".join(match.group(1).split()), validate=True)
        except binascii.Error:
            raise ValueError("PEM certificate body is not base64") from None
    if len(der) < 64 or der[0] != 0x30:  # a DER certificate is a SEQUENCE of a few hundred octets at least
        raise ValueError("not a DER certificate")
    return hashlib.sha256(der).hexdigest()


_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)


def normalise_fingerprint(value: str) -> str:
    """Accept `AB:CD:…`, `abcd…` or `sha256:abcd…` spellings of a SHA-256 fingerprint."""
    cleaned = value.strip().lower().removeprefix("sha256:").replace(":", "")
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise ValueError(f"not a SHA-256 fingerprint: {value!r}")
    return cleaned


@dataclass(frozen=True, slots=True)
class Client:
    """The caller as the network shows it: its address and, over TLS, its certificate's fingerprint."""

    address: str
    certificate: str | None = None


def client_from_environ(environ: Mapping[str, Any], account: Account) -> Client:
    """The caller's address and certificate. Headers count only when the direct peer is one of the account's trusted
    proxies; then the address is the right-most X-Forwarded-For entry that is not itself a trusted proxy, and the
    certificate is the one in the certificate header (if the account names one), never the proxy's own."""
    peer = str(environ.get("REMOTE_ADDR", ""))
    certificate = None
    if environ.get("SSL_CLIENT_CERT"):
        try:
            certificate = certificate_fingerprint(environ["SSL_CLIENT_CERT"])
        except ValueError as error:
            log.warning("account %s: unreadable client certificate from %s: %s", account.name, peer, error)
    if not account.trusted_proxies or not _in_networks(peer, account.trusted_proxies):
        return Client(peer, certificate)
    address = peer
    if account.client_address_header:
        forwarded = str(environ.get(_environ_key(account.client_address_header), ""))
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            address = hop
            if not _in_networks(hop, account.trusted_proxies):
                break
    if account.client_cert_header:  # the proxy's own TLS connection to us says nothing about the client
        certificate = _forwarded_certificate(environ, account.client_cert_header, account.name)
    return Client(address, certificate)


def _forwarded_certificate(environ: Mapping[str, Any], header: str, account_name: str) -> str | None:
    """The fingerprint a trusted proxy forwards in `header`: the certificate itself (PEM, URL-escaped as nginx's
    `$ssl_client_escaped_cert` sends it), or its SHA-256 fingerprint. No header: the client presented none."""
    value = str(environ.get(_environ_key(header), "")).strip()
    if not value:
        return None
    try:
        return certificate_fingerprint(value) if "BEGIN" in value else normalise_fingerprint(value)
    except ValueError as error:
        log.warning("account %s: proxy header %s holds neither a certificate nor a SHA-256 fingerprint: %s",
                    account_name, header, error)
        return None


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _in_networks(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:  # an IPv4 client on a dual-stack socket
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


_DUMMY_HASH = hash_password("not an account")


class Authenticator:
    """Finds and checks the account behind a request. Every failure is a RequestError with the core's code; faces
    turn it into their vendor's answer."""

    def __init__(self, store: Store, refresh_s: float = ACCOUNT_REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self.clock = clock
        self._verified: OrderedDict[tuple[int, int, bytes], None] = OrderedDict()
        self._accounts: dict[int, tuple[int, Account]] = {}  # id -> (updated_at, account as read then)
        self._checked: dict[str | int, tuple[float, Account]] = {}  # name or id -> (when its stamp was read, account)
        self._lock = threading.Lock()

    def account(self, *, name: str | None = None, account_id: int | None = None) -> Account | None:
        """The account as stored at most `refresh_s` ago."""
        asked = name if name is not None else account_id
        if asked is None:
            raise ValueError("an account is asked for by name or id")
        checked = self._checked.get(asked)
        now = self.clock()
        if checked is not None and now - checked[0] < self.refresh_s:
            return checked[1]
        account = self._current(name=name, account_id=account_id)
        with self._lock:
            if account is None:
                self._checked.pop(asked, None)
            else:
                self._checked[asked] = (now, account)
        return account

    def forget(self, account_id: int) -> None:
        """Drop this process's copy of an account (it was changed here): the next request reads it."""
        with self._lock:
            for asked in [k for k, (_, a) in self._checked.items() if a.id == account_id]:
                del self._checked[asked]

    def _current(self, *, name: str | None, account_id: int | None) -> Account | None:
        """The account as stored now: a small stamp read, the whole row only when it changed."""
        with self.store.peek() as conn:
            stamp = repo.account_stamp(conn, name=name, account_id=account_id)
            if stamp is None:
                return None
            cached = self._accounts.get(stamp[0])
            if cached is not None and cached[0] == stamp[1]:
                return cached[1]
        with self.store.peek() as conn:
            found = repo.account_with_stamp(conn, stamp[0])
        if found is None:
            return None
        account, updated_at = found
        with self._lock:
            self._accounts[account.id] = (updated_at, account)
        return account

    def by_password(self, name: str, password: str, client: Client | None = None, *,
                    account_id: int | None = None) -> Account:
        """The account `name` (or `account_id`) if `password` is its password and the client may use it."""
        account = self.account(name=name) if account_id is None else self.account(account_id=account_id)
        return self._verify(account, password, client, name if account_id is None else account_id)

    def _verify(self, account: Account | None, password: str, client: Client | None, asked: object) -> Account:
        if account is None:
            verify_password(password, _DUMMY_HASH)  # the same time as a wrong password: names stay secret
        if account is None or not self._password_ok(account, password):
            log.info("auth failed: account=%r", asked)
            raise RequestError(ErrorCode.AUTH_FAILED, "invalid credentials", "password")
        self._check(account, client)
        return account

    def from_request(self, environ: Mapping[str, Any], password: str, *, name: str | None = None,
                     account_id: int | None = None) -> Account:
        """What a face calls: the account named by `name` and/or `account_id` (both must agree when both are given,
        as Puzzel's serviceId and username), checked against the password and the caller the environ shows (through
        the account's own trusted proxies)."""
        account = self.account(account_id=account_id) if account_id is not None else (
            self.account(name=name) if name else None)
        if account is not None and account_id is not None and name is not None and account.name != name:
            account = None
        client = client_from_environ(environ, account) if account is not None else None
        return self._verify(account, password, client, (name, account_id))

    def by_certificate(self, account: Account, client: Client) -> Account:
        """The account if the client presented one of its registered certificates (O2's identification)."""
        if client.certificate is None or client.certificate not in account.client_certs:
            log.info("auth failed: account=%s certificate=%s", account.name, client.certificate)
            raise RequestError(ErrorCode.AUTH_FAILED, "no registered client certificate presented", "certificate")
        self._check(account, client)
        return account

    def _check(self, account: Account, client: Client | None) -> None:
        if not account.active:
            log.info("auth refused: account %s is disabled", account.name)
            raise RequestError(ErrorCode.ACCOUNT_DISABLED, "account is disabled", "account")
        if account.allowed_networks and (client is None or not _in_networks(client.address,
                                                                             account.allowed_networks)):
            log.info("auth refused: account %s from %s", account.name, client.address if client else "?")
            raise RequestError(ErrorCode.ADDRESS_NOT_ALLOWED, "calls from this address are not allowed", "address")

    def _password_ok(self, account: Account, password: str) -> bool:
        key = (account.id, account.credential_version, hashlib.sha256(password.encode()).digest())
        with self._lock:
            if key in self._verified:
                self._verified.move_to_end(key)
                return True
        if not verify_password(password, account.password_hash):
            return False
        with self._lock:
            self._verified[key] = None
            if len(self._verified) > _CACHE_SIZE:
                self._verified.popitem(last=False)
        return True
