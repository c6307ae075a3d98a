"""The delivery worker on a real database: claim, submit, record, retry, expire, receipts, MOs, leases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from datetime import time as dtime
from typing import Any

import pytest
from sqlalchemy import func, select, update

from smsgw.accounts import Accounts
from smsgw.delivery import schedule
from smsgw.delivery.connectors.base import ConnectorState, Inbound, Outcome, Part, Receipt, SubmitOutcome
from smsgw.delivery.connectors.simulator import SimulatorConnector
from smsgw.delivery.routes import Route, Router
from smsgw.delivery.wire import WireOptions
from smsgw.delivery.worker import OTHER_SPELLINGS_AFTER_MS, RECEIPT_GRACE_MS, Worker
from smsgw.domain.model import Account, MessageSpec, ReportMask, Status, SubmitRequest
from smsgw.domain.validity import SendWindow
from smsgw.gateway import Gateway
from smsgw.store import queue
from smsgw.store.database import Store
from smsgw.store.tables import inbound, messages, reports, segments, status_history

T0 = 1_800_000_000_000  # a fixed "now" in epoch ms


class Scripted:
    """A connector that answers each part with the next scripted outcome (ACCEPTED when the script runs out)."""

    kind = "scripted"
    wire = WireOptions()

    def __init__(self, name: str, script: Sequence[Outcome] = ()) -> None:
        self.name = name
        self.script = list(script)
        self.parts: list[Part] = []
        self.inbound: Inbound | None = None
        self.bound = True

    async def start(self, inbound: Inbound) -> None:
        self.inbound = inbound

    async def submit(self, parts: Sequence[Part]) -> list[SubmitOutcome]:
        out = []
        for part in parts:
            self.parts.append(part)
            outcome = self.script.pop(0) if self.script else Outcome.ACCEPTED
            smsc_id = f"{len(self.parts):x}" if outcome is Outcome.ACCEPTED else None
            out.append(SubmitOutcome(outcome, smsc_id=smsc_id, error=None if smsc_id else f"smpp:{outcome}"))
        return out

    def state(self) -> ConnectorState:
        return ConnectorState(self.name, self.kind, bound=self.bound)

    async def close(self) -> None:
        pass


def submit(gateway: Gateway, account: Account, *texts: str, reports: ReportMask = ReportMask.FINAL,
           recipient: str = "+4791234567", **spec: Any) -> list[int]:
    result = gateway.submit(account, SubmitRequest(
        messages=[MessageSpec(recipient=recipient, text=t, reports=reports, **spec) for t in texts], face="test"))
    ids = [o.message_id for o in result.outcomes]
    assert all(ids), result
    return [i for i in ids if i is not None]


def run(worker: Worker, until: Callable[[], bool], timeout: float = 20) -> None:
    """Run the worker until `until()` holds (checked between its rounds), then stop it."""
    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(until):
            if task.done() or time.monotonic() > deadline:
                stop.set()
                await task
                raise AssertionError("the worker did not get there in time")
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(main())


def statuses(store: Store, ids: Sequence[int]) -> list[str]:
    with store.read() as conn:
        found = dict(conn.execute(select(messages.c.id, messages.c.status).where(messages.c.id.in_(ids))).all())
    return [found[i] for i in ids]


def all_in(store: Store, ids: Sequence[int], *wanted: Status) -> Callable[[], bool]:
    return lambda: all(s in {w.value for w in wanted} for s in statuses(store, ids))


def dr_statuses(store: Store, message_id: int) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(select(reports.c.status).where(reports.c.message_id == message_id)
                                 .order_by(reports.c.id)).scalars())


def worker_with(store: Store, gateway: Gateway, *connectors: Any, clock: Callable[[], int] | None = None,
                routes: list[Route] | None = None, **options: Any) -> Worker:
    router = Router({c.name: c for c in connectors}, routes or [])
    kwargs: dict[str, Any] = {"idle_s": 0.02, "bind_wait_s": 0, **options}
    if clock is not None:
        kwargs["clock"] = clock
    return Worker(store, gateway, router, **kwargs)


def test_messages_are_submitted_then_delivered_with_their_reports(store: Store, gateway: Gateway,
                                                                  account: Account) -> None:
    ids = submit(gateway, account, "one", "two", "x" * 400)  # the last one takes 3 parts
    worker = worker_with(store, gateway, SimulatorConnector("sim", delay=0.05))
    run(worker, all_in(store, ids, Status.DELIVERED))
    with store.read() as conn:
        parts = dict(conn.execute(select(segments.c.message_id, func.count()).group_by(segments.c.message_id)).all())
        history = conn.execute(select(status_history.c.status).where(status_history.c.message_id == ids[2])
                               .order_by(status_history.c.id)).scalars().all()
    assert parts == {ids[0]: 1, ids[1]: 1, ids[2]: 3}
    assert history == ["submitted", "buffered", "delivered"]  # one part delivered, then all three
    assert all(dr_statuses(store, i) == ["delivered"] for i in ids)


def test_undeliverable_and_rejected_numbers_end_with_their_reports(store: Store, gateway: Gateway,
                                                                   account: Account) -> None:
    bad, refused = submit(gateway, account, "a", recipient="+4790000001")[0], \
        submit(gateway, account, "b", recipient="+4799000001")[0]
    sim = SimulatorConnector("sim", delay=0, undeliverable="^4790", rejected="^4799")
    run(worker_with(store, gateway, sim), all_in(store, [bad, refused], Status.UNDELIVERABLE, Status.REJECTED))
    assert statuses(store, [bad, refused]) == ["undeliverable", "rejected"]
    assert dr_statuses(store, bad) == ["undeliverable"] and dr_statuses(store, refused) == ["rejected"]


def test_intermediate_reports_only_when_asked_for(store: Store, gateway: Gateway, account: Account) -> None:
    asked = submit(gateway, account, "a", reports=ReportMask.FINAL | ReportMask.INTERMEDIATE)[0]
    plain = submit(gateway, account, "b")[0]
    run(worker_with(store, gateway, SimulatorConnector("sim", delay=0.3)),
        all_in(store, [asked, plain], Status.DELIVERED))
    assert dr_statuses(store, asked) == ["buffered", "delivered"]
    assert dr_statuses(store, plain) == ["delivered"]


def test_an_account_chooses_which_intermediate_states_it_hears_of(store: Store, gateway: Gateway,
                                                                  accounts: Accounts, account: Account) -> None:
    account = accounts.update(account.name, intermediate_states=("submitted",))
    asked = submit(gateway, account, "a", reports=ReportMask.FINAL | ReportMask.INTERMEDIATE)[0]
    run(worker_with(store, gateway, SimulatorConnector("sim", delay=0.3)), all_in(store, [asked], Status.DELIVERED))
    assert dr_statuses(store, asked) == ["submitted", "delivered"]


def test_temporary_failures_retry_on_the_doubling_schedule_then_fail(store: Store, gateway: Gateway,
                                                                     account: Account) -> None:
    clock = [T0]
    gateway.clock = lambda: clock[0]
    message = submit(gateway, account, "retry me", validity=timedelta(days=30))[0]
    connector = Scripted("smsc", [Outcome.TEMPORARY] * schedule.MAX_ATTEMPTS)
    worker = worker_with(store, gateway, connector, clock=lambda: clock[0])
    dues = []
    for attempt in range(1, schedule.MAX_ATTEMPTS + 1):
        run(worker, lambda n=attempt: len(connector.parts) >= n and _unclaimed(store, message))  # type: ignore[misc]
        with store.read() as conn:
            row = conn.execute(select(messages.c.status, messages.c.due_at, messages.c.attempts)
                               .where(messages.c.id == message)).one()
        assert row.attempts == attempt
        if attempt < schedule.MAX_ATTEMPTS:
            assert row.status == "accepted"
            dues.append(row.due_at - clock[0])
            clock[0] = row.due_at
    assert dues == [30_000 * 2**i for i in range(schedule.MAX_ATTEMPTS - 1)]
    assert statuses(store, [message]) == ["failed"]
    assert dr_statuses(store, message) == ["failed"]


def _unclaimed(store: Store, message_id: int) -> bool:
    with store.read() as conn:
        return conn.execute(select(messages.c.claimed_by).where(messages.c.id == message_id)).scalar() is None


def test_a_retry_never_goes_past_validity(store: Store, gateway: Gateway, account: Account) -> None:
    clock = [T0]
    gateway.clock = lambda: clock[0]
    message = submit(gateway, account, "short-lived", validity=timedelta(seconds=20))[0]
    run(worker_with(store, gateway, Scripted("smsc", [Outcome.TEMPORARY]), clock=lambda: clock[0]),
        all_in(store, [message], Status.EXPIRED))
    assert dr_statuses(store, message) == ["expired"]


def test_throttling_requeues_without_counting_an_attempt(store: Store, gateway: Gateway, account: Account) -> None:
    clock = [T0]
    gateway.clock = lambda: clock[0]
    message = submit(gateway, account, "slow down")[0]
    connector = Scripted("smsc", [Outcome.THROTTLED])
    run(worker_with(store, gateway, connector, clock=lambda: clock[0]),
        lambda: len(connector.parts) == 1 and _unclaimed(store, message))
    with store.read() as conn:
        row = conn.execute(select(messages).where(messages.c.id == message)).one()
    assert (row.status, row.attempts, row.due_at) == ("accepted", 0, T0 + schedule.THROTTLE_PAUSE_MS)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(status_history)).scalar() == 0


def test_billing_refusals_follow_the_premium_schedule_unless_single_shot(store: Store, gateway: Gateway,
                                                                         account: Account) -> None:
    clock = [T0]
    gateway.clock = lambda: clock[0]
    premium = submit(gateway, account, "premium", validity=timedelta(days=10))[0]
    single = submit(gateway, account, "single", billing_single_shot=True)[0]
    connector = Scripted("smsc", [Outcome.BILLING, Outcome.BILLING])
    run(worker_with(store, gateway, connector, clock=lambda: clock[0]),
        lambda: len(connector.parts) == 2 and _unclaimed(store, premium) and _unclaimed(store, single))
    with store.read() as conn:
        due = conn.execute(select(messages.c.due_at).where(messages.c.id == premium)).scalar()
    assert due == T0 + 6 * 3_600_000
    assert statuses(store, [premium, single]) == ["accepted", "failed"]


def test_an_expired_message_is_not_sent_and_is_reported(store: Store, gateway: Gateway, account: Account) -> None:
    clock = [T0]
    gateway.clock = lambda: clock[0]
    message = submit(gateway, account, "too late", validity=timedelta(minutes=1))[0]
    clock[0] = T0 + 120_000
    connector = Scripted("smsc")
    run(worker_with(store, gateway, connector, clock=lambda: clock[0]), all_in(store, [message], Status.EXPIRED))
    assert connector.parts == []
    assert dr_statuses(store, message) == ["expired"]


def test_send_window_holds_a_message_until_it_opens(store: Store, gateway: Gateway, account: Account) -> None:
    clock = [T0]  # 2027-01-15 08:00 UTC
    gateway.clock = lambda: clock[0]
    window = SendWindow(start_date=date(2027, 1, 15), stop_date=date(2027, 1, 16), start_time=dtime(10),
                        stop_time=dtime(12), zone="UTC")
    message = submit(gateway, account, "in the window", send_window=window)[0]
    with store.read() as conn:
        due = conn.execute(select(messages.c.due_at).where(messages.c.id == message)).scalar()
    assert due == T0 + 2 * 3_600_000
    connector = Scripted("smsc")
    # Due, but after the day's window closed (as a retry may land): held until the next day's opening.
    clock[0] = T0 + 4 * 3_600_000 + 30 * 60_000
    with store.write() as conn:
        conn.execute(update(messages).where(messages.c.id == message).values(due_at=clock[0]))
    worker = worker_with(store, gateway, connector, clock=lambda: clock[0])
    run(worker, lambda: _due(store, message) == T0 + 26 * 3_600_000 and _unclaimed(store, message))
    assert connector.parts == [] and statuses(store, [message]) == ["scheduled"]
    clock[0] = T0 + 26 * 3_600_000
    run(worker, all_in(store, [message], Status.SUBMITTED))
    assert len(connector.parts) == 1


def _due(store: Store, message_id: int) -> int:
    with store.read() as conn:
        return int(conn.execute(select(messages.c.due_at).where(messages.c.id == message_id)).scalar() or 0)


def test_an_account_send_rate_spreads_its_messages_over_time(store: Store, gateway: Gateway,
                                                            accounts: Accounts) -> None:
    clock = [T0]
    gateway.clock = lambda: clock[0]
    slow = accounts.create("slow", "pw", default_country="NO", send_rate=2)
    ids = submit(gateway, slow, *(f"m{i}" for i in range(5)))
    connector = Scripted("smsc")
    worker = worker_with(store, gateway, connector, clock=lambda: clock[0])
    run(worker, lambda: len(connector.parts) == 2 and all(_unclaimed(store, i) for i in ids))
    started = time.monotonic()
    run(worker, lambda: time.monotonic() - started > 0.3)  # more rounds at the same instant send nothing more
    assert len(connector.parts) == 2
    assert sorted(statuses(store, ids)) == ["accepted"] * 3 + ["submitted"] * 2
    with store.read() as conn:
        attempts = conn.execute(select(messages.c.attempts).where(messages.c.status == "accepted")).scalars().all()
    assert attempts == [0, 0, 0]  # waiting for the rate spends no attempt
    clock[0] += 1000
    run(worker, lambda: len(connector.parts) == 4 and all(_unclaimed(store, i) for i in ids))
    clock[0] += 1000
    run(worker, all_in(store, ids, Status.SUBMITTED))


def test_the_worker_outlives_a_database_that_fails_for_a_while(store: Store, gateway: Gateway, account: Account,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    message = submit(gateway, account, "still here")[0]
    failures = [2]
    real_claim = queue.claim

    def flaky_claim(*args: Any, **kwargs: Any) -> Any:
        if failures[0]:
            failures[0] -= 1
            raise OperationalError("SELECT …", {}, Exception("server closed the connection unexpectedly"))
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(queue, "claim", flaky_claim)
    monkeypatch.setattr("smsgw.delivery.worker.DB_RETRY_S", 0.05)
    connector = Scripted("smsc")
    run(worker_with(store, gateway, connector), all_in(store, [message], Status.SUBMITTED))
    assert failures == [0] and len(connector.parts) == 1


def test_a_receipt_that_never_comes_ends_the_message_expired_after_a_grace(
        store: Store, gateway: Gateway, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("smsgw.delivery.worker.UNREPORTED_EVERY_S", 0.0)
    clock = [T0]
    gateway.clock = lambda: clock[0]
    asked = submit(gateway, account, "report please", validity=timedelta(hours=1))[0]
    silent = submit(gateway, account, "no report", validity=timedelta(hours=1), reports=ReportMask.NONE)[0]
    worker = worker_with(store, gateway, Scripted("smsc"), clock=lambda: clock[0])
    run(worker, all_in(store, [asked, silent], Status.SUBMITTED))
    clock[0] += 3_600_000 + RECEIPT_GRACE_MS - 1
    started = time.monotonic()
    run(worker, lambda: time.monotonic() - started > 0.3)
    assert statuses(store, [asked, silent]) == ["submitted", "submitted"]
    clock[0] += 2
    run(worker, all_in(store, [asked], Status.EXPIRED))
    assert statuses(store, [silent]) == ["submitted"]  # asked for nothing: its end is what the SMSC said
    assert dr_statuses(store, asked) == ["expired"]


def test_test_mode_accounts_never_reach_a_real_smsc(store: Store, gateway: Gateway, accounts: Accounts) -> None:
    tester = accounts.create("tester", "pw", default_country="NO", test_mode=True)
    message = submit(gateway, tester, "just testing")[0]
    real = Scripted("smsc")
    run(worker_with(store, gateway, real), all_in(store, [message], Status.DELIVERED))
    assert real.parts == []


def test_routes_pick_by_prefix_and_fail_over_to_a_bound_connector(store: Store, gateway: Gateway,
                                                                  account: Account) -> None:
    norway, sweden = submit(gateway, account, "hei")[0], submit(gateway, account, "hej", recipient="+46701234567")[0]
    primary, backup, other = Scripted("primary"), Scripted("backup"), Scripted("other")
    primary.bound = False
    routes = [Route("+47", ("primary", "backup")), Route("", ("other",))]
    run(worker_with(store, gateway, primary, backup, other, routes=routes),
        all_in(store, [norway, sweden], Status.SUBMITTED))
    assert [p.message_id for p in backup.parts] == [norway]
    assert [p.message_id for p in other.parts] == [sweden]
    assert primary.parts == []


class Eager(Scripted):
    """A fast SMSC: each part's receipt arrives before submit has even returned, with the id spelled `spell(id)`;
    `ids` gives the SMSC's ids in turn."""

    def __init__(self, name: str, ids: Sequence[str], spell: Callable[[str], str] = str,
                 silent: Sequence[str] = ()) -> None:
        super().__init__(name)
        self.ids = list(ids)
        self.spell = spell
        self.silent = set(silent)  # ids whose receipt never comes

    async def submit(self, parts: Sequence[Part]) -> list[SubmitOutcome]:
        out = [SubmitOutcome(Outcome.ACCEPTED, smsc_id=self.ids.pop(0)) for _ in parts]
        self.parts += parts
        assert self.inbound is not None
        await self.inbound.receipts([Receipt(self.name, self.spell(o.smsc_id or ""), "DELIVRD") for o in out
                                     if o.smsc_id not in self.silent])
        return out


