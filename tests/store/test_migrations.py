"""Store.migrate: builds exactly the schema of `tables.metadata`, knows when it is needed, is idempotent, and is safe
when several processes start on the same empty database at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import TYPE_CHECKING

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from smsgw.store.database import Store, alembic_config
from smsgw.store.tables import metadata

if TYPE_CHECKING:
    from conftest import Children  # tests/store/conftest.py


def _head(store: Store) -> str:
    heads = ScriptDirectory.from_config(alembic_config(store.url)).get_heads()
    assert len(heads) == 1, f"the migrations have {len(heads)} heads: {heads}"
    return heads[0]


def _versions(store: Store) -> list[str]:
    with store.read() as conn:
        return [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]


def test_migrate_creates_every_table_column_and_index_of_the_metadata(database_url: str) -> None:
    store = Store(database_url)
    try:
        with store.engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
        store.migrate()
        with store.engine.connect() as conn:
            inspector = inspect(conn)
            assert set(inspector.get_table_names()) == set(metadata.tables) | {"alembic_version"}
            for name, table in metadata.tables.items():
                columns = {c["name"]: c for c in inspector.get_columns(name)}
                assert set(columns) == {c.name for c in table.columns}, name
                for column in table.columns:
                    assert bool(columns[column.name]["nullable"]) == column.nullable, f"{name}.{column.name}"
                assert set(inspector.get_pk_constraint(name)["constrained_columns"]) == {
                    c.name for c in table.primary_key.columns
                }, name
                indexes = {i["name"]: i for i in inspector.get_indexes(name)}
                for index in table.indexes:
                    assert index.name in indexes, f"{name}: index {index.name} missing"
                    assert indexes[index.name]["column_names"] == [c.name for c in index.columns], index.name
                    assert bool(indexes[index.name]["unique"]) == bool(index.unique), index.name
    finally:
        store.dispose()


def test_migrated_schema_has_no_difference_from_the_metadata(store: Store) -> None:
    """Alembic's autogenerate comparison (types included) finds nothing to change after migrating."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_needs_migration_is_true_on_an_empty_database_and_false_after_migrate(database_url: str) -> None:
    store = Store(database_url)
    try:
        assert store.needs_migration() is True
        store.migrate()
        assert store.needs_migration() is False
        assert _versions(store) == [_head(store)]
    finally:
        store.dispose()


def test_migrating_twice_changes_nothing(database_url: str) -> None:
    store = Store(database_url)
    try:
        store.migrate()
        with store.write() as conn:
            conn.execute(text("INSERT INTO node_leases (node_id, holder, expires_at) VALUES (7, 'keep-me', 1)"))
        with store.engine.connect() as conn:
            before = sorted(inspect(conn).get_table_names())
        store.migrate()
        assert store.needs_migration() is False
        assert _versions(store) == [_head(store)]
        with store.engine.connect() as conn:
            assert sorted(inspect(conn).get_table_names()) == before
        with store.read() as conn:
            assert conn.execute(text("SELECT holder FROM node_leases")).scalars().all() == ["keep-me"]
    finally:
        store.dispose()


def test_a_second_store_on_a_migrated_database_needs_no_migration(store: Store) -> None:
    other = Store(store.url)
    try:
        assert other.needs_migration() is False
    finally:
        other.dispose()


def test_sqlite_runs_in_wal_mode_with_synchronous_normal_and_a_30_second_busy_timeout(sqlite_url: str) -> None:
    """README, Storage: WAL, one writer at a time waiting up to 30 s, `synchronous=NORMAL` (a commit survives any crash
    of the process; only a power cut may lose the last ones). Every connection of both ways in is set up so."""
    store = Store(sqlite_url)
    try:
        store.migrate()
        for way_in in (store.read, store.write, store.read):
            with way_in() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        store.dispose()
    # The journal mode is a property of the file: a plain connection sees it too.
    plain = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        plain.close()


def test_opening_a_fresh_sqlite_database_waits_for_another_writer_instead_of_failing(sqlite_url: str) -> None:
    """What a second process meets while the first switches the new file to WAL: a writer holding the lock."""
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE another_writer (x INTEGER)")
    release = threading.Timer(0.5, writer.execute, ["COMMIT"])
    release.start()
    store = Store(sqlite_url)
    try:
        store.migrate()  # should wait the half second for the writer, as every other write does
        assert store.needs_migration() is False
    finally:
        store.dispose()
        release.join()
        writer.close()


_MIGRATE = """
import sys
from smsgw.store.database import Store

store = Store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
store.migrate()
print("migrated", "needs" if store.needs_migration() else "current", flush=True)
store.dispose()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "database_url",
    ["sqlite", "postgresql"],
    indirect=True,
)
def test_several_processes_migrating_one_empty_database_at_once_all_succeed(
    database_url: str, children: Children
) -> None:
    procs = [children.start(_MIGRATE, database_url) for _ in range(4)]
    for proc in procs:
        assert proc.line() == "ready"
    for proc in procs:  # released together: they race for the empty database
        proc.go()
    for proc in procs:
        assert proc.line() == "migrated current"
        proc.finish()

    store = Store(database_url)
    try:
        assert _versions(store) == [_head(store)]
        assert store.needs_migration() is False
        with store.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == set(metadata.tables) | {"alembic_version"}
    finally:
        store.dispose()


def test_sqlite_writers_of_two_stores_take_turns_and_the_second_goes_as_soon_as_the_first_is_done(
    sqlite_url: str,
) -> None:
    """Two Stores on one file lock like two processes do (separate lock descriptors): the second writer waits for
    the first, then goes at once instead of polling in SQLite's busy handler."""
    first, second = Store(sqlite_url), Store(sqlite_url)
    first.migrate()
    entered, released_at, second_in = threading.Event(), [0.0], [0.0]

    def hold() -> None:
        with first.write() as conn:
            conn.execute(text("INSERT INTO node_leases (node_id, holder, expires_at) VALUES (1, 'first', 0)"))
            entered.set()
            time.sleep(0.3)
            released_at[0] = time.monotonic()

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(5)
    with second.write() as conn:
        second_in[0] = time.monotonic()
        conn.execute(text("INSERT INTO node_leases (node_id, holder, expires_at) VALUES (2, 'second', 0)"))
    holder.join(5)
    assert second_in[0] >= released_at[0]
    assert second_in[0] - released_at[0] < 0.05  # handed over, not found by a sleeping retry
    with second.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM node_leases")).scalar_one() == 2
    first.dispose()
    second.dispose()
