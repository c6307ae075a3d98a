"""What the worker and a connector say to each other.

The worker turns a message into `Part`s (one submit_sm each, already encoded for the wire) and hands a chunk of them
to `Connector.submit`, which keeps many in flight and answers one `SubmitOutcome` per part, in order. What the SMSC
sends back (receipts and MO parts) goes to the `Inbound` sink the connector was started with; the connector
acknowledges the SMSC only after the sink has returned, that is after the store has committed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..wire import WireOptions


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed message, as the worker hands it to `wire.parts_of` (the columns of `messages` it needs)."""

    id: int
    account_id: int
    recipient: str  # E.164 with "+"
    originator: str | None  # None: the connector's default source address
    originator_type: str | None  # numbers.OriginatorType value
    encoding: str  # domain.encoding.Encoding value: gsm7 | ucs2 | binary
    text: str | None
    payload: bytes | None
    udh: bytes | None
    dcs: int | None
    pid: int | None
    flash: bool
    parts: int
    priority: int  # domain.model.Priority (SMPP priority_flag 0-3)
    reports: int  # domain.model.ReportMask: FINAL=1, INTERMEDIATE=2
    expires_at: int  # epoch ms
    attempts: int  # submit attempts so far, this one included
    # What the worker needs besides the wire (defaults keep the wire module's tests short):
    status: str = "accepted"  # accepted | scheduled, before this claim
    send_window: str | None = None  # JSON of domain.validity.SendWindow
    billing_single_shot: bool = False
    reclaimed: bool = False  # an earlier claim ended without an answer: the SMSC may already have it


@dataclass(slots=True)  # not frozen: a frozen 17-field dataclass costs ~4 µs to build, and one is built per SMS
class Part:
    """One submit_sm: a whole short message, or one segment of a long one (never changed once built)."""

    message_id: int
    seq: int  # 1-based segment number
    total: int  # segments of the message
    source: str  # originator as sent ("" lets the SMSC choose)
    source_ton: int
    source_npi: int
    destination: str  # E.164 digits without "+"
    dest_ton: int
    dest_npi: int
    esm_class: int
    protocol_id: int
    priority: int
    validity_period: str  # SMPP time format ("" = SMSC default)
    registered_delivery: int
    data_coding: int
    short_message: bytes  # UDH (when esm_class has UDHI) + user data
    tlvs: tuple[tuple[int, bytes], ...] = ()


class Outcome(StrEnum):
    """How the SMSC (or the way to it) answered one part."""

    ACCEPTED = "accepted"  # submit_sm_resp with ESME_ROK and a message id
    THROTTLED = "throttled"  # ESME_RTHROTTLED / ESME_RMSGQFUL: back off and requeue, no attempt counted
    TEMPORARY = "temporary"  # try again later (a retry counts an attempt)
    PERMANENT = "permanent"  # never try again
    BILLING = "billing"  # refused for billing: the premium retry schedule applies


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    outcome: Outcome
    smsc_id: str | None = None  # the SMSC's message id, normalised (`receipts.normalise_id`)
    command_status: int | None = None  # the SMPP command_status, when the SMSC answered
    error: str | None = None  # a short reason for a log and the message's error_code


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt for one submitted part, as the SMSC reported it."""

    connector: str
    smsc_id: str  # normalised
    state: str  # SMPP state word: DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, ENROUTE
    error: str | None = None  # the receipt's err: field or network_error_code, as text
    done_at: int | None = None  # epoch ms of the receipt's "done date", when given


@dataclass(frozen=True, slots=True)
class MoPart:
    """One deliver_sm that is not a receipt: an MO, or one part of a concatenated MO."""

    connector: str
    source: str
    destination: str
    data_coding: int
    payload: bytes  # user data without the UDH
    concat: tuple[int, int, int] | None = None  # (reference, total, seq) from the UDH or the SAR TLVs
    smsc_id: str | None = None


@dataclass(slots=True)
class ConnectorState:
    """What a connector shows the console and /metrics."""

    name: str
    kind: str  # smpp | simulator
    bound: bool = False
    window: int = 0  # submits allowed in flight
    in_flight: int = 0
    submitted: int = 0
    errors: int = 0
    last_error: str | None = None
    latency_ms: float | None = None  # mean submit_sm -> submit_sm_resp over the last chunk
    extra: dict[str, str] = field(default_factory=dict)


class Inbound(Protocol):
    """Where a connector hands what the SMSC sends; each call returns once the store has committed it."""

    async def receipts(self, receipts: Sequence[Receipt]) -> None: ...

    async def mo_parts(self, parts: Sequence[MoPart]) -> None: ...


class Connector(Protocol):
    name: str
    wire: WireOptions  # how messages for this connector are put into parts

    async def start(self, inbound: Inbound) -> None:
        """Connect (and keep reconnecting with backoff) in the background; returns at once."""

    async def submit(self, parts: Sequence[Part]) -> list[SubmitOutcome]:
        """Send every part (many in flight, within the connector's window and rate) and answer each, in order.
        A part that could not be sent because the link is down answers TEMPORARY."""

    def state(self) -> ConnectorState: ...

    async def close(self) -> None:
        """Unbind and disconnect; parts still in flight answer TEMPORARY."""
