"""O2 SMS Connector HTTP GET/POST (`/smsconnector/getpost/GP`) end to end on a real socket: the requests of O2's
public clients (pomuzeme.si, avast, the LinuxBox demo) compared with O2's documented reply, every action, a
receive/confirm cycle, and every bad input answered with O2's keys and a non-2xx status.

The live server speaks plain HTTP, so the certificate arrives as a trusted proxy would forward it (its SHA-256 in a
header); the direct TLS path (`SSL_CLIENT_CERT` in the WSGI environ) is tested on the WSGI app itself."""

from __future__ import annotations

import http.client
import re
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from smsgw_testing import CERT_HEADER, make_certificate, o2_business_application
from smsgw_testing import O2_BA_ID as BA_ID
from sqlalchemy import select
from werkzeug.test import Client

from smsgw.app import App
from smsgw.auth import certificate_fingerprint
from smsgw.domain.model import Account, Priority, ReportKind, ReportMask, Status
from smsgw.services import Services
from smsgw.store import repository as repo
from smsgw.store.tables import messages

PATH = "/smsconnector/getpost/GP"
SEND_OK = "Pozadavek Send uspesne zpracovan - ISUC_001 - Send request successfully processed"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
SHORT_CODE = "7890"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two self-signed certificates (PEM): the registered one and a stranger's."""
    return (make_certificate(tmp_path_factory.mktemp("ours")), make_certificate(tmp_path_factory.mktemp("theirs")))


@pytest.fixture
def fingerprint(certificates: tuple[str, str]) -> str:
    return certificate_fingerprint(certificates[0])


@pytest.fixture
def ba(services: Services, fingerprint: str) -> Account:
    """The business application of pomuzeme.si's requests."""
    return o2_business_application(services, fingerprint)


