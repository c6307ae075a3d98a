"""Messages accepted per second by `gateway.submit`, in batches of 1, 100 and 10,000, on SQLite and PostgreSQL.

The peer, measured in the same run on the same database: the database driver alone inserting the same rows into
the same `messages` table (sqlite3 / psycopg `executemany`, one transaction per batch, same durability settings) —
the floor any gateway that stores every message pays, with no validation, encoding, numbers or ids. The ratio
says what our core costs on top of storing.

Targets (this 2-core machine): ≥ 30,000/s in 10,000-message batches on SQLite, ≥ 15,000/s on PostgreSQL.

    .venv/bin/python bench/submit.py [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--no-pg]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from smsgw.accounts import Accounts
from smsgw.domain.model import MessageSpec, SubmitRequest
from smsgw.domain.numbers import NumberFormat
from smsgw.gateway import Gateway
from smsgw.store.database import Store, normalise_url
from smsgw.store.ids import NodeLease

TARGETS = {("sqlite", 10_000): 30_000, ("postgresql", 10_000): 15_000}
SIZES = ((1, 2_000), (100, 20_000), (10_000, 100_000))  # (batch size, messages in total)


def specs(count: int, offset: int) -> list[MessageSpec]:
    return [
        MessageSpec(recipient=f"+4741{(offset + i) % 1_000_000:06d}",
                    text=f"Hello {offset + i}, your code is {(offset + i) % 9999:04d}. Reply STOP to opt out.")
        for i in range(count)
    ]


def measure(label: str, batches: Sequence[Any], run: Callable[[Any], None]) -> float:
    started = time.perf_counter()
    for batch in batches:
        run(batch)
    elapsed = time.perf_counter() - started
    total = sum(len(b) if isinstance(b, list) else len(b.messages) for b in batches)
    return total / elapsed


def peer_rows(gateway_rows: int, batch: int, account_id: int) -> list[list[tuple[Any, ...]]]:
    now = time.time_ns() // 1_000_000
    rows = [
        (10**17 + i, account_id, 1, "peer", None, "bench", f"+4741{i % 1_000_000:06d}", None, None, "gsm7",
         f"Hello {i}, your code is {i % 9999:04d}. Reply STOP to opt out.", None, None, None, None, False, 1, 1, 1,
         None, False, "accepted", 0, None, now, now, now, now + 86_400_000, None, None)
        for i in range(gateway_rows)
    ]
    return [rows[i : i + batch] for i in range(0, len(rows), batch)]


COLUMNS = ("id, account_id, batch_id, batch_ref, client_ref, face, recipient, originator, originator_type, encoding, "
           "text, payload, udh, dcs, pid, flash, parts, priority, reports, price, billing_single_shot, status, "
           "attempts, error_code, created_at, updated_at, due_at, expires_at, send_window, extras")


def run_database(kind: str, url: str) -> list[tuple[str, int, float, float]]:
    store = Store(url)
    store.migrate()
    lease = NodeLease(store)
    gateway = Gateway(store, lease.start())
    account = Accounts(store).create("bench", "bench-password", default_country="NO")
    results = []
    offset = 0
    for batch, total in SIZES:
        requests = [SubmitRequest(specs(batch, offset + i), number_format=NumberFormat.INTERNATIONAL)
                    for i in range(0, total, batch)]
        offset += total

        def submit(request: SubmitRequest) -> None:
            outcomes = gateway.submit(account, request).outcomes
            if not outcomes[-1].accepted:
                raise SystemExit(f"bench message refused: {outcomes[-1].error}")

        ours = measure(f"{kind} ours {batch}", requests, submit)
        with store.write() as conn:
            conn.execute(text("DELETE FROM messages WHERE face = 'bench'"))
        peer = measure(f"{kind} peer {batch}", peer_rows(total, batch, account.id), peer_insert(kind, url))
        with store.write() as conn:
            conn.execute(text("DELETE FROM messages WHERE batch_ref = 'peer'"))
        results.append((kind, batch, ours, peer))
    lease.release()
    store.dispose()
    return results


def peer_insert(kind: str, url: str) -> Callable[[list[tuple[Any, ...]]], None]:
    placeholders = ", ".join(["?" if kind == "sqlite" else "%s"] * len(COLUMNS.split(",")))
    sql = f"INSERT INTO messages ({COLUMNS}) VALUES ({placeholders})"
    if kind == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")

        def insert_sqlite(rows: list[tuple[Any, ...]]) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")

        return insert_sqlite
    import psycopg

    pg = psycopg.connect(normalise_url(url).replace("postgresql+psycopg://", "postgresql://"))

    def insert_pg(rows: list[tuple[Any, ...]]) -> None:
        with pg.transaction(), pg.cursor() as cur:
            cur.executemany(sql, rows)

    return insert_pg


def fresh_pg(admin_url: str) -> tuple[str, Callable[[], None]]:
    name = f"smsgw_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + "/" + name, drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="an existing PostgreSQL database to create the bench database from")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results += run_database("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")
    if not args.no_pg:
        url, drop = fresh_pg(args.pg_url)
        try:
            results += run_database("postgresql", url)
        finally:
            drop()

    print(f"{'database':<11} {'batch':>6} {'ours msg/s':>11} {'peer msg/s':>11} {'ours/peer':>9} {'target':>8}  ")
    failed = False
    for kind, batch, ours, peer in results:
        target = TARGETS.get((kind, batch))
        verdict = "" if target is None else ("met" if ours >= target else "MISSED")
        failed |= verdict == "MISSED"
        print(f"{kind:<11} {batch:>6} {ours:>11,.0f} {peer:>11,.0f} {ours / peer:>9.2f} "
              f"{f'{target:,}' if target else '':>8}  {verdict}")
    print("peer: the database driver alone inserting the same rows (executemany, one transaction per batch)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
