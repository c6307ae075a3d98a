"""The native SOAP API at /ws/v1 end to end on a real socket: zeep from our `?wsdl` with HTTP Basic for every
operation, typed faults with their detail elements, batches at and over the limit, a delivery report and an MO
pulled and confirmed, bad input answered in the request's SOAP version with its status code, and the committed
contract checked against the code it is generated from."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from smsgw_testing import call, deliver
from sqlalchemy import select
from zeep.transports import Transport

from smsgw.dialects.native import contract
from smsgw.domain.model import Account, MessageSpec, Priority, ReportMask, Status, SubmitRequest
from smsgw.services import Services
from smsgw.soap.contract import WSDL_DIR
from smsgw.store.tables import messages

NS = "urn:smsgw:v1"
PATH = "/ws/v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CONTENT_TYPE = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
ENVELOPE_NS = {"1.1": SOAP11, "1.2": SOAP12}
SENDER = {"1.1": ("Client", 500), "1.2": ("Sender", 400)}  # a client's mistake: its fault code and HTTP status
NO = "+4791234567"


def client(live_url: str, name: str = "acme", password: str | None = "s3cret") -> zeep.Client:
    """zeep from our WSDL, sending the account's name and password by HTTP Basic (None: no credentials)."""
    session = requests.Session()
    if password is not None:
        session.auth = (name, password)
    return zeep.Client(f"{live_url}{PATH}?wsdl", transport=Transport(session=session))


@pytest.fixture
def account(services: Services) -> Account:
    """The customer, in the live server's database."""
    return services.accounts.create("acme", "s3cret", default_country="NO")


@pytest.fixture
def soap(live_url: str, account: Account) -> Any:
    return client(live_url).service


def refused(operation: Callable[..., Any], **arguments: Any) -> tuple[str, str, dict[str, str | None]]:
    """The fault an operation answers: its code, its detail element's name and that element's fields."""
    with pytest.raises(zeep.exceptions.Fault) as caught:
        operation(**arguments)
    (detail,) = caught.value.detail
    assert etree.QName(detail).namespace == NS
    return caught.value.code, etree.QName(detail).localname, {etree.QName(c).localname: c.text for c in detail}


def stored(services: Services, message_id: int) -> Any:
    with services.store.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


# --- sending ------------------------------------------------------------------------------------------------------


def test_send_text_message_stores_every_field_and_answers_the_normalised_recipient(
        soap: Any, services: Services) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    result = soap.SendTextMessage(recipient="912 34 567", text="Hello from zeep", originator="ACME",
                                  clientReference="c-1", expiresAt=expires, priority="high", flash=True,
                                  deliveryReport=False)
    assert (result.status, result.recipient, result.segments) == ("accepted", NO, 1)  # national in NO
    row = stored(services, result.messageId)
    assert (row.text, row.originator, row.client_ref, row.face) == ("Hello from zeep", "ACME", "c-1", "native")
    assert (row.priority, row.flash, row.reports) == (Priority.HIGH, True, ReportMask.NONE)
    assert row.expires_at == int(expires.timestamp() * 1000)


def test_a_time_without_a_zone_is_utc_and_a_later_one_schedules_the_message(soap: Any, services: Services) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0, tzinfo=None)
    result = soap.SendTextMessage(recipient=NO, text="later", scheduledAt=later, validitySeconds=600)
    assert result.status == "scheduled"
    row = stored(services, result.messageId)
    assert row.due_at == int(later.replace(tzinfo=UTC).timestamp() * 1000)
    assert row.expires_at == row.due_at + 600_000


def test_send_binary_message_stores_payload_header_and_coding(soap: Any, services: Services) -> None:
    udh = bytes.fromhex("0605040b8423f0")  # a WAP push port header
    result = soap.SendBinaryMessage(recipient=NO, payload=b"\x01\x02\xff", udh=udh, dataCoding=0xF5, protocolId=0)
    assert (result.status, result.segments) == ("accepted", 1)
    row = stored(services, result.messageId)
    assert (row.payload, row.udh, row.dcs, row.pid, row.encoding) == (b"\x01\x02\xff", udh, 0xF5, 0, "binary")