def call(live_url: str, query: str = "", method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None, certificate: str | None = "registered",
         fingerprint: str = "") -> tuple[int, str, http.client.HTTPResponse]:
    url = urlsplit(live_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    sent = dict(headers or {})
    if certificate is not None:
        sent[CERT_HEADER] = fingerprint if certificate == "registered" else certificate
    try:
        conn.request(method, f"{PATH}?{query}" if query else PATH, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, response.read().decode(), response
    finally:
        conn.close()


@pytest.fixture
def gp(live_url: str, fingerprint: str) -> Any:
    """`gp(**parameters)` → (status, body as a list of (key, value) lines), with the registered certificate."""

    def request(**fields: str | None) -> tuple[int, list[tuple[str, str]]]:
        status, body, _ = call(live_url, urlencode({k: v for k, v in fields.items() if v is not None}),
                               fingerprint=fingerprint)
        return status, lines(body)

    return request


def lines(body: str) -> list[tuple[str, str]]:
    assert body == "" or body.endswith("\n"), body
    return [(key, value) for key, _, value in (line.partition("=") for line in body.splitlines())]


def send_fields(**changes: str | None) -> dict[str, str | None]:
    """pomuzeme.si's send query, verbatim."""
    fields: dict[str, str | None] = {
        "action": "send", "baID": BA_ID, "fromNumber": "+420720002125", "toNumber": "+420777000000",
        "text": "Ahoj", "deliveryReport": "FALSE", "intruder": "FALSE", "multipart": "FALSE",
        "validityPeriod": "10000", "priority": "1"}
    fields.update(changes)
    return fields


def row(services: Services, message_id: int) -> Any:
    with services.store.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


RESPONSE_KEYS = ["selector", "responseType", "responseCode", "responseDescription", "baID", "refBaID", "msgID",
                 "timestamp", "refMsgID"]


def error_of(status: int, body: list[tuple[str, str]]) -> tuple[int, str, str]:
    """(HTTP status, responseType, responseCode) of an answer, after checking it has O2's keys in O2's order."""
    keys = [key for key, _ in body]
    assert keys == [key for key in RESPONSE_KEYS if key in keys], keys
    assert {"selector", "responseType", "responseCode", "responseDescription", "msgID", "timestamp"} <= set(keys)
    fields = dict(body)
    assert f" - {fields['responseCode']} - " in fields["responseDescription"]
    return status, fields["responseType"], fields["responseCode"]


# --- the vendor's examples ---------------------------------------------------------------------------------------


def test_pomuzemes_send_gets_o2s_reply_line_for_line(gp: Any, services: Services, ba: Account) -> None:
    status, body = gp(**send_fields())
    assert status == 200
    assert [key for key, _ in body] == ["selector", "responseType", "responseCode", "responseDescription", "baID",
                                        "refBaID", "msgID", "timestamp", "refMsgID"]
    fields = dict(body)
    assert (fields["selector"], fields["responseType"], fields["responseCode"], fields["responseDescription"],
            fields["baID"], fields["refBaID"]) == ("Response", "SUCCESS", "ISUC_001", SEND_OK, BA_ID, BA_ID)
    assert TIMESTAMP.fullmatch(fields["timestamp"])
    uuid.UUID(fields["msgID"])  # the request's own id
    view = services.gateway.status(int(fields["refMsgID"]), ba)
    assert (view.recipient, view.originator, view.text, view.status) == (
        "+420777000000", "+420720002125", "Ahoj", Status.ACCEPTED)
    message = row(services, view.id)
    assert (message.flash, message.reports, message.priority) == (False, ReportMask.NONE, Priority.NORMAL)
    assert (view.expires_at - view.due_at).total_seconds() == 10000 * 60  # validityPeriod in minutes


def test_avasts_send_url_with_dotnet_booleans_is_accepted(live_url: str, services: Services, fingerprint: str,
                                                          ba: Account) -> None:
    text = "x" * 200
    query = (f"action=send&baID={BA_ID}&toNumber=%2B420777000000&text={text}&intruder=FALSE&multipart=True"
             "&deliveryReport=FALSE&validityPeriod=10000&priority=1")
    status, body, response = call(live_url, query, fingerprint=fingerprint)
    assert status == 200, body
    assert response.getheader("Content-Type", "").startswith("text/plain")
    assert services.gateway.status(int(dict(lines(body))["refMsgID"])).parts == 2


def test_linuxboxs_multipart_form_post_with_php_booleans(live_url: str, services: Services, fingerprint: str,
                                                         ba: Account) -> None:
    boundary = "----php"
    fields = {"baID": "demo", "action": "send", "toNumber": "+420734468595", "text": "Server LinuxBox je určen "
              "společnostem libovolné velikosti", "intruder": "", "deliveryReport": "1", "multipart": "1"}
    body = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                   for k, v in fields.items()) + f"--{boundary}--\r\n"
    status, answer, _ = call(live_url, method="POST", body=body.encode(), fingerprint=fingerprint,
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, answer
    reply = dict(lines(answer))
    assert (reply["responseCode"], reply["baID"]) == ("ISUC_001", "demo")
    message = row(services, int(reply["refMsgID"]))
    assert (message.flash, message.reports, message.encoding) == (False, ReportMask.FINAL, "ucs2")


def test_a_form_post_works_as_a_get(live_url: str, fingerprint: str, ba: Account) -> None:
    form = urlencode({k: v for k, v in send_fields().items() if v is not None}).encode()
    status, body, _ = call(live_url, method="POST", body=form, fingerprint=fingerprint,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert dict(lines(body))["responseCode"] == "ISUC_001"


def test_ping_answers_isuc_000(gp: Any, ba: Account) -> None:
    status, body = gp(action="ping", baID=BA_ID)
    assert status == 200
    assert [key for key, _ in body] == ["selector", "responseType", "responseCode", "responseDescription", "baID",
                                        "msgID", "timestamp"]
    assert dict(body)["responseCode"] == "ISUC_000"
    assert dict(body)["responseDescription"] == "Pozadavek Ping uspesne zpracovan - ISUC_000 - Ping request " \
                                                "successfully processed"


def test_one_connection_serves_many_requests(live_url: str, fingerprint: str, ba: Account) -> None:
    url = urlsplit(live_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    try:
        for action in ("ping", "send", "receive", "ping"):
            fields = send_fields() if action == "send" else {"action": action, "baID": BA_ID}
            conn.request("GET", f"{PATH}?{urlencode(fields)}", headers={CERT_HEADER: fingerprint})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, action
    finally:
        conn.close()


# --- identification ------------------------------------------------------------------------------------------------


def test_the_business_application_is_found_by_id_or_name(gp: Any, ba: Account) -> None:
    for name in (BA_ID, "demo"):
        status, body = gp(action="ping", baID=name)
        assert (status, dict(body)["baID"]) == (200, name)


def test_a_wrong_or_missing_certificate_gets_403_authorization_error(
    live_url: str, certificates: tuple[str, str], ba: Account
) -> None:
    stranger = certificate_fingerprint(certificates[1])
    for certificate in (stranger, None, "", "not a fingerprint"):
        status, body, _ = call(live_url, f"action=ping&baID={BA_ID}", certificate=certificate)
        assert error_of(status, lines(body)) == (403, "AUTHORIZATION_ERROR", "EAUT_001"), certificate


def test_an_unknown_business_application_gets_403(gp: Any, ba: Account) -> None:
    for name in ("4242", "nobody", str(2**64)):
        status, body = gp(action="ping", baID=name)
        assert (status, dict(body)["responseType"]) == (403, "AUTHORIZATION_ERROR")


def test_a_disabled_application_or_a_foreign_address_gets_403(gp: Any, services: Services, ba: Account) -> None:
    services.accounts.update("demo", active=False)
    assert gp(action="ping", baID=BA_ID)[0] == 403
    services.accounts.update("demo", active=True, allowed_networks=("192.0.2.0/24",))
    status, body = gp(action="ping", baID=BA_ID)
    assert (status, dict(body)["responseType"]) == (403, "AUTHORIZATION_ERROR")


def test_a_certificate_presented_over_tls_identifies_the_application(
    services: Services, certificates: tuple[str, str], fingerprint: str
) -> None:
    services.accounts.create("direct", "unused", client_certs=(fingerprint,))
    client = Client(App(services))
    query = {"action": "ping", "baID": "direct"}
    ok = client.get(PATH, query_string=query, environ_overrides={"SSL_CLIENT_CERT": certificates[0]})
    assert ok.status_code == 200
    assert dict(lines(ok.get_data(as_text=True)))["responseCode"] == "ISUC_000"
    for pem in (certificates[1], "garbage"):
        refused = client.get(PATH, query_string=query, environ_overrides={"SSL_CLIENT_CERT": pem})
        assert refused.status_code == 403
    assert client.get(PATH, query_string=query).status_code == 403


def test_a_certificate_header_from_an_untrusted_peer_is_ignored(
    services: Services, fingerprint: str
) -> None:
    services.accounts.create("proxied", "unused", client_certs=(fingerprint,), trusted_proxies=("192.0.2.1/32",),
                             client_cert_header=CERT_HEADER)
    client = Client(App(services))
    answer = client.get(PATH, query_string={"action": "ping", "baID": "proxied"}, headers={CERT_HEADER: fingerprint})
    assert answer.status_code == 403


# --- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, expected", [
    ({"action": "ping"}, (400, "FORMAT_ERROR", "EFMT_001")),
    ({"baID": BA_ID}, (400, "FORMAT_ERROR", "EFMT_001")),
    ({"baID": BA_ID, "action": "fly"}, (400, "FORMAT_ERROR", "EFMT_011")),
    ({"baID": BA_ID, "action": ""}, (400, "FORMAT_ERROR", "EFMT_001")),
])
def test_a_missing_or_unknown_action_or_baid_gets_format_error(
    gp: Any, ba: Account, fields: dict[str, str], expected: tuple[int, str, str]
) -> None:
    assert error_of(*gp(**fields)) == expected


@pytest.mark.parametrize("changes, expected", [
    ({"toNumber": None}, (400, "FORMAT_ERROR", "EFMT_001")),
    ({"text": None}, (400, "FORMAT_ERROR", "EFMT_001")),
    ({"text": ""}, (400, "FORMAT_ERROR", "EFMT_001")),
    ({"toNumber": "12"}, (400, "FORMAT_ERROR", "EFMT_003")),
    ({"toNumber": "+999777000000"}, (400, "FORMAT_ERROR", "EFMT_003")),
    ({"fromNumber": "Too long a name"}, (400, "FORMAT_ERROR", "EFMT_004")),
    ({"fromNumber": "Other"}, (400, "APPL_ERROR", "EAPL_001")),
    ({"text": "x" * 161}, (400, "FORMAT_ERROR", "EFMT_006")),
    ({"text": "x" * 1000, "multipart": "TRUE"}, (400, "FORMAT_ERROR", "EFMT_006")),
    ({"intruder": "maybe"}, (400, "FORMAT_ERROR", "EFMT_002")),
    ({"multipart": "2"}, (400, "FORMAT_ERROR", "EFMT_002")),
    ({"deliveryReport": "ano"}, (400, "FORMAT_ERROR", "EFMT_002")),
    ({"validityPeriod": "-1"}, (400, "FORMAT_ERROR", "EFMT_009")),
    ({"validityPeriod": "1.5"}, (400, "FORMAT_ERROR", "EFMT_009")),
    ({"validityPeriod": "9" * 30}, (400, "FORMAT_ERROR", "EFMT_009")),
    ({"priority": "7"}, (400, "FORMAT_ERROR", "EFMT_002")),
    ({"priority": "high"}, (400, "FORMAT_ERROR", "EFMT_002")),
])
def test_a_bad_send_parameter_gets_o2s_error_and_sends_nothing(
    gp: Any, services: Services, ba: Account, changes: dict[str, str | None], expected: tuple[int, str, str]
) -> None:
    assert error_of(*gp(**send_fields(**changes))) == expected
    assert services.gateway.messages() == []


@pytest.mark.parametrize("name", ["data", "header", "dataCodingScheme", "protocolIdentifier"])
def test_binary_parameters_get_format_error_pointing_to_the_web_services(
    gp: Any, services: Services, ba: Account, name: str
) -> None:
    status, body = gp(**send_fields(**{name: "0504"}))
    assert error_of(status, body) == (400, "FORMAT_ERROR", "EFMT_008")
    assert "use the web services interface" in dict(body)["responseDescription"]
    assert services.gateway.messages() == []


def test_a_parameter_given_twice_with_different_values_gets_format_error(
    live_url: str, fingerprint: str, ba: Account
) -> None:
    query = urlencode({k: v for k, v in send_fields().items() if v is not None}) + "&toNumber=%2B420777000001"
    status, body, _ = call(live_url, query, fingerprint=fingerprint)
    assert error_of(status, lines(body)) == (400, "FORMAT_ERROR", "EFMT_002")


def test_errors_are_plain_text_with_o2s_three_keys(live_url: str, fingerprint: str, ba: Account) -> None:
    status, body, response = call(live_url, f"action=send&baID={BA_ID}", fingerprint=fingerprint)
    assert status == 400
    assert response.getheader("Content-Type", "").split(";")[0] == "text/plain"
    fields = dict(lines(body))
    assert fields["responseDescription"] == "Chybi povinny parametr - EFMT_001 - A required parameter is missing: " \
                                            "toNumber"
    assert fields["baID"] == BA_ID


def test_a_post_body_that_is_not_a_form_gets_format_error(live_url: str, fingerprint: str, ba: Account) -> None:
    status, body, _ = call(live_url, method="POST", body=b'{"action": "ping", "baID": "1992125"}',
                           headers={"Content-Type": "application/json"}, fingerprint=fingerprint)
    assert error_of(status, lines(body)) == (400, "FORMAT_ERROR", "EFMT_001")


def test_other_methods_get_405(live_url: str, fingerprint: str, ba: Account) -> None:
    assert call(live_url, f"action=ping&baID={BA_ID}", method="PUT", fingerprint=fingerprint)[0] == 405


# --- send parameters -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling, value", [("TRUE", True), ("true", True), ("1", True), ("True", True),
                                             ("FALSE", False), ("false", False), ("0", False), ("", False)])
