"""SMS encodings: GSM 03.38 (with its extension table), UCS-2 and 8-bit binary; segmentation and concatenation.

Sizes follow 3GPP TS 23.040: the TP-UD field holds 140 octets. A concatenated part gives 6 of them to the UDH
(05 00 03 ref total seq), which leaves 153 septets (after one fill bit), 67 UTF-16 units or 134 octets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

from .errors import ErrorCode, MessageError


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"
    BINARY = "binary"


class ParsingType(StrEnum):
    """What to do with characters outside GSM 03.38 (Puzzel's `parsing-type`, used as the core's rule for all)."""

    NONE = "NONE"  # reject the message
    SAFE_REMOVE_NON_GSM = "SAFE_REMOVE_NON_GSM"  # drop them
    SAFE_REMOVE_NON_GSM_WITH_REPLACE = "SAFE_REMOVE_NON_GSM_WITH_REPLACE"  # á→a, drop what has no equivalent
    AUTO_DETECT = "AUTO_DETECT"  # send as UCS-2


# --- GSM 03.38 tables ------------------------------------------------------------------------------------------

ESC = 0x1B
"""The septet that announces an extension-table character; it is not a character of its own."""

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
"""The default alphabet, indexed by septet value; position 0x1B holds ESC as a placeholder only."""

GSM_EXTENSION = MappingProxyType(
    {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}
)
"""Extension-table characters and their codes; each is sent as ESC + code and so costs two septets."""

GSM7_SINGLE, GSM7_MULTI = 160, 153  # septets in a lone part / in a concatenated part
UCS2_SINGLE, UCS2_MULTI = 70, 67  # UTF-16 code units
OCTETS_SINGLE, OCTETS_MULTI = 140, 134  # octets of binary payload
CONCAT_IE_LENGTH = 5  # 00 03 ref total seq
MAX_PARTS = 255  # the concatenation IE counts parts in one octet

_BASIC_CHARS = GSM_BASIC.replace("\x1b", "")
_ENCODE = {ord(c): chr(i) for i, c in enumerate(GSM_BASIC) if i != ESC} | {
    ord(c): chr(ESC) + chr(code) for c, code in GSM_EXTENSION.items()
}
_DECODE = dict(enumerate(GSM_BASIC))
_DECODE_EXTENSION = {code: c for c, code in GSM_EXTENSION.items()}
# The hot path works on ASCII bytes: deleting every basic character leaves only the ones that need a look.
_ASCII_BASIC = bytes(sorted(ord(c) for c in _BASIC_CHARS if c.isascii()))
_ASCII_EXTENSION = bytes(sorted(ord(c) for c in GSM_EXTENSION if c.isascii()))
_NOT_BASIC = re.compile("[^" + "".join(map(re.escape, _BASIC_CHARS)) + "]")
_NOT_GSM = re.compile("[^" + "".join(map(re.escape, _BASIC_CHARS + "".join(GSM_EXTENSION))) + "]")
_EXTENSION = re.compile("[" + "".join(map(re.escape, GSM_EXTENSION)) + "]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def gsm_septets(text: str) -> int | None:
    """Septets `text` takes in GSM 03.38, or None if a character is outside it.

    Called for every submitted message, so ASCII text takes a C-speed path (encode + bytes.translate) and other
    text two regex scans at most.
    """
    if text.isascii():
        rest = text.encode("ascii").translate(None, _ASCII_BASIC)
        if not rest:
            return len(text)
        if rest.translate(None, _ASCII_EXTENSION):
            return None
        return len(text) + len(rest)
    if _NOT_BASIC.search(text) is None:
        return len(text)
    if _NOT_GSM.search(text) is not None:
        return None
    return len(text) + len(_EXTENSION.findall(text))


def gsm_encode(text: str) -> bytes:
    """Unpacked septets, one per byte, extension characters as ESC + code; ValueError on a non-GSM character."""
    if gsm_septets(text) is None:
        raise ValueError(f"not in GSM 03.38: {_describe(_distinct(_NOT_GSM.findall(text)))}")
    return text.translate(_ENCODE).encode("ascii")


def gsm_decode(data: bytes) -> str:
    """Text from unpacked septets; lenient as TS 23.038 asks a receiver to be, since MOs come from any phone.

    ESC + a code without an extension character reads as the basic character; ESC ESC and a trailing ESC read as a
    space. A byte above 0x7F is not a septet: ValueError.
    """
    if max(data, default=0) > 0x7F:
        raise ValueError("a septet is at most 0x7F")
    if ESC not in data:
        return data.decode("latin-1").translate(_DECODE)
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        septet = data[i]
        if septet != ESC:
            out.append(_DECODE[septet])
            i += 1
            continue
        code = data[i + 1] if i + 1 < n else ESC
        out.append(" " if code == ESC else _DECODE_EXTENSION.get(code, _DECODE[code]))
        i += 2
    return "".join(out)


# --- 7-bit packing -----------------------------------------------------------------------------------------------


def udh_fill_bits(udh_length: int) -> int:
    """Zero bits after a UDH of `udh_length` octets so that the first septet starts on a septet boundary."""
    return (7 - udh_length * 8 % 7) % 7


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets LSB first (TS 23.038 §6.1.2.1), after `fill_bits` zero bits (see `udh_fill_bits`)."""
    if not 0 <= fill_bits <= 6:
        raise ValueError("fill_bits must be 0-6")
    out = bytearray()
    acc, bits = 0, fill_bits
    for septet in septets:
        if septet > 0x7F:
            raise ValueError("a septet is at most 0x7F")
        acc |= septet << bits
        bits += 7
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits:
        out.append(acc)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """The `count` septets packed in `data` after `fill_bits` bits; the inverse of `pack_septets`."""
    if not 0 <= fill_bits <= 6:
        raise ValueError("fill_bits must be 0-6")
    if count < 0 or fill_bits + 7 * count > 8 * len(data):
        raise ValueError(f"{len(data)} octets cannot hold {count} septets after {fill_bits} fill bits")
    value = int.from_bytes(data, "little") >> fill_bits
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))