def test_a_refused_single_message_is_a_typed_message_refused_fault(soap: Any) -> None:
    assert refused(soap.SendTextMessage, recipient="not a number", text="x") == (
        "soap:Client.MessageRefused", "MessageRefused",
        {"code": "invalid_recipient", "text": "not a phone number (digits, with + or 00 in front for international): "
                                              "'not a number'"})
    code, name, detail = refused(soap.SendTextMessage, recipient=NO, text="x", validitySeconds=0)
    assert (code, name, detail["code"]) == ("soap:Client.MessageRefused", "MessageRefused", "invalid_validity")


def test_send_batch_answers_each_message_in_order_and_a_refused_one_does_not_sink_the_others(
        soap: Any, services: Services, account: Account) -> None:
    result = soap.SendBatch(batchReference="b-1", message=[
        {"recipient": NO, "text": "one", "clientReference": "r1"},
        {"recipient": "12", "text": "bad number"},
        {"recipient": NO},  # neither text nor payload
        {"recipient": NO, "payload": b"\x00\x01", "udh": b"\x05\x00\x03\x07\x02\x01"},
        {"recipient": NO, "text": "both", "payload": b"\x00"},
    ])
    assert (result.batchReference, result.accepted, result.refused) == ("b-1", 2, 3)
    assert [r.index for r in result.result] == [0, 1, 2, 3, 4]
    assert [r.errorCode for r in result.result] == [None, "invalid_recipient", "missing_field", None, "invalid_field"]
    assert all(r.errorText for r in result.result if r.errorCode)
    accepted = [r for r in result.result if r.messageId is not None]
    assert [(r.index, r.status, r.segments, r.recipient) for r in accepted] == [(0, "accepted", 1, NO),
                                                                                (3, "accepted", 1, NO)]
    assert stored(services, accepted[0].messageId).client_ref == "r1"
    assert services.gateway.batch_status(account, "b-1").total == 2


def test_a_batch_without_a_reference_gets_one(soap: Any) -> None:
    result = soap.SendBatch(message=[{"recipient": NO, "text": "hi"}])
    assert len(result.batchReference) == 36 and result.accepted == 1


@pytest.mark.slow
def test_a_batch_of_ten_thousand_messages_is_accepted_and_one_more_is_a_too_many_messages_fault(
        soap: Any, services: Services, account: Account) -> None:
    batch = [{"recipient": NO, "text": f"message {i}"} for i in range(10_000)]
    result = soap.SendBatch(batchReference="big", message=batch)
    assert (result.accepted, result.refused, len(result.result)) == (10_000, 0, 10_000)
    assert [r.index for r in result.result] == list(range(10_000))
    assert refused(soap.SendBatch, batchReference="too-big", message=[*batch, {"recipient": NO, "text": "one more"}]) \
        == ("soap:Client.TooManyMessages", "TooManyMessages",
            {"maximum": "10000", "text": "10001 messages in one request; at most 10,000 allowed"})
    assert services.gateway.batch_status(account, "big").total == 10_000


def test_a_request_over_the_accounts_rate_is_a_rate_limited_fault_with_retry_after(
        live_url: str, services: Services, account: Account) -> None:
    services.accounts.update("acme", request_rate=1)
    soap = client(live_url).service
    soap.SendTextMessage(recipient=NO, text="first")
    code, name, detail = refused(soap.SendTextMessage, recipient=NO, text="second")
    assert (code, name) == ("soap:Client.RateLimited", "RateLimited")
    assert detail["retryAfter"] in ("1", "2") and "per second" in str(detail["text"])


# --- status, batches ----------------------------------------------------------------------------------------------


