"""What O2's two faces, HTTP GET/POST and the web services, do alike: identify the business application, submit a
message, confirm a received item, and read the values of a `Response`. Each face renders them in its own shape.

The caller is the business application `baID` (our account id, or its name) and proves it with a TLS client
certificate registered on the account (directly, or through one of the account's trusted proxies).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ...auth import client_from_environ
from ...domain.errors import GatewayError, RateLimited
from ...domain.model import Account, MessageSpec, Priority, ReportItem, SubmitRequest
from ...domain.numbers import NumberFormat
from ...services import Services
from ..http import retry_after
from . import codes
from .codes import ResponseCode

ZONE = ZoneInfo("Europe/Prague")  # O2's timestamps are Czech local time


class Refused(Exception):
    """A request O2 would refuse: its response code, what the caller is told, and why (for the log)."""

    def __init__(self, code: ResponseCode, detail: str | None = None, why: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(code.code)
        self.code = code
        self.detail = detail
        self.why = why or detail or code.english
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Reply:
    """The values of a `Response`: its code, its own id and time, and the message it refers to."""

    code: ResponseCode
    ba_id: str | None
    detail: str | None = None
    msg_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    ref_ba_id: str | None = None
    ref_msg_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def description(self) -> str:
        return self.code.description(self.detail)


def business_application(services: Services, environ: Mapping[str, Any], ba_id: str | None) -> Account:
    """The account `baID` names, if the caller presents one of its certificates."""
    if not ba_id:
        raise Refused(codes.MISSING_PARAMETER, "baID")
    auth = services.auth
    account = None
    if ba_id.isascii() and ba_id.isdigit() and 0 < int(ba_id) < 2**63:
        account = auth.account(account_id=int(ba_id))
    account = account or auth.account(name=ba_id)
    if account is None:
        raise Refused(codes.NOT_AUTHORIZED, why="no such business application")
    try:
        return auth.by_certificate(account, client_from_environ(environ, account))
    except GatewayError as error:
        raise Refused(codes.FOR_ERROR[error.code], why=error.detail) from None


def submit(services: Services, account: Account, spec: MessageSpec, face: str) -> tuple[str, int]:
    """Send one message: (the request's batch reference, the message's id), or why O2 would refuse it."""
    try:
        result = services.gateway.submit(account, SubmitRequest(
            [spec], number_format=NumberFormat.INTERNATIONAL, face=face))
    except GatewayError as error:
        detail = error.detail
        if isinstance(error, RateLimited):
            detail += f"; retry after {error.retry_after_header} s"
        raise Refused(codes.FOR_ERROR[error.code], detail, headers=retry_after(error)) from None
    outcome = result.outcomes[0]
    if outcome.error is not None:
        raise Refused(codes.FOR_ERROR[outcome.error.code], outcome.error.detail)
    assert outcome.message_id is not None, "an outcome without an error was accepted"
    return result.batch_ref, outcome.message_id


def confirm(services: Services, account: Account, ba_id: str | None, ref_ba_id: str | None,
            ref_msg_id: str | None) -> Reply:
    """Take the received item `refMsgID` (its msgID as `receive` gave it) off the queue."""
    if not ref_ba_id:
        raise Refused(codes.MISSING_PARAMETER, "refBaID")
    if not ref_msg_id:
        raise Refused(codes.MISSING_PARAMETER, "refMsgID")
    if ref_ba_id not in (ba_id, str(account.id), account.name):
        raise Refused(codes.NOT_FOUND, f"refBaID {ref_ba_id} is not this business application")
    if not (ref_msg_id.isascii() and ref_msg_id.isdigit() and 0 < int(ref_msg_id) < 2**63):
        raise Refused(codes.INVALID_PARAMETER, f"refMsgID {ref_msg_id!r} is not a msgID from receive")
    if services.gateway.confirm(account, [int(ref_msg_id)]) == 0:
        raise Refused(codes.NOT_FOUND, f"no received message {ref_msg_id} waits for confirmation")
    return Reply(codes.CONFIRM_OK, ba_id, ref_ba_id=ref_ba_id, ref_msg_id=ref_msg_id)


def report(item: ReportItem, ba_id: str | None) -> Reply:
    """A delivery report: ISUC_010 (reached the network) or ISUC_005 (delivered), else why it failed. Its msgID is
    what `confirm` takes; its refMsgID names the message as the sender did: the msgID it gave, else ours."""
    assert item.status is not None, "a delivery report carries the status it reports"
    detail = f"network error {item.error_code}" if item.error_code else None
    message = item.message
    return Reply(codes.FOR_REPORT[item.status], ba_id, detail, msg_id=str(item.id), ref_ba_id=ba_id,
                 ref_msg_id=(message.client_ref or str(message.id)) if message else None, at=item.created_at)


def validity(minutes: int) -> timedelta | None:
    """validityPeriod in minutes (O2's sample 10000 is just under seven days); 0: the account's default."""
    if minutes < 0:
        raise Refused(codes.INVALID_VALIDITY, f"validityPeriod {minutes}: whole minutes")
    try:
        return timedelta(minutes=minutes) or None
    except OverflowError:
        raise Refused(codes.INVALID_VALIDITY, f"validityPeriod {minutes}: too long") from None


def priority(raw: str | None) -> Priority | None:
    """priority 0 (low) to 3 (urgent), SMPP's priority_flag; O2's clients send 1."""
    if not raw:
        return None
    if raw not in ("0", "1", "2", "3"):
        raise Refused(codes.INVALID_PARAMETER, f"priority {raw!r}: 0 to 3")
    return Priority(int(raw))
