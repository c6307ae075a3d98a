"""Rapporto HTTP API v5 at `/rapporto` and our status inquiry at `/rapporto/status`, end to end on a real socket:
the vendor's example requests (GET, POST, Cyrillic, binary WAP push), its error statuses in text and XML, and every
bad input."""

from __future__ import annotations

import http.client
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from smsgw_testing import call
from sqlalchemy import select, update

from smsgw.domain.model import Account, MessageView, Priority, Status
from smsgw.services import Services
from smsgw.store.tables import messages

XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>'
WAP_PUSH = ("0605040b8423f0dc0601ae02056a0045c60b03687474703a2f2f7761702e7A616772757A6B612e636F6D"
            "0001035A616772757A6B6155524C000101")  # Rapporto's own example, smpp_encoding=245&smpp_esm_class=64


def send(live_url: str, **fields: str) -> tuple[int, str]:
    status, body, _ = call(live_url, "/rapporto?" + urlencode(fields))
    return status, body


def inquire(live_url: str, **fields: str) -> tuple[int, str]:
    status, body, _ = call(live_url, "/rapporto/status?" + urlencode(fields))
    return status, body


@pytest.fixture
def partner(services: Services) -> Account:
    """The account of Rapporto's examples: serviceId=login, pass=123, Russian numbers."""
    return services.accounts.create("login", "123", default_country="RU", allowed_originators=("ACME",))


def good(**changes: str | None) -> dict[str, str]:
    fields: dict[str, str | None] = {"serviceId": "login", "pass": "123", "clientId": "79161234567",
                                     "message": "test"}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def sent_id(body: str) -> int:
    match = re.fullmatch(r"OK\n(\d+)", body)
    assert match, body
    return int(match[1])


def stored(services: Services, body: str) -> MessageView:
    return services.gateway.status(sent_id(body))


def row(services: Services, message_id: int) -> Any:
    with services.store.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


def set_status(services: Services, message_id: int, status: Status) -> None:
    with services.store.write() as conn:
        conn.execute(update(messages).where(messages.c.id == message_id).values(status=status.value))


# --- the vendor's examples -------------------------------------------------------------------------------------


def test_the_documented_get_request_answers_ok_and_the_message_id(
    live_url: str, services: Services, partner: Account
) -> None:
    status, body, response = call(live_url, "/rapporto?clientId=79161234567&message=test&pass=123&serviceId=login")
    assert status == 200
    assert response.getheader("Content-Type", "").startswith("text/plain")
    view = stored(services, body)
    assert (view.recipient, view.text, view.status) == ("+79161234567", "test", Status.ACCEPTED)
    assert 0 < view.id < 2**63


def test_the_documented_cyrillic_get_request_sends_ucs2(live_url: str, services: Services, partner: Account) -> None:
    status, body, _ = call(
        live_url, "/rapporto?clientId=79161234567&message=%D1%82%D0%B5%D1%81%D1%82&pass=123&serviceId=login")
    assert status == 200
    view = stored(services, body)
    assert (view.text, view.encoding.value) == ("тест", "ucs2")


