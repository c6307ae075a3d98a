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
from conftest import require
from sqlalchemy import create_engine, inspect, text

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
def url(database_url: str, tmp_path: Path) -> str:
    """An empty database, SQLite or PostgreSQL."""
    return database_url


@pytest.fixture
def acme(url: str) -> str:
    """`url` holding the account acme (Norway, 3 parts, parsing type NONE, originator ACME)."""
    ok(smsgw(url, "account", "add", "acme", "--password", "s3cret-Pa55", *ACME_SETTINGS))
    return url


# --- db -------------------------------------------------------------------------------------------------------


def _tables(url: str) -> set[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revisions(url: str) -> list[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


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
    for proc in procs:
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
        assert proc.returncode == 0, err
        assert out == ""
    assert len(_revisions(url)) == 1


@pytest.mark.xfail(reason="BUG: cli.py _open() puts the database URL, password included, in its error message",
                   strict=True)
def test_a_database_error_never_prints_the_database_password(tmp_path: Path) -> None:
    secret_url = "postgresql://smsgw:hunter2-secret@127.0.0.1:1/nowhere"  # port 1: refused at once
    stderr = refused(smsgw(secret_url, "account", "list", cwd=tmp_path), "cannot open the database")
    assert "hunter2-secret" not in stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("account", "list"), id="account-list"),
        pytest.param(("db", "upgrade"), id="db-upgrade", marks=pytest.mark.xfail(
            reason="BUG: cli.py `upgrade` does not catch the database error: a traceback instead of a reason",
            strict=True)),
        pytest.param(("serve", "--listen", "127.0.0.1:1", "--workers", "1"), id="serve", marks=pytest.mark.xfail(
            reason="BUG: cli.py `serve` does not catch the error of Services.open: a traceback instead of a reason",
            strict=True)),
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
    assert data["max_parts"] == 3
    assert data["numbers"] == []


def test_account_show_never_reveals_the_password_or_its_hash(acme: str) -> None:
    for args in (("--json",), ()):
        result = ok(smsgw(acme, "account", "show", "acme", *args))
        assert "password" not in result.stdout
        assert "s3cret-Pa55" not in result.stdout + result.stderr
        assert "scrypt$" not in result.stdout + result.stderr
    assert "password_hash" not in as_json(smsgw(acme, "account", "show", "acme", "--json"))


def test_account_show_as_text_lists_one_setting_per_line(acme: str) -> None:
    lines = ok(smsgw(acme, "account", "show", "acme")).stdout.splitlines()
    rows = {line.split(None, 1)[0]: (line.split(None, 1) + [""])[1].strip() for line in lines}
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


def test_account_set_new_password_or_deactivation_bumps_the_credential_version(acme: str) -> None:
    ok(smsgw(acme, "account", "set", "acme", "--password", "n3w-Pa55"))
    assert as_json(smsgw(acme, "account", "show", "acme", "--json"))["credential_version"] == 2
    ok(smsgw(acme, "account", "set", "acme", "--active", "no"))
    data = as_json(smsgw(acme, "account", "show", "acme", "--json"))
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


def test_account_list_of_an_empty_database_is_just_the_header(url: str) -> None:
    assert ok(smsgw(url, "account", "list")).stdout.split() == ["ID", "NAME", "ACTIVE"]
    assert as_json(smsgw(url, "account", "list", "--json")) == []


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
    assert as_json(smsgw(sqlite_url, "account", "list", "--json")) == []


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
    assert as_json(smsgw(sqlite_url, "account", "list", "--json")) == []


def test_account_add_refuses_an_empty_password(sqlite_url: str) -> None:
    refused(smsgw(sqlite_url, "account", "add", "acme", "--password", ""), "password")
    assert as_json(smsgw(sqlite_url, "account", "list", "--json")) == []


def test_account_add_refuses_a_duplicate_name_or_id(acme: str) -> None:
    refused(smsgw(acme, "account", "add", "acme", "--password", "other"), "acme", "exists")
    refused(smsgw(acme, "account", "add", "other", "--password", "other", "--id", "1"), "id 1", "exists")
    assert [a["name"] for a in as_json(smsgw(acme, "account", "list", "--json"))] == ["acme"]
    # the first account is untouched
    assert as_json(smsgw(acme, "account", "show", "acme", "--json"))["max_parts"] == 3


def test_account_show_and_set_of_an_unknown_account_fail(url: str) -> None:
    refused(smsgw(url, "account", "show", "nobody"), "no account 'nobody'")
    refused(smsgw(url, "account", "show", "nobody", "--json"), "no account 'nobody'")
    refused(smsgw(url, "account", "set", "nobody", "--max-parts", "2"), "no account 'nobody'")


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


def test_number_add_reads_a_national_number_in_the_accounts_country(acme: str) -> None:
    ok(smsgw(acme, "number", "add", "acme", "41000000"))
    assert as_json(smsgw(acme, "account", "show", "acme", "--json"))["numbers"] == [
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
