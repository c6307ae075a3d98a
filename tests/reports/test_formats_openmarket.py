"""OpenMarket UK's callbacks: the documented DR and MO GET requests, London dates, reason codes, and the
200-with-a-body acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from smsgw.domain.encoding import Encoding
from smsgw.domain.model import Account, Inbound, MessageView, ReportItem, ReportKind, Status
from smsgw.reports.callback import Answer, Callback, Format
from smsgw.reports.formats.openmarket import OPENMARKET, STATUS_WORDS

ACCOUNT = Account(id=7, name="acme", password_hash="x", report_format="openmarket")
SUMMER = datetime(2002, 4, 30, 20, 58, tzinfo=UTC)  # 21:58 BST
WINTER = datetime(2010, 1, 30, 21, 58, tzinfo=UTC)  # 21:58 GMT
URL = "https://yourplatform.com/drpt.cgi"


def view(originator: str | None = "58870") -> MessageView:
    return MessageView(id=17218733, account_id=7, recipient="+447700900750", originator=originator,
                       originator_type=None, status=Status.DELIVERED, encoding=Encoding.GSM7, parts=1, batch_ref="b",
                       client_ref=None, created_at=SUMMER, updated_at=SUMMER, due_at=SUMMER, expires_at=SUMMER,
                       error_code=None, text="hi", payload=None)


def dr(status: Status = Status.DELIVERED, originator: str | None = "58870", at: datetime = SUMMER) -> ReportItem:
    return ReportItem(id=17221293, kind=ReportKind.DR, created_at=at, message=view(originator), status=status)


def mo(text: str | None = "Hello World", payload: bytes | None = None, encoding: Encoding = Encoding.GSM7,
       operator: str | None = None, at: datetime = SUMMER) -> ReportItem:
    inbound = Inbound(id=4172212931, account_id=7, originator="+447700900765", destination="58870", text=text,
                      payload=payload, encoding=encoding, keyword=None, received_at=at, operator=operator)
    return ReportItem(id=1, kind=ReportKind.MO, created_at=at, inbound=inbound)


def one(kind: ReportKind, item: ReportItem, url: str = URL) -> Callback:
    [callback] = OPENMARKET.callbacks(ACCOUNT, url, kind, [item])
    assert (callback.method, callback.body, callback.report_ids) == ("GET", None, (item.id,))
    return callback


def params(callback: Callback) -> dict[str, str]:
    pairs = parse_qsl(urlsplit(callback.url).query, keep_blank_values=True)
    assert len(pairs) == len(dict(pairs))
    return dict(pairs)


def test_satisfies_the_format_contract() -> None:
    fmt: Format = OPENMARKET
    assert (fmt.name, fmt.batched) == ("openmarket", False)


def test_dr_is_the_documented_example_but_for_the_reason_bytes() -> None:
    # The doc's reason 1359151616 is 0x51030200: type 5 (DELIVERED); we know no reason bytes, so they are 0.
    assert one(ReportKind.DR, dr()).url == (
        "https://yourplatform.com/drpt.cgi?smsfrom=447700900750&smsmsg=REPORT+17218733+DELIVERED&smsto=58870"
        f"&shortcode=58870&smsid=17221293&smsdate=2002-04-30+21%3A58%3A00&reason={0x50000000}")
    assert 1359151616 >> 28 == 0x5


@pytest.mark.parametrize(("status", "word", "nibble"), [
    (Status.SUBMITTED, "BUFFERED", 0x3),
    (Status.BUFFERED, "BUFFERED", 0x3),
    (Status.DELIVERED, "DELIVERED", 0x5),
    (Status.REJECTED, "REJECTED", 0x1),
    (Status.UNDELIVERABLE, "FAILED", None),
    (Status.EXPIRED, "FAILED", None),
    (Status.FAILED, "FAILED", None),
    (Status.CANCELLED, "FAILED", None),
])
def test_dr_status_words_and_reason_types(status: Status, word: str, nibble: int | None) -> None:
    got = params(one(ReportKind.DR, dr(status)))
    assert got["smsmsg"] == f"REPORT 17218733 {word}"
    if nibble is None:
        assert "reason" not in got  # FAILED's type nibble is not public
    else:
        assert int(got["reason"]) == nibble << 28


def test_every_status_has_a_word() -> None:
    assert set(STATUS_WORDS) == set(Status)
    assert set(STATUS_WORDS.values()) == {"DELIVERED", "BUFFERED", "FAILED", "REJECTED"}


def test_dr_date_is_london_time_in_winter_too() -> None:
    assert params(one(ReportKind.DR, dr(at=WINTER)))["smsdate"] == "2010-01-30 21:58:00"


def test_dr_without_originator_omits_smsto_and_shortcode() -> None:
    got = params(one(ReportKind.DR, dr(originator=None)))
    assert "smsto" not in got
    assert "shortcode" not in got


def test_dr_numbers_lose_the_plus() -> None:
    got = params(one(ReportKind.DR, dr(originator="+447700900001")))
    assert (got["smsfrom"], got["smsto"], got["shortcode"]) == ("447700900750", "447700900001", "447700900001")


def test_mo_is_the_documented_example_plus_bits() -> None:
    assert one(ReportKind.MO, mo()).url == (
        "https://yourplatform.com/drpt.cgi?smsfrom=447700900765&smsmsg=Hello+World&smsto=58870&smsid=4172212931"
        "&smsdate=2002-04-30+21%3A58%3A00&bits=7")


def test_mo_network_when_known() -> None:
    assert params(one(ReportKind.MO, mo(operator="BTCELLNETUK")))["network"] == "BTCELLNETUK"


def test_mo_ucs2_is_hex_with_a_best_guess_text() -> None:
    got = params(one(ReportKind.MO, mo(text="Привет €", encoding=Encoding.UCS2)))
    assert got["bits"] == "16"
    assert bytes.fromhex(got["smsucs2"]).decode("utf-16-be") == "Привет €"
    assert got["smsucs2"].startswith("041F0440")
    assert got["smsmsg"] == "Привет €"


def test_mo_ucs2_beyond_the_bmp_uses_surrogates() -> None:
    got = params(one(ReportKind.MO, mo(text="😀", encoding=Encoding.UCS2)))
    assert got["smsucs2"] == "D83DDE00"


def test_mo_binary_is_hex_in_smsbin() -> None:
    got = params(one(ReportKind.MO, mo(text=None, payload=b"\x00\xffAB", encoding=Encoding.BINARY)))
    assert (got["smsbin"], got["bits"]) == ("00FF4142", "8")
    assert "smsmsg" not in got


def test_url_with_a_query_and_credentials_is_kept() -> None:
    url = "http://om:pw@example.com/in?src=openmarket"
    callback = one(ReportKind.MO, mo(), url)
    assert callback.url.startswith(url + "&smsfrom=447700900765&")
    assert urlsplit(callback.url).username == "om"


@pytest.mark.parametrize(("status", "body", "ok"), [
    (200, b"OK", True),
    (200, b"0", True),
    (200, b"", False),
    (200, b" \r\n\t", False),
    (201, b"OK", False),
    (204, b"", False),
    (500, b"error", False),
])
def test_acknowledged_by_200_with_a_body(status: int, body: bytes, ok: bool) -> None:
    for kind in ReportKind:
        assert OPENMARKET.acknowledged(kind, Answer(status, body)) is ok


def test_no_replies() -> None:
    assert OPENMARKET.replies(ReportKind.MO, Answer(200, b"thanks")) == []
