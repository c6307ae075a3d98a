"""What an SMSC sends back: message ids, delivery receipts and MO parts, read from deliver_sm fields. Pure functions.

Everything here reads input from the network, so nothing raises on malformed data: a receipt that cannot be read
is None, an MO with a broken UDH keeps its bytes, text that cannot be decoded gets U+FFFD.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import MappingProxyType

from smsgw.domain.model import Status

from ..domain.encoding import Encoding, gsm_decode, gsm_septets, information_elements
from .connectors.base import MoPart, Receipt

# --- Message ids -------------------------------------------------------------------------------------------------

_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9a-f]+")
_MAX_CONVERTIBLE = 32  # longer ids are opaque strings, not numbers worth converting
_HEX_WIDTHS = (8, 16)  # 32- and 64-bit ids, as SMSCs that answer in hex often pad them


def normalise_id(raw: str) -> str:
    """An SMSC message id as we store it: stripped, lower-case, and without leading zeros when all decimal digits
    (receipts often pad a decimal id: "id:0000012345" for "12345")."""
    ident = raw.strip().lower()
    if _DECIMAL.fullmatch(ident):
        return ident.lstrip("0") or "0"
    return ident


def id_candidates(raw: str) -> list[str]:
    """Normalised spellings under which the part may have been stored, the id itself first.

    SMSCs give the id in hex in submit_sm_resp and in decimal in the receipt, or the other way round (Kannel's
    `msg-id-type`), so a decimal id adds its hex spelling and a hex id its decimal one. A stored hex id keeps its
    leading zeros (only decimal ids lose them), so the hex spelling of a decimal id also comes zero-padded to the
    8 and 16 digits of a 32- or 64-bit id. Ids longer than 32 characters are not converted.
    """
    ident = normalise_id(raw)
    candidates = [ident]
    if ident and len(ident) <= _MAX_CONVERTIBLE:
        if _DECIMAL.fullmatch(ident):
            spelled = format(int(ident), "x")
            candidates += [spelled, *(spelled.zfill(width) for width in _HEX_WIDTHS if len(spelled) < width)]
        if _HEX.fullmatch(ident):
            candidates.append(str(int(ident, 16)))
    return list(dict.fromkeys(candidates))


# --- Delivery receipts -------------------------------------------------------------------------------------------

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_NETWORK_ERROR_CODE = 0x0423
TLV_MESSAGE_STATE = 0x0427
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F

_STATE_WORDS = MappingProxyType(
    {
        **{w: w for w in ("DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE")},
        "DELIVERED": "DELIVRD",
        "UNDELIVERABLE": "UNDELIV",
        "ACCEPTED": "ACCEPTD",
        "REJECTED": "REJECTD",
        # Kannel's words for a message the SMSC still holds.
        "BUFFRED": "ENROUTE",
        "BUFFERD": "ENROUTE",
        "BUFFERED": "ENROUTE",
        "ACKED": "ENROUTE",
    }
)
"""Receipt state words (upper-cased) to the SMPP short forms; a word not here makes no receipt."""

_MESSAGE_STATES = ("", "ENROUTE", "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD")
"""message_state TLV values 1-8 (SMPP 3.4 §5.2.28); 0 and 9 (SMPP 5.0 SCHEDULED, SKIPPED) fall back to the text."""

_STATUS = MappingProxyType(
    {
        "DELIVRD": Status.DELIVERED,
        "EXPIRED": Status.EXPIRED,
        # The SMSC deleted the message (an operator, a cancel we did not send, a purge): it will never arrive, and
        # the network, not we, gave it up. UNDELIVERABLE says that; CANCELLED cannot follow SUBMITTED.
        "DELETED": Status.UNDELIVERABLE,
        "UNDELIV": Status.UNDELIVERABLE,
        "REJECTD": Status.REJECTED,
        "ACCEPTD": Status.BUFFERED,
        "ENROUTE": Status.BUFFERED,
        # SMPP calls UNKNOWN final, but SMSCs send it while they cannot tell, and a final receipt may follow. As
        # BUFFERED the message can still become DELIVERED; if nothing follows, its validity expires it.
        "UNKNOWN": Status.BUFFERED,
    }
)

_RECEIPT_FIELD = re.compile(r"(?:^|(?<=\s))(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:", re.I)
_GSM_NETWORK = 3  # network_error_code type octet: 1 ANSI-136, 2 IS-95, 3 GSM, …


def parse_receipt(short_message: bytes, tlvs: dict[int, bytes], connector: str) -> Receipt | None:
    """The receipt in a deliver_sm, or None when it names no id or no known state.

    The text is SMPP 3.4 appendix B's `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`, read
    leniently: any order and case, missing fields, `submit_date`, dates with or without seconds. `text:` runs to the
    end (it quotes the message, which may itself contain "stat:"), and the first of a repeated field counts. The
    text may come in message_payload instead. The TLVs receipted_message_id, message_state and network_error_code
    win over the text. network_error_code reads as its code in three digits, like the err: field it stands for
    ("013"), prefixed with the network type when that is not GSM ("1:013"); a code of zero means no error (None).
    """
    text = (short_message or tlvs.get(TLV_MESSAGE_PAYLOAD, b"")).decode("latin-1").replace("\x00", " ")
    fields = _receipt_fields(text)

    ident = normalise_id(_c_string(tlvs.get(TLV_RECEIPTED_MESSAGE_ID, b"")))
    if not ident:
        ident = normalise_id(fields.get("id", ""))
    state_octet = tlvs.get(TLV_MESSAGE_STATE, b"")
    state = _MESSAGE_STATES[state_octet[0]] if len(state_octet) == 1 and state_octet[0] < len(_MESSAGE_STATES) else ""
    if not state:
        state = _STATE_WORDS.get(fields.get("stat", "").upper(), "")
    if not ident or not state:
        return None

    network_error = tlvs.get(TLV_NETWORK_ERROR_CODE, b"")
    if len(network_error) == 3:
        kind, code = network_error[0], int.from_bytes(network_error[1:], "big")
        error = None if code == 0 else f"{code:03d}" if kind == _GSM_NETWORK else f"{kind}:{code:03d}"
    else:
        err = fields.get("err", "")
        error = err if err.strip("0") else None
    return Receipt(connector, ident, state, error, _epoch_ms(fields.get("donedate", "")))


def receipt_status(state: str) -> Status:
    """The status a receipt's state word moves a part to; ValueError for a word `parse_receipt` never returns."""
    try:
        return _STATUS[_STATE_WORDS[state.upper()]]
    except KeyError:
        raise ValueError(f"unknown receipt state {state!r}") from None


