"""Puzzel's management REST API end to end on a real socket: the docs' list, status and stop examples (their Basic
credentials `intelecom:xdyf3bf2` for service 1000), XML or JSON by Accept, 401 and 404."""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from lxml import etree

from smsgw.domain.model import Account, MessageSpec, Status, SubmitRequest
from smsgw.services import Services

BASIC = "Basic aW50ZWxlY29tOnhkeWYzYmYy"  # intelecom:xdyf3bf2, as in the docs' examples
JSON = {"Authorization": BASIC, "Accept": "application/json"}
MGMT_V10 = "http://chimera.intele.com/gw/wsdl/GatewayManagement-v1.0"
MGMT_V11 = "http://chimera.intele.com/gw/wsdl/GatewayManagement-v1.1"


def call(live_url: str, method: str, path: str, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    url = urlsplit(live_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def call_json(live_url: str, method: str, path: str) -> tuple[int, dict[str, str], Any]:
    status, headers, body = call(live_url, method, path, JSON)
    return status, headers, json.loads(body)


@pytest.fixture
def account(services: Services) -> Account:
    return services.accounts.create("intelecom", "xdyf3bf2", account_id=1000)


def submit(services: Services, account: Account, batch_ref: str, count: int, refs: bool = False) -> list[int]:
    specs = [MessageSpec("+4741000000", f"m{i}", client_ref=f"{batch_ref}-{i}" if refs else None)
             for i in range(count)]
    result = services.gateway.submit(account, SubmitRequest(specs, batch_ref=batch_ref, face="puzzel-rest"))
    return [o.message_id for o in result.outcomes if o.message_id is not None]


def base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    shown = ""
    while value:
        value, digit = divmod(value, 36)
        shown = digits[digit] + shown
    return shown


def test_the_batch_list_shows_every_batch_with_unsent_messages(
    live_url: str, services: Services, account: Account
) -> None:
    submit(services, account, "my-batch-reference", 3)
    submit(services, account, "another-batch", 2)
    status, headers, body = call_json(live_url, "GET", "/mgmt/rs/service/1000/batch/")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "max-age=60, private"
    assert sorted(body["messageBatch"], key=lambda b: b["clientBatchReference"]) == [
        {"clientBatchReference": "another-batch", "totalSize": 2, "onHold": 0},
        {"clientBatchReference": "my-batch-reference", "totalSize": 3, "onHold": 0},
    ]


def test_the_batch_list_is_xml_by_default_and_empty_when_nothing_waits(live_url: str, account: Account) -> None:
    status, headers, body = call(live_url, "GET", "/mgmt/rs/service/1000/batch", {"Authorization": BASIC})
    assert (status, headers["Content-Type"]) == (200, "text/xml; charset=utf-8")
    root = etree.fromstring(body)
    assert root.tag == f"{{{MGMT_V11}}}getBatchListResponse"
    assert len(root) == 0


def test_the_batch_status_example_shows_what_is_left(live_url: str, services: Services, account: Account) -> None:
    submit(services, account, "my-batch", 3)
    status, headers, body = call_json(live_url, "GET", "/mgmt/rs/service/1000/batch/my-batch")
    assert (status, headers["Cache-Control"]) == (200, "max-age=60, private")
    assert body == {"messageBatch": {"clientBatchReference": "my-batch", "totalSize": 3, "onHold": 0}}

    status, headers, xml = call(live_url, "GET", "/mgmt/rs/service/1000/batch/my-batch",
                                {"Authorization": BASIC, "Accept": "text/xml"})
    root = etree.fromstring(xml)
    assert (status, headers["Content-Type"], root.tag) == (200, "text/xml; charset=utf-8",
                                                           f"{{{MGMT_V11}}}getBatchStatusResponse")
    [batch] = root.iter("messageBatch")
    assert [(c.tag, c.text) for c in batch] == [("clientBatchReference", "my-batch"), ("totalSize", "3"),
                                                ("onHold", "0")]


def test_the_stop_example_stops_every_unsent_message_of_the_batch(
    live_url: str, services: Services, account: Account
) -> None:
    ids = submit(services, account, "my-batch-reference", 3, refs=True)
    other = submit(services, account, "another-batch", 1)
    status, headers, body = call_json(live_url, "DELETE", "/mgmt/rs/service/1000/batch/my-batch-reference")
    assert status == 200
    assert "Cache-Control" not in headers
    assert body["serviceId"] == 1000
    assert body["clientBatchReference"] == "my-batch-reference"
    assert sorted(body["stoppedMessages"], key=lambda m: m["messageId"]) == sorted(
        [{"messageId": base36(i), "clientMessageReference": f"my-batch-reference-{n}"} for n, i in enumerate(ids)],
        key=lambda m: m["messageId"])
    assert {services.gateway.status(i).status for i in ids} == {Status.CANCELLED}
    assert services.gateway.status(other[0]).status is Status.ACCEPTED

    assert call_json(live_url, "GET", "/mgmt/rs/service/1000/batch/my-batch-reference")[2] == {
        "messageBatch": {"clientBatchReference": "my-batch-reference", "totalSize": 0, "onHold": 0}}
    listed = call_json(live_url, "GET", "/mgmt/rs/service/1000/batch")[2]["messageBatch"]
    assert [b["clientBatchReference"] for b in listed] == ["another-batch"]
    again = call_json(live_url, "DELETE", "/mgmt/rs/service/1000/batch/my-batch-reference")
    assert (again[0], again[2]["stoppedMessages"]) == (200, [])


def test_the_stop_answer_in_xml_has_the_v10_namespace(live_url: str, services: Services, account: Account) -> None:
    [message_id] = submit(services, account, "b1", 1)
    status, _, body = call(live_url, "DELETE", "/mgmt/rs/service/1000/batch/b1", {"Authorization": BASIC})
    root = etree.fromstring(body)
    assert (status, root.tag) == (200, f"{{{MGMT_V10}}}stopBatchResponse")
    assert [(c.tag, c.text) for c in root][:2] == [("serviceId", "1000"), ("clientBatchReference", "b1")]
    assert [m.findtext("messageId") for m in root.iter("stoppedMessages")] == [base36(message_id)]


def test_the_newer_clients_management_paths_work_the_same(
    live_url: str, services: Services, account: Account
) -> None:
    submit(services, account, "b1", 2)
    assert call_json(live_url, "GET", "/management/1000/batch")[2]["messageBatch"][0]["totalSize"] == 2
    assert call_json(live_url, "GET", "/management/1000/batch/b1")[2]["messageBatch"]["totalSize"] == 2
    assert len(call_json(live_url, "DELETE", "/management/1000/batch/b1")[2]["stoppedMessages"]) == 2


def test_a_batch_reference_with_a_slash_or_spaces_is_found(live_url: str, services: Services,
                                                           account: Account) -> None:
    submit(services, account, "campaign/2026 week 3", 1)
    status, _, body = call_json(live_url, "GET", "/mgmt/rs/service/1000/batch/campaign/2026%20week%203")
    assert (status, body["messageBatch"]["totalSize"]) == (200, 1)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("authorization", [
    None, basic("intelecom", "wrong"), basic("other", "xdyf3bf2"), basic("INTELECOM", "xdyf3bf2"),
    "Bearer xdyf3bf2", "Basic not-base64!", basic("intelecom", ""),
], ids=["none", "password", "other-user", "user-case", "bearer", "garbage", "empty-password"])
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/mgmt/rs/service/1000/batch"), ("GET", "/mgmt/rs/service/1000/batch/b1"),
    ("DELETE", "/mgmt/rs/service/1000/batch/b1"),
])
def test_credentials_that_do_not_own_the_service_get_401_and_change_nothing(
    live_url: str, services: Services, account: Account, authorization: str | None, method: str, path: str
) -> None:
    services.accounts.create("other", "xdyf3bf2", account_id=1001)
    [message_id] = submit(services, account, "b1", 1)
    headers = {"Accept": "application/json"} | ({"Authorization": authorization} if authorization else {})
    status, reply_headers, body = call(live_url, method, path, headers)
    assert status == 401
    assert reply_headers["WWW-Authenticate"].startswith("Basic ")
    assert reply_headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["status"] == 401
    assert services.gateway.status(message_id).status is Status.ACCEPTED


