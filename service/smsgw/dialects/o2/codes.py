"""O2 SMS Connector response types and codes, shared by its HTTP GET/POST and web-services faces.

O2's Appendix A (the code list) is not public: only the success codes ISUC_000, 001, 002, 005 and 010 are known,
with the description style "<Czech> - <code> - <English>". The error codes below are ours, in the same shape, one
prefix per response type (EFMT_ FORMAT_ERROR, EAUT_ AUTHORIZATION_ERROR, EAPL_ APPL_ERROR).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ...domain.errors import ErrorCode
from ...domain.model import Status


class ResponseType(StrEnum):
    """O2's `responseType` (the manual's table; AUTHORIZATION_ERROR with the underscore, as O2 sends it)."""

    SUCCESS = "SUCCESS"  # synchronous success, and delivery reports
    FORMAT_ERROR = "FORMAT_ERROR"  # a parameter is missing or in the wrong format
    AUTHORIZATION_ERROR = "AUTHORIZATION_ERROR"  # the business application could not be identified
    APPL_ERROR = "APPL_ERROR"  # a negative result of processing the message (refused, not delivered)
    INTERNAL_ERROR = "INTERNAL_ERROR"  # a failure of the messaging platform


@dataclass(frozen=True, slots=True)
class ResponseCode:
    code: str
    type: ResponseType
    czech: str  # without diacritics, as O2 writes it
    english: str

    def description(self, detail: str | None = None) -> str:
        text = f"{self.czech} - {self.code} - {self.english}"
        return f"{text}: {detail}" if detail else text


_S, _F, _A, _P = (ResponseType.SUCCESS, ResponseType.FORMAT_ERROR, ResponseType.AUTHORIZATION_ERROR,
                  ResponseType.APPL_ERROR)

# O2's own success codes.
PING_OK = ResponseCode("ISUC_000", _S, "Pozadavek Ping uspesne zpracovan", "Ping request successfully processed")
SEND_OK = ResponseCode("ISUC_001", _S, "Pozadavek Send uspesne zpracovan", "Send request successfully processed")
CONFIRM_OK = ResponseCode("ISUC_002", _S, "Pozadavek Confirm uspesne zpracovan",
                          "Confirm request successfully processed")
DELIVERED = ResponseCode("ISUC_005", _S, "Zprava dorucena do telefonu", "Message delivered to the phone")
BUFFERED = ResponseCode("ISUC_010", _S, "Zprava dorucena do site", "Message delivered to the network")

# Ours, in O2's shape.
MISSING_PARAMETER = ResponseCode("EFMT_001", _F, "Chybi povinny parametr", "A required parameter is missing")
INVALID_PARAMETER = ResponseCode("EFMT_002", _F, "Parametr ma chybny format", "A parameter is in the wrong format")
INVALID_TO_NUMBER = ResponseCode("EFMT_003", _F, "Chybne cislo prijemce", "Invalid toNumber")
INVALID_FROM_NUMBER = ResponseCode("EFMT_004", _F, "Chybny odesilatel", "Invalid fromNumber")
INVALID_TEXT = ResponseCode("EFMT_005", _F, "Text obsahuje znaky, ktere nelze odeslat",
                            "The text holds characters that cannot be sent")
TEXT_TOO_LONG = ResponseCode("EFMT_006", _F, "Text je prilis dlouhy", "The text is too long")
INVALID_BINARY = ResponseCode("EFMT_007", _F, "Chybny binarni obsah", "Invalid binary content")
BINARY_NOT_SUPPORTED = ResponseCode("EFMT_008", _F, "Binarni zpravu nelze poslat rozhranim HTTP GET/POST",
                                    "Binary messages cannot be sent over HTTP GET/POST; use the web services interface")
INVALID_VALIDITY = ResponseCode("EFMT_009", _F, "Chybna doba platnosti", "Invalid validityPeriod")
INVALID_SCHEDULE = ResponseCode("EFMT_010", _F, "Chybny cas odeslani", "Invalid sending time")
UNKNOWN_ACTION = ResponseCode("EFMT_011", _F, "Neznama akce", "Unknown action")
MMS_NOT_SUPPORTED = ResponseCode("EFMT_012", _F, "MMS zpravy nejsou podporovany", "MMS messages are not supported")
NOT_AUTHORIZED = ResponseCode("EAUT_001", _A, "Aplikace nebyla overena",
                              "The business application was not authorised (baID and client certificate)")
ORIGINATOR_NOT_ALLOWED = ResponseCode("EAPL_001", _P, "Odesilatel neni povolen",
                                      "fromNumber is not allowed for this business application")
DUPLICATE = ResponseCode("EAPL_002", _P, "Duplicitni zprava", "Duplicate message")
NOT_FOUND = ResponseCode("EAPL_003", _P, "Zprava nenalezena", "No such message")
# Account policy. O2's public material has no code for these; APPL_ERROR is its type for "a negative result of
# processing the message", and each gets its own code so that a business application can tell them apart.
NO_CREDIT = ResponseCode("EAPL_004", _P, "Nedostatecny kredit", "The prepaid credit does not cover the message")
OPTED_OUT = ResponseCode("EAPL_005", _P, "Prijemce odmitl zpravy",
                         "The recipient has opted out of this business application's messages")
THROTTLED = ResponseCode("EAPL_006", _P, "Prilis mnoho pozadavku", "Too many requests")  # HTTP 429, Retry-After
UNDELIVERABLE = ResponseCode("EAPL_101", _P, "Zpravu nelze dorucit", "Message could not be delivered")
EXPIRED = ResponseCode("EAPL_102", _P, "Zprave vyprsela platnost", "Message expired before delivery")
REJECTED = ResponseCode("EAPL_103", _P, "Zprava odmitnuta siti", "Message rejected by the network")
FAILED = ResponseCode("EAPL_104", _P, "Zpravu se nepodarilo odeslat", "Message could not be sent")
CANCELLED = ResponseCode("EAPL_105", _P, "Zprava zrusena pred odeslanim", "Message cancelled before it was sent")

# Every reason the core gives for refusing a request or a message.
FOR_ERROR: Mapping[ErrorCode, ResponseCode] = {
    ErrorCode.MISSING_FIELD: MISSING_PARAMETER,
    ErrorCode.INVALID_FIELD: INVALID_PARAMETER,
    ErrorCode.INVALID_RECIPIENT: INVALID_TO_NUMBER,
    ErrorCode.INVALID_ORIGINATOR: INVALID_FROM_NUMBER,
    ErrorCode.ORIGINATOR_NOT_ALLOWED: ORIGINATOR_NOT_ALLOWED,
    ErrorCode.INVALID_CHARACTERS: INVALID_TEXT,
    ErrorCode.TOO_LONG: TEXT_TOO_LONG,
    ErrorCode.INVALID_BINARY: INVALID_BINARY,
    ErrorCode.INVALID_VALIDITY: INVALID_VALIDITY,
    ErrorCode.INVALID_SCHEDULE: INVALID_SCHEDULE,
    ErrorCode.DUPLICATE: DUPLICATE,
    ErrorCode.TOO_MANY_MESSAGES: INVALID_PARAMETER,
    ErrorCode.NO_MESSAGES: MISSING_PARAMETER,
    ErrorCode.AUTH_FAILED: NOT_AUTHORIZED,
    ErrorCode.ACCOUNT_DISABLED: NOT_AUTHORIZED,
    ErrorCode.ADDRESS_NOT_ALLOWED: NOT_AUTHORIZED,
    ErrorCode.NOT_FOUND: NOT_FOUND,
    ErrorCode.INSUFFICIENT_CREDIT: NO_CREDIT,
    ErrorCode.SUPPRESSED: OPTED_OUT,
    ErrorCode.RATE_LIMITED: THROTTLED,
}

# A delivery report's status, as the report's code: ISUC_010 is the intermediate stage, ISUC_005 the final one.
# (A message held over the per-recipient quota has no report of its own: `send` answered ISUC_001, and it is reported
# when it is delivered or, dropped by an operator, cancelled.)
# O2 has one intermediate stage, so an account that also hears of "submitted" (the SMSC took it) gets ISUC_010 for it.
FOR_REPORT: Mapping[Status, ResponseCode] = {
    Status.SUBMITTED: BUFFERED,
    Status.BUFFERED: BUFFERED,
    Status.DELIVERED: DELIVERED,
    Status.UNDELIVERABLE: UNDELIVERABLE,
    Status.EXPIRED: EXPIRED,
    Status.REJECTED: REJECTED,
    Status.FAILED: FAILED,
    Status.CANCELLED: CANCELLED,
}
