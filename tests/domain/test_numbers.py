"""Recipient numbers to E.164, the fast path for canonical ones, and originators."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

from smsgw.domain import numbers
from smsgw.domain.errors import ErrorCode, MessageError
from smsgw.domain.numbers import NumberFormat, OriginatorType, normalise, originator

INTL, NATL = NumberFormat.INTERNATIONAL, NumberFormat.NATIONAL


@pytest.mark.parametrize(
    ("raw", "assume", "country", "expected"),
    [
        # Norway
        ("+4792000001", INTL, None, "+4792000001"),
        ("+47 920 00 001", INTL, None, "+4792000001"),
        ("0047 920 00 001", INTL, None, "+4792000001"),
        ("4792000001", INTL, None, "+4792000001"),
        ("92000001", NATL, "NO", "+4792000001"),
        ("41000000", NATL, "NO", "+4741000000"),
        ("41000000", INTL, "NO", "+4741000000"),  # not valid as +41…, so national
        ("4792000001", NATL, None, "+4792000001"),  # no country to be national in
        ("4792000001", NATL, "NO", "+4792000001"),  # phonenumbers: the country's own code, without +
        # United Kingdom
        ("+44 7400 123456", INTL, None, "+447400123456"),
        ("0044-7400-123456", INTL, None, "+447400123456"),
        ("447400123456", INTL, None, "+447400123456"),  # OpenMarket smsto
        ("07400 123456", NATL, "GB", "+447400123456"),
        ("+44 (0) 7400 123456", INTL, None, "+447400123456"),
        ("(020) 7946 0000", NATL, "GB", "+442079460000"),
        # Czech Republic (no trunk prefix)
        ("+420 601 123 456", INTL, None, "+420601123456"),
        ("00420601123456", INTL, None, "+420601123456"),
        ("420601123456", INTL, None, "+420601123456"),
        ("601 123 456", NATL, "CZ", "+420601123456"),
        # Russia (Rapporto clientId, trunk prefix 8)
        ("79036550550", INTL, None, "+79036550550"),
        ("+7 903 655-05-50", INTL, None, "+79036550550"),
        ("8-903-655-05-50", NATL, "RU", "+79036550550"),
        ("8-903-655-05-50", INTL, "RU", "+79036550550"),
        ("8 (903) 655.05.50", NATL, "RU", "+79036550550"),
        # Australia and New Zealand
        ("+61 412 345 678", INTL, None, "+61412345678"),
        ("0061412345678", INTL, None, "+61412345678"),
        ("61412345678", INTL, None, "+61412345678"),
        ("0412 345 678", NATL, "AU", "+61412345678"),
        ("+64 21 123 4567", INTL, None, "+64211234567"),
        ("6421 123 4567", INTL, None, "+64211234567"),
        ("021 123 4567", NATL, "NZ", "+64211234567"),
        ("021/123/4567", NATL, "NZ", "+64211234567"),
    ],
)
def test_normalise_reads_known_numbers_in_every_form(
    raw: str, assume: NumberFormat, country: str | None, expected: str
) -> None:
    assert normalise(raw, assume, country) == expected


@pytest.mark.parametrize(
    ("raw", "assume", "country", "reason"),
    [
        ("", INTL, None, "empty number"),
        ("  ", INTL, None, "empty number"),
        ("+", INTL, None, "no digits"),
        ("abc", INTL, None, "not a phone number"),
        ("+47 9200000A", INTL, None, "not a phone number"),
        ("+47 920 00 001 ext 5", INTL, None, "not a phone number"),
        ("٩٢٠٠٠٠٠١", NATL, "NO", "not a phone number"),  # Arabic-Indic digits
        ("+999 123 456 789", INTL, None, "unknown country calling code"),
        ("999123456789", INTL, None, "unknown country calling code"),
        ("+47123", INTL, None, "too short"),
        ("+4792000001123", INTL, None, "too long"),
        ("+47 123 45 678", INTL, None, "not in any number range of +47"),
        ("447400123456", NATL, "NO", "too long"),  # a national reading does not fall back
        ("12345", INTL, "NO", "nor as national in NO"),
    ],
)
def test_normalise_refuses_invalid_numbers_saying_why(
    raw: str, assume: NumberFormat, country: str | None, reason: str
) -> None:
    with pytest.raises(MessageError) as caught:
        normalise(raw, assume, country)
    assert caught.value.code is ErrorCode.INVALID_RECIPIENT
    assert caught.value.field == "recipient"
    assert reason in caught.value.detail
    assert caught.value.detail.endswith(f": {raw!r}")


def test_unknown_default_country_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="'XX'"):
        normalise("92000001", NATL, "XX")


def test_fast_path_returns_a_canonical_number_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parsing(*args: object) -> None:
        raise AssertionError("phonenumbers.parse called on the fast path")

    monkeypatch.setattr(phonenumbers, "parse", no_parsing)
    raw = "+4792000001"
    assert normalise(raw) is raw


def test_fast_path_accepts_a_possible_length_in_an_unassigned_range() -> None:
    # Documented: the fast path checks lengths, not number ranges, so it passes what the full path refuses.
    assert normalise("+4712345678") == "+4712345678"


def _example_numbers() -> list[str]:
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.add(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.add(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    return sorted(found)


EXAMPLES = _example_numbers()


def test_fast_path_returns_what_the_full_path_returns_for_example_numbers_of_every_region() -> None:
    for e164 in EXAMPLES:
        assert normalise(e164) == numbers._normalise_full(e164, INTL, None) == e164


def test_fast_path_takes_nearly_all_canonical_example_numbers() -> None:
    # The exceptions are numbers of fewer than 8 digits and ones phonenumbers could read with a trunk prefix
    # (+7 800…); the full path handles those.
    fast = [e164 for e164 in EXAMPLES if numbers._is_canonical(e164)]
    assert len(fast) >= 0.95 * len(EXAMPLES)


def _lengths_of_code(code: int) -> set[int]:
    lengths: set[int] = set()
    for region in phonenumbers.region_codes_for_country_code(code):
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        assert metadata is not None and metadata.general_desc is not None
        lengths.update(metadata.general_desc.possible_length)
    return lengths


@given(
    code=st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    national=st.text(alphabet="0123456789", min_size=1, max_size=15),
)
def test_fast_path_never_accepts_a_length_or_form_the_full_path_would_change(code: int, national: str) -> None:
    e164 = f"+{code}{national}"
    if numbers._is_canonical(e164):
        assert len(national) in _lengths_of_code(code)
        parsed = phonenumbers.parse(e164)  # would rewrite a national prefix, if any
        assert phonenumbers.format_number(parsed, PhoneNumberFormat.E164) == e164


@given(national=st.text(alphabet="0123456789", min_size=7, max_size=14))
def test_fast_path_refuses_unknown_country_codes(national: str) -> None:
    assert not numbers._is_canonical(f"+999{national}")


@pytest.mark.parametrize(
    ("raw", "declared", "expected"),
    [
        ("Puzzel", None, ("Puzzel", OriginatorType.ALPHANUMERIC)),
        ("  Q-Free AS ", None, ("Q-Free AS", OriginatorType.ALPHANUMERIC)),
        ("Info+Help", None, ("Info+Help", OriginatorType.ALPHANUMERIC)),
        ("%&-+.,_!?'*", None, ("%&-+.,_!?'*", OriginatorType.ALPHANUMERIC)),
        ("#(x)/@:", None, ("#(x)/@:", OriginatorType.ALPHANUMERIC)),
        ("007Bond", None, ("007Bond", OriginatorType.ALPHANUMERIC)),  # "00" then a letter is no number
        ("1960", None, ("1960", OriginatorType.NETWORK)),
        ("123", None, ("123", OriginatorType.NETWORK)),
        ("12345678", None, ("12345678", OriginatorType.NETWORK)),
        ("19 60", None, ("1960", OriginatorType.NETWORK)),
        ("420601123456", None, ("+420601123456", OriginatorType.INTERNATIONAL)),
        ("+4792000001", None, ("+4792000001", OriginatorType.INTERNATIONAL)),
        ("0047 920 00 001", None, ("+4792000001", OriginatorType.INTERNATIONAL)),
        ("4792000001", None, ("+4792000001", OriginatorType.INTERNATIONAL)),
        ("1960", OriginatorType.ALPHANUMERIC, ("1960", OriginatorType.ALPHANUMERIC)),  # declared: kept
        ("Puzzel", OriginatorType.ALPHANUMERIC, ("Puzzel", OriginatorType.ALPHANUMERIC)),
        ("1960", OriginatorType.NETWORK, ("1960", OriginatorType.NETWORK)),
        ("4792000001", OriginatorType.INTERNATIONAL, ("+4792000001", OriginatorType.INTERNATIONAL)),
    ],
)
def test_originator_is_classified_and_normalised(
    raw: str, declared: OriginatorType | None, expected: tuple[str, OriginatorType]
) -> None:
    assert originator(raw, declared) == expected


def test_international_originator_falls_back_to_the_default_country() -> None:
    assert originator("92000001", OriginatorType.INTERNATIONAL, "NO") == (
        "+4792000001",
        OriginatorType.INTERNATIONAL,
    )


@pytest.mark.parametrize(
    ("raw", "declared", "reason"),
    [
        ("", None, "empty originator"),
        ("12", None, "3 to 8 digits"),
        ("ABCDEFGHIJKL", None, "at most 11 characters"),
        ("Bøler", None, "['ø']"),
        ("Hi;there", None, "[';']"),
        ("123456789", None, "too short"),  # more than 8 digits is read as international
        ("Puzzel", OriginatorType.NETWORK, "3 to 8 digits"),
        ("123456789", OriginatorType.NETWORK, "3 to 8 digits"),
        ("+999123456", None, "unknown country calling code"),
        ("Puzzel", OriginatorType.INTERNATIONAL, "not a phone number"),
        ("", OriginatorType.ALPHANUMERIC, "empty originator"),
    ],
)
def test_originator_refuses_invalid_ones_saying_why(raw: str, declared: OriginatorType | None, reason: str) -> None:
    with pytest.raises(MessageError) as caught:
        originator(raw, declared)
    assert caught.value.code is ErrorCode.INVALID_ORIGINATOR
    assert caught.value.field == "originator"
    assert reason in caught.value.detail
