# spyne ships no type information: its models are classes of type Any to mypy, and ours subclass them.
# mypy: disallow-subclassing-any=False
"""The native API's types as spyne models: what the generated WSDL declares and what requests and answers are read
from and written as.

The WSDL is meant for generated proxies (wsimport, .NET `wsdl`, zeep), so every type is named and every element has
one plain meaning: a required element is `minOccurs=1`, an optional one `minOccurs=0`, none is nillable (JAXB makes
a nillable optional element a `JAXBElement`), and a list is a repeated element, never a wrapper type of spyne's own.
Codes that grow with the core (`errorCode`) are strings, so a new code does not break a deployed client's enum;
statuses and priorities are enumerations.
"""

from __future__ import annotations

from typing import Any

from spyne import Boolean, ByteArray, ComplexModel, DateTime, Integer32, Long, Unicode, UnsignedInteger8

from ...domain.model import Priority, Status

NS = "urn:smsgw:v1"


def required(model: Any, doc: str = "") -> Any:
    """`model` as an element that must be present."""
    return _occurs(model, 1, 1, doc)


def optional(model: Any, doc: str = "") -> Any:
    return _occurs(model, 0, 1, doc)


def repeated(model: Any, least: int = 0, doc: str = "") -> Any:
    return _occurs(model, least, "unbounded", doc)


def _occurs(model: Any, least: int, most: int | str, doc: str) -> Any:
    # Customising a restricted type (an enumeration) derives a new anonymous one unless it keeps its name.
    named = {} if model.is_default(model) else {"type_name": model.get_type_name(), "__namespace__": NS}
    return model.customize(min_occurs=least, max_occurs=most, nillable=False, doc=doc, **named)


MessageStatus = Unicode(values=[s.value for s in Status], type_name="MessageStatus", __namespace__=NS)
MessagePriority = Unicode(values=[p.name.lower() for p in Priority], type_name="Priority", __namespace__=NS)

ERROR_CODE = "the gateway's code for why, e.g. invalid_recipient, too_long, suppressed, insufficient_credit"


class _Model(ComplexModel):
    __namespace__ = NS


class SendResult(_Model):
    _type_info = (
        ("messageId", required(Long)),
        ("status", required(MessageStatus)),
        ("recipient", required(Unicode, "the recipient as stored: E.164 with +")),
        ("segments", required(Integer32, "SMS parts the message takes")),
    )


class BatchMessage(_Model):
    """One message of a batch: text, or a binary payload with its header and coding."""

    _type_info = (
        ("recipient", required(Unicode)),
        ("text", optional(Unicode)),
        ("payload", optional(ByteArray)),
        ("udh", optional(ByteArray)),
        ("dataCoding", optional(UnsignedInteger8)),
        ("protocolId", optional(UnsignedInteger8)),
        ("originator", optional(Unicode)),
        ("clientReference", optional(Unicode)),
        ("validitySeconds", optional(Integer32)),
        ("expiresAt", optional(DateTime)),
        ("scheduledAt", optional(DateTime)),
        ("priority", optional(MessagePriority)),
        ("flash", optional(Boolean)),
        ("deliveryReport", optional(Boolean, "whether a delivery report is queued (default true)")),
    )


class MessageResult(_Model):
    """What became of one message of a batch: its id, or why it was refused."""

    _type_info = (
        ("index", required(Integer32, "the message's position in the request, from 0")),
        ("recipient", required(Unicode)),
        ("messageId", optional(Long)),
        ("status", optional(MessageStatus)),
        ("segments", optional(Integer32)),
        ("errorCode", optional(Unicode, ERROR_CODE)),
        ("errorText", optional(Unicode)),
    )


class BatchResult(_Model):
    _type_info = (
        ("batchReference", required(Unicode)),
        ("accepted", required(Integer32)),
        ("refused", required(Integer32)),
        ("result", repeated(MessageResult)),
    )


class StatusChange(_Model):
    _type_info = (
        ("status", required(MessageStatus)),
        ("at", required(DateTime)),
        ("errorCode", optional(Unicode, "the network's error code, if any")),
    )


class MessageInfo(_Model):
    _type_info = (
        ("messageId", required(Long)),
        ("status", required(MessageStatus)),
        ("recipient", required(Unicode)),
        ("originator", optional(Unicode)),
        ("batchReference", required(Unicode)),
        ("clientReference", optional(Unicode)),
        ("segments", required(Integer32)),
        ("createdAt", required(DateTime)),
        ("updatedAt", required(DateTime)),
        ("dueAt", required(DateTime, "when the message is (or was) due to be sent")),
        ("expiresAt", required(DateTime)),
        ("errorCode", optional(Unicode, "the network's error code, if any")),
        ("history", repeated(StatusChange)),  # oldest first
    )


class StatusCount(_Model):
    _type_info = (("status", required(MessageStatus)), ("count", required(Integer32)))


class BatchStatus(_Model):
    _type_info = (
        ("batchReference", required(Unicode)),
        ("total", required(Integer32)),
        ("pending", required(Integer32, "messages not yet sent: CancelBatch still stops them")),
        ("count", repeated(StatusCount)),
    )


class CancelledMessage(_Model):
    _type_info = (("messageId", required(Long)), ("clientReference", optional(Unicode)))


class DeliveryReport(_Model):
    _type_info = (
        ("messageId", required(Long)),
        ("status", required(MessageStatus)),
        ("errorCode", optional(Unicode, "the network's error code, if any")),
        ("recipient", required(Unicode)),
        ("batchReference", required(Unicode)),
        ("clientReference", optional(Unicode)),
    )


class InboundMessage(_Model):
    _type_info = (
        ("messageId", required(Long)),
        ("originator", required(Unicode)),
        ("destination", required(Unicode)),
        ("text", optional(Unicode)),
        ("payload", optional(ByteArray)),
        ("keyword", optional(Unicode)),
        ("receivedAt", required(DateTime)),
        ("replyTo", optional(Long, "the id of the message this one answers, if it answers one of ours")),
    )


class Report(_Model):
    """A pulled report: a delivery report or an inbound message (exactly one of the two)."""

    _type_info = (
        ("reportId", required(Long, "what ConfirmMessages takes")),
        ("createdAt", required(DateTime)),
        ("deliveryReport", optional(DeliveryReport)),
        ("inboundMessage", optional(InboundMessage)),
    )


# --- fault details: each is the detail of a fault whose code is Client.<its name> (Server.Internal for ours) ----


class Authentication(_Model):
    text = required(Unicode)


class InvalidRequest(_Model):
    _type_info = (("code", required(Unicode, ERROR_CODE)), ("text", required(Unicode)))


class MessageRefused(_Model):
    _type_info = (("code", required(Unicode, ERROR_CODE)), ("text", required(Unicode)))


class UnknownMessage(_Model):
    text = required(Unicode)


class UnknownBatch(_Model):
    text = required(Unicode)


class RateLimited(_Model):
    _type_info = (("retryAfter", required(Integer32, "seconds to wait before sending again")),
                  ("text", required(Unicode)))


class TooManyMessages(_Model):
    _type_info = (("maximum", required(Integer32)), ("text", required(Unicode)))


class Internal(_Model):
    text = required(Unicode)
