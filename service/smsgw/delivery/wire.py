"""A claimed message as the submit_sm PDUs that carry it: addresses, data coding, concatenation, validity. Pure.

Runs for every message the worker sends (~20,000 a second), so per-connector and per-originator work is cached and
a single-part message builds no concatenation at all.
"""

from __future__ import annotations

import time
from collections.abc import Set
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from smsgw.domain import numbers
from smsgw.domain.encoding import (
    GSM7_SINGLE,
    UCS2_SINGLE,
    Encoding,
    concat_udh,
    data_coding,
    gsm_encode,
    split_binary,
    split_text,
)
from smsgw.domain.errors import MessageError
from smsgw.domain.model import ReportMask
from smsgw.domain.numbers import OriginatorType

from .connectors.base import Outgoing, Part
from .receipts import ESM_UDHI, TLV_SAR_MSG_REF_NUM, TLV_SAR_SEGMENT_SEQNUM, TLV_SAR_TOTAL_SEGMENTS


@dataclass(frozen=True, slots=True)
class WireOptions:
    """How one connector puts messages on the wire.

    concat: "udh" puts the concatenation IE in the user data (every phone understands it); "sar" sends the SAR TLVs
    and lets the SMSC build it, for SMSCs that want that. default_source: the originator of a message that names
    none; "" leaves it to the SMSC. validity: "relative" (the default) sends the time left, so that a clock skew
    between us and the SMSC cannot shorten or stretch it; "absolute" sends the expiry time in UTC.
    """

    concat: Literal["udh", "sar"] = "udh"
    default_source: str = ""
    validity: Literal["absolute", "relative"] = "relative"

    def __post_init__(self) -> None:
        """Refuse a bad configuration when the connector is set up, not at the first send."""
        if self.concat not in ("udh", "sar"):
            raise ValueError(f"concat must be 'udh' or 'sar', not {self.concat!r}")
        if self.validity not in ("absolute", "relative"):
            raise ValueError(f"validity must be 'absolute' or 'relative', not {self.validity!r}")
        _source(self.default_source, None)


# Which SMPP TON/NPI each originator type travels with. A short code goes as network-specific with an unknown
# plan (TON 3, NPI 0), as Infobip and most SMSC documentation ask; Kannel and Sinch use unknown/ISDN (0/1), which
# SMSCs also accept, but 3/0 says what the address is.
_TON_NPI = {
    OriginatorType.INTERNATIONAL: (1, 1),
    OriginatorType.ALPHANUMERIC: (5, 0),
    OriginatorType.NETWORK: (3, 0),
}
_DESTINATION_TON, _DESTINATION_NPI = 1, 1


@lru_cache(maxsize=4096)
def _source(originator: str, kind: str | None) -> tuple[str, int, int]:
    """(source_addr, TON, NPI). An originator without a type (the connector's default) is typed from its shape by
    the rules `numbers.originator` applies to a customer's; ValueError when it is no valid originator."""
    if not originator:
        return "", 0, 0
    if kind is None:
        try:
            originator, kind = numbers.originator(originator)
        except MessageError as e:
            raise ValueError(f"source address {originator!r}: {e.detail}") from None
    ton, npi = _TON_NPI[OriginatorType(kind)]
    return (originator.removeprefix("+") if ton == 1 else originator), ton, npi


_FINAL, _INTERMEDIATE = int(ReportMask.FINAL), int(ReportMask.INTERMEDIATE)  # IntFlag arithmetic is slow


def _registered_delivery(reports: int) -> int:
    """SMPP registered_delivery: bit 0 asks for the final receipt, 0x10 for intermediate notifications."""
    return (1 if reports & _FINAL else 0) | (0x10 if reports & _INTERMEDIATE else 0)


# --- Validity ----------------------------------------------------------------------------------------------------

MIN_VALIDITY_MS = 60_000
MAX_VALIDITY_MS = ((99 * 24 + 23) * 60 + 59) * 60_000 + 59_000
"""99 days 23:59:59: the most a relative validity says in days, hours, minutes and seconds. Its years and months
stay zero, since SMSCs disagree on how long a month is; SMSCs cap validity at days anyway."""


