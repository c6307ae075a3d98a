"""Reports end to end on real sockets: a message sent through each face of a running `smsgw serve`, its receipt from
the simulator (and, in one test, from an SMPP peer we did not write), and the callback a real HTTP server receives,
compared with the shape each vendor documents (Modica's HTTPS API v2 DLR and MO callbacks, Puzzel §3.3 and §4,
OpenMarket §C.3, Rapporto §D.2 and §D.3)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import smpp34
from smsgw_testing import SMSGW, call, free_port, serving

from smsgw.services import Services
from smsgw.store import outbox as outbox_rows

TIMEOUT_S = 15.0
ECHO = "6421999"  # the simulator answers an MT to a number holding this with an MO echoing it back

MODICA_DLR = "/modica/receiveStatus"  # the paths of Modica's own examples
MODICA_MO = "/modica/receiveMessage"
PUZZEL_DR = "/puzzel/dr"
OPENMARKET_DR = "/openmarket/drpt.cgi"  # OpenMarket's example path
RAPPORTO_DR = "/rapporto/status"
RAPPORTO_MO = "/rapporto/service"  # Rapporto's MO example path

# Puzzel §3.3: the DR fields of every REST example (`originator` is in the table but in no example), all lower case.
PUZZEL_DR_KEYS = {"messageid", "customerbatchreference", "customermessagereference", "serviceid", "servicename", "mcc",
                  "mnc", "statuscode", "statusdescription", "extstatuscode", "extstatusdescription", "type"}
# OpenMarket §C.3, its documented example.
OPENMARKET_DR_KEYS = {"smsfrom", "smsmsg", "smsto", "shortcode", "smsid", "smsdate", "reason"}
# Rapporto §D.3: every MO parameter it documents.
RAPPORTO_MO_KEYS = {"clientId", "message", "connectorId", "serviceId", "receivedDate", "shortNumber", "mtSent",
                    "messageId", "clientPhone", "sum_sms"}
DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")  # OpenMarket's smsdate, Rapporto's receivedDate
INT64 = re.compile(r"-?\d{1,19}")  # Modica: "All message IDs will be returned as 64bit Signed Integers"


# --- the customer's HTTP server -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request the customer's server got."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def params(self) -> dict[str, str]:
        """The query as a dict, after checking that no key appears twice."""
        keys = [k for k, _ in self.query]
        assert len(keys) == len(set(keys)), f"a parameter given twice: {self.query}"
        return dict(self.query)


class Receiver:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records every request and answers as the vendor's customer must:
    200 "OK" (OpenMarket wants a non-empty body, Puzzel exactly 200), or what `answers` gives for a path."""

    def __init__(self, answers: dict[str, tuple[int, bytes]] | None = None) -> None:
        self.answers = answers or {}
        self.received: list[Received] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the outbox keeps its connections alive

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = urlsplit(self.path)
                request = Received(self.command, target.path, parse_qsl(target.query, keep_blank_values=True),
                                   {k.lower(): v for k, v in self.headers.items()}, body)
                status, answer = receiver.answers.get(target.path, (200, b"OK"))
                self.send_response(status)
                if status != 204:
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if status != 204:
                    self.wfile.write(answer)
                self.wfile.flush()
                with receiver.changed:
                    receiver.received.append(request)
                    receiver.changed.notify_all()

            do_GET = do_POST = _record

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def wait(self, what: str, matches: Callable[[Received], bool], timeout: float = TIMEOUT_S) -> Received:
        """The first request that `matches`, waited for at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for request in self.received:
                    if matches(request):
                        return request
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n".join(f"  {r.method} {r.path} {r.query} {r.body[:300]!r}" for r in self.received)
                    raise AssertionError(f"no callback {what} within {timeout:g} s; the receiver got:\n"
                                         f"{seen or '  nothing'}")
                self.changed.wait(left)

    def all(self, matches: Callable[[Received], bool]) -> list[Received]:
        with self.changed:
            return [r for r in self.received if matches(r)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# --- smsgw serve --------------------------------------------------------------------------------------------------


def smsgw(database_url: str, *args: str) -> str:
    """Run one `smsgw` command; its standard output."""
    done = subprocess.run([SMSGW, "--database-url", database_url, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"smsgw {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass
class Gateway:
    url: str
    database_url: str
    receiver: Receiver
    services: Services


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One `smsgw serve` with the simulator (receipts after 0.2 s) and one account per vendor format, each pushing
    its reports to one customer's server (Rapporto's MO URL answers 204, as a partner that replies later does)."""
    directory = tmp_path_factory.mktemp("reports-e2e")
    url = f"sqlite:///{directory / 'smsgw.db'}"
    receiver = Receiver({RAPPORTO_MO: (204, b"")})
    services = Services.open(url)
    try:
        # Modica through the CLI an operator uses; the others through the same Accounts the CLI calls.
        smsgw(url, "account", "add", "example_app", "--password", "example_pass", "--default-originator", "4433",
              "--report-format", "modica", "--dlr-url", receiver.url + MODICA_DLR,
              "--mo-url", receiver.url + MODICA_MO)
        smsgw(url, "number", "add", "example_app", "4433")
        services.accounts.create("Puzzel", "xdyf3bf2", account_id=1000, report_format="puzzel-json",
                                 dlr_url=receiver.url + PUZZEL_DR)
        services.accounts.create("MyAccount", "P4ssw0rD", allowed_originators=("58870",), report_format="openmarket",
                                 dlr_url=receiver.url + OPENMARKET_DR)
        services.accounts.create("login", "123", default_country="RU", report_format="rapporto",
                                 dlr_url=receiver.url + RAPPORTO_DR, mo_url=receiver.url + RAPPORTO_MO)
        services.accounts.add_number("login", "4446")
        services.accounts.add_number("login", "0000")  # the short number of Rapporto's MO example
        with serving(url, "--smsc", f"simulator://?delay=0.2&mo={ECHO}", log=directory / "serve.log") as served:
            yield Gateway(served, url, receiver, services)
    finally:
        services.close()
        receiver.close()


