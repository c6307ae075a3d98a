"""The whole network side against a real SMPP peer we did not write (smpp34.Server): the worker sends stored
messages through the SMPP connector, the SMSC sends receipts and an MO back, and the store ends up right."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time

import smpp34
from sqlalchemy import func, select

from smsgw.delivery.connectors.smpp import SmppConnector
from smsgw.delivery.routes import Router
from smsgw.delivery.worker import Worker
from smsgw.domain.model import MessageSpec, ReportMask, SubmitRequest
from smsgw.services import Services
from smsgw.store.tables import inbound, messages, reports, segments


async def smsc(server: smpp34.Server, seen: list[smpp34.SubmitSmEvent], mo_to: list[str]) -> None:
    """Accept every submit_sm with a decimal id; answer each with a receipt whose id is zero-padded."""
    sessions: dict[str, smpp34.Esme] = {}
    ids = itertools.count(1_000_000)
    tasks = set()
    while True:
        event = await server.next()
        if isinstance(event, smpp34.Esme):
            sessions[event.session_id] = event
            for destination in mo_to:  # an MO from a phone, in two UCS-2 parts (UDH concatenation)
                for seq, chunk in ((1, "Takk for "), (2, "meldingen ✓")):
                    udh = bytes((5, 0, 3, 0x42, 2, seq))
                    tasks.add(asyncio.ensure_future(event.deliver_sm(
                        destination, udh + chunk.encode("utf-16-be"), source_addr="4791234567", esm_class=0x40,
                        data_coding=8)))
        elif isinstance(event, smpp34.SubmitSmEvent):
            seen.append(event)
            message_id = next(ids)
            event.accept(str(message_id))
            esme = sessions[event.session_id]
            text = f"id:{message_id:012d} sub:001 dlvrd:001 submit date:2701150800 done date:2701150801 stat:DELIVRD " \
                   "err:000 text:"
            tasks.add(asyncio.ensure_future(esme.deliver_sm(event.source_addr, text.encode(),
                                                          source_addr=event.destination_addr, esm_class=0x04)))


def test_messages_go_out_over_smpp_and_come_back_delivered(sqlite_url: str) -> None:
    services = Services.open(sqlite_url)
    try:
        acme = services.accounts.create("acme", "pw", default_country="NO", default_originator="2580")
        services.accounts.add_number("acme", "2580")
        services.gateway.submit(acme, SubmitRequest(face="test", messages=[
            MessageSpec(recipient=f"+4791{i:06d}", text="hello " * (40 if i == 0 else 1), reports=ReportMask.FINAL)
            for i in range(200)]))

        async def main() -> list[smpp34.SubmitSmEvent]:
            port = _free_port()
            server = smpp34.Server("127.0.0.1", port)
            await server.start()
            seen: list[smpp34.SubmitSmEvent] = []
            peer = asyncio.create_task(smsc(server, seen, ["2580"]))
            connector = SmppConnector.from_url("default", f"smpp://esme:secret@127.0.0.1:{port}?window=10")
            worker = Worker(services.store, services.gateway, Router({"default": connector}, []), idle_s=0.02)
            stop = asyncio.Event()
            running = asyncio.create_task(worker.run(stop))
            deadline = time.monotonic() + 30
            while not await asyncio.to_thread(_settled, services):
                assert time.monotonic() < deadline and not running.done(), "not delivered in time"
                await asyncio.sleep(0.1)
            stop.set()
            await running
            peer.cancel()
            await server.stop()
            return seen

        seen = asyncio.run(main())
        with services.store.read() as conn:
            delivered = conn.execute(select(func.count()).select_from(messages)
                                     .where(messages.c.status == "delivered")).scalar()
            parts = conn.execute(select(func.count()).select_from(segments)).scalar()
            drs = conn.execute(select(func.count()).select_from(reports).where(reports.c.kind == "dr")).scalar()
            mo = conn.execute(select(inbound)).one()
        assert delivered == 200 and drs == 200
        assert parts == len(seen) == 201  # the first message took two parts
        first = [e for e in seen if e.destination_addr == "4791000000"]
        assert [e.esm_class & 0x40 for e in first] == [0x40, 0x40] and first[0].source_addr == "2580"
        assert (mo.account_id, mo.originator, mo.destination, mo.text) == (acme.id, "+4791234567", "2580",
                                                                          "Takk for meldingen ✓")
        assert mo.reply_to is None  # that phone was never sent anything
    finally:
        services.close()


def _settled(services: Services) -> bool:
    with services.store.read() as conn:
        delivered = conn.execute(select(func.count()).select_from(messages)
                                 .where(messages.c.status == "delivered")).scalar()
        mos = conn.execute(select(func.count()).select_from(inbound)).scalar()
    return delivered == 200 and mos == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
