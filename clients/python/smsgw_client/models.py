"""What the native API takes and answers, as small frozen dataclasses (never zeep's objects).

Each answer type has a `_from_soap` that reads zeep's object for it; names are the WSDL's in snake case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class MessageStatus(StrEnum):
    """A message's status, as the WSDL enumerates them (each compares equal to its string)."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    HELD = "held"
    SUBMITTED = "submitted"
    BUFFERED = "buffered"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether the message's fate is decided: it will not change again."""
        return self in _FINAL


_FINAL = frozenset({MessageStatus.DELIVERED, MessageStatus.UNDELIVERABLE, MessageStatus.EXPIRED,
                    MessageStatus.REJECTED, MessageStatus.FAILED, MessageStatus.CANCELLED})


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


# --- what a send takes -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchMessage:
    """One message of a batch: `text`, or a binary `payload` (without its user data header, which `udh` gives) with
    its `data_coding`. `validity` is how long the network may try; `expires_at` the same as a moment."""

    recipient: str
    text: str | None = None
    payload: bytes | None = None
    udh: bytes | None = None
    data_coding: int | None = None
    protocol_id: int | None = None
    originator: str | None = None
    client_reference: str | None = None
    validity: timedelta | int | None = None
    expires_at: datetime | None = None
    scheduled_at: datetime | None = None
    priority: Priority | str | None = None
    flash: bool | None = None
    delivery_report: bool | None = None

    def _to_soap(self) -> dict[str, Any]:
        return _without_none({
            "recipient": self.recipient, "text": self.text, "payload": self.payload, "udh": self.udh,
            "dataCoding": self.data_coding, "protocolId": self.protocol_id, "originator": self.originator,
            "clientReference": self.client_reference, "validitySeconds": seconds(self.validity),
            "expiresAt": self.expires_at, "scheduledAt": self.scheduled_at, "priority": priority(self.priority),
            "flash": self.flash, "deliveryReport": self.delivery_report})


def seconds(validity: timedelta | int | None) -> int | None:
    if isinstance(validity, timedelta):
        return int(validity.total_seconds())
    return validity


def priority(value: Priority | str | None) -> str | None:
    return None if value is None else Priority(value).value


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


# --- what the operations answer ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendResult:
    """A message the gateway took: its id, status, recipient as stored (E.164 with +) and SMS parts."""

    message_id: int
    status: MessageStatus
    recipient: str
    segments: int

    @classmethod
    def _from_soap(cls, value: Any) -> SendResult:
        return cls(int(value.messageId), MessageStatus(value.status), str(value.recipient), int(value.segments))


@dataclass(frozen=True, slots=True)
class MessageResult:
    """What became of one message of a batch (`index` from 0, in request order): its id and status, or why it was
    refused (`error_code`, `error_text`)."""

    index: int
    recipient: str
    message_id: int | None = None
    status: MessageStatus | None = None
    segments: int | None = None
    error_code: str | None = None
    error_text: str | None = None

    @property
    def accepted(self) -> bool:
        return self.message_id is not None

    @classmethod
    def _from_soap(cls, value: Any) -> MessageResult:
        return cls(int(value.index), str(value.recipient), _int(value.messageId), _status(value.status),
                   _int(value.segments), value.errorCode, value.errorText)


@dataclass(frozen=True, slots=True)
class BatchResult:
    batch_reference: str
    accepted: int
    refused: int
    results: tuple[MessageResult, ...]

    @classmethod
    def _from_soap(cls, value: Any) -> BatchResult:
        return cls(str(value.batchReference), int(value.accepted), int(value.refused),
                   tuple(MessageResult._from_soap(r) for r in value.result or ()))


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: MessageStatus
    at: datetime
    error_code: str | None = None

    @classmethod
    def _from_soap(cls, value: Any) -> StatusChange:
        return cls(MessageStatus(value.status), value.at, value.errorCode)


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """A message's status and its history (oldest first). `due_at` is when it is (or was) due to be sent."""

    message_id: int
    status: MessageStatus
    recipient: str
    batch_reference: str
    segments: int
    created_at: datetime
    updated_at: datetime
    due_at: datetime
    expires_at: datetime
    originator: str | None = None
    client_reference: str | None = None
    error_code: str | None = None
    history: tuple[StatusChange, ...] = ()

    @classmethod
    def _from_soap(cls, value: Any) -> MessageInfo:
        return cls(
            message_id=int(value.messageId), status=MessageStatus(value.status), recipient=str(value.recipient),
            batch_reference=str(value.batchReference), segments=int(value.segments), created_at=value.createdAt,
            updated_at=value.updatedAt, due_at=value.dueAt, expires_at=value.expiresAt, originator=value.originator,
            client_reference=value.clientReference, error_code=value.errorCode,
            history=tuple(StatusChange._from_soap(h) for h in value.history or ()))


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """How many of a batch's messages are in each status; `pending` are not yet sent (CancelBatch still stops
    them)."""

    batch_reference: str
    total: int
    pending: int
    counts: Mapping[MessageStatus, int] = field(default_factory=dict)

    @classmethod
    def _from_soap(cls, value: Any) -> BatchStatus:
        return cls(str(value.batchReference), int(value.total), int(value.pending),
                   {MessageStatus(c.status): int(c.count) for c in value.count or ()})


@dataclass(frozen=True, slots=True)
class CancelledMessage:
    message_id: int
    client_reference: str | None = None

    @classmethod
    def _from_soap(cls, value: Any) -> CancelledMessage:
        return cls(int(value.messageId), value.clientReference)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    message_id: int
    status: MessageStatus
    recipient: str
    batch_reference: str
    error_code: str | None = None
    client_reference: str | None = None

    @classmethod
    def _from_soap(cls, value: Any) -> DeliveryReport:
        return cls(int(value.messageId), MessageStatus(value.status), str(value.recipient), str(value.batchReference),
                   value.errorCode, value.clientReference)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message to one of the account's numbers; `reply_to` is the id of the message it answers, if any."""

    message_id: int
    originator: str
    destination: str
    received_at: datetime
    text: str | None = None
    payload: bytes | None = None
    keyword: str | None = None
    reply_to: int | None = None

    @classmethod
    def _from_soap(cls, value: Any) -> InboundMessage:
        return cls(int(value.messageId), str(value.originator), str(value.destination), value.receivedAt,
                   value.text, value.payload, value.keyword, _int(value.replyTo))


@dataclass(frozen=True, slots=True)
class Report:
    """A received report: a delivery report or an inbound message (exactly one of the two). Confirm it by
    `report_id` once handled, or it is handed out again."""

    report_id: int
    created_at: datetime
    delivery_report: DeliveryReport | None = None
    inbound_message: InboundMessage | None = None

    @classmethod
    def _from_soap(cls, value: Any) -> Report:
        dr, mo = value.deliveryReport, value.inboundMessage
        return cls(int(value.reportId), value.createdAt, None if dr is None else DeliveryReport._from_soap(dr),
                   None if mo is None else InboundMessage._from_soap(mo))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _status(value: Any) -> MessageStatus | None:
    return None if value is None else MessageStatus(value)
