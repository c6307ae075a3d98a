"""Creating and changing accounts (the CLI and the admin console use this); every setting is validated here once."""

from __future__ import annotations

import ipaddress
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from .auth import certificate_fingerprint, hash_password, normalise_fingerprint
from .domain import numbers
from .domain.encoding import ParsingType
from .domain.errors import ErrorCode, GatewayError
from .domain.model import Account
from .store import repository as repo
from .store.database import Store

REPORT_FORMATS = ("modica", "puzzel-json", "puzzel-xml", "puzzel-get", "openmarket", "rapporto", "pull")


class SettingError(ValueError):
    """A setting's value is not acceptable; the text says why."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingError(f"expected true or false, got {raw!r}")


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingError(f"expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _items(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _networks(raw: str) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.ip_network(item, strict=False)) for item in _items(raw))
    except ValueError as error:
        raise SettingError(str(error)) from None


def _fingerprints(raw: str) -> tuple[str, ...]:
    try:
        return tuple(normalise_fingerprint(item) for item in _items(raw))
    except ValueError as error:
        raise SettingError(str(error)) from None


def _country(raw: str) -> str | None:
    code = raw.strip().upper()
    if not code:
        return None
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingError(f"not an ISO 3166 country code phonenumbers knows: {raw!r}")
    return code


def _url(raw: str) -> str | None:
    if not raw.strip():
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(f"expected an http:// or https:// URL with a host, got {raw!r}")
    return raw.strip()


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
INTERMEDIATE_STATES = ("submitted", "buffered")
CREDIT_MODES = ("none", "messages", "currency")


def _header(raw: str) -> str | None:
    """A fixed callback header, "Name: value" (an API key, a bearer token)."""
    if not raw.strip():
        return None
    name, colon, value = raw.partition(":")
    if not colon or not _HEADER_NAME.fullmatch(name.strip()) or not value.strip():
        raise SettingError(f"expected 'Name: value', got {raw!r}")
    if any(c in value for c in "\r\n\0"):
        raise SettingError("a header value may not hold line breaks")
    return f"{name.strip()}: {value.strip()}"


def _states(raw: str) -> tuple[str, ...]:
    states = tuple(_items(raw.lower()))
    for state in states:
        if state not in INTERMEDIATE_STATES:
            raise SettingError(f"expected some of {', '.join(INTERMEDIATE_STATES)}; got {state!r}")
    return tuple(s for s in INTERMEDIATE_STATES if s in states)


def _secret(raw: str) -> str | None:
    if not raw.strip():
        return None
    if len(raw.strip()) < 16:
        raise SettingError("an HMAC key of at least 16 characters, please")
    return raw.strip()


def _keywords(raw: str) -> tuple[str, ...]:
    words = tuple(dict.fromkeys(item.upper() for item in _items(raw)))
    for word in words:
        if not re.fullmatch(r"\w{1,40}", word):
            raise SettingError(f"keywords are single words of at most 40 letters or digits; got {word!r}")
    return words


def _reply(raw: str) -> str | None:
    text = raw.strip()
    if len(text) > 918:
        raise SettingError("a reply of at most 918 characters (6 SMS parts of GSM text)")
    return text or None


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise SettingError(f"expected one of {', '.join(options)}; got {raw!r}")
        return raw

    return parse


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _originator_type(raw: str) -> numbers.OriginatorType | None:
    if not raw.strip():
        return None
    try:
        return numbers.OriginatorType(raw.strip().lower())
    except ValueError:
        raise SettingError(f"expected one of {', '.join(t.value for t in numbers.OriginatorType)}") from None


def _parsing_type(raw: str) -> ParsingType:
    try:
        return ParsingType(raw.strip().upper())
    except ValueError:
        raise SettingError(f"expected one of {', '.join(t.value for t in ParsingType)}") from None


# Every account setting, its parser from text (CLI, console forms) and what it means.
SETTINGS: Mapping[str, tuple[Callable[[str], Any], str]] = {
    "active": (_bool, "whether the account may send and receive"),
    "allowed_networks": (_networks, "client addresses allowed, comma-separated CIDR (empty: any)"),
    "trusted_proxies": (_networks, "proxies whose client-address and certificate headers are believed (CIDR)"),
    "client_address_header": (_optional_text, "header a trusted proxy puts the client address in"),
    "client_cert_header": (_optional_text, "header a trusted proxy puts the client certificate in (URL-escaped PEM, "
                                           "as nginx's $ssl_client_escaped_cert, or its SHA-256)"),
    "client_certs": (_fingerprints, "client certificate SHA-256 fingerprints, comma-separated (enough behind a "
                                    "proxy; `smsgw cert add` also stores the certificate for serve --tls-cert)"),
    "default_country": (_country, "country for national numbers (ISO 3166 alpha-2, e.g. NO)"),
    "default_originator": (_optional_text, "originator used when a message names none"),
    "default_originator_type": (_originator_type, "international, alphanumeric or network"),
    "allowed_originators": (lambda raw: tuple(_items(raw)), "originators a message may name (empty: any)"),
    "max_parts": (_int(1, 255), "most SMS parts one message may take (6 = 918 GSM characters)"),
    "parsing_type": (_parsing_type, "default for characters outside GSM 03.38: " + ", ".join(ParsingType)),
    "duplicate_window": (_int(0, 30 * 86400), "seconds a client reference stays unique (0: no check)"),
    "default_validity": (_int(60, 365 * 86400), "seconds a message lives when it names no validity"),
    "test_mode": (_bool, "accept and report messages without sending them"),
    "send_rate": (_int(0, 100_000), "SMS parts per second sent to the network for this account, per delivery "
                                    "worker (0: no limit)"),
    "single_shot_billing": (_bool, "premium messages are billed once, never retried for billing"),
    "report_format": (_choice(REPORT_FORMATS), "how reports reach the account: " + ", ".join(REPORT_FORMATS)),
    "dlr_url": (_url, "where delivery reports are pushed"),
    "mo_url": (_url, "where inbound messages are pushed"),
    "report_intermediate": (_bool, "report intermediate states even for messages that did not ask for them"),
    "intermediate_states": (_states, "which intermediate states are reported: submitted (the SMSC took it), "
                                     "buffered (the network has it); comma-separated, empty for none"),
    "report_retention": (_int(1, 30 * 24), "hours a pushed report is retried before it is dead-lettered"),
    "report_timeout": (_int(1, 120), "seconds a callback may take before it counts as failed"),
    "report_header": (_header, "a header sent with every callback, 'Name: value' (e.g. 'X-API-Key: s3cret')"),
    "credit_mode": (_choice(CREDIT_MODES), "prepaid credit: none, messages (one per message) or currency "
                                           "(segment_price per SMS part plus the message's price); "
                                           "`smsgw account credit` tops it up"),
    "segment_price": (_int(0, 1_000_000_000), "credit per SMS part in currency mode, in the smallest unit"),
    "request_rate": (_int(0, 1_000_000), "requests per second (0: no limit)"),
    "message_rate": (_int(0, 1_000_000), "messages per second (0: no limit)"),
    "recipient_quota": (_int(0, 1_000_000), "messages to one number within recipient_window before the rest are "
                                            "held for an operator (Puzzel status 24; 0: no quota)"),
    "recipient_window": (_int(1, 30 * 86400), "seconds the per-recipient quota counts over"),
    "stop_keywords": (_keywords, "MO words that opt the sender out (comma-separated)"),
    "start_keywords": (_keywords, "MO words that opt the sender back in"),
    "stop_reply": (_reply, "text sent back to a phone that opted out (empty: none)"),
    "start_reply": (_reply, "text sent back to a phone that opted back in (empty: none)"),
    "suppress_codes": (lambda raw: tuple(_items(raw)), "network error codes of a failed message's final receipt "
                                                       "that add the number to the suppressions (e.g. barred)"),
    "content_retention": (_int(0, 3650), "days message text and MO content are kept (0: for ever)"),
    "report_secret": (_secret, "HMAC-SHA256 key: callbacks carry X-Smsgw-Timestamp and X-Smsgw-Signature"),
}


def parse_settings(raw: Mapping[str, str]) -> dict[str, Any]:
    """Text values (as typed) to account values; a SettingError names the setting at fault."""
    values: dict[str, Any] = {}
    for name, text in raw.items():
        if name not in SETTINGS:
            raise SettingError(f"unknown account setting {name!r}")
        try:
            values[name] = SETTINGS[name][0](text)
        except SettingError as error:
            raise SettingError(f"{name}: {error}") from None
    return values


def _checked(account: Account) -> Account:
    """The account with its default originator validated, and its type inferred when none was given."""
    if not account.default_originator:
        return replace(account, default_originator=None, default_originator_type=None)
    try:
        value, kind = numbers.originator(account.default_originator, account.default_originator_type,
                                         account.default_country)
    except GatewayError as error:
        raise SettingError(f"default_originator: {error.detail}") from None
    if value != account.default_originator:
        raise SettingError(f"default_originator: write it as {value!r}")
    return replace(account, default_originator_type=kind)


_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)


def _certificate(data: bytes) -> tuple[str, str]:
    """(PEM, fingerprint) of the one certificate in `data` (PEM or DER), once OpenSSL has read it. Only the
    certificate is kept: a private key in the same file is never stored."""
    if b"-----BEGIN" in data:
        blocks = _PEM_CERTIFICATE.findall(data.decode("ascii", "replace"))
        if not blocks:
            raise SettingError("the file holds no PEM certificate")
        if len(blocks) > 1:
            raise SettingError(f"the file holds {len(blocks)} certificates; give the client's own certificate alone")
        try:
            der = ssl.PEM_cert_to_DER_cert(blocks[0])
        except ValueError:
            raise SettingError("the PEM certificate is not base64") from None
    else:
        der = data
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cadata=der)
        fingerprint = certificate_fingerprint(der)
    except (ssl.SSLError, ValueError) as error:
        raise SettingError(f"not a certificate OpenSSL can read (PEM or DER): {error}") from None
    return ssl.DER_cert_to_PEM_cert(der), fingerprint


def _only_settings(settings: Mapping[str, Any]) -> None:
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise SettingError(f"not account settings: {', '.join(sorted(unknown))}")


class Accounts:
    def __init__(self, store: Store, changed: Callable[[int], None] = lambda _account_id: None) -> None:
        """`changed(account_id)` after every change: this process's authenticator forgets its copy at once (other
        processes see the change within their refresh period)."""
        self.store = store
        self.changed = changed

    def create(self, name: str, password: str, account_id: int | None = None, **settings: Any) -> Account:
        if not name or len(name) > 64 or not name.isprintable() or name != name.strip():
            raise SettingError("name: 1 to 64 printable characters, no surrounding spaces")
        if not password:
            raise SettingError("password: must not be empty")
        if account_id is not None and not 0 < account_id < 2**63:
            raise SettingError("id: must be a positive 64-bit number")
        now = time.time_ns() // 1_000_000
        try:
            with self.store.write() as conn:
                if repo.get_account(conn, name=name) is not None:
                    raise SettingError(f"an account named {name!r} exists")
                new_id = account_id if account_id is not None else repo.next_account_id(conn)
                if repo.get_account(conn, account_id=new_id) is not None:
                    raise SettingError(f"an account with id {new_id} exists")
                _only_settings(settings)
                account = _checked(replace(Account(id=new_id, name=name, password_hash=hash_password(password)),
                                           **settings))
                repo.insert_account(conn, account, now)
        except IntegrityError:
            raise SettingError(f"an account named {name!r} or with that id exists") from None
        return account

    def update(self, name: str, password: str | None = None, **settings: Any) -> Account:
        """Change settings; a new password or a change of `active` bumps the credential version, which every
        process's cache of verified passwords is keyed on."""
        now = time.time_ns() // 1_000_000
        with self.store.write() as conn:
            account = repo.get_account(conn, name=name)
            if account is None:
                raise GatewayError(ErrorCode.NOT_FOUND, f"no account {name!r}", "account")
            _only_settings(settings)
            if "default_originator" in settings and "default_originator_type" not in settings:
                settings = {**settings, "default_originator_type": None}  # inferred again for the new originator
            changed = replace(account, **settings)
            if password is not None:
                if not password:
                    raise SettingError("password: must not be empty")
                changed = replace(changed, password_hash=hash_password(password))
            if password is not None or changed.active != account.active:
                changed = replace(changed, credential_version=account.credential_version + 1)
            changed = _checked(changed)
            repo.update_account(conn, changed, now)
            if "client_certs" in settings:  # a fingerprint taken off the account takes its certificate along
                stored = repo.client_certificates_of(conn, account.id)
                repo.remove_client_certificates(conn, account.id, [fp for fp in stored
                                                                   if fp not in changed.client_certs])
        self.changed(account.id)
        return changed

    def get(self, name: str) -> Account:
        with self.store.read() as conn:
            account = repo.get_account(conn, name=name)
        if account is None:
            raise GatewayError(ErrorCode.NOT_FOUND, f"no account {name!r}", "account")
        return account

    def all(self) -> list[Account]:
        with self.store.read() as conn:
            return repo.list_accounts(conn)

    def add_number(self, name: str, number: str, keyword: str | None = None) -> tuple[str, str]:
        """Own a number, optionally only for MOs whose first word is `keyword`. `+…`/`00…` is international; other
        digits are a national number of the account's country when they are one there, else a short code (3 to 8
        digits)."""
        account = self.get(name)
        raw = number.strip()
        try:
            owned = numbers.normalise(raw, numbers.NumberFormat.NATIONAL, account.default_country) \
                if raw.startswith(("+", "00")) or account.default_country else None
        except GatewayError:
            owned = None
        if owned is None:
            if not (raw.isdigit() and 3 <= len(raw) <= 8):
                raise SettingError(f"number: {raw!r} is neither a valid number nor a short code of 3 to 8 digits")
            owned = raw
        word = (keyword or "").strip().upper()
        if " " in word or len(word) > 40:
            raise SettingError("keyword: one word of at most 40 characters")
        try:
            with self.store.write() as conn:
                repo.add_number(conn, account.id, owned, word)
        except IntegrityError:
            raise SettingError(f"{owned} {word or '(any keyword)'} is already owned") from None
        return owned, word

    def numbers(self, name: str) -> list[tuple[str, str]]:
        account = self.get(name)
        with self.store.read() as conn:
            return repo.numbers_of(conn, account.id)

    def add_certificate(self, name: str, data: bytes) -> tuple[str, bool]:
        """Register a client certificate (PEM or DER) on the account: its fingerprint joins `client_certs` (what
        requests are checked against) and the certificate the trust bundle of `smsgw serve --tls-cert`. Returns the
        fingerprint and whether anything changed (False: the account had this certificate already)."""
        pem, fingerprint = _certificate(data)
        now = time.time_ns() // 1_000_000
        with self.store.write() as conn:
            account = self._get(conn, name)
            stored = repo.client_certificates_of(conn, account.id)
            if fingerprint not in stored:
                repo.add_client_certificate(conn, account.id, fingerprint, pem, now)
            if fingerprint not in account.client_certs:
                repo.update_account(conn, replace(account, client_certs=(*account.client_certs, fingerprint)), now)
        self.changed(account.id)
        return fingerprint, fingerprint not in stored or fingerprint not in account.client_certs

    def certificates(self, name: str) -> list[tuple[str, datetime | None]]:
        """The account's client certificate fingerprints, each with when its certificate was added, or None for a
        fingerprint registered without one (`--client-certs`: enough behind a proxy, not for serve --tls-cert)."""
        with self.store.read() as conn:
            account = self._get(conn, name)
            stored = repo.client_certificates_of(conn, account.id)
        return [(fp, stored.get(fp)) for fp in account.client_certs]

    def remove_certificate(self, name: str, fingerprint: str) -> None:
        """Stop trusting a certificate for the account: for requests within the servers' account refresh period
        (a second), and for new TLS connections once the server has reloaded its trust bundle."""
        try:
            wanted = normalise_fingerprint(fingerprint)
        except ValueError as error:
            raise SettingError(str(error)) from None
        now = time.time_ns() // 1_000_000
        with self.store.write() as conn:
            account = self._get(conn, name)
            stored = repo.client_certificates_of(conn, account.id)
            if wanted not in account.client_certs and wanted not in stored:
                raise GatewayError(ErrorCode.NOT_FOUND, f"account {name!r} has no certificate {wanted}", "certificate")
            kept = tuple(fp for fp in account.client_certs if fp != wanted)
            repo.update_account(conn, replace(account, client_certs=kept), now)
            repo.remove_client_certificates(conn, account.id, [wanted])
        self.changed(account.id)

    @staticmethod
    def _get(conn: Connection, name: str) -> Account:
        account = repo.get_account(conn, name=name)
        if account is None:
            raise GatewayError(ErrorCode.NOT_FOUND, f"no account {name!r}", "account")
        return account
