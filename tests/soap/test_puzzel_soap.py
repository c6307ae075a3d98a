"""Puzzel's SOAP web services end to end on a real socket: zeep from our `?wsdl`, the docs' example envelopes posted
byte for byte with the answers checked against the Response schema and the documented shapes, every setting of the
XSD in its order, Puzzel's status codes, and the management operations with their fault codes."""

from __future__ import annotations

import logging
import re
from typing import Any
from xml.sax.saxutils import escape

import pytest
import zeep
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from lxml import etree
from smsgw_testing import call
from sqlalchemy import select

from smsgw.dialects.puzzel.codes import MessageStatus, StatusCode, message_id, xml_text
from smsgw.dialects.puzzel.request import Reply, response_xml
from smsgw.domain.model import Account, MessageSpec, Priority, ReportMask, Status, SubmitRequest
from smsgw.services import Services
from smsgw.soap.contract import WSDL_DIR
from smsgw.soap.envelope import SOAP11 as SOAP11_VERSION
from smsgw.soap.envelope import SOAP12 as SOAP12_VERSION
from smsgw.soap.envelope import envelope as soap_envelope
from smsgw.store.tables import messages

GATEWAY_NS = "http://chimera.intele.com/gw/wsdl/SMSGateway-v1.0"
REQUEST_NS = "http://chimera.intele.com/gw/xsd/SMSGateway/Request/2013/02"
RESPONSE_NS = "http://chimera.intele.com/gw/xsd/SMSGateway/Response/2013/02"
MGMT_V10 = "http://chimera.intele.com/gw/wsdl/GatewayManagement-v1.0"
MGMT_V11 = "http://chimera.intele.com/gw/wsdl/GatewayManagement-v1.1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
EXAMPLES = WSDL_DIR / "examples"
ID = re.compile(r"[0-9a-z]{1,13}")
STATUS_ORDER = ["statusCode", "statusMessage", "clientReference", "recipient", "messageId", "sessionId",
                "sequenceIndex"]
PATHS = ["/gw/ws/SMSGatewayV10", "/gw/SMSGateway"]
MGMT = "/mgmt/ws/GatewayManagementV10"


@pytest.fixture
def account(services: Services) -> Account:
    """The docs' service: id 1000, user Puzzel, password xdyf3bf2."""
    return services.accounts.create("Puzzel", "xdyf3bf2", account_id=1000)


def post(live_url: str, path: str, body: bytes | str, version: str = "1.1",
         headers: dict[str, str] | None = None) -> tuple[int, etree._Element]:
    content_type = "text/xml; charset=utf-8" if version == "1.1" else "application/soap+xml; charset=utf-8"
    status, text, _ = call(live_url, path, "POST", body.encode() if isinstance(body, str) else body,
                           {"Content-Type": content_type, **(headers or {})})
    return status, etree.fromstring(text.encode())


def answered(live_url: str, path: str, body: str, headers: dict[str, str] | None = None) -> etree._Element:
    """The envelope of a SOAP 1.1 answer that must be a 200."""
    status, reply = post(live_url, path, body, headers=headers)
    assert status == 200, etree.tostring(reply)
    return reply


def body_of(envelope: etree._Element, version: str = "1.1") -> etree._Element:
    ns = SOAP11 if version == "1.1" else SOAP12
    assert envelope.tag == f"{{{ns}}}Envelope"
    return envelope.find(f"{{{ns}}}Body")[0]


def response_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(WSDL_DIR / "puzzel" / "SMSGatewayResponse-2013-02.xsd")))


def statuses(answer: etree._Element) -> list[dict[str, str | None]]:
    """The messageStatus children of a sendMessagesResponse, checked against the Response schema and its order."""
    assert answer.tag == f"{{{GATEWAY_NS}}}sendMessagesResponse"
    response = answer.find(f"{{{RESPONSE_NS}}}response")
    assert response is not None
    schema = response_schema()
    assert schema.validate(response), schema.error_log
    assert response[0].tag == "batchReference"
    found = []
    for status in response.iter("messageStatus"):
        tags = [str(child.tag) for child in status]
        assert tags == [t for t in STATUS_ORDER if t in tags]
        found.append({str(child.tag): child.text for child in status})
    return found


def envelope(request: str, version: str = "1.1") -> str:
    ns = SOAP11 if version == "1.1" else SOAP12
    return (f'<s:Envelope xmlns:s="{ns}" xmlns:sms="{GATEWAY_NS}" xmlns:ns="{REQUEST_NS}"><s:Body>'
            f"<sms:sendMessages><ns:request>{request}</ns:request></sms:sendMessages></s:Body></s:Envelope>")


