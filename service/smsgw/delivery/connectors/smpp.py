"""The SMPP 3.4 client: one SMSC bind (transceiver, or a transmitter and a receiver) behind `base.Connector`.

    smpp://system_id:password@host:2775?window=10&tps=50&bind=trx
    smpps://system_id:password@host:3550?verify=false&billing=0x401,0x402

A background task per connection connects, binds, keeps the link alive with enquire_link and reconnects with a
doubling backoff when it drops. `submit` keeps up to `window` submit_sm in flight, matched to their responses by
sequence number, paced by `tps`. What the SMSC delivers (receipts, MOs) is handed to the inbound sink in batches,
and each deliver_sm is answered only once the sink has returned, that is once the store has committed it: a crash
in between makes the SMSC deliver it again rather than lose it.

Speed: PDUs are encoded by our own codec (`smpp_pdu`), writes of a loop iteration leave in one `write`, reads take
whatever the socket has and handle every whole PDU in it, and a submit costs a dict entry, not a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from .. import smpp_pdu as pdu
from ..receipts import mo_part, normalise_id, parse_receipt
from ..wire import WireOptions
from .base import ConnectorState, Inbound, MoPart, Outcome, Part, Receipt, SubmitOutcome

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PORTS = {"smpp": 2775, "smpps": 3550}  # IANA: smpp, ssmpp
THROTTLING = frozenset({pdu.ESME_RTHROTTLED, pdu.ESME_RMSGQFUL})
DEFAULT_PERMANENT = frozenset(
    {
        pdu.ESME_RINVMSGLEN,
        pdu.ESME_RINVPRTFLG,
        pdu.ESME_RINVREGDLVFLG,
        pdu.ESME_RINVSRCADR,
        pdu.ESME_RINVDSTADR,
        pdu.ESME_RINVNUMDESTS,
        pdu.ESME_RINVESMCLASS,
        pdu.ESME_RINVSRCTON,
        pdu.ESME_RINVSRCNPI,
        pdu.ESME_RINVDSTTON,
        pdu.ESME_RINVDSTNPI,
        pdu.ESME_RINVSCHED,
        pdu.ESME_RINVEXPIRY,
        pdu.ESME_RINVOPTPARSTREAM,
        pdu.ESME_ROPTPARNOTALLWD,
        pdu.ESME_RINVPARLEN,
        pdu.ESME_RMISSINGOPTPARAM,
        pdu.ESME_RINVOPTPARAMVAL,
    }
)
"""Statuses that say this message can never pass, as sent (an address, a flag, a length, a TLV); everything else not
configured otherwise (ESME_RSYSERR, ESME_RSUBMITFAIL, unknown codes) is worth another try."""

RECEIPT_TYPES = frozenset({0x04, 0x08, 0x20})  # esm_class bits 5-2: SMSC receipt, SME ack, intermediate notification
ESM_MESSAGE_TYPE = 0x3C
THROTTLE_MAX = 30.0  # seconds: the longest pause after ESME_RTHROTTLED / ESME_RMSGQFUL
INBOUND_BATCH = 500  # deliver_sm handed to the sink in one call, at most
READ_SIZE = 65536
CLOSE_GRACE = 2.0  # seconds close() gives commits in progress, and then the unbind, at most

_BIND_COMMANDS = {"trx": pdu.BIND_TRANSCEIVER, "tx": pdu.BIND_TRANSMITTER, "rx": pdu.BIND_RECEIVER}
_BIND_RESPONSES = frozenset(command | pdu.RESPONSE for command in _BIND_COMMANDS.values())
_WIRE_OPTIONS = ("concat", "source", "validity")  # the wire module's (`wire.WireOptions`); kept, not used here
_OPTIONS = ("window", "tps", "bind", "system_type", "addr_ton", "addr_npi", "address_range", "service_type",
            "enquire_link", "timeout", "reconnect", "reconnect_max", "throttle", "verify", "billing", "permanent",
            "temporary", *_WIRE_OPTIONS)


@dataclass(frozen=True, slots=True)
class SmppSettings:
    """One SMSC account. Times are in seconds; status lists override the default classification (see `outcomes`)."""

    host: str
    port: int
    system_id: str
    password: str
    tls: bool = False
    verify: bool = True  # TLS: check the SMSC's certificate and name (false for a self-signed test SMSC)
    bind: str = "trx"  # trx: one transceiver; tx+rx: a transmitter and a receiver
    system_type: str = ""
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    service_type: str = ""  # submit_sm service_type
    window: int = 10  # submit_sm in flight at most
    tps: float = 0.0  # submit_sm per second at most; 0: no limit
    enquire_link: float = 30.0  # send enquire_link after this long without hearing from the SMSC
    timeout: float = 10.0  # for a connect, a bind, a submit_sm_resp, an enquire_link_resp
    reconnect: float = 1.0  # the first reconnect delay, doubling up to reconnect_max
    reconnect_max: float = 60.0
    throttle: float = 1.0  # the first pause after a throttling answer, doubling up to THROTTLE_MAX
    billing: frozenset[int] = frozenset()
    permanent: frozenset[int] = frozenset()
    temporary: frozenset[int] = frozenset()
    wire: Mapping[str, str] = field(default_factory=dict)  # concat, source, validity for `wire.WireOptions`

    def __post_init__(self) -> None:
        """Refuse what would fail only at the first bind."""
        for name, value, size in (("system_id", self.system_id, 16), ("password", self.password, 9),
                                  ("system_type", self.system_type, 13), ("address_range", self.address_range, 41),
                                  ("service_type", self.service_type, 6)):
            if len(value) >= size or not value.isascii():
                raise ValueError(f"SMPP {name} must be ASCII of at most {size - 1} characters")
        if self.bind not in ("trx", "tx+rx"):
            raise ValueError(f"SMPP bind must be trx or tx+rx, not {self.bind!r}")
        if not 1 <= self.window <= 10_000:
            raise ValueError("SMPP window must be 1 to 10000")
        for name in ("addr_ton", "addr_npi"):
            if not 0 <= getattr(self, name) <= 255:
                raise ValueError(f"SMPP {name} must be 0 to 255")
        if not 0 <= self.tps <= 1_000_000:
            raise ValueError("SMPP tps must be 0 (no limit) to 1000000")
        for name in ("enquire_link", "timeout", "reconnect", "reconnect_max", "throttle"):
            if not 0 < getattr(self, name) <= 3600:
                raise ValueError(f"SMPP {name} must be more than 0 and at most 3600 seconds")
        lists = {"billing": self.billing, "permanent": self.permanent, "temporary": self.temporary}
        for name, codes in lists.items():
            if pdu.ESME_ROK in codes:
                raise ValueError(f"SMPP {name}: 0 (ESME_ROK) is not a refusal")
            for other, other_codes in lists.items():
                if name < other and codes & other_codes:
                    shared = ", ".join(f"0x{code:X}" for code in sorted(codes & other_codes))
                    raise ValueError(f"SMPP status {shared} is in both {name} and {other}")

    def outcomes(self) -> dict[int, Outcome]:
        """command_status → outcome for every status that is not TEMPORARY (and not ESME_ROK)."""
        table = dict.fromkeys(THROTTLING, Outcome.THROTTLED) | dict.fromkeys(DEFAULT_PERMANENT, Outcome.PERMANENT)
        table |= dict.fromkeys(self.permanent, Outcome.PERMANENT)
        table |= dict.fromkeys(self.billing, Outcome.BILLING)
        for code in self.temporary:
            table.pop(code, None)
        return table


def parse_url(url: str) -> SmppSettings:
    """`smpp[s]://system_id:password@host[:port]?option=value&…` → settings; ValueError saying what is wrong (never
    quoting the URL, which holds the password)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"an SMPP URL starts with smpp:// or smpps://, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise ValueError("SMPP URL has no host")
    if not parts.username:
        raise ValueError("SMPP URL has no system_id (smpp://system_id:password@host:port)")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("SMPP URL has a bad port") from None
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("SMPP URL takes no path or fragment, only ?options")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    options = dict(pairs)
    repeated = sorted({key for key, _ in pairs if [k for k, _ in pairs].count(key) > 1})
    if repeated:
        raise ValueError(f"SMPP option(s) given twice: {', '.join(repeated)}")
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"unknown SMPP option(s) {', '.join(unknown)}; known: {', '.join(_OPTIONS)}")
    tls = parts.scheme == "smpps"
    if "verify" in options and not tls:
        raise ValueError("SMPP option verify applies to smpps:// only")
    try:
        return SmppSettings(
            host=parts.hostname,
            port=port,
            system_id=unquote(parts.username),
            password=unquote(parts.password or ""),
            tls=tls,
            verify=_flag("verify", options.get("verify", "true")),
            bind="tx+rx" if options.get("bind") in ("tx+rx", "tx rx") else options.get("bind", "trx"),  # + may be space
            system_type=options.get("system_type", ""),
            addr_ton=_number("addr_ton", options.get("addr_ton", "0"), int),
            addr_npi=_number("addr_npi", options.get("addr_npi", "0"), int),
            address_range=options.get("address_range", ""),
            service_type=options.get("service_type", ""),
            window=_number("window", options.get("window", "10"), int),
            tps=_number("tps", options.get("tps", "0"), float),
            enquire_link=_number("enquire_link", options.get("enquire_link", "30"), float),
            timeout=_number("timeout", options.get("timeout", "10"), float),
            reconnect=_number("reconnect", options.get("reconnect", "1"), float),
            reconnect_max=_number("reconnect_max", options.get("reconnect_max", "60"), float),
            throttle=_number("throttle", options.get("throttle", "1"), float),
            billing=_statuses("billing", options.get("billing", "")),
            permanent=_statuses("permanent", options.get("permanent", "")),
            temporary=_statuses("temporary", options.get("temporary", "")),
            wire={key: options[key] for key in _WIRE_OPTIONS if key in options},
        )
    except ValueError as error:
        raise ValueError(str(error)) from None