def test_booleans_in_every_spelling_clients_send_and_intruder_is_flash(
    gp: Any, services: Services, ba: Account, spelling: str, value: bool
) -> None:
    status, body = gp(**send_fields(intruder=spelling, deliveryReport=spelling, multipart=spelling))
    assert status == 200
    message = row(services, int(dict(body)["refMsgID"]))
    assert (message.flash, message.reports) == (value, ReportMask.FINAL if value else ReportMask.NONE)


def test_multipart_false_needs_one_part_and_absent_allows_several(gp: Any, services: Services, ba: Account) -> None:
    assert gp(**send_fields(text="x" * 160))[0] == 200
    status, body = gp(**send_fields(text="x" * 161, multipart=None))
    assert status == 200
    assert services.gateway.status(int(dict(body)["refMsgID"])).parts == 2


def test_validity_period_zero_or_absent_takes_the_accounts_default(gp: Any, services: Services, ba: Account) -> None:
    for value in ("0", None):
        body = gp(**send_fields(validityPeriod=value))[1]
        view = services.gateway.status(int(dict(body)["refMsgID"]))
        assert (view.expires_at - view.due_at).total_seconds() == ba.default_validity


def test_priority_0_to_3_is_smpps_priority(gp: Any, services: Services, ba: Account) -> None:
    for value in Priority:
        body = gp(**send_fields(priority=str(int(value))))[1]
        assert row(services, int(dict(body)["refMsgID"])).priority == value


