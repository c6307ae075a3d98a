"""The `smsgw` command, run as its real console-script entry point in a subprocess.

Each test points `SMSGW_DATABASE_URL` at an empty database of its own: a temporary SQLite file, and (through the
`database_url` fixture) a fresh PostgreSQL database. Results are on standard output, everything else on standard
error, so every test looks at both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from smsgw_testing import require
from sqlalchemy import create_engine, inspect, text

from smsgw.services import SHUTDOWN_GRACE_MS
from smsgw.store.database import normalise_url

SMSGW = shutil.which("smsgw", path=str(Path(sys.executable).parent))
CLI_TIMEOUT = 60  # seconds for one short command
HEALTH_TIMEOUT = 20  # seconds for `serve` to answer /healthz
STOP_TIMEOUT = 10  # seconds for `serve` to stop after SIGTERM

ACME_SETTINGS = (
    "--default-country", "NO",
    "--allowed-networks", "10.0.0.0/8,127.0.0.1",
    "--max-parts", "3",
    "--parsing-type", "NONE",
    "--default-originator", "ACME",
)
CZECH = "Příliš žluťoučký kůň"
CZECH_NON_GSM = ["ř", "í", "š", "ž", "ť", "č", "ý", "ů", "ň"]
MESSAGE_ID = re.compile(r"[1-9][0-9]*\n")


# --- running the command --------------------------------------------------------------------------------------


def _env(database_url: str | None, **extra: str) -> dict[str, str]:
    """This process's environment without any SMSGW_* setting, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    if database_url is not None:
        env["SMSGW_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def smsgw(database_url: str | None, *args: str, cwd: Path | None = None,
          **extra_env: str) -> subprocess.CompletedProcess[str]:
    require(SMSGW is not None, f"no smsgw console script next to {sys.executable}")
    assert SMSGW is not None
    return subprocess.run([SMSGW, *args], env=_env(database_url, **extra_env), cwd=cwd, capture_output=True,
                          text=True, encoding="utf-8", timeout=CLI_TIMEOUT, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Assert the command succeeded; show what it said otherwise."""
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def refused(result: subprocess.CompletedProcess[str], *reasons: str) -> str:
    """Assert the command failed with each reason on stderr, nothing on stdout and no traceback; return stderr."""
    assert result.returncode != 0, f"exit 0\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    for reason in reasons:
        assert reason in result.stderr
    return result.stderr


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result).stdout)


def send(url: str, account: str, to: str, text: str, *more: str) -> int:
    result = ok(smsgw(url, "send", "--account", account, "--to", to, "--text", text, *more))
    assert MESSAGE_ID.fullmatch(result.stdout), repr(result.stdout)
    return int(result.stdout)


@pytest.fixture
def url(database_url: str) -> str:
    """An empty database, SQLite or PostgreSQL."""
    return database_url


def _add_acme(url: str) -> str:
    ok(smsgw(url, "account", "add", "acme", "--password", "s3cret-Pa55", *ACME_SETTINGS))
    return url


@pytest.fixture
def acme(url: str) -> str:
    """`url` holding the account acme (Norway, 3 parts, parsing type NONE, originator ACME)."""
    return _add_acme(url)


@pytest.fixture
def sqlite_acme(sqlite_url: str) -> str:
    """Like `acme`, on SQLite only: for checks that do not depend on the database."""
    return _add_acme(sqlite_url)


# --- db -------------------------------------------------------------------------------------------------------


def _tables(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _column(url: str, sql: str) -> list[Any]:
    """The first column of a query's rows, read straight from the database."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _count(url: str, table: str) -> int:
    return int(_column(url, f"SELECT count(*) FROM {table}")[0])


def _revisions(url: str) -> list[str]:
    return _column(url, "SELECT version_num FROM alembic_version")


def test_db_upgrade_creates_the_schema_in_an_empty_database_and_is_idempotent(url: str) -> None:
    result = ok(smsgw(url, "db", "upgrade"))
    assert result.stdout == ""
    assert "newest revision" in result.stderr
    assert {"alembic_version", "accounts", "numbers", "messages", "node_leases"} <= _tables(url)
    first = _revisions(url)
    assert len(first) == 1

    ok(smsgw(url, "db", "upgrade"))
    assert _revisions(url) == first


def test_two_concurrent_db_upgrades_of_an_empty_database_both_succeed(url: str) -> None:
    assert SMSGW is not None
    procs = [subprocess.Popen([SMSGW, "db", "upgrade"], env=_env(url), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=CLI_TIMEOUT)
            assert proc.returncode == 0, err
            assert out == ""
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert len(_revisions(url)) == 1
    assert "accounts" in _tables(url)


def test_a_database_error_never_prints_the_database_password(tmp_path: Path) -> None:
    secret_url = "postgresql://smsgw:hunter2-secret@127.0.0.1:1/nowhere"  # port 1: refused at once
    stderr = refused(smsgw(secret_url, "account", "list", cwd=tmp_path), "cannot open the database")
    assert "hunter2-secret" not in stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("account", "list"), id="account-list"),
        pytest.param(("db", "upgrade"), id="db-upgrade"),
        pytest.param(("serve", "--listen", "127.0.0.1:1", "--workers", "1"), id="serve"),
    ],
)
def test_an_unopenable_database_fails_with_a_one_line_reason(tmp_path: Path, args: Sequence[str]) -> None:
    missing = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'smsgw.db'}"
    refused(smsgw(missing, *args, cwd=tmp_path), "unable to open database file")