def test_the_documented_post_requests_send_as_the_get_does(
    live_url: str, services: Services, partner: Account
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
    for body, text in ((b"serviceId=login&pass=123&clientId=79161234567&message=test", "test"),
                       (b"serviceId=login&pass=123&clientId=79161234567&message=%D1%82%D0%B5%D1%81%D1%82", "тест")):
        status, answer, _ = call(live_url, "/rapporto", "POST", body, headers)
        assert status == 200, answer
        assert stored(services, answer).text == text


def test_the_documented_binary_wap_push_splits_its_udh_off_the_hex_payload(
    live_url: str, services: Services, partner: Account
) -> None:
    status, body, _ = call(live_url, f"/rapporto?clientId=79161234567&message={WAP_PUSH}&serviceId=login&pass=123"
                                     "&smpp_encoding=245&smpp_esm_class=64")
    assert status == 200, body
    data = bytes.fromhex(WAP_PUSH)
    message = row(services, sent_id(body))
    assert (message.udh, message.payload, message.dcs, message.encoding) == (data[:7], data[7:], 245, "binary")


def test_the_documented_xml_replies(live_url: str, partner: Account) -> None:
    status, body = send(live_url, **good(output="xml"))
    assert status == 200
    match = re.fullmatch(re.escape(XML_HEAD + "<response><code>200</code><text>OK</text><payload><id>") + r"(\d+)"
                         + re.escape("</id></payload></response>"), body)
    assert match, body
    status, body = send(live_url, **good(output="xml", **{"pass": "wrong"}))
    assert (status, body) == (200, XML_HEAD + "<response><code>401</code><text>Invalid password</text></response>")


def test_a_client_id_in_any_documented_spelling_reaches_the_same_number(
    live_url: str, services: Services, partner: Account
) -> None:
    for spelling in ("79036550550", "+79036550550", "8-903-655-05-50", "89036550550"):
        status, body = send(live_url, **good(clientId=spelling))
        assert status == 200, (spelling, body)
        assert stored(services, body).recipient == "+79036550550"


def test_an_unencoded_plus_in_client_id_still_reads_as_international(
    live_url: str, services: Services, partner: Account
) -> None:
    status, body, _ = call(live_url, "/rapporto?serviceId=login&pass=123&message=hi&clientId=+79036550550")
    assert status == 200, body
    assert stored(services, body).recipient == "+79036550550"


def test_one_connection_serves_many_requests(live_url: str, services: Services, partner: Account) -> None:
    url = urlsplit(live_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    try:
        for n in range(5):
            conn.request("GET", "/rapporto?" + urlencode(good(message=f"n{n}")))
            response = conn.getresponse()
            assert response.status == 200
            assert stored(services, response.read().decode()).text == f"n{n}"
    finally:
        conn.close()


# --- credentials ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [{"pass": "wrong"}, {"serviceId": "nobody"}, {"pass": None}, {"serviceId": None},
                                     {"pass": ""}])
def test_wrong_or_missing_credentials_get_401_invalid_password(
    live_url: str, services: Services, partner: Account, changes: dict[str, str | None]
) -> None:
    assert send(live_url, **good(**changes)) == (401, "Invalid password")
    assert services.gateway.messages() == []


def test_a_caller_outside_the_allowed_networks_gets_401(live_url: str, services: Services, partner: Account) -> None:
    services.accounts.update("login", allowed_networks=("192.0.2.0/24",))
    assert send(live_url, **good()) == (401, "Invalid password")


def test_a_disabled_account_gets_403_service_inactive(live_url: str, services: Services, partner: Account) -> None:
    services.accounts.update("login", active=False)
    assert send(live_url, **good()) == (403, "Service is not active")
    assert send(live_url, **good(output="xml")) == (
        200, XML_HEAD + "<response><code>403</code><text>Service is not active</text></response>")
    assert send(live_url, **good(**{"pass": "wrong"})) == (401, "Invalid password")


# --- parameters ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["clientId", "message"])
def test_a_missing_or_empty_required_parameter_gets_400_naming_it(live_url: str, partner: Account, name: str) -> None:
    assert send(live_url, **good(**{name: None})) == (400, f"Missing parameter: {name}")
    assert send(live_url, **good(**{name: ""})) == (400, f"Missing parameter: {name}")


def test_a_number_that_cannot_be_reached_gets_406(live_url: str, services: Services, partner: Account) -> None:
    for number in ("123", "abc", "+999123456789"):
        status, body = send(live_url, **good(clientId=number))
        assert status == 406, body
        assert body.startswith("Cannot send to this clientId: ")
    assert services.gateway.messages() == []


def test_a_client_id_over_25_characters_gets_400(live_url: str, partner: Account) -> None:
    status, body = send(live_url, **good(clientId="7" * 26))
    assert (status, body) == (400, "Invalid parameter clientId: longer than 25 characters")


def test_a_message_over_2000_characters_gets_414(live_url: str, partner: Account) -> None:
    status, body = send(live_url, **good(message="a" * 2001))
    assert (status, body) == (414, "Message too long: 2001 characters, at most 2000")


