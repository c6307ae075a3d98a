"""O2 SMS Connector web services (PPGwPort, SimpleSmsGwPort) end to end on a real socket: zeep from our `?wsdl`, the
example envelopes posted byte for byte in both SOAP versions with every answer checked member by member and against
the vendor schema's response types, a receive/confirm cycle through receipts from the delivery worker, O2's codes
for wrong credentials and bad messages, and SOAP faults in the request's version for what is not a valid request.

The live server speaks plain HTTP, so the client certificate arrives as a trusted proxy forwards it (its SHA-256 in a
header), as in tests/http/test_o2_getpost.py; both faces share the code that checks it."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from smsgw_testing import CERT_HEADER, O2_BA_ID, call, deliver, make_certificate, o2_business_application
from sqlalchemy import select
from zeep.transports import Transport

from smsgw.auth import certificate_fingerprint
from smsgw.domain.encoding import Encoding
from smsgw.domain.model import Account, Priority, ReportMask, Status
from smsgw.services import Services
from smsgw.soap.contract import WSDL_DIR
from smsgw.store.tables import messages

NS = "http://b2b.eurotel.cz"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SOAP_NS = {"1.1": "http://schemas.xmlsoap.org/soap/envelope/", "1.2": "http://www.w3.org/2003/05/soap-envelope"}
CONTENT_TYPE = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
PPGW = "/smsconnector/services/PPGwPort"
SIMPLE = "/smsconnector/services/SimpleSmsGwPort"
EXAMPLES = WSDL_DIR / "examples"
RESPONSE = ["baID", "msgID", "code", "description", "refBaID", "refMsgID", "timestamp", "type"]
CONTAINER = ["binarySms", "mms", "response", "selector", "textSms"]
SHORT_CODE = "7890"
PHONE = "+420777123456"
SEND_OK = "Pozadavek Send uspesne zpracovan - ISUC_001 - Send request successfully processed"
NOT_AUTHORISED = ("Aplikace nebyla overena - EAUT_001 - The business application was not authorised (baID and "
                  "client certificate)")

# A TextSms as svcutil's proxy serialises it: every member, in the WSDL's order, nil where unset.
TEXT_SMS: dict[str, str | None] = {
    "baID": O2_BA_ID, "msgID": "client-guid", "priority": None, "dataCodingScheme": "0", "fromNumber": "Firma.cz",
    "header": None, "premiumInfo": None, "protocolIdentifier": None, "reportLevel": None, "toNumber": "+420777000000",
    "validityPeriod": "0", "intruder": "false", "multiPart": "true", "text": "Ahoj"}
BINARY_SMS: dict[str, str | None] = {
    **{k: v for k, v in TEXT_SMS.items() if k not in ("intruder", "multiPart", "text")},
    "dataCodingScheme": "245", "header": "BgUEFZcAAA==", "data": "AQL/"}
MMS: dict[str, str | None] = {
    "baID": O2_BA_ID, "msgID": "client-guid", "priority": None, "fromNumber": None, "messageClass": None,
    "premiumInfo": None, "presentation": None, "reportLevel": None, "subject": "Ahoj", "toNumber": "+420777000000",
    "validityPeriod": "0"}


@pytest.fixture(scope="module")
def fingerprints(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The SHA-256 of the registered client certificate and of a stranger's."""
    ours, theirs = (make_certificate(tmp_path_factory.mktemp(name)) for name in ("ours", "theirs"))
    return certificate_fingerprint(ours), certificate_fingerprint(theirs)


@pytest.fixture
def ba(services: Services, fingerprints: tuple[str, str]) -> Account:
    return o2_business_application(services, fingerprints[0])


def zeep_client(live_url: str, path: str, fingerprint: str) -> zeep.Client:
    session = requests.Session()
    session.headers[CERT_HEADER] = fingerprint
    return zeep.Client(f"{live_url}{path}?wsdl", transport=Transport(session=session))


@pytest.fixture
def ppgw(live_url: str, fingerprints: tuple[str, str], ba: Account) -> zeep.Client:
    return zeep_client(live_url, PPGW, fingerprints[0])