def test_get_message_status_by_id_or_client_reference_shows_its_history(soap: Any, services: Services) -> None:
    sent = soap.SendBatch(batchReference="b-s", message=[{"recipient": NO, "text": "hi", "clientReference": "ref-9"}])
    message_id = sent.result[0].messageId
    soap.CancelBatch(batchReference="b-s")
    by_id = soap.GetMessageStatus(messageId=message_id)
    assert soap.GetMessageStatus(clientReference="ref-9") == by_id
    assert (by_id.messageId, by_id.status, by_id.recipient, by_id.batchReference, by_id.clientReference,
            by_id.segments) == (message_id, "cancelled", NO, "b-s", "ref-9", 1)
    assert [h.status for h in by_id.history] == ["accepted", "cancelled"]
    assert by_id.createdAt <= by_id.history[-1].at == by_id.updatedAt < by_id.expiresAt


def test_get_message_status_of_an_unknown_or_foreign_message_is_an_unknown_message_fault(
        soap: Any, services: Services) -> None:
    other = services.accounts.create("other", "pw", default_country="NO")
    theirs = services.gateway.submit(other, SubmitRequest([MessageSpec(NO, "theirs")])).outcomes[0].message_id
    for arguments in ({"messageId": 42}, {"messageId": theirs}, {"clientReference": "never"}):
        code, name, _ = refused(soap.GetMessageStatus, **arguments)
        assert (code, name) == ("soap:Client.UnknownMessage", "UnknownMessage")


@pytest.mark.parametrize("arguments", [{}, {"messageId": 1, "clientReference": "both"}])
def test_get_message_status_wants_an_id_or_a_reference(soap: Any, arguments: dict[str, Any]) -> None:
    assert refused(soap.GetMessageStatus, **arguments) == (
        "soap:Client.InvalidRequest", "InvalidRequest",
        {"code": "invalid_field", "text": "give either messageId or clientReference"})


def test_get_batch_status_counts_and_cancel_batch_lists_what_it_stopped(soap: Any, services: Services) -> None:
    sent = soap.SendBatch(batchReference="b-c", message=[{"recipient": NO, "text": t, "clientReference": t}
                                                         for t in ("a", "b")])
    status = soap.GetBatchStatus(batchReference="b-c")
    assert (status.batchReference, status.total, status.pending) == ("b-c", 2, 2)
    assert [(c.status, c.count) for c in status.count] == [("accepted", 2)]
    cancelled = soap.CancelBatch(batchReference="b-c")
    assert [(c.messageId, c.clientReference) for c in cancelled] == [(r.messageId, t)
                                                                      for r, t in zip(sent.result, "ab", strict=True)]
    after = soap.GetBatchStatus(batchReference="b-c")
    assert (after.pending, [(c.status, c.count) for c in after.count]) == (0, [("cancelled", 2)])
    assert soap.CancelBatch(batchReference="b-c") == []


@pytest.mark.parametrize("operation", ["GetBatchStatus", "CancelBatch"])
def test_an_unknown_batch_is_an_unknown_batch_fault(soap: Any, operation: str) -> None:
    assert refused(getattr(soap, operation), batchReference="nope") == (
        "soap:Client.UnknownBatch", "UnknownBatch", {"text": "no batch 'nope'"})


# --- pulled reports -----------------------------------------------------------------------------------------------