def test_a_receipt_that_overtakes_the_record_is_applied_after_it(store: Store, gateway: Gateway,
                                                                 account: Account) -> None:
    message = submit(gateway, account, "fast smsc")[0]
    run(worker_with(store, gateway, Eager("smsc", ["4711"])), all_in(store, [message], Status.DELIVERED))
    with store.read() as conn:
        assert queue.inbox(conn, 10) == []


def test_a_receipt_spelling_the_id_in_decimal_matches_after_a_while(store: Store, gateway: Gateway,
                                                                    account: Account) -> None:
    clock = [T0]
    gateway.clock = lambda: clock[0]
    message = submit(gateway, account, "hex on submit, decimal in the receipt")[0]
    connector = Eager("smsc", ["1a"], spell=lambda hex_id: str(int(hex_id, 16)))
    worker = worker_with(store, gateway, connector, clock=lambda: clock[0])
    run(worker, lambda: _unclaimed(store, message))
    assert statuses(store, [message]) == ["submitted"]  # "26" could be another message's id: not yet
    clock[0] += OTHER_SPELLINGS_AFTER_MS
    run(worker, all_in(store, [message], Status.DELIVERED), timeout=15)
    # Learnt: this SMSC's next receipts in decimal match at once.
    later = submit(gateway, account, "and the next one")[0]
    connector.ids.append("1b")
    run(worker, lambda: _delivered_without_parking(store, later), timeout=5)


