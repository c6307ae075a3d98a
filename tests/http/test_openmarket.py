"""OpenMarket UK SMS HTTP `/sms/v1/send` and `/sms/v1/bulksend` end to end on a real socket: the vendor's example
requests, our plain-text replies (`OK <smsid>`, one line per bulk recipient, `ERROR <code> <text>`), submitid replay,
and every bad input."""

from __future__ import annotations

import http.client
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from smsgw_testing import call
from sqlalchemy import func, select

from smsgw.domain.encoding import Encoding
from smsgw.domain.model import Account, MessageView, ReportMask
from smsgw.services import Services
from smsgw.store.tables import messages

SEND = "/sms/v1/send"
BULK = "/sms/v1/bulksend"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
UK = "447911123456"  # a valid UK mobile number (the vendor's examples use Ofcom's drama range, see below)
AUTH_FAILED = "ERROR 1 Authentication failed\n"


def good(**changes: str | None) -> dict[str, str]:
    fields: dict[str, str | None] = {"user": "MyAccount", "pass": "P4ssw0rD", "smsto": UK, "smsfrom": "58870",
                                     "smsmsg": "Hello World"}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def send(live_url: str, **changes: str | None) -> tuple[int, str]:
    status, body, _ = call(live_url, f"{SEND}?{urlencode(good(**changes))}")
    return status, body


def bulk(live_url: str, fields: dict[str, str] | list[tuple[str, str]]) -> tuple[int, str]:
    status, body, _ = call(live_url, BULK, "POST", urlencode(fields).encode(), FORM)
    return status, body


def accepted(live_url: str, target: str) -> str:
    status, body, _ = call(live_url, target)
    assert status == 200, body
    return body


def sent(live_url: str, **changes: str | None) -> str:
    status, body = send(live_url, **changes)
    assert status == 200, body
    return body


def sent_id(body: str) -> int:
    assert body.startswith("OK ") and body.endswith("\n"), body
    return int(body[3:-1])


def stored(services: Services, body: str) -> MessageView:
    return services.gateway.status(sent_id(body))


def row(services: Services, message_id: int) -> Any:
    with services.store.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


def stored_count(services: Services) -> int:
    with services.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


@pytest.fixture
def my_account(services: Services) -> Account:
    return services.accounts.create("MyAccount", "P4ssw0rD", allowed_originators=("58870", "ACME", "+447911000001"))


# --- the vendor's example requests ----------------------------------------------------------------------------------

# The examples send to 447700900750, in Ofcom's drama range: phonenumbers finds it in no number range, and the core
# refuses the bare digits although it accepts "+447700900750" (its fast path skips the range check). Strict, so that
# these start failing, and lose the marker, once the core reads both spellings alike (see the helper's report).


def test_the_vendors_send_example_answers_ok_and_the_sms_id(
    live_url: str, services: Services, my_account: Account
) -> None:
    status, body, response = call(live_url, "/sms/v1/send?user=MyAccount&pass=P4ssw0rD&smsto=447700900750"
                                            "&smsfrom=58870&smsmsg=Hello%20World&response=text")
    assert (status, response.getheader("Content-Type")) == (200, "text/plain; charset=utf-8")
    view = stored(services, body)
    assert (view.recipient, view.originator, view.text) == ("+447700900750", "58870", "Hello World")


def test_the_vendors_validity_example_lives_two_hours(
    live_url: str, services: Services, my_account: Account
) -> None:
    body = accepted(live_url, "/sms/v1/send?user=MyAccount&pass=P4ssw0rD&smsto=447700900750&smsfrom=58870"
                              "&smsmsg=Free%20gift%20instore%20until%204pm%20today&vp=7200")
    view = stored(services, body)
    assert view.expires_at - view.created_at == timedelta(hours=2)


def test_the_send_example_with_a_valid_number_answers_ok_and_the_sms_id(
    live_url: str, services: Services, my_account: Account
) -> None:
    status, body, response = call(live_url, f"/sms/v1/send?user=MyAccount&pass=P4ssw0rD&smsto={UK}"
                                            "&smsfrom=58870&smsmsg=Hello%20World&response=text")
    assert (status, response.getheader("Content-Type")) == (200, "text/plain; charset=utf-8")
    view = stored(services, body)
    assert (view.account_id, view.recipient, view.originator, view.text) == (
        my_account.id, "+447911123456", "58870", "Hello World")
    assert row(services, view.id).face == "openmarket"


