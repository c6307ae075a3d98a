"""The outbox on real sockets: reports pushed to a customer's HTTP server in each vendor's format, acknowledged as each
vendor defines it, retried on schedule (a fake clock stands in for hours), held back as a whole while an endpoint is
down, never held back by another customer, authenticated and signed, handed to pull when the account stops pushing,
kept across restarts, and sent exactly once by two outboxes sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import Row, select, update

from smsgw.accounts import Accounts
from smsgw.dialects.puzzel.codes import message_id as puzzel_id
from smsgw.domain.model import Account, Inbound, MessageSpec, ReportKind, SubmitRequest
from smsgw.gateway import Gateway
from smsgw.reports import signing
from smsgw.reports.outbox import LEASE_MS, Outbox
from smsgw.store import repository as repo
from smsgw.store.database import Store
from smsgw.store.tables import reports

PHONE = "+4791234567"
SECOND = 1000
HOUR = 3_600_000
WAIT_S = 15.0  # the most any condition below is waited for (each holds within a fraction of that)


# --- the customer's HTTP server -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """How the receiver answers: a status, a body, after a delay (seconds)."""

    status: int = 200
    body: bytes = b"OK"
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request as the receiver got it, and what it answered."""

    method: str
    target: str  # path and query exactly as they came in the request line
    requestline: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() on arrival
    status: int  # the status answered

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        pairs = parse_qsl(urlsplit(self.target).query, keep_blank_values=True)
        assert len(pairs) == len({k for k, _ in pairs}), f"a parameter given twice: {self.target}"
        return dict(pairs)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Receiver:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records every request (on arrival) and answers by path: 200 "OK"
    unless `answer` says otherwise. `refuse()` closes the port (connections are refused), `listen()` opens it again
    on the same port."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._answers: dict[str, Reply | Callable[[Request], Reply]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self.listen()

    def url(self, path: str, credentials: str = "") -> str:
        return f"http://{credentials}{'@' if credentials else ''}127.0.0.1:{self.port}{path}"

    def answer(self, path: str, reply: Reply | Callable[[Request], Reply]) -> None:
        self._answers[path] = reply

    def to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def listen(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the outbox keeps connections alive

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                how = receiver._answers.get(path, Reply())
                draft = Request(self.command, self.path, self.requestline,
                                {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic(), 0)
                reply = how(draft) if callable(how) else how
                with receiver._lock:
                    receiver.requests.append(Request(**{**draft.__dict__, "status": reply.status}))
                if reply.delay and receiver._closing.wait(reply.delay):
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                if reply.status not in (204, 304):
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.status not in (204, 304):
                    self.wfile.write(reply.body)

            do_GET = do_POST = handle_one

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_port
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def refuse(self) -> None:
        """Close the port and every open connection: the next connection attempt is refused."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            open_ones = list(self._connections)
        for conn in open_ones:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closing.set()
        self.refuse()


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def receiver(receivers: Callable[[], Receiver]) -> Receiver:
    return receivers()


# --- time, the gateway, the outbox --------------------------------------------------------------------------------


class Clock:
    """Epoch milliseconds that move only when the test says so (the outbox's and the gateway's "now")."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gw(store: Store, gateway: Gateway, clock: Clock) -> Iterator[Gateway]:
    """A gateway on the test's clock (ids from the fixture gateway's leased node)."""
    clocked = Gateway(store, gateway.ids, clock=clock)
    yield clocked
    clocked.close()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S,
               alive: Callable[[], None] = lambda: None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Running:
    """An outbox running on its own event loop in a thread."""

    outbox: Outbox
    started: float = 0.0
    errors: list[BaseException] = field(default_factory=list)
    thread: threading.Thread | None = None

    def alive(self) -> None:
        if self.errors:
            raise AssertionError("the outbox failed") from self.errors[0]
        assert self.thread is not None and self.thread.is_alive(), "the outbox stopped by itself"

    def until(self, condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        wait_until(condition, what, timeout, self.alive)

    def settled(self, store: Store, ids: Sequence[int], requests: int) -> bool:
        """Whether this outbox holds no report in flight and has written the outcome of all `requests` it made (one
        report each, to reports `ids` that started untried). Only then may a test move the clock: a failure taken in
        after the move would be retried from the new time, not from when it was tried."""
        made = self.outbox.counts["sent"] + self.outbox.counts["failed"]
        return (self.outbox.holding == 0 and made == requests
                and sum(r.attempts for r in rows(store, ids).values()) == made)


@contextlib.contextmanager
def running(outbox: Outbox) -> Iterator[Running]:
    """`asyncio.run(outbox.run(stop))` in a thread, stopped (stop set, run awaited) when the block ends."""
    run = Running(outbox)
    ready = threading.Event()
    handles: dict[str, Any] = {}

    def main() -> None:
        async def go() -> None:
            stop = asyncio.Event()
            handles["loop"], handles["stop"] = asyncio.get_running_loop(), stop
            ready.set()
            await outbox.run(stop)

        try:
            asyncio.run(go())
        except BaseException as error:
            run.errors.append(error)
        finally:
            ready.set()

    run.thread = threading.Thread(target=main, name="outbox-under-test", daemon=True)
    run.started = time.monotonic()
    run.thread.start()
    ready.wait(10)
    try:
        yield run
    finally:
        if "loop" in handles:
            with contextlib.suppress(RuntimeError):  # the loop may have ended already
                handles["loop"].call_soon_threadsafe(handles["stop"].set)
        run.thread.join(30)
        assert not run.thread.is_alive(), "the outbox did not stop within 30 s"
    if run.errors:
        raise run.errors[0]


def make_outbox(store: Store, gateway: Gateway, clock: Callable[[], int], **options: Any) -> Outbox:
    return Outbox(store, gateway, clock=clock, **{"idle_s": 0.02, **options})


# --- accounts, messages, reports as production makes them ---------------------------------------------------------

_short_codes = itertools.count(20001)


def customer(accounts: Accounts, name: str, report_format: str, dlr_url: str | None, mo_url: str | None,
             **settings: Any) -> tuple[Account, str]:
    """An account pushing to these URLs, owning a short code of its own (returned with it)."""
    accounts.create(name, "pw", default_country="NO", report_format=report_format, dlr_url=dlr_url, mo_url=mo_url,
                    **settings)
    number, _ = accounts.add_number(name, str(next(_short_codes)))
    return accounts.get(name), number


def send_mt(gw: Gateway, account: Account, text: str = "hi", client_ref: str | None = None) -> int:
    result = gw.submit(account, SubmitRequest(face="test", messages=[
        MessageSpec(recipient=PHONE, text=text, client_ref=client_ref)]))
    [outcome] = result.outcomes
    assert outcome.message_id is not None, outcome
    return outcome.message_id


def queue_drs(store: Store, account: Account, now: int, drs: Sequence[tuple[int, str]]) -> list[int]:
    """DRs (message id, status) queued as the delivery worker queues them; their report ids, in order."""
    with store.write() as conn:
        repo.queue_reports(conn, [repo.report_row(account, ReportKind.DR, now, message_id=m, status=s)
                                  for m, s in drs])
    with store.read() as conn:
        found = conn.execute(select(reports.c.id, reports.c.message_id, reports.c.status)
                             .where(reports.c.message_id.in_({m for m, _ in drs})).order_by(reports.c.id)).all()
    by_pair: dict[tuple[int, str], list[int]] = {}
    for r in found:
        by_pair.setdefault((r.message_id, r.status), []).append(r.id)
    return [by_pair[pair].pop(0) for pair in drs]


def dr(store: Store, gw: Gateway, account: Account, status: str = "delivered", client_ref: str | None = None) -> int:
    """A message submitted and one DR about it queued: the report's id."""
    message = send_mt(gw, account, client_ref=client_ref)
    return queue_drs(store, account, gw.clock(), [(message, status)])[0]


def mo(store: Store, gw: Gateway, number: str, text: str = "hello") -> tuple[Inbound, int]:
    """An MO from PHONE to `number`, as an SMSC delivers it: the MO and its report's id."""
    inbound = gw.ingest_mo(PHONE, number, text=text)
    with store.read() as conn:
        report_id = conn.execute(select(reports.c.id).where(reports.c.inbound_id == inbound.id)).scalar_one()
    return inbound, report_id


def rows(store: Store, ids: Sequence[int]) -> dict[int, Row[Any]]:
    with store.read() as conn:
        return {r.id: r for r in conn.execute(select(reports).where(reports.c.id.in_(list(ids))))}


def row(store: Store, report_id: int) -> Row[Any]:
    return rows(store, [report_id])[report_id]


def all_done(store: Store, ids: Sequence[int]) -> Callable[[], bool]:
    return lambda: all(r.state == "done" for r in rows(store, ids).values())


def all_tried(store: Store, ids: Sequence[int], attempts: int = 1) -> Callable[[], bool]:
    """Every report settled after `attempts` tries (done, retried or dead)."""
    return lambda: all(r.attempts >= attempts for r in rows(store, ids).values())


def quiet(store: Store, clock: Clock, account_ids: Sequence[int]) -> bool:
    """No pending push report of these accounts is due or claimed: each waits for a later try."""
    with store.read() as conn:
        due = conn.execute(select(reports.c.next_attempt_at).where(
            reports.c.account_id.in_(list(account_ids)), reports.c.delivery == "push",
            reports.c.state == "pending")).scalars().all()
    return all(at > clock.now and at != clock.now + LEASE_MS for at in due)


def next_due(store: Store, account_ids: Sequence[int]) -> int:
    with store.read() as conn:
        return int(conn.execute(select(reports.c.next_attempt_at).where(
            reports.c.account_id.in_(list(account_ids)), reports.c.delivery == "push", reports.c.state == "pending")
            .order_by(reports.c.next_attempt_at).limit(1)).scalar_one())


# --- 1. every format, end to end ----------------------------------------------------------------------------------

FORMAT_NAMES = ("modica", "puzzel-json", "puzzel-xml", "puzzel-get", "openmarket", "rapporto")


def _urls(receiver: Receiver, fmt: str) -> tuple[str, str]:
    if fmt == "puzzel-get":  # a template of [field] placeholders, any case, as Puzzel's own examples write them
        return (receiver.url("/puzzel-get/dr?msgid=[messageid]&code=[statuscode]&ref=[customerMessageReference]"),
                receiver.url("/puzzel-get/mo?msgid=[messageid]&from=[originator]&to=[sno]&text=[content]"
                             "&session=[sessionId]"))
    return receiver.url(f"/{fmt}/dr"), receiver.url(f"/{fmt}/mo")


def test_each_format_pushes_a_dr_and_an_mo_with_its_method_path_query_and_body(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    receiver.answer("/rapporto/mo", Reply(204, b""))  # a 200 body would be sent back as a reply
    sent: dict[str, tuple[Account, str, int, Inbound]] = {}
    ids = []
    for fmt in FORMAT_NAMES:
        account, number = customer(accounts, f"c-{fmt}", fmt, *_urls(receiver, fmt))
        message = send_mt(gw, account, client_ref=f"ref-{fmt}")
        ids += queue_drs(store, account, clock(), [(message, "delivered")])
        inbound, mo_report = mo(store, gw, number, f"hello {fmt}")
        ids.append(mo_report)
        sent[fmt] = (account, number, message, inbound)

    with running(make_outbox(store, gw, clock)) as run:
        run.until(all_done(store, ids), "every report acknowledged")

    def one(path: str) -> Request:
        [request] = receiver.to(path)
        return request

    account, number, message, inbound = sent["modica"]
    request = one("/modica/dr")
    assert (request.method, request.body) == ("GET", b"")
    assert request.query == {"id": str(message), "status": "received", "reference": "ref-modica"}
    request = one("/modica/mo")
    assert request.method == "GET"
    assert request.query == {"id": str(inbound.id), "source": PHONE, "destination": number,
                             "content": "hello modica", "operator": ""}

    for fmt in ("puzzel-json", "puzzel-xml"):
        account, number, message, inbound = sent[fmt]
        dr_request, mo_request = one(f"/{fmt}/dr"), one(f"/{fmt}/mo")
        assert (dr_request.method, mo_request.method, dr_request.query, mo_request.query) == ("POST", "POST", {}, {})
        if fmt == "puzzel-json":
            assert dr_request.headers["content-type"].startswith("application/json")
            [dr_fields] = json.loads(dr_request.body)["dr"]
            [mo_fields] = json.loads(mo_request.body)["mo"]
        else:
            assert dr_request.headers["content-type"].startswith("application/xml")
            dr_root, mo_root = ET.fromstring(dr_request.body), ET.fromstring(mo_request.body)
            assert (dr_root.tag, mo_root.tag) == ("dr", "mo")
            [dr_fields] = [{e.tag: e.text for e in m} for m in dr_root.findall("message")]
            [mo_fields] = [{e.tag: e.text for e in m} for m in mo_root.findall("message")]
        assert dr_fields["messageid"] == puzzel_id(message)
        assert str(dr_fields["statuscode"]) == "0" and str(dr_fields["type"]) == "6"
        assert dr_fields["customermessagereference"] == f"ref-{fmt}" and dr_fields["servicename"] == account.name
        assert mo_fields["messageid"] == puzzel_id(inbound.id) and str(mo_fields["type"]) == "1"
        assert (mo_fields["originator"], mo_fields["sno"], mo_fields["content"]) == (PHONE, number, f"hello {fmt}")

    account, number, message, inbound = sent["puzzel-get"]
    request = one("/puzzel-get/dr")
    assert request.method == "GET"
    assert request.query == {"msgid": puzzel_id(message), "code": "0", "ref": "ref-puzzel-get"}
    request = one("/puzzel-get/mo")
    assert request.query == {"msgid": puzzel_id(inbound.id), "from": PHONE, "to": number,
                             "text": "hello puzzel-get", "session": ""}

    account, number, message, inbound = sent["openmarket"]
    request = one("/openmarket/dr")
    assert request.method == "GET"
    assert request.query["smsmsg"] == f"REPORT {message} DELIVERED"
    assert request.query["smsfrom"] == PHONE.removeprefix("+") and request.query["smsid"].isdigit()
    assert request.query["reason"] == str(0x5 << 28)
    request = one("/openmarket/mo")
    assert {k: request.query[k] for k in ("smsfrom", "smsmsg", "smsto", "smsid", "bits")} == {
        "smsfrom": PHONE.removeprefix("+"), "smsmsg": "hello openmarket", "smsto": number, "smsid": str(inbound.id),
        "bits": "7"}

    account, number, message, inbound = sent["rapporto"]
    request = one("/rapporto/dr")
    assert request.method == "GET"
    assert request.query == {"msgType": "SMS", "transactionId": str(message), "status": "2",
                             "partnerMsgId": "ref-rapporto"}
    request = one("/rapporto/mo")
    assert {k: request.query[k] for k in ("clientId", "message", "serviceId", "shortNumber", "messageId")} == {
        "clientId": PHONE.removeprefix("+"), "message": "hello rapporto", "serviceId": account.name,
        "shortNumber": number, "messageId": str(inbound.id)}
    assert len(receiver.requests) == 12  # one request each, nothing sent twice


# --- 2. what acknowledges a callback, per vendor ------------------------------------------------------------------

ACKNOWLEDGEMENTS = [  # (format, kind, status, body, settles)
    ("modica", ReportKind.DR, 201, b"", True),
    ("modica", ReportKind.MO, 404, b"no such page", False),
    ("puzzel-json", ReportKind.DR, 200, b"", True),
    ("puzzel-json", ReportKind.DR, 201, b"", False),
    ("puzzel-json", ReportKind.DR, 204, b"", False),
    ("puzzel-get", ReportKind.MO, 204, b"", False),
    ("openmarket", ReportKind.DR, 200, b"", False),
    ("openmarket", ReportKind.DR, 200, b"OK", True),
    ("rapporto", ReportKind.DR, 400, b"", False),
    ("rapporto", ReportKind.DR, 200, b"", True),
    ("rapporto", ReportKind.MO, 204, b"", True),
]


def test_each_vendor_settles_only_on_its_own_acknowledgement_and_retries_anything_else(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    cases = []
    for n, (fmt, kind, status, body, settles) in enumerate(ACKNOWLEDGEMENTS):
        path = f"/ack/{n}/{kind.value}"
        receiver.answer(path, Reply(status, body))
        account, number = customer(accounts, f"ack-{n}", fmt, receiver.url(path), receiver.url(path))
        report_id = dr(store, gw, account) if kind is ReportKind.DR else mo(store, gw, number)[1]
        cases.append((n, account, report_id, status, settles))

    with running(make_outbox(store, gw, clock)) as run:
        run.until(all_tried(store, [c[2] for c in cases]), "every report tried once")

    found = rows(store, [c[2] for c in cases])
    for n, account, report_id, status, settles in cases:
        r = found[report_id]
        case = ACKNOWLEDGEMENTS[n]
        assert len(receiver.to(f"/ack/{n}/{case[1].value}")) == 1, case
        if settles:
            assert (r.state, r.attempts, r.last_error) == ("done", 1, None), case
        else:
            assert (r.state, r.attempts) == ("pending", 1), case
            assert r.last_error.startswith(f"HTTP {status}"), (case, r.last_error)
            assert r.next_attempt_at == clock.now + 30 * SECOND, case
        if account.report_format == "rapporto" and case[1] is ReportKind.MO:
            assert gw.messages(account=account) == [], "204 answers an MO without a reply"


def test_a_rapporto_mo_answered_with_a_body_is_replied_to_once_line_by_line_even_if_pushed_again(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    receiver.answer("/rap/mo", Reply(200, b"Thanks\nSee you\n"))
    account, number = customer(accounts, "rap", "rapporto", receiver.url("/rap/dr"), receiver.url("/rap/mo"))
    _, report_id = mo(store, gw, number, "STOP please")

    def replies() -> list[tuple[str, str | None, str | None]]:
        return [(m.recipient, m.originator, m.text) for m in sorted(gw.messages(account=account), key=lambda m: m.id)]

    with running(make_outbox(store, gw, clock)) as run:
        run.until(all_done(store, [report_id]), "the MO acknowledged")
    assert replies() == [(PHONE, number, "Thanks"), (PHONE, number, "See you")]

    # As if the outbox died after queueing the replies but before settling the MO: it is pushed again.
    with store.write() as conn:
        conn.execute(update(reports).where(reports.c.id == report_id).values(state="pending",
                                                                              next_attempt_at=clock.now))
    with running(make_outbox(store, gw, clock)) as run:
        run.until(lambda: len(receiver.to("/rap/mo")) == 2 and all_done(store, [report_id])(), "the MO pushed again")
    assert replies() == [(PHONE, number, "Thanks"), (PHONE, number, "See you")]


# --- 3. the retry schedule ----------------------------------------------------------------------------------------


def fail_until_dead(run: Running, store: Store, clock: Clock, receiver: Receiver, path: str, report_id: int,
                    most: int = 20) -> list[int]:
    """Let every try fail, moving the clock to each next try, until the report is dead: the delays between tries."""
    delays = []
    for attempt in range(1, most + 1):
        run.until(lambda n=attempt: len(receiver.to(path)) == n and row(store, report_id).attempts == n,
                  f"try {attempt} settled")
        r = row(store, report_id)
        if r.state == "dead":
            return delays
        assert r.state == "pending"
        delays.append(r.next_attempt_at - clock.now)
        clock.now = r.next_attempt_at
    raise AssertionError(f"not dead after {most} tries")


def test_failures_are_retried_30_s_later_doubling_capped_at_an_hour_with_attempts_and_error_kept(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    receiver.answer("/sched/dr", Reply(404, b"gone fishing"))
    account, _ = customer(accounts, "sched", "modica", receiver.url("/sched/dr"), None, report_retention=4)
    report_id = dr(store, gw, account)
    with running(make_outbox(store, gw, clock)) as run:
        delays = fail_until_dead(run, store, clock, receiver, "/sched/dr", report_id)
    assert [d // SECOND for d in delays] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    r = row(store, report_id)
    # The tenth try fails at 3 h 3 min 30 s; an eleventh an hour later would be past the 4 hours' retention.
    assert (r.state, r.attempts, r.last_error) == ("dead", 10, "HTTP 404: gone fishing")
    assert len(receiver.to("/sched/dr")) == 10


# --- 4. an endpoint down for an hour ------------------------------------------------------------------------------


def test_an_endpoint_down_for_an_hour_is_held_back_as_a_whole_then_gets_every_report_once_in_order(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    for path in ("/down/dr", "/down/mo"):
        receiver.answer(path, Reply(503, b"maintenance"))
    account, number = customer(accounts, "down", "modica", receiver.url("/down/dr"), receiver.url("/down/mo"))
    messages = [send_mt(gw, account, f"m{i}") for i in range(3)]
    ids = queue_drs(store, account, clock(), [(m, "buffered") for m in messages])
    ids += queue_drs(store, account, clock(), [(m, "delivered") for m in messages])
    mos = [mo(store, gw, number, f"mo {i}") for i in range(3)]
    ids += [report_id for _, report_id in mos]
    start = clock.now

    rounds = 0
    with running(make_outbox(store, gw, clock)) as run:
        while True:
            before = len(receiver.requests)
            run.until(lambda before=before: len(receiver.requests) > before
                      and run.settled(store, ids, len(receiver.requests)) and quiet(store, clock, [account.id]),
                      f"retry round {rounds + 1}")
            rounds += 1
            due = next_due(store, [account.id])
            if due >= start + HOUR:
                break
            clock.now = due
        down = {path: len(receiver.to(path)) for path in ("/down/dr", "/down/mo")}
        first_round = {"/down/dr": 3, "/down/mo": 3}  # the buffered DRs (the delivered wait behind them), the MOs

        for path in ("/down/dr", "/down/mo"):
            receiver.answer(path, Reply(200, b"OK"))
        clock.now = due  # the next try, past the hour
        run.until(all_done(store, ids), "every report after recovery")

    assert rounds == 7  # tries at 0, 30 s, 1.5, 3.5, 7.5, 15.5 and 31.5 min; the next is past the hour
    delivered = [r for r in receiver.requests if r.ok]
    assert Counter((r.path, r.query["id"], r.query.get("status")) for r in delivered) == Counter(
        [("/down/dr", str(m), s) for m in messages for s in ("sent", "received")]
        + [("/down/mo", str(inbound.id), None) for inbound, _ in mos])
    for m in messages:
        assert [r.query["status"] for r in delivered if r.path == "/down/dr" and r.query["id"] == str(m)] == [
            "sent", "received"]
    # Held back as a whole: the first round may try all it claimed (nothing was known yet), every retry after it
    # one request per endpoint, not one per report.
    for path, count in down.items():
        assert count <= first_round[path] + rounds - 1, (
            f"{path} got {count} requests in {rounds} retry rounds while down: {down}")


# --- 5. a slow customer does not slow the others ------------------------------------------------------------------


def _slow_and_fast(store: Store, gw: Gateway, accounts: Accounts, clock: Clock, slow_at: Receiver,
                   fast_at: Receiver, timeout: int) -> None:
    slow_at.answer("/slow/dr", Reply(200, b"OK", delay=30))  # answers long after its timeout, if ever
    slow, _ = customer(accounts, "slow", "modica", slow_at.url("/slow/dr"), None, report_timeout=timeout)
    fast, _ = customer(accounts, "fast", "modica", fast_at.url("/fast/dr"), None)
    slow_ids = queue_drs(store, slow, clock(), [(send_mt(gw, slow, f"s{i}"), "delivered") for i in range(12)])
    fast_ids = queue_drs(store, fast, clock(), [(send_mt(gw, fast, f"f{i}"), "delivered") for i in range(20)])

    with running(make_outbox(store, gw, clock)) as run:
        run.until(lambda: len(fast_at.to("/fast/dr")) == 20, "the fast customer's 20 reports")
        took = max(r.at for r in fast_at.to("/fast/dr")) - run.started
        assert slow_at.to("/slow/dr"), "the slow customer was being tried meanwhile"
        assert not any(r.state == "done" for r in rows(store, slow_ids).values())
        run.until(all_done(store, fast_ids), "the fast customer's reports settled")
        run.until(lambda: quiet(store, clock, [slow.id]), "the slow customer's reports failed and held back")
    assert took < 2.0, f"the fast customer's reports took {took:.2f} s while the slow one hung"
    tried = [r for r in rows(store, slow_ids).values() if r.attempts]
    assert tried and {r.last_error for r in tried} == {"timed out"}
    assert all(r.state == "pending" for r in rows(store, slow_ids).values())


def test_a_customer_that_never_answers_does_not_hold_back_another(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receivers: Callable[[], Receiver]) -> None:
    _slow_and_fast(store, gw, accounts, clock, receivers(), receivers(), timeout=1)


def test_a_customer_that_never_answers_does_not_hold_back_another_on_the_same_host(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    # Two accounts whose URLs share a host and port (one customer's two accounts, or a hosted webhook service). The
    # slow one has 3 s: were the others to wait for its timeouts, they would take that long.
    _slow_and_fast(store, gw, accounts, clock, receiver, receiver, timeout=3)


# --- 6. authentication and signatures -----------------------------------------------------------------------------

SECRET = "0123456789abcdef-secret"


def test_url_credentials_go_as_http_basic_with_the_fixed_header_and_a_verifiable_signature(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    auth = {"report_header": "X-Api-Key: k3y-42", "report_secret": SECRET}
    modica, _ = customer(accounts, "signed-get", "modica", receiver.url("/auth/get?site=a", "user:p%40ss"), None,
                         **auth)
    puzzel, _ = customer(accounts, "signed-post", "puzzel-json", receiver.url("/auth/post?site=b", "api:pw"), None,
                         **auth)
    ids = [dr(store, gw, modica), dr(store, gw, puzzel)]
    with running(make_outbox(store, gw, clock)) as run:
        run.until(all_done(store, ids), "both reports acknowledged")

    now_s = clock.now // 1000
    [get], [post] = receiver.to("/auth/get"), receiver.to("/auth/post")
    for request, credentials in ((get, b"user:p@ss"), (post, b"api:pw")):
        assert request.headers["authorization"] == "Basic " + base64.b64encode(credentials).decode()
        assert "@" not in request.requestline and credentials.split(b":")[0].decode() not in request.requestline
        assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
        assert request.headers["x-api-key"] == "k3y-42"

        def verify(target: str, body: bytes, request: Request = request) -> bool:
            return signing.verify(SECRET, request.method, target, body, request.headers["x-smsgw-timestamp"],
                                  request.headers["x-smsgw-signature"], now_s)

        assert verify(request.target, request.body), request.target
        assert not verify(request.target.replace("site=", "site=x"), request.body), "query altered"
        assert not verify(request.target, request.body + b" "), "body altered"
        assert not signing.verify("another-secret-of-16", request.method, request.target, request.body,
                                  request.headers["x-smsgw-timestamp"], request.headers["x-smsgw-signature"], now_s)
    assert get.method == "GET" and get.target.startswith("/auth/get?site=a&id=")
    assert post.method == "POST" and post.target == "/auth/post?site=b" and json.loads(post.body)["dr"]


# --- 7. push or pull, never both ----------------------------------------------------------------------------------


def test_reports_of_an_account_that_stopped_pushing_are_pulled_and_pushed_ones_never_are(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    switched, switched_number = customer(accounts, "switched", "modica", receiver.url("/sw/dr"),
                                         receiver.url("/sw/mo"))
    no_mo_url, no_mo_number = customer(accounts, "no-mo-url", "modica", receiver.url("/nm/dr"),
                                       receiver.url("/nm/mo"))
    pushing, pushing_number = customer(accounts, "pushing", "modica", receiver.url("/pu/dr"),
                                       receiver.url("/pu/mo"))
    switched_ids = [dr(store, gw, switched), mo(store, gw, switched_number)[1]]
    no_mo_dr, no_mo_mo = dr(store, gw, no_mo_url), mo(store, gw, no_mo_number)[1]
    pushed = [dr(store, gw, pushing), mo(store, gw, pushing_number)[1]]
    assert {r.delivery for r in rows(store, [*switched_ids, no_mo_mo, *pushed]).values()} == {"push"}
    assert gw.receive(pushing, 10) == [], "a report queued for push is not handed out by pull"

    accounts.update("switched", report_format="pull")
    accounts.update("no-mo-url", mo_url=None)
    everything = [*switched_ids, no_mo_dr, no_mo_mo, *pushed]
    with running(make_outbox(store, gw, clock)) as run:
        run.until(lambda: all(r.delivery == "pull" or r.state == "done" for r in rows(store, everything).values()),
                  "each report pushed or handed to pull")

    assert {r.path for r in receiver.requests} == {"/nm/dr", "/pu/dr", "/pu/mo"}
    found = rows(store, everything)
    assert [found[i].delivery for i in (*switched_ids, no_mo_mo)] == ["pull"] * 3
    assert [found[i].state for i in (*switched_ids, no_mo_mo)] == ["pending"] * 3
    assert [found[i].attempts for i in (*switched_ids, no_mo_mo)] == [0] * 3
    assert [i.id for i in gw.receive(accounts.get("switched"), 10)] == switched_ids
    assert [i.id for i in gw.receive(accounts.get("no-mo-url"), 10)] == [no_mo_mo]
    assert gw.receive(pushing, 10) == []


# --- 8. restarts --------------------------------------------------------------------------------------------------


def test_reports_outlive_an_outbox_stopped_while_the_customer_refuses_connections(
        store: Store, gw: Gateway, accounts: Accounts, clock: Clock, receiver: Receiver) -> None:
    account, number = customer(accounts, "restart", "modica", receiver.url("/re/dr"), receiver.url("/re/mo"))
    receiver.refuse()
    ids = [dr(store, gw, account), mo(store, gw, number)[1]]
    with running(make_outbox(store, gw, clock)) as run:
        run.until(all_tried(store, ids), "both reports tried and failed")
    assert all(r.state == "pending" and r.last_error and "onnect" in r.last_error
               for r in rows(store, ids).values()), rows(store, ids)
    assert receiver.requests == []

    receiver.listen()
    clock.now = next_due(store, [account.id])
    late = mo(store, gw, number, "sent while no outbox ran")[1]
    restarted = Outbox(Store(store.url), gw, clock=clock, idle_s=0.02)  # a new process, as far as the data goes
    try:
        with running(restarted) as run:
            run.until(all_done(store, [*ids, late]), "every report after the restart")
    finally:
        restarted.store.dispose()
    assert sorted(r.path for r in receiver.requests) == ["/re/dr", "/re/mo", "/re/mo"]


# --- 9. two outboxes on one PostgreSQL database -------------------------------------------------------------------


def test_two_outboxes_on_postgresql_push_300_reports_each_exactly_once(pg_url: str, receiver: Receiver) -> None:
    from smsgw.services import Services

    services = Services.open(pg_url)
    stores = [Store(pg_url) for _ in range(2)]
    try:
        drs, _ = customer(services.accounts, "pg-dr", "modica", receiver.url("/pg/dr"), None)
        _, number = customer(services.accounts, "pg-mo", "openmarket", None, receiver.url("/pg/mo"))
        result = services.gateway.submit(drs, SubmitRequest(face="test", messages=[
            MessageSpec(recipient=PHONE, text=f"m{i}") for i in range(100)]))
        messages = [o.message_id for o in result.outcomes if o.message_id is not None]
        now = services.gateway.clock()
        queue_drs(services.store, drs, now, [(m, s) for s in ("buffered", "delivered") for m in messages])
        inbound = [services.gateway.ingest_mo(PHONE, number, text=f"mo {i}") for i in range(100)]

        outboxes = [Outbox(s, services.gateway, batch=40, idle_s=0.02) for s in stores]
        with running(outboxes[0]) as first, running(outboxes[1]) as second:
            def arrived() -> bool:
                first.alive()
                second.alive()
                return sum(1 for r in receiver.requests if r.ok) >= 300

            wait_until(arrived, "300 reports at the receiver", timeout=60)
            wait_until(lambda: sum(o.counts["sent"] for o in outboxes) == 300, "300 acknowledgements")
        with services.store.read() as conn:
            states = Counter(conn.execute(select(reports.c.state)).scalars())
    finally:
        for s in stores:
            s.dispose()
        services.close()

    got = Counter((r.path, r.query.get("id") or r.query.get("smsid"), r.query.get("status"))
                  for r in receiver.requests)
    expected = Counter([("/pg/dr", str(m), s) for m in messages for s in ("sent", "received")]
                       + [("/pg/mo", str(i.id), None) for i in inbound])
    assert got == expected, f"sent twice: {[k for k, n in got.items() if n > 1][:5]}"
    assert states == {"done": 300}
    order = {(r.query["id"], r.query["status"]): n for n, r in enumerate(receiver.requests) if r.path == "/pg/dr"}
    assert all(order[str(m), "sent"] < order[str(m), "received"] for m in messages)
    shares = [o.counts["sent"] for o in outboxes]
    assert sum(shares) == 300 and min(shares) > 0, f"what each outbox sent: {shares}"
