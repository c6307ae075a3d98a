"""Modica's callbacks: the GET requests of its HTTPS API v2 seed (DLR and MO callbacks) and its 2xx acknowledgement."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from smsgw.domain.encoding import Encoding
from smsgw.domain.model import Account, Inbound, MessageView, ReportItem, ReportKind, Status
from smsgw.reports.callback import Answer, Callback, Format
from smsgw.reports.formats.modica import MODICA, STATUS_WORDS
from smsgw.reports.formats.query import with_query

ACCOUNT = Account(id=7, name="acme", password_hash="x", report_format="modica")
T = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
DLR_URL = "https://your-server.example.com/receiveStatus"
MO_URL = "https://your-server.example.com/receiveMessage"
MODICA_WORDS = {"failed", "sent", "frozen", "dead", "received", "submitted", "rejected", "expired"}


def view(message_id: int = 54321, client_ref: str | None = None, status: Status = Status.DELIVERED) -> MessageView:
    return MessageView(id=message_id, account_id=7, recipient="+642741234567", originator="4433", originator_type=None,
                       status=status, encoding=Encoding.GSM7, parts=1, batch_ref="b", client_ref=client_ref,
                       created_at=T, updated_at=T, due_at=T, expires_at=T, error_code=None, text="hi", payload=None)


def dr(status: Status = Status.DELIVERED, client_ref: str | None = None, report_id: int = 900) -> ReportItem:
    return ReportItem(id=report_id, kind=ReportKind.DR, created_at=T, message=view(client_ref=client_ref),
                      status=status)


def mo(text: str | None = "Message content here", payload: bytes | None = None, encoding: Encoding = Encoding.GSM7,
       operator: str | None = "Telecom_NZ", reply_to: int | None = None, message: MessageView | None = None,
       ) -> ReportItem:
    inbound = Inbound(id=12345, account_id=7, originator="+642741234567", destination="4433", text=text,
                      payload=payload, encoding=encoding, keyword=None, received_at=T, operator=operator,
                      reply_to=reply_to)
    return ReportItem(id=901, kind=ReportKind.MO, created_at=T, inbound=inbound, message=message)


def one(kind: ReportKind, item: ReportItem, url: str) -> Callback:
    [callback] = MODICA.callbacks(ACCOUNT, url, kind, [item])
    assert callback.method == "GET"
    assert callback.body is None
    assert callback.report_ids == (item.id,)
    return callback


def query(callback: Callback) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(callback.url).query, keep_blank_values=True)


def test_satisfies_the_format_contract() -> None:
    fmt: Format = MODICA
    assert (fmt.name, fmt.batched) == ("modica", False)


def test_dr_is_the_seeds_example() -> None:
    callback = one(ReportKind.DR, dr(), DLR_URL)
    assert callback.url == "https://your-server.example.com/receiveStatus?id=54321&status=received"


def test_dr_carries_the_reference_only_when_the_message_had_one() -> None:
    assert query(one(ReportKind.DR, dr(client_ref="order 7/ø"), DLR_URL)) == [
        ("id", "54321"), ("status", "received"), ("reference", "order 7/ø")]
    assert "reference" not in dict(query(one(ReportKind.DR, dr(client_ref=""), DLR_URL)))


@pytest.mark.parametrize(("status", "word"), [
    (Status.SUBMITTED, "submitted"),
    (Status.BUFFERED, "sent"),
    (Status.DELIVERED, "received"),
    (Status.UNDELIVERABLE, "rejected"),
    (Status.REJECTED, "rejected"),
    (Status.EXPIRED, "expired"),
    (Status.FAILED, "failed"),
    (Status.CANCELLED, "dead"),
])
def test_dr_status_words(status: Status, word: str) -> None:
    assert dict(query(one(ReportKind.DR, dr(status), DLR_URL)))["status"] == word


def test_every_status_has_a_modica_word() -> None:
    assert set(STATUS_WORDS) == set(Status)
    assert set(STATUS_WORDS.values()) <= MODICA_WORDS


def test_dr_without_a_reported_status_uses_the_messages() -> None:
    item = ReportItem(id=1, kind=ReportKind.DR, created_at=T, message=view(status=Status.EXPIRED))
    assert dict(query(one(ReportKind.DR, item, DLR_URL)))["status"] == "expired"


def test_dr_without_its_message_is_refused() -> None:
    with pytest.raises(ValueError, match="report 3"):
        MODICA.callbacks(ACCOUNT, DLR_URL, ReportKind.DR, [ReportItem(id=3, kind=ReportKind.DR, created_at=T)])


def test_one_callback_per_item_in_order() -> None:
    callbacks = MODICA.callbacks(ACCOUNT, DLR_URL, ReportKind.DR, [dr(report_id=5), dr(report_id=4)])
    assert [c.report_ids for c in callbacks] == [(5,), (4,)]


def test_mo_is_the_seeds_example() -> None:
    callback = one(ReportKind.MO, mo(), MO_URL)
    assert callback.url == ("https://your-server.example.com/receiveMessage?id=12345&source=%2B642741234567"
                            "&destination=4433&content=Message+content+here&operator=Telecom_NZ")


def test_mo_operator_is_always_sent() -> None:
    assert dict(query(one(ReportKind.MO, mo(operator=None), MO_URL)))["operator"] == ""


def test_mo_unicode_text_is_utf8() -> None:
    callback = one(ReportKind.MO, mo(text="Kia ora — 你好", encoding=Encoding.UCS2), MO_URL)
    assert "content=Kia+ora+%E2%80%94+%E4%BD%A0%E5%A5%BD" in callback.url
    params = dict(query(callback))
    assert params["content"] == "Kia ora — 你好"
    assert "encoding" not in params  # only binary content says how it is encoded


def test_mo_binary_is_base64() -> None:
    payload = bytes(range(256))
    params = dict(query(one(ReportKind.MO, mo(text=None, payload=payload, encoding=Encoding.BINARY), MO_URL)))
    assert params["encoding"] == "base64"
    assert base64.b64decode(params["content"]) == payload


def test_mo_reply_carries_the_mt_id_and_its_reference() -> None:
    # The outbox's promise: for an MO answering an MT, item.message is that MT.
    item = mo(reply_to=54321, message=view(54321, client_ref="ref-1"))
    params = query(one(ReportKind.MO, item, MO_URL))
    assert params[-2:] == [("reply_to", "54321"), ("reference", "ref-1")]


def test_mo_reply_to_an_mt_without_reference() -> None:
    params = dict(query(one(ReportKind.MO, mo(reply_to=54321, message=view(54321)), MO_URL)))
    assert params["reply_to"] == "54321"
    assert "reference" not in params


def test_mo_reply_without_the_mt_or_with_another_mt_has_no_reference() -> None:
    for item in (mo(reply_to=54321), mo(reply_to=54321, message=view(999, client_ref="other"))):
        params = dict(query(one(ReportKind.MO, item, MO_URL)))
        assert params["reply_to"] == "54321"
        assert "reference" not in params


def test_mo_not_a_reply_has_neither() -> None:
    params = dict(query(one(ReportKind.MO, mo(message=view(client_ref="ref-1")), MO_URL)))
    assert "reply_to" not in params
    assert "reference" not in params


def test_url_with_a_query_and_credentials_is_kept() -> None:
    url = "https://bob:s3cr%40t@example.com:8443/cb?app=sms&x=1"
    callback = one(ReportKind.DR, dr(), url)
    assert callback.url == url + "&id=54321&status=received"


@pytest.mark.parametrize(("url", "expected"), [
    ("http://h/p", "http://h/p?a=1+2"),
    ("http://h/p?", "http://h/p?a=1+2"),
    ("http://h/p?k=v&", "http://h/p?k=v&a=1+2"),
    ("http://h/p?k=v", "http://h/p?k=v&a=1+2"),
    ("http://h/p?k=v#top", "http://h/p?k=v&a=1+2#top"),
])
def test_with_query(url: str, expected: str) -> None:
    assert with_query(url, [("a", "1 2")]) == expected


@pytest.mark.parametrize(("status", "ok"), [(200, True), (201, True), (204, True), (299, True), (199, False),
                                            (300, False), (400, False), (500, False)])
def test_any_2xx_acknowledges(status: int, ok: bool) -> None:
    for kind in ReportKind:
        assert MODICA.acknowledged(kind, Answer(status, b"")) is ok


def test_no_replies() -> None:
    assert MODICA.replies(ReportKind.MO, Answer(200, b"thanks")) == []