def test_a_national_number_is_read_in_the_accounts_country(gp: Any, services: Services, ba: Account) -> None:
    for number in ("777000000", "00420777000000", "420777000000"):
        body = gp(**send_fields(toNumber=number))[1]
        assert services.gateway.status(int(dict(body)["refMsgID"])).recipient == "+420777000000"


# --- receive and confirm ---------------------------------------------------------------------------------------------


def queue_report(services: Services, account: Account, message_id: int, status: Status,
                 error: str | None = None) -> None:
    now = time.time_ns() // 1_000_000
    with services.store.write() as conn:
        repo.queue_reports(conn, [repo.report_row(account, ReportKind.DR, now, message_id=message_id,
                                                  status=status.value, error_code=error)])


def test_receive_with_an_empty_queue_answers_an_empty_body(gp: Any, ba: Account) -> None:
    assert gp(action="receive", baID=BA_ID) == (200, [])


def test_a_receive_confirm_cycle_hands_out_each_item_until_confirmed(
    gp: Any, services: Services, ba: Account
) -> None:
    services.accounts.add_number("demo", SHORT_CODE)
    services.gateway.ingest_mo("+420777123456", SHORT_CODE, text="Ahoj\nsvete")
    sent = dict(gp(**send_fields(deliveryReport="TRUE"))[1])
    message_id = int(sent["refMsgID"])
    services.gateway.cancel_batch(ba, sent["msgID"])

    status, mo = gp(action="receive", baID=BA_ID)
    assert status == 200
    assert [key for key, _ in mo] == ["selector", "baID", "msgID", "fromNumber", "toNumber", "text", "timestamp"]
    fields = dict(mo)
    assert (fields["selector"], fields["baID"], fields["fromNumber"], fields["toNumber"], fields["text"]) == (
        "TextSms", BA_ID, "+420777123456", SHORT_CODE, "Ahoj svete")
    assert gp(action="receive", baID=BA_ID)[1] == [(k, v) for k, v in mo if k != "timestamp"] + [
        ("timestamp", fields["timestamp"])]  # nothing is removed until confirmed

    status, confirmed = gp(action="confirm", baID=BA_ID, refBaID=fields["baID"], refMsgID=fields["msgID"])
    assert status == 200
    assert [(k, v) for k, v in confirmed if k in ("responseType", "responseCode", "refBaID", "refMsgID")] == [
        ("responseType", "SUCCESS"), ("responseCode", "ISUC_002"), ("refBaID", BA_ID), ("refMsgID", fields["msgID"])]

    status, dr = gp(action="receive", baID=BA_ID)
    assert [key for key, _ in dr] == ["selector", "responseType", "responseCode", "responseDescription", "baID",
                                      "refBaID", "msgID", "timestamp", "refMsgID"]
    report = dict(dr)
    assert (report["selector"], report["responseType"], report["responseCode"], report["refMsgID"]) == (
        "Response", "APPL_ERROR", "EAPL_105", str(message_id))
    assert gp(action="confirm", baID=BA_ID, refBaID=BA_ID, refMsgID=report["msgID"])[0] == 200
    assert gp(action="receive", baID=BA_ID) == (200, [])