# --- Preparing a text --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message text as it will be sent, and what it costs; what was changed is kept for the customer's report."""

    text: str  # after removal/replacement
    encoding: Encoding
    units: int  # septets for GSM7, UTF-16 code units for UCS2, octets for BINARY
    parts: int
    removed: tuple[str, ...] = ()  # distinct characters dropped, first-seen order
    replaced: tuple[tuple[str, str], ...] = ()  # distinct (original, replacement)
    non_gsm: tuple[str, ...] = ()  # distinct input characters outside GSM 03.38 (forced UCS-2, dropped or replaced)


_REPLACEMENTS = MappingProxyType(
    {
        **dict.fromkeys("‘’‚‛′´`‹›", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        "…": "...",
        "\u00a0": " ",
        "\t": " ",
        **dict(zip("łŁđĐðÐħĦı", "lLdDdDhHi", strict=True)),
        **dict(zip("œŒþÞ", ("oe", "OE", "th", "Th"), strict=True)),
    }
)
"""GSM equivalents that Unicode decomposition does not give (letters without a decomposition, punctuation)."""


@lru_cache(maxsize=4096)
def _gsm_equivalent(char: str) -> str | None:
    """A GSM 03.38 stand-in for a non-GSM character, or None: the table above, else NFKD without combining marks."""
    if char in _REPLACEMENTS:
        return _REPLACEMENTS[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and gsm_septets(base) is not None else None


def prepare_text(text: str, parsing_type: ParsingType, max_parts: int | None) -> Prepared:
    """Apply the parsing type, choose the encoding, count parts; MessageError for what the customer must fix.

    Text that is GSM only after canonical composition (NFC: "e" + combining acute → "é", as macOS and some web
    forms send it) is sent composed under every parsing type; otherwise AUTO_DETECT sends the text as given and the
    other types work on the composed form, so that a removal or replacement sees whole characters.
    """
    if max_parts is not None and max_parts < 1:
        raise ValueError("max_parts must be at least 1")
    if not text:
        raise MessageError(ErrorCode.MISSING_FIELD, "message text is empty", field="text")
    septets = gsm_septets(text)
    if septets is not None:
        return Prepared(text, Encoding.GSM7, septets, _text_parts(text, Encoding.GSM7, septets, max_parts))
    composed = unicodedata.normalize("NFC", text)
    septets = gsm_septets(composed)
    if septets is not None:
        return Prepared(composed, Encoding.GSM7, septets, _text_parts(composed, Encoding.GSM7, septets, max_parts))

    if parsing_type is ParsingType.AUTO_DETECT:
        surrogates = _distinct(_SURROGATE.findall(text))
        if surrogates:
            raise MessageError(
                ErrorCode.INVALID_CHARACTERS, f"lone surrogates cannot be sent: {_describe(surrogates)}", field="text"
            )
        units = len(text.encode("utf-16-be")) // 2
        non_gsm = _distinct(_NOT_GSM.findall(text))
        return Prepared(text, Encoding.UCS2, units, _text_parts(text, Encoding.UCS2, units, max_parts), non_gsm=non_gsm)

    non_gsm = _distinct(_NOT_GSM.findall(composed))
    if parsing_type is ParsingType.NONE:
        raise MessageError(
            ErrorCode.INVALID_CHARACTERS, f"characters not in GSM 03.38: {_describe(non_gsm)}", field="text"
        )
    if parsing_type is ParsingType.SAFE_REMOVE_NON_GSM:
        substitutes: dict[str, str | None] = dict.fromkeys(non_gsm)
    else:
        substitutes = {c: _gsm_equivalent(c) for c in non_gsm}
    result = composed.translate({ord(c): s for c, s in substitutes.items()})
    if not result:
        raise MessageError(
            ErrorCode.MISSING_FIELD,
            f"message text is empty after removing characters not in GSM 03.38: {_describe(non_gsm)}",
            field="text",
        )
    septets = len(result) + len(_EXTENSION.findall(result))
    return Prepared(
        result,
        Encoding.GSM7,
        septets,
        _text_parts(result, Encoding.GSM7, septets, max_parts),
        removed=tuple(c for c, s in substitutes.items() if s is None),
        replaced=tuple((c, s) for c, s in substitutes.items() if s is not None),
        non_gsm=non_gsm,
    )


def _text_parts(text: str, encoding: Encoding, units: int, max_parts: int | None) -> int:
    """Parts `split_text` will make, without splitting when no pair can straddle a boundary; TOO_LONG over limit."""
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding is Encoding.GSM7 else (UCS2_SINGLE, UCS2_MULTI)
    if units <= single:
        parts = 1
    elif units == len(text):  # no escape pair / no surrogate pair
        parts = -(-units // multi)
    else:
        parts = len(split_text(text, encoding))
    limit = MAX_PARTS if max_parts is None else min(max_parts, MAX_PARTS)
    if parts > limit:
        gsm, ucs2 = (GSM7_SINGLE, UCS2_SINGLE) if limit == 1 else (GSM7_MULTI * limit, UCS2_MULTI * limit)
        raise MessageError(
            ErrorCode.TOO_LONG,
            f"text needs {parts} parts; at most {limit} allowed ({gsm} GSM characters or {ucs2} UCS-2 characters)",
            field="text",
        )
    return parts


def _distinct(chars: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(chars))


def _describe(chars: tuple[str, ...]) -> str:
    """'ř' (U+0159), 'í' (U+00ED) … and N more: repr keeps invisible characters visible in an error text."""
    shown = 10
    listed = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in chars[:shown])
    return listed + (f" and {len(chars) - shown} more" if len(chars) > shown else "")


# --- Segmentation ------------------------------------------------------------------------------------------------


def _part_ends(total: int, single: int, multi: int, pair_starts_at: Callable[[int], bool]) -> list[int]:
    """Greedy part boundaries (in units) that never cut a two-unit pair: a part may hold `multi` - 1 units."""
    if total <= single:
        return [total]
    ends: list[int] = []
    start = 0
    while total - start > multi:
        end = start + multi
        if pair_starts_at(end - 1):
            end -= 1
        ends.append(end)
        start = end
    ends.append(total)
    return ends


def _slices(data: bytes, ends: list[int]) -> list[bytes]:
    return [data[start:end] for start, end in zip([0, *ends], ends, strict=False)]


def split_text(text: str, encoding: Encoding) -> list[bytes]:
    """User data of each part, without the concatenation UDH: GSM7 unpacked septets, UCS2 UTF-16-BE.

    Deterministic, so the delivery engine gets at send time the very parts `prepare_text` counted.
    """
    if encoding is Encoding.GSM7:
        septets = gsm_encode(text)
        return _slices(septets, _part_ends(len(septets), GSM7_SINGLE, GSM7_MULTI, lambda i: septets[i] == ESC))
    if encoding is Encoding.UCS2:
        data = text.encode("utf-16-be")
        ends = _part_ends(len(data) // 2, UCS2_SINGLE, UCS2_MULTI, lambda i: 0xD8 <= data[2 * i] <= 0xDB)
        return _slices(data, [2 * end for end in ends])
    raise ValueError("binary messages are split with split_binary")


def decode_parts(encoding: Encoding, parts: Sequence[bytes]) -> str:
    """Reassemble a text from `split_text`-style parts (or an MO's).

    The parts are joined before decoding, so a pair that a sender's phone split across parts survives; malformed
    UTF-16 from a phone becomes U+FFFD rather than an error.
    """
    data = b"".join(parts)
    if encoding is Encoding.GSM7:
        return gsm_decode(data)
    if encoding is Encoding.UCS2:
        return data.decode("utf-16-be", errors="replace")
    raise ValueError("binary parts carry no text")


# --- Binary messages and the UDH ---------------------------------------------------------------------------------


_CONCAT_IE_LENGTHS = {0x00: 3, 0x08: 4}  # 8-bit and 16-bit reference concatenation


def information_elements(udh: bytes) -> Iterator[tuple[int, bytes]]:
    """(IEI, data) of each information element; ValueError when the structure is broken."""
    if not udh:
        raise ValueError("udh is empty")
    if udh[0] != len(udh) - 1:
        raise ValueError(f"udh length octet is {udh[0]} but {len(udh) - 1} octets follow")
    i = 1
    while i < len(udh):
        if i + 2 > len(udh):
            raise ValueError(f"information element at octet {i} has no length octet")
        iei, length = udh[i], udh[i + 1]
        if i + 2 + length > len(udh):
            raise ValueError(f"information element {iei:02X} at octet {i} runs past the end of the udh")
        if iei in _CONCAT_IE_LENGTHS and length != _CONCAT_IE_LENGTHS[iei]:
            raise ValueError(
                f"concatenation element {iei:02X} must have {_CONCAT_IE_LENGTHS[iei]} octets, not {length}"
            )
        yield iei, udh[i + 2 : i + 2 + length]
        i += 2 + length


def validate_udh(udh: bytes) -> None:
    """Refuse a caller's UDH unless its length octet and every information element are well formed."""
    try:
        for _ in information_elements(udh):
            pass
    except ValueError as e:
        raise MessageError(ErrorCode.INVALID_BINARY, str(e), field="udh") from None


def _binary_capacity(udh: bytes | None) -> int:
    """Payload octets per concatenated part: the caller's UDH (or a bare UDHL octet) and the IE take the rest."""
    return OCTETS_SINGLE - (len(udh) if udh else 1) - CONCAT_IE_LENGTH


def split_binary(payload: bytes, udh: bytes | None) -> list[bytes]:
    """Payload chunks; the caller's UDH travels in every part, with the concatenation IE added when split."""
    if len(udh or b"") + len(payload) <= OCTETS_SINGLE:
        return [payload]
    capacity = _binary_capacity(udh)
    if capacity < 1:
        raise ValueError("the udh leaves no room for payload in a concatenated part")
    return [payload[i : i + capacity] for i in range(0, len(payload), capacity)]


def binary_parts(payload: bytes, udh: bytes | None, max_parts: int | None) -> int:
    """Parts a binary message needs, or MessageError: empty payload, bad or unusable UDH, too many parts."""
    if max_parts is not None and max_parts < 1:
        raise ValueError("max_parts must be at least 1")
    if not payload:
        raise MessageError(ErrorCode.MISSING_FIELD, "binary payload is empty", field="payload")
    if udh:
        validate_udh(udh)
    if len(udh or b"") + len(payload) <= OCTETS_SINGLE:
        return 1
    room = OCTETS_SINGLE - len(udh or b"")
    if udh and any(iei in _CONCAT_IE_LENGTHS for iei, _ in information_elements(udh)):
        raise MessageError(
            ErrorCode.INVALID_BINARY,
            f"payload of {len(payload)} octets must be split, but the udh already has a concatenation element;"
            f" at most {room} octets fit in one part",
            field="udh",
        )
    capacity = _binary_capacity(udh)
    if capacity < 1:
        raise MessageError(
            ErrorCode.INVALID_BINARY,
            f"payload of {len(payload)} octets must be split, but the udh of {len(udh or b'')} octets leaves no room"
            f" for a concatenation element; at most {room} octets fit in one part",
            field="udh",
        )
    parts = -(-len(payload) // capacity)
    limit = MAX_PARTS if max_parts is None else min(max_parts, MAX_PARTS)
    if parts > limit:
        octets = room if limit == 1 else capacity * limit
        raise MessageError(
            ErrorCode.TOO_LONG,
            f"payload needs {parts} parts; at most {limit} allowed ({octets} octets)",
            field="payload",
        )
    return parts


def concat_udh(ref: int, total: int, seq: int, base: bytes | None = None) -> bytes:
    """UDH of part `seq` of `total`: the (validated) base UDH's elements, then IE 00 03 ref total seq."""
    if not 0 <= ref <= 0xFF:
        raise ValueError("ref must be 0-255")
    if not 1 <= seq <= total <= MAX_PARTS:
        raise ValueError(f"need 1 <= seq <= total <= {MAX_PARTS}")
    body = (base[1:] if base else b"") + bytes((0x00, 0x03, ref, total, seq))
    return bytes((len(body),)) + body


def wire_octets(encoding: Encoding, udh: bytes, user_data: bytes) -> int:
    """Octets one part occupies in TP-UD: GSM7 septets are packed after the UDH and its fill bits."""
    if encoding is Encoding.GSM7:
        bits = 8 * len(udh) + udh_fill_bits(len(udh)) + 7 * len(user_data)
        return -(-bits // 8)
    return len(udh) + len(user_data)


_DATA_CODING = {Encoding.GSM7: 0x00, Encoding.UCS2: 0x08, Encoding.BINARY: 0x04}
_FLASH = 0x10  # general data coding with message class 0: shown at once, not stored


def data_coding(encoding: Encoding, flash: bool, dcs: int | None = None) -> int:
    """SMPP data_coding / TP-DCS; a dcs the caller set (Puzzel's `dcs` parameter) wins over flash and encoding."""
    if dcs is not None:
        if not 0 <= dcs <= 0xFF:
            raise ValueError("dcs is one octet")
        return dcs
    return _DATA_CODING[encoding] | (_FLASH if flash else 0)