def response_schema() -> etree.XMLSchema:
    """The vendor's own schema, as embedded in its WSDL: every answer must be valid against it."""
    wsdl = etree.parse(str(WSDL_DIR / "o2" / "PPGwPort.wsdl"))
    return etree.XMLSchema(wsdl.find(".//{http://www.w3.org/2001/XMLSchema}schema"))


def post(live_url: str, path: str, body: bytes, version: str = "1.1",
         fingerprint: str | None = None) -> tuple[int, etree._Element]:
    """(HTTP status, the Body's element) of a POST in `version`, whose answer must be an envelope of that version."""
    headers = {"Content-Type": CONTENT_TYPE[version], **({CERT_HEADER: fingerprint} if fingerprint else {})}
    status, text, response = call(live_url, path, "POST", body, headers)
    assert response.getheader("Content-Type", "").startswith(CONTENT_TYPE[version].split(";")[0])
    envelope = etree.fromstring(text.encode())
    assert envelope.tag == f"{{{SOAP_NS[version]}}}Envelope"
    return status, envelope.find(f"{{{SOAP_NS[version]}}}Body")[0]


def answer(live_url: str, path: str, body: bytes, fingerprint: str, version: str = "1.1") -> etree._Element:
    """The operation's answer element, after checking it is a 200 and valid against the vendor's schema."""
    status, element = post(live_url, path, body, version, fingerprint)
    assert status == 200, etree.tostring(element)
    schema = response_schema()
    assert schema.validate(element), schema.error_log
    return element


def envelope(payload: str, version: str = "1.1") -> bytes:
    return (f'<s:Envelope xmlns:s="{SOAP_NS[version]}" xmlns:xsi="{XSI}"><s:Body>{payload}</s:Body>'
            "</s:Envelope>").encode()


def members(fields: dict[str, str | None]) -> str:
    return "".join(f'<{name} xsi:nil="true"/>' if value is None else f"<{name}>{value}</{name}>"
                   for name, value in fields.items())


def send(kind: str = "textSms", **changes: str | None) -> str:
    """A send of one TextSms (or BinarySms, or Mms), the container's members in the WSDL's order."""
    fields = {**{"textSms": TEXT_SMS, "binarySms": BINARY_SMS, "mms": MMS}[kind], **changes}
    selector = f"<selector>{kind[0].upper()}{kind[1:]}</selector>"
    sms = f"<{kind}>{members(fields)}</{kind}>"
    container = f"{selector}{sms}" if kind == "textSms" else f"{sms}{selector}"
    return f'<o2:send xmlns:o2="{NS}"><mc>{container}</mc></o2:send>'


def operation(name: str, **fields: str | None) -> str:
    return f'<o2:{name} xmlns:o2="{NS}">{members(fields)}</o2:{name}>'


def result(element: etree._Element, wrapper: str) -> etree._Element:
    assert element.tag == f"{{{NS}}}{wrapper}"
    assert [child.tag for child in element] == ["result"]
    return element[0]


def response(element: etree._Element, wrapper: str | None = "sendResponse") -> dict[str, str | None]:
    """A Response's members (of `wrapper`'s result, or of `element` itself), after checking they are all there,
    unqualified and in the WSDL's order."""
    found = result(element, wrapper) if wrapper else element
    assert [child.tag for child in found] == RESPONSE
    return {str(child.tag): None if child.get(f"{{{XSI}}}nil") == "true" else child.text for child in found}


def container(element: etree._Element, wrapper: str = "receiveResponse") -> tuple[str | None, etree._Element | None]:
    """A MessageContainer's selector and the member it names; every other member is nil."""
    found = result(element, wrapper)
    assert [child.tag for child in found] == CONTAINER
    selector = found.findtext("selector") or None
    filled = [child for child in found if child.get(f"{{{XSI}}}nil") != "true" and child.tag != "selector"]
    assert len(filled) == (selector is not None)
    return selector, filled[0] if filled else None


def outcome(reply: dict[str, str | None]) -> tuple[str | None, str | None]:
    """(type, code), after checking the description says the code the way O2 does."""
    assert f" - {reply['code']} - " in str(reply["description"])
    return reply["type"], reply["code"]


def row(services: Services, message_id: str | None) -> Any:
    with services.store.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == int(str(message_id)))).one()


