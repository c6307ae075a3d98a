"""The core's vocabulary: statuses and their state machine, accounts, what a face submits and what it gets back.

Times are timezone-aware UTC datetimes here; the store keeps them as epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag, StrEnum

from .encoding import Encoding, ParsingType
from .errors import MessageError
from .numbers import NumberFormat, OriginatorType
from .validity import SendWindow

MAX_MESSAGES_PER_REQUEST = 10_000


class Status(StrEnum):
    """The life of an MT message, and of each of its segments (segments use the states from SUBMITTED on)."""

    ACCEPTED = "accepted"  # stored, due now
    SCHEDULED = "scheduled"  # stored, due later (send-at or send window)
    HELD = "held"  # stored, over the account's per-recipient quota: waits for an operator to release or drop it
    SUBMITTED = "submitted"  # the SMSC took it
    BUFFERED = "buffered"  # intermediate: delivered to the network / buffered by the SMSC
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"  # the network says it cannot reach the phone
    EXPIRED = "expired"  # validity or send window passed before delivery
    REJECTED = "rejected"  # the SMSC refused it
    FAILED = "failed"  # we gave up (retries exhausted, internal error)
    CANCELLED = "cancelled"  # stopped by the customer or an operator before it was sent

    @property
    def final(self) -> bool:
        return self in FINAL

    @property
    def pending(self) -> bool:
        """Not yet handed to an SMSC: may still be cancelled."""
        return self in (Status.ACCEPTED, Status.SCHEDULED, Status.HELD)


FINAL = frozenset(
    {Status.DELIVERED, Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED, Status.FAILED, Status.CANCELLED}
)
PERMANENT_FAILURES = (Status.REJECTED, Status.UNDELIVERABLE, Status.EXPIRED, Status.FAILED)

_NOT_SENT_ENDINGS = {Status.EXPIRED, Status.REJECTED, Status.FAILED, Status.CANCELLED}
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    # ACCEPTED -> ACCEPTED is a retry (requeued with a later due time).
    Status.ACCEPTED: frozenset({Status.ACCEPTED, Status.SCHEDULED, Status.SUBMITTED, *_NOT_SENT_ENDINGS}),
    Status.SCHEDULED: frozenset({Status.ACCEPTED, Status.SCHEDULED, Status.SUBMITTED, *_NOT_SENT_ENDINGS}),
    Status.HELD: frozenset({Status.ACCEPTED, Status.SCHEDULED, Status.EXPIRED, Status.CANCELLED}),
    Status.SUBMITTED: frozenset({Status.BUFFERED, *PERMANENT_FAILURES, Status.DELIVERED}),
    Status.BUFFERED: frozenset({Status.BUFFERED, *PERMANENT_FAILURES, Status.DELIVERED}),
    **{s: frozenset() for s in FINAL},
}


def can_move(current: Status, new: Status) -> bool:
    """Whether the state machine allows `current` → `new`. Final states never change (a late receipt is ignored)."""
    return new in TRANSITIONS[current]


def aggregate(segments: Sequence[Status]) -> Status:
    """A message's status from its segments' statuses.

    The rule: a message is DELIVERED when every segment is; it has failed as soon as any segment fails permanently
    (taking the first of REJECTED, UNDELIVERABLE, EXPIRED, FAILED that any segment has); otherwise it is BUFFERED when
    any segment has reached the network or been delivered, and SUBMITTED while all wait for their first receipt.
    Segments not yet handed to the SMSC count as not sent: the message keeps the earliest such state.
    """
    if not segments:
        raise ValueError("a message has at least one segment")
    present = set(segments)
    for failure in PERMANENT_FAILURES:
        if failure in present:
            return failure
    if Status.CANCELLED in present:
        return Status.CANCELLED
    if present == {Status.DELIVERED}:
        return Status.DELIVERED
    for waiting in (Status.SCHEDULED, Status.ACCEPTED):
        if waiting in present:
            return waiting
    if present & {Status.BUFFERED, Status.DELIVERED}:
        return Status.BUFFERED
    return Status.SUBMITTED


class Priority(IntEnum):
    """SMPP priority_flag values; every dialect maps its own scale onto these."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3


class ReportMask(IntFlag):
    """Which delivery reports the sender asked for."""

    NONE = 0
    FINAL = 1
    INTERMEDIATE = 2