def row(services: Services, status: dict[str, str | None]) -> Any:
    """The stored row of an accepted message."""
    assert status["statusCode"] == "1", status
    with services.store.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == int(str(status["messageId"]), 36))).one()


def credentials(password: str = "xdyf3bf2") -> str:
    return f"<serviceId>1000</serviceId><username>Puzzel</username><password>{password}</password>"


def message(recipient: str = "+4741000000", content: str = "Hello", extra: str = "") -> str:
    return f"<message><recipient>{recipient}</recipient><content>{content}</content>{extra}</message>"


@pytest.fixture
def client(live_url: str, account: Account) -> zeep.Client:
    return zeep.Client(f"{live_url}/gw/ws/SMSGatewayV10?wsdl")


# --- sendMessages ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_zeep_from_our_wsdl_sends_and_reads_every_status_field(live_url: str, services: Services, account: Account,
                                                                path: str) -> None:
    client = zeep.Client(f"{live_url}{path}?wsdl")
    reply = client.service.sendMessages(request={
        "serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2", "batchReference": "zeep-1",
        "message": [{"recipient": "+47 41 00 00 00", "content": "Hi from zeep", "clientReference": "c1"},
                    {"recipient": "not a number", "content": "x", "clientReference": "c2"}]})
    assert reply.batchReference == "zeep-1"
    first, second = reply.messageStatus
    assert (first.statusCode, first.statusMessage, first.recipient, first.clientReference, first.sequenceIndex) == (
        1, "Message enqueued for sending", "+4741000000", "c1", 1)
    assert ID.fullmatch(first.messageId)
    assert (second.statusCode, second.clientReference, second.sequenceIndex, second.messageId) == (5, "c2", 2, None)
    view = services.gateway.status(int(first.messageId, 36))
    assert (view.recipient, view.text, view.client_ref, view.batch_ref) == ("+4741000000", "Hi from zeep", "c1",
                                                                            "zeep-1")


def test_the_docs_request_envelope_byte_for_byte_gets_the_docs_answer(live_url: str, services: Services,
                                                                       account: Account) -> None:
    example = (EXAMPLES / "puzzel-sendMessages-request.xml").read_bytes()
    status, reply = post(live_url, "/gw/ws/SMSGatewayV10", example)
    assert status == 200
    answer = body_of(reply)
    [only] = statuses(answer)
    documented = etree.parse(str(EXAMPLES / "puzzel-sendMessages-response.xml")).getroot()
    doc_status = body_of(documented).find(f"{{{RESPONSE_NS}}}response/messageStatus")
    # Element by element as the docs show it; clientReference is required by the XSD, so it is there, empty.
    assert [str(c.tag) for c in doc_status] == [t for t in only if t != "clientReference"]
    assert only["statusCode"] == "1" and only["statusMessage"] == "Message enqueued for sending"
    assert only["recipient"] == "+4741000000" and only["sequenceIndex"] == "1" and only["clientReference"] is None
    view = services.gateway.status(int(str(only["messageId"]), 36))
    assert (view.originator, view.text, view.status) == ("Puzzel", "This is a message from Puzzel.",
                                                        Status.ACCEPTED)


def test_every_setting_of_the_xsd_in_its_order_is_read(live_url: str, services: Services, account: Account) -> None:
    settings = (
        "<settings>"
        "<originatorSettings><originator>4790000000</originator><originatorType>International</originatorType>"
        "</originatorSettings>"
        "<priority>3</priority><validity>173</validity><differentiator>stats</differentiator><age>0</age>"
        "<gasSettings><serviceCode>02001</serviceCode><description>gas</description></gasSettings>"
        "<newSession>false</newSession><invoiceNode>inv</invoiceNode>"
        "<sendWindow><startDate>2031-01-02</startDate><stopDate>2031-01-03</stopDate>"
        "<startTime>08:00:00</startTime><stopTime>20:00:00</stopTime></sendWindow>"
        "<autoDetectEncoding>false</autoDetectEncoding><safeRemoveNonGsmCharacters>false</safeRemoveNonGsmCharacters>"
        "<parameter><key>flash</key><value>true</value></parameter>"
        "<parameter><key>pid</key><value>65</value></parameter>"
        "<parameter><key>businessModel</key><value>contact</value></parameter>"
        "<parameter><key>skip_customer_report_delivery</key><value>true</value></parameter>"
        "</settings>")
    body = envelope(credentials() + "<batchReference>all-settings</batchReference>"
                    + message(extra="<price>0</price><clientReference>r1</clientReference>" + settings))
    status, reply = post(live_url, PATHS[0], body)
    assert status == 200, etree.tostring(reply)
    [only] = statuses(body_of(reply))
    assert only["statusCode"] == "1", only
    stored = row(services, only)
    assert (stored.originator, stored.priority, stored.flash, stored.pid) == ("+4790000000", int(Priority.HIGH), True,
                                                                              65)
    assert (stored.batch_ref, stored.client_ref, stored.reports) == ("all-settings", "r1", int(ReportMask.NONE))
    assert stored.extras["businessModel"] == "contact" and stored.extras["gasServiceCode"] == "02001"