# --- zeep, from our WSDL ---------------------------------------------------------------------------------------------


def test_zeep_from_our_wsdl_pings_sends_receives_and_confirms(ppgw: zeep.Client, services: Services,
                                                              ba: Account) -> None:
    assert (ppgw.service.ping(baID=O2_BA_ID).code, ppgw.service.ping(baID="demo").type) == ("ISUC_000", "SUCCESS")

    sent = ppgw.service.send(_value_1=zeep.xsd.SkipValue, mc={  # the wildcard O2's .NET client leaves out
        "selector": "TextSms", "textSms": {
            "baID": O2_BA_ID, "msgID": "zeep-1", "dataCodingScheme": 0, "fromNumber": "Firma", "reportLevel": "1",
            "toNumber": "+420777000000", "validityPeriod": 10000, "priority": "2", "intruder": True,
            "multiPart": False, "text": "Ahoj z zeep"}})
    assert (sent.type, sent.code, sent.description, sent.baID, sent.refBaID, sent.refMsgID) == (
        "SUCCESS", "ISUC_001", SEND_OK, O2_BA_ID, O2_BA_ID, "zeep-1")
    assert sent.timestamp.utcoffset() is not None
    view = services.gateway.status(int(sent.msgID), ba)
    assert (view.recipient, view.originator, view.text, view.client_ref, view.status) == (
        "+420777000000", "Firma", "Ahoj z zeep", "zeep-1", Status.ACCEPTED)
    assert (view.expires_at - view.due_at).total_seconds() == 10000 * 60  # validityPeriod in minutes, as GP
    message = row(services, sent.msgID)
    assert (message.flash, message.priority, message.reports) == (True, Priority.HIGH, ReportMask.FINAL)

    assert ppgw.service.receive(baID=O2_BA_ID).selector is None
    services.accounts.add_number("demo", SHORT_CODE)
    services.gateway.ingest_mo(PHONE, SHORT_CODE, text="Ahoj")
    mo = ppgw.service.receiveWithTime(baID=O2_BA_ID)
    assert (mo.selector, mo.textSms.fromNumber, mo.textSms.toNumber, mo.textSms.text) == (
        "TextSms", PHONE, SHORT_CODE, "Ahoj")
    assert mo.textSms.startTime.utcoffset() is not None
    assert ppgw.service.receive(baID=O2_BA_ID).textSms.msgID == mo.textSms.msgID  # still there until confirmed
    confirmed = ppgw.service.confirm(baID=O2_BA_ID, refBaID=O2_BA_ID, refMsgID=mo.textSms.msgID)
    assert (confirmed.type, confirmed.code, confirmed.refMsgID) == ("SUCCESS", "ISUC_002", mo.textSms.msgID)
    assert ppgw.service.receive(baID=O2_BA_ID).selector is None


def test_zeep_sends_a_binary_sms_with_its_udh_and_data_coding(ppgw: zeep.Client, services: Services,
                                                              ba: Account) -> None:
    sent = ppgw.service.send(_value_1=zeep.xsd.SkipValue, mc={"selector": "BinarySms", "binarySms": {
        "baID": O2_BA_ID, "msgID": "bin-1", "dataCodingScheme": 0xF5, "header": b"\x06\x05\x04\x15\x97\x00\x00",
        "toNumber": "+420777000000", "validityPeriod": 0, "data": b"\x01\x02\xff"}})
    assert (sent.type, sent.code, sent.refMsgID) == ("SUCCESS", "ISUC_001", "bin-1")
    message = row(services, sent.msgID)
    assert (message.payload, message.udh, message.dcs, message.text) == (
        b"\x01\x02\xff", b"\x06\x05\x04\x15\x97\x00\x00", 0xF5, None)


