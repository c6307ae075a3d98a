"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, a gateway, accounts.

A test that needs something this machine lacks (PostgreSQL, a Debian tool) is skipped with the reason shown, and
fails instead when CI=true: CI must run everything.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from smsgw_testing import require, serving
from sqlalchemy import create_engine, text
from werkzeug.serving import WSGIRequestHandler, make_server

from smsgw.accounts import Accounts
from smsgw.app import App
from smsgw.auth import Authenticator
from smsgw.domain.model import Account
from smsgw.gateway import Gateway
from smsgw.services import Services
from smsgw.store.database import Store
from smsgw.store.ids import NodeLease

PG_ADMIN_URL = os.environ.get("SMSGW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # any failure to connect means "not here"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(error).__name__}"


@functools.cache
def pg_problem() -> str | None:
    """Why PostgreSQL cannot be used here, or None; asked once per test process."""
    return _pg_available()


def fresh_pg_database() -> tuple[str, str]:
    """Create an empty database; returns (its URL, its name)."""
    name = f"smsgw_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, name


def drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def _pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards (skipped, or failed under CI, without one)."""
    problem = pg_problem()
    require(problem is None, problem or "")
    url, name = fresh_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind (the test runs once per kind)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'smsgw.db'}"
        return
    with _pg_database() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL database, for tests that need PostgreSQL itself (SKIP LOCKED across processes)."""
    with _pg_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'smsgw.db'}"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store(database_url)
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def lease(store: Store) -> Iterator[NodeLease]:
    node = NodeLease(store)
    yield node
    node.release()


@pytest.fixture
def gateway(store: Store, lease: NodeLease) -> Gateway:
    return Gateway(store, lease.start())


@pytest.fixture
def accounts(store: Store) -> Accounts:
    return Accounts(store)


@pytest.fixture
def authenticator(store: Store) -> Authenticator:
    return Authenticator(store)


@pytest.fixture
def account(accounts: Accounts) -> Account:
    return accounts.create("acme", "s3cret", default_country="NO")


@pytest.fixture
def services(sqlite_url: str) -> Iterator[Services]:
    """Every part of one gateway process on a fresh SQLite database."""
    opened = Services.open(sqlite_url)
    yield opened
    opened.close()


@pytest.fixture
def live_url(services: Services) -> Iterator[str]:
    """The whole WSGI app serving on a real socket (a threaded HTTP/1.1 server); yields its base URL."""
    app = App(services)
    WSGIRequestHandler.protocol_version = "HTTP/1.1"  # keep-alive, as clients of these vendors expect
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=WSGIRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def served_url(sqlite_url: str, services: Services) -> Iterator[str]:
    """`smsgw serve` (granian, what production runs) on the test's database. The `live_url` server (werkzeug's)
    answers every request with `Connection: close`, so persistent connections are tested here."""
    with serving(sqlite_url) as url:
        yield url