# --- accounts -------------------------------------------------------------------------------------------------


def test_account_add_stores_the_given_settings_and_show_json_reports_them(url: str) -> None:
    result = ok(smsgw(url, "account", "add", "acme", "--password", "s3cret-Pa55", *ACME_SETTINGS))
    assert result.stdout == ""
    assert "account acme created with id 1" in result.stderr

    shown = smsgw(url, "account", "show", "acme", "--json")
    data = as_json(shown)
    assert data["id"] == 1
    assert data["name"] == "acme"
    assert data["active"] is True
    assert data["default_country"] == "NO"
    assert data["allowed_networks"] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert data["max_parts"] == 3
    assert data["parsing_type"] == "NONE"
    assert data["default_originator"] == "ACME"
    assert data["default_originator_type"] == "alphanumeric"  # inferred
    assert data["report_format"] == "pull"  # untouched settings keep their defaults
    assert data["numbers"] == []


def test_account_show_never_reveals_the_password_or_its_hash(sqlite_acme: str) -> None:
    for args in (("--json",), ()):
        result = ok(smsgw(sqlite_acme, "account", "show", "acme", *args))
        assert "password" not in result.stdout
        assert "s3cret-Pa55" not in result.stdout + result.stderr
        assert "scrypt$" not in result.stdout + result.stderr
    assert "password_hash" not in as_json(smsgw(sqlite_acme, "account", "show", "acme", "--json"))


def test_account_show_says_a_report_secret_is_set_but_never_shows_it(sqlite_acme: str) -> None:
    ok(smsgw(sqlite_acme, "account", "set", "acme", "--report-secret", "callback-signing-key-1"))
    for args in (("--json",), ()):
        result = ok(smsgw(sqlite_acme, "account", "show", "acme", *args))
        assert "callback-signing-key-1" not in result.stdout + result.stderr
    assert as_json(smsgw(sqlite_acme, "account", "show", "acme", "--json"))["report_secret"] == "(set)"


def test_account_show_as_text_lists_one_setting_per_line(sqlite_acme: str) -> None:
    lines = ok(smsgw(sqlite_acme, "account", "show", "acme")).stdout.splitlines()
    rows = {line.split(None, 1)[0]: [*line.split(None, 1), ""][1].strip() for line in lines}
    assert rows["name"] == "acme"
    assert rows["default_country"] == "NO"
    assert rows["allowed_networks"] == "10.0.0.0/8, 127.0.0.1/32"
    assert rows["max_parts"] == "3"
    assert rows["parsing_type"] == "NONE"
    assert rows["numbers"] == ""


def test_account_add_takes_an_explicit_id(url: str) -> None:
    ok(smsgw(url, "account", "add", "o2customer", "--password", "pw", "--id", "4711"))
    assert as_json(smsgw(url, "account", "show", "o2customer", "--json"))["id"] == 4711
    ok(smsgw(url, "account", "add", "next", "--password", "pw"))
    assert as_json(smsgw(url, "account", "show", "next", "--json"))["id"] == 4712