def test_zeep_simple_sms_gw_send_sms_answers_the_messages_id(live_url: str, services: Services,
                                                             fingerprints: tuple[str, str], ba: Account) -> None:
    client = zeep_client(live_url, SIMPLE, fingerprints[0])
    message_id = client.service.sendSms(baID=O2_BA_ID, text="Ahoj", toNumber="777000000", fromNumber=None,
                                        validityPeriod=60, priority="1", intruder=False)
    view = services.gateway.status(int(message_id), ba)
    assert (view.recipient, view.text, (view.expires_at - view.due_at).total_seconds()) == (
        "+420777000000", "Ahoj", 3600)
    assert row(services, message_id).reports == ReportMask.NONE
    with pytest.raises(zeep.exceptions.Fault) as refused:
        client.service.sendSms(baID=O2_BA_ID, text="Ahoj", toNumber="12", fromNumber=None, validityPeriod=0,
                               priority=None, intruder=False)
    assert refused.value.message.startswith("Chybne cislo prijemce - EFMT_003 - Invalid toNumber")


# --- the example envelopes, byte for byte ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, version", [("o2-send-soap11.xml", "1.1"), ("o2-send-soap12.xml", "1.2"),
                                           ("o2-send-svcutil-soap11.xml", "1.1")])
def test_the_example_sends_get_o2s_response_member_by_member(live_url: str, services: Services,
                                                             fingerprints: tuple[str, str], ba: Account, name: str,
                                                             version: str) -> None:
    body = (EXAMPLES / name).read_bytes()
    reply = response(answer(live_url, PPGW, body, fingerprints[0], version))
    client_msg_id = etree.fromstring(body).findtext(".//textSms/msgID")
    assert {k: v for k, v in reply.items() if k not in ("msgID", "timestamp")} == {
        "baID": O2_BA_ID, "code": "ISUC_001", "description": SEND_OK, "refBaID": O2_BA_ID,
        "refMsgID": client_msg_id, "type": "SUCCESS"}
    view = services.gateway.status(int(str(reply["msgID"])), ba)
    assert (view.recipient, view.originator, view.text, view.parts) == ("+420777000000", "Firma.cz", "Ahoj", 1)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_example_send_sms_gets_the_messages_id(live_url: str, services: Services, fingerprints: tuple[str, str],
                                                   ba: Account, version: str) -> None:
    body = (EXAMPLES / "o2-sendSms-soap11.xml").read_bytes()
    if version == "1.2":
        body = body.replace(SOAP_NS["1.1"].encode(), SOAP_NS["1.2"].encode())
    reply = result(answer(live_url, SIMPLE, body, fingerprints[0], version), "sendSmsResponse")
    assert len(reply) == 0
    assert services.gateway.status(int(str(reply.text)), ba).text == "Ahoj"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_every_operation_in_both_versions_answers_its_declared_type(live_url: str, services: Services,
                                                                    fingerprints: tuple[str, str], ba: Account,
                                                                    version: str) -> None:
    def ask(payload: str, path: str = PPGW) -> etree._Element:
        return answer(live_url, path, envelope(payload, version), fingerprints[0], version)

    ping = response(ask(operation("ping", baID=O2_BA_ID)), "pingResponse")
    assert outcome(ping) == ("SUCCESS", "ISUC_000")
    assert (ping["baID"], ping["refBaID"], ping["refMsgID"]) == (O2_BA_ID, None, None)
    assert container(ask(operation("receive", baID=O2_BA_ID))) == (None, None)
    assert container(ask(operation("receiveWithTime", baID=O2_BA_ID)), "receiveResponseWithTime") == (None, None)
    assert outcome(response(ask(send()))) == ("SUCCESS", "ISUC_001")
    assert outcome(response(ask(send("binarySms")))) == ("SUCCESS", "ISUC_001")
    assert ask(operation("sendSms", baID=O2_BA_ID, text="Ahoj", toNumber="+420777000000", fromNumber=None,
                         validityPeriod="0", priority=None, intruder="false"), SIMPLE)[0].text


# --- receive and confirm ---------------------------------------------------------------------------------------------


