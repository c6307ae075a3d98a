"""The SMSC peer of ``bench/smpp_vs_kannel.sh``: an SMPP 3.4 server that takes every submit_sm and sends a delivery
receipt back for each one that asks for it, counting and timing both.

    .venv/bin/python bench/smpp_peer.py --port 2775 --stats /tmp/peer.json [--host 127.0.0.1]
        [--system-id bench --password bench] [--engine asyncio|smpp34] [--receipt-window 10] [--receipt-delay 0.1]

Every submit_sm is accepted with a fresh message id, a decimal counter from 1 (so receipts match whether the ESME
reads the id as text or as a decimal number). When its registered_delivery asks for a receipt on success
(``registered_delivery & 3 == 1``), a deliver_sm goes back: esm_class 0x04, the text
``id:<id> sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:<20 chars>``, and
the TLVs receipted_message_id and message_state (2 = DELIVERED). It goes to the session the submit_sm came from when
that one can receive (a transceiver), else to a receiver bound with the same system_id, as SMSCs do. Receipts go out
concurrently: up to ``--receipt-window`` deliver_sm per session wait for their deliver_sm_resp at once (an SMSC's
outbound window), and none leaves sooner than ``--receipt-delay`` seconds after its submit_sm.

Two engines speak the protocol, with the same behaviour and counters:

* ``asyncio`` (the default): a plain asyncio protocol in this file (binds, submit_sm, deliver_sm and their
  responses, enquire_link, unbind, generic_nack). About 40 µs of CPU per message with its receipt.
* ``smpp34``: the Rust/tokio ``smpp34.Server``. Every event crosses from a tokio thread into the asyncio loop, and
  with the GIL handed over for each one it measured here at about 2-3.5k messages/s with receipts (200-500 µs of
  CPU each): too slow to be the SMSC of a gateway that drains 10k/s. smpp34 also writes a deliver_sm and an earlier
  submit_sm_resp from different tasks, so without the receipt delay some receipts reach the ESME before the id they
  are about. Its Python API does not show a bind's password: only the system_id is checked.

A bind is accepted when its system_id (and, with the asyncio engine, its password) matches ``--system-id`` and
``--password`` (any when not given). Counters (JSON, one object) are written to ``--stats`` (atomically, by rename)
every 0.25 s and on SIGTERM/SIGINT, after which the peer exits. Times are epoch seconds (time.time())::

    binds, binds_refused, unbinds, bound     sessions bound, refused, ended; bound now
    submit_sm, first_submit, last_submit     submit_sm accepted; when the first and the last arrived
    submit_sm_refused                        submit_sm answered with an error (not bound, malformed)
    receipts_requested                       submit_sm that asked for a receipt
    receipts_sent, first_receipt             deliver_sm receipts sent; when the first one was sent
    receipts_acked, last_ack                 answered with ESME_ROK; when the last such answer came
    receipts_nacked, receipts_failed         answered with an error status; lost (session gone, smpp34 error)
    receipts_queued                          waiting to be sent (no session that can receive them, or not due)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

ESME_ROK = 0x00
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER = 0x01, 0x02, 0x09
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK, GENERIC_NACK = 0x04, 0x05, 0x06, 0x15, 0x80000000
RESP = 0x80000000
TLV_RECEIPTED_MESSAGE_ID, TLV_MESSAGE_STATE = 0x001E, 0x0427
HEADER = struct.Struct(">IIII")
MAX_PDU = 64 * 1024


@dataclass
class Stats:
    binds: int = 0
    binds_refused: int = 0
    unbinds: int = 0
    bound: int = 0
    submit_sm: int = 0
    first_submit: float | None = None
    last_submit: float | None = None
    submit_sm_refused: int = 0
    receipts_requested: int = 0
    receipts_sent: int = 0
    first_receipt: float | None = None
    receipts_acked: int = 0
    last_ack: float | None = None
    receipts_nacked: int = 0
    receipts_failed: int = 0
    receipts_queued: int = 0
    system_ids: list[str] = field(default_factory=list)
    engine: str = ""
    started: float = field(default_factory=time.time)
    updated: float = 0.0


@dataclass(frozen=True, slots=True)
class Receipt:
    """One receipt owed: the message id and the submit_sm's addresses (the receipt swaps them)."""

    message_id: str
    destination: str  # the submit_sm's destination_addr: the receipt's source_addr
    dest_ton: int
    dest_npi: int
    source: str  # the submit_sm's source_addr: the receipt's destination_addr
    source_ton: int
    source_npi: int
    head: bytes  # the first 20 octets of the short message
    submitted: float

    def text(self, now: float) -> bytes:
        submit_date = time.strftime("%y%m%d%H%M", time.localtime(self.submitted))
        done_date = time.strftime("%y%m%d%H%M", time.localtime(now))
        return (f"id:{self.message_id} sub:001 dlvrd:001 submit date:{submit_date} done date:{done_date} "
                "stat:DELIVRD err:000 text:").encode("ascii") + self.head


