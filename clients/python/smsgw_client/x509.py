"""What the doctor reads from an X.509 certificate: its names, issuer, validity and subject alternative names.

Python's `ssl` decodes a certificate only once it is verified, and the doctor must also describe the ones that are
not (untrusted, expired, for another host). This reads the few fields it needs from the DER itself, without
another dependency; anything else in the certificate is skipped.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_OID_NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
              "1.2.840.113549.1.9.1": "emailAddress"}
_SUBJECT_ALT_NAME = "2.5.29.17"
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)


class CertificateError(ValueError):
    """Not a certificate this module can read."""


@dataclass(frozen=True, slots=True)
class Certificate:
    subject: str  # e.g. "CN=sms.example.com, O=Example"
    issuer: str
    not_before: datetime  # UTC
    not_after: datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    common_name: str | None
    self_issued: bool  # subject and issuer are the same name (a self-signed certificate, or a root CA's)

    def days_left(self, now: datetime | None = None) -> float:
        return (self.not_after - (now or datetime.now(UTC))).total_seconds() / 86400

    def names(self) -> list[str]:
        """The names it is for, as `DNS:…` and `IP:…` (or its CN when it has no alternative names)."""
        listed = [f"DNS:{n}" for n in self.dns_names] + [f"IP:{a}" for a in self.ip_addresses]
        return listed or ([f"CN={self.common_name}"] if self.common_name else [])

    def matches(self, host: str) -> bool:
        """Whether it is for `host` as TLS clients check it: an IP address against its IP names, a name against its
        DNS names (a `*.` wildcard stands for one whole leftmost label), or its CN when it has no DNS names."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            pass
        else:
            return any(ipaddress.ip_address(a) == address for a in self.ip_addresses)
        wanted = host.rstrip(".").lower()
        patterns = self.dns_names or ((self.common_name,) if self.common_name else ())
        return any(_name_matches(p.rstrip(".").lower(), wanted) for p in patterns)


def _name_matches(pattern: str, host: str) -> bool:
    if pattern == host:
        return True
    if pattern.startswith("*.") and "." in host:
        first, rest = host.split(".", 1)
        return bool(first) and rest == pattern[2:] and "." in rest
    return False


def read_pem_file(path: str | Path) -> list[bytes]:
    """The DER of each certificate in a PEM file (raises OSError when unreadable)."""
    data = Path(path).read_bytes()
    return [ssl.PEM_cert_to_DER_cert(match.group(0).decode("ascii")) for match in _PEM.finditer(data)]


def parse(der: bytes) -> Certificate:
    try:
        return _parse(der)
    except (IndexError, ValueError, UnicodeDecodeError) as error:
        raise CertificateError(f"not an X.509 certificate: {error}") from None


def _parse(der: bytes) -> Certificate:
    certificate = _items(_one(der, 0x30))
    tbs = _items(certificate[0].content)
    fields = tbs[1:] if tbs[0].tag == 0xA0 else tbs  # [0] version
    _serial, _algorithm, issuer, validity, subject = fields[:5]
    start, end = (_time(t) for t in _items(validity.content))
    dns: list[str] = []
    ips: list[str] = []
    for item in fields[5:]:
        if item.tag != 0xA3:  # [3] extensions
            continue
        for extension in _items(_one(item.content, 0x30)):
            parts = _items(extension.content)
            if _oid(parts[0].content) != _SUBJECT_ALT_NAME:
                continue
            for name in _items(_one(parts[-1].content, 0x30)):
                if name.tag == 0x82:
                    dns.append(name.content.decode("ascii"))
                elif name.tag == 0x87:
                    ips.append(str(ipaddress.ip_address(name.content)))
    subject_parts = _name(subject.content)
    return Certificate(
        subject=_show(subject_parts), issuer=_show(_name(issuer.content)), not_before=start, not_after=end,
        dns_names=tuple(dns), ip_addresses=tuple(ips),
        common_name=next((v for k, v in subject_parts if k == "CN"), None),
        self_issued=subject.content == issuer.content)


@dataclass(frozen=True, slots=True)
class _Item:
    tag: int
    content: bytes


def _items(data: bytes) -> list[_Item]:
    items, at = [], 0
    while at < len(data):
        tag, length = data[at], data[at + 1]
        at += 2
        if tag & 0x1F == 0x1F:
            raise ValueError("multi-byte tags are not used in certificates")
        if length & 0x80:
            count = length & 0x7F
            if not 0 < count <= 4:
                raise ValueError("bad length")
            length = int.from_bytes(data[at:at + count], "big")
            at += count
        if at + length > len(data):
            raise ValueError("truncated")
        items.append(_Item(tag, data[at:at + length]))
        at += length
    return items


def _one(data: bytes, tag: int) -> bytes:
    items = _items(data)
    if len(items) != 1 or items[0].tag != tag:
        raise ValueError(f"expected one element of tag {tag:#x}")
    return items[0].content


def _oid(data: bytes) -> str:
    numbers, value = [], 0
    for byte in data:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            numbers.append(value)
            value = 0
    first = min(numbers[0] // 40, 2)
    return ".".join(str(n) for n in [first, numbers[0] - 40 * first, *numbers[1:]])


def _time(item: _Item) -> datetime:
    text = item.content.decode("ascii")
    if item.tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, 1950 to 2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif item.tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        raise ValueError("not a time")
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _name(data: bytes) -> list[tuple[str, str]]:
    parts = []
    for rdn in _items(data):
        for attribute in _items(rdn.content):
            oid, value = _items(attribute.content)[:2]
            key = _oid(oid.content)
            parts.append((_OID_NAMES.get(key, key), _string(value)))
    return parts


def _string(item: _Item) -> str:
    if item.tag == 0x1E:  # BMPString
        return item.content.decode("utf-16-be")
    if item.tag == 0x1C:  # UniversalString
        return item.content.decode("utf-32-be")
    if item.tag == 0x14:  # TeletexString: in practice Latin-1
        return item.content.decode("latin-1")
    return item.content.decode("utf-8", "replace")


def _show(parts: list[tuple[str, str]]) -> str:
    return ", ".join(f"{k}={v}" for k, v in parts) or "(empty name)"