def test_account_set_changes_only_the_given_setting(acme: str) -> None:
    before = as_json(smsgw(acme, "account", "show", "acme", "--json"))
    result = ok(smsgw(acme, "account", "set", "acme", "--max-parts", "5"))
    assert result.stdout == ""
    assert "account acme updated" in result.stderr
    after = as_json(smsgw(acme, "account", "show", "acme", "--json"))
    assert after["max_parts"] == 5
    assert {k: v for k, v in after.items() if k != "max_parts"} == {
        k: v for k, v in before.items() if k != "max_parts"
    }


def test_account_set_new_password_or_deactivation_bumps_the_credential_version(sqlite_acme: str) -> None:
    ok(smsgw(sqlite_acme, "account", "set", "acme", "--password", "n3w-Pa55"))
    assert as_json(smsgw(sqlite_acme, "account", "show", "acme", "--json"))["credential_version"] == 2
    ok(smsgw(sqlite_acme, "account", "set", "acme", "--active", "no"))
    data = as_json(smsgw(sqlite_acme, "account", "show", "acme", "--json"))
    assert data["active"] is False
    assert data["credential_version"] == 3


def test_account_list_shows_every_account_as_a_table_and_as_json(acme: str) -> None:
    ok(smsgw(acme, "account", "add", "beta", "--password", "pw", "--active", "false"))
    lines = ok(smsgw(acme, "account", "list")).stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ACTIVE"]
    assert [line.split() for line in lines[1:]] == [["1", "acme", "yes"], ["2", "beta", "no"]]
    assert as_json(smsgw(acme, "account", "list", "--json")) == [
        {"id": 1, "name": "acme", "active": True},
        {"id": 2, "name": "beta", "active": False},
    ]


def test_account_list_of_an_empty_database_is_just_the_header(sqlite_url: str) -> None:
    assert ok(smsgw(sqlite_url, "account", "list")).stdout.split() == ["ID", "NAME", "ACTIVE"]
    assert as_json(smsgw(sqlite_url, "account", "list", "--json")) == []


BAD_SETTINGS = [
    pytest.param(("--max-parts", "0"), "max_parts", id="max-parts-0"),
    pytest.param(("--max-parts", "three"), "max_parts", id="max-parts-word"),
    pytest.param(("--default-country", "XX"), "default_country", id="country"),
    pytest.param(("--allowed-networks", "10.0.0.0/33"), "allowed_networks", id="network"),
    pytest.param(("--parsing-type", "WHATEVER"), "parsing_type", id="parsing-type"),
    pytest.param(("--active", "maybe"), "active", id="active"),
    pytest.param(("--dlr-url", "ftp://example.com/dlr"), "dlr_url", id="dlr-url"),
    pytest.param(("--report-format", "carrier-pigeon"), "report_format", id="report-format"),
    pytest.param(("--default-validity", "10"), "default_validity", id="validity"),
    pytest.param(("--default-originator-type", "satellite"), "default_originator_type", id="originator-type"),
    pytest.param(("--client-certs", "not-a-fingerprint"), "client_certs", id="client-certs"),
]


@pytest.mark.parametrize(("setting", "named"), BAD_SETTINGS)
def test_account_add_with_a_bad_setting_fails_with_the_reason_on_stderr_and_creates_nothing(
    sqlite_url: str, setting: Sequence[str], named: str
) -> None:
    refused(smsgw(sqlite_url, "account", "add", "acme", "--password", "pw", *setting), named)
    assert _count(sqlite_url, "accounts") == 0


@pytest.mark.parametrize(("setting", "named"), BAD_SETTINGS[:3])
def test_account_set_with_a_bad_setting_fails_with_the_reason_on_stderr_and_changes_nothing(
    acme: str, setting: Sequence[str], named: str
) -> None:
    before = as_json(smsgw(acme, "account", "show", "acme", "--json"))
    refused(smsgw(acme, "account", "set", "acme", *setting), named)
    assert as_json(smsgw(acme, "account", "show", "acme", "--json")) == before


def test_account_add_refuses_an_invalid_default_originator(sqlite_url: str) -> None:
    refused(smsgw(sqlite_url, "account", "add", "acme", "--password", "pw", "--default-originator",
                  "FAR-TOO-LONG-SENDER"), "at most 11 characters")
    assert _count(sqlite_url, "accounts") == 0


def test_account_add_refuses_an_empty_password(sqlite_url: str) -> None:
    refused(smsgw(sqlite_url, "account", "add", "acme", "--password", ""), "password")
    assert _count(sqlite_url, "accounts") == 0