# The layout nearly every SMSC sends (appendix B's order and spelling): read in one match, the general reader below
# being several times slower and this on the path of every receipt.
_APPENDIX_B = re.compile(r"id:(\S+) sub:\S* dlvrd:\S* submit date:\S* done date:(\S*) stat:(\S+) err:(\S*)(?: |$)")


def _receipt_fields(text: str) -> dict[str, str]:
    """Field name (lower-case, without space or underscore) → its first whitespace-delimited value."""
    usual = _APPENDIX_B.match(text)
    if usual is not None:
        return {"id": usual[1], "donedate": usual[2], "stat": usual[3], "err": usual[4]}
    fields: dict[str, str] = {}
    matches = list(_RECEIPT_FIELD.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        name = match[1].lower().replace(" ", "").replace("_", "")
        if name == "text":
            break
        value = text[match.end() : end].split()
        fields.setdefault(name, value[0] if value else "")
    return fields


def _c_string(value: bytes) -> str:
    return value.split(b"\x00", 1)[0].decode("latin-1")


def _epoch_ms(stamp: str) -> int | None:
    """YYMMDDhhmm[ss] as UTC epoch ms; None when it is not a date."""
    if len(stamp) not in (10, 12) or not _DECIMAL.fullmatch(stamp):
        return None
    year, month, day, hour, minute, second = (int(stamp[i : i + 2] or 0) for i in range(0, 12, 2))
    try:
        moment = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp()) * 1000


# --- MO parts ----------------------------------------------------------------------------------------------------

ESM_UDHI = 0x40