def _number(name: str, raw: str, kind: Callable[[str], T]) -> T:
    try:
        return kind(raw.strip())
    except ValueError:
        raise ValueError(f"SMPP option {name} must be a number, not {raw!r}") from None


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"SMPP option {name} must be true or false, not {raw!r}")
    return value in ("true", "1", "yes")


def _statuses(name: str, raw: str) -> frozenset[int]:
    """A comma list of command_status values, decimal or 0x hex."""
    codes = set()
    for item in filter(None, (word.strip().lower() for word in raw.split(","))):
        try:
            code = int(item[2:], 16) if item.startswith("0x") else int(item, 10)
        except ValueError:
            raise ValueError(f"SMPP option {name}: {item!r} is not a command_status (decimal or 0x hex)") from None
        if not 0 <= code <= 0xFFFFFFFF:
            raise ValueError(f"SMPP option {name}: {item!r} is not a 32-bit command_status")
        codes.add(code)
    return frozenset(codes)


class _LinkEnd(Exception):
    """Raised while reading to end the connection; the message says why."""


class _Batch:
    """The outcomes of one `submit` call, filled in as the answers come."""

    __slots__ = ("answered", "done", "latency", "left", "outcomes")

    def __init__(self, size: int) -> None:
        self.outcomes: list[SubmitOutcome | None] = [None] * size
        self.left = size
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.latency = 0.0  # seconds, summed over the answered submits
        self.answered = 0

    def settle(self, index: int, outcome: SubmitOutcome) -> None:
        self.outcomes[index] = outcome
        self.left -= 1
        if not self.left and not self.done.done():
            self.done.set_result(None)