def test_account_add_refuses_a_duplicate_name_or_id(acme: str) -> None:
    refused(smsgw(acme, "account", "add", "acme", "--password", "other"), "acme", "exists")
    refused(smsgw(acme, "account", "add", "other", "--password", "other", "--id", "1"), "id 1", "exists")
    assert [a["name"] for a in as_json(smsgw(acme, "account", "list", "--json"))] == ["acme"]
    # the first account is untouched
    assert as_json(smsgw(acme, "account", "show", "acme", "--json"))["max_parts"] == 3


def test_account_show_and_set_of_an_unknown_account_fail(sqlite_url: str) -> None:
    refused(smsgw(sqlite_url, "account", "show", "nobody"), "no account 'nobody'")
    refused(smsgw(sqlite_url, "account", "show", "nobody", "--json"), "no account 'nobody'")
    refused(smsgw(sqlite_url, "account", "set", "nobody", "--max-parts", "2"), "no account 'nobody'")


# --- numbers --------------------------------------------------------------------------------------------------


def test_number_add_e164_and_short_code_with_keyword_show_up_in_account_show(acme: str) -> None:
    result = ok(smsgw(acme, "number", "add", "acme", "+47 41 00 00 00"))
    assert result.stdout == ""
    assert "+4741000000 now routes to acme" in result.stderr
    result = ok(smsgw(acme, "number", "add", "acme", "1960", "--keyword", "pizza"))
    assert "1960 PIZZA now routes to acme" in result.stderr

    assert as_json(smsgw(acme, "account", "show", "acme", "--json"))["numbers"] == [
        {"number": "+4741000000", "keyword": None},
        {"number": "1960", "keyword": "PIZZA"},
    ]
    lines = ok(smsgw(acme, "account", "show", "acme")).stdout.splitlines()
    assert "numbers                  +4741000000, 1960 (PIZZA)" in lines


def test_number_add_reads_a_national_number_alike_with_or_without_spaces(sqlite_acme: str) -> None:
    ok(smsgw(sqlite_acme, "number", "add", "acme", "41 00 00 00"))
    refused(smsgw(sqlite_acme, "number", "add", "acme", "41000000"), "already owned")
    assert as_json(smsgw(sqlite_acme, "account", "show", "acme", "--json"))["numbers"] == [
        {"number": "+4741000000", "keyword": None},
    ]


def test_number_add_refuses_a_number_already_owned_an_invalid_number_and_an_unknown_account(acme: str) -> None:
    ok(smsgw(acme, "number", "add", "acme", "1960", "--keyword", "pizza"))
    refused(smsgw(acme, "number", "add", "acme", "1960", "--keyword", "PIZZA"), "already owned")
    refused(smsgw(acme, "number", "add", "acme", "12"), "'12'")
    refused(smsgw(acme, "number", "add", "acme", "1960", "--keyword", "two words"), "keyword")
    refused(smsgw(acme, "number", "add", "nobody", "1961"), "no account 'nobody'")
    assert as_json(smsgw(acme, "account", "show", "acme", "--json"))["numbers"] == [
        {"number": "1960", "keyword": "PIZZA"},
    ]


# --- send and status ------------------------------------------------------------------------------------------


def test_send_prints_exactly_the_message_id_on_stdout_and_the_rest_on_stderr(acme: str) -> None:
    result = ok(smsgw(acme, "send", "--account", "acme", "--to", "41000000", "--text", "Hello"))
    assert MESSAGE_ID.fullmatch(result.stdout), repr(result.stdout)
    assert "accepted to +4741000000: 1 part(s), gsm7" in result.stderr
    assert result.stdout.strip() not in result.stderr


def test_status_json_shows_a_sent_message_accepted_with_its_text_and_normalised_recipient(acme: str) -> None:
    message_id = send(acme, "acme", "41000000", "Hei på deg")
    data = as_json(smsgw(acme, "status", str(message_id), "--json"))
    assert data["id"] == message_id
    assert data["account_id"] == 1
    assert data["status"] == "accepted"
    assert data["recipient"] == "+4741000000"
    assert data["text"] == "Hei på deg"
    assert data["encoding"] == "gsm7"
    assert data["parts"] == 1
    assert data["originator"] == "ACME"  # the account's default
    assert data["originator_type"] == "alphanumeric"
    assert data["error_code"] is None
    assert data["payload"] is None
    assert [step["status"] for step in data["history"]] == ["accepted"]