def test_vp_is_the_validity_period_in_seconds(live_url: str, services: Services, my_account: Account) -> None:
    body = accepted(live_url, f"/sms/v1/send?user=MyAccount&pass=P4ssw0rD&smsto={UK}&smsfrom=58870"
                              "&smsmsg=Free%20gift%20instore%20until%204pm%20today&vp=7200")
    view = stored(services, body)
    assert view.expires_at - view.created_at == timedelta(hours=2)


def test_a_flash_message_with_all_reports_as_the_vendors_example_sends_it(
    live_url: str, services: Services, my_account: Account
) -> None:
    body = accepted(live_url, f"/sms/v1/send?user=MyAccount&pass=P4ssw0rD&smsto={UK}"
                              "&smsmsg=Welcome%20to%20ACME&flash=1&report=7&smsfrom=58870")
    stored_row = row(services, sent_id(body))
    assert (stored_row.flash, stored_row.reports) == (True, ReportMask.FINAL | ReportMask.INTERMEDIATE)


def test_a_concatenated_multipart_message_as_the_vendors_example_sends_it(
    live_url: str, services: Services, my_account: Account
) -> None:
    body = accepted(live_url, f"/sms/v1/send?user=MyAccount&pass=P4ssw0rD&smsto={UK}"
                              f"&smsmsg={'Very%20long%20message%20' * 10}&split=2&smsfrom=58870")
    assert stored(services, body).parts == 2


def test_the_vendors_binary_example_sends_hex_smsmsg_after_the_hex_smsudh(
    live_url: str, services: Services, my_account: Account
) -> None:
    body = accepted(live_url, "/sms/v1/send?user=MyAccount&pass=P4ssw0rD&smsto=12515550100"
                              "&smsmsg=01020304&smsudh=06050412341234")
    view = stored(services, body)
    assert (view.recipient, view.encoding, view.payload) == ("+12515550100", Encoding.BINARY, b"\x01\x02\x03\x04")
    assert row(services, view.id).udh == bytes.fromhex("06050412341234")


# --- send: parameters --------------------------------------------------------------------------------------------


def test_a_form_post_sends_like_a_get(live_url: str, services: Services, my_account: Account) -> None:
    status, body, _ = call(live_url, SEND, "POST", urlencode(good(smsmsg="Grüße ✓")).encode(), FORM)
    assert status == 200
    view = stored(services, body)
    assert (view.text, view.encoding) == ("Grüße ✓", Encoding.UCS2)


def test_smsia5_is_gsm_text(live_url: str, services: Services, my_account: Account) -> None:
    body = sent(live_url, smsmsg=None, smsia5="Hello {World} €")
    view = stored(services, body)
    assert (view.text, view.encoding) == ("Hello {World} €", Encoding.GSM7)


def test_smsia5_with_characters_outside_gsm_is_refused(live_url: str, services: Services, my_account: Account) -> None:
    status, body = send(live_url, smsmsg=None, smsia5="Привет")
    assert (status, body.split(" ", 2)[:2]) == (400, ["ERROR", "13"])
    assert stored_count(services) == 0


@pytest.mark.parametrize(("report", "mask"), [(None, ReportMask.NONE), ("0", ReportMask.NONE),
                                              ("1", ReportMask.FINAL), ("6", ReportMask.FINAL),
                                              ("7", ReportMask.FINAL | ReportMask.INTERMEDIATE)])
def test_report_asks_for_delivery_reports(
    live_url: str, services: Services, my_account: Account, report: str | None, mask: ReportMask
) -> None:
    body = sent(live_url, report=report)
    assert row(services, sent_id(body)).reports == mask


@pytest.mark.parametrize(("fields", "single_shot"), [
    ({}, False), ({"billingsingleshot": "1"}, True), ({"mxbillingsingleshot": "1"}, True),
    ({"billingsingleshot": "1", "mxbillingsingleshot": "1"}, True), ({"mxbillingsingleshot": "0"}, False),
])
def test_both_spellings_of_single_shot_billing_are_understood(
    live_url: str, services: Services, my_account: Account, fields: dict[str, str], single_shot: bool
) -> None:
    body = sent(live_url, **fields)
    assert row(services, sent_id(body)).billing_single_shot is single_shot


