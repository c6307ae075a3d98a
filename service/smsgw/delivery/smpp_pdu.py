"""SMPP 3.4 PDUs as bytes and back: the header, the binds, submit_sm and deliver_sm, and the bodiless commands.

Our own codec rather than a library's: it is small, it runs for every submit_sm (~20,000 a second), and what an
SMSC sends is input from the network, so decoding must fail with one exception of ours (`PduError`) and nothing
else. Strings are C-octet strings read as Latin-1 (which never fails); TLVs are (tag, value) pairs in wire order.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

# --- command_id --------------------------------------------------------------------------------------------------

GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_RECEIVER_RESP = 0x80000001
BIND_TRANSMITTER = 0x00000002
BIND_TRANSMITTER_RESP = 0x80000002
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
BIND_TRANSCEIVER = 0x00000009
BIND_TRANSCEIVER_RESP = 0x80000009
OUTBIND = 0x0000000B
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
ALERT_NOTIFICATION = 0x00000102

RESPONSE = 0x80000000  # the bit every response's command_id has

COMMAND_NAMES = {
    GENERIC_NACK: "generic_nack",
    BIND_RECEIVER: "bind_receiver",
    BIND_RECEIVER_RESP: "bind_receiver_resp",
    BIND_TRANSMITTER: "bind_transmitter",
    BIND_TRANSMITTER_RESP: "bind_transmitter_resp",
    SUBMIT_SM: "submit_sm",
    SUBMIT_SM_RESP: "submit_sm_resp",
    DELIVER_SM: "deliver_sm",
    DELIVER_SM_RESP: "deliver_sm_resp",
    UNBIND: "unbind",
    UNBIND_RESP: "unbind_resp",
    BIND_TRANSCEIVER: "bind_transceiver",
    BIND_TRANSCEIVER_RESP: "bind_transceiver_resp",
    OUTBIND: "outbind",
    ENQUIRE_LINK: "enquire_link",
    ENQUIRE_LINK_RESP: "enquire_link_resp",
    ALERT_NOTIFICATION: "alert_notification",
}

# --- command_status ----------------------------------------------------------------------------------------------

ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RINVPRTFLG = 0x06
ESME_RINVREGDLVFLG = 0x07
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RINVMSGID = 0x0C
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RINVSERTYP = 0x15
ESME_RINVNUMDESTS = 0x33
ESME_RINVESMCLASS = 0x43
ESME_RSUBMITFAIL = 0x45
ESME_RINVSRCTON = 0x48
ESME_RINVSRCNPI = 0x49
ESME_RINVDSTTON = 0x50
ESME_RINVDSTNPI = 0x51
ESME_RINVSYSTYP = 0x53
ESME_RTHROTTLED = 0x58
ESME_RINVSCHED = 0x61
ESME_RINVEXPIRY = 0x62
ESME_RX_T_APPN = 0x64
ESME_RX_P_APPN = 0x65
ESME_RINVOPTPARSTREAM = 0xC0
ESME_ROPTPARNOTALLWD = 0xC1
ESME_RINVPARLEN = 0xC2
ESME_RMISSINGOPTPARAM = 0xC3
ESME_RINVOPTPARAMVAL = 0xC4
ESME_RUNKNOWNERR = 0xFF

STATUS_NAMES = {value: name for name, value in globals().items() if name.startswith("ESME_")}


def status_name(status: int) -> str:
    """The name of a status we know (ESME_RTHROTTLED), else its hex (0x00000400), for logs and error texts."""
    return STATUS_NAMES.get(status) or f"0x{status:08X}"


# --- TLV tags ----------------------------------------------------------------------------------------------------

TLV_RECEIPTED_MESSAGE_ID = 0x001E

INTERFACE_VERSION = 0x34
HEADER_LENGTH = 16
MAX_COMMAND_LENGTH = 0x20000  # 128 KiB: a message_payload of 64 KiB and its fields fit; anything longer is garbage

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
_TLV_HEAD = struct.Struct(">HH")
_BIND_TAIL = struct.Struct(">BBB")  # interface_version, addr_ton, addr_npi

Tlvs = tuple[tuple[int, bytes], ...]


class PduError(ValueError):
    """A PDU that cannot be encoded (a field too long, a value out of range) or decoded (garbage, truncation)."""


class Header(NamedTuple):
    command_length: int
    command_id: int
    command_status: int
    sequence_number: int


class Bind(NamedTuple):
    """The body of bind_transmitter, bind_receiver and bind_transceiver."""

    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


class Sm(NamedTuple):
    """The body of submit_sm and deliver_sm (they share it), in wire order."""

    service_type: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    protocol_id: int
    priority_flag: int
    schedule_delivery_time: str
    validity_period: str
    registered_delivery: int
    replace_if_present_flag: int
    data_coding: int
    sm_default_msg_id: int
    short_message: bytes
    tlvs: Tlvs = ()


# --- encoding ----------------------------------------------------------------------------------------------------


def encode(command_id: int, sequence_number: int, body: bytes = b"", command_status: int = ESME_ROK) -> bytes:
    """A whole PDU: the header and `body`; with the default empty body, enquire_link, unbind, generic_nack and the
    responses to the first two."""
    return HEADER.pack(HEADER_LENGTH + len(body), command_id, command_status, sequence_number) + body


def encode_bind(command_id: int, sequence_number: int, bind: Bind) -> bytes:
    try:
        body = b"".join(
            (
                _c_string(bind.system_id, 16, "system_id"),
                _c_string(bind.password, 9, "password"),
                _c_string(bind.system_type, 13, "system_type"),
                _BIND_TAIL.pack(bind.interface_version, bind.addr_ton, bind.addr_npi),
                _c_string(bind.address_range, 41, "address_range"),
            )
        )
    except struct.error as error:
        raise PduError(f"bind: {error}") from None
    return encode(command_id, sequence_number, body)


def encode_bind_resp(command_id: int, sequence_number: int, command_status: int, system_id: str,
                     tlvs: Tlvs = ()) -> bytes:
    return encode(command_id, sequence_number, _c_string(system_id, 16, "system_id") + encode_tlvs(tlvs),
                  command_status)


def encode_sm(command_id: int, sequence_number: int, sm: Sm) -> bytes:
    """submit_sm or deliver_sm. short_message is at most 254 octets; longer user data goes in message_payload.

    The hot path: one %-format of the body (faster than struct and join for its mix of strings and octets)."""
    try:
        service = sm.service_type.encode("latin-1")
        source = sm.source_addr.encode("latin-1")
        destination = sm.destination_addr.encode("latin-1")
        schedule = sm.schedule_delivery_time.encode("latin-1")
        validity = sm.validity_period.encode("latin-1")
    except UnicodeEncodeError:
        raise PduError(_sm_problem(sm)) from None
    message = sm.short_message
    if (len(service) > 5 or len(source) > 20 or len(destination) > 20 or len(schedule) > 16 or len(validity) > 16
            or len(message) > 254 or b"\x00" in service + source + destination + schedule + validity):
        raise PduError(_sm_problem(sm))
    try:
        body = b"%b\x00%c%c%b\x00%c%c%b\x00%c%c%c%b\x00%b\x00%c%c%c%c%c%b%b" % (
            service, sm.source_addr_ton, sm.source_addr_npi, source, sm.dest_addr_ton, sm.dest_addr_npi, destination,
            sm.esm_class, sm.protocol_id, sm.priority_flag, schedule, validity, sm.registered_delivery,
            sm.replace_if_present_flag, sm.data_coding, sm.sm_default_msg_id, len(message), message,
            encode_tlvs(sm.tlvs) if sm.tlvs else b"")
    except (OverflowError, TypeError) as error:
        raise PduError(f"{COMMAND_NAMES.get(command_id, 'sm')}: an octet field out of range ({error})") from None
    return HEADER.pack(HEADER_LENGTH + len(body), command_id, ESME_ROK, sequence_number) + body


def _sm_problem(sm: Sm) -> str:
    """Which string field of `sm` cannot be encoded, and why (the slow path of `encode_sm`)."""
    if len(sm.short_message) > 254:
        return f"short_message of {len(sm.short_message)} octets (at most 254; use message_payload)"
    try:
        for name, size in (("service_type", 6), ("source_addr", 21), ("destination_addr", 21),
                           ("schedule_delivery_time", 17), ("validity_period", 17)):
            _c_string(getattr(sm, name), size, name)
    except PduError as error:
        return str(error)
    return "unencodable"


def encode_message_id_resp(command_id: int, sequence_number: int, command_status: int, message_id: str = "") -> bytes:
    """submit_sm_resp or deliver_sm_resp (whose message_id is always empty)."""
    return encode(command_id, sequence_number, _c_string(message_id, 65, "message_id"), command_status)


def encode_tlvs(tlvs: Tlvs) -> bytes:
    try:
        return b"".join(_TLV_HEAD.pack(tag, len(value)) + value for tag, value in tlvs)
    except struct.error as error:
        raise PduError(f"TLV: {error}") from None


def _c_string(text: str, size: int, field: str) -> bytes:
    """`text` and its NUL; `size` counts the NUL, as the specification's field sizes do."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raise PduError(f"{field} {text!r} is not Latin-1") from None
    if len(raw) >= size or b"\x00" in raw:
        raise PduError(f"{field} {text!r} is longer than {size - 1} characters or holds a NUL")
    return raw + b"\x00"


