"""The delivery worker: claim due messages in chunks → hand their parts to connectors → record the outcomes.

It runs on one asyncio loop; every database call runs in one thread of its own, so the loop keeps the SMPP windows
full while a chunk is being recorded or the next one claimed (two chunks are in flight at a time). Receipts and MOs
the connectors hand in are committed before the call returns, which is when the connector answers the SMSC.

On SQLite exactly one worker works: it holds the `worker` lease, renewed while it lives; any other waits for it to
run out. On PostgreSQL every worker claims with SKIP LOCKED, so any number share the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection

from ..domain.model import PERMANENT_FAILURES, Account, ReportKind, Status, aggregate, can_move, reported
from ..domain.validity import SendWindow
from ..gateway import Gateway
from ..store import policy, queue
from ..store import repository as repo
from ..store.database import Store, Writer
from . import schedule, wire
from .connectors.base import Connector, MoPart, Outcome, Outgoing, Part, Receipt, SubmitOutcome
from .receipts import decode_mo, id_candidates, normalise_id, receipt_status
from .routes import Router

log = logging.getLogger(__name__)

T = TypeVar("T")

LEASE = "worker"
LEASE_MS = 15_000
STATE_EVERY_S = 5.0
ACCOUNTS_FOR_S = 5.0
UNMATCHED_FOR_MS = 24 * 3_600_000  # a receipt that matches nothing for a day never will
INBOX_PASS = 500  # receipts applied per transaction
APPLY_AFTER_S = 0.05
OTHER_SPELLINGS_AFTER_MS = 30_000  # longer than any submit takes to be recorded
GATHER_S = 0.02
DB_RETRY_S = 1.0
UNBOUND_MS = 5_000  # a message whose connector has no link waits this long, then tries again
RECEIPT_GRACE_MS = 3_600_000  # a receipt asked for and not come an hour after validity never will
UNREPORTED_EVERY_S = 600.0
RETENTION_EVERY_S = 3600.0  # how often message text and MO content past the accounts' retention are erased
RETENTION_PASS = 5000  # rows erased per transaction
MO_PARTS_FOR_MS = 3_600_000  # a concatenated MO still missing parts after an hour is delivered as it is
_SEVERITY = (Outcome.PERMANENT, Outcome.BILLING, Outcome.TEMPORARY, Outcome.THROTTLED)
_OUTCOME_COUNTER = {Status.SUBMITTED: "submitted", Status.REJECTED: "rejected", Status.FAILED: "failed",
                    Status.EXPIRED: "expired", Status.ACCEPTED: "retried"}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _later(message: Outgoing, due_at: int, error: str | None = None) -> queue.MessageChange:
    """Not sent this time, through no fault of the message: back to the queue, the attempt given back."""
    return queue.MessageChange(message.id, Status(message.status), due_at=due_at, error_code=error,
                               attempts_back=True)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if the worker is told to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, store: Store, gateway: Gateway, router: Router, *, name: str | None = None,
                 clock: Callable[[], int] = _now_ms, chunk: int = 500, claim_ms: int = 120_000,
                 idle_s: float = 0.2, bind_wait_s: float = 10.0) -> None:
        self.store = store
        self.gateway = gateway
        self.router = router
        self.name = name or worker_name()
        self.clock = clock
        self.chunk = chunk
        self.claim_ms = claim_ms
        self.idle_s = idle_s
        self.bind_wait_s = bind_wait_s
        self.counts: Counter[str] = Counter()
        self._db_thread: ThreadPoolExecutor | None = None
        self._writer = Writer(store)  # the database thread's transactions, on one connection kept for them
        self._accounts: dict[int, tuple[float, Account]] = {}
        self._leased = not store.is_sqlite
        self._lease_checked = 0.0
        self._state_saved = 0.0
        self._unreported_checked = 0.0
        self._retention_checked = -math.inf  # the first pass runs at start
        self._inbox = True  # receipts may wait from an earlier run: look once at start
        self._rates: dict[int, _Rate] = {}  # account id -> its send rate's bucket
        self._twins: dict[str, bool] = {}  # connector -> its receipts spell ids in the other base
        self._receipts_waiting: list[tuple[list[Receipt], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._applier: asyncio.Task[None] | None = None

    # --- the loop ---------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="smsgw-worker-db")
        for connector in self.router.all():
            await connector.start(self)
        log.info("worker %s started: connectors %s", self.name, ", ".join(c.name for c in self.router.all()))
        deadline = time.monotonic() + self.bind_wait_s  # give the links a moment to bind before claiming
        while not stop.is_set() and time.monotonic() < deadline and \
                not all(c.state().bound for c in self.router.all()):
            await asyncio.sleep(0.05)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                try:
                    await self._housekeeping()
                    chunk = await self._db(self._claim) if self._leased else []
                except Exception as error:
                    log.error("worker %s: the database failed (%s); trying again in %g s", self.name,
                              str(error).splitlines()[0][:200], DB_RETRY_S)
                    await _pause(stop, DB_RETRY_S)
                    continue
                if chunk:
                    task = asyncio.create_task(self._send(chunk))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    if len(in_flight) >= 2:
                        await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    elif len(chunk) < self.chunk:  # the queue is thin: let a few more arrive than claim each one
                        await _pause(stop, GATHER_S)
                    continue
                if in_flight:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                await _pause(stop, self.idle_s)
            if in_flight:
                await asyncio.wait(in_flight)
        finally:
            for connector in self.router.all():
                await connector.close()
            await self._db(self._save_state)
            if self.store.is_sqlite and self._leased:
                await self._db(self._release)
            await self._db(self._writer.close)
            self._db_thread.shutdown(wait=True)
            log.info("worker %s stopped", self.name)

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._db_thread is not None, "the worker is not running"
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if self.store.is_sqlite and now - self._lease_checked >= LEASE_MS / 3000:
            self._lease_checked = now
            leased = await self._db(self._take_lease)
            if leased != self._leased:
                log.info("worker %s %s the SQLite worker lease", self.name, "holds" if leased else "waits for")
            self._leased = leased
        if now - self._state_saved >= STATE_EVERY_S:
            self._state_saved = now
            await self._db(self._save_state)
            if self._leased:
                await self._db(self._sweep)
        if self._leased and now - self._unreported_checked >= UNREPORTED_EVERY_S:
            self._unreported_checked = now
            await self._db(self._end_unreported)
        if self._leased and now - self._retention_checked >= RETENTION_EVERY_S:
            self._retention_checked = now
            await self._db(self._erase_old_content)

    def _take_lease(self) -> bool:
        with self._writer.transaction() as conn:
            return queue.take_lease(conn, LEASE, self.name, self.clock(), LEASE_MS)

    def _release(self) -> None:
        with self._writer.transaction() as conn:
            queue.release_lease(conn, LEASE, self.name)

    def _save_state(self) -> None:
        counts, self.counts = self.counts, Counter()
        now = self.clock()
        states = {c.name: {k: v for k, v in asdict(c.state()).items() if k != "name"} for c in self.router.all()}
        with self._writer.transaction() as conn:
            queue.save_connector_states(conn, self.name, now, states)
            queue.add_counts(conn, now, counts)

    # --- sending ----------------------------------------------------------------------------------------------

    def _claim(self) -> list[Outgoing]:
        with self._writer.transaction() as conn:
            return queue.claim(conn, self.name, self.clock(), self.chunk, self.claim_ms)

    async def _send(self, chunk: list[Outgoing]) -> None:
        try:
            await self._send_chunk(chunk)
        except Exception:
            # Nothing is lost: the claim runs out and the messages are taken again.
            log.exception("worker %s: a chunk of %d messages failed; they are retried when the claim runs out",
                          self.name, len(chunk))

    async def _send_chunk(self, chunk: list[Outgoing]) -> None:
        now = self.clock()
        accounts = await self._db(self._accounts_of, {m.account_id for m in chunk})
        resent = [m.id for m in chunk if m.parts > 1 and m.attempts > 1]
        skips = await self._db(self._sent_parts, resent) if resent else {}
        changes: dict[int, queue.MessageChange] = {}
        by_connector: dict[str, tuple[Connector, list[tuple[Outgoing, list[Part]]]]] = {}
        reclaimed = [m.id for m in chunk if m.reclaimed]
        if reclaimed:
            log.warning("%d messages (first %d) were claimed by a worker that ended without an answer; they are sent "
                        "again and may reach the SMSC twice", len(reclaimed), reclaimed[0])
            self.counts["resubmitted"] += len(reclaimed)
        bound = self.router.bound()
        for message in chunk:
            held = self._hold(message, now)
            if held is not None:
                changes[message.id] = held
                continue
            account = accounts.get(message.account_id)
            connector = self.router.pick(message.recipient, account is not None and account.test_mode, bound)
            if connector is None:
                changes[message.id] = queue.MessageChange(message.id, Status.REJECTED, error_code="no route")
                continue
            if not bound[connector.name]:  # waiting for a link costs no attempt
                changes[message.id] = _later(message, now + UNBOUND_MS, f"{connector.name} not bound")
                continue
            wait = self._rate_wait(account, message, skips.get(message.id, frozenset()), now)
            if wait:  # over the account's send rate: later, and no attempt spent
                changes[message.id] = _later(message, now + wait)
                continue
            try:
                parts = wire.parts_of(message, connector.wire, now, skips.get(message.id, frozenset()))
            except ValueError as error:
                log.error("message %d cannot be put on the wire: %s", message.id, error)
                changes[message.id] = queue.MessageChange(message.id, Status.FAILED, error_code="encoding")
                continue
            by_connector.setdefault(connector.name, (connector, []))[1].append((message, parts))

        sent = await asyncio.gather(*(self._submit(c, items) for c, items in by_connector.values()))
        segment_rows: list[dict[str, Any]] = []
        for connector_name, results in zip(by_connector, sent, strict=True):
            for message, parts, outcomes in results:
                changes[message.id] = self._fold(message, parts, outcomes, connector_name, now, segment_rows)
        await self._db(self._record, chunk, [changes[m.id] for m in chunk], segment_rows, accounts, now)

    async def _submit(self, connector: Connector, items: list[tuple[Outgoing, list[Part]]]
                      ) -> list[tuple[Outgoing, list[Part], list[SubmitOutcome]]]:
        flat = [part for _, parts in items for part in parts]
        outcomes = await connector.submit(flat) if flat else []
        results, i = [], 0
        for message, parts in items:
            results.append((message, parts, outcomes[i : i + len(parts)]))
            i += len(parts)
        return results

    def _rate_wait(self, account: Account | None, message: Outgoing, sent: AbstractSet[int], now: int) -> int:
        """0 when the account's send rate lets this message's parts go now, else the ms until it will."""
        if account is None or not account.send_rate:
            return 0
        rate = self._rates.get(account.id)
        if rate is None or rate.per_s != account.send_rate:
            rate = self._rates[account.id] = _Rate(account.send_rate, now)
        return rate.take(message.parts - len(sent), now)

    def _hold(self, message: Outgoing, now: int) -> queue.MessageChange | None:
        """Expired, or outside its send window: not sent now (the attempt gives its count back)."""
        if message.expires_at <= now:
            return queue.MessageChange(message.id, Status.EXPIRED, error_code="validity")
        if message.send_window is None:
            return None
        window = SendWindow.from_dict(json.loads(message.send_window))
        at = datetime.fromtimestamp(now / 1000, UTC)
        if window.contains(at):
            return None
        opening = window.next_opening(at)
        if opening is None or repo.to_ms(opening) >= message.expires_at:
            return queue.MessageChange(message.id, Status.EXPIRED, error_code="send window")
        return queue.MessageChange(message.id, Status.SCHEDULED, due_at=repo.to_ms(opening), attempts_back=True)

    def _fold(self, message: Outgoing, parts: list[Part], outcomes: Sequence[SubmitOutcome], connector: str,
              now: int, segment_rows: list[dict[str, Any]]) -> queue.MessageChange:
        """One message's parts' outcomes → its new state; the parts the SMSC took become segments."""
        for part, result in zip(parts, outcomes, strict=True):
            if result.outcome is Outcome.ACCEPTED:
                segment_rows.append({"message_id": message.id, "seq": part.seq, "smsc_id": result.smsc_id,
                                     "connector": connector, "status": Status.SUBMITTED.value, "error_code": None,
                                     "updated_at": now})
        failed = [o for o in outcomes if o.outcome is not Outcome.ACCEPTED]
        if not failed:
            return queue.MessageChange(message.id, Status.SUBMITTED)
        worst = min(failed, key=lambda o: _SEVERITY.index(o.outcome))
        after = schedule.after(worst.outcome, worst.error, message.attempts, now, message.expires_at,
                               message.billing_single_shot)
        return queue.MessageChange(message.id, after.status, after.due_at, after.error_code,
                                   attempts_back=not after.attempt_counts)

    def _record(self, chunk: list[Outgoing], changes: list[queue.MessageChange], segment_rows: list[dict[str, Any]],
                accounts: dict[int, Account], now: int) -> None:
        history, reports, ended = [], [], []
        for message, change in zip(chunk, changes, strict=True):
            previous = Status(message.status)
            if change.attempts_back and change.status is previous:
                continue  # throttled, or still outside its window: nothing happened to it
            history.append((message.id, previous, change.status, change.error_code))
            if change.status.final:
                ended.append(message.id)
            self.counts[_OUTCOME_COUNTER.get(change.status, change.status.value)] += 1
            account = accounts.get(message.account_id)
            if account is not None and reported(change.status, message.reports, account):
                reports.append(repo.report_row(account, ReportKind.DR, now, message_id=message.id,
                                               status=change.status.value, error_code=change.error_code))
        with self._writer.transaction() as conn:
            queue.record_attempts(conn, self.name, now, segment_rows, changes)
            repo.record_history(conn, history, now)
            repo.queue_reports(conn, reports)
            if ended:  # those that never reached an SMSC get their credit back
                policy.refund(conn, ended, now)
        if self._inbox:
            self._apply_inbox()

    def _sent_parts(self, ids: list[int]) -> dict[int, frozenset[int]]:
        with self.store.read() as conn:
            return queue.sent_parts(conn, ids)

    def _accounts_of(self, ids: set[int]) -> dict[int, Account]:
        """Accounts by id, each read at most every few seconds (test mode and report settings may change)."""
        with self.store.read() as conn:
            return self._accounts_in(conn, ids)

    # --- what the SMSC sends: the connectors' Inbound ---------------------------------------------------------

    async def receipts(self, receipts: Sequence[Receipt]) -> None:
        """Into the receipt inbox, committed with whatever other receipts arrive meanwhile (one short transaction
        per flush: an SMSC has only a small window of receipts waiting for their answer); they are applied to their
        messages afterwards, thousands at a time."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._receipts_waiting.append((list(receipts), done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_receipts())
        await done

    async def _flush_receipts(self) -> None:
        while self._receipts_waiting:
            batch, self._receipts_waiting = self._receipts_waiting, []
            try:
                await self._db(self._take_receipts, [r for receipts, _ in batch for r in receipts])
            except Exception as error:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
            if self._applier is None or self._applier.done():
                self._applier = asyncio.create_task(self._apply_soon())

    async def _apply_soon(self) -> None:
        """Apply the inbox shortly: receipts gather for a moment, so a pass applies many. If the database fails,
        the receipts stay in the inbox for the pass after the next record."""
        await asyncio.sleep(APPLY_AFTER_S)
        try:
            await self._db(self._apply_inbox)
        except Exception as error:
            log.error("worker %s: applying receipts failed (%s); they wait in the inbox", self.name,
                      str(error).splitlines()[0][:200])

    def _take_receipts(self, receipts: list[Receipt]) -> None:
        now = self.clock()
        with self._writer.transaction() as conn:
            queue.add_to_inbox(conn, [(r.connector, r.smsc_id, r.state, r.error, now) for r in receipts])
        self._inbox = True

    def _apply_inbox(self) -> None:
        """Apply the inbox's receipts to their parts and messages, in the order they came: by the id as the SMSC
        spelled it, or, once a receipt has waited `OTHER_SPELLINGS_AFTER_MS`, by its other spellings (hex for
        decimal and back). What matches nothing yet (it overtook the record of its submit) stays for the next pass,
        which comes after every record."""
        now = self.clock()
        with self._writer.transaction() as conn:
            inbox = queue.inbox(conn, INBOX_PASS)
            receipts = [Receipt(r.connector, r.smsc_id, r.state, r.error) for r in inbox]
            waited = {i for i, r in enumerate(inbox) if r.received_at <= now - OTHER_SPELLINGS_AFTER_MS}
            unmatched = self._apply(conn, receipts, now, other_spellings=waited)
            queue.drop_from_inbox(conn, [r.id for i, r in enumerate(inbox) if i not in unmatched])
        self._inbox = len(inbox) == INBOX_PASS or bool(unmatched)

    def _apply(self, conn: Connection, receipts: list[Receipt], now: int,
               other_spellings: AbstractSet[int] = frozenset()) -> set[int]:
        """Move segments and their messages along, receipt by receipt; returns the indexes of the receipts that
        matched no segment.

        A receipt is matched by the id exactly as the SMSC spelled it; the indexes in `other_spellings` may also
        match the id's hex or decimal twin. Never both at once for a fresh receipt: with numeric ids, the twin of
        one message's id is another message's id, and a receipt that overtook its own record would land on it."""
        keys = {i: self._spellings(r, i in other_spellings) for i, r in enumerate(receipts)}
        found, targets = queue.receipt_matches(conn, (k for ks in keys.values() for k in ks))
        matched: list[tuple[Receipt, queue.SegmentRow]] = []
        unmatched: set[int] = set()
        for i, candidates in keys.items():
            key = next((k for k in candidates if k in found), None)
            if key is None:
                unmatched.add(i)
                continue
            if i in other_spellings:  # evidence of how this SMSC spells its receipts' ids
                self._twins[receipts[i].connector] = key[1] != normalise_id(receipts[i].smsc_id)
            matched.append((receipts[i], found[key]))
        self.counts["receipts"] += len(matched)
        if not matched:
            return unmatched
        accounts = self._accounts_in(conn, {t.account_id for t in targets.values()})
        touched: dict[tuple[int, int], tuple[Status, str | None]] = {}
        moved: dict[int, tuple[Status, str | None]] = {}
        history, reports, barred = [], [], []
        for receipt, segment in matched:
            target = targets.get(segment.message_id)
            status = receipt_status(receipt.state)
            if target is None or not can_move(target.segments.get(segment.seq, segment.status), status):
                continue
            target.segments[segment.seq] = status
            touched[segment.message_id, segment.seq] = (status, receipt.error)
            new = aggregate([target.segments.get(seq, Status.ACCEPTED) for seq in range(1, target.parts + 1)])
            if new is target.status or not can_move(target.status, new):
                continue
            history.append((target.id, target.status, new, receipt.error))
            moved[target.id] = (new, receipt.error)
            target.status = new
            self.counts[new.value] += 1
            account = accounts.get(target.account_id)
            if account is not None and reported(new, target.reports, account):
                reports.append(repo.report_row(account, ReportKind.DR, now, message_id=target.id,
                                               status=new.value, error_code=receipt.error))
            if account is not None and new in PERMANENT_FAILURES and receipt.error in account.suppress_codes:
                barred.append(target.id)  # the network says this number is barred: stop sending to it
        queue.update_segments(conn, now, [(m, q, s, e) for (m, q), (s, e) in touched.items()])
        queue.update_statuses(conn, now, [(m, s, e) for m, (s, e) in moved.items()])
        repo.record_history(conn, history, now)
        repo.queue_reports(conn, reports)
        if barred:
            policy.suppress_recipients(conn, barred, "barred", now)
        return unmatched

    def _spellings(self, receipt: Receipt, any_spelling: bool) -> list[tuple[str, str]]:
        """The (connector, id) keys a receipt may match: as spelled, or its hex/decimal twins once this connector's
        SMSC is known to spell receipts that way (learnt from receipts that matched only after waiting)."""
        candidates = id_candidates(receipt.smsc_id)
        if not any_spelling:
            candidates = candidates[1:] if self._twins.get(receipt.connector) else candidates[:1]
        return [(receipt.connector, c) for c in candidates]

    def _accounts_in(self, conn: Connection, ids: set[int]) -> dict[int, Account]:
        now = time.monotonic()
        for account_id in ids:
            if account_id not in self._accounts or now - self._accounts[account_id][0] > ACCOUNTS_FOR_S:
                account = repo.get_account(conn, account_id=account_id)
                if account is not None:
                    self._accounts[account_id] = (now, account)
        return {i: self._accounts[i][1] for i in ids if i in self._accounts}

    async def mo_parts(self, parts: Sequence[MoPart]) -> None:
        await self._db(self._ingest, list(parts))

    def _ingest(self, parts: list[MoPart]) -> None:
        now = self.clock()
        with self._writer.transaction() as conn:
            for part in parts:
                if part.concat is None or part.concat[1] <= 1:
                    self._mo(conn, part.source, part.destination, part.data_coding, [part.payload], part.smsc_id)
                    continue
                ref, total, seq = part.concat
                complete = queue.add_mo_part(conn, {
                    "source": part.source, "destination": part.destination, "ref": ref, "total": total, "seq": seq,
                    "connector": part.connector, "data_coding": part.data_coding, "payload": part.payload,
                    "smsc_id": part.smsc_id, "received_at": now})
                if complete is not None:
                    self._mo(conn, part.source, part.destination, complete[0].data_coding,
                             [p.payload for p in complete], complete[0].smsc_id)
        self.counts["mo"] += len(parts)

    def _mo(self, conn: Connection, source: str, destination: str, data_coding: int, payloads: list[bytes],
            smsc_id: str | None) -> None:
        enc, text, payload = decode_mo(data_coding, b"".join(payloads))
        self.gateway.ingest_mo_in(conn, source, destination, text=text, payload=payload, enc=enc, smsc_id=smsc_id)

    def _end_unreported(self) -> None:
        """Messages that asked for a receipt and got none an hour after their validity ran out: the SMSC has stopped
        trying (it got the same validity), so they end `expired` with their report rather than wait for ever."""
        now = self.clock()
        with self._writer.transaction() as conn:
            ended = queue.unreported(conn, now - RECEIPT_GRACE_MS, INBOX_PASS)
            accounts = self._accounts_in(conn, {account_id for _, account_id, _ in ended})
            queue.update_statuses(conn, now, [(i, Status.EXPIRED, "no receipt") for i, _, _ in ended])
            repo.record_history(conn, [(i, status, Status.EXPIRED, "no receipt") for i, _, status in ended], now)
            repo.queue_reports(conn, [repo.report_row(accounts[a], ReportKind.DR, now, message_id=i,
                                                      status=Status.EXPIRED.value, error_code="no receipt")
                                      for i, a, _ in ended if a in accounts])
        if ended:
            log.warning("worker %s: %d messages got no receipt within an hour after their validity; ended expired",
                        self.name, len(ended))
            self.counts["expired"] += len(ended)

    def _erase_old_content(self) -> None:
        """Erase the text of finished messages and of MOs older than their account's content retention, a pass of
        at most RETENTION_PASS rows per transaction (metadata stays for reports and billing)."""
        now = self.clock()
        with self.store.read() as conn:
            kept = policy.content_retention(conn)
        for account_id, days in kept:
            while True:
                with self._writer.transaction() as conn:
                    erased = policy.erase_content(conn, account_id, now - days * 86_400_000, RETENTION_PASS)
                if erased:
                    log.info("worker %s: erased the content of %d messages of account %d (older than %d days)",
                             self.name, erased, account_id, days)
                if erased < RETENTION_PASS:
                    break

    def _sweep(self) -> None:
        """Drop receipts that never matched; deliver concatenated MOs whose missing parts never came."""
        now = self.clock()
        with self._writer.transaction() as conn:
            dropped = queue.drop_stale_inbox(conn, now - UNMATCHED_FOR_MS)
            stale = queue.stale_mo_parts(conn, now - MO_PARTS_FOR_MS)
            groups: dict[tuple[str, str, int], list[Any]] = {}
            for row in stale:
                groups.setdefault((row.source, row.destination, row.ref), []).append(row)
            for (source, destination, _), rows in groups.items():
                log.warning("mo from %s to %s: %d of %d parts came; delivered as it is", source, destination,
                            len(rows), rows[0].total)
                self._mo(conn, source, destination, rows[0].data_coding, [r.payload for r in rows], rows[0].smsc_id)
        if dropped:
            log.warning("worker %s: %d receipts matched no message for a day; dropped", self.name, dropped)
        if self._inbox:
            self._apply_inbox()


class _Rate:
    """A token bucket of SMS parts per second; a second's worth may go at once."""

    __slots__ = ("at", "per_s", "tokens")

    def __init__(self, per_s: int, now: int) -> None:
        self.per_s = per_s
        self.tokens = float(per_s)
        self.at = now

    def take(self, parts: int, now: int) -> int:
        """Take `parts` tokens and return 0, or return the ms until there are enough (a message longer than a
        second's worth goes once the bucket is full)."""
        self.tokens = min(float(self.per_s), self.tokens + max(0, now - self.at) * self.per_s / 1000)
        self.at = now
        need = min(parts, self.per_s)
        if self.tokens >= need:
            self.tokens -= parts
            return 0
        return max(1, math.ceil((need - self.tokens) * 1000 / self.per_s))
