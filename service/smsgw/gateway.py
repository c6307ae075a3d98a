"""The service layer: the one door every face, the CLI and the console use. Faces translate; this decides.

`submit` validates each message on its own (a bad one gets its own error and does not sink the others), then
commits every accepted message of the request in one transaction before it returns.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from .domain import encoding, numbers
from .domain.errors import ErrorCode, GatewayError, MessageError, RateLimited, RequestError
from .domain.model import (
    MAX_MESSAGES_PER_REQUEST,
    Account,
    BatchStatus,
    Cancelled,
    IdempotencyKey,
    IdempotencyMode,
    Inbound,
    MessageSpec,
    MessageView,
    Outcome,
    Priority,
    ReportItem,
    ReportKind,
    ReportMask,
    Status,
    SubmitRequest,
    SubmitResult,
)
from .policy.rates import Rates
from .store import policy
from .store import repository as repo
from .store.database import Store
from .store.group_commit import GroupCommit
from .store.ids import IdAllocator
from .store.repository import to_dt

log = logging.getLogger(__name__)

MAX_REF_LENGTH = 100
MAX_KEY_LENGTH = 200
MAX_PRICE = 2**31 - 1  # smallest currency units; the column is a 32-bit integer
MAX_AHEAD = timedelta(days=366)  # the furthest a message may be scheduled or stay valid
MAX_EXTRA_LENGTH = 255  # a dialect field kept with a message
MAX_RECEIVE = 1000
REPLY_WINDOW = timedelta(days=7)  # an MO answers the latest MT to its sender within this (Modica's reply_to)
_ROW_STATUS = repo.MESSAGE_COLUMNS.index("status") - 4  # in an _Accepted row (it starts at client_ref)
_ROW_COST = repo.MESSAGE_COLUMNS.index("cost") - 4
_ROW_PRICE = repo.MESSAGE_COLUMNS.index("price") - 4


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_batch_ref() -> str:
    """`str(uuid.uuid4())`, the same random version 4 UUID in the same text, made without a `uuid.UUID` (every request
    without a reference of its own gets one)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    digits = raw.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@dataclass(frozen=True, slots=True)
class _Accepted:
    """A validated message waiting for its id: its row in `repository.MESSAGE_COLUMNS` order from the fourth
    column on (id, account_id, batch_id and batch_ref are filled in at commit)."""

    index: int
    row: tuple[Any, ...]
    key: IdempotencyKey | None
    recipient: str
    status: Status
    parts: int
    encoding: encoding.Encoding
    client_ref: str | None

    def outcome(self, message_id: int | None = None, **changes: Any) -> Outcome:
        return Outcome(index=self.index, recipient=self.recipient, message_id=message_id, status=self.status,
                       parts=self.parts, encoding=self.encoding, client_ref=self.client_ref, **changes)


def _held(item: _Accepted) -> _Accepted:
    """The accepted message to be stored held. (Built directly: `dataclasses.replace` costs several times more.)"""
    row = (*item.row[:_ROW_STATUS], Status.HELD.value, *item.row[_ROW_STATUS + 1:])
    return _Accepted(item.index, row, item.key, item.recipient, Status.HELD, item.parts, item.encoding,
                     item.client_ref)


def _cost(account: Account, parts: int, price: int | None) -> int | None:
    """What a message costs a credit account — one (messages mode), or its parts at the segment price plus its
    price (currency mode) — written in its row when it is validated, and taken from the balance at commit; None
    for an account without credit."""
    if account.credit_mode == "none":
        return None
    if account.credit_mode == "messages":
        return 1
    return account.segment_price * parts + (price or 0)


def _costs(items: Sequence[_Accepted]) -> list[int]:
    return [item.row[_ROW_COST] for item in items]


@dataclass(slots=True)
class _Rows:
    """What one write transaction inserts: batches and messages as tuples in the repository's column order."""

    batches: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Job:
    """A validated request waiting for its share of a write transaction."""

    account: Account
    request: SubmitRequest
    batch_ref: str
    checked: Sequence[_Accepted | Outcome]
    now: int
    to_suppressed: bool = False  # an opt-out confirmation goes to the number that just opted out


@functools.lru_cache(maxsize=1024)
def _default_originator(raw: str, declared: numbers.OriginatorType | None,
                        country: str | None) -> tuple[str, numbers.OriginatorType]:
    """An account's default originator as the network will carry it: the same for every message the account sends
    without one, so worked out once per setting (a default written as a national number costs a phonenumbers parse).
    An invalid one raises every time: lru_cache keeps no exception."""
    return numbers.originator(raw, declared, country)