def test_a_delivery_report_and_an_mo_are_received_until_confirmed(soap: Any, services: Services,
                                                                  account: Account) -> None:
    assert soap.ReceiveMessages() == []
    sent = soap.SendTextMessage(recipient=NO, text="report me", clientReference="dr-1")
    deliver(services, lambda: services.gateway.status(sent.messageId).status is Status.DELIVERED)
    services.accounts.add_number("acme", "2210")
    services.gateway.ingest_mo("+4798765432", "2210", text="Hello back")

    dr, mo = soap.ReceiveMessages(maxReports=10)
    assert dr.inboundMessage is None and mo.deliveryReport is None
    report = dr.deliveryReport
    assert (report.messageId, report.status, report.recipient, report.clientReference, report.batchReference) == (
        sent.messageId, "delivered", NO, "dr-1", services.gateway.status(sent.messageId).batch_ref)
    inbound = mo.inboundMessage
    assert (inbound.originator, inbound.destination, inbound.text, inbound.keyword, inbound.payload) == (
        "+4798765432", "2210", "Hello back", "HELLO", None)
    assert inbound.receivedAt <= mo.createdAt
    assert [r.reportId for r in soap.ReceiveMessages()] == [dr.reportId, mo.reportId]  # still queued
    assert [r.reportId for r in soap.ReceiveMessages(maxReports=1)] == [dr.reportId]

    assert soap.ConfirmMessages(reportId=[dr.reportId, 999_999]) == 1  # an unknown id is ignored
    assert [r.reportId for r in soap.ReceiveMessages()] == [mo.reportId]
    assert soap.ConfirmMessages(reportId=[mo.reportId, dr.reportId]) == 1
    assert soap.ReceiveMessages() == []


@pytest.mark.parametrize("count", [0, 1001])
def test_receive_takes_one_to_a_thousand_reports(soap: Any, count: int) -> None:
    code, name, detail = refused(soap.ReceiveMessages, maxReports=count)
    assert (code, name, detail["code"]) == ("soap:Client.InvalidRequest", "InvalidRequest", "invalid_field")


# --- credentials ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "password"), [("acme", "wrong"), ("nobody", "s3cret"), ("acme", None)])
def test_wrong_or_missing_credentials_are_an_authentication_fault(live_url: str, account: Account, name: str,
                                                                  password: str | None) -> None:
    soap = client(live_url, name, password).service
    code, fault, detail = refused(soap.SendTextMessage, recipient=NO, text="x")
    assert (code, fault) == ("soap:Client.Authentication", "Authentication")
    assert detail["text"] == ("invalid credentials" if password else
                              "HTTP Basic credentials (account name and password) are required")


def test_a_disabled_account_gets_the_same_fault_as_a_wrong_password(live_url: str, services: Services,
                                                                   account: Account) -> None:
    services.accounts.update("acme", active=False)
    assert refused(client(live_url).service.ReceiveMessages) == (
        "soap:Client.Authentication", "Authentication", {"text": "invalid credentials"})


# --- bad input, in both SOAP versions -----------------------------------------------------------------------------

BASIC = {"Authorization": "Basic " + base64.b64encode(b"acme:s3cret").decode()}


def envelope(version: str, payload: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{ENVELOPE_NS[version]}" xmlns:n="{NS}">'
            f"<s:Body>{payload}</s:Body></s:Envelope>").encode()


def post(live_url: str, version: str, body: bytes) -> tuple[int, etree._Element]:
    status, text, response = call(live_url, PATH, "POST", body, {"Content-Type": CONTENT_TYPE[version], **BASIC})
    assert response.getheader("Content-Type", "").startswith(CONTENT_TYPE[version].split(";")[0])
    return status, etree.fromstring(text.encode())


def fault(version: str, answer: etree._Element) -> tuple[str, str | None, str, etree._Element | None]:
    """A fault in either version as (code, subcode, reason, the detail's element): code Client/Sender or
    Server/Receiver, without prefixes."""
    ns = ENVELOPE_NS[version]
    (element,) = answer.iter(f"{{{ns}}}Fault")
    if version == "1.1":
        code, _, subcode = str(element.findtext("faultcode")).partition(":")[2].partition(".")
        reason, detail = str(element.findtext("faultstring")), element.find("detail")
    else:
        code = str(element.findtext(f"{{{ns}}}Code/{{{ns}}}Value")).partition(":")[2]
        subcode = str(element.findtext(f"{{{ns}}}Code/{{{ns}}}Subcode/{{{ns}}}Value") or "").partition(":")[2]
        reason, detail = str(element.findtext(f"{{{ns}}}Reason/{{{ns}}}Text")), element.find(f"{{{ns}}}Detail")
    return code, subcode or None, reason, detail[0] if detail is not None and len(detail) else None


