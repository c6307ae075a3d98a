"""The repository's SQL on both databases: account rows, MO routing, message listing, pull-report confirmation."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from sqlalchemy import select

from smsgw.accounts import Accounts
from smsgw.domain.encoding import ParsingType
from smsgw.domain.model import Account, MessageSpec, SubmitRequest
from smsgw.domain.numbers import OriginatorType
from smsgw.gateway import Gateway
from smsgw.store import repository as repo
from smsgw.store.database import Store
from smsgw.store.tables import accounts, reports

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z

# Every field away from its default, tuples with several items, enums that are not the first of their kind.
UNUSUAL = Account(
    id=4_000_000_001,
    name="Ærlig & Co. — 测试",
    password_hash="scrypt$16384$8$1$c2FsdA==$aGFzaA==",
    credential_version=7,
    active=False,
    allowed_networks=("10.0.0.0/8", "2001:db8::/32"),
    trusted_proxies=("192.0.2.1/32",),
    client_address_header="X-Forwarded-For",
    client_cert_header="X-Client-Cert-SHA256",
    client_certs=("ab" * 32, "cd" * 32),
    default_country="SE",
    default_originator="ACME",
    default_originator_type=OriginatorType.ALPHANUMERIC,
    allowed_originators=("ACME", "+46701234567", "1960"),
    max_parts=16,
    parsing_type=ParsingType.SAFE_REMOVE_NON_GSM_WITH_REPLACE,
    duplicate_window=0,
    default_validity=86_400,
    test_mode=True,
    single_shot_billing=True,
    report_format="puzzel-json",
    dlr_url="https://example.com/dlr?x=1&y=%20",
    mo_url="https://example.com/mo",
    report_intermediate=True,
)

# The same with every optional field empty.
PLAIN = Account(id=2, name="plain", password_hash="h")


def test_every_account_field_has_a_column_and_every_column_a_field() -> None:
    fields = {f.name for f in dataclasses.fields(Account)}
    assert fields == {c.name for c in accounts.c} - {"created_at", "updated_at"}


@pytest.mark.parametrize("account", [UNUSUAL, PLAIN], ids=["unusual", "plain"])
def test_account_values_and_account_from_row_round_trip_every_field(account: Account) -> None:
    values = repo.account_values(account)
    assert values["allowed_networks"] == list(account.allowed_networks)  # lists for the JSON columns
    assert all(type(v) in (int, str, bool, list, type(None)) for v in values.values()), values
    back = repo.account_from_row(values)
    assert back == account
    assert isinstance(back.allowed_originators, tuple)
    assert type(back.parsing_type) is ParsingType


@pytest.mark.parametrize("account", [UNUSUAL, PLAIN], ids=["unusual", "plain"])
def test_an_account_stored_and_read_back_is_unchanged(store: Store, account: Account) -> None:
    with store.write() as conn:
        repo.insert_account(conn, account, NOW)
    with store.read() as conn:
        by_name = repo.get_account(conn, name=account.name)
        by_id = repo.get_account(conn, account_id=account.id)
        listed = repo.list_accounts(conn)
    assert by_name == by_id == account
    assert listed == [account]
    assert by_name is not None
    assert type(by_name.parsing_type) is ParsingType
    assert by_name.default_originator_type is None or type(by_name.default_originator_type) is OriginatorType
    assert all(isinstance(getattr(by_name, f), tuple) for f in repo._LIST_FIELDS)


def test_an_updated_account_reads_back_changed_and_keeps_its_creation_time(store: Store) -> None:
    with store.write() as conn:
        repo.insert_account(conn, PLAIN, NOW)
    changed = dataclasses.replace(UNUSUAL, id=PLAIN.id, name="renamed")
    with store.write() as conn:
        repo.update_account(conn, changed, NOW + 5)
    with store.read() as conn:
        assert repo.get_account(conn, account_id=PLAIN.id) == changed
        times = conn.execute(select(accounts.c.created_at, accounts.c.updated_at)).one()
    assert tuple(times) == (NOW, NOW + 5)


def test_next_account_id_follows_the_highest(store: Store) -> None:
    with store.read() as conn:
        assert repo.next_account_id(conn) == 1
    with store.write() as conn:
        repo.insert_account(conn, UNUSUAL, NOW)
        assert repo.next_account_id(conn) == UNUSUAL.id + 1


# --- MO routing -----------------------------------------------------------------------------------------------


def _two_accounts(store: Store) -> tuple[int, int]:
    catch_all = Account(id=11, name="catch-all", password_hash="h")
    keyword = Account(id=12, name="kw", password_hash="h")
    with store.write() as conn:
        repo.insert_account(conn, catch_all, NOW)
        repo.insert_account(conn, keyword, NOW)
    return catch_all.id, keyword.id


def test_route_inbound_prefers_the_exact_keyword_over_the_catch_all(store: Store) -> None:
    catch_all, keyword = _two_accounts(store)
    with store.write() as conn:
        # The keyword row is added first and the catch-all last: order must not matter.
        repo.add_number(conn, keyword, "+4741000001", "STOP")
        repo.add_number(conn, catch_all, "+4741000001", "")
    with store.read() as conn:
        assert repo.route_inbound(conn, "+4741000001", "STOP") == keyword
        assert repo.route_inbound(conn, "+4741000001", "HELLO") == catch_all
        assert repo.route_inbound(conn, "+4741000001", "") == catch_all


def test_route_inbound_finds_no_account_without_a_matching_keyword_or_catch_all(store: Store) -> None:
    catch_all, keyword = _two_accounts(store)
    with store.write() as conn:
        repo.add_number(conn, keyword, "+4741000002", "STOP")
        repo.add_number(conn, catch_all, "1960", "")
    with store.read() as conn:
        assert repo.route_inbound(conn, "+4741000002", "START") is None
        assert repo.route_inbound(conn, "+4741000002", "") is None
        assert repo.route_inbound(conn, "+4799999999", "STOP") is None
        assert repo.route_inbound(conn, "1960", "ANYTHING") == catch_all
        assert repo.numbers_of(conn, keyword) == [("+4741000002", "STOP")]


def test_an_mo_is_routed_to_the_account_owning_its_first_word(gateway: Gateway, accounts: Accounts) -> None:
    accounts.create("everything", "pw", default_country="NO")
    accounts.create("stopper", "pw", default_country="NO")
    accounts.add_number("everything", "+4741000003")
    accounts.add_number("stopper", "+4741000003", "stop")
    owners = {a.id: a.name for a in accounts.all()}
    assert owners[gateway.ingest_mo("+4790000000", "+4741000003", text="Stop please").account_id or 0] == "stopper"
    assert owners[gateway.ingest_mo("+4790000000", "+4741000003", text="hello").account_id or 0] == "everything"
    assert gateway.ingest_mo("+4790000000", "+4741000004", text="stop").account_id is None


# --- listing messages -----------------------------------------------------------------------------------------


def _submit(gateway: Gateway, account: Account, count: int, tag: str) -> list[int]:
    result = gateway.submit(account, SubmitRequest(
        [MessageSpec(recipient=f"+4741{i:06d}", text=f"{tag} {i}") for i in range(count)], batch_ref=tag))
    ids = [o.message_id for o in result.outcomes]
    assert None not in ids
    return [i for i in ids if i is not None]


def test_list_messages_pages_newest_first_without_overlap_or_gap(
    gateway: Gateway, accounts: Accounts, account: Account
) -> None:
    other = accounts.create("other", "pw", default_country="NO")
    mine: list[int] = []
    for n, size in enumerate([10, 1, 12]):
        mine += _submit(gateway, account, size, f"mine-{n}")
        _submit(gateway, other, 3, f"theirs-{n}")  # interleaved, and never listed for `account`

    pages: list[list[int]] = []
    before: int | None = None
    with gateway.store.read() as conn:
        while True:
            page = [v.id for v in repo.list_messages(conn, account_id=account.id, before_id=before, limit=7)]
            if not page:
                break
            pages.append(page)
            before = page[-1]
    assert [len(p) for p in pages] == [7, 7, 7, 2]
    listed = list(itertools.chain.from_iterable(pages))
    assert listed == sorted(mine, reverse=True)  # newest first, every one exactly once
    assert listed == list(reversed(mine))  # and newest means last submitted


def test_list_messages_pages_by_filter_too(gateway: Gateway, account: Account) -> None:
    first = _submit(gateway, account, 5, "alpha")
    _submit(gateway, account, 5, "beta")
    third = _submit(gateway, account, 5, "alpha")  # a batch reference used again
    with gateway.store.read() as conn:
        page1 = repo.list_messages(conn, account_id=account.id, batch_ref="alpha", limit=6)
        page2 = repo.list_messages(conn, account_id=account.id, batch_ref="alpha", before_id=page1[-1].id, limit=6)
        by_recipient = repo.list_messages(conn, recipient="+4741000002")
    assert [v.id for v in page1 + page2] == sorted(first + third, reverse=True)
    assert {v.batch_ref for v in page1 + page2} == {"alpha"}
    assert [v.text for v in by_recipient] == ["alpha 2", "beta 2", "alpha 2"]


# --- pull reports ---------------------------------------------------------------------------------------------


def _report(account_id: int, delivery: str, state: str = "pending") -> dict[str, object]:
    return {"account_id": account_id, "kind": "mo", "message_id": None, "inbound_id": None, "status": None,
            "error_code": None, "delivery": delivery, "state": state, "attempts": 0, "next_attempt_at": NOW,
            "retain_until": NOW + 3_600_000, "last_error": None, "created_at": NOW}


def test_confirm_reports_confirms_only_pending_pull_reports_of_that_account(store: Store) -> None:
    mine, theirs = 21, 22
    with store.write() as conn:
        repo.queue_reports(conn, [
            _report(mine, "pull"), _report(mine, "pull"), _report(mine, "push"), _report(mine, "pull", "done"),
            _report(theirs, "pull"), _report(mine, "pull", "dead"),
        ])
        ids = [r.id for r in conn.execute(select(reports.c.id).order_by(reports.c.id))]
    pull1, pull2, push, done, other, dead = ids

    with store.write() as conn:
        assert repo.confirm_reports(conn, mine, [*ids, 999_999]) == 2
    with store.read() as conn:
        states = {r.id: r.state for r in conn.execute(select(reports.c.id, reports.c.state))}
    assert states == {pull1: "done", pull2: "done", push: "pending", done: "done", other: "pending", dead: "dead"}

    with store.write() as conn:
        assert repo.confirm_reports(conn, mine, ids) == 0  # confirming again changes nothing
        assert repo.confirm_reports(conn, theirs, [pull1, other]) == 1
        assert repo.confirm_reports(conn, mine, []) == 0


def test_pull_reports_hands_out_only_unconfirmed_pull_reports_oldest_first(store: Store) -> None:
    with store.write() as conn:
        repo.queue_reports(conn, [_report(31, "pull"), _report(31, "push"), _report(31, "pull"), _report(32, "pull")])
        ids = [r.id for r in conn.execute(select(reports.c.id).order_by(reports.c.id))]
    with store.read() as conn:
        assert [r.id for r in repo.pull_reports(conn, 31, 10)] == [ids[0], ids[2]]
    with store.write() as conn:
        repo.confirm_reports(conn, 31, [ids[0]])
    with store.read() as conn:
        assert [r.id for r in repo.pull_reports(conn, 31, 10)] == [ids[2]]
        assert [r.id for r in repo.pull_reports(conn, 32, 10)] == [ids[3]]


def test_confirm_reports_confirms_more_ids_than_fit_in_one_in_list(store: Store) -> None:
    with store.write() as conn:
        repo.queue_reports(conn, [_report(41, "pull") for _ in range(1_203)])
        ids = [r.id for r in conn.execute(select(reports.c.id))]
    with store.write() as conn:
        assert repo.confirm_reports(conn, 41, ids) == 1_203