class IdempotencyMode(StrEnum):
    REJECT = "reject"  # a repeat is refused (Puzzel clientReference check, status 25)
    REPLAY = "replay"  # a repeat gets the first outcome again (OpenMarket submitid, Rapporto partnerMsgId)


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key for a message or a request, unique per account for `window`. A repeated request key restarts
    its window (OpenMarket's submitid); a repeated message key does not."""

    key: str
    mode: IdempotencyMode
    window: timedelta


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """One MT message as a face understood it; the gateway validates and completes it from the account."""

    recipient: str
    text: str | None = None
    payload: bytes | None = None  # binary user data (without UDH); excludes `text`
    udh: bytes | None = None  # caller-given user data header (binary messages)
    dcs: int | None = None  # caller-given data coding scheme (binary messages)
    pid: int | None = None  # protocol identifier
    originator: str | None = None
    originator_type: OriginatorType | None = None
    # A disallowed originator is replaced by the account's default instead of refusing the message (Modica's mask).
    fall_back_to_default_originator: bool = False
    flash: bool = False
    parsing_type: ParsingType | None = None  # None: the account's default
    max_parts: int | None = None  # lowers the account's limit for this message (1: must fit one SMS)
    validity: timedelta | None = None  # relative; excludes `expires_at`
    expires_at: datetime | None = None  # absolute
    send_at: datetime | None = None
    send_window: SendWindow | None = None
    priority: Priority | None = None
    price: int | None = None  # end-user price in the smallest currency unit; 0 or None is free
    billing_single_shot: bool | None = None  # None: the account's setting
    client_ref: str | None = None
    idempotency: IdempotencyKey | None = None
    reports: ReportMask = ReportMask.FINAL
    extras: Mapping[str, str] = field(default_factory=dict)  # dialect fields kept for reports (ptag, mask, …)


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    messages: Sequence[MessageSpec]
    batch_ref: str | None = None  # generated (a UUID) when None or empty
    number_format: NumberFormat = NumberFormat.INTERNATIONAL  # how a recipient without "+" is read
    idempotency: IdempotencyKey | None = None  # a key for the whole request (replay mode only)
    face: str = "native"  # the interface the request came through, for logs and statistics


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message of a request, in request order."""

    index: int
    recipient: str  # normalised E.164 when valid, else as given
    message_id: int | None = None
    status: Status | None = None
    parts: int = 0
    encoding: Encoding | None = None
    client_ref: str | None = None
    error: MessageError | None = None
    replayed: bool = False  # the first outcome for a repeated idempotency key

    @property
    def accepted(self) -> bool:
        return self.message_id is not None


@dataclass(frozen=True, slots=True)
class SubmitResult:
    batch_ref: str
    outcomes: Sequence[Outcome]
    replayed: bool = False  # the whole request repeated an earlier one's key


# Opt-out words in English (the CTIA/Twilio set), Norwegian (STOPP, AVSLUTT, AVMELD) and Czech (KONEC, ODHLASIT),
# and the words that opt back in.
STOP_KEYWORDS = ("STOP", "STOPP", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT", "STOPALL", "AVSLUTT", "AVMELD",
                 "KONEC", "ODHLÁSIT", "ODHLASIT")
START_KEYWORDS = ("START", "UNSTOP", "YES", "PÅMELD", "PAMELD", "ZAČÍT", "ZACIT")


@dataclass(frozen=True, slots=True)
class Account:
    """A customer account: its identity, credentials, limits and defaults. Read-only here; changed through the store."""

    id: int
    name: str
    password_hash: str
    credential_version: int = 1
    active: bool = True
    allowed_networks: tuple[str, ...] = ()  # CIDR; empty means any address
    trusted_proxies: tuple[str, ...] = ()  # CIDR of proxies whose headers are believed
    client_address_header: str | None = None  # set by a trusted proxy, e.g. X-Forwarded-For
    client_cert_header: str | None = None  # set by a trusted proxy: the client certificate's SHA-256 fingerprint
    client_certs: tuple[str, ...] = ()  # registered client certificate SHA-256 fingerprints (lower-case hex)
    default_country: str | None = None  # ISO 3166 alpha-2, for national numbers
    default_originator: str | None = None
    default_originator_type: OriginatorType | None = None
    allowed_originators: tuple[str, ...] = ()  # empty means any
    max_parts: int = 6
    parsing_type: ParsingType = ParsingType.AUTO_DETECT
    duplicate_window: int = 3600  # seconds a client reference stays unique (Puzzel's check); 0 switches it off
    default_validity: int = 7 * 24 * 3600  # seconds, when a message names none
    test_mode: bool = False  # accepted and reported, never sent to an SMSC
    send_rate: int = 0  # SMS parts per second the delivery worker sends for this account (0: no limit)
    single_shot_billing: bool = False
    report_format: str = "pull"
    dlr_url: str | None = None
    mo_url: str | None = None
    report_intermediate: bool = False  # intermediate reports even for messages that did not ask for them
    intermediate_states: tuple[str, ...] = ("buffered",)  # which intermediate states are reported: submitted, buffered
    report_retention: int = 72  # hours a pushed report is retried before it is dead-lettered
    report_timeout: int = 10  # seconds the customer has to answer a callback
    report_header: str | None = None  # "Name: value" sent with every callback (an API key, a bearer token)
    report_secret: str | None = None  # HMAC-SHA256 key: callbacks carry a signature the customer can verify
    credit_mode: str = "none"  # none | messages (one per message) | currency (segment_price per part, plus price)
    segment_price: int = 0  # smallest currency unit per SMS part, in currency mode
    request_rate: int = 0  # requests per second (0: no limit)
    message_rate: int = 0  # messages per second (0: no limit)
    recipient_quota: int = 0  # messages to one number within recipient_window before the rest are held (0: none)
    recipient_window: int = 3600  # seconds
    stop_keywords: tuple[str, ...] = STOP_KEYWORDS  # an MO that is one of these opts its sender out
    start_keywords: tuple[str, ...] = START_KEYWORDS  # … and one of these opts it back in
    stop_reply: str | None = None  # sent back to a phone that opted out
    start_reply: str | None = None  # sent back to a phone that opted back in
    suppress_codes: tuple[str, ...] = ()  # network error codes of a final DR that add the number to the suppressions
    content_retention: int = 90  # days message text and MO content are kept (0: for ever)


@dataclass(frozen=True, slots=True)
class MessageView:
    """One stored MT message as `gateway.status` shows it."""

    id: int
    account_id: int
    recipient: str
    originator: str | None
    originator_type: OriginatorType | None
    status: Status
    encoding: Encoding
    parts: int
    batch_ref: str
    client_ref: str | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime
    expires_at: datetime
    error_code: str | None
    text: str | None
    payload: bytes | None
    extras: Mapping[str, str] = field(default_factory=dict)  # dialect fields stored with the message (ptag, …)


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """Counts of a batch's messages by status; `pending` are those not yet sent (cancellable)."""

    batch_ref: str
    total: int
    by_status: Mapping[Status, int]

    @property
    def pending(self) -> int:
        return sum(n for s, n in self.by_status.items() if s.pending)


@dataclass(frozen=True, slots=True)
class Cancelled:
    message_id: int
    client_ref: str | None


def reported(status: Status, asked: int, account: Account) -> bool:
    """Whether a message reaching `status` owes its account a DR: a final status when the message asked for reports;
    an intermediate one when the message (or the account, for all its messages) asked for intermediate reports and
    the account reports that state. A message that asked for none (Puzzel's skip_customer_report_delivery) owes
    none. `asked` is a ReportMask, or its int (the worker's hot path keeps ints: IntFlag arithmetic is slow)."""
    if status.final:
        return bool(asked & 1)  # ReportMask.FINAL
    if not asked or status.value not in account.intermediate_states:
        return False
    return bool(asked & 2) or account.report_intermediate  # ReportMask.INTERMEDIATE


class ReportKind(StrEnum):
    DR = "dr"
    MO = "mo"


@dataclass(frozen=True, slots=True)
class Inbound:
    """An MO message as received from the network (reassembled)."""

    id: int
    account_id: int | None
    originator: str
    destination: str
    text: str | None
    payload: bytes | None
    encoding: Encoding
    keyword: str | None
    received_at: datetime
    smsc_id: str | None = None
    operator: str | None = None
    reply_to: int | None = None  # the MT this answers: the latest one to its originator from its destination


@dataclass(frozen=True, slots=True)
class ReportItem:
    """One report owed to an account: a DR (with the MT it is about) or an MO. `receive` hands these out."""

    id: int
    kind: ReportKind
    created_at: datetime
    message: MessageView | None = None  # for a DR
    status: Status | None = None  # for a DR: the status being reported
    error_code: str | None = None  # for a DR: the network's code, if any
    inbound: Inbound | None = None  # for an MO