def sender_fault(live_url: str, version: str, body: bytes, status: int | None = None) -> tuple[str | None, str]:
    """(subcode, reason) of a sender fault, after checking its code and HTTP status for the version."""
    code, expected = SENDER[version]
    got, answer = post(live_url, version, body)
    assert got == (status or expected), etree.tostring(answer)
    found, subcode, reason, _ = fault(version, answer)
    assert found == code
    assert "Traceback" not in reason
    return subcode, reason


VERSIONS = pytest.mark.parametrize("version", ["1.1", "1.2"])


@VERSIONS
def test_malformed_xml_is_a_sender_fault(live_url: str, account: Account, version: str) -> None:
    subcode, reason = sender_fault(live_url, version, envelope(version, "<n:SendTextMessage>")[:-3])
    assert subcode is None and reason.startswith("malformed XML")


@VERSIONS
@pytest.mark.parametrize(("payload", "path"), [
    ("<n:SendTextMessage><n:recipient>+4791234567</n:recipient><n:txt>hi</n:txt></n:SendTextMessage>",
     "/SendTextMessage/txt"),
    ("<n:SendBatch><n:message><n:recipient>1</n:recipient></n:message><n:message><n:recipient>2</n:recipient>"
     "<n:dataCoding>256</n:dataCoding></n:message></n:SendBatch>", "/SendBatch/message[2]/dataCoding"),
])
def test_a_schema_violation_is_a_sender_fault_naming_the_element_by_its_path(
        live_url: str, account: Account, version: str, payload: str, path: str) -> None:
    subcode, reason = sender_fault(live_url, version, envelope(version, payload))
    assert subcode == "SchemaValidation"
    assert reason.startswith(f"schema violation at {path}: "), reason


@VERSIONS
def test_a_doctype_or_entity_is_a_sender_fault(live_url: str, account: Account, version: str) -> None:
    body = envelope(version, "<n:ReceiveMessages/>").replace(
        b"?>", b'?><!DOCTYPE s:Envelope [<!ENTITY x "expanded">]>', 1)
    assert sender_fault(live_url, version, body) == (
        None, "a DOCTYPE or entity declaration is not allowed in a SOAP message")


@VERSIONS
def test_a_body_over_the_size_limit_is_a_413_sender_fault(live_url: str, account: Account, version: str) -> None:
    texts = "".join(f"<n:message><n:recipient>{NO}</n:recipient><n:text>{'x' * 1000}</n:text></n:message>"
                    for _ in range(9000))
    body = envelope(version, f"<n:SendBatch>{texts}</n:SendBatch>")
    assert len(body) > 8 * 1024 * 1024
    assert sender_fault(live_url, version, body, status=413) == (
        None, f"the request is larger than {8 * 1024 * 1024} bytes")


@VERSIONS
@pytest.mark.parametrize("element", ["Nothing", "SendResult"])  # unknown, or a type the schema declares
def test_a_body_element_that_is_no_operation_is_a_sender_fault(live_url: str, account: Account, version: str,
                                                                element: str) -> None:
    subcode, reason = sender_fault(live_url, version, envelope(version, f"<n:{element}/>"))
    assert (subcode, reason) == ("UnknownOperation", f"native has no operation {{{NS}}}{element}")


