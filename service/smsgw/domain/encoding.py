"""SMS encodings: GSM 03.38 (with its extension table), UCS-2 and 8-bit binary; segmentation and concatenation."""

from __future__ import annotations

from enum import StrEnum


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
