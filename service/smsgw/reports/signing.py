"""How a callback proves itself to the customer: credentials in the URL (sent as HTTP Basic), a fixed header, and an
HMAC-SHA256 signature over the method, the path and query, the timestamp and the body, so the customer can verify
GET and POST alike (none of the vendors offers this).

Signature: `X-Smsgw-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>\\n<METHOD>\\n<path?query>\\n" + body)>`,
with `X-Smsgw-Timestamp: <unix seconds>`; `verify` is the customer's side, and the README shows it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from ..domain.model import Account

TIMESTAMP_HEADER = "X-Smsgw-Timestamp"
SIGNATURE_HEADER = "X-Smsgw-Signature"
TOLERANCE_S = 300  # how far a verifier should accept a timestamp from its own clock


@dataclass(frozen=True, slots=True)
class Signed:
    url: str  # without credentials
    headers: dict[str, str]


def sign(account: Account, method: str, url: str, body: bytes | None, now_s: int) -> Signed:
    """The URL to request and the headers that authenticate it, as the account's settings say."""
    parts = urlsplit(url)
    headers: dict[str, str] = {}
    if parts.username is not None or parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        host = parts.hostname or ""
        netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    if account.report_header:
        name, _, value = account.report_header.partition(":")
        headers[name.strip()] = value.strip()
    if account.report_secret:
        timestamp = str(now_s)
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = "v1=" + _mac(account.report_secret, timestamp, method, _target(url), body or b"")
    return Signed(url, headers)


def signs(account: Account, url: str) -> bool:
    """Whether `sign` changes anything for requests to `url` (a callback URL only adds a query to the account's, so
    one look at that decides it for all of them)."""
    parts = urlsplit(url)
    return bool(account.report_header or account.report_secret or parts.username is not None
                or parts.password is not None)


def verify(secret: str, method: str, target: str, body: bytes, timestamp: str, signature: str, now_s: int) -> bool:
    """The customer's check: `target` is the request's path and query as received (e.g. `/dlr?id=1&status=sent`)."""
    try:
        fresh = abs(now_s - int(timestamp)) <= TOLERANCE_S
    except ValueError:
        return False
    expected = "v1=" + _mac(secret, timestamp, method, target, body)
    return fresh and hmac.compare_digest(expected, signature)


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _mac(secret: str, timestamp: str, method: str, target: str, body: bytes) -> str:
    message = f"{timestamp}\n{method.upper()}\n{target}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
