"""The account-policy commands of `smsgw`: credit, held messages, suppressions and usage, run as the real console
script in a subprocess (the helpers are test_cli's)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from test_cli import as_json, ok, refused, send, smsgw

ACME = ("--password", "s3cret-Pa55", "--default-country", "NO", "--default-originator", "ACME")


@pytest.fixture
def acme(sqlite_url: str) -> str:
    """A SQLite database holding the account acme (Norway, originator ACME)."""
    ok(smsgw(sqlite_url, "account", "add", "acme", *ACME))
    return sqlite_url


@pytest.fixture
def quota_acme(acme: str) -> str:
    """acme with a per-recipient quota of 1: its second message to a number is held."""
    ok(smsgw(acme, "account", "set", "acme", "--recipient-quota", "1"))
    return acme


def _show(url: str) -> dict[str, object]:
    data: dict[str, object] = as_json(smsgw(url, "account", "show", "acme", "--json"))
    return data


def _held(url: str, *args: str) -> list[int]:
    return [m["id"] for m in as_json(smsgw(url, "held", "list", "--json", *args))]


def _status(url: str, message_id: int) -> str:
    status: str = as_json(smsgw(url, "status", str(message_id), "--json"))["status"]
    return status


def _today() -> str:
    return f"{datetime.now(UTC):%Y-%m-%d}"


# --- credit ---------------------------------------------------------------------------------------------------


def test_credit_tops_up_and_takes_away_and_prints_the_new_balance(acme: str) -> None:
    ok(smsgw(acme, "account", "set", "acme", "--credit-mode", "messages"))
    first = ok(smsgw(acme, "account", "credit", "acme", "+500"))
    assert first.stdout == "500\n"
    assert "balance 500" in first.stderr
    assert ok(smsgw(acme, "account", "credit", "acme", "-20")).stdout == "480\n"
    assert ok(smsgw(acme, "account", "credit", "acme", "100")).stdout == "580\n"
    assert _show(acme)["balance"] == 580
    text = ok(smsgw(acme, "account", "show", "acme")).stdout
    assert any(line.split() == ["balance", "580"] for line in text.splitlines())


def test_a_message_is_charged_from_the_balance_shown(acme: str) -> None:
    ok(smsgw(acme, "account", "set", "acme", "--credit-mode", "messages"))
    ok(smsgw(acme, "account", "credit", "acme", "2"))
    send(acme, "acme", "41000000", "one")
    assert _show(acme)["balance"] == 1


def test_credit_while_credit_mode_is_none_is_kept_with_a_note_and_show_has_no_balance(acme: str) -> None:
    result = ok(smsgw(acme, "account", "credit", "acme", "+50"))
    assert result.stdout == "50\n"
    assert "not enforced" in result.stderr and "credit_mode is none" in result.stderr
    data = _show(acme)
    assert "balance" in data and data["balance"] is None  # the key stays, for scripts
    ok(smsgw(acme, "account", "set", "acme", "--credit-mode", "currency"))
    assert _show(acme)["balance"] == 50  # topped up before the switch


@pytest.mark.parametrize("amount", ["0", "+0", "1.5", "abc", "", "5e3", "10000000000000000"])
def test_credit_refuses_an_amount_that_is_not_a_non_zero_whole_number(acme: str, amount: str) -> None:
    ok(smsgw(acme, "account", "set", "acme", "--credit-mode", "messages"))
    refused(smsgw(acme, "account", "credit", "acme", amount), "AMOUNT")
    assert _show(acme)["balance"] == 0


def test_credit_of_an_unknown_account_fails(acme: str) -> None:
    refused(smsgw(acme, "account", "credit", "nobody", "+5"), "no account 'nobody'")


# --- held messages --------------------------------------------------------------------------------------------


def test_held_list_shows_messages_over_the_recipient_quota(quota_acme: str) -> None:
    first = send(quota_acme, "acme", "41000000", "first")
    second = send(quota_acme, "acme", "41000000", "second")
    assert _status(quota_acme, first) == "accepted"
    assert _held(quota_acme) == [second]
    assert _held(quota_acme, "--account", "acme") == [second]
    table = ok(smsgw(quota_acme, "held", "list")).stdout.splitlines()
    assert table[0].split()[0] == "ID"
    assert str(second) in table[1] and "+4741000000" in table[1] and "second" in table[1]
    assert len(table) == 2


def test_held_release_by_id_lets_the_message_go(quota_acme: str) -> None:
    send(quota_acme, "acme", "41000000", "first")
    second = send(quota_acme, "acme", "41000000", "second")
    third = send(quota_acme, "acme", "41000000", "third")
    result = ok(smsgw(quota_acme, "held", "release", str(second)))
    assert result.stdout == ""
    assert "1 held message released" in result.stderr
    assert _status(quota_acme, second) == "accepted"
    assert _held(quota_acme) == [third]


def test_held_drop_all_cancels_and_refunds(quota_acme: str) -> None:
    ok(smsgw(quota_acme, "account", "set", "acme", "--credit-mode", "messages"))
    ok(smsgw(quota_acme, "account", "credit", "acme", "10"))
    send(quota_acme, "acme", "41000000", "first")
    held = [send(quota_acme, "acme", "41000000", text) for text in ("second", "third")]
    assert _show(quota_acme)["balance"] == 7
    result = ok(smsgw(quota_acme, "held", "drop", "--all", "--account", "acme"))
    assert "2 held messages dropped" in result.stderr
    assert [_status(quota_acme, i) for i in held] == ["cancelled", "cancelled"]
    assert _held(quota_acme) == []
    assert _show(quota_acme)["balance"] == 9


def test_held_release_all_and_an_id_that_is_not_held(quota_acme: str) -> None:
    first = send(quota_acme, "acme", "41000000", "first")
    second = send(quota_acme, "acme", "41000000", "second")
    result = ok(smsgw(quota_acme, "held", "release", str(first)))
    assert "0 held messages released" in result.stderr and "not held" in result.stderr
    assert "1 held message released" in ok(smsgw(quota_acme, "held", "release", "--all")).stderr
    assert _status(quota_acme, second) == "accepted"


def test_held_release_and_drop_need_ids_or_all_but_not_both(quota_acme: str) -> None:
    refused(smsgw(quota_acme, "held", "release"), "--all")
    refused(smsgw(quota_acme, "held", "drop", "--all", "5"), "not both")
    refused(smsgw(quota_acme, "held", "drop", "--all", "--account", "nobody"), "no account 'nobody'")


# --- suppressions ---------------------------------------------------------------------------------------------


def test_suppression_add_list_and_remove(acme: str) -> None:
    added = ok(smsgw(acme, "suppression", "add", "--account", "acme", "41000001", "+47 41 00 00 02"))
    assert "+4741000001 suppressed" in added.stderr and "+4741000002 suppressed" in added.stderr
    listed = as_json(smsgw(acme, "suppression", "list", "--account", "acme", "--json"))
    assert sorted(s["number"] for s in listed) == ["+4741000001", "+4741000002"]
    assert {s["reason"] for s in listed} == {"operator"}
    table = ok(smsgw(acme, "suppression", "list", "--account", "acme")).stdout.splitlines()
    assert table[0].split()[:2] == ["NUMBER", "REASON"] and len(table) == 3

    refused(smsgw(acme, "send", "--account", "acme", "--to", "41000001", "--text", "hi"), "opted out")

    removed = ok(smsgw(acme, "suppression", "remove", "--account", "acme", "0047 41000001"))
    assert "1 number removed" in removed.stderr
    listed = as_json(smsgw(acme, "suppression", "list", "--account", "acme", "--json"))
    assert [s["number"] for s in listed] == ["+4741000002"]
    send(acme, "acme", "41000001", "hi again")


def test_suppression_add_with_a_bad_number_changes_nothing(acme: str) -> None:
    refused(smsgw(acme, "suppression", "add", "--account", "acme", "41000001", "not-a-number"),
            "'not-a-number'", "nothing was changed")
    assert as_json(smsgw(acme, "suppression", "list", "--account", "acme", "--json")) == []
    ok(smsgw(acme, "suppression", "add", "--account", "acme", "41000001"))
    refused(smsgw(acme, "suppression", "remove", "--account", "acme", "41000001", "12"), "'12'")
    assert len(as_json(smsgw(acme, "suppression", "list", "--account", "acme", "--json"))) == 1


def test_suppression_commands_need_a_known_account(acme: str) -> None:
    refused(smsgw(acme, "suppression", "list", "--account", "nobody"), "no account 'nobody'")
    refused(smsgw(acme, "suppression", "add", "--account", "nobody", "41000001"), "no account 'nobody'")


# --- usage ----------------------------------------------------------------------------------------------------


def _usage(url: str, *args: str) -> str:
    today = _today()
    return ok(smsgw(url, "usage", "--account", "acme", "--from", today, "--to", today, *args)).stdout


def test_usage_counts_todays_messages_in_a_table_and_as_csv(acme: str) -> None:
    ok(smsgw(acme, "account", "set", "acme", "--credit-mode", "messages"))
    ok(smsgw(acme, "account", "credit", "acme", "10"))
    send(acme, "acme", "41000000", "one")
    send(acme, "acme", "41000001", "two " * 50)  # 200 characters: 2 parts
    table = _usage(acme).splitlines()
    assert table[0].split() == ["DAY", "MESSAGES", "SEGMENTS", "DELIVERED", "FAILED", "CREDIT"]
    assert table[1].split() == [_today(), "2", "3", "0", "0", "2"]
    assert table[2].split() == ["total", "2", "3", "0", "0", "2"]

    rows = list(csv.reader(io.StringIO(_usage(acme, "--csv"))))
    assert rows == [["day", "messages", "segments", "delivered", "failed", "credit"],
                    [_today(), "2", "3", "0", "0", "2"]]


def test_usage_to_is_inclusive_and_days_without_messages_are_left_out(acme: str) -> None:
    send(acme, "acme", "41000000", "one")
    yesterday = f"{datetime.now(UTC) - timedelta(days=1):%Y-%m-%d}"
    before = ok(smsgw(acme, "usage", "--account", "acme", "--from", "2020-01-01", "--to", yesterday, "--csv"))
    assert before.stdout == "day,messages,segments,delivered,failed,credit\n"
    through = ok(smsgw(acme, "usage", "--account", "acme", "--from", "2020-01-01", "--to", _today(), "--csv"))
    assert through.stdout.splitlines()[1:] == [f"{_today()},1,1,0,0,0"]


def test_usage_refuses_from_after_to_bad_dates_and_unknown_accounts(acme: str) -> None:
    refused(smsgw(acme, "usage", "--account", "acme", "--from", "2026-05-02", "--to", "2026-05-01"),
            "--from 2026-05-02 is after --to 2026-05-01")
    refused(smsgw(acme, "usage", "--account", "acme", "--from", "2026-13-01", "--to", "2026-12-01"), "--from")
    refused(smsgw(acme, "usage", "--account", "nobody", "--from", "2026-05-01", "--to", "2026-05-01"),
            "no account 'nobody'")