def test_a_message_longer_than_the_account_allows_gets_414(live_url: str, partner: Account) -> None:
    status, body = send(live_url, **good(message="a" * 1000))  # 7 parts; the account allows 6
    assert status == 414
    assert body.startswith("Message too long: ")


def test_ptag_is_kept_with_the_message(live_url: str, services: Services, partner: Account) -> None:
    status, body = send(live_url, **good(ptag="Dept-42"))
    assert status == 200
    assert row(services, sent_id(body)).extras == {"ptag": "Dept-42"}


@pytest.mark.parametrize("ptag", ["a_b", "a b", "ü", "x" * 51])
def test_a_malformed_ptag_gets_400(live_url: str, services: Services, partner: Account, ptag: str) -> None:
    assert send(live_url, **good(ptag=ptag)) == (400, "Invalid parameter ptag: 1 to 50 of 0-9, a-z, A-Z and -")
    assert services.gateway.messages() == []


def test_flash_1_sends_a_flash_sms_and_other_values_an_ordinary_one(
    live_url: str, services: Services, partner: Account
) -> None:
    for value, flash in (("1", True), ("0", False), ("true", False)):
        status, body = send(live_url, **good(flash=value))
        assert status == 200
        assert row(services, sent_id(body)).flash is flash


def test_a_flash_sms_must_fit_one_message(live_url: str, partner: Account) -> None:
    assert send(live_url, **good(flash="1", message="ж" * 70))[0] == 200
    status, body = send(live_url, **good(flash="1", message="ж" * 71))
    assert status == 414
    assert body.startswith("Message too long: ")


def test_source_is_the_originator_when_the_account_allows_it(
    live_url: str, services: Services, partner: Account
) -> None:
    status, body = send(live_url, **good(source="ACME"))
    assert stored(services, body).originator == "ACME"
    status, body = send(live_url, **good(source="OTHER"))
    assert status == 400
    assert body.startswith("Invalid parameters: originator 'OTHER' is not allowed")


def test_sms_priority_maps_0_1_2_to_low_normal_high(live_url: str, services: Services, partner: Account) -> None:
    for value, priority in (("0", Priority.LOW), ("1", Priority.NORMAL), ("2", Priority.HIGH)):
        body = send(live_url, **good(smsPriority=value))[1]
        assert row(services, sent_id(body)).priority == priority
    for bad in ("3", "-1", "high"):
        assert send(live_url, **good(smsPriority=bad)) == (400, "Invalid parameter smsPriority: 0, 1 or 2")


def test_a_parameter_given_twice_with_different_values_gets_400(live_url: str, partner: Account) -> None:
    query = urlencode(good()) + "&clientId=79161234568"
    status, body, _ = call(live_url, "/rapporto?" + query)
    assert (status, body) == (400, "Invalid parameter clientId: given more than once with different values")
    assert call(live_url, "/rapporto?" + urlencode(good()) + "&message=test")[0] == 200  # the same value twice


def test_a_post_body_that_is_not_a_form_gets_400(live_url: str, partner: Account) -> None:
    status, body, _ = call(live_url, "/rapporto?serviceId=login&pass=123", "POST", b'{"clientId": "79161234567"}',
                           {"Content-Type": "application/json"})
    assert (status, body) == (400, "Missing parameter: clientId")


def test_other_methods_get_405(live_url: str, partner: Account) -> None:
    assert call(live_url, "/rapporto?" + urlencode(good()), "PUT")[0] == 405
    assert call(live_url, "/rapporto/status?" + urlencode(good()), "DELETE")[0] == 405


def test_errors_in_xml_keep_http_200_and_put_the_status_in_code(live_url: str, partner: Account) -> None:
    for changes, code in (({"clientId": None}, 400), ({"clientId": "123"}, 406), ({"message": "a" * 2001}, 414)):
        status, body = send(live_url, **good(output="xml", **changes))
        assert status == 200
        assert body.startswith(XML_HEAD + f"<response><code>{code}</code><text>"), body


# --- binary ----------------------------------------------------------------------------------------------------------