def test_an_mo_is_a_text_sms_with_every_member_in_order(live_url: str, services: Services,
                                                        fingerprints: tuple[str, str], ba: Account) -> None:
    services.accounts.add_number("demo", SHORT_CODE)
    services.gateway.ingest_mo(PHONE, SHORT_CODE, text="Ahoj\nsvete\x0c", enc=Encoding.UCS2)  # GSM's page break
    plain = answer(live_url, PPGW, envelope(operation("receive", baID="demo")), fingerprints[0])
    selector, sms = container(plain)
    assert selector == "TextSms" and sms is not None and sms.tag == "textSms"
    fields = {str(child.tag): child.text for child in sms}
    assert list(fields) == ["baID", "msgID", "priority", "dataCodingScheme", "fromNumber", "header", "premiumInfo",
                            "protocolIdentifier", "reportLevel", "toNumber", "validityPeriod", "intruder",
                            "multiPart", "text"]
    assert {k: fields[k] for k in ("baID", "dataCodingScheme", "fromNumber", "toNumber", "text")} == {
        "baID": "demo", "dataCodingScheme": "8", "fromNumber": PHONE, "toNumber": SHORT_CODE,
        "text": "Ahoj\nsvete\ufffd"}  # what XML cannot carry
    timed = answer(live_url, PPGW, envelope(operation("receiveWithTime", baID="demo")), fingerprints[0])
    _, with_time = container(timed, "receiveResponseWithTime")
    assert with_time is not None
    assert [str(child.tag) for child in with_time][10:12] == ["validityPeriod", "startTime"]
    assert with_time.findtext("msgID") == fields["msgID"]


def test_a_binary_mo_is_a_binary_sms_in_base64(live_url: str, services: Services, fingerprints: tuple[str, str],
                                               ba: Account) -> None:
    services.accounts.add_number("demo", SHORT_CODE)
    services.gateway.ingest_mo(PHONE, SHORT_CODE, payload=b"\x01\x02\xff", enc=Encoding.BINARY)
    selector, sms = container(answer(live_url, PPGW, envelope(operation("receive", baID=O2_BA_ID)),
                                     fingerprints[0]))
    assert selector == "BinarySms" and sms is not None and sms.tag == "binarySms"
    assert (sms.findtext("data"), sms.findtext("dataCodingScheme")) == ("AQL/", "4")


@pytest.mark.parametrize("level, intermediate_states, codes", [
    ("2", ("buffered",), ["ISUC_010", "ISUC_005"]),  # asked for by the message: the SMSC's ENROUTE, then DELIVRD
    ("1", ("buffered",), ["ISUC_005"]),
    ("1", ("submitted",), ["ISUC_010", "ISUC_005"]),  # asked for by the account, for every message: the SMSC took it
    (None, ("buffered",), []),
])
def test_a_delivered_message_is_received_as_isuc_010_then_isuc_005_when_intermediate_reports_are_asked(
    live_url: str, services: Services, fingerprints: tuple[str, str], ba: Account, level: str | None,
    intermediate_states: tuple[str, ...], codes: list[str],
) -> None:
    if intermediate_states != ("buffered",):
        services.accounts.update("demo", report_intermediate=True, intermediate_states=intermediate_states)

    def ask(payload: str) -> etree._Element:
        return answer(live_url, PPGW, envelope(payload), fingerprints[0])

    sent = response(ask(send(reportLevel=level)))
    message_id = int(str(sent["msgID"]))
    end = Status.DELIVERED if level else Status.SUBMITTED  # without a receipt asked for, it stays submitted
    deliver(services, lambda: services.gateway.status(message_id).status is end)
    received = []
    for _ in codes:
        selector, report = container(ask(operation("receive", baID=O2_BA_ID)))
        assert selector == "Response" and report is not None
        reply = response(report, None)
        assert (reply["baID"], reply["refBaID"], reply["refMsgID"]) == (O2_BA_ID, O2_BA_ID, "client-guid")
        received.append(outcome(reply))
        confirmed = response(ask(operation("confirm", baID=O2_BA_ID, refBaID=O2_BA_ID, refMsgID=reply["msgID"])),
                             "confirmResponse")
        assert (outcome(confirmed), confirmed["refMsgID"]) == (("SUCCESS", "ISUC_002"), reply["msgID"])
    assert received == [("SUCCESS", code) for code in codes]
    assert container(ask(operation("receive", baID=O2_BA_ID))) == (None, None)


