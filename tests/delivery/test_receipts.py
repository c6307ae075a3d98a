"""What comes back from an SMSC: message ids, delivery receipts (text and TLVs), MO parts and their text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.delivery.connectors.base import MoPart, Receipt
from smsgw.delivery.receipts import decode_mo, id_candidates, mo_part, normalise_id, parse_receipt, receipt_status
from smsgw.domain.encoding import Encoding, gsm_encode
from smsgw.domain.model import Status

RECEIPTED_ID, NETWORK_ERROR, PAYLOAD, STATE = 0x001E, 0x0423, 0x0424, 0x0427
SAR_REF, SAR_TOTAL, SAR_SEQ = 0x020C, 0x020E, 0x020F


def _ms(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1000


# --- Message ids -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("12345", "12345"), (" 0000012345\n", "12345"), ("0", "0"), ("000", "0"), ("0A1B2C3D", "0a1b2c3d"),
     ("  Msg-ID_7 ", "msg-id_7"), ("", ""), ("00ab", "00ab"), ("٣٤", "٣٤")],
)  # fmt: skip
def test_normalise_id_strips_lowers_and_drops_leading_zeros_of_decimal_ids(raw: str, normalised: str) -> None:
    assert normalise_id(raw) == normalised


def test_id_candidates_of_a_decimal_id_add_its_hex_spellings_and_its_reading_as_hex() -> None:
    assert id_candidates("12345") == ["12345", "3039", "00003039", "0000000000003039", "74565"]


def test_id_candidates_of_a_hex_id_add_its_decimal_spelling() -> None:
    assert id_candidates(" 0A1B2C3D ") == ["0a1b2c3d", "169552957"]
    assert id_candidates("FF") == ["ff", "255"]


def test_id_candidates_find_a_zero_padded_hex_id_from_its_decimal_receipt() -> None:
    stored = normalise_id("0A1B2C3D")  # submit_sm_resp, 32-bit hex
    assert stored in id_candidates("169552957")
    stored64 = normalise_id("00000000075BCD15")  # 64-bit hex
    assert stored64 in id_candidates("123456789")


def test_id_candidates_find_a_decimal_id_from_its_padded_decimal_or_hex_receipt() -> None:
    stored = normalise_id("123456789")
    assert stored in id_candidates("000123456789")
    assert stored in id_candidates("75BCD15")
    assert stored in id_candidates("00075bcd15")


@pytest.mark.parametrize("raw", ["abc-123", "g1", "0x1f", "1 2", "", "deadbeef-0000-4000-8000-000000000000"])
def test_id_candidates_of_an_id_that_is_no_number_are_the_id_alone(raw: str) -> None:
    assert id_candidates(raw) == [normalise_id(raw)]


def test_id_candidates_do_not_convert_absurdly_long_ids() -> None:
    assert id_candidates("9" * 33) == ["9" * 33]
    assert id_candidates("f" * 33) == ["f" * 33]
    assert len(id_candidates("9" * 32)) > 1


def test_id_candidates_are_distinct() -> None:
    for raw in ("0", "1", "10", "00000000", "1" * 16):
        candidates = id_candidates(raw)
        assert len(candidates) == len(set(candidates))
        assert candidates[0] == normalise_id(raw)


@given(st.integers(min_value=0, max_value=2**64 - 1), st.sampled_from(["x", "X", "08x", "016X"]))
def test_any_number_is_found_across_decimal_and_hex(n: int, hex_format: str) -> None:
    as_hex = format(n, hex_format)
    if len(as_hex) < 8 or hex_format in ("x", "X") or len(as_hex) in (8, 16):
        assert normalise_id(as_hex) in id_candidates(str(n))
    assert normalise_id(str(n)) in id_candidates(as_hex)
    assert normalise_id(str(n).zfill(20)) in id_candidates(as_hex)


# --- Receipts: the text ------------------------------------------------------------------------------------------

SPEC = (b"id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191020 stat:DELIVRD err:000 "
        b"Text:Hello world")  # fmt: skip
KANNEL = (b"id:1234567890 sub:001 dlvrd:001 submit date:1305050826 done date:1305050827 stat:UNDELIV err:001 "
          b"text:Your code is")  # fmt: skip


def test_the_smpp_appendix_b_receipt() -> None:
    receipt = parse_receipt(SPEC, {}, "smsc1")
    assert receipt == Receipt("smsc1", "123456789", "DELIVRD", None, _ms(2006, 10, 19, 10, 20))


def test_kannels_receipt_with_an_error() -> None:
    assert parse_receipt(KANNEL, {}, "k") == Receipt("k", "1234567890", "UNDELIV", "001", _ms(2013, 5, 5, 8, 27))


def test_a_hex_id_is_kept_lower_case() -> None:
    receipt = parse_receipt(b"id:2F1A3B4C sub:001 dlvrd:001 stat:DELIVRD err:0", {}, "c")
    assert receipt is not None
    assert receipt.smsc_id == "2f1a3b4c"


def test_dates_with_seconds_and_underscored_names() -> None:
    text = b"id:77 sub:001 dlvrd:001 submit_date:130505082600 done_date:130505082631 stat:DELIVRD err:000 text:"
    receipt = parse_receipt(text, {}, "c")
    assert receipt is not None
    assert receipt.done_at == _ms(2013, 5, 5, 8, 26, 31)


def test_fields_in_any_order_and_case_with_missing_ones() -> None:
    receipt = parse_receipt(b"STAT:delivrd Done Date:2611221345 ID:AbC", {}, "c")
    assert receipt == Receipt("c", "abc", "DELIVRD", None, _ms(2026, 11, 22, 13, 45))
    assert parse_receipt(b"id:5 stat:EXPIRED", {}, "c") == Receipt("c", "5", "EXPIRED")


@pytest.mark.parametrize(
    ("word", "state"),
    [("DELIVRD", "DELIVRD"), ("DELIVERED", "DELIVRD"), ("EXPIRED", "EXPIRED"), ("DELETED", "DELETED"),
     ("UNDELIV", "UNDELIV"), ("UNDELIVERABLE", "UNDELIV"), ("ACCEPTD", "ACCEPTD"), ("ACCEPTED", "ACCEPTD"),
     ("UNKNOWN", "UNKNOWN"), ("REJECTD", "REJECTD"), ("REJECTED", "REJECTD"), ("ENROUTE", "ENROUTE"),
     ("enroute", "ENROUTE"), ("BUFFRED", "ENROUTE"), ("ACKED", "ENROUTE")],
)  # fmt: skip
def test_state_words_become_the_smpp_short_forms(word: str, state: str) -> None:
    receipt = parse_receipt(f"id:1 stat:{word} err:0".encode(), {}, "c")
    assert receipt is not None
    assert receipt.state == state


def test_the_quoted_text_cannot_override_the_receipts_fields() -> None:
    text = b"id:9 sub:001 dlvrd:000 stat:UNDELIV err:034 text:id:1 stat:DELIVRD err:000"
    assert parse_receipt(text, {}, "c") == Receipt("c", "9", "UNDELIV", "034")


def test_the_first_of_a_repeated_field_counts() -> None:
    assert parse_receipt(b"id:1 stat:EXPIRED stat:DELIVRD", {}, "c") == Receipt("c", "1", "EXPIRED")


def test_a_trailing_nul_and_spaces_around_values_are_ignored() -> None:
    assert parse_receipt(b"id: 42  stat: DELIVRD err:005\x00", {}, "c") == Receipt("c", "42", "DELIVRD", "005")


@pytest.mark.parametrize("date", ["1313131313", "2602301200", "26022", "abcdefghij", "26010112000", "2601011200000"])
def test_a_bad_done_date_is_ignored(date: str) -> None:
    receipt = parse_receipt(f"id:1 done date:{date} stat:DELIVRD".encode(), {}, "c")
    assert receipt == Receipt("c", "1", "DELIVRD")


def test_the_receipt_may_come_in_message_payload() -> None:
    assert parse_receipt(b"", {PAYLOAD: b"id:1 stat:DELIVRD err:000"}, "c") == Receipt("c", "1", "DELIVRD")


@pytest.mark.parametrize(
    "text",
    [b"", b"hello", b"stat:DELIVRD", b"id: stat:DELIVRD", b"id:1", b"id:1 stat:", b"id:1 stat:FINISHED",
     b"\xff\xfe\x00\x01", b"id:1stat:DELIVRD", b"rid:1 stat:DELIVRD"],
)  # fmt: skip
def test_garbage_or_a_receipt_without_id_or_known_state_is_none(text: bytes) -> None:
    assert parse_receipt(text, {}, "c") is None


# --- Receipts: the TLVs ------------------------------------------------------------------------------------------


def test_a_tlv_only_receipt() -> None:
    tlvs = {RECEIPTED_ID: b"2F1A3B4C\x00", STATE: b"\x02", NETWORK_ERROR: b"\x03\x00\x00"}
    assert parse_receipt(b"", tlvs, "c") == Receipt("c", "2f1a3b4c", "DELIVRD")


@pytest.mark.parametrize(
    ("octet", "state"),
    [(1, "ENROUTE"), (2, "DELIVRD"), (3, "EXPIRED"), (4, "DELETED"), (5, "UNDELIV"), (6, "ACCEPTD"), (7, "UNKNOWN"),
     (8, "REJECTD")],
)  # fmt: skip
def test_message_state_values(octet: int, state: str) -> None:
    receipt = parse_receipt(b"", {RECEIPTED_ID: b"1\x00", STATE: bytes((octet,))}, "c")
    assert receipt is not None
    assert receipt.state == state


def test_tlvs_win_over_the_text() -> None:
    tlvs = {RECEIPTED_ID: b"00ff\x00", STATE: b"\x05", NETWORK_ERROR: b"\x03\x00\x22"}
    assert parse_receipt(KANNEL, tlvs, "c") == Receipt("c", "00ff", "UNDELIV", "034", _ms(2013, 5, 5, 8, 27))


@pytest.mark.parametrize(
    "tlvs",
    [{STATE: b""}, {STATE: b"\x02\x00"}, {STATE: b"\x00"}, {STATE: b"\x09"}, {RECEIPTED_ID: b""},
     {RECEIPTED_ID: b"\x00"}, {NETWORK_ERROR: b"\x03\x01"}],
)  # fmt: skip
def test_a_malformed_or_unknown_tlv_falls_back_to_the_text(tlvs: dict[int, bytes]) -> None:
    assert parse_receipt(KANNEL, tlvs, "k") == parse_receipt(KANNEL, {}, "k")


@pytest.mark.parametrize(
    ("value", "error"), [(b"\x03\x00\x01", "001"), (b"\x03\x01\x00", "256"), (b"\x01\x00\x07", "1:007"),
                         (b"\x02\x00\x00", None)],
)  # fmt: skip
def test_network_error_code_as_text(value: bytes, error: str | None) -> None:
    receipt = parse_receipt(b"id:1 stat:UNDELIV err:999", {NETWORK_ERROR: value}, "c")
    assert receipt is not None
    assert receipt.error == error


def test_the_id_tlv_without_its_nul_is_read_too() -> None:
    assert parse_receipt(b"", {RECEIPTED_ID: b" 0042", STATE: b"\x03"}, "c") == Receipt("c", "42", "EXPIRED")


@given(st.binary(max_size=300), st.dictionaries(st.sampled_from([RECEIPTED_ID, STATE, NETWORK_ERROR, PAYLOAD, 7]),
                                                st.binary(max_size=8)))  # fmt: skip
def test_parse_receipt_never_raises(short_message: bytes, tlvs: dict[int, bytes]) -> None:
    receipt = parse_receipt(short_message, tlvs, "c")
    assert receipt is None or (receipt.smsc_id and receipt.state)


@given(st.text(alphabet="idsubtatdlvrnoe :_ 0123456789DELIVRD", max_size=120))
def test_parse_receipt_never_raises_on_near_receipts(text: str) -> None:
    parse_receipt(text.encode(), {}, "c")


# --- Receipt status ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "status"),
    [("DELIVRD", Status.DELIVERED), ("EXPIRED", Status.EXPIRED), ("DELETED", Status.UNDELIVERABLE),
     ("UNDELIV", Status.UNDELIVERABLE), ("REJECTD", Status.REJECTED), ("ACCEPTD", Status.BUFFERED),
     ("ENROUTE", Status.BUFFERED), ("UNKNOWN", Status.BUFFERED), ("delivered", Status.DELIVERED),
     ("UNDELIVERABLE", Status.UNDELIVERABLE)],
)  # fmt: skip
def test_receipt_status(state: str, status: Status) -> None:
    assert receipt_status(state) is status


def test_receipt_status_refuses_an_unknown_word() -> None:
    with pytest.raises(ValueError, match="FINISHED"):
        receipt_status("FINISHED")


# --- MO parts ----------------------------------------------------------------------------------------------------


def _mo(short_message: bytes, esm_class: int = 0x40, tlvs: dict[int, bytes] | None = None) -> MoPart:
    return mo_part("4791234567", "1960", esm_class, 0, short_message, tlvs or {}, "c")


def test_an_mo_without_udh() -> None:
    assert _mo(b"hello", esm_class=0) == MoPart("c", "4791234567", "1960", 0, b"hello")


def test_a_udh_with_an_8_bit_reference() -> None:
    assert _mo(b"\x05\x00\x03\x2a\x02\x01hello") == MoPart("c", "4791234567", "1960", 0, b"hello", (0x2A, 2, 1))


def test_a_udh_with_a_16_bit_reference() -> None:
    assert _mo(b"\x06\x08\x04\x12\x34\x03\x02hello").concat == (0x1234, 3, 2)


def test_the_concatenation_element_after_another_one() -> None:
    part = _mo(b"\x0b\x05\x04\x0b\x84\x23\xf0\x00\x03\x07\x02\x02data")
    assert (part.payload, part.concat) == (b"data", (7, 2, 2))


def test_a_udh_without_concatenation_is_stripped() -> None:
    part = _mo(b"\x06\x05\x04\x0b\x84\x23\xf0data")
    assert (part.payload, part.concat) == (b"data", None)


def test_an_empty_udh_is_stripped() -> None:
    assert _mo(b"\x00data").payload == b"data"


def test_a_part_may_be_its_udh_alone() -> None:
    assert _mo(b"\x05\x00\x03\x2a\x02\x02") == MoPart("c", "4791234567", "1960", 0, b"", (0x2A, 2, 2))


def test_udh_like_bytes_without_udhi_are_data() -> None:
    assert _mo(b"\x05\x00\x03\x2a\x02\x01hello", esm_class=0) == MoPart("c", "4791234567", "1960", 0,
                                                                        b"\x05\x00\x03\x2a\x02\x01hello")  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [b"", b"\x05\x00\x03\x2a", b"\x05\x00\x04\x2a\x02\x01hello",
     b"\x06\x00\x03\x2a\x02\x01\x05hello", b"\x04\x00\x03\x2a\x02hi", b"\x02\x00\x05hello", b"\xff" * 10],
)  # fmt: skip
def test_a_malformed_udh_keeps_the_bytes_and_no_concatenation(data: bytes) -> None:
    part = _mo(data)
    assert (part.payload, part.concat) == (data, None)


@pytest.mark.parametrize("ie", [b"\x00\x03\x2a\x02\x00", b"\x00\x03\x2a\x00\x00", b"\x00\x03\x2a\x02\x03"])
def test_a_concatenation_outside_1_to_total_is_a_lone_message(ie: bytes) -> None:
    part = _mo(bytes((len(ie),)) + ie + b"hello")
    assert (part.payload, part.concat) == (b"hello", None)


def test_sar_tlvs() -> None:
    tlvs = {SAR_REF: b"\x12\x34", SAR_TOTAL: b"\x03", SAR_SEQ: b"\x03"}
    assert _mo(b"hello", esm_class=0, tlvs=tlvs).concat == (0x1234, 3, 3)
    assert _mo(b"\x06\x05\x04\x0b\x84\x23\xf0data", tlvs=tlvs).concat == (0x1234, 3, 3)


def test_the_udh_wins_over_sar_tlvs() -> None:
    tlvs = {SAR_REF: b"\x12\x34", SAR_TOTAL: b"\x03", SAR_SEQ: b"\x03"}
    assert _mo(b"\x05\x00\x03\x2a\x02\x01hello", tlvs=tlvs).concat == (0x2A, 2, 1)


@pytest.mark.parametrize(
    "tlvs",
    [{SAR_REF: b"\x12", SAR_TOTAL: b"\x03", SAR_SEQ: b"\x01"}, {SAR_REF: b"\x00\x12", SAR_TOTAL: b"\x03"},
     {SAR_REF: b"\x00\x12", SAR_TOTAL: b"\x00\x03", SAR_SEQ: b"\x01"},
     {SAR_REF: b"\x00\x12", SAR_TOTAL: b"\x02", SAR_SEQ: b"\x03"}],
)  # fmt: skip
def test_incomplete_or_malformed_sar_tlvs_are_no_concatenation(tlvs: dict[int, bytes]) -> None:
    assert _mo(b"hello", esm_class=0, tlvs=tlvs).concat is None


def test_message_payload_replaces_an_empty_short_message() -> None:
    assert _mo(b"", esm_class=0, tlvs={PAYLOAD: b"long text"}).payload == b"long text"
    assert _mo(b"", tlvs={PAYLOAD: b"\x05\x00\x03\x01\x02\x02rest"}).concat == (1, 2, 2)
    assert _mo(b"short", esm_class=0, tlvs={PAYLOAD: b"long text"}).payload == b"short"


def test_an_mo_part_keeps_its_addresses_data_coding_and_connector() -> None:
    part = mo_part("+4791234567", "4790000000", 0x04, 8, b"\x00h\x00i", {}, "smsc-2")
    assert part == MoPart("smsc-2", "+4791234567", "4790000000", 8, b"\x00h\x00i")


@given(st.integers(0, 255), st.integers(-1, 300), st.binary(max_size=200),
       st.dictionaries(st.sampled_from([SAR_REF, SAR_TOTAL, SAR_SEQ, PAYLOAD, 1]), st.binary(max_size=4)))  # fmt: skip
def test_mo_part_never_raises(esm_class: int, data_coding: int, data: bytes, tlvs: dict[int, bytes]) -> None:
    part = mo_part("1", "2", esm_class, data_coding, data, tlvs, "c")
    assert part.concat is None or 1 <= part.concat[2] <= part.concat[1]


# --- MO text -----------------------------------------------------------------------------------------------------


def test_the_default_alphabet_is_gsm_unpacked() -> None:
    assert decode_mo(0, gsm_encode("Hi @£ {€} ÆØÅ")) == (Encoding.GSM7, "Hi @£ {€} ÆØÅ", None)


def test_an_octet_above_7f_in_the_default_alphabet_reads_as_latin_1() -> None:
    assert decode_mo(0, "café ÿ".encode("latin-1")) == (Encoding.UCS2, "café ÿ", None)
    assert decode_mo(0, "café".encode("latin-1")) == (Encoding.GSM7, "café", None)


@pytest.mark.parametrize(
    ("dc", "data", "encoding", "text"),
    [(1, b"Hello @", Encoding.GSM7, "Hello @"), (1, b"a`b", Encoding.UCS2, "a`b"),
     (1, b"caf\xe9", Encoding.UCS2, "caf\ufffd"),
     (3, "åæø".encode("latin-1"), Encoding.GSM7, "åæø"), (3, "þ".encode("latin-1"), Encoding.UCS2, "þ"),
     (6, "Привет".encode("iso8859-5"), Encoding.UCS2, "Привет"), (7, "שלום".encode("iso8859-8"), Encoding.UCS2, "שלום"),
     (8, "Hi 😀".encode("utf-16-be"), Encoding.UCS2, "Hi 😀"), (8, b"\xd8\x00\x00a", Encoding.UCS2, "\ufffda"),
     (8, b"\x00a\x00", Encoding.UCS2, "a\ufffd"), (8, b"", Encoding.UCS2, "")],
)  # fmt: skip
def test_smpp_text_codings(dc: int, data: bytes, encoding: Encoding, text: str) -> None:
    assert decode_mo(dc, data) == (encoding, text, None)


@pytest.mark.parametrize(
    ("dc", "kind"),
    [(0x00, "gsm"), (0x02, "binary"), (0x04, "binary"), (0x05, "binary"), (0x09, "binary"), (0x0A, "binary"),
     (0x0B, "binary"), (0x0D, "binary"), (0x0E, "binary"), (0x0F, "binary"),
     (0x10, "gsm"), (0x11, "gsm"), (0x13, "gsm"), (0x14, "binary"), (0x16, "binary"), (0x18, "ucs2"), (0x1B, "ucs2"),
     (0x1C, "binary"), (0x20, "binary"), (0x28, "binary"), (0x3F, "binary"),
     (0x40, "gsm"), (0x44, "binary"), (0x48, "ucs2"), (0x50, "gsm"), (0x58, "ucs2"), (0x60, "binary"),
     (0x80, "binary"), (0xBF, "binary"), (0xC0, "gsm"), (0xCF, "gsm"), (0xD0, "gsm"), (0xDF, "gsm"),
     (0xE0, "ucs2"), (0xEF, "ucs2"), (0xF0, "gsm"), (0xF1, "gsm"), (0xF3, "gsm"), (0xF4, "binary"),
     (0xF5, "binary"), (0xF7, "binary"), (0xF8, "gsm"), (0xFC, "binary"), (0xFF, "binary"),
     (-1, "binary"), (0x100, "binary")],
)  # fmt: skip
def test_the_data_coding_groups(dc: int, kind: str) -> None:
    gsm = gsm_encode("Hi")
    ucs2 = "Hi".encode("utf-16-be")
    expected = {
        "gsm": (Encoding.GSM7, "Hi", None),
        "ucs2": (Encoding.UCS2, "Hi", None),
        "binary": (Encoding.BINARY, None, ucs2 if kind == "binary" else gsm),
    }[kind]
    assert decode_mo(dc, ucs2 if kind in ("ucs2", "binary") else gsm) == expected


@given(st.integers(-10, 300), st.binary(max_size=200))
def test_decode_mo_never_raises(dc: int, data: bytes) -> None:
    encoding, text, payload = decode_mo(dc, data)
    assert (text is None) == (encoding is Encoding.BINARY) == (payload is not None)
