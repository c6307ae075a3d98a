"""Puzzel's callback formats: DR and MO fields, the JSON, XML and GET shapes, and what acknowledges a callback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
from lxml import etree

from smsgw.dialects.puzzel.codes import message_id
from smsgw.domain.encoding import Encoding
from smsgw.domain.model import Account, Inbound, MessageView, ReportItem, ReportKind, Status
from smsgw.reports.callback import Answer, Callback, Format
from smsgw.reports.formats.puzzel import PUZZEL_GET, PUZZEL_JSON, PUZZEL_XML, STATUS_CODES

ACCOUNT = Account(id=1000, name="Acme Alerts", password_hash="-")
NOW = datetime(2014, 2, 6, 11, 45, 33, tzinfo=UTC)
MT_ID = 1_234_567_890_123_456_789
MO_ID = 987_654_321_987_654_321

DR_KEYS = ["messageid", "customerbatchreference", "customermessagereference", "serviceid", "servicename", "mcc", "mnc",
           "statuscode", "statusdescription", "extstatuscode", "extstatusdescription", "type"]
MO_KEYS = ["messageid", "sno", "command", "content", "strippedcontent", "timestamp", "sctimestamp", "serviceid",
           "servicename", "originator", "mcc", "mnc", "sessionid", "type"]

# The templates of the reference (§3.3, §4.1), on a customer's host.
DR_TEMPLATE = (
    "https://customer.example/dr?messageid=[messageid]&statuscode=[statuscode]&statusdescription=[statusdescription]"
    "&extstatuscode=[extstatuscode]&extstatusdescription=[extstatusdescription]"
    "&customerMessageReference=[customermessagereference]&customerBatchReference=[customerbatchreference]"
    "&serviceid=[serviceid]&servicename=[servicename]&mcc=[mcc]&mnc=[mnc]&type=[type]"
)
MO_TEMPLATE = (
    "https://customer.example/incomingaction?messageid=[messageid]&sno=[sno]&commandtype=[commandtype]"
    "&command=[command]&content=[content]&timestamp=[timestamp]&sctimestamp=[sctimestamp]&serviceid=[serviceid]"
    "&originator=[originator]&mcc=[mcc]&mnc=[mnc]&sessionid=[sessionId]&type=[type]&servicename=[servicename]"
)


def view(id: int = MT_ID, client_ref: str | None = "order-17", status: Status = Status.DELIVERED) -> MessageView:
    return MessageView(id=id, account_id=ACCOUNT.id, recipient="+4741000000", originator="Acme", originator_type=None,
                       status=status, encoding=Encoding.GSM7, parts=1, batch_ref="batch-1", client_ref=client_ref,
                       created_at=NOW, updated_at=NOW, due_at=NOW, expires_at=NOW + timedelta(days=1),
                       error_code=None, text="Hello", payload=None)


def dr(report_id: int = 1, status: Status = Status.DELIVERED, error_code: str | None = None,
       message: MessageView | None = None) -> ReportItem:
    return ReportItem(id=report_id, kind=ReportKind.DR, created_at=NOW, message=message or view(status=status),
                      status=status, error_code=error_code)


def inbound(id: int = MO_ID, text: str | None = "TLF  Kari Nordmann", keyword: str | None = "TLF",
            payload: bytes | None = None, enc: Encoding = Encoding.GSM7, reply_to: int | None = None,
            received_at: datetime = NOW) -> Inbound:
    return Inbound(id=id, account_id=ACCOUNT.id, originator="+4799999999", destination="1960", text=text,
                   payload=payload, encoding=enc, keyword=keyword, received_at=received_at, reply_to=reply_to)


def mo(report_id: int = 1, **kwargs: object) -> ReportItem:
    return ReportItem(id=report_id, kind=ReportKind.MO, created_at=NOW, inbound=inbound(**kwargs))  # type: ignore[arg-type]


def one(callbacks: list[Callback]) -> Callback:
    assert len(callbacks) == 1
    return callbacks[0]


def json_reports(kind: ReportKind, *items: ReportItem) -> list[dict[str, object]]:
    callback = one(PUZZEL_JSON.callbacks(ACCOUNT, "https://customer.example/cb", kind, items))
    assert callback.body is not None
    document = json.loads(callback.body.decode("utf-8"))
    assert list(document) == [kind.value]
    reports: list[dict[str, object]] = document[kind.value]
    return reports


def xml_reports(kind: ReportKind, *items: ReportItem) -> list[etree._Element]:
    callback = one(PUZZEL_XML.callbacks(ACCOUNT, "https://customer.example/cb", kind, items))
    assert callback.body is not None
    root = etree.fromstring(callback.body)
    assert root.tag == kind.value
    assert [m.tag for m in root] == ["message"] * len(items)
    return list(root)


def get_query(template: str, kind: ReportKind, item: ReportItem) -> list[tuple[str, str]]:
    callback = one(PUZZEL_GET.callbacks(ACCOUNT, template, kind, [item]))
    assert (callback.method, callback.body, callback.report_ids) == ("GET", None, (item.id,))
    return parse_qsl(urlsplit(callback.url).query, keep_blank_values=True)


# --- the three formats ----------------------------------------------------------------------------------------------


def test_names_and_batching() -> None:
    assert (PUZZEL_JSON.name, PUZZEL_XML.name, PUZZEL_GET.name) == ("puzzel-json", "puzzel-xml", "puzzel-get")
    assert (PUZZEL_JSON.batched, PUZZEL_XML.batched, PUZZEL_GET.batched) == (True, True, False)


@pytest.mark.parametrize("fmt", [PUZZEL_JSON, PUZZEL_XML, PUZZEL_GET])
def test_nothing_to_send_makes_no_request(fmt: Format) -> None:
    assert fmt.callbacks(ACCOUNT, "https://customer.example/cb", ReportKind.DR, []) == []


@pytest.mark.parametrize(("fmt", "content_type"), [(PUZZEL_JSON, "application/json; charset=utf-8"),
                                                   (PUZZEL_XML, "application/xml; charset=utf-8")])
@pytest.mark.parametrize("kind", list(ReportKind))
def test_rest_formats_send_every_item_in_one_post(fmt: Format, content_type: str, kind: ReportKind) -> None:
    items = [dr(7), dr(3), dr(9)] if kind is ReportKind.DR else [mo(7), mo(3), mo(9)]
    callback = one(fmt.callbacks(ACCOUNT, "https://u:p@customer.example/cb?key=1", kind, items))
    assert callback.method == "POST"
    assert callback.url == "https://u:p@customer.example/cb?key=1"  # unchanged: the body carries everything
    assert callback.report_ids == (7, 3, 9)
    assert dict(callback.headers) == {"Content-Type": content_type}


def test_get_sends_one_request_per_item_in_order() -> None:
    callbacks = PUZZEL_GET.callbacks(ACCOUNT, DR_TEMPLATE, ReportKind.DR, [dr(5), dr(2)])
    assert [(c.method, c.report_ids, c.body) for c in callbacks] == [("GET", (5,), None), ("GET", (2,), None)]


# --- DR fields ------------------------------------------------------------------------------------------------------


def test_json_dr_has_exactly_puzzels_lower_case_keys_in_order() -> None:
    [report] = json_reports(ReportKind.DR, dr())
    assert list(report) == DR_KEYS
    assert all(key == key.lower() for key in report)
    assert report == {
        "messageid": message_id(MT_ID),
        "customerbatchreference": "batch-1",
        "customermessagereference": "order-17",
        "serviceid": 1000,
        "servicename": "Acme Alerts",
        "mcc": None,
        "mnc": None,
        "statuscode": 0,
        "statusdescription": "OK. Message processed successfully.",
        "extstatuscode": "0",
        "extstatusdescription": "Delivered",
        "type": 6,
    }


def test_json_dr_batch_keeps_item_order() -> None:
    first, second = view(id=11, client_ref=None), view(id=12, status=Status.EXPIRED)
    reports = json_reports(ReportKind.DR, dr(1, message=first), dr(2, Status.EXPIRED, message=second))
    assert [r["messageid"] for r in reports] == [message_id(11), message_id(12)]
    assert [r["customermessagereference"] for r in reports] == ["", "order-17"]
    assert [r["statuscode"] for r in reports] == [0, 361]


def test_message_ids_are_puzzels_base36() -> None:
    [report] = json_reports(ReportKind.DR, dr())
    assert isinstance(report["messageid"], str)
    assert report["messageid"] == report["messageid"].lower()
    assert int(report["messageid"], 36) == MT_ID


@pytest.mark.parametrize(
    ("status", "code", "ext_description"),
    [
        (Status.DELIVERED, 0, "Delivered"),
        (Status.UNDELIVERABLE, 351, "Undeliverable"),
        (Status.EXPIRED, 361, "Expired"),
        (Status.REJECTED, 363, "Rejected"),
        (Status.FAILED, 371, "Failed"),
        (Status.CANCELLED, 371, "Cancelled"),
        (Status.SUBMITTED, 1, "Submitted"),
        (Status.BUFFERED, 1, "Buffered"),
    ],
)
def test_status_codes(status: Status, code: int, ext_description: str) -> None:
    [report] = json_reports(ReportKind.DR, dr(status=status))
    assert report["statuscode"] == code
    assert report["statusdescription"] == STATUS_CODES[status][1]
    assert report["extstatusdescription"] == ext_description
    assert report["extstatuscode"] == ("0" if status is Status.DELIVERED else "")


def test_every_status_has_a_code_and_only_delivered_is_zero() -> None:
    assert set(STATUS_CODES) == set(Status)
    assert [s for s, (code, _) in STATUS_CODES.items() if code == 0] == [Status.DELIVERED]
    assert all(code == 1 for s, (code, _) in STATUS_CODES.items() if not s.final)


def test_the_network_code_is_the_ext_status_code() -> None:
    [undelivered, delivered] = json_reports(ReportKind.DR, dr(1, Status.UNDELIVERABLE, "0x0b"),
                                            dr(2, Status.DELIVERED, "000"))
    assert (undelivered["statuscode"], undelivered["extstatuscode"]) == (351, "0x0b")
    assert (delivered["statuscode"], delivered["extstatuscode"]) == (0, "000")


@pytest.mark.parametrize(("status", "error", "code"), [(Status.REJECTED, "no route", 651),
                                                       (Status.FAILED, "encoding", 653),
                                                       (Status.FAILED, "retries exhausted", 371),
                                                       (Status.DELIVERED, "no route", 0)])
def test_our_own_error_codes_pick_a_closer_status_code(status: Status, error: str, code: int) -> None:
    [report] = json_reports(ReportKind.DR, dr(status=status, error_code=error))
    assert (report["statuscode"], report["extstatuscode"]) == (code, error)


def test_a_dr_without_its_status_reports_the_messages_status() -> None:
    item = ReportItem(id=1, kind=ReportKind.DR, created_at=NOW, message=view(status=Status.EXPIRED))
    [report] = json_reports(ReportKind.DR, item)
    assert report["statuscode"] == 361


def test_json_is_utf8_and_not_ascii_escaped() -> None:
    callback = one(PUZZEL_JSON.callbacks(ACCOUNT, "https://customer.example/cb", ReportKind.MO,
                                         [mo(text="Blåbær & <ost>", keyword=None)]))
    assert callback.body is not None
    assert "Blåbær & <ost>".encode() in callback.body


def test_xml_dr_elements_in_order_with_empty_elements() -> None:
    callback = one(PUZZEL_XML.callbacks(ACCOUNT, "https://customer.example/cb", ReportKind.DR,
                                        [dr(1, message=view(client_ref=None))]))
    assert callback.body is not None
    assert callback.body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b"<customermessagereference/>" in callback.body
    assert b"<mcc/><mnc/>" in callback.body
    [message] = xml_reports(ReportKind.DR, dr(1, message=view(client_ref=None)))
    assert [child.tag for child in message] == DR_KEYS
    assert all(len(child) == 0 for child in message)
    assert {child.tag: child.text for child in message} == {
        "messageid": message_id(MT_ID),
        "customerbatchreference": "batch-1",
        "customermessagereference": None,
        "serviceid": "1000",
        "servicename": "Acme Alerts",
        "mcc": None,
        "mnc": None,
        "statuscode": "0",
        "statusdescription": "OK. Message processed successfully.",
        "extstatuscode": "0",
        "extstatusdescription": "Delivered",
        "type": "6",
    }


def test_xml_batch_carries_one_message_per_item_in_order() -> None:
    messages = xml_reports(ReportKind.DR, dr(1, message=view(id=21)), dr(2, Status.REJECTED, message=view(id=22)))
    assert [m.findtext("messageid") for m in messages] == [message_id(21), message_id(22)]
    assert [m.findtext("statuscode") for m in messages] == ["0", "363"]


def test_dr_get_template_from_the_reference() -> None:
    query = get_query(DR_TEMPLATE, ReportKind.DR, dr(status=Status.EXPIRED, error_code="27"))
    assert query == [
        ("messageid", message_id(MT_ID)),
        ("statuscode", "361"),
        ("statusdescription", "Validity period expired before delivery"),
        ("extstatuscode", "27"),
        ("extstatusdescription", "Expired"),
        ("customerMessageReference", "order-17"),
        ("customerBatchReference", "batch-1"),
        ("serviceid", "1000"),
        ("servicename", "Acme Alerts"),
        ("mcc", ""),
        ("mnc", ""),
        ("type", "6"),
    ]


def test_get_values_are_url_encoded() -> None:
    item = dr(message=view(client_ref="a&b=c d+é/?#"))
    callback = one(PUZZEL_GET.callbacks(ACCOUNT, "https://customer.example/dr?ref=[customermessagereference]",
                                        ReportKind.DR, [item]))
    assert callback.url == "https://customer.example/dr?ref=a%26b%3Dc%20d%2B%C3%A9%2F%3F%23"
    assert parse_qsl(urlsplit(callback.url).query) == [("ref", "a&b=c d+é/?#")]


def test_get_placeholders_ignore_case_and_unknown_ones_are_empty() -> None:
    template = "https://customer.example/dr/[MessageId]?s=[STATUSCODE]&x=[nosuchfield]&o=[originator]&k=fixed"
    callback = one(PUZZEL_GET.callbacks(ACCOUNT, template, ReportKind.DR, [dr()]))
    assert callback.url == f"https://customer.example/dr/{message_id(MT_ID)}?s=0&x=&o=Acme&k=fixed"


def test_get_leaves_an_ipv6_host_alone() -> None:
    callback = one(PUZZEL_GET.callbacks(ACCOUNT, "http://[::1]:8080/dr?id=[messageid]", ReportKind.DR, [dr()]))
    assert callback.url == f"http://[::1]:8080/dr?id={message_id(MT_ID)}"


def test_get_without_placeholders_appends_every_field() -> None:
    callback = one(PUZZEL_GET.callbacks(ACCOUNT, "https://u:p@customer.example/dr?key=s3cret", ReportKind.DR, [dr()]))
    assert callback.url.startswith("https://u:p@customer.example/dr?key=s3cret&messageid=")
    query = parse_qsl(urlsplit(callback.url).query, keep_blank_values=True)
    assert [k for k, _ in query] == ["key", *DR_KEYS]
    assert dict(query)["servicename"] == "Acme Alerts"


# --- MO fields ------------------------------------------------------------------------------------------------------


def test_json_mo_has_exactly_puzzels_lower_case_keys_in_order() -> None:
    [report] = json_reports(ReportKind.MO, mo())
    assert list(report) == MO_KEYS
    assert all(key == key.lower() for key in report)
    assert report == {
        "messageid": message_id(MO_ID),
        "sno": "1960",
        "command": "TLF",
        "content": "TLF  Kari Nordmann",
        "strippedcontent": "Kari Nordmann",
        "timestamp": "20140206 11:45:33",
        "sctimestamp": "20140206 11:45:33",
        "serviceid": 1000,
        "servicename": "Acme Alerts",
        "originator": "+4799999999",
        "mcc": None,
        "mnc": None,
        "sessionid": "",
        "type": 1,
    }
    assert int(str(report["messageid"]), 36) == MO_ID


def test_mo_answering_an_mt_names_it_as_the_session() -> None:
    [report] = json_reports(ReportKind.MO, mo(reply_to=MT_ID))
    assert report["sessionid"] == message_id(MT_ID)


def test_binary_mo_content_is_upper_case_hex() -> None:
    item = mo(text=None, keyword=None, payload=b"\x05\x00\x03\xab\xcd", enc=Encoding.BINARY)
    [report] = json_reports(ReportKind.MO, item)
    assert (report["content"], report["strippedcontent"], report["command"]) == ("050003ABCD", "050003ABCD", "")


@pytest.mark.parametrize(
    ("text", "keyword", "stripped"),
    [
        ("TLF  Kari Nordmann", "TLF", "Kari Nordmann"),
        ("  tlf Kari", "TLF", "Kari"),  # the keyword is stored upper case; the text keeps its case
        ("TLF", "TLF", ""),
        ("TLF,Kari", "TLF", ",Kari"),
        ("Hello there", None, "Hello there"),
        ("TLFX Kari", "TLF", "TLFX Kari"),  # not the keyword: nothing is stripped
        ("Blåbær", "BLÅBÆR", ""),
        ("", None, ""),
    ],
)
def test_stripped_content(text: str, keyword: str | None, stripped: str) -> None:
    [report] = json_reports(ReportKind.MO, mo(text=text, keyword=keyword))
    assert (report["content"], report["command"], report["strippedcontent"]) == (text, keyword or "", stripped)


def test_mo_timestamps_are_utc() -> None:
    oslo = timezone(timedelta(hours=1))
    [report] = json_reports(ReportKind.MO, mo(received_at=datetime(2014, 2, 6, 0, 30, 5, tzinfo=oslo)))
    assert (report["timestamp"], report["sctimestamp"]) == ("20140205 23:30:05", "20140205 23:30:05")


def test_xml_mo_elements_in_order_and_an_empty_session() -> None:
    callback = one(PUZZEL_XML.callbacks(ACCOUNT, "https://customer.example/mo", ReportKind.MO,
                                        [mo(1), mo(2, text="TLF <b>&amp;", reply_to=MT_ID)]))
    assert callback.body is not None
    assert b"<sessionid/>" in callback.body
    first, second = xml_reports(ReportKind.MO, mo(1), mo(2, text="TLF <b>&amp;", reply_to=MT_ID))
    assert [child.tag for child in first] == MO_KEYS
    assert {child.tag: child.text for child in first} == {
        "messageid": message_id(MO_ID),
        "sno": "1960",
        "command": "TLF",
        "content": "TLF  Kari Nordmann",
        "strippedcontent": "Kari Nordmann",
        "timestamp": "20140206 11:45:33",
        "sctimestamp": "20140206 11:45:33",
        "serviceid": "1000",
        "servicename": "Acme Alerts",
        "originator": "+4799999999",
        "mcc": None,
        "mnc": None,
        "sessionid": None,
        "type": "1",
    }
    assert (second.findtext("content"), second.findtext("strippedcontent")) == ("TLF <b>&amp;", "<b>&amp;")
    assert second.findtext("sessionid") == message_id(MT_ID)


def test_xml_replaces_characters_xml_cannot_carry() -> None:
    [message] = xml_reports(ReportKind.MO, mo(text="a\x00b", keyword=None))
    assert message.findtext("content") == "a\ufffdb"


def test_mo_get_template_from_the_reference() -> None:
    query = get_query(MO_TEMPLATE, ReportKind.MO, mo(reply_to=MT_ID))
    assert query == [
        ("messageid", message_id(MO_ID)),
        ("sno", "1960"),
        ("commandtype", ""),
        ("command", "TLF"),
        ("content", "TLF  Kari Nordmann"),
        ("timestamp", "20140206 11:45:33"),
        ("sctimestamp", "20140206 11:45:33"),
        ("serviceid", "1000"),
        ("originator", "+4799999999"),
        ("mcc", ""),
        ("mnc", ""),
        ("sessionid", message_id(MT_ID)),  # the template writes [sessionId]
        ("type", "1"),
        ("servicename", "Acme Alerts"),
    ]
    url = one(PUZZEL_GET.callbacks(ACCOUNT, MO_TEMPLATE, ReportKind.MO, [mo()])).url
    assert "originator=%2B4799999999" in url  # "+" would read as a space
    assert "&sessionid=&" in url


def test_a_report_without_its_message_is_an_error() -> None:
    with pytest.raises(ValueError, match="report 4"):
        PUZZEL_JSON.callbacks(ACCOUNT, "https://customer.example/cb", ReportKind.DR,
                              [ReportItem(id=4, kind=ReportKind.DR, created_at=NOW)])
    with pytest.raises(ValueError, match="report 5"):
        PUZZEL_GET.callbacks(ACCOUNT, MO_TEMPLATE, ReportKind.MO,
                             [ReportItem(id=5, kind=ReportKind.MO, created_at=NOW)])


# --- acknowledgement ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [PUZZEL_JSON, PUZZEL_XML, PUZZEL_GET])
@pytest.mark.parametrize("kind", list(ReportKind))
@pytest.mark.parametrize(("status", "settled"), [(200, True), (201, False), (202, False), (204, False),
                                                 (302, False), (404, False), (500, False)])
def test_only_200_acknowledges(fmt: Format, kind: ReportKind, status: int, settled: bool) -> None:
    answer = Answer(status, b"Hello back")
    assert fmt.acknowledged(kind, answer) is settled
    assert fmt.replies(kind, answer) == []
