"""A pretend SMSC inside the worker, the default for `serve`: the whole gateway can be tried without an operator.

It accepts every part (except numbers matching `rejected`), and after `delay` seconds returns a receipt for each
part that asked for one: UNDELIV for numbers matching `undeliverable`, EXPIRED for `expired`, DELIVRD otherwise
(an ENROUTE first when intermediate reports were asked for). Numbers matching `mo` answer each MT with an MO that
echoes it back, so MO routing and reassembly can be tried too.

    simulator://?delay=1&undeliverable=^4790&expired=^4791&rejected=^4799&mo=^4798
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlsplit

from ..receipts import mo_part
from ..wire import WireOptions
from .base import ConnectorState, Inbound, MoPart, Outcome, Part, Receipt, SubmitOutcome

_OPTIONS = ("delay", "undeliverable", "expired", "rejected", "mo")
_INTERMEDIATE = 0x10
_UDHI = 0x40


class SimulatorConnector:
    kind = "simulator"

    def __init__(self, name: str, *, delay: float = 1.0, undeliverable: str | None = None,
                 expired: str | None = None, rejected: str | None = None, mo: str | None = None) -> None:
        if not 0 <= delay <= 3600:
            raise ValueError("simulator delay must be 0 to 3600 seconds")
        self.name = name
        self.wire = WireOptions()
        self.delay = delay
        self._patterns = {key: re.compile(value) for key, value in
                          (("undeliverable", undeliverable), ("expired", expired), ("rejected", rejected),
                           ("mo", mo)) if value}
        self._ids = itertools.count(time.time_ns() // 1000)  # unique across restarts, so old receipts never match
        self._inbound: Inbound | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._state = ConnectorState(name=name, kind=self.kind)

    @classmethod
    def from_url(cls, name: str, url: str) -> SimulatorConnector:
        parts = urlsplit(url)
        if parts.scheme not in ("", "simulator") or (parts.scheme == "" and parts.path != "simulator"):
            raise ValueError(f"not a simulator URL: {url!r}")
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ValueError(f"unknown simulator option(s) {', '.join(unknown)}; known: {', '.join(_OPTIONS)}")
        try:
            delay = float(options.pop("delay", "1"))
            return cls(name, delay=delay, **{k: v or None for k, v in options.items()})
        except re.error as error:
            raise ValueError(f"bad simulator pattern: {error}") from None
        except ValueError as error:
            raise ValueError(f"bad simulator option: {error}") from None

    async def start(self, inbound: Inbound) -> None:
        self._inbound = inbound
        self._state.bound = True

    def _matches(self, key: str, number: str) -> bool:
        pattern = self._patterns.get(key)
        return pattern is not None and pattern.search(number) is not None

    async def submit(self, parts: Sequence[Part]) -> list[SubmitOutcome]:
        outcomes: list[SubmitOutcome] = []
        receipts: list[Receipt] = []
        intermediate: list[Receipt] = []
        echoes: list[MoPart] = []
        for part in parts:
            if self._matches("rejected", part.destination):
                outcomes.append(SubmitOutcome(Outcome.PERMANENT, command_status=0x0B, error="smpp:0x0000000b"))
                continue
            smsc_id = f"{next(self._ids):x}"
            outcomes.append(SubmitOutcome(Outcome.ACCEPTED, smsc_id=smsc_id, command_status=0))
            if part.registered_delivery & 0x01:
                state = "UNDELIV" if self._matches("undeliverable", part.destination) else \
                    "EXPIRED" if self._matches("expired", part.destination) else "DELIVRD"
                receipts.append(Receipt(self.name, smsc_id, state, None if state == "DELIVRD" else "001"))
            if part.registered_delivery & _INTERMEDIATE:
                intermediate.append(Receipt(self.name, smsc_id, "ENROUTE"))
            if self._matches("mo", part.destination):
                echoes.append(mo_part(part.destination, part.source, part.esm_class & _UDHI, part.data_coding,
                                      part.short_message, dict(part.tlvs), self.name))
        self._state.submitted += sum(1 for o in outcomes if o.outcome is Outcome.ACCEPTED)
        if intermediate:
            self._later(0.0, intermediate, [])
        if receipts or echoes:
            self._later(self.delay, receipts, echoes)
        return outcomes

    def _later(self, delay: float, receipts: list[Receipt], echoes: list[MoPart]) -> None:
        task = asyncio.get_running_loop().create_task(self._report(delay, receipts, echoes))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _report(self, delay: float, receipts: list[Receipt], echoes: list[MoPart]) -> None:
        await asyncio.sleep(delay)
        inbound = self._inbound
        if inbound is None:
            return
        while True:  # like an SMSC, redeliver until the gateway has taken it
            try:
                if receipts:
                    await inbound.receipts(receipts)
                    receipts = []
                if echoes:
                    await inbound.mo_parts(echoes)
                return
            except Exception as error:
                self._state.errors += 1
                self._state.last_error = str(error)[:200]
                await asyncio.sleep(max(self.delay, 1.0))

    def state(self) -> ConnectorState:
        return self._state

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        self._state.bound = False