def test_a_report_names_a_message_sent_without_msgid_by_our_id(live_url: str, services: Services,
                                                               fingerprints: tuple[str, str], ba: Account) -> None:
    sent = response(answer(live_url, PPGW, envelope(send(msgID=None, reportLevel="1")), fingerprints[0]))
    assert sent["refMsgID"] == sent["msgID"]
    deliver(services, lambda: services.gateway.status(int(str(sent["msgID"]))).status is Status.DELIVERED)
    _, report = container(answer(live_url, PPGW, envelope(operation("receive", baID=O2_BA_ID)), fingerprints[0]))
    assert report is not None and response(report, None)["refMsgID"] == sent["msgID"]


@pytest.mark.parametrize("ref_ba_id, ref_msg_id, expected", [
    (O2_BA_ID, "999999", ("APPL_ERROR", "EAPL_003")),
    ("4242", "1", ("APPL_ERROR", "EAPL_003")),
    (O2_BA_ID, "ID-48555-1585223320437-1-2900914", ("FORMAT_ERROR", "EFMT_002")),
    (O2_BA_ID, None, ("FORMAT_ERROR", "EFMT_001")),
])
def test_a_bad_confirm_gets_o2s_error(live_url: str, fingerprints: tuple[str, str], ba: Account,
                                      ref_ba_id: str, ref_msg_id: str | None, expected: tuple[str, str]) -> None:
    reply = response(answer(live_url, PPGW, envelope(operation("confirm", baID=O2_BA_ID, refBaID=ref_ba_id,
                                                               refMsgID=ref_msg_id)), fingerprints[0]),
                     "confirmResponse")
    assert outcome(reply) == expected


# --- identification --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["stranger", "nobody", "unknown baID"])
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_wrong_certificate_or_unknown_ba_gets_an_authorization_error_response(
    live_url: str, services: Services, fingerprints: tuple[str, str], ba: Account, who: str, version: str
) -> None:
    fingerprint = {"stranger": fingerprints[1], "nobody": None, "unknown baID": fingerprints[0]}[who]
    ba_id = "4242" if who == "unknown baID" else O2_BA_ID

    def ask(payload: str) -> etree._Element:
        status, element = post(live_url, PPGW, envelope(payload, version), version, fingerprint)
        assert status == 200
        assert response_schema().validate(element)
        return element

    for reply in (response(ask(operation("ping", baID=ba_id)), "pingResponse"),
                  response(ask(send(baID=ba_id))),
                  response(ask(operation("confirm", baID=ba_id, refBaID=ba_id, refMsgID="1")), "confirmResponse")):
        assert (reply["type"], reply["code"], reply["description"], reply["baID"]) == (
            "AUTHORIZATION_ERROR", "EAUT_001", NOT_AUTHORISED, ba_id)
    for name, wrapper in (("receive", "receiveResponse"), ("receiveWithTime", "receiveResponseWithTime")):
        selector, report = container(ask(operation(name, baID=ba_id)), wrapper)
        assert selector == "Response" and report is not None
        assert outcome(response(report, None)) == ("AUTHORIZATION_ERROR", "EAUT_001")
    status, fault = post(live_url, SIMPLE, envelope(operation(
        "sendSms", baID=ba_id, text="Ahoj", toNumber="+420777000000", fromNumber=None, validityPeriod="0",
        priority=None, intruder="false"), version), version, fingerprint)
    assert (status, fault_code(fault, version), fault_reason(fault, version)) == (
        500 if version == "1.1" else 400,
        "soap:Client.AUTHORIZATION_ERROR" if version == "1.1" else "soap:Sender/f:AUTHORIZATION_ERROR",
        NOT_AUTHORISED)
    assert services.gateway.messages() == []


