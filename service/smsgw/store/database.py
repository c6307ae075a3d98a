"""Connecting to the database: SQLite (WAL, one writer at a time) or PostgreSQL, and migrating it safely."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x736D7367  # "smsg": one migrator at a time across processes


def normalise_url(url: str) -> str:
    """`postgresql://…` means psycopg 3 here (the driver we install)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """A database URL fit for logs and messages: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


class Store:
    """The engine plus the two ways in: `read()` and `write()` (a transaction that owns the write lock at once)."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._writer: _WriterLock | None = None
        if self.is_sqlite:
            self.engine: Engine = create_engine(self.url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
            database = make_url(self.url).database
            if database and database != ":memory:":
                self._writer = _WriterLock(Path(database).with_name(Path(database).name + ".write-lock"))
        else:
            self.engine = create_engine(self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write: on SQLite it takes the write lock at BEGIN, so it never fails half-way
        for another writer (it waits for it instead)."""
        with self.writer_lock(), self.engine.connect() as conn, self.begin_write(conn):
            yield conn

    def writer_lock(self) -> Any:
        """Held around every write transaction: orders the writers of all processes on a SQLite file."""
        return self._writer or nullcontext()

    def begin_write(self, conn: Connection) -> Any:
        """BEGIN a write transaction on `conn` (IMMEDIATE on SQLite: the write lock at once)."""
        if self.is_sqlite:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        return conn.begin()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def peek(self) -> Iterator[Connection]:
        """A connection without a transaction, for one statement that reads (no BEGIN/COMMIT round trips)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def migrate(self) -> None:
        """Bring the schema to the newest revision. Several processes may call this at once: one migrates, the
        others wait for it and then find nothing to do."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="EXCLUSIVE")
            with conn.begin():
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                config = alembic_config(self.url)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")

    def needs_migration(self) -> bool:
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
        head = ScriptDirectory.from_config(alembic_config(self.url)).get_heads()
        return set(current) != set(head)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writer is not None:
            self._writer.close()


class Writer:
    """Write transactions on one connection kept open between them, for one thread at a time (a group commit's
    leader): a transaction then costs no pool checkout. A failed transaction drops the connection, so a broken one
    is never reused."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Connection | None = None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.store.writer_lock():
            if self._conn is None:
                self._conn = self.store.engine.connect()
            try:
                with self.store.begin_write(self._conn):
                    yield self._conn
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _WriterLock:
    """One writer at a time on a SQLite file, across threads and processes, handed over as soon as it is free.

    SQLite's own busy handler polls with growing sleeps (up to 100 ms), so writers of several processes queue badly;
    an `flock` on a file beside the database wakes the next writer at once. BEGIN IMMEDIATE still guards the data:
    this lock only orders the writers that use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off; `_sqlite_begin` issues BEGIN itself.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    # Switching a new file to WAL needs the write lock, and SQLite does not wait for it here (busy_timeout does not
    # apply): when several processes open a new database at once, the others retry until the first has switched.
    deadline = time.monotonic() + 30
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    if mode != "wal":
        raise RuntimeError(f"SQLite refused WAL mode (journal_mode is {mode!r}); is the file on a network share?")
    # NORMAL in WAL mode: a commit survives any crash of the process (the WAL is written before COMMIT returns) and
    # the file never corrupts; only a power cut or OS crash may lose the last commits. FULL halves bulk throughput
    # (every checkpoint waits for fsync). Deployments that need power-cut durability use PostgreSQL (see README).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("isolation_level") != "AUTOCOMMIT":
        # Straight on the driver: this runs for every transaction, and SQLAlchemy's statement machinery costs more
        # than the BEGIN itself.
        conn.connection.driver_connection.execute(f"BEGIN {options.get('sqlite_begin', 'DEFERRED')}")  # type: ignore[union-attr]