# --- one message through each face, its DR at the customer's server -----------------------------------------------


def test_a_modica_message_is_reported_received_by_get_with_its_id_and_reference(gateway: Gateway) -> None:
    status, body, _ = call(gateway.url, "/message?" + urlencode({
        "application": "example_app", "password": "example_pass", "content": "Hello", "destination": "+64211234567",
        "reference": "order-17", "version": "2"}))
    assert status == 200 and body.isdigit(), body
    dr = gateway.receiver.wait(f"for Modica message {body}",
                               lambda r: r.path == MODICA_DLR and ("id", body) in r.query)
    # GET /receiveStatus?id=54321&status=received, plus `reference` "if a reference field was supplied".
    assert dr.method == "GET" and dr.body == b""
    assert dr.params() == {"id": body, "status": "received", "reference": "order-17"}
    assert len(gateway.receiver.all(lambda r: r.path == MODICA_DLR and ("id", body) in r.query)) == 1


def test_a_puzzel_message_is_reported_in_a_json_dr_with_its_base36_id_and_both_references(gateway: Gateway) -> None:
    request = {"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2", "batchReference": "batch-e2e",
               "message": [{"recipient": "+4741000000", "content": "Hello", "clientReference": "ref-e2e"}]}
    status, body, _ = call(gateway.url, "/gw/rs/sendMessages", "POST", json.dumps(request).encode(),
                           {"Content-Type": "application/json", "Accept": "application/json"})
    assert status == 200, body
    [sent] = json.loads(body)["messageStatus"]
    message_id = sent["messageId"]
    assert sent["statusCode"] == 1 and re.fullmatch(r"[0-9a-z]{1,13}", message_id), sent

    def about(r: Received) -> bool:
        return r.path == PUZZEL_DR and message_id in {d.get("messageid") for d in json.loads(r.body).get("dr", [])}

    post = gateway.receiver.wait(f"for Puzzel message {message_id}", about)
    assert post.method == "POST" and post.query == []
    assert post.headers["content-type"].startswith("application/json")
    document = json.loads(post.body)
    assert list(document) == ["dr"]  # {"dr":[{…}]}
    [dr] = [d for d in document["dr"] if d["messageid"] == message_id]
    assert set(dr) == PUZZEL_DR_KEYS and all(k == k.lower() for k in dr)
    assert dr == dr | {"messageid": message_id, "statuscode": 0, "type": 6, "serviceid": 1000, "servicename": "Puzzel",
                       "customermessagereference": "ref-e2e", "customerbatchreference": "batch-e2e",
                       "extstatuscode": "0", "extstatusdescription": "Delivered"}
    assert isinstance(dr["statusdescription"], str) and dr["statusdescription"]


