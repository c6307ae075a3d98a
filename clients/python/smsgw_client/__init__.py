"""A typed client for smsgw: its native SOAP API (`SmsgwClient`), Puzzel's sendMessages (`PuzzelClient`), and
`smsgw-client doctor`, which says what is wrong with a connection to a server (see `doctor.py`)."""

from .client import MAX_BATCH, SmsgwClient
from .errors import (
    AuthenticationError,
    ConnectionFailed,
    InternalError,
    InvalidRequest,
    MessageRefused,
    PuzzelFault,
    RateLimited,
    SmsgwError,
    SoapFault,
    TooManyMessages,
    TransportError,
    UnknownBatch,
    UnknownMessage,
)
from .models import (
    BatchMessage,
    BatchResult,
    BatchStatus,
    CancelledMessage,
    DeliveryReport,
    InboundMessage,
    MessageInfo,
    MessageResult,
    MessageStatus,
    Priority,
    Report,
    SendResult,
    StatusChange,
)
from .puzzel import PuzzelClient, PuzzelMessage, PuzzelResponse, PuzzelStatus, StatusCode

__version__ = "0.1.0"

__all__ = [
    "MAX_BATCH",
    "AuthenticationError",
    "BatchMessage",
    "BatchResult",
    "BatchStatus",
    "CancelledMessage",
    "ConnectionFailed",
    "DeliveryReport",
    "InboundMessage",
    "InternalError",
    "InvalidRequest",
    "MessageInfo",
    "MessageRefused",
    "MessageResult",
    "MessageStatus",
    "Priority",
    "PuzzelClient",
    "PuzzelFault",
    "PuzzelMessage",
    "PuzzelResponse",
    "PuzzelStatus",
    "RateLimited",
    "Report",
    "SendResult",
    "SmsgwClient",
    "SmsgwError",
    "SoapFault",
    "StatusChange",
    "StatusCode",
    "TooManyMessages",
    "TransportError",
    "UnknownBatch",
    "UnknownMessage",
    "__version__",
]