def test_binary_content_by_the_udh_and_dcs_parameters(live_url: str, services: Services, account: Account) -> None:
    settings = ("<settings><parameter><key>udh</key><value>0B05040B8423F00003030101</value></parameter>"
                "<parameter><key>dcs</key><value>F5</value></parameter></settings>")
    reply = answered(live_url, PATHS[0], envelope(credentials() + message(content="C0FFEE", extra=settings)))
    [only] = statuses(body_of(reply))
    assert only["statusCode"] == "1", only
    stored = row(services, only)
    assert (stored.payload, stored.udh, stored.dcs) == (bytes.fromhex("C0FFEE"),
                                                        bytes.fromhex("0B05040B8423F00003030101"), 0xF5)


def test_originator_type_in_upper_case_as_the_json_docs_spell_it_is_accepted(live_url: str, services: Services,
                                                                            account: Account) -> None:
    settings = ("<settings><originatorSettings><originator>Acme</originator><originatorType>ALPHANUMERIC"
                "</originatorType></originatorSettings></settings>")
    reply = answered(live_url, PATHS[0], envelope(credentials() + message(extra=settings)))
    [only] = statuses(body_of(reply))
    assert only["statusCode"] == "1", only


def test_soap_1_2_is_answered_in_soap_1_2(live_url: str, account: Account) -> None:
    status, reply = post(live_url, PATHS[1], envelope(credentials() + message(), "1.2"), "1.2")
    assert status == 200
    [only] = statuses(body_of(reply, "1.2"))
    assert only["statusCode"] == "1"


def test_wrong_credentials_answer_access_error_for_every_message(live_url: str, services: Services,
                                                                 account: Account) -> None:
    status, reply = post(live_url, PATHS[0], envelope(credentials("wrong") + message() + message("+4741000001")))
    assert status == 200
    found = statuses(body_of(reply))
    assert [s["statusCode"] for s in found] == ["2", "2"]
    assert [s["sequenceIndex"] for s in found] == ["1", "2"]
    assert services.gateway.messages(account=account) == []


def test_a_bad_message_does_not_sink_the_others(live_url: str, account: Account) -> None:
    body = envelope(credentials() + message() + message("12") + message(content=""))
    reply = answered(live_url, PATHS[0], body)
    assert [s["statusCode"] for s in statuses(body_of(reply))] == ["1", "5", "5"]


def test_a_repeated_client_reference_is_not_unique(live_url: str, services: Services, account: Account) -> None:
    services.accounts.update(account.name, duplicate_window=3600)
    ref = "<clientReference>once</clientReference>"
    post(live_url, PATHS[0], envelope(credentials() + message(extra=ref)))
    reply = answered(live_url, PATHS[0], envelope(credentials() + message(extra=ref)))
    [only] = statuses(body_of(reply))
    assert only["statusCode"] == "25", only


