"""The outbox: push reports to customers from the reports table, in each account's vendor format.

Every report is a row before anything is sent. A pass claims due rows (their next attempt moves to the claim's end,
so a dead sender's rows come back), sends them over one pool of keep-alive connections, concurrently across
customers and at most PER_ENDPOINT at a time to one endpoint, and settles the outcomes in bulk. A failure is retried
30 s later, doubling, at most an hour apart, until the account's retention runs out; then the report is dead and
`smsgw reports --failed` shows it. An endpoint that times out, refuses or answers 5xx is held back as a whole until
its next try, so it costs one request per retry, not its whole queue, and never slows the others.

All database work runs on one thread with a kept connection; the event loop only sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..domain.errors import GatewayError
from ..domain.model import Account, IdempotencyKey, IdempotencyMode, MessageSpec, ReportItem, ReportKind, SubmitRequest
from ..gateway import Gateway
from ..store import outbox as rows
from ..store import repository as repo
from ..store.database import Store, Writer
from ..store.ids import now_ms
from .callback import Callback, Format
from .formats import FORMATS
from .http_client import MAX_ANSWER, HttpClient
from .signing import sign, signs

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_RETRY_MS = 30_000
MAX_RETRY_MS = 3_600_000
LEASE_MS = 300_000  # a claimed report not settled by then is another sender's (or this one's next pass)
PER_ENDPOINT = 8  # requests in flight to one endpoint (an account's DR or MO URL)
ENDPOINT_BACKLOG = 1000  # reports waiting locally for one endpoint before claims pass it by (it may get one BATCH more)
BATCH = 500  # reports claimed per pass
MAX_IN_FLIGHT = 4000  # reports held locally in all
BATCHED_MAX = 1000  # reports in one request of a batching format
BATCHED_EVERY_S = 1.0  # a batching format's requests to one endpoint (Puzzel: about one per second)
FLUSH_S = 0.05
DB_RETRY_S = 1.0
REPLY_KEY_WINDOW = timedelta(days=3)  # a reply to an MO is sent once even if the MO is pushed again

Endpoint = tuple[int, str]  # (account id, report kind)


def retry_delay_ms(attempts: int) -> int:
    """30 s after the first failure, doubling, at most an hour apart."""
    return min(FIRST_RETRY_MS << min(attempts - 1, 20), MAX_RETRY_MS)


@dataclass
class _Group:
    """Claimed reports for one endpoint, in claim order."""

    account: Account
    kind: ReportKind
    url: str
    format: Format
    items: list[ReportItem]
    signed: bool  # whether requests need sign() (credentials in the URL, a header or a secret)
    attempts: dict[int, int]  # report id -> attempts made before this one
    retain_until: dict[int, int]
    lease_end: float  # monotonic: past it, another pass may have claimed these again


@dataclass
class _Settled:
    done: list[int] = field(default_factory=list)
    retries: list[rows.Retry] = field(default_factory=list)
    dead: list[rows.Retry] = field(default_factory=list)
    released: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))  # until -> ids
    postponed: dict[Endpoint, int] = field(default_factory=dict)
    replies: list[tuple[Account, ReportItem, list[str]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.done) + len(self.retries) + len(self.dead) + len(self.replies) + sum(
            len(ids) for ids in self.released.values()) + len(self.postponed)


class Outbox:
    def __init__(self, store: Store, gateway: Gateway, *, clock: Callable[[], int] = now_ms, batch: int = BATCH,
                 idle_s: float = 0.1) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.batch = batch
        self.idle_s = idle_s
        self.counts: defaultdict[str, int] = defaultdict(int)
        self._writer = Writer(store)
        self._db_thread: ThreadPoolExecutor | None = None
        self._settled = _Settled()
        self._waiting: dict[Endpoint, int] = defaultdict(int)  # reports held locally per endpoint
        self._slots: dict[Endpoint, asyncio.Semaphore] = {}
        self._down: dict[Endpoint, int] = {}  # endpoint -> held back until (clock ms)
        self._next_post: dict[Endpoint, float] = {}
        self._held = 0
        self._room = asyncio.Event()

    # --- the loop ---------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="smsgw-outbox-db")
        http = HttpClient(max_answer=MAX_ANSWER)  # _slots: at most PER_ENDPOINT connections to an endpoint
        tasks: set[asyncio.Task[None]] = set()
        log.info("outbox started")
        try:
            flusher = asyncio.create_task(self._flush_loop(stop))
            while not stop.is_set():
                if self._held >= MAX_IN_FLIGHT:
                    self._room.clear()
                    await _pause(stop, 0.5, self._room)
                    continue
                self._room.clear()
                try:
                    groups, full = await self._db(self._claim, dict(self._waiting))
                except Exception as error:
                    log.error("outbox: the database failed (%s); trying again in %g s",
                              str(error).splitlines()[0][:200], DB_RETRY_S)
                    await _pause(stop, DB_RETRY_S)
                    continue
                for group in groups:
                    self._hold(group, +1)
                    task = asyncio.create_task(self._send_group(http, group))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if sum(len(g.items) for g in groups) < self.batch:
                    # Nothing more due, or only for endpoints that hold enough: claim again once some are sent.
                    await _pause(stop, self.idle_s, self._room if full else None)
            if tasks:
                _, late = await asyncio.wait(tasks, timeout=5)
                for task in late:  # their reports stay claimed and go out again after the lease
                    task.cancel()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await self._flush()
        finally:
            http.close()
            await self._db(self._writer.close)
            self._db_thread.shutdown(wait=True)
            log.info("outbox stopped")

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._db_thread is not None, "the outbox is not running"
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)

    @property
    def holding(self) -> int:
        """Reports claimed and not yet answered (a test moving a fake clock waits for 0)."""
        return self._held

    def _hold(self, group: _Group, sign_: int) -> None:
        count = sign_ * len(group.items)
        self._held += count
        self._waiting[group.account.id, group.kind.value] += count
        if sign_ < 0:
            self._room.set()

    # --- claiming (database thread) ---------------------------------------------------------------------------

    def _claim(self, waiting: dict[Endpoint, int]) -> tuple[list[_Group], bool]:
        """The due reports in groups to send, and whether endpoints were passed by (they hold ENDPOINT_BACKLOG)."""
        now = self.clock()
        full = [endpoint for endpoint, count in waiting.items() if count >= ENDPOINT_BACKLOG]
        with self._writer.transaction() as conn:
            claimed = rows.claim(conn, now, self.batch, LEASE_MS, full)
            if not claimed:
                return [], bool(full)
            accounts = {a: repo.get_account(conn, account_id=a) for a in {r.account_id for r in claimed}}
            sendable, dead, pulled = [], [], []
            for r in claimed:
                account = accounts[r.account_id]
                if r.retain_until < now:
                    dead.append(rows.Retry(r.id, r.attempts, now, r.last_error or "retention ran out"))
                elif account is None or _url(account, ReportKind(r.kind)) is None:
                    pulled.append(r.id)
                else:
                    sendable.append(r)
            rows.settle(conn, [], [], dead)
            rows.to_pull(conn, pulled)
        for d in dead:
            log.warning("outbox: report %d dead-lettered: retention ran out (%s)", d.report_id, d.error)
        if pulled:
            log.info("outbox: %d reports kept for pull: their account no longer pushes them", len(pulled))
        self.counts["dead"] += len(dead)
        if not sendable:
            return [], bool(full)
        with self.store.read() as conn:
            items = repo.report_items(conn, sendable)
        lease_end = time.monotonic() + LEASE_MS / 1000 - 30
        groups: dict[Endpoint, _Group] = {}
        for r, item in zip(sendable, items, strict=True):
            account = accounts[r.account_id]
            assert account is not None
            kind = ReportKind(r.kind)
            group = groups.get((account.id, r.kind))
            if group is None:
                url = _url(account, kind)
                assert url is not None
                group = groups[account.id, r.kind] = _Group(account, kind, url, FORMATS[account.report_format], [],
                                                           signs(account, url), {}, {}, lease_end)
            group.items.append(item)
            group.attempts[r.id] = r.attempts
            group.retain_until[r.id] = r.retain_until
        return list(groups.values()), bool(full)

    # --- sending (event loop) ---------------------------------------------------------------------------------

    async def _send_group(self, http: HttpClient, group: _Group) -> None:
        try:
            if group.format.batched:
                for start in range(0, len(group.items), BATCHED_MAX):
                    part = group.items[start:start + BATCHED_MAX]
                    await self._paced(group)
                    for callback in group.format.callbacks(group.account, group.url, group.kind, part):
                        await self._send(http, group, callback)
            else:
                callbacks = group.format.callbacks(group.account, group.url, group.kind, group.items)
                if (group.account.id, group.kind.value) in self._down and callbacks:
                    # The endpoint was failing: one callback tries it; the rest follow only if it answers.
                    await self._send(http, group, callbacks[0])
                    callbacks = callbacks[1:]
                # A few senders taking the callbacks in order, not a task each: no more than PER_ENDPOINT can be in
                # flight anyway, and a task and a semaphore wait per callback cost more than the request.
                queue = iter(callbacks)
                await asyncio.gather(*(self._send_each(http, group, queue)
                                       for _ in range(min(PER_ENDPOINT, len(callbacks)))))
        except Exception:
            # A format that cannot render a report is our bug: its reports are retried on schedule, not lost.
            log.exception("outbox: account %s: %s reports could not be sent", group.account.name, group.kind.value)
            self._failed(group, [i.id for i in group.items], "internal error rendering the report", endpoint=False)
        finally:
            self._hold(group, -1)

    async def _send_each(self, http: HttpClient, group: _Group, queue: Iterator[Callback]) -> None:
        for callback in queue:
            await self._send(http, group, callback)

    async def _paced(self, group: _Group) -> None:
        endpoint = (group.account.id, group.kind.value)
        wait = self._next_post.get(endpoint, 0.0) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._next_post[endpoint] = time.monotonic() + BATCHED_EVERY_S

    async def _send(self, http: HttpClient, group: _Group, callback: Callback) -> None:
        endpoint = (group.account.id, group.kind.value)
        slots = self._slots.get(endpoint)
        if slots is None:
            slots = self._slots[endpoint] = asyncio.Semaphore(PER_ENDPOINT)
        async with slots:
            if time.monotonic() > group.lease_end:
                return  # claimed again by now: sending it here too would send it twice
            down = self._down.get(endpoint)
            if down is not None and down > self.clock():
                self._settled.released[down] += callback.report_ids
                return
            url, headers = callback.url, callback.headers
            if group.signed:
                signed = sign(group.account, callback.method, url, callback.body, self.clock() // 1000)
                url, headers = signed.url, {**headers, **signed.headers}
            try:
                answer = await http.request(callback.method, url, body=callback.body, headers=headers,
                                            timeout=group.account.report_timeout)
            except (TimeoutError, OSError, ValueError) as error:
                reason = _reason(error)
                log.info("outbox: account %s %s callback to %s failed: %s", group.account.name, group.kind.value,
                         _host(url), reason)
                self._failed(group, callback.report_ids, reason, endpoint=True)
                return
        if group.format.acknowledged(group.kind, answer):
            self._down.pop(endpoint, None)
            self._settled.done += callback.report_ids
            self.counts["sent"] += len(callback.report_ids)
            if group.kind is ReportKind.MO and (texts := group.format.replies(group.kind, answer)):
                items = [i for i in group.items if i.id in callback.report_ids]
                self._settled.replies += [(group.account, item, texts) for item in items]
            return
        reason = f"HTTP {answer.status}" + (f": {_snippet(answer.body)}" if answer.body.strip() else "")
        log.info("outbox: account %s %s callback to %s not acknowledged: %s", group.account.name, group.kind.value,
                 _host(url), reason)
        self._failed(group, callback.report_ids, reason, endpoint=answer.status >= 500 or answer.status == 429)

    def _failed(self, group: _Group, ids: tuple[int, ...] | list[int], reason: str, *, endpoint: bool) -> None:
        """Schedule the next try of each report; when the endpoint itself is failing, hold its queue back too."""
        now = self.clock()
        soonest = None
        for report_id in ids:
            attempts = group.attempts[report_id] + 1
            retry = rows.Retry(report_id, attempts, now + retry_delay_ms(attempts), reason)
            if retry.next_attempt_at > group.retain_until[report_id]:
                self._settled.dead.append(retry)
                self.counts["dead"] += 1
                log.warning("outbox: report %d for account %s dead-lettered after %d attempts: %s", report_id,
                            group.account.name, attempts, reason)
            else:
                self._settled.retries.append(retry)
                soonest = retry.next_attempt_at if soonest is None else min(soonest, retry.next_attempt_at)
        self.counts["failed"] += len(ids)
        if endpoint and soonest is not None:
            key = (group.account.id, group.kind.value)
            self._down[key] = soonest
            self._settled.postponed[key] = soonest

    # --- settling (database thread) ---------------------------------------------------------------------------

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(FLUSH_S)
            if len(self._settled):
                await self._flush()

    async def _flush(self) -> None:
        settled, self._settled = self._settled, _Settled()
        try:
            await self._db(self._write, settled)
        except Exception as error:
            log.error("outbox: the database failed settling %d reports (%s); trying again", len(settled),
                      str(error).splitlines()[0][:200])
            self._settled = _merge(settled, self._settled)
            await asyncio.sleep(DB_RETRY_S)

    def _write(self, settled: _Settled) -> None:
        # Replies first: if we die before the MO is settled, it is pushed again and its replies are not sent twice.
        for account, item, texts in settled.replies:
            self._reply(account, item, texts)
        settled.replies = []
        with self._writer.transaction() as conn:
            rows.settle(conn, settled.done, settled.retries, settled.dead)
            for until, ids in settled.released.items():
                rows.release(conn, ids, until)
            for (account_id, kind), until in settled.postponed.items():
                held = rows.postpone(conn, account_id, kind, until)
                if held:
                    log.info("outbox: account %d %s endpoint failing: %d reports held back %d s", account_id,
                             kind, held, max(0, until - self.clock()) // 1000)

    def _reply(self, account: Account, item: ReportItem, texts: list[str]) -> None:
        """The customer's answer to an MO, sent back to the phone it came from (Rapporto's 200 body)."""
        mo = item.inbound
        assert mo is not None
        specs = [MessageSpec(recipient=mo.originator, originator=mo.destination, text=text,
                             idempotency=IdempotencyKey(f"mo-reply:{mo.id}:{n}", IdempotencyMode.REPLAY,
                                                        REPLY_KEY_WINDOW))
                 for n, text in enumerate(texts)]
        try:
            result = self.gateway.submit(account, SubmitRequest(messages=specs, face="reply"))
        except GatewayError as error:
            log.warning("outbox: replies to MO %d for account %s refused: %s", mo.id, account.name, error)
            return
        for outcome in result.outcomes:
            if outcome.error is not None:
                log.warning("outbox: reply %d to MO %d for account %s refused: %s", outcome.index, mo.id,
                            account.name, outcome.error)
        self.counts["replies"] += sum(1 for o in result.outcomes if o.accepted)


def _merge(first: _Settled, second: _Settled) -> _Settled:
    merged = _Settled(first.done + second.done, first.retries + second.retries, first.dead + second.dead,
                      defaultdict(list), {**first.postponed, **second.postponed}, first.replies + second.replies)
    for source in (first.released, second.released):
        for until, ids in source.items():
            merged.released[until] += ids
    return merged


def _url(account: Account, kind: ReportKind) -> str | None:
    if account.report_format not in FORMATS:
        return None
    return account.dlr_url if kind is ReportKind.DR else account.mo_url


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}"[:200]


def _snippet(body: bytes) -> str:
    return body[:80].decode("utf-8", "replace").strip()


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


async def _pause(stop: asyncio.Event, seconds: float, also: asyncio.Event | None = None) -> None:
    """Wait `seconds`, or less if told to stop (or `also` is set)."""
    waits = [asyncio.ensure_future(stop.wait())] + ([asyncio.ensure_future(also.wait())] if also else [])
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