def _delivered_without_parking(store: Store, message_id: int) -> bool:
    with store.read() as conn:
        return statuses(store, [message_id]) == ["delivered"] and not queue.inbox(conn, 10)


def test_an_early_receipt_never_lands_on_the_message_its_id_spells_in_hex(store: Store, gateway: Gateway,
                                                                          account: Account) -> None:
    first, second = submit(gateway, account, "first")[0], submit(gateway, account, "second")[0]
    # The SMSC numbers in decimal: "22" for the first (its receipt still to come), then "16", whose hex reading
    # is 22, with a receipt that overtakes the record of its submit.
    connector = Eager("smsc", ["22", "16"], silent=["22"])
    run(worker_with(store, gateway, connector, chunk=1), all_in(store, [second], Status.DELIVERED))
    assert statuses(store, [first, second]) == ["submitted", "delivered"]


def test_an_mo_answering_an_mt_is_routed_and_linked(store: Store, gateway: Gateway, accounts: Accounts) -> None:
    acme = accounts.create("acme", "pw", default_country="NO", default_originator="+4740001234")
    accounts.add_number("acme", "+4740001234")
    message = submit(gateway, acme, "reply to me " * 20, recipient="+4798000001")[0]  # 2 parts: echoed in 2
    sim = SimulatorConnector("sim", delay=0, mo="^4798")
    run(worker_with(store, gateway, sim), lambda: _inbound_count(store) == 1)
    with store.read() as conn:
        mo = conn.execute(select(inbound)).one()
    assert (mo.account_id, mo.originator, mo.destination, mo.reply_to) == (acme.id, "+4798000001", "+4740001234",
                                                                          message)
    assert mo.text == "reply to me " * 20


def _inbound_count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(inbound)).scalar() or 0)


def test_on_sqlite_a_second_worker_waits_for_the_lease(sqlite_url: str) -> None:
    from smsgw.services import Services

    services = Services.open(sqlite_url)
    try:
        acme = services.accounts.create("acme", "pw", default_country="NO")
        message = submit(services.gateway, acme, "only one worker")[0]
        first, second = Scripted("a"), Scripted("b")
        w1 = worker_with(services.store, services.gateway, first)
        w2 = worker_with(services.store, services.gateway, second)
        with services.store.write() as conn:
            assert queue.take_lease(conn, "worker", w1.name, int(time.time() * 1000), 60_000)
        started = time.monotonic()
        run(w2, lambda: time.monotonic() - started > 0.5)
        assert second.parts == [] and statuses(services.store, [message]) == ["accepted"]
        run(w1, all_in(services.store, [message], Status.SUBMITTED))
        assert len(first.parts) == 1
    finally:
        services.close()