def test_smpp_encoding_alone_sends_the_hex_as_payload_without_udh(
    live_url: str, services: Services, partner: Account
) -> None:
    status, body = send(live_url, **good(message="0102ff", smpp_encoding="4"))
    assert status == 200, body
    message = row(services, sent_id(body))
    assert (message.payload, message.udh, message.dcs) == (b"\x01\x02\xff", None, 4)


@pytest.mark.parametrize("changes, text", [
    ({"message": "0102f", "smpp_encoding": "4"}, "Invalid parameter message: binary messages are hex octets"),
    ({"message": "zz", "smpp_encoding": "4"}, "Invalid parameter message: binary messages are hex octets"),
    ({"message": "0a 0b", "smpp_encoding": "4"}, "Invalid parameter message: binary messages are hex octets"),
    ({"message": "0605040b84", "smpp_esm_class": "64"},
     "Invalid parameter message: the UDH length 6 runs past the message"),
    ({"smpp_encoding": "256"}, "Invalid parameter smpp_encoding: a number from 0 to 255"),
    ({"smpp_esm_class": "x"}, "Invalid parameter smpp_esm_class: a number from 0 to 255"),
])
def test_malformed_binary_parameters_get_400(
    live_url: str, partner: Account, changes: dict[str, str], text: str
) -> None:
    assert send(live_url, **good(**changes)) == (400, text)


def test_a_udh_with_nothing_after_it_gets_400(live_url: str, partner: Account) -> None:
    status, body = send(live_url, **good(message="0605040b8423f0", smpp_esm_class="64"))
    assert status == 400
    assert body.startswith("Invalid parameters: binary payload is empty")


# --- partnerMsgId ----------------------------------------------------------------------------------------------------


def test_a_repeated_partner_msg_id_returns_the_first_id_and_sends_once(
    live_url: str, services: Services, partner: Account
) -> None:
    first = send(live_url, **good(partnerMsgId="order-1"))
    again = send(live_url, **good(partnerMsgId="order-1", message="changed"))
    assert first[0] == again[0] == 200
    assert sent_id(first[1]) == sent_id(again[1])
    assert [(v.text, v.client_ref) for v in services.gateway.messages()] == [("test", "order-1")]


def test_concurrent_repeats_of_a_partner_msg_id_all_get_the_one_id(
    live_url: str, services: Services, partner: Account
) -> None:
    answers: list[tuple[int, str]] = []
    threads = [threading.Thread(target=lambda: answers.append(send(live_url, **good(partnerMsgId="burst"))))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in answers} == {200}
    assert len({sent_id(body) for _, body in answers}) == 1
    assert len(services.gateway.messages()) == 1


def test_a_partner_msg_id_after_a_refusal_is_still_free(live_url: str, services: Services, partner: Account) -> None:
    assert send(live_url, **good(partnerMsgId="k", clientId="123"))[0] == 406
    status, body = send(live_url, **good(partnerMsgId="k"))
    assert status == 200
    assert stored(services, body).client_ref == "k"


def test_a_partner_msg_id_over_50_characters_gets_400(live_url: str, partner: Account) -> None:
    assert send(live_url, **good(partnerMsgId="p" * 51)) == (
        400, "Invalid parameter partnerMsgId: longer than 50 characters")


# --- sending_time ----------------------------------------------------------------------------------------------------


def local_hour(view: MessageView, zone: timezone | ZoneInfo) -> float:
    due = view.due_at.astimezone(zone)
    return due.hour + due.minute / 60


def test_sending_time_with_time_zone_holds_the_message_to_those_hours_there(
    live_url: str, services: Services, partner: Account
) -> None:
    zone = timezone(timedelta(hours=4))
    status, body, _ = call(live_url, "/rapporto?" + urlencode(good()) + "&sending_time=10_20&time_zone=%2B04:00")
    assert status == 200, body
    view = stored(services, body)
    assert 10 <= local_hour(view, zone) < 20
    assert view.status is (Status.ACCEPTED if view.due_at <= view.created_at + timedelta(seconds=1)
                           else Status.SCHEDULED)
    assert view.expires_at <= view.due_at + timedelta(days=7)