class Peer:
    """What both engines share: the counters, message ids, and the receipts owed per system_id."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats = Stats(engine=args.engine)
        self.counter = 0
        self.owed: dict[str, collections.deque[Receipt]] = collections.defaultdict(collections.deque)
        self.receivers: dict[str, list[Any]] = collections.defaultdict(list)  # sessions that can take receipts

    def bind_allowed(self, system_id: str, password: str | None) -> bool:
        args = self.args
        return (args.system_id is None or system_id == args.system_id) and (
            password is None or args.password is None or password == args.password)

    def bound(self, system_id: str) -> None:
        self.stats.binds += 1
        self.stats.bound += 1
        if system_id not in self.stats.system_ids:
            self.stats.system_ids.append(system_id)

    def unbound(self) -> None:
        self.stats.unbinds += 1
        self.stats.bound -= 1

    def submitted(self) -> tuple[str, float]:
        """A new message id for an accepted submit_sm, and the time it came."""
        self.counter += 1
        now = time.time()
        stats = self.stats
        if stats.first_submit is None:
            stats.first_submit = now
        stats.last_submit = now
        stats.submit_sm += 1
        return str(self.counter), now

    def queued(self) -> int:
        return sum(len(q) for q in self.owed.values())

    def write_stats(self) -> None:
        stats = self.stats
        stats.updated = time.time()
        stats.receipts_queued = self.queued()
        tmp = f"{self.args.stats}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(asdict(stats), handle)
            handle.write("\n")
        os.replace(tmp, self.args.stats)


# --- the asyncio engine -------------------------------------------------------------------------------------------


def _cstr(value: str) -> bytes:
    return value.encode("latin-1") + b"\0"


def _pdu(command: int, sequence: int, body: bytes = b"", status: int = ESME_ROK) -> bytes:
    return HEADER.pack(16 + len(body), command, status, sequence) + body


def _parse_bind(body: bytes) -> tuple[str, str]:
    end = body.index(0)
    system_id = body[:end].decode("latin-1")
    password = body[end + 1:body.index(0, end + 1)].decode("latin-1")
    return system_id, password


def _parse_submit(body: bytes, peer: Peer) -> tuple[str, Receipt | None]:
    """Accepts a submit_sm: its message id, and the receipt owed for it (None when it asks for none on success)."""
    i = body.index(0) + 1  # service_type
    source_ton, source_npi = body[i], body[i + 1]
    end = body.index(0, i + 2)
    source = body[i + 2:end].decode("latin-1")
    i = end + 1
    dest_ton, dest_npi = body[i], body[i + 1]
    end = body.index(0, i + 2)
    destination = body[i + 2:end].decode("latin-1")
    i = body.index(0, end + 4) + 1  # esm_class, protocol_id, priority_flag, schedule_delivery_time
    i = body.index(0, i) + 1  # validity_period
    registered = body[i]
    length = body[i + 4]  # after replace_if_present_flag, data_coding, sm_default_msg_id: sm_length
    head = body[i + 5:i + 5 + min(length, 20)]
    message_id, now = peer.submitted()
    if registered & 3 != 1:
        return message_id, None
    return message_id, Receipt(message_id, destination, dest_ton, dest_npi, source, source_ton, source_npi, head, now)


class EsmeSession(asyncio.Protocol):
    """One ESME connection (asyncio engine)."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.buffer = b""
        self.system_id: str | None = None
        self.receives = False
        self.transmits = False
        self.sequence = 0
        self.in_flight: dict[int, None] = {}
        self.window = peer.args.receipt_window
        self.delay = peer.args.receipt_delay
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.system_id is not None:
            self.peer.unbound()
            if self.receives:
                self.peer.receivers[self.system_id].remove(self)
                self.peer.stats.receipts_failed += len(self.in_flight)
                self.in_flight.clear()
                for other in self.peer.receivers[self.system_id]:
                    other.pump()
            self.system_id = None
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        pos, out, size = 0, [], len(buffer)
        pumped = False
        while size - pos >= 16:
            length, command, status, sequence = HEADER.unpack_from(buffer, pos)
            if length < 16 or length > MAX_PDU:
                assert self.transport is not None
                self.transport.write(_pdu(GENERIC_NACK, sequence, status=ESME_RINVCMDLEN))
                self.transport.close()
                return
            if size - pos < length:
                break
            body = buffer[pos + 16:pos + length]
            pos += length
            if command == SUBMIT_SM:
                out.append(self.submit_sm(sequence, body))
            elif command == DELIVER_SM | RESP:
                if self.in_flight.pop(sequence, 0) is None:
                    stats = self.peer.stats
                    if status == ESME_ROK:
                        stats.receipts_acked += 1
                        stats.last_ack = time.time()
                    else:
                        stats.receipts_nacked += 1
                    pumped = True
            elif command == ENQUIRE_LINK:
                out.append(_pdu(ENQUIRE_LINK | RESP, sequence))
            elif command in (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER):
                out.append(self.bind(command, sequence, body))
            elif command == UNBIND:
                out.append(_pdu(UNBIND | RESP, sequence))
                assert self.transport is not None
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            elif not command & RESP:
                out.append(_pdu(GENERIC_NACK, sequence, status=ESME_RINVCMDID))
        self.buffer = buffer[pos:]
        if out:
            assert self.transport is not None
            self.transport.write(b"".join(out))
        if pumped:
            self.pump()

    def bind(self, command: int, sequence: int, body: bytes) -> bytes:
        try:
            system_id, password = _parse_bind(body)
        except (ValueError, IndexError):
            self.peer.stats.binds_refused += 1
            return _pdu(command | RESP, sequence, _cstr("PEER"), ESME_RINVCMDLEN)
        if self.system_id is not None:
            return _pdu(command | RESP, sequence, _cstr("PEER"), ESME_RALYBND)
        if not self.peer.bind_allowed(system_id, password):
            self.peer.stats.binds_refused += 1
            status = ESME_RINVSYSID if self.peer.args.system_id not in (None, system_id) else ESME_RINVPASWD
            return _pdu(command | RESP, sequence, _cstr("PEER"), status)
        self.system_id = system_id
        self.receives = command in (BIND_RECEIVER, BIND_TRANSCEIVER)
        self.transmits = command in (BIND_TRANSMITTER, BIND_TRANSCEIVER)
        self.peer.bound(system_id)
        if self.receives:
            self.peer.receivers[system_id].append(self)
            asyncio.get_running_loop().call_soon(self.pump)
        return _pdu(command | RESP, sequence, _cstr("PEER"))

    def submit_sm(self, sequence: int, body: bytes) -> bytes:
        if not self.transmits or self.system_id is None:
            self.peer.stats.submit_sm_refused += 1
            return _pdu(SUBMIT_SM | RESP, sequence, b"\0", ESME_RINVBNDSTS)
        try:
            message_id, receipt = _parse_submit(body, self.peer)
        except (ValueError, IndexError):
            self.peer.stats.submit_sm_refused += 1
            return _pdu(SUBMIT_SM | RESP, sequence, b"\0", ESME_RSYSERR)
        if receipt is not None:
            self.peer.stats.receipts_requested += 1
            owed = self.peer.owed[self.system_id]
            owed.append(receipt)
            if len(owed) == 1:  # it was empty: the sessions that can send it may be idle
                targets = [self] if self.receives else self.peer.receivers[self.system_id]
                loop = asyncio.get_running_loop()
                for target in targets:
                    if target.timer is None:
                        target.timer = loop.call_later(self.delay, target.pump)
        return _pdu(SUBMIT_SM | RESP, sequence, _cstr(message_id))

    def pump(self) -> None:
        """Send the receipts that are due, as many as the window allows, in one write."""
        self.timer = None
        if self.system_id is None or not self.receives or self.transport is None:
            return
        owed, in_flight, stats = self.peer.owed[self.system_id], self.in_flight, self.peer.stats
        now = time.time()
        due = now - self.delay
        out = []
        while owed and len(in_flight) < self.window and owed[0].submitted <= due:
            receipt = owed.popleft()
            self.sequence = self.sequence % 0x7FFFFFFF + 1
            in_flight[self.sequence] = None
            out.append(_pdu(DELIVER_SM, self.sequence, self.deliver_body(receipt, now)))
        if out:
            if stats.first_receipt is None:
                stats.first_receipt = now
            stats.receipts_sent += len(out)
            self.transport.write(b"".join(out))
        if owed and len(in_flight) < self.window:  # the next one is not due yet
            self.timer = asyncio.get_running_loop().call_later(max(owed[0].submitted - due, 0.001), self.pump)

    @staticmethod
    def deliver_body(receipt: Receipt, now: float) -> bytes:
        text = receipt.text(now)[:254]
        message_id = _cstr(receipt.message_id)
        return b"".join((
            b"\0", bytes((receipt.dest_ton, receipt.dest_npi)), _cstr(receipt.destination),
            bytes((receipt.source_ton, receipt.source_npi)), _cstr(receipt.source),
            b"\x04\x00\x00\0\0\x00\x00\x00\x00", bytes((len(text),)), text,
            struct.pack(">HH", TLV_RECEIPTED_MESSAGE_ID, len(message_id)), message_id,
            struct.pack(">HHB", TLV_MESSAGE_STATE, 1, 2),
        ))