@pytest.mark.parametrize("status, code, kind", [
    (Status.DELIVERED, "ISUC_005", "SUCCESS"), (Status.BUFFERED, "ISUC_010", "SUCCESS"),
    (Status.SUBMITTED, "ISUC_010", "SUCCESS"),  # for accounts that also hear of "submitted": O2's one middle stage
    (Status.UNDELIVERABLE, "EAPL_101", "APPL_ERROR"), (Status.EXPIRED, "EAPL_102", "APPL_ERROR"),
    (Status.REJECTED, "EAPL_103", "APPL_ERROR"), (Status.FAILED, "EAPL_104", "APPL_ERROR"),
])
def test_a_delivery_report_names_the_message_and_its_stage(
    gp: Any, services: Services, ba: Account, status: Status, code: str, kind: str
) -> None:
    message_id = int(dict(gp(**send_fields(deliveryReport="TRUE"))[1])["refMsgID"])
    queue_report(services, ba, message_id, status, "0x0b" if kind == "APPL_ERROR" else None)
    report = dict(gp(action="receive", baID=BA_ID)[1])
    assert (report["selector"], report["responseType"], report["responseCode"], report["refMsgID"]) == (
        "Response", kind, code, str(message_id))
    assert report["responseDescription"].endswith(": network error 0x0b") is (kind == "APPL_ERROR")