def validity_period(expires_at: int, now_ms: int, absolute: bool) -> str:
    """SMPP validity_period (SMPP 3.4 §7.1.1) for a message that expires at `expires_at`.

    The time left is clamped to 1 minute .. `MAX_VALIDITY_MS`: the worker expires messages before sending them, so
    one that has just passed its expiry still gets a minute rather than an error. Times round down, so the SMSC
    never keeps a message past its expiry. Relative: `YYMMDDhhmmss000R`; absolute: `YYMMDDhhmmsstnn+` in UTC
    (tenths of a second, offset 00 quarter-hours).
    """
    left = min(max(expires_at - now_ms, MIN_VALIDITY_MS), MAX_VALIDITY_MS)
    return _absolute((now_ms + left) // 100) if absolute else _relative(left // 1000)


# Messages sent in the same second mostly share their validity, so the strings are cached.
@lru_cache(maxsize=1024)
def _relative(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{seconds:02d}000R"


@lru_cache(maxsize=1024)
def _absolute(tenths: int) -> str:
    return f"{time.strftime('%y%m%d%H%M%S', time.gmtime(tenths // 10))}{tenths % 10}00+"


# --- Parts -------------------------------------------------------------------------------------------------------

_ENCODINGS = {e.value: e for e in Encoding}
_SINGLE_OCTETS = {Encoding.GSM7: GSM7_SINGLE, Encoding.UCS2: 2 * UCS2_SINGLE}  # one septet an octet / UTF-16
_GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio: Fibonacci hashing


def concat_reference(message_id: int, bits: int) -> int:
    """The concatenation reference of a message: a hash of its id, so that a retry resends identical parts.

    Not the id's low bits: ids end in a per-millisecond sequence, which is 0 for most messages of a quiet gateway,
    and the phone would mix two messages with one reference. The high bits of a multiplicative hash depend on all of
    the id.
    """
    return ((message_id * _GOLDEN) & 0xFFFF_FFFF_FFFF_FFFF) >> (64 - bits)


def _split(message: Outgoing, encoding: Encoding, udh: bytes | None) -> list[bytes]:
    """`split_binary` / `split_text`; a text stored as one part that fits one part is encoded without the search
    for part boundaries (what `split_text` returns for it too)."""
    if encoding is Encoding.BINARY:
        if message.payload is None:
            raise ValueError(f"message {message.id}: binary without payload")
        return split_binary(message.payload, udh)
    if message.text is None:
        raise ValueError(f"message {message.id}: {encoding} without text")
    if message.parts == 1:
        data = gsm_encode(message.text) if encoding is Encoding.GSM7 else message.text.encode("utf-16-be")
        if len(data) <= _SINGLE_OCTETS[encoding]:
            return [data]
    return split_text(message.text, encoding)


def parts_of(message: Outgoing, options: WireOptions, now_ms: int, skip: Set[int] = frozenset()) -> list[Part]:
    """The submit_sm of every part of `message` but the 1-based seqs in `skip` (accepted by an SMSC before).

    GSM7 goes as unpacked septets (the SMSC packs them), UCS-2 as UTF-16-BE, binary with the caller's UDH (a text
    message's `udh` is not used). The split is `split_text`'s / `split_binary`'s, the very one that counted
    `message.parts`; a different count is a bug upstream and raises ValueError. A long message is concatenated with
    a UDH (esm_class UDHI) or, with concat "sar", with the SAR TLVs, under `concat_reference` (8 or 16 bits).
    """
    encoding = _ENCODINGS[message.encoding]
    udh = (message.udh or None) if encoding is Encoding.BINARY else None
    chunks = _split(message, encoding, udh)
    total = len(chunks)
    if total != message.parts:
        raise ValueError(f"message {message.id} splits into {total} parts, not the {message.parts} stored")

    if message.originator is None:
        source, source_ton, source_npi = _source(options.default_source, None)
    else:
        source, source_ton, source_npi = _source(message.originator, message.originator_type)
    destination = message.recipient.removeprefix("+")
    coding = data_coding(encoding, message.flash, message.dcs)
    pid = message.pid or 0
    validity = validity_period(message.expires_at, now_ms, options.validity == "absolute")
    registered = _registered_delivery(message.reports)

    def part(seq: int, esm_class: int, short_message: bytes, tlvs: tuple[tuple[int, bytes], ...] = ()) -> Part:
        return Part(
            message.id, seq, total, source, source_ton, source_npi, destination, _DESTINATION_TON, _DESTINATION_NPI,
            esm_class, pid, message.priority, validity, registered, coding, short_message, tlvs,
        )  # fmt: skip

    esm_class, prefix = (ESM_UDHI, udh) if udh else (0, b"")
    if total == 1:
        return [] if 1 in skip else [part(1, esm_class, prefix + chunks[0])]
    seqs = [seq for seq in range(1, total + 1) if seq not in skip]
    if options.concat == "sar":
        sar = ((TLV_SAR_MSG_REF_NUM, concat_reference(message.id, 16).to_bytes(2, "big")),
               (TLV_SAR_TOTAL_SEGMENTS, bytes((total,))))  # fmt: skip
        return [
            part(seq, esm_class, prefix + chunks[seq - 1], (*sar, (TLV_SAR_SEGMENT_SEQNUM, bytes((seq,)))))
            for seq in seqs
        ]
    ref = concat_reference(message.id, 8)
    return [part(seq, ESM_UDHI, concat_udh(ref, total, seq, udh) + chunks[seq - 1]) for seq in seqs]
