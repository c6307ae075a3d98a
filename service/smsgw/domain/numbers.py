"""Phone numbers (E.164 via phonenumbers) and originators."""

from __future__ import annotations

import itertools
import re
import string
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, ValidationResult

from .errors import ErrorCode, MessageError


class NumberFormat(StrEnum):
    """How a dialect reads a number that has no "+" or "00" in front."""

    INTERNATIONAL = "international"  # 447700900750 (OpenMarket), 79036550550 (Rapporto)
    NATIONAL = "national"  # 41000000 in the account's default country


class OriginatorType(StrEnum):
    INTERNATIONAL = "international"  # an E.164 number, shown with "+"
    ALPHANUMERIC = "alphanumeric"  # up to 11 characters; the phone cannot reply
    NETWORK = "network"  # an operator short code, e.g. 1960


# Characters people put between digits; removed before a number is read.
_SEPARATORS = str.maketrans("", "", " \t\r\n\u00a0-.()/")

_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)


def _metadata(code: int, region: str) -> PhoneMetadata:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    assert metadata is not None  # phonenumbers lists only codes and regions it has metadata for
    return metadata


def _fast_path_rules() -> dict[str, tuple[int, frozenset[int], re.Pattern[str] | None]]:
    """Map each 3-digit start of a canonical number to (calling code length, allowed string lengths, prefix).

    Calling codes are prefix-free, so the first three digits after "+" name at most one of them. The allowed
    lengths are the union of the general possible lengths of every region sharing the code: `is_valid_number`
    rejects any other length whichever region the number falls in. The prefix is the main region's
    national-prefix-for-parsing pattern: `phonenumbers.parse` strips a national prefix even after "+" (so
    "+200156607687" becomes "+20156607687"), and a number it might rewrite must not skip it.
    """
    rules: dict[str, tuple[int, frozenset[int], re.Pattern[str] | None]] = {}
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        cc = str(code)
        nsn_lengths: set[int] = set()
        for region in regions:
            general = _metadata(code, region).general_desc
            assert general is not None  # every region has one
            nsn_lengths.update(general.possible_length)
        main = _metadata(code, phonenumbers.region_code_for_country_code(code))
        prefix = re.compile(main.national_prefix_for_parsing) if main.national_prefix_for_parsing else None
        entry = (len(cc), frozenset(1 + len(cc) + n for n in nsn_lengths), prefix)
        for tail in itertools.product(string.digits, repeat=3 - len(cc)):
            rules[cc + "".join(tail)] = entry
    return rules


_FAST_RULES = _fast_path_rules()
_CANONICAL_SHAPE = re.compile(r"\+[1-9][0-9]{7,14}")


def _is_canonical(text: str) -> bool:
    """The fast path's test: see `normalise`."""
    if _CANONICAL_SHAPE.fullmatch(text) is None:
        return False
    rule = _FAST_RULES.get(text[1:4])
    if rule is None:
        return False
    cc_length, lengths, prefix = rule
    if len(text) not in lengths:
        return False
    if prefix is None:
        return True
    start = 1 + cc_length
    match = prefix.match(text, start)
    return match is None or (match.end() == start and match.lastindex is None)


class _Unreadable(ValueError):
    """Why one reading of a number failed, in words fit for the customer."""


_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong length",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too short",
}

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_LONG: "too long",
}


