"""Modica/Optus HTTPS API `/message` end to end on a real socket: the vendor's example, its error table for
versions 1 and 2, and every bad input answered in its `ERROR <description>` shape."""

from __future__ import annotations

import http.client
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select

from smsgw.domain.model import Account, MessageView
from smsgw.services import Services
from smsgw.store.tables import messages

AUTH = "ERROR Invalid authentication information"
QUEUE = "ERROR Failed to queue message"


def call(live_url: str, query: str, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, str, http.client.HTTPResponse]:
    url = urlsplit(live_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    try:
        conn.request(method, f"/message?{query}" if query else "/message", body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode(), response
    finally:
        conn.close()


def send(live_url: str, **fields: str) -> tuple[int, str]:
    status, body, _ = call(live_url, urlencode(fields))
    return status, body


def accepted(live_url: str, **fields: str) -> str:
    status, body = send(live_url, **fields)
    assert status == 200, body
    return body


@pytest.fixture
def app(services: Services) -> Account:
    return services.accounts.create("example_app", "example_pass", default_originator="4433",
                                    allowed_originators=("ACME", "2580"))


def good(**changes: str) -> dict[str, str]:
    fields = {"application": "example_app", "password": "example_pass", "content": "Hello",
              "destination": "+64211234567", "version": "2"}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def stored(services: Services, body: str) -> MessageView:
    assert body.isdigit(), body
    return services.gateway.status(int(body))


def row(services: Services, message_id: int) -> Any:
    with services.store.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


def stored_count(services: Services) -> int:
    return len(services.gateway.messages(limit=1000))


def test_the_vendors_example_request_answers_200_with_the_message_id_alone(
    live_url: str, services: Services, app: Account
) -> None:
    status, body, response = call(live_url, "application=example_app&password=example_pass&class=example_class"
                                            "&content=example+content&destination=%2b642100000&version=2")
    assert status == 200
    assert response.getheader("Content-Type", "").startswith("text/plain")
    view = stored(services, body)  # the decimal id and nothing else: no newline, no prefix
    assert (view.account_id, view.recipient, view.text) == (app.id, "+642100000", "example content")
    assert row(services, view.id).extras == {"class": "example_class"}
    assert row(services, view.id).face == "modica"


def test_version_1_is_the_default_and_answers_every_error_with_500(live_url: str, app: Account) -> None:
    assert send(live_url, **good(version=None, password="wrong")) == (500, AUTH)
    assert send(live_url, **good(version="1", content="")) == (500, "ERROR Missing content parameter")
    assert send(live_url, **good(version=None, destination="+6421")) == (500, QUEUE)
    assert send(live_url, **good(version=None))[0] == 200


def test_version_2_answers_401_for_credentials_and_400_for_the_rest(live_url: str, app: Account) -> None:
    assert send(live_url, **good(password="wrong")) == (401, AUTH)
    assert send(live_url, **good(content="")) == (400, "ERROR Missing content parameter")
    assert send(live_url, **good(destination="+6421")) == (400, QUEUE)


@pytest.mark.parametrize("fields", [
    {"application": None}, {"password": None}, {"application": ""}, {"password": ""},
    {"application": "nobody"}, {"password": "EXAMPLE_PASS"},
], ids=["no-application", "no-password", "empty-application", "empty-password", "unknown", "wrong-case"])
def test_missing_or_wrong_credentials_get_the_authentication_error(
    live_url: str, services: Services, app: Account, fields: dict[str, str]
) -> None:
    assert send(live_url, **good(**fields)) == (401, AUTH)
    assert stored_count(services) == 0


def test_a_disabled_account_or_a_foreign_address_gets_the_authentication_error(
    live_url: str, services: Services, app: Account
) -> None:
    services.accounts.update("example_app", allowed_networks=("10.0.0.0/8",))
    assert send(live_url, **good()) == (401, AUTH)
    services.accounts.update("example_app", allowed_networks=(), active=False)
    assert send(live_url, **good()) == (401, AUTH)


@pytest.mark.parametrize("name", ["content", "destination"])
def test_a_missing_or_empty_required_parameter_is_named(live_url: str, app: Account, name: str) -> None:
    assert send(live_url, **good(**{name: None})) == (400, f"ERROR Missing {name} parameter")
    assert send(live_url, **good(**{name: ""})) == (400, f"ERROR Missing {name} parameter")


@pytest.mark.parametrize("destination", ["+6421", "not a number", "+", "64211234567x", "+99912345678"])
def test_a_destination_the_core_refuses_fails_to_queue(
    live_url: str, services: Services, app: Account, destination: str
) -> None:
    assert send(live_url, **good(destination=destination)) == (400, QUEUE)
    assert stored_count(services) == 0


def test_a_message_longer_than_the_account_allows_fails_to_queue(live_url: str, app: Account) -> None:
    assert send(live_url, **good(content="x" * (153 * 6 + 1))) == (400, QUEUE)


def test_source_is_the_originator(live_url: str, services: Services, app: Account) -> None:
    status, body = send(live_url, **good(source="2580"))
    assert status == 200
    assert stored(services, body).originator == "2580"


def test_without_source_or_mask_the_message_comes_from_the_applications_own_source(
    live_url: str, services: Services, app: Account
) -> None:
    assert stored(services, accepted(live_url, **good())).originator == "4433"


def test_a_source_the_account_may_not_use_fails_to_queue(live_url: str, app: Account) -> None:
    assert send(live_url, **good(source="9999")) == (400, QUEUE)


def test_class_and_source_together_are_refused(live_url: str, services: Services, app: Account) -> None:
    status, body = send(live_url, **good(source="2580", **{"class": "mt_message"}))
    assert status == 400
    assert body.startswith("ERROR Invalid source parameter: source must be used instead of the class parameter")
    assert stored_count(services) == 0


def test_a_configured_mask_is_the_originator(live_url: str, services: Services, app: Account) -> None:
    status, body = send(live_url, **good(mask="ACME", **{"class": "mt_message"}))
    assert status == 200
    view = stored(services, body)
    assert view.originator == "ACME"
    assert row(services, view.id).extras == {"class": "mt_message", "mask": "ACME"}


@pytest.mark.parametrize("mask", ["EVIL", "acme", "far too long a mask"], ids=["unknown", "other-case", "invalid"])
def test_a_mask_not_configured_is_ignored_and_the_message_comes_from_the_applications_source(
    live_url: str, services: Services, app: Account, mask: str
) -> None:
    status, body = send(live_url, **good(mask=mask, **{"class": "mt_message"}))
    assert status == 200
    assert stored(services, body).originator == "4433"
    assert stored_count(services) == 1


def test_a_mask_needs_a_class(live_url: str, app: Account) -> None:
    assert send(live_url, **good(mask="ACME")) == (400, "ERROR Missing class parameter")


def test_reference_of_50_characters_is_the_client_reference(
    live_url: str, services: Services, app: Account
) -> None:
    assert stored(services, accepted(live_url, **good(reference="r" * 50))).client_ref == "r" * 50


def test_reference_over_50_characters_is_refused(live_url: str, services: Services, app: Account) -> None:
    assert send(live_url, **good(reference="r" * 51)) == (
        400, "ERROR Invalid reference parameter: at most 50 characters")
    assert stored_count(services) == 0


def test_expires_is_the_messages_absolute_expiry(live_url: str, services: Services, app: Account) -> None:
    local = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).astimezone(timezone(timedelta(hours=12)))
    body = accepted(live_url, **good(expires=local.isoformat()))
    assert stored(services, body).expires_at == local


def test_an_expiry_more_than_a_year_ahead_is_refused(live_url: str, services: Services, app: Account) -> None:
    assert send(live_url, **good(expires="2099-05-05T10:00:00+12:00")) == (
        400, "ERROR Invalid expires parameter: validity longer than 366 days")


@pytest.mark.parametrize("expires", ["2017-05-05 10:00", "tomorrow", "2099-05-05T10:00:00", "2099-13-05T10:00:00Z",
                                     "2017-05-05T10:00:00+12:00"],
                         ids=["no-seconds", "words", "no-offset", "month-13", "passed"])
def test_a_malformed_or_passed_expiry_is_refused(
    live_url: str, services: Services, app: Account, expires: str
) -> None:
    status, body = send(live_url, **good(expires=expires))
    assert status == 400
    assert body.startswith("ERROR Invalid expires parameter: ")
    assert stored_count(services) == 0


@pytest.mark.parametrize("version", ["3", "0", "v2", "2.0"])
def test_an_unknown_version_is_refused_with_400(live_url: str, app: Account, version: str) -> None:
    assert send(live_url, **good(version=version)) == (400, "ERROR Invalid version parameter: 1 or 2")


def test_a_parameter_given_twice_with_different_values_is_refused(live_url: str, app: Account) -> None:
    status, body, _ = call(live_url, urlencode(good()) + "&destination=%2B61414123456")
    assert (status, body) == (400, "ERROR Invalid destination parameter: given more than once with different values")
    status, body, _ = call(live_url, urlencode(good()) + "&destination=%2B64211234567")
    assert status == 200


def test_unknown_parameters_are_ignored(live_url: str, app: Account) -> None:
    assert send(live_url, **good(customer="acme", scheduled="2099-01-01T00:00:00Z"))[0] == 200


def test_a_form_post_sends_like_a_get(live_url: str, services: Services, app: Account) -> None:
    status, body, _ = call(live_url, "", "POST", urlencode(good(content="Héllo wörld")).encode(),
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert stored(services, body).text == "Héllo wörld"


def test_a_post_body_that_is_not_a_form_is_refused(live_url: str, services: Services, app: Account) -> None:
    status, body, _ = call(live_url, "version=2", "POST", b'{"application": "example_app"}',
                           {"Content-Type": "application/json"})
    assert status == 400
    assert body.startswith("ERROR Invalid request body")
    assert stored_count(services) == 0


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE"])
def test_other_methods_are_not_allowed_and_send_nothing(
    live_url: str, services: Services, app: Account, method: str
) -> None:
    status, _, response = call(live_url, urlencode(good()), method)
    assert status == 405
    assert set(response.getheader("Allow", "").replace(" ", "").split(",")) >= {"GET", "POST"}
    assert stored_count(services) == 0


@pytest.mark.slow
def test_one_persistent_connection_serves_many_requests(served_url: str, services: Services, app: Account) -> None:
    url = urlsplit(served_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    replies = []
    try:
        for i in range(5):
            fields = good(content=f"message {i}", **({"password": "wrong"} if i == 2 else {}))
            conn.request("GET", "/message?" + urlencode(fields))
            response = conn.getresponse()
            replies.append((response.status, response.read().decode(), conn.sock.getsockname() if conn.sock else None))
    finally:
        conn.close()
    assert replies[2][:2] == (401, AUTH)
    assert len({local for _, _, local in replies}) == 1 and replies[0][2] is not None  # one TCP connection
    assert [stored(services, body).text for status, body, _ in replies if status == 200] == [
        f"message {i}" for i in (0, 1, 3, 4)]


def test_version_1_errors_stay_500_as_the_vendor_documents(live_url: str, app: Account) -> None:
    assert call(live_url, "")[:2] == (500, AUTH)


@pytest.mark.parametrize("query", [
    "version=2", "application=example_app&password=example_pass&version=2&content=%FF%FE&destination=%2B",
    "application=example_app&password=example_pass&version=2&content=a&destination=%00",
    "application=example_app&password=example_pass&version=2&content=%F0%9F%98%80&destination=%2B64211234567",
    "application=%ZZ&password&version=2", "&&&=&version=2", "version=2&expires=9999-12-31T23:59:60%2B14:00",
])
def test_nothing_a_client_sends_to_version_2_produces_a_500(live_url: str, app: Account, query: str) -> None:
    status, body, _ = call(live_url, query)
    assert status < 500
    assert body.startswith("ERROR ") or body.isdigit()


def test_an_unencoded_plus_in_destination_still_reads_as_international(
    live_url: str, services: Services, app: Account
) -> None:
    status, body, _ = call(live_url, "application=example_app&password=example_pass&content=hi"
                                     "&destination=+64211234567&version=2")
    assert status == 200, body
    assert stored(services, body).recipient == "+64211234567"
