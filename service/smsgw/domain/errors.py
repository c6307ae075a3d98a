"""The errors the core can report, in the core's own words; every face maps an `ErrorCode` to its vendor's code."""

from __future__ import annotations

import math
from enum import StrEnum


class ErrorCode(StrEnum):
    # One message is bad; the rest of the request goes on.
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    INVALID_RECIPIENT = "invalid_recipient"
    INVALID_ORIGINATOR = "invalid_originator"
    ORIGINATOR_NOT_ALLOWED = "originator_not_allowed"
    INVALID_CHARACTERS = "invalid_characters"
    TOO_LONG = "too_long"
    INVALID_BINARY = "invalid_binary"
    INVALID_VALIDITY = "invalid_validity"
    INVALID_SCHEDULE = "invalid_schedule"
    DUPLICATE = "duplicate"
    INSUFFICIENT_CREDIT = "insufficient_credit"  # the account's balance does not cover it
    SUPPRESSED = "suppressed"  # the recipient opted out (STOP) or is on the account's suppression list
    # The whole request is refused.
    TOO_MANY_MESSAGES = "too_many_messages"
    NO_MESSAGES = "no_messages"
    AUTH_FAILED = "auth_failed"
    ACCOUNT_DISABLED = "account_disabled"
    ADDRESS_NOT_ALLOWED = "address_not_allowed"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"  # over the account's requests or messages per second: `RateLimited.retry_after`


class GatewayError(Exception):
    """A failure a customer can cause: carries the core's code, a human text and the field at fault, if any."""

    def __init__(self, code: ErrorCode, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value!r}, {self.detail!r}, field={self.field!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GatewayError)
            and (self.code, self.detail, self.field) == (other.code, other.detail, other.field)
        )

    def __hash__(self) -> int:
        return hash((self.code, self.detail, self.field))


class MessageError(GatewayError):
    """One message of a request is refused; the others are not affected."""


class RequestError(GatewayError):
    """The request as a whole is refused (too large, empty, unauthenticated)."""


class RateLimited(RequestError):
    """The account is over its requests or messages per second; it may try again after `retry_after` seconds."""

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, detail)
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        """Retry-After in whole seconds, as HTTP wants it (at least 1)."""
        return str(max(1, math.ceil(self.retry_after)))
