"""The exceptions the clients raise: one class per fault type the WSDL declares, and one for a transport that failed.

    SmsgwError
    ├── TransportError          no SOAP answer: the connection, TLS, an HTTP error page, a WSDL that does not load
    │   └── ConnectionFailed    nothing answered (refused, timed out, DNS, TLS handshake)
    └── SoapFault               the server answered with a SOAP fault
        ├── AuthenticationError     Client.Authentication: wrong account or password (or a disabled account)
        ├── InvalidRequest          Client.InvalidRequest: a field the server cannot take (`code` says which rule)
        ├── MessageRefused          Client.MessageRefused: the one message of a send was refused (`code`)
        ├── RateLimited             Client.RateLimited: over the account's rate; `retry_after` seconds
        ├── TooManyMessages         Client.TooManyMessages: a batch over `maximum` messages
        ├── UnknownMessage          Client.UnknownMessage: no such message for this account
        ├── UnknownBatch            Client.UnknownBatch: no such batch for this account
        ├── InternalError           Server.Internal: the server failed; the request may be retried
        └── PuzzelFault             a fault of Puzzel's interfaces (its `code` and `reason`)
"""

from __future__ import annotations


class SmsgwError(Exception):
    """Anything the clients raise."""


class TransportError(SmsgwError):
    """The request got no SOAP answer: `status_code` is the HTTP status when there was one."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ConnectionFailed(TransportError):
    """Nothing answered: the connection was refused or timed out, the name did not resolve, or TLS failed."""


class SoapFault(SmsgwError):
    """A SOAP fault: `text` is its reason, `fault_code` its code as sent (e.g. `soap:Client.UnknownBatch`)."""

    def __init__(self, text: str, fault_code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.fault_code = fault_code


class AuthenticationError(SoapFault):
    """The account name and password were refused (a disabled account, or an address it may not be used from, looks
    the same: the server's log says which)."""


class InvalidRequest(SoapFault):
    """The server cannot take a field of the request; `code` is its reason, e.g. `invalid_field`."""

    def __init__(self, text: str, fault_code: str | None = None, *, code: str = "") -> None:
        super().__init__(text, fault_code)
        self.code = code


class MessageRefused(SoapFault):
    """The message was refused; `code` says why, e.g. `invalid_recipient`, `too_long`, `suppressed`,
    `insufficient_credit`."""

    def __init__(self, text: str, fault_code: str | None = None, *, code: str = "") -> None:
        super().__init__(text, fault_code)
        self.code = code


class RateLimited(SoapFault):
    """Over the account's rate: send again after `retry_after` seconds."""

    def __init__(self, text: str, fault_code: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(text, fault_code)
        self.retry_after = retry_after


class TooManyMessages(SoapFault):
    """A batch of more messages than `maximum`."""

    def __init__(self, text: str, fault_code: str | None = None, *, maximum: int = 0) -> None:
        super().__init__(text, fault_code)
        self.maximum = maximum


class UnknownMessage(SoapFault):
    """No message of this account has that id or client reference."""


class UnknownBatch(SoapFault):
    """This account has no batch of that reference."""


class InternalError(SoapFault):
    """The server failed (its log says why); the request may be tried again."""


class PuzzelFault(SoapFault):
    """A fault of Puzzel's interfaces: `code` is Puzzel's status code (None when the fault carried none)."""

    def __init__(self, text: str, fault_code: str | None = None, *, code: int | None = None) -> None:
        super().__init__(text, fault_code)
        self.code = code