def test_an_openmarket_message_with_report_7_is_reported_buffered_and_delivered_as_in_its_example(
    gateway: Gateway,
) -> None:
    status, body, _ = call(gateway.url, "/sms/v1/send?" + urlencode({
        "user": "MyAccount", "pass": "P4ssw0rD", "smsto": "447911123456", "smsfrom": "58870", "smsmsg": "Hello",
        "report": "7"}))
    assert status == 200 and re.fullmatch(r"OK \d+\n", body), body
    message_id = body[3:-1]
    delivered = gateway.receiver.wait(
        f"DELIVERED for OpenMarket message {message_id}",
        lambda r: r.path == OPENMARKET_DR and ("smsmsg", f"REPORT {message_id} DELIVERED") in r.query)
    assert delivered.method == "GET"
    params = delivered.params()
    assert set(params) == OPENMARKET_DR_KEYS
    assert (params["smsfrom"], params["smsto"], params["shortcode"]) == ("447911123456", "58870", "58870")
    assert DATE.fullmatch(params["smsdate"]) and params["smsid"].isdigit()
    assert int(params["reason"]) >> 28 == 0x5  # the type nibble of the documented DELIVERED example, 0x51030200
    # report=7 asks for every report type: the intermediate BUFFERED came too, as its own event (its own smsid).
    buffered = gateway.receiver.wait(
        f"BUFFERED for OpenMarket message {message_id}",
        lambda r: r.path == OPENMARKET_DR and ("smsmsg", f"REPORT {message_id} BUFFERED") in r.query, timeout=2)
    assert set(buffered.params()) == OPENMARKET_DR_KEYS and buffered.params()["smsid"] != params["smsid"]
    assert int(buffered.params()["reason"]) >> 28 == 0x3


def test_a_rapporto_message_is_reported_with_status_2_echoing_ptag_and_partner_msg_id(gateway: Gateway) -> None:
    status, body, _ = call(gateway.url, "/rapporto?" + urlencode({
        "serviceId": "login", "pass": "123", "clientId": "79161234567", "message": "test", "ptag": "e2e-tag",
        "partnerMsgId": "partner-e2e-1"}))
    assert status == 200 and re.fullmatch(r"OK\n\d+", body), body
    transaction_id = body.split("\n")[1]
    dr = gateway.receiver.wait(f"for Rapporto message {transaction_id}",
                               lambda r: r.path == RAPPORTO_DR and ("transactionId", transaction_id) in r.query)
    # msgType=SMS&transactionId=7986985&ptag=test&status=2, and partnerMsgId.
    assert dr.method == "GET"
    assert dr.params() == {"msgType": "SMS", "transactionId": transaction_id, "ptag": "e2e-tag", "status": "2",
                           "partnerMsgId": "partner-e2e-1"}


# --- MOs ----------------------------------------------------------------------------------------------------------