def test_status_as_text_shows_the_status_and_the_history(sqlite_acme: str) -> None:
    message_id = send(sqlite_acme, "acme", "+4741000000", "Hello")
    lines = ok(smsgw(sqlite_acme, "status", str(message_id))).stdout.splitlines()
    rows = {line.split(None, 1)[0]: [*line.split(None, 1), ""][1].strip() for line in lines if line[:1] != " "}
    assert rows["id"] == str(message_id)
    assert rows["status"] == "accepted"
    assert rows["recipient"] == "+4741000000"
    assert rows["text"] == "Hello"
    assert lines[-1].split()[-1] == "accepted"  # the history


def test_send_from_an_allowed_originator_uses_it_and_refuses_others(acme: str) -> None:
    ok(smsgw(acme, "account", "set", "acme", "--allowed-originators", "ACME,INFO"))
    message_id = send(acme, "acme", "41000000", "Hello", "--from", "INFO")
    assert as_json(smsgw(acme, "status", str(message_id), "--json"))["originator"] == "INFO"
    refused(smsgw(acme, "send", "--account", "acme", "--to", "41000000", "--text", "Hi", "--from", "SPAM"),
            "refused", "'SPAM' is not allowed")


def test_send_of_a_refused_message_exits_non_zero_with_the_reason_on_stderr_and_stores_nothing(acme: str) -> None:
    refused(smsgw(acme, "send", "--account", "acme", "--to", "123", "--text", "Hello"), "refused", "'123'")
    assert _count(acme, "messages") == 0


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        pytest.param(("--to", "41000000", "--text", CZECH), "U+0159", id="non-gsm-under-NONE"),
        pytest.param(("--to", "41000000", "--text", "x" * 460), "needs 4 parts; at most 3", id="too-long"),
        pytest.param(("--to", "41000000", "--text", "Hi", "--from", "FAR-TOO-LONG-SENDER"), "at most 11",
                     id="originator"),
        pytest.param(("--to", "+999123456789", "--text", "Hi"), "+999123456789", id="no-such-country"),
        pytest.param(("--to", "41000000", "--text", ""), "empty", id="empty-text"),
    ],
)
def test_send_refuses_what_the_account_or_the_network_cannot_take(
    sqlite_acme: str, args: Sequence[str], reason: str
) -> None:
    refused(smsgw(sqlite_acme, "send", "--account", "acme", *args), "refused", reason)
    assert _count(sqlite_acme, "messages") == 0


def test_send_reads_bare_digits_as_international_for_an_account_without_a_country(sqlite_url: str) -> None:
    ok(smsgw(sqlite_url, "account", "add", "world", "--password", "pw"))
    message_id = send(sqlite_url, "world", "4741000000", "Hello")
    assert as_json(smsgw(sqlite_url, "status", str(message_id), "--json"))["recipient"] == "+4741000000"


def test_send_for_an_unknown_account_fails(url: str) -> None:
    refused(smsgw(url, "send", "--account", "nobody", "--to", "+4741000000", "--text", "Hello"),
            "no account 'nobody'")


def test_send_refuses_a_disabled_account(sqlite_acme: str) -> None:
    ok(smsgw(sqlite_acme, "account", "set", "acme", "--active", "no"))
    refused(smsgw(sqlite_acme, "send", "--account", "acme", "--to", "41000000", "--text", "Hello"), "disabled")
    assert _count(sqlite_acme, "messages") == 0


def test_status_of_an_unknown_message_fails(sqlite_url: str) -> None:
    refused(smsgw(sqlite_url, "status", "12345"), "no message 12345")
    refused(smsgw(sqlite_url, "status", "12345", "--json"), "no message 12345")
    refused(smsgw(sqlite_url, "status", "not-a-number"), "not a valid integer")


# --- messages -------------------------------------------------------------------------------------------------


def _table_ids(stdout: str) -> list[int]:
    lines = stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "CREATED", "(UTC)"]
    return [int(line.split()[0]) for line in lines[1:]]


def test_messages_lists_sent_messages_newest_first_as_a_table(acme: str) -> None:
    first = send(acme, "acme", "41000000", "first")
    second = send(acme, "acme", "41000001", "second")
    third = send(acme, "acme", "41000002", "third")
    result = ok(smsgw(acme, "messages"))
    assert _table_ids(result.stdout) == [third, second, first]
    row = result.stdout.splitlines()[1].split()
    assert row[0] == str(third)
    assert row[3:] == ["1", "+4741000002", "accepted", "1", "third"]


