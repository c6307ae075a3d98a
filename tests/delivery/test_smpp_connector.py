"""The SMPP 3.4 connector against smpp34.Server, an SMSC we did not write; and our PDU codec against smpp34's.

smpp34.Server cannot do everything a test needs, so a small TCP relay (`Relay`) sits in front of it where needed:
it terminates TLS (smpp34.Server has none), drops connections (smpp34's `Server.stop()` leaves bound sessions
running, so it alone cannot make an SMSC go away), goes silent, and injects garbage toward the connector.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import smpp34
from hypothesis import given, settings
from hypothesis import strategies as st
from smsgw_testing import require

from smsgw.delivery import smpp_pdu as pdu
from smsgw.delivery.connectors.base import MoPart, Outcome, Part, Receipt
from smsgw.delivery.connectors.smpp import SmppConnector, parse_url

TEST_SECONDS = 20  # a hang fails the test instead of the run
TLV_MESSAGE_STATE = 0x0427


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(test(), TEST_SECONDS)

    asyncio.run(bounded())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(condition: Callable[[], object], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        await asyncio.sleep(0.01)


def part(n: int = 1, destination: str = "4790000001", **fields: Any) -> Part:
    values: dict[str, Any] = {
        "message_id": n, "seq": 1, "total": 1, "source": "Acme", "source_ton": 5, "source_npi": 0,
        "destination": destination, "dest_ton": 1, "dest_npi": 1, "esm_class": 0, "protocol_id": 0, "priority": 0,
        "validity_period": "", "registered_delivery": 1, "data_coding": 0, "short_message": b"hello %d" % n,
    }
    return Part(**(values | fields))


def connector(port: int, scheme: str = "smpp", **options: Any) -> SmppConnector:
    query = urlencode({"timeout": 2, "reconnect": 0.1, "reconnect_max": 0.2} | options)
    return SmppConnector.from_url("smsc1", f"{scheme}://esme:secret@127.0.0.1:{port}?{query}")


async def bound(smsc: Smsc, sink: Sink) -> SmppConnector:
    """A connector bound to `smsc`, handing what it receives to `sink`."""
    c = connector(smsc.port)
    await c.start(sink)
    await until(lambda: c.state().bound and smsc.sessions)
    return c


class Sink:
    """The inbound side, as the worker would be: records what it stored, optionally slowly or failing."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.receipts_seen: list[Receipt] = []
        self.mo_seen: list[MoPart] = []
        self.calls = 0
        self.log: list[str] = []

    async def receipts(self, receipts: Sequence[Receipt]) -> None:
        await self._store("receipts")
        self.receipts_seen += receipts

    async def mo_parts(self, parts: Sequence[MoPart]) -> None:
        await self._store("mo")
        self.mo_seen += parts

    async def _store(self, kind: str) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("database is locked")
        self.log.append(f"stored {kind}")


Answer = Callable[[smpp34.SubmitSmEvent], "str | int | None"]  # message id (accept), status (reject), None (hold)


class Smsc:
    """smpp34.Server as a test drives it: the sessions bound to it, every submit_sm, and how each is answered."""

    def __init__(self, port: int | None = None, answer: Answer | None = None) -> None:
        self.port = port or free_port()
        self.server = smpp34.Server("127.0.0.1", self.port)
        self.answer = answer or (lambda event: f"000{len(self.submits)}")
        self.sessions: list[smpp34.Esme] = []
        self.submits: list[smpp34.SubmitSmEvent] = []
        self.held: list[smpp34.SubmitSmEvent] = []
        self.most_held = 0
        self.unbound = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Smsc:
        await self.server.start()
        self._task = asyncio.create_task(self._serve())
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await self.server.stop()

    async def _serve(self) -> None:
        while True:
            event = await self.server.next()
            if isinstance(event, smpp34.Esme):
                self.sessions.append(event)
            elif isinstance(event, smpp34.SubmitSmEvent):
                self.submits.append(event)
                decision = self.answer(event)
                if decision is None:
                    self.held.append(event)
                    self.most_held = max(self.most_held, len(self.held))
                elif isinstance(decision, str):
                    event.accept(decision)
                else:
                    event.reject(decision)
            elif isinstance(event, smpp34.Unbound):
                self.unbound += 1

    def release(self) -> None:
        """Accept every held submit_sm."""
        held, self.held = self.held, []
        for event in held:
            event.accept(f"held-{event.destination_addr}")


