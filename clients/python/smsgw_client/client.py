"""`SmsgwClient`: smsgw's native SOAP API (`/ws/v1`) with typed methods, results and exceptions."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from . import errors
from ._soap import DEFAULT_TIMEOUT, Cert, Soap, Verify, fault_detail, session
from .models import (
    BatchMessage,
    BatchResult,
    BatchStatus,
    CancelledMessage,
    MessageInfo,
    Priority,
    Report,
    SendResult,
    priority,
    seconds,
)

NS = "urn:smsgw:v1"
PATH = "/ws/v1"
BINDING = f"{{{NS}}}SmsGatewayBinding"
OPERATIONS = frozenset({"SendTextMessage", "SendBinaryMessage", "SendBatch", "GetMessageStatus", "GetBatchStatus",
                        "CancelBatch", "ReceiveMessages", "ConfirmMessages"})
MAX_BATCH = 10_000  # the server's limit of messages in one SendBatch (over it: TooManyMessages)


class SmsgwClient:
    """The native API of the smsgw at `base_url` (e.g. `https://sms.example.com`), as `account` with `password`.

    `verify` checks the server's certificate against the system's CA store (True), a CA bundle file (a path), or
    not at all (False: for tests only). `cert` is a client certificate: a PEM file with the certificate and key, or
    a (certificate, key) pair. `wsdl` is a local copy of the WSDL; by default it is loaded from the server
    (`/ws/v1?wsdl`) on the first call, once. Calls go to `base_url` + `/ws/v1` whatever address the WSDL names.

    Every method raises a SoapFault subclass for the fault the server answered (AuthenticationError, MessageRefused,
    RateLimited, ...), TransportError when no SOAP answer came, and ValueError for arguments the WSDL does not
    allow (nothing is sent then). Safe to share between threads."""

    def __init__(self, base_url: str, account: str, password: str, *, verify: Verify = True,
                 cert: Cert | None = None, timeout: float = DEFAULT_TIMEOUT,
                 wsdl: str | os.PathLike[str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.account = account
        self.endpoint = self.base_url + PATH
        http = session(auth=(account, password), verify=verify, cert=cert)
        self._soap = Soap(f"{self.endpoint}?wsdl" if wsdl is None else wsdl, BINDING, self.endpoint, http, timeout,
                          read_fault)

    # --- sending -----------------------------------------------------------------------------------------------

    def send_text(self, recipient: str, text: str, *, originator: str | None = None,
                  client_reference: str | None = None, validity: timedelta | int | None = None,
                  expires_at: datetime | None = None, scheduled_at: datetime | None = None,
                  priority: Priority | str | None = None, flash: bool | None = None,
                  delivery_report: bool | None = None) -> SendResult:
        """Send one text message. A number without + or 00 is national in the account's default country (if it has
        one). Raises MessageRefused (with its `code`) when the gateway refuses it, RateLimited when over the
        account's rate."""
        return SendResult._from_soap(self._soap.call("SendTextMessage", **_given(
            recipient=recipient, text=text, originator=originator, clientReference=client_reference,
            validitySeconds=seconds(validity), expiresAt=expires_at, scheduledAt=scheduled_at,
            priority=_priority(priority), flash=flash, deliveryReport=delivery_report)))

    def send_binary(self, recipient: str, payload: bytes, *, udh: bytes | None = None, data_coding: int | None = None,
                    protocol_id: int | None = None, originator: str | None = None,
                    client_reference: str | None = None, validity: timedelta | int | None = None,
                    expires_at: datetime | None = None, scheduled_at: datetime | None = None,
                    priority: Priority | str | None = None, delivery_report: bool | None = None) -> SendResult:
        """Send one binary message: `payload` without its user data header, which `udh` gives (the gateway adds
        concatenation headers when the payload needs more than one SMS); `data_coding` is the DCS."""
        return SendResult._from_soap(self._soap.call("SendBinaryMessage", **_given(
            recipient=recipient, payload=payload, udh=udh, dataCoding=data_coding, protocolId=protocol_id,
            originator=originator, clientReference=client_reference, validitySeconds=seconds(validity),
            expiresAt=expires_at, scheduledAt=scheduled_at, priority=_priority(priority),
            deliveryReport=delivery_report)))

    def send_batch(self, messages: Iterable[BatchMessage], batch_reference: str | None = None) -> BatchResult:
        """Send up to 10,000 messages as one batch (the server makes up a reference when none is given). Each
        message gets its own result, in request order: a refused one does not stop the others. Raises
        TooManyMessages over the limit."""
        batch = [m._to_soap() for m in messages]
        if not batch:
            raise ValueError("send_batch: no messages")
        return BatchResult._from_soap(self._soap.call("SendBatch", **_given(batchReference=batch_reference,
                                                                               message=batch)))

    # --- looking ---------------------------------------------------------------------------------------------

    def message_status(self, message_id: int | None = None, *, client_reference: str | None = None) -> MessageInfo:
        """A message's status and history, by its id or by its client reference (the newest message that has it).
        Raises UnknownMessage when this account has no such message."""
        if (message_id is None) == (client_reference is None):
            raise ValueError("message_status: give either a message id or a client reference")
        return MessageInfo._from_soap(self._soap.call("GetMessageStatus", **_given(
            messageId=message_id, clientReference=client_reference)))

    def batch_status(self, batch_reference: str) -> BatchStatus:
        """How many of a batch's messages are in each status. Raises UnknownBatch."""
        return BatchStatus._from_soap(self._soap.call("GetBatchStatus", batchReference=batch_reference))

    def cancel_batch(self, batch_reference: str) -> list[CancelledMessage]:
        """Cancel what of a batch is not yet sent, and list those messages; what was sent stays sent. Raises
        UnknownBatch."""
        answer = self._soap.call("CancelBatch", batchReference=batch_reference)
        return [CancelledMessage._from_soap(c) for c in answer or ()]

    # --- reports and inbound messages --------------------------------------------------------------------------

    def receive(self, max: int | None = None) -> list[Report]:
        """The oldest unconfirmed delivery reports and inbound messages, up to `max` (1 to 1,000; the server's
        default, 100, when None). They are handed out again until `confirm` names them."""
        answer = self._soap.call("ReceiveMessages", **_given(maxReports=max))
        return [Report._from_soap(r) for r in answer or ()]

    def confirm(self, report_ids: Iterable[int]) -> int:
        """Remove received reports from the queue; answers how many were still queued (others are ignored)."""
        ids = [int(i) for i in report_ids]
        if not ids:
            return 0
        return int(self._soap.call("ConfirmMessages", reportId=ids))

    # --- the connection ----------------------------------------------------------------------------------------

    def operations(self) -> frozenset[str]:
        """The operations the server's WSDL declares (loading it if not yet loaded)."""
        return self._soap.operations()

    def close(self) -> None:
        self._soap.close()

    def __enter__(self) -> SmsgwClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SmsgwClient({self.base_url!r}, account={self.account!r})"