def test_messages_filter_by_status_recipient_account_and_limit(acme: str) -> None:
    ok(smsgw(acme, "account", "add", "beta", "--password", "pw", "--default-country", "SE"))
    first = send(acme, "acme", "41000000", "first")
    second = send(acme, "acme", "41000001", "second")
    third = send(acme, "beta", "+4741000000", "third")

    accepted = as_json(smsgw(acme, "messages", "--status", "accepted", "--json"))
    assert [m["id"] for m in accepted] == [third, second, first]
    assert {m["status"] for m in accepted} == {"accepted"}
    assert accepted[0]["text"] == "third"
    assert as_json(smsgw(acme, "messages", "--status", "delivered", "--json")) == []

    to = as_json(smsgw(acme, "messages", "--to", "+4741000000", "--json"))
    assert [m["id"] for m in to] == [third, first]
    assert _table_ids(ok(smsgw(acme, "messages", "--to", "+4741000001")).stdout) == [second]

    assert [m["id"] for m in as_json(smsgw(acme, "messages", "--limit", "1", "--json"))] == [third]
    assert [m["id"] for m in as_json(smsgw(acme, "messages", "--account", "acme", "--json"))] == [second, first]
    assert [m["id"] for m in as_json(smsgw(acme, "messages", "--account", "beta", "--json"))] == [third]
    both = as_json(smsgw(acme, "messages", "--account", "acme", "--to", "+4741000000", "--limit", "5", "--json"))
    assert [m["id"] for m in both] == [first]


def test_messages_of_an_empty_database_is_just_the_header(sqlite_url: str) -> None:
    assert _table_ids(ok(smsgw(sqlite_url, "messages")).stdout) == []
    assert as_json(smsgw(sqlite_url, "messages", "--json")) == []


def test_messages_refuses_an_unknown_account_status_or_limit(sqlite_url: str) -> None:
    refused(smsgw(sqlite_url, "messages", "--account", "nobody"), "no account 'nobody'")
    refused(smsgw(sqlite_url, "messages", "--status", "lost"), "--status")
    refused(smsgw(sqlite_url, "messages", "--limit", "0"), "--limit")


# --- inspect --------------------------------------------------------------------------------------------------

INSPECT_FIELDS = {"accepted", "encoding", "parts", "units", "text", "non_gsm", "removed", "replaced"}