def _read(number: str, region: str | None) -> str:
    """E.164 of `number` ("+digits", or national digits of `region`) if phonenumbers calls it valid."""
    try:
        parsed = phonenumbers.parse(number, region)
    except NumberParseException as exc:
        raise _Unreadable(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    if not phonenumbers.is_valid_number(parsed):
        reason = _LENGTH_REASONS.get(phonenumbers.is_possible_number_with_reason(parsed))
        raise _Unreadable(reason or f"not in any number range of +{parsed.country_code}")
    return str(phonenumbers.format_number(parsed, PhoneNumberFormat.E164))


def _invalid(reason: str, raw: str) -> MessageError:
    return MessageError(ErrorCode.INVALID_RECIPIENT, f"{reason}: {raw!r}", field="recipient")


def normalise(raw: str, assume: NumberFormat = NumberFormat.INTERNATIONAL, default_country: str | None = None) -> str:
    """The E.164 form ("+4792000001") of a recipient as a customer wrote it.

    Spaces, hyphens, dots, parentheses and slashes are dropped; "+" or "00" in front means international.
    Bare digits are read as `assume` says: INTERNATIONAL (OpenMarket "447700900750", Rapporto "79036550550")
    falls back to a national number of `default_country` when the international reading is not valid;
    NATIONAL reads them in `default_country` (international when there is none) and does not fall back,
    since a failed national reading is likelier a typo than a foreign number. National readings go through
    phonenumbers, which removes trunk prefixes ("8-903-655-05-50" in RU, "07400 123456" in GB) and takes the
    country's own code without "+" ("4792000001" in NO) when the rest is a valid national number. Validity is
    `is_valid_number`, any number type: several countries send SMS to fixed-line and other ranges.

    Fast path: `raw` (or, read as INTERNATIONAL, "+" and `raw` when it is bare digits) is returned without
    `phonenumbers.parse` when it is "+" and 8 to 15 ASCII
    digits with a known calling code, its length is possible for that code (the union over the regions that
    share it, as phonenumbers' metadata says), and it does not start with a national prefix that
    `phonenumbers.parse` would strip. It does not run the number-range patterns, so it accepts a number of a
    right length in an unassigned range that the full path would refuse. It never accepts a length that no
    region of the code allows, and what it returns is what the full path returns for every number both accept.

    `default_country` is an ISO 3166 region code ("NO"); an unknown one is a configuration error and raises
    ValueError. An invalid number raises MessageError(INVALID_RECIPIENT).
    """
    if default_country is not None and default_country not in _REGIONS:
        raise ValueError(f"unknown default country {default_country!r}")
    if _is_canonical(raw):
        return raw
    if assume is NumberFormat.INTERNATIONAL and raw.isascii() and raw.isdigit() and _is_canonical("+" + raw):
        return "+" + raw  # bare international digits (OpenMarket, Rapporto) take the same fast path
    return _normalise_full(raw, assume, default_country)


def _normalise_full(raw: str, assume: NumberFormat, default_country: str | None) -> str:
    text = raw.translate(_SEPARATORS)
    if text.startswith("+"):
        digits, international = text[1:], True
    elif text.startswith("00"):
        digits, international = text[2:], True
    else:
        digits, international = text, False
    if not digits:
        raise _invalid("no digits" if text else "empty number", raw)
    if not (digits.isascii() and digits.isdigit()):
        raise _invalid("not a phone number (digits, with + or 00 in front for international)", raw)
    try:
        if international or default_country is None:
            return _read("+" + digits, None)
        if assume is NumberFormat.NATIONAL:
            return _read(digits, default_country)
    except _Unreadable as exc:
        raise _invalid(str(exc), raw) from None
    try:
        return _read("+" + digits, None)
    except _Unreadable as exc:
        as_international = str(exc)
    try:
        return _read(digits, default_country)
    except _Unreadable as exc:
        reason = f"not valid as international ({as_international}) nor as national in {default_country} ({exc})"
        raise _invalid(reason, raw) from None


_ALPHANUMERIC_MAX = 11
_ALPHANUMERIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 %&-+.,_!?'*#()/@:")
_SHORT_CODE_LENGTHS = range(3, 9)


def originator(
    raw: str, declared: OriginatorType | None = None, default_country: str | None = None
) -> tuple[str, OriginatorType]:
    """The originator as the network will carry it, and its type.

    ALPHANUMERIC: 1–11 characters (surrounding spaces dropped), ASCII letters, digits, space and
    ``% & - + . , _ ! ? ' * # ( ) / @ :``; ASCII only because operators render other characters unreliably.
    An all-digit text declared ALPHANUMERIC is kept as such: Puzzel's rules allow it, and the customer chose
    a sender that cannot be replied to. NETWORK: a short code of 3–8 digits (separators dropped).
    INTERNATIONAL: `normalise` with bare digits read as international.

    With `declared` None the type is inferred: a text that is only digits and separators is a number
    (INTERNATIONAL with "+" or "00" in front or more than 8 digits, NETWORK with 3–8, refused with fewer);
    anything else is ALPHANUMERIC. An invalid originator raises MessageError(INVALID_ORIGINATOR).
    """
    text = raw.strip()
    if declared is None:
        compact = text.translate(_SEPARATORS)
        body = compact.removeprefix("+")
        if not (body.isascii() and body.isdigit()):
            declared = OriginatorType.ALPHANUMERIC
        elif body != compact or body.startswith("00") or len(body) > _SHORT_CODE_LENGTHS[-1]:
            declared = OriginatorType.INTERNATIONAL
        else:
            declared = OriginatorType.NETWORK
    if declared is OriginatorType.ALPHANUMERIC:
        return _alphanumeric(text, raw), declared
    if declared is OriginatorType.NETWORK:
        digits = text.translate(_SEPARATORS)
        if not (digits.isascii() and digits.isdigit() and len(digits) in _SHORT_CODE_LENGTHS):
            raise _invalid_originator("a short code has 3 to 8 digits", raw)
        return digits, declared
    try:
        return normalise(text, NumberFormat.INTERNATIONAL, default_country), declared
    except MessageError as exc:
        raise MessageError(ErrorCode.INVALID_ORIGINATOR, exc.detail, field="originator") from None


def _alphanumeric(text: str, raw: str) -> str:
    if not text:
        raise _invalid_originator("empty originator", raw)
    if len(text) > _ALPHANUMERIC_MAX:
        raise _invalid_originator(f"an alphanumeric originator has at most {_ALPHANUMERIC_MAX} characters", raw)
    bad = sorted(set(text) - _ALPHANUMERIC_CHARS)
    if bad:
        raise _invalid_originator(f"characters not allowed in an alphanumeric originator {bad}", raw)
    return text


def _invalid_originator(reason: str, raw: str) -> MessageError:
    return MessageError(ErrorCode.INVALID_ORIGINATOR, f"{reason}: {raw!r}", field="originator")