def test_an_mo_answering_a_modica_mt_is_pushed_with_reply_to_and_the_mts_reference(gateway: Gateway) -> None:
    phone = f"+{ECHO}0001"
    status, body, _ = call(gateway.url, "/message?" + urlencode({
        "application": "example_app", "password": "example_pass", "content": "Reply YES to confirm",
        "destination": phone, "reference": "ask-1", "version": "2"}))
    assert status == 200 and body.isdigit(), body
    mo = gateway.receiver.wait(f"MO from {phone}", lambda r: r.path == MODICA_MO and ("source", phone) in r.query)
    assert mo.method == "GET"
    params = mo.params()
    # id, source, destination, content, operator; reply_to and the MT's reference for an answer to an MT.
    assert set(params) == {"id", "source", "destination", "content", "operator", "reply_to", "reference"}
    assert INT64.fullmatch(params["id"]) and params["id"] != body
    assert params | {"id": "", "operator": ""} == {"id": "", "source": phone, "destination": "4433",
                                                   "content": "Reply YES to confirm", "operator": "",
                                                   "reply_to": body, "reference": "ask-1"}


def test_an_mo_from_a_phone_never_written_to_reaches_modica_in_its_documented_shape(gateway: Gateway) -> None:
    phone = "+64277000001"
    mo_id = smsgw(gateway.database_url, "simulate", "mo", "--from", phone, "--to", "4433",
                  "--text", "Message content here").strip()
    mo = gateway.receiver.wait(f"MO {mo_id}", lambda r: r.path == MODICA_MO and ("id", mo_id) in r.query)
    # GET /receiveMessage?id=12345&source=%2B642741234567&destination=4433&content=Message+content+here&operator=…
    assert mo.method == "GET"
    params = mo.params()
    assert set(params) == {"id", "source", "destination", "content", "operator"}
    assert (params["id"], params["source"], params["destination"], params["content"]) == (
        mo_id, phone, "4433", "Message content here")


def test_a_rapporto_mo_answered_204_is_settled_and_answers_the_phone_nothing(gateway: Gateway) -> None:
    account = gateway.services.accounts.get("login")
    sent_before = len(gateway.services.gateway.messages(account=account, limit=1000))
    mo_id = smsgw(gateway.database_url, "simulate", "mo", "--from", "+79161234500", "--to", "4446",
                  "--text", "testText").strip()
    mo = gateway.receiver.wait(f"MO {mo_id}", lambda r: r.path == RAPPORTO_MO and ("messageId", mo_id) in r.query)
    # clientId=79161234567&message=testText&connectorId=50&serviceId=login&receivedDate=2009-10-02%2012:00:00
    # &shortNumber=0000 (connectorId only when the operator is known), and messageId.
    assert mo.method == "GET"
    params = mo.params()
    assert set(params) <= RAPPORTO_MO_KEYS
    assert params | {"receivedDate": ""} == {"clientId": "79161234500", "message": "testText", "serviceId": "login",
                                             "receivedDate": "", "shortNumber": "4446", "messageId": mo_id}
    assert DATE.fullmatch(params["receivedDate"])

    def waiting() -> list[object]:
        with gateway.services.store.read() as conn:
            return [r for r in outbox_rows.listed(conn, failed=False, account_id=account.id, limit=100)
                    if str(r.inbound_id) == mo_id]

    deadline = time.monotonic() + 5
    while waiting():  # settled when the outbox flushes (every 50 ms)
        assert time.monotonic() < deadline, "the MO answered 204 is still waiting to be pushed"
        time.sleep(0.05)
    assert len(gateway.receiver.all(lambda r: r.path == RAPPORTO_MO and ("messageId", mo_id) in r.query)) == 1
    assert len(gateway.services.gateway.messages(account=account, limit=1000)) == sent_before  # no reply sent


def test_an_mo_to_rapportos_example_short_number_0000_reaches_the_partner_that_owns_it(gateway: Gateway) -> None:
    # The account owns "0000" (a short code: `number add` keeps it so); the MO must be routed to it, not read as an
    # international "00" prefix with nothing after it.
    mo_id = smsgw(gateway.database_url, "simulate", "mo", "--from", "+79161234501", "--to", "0000",
                  "--text", "testText").strip()
    mo = gateway.receiver.wait(f"MO {mo_id}", lambda r: r.path == RAPPORTO_MO and ("messageId", mo_id) in r.query,
                               timeout=5)
    assert mo.params()["shortNumber"] == "0000"