def inspect_text(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return smsgw(None, "inspect", *args, cwd=tmp_path)


def inspect_json(tmp_path: Path, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = as_json(inspect_text(tmp_path, *args, "--json"))
    assert set(data) == INSPECT_FIELDS
    return data


def test_inspect_plain_gsm_text_is_gsm7_in_one_part(tmp_path: Path) -> None:
    assert inspect_json(tmp_path, "Hello world") == {
        "accepted": True, "encoding": "gsm7", "parts": 1, "units": 11, "text": "Hello world",
        "non_gsm": [], "removed": [], "replaced": [],
    }
    result = ok(inspect_text(tmp_path, "Hello world"))
    assert result.stdout.splitlines() == ["encoding   gsm7", "length     11 septets", "parts      1"]
    assert not (tmp_path / "smsgw.db").exists()  # inspect needs no database


def test_inspect_counts_parts_of_153_septets_beyond_160(tmp_path: Path) -> None:
    assert inspect_json(tmp_path, "x" * 160)["parts"] == 1
    assert inspect_json(tmp_path, "x" * 161)["parts"] == 2
    assert inspect_json(tmp_path, "x" * 307)["parts"] == 3


def test_inspect_counts_the_euro_sign_as_two_septets(tmp_path: Path) -> None:
    euro = inspect_json(tmp_path, "€")
    assert (euro["encoding"], euro["units"], euro["parts"], euro["non_gsm"]) == ("gsm7", 2, 1, [])
    eighty = inspect_json(tmp_path, "€" * 80)
    assert (eighty["units"], eighty["parts"]) == (160, 1)
    assert inspect_json(tmp_path, "€" * 81)["parts"] == 2
    assert "length     2 septets" in ok(inspect_text(tmp_path, "€")).stdout


def test_inspect_czech_text_under_parsing_type_none_fails_naming_each_character(tmp_path: Path) -> None:
    stderr = refused(inspect_text(tmp_path, CZECH, "--parsing-type", "NONE"), "not in GSM 03.38")
    for char in CZECH_NON_GSM:
        assert f"'{char}' (U+{ord(char):04X})" in stderr

    result = inspect_text(tmp_path, CZECH, "--parsing-type", "NONE", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["accepted"] is False
    assert data["error"] == "invalid_characters"
    assert all(f"U+{ord(char):04X}" in data["detail"] for char in CZECH_NON_GSM)


def test_inspect_czech_text_with_replace_shows_each_replacement(tmp_path: Path) -> None:
    data = inspect_json(tmp_path, CZECH, "--parsing-type", "SAFE_REMOVE_NON_GSM_WITH_REPLACE")
    assert data["accepted"] is True
    assert data["encoding"] == "gsm7"
    assert data["text"] == "Prilis zlutoucky kun"
    assert data["units"] == 20
    assert data["non_gsm"] == CZECH_NON_GSM
    assert data["replaced"] == [[c, r] for c, r in zip(CZECH_NON_GSM, "risztcyun", strict=True)]
    assert data["removed"] == []

    lines = ok(inspect_text(tmp_path, CZECH, "--parsing-type", "safe_remove_non_gsm_with_replace")).stdout
    assert "ř→r" in lines
    assert "sent as    Prilis zlutoucky kun" in lines


def test_inspect_safe_remove_drops_non_gsm_characters(tmp_path: Path) -> None:
    data = inspect_json(tmp_path, "Příliš 😀", "--parsing-type", "SAFE_REMOVE_NON_GSM")
    assert (data["encoding"], data["text"]) == ("gsm7", "Pli ")
    assert data["removed"] == ["ř", "í", "š", "😀"]
    assert data["replaced"] == []
    # an emoji has no GSM equivalent: replacing drops it
    data = inspect_json(tmp_path, "Příliš 😀", "--parsing-type", "SAFE_REMOVE_NON_GSM_WITH_REPLACE")
    assert (data["text"], data["removed"]) == ("Prilis ", ["😀"])
    assert "dropped    😀" in ok(inspect_text(tmp_path, "Příliš 😀", "--parsing-type",
                                              "SAFE_REMOVE_NON_GSM_WITH_REPLACE")).stdout


def test_inspect_emoji_forces_ucs2(tmp_path: Path) -> None:
    assert inspect_json(tmp_path, "hi 😀") == {
        "accepted": True, "encoding": "ucs2", "parts": 1, "units": 5, "text": "hi 😀",
        "non_gsm": ["😀"], "removed": [], "replaced": [],
    }
    result = ok(inspect_text(tmp_path, "hi 😀"))
    assert "encoding   ucs2" in result.stdout
    assert "length     5 UTF-16 units" in result.stdout
    assert "non-GSM    😀  (force UCS-2)" in result.stdout


def test_inspect_defaults_to_auto_detect_sending_czech_as_ucs2(tmp_path: Path) -> None:
    data = inspect_json(tmp_path, CZECH)
    assert (data["encoding"], data["text"], data["units"], data["non_gsm"]) == ("ucs2", CZECH, 20, CZECH_NON_GSM)
    assert inspect_json(tmp_path, "ř" * 70)["parts"] == 1
    assert inspect_json(tmp_path, "ř" * 71)["parts"] == 2


def test_inspect_refuses_an_unknown_parsing_type_and_empty_text(tmp_path: Path) -> None:
    refused(inspect_text(tmp_path, "hi", "--parsing-type", "MAGIC"), "--parsing-type")
    refused(inspect_text(tmp_path, ""), "empty")


# --- serve ----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One `smsgw serve` in its own process group, its output in files."""

    def __init__(self, tmp_path: Path, database_url: str, *args: str, name: str = "serve", **extra_env: str) -> None:
        assert SMSGW is not None
        self.out = tmp_path / f"{name}.out"
        self.err = tmp_path / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen([SMSGW, "serve", "--workers", "1", *args], env=_env(database_url, **extra_env),
                                         cwd=tmp_path, stdout=out, stderr=err, start_new_session=True)

    def output(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()}"

    def get(self, port: int, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def wait_healthy(self, port: int) -> Any:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"serve exited with {self.proc.returncode} before it was healthy\n{self.output()}")
            try:
                status, body = self.get(port, "/healthz")
                if status == 200:
                    return body
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                pass
            time.sleep(0.2)
        pytest.fail(f"no 200 from /healthz on port {port} within {HEALTH_TIMEOUT} s\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM the group; the server and its workers must be gone within STOP_TIMEOUT."""
        deadline = time.monotonic() + STOP_TIMEOUT
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not stop within {STOP_TIMEOUT} s of SIGTERM\n{self.output()}")
        while _group_alive(self.proc.pid):
            if time.monotonic() > deadline:
                pytest.fail(f"serve's workers outlived it by more than {STOP_TIMEOUT} s\n{self.output()}")
            time.sleep(0.1)
        return code

    def kill(self) -> None:
        if _group_alive(self.proc.pid):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=STOP_TIMEOUT)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts; any still running at the end are killed."""
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


@pytest.mark.slow
def test_serve_migrates_an_empty_database_answers_healthz_and_stops_on_sigterm(
    url: str, tmp_path: Path, servers: list[Server]
) -> None:
    port = _free_port()
    server = Server(tmp_path, url, "--listen", f"127.0.0.1:{port}")
    servers.append(server)
    assert server.wait_healthy(port) == {"status": "ok", "database": "ok"}
    assert f"serving on http://127.0.0.1:{port}" in server.err.read_text()
    assert server.get(port, "/no/such/page") == (404, {"error": "not found", "path": "/no/such/page"})
    assert server.stop() == 0
    assert "accounts" in _tables(url)


@pytest.mark.slow
def test_serve_takes_the_listen_address_from_smsgw_listen(
    sqlite_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    port = _free_port()
    server = Server(tmp_path, sqlite_url, SMSGW_LISTEN=f"127.0.0.1:{port}")
    servers.append(server)
    assert server.wait_healthy(port) == {"status": "ok", "database": "ok"}
    assert f"serving on http://127.0.0.1:{port}" in server.err.read_text()
    assert server.stop() == 0


@pytest.mark.slow
def test_two_servers_starting_at_once_on_the_same_empty_sqlite_file_both_become_healthy(
    sqlite_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    ports = [_free_port(), _free_port()]
    while ports[1] == ports[0]:
        ports[1] = _free_port()
    servers.extend(Server(tmp_path, sqlite_url, "--listen", f"127.0.0.1:{port}", name=f"serve{port}")
                   for port in ports)
    for server, port in zip(servers, ports, strict=True):
        assert server.wait_healthy(port) == {"status": "ok", "database": "ok"}
    assert len(_revisions(sqlite_url)) == 1
    for server in servers:
        assert server.stop() == 0


@pytest.mark.slow
def test_serve_releases_its_id_node_leases_on_a_clean_shutdown(
    sqlite_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    port = _free_port()
    server = Server(tmp_path, sqlite_url, "--listen", f"127.0.0.1:{port}")
    servers.append(server)
    server.wait_healthy(port)
    assert server.stop() == 0
    # Each worker's lease ends within the shutdown grace (requests in flight may finish), not minutes later.
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        latest = conn.execute(text("SELECT max(expires_at) FROM node_leases")).scalar_one()
    engine.dispose()
    assert latest is None or latest <= time.time() * 1000 + SHUTDOWN_GRACE_MS


@pytest.mark.slow
def test_serve_on_a_port_in_use_fails_with_a_one_line_reason(sqlite_url: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = smsgw(sqlite_url, "serve", "--workers", "1", "--listen", f"127.0.0.1:{port}", cwd=tmp_path)
    refused(result, "already in use")


@pytest.mark.parametrize(
    ("args", "env", "reason"),
    [
        pytest.param(("--listen", "nonsense"), {}, "HOST:PORT, got 'nonsense'", id="flag"),
        pytest.param((), {"SMSGW_LISTEN": "nonsense"}, "HOST:PORT, got 'nonsense'", id="env"),
        pytest.param(("--listen", "127.0.0.1:99999"), {}, "HOST:PORT, got '127.0.0.1:99999'", id="port"),
        pytest.param(("--listen", "127.0.0.1:8080", "--smsc", "ftp://smsc"), {}, "smpp://", id="smsc"),
        pytest.param(("--listen", "127.0.0.1:8080", "--workers", "0"), {}, "--workers", id="workers"),
    ],
)
def test_serve_refuses_a_bad_option_at_once_with_a_clear_message(
    sqlite_url: str, tmp_path: Path, args: Sequence[str], env: dict[str, str], reason: str
) -> None:
    result = smsgw(sqlite_url, "serve", *args, cwd=tmp_path, **env)
    assert result.returncode == 2
    refused(result, "Invalid value", reason)
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # refused before touching the database