def mo_part(
    source: str,
    destination: str,
    esm_class: int,
    data_coding: int,
    short_message: bytes,
    tlvs: dict[int, bytes],
    connector: str,
) -> MoPart:
    """An MO deliver_sm as a part to reassemble: the user data without its UDH, and the concatenation it names.

    Concatenation comes from the UDH (IE 00, 8-bit reference, or IE 08, 16-bit) when esm_class has UDHI, else from
    the SAR TLVs; a seq outside 1..total makes it a lone message. message_payload stands in for an empty
    short_message. A malformed UDH is not stripped: the bytes are kept whole, with no concatenation, since a
    reader can still make something of them and dropping an MO loses what the sender wrote.
    """
    data = short_message or tlvs.get(TLV_MESSAGE_PAYLOAD, b"")
    concat = None
    if esm_class & ESM_UDHI and data and data[0] < len(data):
        udh = data[: data[0] + 1]
        try:
            elements = list(information_elements(udh))
        except ValueError:
            pass  # malformed: the bytes stay whole
        else:
            data = data[len(udh) :]
            concat = next((_udh_concat(value) for iei, value in elements if iei in (0x00, 0x08)), None)
    if concat is None:
        concat = _sar_concat(tlvs)
    return MoPart(connector, source, destination, data_coding, data, concat if concat and _sane(concat) else None)


def _udh_concat(value: bytes) -> tuple[int, int, int]:
    """(reference, total, seq) of a concatenation IE (its length already checked by `information_elements`)."""
    return int.from_bytes(value[:-2], "big"), value[-2], value[-1]


def _sar_concat(tlvs: dict[int, bytes]) -> tuple[int, int, int] | None:
    ref = tlvs.get(TLV_SAR_MSG_REF_NUM, b"")
    total = tlvs.get(TLV_SAR_TOTAL_SEGMENTS, b"")
    seq = tlvs.get(TLV_SAR_SEGMENT_SEQNUM, b"")
    if len(ref) != 2 or len(total) != 1 or len(seq) != 1:
        return None
    return int.from_bytes(ref, "big"), total[0], seq[0]


def _sane(concat: tuple[int, int, int]) -> bool:
    return 1 <= concat[2] <= concat[1]


# --- MO text -----------------------------------------------------------------------------------------------------

_GSM, _UCS2, _BINARY = "gsm", "utf-16-be", "binary"
_SMPP_CODINGS = {0: _GSM, 1: "ascii", 3: "latin-1", 6: "iso8859-5", 7: "iso8859-8", 8: _UCS2}
"""SMPP 3.4 §5.2.19 data_coding 0x00-0x0F that carry text we can decode; the rest of that range (octets, JIS,
pictograms, Kanji, KS C 5601) is passed on as binary."""
_ALPHABETS = (_GSM, _BINARY, _UCS2, _BINARY)  # TS 23.038 DCS bits 3-2: GSM 7-bit, 8-bit data, UCS2, reserved


def _coding_kind(dc: int) -> str:
    """How to read user data of SMPP data_coding `dc`: a codec name, `_GSM` or `_BINARY` (TS 23.038 §4 groups)."""
    if dc <= 0x0F:
        return _SMPP_CODINGS.get(dc, _BINARY)
    if dc <= 0x7F:  # general data coding (00xx) and automatic deletion (01xx) groups
        return _BINARY if dc & 0x20 else _ALPHABETS[(dc >> 2) & 3]  # 0x20: compressed
    if dc <= 0xBF:
        return _BINARY  # reserved groups
    if dc <= 0xDF:
        return _GSM  # message waiting indication, discard / store, GSM 7-bit
    if dc <= 0xEF:
        return _UCS2  # message waiting indication, store, UCS2
    return _BINARY if dc & 0x04 else _GSM  # data coding / message class group


_CODING_KINDS = tuple(_coding_kind(dc) for dc in range(256))


def decode_mo(data_coding: int, payload: bytes) -> tuple[Encoding, str | None, bytes | None]:
    """(encoding, text, None) for a text MO, (BINARY, None, payload) for data; never raises.

    SMPP's default alphabet (0) is read as GSM 03.38 one septet per octet; an octet above 0x7F means the SMSC's
    default is really Latin-1 and the text is read so. Text in an 8-bit character set (IA5, Latin-1, Cyrillic,
    Hebrew) has no encoding of its own here: it is GSM7 when GSM 03.38 can hold it, else UCS2, as a reply would be.
    """
    kind = _CODING_KINDS[data_coding] if 0 <= data_coding <= 0xFF else _BINARY
    if kind == _BINARY:
        return Encoding.BINARY, None, payload
    if kind == _UCS2:
        return Encoding.UCS2, payload.decode(_UCS2, errors="replace"), None
    if kind == _GSM:
        try:
            return Encoding.GSM7, gsm_decode(payload), None
        except ValueError:
            kind = "latin-1"
    text = payload.decode(kind, errors="replace")
    return (Encoding.GSM7 if gsm_septets(text) is not None else Encoding.UCS2), text, None
