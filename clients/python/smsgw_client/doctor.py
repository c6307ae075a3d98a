"""`smsgw-client doctor URL`: what stands between this machine and a working smsgw, said plainly, one check a line.

In the spirit of O2's diagnostic tool: it checks, in order, the URL, the name (DNS) and the TCP connection; for
https the TLS handshake, the server's certificate (trusted by --ca or the system's store, for the URL's host,
within its dates), the client certificate (its files, its dates, and whether the server asked for one and accepted
it); then HTTP, the WSDL of the native API, and the credentials (a harmless call: GetBatchStatus of a made-up
batch, which UnknownBatch answers for a valid account). Each finding is OK, WARN (works, but look at it), FAIL
(does not work: the sentence says why and what to do) or SKIP (not checked, and why). A check that cannot run
because an earlier one failed is skipped, so the first FAIL is the one to fix first.

Certificates are read with `x509.py`, since Python decodes only verified ones; whether the server asked for a
client certificate is seen through the ssl module's message callback (`SSLContext._msg_callback`, CPython's
TLS tracing hook): where it is missing the doctor says it cannot tell.
"""

from __future__ import annotations

import socket
import ssl
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import requests

from . import x509
from .client import OPERATIONS, PATH, SmsgwClient
from .errors import AuthenticationError, SmsgwError, SoapFault, UnknownBatch

WARN_DAYS = 30  # a certificate that expires sooner is a WARN
DEFAULT_TIMEOUT = 10.0
_NO_CHECK_TIME = 0x200000  # OpenSSL's X509_V_FLAG_NO_CHECK_TIME: trust is checked apart from the dates
_HANDSHAKE, _CERTIFICATE_REQUEST = 22, 13  # TLS content type and handshake message type
_UNTRUSTED = {2, 18, 19, 20, 21, 27}  # OpenSSL verify codes for a chain that ends at no trusted certificate
_OLD_PROTOCOLS = {"SSLv3", "TLSv1", "TLSv1.1"}


