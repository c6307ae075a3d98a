"""Modica/Optus "Mobile Gateway HTTPS API": `GET /message` sends one SMS and answers in plain text.

The body is the message id alone on success and `ERROR <description>` otherwise. `version=1` (the default) answers
every error with HTTP 500; `version=2` with 401 for credentials and 400 for the rest — the table of the vendor's page.
The three documented descriptions keep the vendor's exact words, since clients compare them; the errors the page does
not list follow the same shape (`Invalid <name> parameter: <why>`).

Account policy: a message the prepaid balance does not cover is `Failed to queue message` (the vendor's "unable to
create the message"); a destination that opted out is the same description, the one documented for a destination
the gateway will not send to, followed by the reason (`Failed to queue message: destination opted out`), so that a
client comparing the prefix still knows it. A request over the application's rate is HTTP 429 `ERROR Too many
requests…` with Retry-After (the vendor's table has no rate code; version 1 keeps its one error status, 500, and the
same Retry-After). A message held over the per-recipient quota is stored and answered with its id, as any other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..domain.errors import ErrorCode, MessageError, RateLimited, RequestError
from ..domain.model import Account, MessageSpec, Outcome, SubmitRequest
from ..domain.numbers import NumberFormat
from ..domain.validity import parse_timestamp
from ..services import Services
from .http import Contradiction, client_address, params, plain, retry_after, single

log = logging.getLogger(__name__)

AUTH_FAILED = "Invalid authentication information"
QUEUE_FAILED = "Failed to queue message"
OPTED_OUT = f"{QUEUE_FAILED}: destination opted out"
TOO_MANY = "Too many requests"
MAX_REFERENCE = 50  # characters, as the vendor's page says
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class _Refused(Exception):
    """A request answered with `ERROR <description>`; `status` is the version 2 code (version 1 answers 500).
    `reason` is what the log says, when it says more than the description."""

    def __init__(self, description: str, status: int = 400, reason: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.reason = reason or description
        self.headers = headers or {}


class Modica:
    def __init__(self, services: Services) -> None:
        self.services = services

    def rules(self) -> Iterable[Rule]:
        return [Rule("/message", endpoint=self.send, methods=["GET", "POST"])]

    def send(self, request: Request) -> Response:
        """GET as the vendor documents it; a form POST with the same parameters is accepted too."""
        if request.method == "HEAD":  # werkzeug adds HEAD to GET rules; a HEAD must not send an SMS
            raise MethodNotAllowed(["GET", "POST"])
        values = params(request)
        version = values.get("version") or "1"
        try:
            if version not in ("1", "2"):
                raise _Refused("Invalid version parameter: 1 or 2")
            if request.method == "POST" and request.mimetype not in _FORM_TYPES and request.get_data():
                raise _Refused("Invalid request body: send the parameters as application/x-www-form-urlencoded",
                               reason=f"POST body of type {request.mimetype!r}")
            account = self._account(request, values)
            message_id = self._submit(account, _message(values))
        except _Refused as refused:
            log.info("modica: refused application=%r from %s: %s", values.get("application"),
                     client_address(request), refused.reason)
            # Version 1 answers every error with 500; an unknown version is not version 1, so its caller gets the 400.
            return plain(f"ERROR {refused.description}", 500 if version == "1" else refused.status, refused.headers)
        return plain(str(message_id))

    def _account(self, request: Request, values: MultiDict[str, str]) -> Account:
        application, password = _one(values, "application"), _one(values, "password")
        if not application or not password:
            raise _Refused(AUTH_FAILED, 401, "application or password missing")
        try:
            return self.services.auth.from_request(request.environ, password, name=application)
        except RequestError as error:
            raise _Refused(AUTH_FAILED, 401, error.code.value) from None

    def _submit(self, account: Account, spec: MessageSpec) -> int:
        outcome = self._submit_one(account, spec)
        if outcome.error is not None:
            reason = f"{outcome.error.code.value}: {outcome.error.detail}"
            if outcome.error.code is ErrorCode.INVALID_VALIDITY:
                raise _Refused(f"Invalid expires parameter: {outcome.error.detail}", reason=reason)
            if outcome.error.code is ErrorCode.SUPPRESSED:
                raise _Refused(OPTED_OUT, reason=reason)
            raise _Refused(QUEUE_FAILED, reason=reason)  # an invalid destination, insufficient credit, …
        assert outcome.message_id is not None
        return outcome.message_id

    def _submit_one(self, account: Account, spec: MessageSpec) -> Outcome:
        try:
            result = self.services.gateway.submit(account, SubmitRequest(
                messages=[spec], number_format=NumberFormat.INTERNATIONAL, face="modica"))
        except RequestError as error:
            reason = f"{error.code.value}: {error.detail}"
            if error.code is ErrorCode.ACCOUNT_DISABLED:  # disabled between authentication and submit
                raise _Refused(AUTH_FAILED, 401, reason) from None
            if isinstance(error, RateLimited):
                raise _Refused(f"{TOO_MANY}: {error.detail}; retry after {error.retry_after_header} s", 429, reason,
                               retry_after(error)) from None
            raise _Refused(QUEUE_FAILED, reason=reason) from None
        return result.outcomes[0]


def _message(values: MultiDict[str, str]) -> MessageSpec:
    """The vendor's parameters as the core's message; _Refused for a missing, malformed or contradictory one."""
    content, destination = _required(values, "content"), _required(values, "destination")
    message_class, source, mask = _one(values, "class"), _one(values, "source"), _one(values, "mask")
    if message_class and source:
        raise _Refused("Invalid source parameter: source must be used instead of the class parameter, not with it")
    if mask and not message_class:
        raise _Refused("Missing class parameter")  # "Yes (Only if using a mask)"
    reference = _one(values, "reference")
    if reference and len(reference) > MAX_REFERENCE:
        raise _Refused(f"Invalid reference parameter: at most {MAX_REFERENCE} characters")
    expires = _one(values, "expires")
    try:
        expires_at = parse_timestamp(expires, "expires") if expires else None
    except MessageError as error:
        raise _Refused(f"Invalid expires parameter: {error.detail}") from None
    extras = {"class": message_class} if message_class else {}
    if mask:
        extras["mask"] = mask
    # The vendor ignores a mask the account may not use: the message goes from the account's own source.
    return MessageSpec(recipient=destination, text=content, originator=mask or source,
                       fall_back_to_default_originator=bool(mask), client_ref=reference or None,
                       expires_at=expires_at, extras=extras)


def _required(values: MultiDict[str, str], name: str) -> str:
    value = _one(values, name)
    if value is None:
        raise _Refused(f"Missing {name} parameter")
    return value


def _one(values: MultiDict[str, str], name: str) -> str | None:
    """A parameter's value (empty counts as absent); _Refused when it is given twice with different values."""
    try:
        return single(values, name) or None
    except Contradiction:
        raise _Refused(f"Invalid {name} parameter: given more than once with different values") from None

