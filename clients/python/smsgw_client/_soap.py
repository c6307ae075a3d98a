"""What both clients share: an HTTP session with the TLS and credential settings, the WSDL loaded once and lazily, and
zeep's and requests' exceptions turned into ours.

zeep's functions carry no annotations: what it answers is `Any` here, and read into our dataclasses at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import zeep
import zeep.exceptions
from lxml import etree

from .errors import ConnectionFailed, SoapFault, TransportError

Verify = bool | str | os.PathLike[str]
"""Whether to check the server's certificate: True against the system's CA store, a path to a CA bundle (PEM) to
check it against that instead, or False not to check it (only for tests)."""
Cert = str | os.PathLike[str] | tuple[str | os.PathLike[str], str | os.PathLike[str]]
"""The client certificate: one PEM file holding the certificate and its key, or (certificate file, key file)."""
FaultReader = Callable[[str, str | None, Any], SoapFault]
"""Makes our exception from a fault's reason, code (as sent) and detail element (or None)."""

DEFAULT_TIMEOUT = 30.0


_zeep: Any = zeep  # its functions are unannotated: calls through this are not "untyped calls in typed code"


class _Session(requests.Session):
    """A Session whose `verify`, when given, is what counts: requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE
    override a Session's own (psf/requests#3829), and zeep cannot pass `verify` with each request."""

    explicit_verify = False

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.explicit_verify and verify is None:
            settings["verify"] = self.verify
        return settings


def session(*, auth: tuple[str, str] | None, verify: Verify, cert: Cert | None) -> requests.Session:
    """A requests Session with these settings, as zeep's transport uses it."""
    made = _Session()
    made.verify = verify if isinstance(verify, bool) else os.fspath(verify)
    made.explicit_verify = verify is not True
    if isinstance(cert, tuple):
        made.cert = (os.fspath(cert[0]), os.fspath(cert[1]))
    elif cert is not None:
        made.cert = os.fspath(cert)
    if auth is not None:
        made.auth = auth
    made.headers["User-Agent"] = "smsgw-client (zeep)"
    return made


class Soap:
    """One SOAP service: the WSDL (`wsdl`, a URL or a local file) is loaded on the first call, once, and the
    binding is called at `address` (whatever address the WSDL names: behind a proxy it is often not the one the
    client must use)."""

    def __init__(self, wsdl: str | os.PathLike[str], binding: str, address: str, http: requests.Session,
                 timeout: float, read_fault: FaultReader) -> None:
        self.wsdl = wsdl if isinstance(wsdl, str) else str(Path(wsdl))
        self.binding, self.address = binding, address
        self.http, self.timeout = http, timeout
        self.read_fault = read_fault
        self._lock = threading.Lock()
        self._client: Any = None
        self._service: Any = None

    @property
    def client(self) -> Any:
        """zeep's Client, with the WSDL loaded (on first use)."""
        return self._load()[0]

    def _load(self) -> tuple[Any, Any]:
        """zeep's Client and the service proxy bound to `address`, made on first use."""
        with self._lock:
            if self._client is None:
                transport = _zeep.Transport(session=self.http, timeout=self.timeout, operation_timeout=self.timeout)
                try:
                    client = _zeep.Client(self.wsdl, transport=transport)
                    service = client.create_service(self.binding, self.address)
                except (zeep.exceptions.Error, etree.XMLSyntaxError, ValueError, KeyError) as error:
                    raise TransportError(f"the WSDL at {self.wsdl} is not usable: {_said(error)}") from None
                except requests.HTTPError as error:
                    status = error.response.status_code if error.response is not None else None
                    raise TransportError(f"the WSDL could not be loaded from {self.wsdl}: HTTP {status}",
                                         status) from None
                except requests.RequestException as error:
                    raise ConnectionFailed(f"the WSDL could not be loaded from {self.wsdl}: {_said(error)}") \
                        from None
                except OSError as error:  # a local file that is not there
                    raise TransportError(f"the WSDL could not be read from {self.wsdl}: {error}") from None
                self._client, self._service = client, service
            return self._client, self._service

    def operations(self) -> frozenset[str]:
        """The operations the WSDL's binding declares."""
        binding = self.client.wsdl.bindings[self.binding]
        return frozenset(binding._operations)

    def call(self, operation: str, **arguments: Any) -> Any:
        """The operation's answer as zeep reads it; a SOAP fault is raised as `read_fault` makes it, a transport
        failure as TransportError (ConnectionFailed when nothing answered)."""
        service = self._load()[1]
        try:
            return getattr(service, operation)(**arguments)
        except zeep.exceptions.Fault as fault:
            raise self.read_fault(str(fault.message or ""), fault.code, fault.detail) from None
        except zeep.exceptions.TransportError as error:
            raise TransportError(f"{operation}: HTTP {error.status_code} from {self.address} without a SOAP answer"
                                 f"{_excerpt(error.content)}", error.status_code) from None
        except zeep.exceptions.ValidationError as error:  # the request does not fit the WSDL: nothing was sent
            raise ValueError(f"{operation}: {error}") from None
        except zeep.exceptions.Error as error:
            raise TransportError(f"{operation}: the answer from {self.address} is not usable: {_said(error)}") \
                from None
        except requests.RequestException as error:
            raise ConnectionFailed(f"{operation}: no answer from {self.address}: {_said(error)}") from None

    def close(self) -> None:
        self.http.close()


def fault_detail(detail: Any, namespace: str | None) -> tuple[str | None, dict[str, str]]:
    """The first element in a fault's detail (in `namespace`, if given): its local name and its children's texts."""
    if detail is None:
        return None, {}
    for child in detail.iterchildren(tag=etree.Element):
        name = etree.QName(child)
        if namespace is None or name.namespace == namespace:
            fields = {etree.QName(c).localname: (c.text or "").strip() for c in child.iterchildren(tag=etree.Element)}
            return name.localname, fields
    return None, {}


def _said(error: BaseException) -> str:
    """An exception as one short sentence (requests nests the reason deep inside its messages)."""
    reason: BaseException = error
    while reason.__context__ is not None and isinstance(reason, requests.RequestException):
        reason = reason.__context__
    text = str(getattr(reason, "message", "") or reason) or type(reason).__name__
    return text if len(text) < 300 else text[:297] + "..."


def _excerpt(content: Any) -> str:
    if not content:
        return ""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    text = " ".join(text.split())
    return f": {text[:200]}"