# --- through a real SMPP peer -------------------------------------------------------------------------------------


class Smsc(threading.Thread):
    """smpp34.Server, an SMSC we did not write, on its own event loop: accepts every submit_sm with a decimal id and
    sends a DELIVRD receipt for it (its id zero-padded, as some SMSCs write it)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.port = free_port()
        self.submitted: list[tuple[str, str, bytes, int]] = []  # source, destination, short message, registered
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._quit: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # shown by the test, not lost in the thread
            self.failure = error
            self.ready.set()

    async def _main(self) -> None:
        self._loop, self._quit = asyncio.get_running_loop(), asyncio.Event()
        server = smpp34.Server("127.0.0.1", self.port)
        await server.start()
        self.ready.set()
        peer = asyncio.create_task(self._answer(server))
        await self._quit.wait()
        peer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await peer
        await server.stop()

    async def _answer(self, server: smpp34.Server) -> None:
        sessions: dict[str, smpp34.Esme] = {}
        ids = itertools.count(7_000_000)
        tasks: set[asyncio.Future[smpp34.DeliverSmResp]] = set()
        while True:
            event = await server.next()
            if isinstance(event, smpp34.Esme):
                sessions[event.session_id] = event
            elif isinstance(event, smpp34.SubmitSmEvent):
                self.submitted.append((event.source_addr, event.destination_addr, event.short_message,
                                       event.registered_delivery))
                smsc_id = next(ids)
                event.accept(str(smsc_id))
                receipt = f"id:{smsc_id:012d} sub:001 dlvrd:001 submit date:2701150800 done date:2701150801 " \
                          "stat:DELIVRD err:000 text:"
                task = asyncio.ensure_future(sessions[event.session_id].deliver_sm(
                    event.source_addr, receipt.encode(), source_addr=event.destination_addr, esm_class=0x04))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    def close(self) -> None:
        if self._loop is not None and self._quit is not None:
            self._loop.call_soon_threadsafe(self._quit.set)
        self.join(10)


def test_an_smpp_peers_receipt_reaches_the_modica_customer_as_received(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'smsgw.db'}"
    receiver = Receiver()
    smsc = Smsc()
    smsc.start()
    try:
        assert smsc.ready.wait(10) and smsc.failure is None, smsc.failure
        smsgw(url, "account", "add", "example_app", "--password", "example_pass", "--default-originator", "4433",
              "--report-format", "modica", "--dlr-url", receiver.url + MODICA_DLR)
        with serving(url, "--smsc", f"smpp://esme:secret@127.0.0.1:{smsc.port}?window=10",
                     log=tmp_path / "serve.log") as served:
            status, body, _ = call(served, "/message?" + urlencode({
                "application": "example_app", "password": "example_pass", "content": "Hello over SMPP",
                "destination": "+64211234567", "reference": "smpp-1", "version": "2"}))
            assert status == 200 and body.isdigit(), body
            try:
                dr = receiver.wait(f"for message {body}", lambda r: r.path == MODICA_DLR and ("id", body) in r.query)
            except AssertionError as error:
                raise AssertionError(f"{error}\nthe SMSC saw: {smsc.submitted}\nserve's log:\n"
                                     f"{(tmp_path / 'serve.log').read_text(errors='replace')[-3000:]}") from None
        assert dr.method == "GET"
        assert dr.params() == {"id": body, "status": "received", "reference": "smpp-1"}
        [(source, destination, short_message, registered)] = smsc.submitted
        assert (source, destination, short_message) == ("4433", "64211234567", b"Hello over SMPP")
        assert registered & 0x01  # the receipt was asked for, as Modica's DLR callback needs
    finally:
        smsc.close()
        receiver.close()
