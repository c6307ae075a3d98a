"""GSM 03.38 / UCS-2 / binary encoding, the parsing types, and segmentation into concatenated parts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.domain.encoding import (
    GSM_BASIC,
    GSM_EXTENSION,
    Encoding,
    ParsingType,
    Prepared,
    binary_parts,
    concat_udh,
    data_coding,
    decode_parts,
    gsm_decode,
    gsm_encode,
    gsm_septets,
    pack_septets,
    prepare_text,
    split_binary,
    split_text,
    udh_fill_bits,
    unpack_septets,
    validate_udh,
    wire_octets,
)
from smsgw.domain.errors import ErrorCode, MessageError

BASIC = GSM_BASIC.replace("\x1b", "")
EXTENSION = "".join(GSM_EXTENSION)
CZECH = "Příliš žluťoučký kůň úpěl ďábelské ódy"
CZECH_NON_GSM = ("ř", "í", "š", "ž", "ť", "č", "ý", "ů", "ň", "ú", "ě", "ď", "á", "ó")
GSM_ACCENTED = "éÉàèùìòÇØøÅåÆæßÄÖÑÜäöñü¿¡§£¥¤ΔΦΓΛΩΠΨΣΘΞ"


def _error(text: str, parsing_type: ParsingType = ParsingType.NONE, max_parts: int | None = 6) -> MessageError:
    with pytest.raises(MessageError) as info:
        prepare_text(text, parsing_type, max_parts)
    return info.value


# --- The tables ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("septet", "char"),
    [(0x00, "@"), (0x02, "$"), (0x0A, "\n"), (0x10, "\u0394"), (0x11, "_"), (0x1A, "\u039e"), (0x24, "¤"),
     (0x40, "¡"), (0x5F, "§"), (0x60, "¿"), (0x7F, "à")],
)  # fmt: skip
def test_basic_table_holds_the_gsm_0338_character_at_each_septet(septet: int, char: str) -> None:
    assert len(GSM_BASIC) == 128
    assert GSM_BASIC[septet] == char


@pytest.mark.parametrize("char", list(EXTENSION))
def test_every_extension_char_counts_two_septets(char: str) -> None:
    assert gsm_septets(char) == 2
    assert gsm_septets(f"a{char}b") == 4
    assert gsm_encode(char) == bytes((0x1B, GSM_EXTENSION[char]))


def test_every_basic_char_counts_one_septet_and_encodes_to_its_index() -> None:
    assert gsm_septets(BASIC) == 127
    assert gsm_encode(BASIC) == bytes(i for i in range(128) if i != 0x1B)


@pytest.mark.parametrize(
    "text", ["`", "\t", "\x1b", "\x00", "á", "Ж", "😀", "hello`", "plain ascii then ř", "x\u00a0y", "€ and ж"]
)
def test_text_with_a_char_outside_gsm_has_no_septet_count(text: str) -> None:
    assert gsm_septets(text) is None
    with pytest.raises(ValueError, match=r"not in GSM 03\.38"):
        gsm_encode(text)


@pytest.mark.parametrize(
    ("text", "septets"),
    [("", 0), ("hello", 5), ("a{b}c", 7), ("æøå€", 5), ("Ξ^", 3), ("line\r\nbreak", 11), ("$@_", 3)],
)
def test_septet_count_of_mixed_text(text: str, septets: int) -> None:
    assert gsm_septets(text) == septets


def test_gsm_decode_inverts_gsm_encode_over_the_whole_alphabet() -> None:
    text = BASIC + EXTENSION
    assert gsm_decode(gsm_encode(text)) == text


@pytest.mark.parametrize(
    ("data", "text"),
    [(b"\x1b\x41", "A"), (b"ab\x1b", "ab "), (b"\x1b\x1ba", " a"), (b"\x1b\x65\x00", "€@")],
)
def test_gsm_decode_reads_unknown_and_dangling_escapes_as_ts_23038_asks(data: bytes, text: str) -> None:
    assert gsm_decode(data) == text


def test_gsm_decode_refuses_a_byte_that_is_not_a_septet() -> None:
    with pytest.raises(ValueError):
        gsm_decode(b"a\x80")


# --- 7-bit packing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fill_bits", "packed"),
    [
        ("hellohello", 0, "E8329BFD4697D9EC37"),
        ("hello", 0, "E8329BFD06"),
        ("h", 1, "D0"),
        ("hellohello", 1, "D06536FB8D2EB3D96F"),  # the first vector shifted by one bit
        ("", 0, ""),
    ],
)
def test_pack_septets_matches_known_vectors(text: str, fill_bits: int, packed: str) -> None:
    septets = gsm_encode(text)
    assert pack_septets(septets, fill_bits).hex().upper() == packed
    assert unpack_septets(bytes.fromhex(packed), len(septets), fill_bits) == septets


def test_eight_septets_fill_seven_octets() -> None:
    assert pack_septets(b"\x7f" * 8) == b"\xff" * 7


@pytest.mark.parametrize(("udh_length", "fill"), [(0, 0), (6, 1), (7, 0), (12, 2), (13, 1)])
def test_fill_bits_align_the_first_septet_after_the_udh(udh_length: int, fill: int) -> None:
    assert udh_fill_bits(udh_length) == fill
    assert (8 * udh_length + fill) % 7 == 0


def test_packing_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        pack_septets(b"\x80")
    with pytest.raises(ValueError):
        pack_septets(b"a", 7)
    with pytest.raises(ValueError):
        unpack_septets(b"\x00" * 7, 9)


@given(st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_unpack_inverts_pack_for_any_septets_and_fill(septets: bytes, fill_bits: int) -> None:
    packed = pack_septets(septets, fill_bits)
    assert len(packed) == -(-(fill_bits + 7 * len(septets)) // 8)
    assert unpack_septets(packed, len(septets), fill_bits) == septets


# --- Parts and limits ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        ("a" * 918, Encoding.GSM7, 918, 6),
        ("€" * 80, Encoding.GSM7, 160, 1),
        ("€" * 81, Encoding.GSM7, 162, 2),
        ("ж" * 70, Encoding.UCS2, 70, 1),
        ("ж" * 71, Encoding.UCS2, 71, 2),
        ("ж" * 134, Encoding.UCS2, 134, 2),
        ("ж" * 135, Encoding.UCS2, 135, 3),
        ("😀" * 35, Encoding.UCS2, 70, 1),
        ("😀" * 36, Encoding.UCS2, 72, 2),
    ],
)
def test_part_count_follows_single_and_concatenated_capacity(
    text: str, encoding: Encoding, units: int, parts: int
) -> None:
    prepared = prepare_text(text, ParsingType.AUTO_DETECT, 6)
    assert (prepared.encoding, prepared.units, prepared.parts) == (encoding, units, parts)
    assert len(split_text(text, encoding)) == parts


def test_919_gsm_chars_are_too_long_for_six_parts() -> None:
    error = _error("a" * 919, ParsingType.AUTO_DETECT, 6)
    assert error == MessageError(
        ErrorCode.TOO_LONG,
        "text needs 7 parts; at most 6 allowed (918 GSM characters or 402 UCS-2 characters)",
        field="text",
    )


def test_a_one_part_limit_names_the_single_part_capacity() -> None:
    error = _error("ж" * 71, ParsingType.AUTO_DETECT, 1)
    assert error.detail == "text needs 2 parts; at most 1 allowed (160 GSM characters or 70 UCS-2 characters)"


def test_no_limit_still_stops_at_255_parts_the_concatenation_ie_can_count() -> None:
    assert prepare_text("a" * 153 * 255, ParsingType.NONE, None).parts == 255
    assert _error("a" * (153 * 255 + 1), ParsingType.NONE, None).code is ErrorCode.TOO_LONG


def test_an_escape_that_would_straddle_the_153_septet_boundary_moves_whole_to_the_next_part() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts = split_text(text, Encoding.GSM7)
    assert [len(p) for p in parts] == [152, 12]
    assert parts[1][:2] == b"\x1b\x65"
    assert prepare_text(text, ParsingType.NONE, 6).parts == 2


def test_escapes_that_push_a_text_over_a_part_boundary_add_a_part() -> None:
    # 306 septets fill two parts of 153 only if no escape straddles septet 153; this one does.
    text = "a" * 152 + "€" + "a" * 152
    assert gsm_septets(text) == 306
    parts = split_text(text, Encoding.GSM7)
    assert [len(p) for p in parts] == [152, 153, 1]
    assert prepare_text(text, ParsingType.NONE, None).parts == 3


def test_an_emoji_at_the_67_unit_boundary_moves_whole_to_the_next_part() -> None:
    text = "ж" * 66 + "😀" + "ж" * 10
    parts = split_text(text, Encoding.UCS2)
    assert [len(p) // 2 for p in parts] == [66, 12]
    assert decode_parts(Encoding.UCS2, parts[:1]) == "ж" * 66
    assert decode_parts(Encoding.UCS2, parts[1:]) == "😀" + "ж" * 10
    assert prepare_text(text, ParsingType.AUTO_DETECT, 6).parts == 2


@pytest.mark.parametrize(
    ("udh", "user_data", "encoding", "octets"),
    [
        (b"", b"a" * 160, Encoding.GSM7, 140),
        (b"\x05\x00\x03\x01\x02\x01", b"a" * 153, Encoding.GSM7, 140),
        (b"\x05\x00\x03\x01\x02\x01", b"a" * 154, Encoding.GSM7, 141),
        (b"\x05\x00\x03\x01\x02\x01", b"\x00\x41" * 67, Encoding.UCS2, 140),
        (b"\x05\x00\x03\x01\x02\x01", b"\xff" * 134, Encoding.BINARY, 140),
    ],
)
def test_wire_octets_count_packed_septets_after_the_udh_and_fill_bits(
    udh: bytes, user_data: bytes, encoding: Encoding, octets: int
) -> None:
    assert wire_octets(encoding, udh, user_data) == octets


def test_binary_has_no_text_to_split_or_decode() -> None:
    with pytest.raises(ValueError):
        split_text("abc", Encoding.BINARY)
    with pytest.raises(ValueError):
        decode_parts(Encoding.BINARY, [b"abc"])


# --- Parsing types ---------------------------------------------------------------------------------------------


def test_norwegian_letters_are_gsm_and_pass_under_none() -> None:
    text = "Blåbærsyltetøy på Ærøy og Østre Åsen"
    assert prepare_text(text, ParsingType.NONE, 6) == Prepared(text, Encoding.GSM7, len(text), 1)


@pytest.mark.parametrize(
    "parsing_type", [ParsingType.NONE, ParsingType.SAFE_REMOVE_NON_GSM, ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE]
)
def test_gsm_accented_letters_are_never_removed_or_replaced(parsing_type: ParsingType) -> None:
    prepared = prepare_text(GSM_ACCENTED, parsing_type, 6)
    assert (prepared.text, prepared.encoding, prepared.removed, prepared.replaced) == (
        GSM_ACCENTED,
        Encoding.GSM7,
        (),
        (),
    )


def test_czech_under_none_is_refused_naming_the_characters() -> None:
    error = _error(CZECH, ParsingType.NONE)
    assert error.code is ErrorCode.INVALID_CHARACTERS
    assert error.field == "text"
    assert error.detail == (
        "characters not in GSM 03.38: 'ř' (U+0159), 'í' (U+00ED), 'š' (U+0161), 'ž' (U+017E), 'ť' (U+0165),"
        " 'č' (U+010D), 'ý' (U+00FD), 'ů' (U+016F), 'ň' (U+0148), 'ú' (U+00FA) and 4 more"
    )


def test_czech_under_safe_remove_drops_the_non_gsm_letters_and_keeps_e_acute() -> None:
    assert prepare_text(CZECH, ParsingType.SAFE_REMOVE_NON_GSM, 6) == Prepared(
        "Pli luouk k pl belské dy", Encoding.GSM7, 24, 1, removed=CZECH_NON_GSM, non_gsm=CZECH_NON_GSM
    )


def test_czech_under_safe_replace_becomes_plain_letters_and_keeps_e_acute() -> None:
    prepared = prepare_text(CZECH, ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE, 6)
    assert prepared.text == "Prilis zlutoucky kun upel dabelské ody"
    assert prepared.replaced == tuple(zip(CZECH_NON_GSM, "risztcyunuedao", strict=True))
    assert (prepared.encoding, prepared.units, prepared.parts, prepared.removed) == (Encoding.GSM7, 38, 1, ())
    assert prepared.non_gsm == CZECH_NON_GSM


def test_czech_under_auto_detect_is_sent_unchanged_as_ucs2() -> None:
    assert prepare_text(CZECH, ParsingType.AUTO_DETECT, 6) == Prepared(
        CZECH, Encoding.UCS2, 38, 1, non_gsm=CZECH_NON_GSM
    )


def test_czech_capitals_are_replaced_too() -> None:
    prepared = prepare_text("ŘÍŠŽŤČÝŮŇÚĚĎÁÓ", ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE, 6)
    assert prepared.text == "RISZTCYUNUEDAO"


def test_cyrillic_and_a_o_u_acute_are_dropped_under_safe_remove_while_grave_accents_stay() -> None:
    prepared = prepare_text("Привет мир! à ò ù á ó ú", ParsingType.SAFE_REMOVE_NON_GSM, 6)
    assert prepared.text == " ! à ò ù   "
    assert prepared.removed == ("П", "р", "и", "в", "е", "т", "м", "á", "ó", "ú")
    assert prepared.encoding is Encoding.GSM7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("‘single’ ‚low‛", "'single' 'low'"),
        ("“double” „low‟ «guillemets»", '"double" "low" "guillemets"'),
        ("a – b — c − d", "a - b - c - d"),
        ("wait…", "wait..."),
        ("10\u00a0000\tkr", "10 000 kr"),
        ("Łódź, Gdańsk, Kraków", "Lodz, Gdansk, Krakow"),
        ("Œuvre ðþ", "OEuvre dth"),
        ("ﬁne ２ ™", "fine 2 TM"),
        ("′´`‹› ″ \u2010\u2011\u2012\u2015", "''''' \" ----"),
        ("łđĐÐħĦı œÞ", "ldDDhHi oeTh"),
    ],
)
def test_safe_replace_gives_gsm_equivalents_for_punctuation_and_letters(text: str, expected: str) -> None:
    prepared = prepare_text(text, ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE, 6)
    assert prepared.text == expected
    assert prepared.removed == ()


def test_safe_replace_drops_what_has_no_equivalent() -> None:
    prepared = prepare_text("Hi Жанна 😀!", ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE, 6)
    assert prepared.text == "Hi  !"
    assert prepared.removed == ("Ж", "а", "н", "😀")
    assert prepared.replaced == ()


def test_decomposed_accents_are_composed_before_they_are_judged() -> None:
    # "e" + COMBINING ACUTE ACCENT is é, which GSM has; even NONE accepts it.
    assert prepare_text("Caf\u0065\u0301", ParsingType.NONE, 6).text == "Café"
    assert prepare_text("ba\u0301", ParsingType.SAFE_REMOVE_NON_GSM, 6).removed == ("á",)


def test_auto_detect_keeps_gsm_text_in_gsm7() -> None:
    assert prepare_text("Hello {world} €5", ParsingType.AUTO_DETECT, 6) == Prepared(
        "Hello {world} €5", Encoding.GSM7, 19, 1
    )


def test_auto_detect_counts_an_emoji_as_two_units() -> None:
    prepared = prepare_text("ok 😀", ParsingType.AUTO_DETECT, 6)
    assert (prepared.encoding, prepared.units, prepared.non_gsm) == (Encoding.UCS2, 5, ("😀",))


def test_auto_detect_refuses_lone_surrogates_that_cannot_be_sent() -> None:
    error = _error("a\ud800", ParsingType.AUTO_DETECT)
    assert (error.code, error.field) == (ErrorCode.INVALID_CHARACTERS, "text")


@pytest.mark.parametrize("parsing_type", list(ParsingType))
def test_empty_text_is_a_missing_field(parsing_type: ParsingType) -> None:
    assert _error("", parsing_type) == MessageError(ErrorCode.MISSING_FIELD, "message text is empty", field="text")


@pytest.mark.parametrize(
    "parsing_type", [ParsingType.SAFE_REMOVE_NON_GSM, ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE]
)
def test_text_that_becomes_empty_after_removal_is_a_missing_field(parsing_type: ParsingType) -> None:
    error = _error("Жж", parsing_type)
    assert (error.code, error.field) == (ErrorCode.MISSING_FIELD, "text")
    assert error.detail.startswith("message text is empty")


# --- Binary messages and the UDH -------------------------------------------------------------------------------

PORTS = bytes.fromhex("06050415820000")  # IE 05: 16-bit application ports


@pytest.mark.parametrize(
    ("ref", "total", "seq", "base", "udh"),
    [
        (0x2A, 3, 1, None, "0500032A0301"),
        (0, 1, 1, None, "050003000101"),
        (255, 255, 255, None, "050003FFFFFF"),
        (0xAB, 2, 1, PORTS, "0B0504158200000003AB0201"),
    ],
)
def test_concat_udh_appends_the_8bit_reference_ie(ref: int, total: int, seq: int, base: bytes | None, udh: str) -> None:
    assert concat_udh(ref, total, seq, base) == bytes.fromhex(udh)
    validate_udh(concat_udh(ref, total, seq, base))


@pytest.mark.parametrize(("ref", "total", "seq"), [(256, 2, 1), (-1, 2, 1), (1, 2, 3), (1, 2, 0), (1, 256, 1)])
def test_concat_udh_refuses_values_one_octet_cannot_carry(ref: int, total: int, seq: int) -> None:
    with pytest.raises(ValueError):
        concat_udh(ref, total, seq)


@pytest.mark.parametrize(
    ("encoding", "flash", "dcs", "expected"),
    [
        (Encoding.GSM7, False, None, 0x00),
        (Encoding.GSM7, True, None, 0x10),
        (Encoding.UCS2, False, None, 0x08),
        (Encoding.UCS2, True, None, 0x18),
        (Encoding.BINARY, False, None, 0x04),
        (Encoding.BINARY, True, None, 0x14),
        (Encoding.BINARY, False, 0xF5, 0xF5),
        (Encoding.GSM7, True, 0x15, 0x15),
    ],
)
def test_data_coding_follows_encoding_and_flash_unless_the_caller_sets_dcs(
    encoding: Encoding, flash: bool, dcs: int | None, expected: int
) -> None:
    assert data_coding(encoding, flash, dcs) == expected


@pytest.mark.parametrize(
    "udh", ["0500030A0201", "0608040A0B0201", "06050415820000", "0B0504158200000003AB0201", "00", "020100"]
)
def test_validate_udh_accepts_well_formed_headers(udh: str) -> None:
    validate_udh(bytes.fromhex(udh))


@pytest.mark.parametrize(
    ("udh", "reason"),
    [
        ("", "empty"),
        ("050003", "length octet is 5 but 2 octets follow"),
        ("0500030A0201FF", "length octet is 5 but 6 octets follow"),
        ("0100", "no length octet"),
        ("0400030102", "runs past the end"),
        ("0400020A02", "must have 3 octets"),
        pytest.param("0B0504158200000023AB0201", "runs past the end", id="concat-ie-claims-0x23-octets"),
    ],
)
def test_validate_udh_refuses_malformed_headers(udh: str, reason: str) -> None:
    with pytest.raises(MessageError, match=reason) as info:
        validate_udh(bytes.fromhex(udh))
    assert (info.value.code, info.value.field) == (ErrorCode.INVALID_BINARY, "udh")


@pytest.mark.parametrize(
    ("size", "udh", "chunks"),
    [
        (140, None, [140]),
        (141, None, [134, 7]),
        (134 * 3, None, [134, 134, 134]),
        (133, PORTS, [133]),
        (134, PORTS, [128, 6]),
        (140, b"", [140]),
    ],
)
def test_split_binary_keeps_the_caller_udh_in_every_part(size: int, udh: bytes | None, chunks: list[int]) -> None:
    payload = bytes(range(256)) * 2
    parts = split_binary(payload[:size], udh)
    assert [len(p) for p in parts] == chunks
    assert b"".join(parts) == payload[:size]
    assert binary_parts(payload[:size], udh, None) == len(chunks)


def test_binary_parts_refuses_an_empty_payload() -> None:
    with pytest.raises(MessageError) as info:
        binary_parts(b"", None, 6)
    assert info.value == MessageError(ErrorCode.MISSING_FIELD, "binary payload is empty", field="payload")


def test_binary_parts_allows_a_caller_concatenation_ie_only_when_no_split_is_needed() -> None:
    udh = bytes.fromhex("0500030A0201")
    assert binary_parts(b"x" * 134, udh, 6) == 1
    with pytest.raises(MessageError, match="already has a concatenation element") as info:
        binary_parts(b"x" * 135, udh, 6)
    assert (info.value.code, info.value.field) == (ErrorCode.INVALID_BINARY, "udh")


def test_binary_parts_refuses_a_udh_that_leaves_no_room_for_splitting() -> None:
    udh = bytes((135, 0x70, 133)) + bytes(133)
    assert binary_parts(b"1234", udh, 6) == 1
    with pytest.raises(MessageError, match="leaves no room") as info:
        binary_parts(b"12345", udh, 6)
    assert info.value.code is ErrorCode.INVALID_BINARY


def test_binary_parts_refuses_a_malformed_udh() -> None:
    with pytest.raises(MessageError) as info:
        binary_parts(b"x", bytes.fromhex("0500"), 6)
    assert info.value.code is ErrorCode.INVALID_BINARY


def test_binary_payload_over_the_part_limit_is_too_long() -> None:
    assert binary_parts(b"x" * 134 * 6, None, 6) == 6
    with pytest.raises(MessageError) as info:
        binary_parts(b"x" * (134 * 6 + 1), None, 6)
    assert info.value == MessageError(
        ErrorCode.TOO_LONG, "payload needs 7 parts; at most 6 allowed (804 octets)", field="payload"
    )


# --- Properties ------------------------------------------------------------------------------------------------

gsm_chars = st.sampled_from(BASIC + EXTENSION)
# utf-8: every code point but the surrogates, which a str can hold but no SMS can carry.
any_chars = st.one_of(gsm_chars, st.characters(codec="utf-8"))


def _long_texts(chars: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Runs of a short snippet repeated up to 200 times, so that multi-part texts, and escapes and emoji at part
    boundaries, are common rather than the rare long draw of `st.text`."""
    runs = st.lists(st.tuples(st.text(chars, min_size=1, max_size=3), st.integers(1, 200)), min_size=1, max_size=6)
    return runs.map(lambda rs: "".join(snippet * times for snippet, times in rs))