def test_messages_over_the_recipient_quota_are_held_with_status_24(live_url: str, services: Services,
                                                                   account: Account) -> None:
    services.accounts.update(account.name, recipient_quota=1, recipient_window=3600)
    reply = answered(live_url, PATHS[0], envelope(credentials() + message() + message()))
    first, second = statuses(body_of(reply))
    assert (first["statusCode"], second["statusCode"]) == ("1", "24")
    assert services.gateway.status(int(str(second["messageId"]), 36)).status is Status.HELD


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_schema_violation_is_a_client_fault_naming_the_element(live_url: str, account: Account,
                                                                version: str) -> None:
    # content before recipient: the XSD's sequence says otherwise
    body = envelope(credentials() + "<message><content>x</content><recipient>+4741000000</recipient></message>",
                    version)
    status, reply = post(live_url, PATHS[0], body, version)
    fault = body_of(reply, version)
    if version == "1.1":
        assert status == 500 and fault.findtext("faultcode") == "soap:Client.SchemaValidation"
        reason = str(fault.findtext("faultstring"))
    else:
        assert status == 400
        assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soap:Sender"
        reason = str(fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text"))
    assert "/sendMessages/request/message/content" in reason, reason


def test_an_unexpected_soap_action_is_logged_and_the_body_decides(live_url: str, account: Account,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smsgw")
    reply = answered(live_url, PATHS[0], envelope(credentials() + message()),
                           headers={"SOAPAction": '"urn:SomethingElse"'})
    assert [s["statusCode"] for s in statuses(body_of(reply))] == ["1"]
    assert "urn:SomethingElse" in caplog.text


@pytest.mark.parametrize("path", PATHS)
def test_the_wsdl_names_the_host_asked_and_its_schemas_are_served_beside_it(live_url: str, path: str) -> None:
    status, text, _ = call(live_url, f"{path}?wsdl")
    assert status == 200
    wsdl = etree.fromstring(text.encode())
    [address] = wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == f"{live_url}{path}"
    served = (WSDL_DIR / "puzzel" / "SMSGatewayV10.wsdl").read_text()
    assert re.sub(r'location="[^"]*"', "", text) == re.sub(r'location="[^"]*"', "", served)
    folder = path.rsplit("/", 1)[0]
    for name in ("SMSGatewayRequest-2013-02.xsd", "SMSGatewayResponse-2013-02.xsd", "SMSGatewayFault-2013-02.xsd"):
        status, text, _ = call(live_url, f"{folder}/{name}")
        assert status == 200 and text.encode() == (WSDL_DIR / "puzzel" / name).read_bytes()


# --- management -----------------------------------------------------------------------------------------------------


def submit(services: Services, account: Account, batch_ref: str, count: int) -> list[int]:
    specs = [MessageSpec("+4741000000", f"m{i}", client_ref=f"{batch_ref}-{i}") for i in range(count)]
    result = services.gateway.submit(account, SubmitRequest(specs, batch_ref=batch_ref, face="puzzel-soap"))
    return [o.message_id for o in result.outcomes if o.message_id is not None]


@pytest.fixture
def mgmt(live_url: str, account: Account) -> zeep.Client:
    return zeep.Client(f"{live_url}{MGMT}?wsdl")


def test_zeep_lists_looks_at_and_stops_a_batch(mgmt: zeep.Client, services: Services, account: Account) -> None:
    ids = submit(services, account, "b1", 3)
    creds: dict[str, Any] = {"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2"}
    listed = mgmt.service.getBatchList(**creds)
    assert [(b.clientBatchReference, b.totalSize, b.onHold) for b in listed] == [("b1", 3, 0)]
    batch = mgmt.service.getBatchStatus(**creds, clientBatchReference="b1")
    assert (batch.clientBatchReference, batch.totalSize) == ("b1", 3)
    stopped = mgmt.service.stopBatch(**creds, clientBatchReference="b1")
    assert stopped.serviceId == 1000 and stopped.clientBatchReference == "b1"
    assert sorted(int(m.messageId, 36) for m in stopped.stoppedMessages) == sorted(ids)
    assert {services.gateway.status(i).status for i in ids} == {Status.CANCELLED}


def test_the_docs_stop_request_byte_for_byte_gets_the_docs_shape(live_url: str, services: Services,
                                                                 account: Account) -> None:
    submit(services, account, "my-batch-reference", 2)
    status, reply = post(live_url, MGMT, (EXAMPLES / "puzzel-stopBatch-request.xml").read_bytes())
    assert status == 200
    answer = body_of(reply)
    documented = body_of(etree.parse(str(EXAMPLES / "puzzel-stopBatch-response.xml")).getroot())
    assert answer.tag == documented.tag == f"{{{MGMT_V10}}}stopBatchResponse"
    assert [str(c.tag) for c in answer][:2] == ["serviceId", "clientBatchReference"]
    assert answer.findtext("serviceId") == "1000" and len(answer.findall("stoppedMessages")) == 2


@pytest.mark.parametrize("operation", ["getBatchStatus", "stopBatch"])
def test_an_unknown_batch_is_fault_1000(mgmt: zeep.Client, operation: str) -> None:
    with pytest.raises(zeep.exceptions.Fault) as raised:
        getattr(mgmt.service, operation)(serviceId=1000, username="Puzzel", password="xdyf3bf2",
                                         clientBatchReference="nope")
    assert raised.value.code.endswith("Client")
    assert fault_code(raised.value) == 1000


def test_wrong_credentials_are_fault_2(mgmt: zeep.Client) -> None:
    with pytest.raises(zeep.exceptions.Fault) as raised:
        mgmt.service.getBatchList(serviceId=1000, username="Puzzel", password="wrong")
    assert fault_code(raised.value) == 2


def fault_code(fault: zeep.exceptions.Fault) -> int:
    detail = fault.detail
    assert detail is not None
    [element] = detail
    return int(str(element.findtext("code")))


# --- the answer, written as text ---------------------------------------------------------------------------------


def lxml_response(reply: Reply) -> etree._Element:
    """The `response` as it was built with lxml, element by element: what `response_xml` must write byte for byte."""
    root = etree.Element(f"{{{RESPONSE_NS}}}response", nsmap={"ns2": RESPONSE_NS})
    etree.SubElement(root, "batchReference").text = xml_text(reply.batch_ref)
    for s in reply.statuses:
        status = etree.SubElement(root, "messageStatus")
        etree.SubElement(status, "statusCode").text = str(int(s.status))
        etree.SubElement(status, "statusMessage").text = xml_text(s.text)
        etree.SubElement(status, "clientReference").text = xml_text(s.client_reference)
        etree.SubElement(status, "recipient").text = xml_text(s.recipient)
        if s.message_id is not None:
            etree.SubElement(status, "messageId").text = s.message_id
        etree.SubElement(status, "sequenceIndex").text = str(s.sequence_index)
    return root


# Any character, lone surrogates and controls included, and more of those XML escapes or cannot carry.
echoed = st.text(st.characters(blacklist_categories=()) | st.sampled_from("&<>\r\n\t\"'\x00\x1f\ud800\ufffe]"),
                 max_size=12)
message_statuses = st.lists(st.builds(
    MessageStatus, st.integers(1, 10**6), st.sampled_from(StatusCode), echoed, st.none() | echoed,
    st.none() | echoed, st.none() | st.integers(0, 2**63 - 1).map(message_id)), max_size=6)


@hyp_settings(max_examples=300, deadline=None)
@given(echoed, message_statuses)
def test_the_response_written_as_text_is_what_lxml_writes(batch_ref: str, statuses: list[MessageStatus]) -> None:
    reply = Reply(batch_ref, statuses)
    written = response_xml(reply).encode()
    assert written == etree.tostring(lxml_response(reply), encoding="utf-8")
    parsed = etree.fromstring(written)  # and it reads back as the (XML-safe) text it was given, CR included
    assert [m.findtext("clientReference") or None for m in parsed] == [None] + [
        xml_text(s.client_reference) or None for s in statuses]


CR = {"\r": "&#13;"}  # a CR in XML text, which a parser would read as a line feed


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_soap_answer_is_the_envelope_lxml_writes(live_url: str, account: Account, version: str) -> None:
    refs = ["a&b<c>d]]>", "cr\rlf", "ü € 😀", "tab\tnew\nline", "'quoted\""]
    body = envelope(credentials() + "<batchReference>b&amp;r</batchReference>"
                    + "".join(message(extra=f"<clientReference>{escape(ref, CR)}</clientReference>") for ref in refs)
                    + message("not &lt;a&gt; number"), version)
    status, text, _ = call(live_url, PATHS[0], "POST", body.encode(),
                           {"Content-Type": "text/xml" if version == "1.1" else "application/soap+xml"})
    assert status == 200, text
    sent = etree.fromstring(text.encode())
    answer = body_of(sent, version)
    reply = Reply(str(answer.findtext(f"{{{RESPONSE_NS}}}response/batchReference")), [
        MessageStatus(int(str(s["sequenceIndex"])), StatusCode(int(str(s["statusCode"]))), str(s["statusMessage"]),
                      s["recipient"], s["clientReference"], s.get("messageId")) for s in statuses(answer)])
    assert reply.batch_ref == "b&r"
    assert [s.client_reference for s in reply.statuses] == [*refs, None]
    assert reply.statuses[-1].status == StatusCode.SYNTAX_ERROR
    lxml_answer = etree.Element(f"{{{GATEWAY_NS}}}sendMessagesResponse", nsmap={"ns3": GATEWAY_NS})
    lxml_answer.append(lxml_response(reply))
    assert text.encode() == soap_envelope(SOAP11_VERSION if version == "1.1" else SOAP12_VERSION, lxml_answer)


@given(st.integers(0, 2**63 - 1) | st.integers(0, 36**3))
def test_message_ids_are_base_36_without_leading_zeros(core_id: int) -> None:
    shown = message_id(core_id)
    assert int(shown, 36) == core_id and ID.fullmatch(shown)
    assert shown == "0" or not shown.startswith("0")