def test_another_services_credentials_get_401(live_url: str, services: Services, account: Account) -> None:
    services.accounts.create("other", "s3cret", account_id=1001)
    submit(services, account, "b1", 1)
    status, _, _ = call(live_url, "GET", "/mgmt/rs/service/1000/batch/b1", {"Authorization": basic("other", "s3cret")})
    assert status == 401


def test_a_disabled_account_gets_401(live_url: str, services: Services, account: Account) -> None:
    services.accounts.update("intelecom", active=False)
    assert call(live_url, "GET", "/mgmt/rs/service/1000/batch", {"Authorization": BASIC})[0] == 401


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_an_unknown_batch_gets_404(live_url: str, services: Services, account: Account, method: str) -> None:
    other = services.accounts.create("other", "s3cret", account_id=1001)
    submit(services, other, "theirs", 1)
    for ref in ("nope", "theirs", "x" * 300):
        status, headers, body = call(live_url, method, f"/mgmt/rs/service/1000/batch/{ref}", JSON)
        assert (status, headers["Content-Type"]) == (404, "application/problem+json")
        assert json.loads(body)["title"] == "Not Found"
    status, headers, body = call(live_url, method, "/mgmt/rs/service/1000/batch/nope", {"Authorization": BASIC})
    assert (status, headers["Content-Type"]) == (404, "application/problem+xml; charset=utf-8")
    assert etree.fromstring(body).findtext("{urn:ietf:rfc:7807}status") == "404"
    assert services.gateway.batch_status(other, "theirs").pending == 1


@pytest.mark.parametrize("path", ["/mgmt/rs/service/abc/batch", "/mgmt/rs/service/0/batch",
                                  "/mgmt/rs/service/99999999999999999999999/batch", "/mgmt/rs/service/1000",
                                  "/mgmt/rs/service/-1/batch/b1"])
def test_a_path_that_names_no_service_gets_404(live_url: str, account: Account, path: str) -> None:
    assert call(live_url, "GET", path, {"Authorization": BASIC})[0] == 404


@pytest.mark.parametrize(("method", "path"), [("POST", "/mgmt/rs/service/1000/batch"),
                                              ("DELETE", "/mgmt/rs/service/1000/batch"),
                                              ("PUT", "/mgmt/rs/service/1000/batch/b1")])
def test_other_methods_get_405(live_url: str, account: Account, method: str, path: str) -> None:
    assert call(live_url, method, path, {"Authorization": BASIC})[0] == 405