# --- what send refuses -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload, expected", [
    (send(toNumber="12"), ("FORMAT_ERROR", "EFMT_003")),
    (send(toNumber=None), ("FORMAT_ERROR", "EFMT_001")),
    (send(text=None), ("FORMAT_ERROR", "EFMT_001")),
    (send(fromNumber="Other"), ("APPL_ERROR", "EAPL_001")),
    (send(fromNumber="Far too long a name"), ("FORMAT_ERROR", "EFMT_004")),
    (send(text="x" * 161, multiPart="false"), ("FORMAT_ERROR", "EFMT_006")),
    (send(text="x" * 2000), ("FORMAT_ERROR", "EFMT_006")),
    (send(validityPeriod="-1"), ("FORMAT_ERROR", "EFMT_009")),
    (send(validityPeriod="9223372036854775807"), ("FORMAT_ERROR", "EFMT_009")),
    (send(priority="7"), ("FORMAT_ERROR", "EFMT_002")),
    (send(reportLevel="all"), ("FORMAT_ERROR", "EFMT_002")),
    (send(dataCodingScheme="4"), ("FORMAT_ERROR", "EFMT_002")),
    (send(header="BQADAQIB"), ("FORMAT_ERROR", "EFMT_007")),
    (send(protocolIdentifier="x"), ("FORMAT_ERROR", "EFMT_002")),
    (send(protocolIdentifier="256"), ("FORMAT_ERROR", "EFMT_002")),
    (send(premiumInfo="<billingCode>P1</billingCode><orderID xsi:nil='true'/><orderingChannel xsi:nil='true'/>"),
     ("FORMAT_ERROR", "EFMT_002")),
    (send("binarySms", data=None), ("FORMAT_ERROR", "EFMT_001")),
    (send("binarySms", dataCodingScheme="300"), ("FORMAT_ERROR", "EFMT_002")),
    (send("mms"), ("FORMAT_ERROR", "EFMT_012")),
    (f'<o2:send xmlns:o2="{NS}"/>', ("FORMAT_ERROR", "EFMT_001")),
    (f'<o2:send xmlns:o2="{NS}"><mc><selector>Response</selector></mc></o2:send>', ("FORMAT_ERROR", "EFMT_002")),
    (f'<o2:send xmlns:o2="{NS}"><mc><selector>TextSms</selector></mc></o2:send>', ("FORMAT_ERROR", "EFMT_001")),
])
def test_a_bad_message_gets_o2s_error_response_and_sends_nothing(
    live_url: str, services: Services, fingerprints: tuple[str, str], ba: Account, payload: str,
    expected: tuple[str, str],
) -> None:
    reply = response(answer(live_url, PPGW, envelope(payload), fingerprints[0]))
    assert outcome(reply) == expected
    assert services.gateway.messages() == []


def test_an_mms_is_refused_saying_so(live_url: str, fingerprints: tuple[str, str], ba: Account) -> None:
    reply = response(answer(live_url, PPGW, envelope(send("mms")), fingerprints[0]))
    assert reply["description"] == ("MMS zpravy nejsou podporovany - EFMT_012 - MMS messages are not supported: send "
                                    "TextSms or BinarySms")
    assert (reply["refBaID"], reply["refMsgID"]) == (O2_BA_ID, "client-guid")


@pytest.mark.parametrize("policy, expected", [
    ("credit", ("APPL_ERROR", "EAPL_004")), ("opt-out", ("APPL_ERROR", "EAPL_005")),
    ("rate", ("APPL_ERROR", "EAPL_006")),
])
def test_the_accounts_policy_refuses_with_gps_codes(live_url: str, services: Services,
                                                    fingerprints: tuple[str, str], ba: Account, policy: str,
                                                    expected: tuple[str, str]) -> None:
    if policy == "credit":
        services.accounts.update("demo", credit_mode="messages")
    elif policy == "opt-out":
        services.gateway.suppress(ba, ["+420777000000"])
    else:
        services.accounts.update("demo", request_rate=1)
        assert outcome(response(answer(live_url, PPGW, envelope(send()), fingerprints[0]))) == ("SUCCESS", "ISUC_001")
    reply = response(answer(live_url, PPGW, envelope(send()), fingerprints[0]))
    assert outcome(reply) == expected


def test_a_rate_limited_send_sms_is_a_fault_saying_when_to_retry(live_url: str, services: Services,
                                                                  fingerprints: tuple[str, str], ba: Account) -> None:
    services.accounts.update("demo", request_rate=1)
    body = (EXAMPLES / "o2-sendSms-soap11.xml").read_bytes()
    answer(live_url, SIMPLE, body, fingerprints[0])
    status, text, reply = call(live_url, SIMPLE, "POST", body, {"Content-Type": CONTENT_TYPE["1.1"],
                                                                 CERT_HEADER: fingerprints[0]})
    fault = etree.fromstring(text.encode()).find(f".//{{{SOAP_NS['1.1']}}}Fault")
    assert (status, reply.getheader("Retry-After"), fault_code(fault, "1.1")) == (500, "1", "soap:Client.APPL_ERROR")
    assert fault_reason(fault, "1.1").startswith("Prilis mnoho pozadavku - EAPL_006 - Too many requests")