texts = st.one_of(
    st.text(gsm_chars, min_size=1, max_size=200),
    st.text(any_chars, min_size=1, max_size=200),
    _long_texts(gsm_chars),
    _long_texts(any_chars),
)


def _assert_parts_round_trip(prepared: Prepared) -> None:
    parts = split_text(prepared.text, prepared.encoding)
    assert len(parts) == prepared.parts
    assert decode_parts(prepared.encoding, parts) == prepared.text
    unit = 1 if prepared.encoding is Encoding.GSM7 else 2
    assert sum(len(p) for p in parts) == prepared.units * unit
    udh = concat_udh(0, len(parts), 1) if len(parts) > 1 else b""
    assert all(p and wire_octets(prepared.encoding, udh, p) <= 140 for p in parts)


@given(texts)
def test_any_text_under_auto_detect_splits_into_the_counted_parts_and_reassembles(text: str) -> None:
    prepared = prepare_text(text, ParsingType.AUTO_DETECT, None)
    assert prepared.encoding is (Encoding.GSM7 if gsm_septets(prepared.text) is not None else Encoding.UCS2)
    _assert_parts_round_trip(prepared)


@given(texts, st.sampled_from([ParsingType.SAFE_REMOVE_NON_GSM, ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE]))
def test_any_text_after_removal_or_replacement_is_gsm_and_splits_as_counted(
    text: str, parsing_type: ParsingType
) -> None:
    try:
        prepared = prepare_text(text, parsing_type, None)
    except MessageError as e:
        assert e.code is ErrorCode.MISSING_FIELD
        return
    assert gsm_septets(prepared.text) == prepared.units
    assert set(prepared.removed) | {c for c, _ in prepared.replaced} == set(prepared.non_gsm)
    _assert_parts_round_trip(prepared)


information_elements = st.tuples(st.integers(1, 255).filter(lambda iei: iei != 0x08), st.binary(max_size=10)).map(
    lambda ie: bytes((ie[0], len(ie[1]))) + ie[1]
)
caller_udhs = st.one_of(
    st.none(), st.lists(information_elements, max_size=5).map(b"".join).map(lambda body: bytes((len(body),)) + body)
)


@given(st.integers(1, 3000).flatmap(lambda n: st.binary(min_size=n, max_size=n)), caller_udhs)
def test_any_binary_payload_splits_into_parts_that_fit_and_reassemble(payload: bytes, udh: bytes | None) -> None:
    if udh is not None:
        validate_udh(udh)
    chunks = split_binary(payload, udh)
    assert len(chunks) == binary_parts(payload, udh, None)
    assert b"".join(chunks) == payload
    for seq, chunk in enumerate(chunks, 1):
        part_udh = concat_udh(7, len(chunks), seq, udh) if len(chunks) > 1 else udh or b""
        assert chunk
        assert wire_octets(Encoding.BINARY, part_udh, chunk) <= 140