class Relay:
    """A TCP relay in front of an SMSC that a test can cut (the SMSC gone), mute (silent toward the connector), or
    use to inject bytes toward the connector; with `tls` it terminates TLS. It taps what the connector sends."""

    def __init__(self, target: int, tls: ssl.SSLContext | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.target = target
        self.tls = tls
        self.muted = False
        self.from_connector = bytearray()
        self._server: asyncio.Server | None = None
        self._writers: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, ssl=self.tls)
        return self

    async def cut(self) -> None:
        """Stop listening and drop every connection, as a stopped SMSC would."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for client, upstream in self._writers:
            client.close()
            upstream.close()
        self._writers.clear()

    def inject(self, data: bytes) -> None:
        for client, _ in self._writers:
            client.write(data)

    def sent_pdus(self) -> list[tuple[int, int, int]]:
        """(command_id, command_status, sequence_number) of every whole PDU the connector sent."""
        found, offset, data = [], 0, bytes(self.from_connector)
        while len(data) - offset >= 16:
            length, command, status, seq = struct.unpack_from(">IIII", data, offset)
            found.append((command, status, seq))
            offset += length
        return found

    async def _relay(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            client.close()
            return
        self._writers.append((client, upstream))
        await asyncio.gather(self._pipe(client_reader, upstream, tap=True), self._pipe(upstream_reader, client),
                             return_exceptions=True)
        client.close()
        upstream.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tap: bool = False) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if tap:
                    self.from_connector += data
                if tap or not self.muted:
                    writer.write(data)
        writer.close()


# --- the codec, against smpp34's ---------------------------------------------------------------------------------


def full_sm(**fields: Any) -> pdu.Sm:
    values: dict[str, Any] = {
        "service_type": "CMT", "source_addr_ton": 5, "source_addr_npi": 0, "source_addr": "Acme",
        "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "4790000001", "esm_class": 0x40,
        "protocol_id": 0x7F, "priority_flag": 2, "schedule_delivery_time": "", "validity_period": "000001000000000R",
        "registered_delivery": 0x11, "replace_if_present_flag": 1, "data_coding": 8, "sm_default_msg_id": 3,
        "short_message": b"\x05\x00\x03\x2a\x02\x01\x00h\x00i", "tlvs": ((0x0204, b"\x00\x07"), (0x1403, b"\xaa")),
    }
    return pdu.Sm(**(values | fields))


def test_our_submit_sm_reads_the_same_in_smpp34() -> None:
    sm = full_sm()
    decoded = smpp34.decode(pdu.encode_sm(pdu.SUBMIT_SM, 77, sm))
    assert isinstance(decoded, smpp34.SubmitSm)
    assert decoded.sequence_number == 77
    for name in ("service_type", "source_addr_ton", "source_addr_npi", "source_addr", "dest_addr_ton", "dest_addr_npi",
                 "destination_addr", "esm_class", "protocol_id", "priority_flag", "schedule_delivery_time",
                 "validity_period", "registered_delivery", "replace_if_present_flag", "data_coding",
                 "sm_default_msg_id", "short_message"):
        assert getattr(decoded, name) == getattr(sm, name), name
    assert [(tlv.tag, tlv.value) for tlv in decoded.tlvs] == list(sm.tlvs)


def test_smpp34_deliver_sm_reads_the_same_in_ours() -> None:
    theirs = smpp34.DeliverSm(
        "4790000001", "2222", b"id:ABC123 stat:DELIVRD", service_type="X", source_addr_ton=1, source_addr_npi=1,
        dest_addr_ton=3, dest_addr_npi=0, esm_class=0x04, protocol_id=1, priority_flag=1, registered_delivery=0,
        data_coding=3, tlvs=[smpp34.Tlv(pdu.TLV_RECEIPTED_MESSAGE_ID, b"ABC123\x00"),
                             smpp34.Tlv(TLV_MESSAGE_STATE, b"\x02")], sequence_number=9)
    header, body = pdu.decode(theirs.encode())
    assert header == pdu.Header(len(theirs.encode()), pdu.DELIVER_SM, pdu.ESME_ROK, 9)
    sm = pdu.decode_sm(body)
    assert (sm.service_type, sm.source_addr, sm.source_addr_ton, sm.destination_addr, sm.dest_addr_ton) == \
        ("X", "4790000001", 1, "2222", 3)
    assert (sm.esm_class, sm.protocol_id, sm.priority_flag, sm.data_coding) == (0x04, 1, 1, 3)
    assert sm.short_message == b"id:ABC123 stat:DELIVRD"
    assert sm.tlvs == ((0x001E, b"ABC123\x00"), (0x0427, b"\x02"))


def test_the_other_pdus_round_trip() -> None:
    bind = pdu.Bind("esme", "secret", "VMA", 0x34, 1, 1, "^47")
    for command in (pdu.BIND_TRANSCEIVER, pdu.BIND_TRANSMITTER, pdu.BIND_RECEIVER):
        header, body = pdu.decode(pdu.encode_bind(command, 5, bind))
        assert (header.command_id, header.sequence_number, pdu.decode_bind(body)) == (command, 5, bind)
        raw = smpp34.decode(pdu.encode_bind(command, 5, bind))
        assert isinstance(raw, smpp34.RawPdu) and (raw.command_id, raw.body) == (command, body)
    header, body = pdu.decode(pdu.encode_bind_resp(pdu.BIND_TRANSCEIVER_RESP, 5, 0, "SMSC", ((0x0210, b"\x34"),)))
    assert pdu.decode_bind_resp(body) == ("SMSC", ((0x0210, b"\x34"),))
    assert pdu.decode_bind_resp(b"") == ("", ())  # a refused bind often has no body
    header, body = pdu.decode(pdu.encode_message_id_resp(pdu.SUBMIT_SM_RESP, 6, 0, "0A1b"))
    assert (header.command_id, pdu.decode_message_id(body)) == (pdu.SUBMIT_SM_RESP, "0A1b")
    header, body = pdu.decode(pdu.encode_message_id_resp(pdu.DELIVER_SM_RESP, 7, pdu.ESME_RX_T_APPN))
    assert (header.command_status, body) == (pdu.ESME_RX_T_APPN, b"\x00")
    for command in (pdu.ENQUIRE_LINK, pdu.ENQUIRE_LINK_RESP, pdu.UNBIND, pdu.UNBIND_RESP, pdu.GENERIC_NACK):
        header, body = pdu.decode(pdu.encode(command, 8, command_status=3 if command == pdu.GENERIC_NACK else 0))
        assert (header.command_length, header.command_id, body) == (16, command, b"")
        assert smpp34.decode(pdu.encode(command, 8)).command_id == command


@pytest.mark.parametrize("bad", [
    {"source_addr": "A" * 21}, {"destination_addr": "4" * 21}, {"source_addr": "Ac\x00me"},
    {"source_addr": "Zoë\u20ac"}, {"short_message": b"x" * 255}, {"validity_period": "0" * 17},
    {"esm_class": 256}, {"dest_addr_ton": -1}, {"tlvs": ((0x10000, b""),)},
])
def test_what_cannot_be_encoded_is_a_pdu_error(bad: dict[str, Any]) -> None:
    with pytest.raises(pdu.PduError):
        pdu.encode_sm(pdu.SUBMIT_SM, 1, full_sm(**bad))


@pytest.mark.parametrize("body", [
    b"", b"CMT", b"\x00\x01\x01Acme", b"\x00\x01\x01Acme\x00\x01\x01",
    pdu.encode_sm(pdu.DELIVER_SM, 1, full_sm())[16:-3],  # a TLV cut short
    pdu.encode_sm(pdu.DELIVER_SM, 1, full_sm(tlvs=()))[16:-1],  # sm_length longer than what follows
    pdu.encode_sm(pdu.DELIVER_SM, 1, full_sm(tlvs=()))[16:] + b"\x00\x1e",  # a stray half TLV header
])
def test_garbage_bodies_are_pdu_errors(body: bytes) -> None:
    with pytest.raises(pdu.PduError):
        pdu.decode_sm(body)


def test_every_truncation_of_a_pdu_is_a_pdu_error() -> None:
    whole = pdu.encode_sm(pdu.DELIVER_SM, 1, full_sm())
    for cut in range(len(whole)):
        with pytest.raises(pdu.PduError):
            pdu.decode(whole[:cut])
    for command_length in (0, 15, pdu.MAX_COMMAND_LENGTH + 1, 0xFFFFFFFF):
        with pytest.raises(pdu.PduError):
            pdu.decode_header(struct.pack(">IIII", command_length, pdu.DELIVER_SM, 0, 1))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoding_random_bytes_raises_only_pdu_error(data: bytes) -> None:
    for decode in (pdu.decode_sm, pdu.decode_bind, pdu.decode_bind_resp, pdu.decode_message_id, pdu.decode):
        with contextlib.suppress(pdu.PduError):
            decode(data)
    with contextlib.suppress(pdu.PduError):
        pdu.decode_tlvs(data, 0)


# --- URLs --------------------------------------------------------------------------------------------------------


def test_a_url_gives_every_setting() -> None:
    s = parse_url("smpps://es%40me:p%3Ass@smsc.example.net:3551?window=20&tps=50.5&bind=tx+rx&system_type=VMA"
                  "&addr_ton=1&addr_npi=1&address_range=^47&service_type=CMT&enquire_link=15&timeout=5&reconnect=2"
                  "&reconnect_max=30&throttle=0.5&verify=false&billing=0x401,1026&permanent=0x45&temporary=0x0b"
                  "&concat=sar&source=Acme&validity=absolute")
    assert (s.host, s.port, s.system_id, s.password, s.tls, s.verify, s.bind) == \
        ("smsc.example.net", 3551, "es@me", "p:ss", True, False, "tx+rx")
    assert (s.window, s.tps, s.system_type, s.addr_ton, s.addr_npi, s.address_range, s.service_type) == \
        (20, 50.5, "VMA", 1, 1, "^47", "CMT")
    assert (s.enquire_link, s.timeout, s.reconnect, s.reconnect_max, s.throttle) == (15, 5, 2, 30, 0.5)
    assert (s.billing, s.permanent, s.temporary) == (frozenset({0x401, 0x402}), frozenset({0x45}), frozenset({0x0B}))
    assert dict(s.wire) == {"concat": "sar", "source": "Acme", "validity": "absolute"}
    outcomes = s.outcomes()
    assert outcomes[0x401] is Outcome.BILLING and outcomes[0x45] is Outcome.PERMANENT
    assert 0x0B not in outcomes and outcomes[0x58] is Outcome.THROTTLED  # 0x0B configured TEMPORARY
    plain = parse_url("smpp://esme@10.0.0.1")
    assert (plain.port, plain.password, plain.tls, plain.window, plain.tps, plain.bind) == \
        (2775, "", False, 10, 0, "trx")
    assert parse_url("smpps://esme:pw@[::1]").port == 3550


@pytest.mark.parametrize(("url", "message"), [
    ("http://esme:pw@host", "smpp:// or smpps://"),
    ("smpp://esme:pw@:2775", "no host"),
    ("smpp://host:2775", "no system_id"),
    ("smpp://esme:pw@host:99999", "bad port"),
    ("smpp://esme:pw@host:27x5", "bad port"),
    ("smpp://esme:pw@host/path", "no path"),
    ("smpp://esme:pw@host?windw=5&speed=2", "unknown SMPP option(s) speed, windw"),
    ("smpp://esme:pw@host?window=5&window=6", "given twice: window"),
    ("smpp://esme:pw@host?window=0", "window must be 1 to 10000"),
    ("smpp://esme:pw@host?window=ten", "window must be a number"),
    ("smpp://esme:pw@host?tps=-1", "tps must be"),
    ("smpp://esme:pw@host?tps=nan", "tps must be"),
    ("smpp://esme:pw@host?timeout=0", "timeout must be more than 0"),
    ("smpp://esme:pw@host?bind=rx", "bind must be trx or tx+rx"),
    ("smpp://esme:pw@host?verify=false", "verify applies to smpps"),
    ("smpps://esme:pw@host?verify=maybe", "verify must be true or false"),
    ("smpp://esme:pw@host?billing=0x45,zz", "'zz' is not a command_status"),
    ("smpp://esme:pw@host?billing=0", "not a refusal"),
    ("smpp://esme:pw@host?billing=0x45&permanent=69", "0x45 is in both billing and permanent"),
    ("smpp://esme:toolongpassword@host", "password must be ASCII of at most 8"),
    ("smpp://a-system-id-too-long:pw@host", "system_id must be ASCII of at most 15"),
    ("smpp://esme:pw@host?addr_ton=256", "addr_ton must be 0 to 255"),
])
def test_a_bad_url_says_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        SmppConnector.from_url("smsc1", url)
    assert message in str(raised.value)
    assert "toolongpassword" not in str(raised.value)


# --- submitting --------------------------------------------------------------------------------------------------


def test_a_window_of_parts_reaches_the_smsc_as_sent_and_answers_in_order() -> None:
    ids = {b"hello 1": "0000123", b"\x05\x00\x03\x2a\x02\x01\x00h\x00i": " AbC-9 ", b"hello 3": "77"}

    async def test() -> None:  # smpp34 may hand over submit_sm out of order: the id follows from the message
        async with Smsc(answer=lambda event: ids.get(event.short_message, "0004")) as smsc:
            c = connector(smsc.port, window=10)
            await c.start(Sink())
            parts = [part(n) for n in range(1, 26)]
            parts[1] = part(2, "4790000002", source="4712345678", source_ton=1, source_npi=1, esm_class=0x40,
                            data_coding=8, registered_delivery=0x11, protocol_id=0x7F,
                            short_message=b"\x05\x00\x03\x2a\x02\x01\x00h\x00i",
                            tlvs=((0x020C, b"\x00\x2a"), (0x1403, b"\xaa\xbb")))
            outcomes = await c.submit(parts)
            assert [o.outcome for o in outcomes] == [Outcome.ACCEPTED] * 25
            assert [o.smsc_id for o in outcomes[:4]] == ["123", "abc-9", "77", "4"]
            assert all(o.command_status == 0 and o.error is None for o in outcomes)
            assert sorted(event.short_message for event in smsc.submits) == sorted(p.short_message for p in parts)
            seen = next(event for event in smsc.submits if event.destination_addr == "4790000002")
            assert (seen.source_addr, seen.source_addr_ton, seen.source_addr_npi) == ("4712345678", 1, 1)
            assert (seen.destination_addr, seen.dest_addr_ton, seen.dest_addr_npi) == ("4790000002", 1, 1)
            assert (seen.esm_class, seen.data_coding, seen.registered_delivery, seen.protocol_id) == \
                (0x40, 8, 0x11, 0x7F)
            assert [(tlv.tag, tlv.value) for tlv in seen.tlvs] == [(0x020C, b"\x00\x2a"), (0x1403, b"\xaa\xbb")]
            first = next(event for event in smsc.submits if event.short_message == b"hello 1")
            assert (first.source_addr, first.source_addr_ton, first.source_addr_npi, first.tlvs) == ("Acme", 5, 0, [])
            state = c.state()
            assert (state.kind, state.bound, state.window, state.in_flight, state.submitted, state.errors) == \
                ("smpp", True, 10, 0, 25, 0)
            assert state.latency_ms is not None and state.latency_ms > 0
            assert await c.submit([]) == []
            await c.close()

    run(test)


def test_no_more_than_the_window_is_in_flight() -> None:
    async def test() -> None:
        async with Smsc(answer=lambda event: None) as smsc:
            c = connector(smsc.port, window=4)
            await c.start(Sink())
            submitting = asyncio.create_task(c.submit([part(n) for n in range(12)]))
            while not submitting.done():
                await asyncio.sleep(0.05)  # let the connector fill its window, then answer all it sent
                assert c.state().in_flight <= 4
                smsc.release()
            assert [o.outcome for o in submitting.result()] == [Outcome.ACCEPTED] * 12
            assert smsc.most_held == 4
            await c.close()

    run(test)


def test_refusals_are_classified_and_throttling_pauses_sending() -> None:
    statuses = {"1": pdu.ESME_RTHROTTLED, "2": pdu.ESME_RMSGQFUL, "3": pdu.ESME_RINVDSTADR, "4": pdu.ESME_RSYSERR,
                "5": pdu.ESME_RINVCMDID, "6": pdu.ESME_RSUBMITFAIL, "7": pdu.ESME_RINVSRCADR, "8": pdu.ESME_RX_P_APPN,
                "9": pdu.ESME_RINVESMCLASS}

    def answer(event: smpp34.SubmitSmEvent) -> str | int:
        return statuses.get(event.destination_addr[-1], "42")

    async def test() -> None:
        async with Smsc(answer=answer) as smsc:
            # 0x0C as our billing code (smpp34 can send only SMPP 3.4's own statuses, not vendor ones like 0x401)
            c = connector(smsc.port, window=10, throttle=0.4, billing="0x0c,0x65", permanent="0x45",
                          temporary="0x0A")
            await c.start(Sink())
            outcomes = await c.submit([part(n, f"479000000{n}") for n in range(10)])
            assert [o.outcome for o in outcomes] == [
                Outcome.ACCEPTED, Outcome.THROTTLED, Outcome.THROTTLED, Outcome.PERMANENT, Outcome.TEMPORARY,
                Outcome.TEMPORARY, Outcome.PERMANENT, Outcome.TEMPORARY, Outcome.BILLING, Outcome.PERMANENT]
            assert [o.command_status for o in outcomes[1:]] == [statuses[str(n)] for n in range(1, 10)]
            assert outcomes[3].error == "smpp:0x0000000b" and outcomes[3].smsc_id is None
            assert c.state().errors == 9
            started = time.monotonic()
            assert (await c.submit([part(10, "4790000000")]))[0].outcome is Outcome.ACCEPTED
            assert time.monotonic() - started >= 0.3  # paused after the throttling answers
            await c.close()

    run(test)


def test_a_part_that_cannot_be_encoded_is_permanent_and_does_not_sink_the_others() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            c = connector(smsc.port)
            await c.start(Sink())
            outcomes = await c.submit([part(1), part(2, source="A-very-long-sender-name"), part(3)])
            assert [o.outcome for o in outcomes] == [Outcome.ACCEPTED, Outcome.PERMANENT, Outcome.ACCEPTED]
            assert outcomes[1].error is not None and "source_addr" in outcomes[1].error
            await c.close()

    run(test)


def test_an_unanswered_submit_times_out_temporary_and_frees_its_place() -> None:
    async def test() -> None:
        async with Smsc(answer=lambda event: None if event.destination_addr == "4790000001" else "1") as smsc:
            c = connector(smsc.port, window=1, timeout=0.4)
            await c.start(Sink())
            started = time.monotonic()
            outcomes = await c.submit([part(1, "4790000001"), part(2, "4790000002")])
            assert [(o.outcome, o.error) for o in outcomes] == [(Outcome.TEMPORARY, "smpp:timeout"),
                                                                (Outcome.ACCEPTED, None)]
            assert 0.35 < time.monotonic() - started < 2
            await c.close()

    run(test)


def test_tps_caps_the_rate() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            c = connector(smsc.port, window=10, tps=25)
            await c.start(Sink())
            await c.submit([part(0)])
            started = time.monotonic()
            outcomes = await c.submit([part(n) for n in range(1, 11)])
            elapsed = time.monotonic() - started
            assert [o.outcome for o in outcomes] == [Outcome.ACCEPTED] * 10
            assert elapsed >= 10 / 25 * 0.95  # the 11th submit_sm of this connector left 10/25 s after the 1st
            assert elapsed < 2
            await c.close()

    run(test)


# --- receipts and MOs --------------------------------------------------------------------------------------------


def test_a_receipt_is_stored_before_the_smsc_gets_its_answer() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            sink = Sink(delay=0.3)
            c = await bound(smsc, sink)
            text = b"id:0000123 sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 stat:DELIVRD err:000"
            started = time.monotonic()
            answer = await smsc.sessions[0].deliver_sm("4790", text, source_addr="4790000001", esm_class=0x04)
            sink.log.append("answered")
            assert answer.command_status == pdu.ESME_ROK
            assert time.monotonic() - started >= 0.3
            assert sink.log == ["stored receipts", "answered"]
            assert sink.receipts_seen == [Receipt("smsc1", "123", "DELIVRD", None, 1735732860000)]
            # A receipt that says so only in its TLVs (esm_class 0) is a receipt too.
            tlvs = [smpp34.Tlv(pdu.TLV_RECEIPTED_MESSAGE_ID, b"A1B2\x00"),
                    smpp34.Tlv(TLV_MESSAGE_STATE, b"\x05")]
            answer = await smsc.sessions[0].deliver_sm("4790", b"", source_addr="4790000001", tlvs=tlvs)
            assert answer.command_status == pdu.ESME_ROK
            assert sink.receipts_seen[1:] == [Receipt("smsc1", "a1b2", "UNDELIV", None, None)]
            assert sink.mo_seen == []
            await c.close()

    run(test)


def test_an_mo_reaches_mo_parts() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            sink = Sink()
            c = await bound(smsc, sink)
            session = smsc.sessions[0]
            assert (await session.deliver_sm("2222", b"hello", source_addr="4790000001")).command_status == 0
            segment = b"\x05\x00\x03\x2a\x02\x01" + b"first half"
            answer = await session.deliver_sm("2222", segment, source_addr="4790000001", esm_class=0x40, data_coding=4)
            assert answer.command_status == 0
            assert sink.mo_seen == [MoPart("smsc1", "4790000001", "2222", 0, b"hello"),
                                    MoPart("smsc1", "4790000001", "2222", 4, b"first half", (0x2A, 2, 1))]
            assert sink.receipts_seen == []
            await c.close()

    run(test)


def test_deliver_sms_arriving_together_are_stored_together_without_waiting_for_each_other() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            sink = Sink(delay=0.3)
            c = await bound(smsc, sink)
            started = time.monotonic()
            answers = await asyncio.gather(*(
                smsc.sessions[0].deliver_sm("2222", b"mo %d" % n, source_addr="4790000001") for n in range(30)))
            assert [a.command_status for a in answers] == [0] * 30
            assert sorted(mo.payload for mo in sink.mo_seen) == sorted(b"mo %d" % n for n in range(30))
            assert sink.calls < 30 / 2  # batched
            assert time.monotonic() - started < 30 * 0.3 / 2  # and the batches overlap instead of queueing
            await c.close()

    run(test)


def test_a_sink_that_fails_makes_the_smsc_deliver_again() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            c = await bound(smsc, Sink(fail=True))
            answer = await smsc.sessions[0].deliver_sm("2222", b"id:1 stat:DELIVRD", esm_class=0x04)
            assert answer.command_status == pdu.ESME_RX_T_APPN
            answer = await smsc.sessions[0].deliver_sm("2222", b"an mo")
            assert answer.command_status == pdu.ESME_RX_T_APPN
            assert "database is locked" in (c.state().last_error or "")
            await c.close()

    run(test)


def test_an_unreadable_receipt_is_acknowledged_so_it_does_not_come_back_forever() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            sink = Sink()
            c = await bound(smsc, sink)
            answer = await smsc.sessions[0].deliver_sm("2222", b"this is no receipt", esm_class=0x04)
            assert answer.command_status == pdu.ESME_ROK
            assert sink.calls == 0
            await c.close()

    run(test)


# --- the link ----------------------------------------------------------------------------------------------------


def test_it_reconnects_when_the_smsc_comes_back_and_answers_temporary_meanwhile() -> None:
    async def test() -> None:
        smsc = Smsc(answer=lambda event: None if event.destination_addr == "4790000009" else "1")
        async with smsc:
            relay = await Relay(smsc.port).start()
            c = connector(relay.port, timeout=3)
            await c.start(Sink())
            assert (await c.submit([part(1)]))[0].outcome is Outcome.ACCEPTED
            in_flight = asyncio.create_task(c.submit([part(9, "4790000009")]))
            await until(lambda: smsc.held)
            await relay.cut()
            await smsc.stop()  # the SMSC goes away; smpp34's stop() alone keeps its sessions, hence the relay
            assert [(o.outcome, o.error) for o in await in_flight] == [(Outcome.TEMPORARY, "smpp:connection lost")]
            await until(lambda: not c.state().bound)
            started = time.monotonic()
            down = await c.submit([part(2), part(3)])
            assert [o.outcome for o in down] == [Outcome.TEMPORARY] * 2
            assert time.monotonic() - started < 1  # promptly: not the 3 s timeout
            # The SMSC comes back at the address the connector knows (the relay's; smpp34 cannot always bind the
            # port it just left, so the SMSC behind it is a new one on a port of its own).
            async with Smsc() as again:
                relay = await Relay(again.port, port=relay.port).start()
                await until(lambda: c.state().bound)
                assert (await c.submit([part(4)]))[0].outcome is Outcome.ACCEPTED
                assert len(again.sessions) == 1 and again.submits[0].short_message == b"hello 4"
                await c.close()
                await relay.cut()

    run(test)


def test_a_link_that_stops_answering_is_noticed_by_enquire_link_and_replaced() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            relay = await Relay(smsc.port).start()
            c = connector(relay.port, enquire_link=0.2, timeout=0.4)
            await c.start(Sink())
            await until(lambda: c.state().bound)
            await asyncio.sleep(0.6)
            assert pdu.ENQUIRE_LINK in [command for command, _, _ in relay.sent_pdus()]
            assert len(smsc.sessions) == 1 and c.state().bound  # answered: the link stays
            relay.muted = True
            await until(lambda: len(smsc.sessions) == 2)  # dropped and bound again
            assert "enquire_link_resp" in (c.state().last_error or "")
            relay.muted = False
            await until(lambda: c.state().bound)
            assert (await c.submit([part(1)]))[0].outcome is Outcome.ACCEPTED
            await c.close()
            await relay.cut()

    run(test)


def test_the_smscs_unbind_is_answered_and_the_link_comes_back() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            c = await bound(smsc, Sink())
            unbinding = asyncio.ensure_future(smsc.sessions[0].unbind())  # smpp34 never completes it (see report)
            await until(lambda: len(smsc.sessions) == 2)
            await until(lambda: c.state().bound)
            assert (await c.submit([part(1)]))[0].outcome is Outcome.ACCEPTED
            unbinding.cancel()
            await c.close()

    run(test)


def test_garbage_from_the_smsc_is_nacked_and_a_lost_stream_reconnects() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            relay = await Relay(smsc.port).start()
            c = connector(relay.port)
            await c.start(Sink())
            await until(lambda: c.state().bound)
            relay.inject(pdu.encode(pdu.ENQUIRE_LINK, 900))  # not garbage: the SMSC asking whether we are there
            relay.inject(pdu.encode(0x00000777, 901))  # a command we do not know: nack it, carry on
            relay.inject(pdu.encode(pdu.DELIVER_SM, 902, b"\x00\x01\x01no NUL after this"))  # an undecodable body
            await until(lambda: {(pdu.ENQUIRE_LINK_RESP, 0, 900), (pdu.GENERIC_NACK, pdu.ESME_RINVCMDID, 901),
                                 (pdu.GENERIC_NACK, pdu.ESME_RINVCMDLEN, 902)} <= set(relay.sent_pdus()))
            assert (await c.submit([part(1)]))[0].outcome is Outcome.ACCEPTED
            assert len(smsc.sessions) == 1
            relay.inject(struct.pack(">IIII", 0xFFFF0000, pdu.DELIVER_SM, 0, 903))  # no way to find the next PDU
            await until(lambda: len(smsc.sessions) == 2)  # so the connection was dropped, and bound anew
            await until(lambda: c.state().bound)
            assert (pdu.GENERIC_NACK, pdu.ESME_RINVCMDLEN, 903) in relay.sent_pdus()
            assert (await c.submit([part(2)]))[0].outcome is Outcome.ACCEPTED
            await c.close()
            await relay.cut()

    run(test)


def test_nothing_listening_answers_temporary_without_waiting_the_timeout() -> None:
    async def test() -> None:
        c = connector(free_port(), timeout=5)
        await c.start(Sink())
        started = time.monotonic()
        outcomes = await c.submit([part(1), part(2)])
        assert [(o.outcome, o.error) for o in outcomes] == [(Outcome.TEMPORARY, "smpp:not bound")] * 2
        assert time.monotonic() - started < 1
        assert "cannot connect" in (c.state().last_error or "")
        await c.close()

    run(test)


def test_a_peer_that_never_answers_the_bind_fails_submits_after_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async def test() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = connector(port, timeout=0.4)
        await c.start(Sink())
        started = time.monotonic()
        assert (await c.submit([part(1)]))[0].outcome is Outcome.TEMPORARY
        assert 0.35 < time.monotonic() - started < 2
        await until(lambda: "no bind_transceiver_resp" in (c.state().last_error or ""))
        await c.close()
        server.close()

    run(test)


def test_close_unbinds_and_answers_parts_in_flight_temporary() -> None:
    async def test() -> None:
        async with Smsc(answer=lambda event: None) as smsc:
            c = connector(smsc.port, window=10, timeout=5)
            await c.start(Sink())
            submitting = asyncio.create_task(c.submit([part(n) for n in range(5)]))
            await until(lambda: len(smsc.held) == 5)
            started = time.monotonic()
            await c.close()
            outcomes = await submitting
            assert time.monotonic() - started < 2.5  # the unbind's short grace, not the 5 s timeout
            assert [o.outcome for o in outcomes] == [Outcome.TEMPORARY] * 5
            await until(lambda: smsc.unbound == 1)
            assert not c.state().bound
            assert (await c.submit([part(6)]))[0].error == "smpp:closed"

    run(test)


def test_a_transmitter_and_a_receiver_bind_separately() -> None:
    async def test() -> None:
        async with Smsc() as smsc:
            sink = Sink()
            c = connector(smsc.port, bind="tx+rx")
            await c.start(sink)
            await until(lambda: c.state().bound and len(smsc.sessions) == 2)
            assert sorted(session.can_receive for session in smsc.sessions) == [False, True]
            assert c.state().extra["tx"] == c.state().extra["rx"] == "bound"
            assert (await c.submit([part(1)]))[0].outcome is Outcome.ACCEPTED
            receiver = next(session for session in smsc.sessions if session.can_receive)
            # smpp34 never completes deliver_sm on a receiver session (it drops the deliver_sm_resp), so the
            # answer is not awaited here; the transceiver tests check it.
            delivering = asyncio.ensure_future(receiver.deliver_sm("2222", b"via rx", source_addr="4790000001"))
            await until(lambda: sink.mo_seen)
            assert sink.mo_seen[0].payload == b"via rx"
            delivering.cancel()
            await c.close()

    run(test)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require(shutil.which("openssl") is not None, "openssl is not installed")
    folder = tmp_path_factory.mktemp("smsc-tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=smsc.test", "-days", "2"],
                   check=True, capture_output=True)
    return cert, key


def test_smpps_binds_over_tls(certificate: tuple[Path, Path]) -> None:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*certificate)

    async def test() -> None:
        async with Smsc() as smsc:
            relay = await Relay(smsc.port, tls=tls).start()
            c = connector(relay.port, scheme="smpps", verify="false")
            await c.start(Sink())
            assert (await c.submit([part(1)]))[0].outcome is Outcome.ACCEPTED
            await c.close()
            checked = connector(relay.port, scheme="smpps", timeout=0.5)  # verify defaults to true: self-signed fails
            await checked.start(Sink())
            assert (await checked.submit([part(2)]))[0].outcome is Outcome.TEMPORARY
            assert "CERTIFICATE_VERIFY_FAILED" in (checked.state().last_error or "")
            await checked.close()
            await relay.cut()
            assert len(smsc.submits) == 1

    run(test)

