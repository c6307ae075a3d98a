"""A message onto the wire: split, concatenation (UDH and SAR), data coding, addresses, receipts asked, validity."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgw.delivery.connectors.base import Outgoing, Part
from smsgw.delivery.receipts import decode_mo, mo_part
from smsgw.delivery.wire import (
    MAX_VALIDITY_MS,
    WireOptions,
    concat_reference,
    parts_of,
    validity_period,
)
from smsgw.domain.encoding import (
    ESC,
    GSM_BASIC,
    GSM_EXTENSION,
    Encoding,
    ParsingType,
    binary_parts,
    decode_parts,
    gsm_decode,
    gsm_encode,
    prepare_text,
    wire_octets,
)
from smsgw.domain.model import Priority, ReportMask
from smsgw.store.ids import EPOCH_MS, NODE_BITS, SEQ_BITS

NOW = int(datetime(2026, 11, 22, 12, 0, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000
SAR_REF, SAR_TOTAL, SAR_SEQ = 0x020C, 0x020E, 0x020F
Concat = Literal["udh", "sar"]
WAP_PUSH_UDH = bytes.fromhex("0605040b8423f0")  # IE 05: 16-bit ports 2948 → 9200


def _message(text: str | None = "Hello", **changes: Any) -> Outgoing:
    """A GSM7 message from an alphanumeric sender, its encoding and part count from `prepare_text` as stored."""
    fields: dict[str, Any] = dict(
        id=7_301_234_567_890_123, account_id=1, recipient="+4791234567", originator="Acme",
        originator_type="alphanumeric", encoding="gsm7", text=text, payload=None, udh=None, dcs=None, pid=None,
        flash=False, parts=1, priority=Priority.NORMAL, reports=ReportMask.FINAL, expires_at=NOW + HOUR, attempts=1,
    )  # fmt: skip
    if text is not None and "encoding" not in changes:
        prepared = prepare_text(text, ParsingType.AUTO_DETECT, None)
        fields |= {"encoding": prepared.encoding.value, "parts": prepared.parts}
    return Outgoing(**(fields | changes))


def _binary(payload: bytes, udh: bytes | None = None, **changes: Any) -> Outgoing:
    fields = {"encoding": "binary", "payload": payload, "udh": udh, "parts": binary_parts(payload, udh, None)}
    return _message(None, **(fields | changes))


def _user_data(part: Part) -> tuple[bytes, bytes]:
    """(UDH, user data) of a part."""
    if part.esm_class & 0x40:
        length = part.short_message[0] + 1
        return part.short_message[:length], part.short_message[length:]
    return b"", part.short_message


def _text(parts: list[Part], encoding: Encoding) -> str:
    return decode_parts(encoding, [_user_data(p)[1] for p in parts])


# --- GSM 03.38 ---------------------------------------------------------------------------------------------------


def test_a_single_gsm_part() -> None:
    message = _message("Your code is 1234 {ok}")
    assert parts_of(message, WireOptions(), NOW) == [
        Part(message_id=message.id, seq=1, total=1, source="Acme", source_ton=5, source_npi=0,
             destination="4791234567", dest_ton=1, dest_npi=1, esm_class=0, protocol_id=0, priority=1,
             validity_period="000000010000000R", registered_delivery=1, data_coding=0,
             short_message=gsm_encode("Your code is 1234 {ok}"))
    ]  # fmt: skip


def test_160_septets_fit_one_part_and_161_need_two() -> None:
    assert len(parts_of(_message("x" * 160), WireOptions(), NOW)) == 1
    assert len(parts_of(_message("x" * 159 + "€"), WireOptions(), NOW)) == 2  # € costs two septets


def test_a_long_gsm_text_is_concatenated_with_a_udh() -> None:
    text = "".join(GSM_BASIC.replace("\x1b", "")) * 3  # 381 septets
    message = _message(text)
    parts = parts_of(message, WireOptions(), NOW)
    ref = concat_reference(message.id, 8)
    assert [(p.seq, p.total, p.esm_class, p.data_coding, p.tlvs) for p in parts] == [
        (seq, 3, 0x40, 0, ()) for seq in (1, 2, 3)
    ]
    assert [_user_data(p)[0] for p in parts] == [bytes((5, 0, 3, ref, 3, seq)) for seq in (1, 2, 3)]
    assert [len(_user_data(p)[1]) for p in parts] == [153, 153, 75]
    assert _text(parts, Encoding.GSM7) == text


def test_an_escape_pair_is_never_split_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10 + "[" * 80 + "c"
    parts = parts_of(_message(text), WireOptions(), NOW)
    assert len(parts) == 3
    user_data = [_user_data(p)[1] for p in parts]
    assert user_data[0] == b"a" * 152  # the € moved whole to the next part
    for data in user_data:
        assert data[-1] != ESC
        gsm_decode(data)  # each part reads alone
    assert _text(parts, Encoding.GSM7) == text


def test_every_part_fits_140_octets_on_the_air() -> None:
    for text in ("x" * 160, "€" * 80, "x" * 1000, "€" * 500):
        for part in parts_of(_message(text), WireOptions(), NOW):
            udh, data = _user_data(part)
            assert wire_octets(Encoding.GSM7, udh, data) <= 140


# --- UCS-2 -------------------------------------------------------------------------------------------------------


def test_a_single_ucs2_part() -> None:
    (part,) = parts_of(_message("Привет 😀"), WireOptions(), NOW)
    assert (part.data_coding, part.esm_class, part.short_message) == (8, 0, "Привет 😀".encode("utf-16-be"))


def test_70_units_fit_one_ucs2_part() -> None:
    assert len(parts_of(_message("ж" * 70), WireOptions(), NOW)) == 1
    assert len(parts_of(_message("ж" * 69 + "😀"), WireOptions(), NOW)) == 2  # 71 units


def test_an_emoji_at_a_part_boundary_moves_whole_to_the_next_part() -> None:
    text = "ж" * 66 + "😀" + "ж" * 10
    parts = parts_of(_message(text), WireOptions(), NOW)
    user_data = [_user_data(p)[1] for p in parts]
    assert [len(d) // 2 for d in user_data] == [66, 12]
    assert [d.decode("utf-16-be") for d in user_data] == ["ж" * 66, "😀" + "ж" * 10]  # strict: no half pairs
    assert all(p.data_coding == 8 and p.esm_class == 0x40 for p in parts)
    assert _text(parts, Encoding.UCS2) == text


# --- Binary ------------------------------------------------------------------------------------------------------


def test_a_single_binary_part_without_udh() -> None:
    (part,) = parts_of(_binary(b"\x01\x02\x03"), WireOptions(), NOW)
    assert (part.data_coding, part.esm_class, part.short_message) == (4, 0, b"\x01\x02\x03")


def test_a_single_binary_part_carries_the_callers_udh() -> None:
    (part,) = parts_of(_binary(b"\x01" * 133, WAP_PUSH_UDH), WireOptions(), NOW)
    assert (part.esm_class, part.short_message) == (0x40, WAP_PUSH_UDH + b"\x01" * 133)


def test_a_long_binary_message_adds_concatenation_to_the_callers_udh() -> None:
    payload = bytes(range(256)) + bytes(range(44))  # 300 octets, 127 a part after the 12-octet UDH
    message = _binary(payload, WAP_PUSH_UDH)
    parts = parts_of(message, WireOptions(), NOW)
    ref = concat_reference(message.id, 8)
    assert len(parts) == 3
    for part in parts:
        udh, _ = _user_data(part)
        assert udh == bytes.fromhex("0b05040b8423f00003") + bytes((ref, 3, part.seq))
        assert part.esm_class == 0x40
        assert part.data_coding == 4
        assert len(part.short_message) <= 140
    assert b"".join(_user_data(p)[1] for p in parts) == payload


def test_a_long_binary_message_without_udh() -> None:
    payload = b"\xaa" * 200
    parts = parts_of(_binary(payload), WireOptions(), NOW)
    assert [len(_user_data(p)[1]) for p in parts] == [134, 66]
    assert b"".join(_user_data(p)[1] for p in parts) == payload


def test_a_dcs_the_caller_set_wins() -> None:
    (part,) = parts_of(_binary(b"\x01", dcs=0xF5, flash=True), WireOptions(), NOW)
    assert part.data_coding == 0xF5


def test_a_text_messages_udh_is_not_sent() -> None:
    (part,) = parts_of(_message("Hi", udh=WAP_PUSH_UDH), WireOptions(), NOW)
    assert (part.esm_class, part.short_message) == (0, gsm_encode("Hi"))


# --- SAR ---------------------------------------------------------------------------------------------------------


def test_sar_concatenation_sends_tlvs_and_no_udh() -> None:
    text = "x" * 400
    message = _message(text)
    parts = parts_of(message, WireOptions(concat="sar"), NOW)
    ref = concat_reference(message.id, 16).to_bytes(2, "big")
    assert [(p.esm_class, p.tlvs) for p in parts] == [
        (0, ((SAR_REF, ref), (SAR_TOTAL, b"\x03"), (SAR_SEQ, bytes((seq,))))) for seq in (1, 2, 3)
    ]
    assert [len(p.short_message) for p in parts] == [153, 153, 94]  # the same split as with a UDH
    assert b"".join(p.short_message for p in parts) == gsm_encode(text)


def test_sar_keeps_the_callers_udh() -> None:
    payload = b"\x55" * 300
    parts = parts_of(_binary(payload, WAP_PUSH_UDH), WireOptions(concat="sar"), NOW)
    assert all(p.esm_class == 0x40 and _user_data(p)[0] == WAP_PUSH_UDH for p in parts)
    assert [p.tlvs[2] for p in parts] == [(SAR_SEQ, bytes((seq,))) for seq in (1, 2, 3)]
    assert b"".join(_user_data(p)[1] for p in parts) == payload


def test_a_single_part_has_no_concatenation_either_way() -> None:
    concat: Concat
    for concat in ("udh", "sar"):
        (part,) = parts_of(_message("Hi"), WireOptions(concat=concat), NOW)
        assert (part.esm_class, part.tlvs, part.short_message) == (0, (), gsm_encode("Hi"))


@pytest.mark.parametrize("concat", ["udh", "sar"])
def test_what_the_wire_sends_an_smsc_reads_back_as_the_text(concat: Concat) -> None:
    text = "Ünïcödé 😀 " * 30
    message = _message(text)
    parts = parts_of(message, WireOptions(concat=concat), NOW)
    received = [mo_part("4791234567", "Acme", p.esm_class, p.data_coding, p.short_message, dict(p.tlvs), "c")
                for p in parts]  # fmt: skip
    bits = 8 if concat == "udh" else 16
    assert [m.concat for m in received] == [(concat_reference(message.id, bits), 5, seq) for seq in range(1, 6)]
    assert decode_mo(8, b"".join(m.payload for m in received)) == (Encoding.UCS2, text, None)


# --- The concatenation reference ---------------------------------------------------------------------------------


def test_the_reference_comes_from_the_message_id() -> None:
    message = _message("x" * 400)
    first = parts_of(message, WireOptions(), NOW)
    again = parts_of(dataclasses.replace(message, attempts=3), WireOptions(), NOW + 60_000)
    assert [p.short_message for p in again] == [p.short_message for p in first]
    other = parts_of(dataclasses.replace(message, id=message.id + (1 << 22)), WireOptions(), NOW)
    assert [p.short_message[3] for p in other] != [p.short_message[3] for p in first]


def test_references_spread_over_ids_that_differ_only_in_their_millisecond() -> None:
    ids = [(ms << (NODE_BITS + SEQ_BITS)) | (3 << SEQ_BITS) for ms in range(NOW - EPOCH_MS, NOW - EPOCH_MS + 1000)]
    assert len({concat_reference(i, 8) for i in ids}) > 200
    assert len({concat_reference(i, 16) for i in ids}) > 990
    assert all(0 <= concat_reference(i, 8) <= 0xFF and 0 <= concat_reference(i, 16) <= 0xFFFF for i in ids)


# --- Skipping parts an SMSC already has --------------------------------------------------------------------------


def test_skipped_parts_are_left_out_and_the_rest_unchanged() -> None:
    message = _message("x" * 400)
    everything = parts_of(message, WireOptions(), NOW)
    assert parts_of(message, WireOptions(), NOW, frozenset({1, 3})) == [everything[1]]
    assert parts_of(message, WireOptions(), NOW, frozenset({1, 2, 3})) == []
    assert parts_of(message, WireOptions(), NOW, frozenset({9})) == everything


def test_a_skipped_single_part_leaves_nothing() -> None:
    assert parts_of(_message("Hi"), WireOptions(), NOW, frozenset({1})) == []


def test_sar_skips_too() -> None:
    (part,) = parts_of(_message("x" * 400), WireOptions(concat="sar"), NOW, frozenset({2, 3}))
    assert (part.seq, part.total, part.tlvs[2]) == (1, 3, (SAR_SEQ, b"\x01"))


# --- Bugs upstream -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [_message("x" * 161, parts=1), _message("x" * 10, parts=2), _message("ж" * 71, parts=1),
     _binary(b"\x01" * 200, parts=1), _message(None, encoding="gsm7"), _message(None, encoding="binary")],
)  # fmt: skip
def test_a_message_that_does_not_split_as_stored_is_refused(message: Outgoing) -> None:
    with pytest.raises(ValueError, match=str(message.id)):
        parts_of(message, WireOptions(), NOW)


# --- Flash, PID, priority, receipts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "coding"), [("Hi", 0x10), ("Hi 😀", 0x18)])
def test_flash_is_message_class_0(text: str, coding: int) -> None:
    (part,) = parts_of(_message(text, flash=True), WireOptions(), NOW)
    assert part.data_coding == coding


def test_flash_binary() -> None:
    (part,) = parts_of(_binary(b"\x01", flash=True), WireOptions(), NOW)
    assert part.data_coding == 0x14


def test_protocol_id_and_priority_pass_through() -> None:
    (part,) = parts_of(_message("Hi", pid=0x41, priority=Priority.URGENT), WireOptions(), NOW)
    assert (part.protocol_id, part.priority) == (0x41, 3)
    (part,) = parts_of(_message("Hi", pid=None, priority=0), WireOptions(), NOW)
    assert (part.protocol_id, part.priority) == (0, 0)


@pytest.mark.parametrize(
    ("reports", "registered"),
    [(ReportMask.NONE, 0), (ReportMask.FINAL, 1), (ReportMask.INTERMEDIATE, 0x10),
     (ReportMask.FINAL | ReportMask.INTERMEDIATE, 0x11), (0, 0), (1, 1), (2, 0x10), (3, 0x11)],
)  # fmt: skip
def test_registered_delivery(reports: int, registered: int) -> None:
    for text in ("Hi", "x" * 400):
        assert {p.registered_delivery for p in parts_of(_message(text, reports=reports), WireOptions(), NOW)} == {
            registered
        }


# --- Addresses ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("originator", "kind", "address"),
    [("+4791234567", "international", ("4791234567", 1, 1)), ("Acme Ltd", "alphanumeric", ("Acme Ltd", 5, 0)),
     ("1960", "network", ("1960", 3, 0)), ("12345678", "alphanumeric", ("12345678", 5, 0)),
     ("+4791234567", None, ("4791234567", 1, 1)), ("Acme", None, ("Acme", 5, 0)), ("1960", None, ("1960", 3, 0))],
)  # fmt: skip
def test_the_source_address_by_originator_type(
    originator: str, kind: str | None, address: tuple[str, int, int]
) -> None:
    (part,) = parts_of(_message("Hi", originator=originator, originator_type=kind), WireOptions(), NOW)
    assert (part.source, part.source_ton, part.source_npi) == address


@pytest.mark.parametrize(
    ("default", "address"),
    [("", ("", 0, 0)), ("+4791234567", ("4791234567", 1, 1)), ("4791234567", ("4791234567", 1, 1)),
     ("Acme", ("Acme", 5, 0)), ("1960", ("1960", 3, 0)), ("+47 912 34 567", ("4791234567", 1, 1))],
)  # fmt: skip
def test_a_message_without_originator_goes_from_the_default_typed_by_its_shape(
    default: str, address: tuple[str, int, int]
) -> None:
    (part,) = parts_of(_message("Hi", originator=None, originator_type=None), WireOptions(default_source=default), NOW)
    assert (part.source, part.source_ton, part.source_npi) == address


def test_the_destination_is_international_digits() -> None:
    (part,) = parts_of(_message("Hi", recipient="+447700900750"), WireOptions(), NOW)
    assert (part.destination, part.dest_ton, part.dest_npi) == ("447700900750", 1, 1)


@pytest.mark.parametrize("options", [{"default_source": "12"}, {"default_source": "An originator too long"},
                                     {"concat": "both"}, {"validity": "never"}])  # fmt: skip
def test_bad_options_are_refused_when_made(options: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        WireOptions(**options)  # type: ignore[arg-type]


# --- Validity ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left_ms", "relative"),
    [(HOUR, "000000010000000R"), (7 * 24 * HOUR, "000007000000000R"),
     (((26 * 60 + 3) * 60 + 4) * 1000 + 999, "000001020304000R"), (60_000, "000000000100000R"),
     (59_999, "000000000100000R"), (0, "000000000100000R"), (-HOUR, "000000000100000R"),
     (90_500, "000000000130000R"), (99 * 24 * HOUR, "000099000000000R"), (200 * 24 * HOUR, "000099235959000R")],
)  # fmt: skip
def test_relative_validity(left_ms: int, relative: str) -> None:
    assert validity_period(NOW + left_ms, NOW, absolute=False) == relative
    (part,) = parts_of(_message("Hi", expires_at=NOW + left_ms), WireOptions(), NOW)
    assert part.validity_period == relative


@pytest.mark.parametrize(
    ("expires_at", "absolute"),
    [(datetime(2026, 11, 22, 13, 45, 30, 789_000, tzinfo=UTC), "261122134530700+"),
     (datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC), "270102030405000+"),
     (datetime(2026, 11, 22, 11, 0, tzinfo=UTC), "261122120100000+"),  # already past: one minute from now
     (datetime(2027, 6, 1, tzinfo=UTC), "270302115959000+")],  # capped at 99 days 23:59:59
)  # fmt: skip
def test_absolute_validity_in_utc(expires_at: datetime, absolute: str) -> None:
    at = int(expires_at.timestamp() * 1000)
    assert validity_period(at, NOW, absolute=True) == absolute
    (part,) = parts_of(_message("Hi", expires_at=at), WireOptions(validity="absolute"), NOW)
    assert part.validity_period == absolute


def test_the_maximum_validity_is_99_days_23_59_59() -> None:
    assert MAX_VALIDITY_MS == (99 * 86400 + 23 * 3600 + 59 * 60 + 59) * 1000


# --- Properties --------------------------------------------------------------------------------------------------

GSM_CHARS = st.sampled_from(GSM_BASIC.replace("\x1b", "") + "".join(GSM_EXTENSION))
ANY_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=700)


@settings(max_examples=300)
@given(st.one_of(st.text(GSM_CHARS, min_size=1, max_size=1500), ANY_TEXT), st.sampled_from(["udh", "sar"]))
def test_parts_reassemble_to_the_text(text: str, concat: Concat) -> None:
    message = _message(text)
    encoding = Encoding(message.encoding)
    parts = parts_of(message, WireOptions(concat=concat), NOW)
    assert [(p.seq, p.total) for p in parts] == [(seq, message.parts) for seq in range(1, message.parts + 1)]
    assert _text(parts, encoding) == prepare_text(text, ParsingType.AUTO_DETECT, None).text
    for part in parts:
        udh, data = _user_data(part)
        assert wire_octets(encoding, udh, data) <= 140
    assert parts_of(message, WireOptions(concat=concat), NOW) == parts


@given(st.binary(min_size=1, max_size=3000), st.sampled_from([None, WAP_PUSH_UDH, b"\x00"]))
def test_binary_parts_reassemble_to_the_payload(payload: bytes, udh: bytes | None) -> None:
    message = _binary(payload, udh)
    parts = parts_of(message, WireOptions(), NOW)
    assert len(parts) == message.parts
    assert b"".join(_user_data(p)[1] for p in parts) == payload
    assert all(len(p.short_message) <= 140 for p in parts)
