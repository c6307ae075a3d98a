"""Phone numbers (E.164 via phonenumbers) and originators."""

from __future__ import annotations

from enum import StrEnum


class NumberFormat(StrEnum):
    """How a dialect reads a number that has no "+" or "00" in front."""

    INTERNATIONAL = "international"  # 447700900750 (OpenMarket), 79036550550 (Rapporto)
    NATIONAL = "national"  # 41000000 in the account's default country


class OriginatorType(StrEnum):
    INTERNATIONAL = "international"  # an E.164 number, shown with "+"
    ALPHANUMERIC = "alphanumeric"  # up to 11 characters; the phone cannot reply
    NETWORK = "network"  # an operator short code, e.g. 1960