# --- decoding ----------------------------------------------------------------------------------------------------


def decode_header(data: bytes | bytearray, offset: int = 0) -> Header:
    """The header at `offset`; PduError for a command_length no PDU can have (the stream is then out of step)."""
    if len(data) - offset < HEADER_LENGTH:
        raise PduError(f"{len(data) - offset} octets: a header needs {HEADER_LENGTH}")
    header = Header._make(HEADER.unpack_from(data, offset))
    if not HEADER_LENGTH <= header.command_length <= MAX_COMMAND_LENGTH:
        raise PduError(f"command_length {header.command_length} outside {HEADER_LENGTH}..{MAX_COMMAND_LENGTH}")
    return header


def decode(data: bytes) -> tuple[Header, bytes]:
    """One whole PDU: its header and body; PduError unless `data` is exactly as long as its command_length."""
    header = decode_header(data)
    if header.command_length != len(data):
        raise PduError(f"command_length {header.command_length} but {len(data)} octets")
    return header, data[HEADER_LENGTH:]


def decode_bind(body: bytes) -> Bind:
    try:
        system_id, at = _read_c_string(body, 0)
        password, at = _read_c_string(body, at)
        system_type, at = _read_c_string(body, at)
        version, ton, npi = _BIND_TAIL.unpack_from(body, at)
        address_range, at = _read_c_string(body, at + 3)
    except struct.error:
        raise PduError("bind: truncated") from None
    _expect_end(body, at, "bind")
    return Bind(system_id, password, system_type, version, ton, npi, address_range)