def test_an_alphanumeric_or_international_smsfrom_is_the_originator(
    live_url: str, services: Services, my_account: Account
) -> None:
    assert stored(services, send(live_url, smsfrom="ACME")[1]).originator == "ACME"
    assert stored(services, send(live_url, smsfrom="447911000001")[1]).originator == "+447911000001"


def test_without_smsfrom_the_accounts_default_originator_is_used(
    live_url: str, services: Services, my_account: Account
) -> None:
    services.accounts.update("MyAccount", default_originator="58870")
    assert stored(services, send(live_url, smsfrom=None)[1]).originator == "58870"


def test_unknown_parameters_are_ignored(live_url: str, my_account: Account) -> None:
    assert send(live_url, note="billing note", subaccount="x", carrier="CINBELLUS", submitid="ignored")[0] == 200


# --- send: bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [{"pass": "wrong"}, {"user": "nobody"}, {"pass": None}, {"user": None},
                                     {"pass": ""}, {"user": "myaccount"}])
def test_wrong_or_missing_credentials_get_401_with_an_error_line(
    live_url: str, services: Services, my_account: Account, changes: dict[str, str | None]
) -> None:
    assert send(live_url, **changes) == (401, AUTH_FAILED)
    assert stored_count(services) == 0


def test_a_disabled_account_or_a_foreign_address_gets_401(
    live_url: str, services: Services, my_account: Account
) -> None:
    services.accounts.update("MyAccount", allowed_networks=("192.0.2.0/24",))
    assert send(live_url) == (401, AUTH_FAILED)
    services.accounts.update("MyAccount", allowed_networks=(), active=False)
    assert send(live_url) == (401, AUTH_FAILED)


@pytest.mark.parametrize(("changes", "line"), [
    ({"smsto": None}, "ERROR 2 Missing parameter: smsto\n"),
    ({"smsto": ""}, "ERROR 2 Missing parameter: smsto\n"),
    ({"smsmsg": None}, "ERROR 2 Missing parameter: smsmsg (or smsia5)\n"),
    ({"smsmsg": ""}, "ERROR 2 Missing parameter: smsmsg (or smsia5)\n"),
    ({"smsia5": "Hi"}, "ERROR 4 Conflicting parameters: give smsmsg or smsia5, not both\n"),
    ({"billingsingleshot": "1", "mxbillingsingleshot": "0"},
     "ERROR 4 Conflicting parameters: billingsingleshot and mxbillingsingleshot disagree\n"),
    ({"response": "xml"}, "ERROR 3 Invalid response: only text is served, got 'xml'\n"),
    ({"vp": "2h"}, "ERROR 3 Invalid vp: a whole number of seconds, got '2h'\n"),
    ({"vp": "-60"}, "ERROR 3 Invalid vp: a whole number of seconds, got '-60'\n"),
    ({"vp": "9" * 30}, f"ERROR 3 Invalid vp: {'9' * 30} seconds is out of range\n"),
    ({"report": "8"}, "ERROR 3 Invalid report: one of 0, 1, 2, 3, 4, 5, 6, 7, got '8'\n"),
    ({"split": "4"}, "ERROR 3 Invalid split: one of 0, 1, 2, 3, got '4'\n"),
    ({"flash": "maybe"}, "ERROR 3 Invalid flash: not a boolean: 'maybe'\n"),
    ({"smsudh": "0605zz"}, "ERROR 3 Invalid smsudh: not hexadecimal octets\n"),
    ({"smsudh": "060504"}, "ERROR 3 Invalid smsmsg: not hexadecimal octets\n"),
])
def test_a_missing_malformed_or_contradictory_parameter_gets_its_error_line(
    live_url: str, services: Services, my_account: Account, changes: dict[str, str | None], line: str
) -> None:
    assert send(live_url, **changes) == (400, line)
    assert stored_count(services) == 0


@pytest.mark.parametrize(("changes", "code"), [
    ({"smsto": "+447911123456"}, None), ({"smsto": "00447911123456"}, None),
    ({"smsto": "4479"}, "10"), ({"smsto": "not a number"}, "10"), ({"smsto": UK + "," + UK}, "10"),
    ({"smsfrom": "this is far too long"}, "11"), ({"smsfrom": "EVIL"}, "12"),
    ({"smsmsg": "x" * (153 * 6 + 1)}, "14"),
    ({"smsudh": "0a", "smsmsg": "01"}, "15"), ({"smsia5": "Hi", "smsmsg": None, "smsudh": "050003010201"}, "15"),
    ({"vp": "0"}, "16"),
])
def test_a_message_the_core_refuses_gets_its_numbered_error(
    live_url: str, services: Services, my_account: Account, changes: dict[str, str | None], code: str | None
) -> None:
    status, body = send(live_url, **changes)
    if code is None:
        assert status == 200, body
        return
    assert status == 400
    assert body.startswith(f"ERROR {code} ") and body.endswith("\n") and body.count("\n") == 1, body
    assert stored_count(services) == 0