async def serve_asyncio(peer: Peer) -> Callable[[], Any]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: EsmeSession(peer), peer.args.host, peer.args.port)

    async def close() -> None:
        server.close()
        for sessions in peer.receivers.values():
            for session in list(sessions):
                if session.transport is not None:
                    session.transport.close()

    return close


# --- the smpp34 engine --------------------------------------------------------------------------------------------


async def serve_smpp34(peer: Peer) -> Callable[[], Any]:
    import smpp34

    args, stats = peer.args, peer.stats
    server = smpp34.Server(args.host, args.port, system_id="PEER")
    await server.start()
    esmes: dict[str, Any] = {}  # session id -> Esme
    wakeups: dict[str, asyncio.Event] = collections.defaultdict(asyncio.Event)  # per system_id: receipts owed
    senders: dict[str, list[asyncio.Task[None]]] = {}
    background: set[asyncio.Task[Any]] = set()

    async def send(esme: Any, system_id: str) -> None:
        owed, wakeup, deliver = peer.owed[system_id], wakeups[system_id], esme.deliver_sm
        while True:
            if not owed:
                wakeup.clear()
                await wakeup.wait()
                continue
            receipt = owed.popleft()
            now = time.time()
            if now < receipt.submitted + args.receipt_delay:
                await asyncio.sleep(receipt.submitted + args.receipt_delay - now)
                now = time.time()
            if stats.first_receipt is None:
                stats.first_receipt = now
            stats.receipts_sent += 1
            try:
                resp = await deliver(
                    receipt.source, receipt.text(now), source_addr=receipt.destination,
                    source_addr_ton=receipt.dest_ton, source_addr_npi=receipt.dest_npi,
                    dest_addr_ton=receipt.source_ton, dest_addr_npi=receipt.source_npi, esm_class=0x04,
                    tlvs=[smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, receipt.message_id.encode("ascii") + b"\0"),
                          smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, b"\x02")])
            except asyncio.CancelledError:
                raise
            except Exception:
                stats.receipts_failed += 1
                continue
            if resp.is_success:
                stats.receipts_acked += 1
                stats.last_ack = time.time()
            else:
                stats.receipts_nacked += 1

    def spawn(coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        background.add(task)
        task.add_done_callback(background.discard)
        return task

    async def events() -> None:
        submit_event, esme_type, nxt = smpp34.SubmitSmEvent, smpp34.Esme, server.next
        while True:
            event: Any = await nxt()
            if type(event) is submit_event:
                message_id, now = peer.submitted()
                event.accept(message_id)
                if event.registered_delivery & 3 == 1:
                    stats.receipts_requested += 1
                    esme = esmes.get(event.session_id)
                    system_id = esme.system_id if esme is not None else args.system_id or ""
                    peer.owed[system_id].append(Receipt(
                        message_id, event.destination_addr, event.dest_addr_ton, event.dest_addr_npi,
                        event.source_addr, event.source_addr_ton, event.source_addr_npi,
                        event.short_message[:20], now))
                    wakeups[system_id].set()
            elif type(event) is esme_type:
                if not peer.bind_allowed(event.system_id, None):
                    stats.binds_refused += 1
                    spawn(event.unbind())
                    continue
                peer.bound(event.system_id)
                esmes[event.session_id] = event
                if event.can_receive:
                    senders[event.session_id] = [spawn(send(event, event.system_id))
                                                 for _ in range(args.receipt_window)]
            else:  # Unbound
                if esmes.pop(event.session_id, None) is not None:
                    peer.unbound()
                for task in senders.pop(event.session_id, []):
                    task.cancel()

    # Several tasks wait on server.next() at once: each event is a hand-over from a tokio thread, and with one
    # waiter at a time those hand-overs run one after another.
    consumers = [spawn(events()) for _ in range(16)]

    async def close() -> None:
        for task in [*consumers, *background]:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.stop(), 2)

    return close


# --- main ---------------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    peer = Peer(args)
    close = await (serve_asyncio(peer) if args.engine == "asyncio" else serve_smpp34(peer))
    print(f"smpp_peer: {args.engine} engine listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        peer.write_stats()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)
    peer.write_stats()
    print(f"smpp_peer: {json.dumps(asdict(peer.stats))}", file=sys.stderr, flush=True)
    await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--system-id", help="the system_id a bind must give (default: any)")
    parser.add_argument("--password", help="the password a bind must give (default: any; not checked by smpp34)")
    parser.add_argument("--stats", required=True, help="file the counters are written to (JSON)")
    parser.add_argument("--engine", choices=("asyncio", "smpp34"), default="asyncio")
    parser.add_argument("--receipt-window", type=int, default=10, help="deliver_sm in flight per session")
    parser.add_argument("--receipt-delay", type=float, default=0.1,
                        help="seconds from a submit_sm to its receipt, at least (default 0.1)")
    args = parser.parse_args()
    if args.receipt_window < 1 or args.receipt_delay < 0:
        parser.error("--receipt-window wants a positive number, --receipt-delay one not negative")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