@VERSIONS
def test_a_value_the_schema_allows_and_a_date_cannot_hold_is_an_invalid_request_fault(
        live_url: str, account: Account, version: str) -> None:
    payload = (f"<n:SendTextMessage><n:recipient>{NO}</n:recipient><n:text>hi</n:text>"
               "<n:expiresAt>10000-01-01T00:00:00Z</n:expiresAt></n:SendTextMessage>")
    code, expected = SENDER[version]
    status, answer = post(live_url, version, envelope(version, payload))
    found, subcode, _, detail = fault(version, answer)
    assert (status, found, subcode) == (expected, code, "InvalidRequest")
    assert detail is not None and detail.findtext(f"{{{NS}}}code") == "invalid_field"


@VERSIONS
def test_typed_faults_carry_their_detail_in_both_versions(live_url: str, account: Account, version: str) -> None:
    code, expected = SENDER[version]
    status, answer = post(live_url, version, envelope(
        version, "<n:GetBatchStatus><n:batchReference>nope</n:batchReference></n:GetBatchStatus>"))
    assert status == expected
    found, subcode, reason, detail = fault(version, answer)
    assert (found, subcode, reason) == (code, "UnknownBatch", "no batch 'nope'")
    assert detail is not None and detail.tag == f"{{{NS}}}UnknownBatch"


@VERSIONS
def test_an_error_of_ours_is_a_server_internal_fault_without_a_traceback(
        live_url: str, services: Services, account: Account, version: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("the database caught fire")

    monkeypatch.setattr(services.gateway, "receive", broken)
    status, answer = post(live_url, version, envelope(version, "<n:ReceiveMessages/>"))
    code, subcode, reason, detail = fault(version, answer)
    assert (status, code, subcode, reason) == (500, "Server" if version == "1.1" else "Receiver", "Internal",
                                               "internal error")
    assert detail is not None and detail.tag == f"{{{NS}}}Internal"
    assert b"fire" not in etree.tostring(answer)


# --- the contract -------------------------------------------------------------------------------------------------


def test_the_committed_contract_is_what_the_code_generates() -> None:
    for name, content in contract.generate().items():
        assert (WSDL_DIR / name).read_bytes() == content, (
            f"wsdl/{name} differs from what the native API's code generates; regenerate it with "
            f"`{contract.COMMAND}` and commit it")


def test_the_wsdl_is_served_as_committed_with_the_address_the_client_asked(live_url: str) -> None:
    status, text, _ = call(live_url, f"{PATH}?wsdl")
    committed = (WSDL_DIR / "native" / "smsgw-v1.wsdl").read_text()
    assert status == 200
    assert text == committed.replace(contract.ADDRESS, f"{live_url}{PATH}")


def test_a_request_without_credentials_is_challenged_so_that_clients_which_wait_for_one_send_them(
        live_url: str, account: Account) -> None:
    body = envelope("1.1", f"<n:SendTextMessage><n:recipient>{NO}</n:recipient><n:text>x</n:text>"
                           "</n:SendTextMessage>")
    status, text, response = call(live_url, PATH, "POST", body, {"Content-Type": CONTENT_TYPE["1.1"]})
    assert status == 401 and response.getheader("WWW-Authenticate", "").startswith("Basic ")
    assert "Client.Authentication" in text
    status, text, response = call(live_url, PATH, "POST", body, {"Content-Type": CONTENT_TYPE["1.1"], **BASIC})
    assert status == 200, text


def test_a_rate_limited_fault_says_when_to_send_again_in_http_too(live_url: str, services: Services,
                                                                   account: Account) -> None:
    services.accounts.update("acme", request_rate=1)
    body = envelope("1.1", f"<n:SendTextMessage><n:recipient>{NO}</n:recipient><n:text>x</n:text>"
                           "</n:SendTextMessage>")
    answers = [call(live_url, PATH, "POST", body, {"Content-Type": CONTENT_TYPE["1.1"], **BASIC}) for _ in range(2)]
    status, text, response = answers[1]
    assert status == 500 and "Client.RateLimited" in text
    assert response.getheader("Retry-After") in ("1", "2")