class Outcome(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    outcome: Outcome
    text: str

    def line(self) -> str:
        return f"{self.outcome.value:<4}  {self.check:<18}  {self.text}"


@dataclass(frozen=True, slots=True)
class Settings:
    """What to check: the server's base URL, and optionally the credentials, a CA bundle that should trust the
    server's certificate (instead of the system's store), and a client certificate with its key."""

    url: str
    account: str | None = None
    password: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class _State:
    """What the checks learn, for the ones after them."""

    base_url: str = ""
    scheme: str = ""
    host: str = ""
    port: int = 0
    address: str = ""  # the address the TCP connection reached
    client_cert_usable: bool = False
    client_cert_refused: bool = False
    verify: bool | str = True  # what HTTP requests check the server's certificate with
    verify_note: str = ""
    server_asked: bool | None = None  # None: cannot tell
    stop: str | None = None  # why the rest is not checked
    details: dict[str, Any] = field(default_factory=dict)


def diagnose(settings: Settings) -> Iterator[Finding]:
    """The findings, in order, as each check ends (a slow one shows where it hangs)."""
    state = _State()
    checks: list[tuple[str, Callable[[Settings, _State], Finding | list[Finding]]]] = [
        ("url", _url), ("dns", _dns), ("connection", _connection),
    ]
    for name, check in checks:
        yield from _run(name, check, settings, state)
    if state.scheme == "https":
        for name, check in [("tls", _tls), ("server certificate", _server_trust), ("server name", _server_name),
                            ("server expiry", _server_expiry), ("client certificate", _client_certificate),
                            ("client expiry", _client_expiry), ("client cert use", _client_cert_use)]:
            yield from _run(name, check, settings, state)
    elif settings.cert and state.stop is None:
        yield Finding("client certificate", Outcome.WARN,
                      "given, but the URL is plain http: a client certificate is used only over https")
    for name, check in [("http", _http), ("wsdl", _wsdl), ("credentials", _credentials)]:
        yield from _run(name, check, settings, state)


def run(settings: Settings, out: TextIO) -> int:
    """Print the findings to `out` as they come, then a summary; 0 when nothing failed, else 1."""
    print(f"smsgw-client doctor {settings.url}", file=out, flush=True)
    counts = dict.fromkeys(Outcome, 0)
    for finding in diagnose(settings):
        counts[finding.outcome] += 1
        print(finding.line(), file=out, flush=True)
    summary = ", ".join(f"{n} {o.value}" for o, n in counts.items() if n)
    if counts[Outcome.FAIL]:
        print(f"{summary}: fix the FAIL lines, the first one first (the later ones often follow from it).", file=out)
        return 1
    print(f"{summary}: {'works, but look at the WARN lines.' if counts[Outcome.WARN] else 'all is well.'}",
          file=out)
    return 0


def _run(name: str, check: Callable[[Settings, _State], Finding | list[Finding]], settings: Settings,
         state: _State) -> Iterator[Finding]:
    if state.stop is not None:
        yield Finding(name, Outcome.SKIP, f"not checked: {state.stop}")
        return
    try:
        found = check(settings, state)
    except Exception as error:  # a check that breaks must not hide the others' findings
        found = Finding(name, Outcome.FAIL, f"the check itself failed: {type(error).__name__}: {error}")
        state.stop = f"the {name} check failed"
    yield from (found if isinstance(found, list) else [found])


# --- where ------------------------------------------------------------------------------------------------------


def _url(settings: Settings, state: _State) -> Finding:
    parts = urlsplit(settings.url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        state.stop = "the URL is not usable"
        return Finding("url", Outcome.FAIL, f"{settings.url!r} is not an http:// or https:// URL with a host, "
                                            "e.g. https://sms.example.com:8443")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        state.stop = "the URL is not usable"
        return Finding("url", Outcome.FAIL, f"{settings.url!r} has a port that is not a number from 1 to 65535")
    path = parts.path.rstrip("/")
    if path.endswith(PATH):  # the API's own URL given for the server's
        path = path[: -len(PATH)]
    state.base_url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    state.scheme, state.host, state.port = parts.scheme, parts.hostname, port
    return Finding("url", Outcome.OK, f"{state.base_url} (the native API at {state.base_url}{PATH})")


def _dns(settings: Settings, state: _State) -> Finding:
    if _is_address(state.host):
        return Finding("dns", Outcome.OK, f"{state.host} is an IP address: nothing to resolve")
    try:
        infos = socket.getaddrinfo(state.host, state.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        state.stop = "the name does not resolve"
        return Finding("dns", Outcome.FAIL, f"{state.host} does not resolve ({error.strerror}): check the name in "
                                            "the URL, and this machine's DNS")
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return Finding("dns", Outcome.OK, f"{state.host} resolves to {', '.join(addresses)}")


def _connection(settings: Settings, state: _State) -> Finding:
    where = f"{state.host} port {state.port}"
    started = time.monotonic()
    try:
        with socket.create_connection((state.host, state.port), timeout=settings.timeout) as sock:
            state.address = str(sock.getpeername()[0])
    except ConnectionRefusedError:
        state.stop = "nothing to connect to"
        remote = "" if state.host in ("localhost", "::1") or state.host.startswith("127.") else \
            " (A server that listens on 127.0.0.1 only refuses other machines.)"
        return Finding("connection", Outcome.FAIL, f"refused: nothing listens on {where}. Is the server running, "
                                                   f"and on this port?{remote}")
    except TimeoutError:
        state.stop = "nothing to connect to"
        return Finding("connection", Outcome.FAIL, f"no answer from {where} within {settings.timeout:g} s: a "
                                                   "firewall may drop the connection, or the host is down")
    except OSError as error:
        state.stop = "nothing to connect to"
        return Finding("connection", Outcome.FAIL, f"cannot connect to {where}: {error.strerror or error}")
    elapsed = (time.monotonic() - started) * 1000
    return Finding("connection", Outcome.OK, f"connected to {state.address} port {state.port} in {elapsed:.0f} ms")


# --- TLS --------------------------------------------------------------------------------------------------------


@dataclass
class _Handshake:
    version: str | None = None
    cipher: str | None = None
    der: bytes | None = None
    asked: bool | None = None  # whether the server sent a CertificateRequest (None: cannot tell)
    refused: str | None = None  # the server's alert on the first read (a client certificate it refused)


def _handshake(state: _State, context: ssl.SSLContext, timeout: float, probe: bool,
               seen: list[int] | None = None) -> _Handshake:
    """One handshake with `context`; with `probe`, a first request too, on which a TLS 1.3 server says it refused
    the client certificate (it verifies it after the client considers the handshake done). The types of the
    handshake messages the server sent go to `seen`, also when the handshake fails."""
    seen = [] if seen is None else seen
    traced = hasattr(context, "_msg_callback")

    def trace(_conn: Any, direction: str, _version: Any, content_type: Any, msg_type: Any, _data: Any) -> None:
        if direction == "read" and int(content_type) == _HANDSHAKE:
            seen.append(int(msg_type))

    if traced:
        setattr(context, "_msg_callback", trace)  # noqa: B010 (private: not in the ssl module's type stubs)
    result = _Handshake()
    with socket.create_connection((state.address or state.host, state.port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=state.host) as tls:
        result.version, result.der = tls.version(), tls.getpeercert(binary_form=True)
        cipher = tls.cipher()
        result.cipher = cipher[0] if cipher else None
        if probe:
            try:
                tls.sendall(f"HEAD / HTTP/1.1\r\nHost: {state.host}\r\nConnection: close\r\n\r\n".encode())
                tls.recv(1)
            except ssl.SSLError as error:
                result.refused = _reason(error)
            except OSError:
                pass
    result.asked = (_CERTIFICATE_REQUEST in seen) if traced else None
    return result


def _context(settings: Settings, state: _State, *, verify: bool, with_cert: bool) -> ssl.SSLContext:
    if verify:
        context = ssl.create_default_context(cafile=settings.ca) if settings.ca else ssl.create_default_context()
        context.check_hostname = False  # the name and the dates are checked apart, so each says what it is
        context.verify_flags |= ssl.VerifyFlags(_NO_CHECK_TIME)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if with_cert and settings.cert and state.client_cert_usable:
        context.load_cert_chain(settings.cert, settings.key, password=_no_passphrase)
    return context


def _tls(settings: Settings, state: _State) -> Finding:
    state.client_cert_usable = _client_files(settings)[0] is Outcome.OK if settings.cert else False
    seen: list[int] = []
    try:
        shake = _handshake(state, _context(settings, state, verify=False, with_cert=True), settings.timeout, True,
                           seen)
    except (ssl.SSLError, OSError) as error:
        if not state.client_cert_usable:
            state.stop = "the TLS handshake failed"
            if _CERTIFICATE_REQUEST in seen:  # TLS 1.2: the server ends the handshake it asked for a certificate in
                return Finding("tls", Outcome.FAIL, f"the server asked for a client certificate and ended the "
                                                    f"handshake without one ({_reason(error)}): it requires one; "
                                                    "give it with --cert and --key")
            return Finding("tls", Outcome.FAIL, _handshake_failure(error))
        seen.clear()
        try:  # without our certificate: was it the one refused?
            shake = _handshake(state, _context(settings, state, verify=False, with_cert=False), settings.timeout,
                               True, seen)
        except (ssl.SSLError, OSError):
            state.stop = "the TLS handshake failed"
            if _CERTIFICATE_REQUEST in seen and "alert" in _reason(error):
                return Finding("tls", Outcome.FAIL, f"the server refused our client certificate ({_reason(error)}) "
                                                    "and lets no client in without one: is it registered for the "
                                                    "account on the server (smsgw cert add ACCOUNT FILE), and "
                                                    "within its dates?")
            return Finding("tls", Outcome.FAIL, _handshake_failure(error))
        state.client_cert_refused = True
        state.details["refusal"] = _reason(error)
    if shake.refused is not None:
        if state.client_cert_usable and not state.client_cert_refused:
            state.client_cert_refused = True
            state.details["refusal"] = shake.refused
        elif not state.client_cert_usable:
            state.details["required"] = shake.refused
    state.server_asked = shake.asked
    state.details["der"] = shake.der
    text = f"{shake.version} handshake, cipher {shake.cipher}"
    if shake.version in _OLD_PROTOCOLS:
        return Finding("tls", Outcome.WARN, f"{text}: {shake.version} is outdated and insecure; the server should "
                                            "offer TLS 1.2 or newer")
    return Finding("tls", Outcome.OK, text)


def _handshake_failure(error: BaseException) -> str:
    reason = _reason(error)
    if "wrong version number" in reason or "record layer failure" in reason or "packet length too long" in reason:
        return (f"no TLS on this port ({reason}): the server may speak plain HTTP here; try an http:// URL, or the "
                "port it serves https on")
    if isinstance(error, TimeoutError):
        return "the server did not finish the TLS handshake in time"
    if "alert handshake failure" in reason or "no protocols available" in reason or "unsupported protocol" in reason:
        return f"the server and this client have no TLS version or cipher in common ({reason})"
    if "certificate required" in reason:
        return (f"the server requires a client certificate and got none ({reason}): give one with --cert and "
                "--key")
    return f"the TLS handshake failed: {reason}"


def _server_certificate(state: _State) -> x509.Certificate | None:
    der = state.details.get("der")
    if not der:
        return None
    try:
        return x509.parse(der)
    except x509.CertificateError:
        return None


def _server_trust(settings: Settings, state: _State) -> Finding:
    cert = _server_certificate(state)
    described = f"{cert.subject}, issued by {'itself' if cert.self_issued else cert.issuer}" if cert else "it"
    store = f"--ca {settings.ca}" if settings.ca else "the system's CA store"
    try:
        context = _context(settings, state, verify=True, with_cert=not state.client_cert_refused)
    except (ssl.SSLError, OSError) as error:
        state.verify, state.verify_note = False, " (not checking the server's certificate: see above)"
        return Finding("server certificate", Outcome.FAIL, f"--ca {settings.ca} cannot be used: {_reason(error)}")
    try:
        _handshake(state, context, settings.timeout, False)
    except ssl.SSLCertVerificationError as error:
        state.verify, state.verify_note = False, " (not checking the server's certificate, which failed above)"
        if error.verify_code in _UNTRUSTED:
            hint = ("To trust it, give the CA that issued it with --ca FILE" if cert is None or not
                    cert.self_issued else "It is self-signed: to trust it, give the server's own certificate with "
                                          "--ca FILE")
            return Finding("server certificate", Outcome.FAIL,
                           f"not trusted: {described}; {store} does not vouch for it ({error.verify_message}), so "
                           f"clients refuse the connection. {hint}; or give the server a certificate from a CA "
                           "that clients trust")
        return Finding("server certificate", Outcome.FAIL,
                       f"not trusted: {error.verify_message} (OpenSSL code {error.verify_code}); {described}")
    except (ssl.SSLError, OSError):
        pass  # the server ended the handshake after our check of its certificate passed (our certificate, later)
    state.verify = settings.ca or True
    return Finding("server certificate", Outcome.OK, f"trusted: {described}, which {store} vouches for")


def _server_name(settings: Settings, state: _State) -> Finding:
    cert = _server_certificate(state)
    if cert is None:
        return Finding("server name", Outcome.WARN, "the server's certificate could not be read")
    names = ", ".join(cert.names()) or "no names at all"
    if cert.matches(state.host):
        return Finding("server name", Outcome.OK, f"the certificate is for {state.host} ({names})")
    if state.verify is not False:
        state.verify, state.verify_note = False, " (not checking the server's certificate, which failed above)"
    return Finding("server name", Outcome.FAIL,
                   f"the certificate is for {names}, not for {state.host}: clients refuse it. Use a name it lists "
                   f"in the URL, or give the server a certificate for {state.host}")


def _expiry(cert: x509.Certificate, whose: str) -> tuple[Outcome, str]:
    now = datetime.now(UTC)
    left = cert.days_left(now)
    until = _date(cert.not_after)
    if now < cert.not_before:
        return Outcome.FAIL, (f"{whose} is not valid yet: from {_date(cert.not_before)} (a wrong clock, here or "
                              "where it was made?)")
    if left < 0:
        return Outcome.FAIL, f"{whose} expired on {until}, {-left:.0f} days ago: renew it"
    if left < WARN_DAYS:
        return Outcome.WARN, f"{whose} expires on {until}: {_days(left)} left; renew it soon"
    return Outcome.OK, f"valid until {until} ({_days(left)} left)"


def _server_expiry(settings: Settings, state: _State) -> Finding:
    cert = _server_certificate(state)
    if cert is None:
        return Finding("server expiry", Outcome.WARN, "the server's certificate could not be read")
    outcome, text = _expiry(cert, "the server's certificate")
    if outcome is Outcome.FAIL and state.verify is not False:
        state.verify, state.verify_note = False, " (not checking the server's certificate, which failed above)"
    return Finding("server expiry", outcome, text)


# --- the client certificate -------------------------------------------------------------------------------------


def _client_files(settings: Settings) -> tuple[Outcome, str, x509.Certificate | None]:
    if not settings.cert:
        return Outcome.OK, "", None
    try:
        ders = x509.read_pem_file(settings.cert)
    except OSError as error:
        return Outcome.FAIL, f"cannot read {settings.cert}: {error.strerror or error}", None
    if not ders:
        return Outcome.FAIL, f"{settings.cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", None
    try:
        cert = x509.parse(ders[0])
    except x509.CertificateError as error:
        return Outcome.FAIL, f"{settings.cert}: {error}", None
    key = settings.key or settings.cert
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(settings.cert, settings.key, password=_no_passphrase)
    except FileNotFoundError as error:
        return Outcome.FAIL, f"cannot read the key {key}: {error.strerror}", cert
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error) or "key values mismatch" in str(error):
            return Outcome.FAIL, f"the key {key} does not belong to the certificate {settings.cert}", cert
        return Outcome.FAIL, f"the key {key} cannot be used with {settings.cert}: {_reason(error)}", cert
    except (OSError, ValueError) as error:
        return Outcome.FAIL, f"the key {key} cannot be used: {error}", cert
    return Outcome.OK, f"{cert.subject}, issued by {'itself' if cert.self_issued else cert.issuer}; the key " \
                       "matches", cert


def _client_certificate(settings: Settings, state: _State) -> Finding:
    if not settings.cert:
        return Finding("client certificate", Outcome.OK, "none given (--cert FILE --key FILE)")
    outcome, text, _ = _client_files(settings)
    return Finding("client certificate", outcome, text)


def _client_expiry(settings: Settings, state: _State) -> Finding:
    cert = _client_files(settings)[2]
    if cert is None:
        return Finding("client expiry", Outcome.SKIP, "not checked: no client certificate could be read" if
                       settings.cert else "not checked: no client certificate given")
    outcome, text = _expiry(cert, "the client certificate")
    return Finding("client expiry", outcome, text)


def _client_cert_use(settings: Settings, state: _State) -> Finding:
    asked = state.server_asked
    if not settings.cert:
        if "required" in state.details:
            state.stop = "the server requires a client certificate"
            return Finding("client cert use", Outcome.FAIL,
                           f"the server requires a client certificate ({state.details['required']}): give one "
                           "with --cert and --key")
        if asked:
            return Finding("client cert use", Outcome.OK, "the server asks for a client certificate; none given, "
                                                          "which is fine for password-authenticated interfaces")
        return Finding("client cert use", Outcome.OK, "the server does not ask for a client certificate")
    if not state.client_cert_usable:
        return Finding("client cert use", Outcome.SKIP, "not checked: the client certificate is not usable")
    if state.client_cert_refused:
        return Finding("client cert use", Outcome.FAIL,
                       f"the server refused our client certificate ({state.details.get('refusal')}): it does not "
                       "trust it. Is it registered for the account on the server (smsgw cert add ACCOUNT FILE), and "
                       "within its dates?")
    if asked is None:
        return Finding("client cert use", Outcome.WARN, "the server accepted the connection with our certificate, "
                                                        "but this Python cannot tell whether it asked for it")
    if not asked:
        return Finding("client cert use", Outcome.WARN,
                       "the server did not ask for a client certificate, so ours is not used (a proxy in front may "
                       "end TLS, or the server authenticates by password only)")
    return Finding("client cert use", Outcome.OK, "the server asked for a client certificate and accepted ours")


# --- HTTP, the WSDL and the credentials -------------------------------------------------------------------------


def _requests_options(settings: Settings, state: _State) -> dict[str, Any]:
    use_cert = bool(settings.cert) and state.client_cert_usable and not state.client_cert_refused
    cert = (settings.cert, settings.key) if use_cert and settings.key else (settings.cert if use_cert else None)
    return {"verify": state.verify if state.scheme == "https" else True, "cert": cert, "timeout": settings.timeout}


def _http(settings: Settings, state: _State) -> Finding:
    url = f"{state.base_url}/healthz"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # urllib3's warning about an unverified certificate: said above
            response = requests.get(url, **_requests_options(settings, state))
    except requests.RequestException as error:
        state.stop = "HTTP requests fail"
        return Finding("http", Outcome.FAIL, f"GET {url} failed: {_reason(error)}{state.verify_note}")
    body = " ".join(response.text.split())[:160]
    if response.status_code == 200:
        return Finding("http", Outcome.OK, f"GET /healthz: 200 {body}{state.verify_note}")
    if response.status_code == 404:
        return Finding("http", Outcome.WARN, f"GET /healthz: 404: no health check here (a proxy that passes only "
                                             f"some paths, or not smsgw?){state.verify_note}")
    if response.status_code == 503:
        return Finding("http", Outcome.FAIL, f"GET /healthz: 503: the server runs but is not healthy: {body}")
    return Finding("http", Outcome.WARN, f"GET /healthz: HTTP {response.status_code}: {body}{state.verify_note}")


def _client(settings: Settings, state: _State, account: str, password: str) -> SmsgwClient:
    options = _requests_options(settings, state)
    return SmsgwClient(state.base_url, account, password, verify=options["verify"], cert=options["cert"],
                       timeout=settings.timeout)


def _wsdl(settings: Settings, state: _State) -> Finding:
    url = f"{state.base_url}{PATH}?wsdl"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            response = requests.get(url, **_requests_options(settings, state))
    except requests.RequestException as error:
        state.stop = "the WSDL could not be loaded"
        return Finding("wsdl", Outcome.FAIL, f"GET {url} failed: {_reason(error)}")
    if response.status_code != 200:
        state.stop = "the WSDL could not be loaded"
        hint = (": is the URL the server's root (e.g. https://sms.example.com), and does a proxy in front pass "
                f"{PATH}?" if response.status_code == 404 else "")
        return Finding("wsdl", Outcome.FAIL, f"GET {PATH}?wsdl: HTTP {response.status_code}{hint}")
    if b"definitions" not in response.content[:2000]:
        state.stop = "the WSDL could not be loaded"
        kind = response.headers.get("Content-Type", "no content type")
        return Finding("wsdl", Outcome.FAIL, f"GET {PATH}?wsdl answers something else than a WSDL ({kind}): "
                                             f"{' '.join(response.text.split())[:120]}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = _client(settings, state, settings.account or "-", settings.password or "-")
        try:
            declared = client.operations()
        except SmsgwError as error:
            state.stop = "the WSDL is not usable"
            return Finding("wsdl", Outcome.FAIL, f"{PATH}?wsdl does not parse: {error}")
        finally:
            client.close()
    missing = sorted(OPERATIONS - declared)
    if missing:
        state.stop = "the WSDL lacks operations"
        return Finding("wsdl", Outcome.FAIL, f"{PATH}?wsdl lacks {', '.join(missing)}: the server is older than "
                                             "this client, or not smsgw")
    return Finding("wsdl", Outcome.OK, f"{PATH}?wsdl parses and declares all {len(OPERATIONS)} operations of the "
                                       "native API")


def _credentials(settings: Settings, state: _State) -> Finding:
    if not settings.account or settings.password is None:
        return Finding("credentials", Outcome.SKIP, "not checked: give --account and --password")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = _client(settings, state, settings.account, settings.password)
        try:
            client.batch_status(f"smsgw-client-doctor-{uuid.uuid4().hex}")
        except UnknownBatch:
            pass  # what a valid account gets for a batch it does not have
        except AuthenticationError as error:
            return Finding("credentials", Outcome.FAIL,
                           f"the server refused account {settings.account!r} with this password ({error.text}): "
                           "check both; the account may also be disabled, or not allowed from this address")
        except SoapFault as error:
            return Finding("credentials", Outcome.FAIL, f"a harmless call (GetBatchStatus) failed: "
                                                        f"{type(error).__name__}: {error.text}")
        except SmsgwError as error:
            return Finding("credentials", Outcome.FAIL, f"a harmless call (GetBatchStatus) failed: {error}")
        finally:
            client.close()
    return Finding("credentials", Outcome.OK, f"account {settings.account!r} and its password are accepted")


# --- wording ----------------------------------------------------------------------------------------------------


def _reason(error: BaseException) -> str:
    """The innermost reason of an exception, as OpenSSL or the OS said it."""
    seen: set[int] = set()
    current: BaseException | None = error
    deepest = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        deepest = current
        nested = [a for a in (*current.args, getattr(current, "reason", None)) if isinstance(a, BaseException)]
        current = nested[0] if nested else current.__cause__ or current.__context__
    if isinstance(deepest, ssl.SSLError) and deepest.reason:
        return str(deepest.reason).lower().replace("_", " ")
    if isinstance(deepest, OSError) and deepest.strerror:
        return deepest.strerror
    return str(deepest) or type(deepest).__name__


def _no_passphrase() -> str:
    raise ValueError("the key is encrypted: give an unencrypted key file")


def _is_address(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _days(days: float) -> str:
    if days < 1:
        return f"{days * 24:.0f} hours"
    whole = int(days)
    return f"{whole} day{'s' if whole != 1 else ''}"