def test_sending_time_without_time_zone_is_moscow_time(live_url: str, services: Services, partner: Account) -> None:
    now = datetime.now(ZoneInfo("Europe/Moscow"))
    closed = f"{(now.hour + 2) % 24}_{(now.hour + 2) % 24 + 1}"  # an hour that is not now in Moscow
    status, body = send(live_url, **good(sending_time=closed))
    assert status == 200, body
    view = stored(services, body)
    assert view.status is Status.SCHEDULED
    assert local_hour(view, ZoneInfo("Europe/Moscow")) == (now.hour + 2) % 24


def test_an_unencoded_plus_in_time_zone_is_read_as_plus(live_url: str, services: Services, partner: Account) -> None:
    status, body, _ = call(live_url, "/rapporto?" + urlencode(good()) + "&sending_time=0_24&time_zone=+03:00")
    assert status == 200, body
    assert stored(services, body).status is Status.ACCEPTED  # open all day


@pytest.mark.parametrize("value", ["", "10-20", "20_10", "10_10", "10_25", "24_24", "1_2_3", "a_b"])
def test_a_malformed_sending_time_gets_400(live_url: str, partner: Account, value: str) -> None:
    assert send(live_url, **good(sending_time=value))[0] == 400


@pytest.mark.parametrize("value", ["4", "+4:00", "+04", "+24:00", "+04:60", "UTC", "Europe/Moscow"])
def test_a_malformed_time_zone_gets_400(live_url: str, partner: Account, value: str) -> None:
    status, body = send(live_url, **good(sending_time="10_20", time_zone=value))
    assert (status, body) == (400, "Invalid parameter time_zone: ±hh:mm, e.g. %2B03:00")


# --- status inquiry ----------------------------------------------------------------------------------------------


def test_status_by_transaction_id_answers_in_the_words_of_rapportos_delivery_report(
    live_url: str, services: Services, partner: Account
) -> None:
    message_id = sent_id(send(live_url, **good(partnerMsgId="abc"))[1])
    status, body = inquire(live_url, serviceId="login", **{"pass": "123"}, transactionId=str(message_id))
    assert status == 200
    first, second = body.split("\n")
    assert first == "OK"
    assert parse_qsl(second) == [("msgType", "SMS"), ("transactionId", str(message_id)), ("status", "0"),
                                 ("partnerMsgId", "abc")]


def test_status_numbers_are_0_until_final_then_2_delivered_or_5_not_delivered(
    live_url: str, services: Services, partner: Account
) -> None:
    message_id = sent_id(send(live_url, **good())[1])
    for state, number in ((Status.ACCEPTED, "0"), (Status.SCHEDULED, "0"), (Status.SUBMITTED, "0"),
                          (Status.BUFFERED, "0"), (Status.DELIVERED, "2"), (Status.UNDELIVERABLE, "5"),
                          (Status.EXPIRED, "5"), (Status.REJECTED, "5"), (Status.FAILED, "5"),
                          (Status.CANCELLED, "5")):
        set_status(services, message_id, state)
        body = inquire(live_url, serviceId="login", **{"pass": "123"}, transactionId=str(message_id))[1]
        assert dict(parse_qsl(body.split("\n")[1]))["status"] == number, state


def test_a_cancelled_message_reads_as_not_delivered(live_url: str, services: Services, partner: Account) -> None:
    view = stored(services, send(live_url, **good())[1])
    services.gateway.cancel_batch(partner, view.batch_ref)
    body = inquire(live_url, serviceId="login", **{"pass": "123"}, transactionId=str(view.id))[1]
    assert "&status=5" in body


def test_status_by_partner_msg_id_finds_the_message(live_url: str, services: Services, partner: Account) -> None:
    message_id = sent_id(send(live_url, **good(partnerMsgId="order-7"))[1])
    status, body = inquire(live_url, serviceId="login", **{"pass": "123"}, partnerMsgId="order-7")
    assert status == 200
    assert f"transactionId={message_id}&" in body
    status, body = inquire(live_url, serviceId="login", **{"pass": "123"}, partnerMsgId="order-7",
                           transactionId=str(message_id))
    assert status == 200


