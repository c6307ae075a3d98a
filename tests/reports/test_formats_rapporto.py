"""Rapporto's callbacks: the v5 delivery-status and MO GET requests, Moscow dates, what settles each, and MO
replies from a 200 body."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from smsgw.domain.encoding import Encoding
from smsgw.domain.model import Account, Inbound, MessageView, ReportItem, ReportKind, Status
from smsgw.reports.callback import Answer, Callback, Format
from smsgw.reports.formats.rapporto import RAPPORTO, STATUS_NUMBERS

ACCOUNT = Account(id=7, name="login", password_hash="x", report_format="rapporto")
T = datetime(2009, 10, 2, 8, 0, tzinfo=UTC)  # 12:00 in Moscow, on summer time (UTC+4) in 2009
URL = "http://partner.url"


def view(extras: dict[str, str] | None = None, client_ref: str | None = None) -> MessageView:
    return MessageView(id=7986985, account_id=7, recipient="+79161234567", originator="0000", originator_type=None,
                       status=Status.DELIVERED, encoding=Encoding.GSM7, parts=1, batch_ref="b", client_ref=client_ref,
                       created_at=T, updated_at=T, due_at=T, expires_at=T, error_code=None, text="hi", payload=None,
                       extras=extras or {})


def dr(status: Status = Status.DELIVERED, extras: dict[str, str] | None = None,
       client_ref: str | None = None) -> ReportItem:
    return ReportItem(id=3, kind=ReportKind.DR, created_at=T, message=view(extras, client_ref), status=status)


def mo(text: str | None = "testText", payload: bytes | None = None, encoding: Encoding = Encoding.GSM7,
       operator: str | None = "50", at: datetime = T) -> ReportItem:
    inbound = Inbound(id=555, account_id=7, originator="+79161234567", destination="0000", text=text,
                      payload=payload, encoding=encoding, keyword=None, received_at=at, operator=operator)
    return ReportItem(id=4, kind=ReportKind.MO, created_at=at, inbound=inbound)


def one(kind: ReportKind, item: ReportItem, url: str = URL) -> Callback:
    [callback] = RAPPORTO.callbacks(ACCOUNT, url, kind, [item])
    assert (callback.method, callback.body, callback.report_ids) == ("GET", None, (item.id,))
    return callback


def params(callback: Callback) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(callback.url).query, keep_blank_values=True))


def test_satisfies_the_format_contract() -> None:
    fmt: Format = RAPPORTO
    assert (fmt.name, fmt.batched) == ("rapporto", False)


def test_dr_is_the_documented_example() -> None:
    assert one(ReportKind.DR, dr(extras={"ptag": "test"})).url == (
        "http://partner.url?msgType=SMS&transactionId=7986985&ptag=test&status=2")


def test_dr_partner_msg_id_when_given() -> None:
    got = params(one(ReportKind.DR, dr(client_ref="p-1")))
    assert got["partnerMsgId"] == "p-1"
    assert "ptag" not in got
    assert "partnerMsgId" not in params(one(ReportKind.DR, dr()))


@pytest.mark.parametrize(("status", "number"), [
    (Status.SUBMITTED, 0),
    (Status.BUFFERED, 0),
    (Status.DELIVERED, 2),
    (Status.UNDELIVERABLE, 5),
    (Status.EXPIRED, 5),
    (Status.REJECTED, 5),
    (Status.FAILED, 5),
    (Status.CANCELLED, 5),
])
def test_dr_status_numbers(status: Status, number: int) -> None:
    assert params(one(ReportKind.DR, dr(status)))["status"] == str(number)


def test_every_status_has_a_number() -> None:
    assert set(STATUS_NUMBERS) == set(Status)


def test_mo_is_the_documented_example_plus_message_id() -> None:
    assert one(ReportKind.MO, mo()).url == (
        "http://partner.url?clientId=79161234567&message=testText&connectorId=50&serviceId=login"
        "&receivedDate=2009-10-02+12%3A00%3A00&shortNumber=0000&messageId=555")


def test_mo_date_is_moscow_time() -> None:
    assert params(one(ReportKind.MO, mo(at=datetime(2024, 1, 31, 21, 30, tzinfo=UTC))))["receivedDate"] == (
        "2024-02-01 00:30:00")


def test_mo_without_operator_has_no_connector() -> None:
    assert "connectorId" not in params(one(ReportKind.MO, mo(operator=None)))


def test_mo_unicode_text_is_utf8() -> None:
    callback = one(ReportKind.MO, mo(text="Привет", encoding=Encoding.UCS2))
    assert "message=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82&" in callback.url
    assert params(callback)["message"] == "Привет"


def test_mo_binary_is_hex() -> None:
    got = params(one(ReportKind.MO, mo(text=None, payload=b"\x0b\x05\x04\xff", encoding=Encoding.BINARY)))
    assert got["message"] == "0B0504FF"


def test_url_with_a_query_and_credentials_is_kept() -> None:
    url = "https://user:p%26ss@partner.ru/service?key=a+b"
    assert one(ReportKind.DR, dr()).url.startswith("http://partner.url?msgType=SMS")
    assert one(ReportKind.DR, dr(), url).url == url + "&msgType=SMS&transactionId=7986985&status=2"


@pytest.mark.parametrize(("kind", "status", "ok"), [
    (ReportKind.DR, 200, True),
    (ReportKind.DR, 204, False),
    (ReportKind.DR, 201, False),
    (ReportKind.DR, 400, False),
    (ReportKind.DR, 500, False),
    (ReportKind.MO, 200, True),
    (ReportKind.MO, 204, True),
    (ReportKind.MO, 201, False),
    (ReportKind.MO, 400, False),
    (ReportKind.MO, 503, False),
])
def test_acknowledged(kind: ReportKind, status: int, ok: bool) -> None:
    assert RAPPORTO.acknowledged(kind, Answer(status, b"")) is ok


def test_a_200_body_is_one_reply_per_line() -> None:
    body = "Первый\r\n  second  \n\n \nthird\nfourth\n".encode()
    assert RAPPORTO.replies(ReportKind.MO, Answer(200, body)) == ["Первый", "second", "third", "fourth"]


def test_a_bad_utf8_body_is_replaced_not_refused() -> None:
    assert RAPPORTO.replies(ReportKind.MO, Answer(200, b"ok \xff")) == ["ok \ufffd"]


@pytest.mark.parametrize(("kind", "status", "body"), [
    (ReportKind.MO, 204, b""),
    (ReportKind.MO, 200, b""),
    (ReportKind.MO, 200, b" \n\r\n"),
    (ReportKind.MO, 500, b"error"),
    (ReportKind.DR, 200, b"OK"),
])
def test_no_replies(kind: ReportKind, status: int, body: bytes) -> None:
    assert RAPPORTO.replies(kind, Answer(status, body)) == []
