"""The Python client (`clients/python`, package `smsgw_client`) against the whole app on a real socket: every typed
method checked against what the gateway stored, every typed exception from the fault the server really sends,
Puzzel's sendMessages, and `smsgw-client doctor` against plain HTTP and against smsgw's own HTTPS server (tls.py)
with certificates openssl makes here: untrusted, for another name, soon expiring, expired, unregistered."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import smsgw_client
from smsgw_client import (
    AuthenticationError,
    BatchMessage,
    ConnectionFailed,
    InternalError,
    InvalidRequest,
    MessageRefused,
    MessageStatus,
    Priority,
    PuzzelClient,
    PuzzelMessage,
    RateLimited,
    SmsgwClient,
    TooManyMessages,
    TransportError,
    UnknownBatch,
    UnknownMessage,
    cli,
    x509,
)
from smsgw_client.doctor import Finding, Outcome, Settings, diagnose
from smsgw_testing import free_port, require

from smsgw.app import App
from smsgw.domain.model import Account, Status
from smsgw.services import Services
from smsgw.soap.contract import WSDL_DIR
from smsgw.tls import HTTPSServer

PASSWORD = "s3cret-Pa55"
NO = "+4741000000"


@pytest.fixture
def acme(services: Services) -> Account:
    return services.accounts.create("acme", PASSWORD, account_id=4711, default_country="NO")


@pytest.fixture
def client(live_url: str, acme: Account) -> Iterator[SmsgwClient]:
    with SmsgwClient(live_url, "acme", PASSWORD) as made:
        yield made


# --- the native API: each method against what was stored ---------------------------------------------------------


def test_send_text_answers_what_the_gateway_stored(client: SmsgwClient, services: Services) -> None:
    at = datetime.now(UTC) + timedelta(hours=2)
    sent = client.send_text("41000000", "Hello from Python", originator="Acme", client_reference="py-1",
                            validity=timedelta(hours=1), scheduled_at=at, priority=Priority.HIGH, flash=False,
                            delivery_report=True)
    assert (sent.status, sent.recipient, sent.segments) == (MessageStatus.SCHEDULED, NO, 1)
    stored = services.gateway.status(sent.message_id)
    assert (stored.text, stored.recipient, stored.originator, stored.client_ref) == \
        ("Hello from Python", NO, "Acme", "py-1")
    assert stored.status is Status.SCHEDULED and abs((stored.due_at - at).total_seconds()) < 1


def test_send_binary_stores_the_payload_and_its_coding(client: SmsgwClient, services: Services) -> None:
    sent = client.send_binary(NO, b"\x01\x02\x03", data_coding=0xF6, protocol_id=0x7F, client_reference="bin")
    assert sent.status is MessageStatus.ACCEPTED and sent.segments == 1
    stored = services.gateway.status(sent.message_id)
    assert stored.payload is not None and stored.payload.endswith(b"\x01\x02\x03")
    assert stored.text is None and stored.client_ref == "bin"


def test_send_batch_answers_each_message_in_order_and_a_refused_one_does_not_stop_the_others(
    client: SmsgwClient, services: Services
) -> None:
    result = client.send_batch([BatchMessage(NO, text="one", client_reference="a"),
                                BatchMessage("not a number", text="two"),
                                BatchMessage("+4741000001", payload=b"\xca\xfe", data_coding=4)],
                               batch_reference="py-batch")
    assert (result.batch_reference, result.accepted, result.refused) == ("py-batch", 2, 1)
    first, refused, third = result.results
    assert (first.index, first.accepted, first.status) == (0, True, MessageStatus.ACCEPTED)
    assert services.gateway.status(first.message_id or 0).text == "one"
    assert (refused.index, refused.accepted, refused.error_code) == (1, False, "invalid_recipient")
    assert refused.error_text and refused.message_id is None
    stored = services.gateway.status(third.message_id or 0)
    assert (stored.payload, stored.batch_ref) == (b"\xca\xfe", "py-batch")


def test_message_status_by_id_and_by_client_reference(client: SmsgwClient, services: Services) -> None:
    sent = client.send_text(NO, "look me up", client_reference="ref-7", originator="Acme")
    by_id, by_reference = client.message_status(sent.message_id), client.message_status(client_reference="ref-7")
    assert by_id == by_reference
    stored = services.gateway.status(sent.message_id)
    assert (by_id.message_id, by_id.status, by_id.recipient, by_id.originator, by_id.batch_reference) == \
        (stored.id, MessageStatus(stored.status.value), stored.recipient, stored.originator, stored.batch_ref)
    assert (by_id.segments, by_id.created_at, by_id.due_at, by_id.expires_at) == \
        (stored.parts, stored.created_at, stored.due_at, stored.expires_at)
    assert [(h.status, h.at) for h in by_id.history] == \
        [(MessageStatus(s.value), at) for s, at, _ in services.gateway.history(sent.message_id)]
    with pytest.raises(ValueError, match="either"):
        client.message_status()


def test_batch_status_cancel_receive_and_confirm(client: SmsgwClient, services: Services, acme: Account) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    client.send_batch([BatchMessage(NO, text="now", client_reference="n"),
                       BatchMessage(NO, text="later", client_reference="l", scheduled_at=later)], "py-2")
    status = client.batch_status("py-2")
    stored = services.gateway.batch_status(acme, "py-2")
    assert (status.batch_reference, status.total, status.pending) == ("py-2", stored.total, stored.pending)
    assert status.counts == {MessageStatus.ACCEPTED: 1, MessageStatus.SCHEDULED: 1}

    cancelled = client.cancel_batch("py-2")
    assert sorted(c.client_reference or "" for c in cancelled) == ["l", "n"]
    assert client.batch_status("py-2").counts == {MessageStatus.CANCELLED: 2}

    reports = client.receive(max=10)
    assert len(reports) == 2 and all(r.inbound_message is None for r in reports)
    drs = [r.delivery_report for r in reports if r.delivery_report is not None]
    assert {(d.status, d.batch_reference, d.recipient) for d in drs} == {(MessageStatus.CANCELLED, "py-2", NO)}
    assert {d.message_id for d in drs} == {c.message_id for c in cancelled}
    assert client.receive(max=1) == reports[:1]  # handed out again until confirmed
    assert client.confirm([reports[0].report_id, 999_999]) == 1
    assert client.receive() == reports[1:]
    assert client.confirm(r.report_id for r in reports) == 1
    assert client.receive() == [] and client.confirm([]) == 0


def test_receive_an_inbound_message(client: SmsgwClient, services: Services) -> None:
    services.accounts.add_number("acme", "2000")
    services.gateway.ingest_mo("+4792000001", "2000", text="STATUS please")
    (report,) = client.receive()
    mo = report.inbound_message
    assert mo is not None and report.delivery_report is None
    assert (mo.originator, mo.text, mo.keyword, mo.payload) == ("+4792000001", "STATUS please", "STATUS", None)
    assert mo.destination.endswith("2000") and mo.received_at.tzinfo is not None


def test_a_local_wsdl_may_stand_for_the_servers(live_url: str, acme: Account, services: Services) -> None:
    with SmsgwClient(live_url, "acme", PASSWORD, wsdl=WSDL_DIR / "native" / "smsgw-v1.wsdl") as local:
        assert local.operations() >= {"SendTextMessage", "ConfirmMessages"}
        sent = local.send_text(NO, "via the local WSDL")
    assert services.gateway.status(sent.message_id).text == "via the local WSDL"


# --- every fault as its exception --------------------------------------------------------------------------------


def test_each_fault_of_the_wsdl_is_its_own_exception(
    client: SmsgwClient, live_url: str, acme: Account, monkeypatch: pytest.MonkeyPatch, services: Services
) -> None:
    with pytest.raises(AuthenticationError) as auth, SmsgwClient(live_url, "acme", "wrong") as wrong:
        wrong.batch_status("any")
    assert auth.value.text == "invalid credentials" and auth.value.fault_code == "soap:Client.Authentication"

    with pytest.raises(MessageRefused) as refused:
        client.send_text("not a number", "x")
    assert refused.value.code == "invalid_recipient" and "not a phone number" in refused.value.text

    with pytest.raises(UnknownBatch, match="no batch 'nope'"):
        client.batch_status("nope")
    with pytest.raises(UnknownBatch):
        client.cancel_batch("nope")
    with pytest.raises(UnknownMessage):
        client.message_status(123)
    with pytest.raises(UnknownMessage):
        client.message_status(client_reference="never used")
    with pytest.raises(InvalidRequest) as invalid:
        client.receive(max=0)
    assert invalid.value.code == "invalid_field"

    def broken(*_: object) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(services.gateway, "batch_status", broken)
    with pytest.raises(InternalError, match="internal error"):
        client.batch_status("any")
    assert all(issubclass(e, smsgw_client.SoapFault) for e in (AuthenticationError, MessageRefused, UnknownBatch,
                                                                  UnknownMessage, InvalidRequest, InternalError,
                                                                  RateLimited, TooManyMessages))


def test_rate_limited_says_when_to_send_again(live_url: str, services: Services) -> None:
    services.accounts.create("slow", PASSWORD, request_rate=1)
    with SmsgwClient(live_url, "slow", PASSWORD) as slow:
        slow.send_text(NO, "first")
        with pytest.raises(RateLimited) as limited:
            slow.send_text(NO, "second")
    assert limited.value.retry_after == 1 and "per second" in limited.value.text


@pytest.mark.slow
def test_a_batch_over_ten_thousand_is_too_many_messages(client: SmsgwClient) -> None:
    with pytest.raises(TooManyMessages) as caught:
        client.send_batch([BatchMessage(NO, text="x")] * (smsgw_client.MAX_BATCH + 1))
    assert caught.value.maximum == 10_000


def test_no_server_no_wsdl_and_a_wsdl_that_is_not_one_are_transport_errors(live_url: str, acme: Account) -> None:
    nobody = SmsgwClient(f"http://127.0.0.1:{free_port()}", "acme", PASSWORD, timeout=5)  # lazy: nothing sent yet
    with pytest.raises(ConnectionFailed, match="could not be loaded"):
        nobody.send_text(NO, "x")
    with pytest.raises(TransportError) as missing:
        SmsgwClient(f"{live_url}/elsewhere", "acme", PASSWORD).batch_status("x")
    assert missing.value.status_code == 404
    with pytest.raises(TransportError, match="not usable"):
        SmsgwClient(live_url, "acme", PASSWORD, wsdl=f"{live_url}/healthz").batch_status("x")


# --- Puzzel's sendMessages -----------------------------------------------------------------------------------------


def test_puzzel_send_messages_answers_each_message_status(live_url: str, services: Services) -> None:
    services.accounts.create("intelecom", "xdyf3bf2", account_id=1000)
    with PuzzelClient(live_url, 1000, "intelecom", "xdyf3bf2") as puzzel:
        answer = puzzel.send_messages([
            PuzzelMessage("+47 41 00 00 00", "Hi from Python", client_reference="c1", originator="Acme",
                          originator_type="Alphanumeric", priority=2),
            PuzzelMessage("not a number", "x", client_reference="c2"),
        ], batch_reference="pz-1")
    assert answer.batch_reference == "pz-1" and not answer.all_accepted
    ok, bad = answer.statuses
    assert (ok.status_code, ok.status_message, ok.recipient, ok.client_reference, ok.sequence_index) == \
        (1, "Message enqueued for sending", NO, "c1", 1)
    assert ok.accepted and ok.message_id
    stored = services.gateway.messages(recipient=NO)
    assert [(m.text, m.originator, m.client_ref, m.batch_ref) for m in stored] == \
        [("Hi from Python", "Acme", "c1", "pz-1")]
    assert (bad.status_code, bad.accepted, bad.client_reference, bad.sequence_index) == (5, False, "c2", 2)

    with PuzzelClient(live_url, 1000, "intelecom", "wrong") as wrong:
        (denied,) = wrong.send_messages([PuzzelMessage(NO, "x")]).statuses
    assert (denied.status_code, denied.accepted) == (smsgw_client.StatusCode.ACCESS_ERROR, False)


# --- the CLI's send --------------------------------------------------------------------------------------------


def test_cli_send_prints_the_id_and_a_refusal_goes_to_stderr(
    live_url: str, acme: Account, services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["send", "--url", live_url, "--account", "acme", "--password", PASSWORD]
    assert cli.main([*common, "--to", NO, "--text", "one-liner", "--reference", "cli"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("accepted: message ") and out.endswith(f" to {NO} (1 SMS)\n")
    assert services.gateway.status(int(out.split()[2])).text == "one-liner"
    assert cli.main([*common, "--to", "nobody", "--text", "x"]) == 1
    assert capsys.readouterr().err.startswith("smsgw-client: refused (invalid_recipient): not a phone number")


# --- doctor: plain HTTP ----------------------------------------------------------------------------------------


def doctor(url: str, **options: Any) -> tuple[dict[str, Finding], int]:
    findings = list(diagnose(Settings(url, **options)))
    by_check = {f.check: f for f in findings}
    assert len(by_check) == len(findings)
    return by_check, int(any(f.outcome is Outcome.FAIL for f in findings))


def outcomes(findings: dict[str, Finding]) -> dict[str, str]:
    return {name: f.outcome.value for name, f in findings.items()}


def test_doctor_finds_all_well_on_plain_http(live_url: str, acme: Account, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor", live_url, "--account", "acme", "--password", PASSWORD]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"smsgw-client doctor {live_url}"
    assert [line.split()[0] for line in lines[1:-1]] == ["OK"] * 6, lines
    assert [line.split()[1] for line in lines[1:-1]] == ["url", "dns", "connection", "http", "wsdl", "credentials"]
    assert lines[-1] == "6 OK: all is well."


def test_doctor_says_the_password_is_wrong(live_url: str, acme: Account) -> None:
    findings, failed = doctor(f"{live_url}/ws/v1", account="acme", password="wrong")  # the API's URL will do too
    assert failed and outcomes(findings)["wsdl"] == "OK"
    assert findings["credentials"].outcome is Outcome.FAIL
    assert findings["credentials"].text.startswith("the server refused account 'acme' with this password")


def test_doctor_says_nothing_listens_and_skips_the_rest(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert cli.main(["doctor", f"http://127.0.0.1:{port}", "--timeout", "3"]) == 1
    findings, _ = doctor(f"http://127.0.0.1:{port}")
    assert findings["connection"].outcome is Outcome.FAIL
    assert findings["connection"].text.startswith(f"refused: nothing listens on 127.0.0.1 port {port}")
    assert {findings[c].outcome for c in ("http", "wsdl", "credentials")} == {Outcome.SKIP}


def test_doctor_runs_as_a_module_with_its_exit_status(live_url: str, acme: Account) -> None:
    done = subprocess.run([sys.executable, "-m", "smsgw_client", "doctor", live_url, "--account", "acme"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SMSGW_PASSWORD": "wrong"})
    assert done.returncode == 1, done.stderr
    assert "FAIL  credentials" in done.stdout


# --- doctor: TLS, against smsgw's own HTTPS server ------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def openssl(*args: str | Path) -> str:
    require(shutil.which("openssl") is not None, "openssl not installed (apt-get install openssl)")
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def self_signed(folder: Path, name: str, days: int = 365, san: str = "IP:127.0.0.1") -> Pair:
    pair = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", str(days),
            "-keyout", pair.key, "-out", pair.cert, "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}")
    return pair


def dated(folder: Path, name: str, start: str, end: str) -> Pair:
    """A self-signed certificate valid from `start` to `end` (YYYYMMDDHHMMSSZ), as `openssl ca` makes it: openssl
    req and x509 only count days from now."""
    pair, request, config = Pair(folder / f"{name}.pem", folder / f"{name}.key"), folder / f"{name}.csr", \
        folder / f"{name}.cnf"
    (folder / f"{name}.index").write_text("")
    config.write_text("\n".join([
        "[ca]", "default_ca = here", "[here]", f"database = {folder / f'{name}.index'}", f"new_certs_dir = {folder}",
        f"serial = {folder / f'{name}.serial'}", "default_md = sha256", "policy = any", "unique_subject = no",
        "[any]", "commonName = supplied", ""]))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", pair.key,
            "-out", request, "-subj", f"/CN={name}")
    openssl("ca", "-batch", "-config", config, "-selfsign", "-keyfile", pair.key, "-in", request, "-out", pair.cert,
            "-notext", "-rand_serial", "-startdate", start, "-enddate", end)
    return pair


@dataclass(frozen=True)
class Certificates:
    server: Pair  # for 127.0.0.1, a year
    client: Pair  # registered on acme, a year
    short: Pair  # registered on acme, two days
    expired: Pair  # registered on acme, expired in 2020
    stranger: Pair  # registered nowhere


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("certs")
    return Certificates(self_signed(folder, "server"), self_signed(folder, "client"),
                        self_signed(folder, "short", days=2), dated(folder, "expired", "20200101000000Z",
                                                                    "20200201000000Z"),
                        self_signed(folder, "stranger"))


@contextlib.contextmanager
def https(services: Services, server: Pair) -> Iterator[str]:
    """smsgw's HTTPS server (tls.py: asks for a client certificate, trusts the registered ones) on the app."""
    port = free_port()
    running = HTTPSServer(App(services), services.store, ("127.0.0.1", port), str(server.cert), str(server.key),
                          threads=4)
    thread = threading.Thread(target=running.serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.server.ready:
        assert time.monotonic() < deadline, "the HTTPS server did not start"
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        running.stop()
        thread.join(10)


@pytest.fixture
def tls_url(services: Services, acme: Account, certs: Certificates) -> Iterator[str]:
    for pair in (certs.client, certs.short, certs.expired):
        services.accounts.add_certificate("acme", pair.cert.read_bytes())
    with https(services, certs.server) as url:
        yield url


TLS_CHECKS = ["url", "dns", "connection", "tls", "server certificate", "server name", "server expiry",
              "client certificate", "client expiry", "client cert use", "http", "wsdl", "credentials"]


def test_doctor_over_tls_with_the_ca_and_a_registered_client_certificate_finds_all_well(
    tls_url: str, certs: Certificates
) -> None:
    findings, failed = doctor(tls_url, account="acme", password=PASSWORD, ca=str(certs.server.cert),
                              cert=str(certs.client.cert), key=str(certs.client.key))
    assert list(findings) == TLS_CHECKS
    assert set(outcomes(findings).values()) == {"OK"}, [f.line() for f in findings.values()]
    assert not failed
    assert findings["tls"].text.startswith("TLSv1.3 handshake")
    assert findings["server certificate"].text.startswith("trusted: CN=server, issued by itself")
    assert findings["server name"].text == "the certificate is for 127.0.0.1 (IP:127.0.0.1)"
    assert findings["server expiry"].text.startswith("valid until ") and "(364 days left)" in \
        findings["server expiry"].text
    assert findings["client cert use"].text == "the server asked for a client certificate and accepted ours"


def test_doctor_says_an_untrusted_server_certificate_is_not_trusted_and_carries_on(
    tls_url: str, certs: Certificates, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["doctor", tls_url, "--account", "acme", "--password", PASSWORD]) == 1
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert line.startswith("FAIL  server certificate  not trusted: CN=server, issued by itself; the system's CA "
                           "store does not vouch for it"), out
    assert "It is self-signed: to trust it, give the server's own certificate with --ca FILE" in line
    findings, _ = doctor(tls_url, account="acme", password=PASSWORD)
    assert findings["client cert use"].text.startswith("the server asks for a client certificate; none given")
    # the rest is checked without verifying, and says so
    assert findings["credentials"].outcome is Outcome.OK
    assert findings["http"].text.endswith("(not checking the server's certificate, which failed above)")


def test_the_client_over_tls_checks_the_server_by_the_given_ca_and_shows_its_certificate(
    tls_url: str, certs: Certificates, services: Services
) -> None:
    with SmsgwClient(tls_url, "acme", PASSWORD, verify=certs.server.cert,
                     cert=(certs.client.cert, certs.client.key)) as trusting:
        sent = trusting.send_text(NO, "over TLS")
    assert services.gateway.status(sent.message_id).text == "over TLS"
    with pytest.raises(ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"), \
            SmsgwClient(tls_url, "acme", PASSWORD) as system_store:
        system_store.send_text(NO, "not sent")


def test_doctor_says_a_client_certificate_that_expires_soon_is_a_warning(
    tls_url: str, certs: Certificates
) -> None:
    findings, failed = doctor(tls_url, ca=str(certs.server.cert), cert=str(certs.short.cert),
                              key=str(certs.short.key))
    assert not failed
    assert findings["client expiry"].outcome is Outcome.WARN
    assert findings["client expiry"].text.startswith("the client certificate expires on ")
    assert findings["client expiry"].text.endswith(": 1 day left; renew it soon")  # made for two days
    assert findings["client cert use"].outcome is Outcome.OK


def test_doctor_fails_an_expired_client_certificate_which_the_server_refuses(
    tls_url: str, certs: Certificates
) -> None:
    findings, failed = doctor(tls_url, ca=str(certs.server.cert), cert=str(certs.expired.cert),
                              key=str(certs.expired.key))
    assert failed
    assert findings["client certificate"].outcome is Outcome.OK  # readable, and the key matches
    assert findings["client expiry"].outcome is Outcome.FAIL
    assert findings["client expiry"].text.startswith("the client certificate expired on 2020-02-01 00:00 UTC")
    assert findings["client cert use"].outcome is Outcome.FAIL
    assert findings["client cert use"].text.startswith("the server refused our client certificate")


def test_doctor_fails_an_unregistered_client_certificate_and_a_key_of_another(
    tls_url: str, certs: Certificates
) -> None:
    findings, _ = doctor(tls_url, ca=str(certs.server.cert), cert=str(certs.stranger.cert),
                         key=str(certs.stranger.key))
    assert outcomes(findings)["client cert use"] == "FAIL", findings["client cert use"]
    assert "smsgw cert add ACCOUNT FILE" in findings["client cert use"].text
    assert findings["http"].outcome is Outcome.OK  # without it: the server lets password clients in

    findings, failed = doctor(tls_url, ca=str(certs.server.cert), cert=str(certs.client.cert),
                              key=str(certs.stranger.key))
    assert failed and findings["client certificate"].outcome is Outcome.FAIL
    assert findings["client certificate"].text == \
        f"the key {certs.stranger.key} does not belong to the certificate {certs.client.cert}"
    assert findings["client cert use"].outcome is Outcome.SKIP


def test_doctor_fails_a_server_certificate_for_another_name_and_warns_one_that_expires_soon(
    services: Services, acme: Account, tmp_path: Path
) -> None:
    elsewhere = self_signed(tmp_path, "elsewhere", days=10, san="DNS:sms.example.com")
    with https(services, elsewhere) as url:
        findings, failed = doctor(url, ca=str(elsewhere.cert))
    assert failed
    assert findings["server certificate"].outcome is Outcome.OK
    assert findings["server name"].text.startswith("the certificate is for DNS:sms.example.com, not for 127.0.0.1")
    assert findings["server expiry"].outcome is Outcome.WARN
    assert findings["server expiry"].text.endswith(": 9 days left; renew it soon")  # made for ten days


@contextlib.contextmanager
def tls12_requiring_a_certificate(server: Pair, trusted: Pair) -> Iterator[str]:
    """A TLS 1.2 server that lets in only clients with `trusted`'s certificate (in TLS 1.2 the refusal ends the
    handshake itself, where TLS 1.3 ends the first read after it), answering 404 to anything."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(server.cert, server.key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(trusted.cert)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:  # a timeout: look whether to stop
                continue
            conn.settimeout(5)
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1000)
                tls.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopping.set()
        thread.join(5)
        listener.close()


def test_doctor_over_tls_1_2_says_the_server_requires_a_certificate_and_refuses_ours(certs: Certificates) -> None:
    with tls12_requiring_a_certificate(certs.server, certs.client) as url:
        ca = str(certs.server.cert)
        findings, failed = doctor(url, ca=ca)
        assert failed and findings["tls"].text.startswith(
            "the server asked for a client certificate and ended the handshake without one")
        findings, failed = doctor(url, ca=ca, cert=str(certs.stranger.cert), key=str(certs.stranger.key))
        assert failed and findings["tls"].text.startswith("the server refused our client certificate")
        findings, _ = doctor(url, ca=ca, cert=str(certs.client.cert), key=str(certs.client.key))
    assert findings["tls"].text.startswith("TLSv1.2 handshake")
    assert findings["client cert use"].text == "the server asked for a client certificate and accepted ours"
    assert findings["wsdl"].text.startswith("GET /ws/v1?wsdl: HTTP 404: is the URL the server's root")


def test_doctor_says_when_an_https_url_meets_plain_http(live_url: str) -> None:
    findings, failed = doctor(live_url.replace("http://", "https://"))
    assert failed and findings["tls"].text.startswith("no TLS on this port")


def test_the_certificate_reader_agrees_with_openssl(certs: Certificates) -> None:
    for pair in (certs.server, certs.expired):
        read = x509.parse(x509.read_pem_file(pair.cert)[0])
        end = openssl("x509", "-in", pair.cert, "-noout", "-enddate").strip().split("=", 1)[1]
        assert read.not_after == datetime.strptime(end, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
        assert read.self_issued and read.common_name == pair.cert.stem
    assert x509.parse(x509.read_pem_file(certs.server.cert)[0]).ip_addresses == ("127.0.0.1",)