_Sent = tuple[_Batch, int, float]  # the batch, the part's index in it, when it was sent (monotonic)


class _Link:
    """One connection: its role, its writes gathered per loop iteration, the submits it has in flight."""

    __slots__ = ("_loop", "_out", "bind_answer", "bind_seq", "bound", "ended", "enquired_at", "last_heard",
                 "pending", "reader", "reading", "role", "writer")
    reading: asyncio.Task[None]

    def __init__(self, role: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._loop = asyncio.get_running_loop()
        self.role = role
        self.reader = reader
        self.writer = writer
        self.bound = False
        self.bind_seq = 0
        self.bind_answer: asyncio.Future[int] = self._loop.create_future()  # the bind's command_status
        self.pending: dict[int, _Sent] = {}  # submit_sm sequence_number → where its answer goes
        self.last_heard = time.monotonic()
        self.enquired_at = 0.0  # when the last enquire_link went out
        self.ended = ""  # why the connection ended, once it has
        self._out: list[bytes] = []

    def send(self, data: bytes) -> None:
        """Queue `data`; everything queued in this loop iteration leaves in one write (one syscall)."""
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        if self._out and not self.writer.is_closing():
            self.writer.write(b"".join(self._out))
        self._out.clear()

    def close(self, abort: bool = False) -> None:
        """Close after writing what is queued (an unbind_resp, a generic_nack), or at once for a dead link."""
        if abort:
            self.writer.transport.abort()
            return
        self._flush()
        self.writer.close()


class SmppConnector:
    """An SMPP 3.4 ESME: see the module's docstring, and `SmppSettings` for the options."""

    kind = "smpp"

    def __init__(self, name: str, settings: SmppSettings) -> None:
        self.name = name
        self.settings = settings
        self.wire = WireOptions(concat=settings.wire.get("concat", "udh"),  # type: ignore[arg-type]
                                default_source=settings.wire.get("source", ""),
                                validity=settings.wire.get("validity", "relative"))  # type: ignore[arg-type]
        self._outcomes = settings.outcomes()
        self._tls = _tls_context(settings.verify) if settings.tls else None
        self._bind_body = pdu.Bind(settings.system_id, settings.password, settings.system_type, pdu.INTERFACE_VERSION,
                                   settings.addr_ton, settings.addr_npi, settings.address_range)
        self._roles = ("trx",) if settings.bind == "trx" else ("tx", "rx")
        self._links: dict[str, _Link | None] = dict.fromkeys(self._roles)
        self._sender: _Link | None = None  # the bound link that takes submit_sm
        self._sender_news: asyncio.Future[None] | None = None  # resolved when a link binds or an attempt fails
        self._sender_down = True  # not started, or waiting to reconnect: submit answers at once
        self._link_problem = "not started"  # why there is no bound link, for last_error
        self._window = asyncio.Semaphore(settings.window)
        self._interval = 1.0 / settings.tps if settings.tps else 0.0
        self._next_send = 0.0  # tps: the earliest time the next submit_sm may leave (monotonic)
        self._pause = settings.throttle
        self._paused_until = 0.0
        self._seq = 0
        self._inbound: Inbound | None = None
        self._keepers: list[asyncio.Task[None]] = []
        self._commits: set[asyncio.Task[None]] = set()
        self._closing = False
        self._closed = asyncio.Event()
        self._submitted = 0
        self._errors = 0
        self._last_error: str | None = None
        self._latency_ms: float | None = None

    @classmethod
    def from_url(cls, name: str, url: str) -> SmppConnector:
        return cls(name, parse_url(url))

    # --- the contract ----------------------------------------------------------------------------------------------

    async def start(self, inbound: Inbound) -> None:
        if self._keepers:
            raise RuntimeError(f"SMPP connector {self.name} is already started")
        self._inbound = inbound
        self._sender_down = False
        self._keepers = [asyncio.create_task(self._keep(role), name=f"smpp {self.name} {role}") for role in self._roles]

    async def submit(self, parts: Sequence[Part]) -> list[SubmitOutcome]:
        batch = _Batch(len(parts))
        service_type = self.settings.service_type
        for index, part in enumerate(parts):
            seq = self._next_seq()
            try:
                data = pdu.encode_sm(pdu.SUBMIT_SM, seq, pdu.Sm(
                    service_type, part.source_ton, part.source_npi, part.source, part.dest_ton, part.dest_npi,
                    part.destination, part.esm_class, part.protocol_id, part.priority, "", part.validity_period,
                    part.registered_delivery, 0, part.data_coding, 0, part.short_message, part.tlvs))
            except pdu.PduError as error:
                log.error("%s: message %d part %d cannot be sent: %s", self.name, part.message_id, part.seq, error)
                self._count_error(f"cannot encode submit_sm: {error}")
                batch.settle(index, SubmitOutcome(Outcome.PERMANENT, error=f"smpp:encoding: {error}"[:200]))
                continue
            link = await self._slot()
            if link is None:
                self._fail_all(batch, range(index, len(parts)), "closed" if self._closing else "not bound")
                break
            link.pending[seq] = (batch, index, time.monotonic())
            link.send(data)
        if batch.left:
            await batch.done
        if batch.answered:
            self._latency_ms = batch.latency / batch.answered * 1000
        return [outcome for outcome in batch.outcomes if outcome is not None]

    def state(self) -> ConnectorState:
        links = [self._links[role] for role in self._roles]
        extra = {"server": f"{self.settings.host}:{self.settings.port}", "bind": self.settings.bind,
                 **{role: "bound" if link is not None and link.bound else "down" for role, link in self._links.items()}}
        if self.settings.tps:
            extra["tps"] = f"{self.settings.tps:g}"
        return ConnectorState(
            name=self.name,
            kind=self.kind,
            bound=all(link is not None and link.bound for link in links),
            window=self.settings.window,
            in_flight=sum(len(link.pending) for link in links if link is not None),
            submitted=self._submitted,
            errors=self._errors,
            last_error=self._last_error,
            latency_ms=self._latency_ms,
            extra=extra,
        )

    async def close(self) -> None:
        """Let commits in progress answer, unbind (waiting for unbind_resp a short while), disconnect."""
        if self._closing:
            return
        self._closing = True
        self._closed.set()
        self._news()  # wakes submitters waiting for a bind; they see _closing
        grace = min(self.settings.timeout, CLOSE_GRACE)
        if self._commits:
            await asyncio.wait(set(self._commits), timeout=grace)
        bound = [link for link in self._links.values() if link is not None and link.bound]
        for link in bound:
            link.send(pdu.encode(pdu.UNBIND, self._next_seq()))
        if bound:
            await asyncio.wait([link.reading for link in bound], timeout=grace)
        for keeper in self._keepers:
            keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)

    # --- sending ---------------------------------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    async def _slot(self) -> _Link | None:
        """A place in the window, after any throttling pause and within tps, on a bound link; None when there is
        no bound link (or none within the timeout, while one is being set up)."""
        await self._window.acquire()
        try:
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                await self._nap(pause)
            if self._interval:
                now = time.monotonic()
                at = max(self._next_send, now)
                self._next_send = at + self._interval
                if at > now:
                    await asyncio.sleep(at - now)
            link = self._sender or await self._await_sender()
        except BaseException:
            self._window.release()
            raise
        if link is None or not link.bound or self._closing:
            self._window.release()
            return None
        return link

    async def _await_sender(self) -> _Link | None:
        if self._closing or self._sender_down:
            return None
        if self._sender_news is None or self._sender_news.done():
            self._sender_news = asyncio.get_running_loop().create_future()
        await asyncio.wait([self._sender_news], timeout=self.settings.timeout)
        return self._sender

    def _news(self) -> None:
        """Wake the submitters waiting for a link: one is bound, or the attempt failed, or we are closing."""
        if self._sender_news is not None and not self._sender_news.done():
            self._sender_news.set_result(None)

    async def _nap(self, seconds: float) -> None:
        """Sleep, but wake up when the connector closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)

    def _answered(self, link: _Link, header: pdu.Header, body: bytes) -> None:
        """A submit_sm_resp, or a generic_nack to a submit_sm."""
        sent = link.pending.pop(header.sequence_number, None)
        if sent is None:
            log.info("%s: %s for sequence %d, which is not in flight (answered after its timeout?)", self.name,
                     pdu.COMMAND_NAMES[header.command_id], header.sequence_number)
            return
        self._window.release()
        batch, index, sent_at = sent
        batch.latency += time.monotonic() - sent_at
        batch.answered += 1
        status = header.command_status
        if header.command_id == pdu.SUBMIT_SM_RESP and status == pdu.ESME_ROK:
            self._submitted += 1
            self._pause = self.settings.throttle
            batch.settle(index, SubmitOutcome(Outcome.ACCEPTED, normalise_id(pdu.decode_message_id(body)) or None,
                                              status))
            return
        if header.command_id == pdu.GENERIC_NACK:
            outcome = Outcome.TEMPORARY
            self._count_error(f"generic_nack {pdu.status_name(status)} to submit_sm")
        else:
            outcome = self._outcomes.get(status, Outcome.TEMPORARY)
            self._count_error(f"submit_sm_resp {pdu.status_name(status)}")
        if outcome is Outcome.THROTTLED:
            self._throttled()
        batch.settle(index, SubmitOutcome(outcome, None, status, f"smpp:0x{status:08x}"))

    def _throttled(self) -> None:
        """Pause sending, longer each time the SMSC throttles us again (one pause for a window refused at once)."""
        now = time.monotonic()
        if now >= self._paused_until:
            log.warning("%s: throttled by the SMSC; pausing %.1f s", self.name, self._pause)
            self._paused_until = now + self._pause
            self._pause = min(self._pause * 2, THROTTLE_MAX)

    def _expire(self, link: _Link, now: float) -> None:
        """Answer TEMPORARY for every submit_sm unanswered for longer than the timeout (the oldest come first)."""
        cutoff = now - self.settings.timeout
        pending = link.pending
        while pending:
            seq = next(iter(pending))
            batch, index, sent_at = pending[seq]
            if sent_at > cutoff:
                return
            del pending[seq]
            self._window.release()
            self._count_error(f"no submit_sm_resp within {self.settings.timeout:g} s")
            batch.settle(index, SubmitOutcome(Outcome.TEMPORARY, error="smpp:timeout"))

    def _fail_all(self, batch: _Batch, indexes: Sequence[int], why: str) -> None:
        if indexes:
            self._count_error(f"submit: {why} ({self._link_problem})")
        for index in indexes:
            batch.settle(index, SubmitOutcome(Outcome.TEMPORARY, error=f"smpp:{why}"))

    def _count_error(self, text: str) -> None:
        self._errors += 1
        self._last_error = text

    # --- the connections -------------------------------------------------------------------------------------------

    async def _keep(self, role: str) -> None:
        """Keep one link up for as long as the connector runs, reconnecting with a doubling backoff."""
        delay = self.settings.reconnect
        while not self._closing:
            try:
                was_bound = await self._session(role)
            except Exception:
                log.exception("%s: the %s link failed unexpectedly", self.name, role)
                was_bound = False
            if self._closing:
                return
            if was_bound:
                delay = self.settings.reconnect
            if role != "rx":
                self._sender_down = True  # until the next attempt: submit answers at once meanwhile
                self._news()
            log.info("%s: reconnecting the %s link in %.1f s", self.name, role, delay)
            await self._nap(delay)
            if role != "rx":
                self._sender_down = False
            delay = min(delay * 2, self.settings.reconnect_max)

    async def _session(self, role: str) -> bool:
        """One connection: connect, bind, serve until it ends. True when it got bound."""
        settings = self.settings
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(settings.host, settings.port, ssl=self._tls,
                                        server_hostname=settings.host if self._tls else None),
                settings.timeout)
        except (OSError, TimeoutError) as error:
            reason = f"cannot connect to {settings.host}:{settings.port}: {error or type(error).__name__}"
            log.warning("%s: %s", self.name, reason)
            self._count_error(reason)
            self._link_problem = reason
            return False
        link = _Link(role, reader, writer)
        link.reading = asyncio.create_task(self._read(link), name=f"smpp {self.name} {role} reader")
        try:
            refusal = await self._bind(link)
            if refusal is not None:
                log.error("%s: %s", self.name, refusal)
                self._count_error(refusal)
                self._link_problem = refusal
                return False
            link.bound = True
            self._links[role] = link
            if role != "rx":
                self._sender = link
                self._news()
            log.info("%s: bound (%s) to %s:%d", self.name, role, settings.host, settings.port)
            await self._watch(link)
            return True
        finally:
            link.ended = link.ended or ("closed" if self._closing else "ended")
            link.close()
            if not link.reading.done():
                link.reading.cancel()
            await asyncio.wait([link.reading])

    async def _bind(self, link: _Link) -> str | None:
        """Bind; None when bound, else why not."""
        command = _BIND_COMMANDS[link.role]
        name = pdu.COMMAND_NAMES[command]
        link.bind_seq = self._next_seq()
        link.send(pdu.encode_bind(command, link.bind_seq, self._bind_body))
        either: list[asyncio.Future[Any]] = [link.bind_answer, link.reading]
        await asyncio.wait(either, timeout=self.settings.timeout, return_when=asyncio.FIRST_COMPLETED)
        if link.bind_answer.done():
            status = link.bind_answer.result()
            return None if status == pdu.ESME_ROK else f"{name} refused: {pdu.status_name(status)}"
        if link.reading.done():
            return f"{name} failed: {link.ended}"
        return f"no {name}_resp within {self.settings.timeout:g} s"

    async def _watch(self, link: _Link) -> None:
        """Until the link ends: expire unanswered submits, and after a silence ask with enquire_link whether the SMSC
        is still there (an unanswered one ends the link)."""
        settings = self.settings
        tick = min(1.0, settings.timeout / 4, settings.enquire_link / 4)
        while True:
            done, _ = await asyncio.wait([link.reading], timeout=tick)
            if done:
                return
            now = time.monotonic()
            self._expire(link, now)
            if link.enquired_at > link.last_heard:
                if now - link.enquired_at > settings.timeout:
                    link.ended = f"no enquire_link_resp within {settings.timeout:g} s"
                    link.close(abort=True)
            elif now - link.last_heard >= settings.enquire_link:
                link.enquired_at = now
                link.send(pdu.encode(pdu.ENQUIRE_LINK, self._next_seq()))

    def _lost(self, link: _Link) -> None:
        """The link has ended: nothing more goes on it, and what it had in flight answers TEMPORARY."""
        was_bound, link.bound = link.bound, False
        if self._links.get(link.role) is link:
            self._links[link.role] = None
        if link.role != "rx":
            self._sender_down = True  # until the keeper tries again: submit answers at once meanwhile
        if self._sender is link:
            self._sender = None
        if was_bound and not self._closing:
            log.warning("%s: the %s link ended: %s", self.name, link.role, link.ended)
            self._count_error(f"link ended: {link.ended}")
            self._link_problem = f"link ended: {link.ended}"
        why = "closed" if self._closing else "connection lost"
        for batch, index, _ in link.pending.values():
            self._window.release()
            batch.settle(index, SubmitOutcome(Outcome.TEMPORARY, error=f"smpp:{why}"))
        link.pending.clear()

    # --- reading ---------------------------------------------------------------------------------------------------

    async def _read(self, link: _Link) -> None:
        """Read whatever the socket has and handle every whole PDU in it, until the connection ends."""
        buffer = b""
        reason = "closed"
        try:
            while True:
                data = await link.reader.read(READ_SIZE)
                if not data:
                    reason = "closed by the SMSC"
                    break
                link.last_heard = time.monotonic()
                buffer = buffer + data if buffer else data
                buffer = buffer[self._handle_all(link, buffer) :]
        except _LinkEnd as end:
            reason = str(end)
        except OSError as error:
            reason = f"read failed: {error or type(error).__name__}"
        except Exception:
            log.exception("%s: reading the %s link failed", self.name, link.role)
            reason = "internal error"
        finally:
            link.ended = link.ended or reason
            self._lost(link)

    def _handle_all(self, link: _Link, buffer: bytes) -> int:
        """Handle the whole PDUs at the start of `buffer`; how many octets they took. The deliver_sm among them go to
        the sink together, in one batch."""
        delivered: list[tuple[int, Receipt | MoPart]] = []
        offset, size = 0, len(buffer)
        try:
            while size - offset >= pdu.HEADER_LENGTH:
                try:
                    header = pdu.decode_header(buffer, offset)
                except pdu.PduError as error:
                    # We cannot find where the next PDU starts: SMPP says generic_nack, and we start afresh.
                    sequence = pdu.HEADER.unpack_from(buffer, offset)[3]
                    link.send(pdu.encode(pdu.GENERIC_NACK, sequence, command_status=pdu.ESME_RINVCMDLEN))
                    log.error("%s: garbage from the SMSC (%s): %s", self.name, error, buffer[offset:offset + 64].hex())
                    raise _LinkEnd(f"garbage from the SMSC: {error}") from None
                end = offset + header.command_length
                if end > size:
                    break
                self._handle(link, header, buffer[offset + pdu.HEADER_LENGTH : end], delivered)
                offset = end
        finally:
            if delivered:
                self._commit_later(link, delivered)
        return offset

    def _handle(self, link: _Link, header: pdu.Header, body: bytes, delivered: list[tuple[int, Receipt | MoPart]]
                ) -> None:
        command, seq = header.command_id, header.sequence_number
        if command == pdu.SUBMIT_SM_RESP:
            self._answered(link, header, body)
        elif command == pdu.DELIVER_SM:
            self._delivered(link, seq, body, delivered)
        elif command == pdu.ENQUIRE_LINK:
            link.send(pdu.encode(pdu.ENQUIRE_LINK_RESP, seq))
        elif command == pdu.GENERIC_NACK:
            self._nacked(link, header, body)
        elif command in _BIND_RESPONSES and seq == link.bind_seq and not link.bind_answer.done():
            link.bind_answer.set_result(header.command_status)
        elif command == pdu.UNBIND:
            link.send(pdu.encode(pdu.UNBIND_RESP, seq))
            raise _LinkEnd("unbound by the SMSC")
        elif command == pdu.UNBIND_RESP:
            raise _LinkEnd("unbound")
        elif command & pdu.RESPONSE or command in (pdu.ALERT_NOTIFICATION, pdu.OUTBIND):
            log.debug("%s: ignored %s", self.name, pdu.COMMAND_NAMES.get(command, f"command 0x{command:08X}"))
        else:
            log.warning("%s: the SMSC sent command 0x%08X, which we do not know; generic_nack", self.name, command)
            link.send(pdu.encode(pdu.GENERIC_NACK, seq, command_status=pdu.ESME_RINVCMDID))

    def _nacked(self, link: _Link, header: pdu.Header, body: bytes) -> None:
        seq = header.sequence_number
        if seq in link.pending:
            self._answered(link, header, body)
        elif seq == link.bind_seq and not link.bind_answer.done():
            link.bind_answer.set_result(header.command_status)
        else:
            log.warning("%s: generic_nack %s for sequence %d", self.name, pdu.status_name(header.command_status), seq)

    def _delivered(self, link: _Link, seq: int, body: bytes, delivered: list[tuple[int, Receipt | MoPart]]) -> None:
        """A deliver_sm: a receipt or an MO for the batch, else answered at once."""
        try:
            sm = pdu.decode_sm(body)
        except pdu.PduError as error:
            # Its fields do not fit its command_length: SMPP answers that with generic_nack ESME_RINVCMDLEN.
            log.error("%s: undecodable deliver_sm (%s): %s", self.name, error, body[:300].hex())
            link.send(pdu.encode(pdu.GENERIC_NACK, seq, command_status=pdu.ESME_RINVCMDLEN))
            return
        tlvs = dict(sm.tlvs)
        item: Receipt | MoPart | None
        try:
            if sm.esm_class & ESM_MESSAGE_TYPE in RECEIPT_TYPES or pdu.TLV_RECEIPTED_MESSAGE_ID in tlvs:
                item = parse_receipt(sm.short_message, tlvs, self.name)
            else:
                item = mo_part(sm.source_addr, sm.destination_addr, sm.esm_class, sm.data_coding, sm.short_message,
                               tlvs, self.name)
        except Exception:
            log.exception("%s: reading a deliver_sm failed: %s", self.name, body[:300].hex())
            item = None
        if item is None:
            # Acknowledged, not refused: an SMSC redelivers what we refuse, and this receipt would never read
            # better, so refusing it would only bring it back forever.
            log.warning("%s: unreadable receipt acknowledged and dropped: %r", self.name, sm.short_message[:200])
            link.send(pdu.encode_message_id_resp(pdu.DELIVER_SM_RESP, seq, pdu.ESME_ROK))
            return
        delivered.append((seq, item))

    def _commit_later(self, link: _Link, delivered: list[tuple[int, Receipt | MoPart]]) -> None:
        """Hand deliver_sm to the sink without holding up the reading (one task per batch, not per PDU)."""
        for start in range(0, len(delivered), INBOUND_BATCH):
            task = asyncio.create_task(self._commit(link, delivered[start : start + INBOUND_BATCH]))
            self._commits.add(task)
            task.add_done_callback(self._commits.discard)

    async def _commit(self, link: _Link, delivered: list[tuple[int, Receipt | MoPart]]) -> None:
        inbound = self._inbound
        assert inbound is not None  # links run only after start()
        receipts = [(seq, item) for seq, item in delivered if isinstance(item, Receipt)]
        mos = [(seq, item) for seq, item in delivered if isinstance(item, MoPart)]
        if receipts:
            await self._hand_over(link, receipts, inbound.receipts)
        if mos:
            await self._hand_over(link, mos, inbound.mo_parts)

    async def _hand_over(self, link: _Link, items: list[tuple[int, T]], sink: Callable[[list[T]], Awaitable[None]]
                         ) -> None:
        """Give `items` to the sink; answer their deliver_sm only once it returned: ESME_ROK, or ESME_RX_T_APPN
        (temporary application error) when it raised, so that the SMSC delivers them again later."""
        try:
            await sink([item for _, item in items])
            status = pdu.ESME_ROK
        except Exception as error:
            log.warning("%s: %d deliver_sm not stored, the SMSC will redeliver: %r", self.name, len(items), error)
            self._count_error(f"inbound sink: {error!r}"[:200])
            status = pdu.ESME_RX_T_APPN
        for seq, _ in items:
            link.send(pdu.encode_message_id_resp(pdu.DELIVER_SM_RESP, seq, status))


def _tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