class Gateway:
    def __init__(self, store: Store, ids: IdAllocator, clock: Callable[[], int] = _now_ms) -> None:
        self.store = store
        self.ids = ids
        self.clock = clock
        self.rates = Rates(store)
        # Concurrent submits of this process share write transactions (one commit per group, not per request).
        self._commits: GroupCommit[_Job, SubmitResult] = GroupCommit(store, self._write)

    def close(self) -> None:
        self._commits.close()
        self.rates.close()

    # --- submit -----------------------------------------------------------------------------------------------

    def submit(self, account: Account, request: SubmitRequest) -> SubmitResult:
        if not account.active:
            raise RequestError(ErrorCode.ACCOUNT_DISABLED, f"account {account.name} is disabled", "account")
        count = len(request.messages)
        if count == 0:
            raise RequestError(ErrorCode.NO_MESSAGES, "the request holds no message", field="message")
        if count > MAX_MESSAGES_PER_REQUEST:
            raise RequestError(
                ErrorCode.TOO_MANY_MESSAGES,
                f"{count} messages in one request; at most {MAX_MESSAGES_PER_REQUEST:,} allowed",
                field="message",
            )
        batch_ref = request.batch_ref or _new_batch_ref()
        if "\x00" in batch_ref:
            raise RequestError(ErrorCode.INVALID_FIELD, "NUL characters are not allowed", "batchReference")
        if len(batch_ref) > MAX_REF_LENGTH:
            raise RequestError(
                ErrorCode.INVALID_FIELD, f"batch reference longer than {MAX_REF_LENGTH}", "batchReference"
            )
        if request.idempotency is not None:
            if request.idempotency.mode is not IdempotencyMode.REPLAY:
                raise ValueError("a request-wide idempotency key must replay")
            _check_key(request.idempotency, RequestError)

        now = self.clock()
        checked: list[_Accepted | Outcome] = []
        for index, spec in enumerate(request.messages):
            try:
                checked.append(self._validate(index, spec, account, request, now))
            except MessageError as error:
                checked.append(Outcome(index=index, recipient=_shown_recipient(spec.recipient, request, account),
                                       client_ref=spec.client_ref, error=error))

        self._admit(account, sum(1 for c in checked if isinstance(c, _Accepted)))
        for attempt in range(3):
            try:
                result = self._commits.run(_Job(account, request, batch_ref, checked, now))
                break
            except IntegrityError:
                # Another process claimed one of our idempotency keys between our check and our insert.
                if attempt == 2:
                    raise
                log.info("submit: idempotency key race for account %s; retrying", account.name)
        accepted = sum(1 for o in result.outcomes if o.accepted and not o.replayed)
        rejected = [o for o in result.outcomes if o.error is not None]
        log.info(
            "submit account=%s face=%s batch=%s messages=%d accepted=%d rejected=%d%s",
            account.name, request.face, result.batch_ref, count, accepted, len(rejected),
            f" first_error={rejected[0].error!r}" if rejected else "",
        )
        return result

    def _admit(self, account: Account, messages: int) -> None:
        """The account's requests and messages per second; a request over either is refused whole."""
        if account.request_rate <= 0 and account.message_rate <= 0:
            return
        refused = self.rates.admit(account.id, (("requests", account.request_rate, 1),
                                                ("messages", account.message_rate, messages)))
        if refused is not None:
            kind, wait = refused
            limit = account.request_rate if kind == "requests" else account.message_rate
            log.info("submit account=%s refused: over %d %s per second (retry in %.3f s)", account.name, limit,
                     kind, wait)
            raise RateLimited(f"over the account's limit of {limit} {kind} per second", wait)

    def _write(self, conn: Connection, jobs: list[_Job]) -> list[SubmitResult]:
        """The requests of one write transaction: each decides its outcomes, then all their rows go in at once.
        (Two requests of a group claiming one idempotency key fail the group on the key's uniqueness; the group
        commit then runs each alone, and the second sees the first's key.)"""
        rows = _Rows()
        # Decided in account order: the balance rows they lock are then always taken in the same order, so two
        # processes' groups never deadlock on them (PostgreSQL).
        order = sorted(range(len(jobs)), key=lambda i: jobs[i].account.id)
        decided = {i: self._decide(conn, jobs[i], rows) for i in order}
        results = [decided[i] for i in range(len(jobs))]
        repo.insert_submission(conn, rows.batches, rows.messages, rows.keys)
        return results

    def _decide(self, conn: Connection, job: _Job, rows: _Rows) -> SubmitResult:
        """One request's outcomes: idempotency, ids, and the rows to insert (added to `rows`)."""
        account, request, batch_ref, checked, now = job.account, job.request, job.batch_ref, job.checked, job.now
        request_key = request.idempotency
        if request_key is not None:
            earlier = repo.live_keys(conn, account.id, "request", [request_key.key], now).get(request_key.key)
            if earlier is not None:
                repo.extend_key(conn, account.id, "request", request_key.key, now + _ms(request_key.window))
                return _result_from_json(earlier.outcome, replayed=True)

        keys = [c.key.key for c in checked if isinstance(c, _Accepted) and c.key is not None]
        earlier_keys = repo.live_keys(conn, account.id, "message", keys, now) if keys else {}
        replay_views = repo.message_views(
            conn, [r.message_id for r in earlier_keys.values() if r.message_id is not None]
        )

        outcomes: list[Outcome | None] = [None] * len(checked)
        fresh: list[_Accepted] = []
        seen_in_request: dict[str, int] = {}  # key -> index of its first message in this request
        repeats: dict[int, int] = {}  # index of a replayed repeat -> index of its first occurrence
        for item in checked:
            if isinstance(item, Outcome):
                outcomes[item.index] = item
                continue
            key = item.key
            if key is not None and (key.key in earlier_keys or key.key in seen_in_request):
                earlier_row = earlier_keys.get(key.key)
                if key.mode is IdempotencyMode.REJECT:
                    outcomes[item.index] = item.outcome(error=MessageError(
                        ErrorCode.DUPLICATE, f"client reference {key.key!r} was already used", "clientReference"))
                elif earlier_row is not None:
                    outcomes[item.index] = _replayed(item, earlier_row.message_id,
                                                     replay_views.get(earlier_row.message_id))
                else:
                    repeats[item.index] = seen_in_request[key.key]
                continue
            if key is not None:
                seen_in_request[key.key] = item.index
            fresh.append(item)
        fresh = self._apply_policy(conn, job, fresh, outcomes)

        ids = self.ids.allocate(len(fresh) + 1)
        batch_id = ids[-1]
        head = (account.id, batch_id, batch_ref)
        key_rows: list[dict[str, Any]] = []
        for item, message_id in zip(fresh, ids, strict=False):
            rows.messages.append((message_id, *head, *item.row))
            outcomes[item.index] = item.outcome(message_id)
            if item.key is not None:
                key_rows.append({"account_id": account.id, "scope": "message", "key": item.key.key,
                                 "message_id": message_id, "outcome": None,
                                 "expires_at": now + _ms(item.key.window)})
        # A repeat inside the request takes the outcome its first occurrence got.
        for index, first in repeats.items():
            outcomes[index] = replace(_known(outcomes[first]), index=index, replayed=True)
        final = [_known(o) for o in outcomes]
        if key_rows:
            repo.drop_expired_keys(conn, account.id, "message", [k["key"] for k in key_rows], now)
        result = SubmitResult(batch_ref=batch_ref, outcomes=final)
        if request_key is not None:
            repo.drop_expired_keys(conn, account.id, "request", [request_key.key], now)
            key_rows.append({"account_id": account.id, "scope": "request", "key": request_key.key,
                             "message_id": None, "outcome": _result_to_json(result),
                             "expires_at": now + _ms(request_key.window)})
        if fresh:
            rows.batches.append((batch_id, account.id, batch_ref, request.face, len(fresh), now))
        rows.keys.extend(key_rows)
        return result

    def _apply_policy(self, conn: Connection, job: _Job, fresh: list[_Accepted],
                      outcomes: list[Outcome | None]) -> list[_Accepted]:
        """The account's rules on the messages about to be stored, in order: opt-outs are refused, then what the
        balance does not cover, then messages over the per-recipient quota are held. Refusals go to `outcomes`."""
        account, now = job.account, job.now
        if not fresh:
            return fresh
        if account.credit_mode != "none" and not job.to_suppressed:
            # The usual request — no opted-out recipient, credit enough for all — is checked and paid for in one
            # statement; otherwise the general way below finds out which messages go.
            total = sum(_costs(fresh))
            if total and policy.take_credit_unless_suppressed(conn, account.id, (item.recipient for item in fresh),
                                                              total, now) is not None:
                return self._hold_over_quota(conn, account, fresh, now)
        if not job.to_suppressed:
            barred = policy.suppressed(conn, account.id, {item.recipient for item in fresh})
            for item in fresh:
                if item.recipient in barred:
                    outcomes[item.index] = item.outcome(error=MessageError(
                        ErrorCode.SUPPRESSED, f"{item.recipient} has opted out of this account's messages",
                        "recipient"))
            fresh = [item for item in fresh if item.recipient not in barred]
        if account.credit_mode != "none" and fresh:
            fresh = self._charge(conn, account, fresh, outcomes, now)
        return self._hold_over_quota(conn, account, fresh, now)

    def _hold_over_quota(self, conn: Connection, account: Account, fresh: list[_Accepted],
                         now: int) -> list[_Accepted]:
        """Messages past the per-recipient quota are stored held."""
        if not account.recipient_quota or not fresh:
            return fresh
        counts = policy.recent_counts(conn, account.id, {item.recipient for item in fresh},
                                      now - account.recipient_window * 1000)
        # The requests of one group commit insert their rows together at the end of the transaction: what the
        # earlier ones send to these numbers is not in the table yet, so it is counted here.
        earlier = _transaction_state(conn, "quota")
        for position, item in enumerate(fresh):
            key = (account.id, item.recipient)
            earlier[key] = earlier.get(key, 0) + 1
            if counts.get(item.recipient, 0) + earlier[key] > account.recipient_quota:
                fresh[position] = _held(item)
        return fresh

    def _charge(self, conn: Connection, account: Account, fresh: list[_Accepted], outcomes: list[Outcome | None],
                now: int) -> list[_Accepted]:
        """Take each message's cost from the balance, in order, while it lasts; the rest are refused."""
        costs = _costs(fresh)
        total = sum(costs)
        if total == 0 or policy.take_credit(conn, account.id, total, now) is not None:  # the usual case: all
            return fresh
        left = policy.balance(conn, account.id, for_update=True)
        charged: list[_Accepted] = []
        for item, cost in zip(fresh, costs, strict=True):
            if cost > left:
                outcomes[item.index] = item.outcome(error=MessageError(
                    ErrorCode.INSUFFICIENT_CREDIT, f"the account's balance ({left}) does not cover this message "
                    f"({cost})", "credit"))
                continue
            left -= cost
            charged.append(item)
        spent = sum(item.row[_ROW_COST] for item in charged)
        if spent:
            policy.add_credit(conn, account.id, -spent, now)
        if len(charged) < len(fresh):
            log.info("submit account=%s: %d messages not covered by the balance", account.name,
                     len(fresh) - len(charged))
        return charged

    def _validate(self, index: int, spec: MessageSpec, account: Account, request: SubmitRequest,
                  now: int) -> _Accepted:
        """Check one message against the core's rules and the account's; build its row. Raises MessageError."""
        recipient = numbers.normalise(spec.recipient, request.number_format, account.default_country)
        max_parts = min(spec.max_parts, account.max_parts) if spec.max_parts else account.max_parts

        if spec.payload is not None:
            if spec.text is not None:
                raise MessageError(ErrorCode.INVALID_FIELD, "a message has text or a binary payload, not both", "text")
            parts = encoding.binary_parts(spec.payload, spec.udh, max_parts)
            enc, text = encoding.Encoding.BINARY, None
        else:
            if spec.text is None:
                raise MessageError(ErrorCode.MISSING_FIELD, "message text is missing", "text")
            if spec.udh is not None or spec.dcs is not None:
                raise MessageError(ErrorCode.INVALID_BINARY, "udh and dcs belong to binary messages", "udh")
            prepared = encoding.prepare_text(spec.text, spec.parsing_type or account.parsing_type, max_parts)
            parts, enc, text = prepared.parts, prepared.encoding, prepared.text
        for name, octet in (("dcs", spec.dcs), ("pid", spec.pid)):
            if octet is not None and not 0 <= octet <= 255:
                raise MessageError(ErrorCode.INVALID_FIELD, f"{name} must be one octet (0-255), got {octet}", name)

        originator, originator_type = self._originator(spec, account)

        if spec.price is not None and not 0 <= spec.price <= MAX_PRICE:
            raise MessageError(ErrorCode.INVALID_FIELD, f"price must be 0 to {MAX_PRICE}, got {spec.price}", "price")
        for key, extra in spec.extras.items():
            if len(extra) > MAX_EXTRA_LENGTH:
                raise MessageError(ErrorCode.INVALID_FIELD, f"{key} longer than {MAX_EXTRA_LENGTH} characters", key)
        for name, value in (("text", text), ("clientReference", spec.client_ref)):
            if value and "\x00" in value:  # no database stores NUL in text, and no handset shows it
                raise MessageError(ErrorCode.INVALID_CHARACTERS, "NUL characters are not allowed", name)
        if spec.client_ref is not None and len(spec.client_ref) > MAX_REF_LENGTH:
            raise MessageError(ErrorCode.INVALID_FIELD, f"client reference longer than {MAX_REF_LENGTH}",
                               "clientReference")
        if spec.idempotency is not None:
            _check_key(spec.idempotency, MessageError)
        due, expires = self._schedule(spec, account, now)
        status = Status.SCHEDULED if due > now else Status.ACCEPTED
        row = (
            spec.client_ref, request.face, recipient, originator,
            originator_type.value if originator_type else None,
            enc.value, text, spec.payload, spec.udh, spec.dcs, spec.pid, spec.flash, parts,
            int(spec.priority if spec.priority is not None else Priority.NORMAL), int(spec.reports), spec.price,
            spec.billing_single_shot if spec.billing_single_shot is not None else account.single_shot_billing,
            status.value, 0, None, now, now, due, expires,
            json.dumps(spec.send_window.to_dict()) if spec.send_window else None,
            json.dumps(dict(spec.extras)) if spec.extras else None,
            None,  # claimed_by: no worker holds it yet
            _cost(account, parts, spec.price),
        )
        return _Accepted(index, row, spec.idempotency, recipient, status, parts, enc, spec.client_ref)

    def _originator(self, spec: MessageSpec, account: Account) -> tuple[str | None, numbers.OriginatorType | None]:
        raw = spec.originator or account.default_originator
        if not raw:
            return None, None
        try:
            if spec.originator:
                value, kind = numbers.originator(raw, spec.originator_type, account.default_country)
            else:
                value, kind = _default_originator(raw, account.default_originator_type, account.default_country)
            if spec.originator and account.allowed_originators and value not in account.allowed_originators:
                raise MessageError(ErrorCode.ORIGINATOR_NOT_ALLOWED, f"originator {value!r} is not allowed for this "
                                   "account", "originator")
        except MessageError as error:
            if not (spec.originator and spec.fall_back_to_default_originator):
                raise
            log.info("originator %r refused for %s (%s): sent from the default", raw, account.name, error.detail)
            return self._originator(replace(spec, originator=None, originator_type=None), account)
        if spec.price and spec.originator and value != account.default_originator:
            # A premium message must identify who bills for it.
            raise MessageError(ErrorCode.ORIGINATOR_NOT_ALLOWED, "a priced message is sent from the account's own "
                               "originator; it cannot be overridden", "originator")
        return value, kind

    def _schedule(self, spec: MessageSpec, account: Account, now: int) -> tuple[int, int]:
        """(due, expires) in epoch ms. A relative validity (the message's or the account's) counts from when the
        message may first be sent; an absolute one is kept; a send window's last close bounds both."""
        if spec.validity is not None and spec.expires_at is not None:
            raise MessageError(ErrorCode.INVALID_VALIDITY, "give a validity period or an expiry time, not both",
                               "validity")
        if spec.validity is not None and spec.validity <= timedelta(0):
            raise MessageError(ErrorCode.INVALID_VALIDITY, "validity period must be positive", "validity")
        if spec.expires_at is not None and repo.to_ms(spec.expires_at) <= now:
            raise MessageError(ErrorCode.INVALID_VALIDITY, f"expiry time {spec.expires_at.isoformat()} has passed",
                               "expires")
        limit = now + _ms(MAX_AHEAD)
        if (spec.validity is not None and spec.validity > MAX_AHEAD) or \
                (spec.expires_at is not None and repo.to_ms(spec.expires_at) > limit):
            raise MessageError(ErrorCode.INVALID_VALIDITY, f"validity longer than {MAX_AHEAD.days} days", "validity")
        if spec.send_at is not None and repo.to_ms(spec.send_at) > limit:
            raise MessageError(ErrorCode.INVALID_SCHEDULE, f"send time more than {MAX_AHEAD.days} days ahead",
                               "sendAt")

        due = max(now, repo.to_ms(spec.send_at)) if spec.send_at is not None else now
        window = spec.send_window
        close = None
        if window is not None:
            opening = window.next_opening(to_dt(due))
            if opening is None:
                raise MessageError(ErrorCode.INVALID_SCHEDULE, "the send window has already closed", "sendWindow")
            due = repo.to_ms(opening)
            close = window.final_close()

        if spec.expires_at is not None:
            expires = repo.to_ms(spec.expires_at)
        elif spec.validity is not None:
            expires = due + _ms(spec.validity)
        else:
            expires = due + account.default_validity * 1000
        if close is not None:
            expires = min(expires, repo.to_ms(close))
        if due >= expires:
            raise MessageError(ErrorCode.INVALID_SCHEDULE, "the message would expire before it may be sent",
                               "sendWindow" if window else "validity")
        return due, expires

    # --- status and batches -----------------------------------------------------------------------------------

    def status(self, message_id: int, account: Account | None = None) -> MessageView:
        """One message; with an account, only that account's (anything else is not found)."""
        with self.store.read() as conn:
            view = repo.message_views(conn, [message_id]).get(message_id)
        if view is None or (account is not None and view.account_id != account.id):
            raise GatewayError(ErrorCode.NOT_FOUND, f"no message {message_id}", "messageId")
        return view

    def status_by_client_ref(self, account: Account, client_ref: str) -> MessageView:
        """The account's newest message with this client reference (Rapporto's partnerMsgId, Puzzel's
        clientReference)."""
        with self.store.read() as conn:
            view = repo.message_by_client_ref(conn, account.id, client_ref)
        if view is None:
            raise GatewayError(ErrorCode.NOT_FOUND, f"no message with reference {client_ref!r}", "clientReference")
        return view

    def history(self, message_id: int) -> list[tuple[Status, datetime, str | None]]:
        """Every state a message has been in, from its first, with times and error codes."""
        view = self.status(message_id)
        with self.store.read() as conn:
            transitions = repo.history(conn, message_id)
        first = transitions[0][0] if transitions else view.status
        return [(first, view.created_at, None), *((new, at, error) for _, new, at, error in transitions)]

    def messages(self, *, account: Account | None = None, status: Status | None = None, recipient: str | None = None,
                 batch_ref: str | None = None, before_id: int | None = None, limit: int = 50) -> list[MessageView]:
        with self.store.read() as conn:
            return repo.list_messages(conn, account_id=account.id if account else None, status=status,
                                      recipient=recipient, batch_ref=batch_ref, before_id=before_id, limit=limit)

    def batch_status(self, account: Account, batch_ref: str) -> BatchStatus:
        with self.store.read() as conn:
            counts = repo.batch_counts(conn, account.id, batch_ref)
        if not counts:
            raise GatewayError(ErrorCode.NOT_FOUND, f"no batch {batch_ref!r}", "batchReference")
        return BatchStatus(batch_ref=batch_ref, total=sum(counts.values()), by_status=counts)

    def pending_batches(self, account: Account) -> list[BatchStatus]:
        """Batches that still have messages waiting to be sent (what Puzzel's management API lists)."""
        with self.store.read() as conn:
            refs = repo.pending_batches(conn, account.id)
        return [self.batch_status(account, ref) for ref, _ in refs]

    def cancel_batch(self, account: Account, batch_ref: str) -> list[Cancelled]:
        """Cancel what of a batch is not yet sent; what was sent stays sent. Cancelled messages owe their DR."""
        now = self.clock()
        with self.store.write() as conn:
            if not repo.batch_counts(conn, account.id, batch_ref):
                raise GatewayError(ErrorCode.NOT_FOUND, f"no batch {batch_ref!r}", "batchReference")
            rows = repo.cancel_pending(conn, account.id, batch_ref, now)
            policy.refund(conn, [r.id for r in rows], now)
            repo.queue_reports(conn, [
                self._dr_row(account, r.id, Status.CANCELLED, None, now) for r in rows if r.reports & ReportMask.FINAL
            ])
        log.info("cancel account=%s batch=%s cancelled=%d", account.name, batch_ref, len(rows))
        return [Cancelled(r.id, r.client_ref) for r in rows]

    # --- reports: pull ----------------------------------------------------------------------------------------

    def receive(self, account: Account, limit: int = 1) -> list[ReportItem]:
        """The oldest reports not yet confirmed (DRs and MOs, in the order they arose). Nothing is removed."""
        if not 1 <= limit <= MAX_RECEIVE:
            raise RequestError(ErrorCode.INVALID_FIELD, f"receive takes 1 to {MAX_RECEIVE} items", "count")
        with self.store.read() as conn:
            return repo.pull_reports(conn, account.id, limit)

    def confirm(self, account: Account, report_ids: Sequence[int]) -> int:
        """Remove received reports from the queue; returns how many were pending (unknown ids are ignored)."""
        with self.store.write() as conn:
            return repo.confirm_reports(conn, account.id, list(report_ids))

    def _dr_row(self, account: Account, message_id: int, status: Status, error: str | None, now: int) -> dict[str, Any]:
        return repo.report_row(account, ReportKind.DR, now, message_id=message_id, status=status.value,
                               error_code=error)

    # --- inbound ----------------------------------------------------------------------------------------------

    def ingest_mo(self, originator: str, destination: str, *, text: str | None = None, payload: bytes | None = None,
                  enc: encoding.Encoding = encoding.Encoding.GSM7, smsc_id: str | None = None,
                  operator: str | None = None, received_at: datetime | None = None) -> Inbound:
        """Store an MO and queue it for the account that owns its destination (and keyword, when one is set)."""
        with self.store.write() as conn:
            return self.ingest_mo_in(conn, originator, destination, text=text, payload=payload, enc=enc,
                                     smsc_id=smsc_id, operator=operator, received_at=received_at)

    def ingest_mo_in(self, conn: Connection, originator: str, destination: str, *, text: str | None = None,
                     payload: bytes | None = None, enc: encoding.Encoding = encoding.Encoding.GSM7,
                     smsc_id: str | None = None, operator: str | None = None,
                     received_at: datetime | None = None) -> Inbound:
        """`ingest_mo` inside the caller's write transaction (the delivery worker commits an MO together with the
        parts it was reassembled from)."""
        now = self.clock()
        originator, destination = _mo_address(originator), _mo_address(destination)
        first_word = _KEYWORD.match(text or "")
        keyword = first_word.group(1).upper() if first_word else ""
        account_id = repo.route_inbound(conn, destination, keyword)
        reply_to = repo.latest_mt(conn, account_id, originator, destination, now - _ms(REPLY_WINDOW)) \
            if account_id is not None else None
        mo = Inbound(id=self.ids.one(), account_id=account_id, originator=originator, destination=destination,
                     text=text, payload=payload, encoding=enc, keyword=keyword or None,
                     received_at=received_at or to_dt(now), smsc_id=smsc_id, operator=operator, reply_to=reply_to)
        repo.insert_inbound(conn, mo)
        if account_id is not None:
            account = repo.get_account(conn, account_id=account_id)
            assert account is not None
            repo.queue_reports(conn, [repo.report_row(account, ReportKind.MO, now, inbound_id=mo.id)])
            self._opt_out(conn, account, mo, now)
        else:
            log.warning("mo %d to %s: no account owns this number; kept unrouted", mo.id, destination)
        return mo

    def _opt_out(self, conn: Connection, account: Account, mo: Inbound, now: int) -> None:
        """An MO that is nothing but a STOP word (any case, punctuation around it ignored) puts its sender on the
        account's suppressions; a START word takes it off. The account may answer either."""
        word = _ONE_WORD.fullmatch(mo.text or "")
        if word is None:
            return
        said = _folded(word.group(1))  # ODHLÁSIT is ODHLASIT, PÅMELD is PAMELD
        stop = said in {_folded(k) for k in account.stop_keywords}
        if stop:
            policy.suppress(conn, [(account.id, mo.originator, "stop")], now)
            reply = account.stop_reply
        elif said in {_folded(k) for k in account.start_keywords}:
            policy.unsuppress(conn, account.id, [mo.originator])
            reply = account.start_reply
        else:
            return
        log.info("mo %d: %s opted %s of account %s's messages", mo.id, mo.originator, "out" if stop else "back in",
                 account.name)
        if reply:
            request = SubmitRequest([MessageSpec(recipient=mo.originator, originator=mo.destination, text=reply)],
                                    face="opt-out")
            try:
                checked = [self._validate(0, request.messages[0], account, request, now)]
            except MessageError as error:
                log.warning("mo %d: the opt-%s reply to %s cannot be sent: %s", mo.id, "out" if stop else "in",
                            mo.originator, error.detail)
                return
            result = self._write(conn, [_Job(account, request, str(uuid.uuid4()), checked, now, to_suppressed=True)])
            if result[0].outcomes[0].error is not None:
                log.warning("mo %d: the reply to %s was refused: %s", mo.id, mo.originator,
                            result[0].outcomes[0].error.detail)

    # --- account policy ---------------------------------------------------------------------------------------

    def credit(self, account: Account, amount: int) -> int:
        """Add to (or, negative, take from) the account's prepaid balance; returns the new balance."""
        with self.store.write() as conn:
            left = policy.add_credit(conn, account.id, amount, self.clock())
        log.info("credit account=%s %+d: balance %d", account.name, amount, left)
        return left

    def balance(self, account: Account) -> int:
        with self.store.read() as conn:
            return policy.balance(conn, account.id)

    def release_held(self, *, account: Account | None = None, ids: Sequence[int] | None = None) -> int:
        """Let held messages go: due now (or at their send-at), or expired if their validity has passed."""
        now = self.clock()
        with self.store.write() as conn:
            rows = policy.held_rows(conn, account_id=account.id if account else None, ids=ids, for_update=True)
            moves = [(r, Status.EXPIRED if r.expires_at <= now else
                      Status.SCHEDULED if r.due_at > now else Status.ACCEPTED) for r in rows]
            self._move_held(conn, moves, now)
        log.info("held: %d released", len(rows))
        return len(rows)

    def drop_held(self, *, account: Account | None = None, ids: Sequence[int] | None = None) -> int:
        """Cancel held messages (their DR says cancelled) and refund their credit."""
        now = self.clock()
        with self.store.write() as conn:
            rows = policy.held_rows(conn, account_id=account.id if account else None, ids=ids, for_update=True)
            self._move_held(conn, [(r, Status.CANCELLED) for r in rows], now)
        log.info("held: %d dropped", len(rows))
        return len(rows)

    def _move_held(self, conn: Connection, moves: Sequence[tuple[Any, Status]], now: int) -> None:
        repo.executemany(conn, "UPDATE messages SET status = ?, updated_at = ? WHERE id = ? AND status = 'held'",
                    [(status.value, now, r.id) for r, status in moves])
        repo.record_history(conn, [(r.id, Status.HELD, status, None) for r, status in moves], now)
        ended = [(r, status) for r, status in moves if status.final]
        policy.refund(conn, [r.id for r, _ in ended], now)
        accounts = {a: repo.get_account(conn, account_id=a) for a in {r.account_id for r, _ in ended}}
        repo.queue_reports(conn, [self._dr_row(account, r.id, status, None, now) for r, status in ended
                                  if (account := accounts[r.account_id]) is not None and r.reports & ReportMask.FINAL])

    def suppressions(self, account: Account, limit: int = 1000) -> list[tuple[str, str, datetime]]:
        """(number, reason, since) of the numbers the account may not send to, newest first."""
        with self.store.read() as conn:
            return [(r.number, r.reason, to_dt(r.created_at)) for r in policy.suppression_rows(conn, account.id,
                                                                                              limit)]

    def suppress(self, account: Account, numbers_: Sequence[str]) -> list[str]:
        """Add numbers to the account's suppressions (an operator's decision); returns them normalised."""
        normalised = [_phone(n, account) for n in numbers_]
        with self.store.write() as conn:
            policy.suppress(conn, [(account.id, n, "operator") for n in normalised], self.clock())
        return normalised

    def unsuppress(self, account: Account, numbers_: Sequence[str]) -> int:
        normalised = [_phone(n, account) for n in numbers_]
        with self.store.write() as conn:
            return policy.unsuppress(conn, account.id, normalised)

    def usage(self, account: Account, start: datetime, end: datetime) -> list[policy.Usage]:
        """Per UTC day from `start` (inclusive) to `end` (exclusive): messages, segments, delivered, failed, credit."""
        with self.store.read() as conn:
            return policy.usage(conn, account.id, repo.to_ms(start), repo.to_ms(end))