def test_a_parameter_given_twice_with_different_values_is_refused(live_url: str, my_account: Account) -> None:
    status, body, _ = call(live_url, f"{SEND}?{urlencode(good())}&smsmsg=Other")
    assert (status, body) == (400, "ERROR 4 Conflicting parameters: smsmsg given with different values\n")


def test_a_post_body_that_is_not_a_form_is_refused(live_url: str, services: Services, my_account: Account) -> None:
    status, body, _ = call(live_url, SEND, "POST", b'{"user": "MyAccount"}', {"Content-Type": "application/json"})
    assert (status, body) == (400, "ERROR 3 Invalid request body: send application/x-www-form-urlencoded\n")


@pytest.mark.parametrize(("method", "target"), [("HEAD", SEND), ("PUT", SEND), ("GET", BULK), ("HEAD", BULK),
                                                ("DELETE", BULK)])
def test_other_methods_are_not_allowed_and_send_nothing(
    live_url: str, services: Services, my_account: Account, method: str, target: str
) -> None:
    status, _, response = call(live_url, f"{target}?{urlencode(good())}", method)
    assert status == 405
    assert "POST" in response.getheader("Allow", "")
    assert stored_count(services) == 0


@pytest.mark.parametrize("target", [
    SEND, f"{SEND}?user=MyAccount", f"{SEND}?user=MyAccount&pass=P4ssw0rD&smsto=%FF%FE&smsmsg=%00",
    f"{SEND}?user=MyAccount&pass=P4ssw0rD&smsto={UK}&smsmsg=%F0%9F%98%80%ED%A0%80",
    f"{SEND}?user=MyAccount&pass=P4ssw0rD&smsto={UK}&smsmsg=%ZZ&smsudh=%0A&vp=%20",
    f"{SEND}?&&&=&user&pass", f"{SEND}?user=MyAccount&pass=P4ssw0rD&smsto={UK}&smsmsg=hi&smsudh=00",
])
def test_nothing_a_client_sends_produces_a_500(live_url: str, my_account: Account, target: str) -> None:
    status, body, _ = call(live_url, target)
    assert status < 500
    assert body.startswith(("OK ", "ERROR ")) and body.endswith("\n")


# --- bulksend ----------------------------------------------------------------------------------------------------


def test_bulksend_answers_one_line_per_recipient_in_request_order(
    live_url: str, services: Services, my_account: Account
) -> None:
    fields = [*good(smsto=None).items(), ("smsto", "447911123456,447911123457\n447911123458"), ("smsto", "4479"),
              ("smsto", "447911123459\r\n")]
    status, body = bulk(live_url, fields)
    assert status == 200
    lines = body.splitlines()
    assert [line.split(" ", 2)[:2] for line in lines] == [
        ["447911123456", "OK"], ["447911123457", "OK"], ["447911123458", "OK"], ["4479", "ERROR"],
        ["447911123459", "OK"]]
    assert lines[3].startswith("4479 ERROR 10 ")
    views = [services.gateway.status(int(line.split()[2])) for line in lines if " OK " in line]
    assert [v.recipient for v in views] == ["+447911123456", "+447911123457", "+447911123458", "+447911123459"]
    assert len({v.batch_ref for v in views}) == 1  # committed together


def test_a_message_error_common_to_every_recipient_is_answered_on_every_line(
    live_url: str, services: Services, my_account: Account
) -> None:
    status, body = bulk(live_url, good(smsto="447911123456,447911123457", smsfrom="EVIL"))
    assert status == 200
    assert [line.split(" ", 3)[:3] for line in body.splitlines()] == [
        ["447911123456", "ERROR", "12"], ["447911123457", "ERROR", "12"]]
    assert stored_count(services) == 0


