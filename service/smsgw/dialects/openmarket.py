"""OpenMarket (formerly MX Telecom) legacy UK SMS HTTP API: `/sms/v1/send` sends to one recipient (GET or form
POST), `/sms/v1/bulksend` to 1–10,000 (form POST only); both answer in plain text.

OpenMarket's reply bodies and error list are not public, so ours are defined here (and in the README): `send` answers
`OK <smsid>`; `bulksend` one line per recipient in request order, `<msisdn> OK <smsid>` or
`<msisdn> ERROR <code> <text>`; a refused request gets one `ERROR <code> <text>` line with HTTP 401 (credentials) or
400. The numbered codes are `Code` below.

Account policy: a message the prepaid balance does not cover is `ERROR 18`, a recipient who opted out `ERROR 19`
(in bulksend, on that recipient's line: the others go on). A request over the account's rate is refused whole with
HTTP 429 and Retry-After, `ERROR 6 …` (429, not 503: the gateway is not unavailable, this account is sending too
fast, and nothing was stored, so the same request, submitid included, can be sent again). A message held over the
per-recipient quota is stored and answered `OK <smsid>` like any other.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from enum import IntEnum

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..domain.encoding import ParsingType
from ..domain.errors import ErrorCode, MessageError, RateLimited, RequestError
from ..domain.model import (
    MAX_MESSAGES_PER_REQUEST,
    Account,
    IdempotencyKey,
    IdempotencyMode,
    MessageSpec,
    Outcome,
    ReportMask,
    SubmitRequest,
    SubmitResult,
)
from ..domain.numbers import NumberFormat
from ..services import Services
from .http import Contradiction, client_address, flag, params, plain, retry_after, single

log = logging.getLogger(__name__)

SUBMITID_WINDOW = timedelta(hours=24)  # a repeated submitid replays the first result; each repeat restarts it
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_RECIPIENT_SEPARATORS = re.compile(r"[,\r\n]+")  # OpenMarket's pages separate bulk recipients with line breaks


class Code(IntEnum):
    """Our error codes (OpenMarket's list is not public): 1–5 refuse the request, 10 and up refuse one message."""

    AUTHENTICATION_FAILED = 1
    MISSING_PARAMETER = 2
    INVALID_PARAMETER = 3
    CONFLICTING_PARAMETERS = 4
    RECIPIENT_COUNT = 5
    TOO_MANY_REQUESTS = 6  # over the account's requests or messages per second: HTTP 429, Retry-After
    INVALID_RECIPIENT = 10
    INVALID_ORIGINATOR = 11
    ORIGINATOR_NOT_ALLOWED = 12
    INVALID_CHARACTERS = 13
    MESSAGE_TOO_LONG = 14
    INVALID_BINARY = 15
    INVALID_VALIDITY = 16
    INVALID_MESSAGE = 17
    INSUFFICIENT_CREDIT = 18  # the account's prepaid balance does not cover the message
    RECIPIENT_OPTED_OUT = 19  # the recipient sent STOP, or is on the account's suppression list


_MESSAGE_CODES = {
    ErrorCode.INVALID_RECIPIENT: Code.INVALID_RECIPIENT,
    ErrorCode.INVALID_ORIGINATOR: Code.INVALID_ORIGINATOR,
    ErrorCode.ORIGINATOR_NOT_ALLOWED: Code.ORIGINATOR_NOT_ALLOWED,
    ErrorCode.INVALID_CHARACTERS: Code.INVALID_CHARACTERS,
    ErrorCode.TOO_LONG: Code.MESSAGE_TOO_LONG,
    ErrorCode.INVALID_BINARY: Code.INVALID_BINARY,
    ErrorCode.INVALID_VALIDITY: Code.INVALID_VALIDITY,
    ErrorCode.INVALID_SCHEDULE: Code.INVALID_VALIDITY,
    ErrorCode.INSUFFICIENT_CREDIT: Code.INSUFFICIENT_CREDIT,
    ErrorCode.SUPPRESSED: Code.RECIPIENT_OPTED_OUT,
}
_AUTH_CODES = frozenset({ErrorCode.AUTH_FAILED, ErrorCode.ACCOUNT_DISABLED, ErrorCode.ADDRESS_NOT_ALLOWED})


class _Refused(Exception):
    """The whole request is refused with one `ERROR <code> <text>` line; `reason` is what the log says, when it
    says more than the text."""

    def __init__(self, code: Code, text: str, reason: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.reason = reason or text
        self.headers = headers or {}

    def response(self) -> Response:
        return plain(_error(self.code, self.text), _HTTP_STATUS.get(self.code, 400), self.headers)


_HTTP_STATUS = {Code.AUTHENTICATION_FAILED: 401, Code.TOO_MANY_REQUESTS: 429}


_Work = Callable[[Account, MultiDict[str, str], str], Response]  # (account, parameters, client address)


class OpenMarket:
    def __init__(self, services: Services) -> None:
        self.services = services

    def rules(self) -> Iterable[Rule]:
        return [Rule("/sms/v1/send", endpoint=self.send, methods=["GET", "POST"]),
                Rule("/sms/v1/bulksend", endpoint=self.bulksend, methods=["POST"])]

    def send(self, request: Request) -> Response:
        if request.method == "HEAD":  # werkzeug adds HEAD to GET rules; a HEAD must not send an SMS
            raise MethodNotAllowed(["GET", "POST"])
        return self._answer(request, self._send)

    def bulksend(self, request: Request) -> Response:
        return self._answer(request, self._bulksend)

    def _answer(self, request: Request, work: _Work) -> Response:
        """Authenticate, then do the work; a refused request is logged and answered with its error line."""
        values, address = params(request), client_address(request)
        try:
            if request.method == "POST" and request.mimetype not in _FORM_TYPES and request.get_data():
                raise _Refused(Code.INVALID_PARAMETER, "Invalid request body: send application/x-www-form-urlencoded",
                               f"POST body of type {request.mimetype!r}")
            return work(self._account(request, values), values, address)
        except _Refused as refused:
            log.info("openmarket: refused user=%r from %s: %s", values.get("user"), address, refused.reason)
            return refused.response()

    def _send(self, account: Account, values: MultiDict[str, str], address: str) -> Response:
        response = (_one(values, "response") or "text").lower()
        if response != "text":
            raise _Refused(Code.INVALID_PARAMETER, f"Invalid response: only text is served, got {response!r}")
        outcome = self._submit(account, [_message(values, _required(values, "smsto"))], None, address).outcomes[0]
        if outcome.error is not None:
            return plain(_message_error(outcome.error), 400)
        return plain(f"OK {outcome.message_id}\n")

    def _bulksend(self, account: Account, values: MultiDict[str, str], address: str) -> Response:
        recipients = _recipients(values)
        template = _message(values)
        submitid = _one(values, "submitid", empty_is_absent=False)
        key = IdempotencyKey(submitid, IdempotencyMode.REPLAY, SUBMITID_WINDOW) if submitid is not None else None
        result = self._submit(account, [replace(template, recipient=r) for r in recipients], key, address)
        return plain("".join(_line(outcome) for outcome in result.outcomes))

    def _account(self, request: Request, values: MultiDict[str, str]) -> Account:
        try:
            user, password = _one(values, "user"), _one(values, "pass")
        except _Refused:
            user = password = None
        if not user or not password:
            raise _Refused(Code.AUTHENTICATION_FAILED, "Authentication failed", "user or pass missing")
        try:
            return self.services.auth.from_request(request.environ, password, name=user)
        except RequestError as error:
            raise _Refused(Code.AUTHENTICATION_FAILED, "Authentication failed", error.code.value) from None

    def _submit(self, account: Account, specs: Sequence[MessageSpec], key: IdempotencyKey | None,
                address: str) -> SubmitResult:
        try:
            result = self.services.gateway.submit(account, SubmitRequest(
                messages=specs, number_format=NumberFormat.INTERNATIONAL, idempotency=key, face="openmarket"))
        except RequestError as error:
            reason = f"{error.code.value}: {error.detail}"
            if error.code in _AUTH_CODES:
                raise _Refused(Code.AUTHENTICATION_FAILED, "Authentication failed", reason) from None
            if error.field == "key":
                raise _Refused(Code.INVALID_PARAMETER, f"Invalid submitid: {error.detail}", reason) from None
            if isinstance(error, RateLimited):
                raise _Refused(Code.TOO_MANY_REQUESTS, f"Too many requests: {error.detail}; retry after "
                               f"{error.retry_after_header} s", reason, retry_after(error)) from None
            raise _Refused(Code.RECIPIENT_COUNT, error.detail, reason) from None
        if result.replayed:
            log.info("openmarket: account=%s from %s repeated submitid %r: first result replayed", account.name,
                     address, key.key if key else None)
            return result
        for outcome in result.outcomes:
            if outcome.error is not None:
                log.info("openmarket: message refused account=%s from %s recipient=%r: %s: %s", account.name,
                         address, outcome.recipient, outcome.error.code.value, outcome.error.detail)
        return result


def _recipients(values: MultiDict[str, str]) -> list[str]:
    """Bulk recipients: `smsto` repeated, or holding several numbers separated by commas or line breaks."""
    recipients = [number.strip() for given in values.getlist("smsto")
                  for number in _RECIPIENT_SEPARATORS.split(given) if number.strip()]
    if not recipients:
        raise _Refused(Code.MISSING_PARAMETER, "Missing parameter: smsto")
    if len(recipients) > MAX_MESSAGES_PER_REQUEST:
        raise _Refused(Code.RECIPIENT_COUNT,
                       f"{len(recipients):,} recipients; at most {MAX_MESSAGES_PER_REQUEST:,} in one request")
    return recipients


def _message(values: MultiDict[str, str], recipient: str = "") -> MessageSpec:
    """The parameters as the core's message (bulksend fills in each recipient); _Refused for a missing, malformed or
    contradictory parameter."""
    texts = {name: _one(values, name) for name in ("smsmsg", "smsia5")}
    given = [name for name, value in texts.items() if value]
    if not given:
        raise _Refused(Code.MISSING_PARAMETER, "Missing parameter: smsmsg (or smsia5)")
    if len(given) > 1:
        raise _Refused(Code.CONFLICTING_PARAMETERS, "Conflicting parameters: give smsmsg or smsia5, not both")
    udh = _hex(values, "smsudh")
    text, payload = texts["smsia5"] or texts["smsmsg"], None
    if udh is not None and texts["smsmsg"]:  # OpenMarket's binary message: hex smsmsg after the smsudh header
        text, payload = None, _hex(values, "smsmsg")
    billing = {_flag(values, name) for name in ("billingsingleshot", "mxbillingsingleshot")} - {None}
    if len(billing) > 1:
        raise _Refused(Code.CONFLICTING_PARAMETERS,
                       "Conflicting parameters: billingsingleshot and mxbillingsingleshot disagree")
    # split=0: do not split, the text must fit one SMS; 1–3: a long text goes as a concatenated message.
    split = _choice(values, "split", ("0", "1", "2", "3"))
    return MessageSpec(
        recipient=recipient,
        text=text,
        payload=payload,
        udh=udh,
        originator=_one(values, "smsfrom"),
        parsing_type=ParsingType.NONE if texts["smsia5"] else None,  # smsia5 is GSM 03.38 text: nothing else
        flash=bool(_flag(values, "flash")),
        validity=_validity(values),
        billing_single_shot=billing.pop() if billing else None,
        reports=_reports(_choice(values, "report", tuple("01234567"))),
        max_parts=1 if split == "0" else None,
    )


def _reports(report: str | None) -> ReportMask:
    """OpenMarket asks for no report unless `report` says so; 7 is "all report types" (intermediate BUFFERED too).
    What the bits of 1–6 select is not public: any of them asks for the final report."""
    if report is None or report == "0":
        return ReportMask.NONE
    return ReportMask.FINAL | ReportMask.INTERMEDIATE if report == "7" else ReportMask.FINAL


def _validity(values: MultiDict[str, str]) -> timedelta | None:
    vp = _one(values, "vp")
    if vp is None:
        return None
    if not (vp.isascii() and vp.isdigit()):
        raise _Refused(Code.INVALID_PARAMETER, f"Invalid vp: a whole number of seconds, got {vp!r}")
    try:
        return timedelta(seconds=int(vp))
    except OverflowError:
        raise _Refused(Code.INVALID_PARAMETER, f"Invalid vp: {vp} seconds is out of range") from None


def _hex(values: MultiDict[str, str], name: str) -> bytes | None:
    raw = _one(values, name)
    try:
        return bytes.fromhex(raw) if raw is not None else None
    except ValueError:
        raise _Refused(Code.INVALID_PARAMETER, f"Invalid {name}: not hexadecimal octets") from None


def _flag(values: MultiDict[str, str], name: str) -> bool | None:
    try:
        return flag(_one(values, name))
    except ValueError as error:
        raise _Refused(Code.INVALID_PARAMETER, f"Invalid {name}: {error}") from None


def _choice(values: MultiDict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = _one(values, name)
    if value is not None and value not in allowed:
        raise _Refused(Code.INVALID_PARAMETER, f"Invalid {name}: one of {', '.join(allowed)}, got {value!r}")
    return value


def _required(values: MultiDict[str, str], name: str) -> str:
    value = _one(values, name)
    if value is None:
        raise _Refused(Code.MISSING_PARAMETER, f"Missing parameter: {name}")
    return value


def _one(values: MultiDict[str, str], name: str, *, empty_is_absent: bool = True) -> str | None:
    """A parameter's single value; _Refused when it is given twice with different values."""
    try:
        value = single(values, name)
    except Contradiction:
        raise _Refused(Code.CONFLICTING_PARAMETERS,
                       f"Conflicting parameters: {name} given with different values") from None
    return None if value is None or (empty_is_absent and not value) else value


def _line(outcome: Outcome) -> str:
    """One bulksend reply line: the recipient in OpenMarket's notation (international, no "+"), then the result."""
    recipient = "".join(outcome.recipient.split()).removeprefix("+")
    if outcome.error is not None:
        return f"{recipient} {_message_error(outcome.error)}"
    return f"{recipient} OK {outcome.message_id}\n"


def _message_error(error: MessageError) -> str:
    return _error(_MESSAGE_CODES.get(error.code, Code.INVALID_MESSAGE), error.detail)


def _error(code: Code, text: str) -> str:
    return f"ERROR {int(code)} {' '.join(text.splitlines())}\n"