def _transaction_state(conn: Connection, name: str) -> dict[Any, Any]:
    """A dict that lives as long as `conn`'s current transaction (a new transaction gets an empty one)."""
    transaction = conn.get_transaction()
    held = conn.info.get(f"smsgw.{name}")
    if held is None or held[0] is not transaction:
        held = conn.info[f"smsgw.{name}"] = (transaction, {})
    return held[1]


_KEYWORD = re.compile(r"\s*(\w+)")
_ONE_WORD = re.compile(r"\W*(\w+)\W*")


def _folded(word: str) -> str:
    """A keyword as compared: upper case, without diacritics (handsets and people drop or add them)."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)).upper()


def _mo_address(raw: str) -> str:
    """An MO address as numbers are owned: E.164 for international numbers (SMSCs often omit the "+"), short codes
    and alphanumerics as they are. Up to 8 digits is a short code, as `Accounts.add_number` stores it, even when it
    starts with 00 (Rapporto's example short number is 0000)."""
    address = raw.strip()
    if not address.isdigit() or len(address) <= 8:
        return address
    return "+" + (address[2:] if address.startswith("00") else address)


def _phone(raw: str, account: Account) -> str:
    """A phone number an operator typed: international with + or 00, else national in the account's country."""
    assumed = numbers.NumberFormat.NATIONAL if account.default_country else numbers.NumberFormat.INTERNATIONAL
    return numbers.normalise(raw, assumed, account.default_country)


def _shown_recipient(raw: str, request: SubmitRequest, account: Account) -> str:
    """A refused message's recipient as the outcome shows it: normalised when the number itself was fine."""
    try:
        return numbers.normalise(raw, request.number_format, account.default_country)
    except MessageError:
        return raw


def _check_key(key: IdempotencyKey, error: type[GatewayError]) -> None:
    if not key.key or len(key.key) > MAX_KEY_LENGTH:
        raise error(ErrorCode.INVALID_FIELD, f"idempotency key must be 1 to {MAX_KEY_LENGTH} characters", "key")
    if key.window <= timedelta(0):
        raise ValueError("an idempotency window must be positive")


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _replayed(item: _Accepted, message_id: int, view: MessageView | None) -> Outcome:
    if view is None:  # the message was purged; the key still names its id
        return item.outcome(message_id, replayed=True)
    return Outcome(index=item.index, recipient=view.recipient, message_id=view.id, status=view.status,
                   parts=view.parts, encoding=view.encoding, client_ref=view.client_ref, replayed=True)


def _known(outcome: Outcome | None) -> Outcome:
    assert outcome is not None, "every message of a request gets an outcome"
    return outcome


def _result_to_json(result: SubmitResult) -> dict[str, Any]:
    return {
        "batch_ref": result.batch_ref,
        "outcomes": [
            {"i": o.index, "r": o.recipient, "id": o.message_id, "s": o.status.value if o.status else None,
             "p": o.parts, "enc": o.encoding.value if o.encoding else None, "c": o.client_ref,
             "err": [o.error.code.value, o.error.detail, o.error.field] if o.error else None}
            for o in result.outcomes
        ],
    }


def _result_from_json(data: dict[str, Any], replayed: bool) -> SubmitResult:
    return SubmitResult(
        batch_ref=data["batch_ref"],
        outcomes=[
            Outcome(index=o["i"], recipient=o["r"], message_id=o["id"], status=Status(o["s"]) if o["s"] else None,
                    parts=o["p"], encoding=encoding.Encoding(o["enc"]) if o["enc"] else None, client_ref=o["c"],
                    error=MessageError(ErrorCode(o["err"][0]), o["err"][1], o["err"][2]) if o["err"] else None,
                    replayed=replayed)
            for o in data["outcomes"]
        ],
        replayed=replayed,
    )