def decode_bind_resp(body: bytes) -> tuple[str, Tlvs]:
    """(system_id, TLVs). A refused bind may come with an empty body: ("", ())."""
    if not body:
        return "", ()
    system_id, at = _read_c_string(body, 0)
    return system_id, decode_tlvs(body, at)


def decode_message_id(body: bytes) -> str:
    """The message_id of submit_sm_resp or deliver_sm_resp, read leniently: an error response often has no body,
    and an id without its NUL is still the id."""
    return body.split(b"\x00", 1)[0].decode("latin-1")


def decode_sm(body: bytes) -> Sm:
    """The hot path of receipts: indexing and `bytes.index` (each field costs a bound check, not a call)."""
    try:
        end = body.index(0)
        service_type = body[:end].decode("latin-1")
        source_ton, source_npi = body[end + 1], body[end + 2]
        at, end = end + 3, body.index(0, end + 3)
        source = body[at:end].decode("latin-1")
        dest_ton, dest_npi = body[end + 1], body[end + 2]
        at, end = end + 3, body.index(0, end + 3)
        destination = body[at:end].decode("latin-1")
        esm_class, protocol_id, priority = body[end + 1], body[end + 2], body[end + 3]
        at, end = end + 4, body.index(0, end + 4)
        schedule = body[at:end].decode("latin-1")
        at, end = end + 1, body.index(0, end + 1)
        validity = body[at:end].decode("latin-1")
        registered, replace, data_coding, default_id, length = body[end + 1 : end + 6]
    except (IndexError, ValueError):  # an octet past the end, a C-octet string without its NUL
        raise PduError("submit_sm/deliver_sm: truncated or missing a NUL") from None
    at = end + 6
    message = body[at : at + length]
    if len(message) != length:
        raise PduError(f"sm_length {length} but {len(message)} octets follow")
    return Sm(service_type, source_ton, source_npi, source, dest_ton, dest_npi, destination, esm_class, protocol_id,
              priority, schedule, validity, registered, replace, data_coding, default_id, message,
              decode_tlvs(body, at + length) if at + length < len(body) else ())


def decode_tlvs(body: bytes, offset: int) -> Tlvs:
    tlvs = []
    end = len(body)
    while offset < end:
        if end - offset < 4:
            raise PduError(f"{end - offset} stray octets where a TLV should start")
        tag, length = _TLV_HEAD.unpack_from(body, offset)
        offset += 4
        if end - offset < length:
            raise PduError(f"TLV 0x{tag:04X} of length {length} but {end - offset} octets left")
        tlvs.append((tag, body[offset : offset + length]))
        offset += length
    return tuple(tlvs)


def _read_c_string(body: bytes, offset: int) -> tuple[str, int]:
    """The C-octet string at `offset` and the offset after its NUL."""
    end = body.find(0, offset)
    if end < 0:
        raise PduError(f"a C-octet string at offset {offset} has no NUL")
    return body[offset:end].decode("latin-1"), end + 1


def _expect_end(body: bytes, offset: int, what: str) -> None:
    if offset != len(body):
        raise PduError(f"{what}: {len(body) - offset} octets after the last field")