def test_a_binary_mo_is_handed_out_as_binary_sms_in_base64(gp: Any, services: Services, ba: Account) -> None:
    services.accounts.add_number("demo", SHORT_CODE)
    services.gateway.ingest_mo("+420777123456", SHORT_CODE, payload=b"\x01\x02\xff")
    fields = dict(gp(action="receive", baID=BA_ID)[1])
    assert (fields["selector"], fields["data"]) == ("BinarySms", "AQL/")


def test_receive_never_hands_out_another_applications_items(
    gp: Any, services: Services, ba: Account
) -> None:
    services.accounts.create("other", "unused")
    services.accounts.add_number("other", SHORT_CODE)
    services.gateway.ingest_mo("+420777123456", SHORT_CODE, text="not yours")
    assert gp(action="receive", baID=BA_ID) == (200, [])


@pytest.mark.parametrize("fields, expected", [
    ({"refBaID": BA_ID}, (400, "FORMAT_ERROR", "EFMT_001")),
    ({"refMsgID": "1"}, (400, "FORMAT_ERROR", "EFMT_001")),
    ({"refBaID": BA_ID, "refMsgID": "ID-48555-1585223320437-1-2900914"}, (400, "FORMAT_ERROR", "EFMT_002")),
    ({"refBaID": BA_ID, "refMsgID": str(2**63)}, (400, "FORMAT_ERROR", "EFMT_002")),
    ({"refBaID": BA_ID, "refMsgID": "999999"}, (404, "APPL_ERROR", "EAPL_003")),
    ({"refBaID": "4242", "refMsgID": "1"}, (404, "APPL_ERROR", "EAPL_003")),
])
def test_a_bad_confirm_gets_o2s_error(
    gp: Any, ba: Account, fields: dict[str, str], expected: tuple[int, str, str]
) -> None:
    assert error_of(*gp(action="confirm", baID=BA_ID, **fields)) == expected


def test_confirming_an_item_twice_finds_nothing_the_second_time(gp: Any, services: Services, ba: Account) -> None:
    services.accounts.add_number("demo", SHORT_CODE)
    services.gateway.ingest_mo("+420777123456", SHORT_CODE, text="hi")
    item = dict(gp(action="receive", baID="demo")[1])
    assert gp(action="confirm", baID="demo", refBaID="demo", refMsgID=item["msgID"])[0] == 200
    assert error_of(*gp(action="confirm", baID="demo", refBaID="demo", refMsgID=item["msgID"])) == (
        404, "APPL_ERROR", "EAPL_003")


def test_another_applications_item_cannot_be_confirmed(gp: Any, services: Services, ba: Account,
                                                       fingerprint: str) -> None:
    other = services.accounts.create("other", "unused", client_certs=(fingerprint,),
                                     trusted_proxies=("127.0.0.1/32",), client_cert_header=CERT_HEADER)
    services.accounts.add_number("other", SHORT_CODE)
    services.gateway.ingest_mo("+420777123456", SHORT_CODE, text="theirs")
    item = dict(gp(action="receive", baID="other")[1])
    assert gp(action="confirm", baID=BA_ID, refBaID=BA_ID, refMsgID=item["msgID"])[0] == 404
    assert services.gateway.receive(other)  # still waiting for its owner


def test_nothing_a_client_sends_is_a_500(live_url: str, fingerprint: str, ba: Account) -> None:
    odd = ["%ff%fe", "%00", "ž" * 30, "-0", "%20", "1e9999", "=", "%0a"]
    names = ["action", "baID", "toNumber", "text", "fromNumber", "intruder", "multipart", "deliveryReport",
             "validityPeriod", "priority", "refBaID", "refMsgID"]
    for action in ("send", "receive", "confirm", "ping"):
        for name in names:
            for value in odd:
                fields = {k: v for k, v in send_fields(action=action, refBaID=BA_ID, refMsgID="1").items()
                          if v is not None and k != name}
                status, _, _ = call(live_url, urlencode(fields) + f"&{name}={quote(value, safe='%=')}",
                                       fingerprint=fingerprint)
                assert status != 500, (action, name, value)