def read_fault(text: str, code: str | None, detail: Any) -> errors.SoapFault:
    """The exception for one of the WSDL's faults, by its detail element (or, without one, by its code's last part:
    `soap:Client.UnknownBatch`)."""
    kind, fields = fault_detail(detail, NS)
    if kind is None and code:
        kind = code.rsplit(".", 1)[-1] if "." in code else None
    text = fields.get("text") or text
    if kind == "Authentication":
        return errors.AuthenticationError(text, code)
    if kind == "InvalidRequest":
        return errors.InvalidRequest(text, code, code=fields.get("code", ""))
    if kind == "MessageRefused":
        return errors.MessageRefused(text, code, code=fields.get("code", ""))
    if kind == "RateLimited":
        return errors.RateLimited(text, code, retry_after=_number(fields.get("retryAfter"), 1))
    if kind == "TooManyMessages":
        return errors.TooManyMessages(text, code, maximum=_number(fields.get("maximum"), MAX_BATCH))
    if kind == "UnknownMessage":
        return errors.UnknownMessage(text, code)
    if kind == "UnknownBatch":
        return errors.UnknownBatch(text, code)
    if kind == "Internal":
        return errors.InternalError(text, code)
    return errors.SoapFault(text, code)


def _number(text: str | None, default: int) -> int:
    try:
        return int(text or "")
    except ValueError:
        return default


def _given(**arguments: Any) -> dict[str, Any]:
    """The arguments that have a value: an element left out is the server's default."""
    return {name: value for name, value in arguments.items() if value is not None}


def _priority(value: Priority | str | None) -> str | None:
    try:
        return priority(value)
    except ValueError:
        raise ValueError(f"priority: one of {', '.join(p.value for p in Priority)}, not {value!r}") from None