# --- what is not a valid request: a fault in the request's version ---------------------------------------------------


def fault_code(fault: etree._Element, version: str) -> str:
    """`faultcode` in 1.1; Code/Value, then `/` and the Subcode's Value if any, in 1.2."""
    ns = SOAP_NS[version]
    assert fault.tag == f"{{{ns}}}Fault"
    if version == "1.1":
        return str(fault.findtext("faultcode"))
    values = [str(value.text) for value in fault.iter(f"{{{ns}}}Value")]
    return "/".join(values)


def fault_reason(fault: etree._Element, version: str) -> str:
    ns = SOAP_NS[version]
    return str(fault.findtext("faultstring") if version == "1.1" else fault.findtext(f"{{{ns}}}Reason/{{{ns}}}Text"))


@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.parametrize("case, body, reason", [
    ("malformed", b"<s:Envelope", "malformed XML"),
    ("schema", None, "schema violation at /send/mc/textSms/validityPeriod"),
    ("doctype", None, "DOCTYPE"),
    ("unknown element", None, "has no operation {http://b2b.eurotel.cz}activateBA"),
    ("qualified children", None, "schema violation at /ping/baID"),
])
def test_what_is_not_a_valid_request_is_a_sender_fault_in_its_version(
    live_url: str, services: Services, fingerprints: tuple[str, str], ba: Account, version: str, case: str,
    body: bytes | None, reason: str,
) -> None:
    bodies = {
        "schema": envelope(send(validityPeriod="soon"), version),
        "doctype": b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x "y">]>' + envelope(
            operation("ping", baID="&x;"), version),
        "unknown element": envelope(operation("activateBA", baID=O2_BA_ID), version),
        "qualified children": envelope(f'<o2:ping xmlns:o2="{NS}"><o2:baID>{O2_BA_ID}</o2:baID></o2:ping>', version),
    }
    status, fault = post(live_url, PPGW, body or bodies[case], version, fingerprints[0])
    assert status == (500 if version == "1.1" else 400)
    assert fault_code(fault, version).split(".")[0].split("/")[0] == ("soap:Client" if version == "1.1"
                                                                      else "soap:Sender")
    assert reason in fault_reason(fault, version)
    assert services.gateway.messages() == []


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_body_over_the_size_limit_is_413_with_a_fault_in_its_version(live_url: str, fingerprints: tuple[str, str],
                                                                       ba: Account, version: str) -> None:
    padding = "x" * (8 * 1024 * 1024)  # the default limit is 8 MiB
    status, fault = post(live_url, PPGW, envelope(send(text=padding), version), version, fingerprints[0])
    assert status == 413
    assert "larger than" in fault_reason(fault, version)


def test_a_soap_1_2_envelope_sent_as_1_1_is_a_version_mismatch(live_url: str, fingerprints: tuple[str, str],
                                                               ba: Account) -> None:
    status, fault = post(live_url, PPGW, envelope(operation("ping", baID=O2_BA_ID), "1.2"), "1.1", fingerprints[0])
    assert (status, fault_code(fault, "1.1")) == (500, "soap:VersionMismatch")


# --- the contract ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, wsdl", [(PPGW, "PPGwPort.wsdl"), (SIMPLE, "SimpleSmsGwPort.wsdl")])
def test_the_wsdl_is_o2s_own_with_the_address_of_the_host_asked(live_url: str, path: str, wsdl: str) -> None:
    for host in (None, "smsgw.example:8443"):
        status, text, response = call(live_url, f"{path}?wsdl", headers={"Host": host} if host else {})
        assert status == 200 and response.getheader("Content-Type", "").startswith("text/xml")
        address = f"http://{host}{path}" if host else f"{live_url}{path}"
        original = (WSDL_DIR / "o2" / wsdl).read_text()
        served = original.replace(f"https://smsconnector.cz.o2.com{path}", address)
        assert text == served