def test_a_10000_recipient_bulksend_is_committed_in_one_go(
    live_url: str, services: Services, my_account: Account
) -> None:
    recipients = [f"4479112{n:05d}" for n in range(10_000)]
    status, body = bulk(live_url, good(smsto=",".join(recipients)))
    assert status == 200
    lines = body.splitlines()
    assert [line.split()[:2] for line in lines] == [[r, "OK"] for r in recipients]
    batch = services.gateway.status(int(lines[0].split()[2])).batch_ref
    assert services.gateway.batch_status(my_account, batch).total == 10_000
    assert services.gateway.status(int(lines[-1].split()[2])).recipient == "+447911209999"


def test_more_than_10000_recipients_are_refused_and_nothing_is_stored(
    live_url: str, services: Services, my_account: Account
) -> None:
    status, body = bulk(live_url, good(smsto=",".join(f"4479112{n:05d}" for n in range(10_001))))
    assert (status, body) == (400, "ERROR 5 10,001 recipients; at most 10,000 in one request\n")
    assert stored_count(services) == 0


@pytest.mark.parametrize("smsto", [None, "", ",\n,"])
def test_bulksend_without_recipients_is_refused(live_url: str, my_account: Account, smsto: str | None) -> None:
    assert bulk(live_url, good(smsto=smsto)) == (400, "ERROR 2 Missing parameter: smsto\n")


def test_a_repeated_submitid_replays_the_first_result_and_sends_nothing_new(
    live_url: str, services: Services, my_account: Account
) -> None:
    first = bulk(live_url, good(smsto="447911123456,4479", submitid="campaign-42"))
    assert first[0] == 200 and stored_count(services) == 1
    # "regardless of whether there are differences between the values or parameters of the two requests"
    again = bulk(live_url, good(smsto="447911123457,447911123458,447911123459", smsmsg="Other", submitid="campaign-42"))
    assert again == first
    assert stored_count(services) == 1
    other = bulk(live_url, good(smsto="447911123456", submitid="campaign-43"))
    assert other[0] == 200 and other != first and stored_count(services) == 2


def test_submitid_belongs_to_one_account(live_url: str, services: Services, my_account: Account) -> None:
    services.accounts.create("Other", "pw")
    first = bulk(live_url, good(submitid="s-1"))
    second = bulk(live_url, good(user="Other", **{"pass": "pw"}, submitid="s-1"))
    assert first[0] == second[0] == 200 and first != second
    assert stored_count(services) == 2


@pytest.mark.parametrize("submitid", ["", "x" * 201])
def test_an_empty_or_over_long_submitid_is_refused(
    live_url: str, services: Services, my_account: Account, submitid: str
) -> None:
    status, body = bulk(live_url, good(submitid=submitid))
    assert status == 400 and body.startswith("ERROR 3 Invalid submitid: "), body
    assert stored_count(services) == 0


def test_bulksend_wrong_credentials_get_401(live_url: str, services: Services, my_account: Account) -> None:
    assert bulk(live_url, good(**{"pass": "nope"})) == (401, AUTH_FAILED)


def test_bulksend_with_a_body_that_is_not_a_form_is_refused(live_url: str, my_account: Account) -> None:
    status, body, _ = call(live_url, BULK, "POST", b"smsto=447911123456", {"Content-Type": "text/plain"})
    assert status == 400 and body.startswith("ERROR 3 Invalid request body")


# --- connections -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_persistent_http11_connection_serves_sends_and_bulksends(
    served_url: str, services: Services, my_account: Account
) -> None:
    url = urlsplit(served_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    replies = []
    try:
        for n in range(3):
            conn.request("GET", f"{SEND}?{urlencode(good(smsmsg=f'n{n}'))}")
            response = conn.getresponse()
            replies.append((response.status, response.read().decode(), conn.sock.getsockname() if conn.sock else None))
        conn.request("POST", BULK, urlencode(good(smsto="447911123456,447911123457")).encode(), FORM)
        response = conn.getresponse()
        replies.append((response.status, response.read().decode(), conn.sock.getsockname() if conn.sock else None))
        conn.request("GET", f"{SEND}?{urlencode(good(**{'pass': 'x'}))}")
        response = conn.getresponse()
        replies.append((response.status, response.read().decode(), conn.sock.getsockname() if conn.sock else None))
    finally:
        conn.close()
    assert [status for status, _, _ in replies] == [200, 200, 200, 200, 401]
    assert len({local for _, _, local in replies}) == 1 and replies[0][2] is not None  # one TCP connection
    assert [stored(services, body).text for _, body, _ in replies[:3]] == ["n0", "n1", "n2"]
    assert stored_count(services) == 5