def test_status_in_xml(live_url: str, services: Services, partner: Account) -> None:
    message_id = sent_id(send(live_url, **good(partnerMsgId="x<1>"))[1])
    status, body = inquire(live_url, serviceId="login", **{"pass": "123"}, transactionId=str(message_id),
                           output="xml")
    assert (status, body) == (200, XML_HEAD + "<response><code>200</code><text>OK</text><payload><msgType>SMS"
                              f"</msgType><transactionId>{message_id}</transactionId><status>0</status><partnerMsgId>"
                              "x&lt;1&gt;</partnerMsgId></payload></response>")


def test_status_of_an_unknown_or_foreign_message_gets_400(
    live_url: str, services: Services, partner: Account
) -> None:
    services.accounts.create("other", "pw")
    message_id = sent_id(send(live_url, **good(partnerMsgId="mine"))[1])
    assert inquire(live_url, serviceId="login", **{"pass": "123"}, transactionId=str(message_id + 1)) == (
        400, "Unknown transactionId")
    assert inquire(live_url, serviceId="other", **{"pass": "pw"}, transactionId=str(message_id)) == (
        400, "Unknown transactionId")
    assert inquire(live_url, serviceId="other", **{"pass": "pw"}, partnerMsgId="mine") == (
        400, "Unknown partnerMsgId")


@pytest.mark.parametrize("fields, answer", [
    ({}, (400, "Missing parameter: transactionId or partnerMsgId")),
    ({"transactionId": "abc"}, (400, "Invalid parameter transactionId: a positive 64-bit number")),
    ({"transactionId": "0"}, (400, "Invalid parameter transactionId: a positive 64-bit number")),
    ({"transactionId": str(2**63)}, (400, "Invalid parameter transactionId: a positive 64-bit number")),
    ({"transactionId": "-5"}, (400, "Invalid parameter transactionId: a positive 64-bit number")),
    ({"pass": "wrong", "transactionId": "1"}, (401, "Invalid password")),
])
def test_a_bad_status_inquiry_gets_rapportos_error(
    live_url: str, partner: Account, fields: dict[str, str], answer: tuple[int, str]
) -> None:
    assert inquire(live_url, **{"serviceId": "login", "pass": "123", **fields}) == answer


def test_transaction_id_and_partner_msg_id_must_name_the_same_message(
    live_url: str, services: Services, partner: Account
) -> None:
    message_id = sent_id(send(live_url, **good(partnerMsgId="one"))[1])
    send(live_url, **good(partnerMsgId="two"))
    assert inquire(live_url, serviceId="login", **{"pass": "123"}, transactionId=str(message_id),
                   partnerMsgId="two") == (400, "transactionId and partnerMsgId name different messages")


def test_a_status_inquiry_by_post_form_works_as_by_get(live_url: str, services: Services, partner: Account) -> None:
    message_id = sent_id(send(live_url, **good())[1])
    form = urlencode({"serviceId": "login", "pass": "123", "transactionId": str(message_id)}).encode()
    status, body, _ = call(live_url, "/rapporto/status", "POST", form,
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert f"transactionId={message_id}" in body


def test_nothing_a_client_sends_is_a_500(live_url: str, partner: Account) -> None:
    odd = ["%ff%fe", "\x00", "ж" * 30, quote("<x/>"), "1e9999", "-0", " "]
    for name in ("clientId", "message", "ptag", "partnerMsgId", "sending_time", "time_zone", "flash", "source",
                 "output", "smsPriority", "smpp_encoding", "smpp_esm_class"):
        for value in odd:
            status, _, _ = call(live_url, "/rapporto?" + urlencode(good()) + f"&{name}={quote(value, safe='%')}")
            assert status != 500, (name, value)
    for value in odd:
        status, _ = inquire(live_url, serviceId="login", **{"pass": "123"}, transactionId=value, partnerMsgId=value)
        assert status != 500, value

