"""Account policy through every face, end to end on a real socket: a message the prepaid balance does not cover, a
recipient who opted out, a request over the account's rate (with Retry-After) and a message held over the
per-recipient quota, each answered in the vendor's words — never a 500.

Settings are changed before the first request of a test, so no process holds an older copy of the account."""

from __future__ import annotations

import base64
import http.client
import json
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from lxml import etree
from smsgw_testing import CERT_HEADER, O2_BA_ID

from smsgw.domain.model import Account, Status
from smsgw.services import Services

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
RESPONSE_NS = "http://chimera.intele.com/gw/xsd/SMSGateway/Response/2013/02"


def call(base: str, target: str, method: str = "GET", body: str | bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """One request on a fresh connection: (status, headers with lower-case names, body)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


def retry_after(headers: dict[str, str]) -> int:
    value = headers.get("retry-after")
    assert value is not None and value.isdigit(), headers
    assert 1 <= int(value) <= 2, value  # one request per second: the next one may go within a second
    return int(value)


def short_of_credit(services: Services, account: Account) -> None:
    """Prepaid, one message per credit, and a balance of one message."""
    services.accounts.update(account.name, credit_mode="messages")
    services.gateway.credit(account, 1)


def status_of(services: Services, message_id: int) -> Status:
    return services.gateway.status(message_id).status


# --- Rapporto ------------------------------------------------------------------------------------------------------

RU = "+79161234567"


@pytest.fixture
def partner(services: Services) -> Account:
    return services.accounts.create("login", "123", default_country="RU")


def rapporto(base: str, recipient: str = "79161234567", **extra: str) -> tuple[int, dict[str, str], str]:
    fields = {"serviceId": "login", "pass": "123", "clientId": recipient, "message": "test", **extra}
    return call(base, "/rapporto?" + urlencode(fields))


def rapporto_id(body: str) -> int:
    match = re.fullmatch(r"OK\n(\d+)", body)
    assert match, body
    return int(match[1])


def rapporto_xml(body: str) -> tuple[str, str]:
    root = etree.fromstring(body.encode())
    return str(root.findtext("code")), str(root.findtext("text"))


def test_rapporto_insufficient_credit_is_402(live_url: str, services: Services, partner: Account) -> None:
    short_of_credit(services, partner)
    status, _, body = rapporto(live_url)
    assert status == 200
    rapporto_id(body)
    status, headers, body = rapporto(live_url)
    assert status == 402
    assert body.startswith("Prepaid balance exhausted: the account's balance (0)"), body
    assert "retry-after" not in headers
    status, _, body = rapporto(live_url, output="xml")
    assert status == 200
    assert rapporto_xml(body)[0] == "402"
    assert services.gateway.balance(partner) == 0


def test_rapporto_opted_out_recipient_is_406(live_url: str, services: Services, partner: Account) -> None:
    services.gateway.suppress(partner, [RU])
    status, _, body = rapporto(live_url)
    assert (status, body) == (406, f"Cannot send to this clientId: {RU} has opted out of this account's messages")
    status, _, body = rapporto(live_url, output="xml")
    assert status == 200
    assert rapporto_xml(body) == ("406", f"Cannot send to this clientId: {RU} has opted out of this account's "
                                         f"messages")
    assert rapporto_id(rapporto(live_url, "79161234568")[2])  # another number goes


@pytest.mark.parametrize("output", [None, "xml"])
def test_rapporto_rate_limited_is_408_with_retry_after(live_url: str, services: Services, partner: Account,
                                                       output: str | None) -> None:
    services.accounts.update("login", request_rate=1)
    extra = {"output": output} if output else {}
    assert rapporto(live_url, **extra)[0] == 200
    status, headers, body = rapporto(live_url, **extra)
    wait = retry_after(headers)
    if output is None:
        assert status == 408
        assert body == f"Rate exceeded: over the account's limit of 1 requests per second; retry after {wait} s"
    else:  # Rapporto's XML form: HTTP 200, the status in <code>
        assert status == 200
        code, text = rapporto_xml(body)
        assert code == "408" and text.startswith("Rate exceeded:"), body
    assert len(services.gateway.messages(limit=10)) == 1


def test_rapporto_held_message_is_ok_with_its_id(live_url: str, services: Services, partner: Account) -> None:
    services.accounts.update("login", recipient_quota=1)
    first = rapporto_id(rapporto(live_url)[2])
    status, _, body = rapporto(live_url)
    assert status == 200
    second = rapporto_id(body)
    assert (status_of(services, first), status_of(services, second)) == (Status.ACCEPTED, Status.HELD)
    status, _, body = call(live_url, "/rapporto/status?" + urlencode(
        {"serviceId": "login", "pass": "123", "transactionId": str(second)}))
    assert (status, body) == (200, f"OK\nmsgType=SMS&transactionId={second}&status=0")  # not final


def test_rapporto_rate_limit_through_smsgw_serve(served_url: str, services: Services, partner: Account) -> None:
    services.accounts.update("login", request_rate=1)
    assert rapporto(served_url)[0] == 200
    status, headers, _ = rapporto(served_url)
    assert status == 408
    retry_after(headers)


# --- Puzzel REST, GET and management -------------------------------------------------------------------------------

NO_1, NO_2 = "+4741000001", "+4741000002"


@pytest.fixture
def service(services: Services) -> Account:
    return services.accounts.create("Puzzel", "xdyf3bf2", account_id=1000)


def puzzel(base: str, *recipients: str, batch: str | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    body: dict[str, Any] = {"serviceId": 1000, "username": "Puzzel", "password": "xdyf3bf2",
                            "message": [{"recipient": r, "content": "Hello"} for r in recipients]}
    if batch is not None:
        body["batchReference"] = batch
    status, headers, reply = call(base, "/gw/rs/sendMessages", "POST", json.dumps(body),
                                  {"Content-Type": "application/json", "Accept": "application/json"})
    return status, headers, json.loads(reply)


def puzzel_get(base: str, *recipients: str) -> tuple[int, dict[str, str], list[dict[str, str | None]]]:
    fields = {"serviceId": "1000", "username": "Puzzel", "password": "xdyf3bf2"}
    for i, recipient in enumerate(recipients):
        fields[f"message[{i}].recipient"] = recipient
        fields[f"message[{i}].content"] = "Hello"
    status, headers, body = call(base, "/gw/rs/sendMessages?" + urlencode(fields))
    root = etree.fromstring(body.encode())
    assert root.tag == f"{{{RESPONSE_NS}}}response"
    return status, headers, [{c.tag: c.text for c in s} for s in root.iter("messageStatus")]


def codes(reply: dict[str, Any]) -> list[int]:
    return [s["statusCode"] for s in reply["messageStatus"]]


def test_puzzel_insufficient_credit_is_illegal_action(live_url: str, services: Services, service: Account) -> None:
    short_of_credit(services, service)
    status, _, reply = puzzel(live_url, NO_1, NO_2)
    assert status == 200
    assert codes(reply) == [1, 3]
    refused = reply["messageStatus"][1]
    assert refused["statusMessage"] == ("Insufficient credit: the account's balance (0) does not cover this message "
                                        "(1)")
    assert refused["messageId"] is None and refused["recipient"] == NO_2
    assert reply["messageStatus"][0]["messageId"]


def test_puzzel_opted_out_recipient_is_illegal_action(live_url: str, services: Services, service: Account) -> None:
    services.gateway.suppress(service, [NO_2])
    status, _, reply = puzzel(live_url, NO_1, NO_2)
    assert status == 200
    assert codes(reply) == [1, 3]
    assert reply["messageStatus"][1]["statusMessage"] == (f"Recipient opted out: {NO_2} has opted out of this "
                                                          f"account's messages")
    status, _, statuses = puzzel_get(live_url, NO_2)
    assert status == 200
    assert [(s["statusCode"], s.get("messageId")) for s in statuses] == [("3", None)]


def test_puzzel_rate_limited_is_429_with_retry_after(live_url: str, services: Services, service: Account) -> None:
    services.accounts.update("Puzzel", request_rate=1)
    assert codes(puzzel(live_url, NO_1)[2]) == [1]
    status, headers, reply = puzzel(live_url, NO_1, NO_2)
    assert status == 429
    wait = retry_after(headers)
    assert codes(reply) == [6, 6]
    for shown in reply["messageStatus"]:
        assert shown["statusMessage"] == (f"Too many requests: over the account's limit of 1 requests per second; "
                                          f"nothing was sent: send again after {wait} s")
        assert shown["messageId"] is None
    status, headers, statuses = puzzel_get(live_url, NO_1)  # the GET face: the same, in XML
    assert status == 429
    retry_after(headers)
    assert [s["statusCode"] for s in statuses] == ["6"]
    assert len(services.gateway.messages(limit=10)) == 1


def test_puzzel_lists_a_batch_whose_unsent_messages_are_all_held(live_url: str, services: Services,
                                                                 service: Account) -> None:
    services.accounts.update("Puzzel", recipient_quota=1)
    assert codes(puzzel(live_url, NO_1, batch="first")[2]) == [1]
    assert codes(puzzel(live_url, NO_1, batch="only-held")[2]) == [24]
    auth = {"Authorization": "Basic " + base64.b64encode(b"Puzzel:xdyf3bf2").decode(),
            "Accept": "application/json"}
    status, _, body = call(live_url, "/mgmt/rs/service/1000/batch", headers=auth)
    assert status == 200
    assert {"clientBatchReference": "only-held", "totalSize": 1, "onHold": 1} in json.loads(body)["messageBatch"]


def test_puzzel_held_message_is_quota_exceeded_with_its_id(live_url: str, services: Services,
                                                           service: Account) -> None:
    services.accounts.update("Puzzel", recipient_quota=1)
    status, _, reply = puzzel(live_url, NO_1, NO_1, NO_2, batch="spam-check")
    assert status == 200
    assert codes(reply) == [1, 24, 1]
    held = reply["messageStatus"][1]
    assert held["statusMessage"] == ("Message held: more than 1 messages to this recipient within 3600 s; it is sent "
                                     "once an operator approves it")
    assert status_of(services, int(held["messageId"], 36)) is Status.HELD
    # The management API counts it among the batch's unsent messages, and on hold.
    auth = {"Authorization": "Basic " + base64.b64encode(b"Puzzel:xdyf3bf2").decode(),
            "Accept": "application/json"}
    status, _, body = call(live_url, "/mgmt/rs/service/1000/batch/spam-check", headers=auth)
    assert (status, json.loads(body)) == (200, {"messageBatch": {"clientBatchReference": "spam-check",
                                                                 "totalSize": 3, "onHold": 1}})
    status, _, body = call(live_url, "/mgmt/rs/service/1000/batch", headers=auth)
    assert json.loads(body) == {"messageBatch": [{"clientBatchReference": "spam-check", "totalSize": 3,
                                                  "onHold": 1}]}
    # Stopping the batch cancels the held message too.
    status, _, body = call(live_url, "/mgmt/rs/service/1000/batch/spam-check", "DELETE", headers=auth)
    assert status == 200 and len(json.loads(body)["stoppedMessages"]) == 3
    assert status_of(services, int(held["messageId"], 36)) is Status.CANCELLED


# --- Modica --------------------------------------------------------------------------------------------------------

NZ = "+64211234567"


@pytest.fixture
def application(services: Services) -> Account:
    return services.accounts.create("example_app", "example_pass", default_originator="4433")


def modica(base: str, version: str = "2", destination: str = NZ) -> tuple[int, dict[str, str], str]:
    fields = {"application": "example_app", "password": "example_pass", "content": "Hello",
              "destination": destination, "version": version}
    return call(base, "/message?" + urlencode(fields))


@pytest.mark.parametrize(("version", "error_status"), [("2", 400), ("1", 500)])
def test_modica_insufficient_credit_fails_to_queue(live_url: str, services: Services, application: Account,
                                                   version: str, error_status: int) -> None:
    short_of_credit(services, application)
    status, _, body = modica(live_url, version)
    assert status == 200 and body.isdigit(), body
    status, headers, body = modica(live_url, version)
    assert (status, body) == (error_status, "ERROR Failed to queue message")
    assert "retry-after" not in headers


def test_modica_opted_out_destination_fails_to_queue_and_says_why(live_url: str, services: Services,
                                                                  application: Account) -> None:
    services.gateway.suppress(application, [NZ])
    assert modica(live_url)[0::2] == (400, "ERROR Failed to queue message: destination opted out")
    assert modica(live_url, "1")[0::2] == (500, "ERROR Failed to queue message: destination opted out")


@pytest.mark.parametrize(("version", "error_status"), [("2", 429), ("1", 500)])
def test_modica_rate_limited_has_retry_after(live_url: str, services: Services, application: Account,
                                             version: str, error_status: int) -> None:
    services.accounts.update("example_app", request_rate=1)
    assert modica(live_url, version)[0] == 200
    status, headers, body = modica(live_url, version)
    wait = retry_after(headers)
    assert (status, body) == (error_status, f"ERROR Too many requests: over the account's limit of 1 requests per "
                                            f"second; retry after {wait} s")


def test_modica_held_message_answers_its_id(live_url: str, services: Services, application: Account) -> None:
    services.accounts.update("example_app", recipient_quota=1)
    ids = []
    for _ in range(2):
        status, _, body = modica(live_url)
        assert status == 200 and body.isdigit(), body
        ids.append(int(body))
    assert [status_of(services, i) for i in ids] == [Status.ACCEPTED, Status.HELD]


# --- OpenMarket ----------------------------------------------------------------------------------------------------

UK_1, UK_2 = "447700900001", "447700900002"


@pytest.fixture
def my_account(services: Services) -> Account:
    return services.accounts.create("MyAccount", "P4ssw0rD", default_originator="58870")


def om_send(base: str, smsto: str = UK_1) -> tuple[int, dict[str, str], str]:
    return call(base, "/sms/v1/send?" + urlencode({"user": "MyAccount", "pass": "P4ssw0rD", "smsto": smsto,
                                                   "smsmsg": "Hello"}))


def om_bulk(base: str, *smsto: str) -> tuple[int, dict[str, str], list[str]]:
    fields = [("user", "MyAccount"), ("pass", "P4ssw0rD"), ("smsmsg", "Hello"), *(("smsto", n) for n in smsto)]
    status, headers, body = call(base, "/sms/v1/bulksend", "POST", urlencode(fields), FORM)
    return status, headers, body.splitlines()


def om_id(line: str) -> int:
    match = re.fullmatch(r"(?:\d+ )?OK (\d+)", line.strip())
    assert match, line
    return int(match[1])


def test_openmarket_insufficient_credit_is_error_18(live_url: str, services: Services, my_account: Account) -> None:
    short_of_credit(services, my_account)
    status, _, body = om_send(live_url)
    assert status == 200
    om_id(body)
    status, _, body = om_send(live_url)
    assert (status, body) == (400, "ERROR 18 the account's balance (0) does not cover this message (1)\n")
    services.gateway.credit(my_account, 1)
    status, _, lines = om_bulk(live_url, UK_1, UK_2)  # bulksend answers per recipient
    assert status == 200
    om_id(lines[0])
    assert lines[1] == f"{UK_2} ERROR 18 the account's balance (0) does not cover this message (1)"


def test_openmarket_opted_out_recipient_is_error_19(live_url: str, services: Services, my_account: Account) -> None:
    services.gateway.suppress(my_account, ["+" + UK_2])
    status, _, body = om_send(live_url, UK_2)
    assert (status, body) == (400, f"ERROR 19 +{UK_2} has opted out of this account's messages\n")
    status, _, lines = om_bulk(live_url, UK_1, UK_2)
    assert status == 200
    om_id(lines[0])
    assert lines[1] == f"{UK_2} ERROR 19 +{UK_2} has opted out of this account's messages"


@pytest.mark.parametrize("second", ["send", "bulksend"])
def test_openmarket_rate_limited_is_429_with_retry_after(live_url: str, services: Services, my_account: Account,
                                                         second: str) -> None:
    services.accounts.update("MyAccount", request_rate=1)
    assert om_send(live_url)[0] == 200
    if second == "send":
        status, headers, body = om_send(live_url)
    else:
        status, headers, lines = om_bulk(live_url, UK_1, UK_2)
        body = "".join(f"{line}\n" for line in lines)
    wait = retry_after(headers)
    assert (status, body) == (429, f"ERROR 6 Too many requests: over the account's limit of 1 requests per second; "
                                   f"retry after {wait} s\n")
    assert len(services.gateway.messages(limit=10)) == 1


def test_openmarket_held_message_is_ok_with_its_id(live_url: str, services: Services, my_account: Account) -> None:
    services.accounts.update("MyAccount", recipient_quota=1)
    first = om_id(om_send(live_url)[2])
    status, _, lines = om_bulk(live_url, UK_1, UK_2)
    assert status == 200 and len(lines) == 2
    assert lines[0].startswith(f"{UK_1} OK ") and lines[1].startswith(f"{UK_2} OK ")
    assert [status_of(services, i) for i in (first, om_id(lines[0]), om_id(lines[1]))] == [
        Status.ACCEPTED, Status.HELD, Status.ACCEPTED]


# --- O2 GET/POST ---------------------------------------------------------------------------------------------------

BA_ID = O2_BA_ID
FINGERPRINT = "ab" * 32
CZ = "+420777000000"


@pytest.fixture
def ba(services: Services) -> Account:
    """A business application behind a proxy on this host that forwards its client certificate's fingerprint."""
    return services.accounts.create("demo", "unused", account_id=int(BA_ID), client_certs=(FINGERPRINT,),
                                    trusted_proxies=("127.0.0.1/32",), client_cert_header=CERT_HEADER)


def o2(base: str, to: str = CZ) -> tuple[int, dict[str, str], dict[str, str]]:
    query = urlencode({"action": "send", "baID": BA_ID, "toNumber": to, "text": "Ahoj"})
    status, headers, body = call(base, f"/smsconnector/getpost/GP?{query}", headers={CERT_HEADER: FINGERPRINT})
    return status, headers, dict(line.partition("=")[::2] for line in body.splitlines())


def o2_error(reply: dict[str, str]) -> tuple[str, str, str]:
    return reply["responseType"], reply["responseCode"], reply["responseDescription"]


def test_o2_insufficient_credit_is_an_application_error(live_url: str, services: Services, ba: Account) -> None:
    short_of_credit(services, ba)
    status, _, reply = o2(live_url)
    assert (status, reply["responseCode"]) == (200, "ISUC_001")
    status, _, reply = o2(live_url)
    assert status == 400
    assert o2_error(reply) == ("APPL_ERROR", "EAPL_004", "Nedostatecny kredit - EAPL_004 - The prepaid credit does "
                               "not cover the message: the account's balance (0) does not cover this message (1)")


def test_o2_opted_out_recipient_is_an_application_error(live_url: str, services: Services, ba: Account) -> None:
    services.gateway.suppress(ba, [CZ])
    status, _, reply = o2(live_url)
    assert status == 400
    assert o2_error(reply) == ("APPL_ERROR", "EAPL_005", "Prijemce odmitl zpravy - EAPL_005 - The recipient has "
                               f"opted out of this business application's messages: {CZ} has opted out of this "
                               "account's messages")


def test_o2_rate_limited_is_429_with_retry_after(live_url: str, services: Services, ba: Account) -> None:
    services.accounts.update("demo", request_rate=1)
    assert o2(live_url)[0] == 200
    status, headers, reply = o2(live_url)
    assert status == 429
    wait = retry_after(headers)
    assert o2_error(reply) == ("APPL_ERROR", "EAPL_006", "Prilis mnoho pozadavku - EAPL_006 - Too many requests: "
                               f"over the account's limit of 1 requests per second; retry after {wait} s")


def test_o2_held_message_is_send_ok(live_url: str, services: Services, ba: Account) -> None:
    services.accounts.update("demo", recipient_quota=1)
    ids = []
    for _ in range(2):
        status, _, reply = o2(live_url)
        assert (status, reply["responseCode"]) == (200, "ISUC_001"), reply
        ids.append(int(reply["refMsgID"]))
    assert [status_of(services, i) for i in ids] == [Status.ACCEPTED, Status.HELD]
