"""Puzzel `/gw/rs/sendMessages` end to end on a real socket: the JSON, XML, web form and GET examples of Puzzel's
docs, the requests real client libraries send, Accept negotiation, and every bad input answered in Puzzel's shape."""

from __future__ import annotations

import http.client
import json
import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import select

from smsgw.dialects.puzzel.request import parse, send, tree_from_xml
from smsgw.domain.model import Account, MessageView, Outcome, Priority, ReportMask, Status, SubmitRequest, SubmitResult
from smsgw.services import Services
from smsgw.store.tables import messages

PATH = "/gw/rs/sendMessages"
RESPONSE_NS = "http://chimera.intele.com/gw/xsd/SMSGateway/Response/2013/02"
ENQUEUED = "Message enqueued for sending"
ID = re.compile(r"[0-9a-z]{1,13}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Puzzel's REST page, verbatim (its trailing comma after originatorSettings included).
JSON_EXAMPLE = """{
    "serviceId":1000,
    "username":"Puzzel",
    "password":"xdyf3bf2",
    "message":[
        {
            "recipient":"+4741000000",
            "content":"This is a message from Puzzel.",
            "price":0,
            "settings":{
                "originatorSettings":{
                    "originator":"Puzzel",
                    "originatorType":"ALPHANUMERIC"
                },
            }
        }
    ]
}"""
JSON_EXAMPLE_FIXED = JSON_EXAMPLE.replace("},\n            }", "}\n            }")

# Puzzel's REST page, verbatim: its xmlns:req value lacks quotes.
XML_EXAMPLE = """<?xml version="1.0"?>
<req:request xmlns:req=http://chimera.intele.com/gw/xsd/SMSGateway/Request/2013/02 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <serviceId>1000</serviceId>
    <username>Puzzel</username>
    <password>xdyf3bf2</password>
    <message>
        <recipient>+4741000000</recipient>
        <content>This is a message from Puzzel.</content>
        <price>0</price>
        <settings>
            <originatorSettings>
                <originator>Puzzel</originator>
                <originatorType>Alphanumeric</originatorType>
            </originatorSettings>
            <safeRemoveNonGsmCharacters>true</safeRemoveNonGsmCharacters>
        </settings>
    </message>
</req:request>"""
XML_EXAMPLE_FIXED = XML_EXAMPLE.replace("xmlns:req=http://chimera.intele.com/gw/xsd/SMSGateway/Request/2013/02",
                                        'xmlns:req="http://chimera.intele.com/gw/xsd/SMSGateway/Request/2013/02"')

FORM_EXAMPLE = ("serviceId=1000&username=Puzzel&password=xdyf3bf2&message%5B0%5D.recipient=%2B4710000000"
                "&message%5B0%5D.content=Test+is+a+message+from+Puzzel")

FORM = "application/x-www-form-urlencoded"


# --- helpers -------------------------------------------------------------------------------------------------------


def call(live_url: str, method: str, target: str, body: bytes | str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    url = urlsplit(live_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    try:
        conn.request(method, target, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def post(live_url: str, body: bytes | str, content_type: str, accept: str | None = None) -> tuple[int, str, bytes]:
    headers = {"Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    return call(live_url, "POST", PATH, body, headers)


def post_json(live_url: str, request: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
    body = request if isinstance(request, str) else json.dumps(request)
    status, content_type, reply = post(live_url, body, "application/json", "application/json")
    assert content_type.startswith("application/json"), (content_type, reply)
    return status, json.loads(reply)


def xml_reply(body: bytes) -> tuple[str, list[dict[str, str | None]]]:
    """(batchReference, messageStatus children as name → text, in document order)."""
    root = etree.fromstring(body)
    assert root.tag == f"{{{RESPONSE_NS}}}response"
    assert [c.tag for c in root][:1] == ["batchReference"]
    statuses = [{child.tag: child.text for child in status} for status in root.iter("messageStatus")]
    for status in root.iter("messageStatus"):  # the Response schema's order
        order = ["statusCode", "statusMessage", "clientReference", "recipient", "messageId", "sessionId",
                 "sequenceIndex"]
        tags = [str(c.tag) for c in status]
        assert tags == [t for t in order if t in tags]
    return str(root.findtext("batchReference")), statuses


def request(*messages: dict[str, Any], **top: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2"}
    body.update(top)
    body["message"] = list(messages)
    return body


def msg(**fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"recipient": "+4741000000", "content": "Hello"}
    message.update(fields)
    return message


def core_id(shown: str) -> int:
    assert ID.fullmatch(shown), shown
    return int(shown, 36)


def stored(services: Services, status: dict[str, Any]) -> MessageView:
    assert status["statusCode"] == 1, status
    return services.gateway.status(core_id(status["messageId"]))


def row(services: Services, shown_id: str) -> Any:
    with services.store.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == core_id(shown_id))).one()


def stored_count(services: Services) -> int:
    return len(services.gateway.messages(limit=10_000))


@pytest.fixture
def account(services: Services) -> Account:
    return services.accounts.create("Puzzel", "xdyf3bf2", account_id=1000)


# --- the vendor's examples -----------------------------------------------------------------------------------------


def test_the_json_example_is_enqueued_and_answered_as_documented(
    live_url: str, services: Services, account: Account
) -> None:
    status, reply = post_json(live_url, JSON_EXAMPLE_FIXED)
    assert status == 200
    assert UUID.fullmatch(reply["batchReference"])  # generated: the request has none
    [message] = reply["messageStatus"]
    assert list(message) == ["statusCode", "statusMessage", "clientReference", "recipient", "messageId",
                             "sessionId", "sequenceIndex"]
    assert message == {"statusCode": 1, "statusMessage": ENQUEUED, "clientReference": None,
                       "recipient": "+4741000000", "messageId": message["messageId"], "sessionId": None,
                       "sequenceIndex": 1}
    view = stored(services, message)
    assert (view.account_id, view.recipient, view.text) == (1000, "+4741000000", "This is a message from Puzzel.")
    assert (view.originator, view.originator_type) == ("Puzzel", "alphanumeric")
    assert view.batch_ref == reply["batchReference"]
    assert row(services, message["messageId"]).face == "puzzel-rest"


def test_the_json_example_verbatim_with_its_trailing_comma_is_a_syntax_error(
    live_url: str, services: Services, account: Account
) -> None:
    status, reply = post_json(live_url, JSON_EXAMPLE)
    assert status == 400
    [message] = reply["messageStatus"]
    assert message["statusCode"] == 5
    assert message["statusMessage"].startswith("request: not JSON")
    assert message["sequenceIndex"] == 1
    assert stored_count(services) == 0


def test_the_xml_example_is_answered_in_the_response_namespace_as_documented(
    live_url: str, services: Services, account: Account
) -> None:
    status, content_type, body = post(live_url, XML_EXAMPLE_FIXED, "application/xml")
    assert (status, content_type) == (200, "application/xml; charset=utf-8")
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>")
    batch_ref, [message] = xml_reply(body)
    assert UUID.fullmatch(batch_ref)
    assert message == {"statusCode": "1", "statusMessage": ENQUEUED, "clientReference": None,
                       "recipient": "+4741000000", "messageId": message["messageId"], "sequenceIndex": "1"}
    view = services.gateway.status(core_id(str(message["messageId"])))
    assert (view.originator, view.originator_type, view.text) == ("Puzzel", "alphanumeric",
                                                                 "This is a message from Puzzel.")


def test_the_xml_example_verbatim_with_its_unquoted_namespace_is_refused_as_malformed(
    live_url: str, services: Services, account: Account
) -> None:
    status, content_type, body = post(live_url, XML_EXAMPLE, "application/xml")
    assert (status, content_type) == (400, "application/xml; charset=utf-8")
    _, [message] = xml_reply(body)
    assert message["statusCode"] == "5"
    assert str(message["statusMessage"]).startswith("request: not well-formed XML")
    assert stored_count(services) == 0


def test_the_web_form_example_is_enqueued_and_answered_in_xml(
    live_url: str, services: Services, account: Account
) -> None:
    status, content_type, body = post(live_url, FORM_EXAMPLE, FORM)
    assert (status, content_type) == (200, "application/xml; charset=utf-8")
    _, [message] = xml_reply(body)
    assert (message["statusCode"], message["recipient"], message["sequenceIndex"]) == ("1", "+4710000000", "1")
    view = services.gateway.status(core_id(str(message["messageId"])))
    assert view.text == "Test is a message from Puzzel"


def test_the_simple_get_example_is_enqueued_and_answered_as_text_xml(
    live_url: str, services: Services
) -> None:
    services.accounts.create("test", "test", account_id=99999)
    # Verbatim but for the space the docs have after "&", which a browser sends as %20 (and which is ignored).
    target = (f"{PATH}?serviceId=99999&%20message[0].recipient=%2B4799999999"
              "&message[0].content=Dette+er+en+ny+test.&username=test&password=test")
    status, content_type, body = call(live_url, "GET", target)
    assert (status, content_type) == (200, "text/xml; charset=utf-8")
    _, [message] = xml_reply(body)
    assert (message["statusCode"], message["recipient"]) == ("1", "+4799999999")
    view = services.gateway.status(core_id(str(message["messageId"])))
    assert view.text == "Dette er en ny test."
    assert row(services, str(message["messageId"])).face == "puzzel-get"


def test_the_get_example_with_originator_settings_reads_its_unencoded_plus(
    live_url: str, services: Services
) -> None:
    services.accounts.create("test", "test", account_id=999899)
    target = (f"{PATH}?serviceId=999899&username=test&password=test&message[0].recipient=+4799999999"
              "&message[0].content=Test&message[0].settings.originatorSettings.originatorType=ALPHANUMERIC"
              "&message[0].settings.originatorSettings.originator=Intelecom")
    status, _, body = call(live_url, "GET", target)
    _, [message] = xml_reply(body)
    assert (status, message["statusCode"], message["recipient"]) == (200, "1", "+4799999999")
    view = services.gateway.status(core_id(str(message["messageId"])))
    assert (view.originator, view.originator_type) == ("Intelecom", "alphanumeric")


def test_the_get_example_with_a_pid_parameter_stores_the_pid(live_url: str, services: Services) -> None:
    services.accounts.create("test", "test", account_id=99999)
    target = (f"{PATH}?serviceId=99999&%20username=test&password=test&message[0].recipient=%2B4799999999"
              "&message[0].content=Dette+er+en+ny+test.&message[0].settings.parameter[0].key=pid"
              "&message[0].settings.parameter[0].value=68")
    status, _, body = call(live_url, "GET", target)
    _, [message] = xml_reply(body)
    assert (status, message["statusCode"]) == (200, "1")
    assert row(services, str(message["messageId"])).pid == 68


def test_an_xml_request_with_every_setting_is_read(live_url: str, services: Services, account: Account) -> None:
    day = date.today() + timedelta(days=5)
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<ns2:request xmlns:ns2="http://chimera.intele.com/gw/xsd/SMSGateway/Request/2013/02"
             xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <serviceId>1000</serviceId><username>Puzzel</username><password>xdyf3bf2</password>
  <batchReference>xml-batch</batchReference>
  <message>
    <recipient>+4741000000</recipient><content>Hei &amp; hå</content><price>0</price>
    <clientReference>x-1</clientReference>
    <settings>
      <originatorSettings><originator>+4799999999</originator><originatorType>International</originatorType>
      </originatorSettings>
      <priority>1</priority><validity>0</validity><differentiator>OTP</differentiator><age>0</age>
      <gasSettings><serviceCode>05008</serviceCode><description>Aftenposten</description></gasSettings>
      <newSession>false</newSession><invoiceNode>node</invoiceNode>
      <sendWindow><startDate>{day}</startDate><startTime>12:00:00Z</startTime></sendWindow>
      <autoDetectEncoding>false</autoDetectEncoding>
      <parameter><key>businessModel</key><value>MEDIA</value></parameter>
      <parameter><key>pid</key><value>66</value></parameter>
      <!-- a comment -->
    </settings>
  </message>
  <message><recipient>+4741000001</recipient><content>second</content><clientReference xsi:nil="true"/></message>
</ns2:request>"""
    status, _, reply = post(live_url, body, "text/xml", "application/json")
    assert status == 200
    batch = json.loads(reply)
    first, second = batch["messageStatus"]
    assert (batch["batchReference"], first["clientReference"], second["clientReference"]) == ("xml-batch", "x-1", None)
    view = stored(services, first)
    assert (view.text, view.originator, view.originator_type) == ("Hei & hå", "+4799999999", "international")
    assert view.due_at == datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    assert view.expires_at - view.due_at == timedelta(minutes=5)
    stored_row = row(services, first["messageId"])
    assert (stored_row.priority, stored_row.pid) == (Priority.LOW, 66)
    assert stored_row.extras == {"differentiator": "OTP", "age": "0", "gasServiceCode": "05008",
                                 "gasDescription": "Aftenposten", "invoiceNode": "node", "businessModel": "MEDIA"}
    assert stored(services, second).text == "second"


def test_an_xml_request_in_a_default_namespace_is_read(live_url: str, services: Services, account: Account) -> None:
    body = ('<request xmlns="http://chimera.intele.com/gw/xsd/SMSGateway/Request/2013/02"><serviceId>1000</serviceId>'
            "<username>Puzzel</username><password>xdyf3bf2</password>"
            "<message><recipient>+4741000000</recipient><content>qualified</content></message></request>")
    _, _, reply = post(live_url, body, "application/xml")
    _, [message] = xml_reply(reply)
    assert services.gateway.status(core_id(str(message["messageId"]))).text == "qualified"


def test_a_form_with_several_messages_and_parameters_is_read_in_index_order(
    live_url: str, services: Services, account: Account
) -> None:
    fields = {"serviceId": "1000", "username": "Puzzel", "password": "xdyf3bf2", "batchReference": "form-batch",
              "message[1].recipient": "+4741000001", "message[1].content": "second",
              "message[0].recipient": "+4741000000", "message[0].content": "first",
              "message[0].clientReference": "f-0", "message[0].settings.priority": "3",
              "message[0].settings.parameter[1].key": "flash", "message[0].settings.parameter[1].value": "true",
              "message[0].settings.parameter[0].key": "business_model",
              "message[0].settings.parameter[0].value": "VOTING",
              "message[0].settings.originatorSettings.originator": "1960",
              "message[0].settings.originatorSettings.originatorType": "network"}
    _, _, reply = post(live_url, urlencode(fields), FORM, "application/json")
    batch = json.loads(reply)
    first, second = batch["messageStatus"]
    assert batch["batchReference"] == "form-batch"
    assert (stored(services, first).text, stored(services, second).text) == ("first", "second")
    stored_row = row(services, first["messageId"])
    assert (stored_row.client_ref, stored_row.priority, stored_row.flash, stored_row.originator) == (
        "f-0", Priority.HIGH, True, "1960")
    assert stored_row.extras == {"businessModel": "VOTING"}


def test_a_multipart_form_is_read_like_a_web_form(live_url: str, services: Services, account: Account) -> None:
    fields = {"serviceId": "1000", "username": "Puzzel", "password": "xdyf3bf2",
              "message[0].recipient": "+4741000000", "message[0].content": "multipart"}
    body = "".join(f'--XyZ\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
    status, _, reply = post(live_url, body + "--XyZ--\r\n", "multipart/form-data; boundary=XyZ")
    _, [message] = xml_reply(reply)
    assert (status, message["statusCode"]) == (200, "1")
    assert services.gateway.status(core_id(str(message["messageId"]))).text == "multipart"


def test_a_post_with_only_a_query_string_is_read_like_get(live_url: str, services: Services,
                                                          account: Account) -> None:
    query = urlencode({"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2",
                       "message[0].recipient": "+4741000000", "message[0].content": "curl -X POST"})
    status, content_type, body = call(live_url, "POST", f"{PATH}?{query}")
    _, [message] = xml_reply(body)
    assert (status, content_type, message["statusCode"]) == (200, "application/xml; charset=utf-8", "1")


# --- response format --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "application/xml"), ("*/*", "application/xml"), ("application/json", "application/json"),
    ("application/xml", "application/xml"), ("text/xml", "text/xml"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/xml"),
    ("application/json, text/plain, */*", "application/json"),
    ("application/xml;q=0.5, application/json", "application/json"),
    ("text/plain", "application/xml"),
])
def test_a_post_answers_in_the_format_accept_prefers_and_xml_by_default(
    live_url: str, account: Account, accept: str | None, expected: str
) -> None:
    status, content_type, body = post(live_url, json.dumps(request(msg())), "application/json", accept)
    assert status == 200
    assert content_type.split(";")[0] == expected
    if expected == "application/json":
        assert json.loads(body)["messageStatus"][0]["statusCode"] == 1
    else:
        assert xml_reply(body)[1][0]["statusCode"] == "1"


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "text/xml"), ("*/*", "text/xml"), ("application/json", "application/json"),
    ("application/xml", "application/xml"),
])
def test_a_get_answers_text_xml_unless_accept_asks_otherwise(
    live_url: str, account: Account, accept: str | None, expected: str
) -> None:
    query = urlencode({"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2",
                       "message[0].recipient": "+4741000000", "message[0].content": "Hi"})
    status, content_type, _ = call(live_url, "GET", f"{PATH}?{query}", headers={"Accept": accept} if accept else {})
    assert (status, content_type.split(";")[0]) == (200, expected)


def test_a_form_post_answers_json_when_accept_asks(live_url: str, account: Account) -> None:
    status, content_type, body = post(live_url, FORM_EXAMPLE, FORM, "application/json")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["messageStatus"][0]["statusCode"] == 1


@pytest.mark.slow
def test_one_persistent_connection_serves_json_xml_and_get_requests(
    served_url: str, services: Services, account: Account
) -> None:
    url = urlsplit(served_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    query = urlencode({"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2",
                       "message[0].recipient": "+4741000000", "message[0].content": "by GET"})
    requests = [("POST", PATH, json.dumps(request(msg(content="by JSON"))), {"Content-Type": "application/json"}),
                ("POST", PATH, XML_EXAMPLE_FIXED, {"Content-Type": "application/xml"}),
                ("POST", PATH, json.dumps(request(msg(), password="wrong")), {"Content-Type": "application/json"}),
                ("GET", f"{PATH}?{query}", None, {})]
    replies = []
    try:
        for method, target, body, headers in requests:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            replies.append((response.status, xml_reply(response.read())[1][0],
                            conn.sock.getsockname() if conn.sock else None))
    finally:
        conn.close()
    assert [(status, s["statusCode"]) for status, s, _ in replies] == [(200, "1"), (200, "1"), (200, "2"), (200, "1")]
    assert len({local for _, _, local in replies}) == 1 and replies[0][2] is not None  # one TCP connection
    assert [services.gateway.status(core_id(str(s["messageId"]))).text for _, s, _ in replies if "messageId" in s] == [
        "by JSON", "This is a message from Puzzel.", "by GET"]


# --- credentials ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    {"password": "wrong"}, {"password": "XDYF3BF2"}, {"username": "puzzel"}, {"username": "other"},
    {"serviceId": 1001}, {"password": ""},
], ids=["password", "password-case", "username-case", "username", "service", "empty-password"])
def test_wrong_credentials_answer_every_message_with_access_error(
    live_url: str, services: Services, account: Account, change: dict[str, Any]
) -> None:
    services.accounts.create("other", "xdyf3bf2", account_id=1001 if change.get("serviceId") != 1001 else 1002)
    status, reply = post_json(live_url, request(msg(clientReference="a"), msg(recipient="12"), **change))
    assert status == 200
    expected = 5 if change == {"password": ""} else 2  # an empty password is a missing one
    assert [s["statusCode"] for s in reply["messageStatus"]] == [expected, expected]
    assert [s["sequenceIndex"] for s in reply["messageStatus"]] == [1, 2]
    assert [s["clientReference"] for s in reply["messageStatus"]] == ["a", None]
    assert all(s["messageId"] is None for s in reply["messageStatus"])
    if expected == 2:
        assert {s["statusMessage"] for s in reply["messageStatus"]} == {"No access. Authentication failed."}
    assert stored_count(services) == 0


def test_a_disabled_account_or_a_foreign_address_gets_access_error(
    live_url: str, services: Services, account: Account
) -> None:
    services.accounts.update("Puzzel", allowed_networks=("10.0.0.0/8",))
    assert post_json(live_url, request(msg()))[1]["messageStatus"][0]["statusCode"] == 2
    services.accounts.update("Puzzel", allowed_networks=(), active=False)
    assert post_json(live_url, request(msg()))[1]["messageStatus"][0]["statusCode"] == 2
    assert stored_count(services) == 0


# --- bad input -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("top", "parameter"), [
    ({"serviceId": None}, "serviceId"), ({"serviceId": "abc"}, "serviceId"), ({"serviceId": 0}, "serviceId"),
    ({"serviceId": 10**30}, "serviceId"), ({"serviceId": 1000.5}, "serviceId"), ({"serviceId": True}, "serviceId"),
    ({"serviceId": [1000, 1001]}, "serviceId"), ({"username": None}, "username"), ({"password": None}, "password"),
    ({"username": {"name": "Puzzel"}}, "username"), ({"batchReference": ["a", "b"]}, "batchReference"),
    ({"batchReference": "b" * 101}, "batchReference"),
])
def test_a_bad_request_field_answers_every_message_with_a_syntax_error_naming_it(
    live_url: str, services: Services, account: Account, top: dict[str, Any], parameter: str
) -> None:
    body = request(msg(), msg())
    body.update(top)
    status, reply = post_json(live_url, {k: v for k, v in body.items() if v is not None})
    assert status == 200
    for s in reply["messageStatus"]:
        assert s["statusCode"] == 5
        assert s["statusMessage"].startswith(f"{parameter}: "), s
    assert stored_count(services) == 0


@pytest.mark.parametrize(("message", "code", "parameter"), [
    ({"recipient": None}, 5, "recipient"), ({"recipient": ""}, 5, "recipient"), ({"content": None}, 5, "content"),
    ({"content": ""}, 5, "content"), ({"recipient": "+4712"}, 5, "recipient"), ({"recipient": "hello"}, 5, "recipient"),
    ({"recipient": ["+4741000000", "+4741000001"]}, 5, "recipient"), ({"price": "free"}, 5, "price"),
    ({"price": -1}, 5, "price"), ({"price": 2**31}, 5, "price"), ({"content": "x" * 919}, 5, "content"),
    ({"clientReference": "r" * 101}, 5, "clientReference"), ({"settings": "fast"}, 5, "settings"),
    ({"settings": {"priority": 7}}, 5, "settings.priority"),
    ({"settings": {"priority": "high"}}, 5, "settings.priority"),
    ({"settings": {"validity": 174}}, 5, "settings.validity"),
    ({"settings": {"validity": "1h"}}, 5, "settings.validity"),
    ({"settings": {"age": 17}}, 5, "settings.age"),
    ({"settings": {"originatorSettings": {"originator": "Puzzel", "originatorType": "SHORT"}}}, 5,
     "settings.originatorSettings.originatorType"),
    ({"settings": {"originatorSettings": {"originatorType": "NETWORK"}}}, 5, "settings.originatorSettings.originator"),
    ({"settings": {"originatorSettings": {"originator": "Far too long a name", "originatorType": "ALPHANUMERIC"}}}, 5,
     "settings.originatorSettings.originator"),
    ({"settings": {"gasSettings": {"description": "Aftenposten"}}}, 5, "settings.gasSettings.serviceCode"),
    ({"settings": {"sendWindow": {"startTime": "09:00:00"}}}, 5, "settings.sendWindow.startDate"),
    ({"settings": {"sendWindow": {"startDate": "2013-02-30"}}}, 5, "settings.sendWindow.startDate"),
    ({"settings": {"sendWindow": {"startDate": "2013-12-24", "stopDate": "2013-12-25"}}}, 5, "settings.sendWindow"),
    ({"settings": {"autoDetectEncoding": "maybe"}}, 5, "settings.autoDetectEncoding"),
    ({"settings": {"parameter": [{"key": "dcs", "value": "ZZ"}]}, "content": "00"}, 5, "settings.parameter dcs"),
    ({"settings": {"parameter": [{"key": "udh", "value": "050"}]}, "content": "00"}, 5, "settings.parameter udh"),
    ({"settings": {"parameter": [{"key": "udh", "value": "0500"}]}, "content": "00"}, 5, "settings.parameter udh"),
    ({"settings": {"parameter": [{"key": "dcs", "value": "F5"}]}, "content": "not hex"}, 5, "content"),
    ({"settings": {"parameter": [{"key": "pid", "value": "x"}]}}, 5, "settings.parameter pid"),
    ({"settings": {"parameter": [{"key": "pid", "value": "300"}]}}, 5, "settings.parameter pid"),
    ({"settings": {"parameter": [{"key": "parsing-type", "value": "STRICT"}]}}, 5, "settings.parameter parsing-type"),
    ({"settings": {"parameter": [{"key": "skip_customer_report_delivery", "value": "perhaps"}]}}, 5,
     "settings.parameter skip_customer_report_delivery"),
    ({"settings": {"parameter": [{"value": "68"}]}}, 5, "settings.parameter"),
    ({"settings": {"parameter": ["pid=68"]}}, 5, "settings.parameter"),
    ({"settings": {"parameter": [{"key": "pid", "value": "68"}, {"key": "pid", "value": "69"}]}}, 5,
     "settings.parameter pid"),
    ({"settings": {"parameter": [{"key": "businessModel", "value": "A"}, {"key": "business_model", "value": "B"}]}}, 5,
     "settings.parameter businessModel"),
    ({"settings": {"autoDetectEncoding": True, "parameter": [{"key": "parsing-type", "value": "NONE"}]}}, 5,
     "settings.autoDetectEncoding and settings.parameter parsing-type"),
    ({"settings": {"parameter": [{"key": "parsing-type", "value": "NONE"}]}, "content": "Привет"}, 5, "content"),
    ({"settings": {"newSession": True}}, 3, "settings.newSession"),
    ({"settings": {"sessionId": "01bxmt7f8b8h3zkwe2vg"}}, 3, "settings.sessionId"),
    ({"price": 200, "settings": {"originatorSettings": {"originator": "Other", "originatorType": "ALPHANUMERIC"}}}, 3,
     "settings.originatorSettings.originator"),
])
def test_a_bad_message_gets_its_own_status_naming_the_parameter_and_spares_the_others(
    live_url: str, services: Services, account: Account, message: dict[str, Any], code: int, parameter: str
) -> None:
    bad = msg(**message)
    status, reply = post_json(live_url, request(msg(content="first"), {k: v for k, v in bad.items() if v is not None},
                                                msg(content="last")))
    assert status == 200
    first, middle, last = reply["messageStatus"]
    assert (middle["statusCode"], middle["sequenceIndex"], middle["messageId"]) == (code, 2, None)
    assert middle["statusMessage"].startswith(f"{parameter}: "), middle
    assert (stored(services, first).text, stored(services, last).text) == ("first", "last")
    assert stored_count(services) == 2


@pytest.mark.parametrize(("body", "content_type", "parameter"), [
    (b"", "application/json", "request"), (b"[]", "application/json", "request"),
    (b'{"serviceId": 1000', "application/json", "request"), (b"\xff\xfe{}", "application/json", "request"),
    (b'{"message": [{"recipient": "+4741000000", "recipient": "+4741000001"}]}', "application/json", "recipient"),
    (b"[" * 100_000, "application/json", "request"),
    (b'{"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2"}', "application/json", "message"),
    (b'{"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2", "message": []}', "application/json",
     "message"),
    (b'{"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2", "message": null}', "application/json",
     "message"),
    (b"", "application/xml", "request"), (b"<request>", "application/xml", "request"),
    (b"<response xmlns='" + RESPONSE_NS.encode() + b"'/>", "application/xml", "request"),
    (b"<req:request xmlns:req='urn:other'/>", "text/xml", "request"),
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
     b"<request><serviceId>&lol2;</serviceId></request>", "application/xml", "request"),
    (b'<!DOCTYPE r SYSTEM "file:///etc/passwd"><request/>', "text/xml", "request"),
    ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r><request/>'.encode("utf-16"), "application/xml", "request"),
    (b"<request><serviceId>1000</serviceId></request>", "application/xml", "message"),
    (b"serviceId=1000&message[0].recipient=%2B4741000000&message[2].recipient=%2B4741000001", FORM, "message[1]"),
    (b"serviceId=1000&message[x].recipient=%2B4741000000", FORM, "message[x].recipient"),
    (b"serviceId=1000&message[0].recipient=%2B4741000000&message[0]=x", FORM, "message[0]"),
    (b"serviceId=1000&username=Puzzel", FORM, "message"),
])
def test_a_request_with_no_message_to_answer_for_gets_http_400_and_one_syntax_error(
    live_url: str, services: Services, account: Account, body: bytes, content_type: str, parameter: str
) -> None:
    status, reply_type, reply = post(live_url, body, content_type, "application/json")
    assert (status, reply_type) == (400, "application/json")
    batch = json.loads(reply)
    assert UUID.fullmatch(batch["batchReference"])
    [message] = batch["messageStatus"]
    assert (message["statusCode"], message["sequenceIndex"], message["recipient"]) == (5, 1, None)
    assert message["statusMessage"].startswith(f"{parameter}: "), message
    assert stored_count(services) == 0


def test_a_get_without_parameters_gets_http_400_in_xml(live_url: str, account: Account) -> None:
    status, content_type, body = call(live_url, "GET", PATH)
    assert (status, content_type) == (400, "text/xml; charset=utf-8")
    _, [message] = xml_reply(body)
    assert (message["statusCode"], message["statusMessage"]) == ("5", "message: the request holds no message")


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", "image/png", ""])
def test_a_body_in_a_format_puzzel_does_not_take_gets_http_415(
    live_url: str, services: Services, account: Account, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, body = call(live_url, "POST", PATH, json.dumps(request(msg())), headers)
    assert status == 415
    _, [message] = xml_reply(body)
    assert message["statusCode"] == "5"
    assert str(message["statusMessage"]).startswith("Content-Type: ")
    assert stored_count(services) == 0


def test_a_body_that_is_not_what_its_content_type_says_is_a_syntax_error(
    live_url: str, services: Services, account: Account
) -> None:
    assert post(live_url, JSON_EXAMPLE_FIXED, "application/xml")[0] == 400
    assert post(live_url, XML_EXAMPLE_FIXED, "application/json")[0] == 400
    assert post(live_url, JSON_EXAMPLE_FIXED, FORM)[0] == 400  # the JSON text as a form key: no message
    assert stored_count(services) == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD"])
def test_other_methods_are_refused_with_405_and_send_nothing(
    live_url: str, services: Services, account: Account, method: str
) -> None:
    query = urlencode({"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2",
                       "message[0].recipient": "+4741000000", "message[0].content": "Hi"})
    status, _, _ = call(live_url, method, f"{PATH}?{query}")
    assert status == 405
    assert stored_count(services) == 0


def test_a_repeated_xml_element_is_a_syntax_error_for_its_message(
    live_url: str, services: Services, account: Account
) -> None:
    body = ("<request><serviceId>1000</serviceId><username>Puzzel</username><password>xdyf3bf2</password>"
            "<message><recipient>+4741000000</recipient><content>a</content><content>b</content></message>"
            "<message><recipient>+4741000000</recipient><content>ok</content></message></request>")
    _, _, reply = post(live_url, body, "text/xml")
    _, (bad, good) = xml_reply(reply)
    assert (bad["statusCode"], bad["statusMessage"]) == ("5", "content: given more than once")
    assert good["statusCode"] == "1"


def test_a_repeated_form_key_is_a_syntax_error_for_its_message(
    live_url: str, services: Services, account: Account
) -> None:
    body = urlencode([("serviceId", "1000"), ("username", "Puzzel"), ("password", "xdyf3bf2"),
                      ("message[0].recipient", "+4741000000"), ("message[0].recipient", "+4741000001"),
                      ("message[0].content", "Hi")])
    _, _, reply = post(live_url, body, FORM)
    _, [message] = xml_reply(reply)
    assert (message["statusCode"], message["statusMessage"]) == ("5", "recipient: given more than once")


def test_a_message_that_is_not_an_object_is_a_syntax_error(live_url: str, account: Account) -> None:
    _, reply = post_json(live_url, request("+4741000000", msg()))
    assert [(s["statusCode"], s["statusMessage"][:9]) for s in reply["messageStatus"]] == [(5, "message: "),
                                                                                           (1, ENQUEUED[:9])]


def test_a_single_message_object_is_read_as_a_list_of_one(live_url: str, services: Services,
                                                          account: Account) -> None:
    body = request()
    body["message"] = msg(content="alone")
    _, reply = post_json(live_url, body)
    assert stored(services, reply["messageStatus"][0]).text == "alone"


def test_unknown_fields_are_ignored(live_url: str, services: Services, account: Account) -> None:
    _, reply = post_json(live_url, request(msg(priceXml="<x/>", settings={"colour": "red"}), trace="abc"))
    assert reply["messageStatus"][0]["statusCode"] == 1


def test_control_characters_echoed_in_xml_are_replaced_not_fatal(live_url: str, account: Account) -> None:
    body = json.dumps(request(msg(recipient="+47\u0001", clientReference="ref\u0000\ud800"), batchReference="b\u0007"))
    status, _, reply = post(live_url, body, "application/json", "application/xml")
    assert status == 200
    batch_ref, [message] = xml_reply(reply)
    assert batch_ref == "b\ufffd"
    assert (message["statusCode"], message["recipient"], message["clientReference"]) == ("5", "+47\ufffd",
                                                                                         "ref\ufffd\ufffd")


def test_an_internal_error_is_status_6_for_every_message_not_http_500(
    live_url: str, services: Services, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database gone")

    monkeypatch.setattr(services.gateway, "submit", broken)
    status, reply = post_json(live_url, request(msg(), msg(recipient="+4712")))
    assert status == 200
    assert [(s["statusCode"], s["statusMessage"]) for s in reply["messageStatus"]] == [
        (6, "An internal error occurred in the gateway")] * 2


def test_more_messages_than_one_request_may_hold_are_each_refused(
    live_url: str, services: Services, account: Account
) -> None:
    status, reply = post_json(live_url, request(*[msg()] * 10_000, msg(content=None)))
    assert status == 200
    assert {s["statusCode"] for s in reply["messageStatus"]} == {5}
    assert reply["messageStatus"][0]["statusMessage"].startswith("message: 10001 messages")
    assert stored_count(services) == 0


# --- what real clients send (reference §7, §8) ----------------------------------------------------------------------


def test_the_php_clients_explicit_nulls_are_absent(live_url: str, services: Services, account: Account) -> None:
    body = {"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2", "batchReference": None,
            "message": [{"recipient": "+4741000000", "content": "from PHP", "price": None, "clientReference": None,
                         "settings": None},
                        {"recipient": "+4741000001", "content": "with settings", "price": None,
                         "clientReference": "php-2",
                         "settings": {"priority": None, "validity": None, "differentiator": None, "age": None,
                                      "newSession": None, "sessionId": None, "invoiceNode": None,
                                      "autoDetectEncoding": None, "safeRemoveNonGsmCharacters": None,
                                      "originatorSettings": None, "gasSettings": None, "sendWindow": None,
                                      "parameter": None}}]}
    status, reply = post_json(live_url, body)
    assert status == 200
    assert UUID.fullmatch(reply["batchReference"])
    first, second = reply["messageStatus"]
    assert stored(services, first).text == "from PHP"
    assert (stored(services, second).client_ref, second["clientReference"]) == ("php-2", "php-2")


def test_the_go_clients_parameter_map_rfc3339_window_and_empty_batch_reference(
    live_url: str, services: Services, account: Account
) -> None:
    start = date.today() + timedelta(days=2)
    body = {"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2", "batchReference": "",
            "message": [{"recipient": "+4741000000", "content": "from Go", "price": 0,
                         "settings": {"sendWindow": {"startDate": f"{start}T00:00:00Z",
                                                     "startTime": "0001-01-01T09:00:00Z",
                                                     "stopTime": "0001-01-01T10:00:00Z"},
                                      "parameter": {"pid": "65", "flash": "TRUE"}}}]}
    status, reply = post_json(live_url, body)
    assert status == 200
    assert UUID.fullmatch(reply["batchReference"])
    message = reply["messageStatus"][0]
    view = stored(services, message)
    assert view.status is Status.SCHEDULED
    assert view.due_at == datetime.combine(start, datetime.min.time(), UTC) + timedelta(hours=9)
    assert view.expires_at == view.due_at + timedelta(hours=1)
    assert (row(services, message["messageId"]).pid, row(services, message["messageId"]).flash) == (65, True)


def test_the_python_clients_business_model_and_typed_parameter_values(
    live_url: str, services: Services, account: Account
) -> None:
    settings = {"priority": 3, "validity": 173, "differentiator": "OTP message", "invoiceNode": "marketing_dept",
                "age": None, "newSession": None, "sessionId": None, "autoDetectEncoding": None,
                "safeRemoveNonGsmCharacters": None,
                "originatorSettings": {"originatorType": "NETWORK", "originator": "1960"},
                "gasSettings": {"serviceCode": "05008", "description": ""},
                "sendWindow": None,
                "parameter": [{"key": "business_model", "value": "MEDIA"}, {"key": "pid", "value": 68},
                              {"key": "flash", "value": True}, {"key": "parsing-type", "value": "AUTO_DETECT"},
                              {"key": "skip_customer_report_delivery", "value": True},
                              {"key": "strex_merchant_sell_option", "value": "confirmation"}]}
    body = {"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2", "batchReference": None,
            "message": [{"recipient": "+4741000000", "content": "Hei på deg ☺", "price": None,
                         "clientReference": None, "settings": settings}]}
    status, reply = post_json(live_url, body)
    assert status == 200
    message = reply["messageStatus"][0]
    view = stored(services, message)
    assert (view.originator, view.originator_type, view.encoding) == ("1960", "network", "ucs2")
    assert view.expires_at - view.due_at == timedelta(days=7)
    stored_row = row(services, message["messageId"])
    assert (stored_row.pid, stored_row.flash, stored_row.priority, stored_row.reports) == (
        68, True, int(Priority.HIGH), int(ReportMask.NONE))
    assert stored_row.extras == {"businessModel": "MEDIA", "differentiator": "OTP message",
                                 "invoiceNode": "marketing_dept", "gasServiceCode": "05008",
                                 "strex_merchant_sell_option": "confirmation"}


def test_the_dotnet_clients_always_false_booleans_keep_the_accounts_parsing_type(
    live_url: str, services: Services, account: Account
) -> None:
    body = {"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2",
            "message": [{"recipient": "+4741000000", "content": "Привет", "price": 0,
                         "settings": {"newSession": False, "autoDetectEncoding": False,
                                      "safeRemoveNonGsmCharacters": False}}]}
    status, reply = post_json(live_url, body)
    assert status == 200
    assert stored(services, reply["messageStatus"][0]).encoding == "ucs2"  # the account's AUTO_DETECT
    services.accounts.update("Puzzel", parsing_type="NONE")
    _, reply = post_json(live_url, body)
    assert (reply["messageStatus"][0]["statusCode"], reply["messageStatus"][0]["statusMessage"][:9]) == (5, "content: ")


@pytest.mark.parametrize(("kind", "originator", "expected"), [
    ("International", "+4799999999", "international"), ("INTERNATIONAL", "+4799999999", "international"),
    ("Alphanumeric", "Puzzel", "alphanumeric"), ("alphanumeric", "Puzzel", "alphanumeric"),
    ("Network", "1960", "network"), ("NETWORK", "1960", "network"), (None, "1960", "network"),
])
def test_originator_type_is_read_in_any_case(
    live_url: str, services: Services, account: Account, kind: str | None, originator: str, expected: str
) -> None:
    settings = {"originatorSettings": {"originator": originator, "originatorType": kind}}
    _, reply = post_json(live_url, request(msg(settings=settings)))
    view = stored(services, reply["messageStatus"][0])
    assert (view.originator, view.originator_type) == (originator, expected)


# --- semantics -----------------------------------------------------------------------------------------------------


def test_a_binary_message_takes_its_hex_content_with_the_callers_udh_and_dcs(
    live_url: str, services: Services, account: Account
) -> None:
    # The docs' example UDH with its concatenation element's length fixed (they have 23 for 03).
    parameters = [{"key": "udh", "value": "0B0504158200000003AB0201"}, {"key": "dcs", "value": "F5"}]
    _, reply = post_json(live_url, request(msg(content="48656C6C6F", settings={"parameter": parameters})))
    message = reply["messageStatus"][0]
    assert stored(services, message).encoding == "binary"
    stored_row = row(services, message["messageId"])
    assert (stored_row.payload, stored_row.udh, stored_row.dcs) == (
        b"Hello", bytes.fromhex("0B0504158200000003AB0201"), 0xF5)


def test_a_udh_alone_makes_a_binary_message_with_the_default_dcs(
    live_url: str, services: Services, account: Account
) -> None:
    _, reply = post_json(live_url, request(msg(content="CAFE", settings={"parameter": {"udh": "06050415811581"}})))
    stored_row = row(services, reply["messageStatus"][0]["messageId"])
    assert (stored_row.payload, stored_row.dcs) == (b"\xca\xfe", None)


@pytest.mark.parametrize(("settings", "text", "encoding"), [
    ({"safeRemoveNonGsmCharacters": True}, "Hva med á og Привет", "Hva med a og "),
    ({"autoDetectEncoding": "true"}, "Привет", "Привет"),
    ({"parameter": [{"key": "parsing-type", "value": "safe_remove_non_gsm"}]}, "á og à", " og à"),
])
def test_the_parsing_type_settings_decide_non_gsm_characters(
    live_url: str, services: Services, account: Account, settings: dict[str, Any], text: str, encoding: str
) -> None:
    services.accounts.update("Puzzel", parsing_type="NONE")
    _, reply = post_json(live_url, request(msg(content=text, settings=settings)))
    assert stored(services, reply["messageStatus"][0]).text == encoding


def test_flash_is_true_only_for_true_in_any_case(live_url: str, services: Services, account: Account) -> None:
    flags = ["True", "TRUE", "yes", "1", "false"]
    _, reply = post_json(live_url, request(*[msg(settings={"parameter": [{"key": "flash", "value": f}]})
                                             for f in flags]))
    assert [row(services, s["messageId"]).flash for s in reply["messageStatus"]] == [True, True, False, False, False]


def test_priority_maps_low_medium_high(live_url: str, services: Services, account: Account) -> None:
    _, reply = post_json(live_url, request(*[msg(settings={"priority": p}) for p in (1, "2", 3)], msg()))
    assert [row(services, s["messageId"]).priority for s in reply["messageStatus"]] == [
        Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.NORMAL]


def test_a_send_window_in_the_future_schedules_the_message_in_oslo_time(
    live_url: str, services: Services, account: Account
) -> None:
    day = date.today() + timedelta(days=3)
    window = {"startDate": day.isoformat(), "startTime": "09:00:00+02:00", "stopTime": "10:00:00+02:00"}
    _, reply = post_json(live_url, request(msg(settings={"sendWindow": window})))
    view = stored(services, reply["messageStatus"][0])
    assert view.status is Status.SCHEDULED
    assert view.due_at == datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=7)


def test_a_closed_send_window_is_refused_naming_it(live_url: str, account: Account) -> None:
    window = {"startDate": "2015-08-05", "stopDate": "2015-08-06", "startTime": "09:00:00", "stopTime": "10:00:00"}
    _, reply = post_json(live_url, request(msg(settings={"sendWindow": window})))
    assert reply["messageStatus"][0]["statusCode"] == 5
    assert reply["messageStatus"][0]["statusMessage"].startswith("settings.sendWindow: ")


def test_a_repeated_client_reference_is_error_not_unique(live_url: str, services: Services, account: Account) -> None:
    _, reply = post_json(live_url, request(msg(clientReference="order-1"), msg(clientReference="order-1")))
    assert [s["statusCode"] for s in reply["messageStatus"]] == [1, 25]
    _, reply = post_json(live_url, request(msg(clientReference="order-1")))
    assert reply["messageStatus"][0]["statusCode"] == 25
    assert reply["messageStatus"][0]["statusMessage"].startswith("clientReference: ")
    assert reply["messageStatus"][0]["clientReference"] == "order-1"


def test_without_a_duplicate_window_client_references_may_repeat(
    live_url: str, services: Services, account: Account
) -> None:
    services.accounts.update("Puzzel", duplicate_window=0)
    _, reply = post_json(live_url, request(msg(clientReference=7), msg(clientReference=7)))
    assert [(s["statusCode"], s["clientReference"]) for s in reply["messageStatus"]] == [(1, "7"), (1, "7")]


def test_the_recipient_is_answered_normalised(live_url: str, account: Account) -> None:
    _, reply = post_json(live_url, request(msg(recipient="+47 41 00 00 00"), msg(recipient="004741000001")))
    assert [s["recipient"] for s in reply["messageStatus"]] == ["+4741000000", "+4741000001"]


def test_the_batch_reference_is_echoed_and_names_the_batch(live_url: str, services: Services,
                                                           account: Account) -> None:
    _, reply = post_json(live_url, request(msg(), batchReference="MyBatch001"))
    assert reply["batchReference"] == "MyBatch001"
    assert services.gateway.batch_status(account, "MyBatch001").total == 1


def test_a_thousand_message_json_request_is_answered_in_order(
    live_url: str, services: Services, account: Account
) -> None:
    body = request(*[msg(recipient=f"+47410{i:05d}", clientReference=f"c{i}") for i in range(1000)],
                   batchReference="big")
    status, reply = post_json(live_url, body)
    assert status == 200
    statuses = reply["messageStatus"]
    assert [s["sequenceIndex"] for s in statuses] == list(range(1, 1001))
    assert [s["clientReference"] for s in statuses] == [f"c{i}" for i in range(1000)]
    assert {s["statusCode"] for s in statuses} == {1}
    assert len({s["messageId"] for s in statuses}) == 1000
    assert services.gateway.batch_status(account, "big").total == 1000


# --- the reader, unit by unit: what the faster reader must still give ----------------------------------------------

REQUEST_NS = "http://chimera.intele.com/gw/xsd/SMSGateway/Request/2013/02"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def reference_tree(element: etree._Element) -> dict[str, Any]:
    """The XML reader as it was written first, element by element: `tree_from_xml` must give what it gives."""
    tree: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child)
        if name.namespace not in (None, REQUEST_NS):
            continue
        if child.get(XSI_NIL) in ("true", "1"):
            value: Any = None
        elif len(child):
            value = reference_tree(child)
        else:
            value = child.text or ""
        earlier = tree.get(name.localname)
        if name.localname not in tree:
            tree[name.localname] = value
        elif isinstance(earlier, list):
            earlier.append(value)
        else:
            tree[name.localname] = [earlier, value]
    return tree


@st.composite
def xml_elements(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    """Requests' elements: Puzzel's names, unqualified, in the Request namespace or in another; xsi:nil of every
    spelling; repeated children, comments between them, text or children."""
    namespace = draw(st.sampled_from([None, REQUEST_NS, "urn:other"]))
    name = draw(st.sampled_from(["message", "recipient", "content", "settings", "parameter", "key", "value"]))
    element = etree.Element(name if namespace is None else f"{{{namespace}}}{name}")
    nil = draw(st.sampled_from([None, None, "true", "1", "false", "0", " true"]))
    if nil is not None:
        element.set(XSI_NIL, nil)
    if depth < 3 and draw(st.booleans()):
        for _ in range(draw(st.integers(0, 4))):
            element.append(draw(xml_elements(depth + 1)))
            if draw(st.booleans()):
                element.append(etree.Comment("between"))
    else:
        element.text = draw(st.none() | st.text(st.sampled_from("a <&\n"), max_size=4))
    return element


@hyp_settings(max_examples=300, deadline=None)
@given(xml_elements())
def test_the_xml_reader_gives_the_tree_it_always_gave(element: etree._Element) -> None:
    assert tree_from_xml(element) == reference_tree(element)


scalars = (st.sampled_from([None, "", " ", "+4741000000", "4741000001", "hello", "12", " 7 ", "-3", "2147483648",
                            "1e3", "true"])
           | st.integers(-2**32, 2**32) | st.floats(-1e10, 1e10, width=32) | st.booleans())
field_values = scalars | st.lists(scalars, max_size=2) | st.dictionaries(st.just("x"), scalars, max_size=1)
message_nodes = st.dictionaries(st.sampled_from(["recipient", "content", "price", "clientReference"]), field_values)


def submitted(nodes: list[Any], duplicate_window: int) -> tuple[list[Any], list[Any]]:
    """What `send` hands the gateway for `nodes`, and what it answers (every readable message accepted)."""
    account = SimpleNamespace(name="acme", duplicate_window=duplicate_window, recipient_quota=5, recipient_window=60)
    specs: list[Any] = []

    def submit(_: Any, request: SubmitRequest) -> SubmitResult:
        specs.extend(request.messages)
        return SubmitResult(str(request.batch_ref), [Outcome(i, m.recipient, i + 1, Status.ACCEPTED)
                                                     for i, m in enumerate(request.messages)])

    services: Any = SimpleNamespace(auth=SimpleNamespace(from_request=lambda *_, **__: account),
                                    gateway=SimpleNamespace(submit=submit))
    tree = {"serviceId": 1000, "username": "u", "password": "p", "batchReference": "b", "message": nodes}
    return specs, list(send(services, {}, parse(tree), "puzzel-rest").statuses)


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(message_nodes, min_size=1, max_size=4), st.sampled_from([0, 600]))
def test_a_message_without_settings_reads_as_one_whose_settings_say_nothing(nodes: list[dict[str, Any]],
                                                                            duplicate_window: int) -> None:
    """Most messages have no settings, and skip their reading: the specs and statuses are those of the full read."""
    plain = submitted(nodes, duplicate_window)
    read_in_full = submitted([{**node, "settings": {"unknownSetting": "x"}} for node in nodes], duplicate_window)
    assert plain == read_in_full
