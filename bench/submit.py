"""Messages accepted per second by `gateway.submit`, in batches of 1, 100 and 10,000, on SQLite and PostgreSQL.

The peer, measured in the same run on the same database: the database driver alone inserting the same rows into
the same `messages` table (sqlite3 / psycopg `executemany`, one transaction per batch, same durability settings) —
the floor any gateway that stores every message pays, with no validation, encoding, numbers or ids. The ratio
says what our core costs on top of storing.

Targets (this 2-core machine): ≥ 30,000/s in 10,000-message batches on SQLite, ≥ 15,000/s on PostgreSQL.

`--policy` measures each row again for an account with account policy on — prepaid credit (credit_mode messages,
a balance that never runs out) and rate limits (request_rate and message_rate high enough never to refuse) — and
prints its overhead against an account without them. Target: under 10 % on every row. Each request is submitted
by both accounts back to back (which goes first alternates), `--repeat` passes over the row's requests, and the
overhead is the median over these pairs of the policy account's time over the other's: load from elsewhere on the
machine falls on both halves of a pair alike, and a spike on one pair does not move the median. It is given in
wall-clock time and in this process's CPU time (PostgreSQL's own work is not in the latter).

    .venv/bin/python bench/submit.py [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--no-pg]
                                     [--policy [--repeat 3]] [--scale 0.5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from smsgw.accounts import Accounts
from smsgw.domain.model import Account, MessageSpec, SubmitRequest
from smsgw.domain.numbers import NumberFormat
from smsgw.gateway import Gateway
from smsgw.store.database import Store, normalise_url
from smsgw.store.ids import NodeLease

TARGETS = {("sqlite", 10_000): 30_000, ("postgresql", 10_000): 15_000}
SIZES = ((1, 2_000), (100, 20_000), (10_000, 100_000))  # (batch size, messages in total)
POLICY_TARGET = 10.0  # % slower at most with credit and rate limits on
POLICY = {"credit_mode": "messages", "request_rate": 1_000_000, "message_rate": 1_000_000}  # never refuses
POLICY_BALANCE = 10**15


@dataclass
class Row:
    kind: str
    batch: int
    ours: float
    peer: float
    policy: float | None = None  # msg/s with credit and rate limits on (its median request)
    overhead: float | None = None  # % slower than without them: median over back-to-back pairs, wall-clock time
    cpu_overhead: float | None = None  # the same in this process's CPU time


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


def submit_checked(gateway: Gateway, account: Account, request: SubmitRequest) -> None:
    outcomes = gateway.submit(account, request).outcomes
    if not outcomes[-1].accepted:
        raise SystemExit(f"bench message refused: {outcomes[-1].error}")


def clear(store: Store, account: Account) -> None:
    """Delete the account's messages, so the next run starts on the same table."""
    with store.write() as conn:
        for table in ("messages", "batches"):
            conn.execute(text(f"DELETE FROM {table} WHERE account_id = :a"), {"a": account.id})
    if not store.is_sqlite:
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM messages"))


def paired(store: Store, gateway: Gateway, plain: Account, charged: Account, requests: list[SubmitRequest],
           passes: int) -> tuple[float, float, float]:
    """Each request submitted by both accounts back to back, the first of a pair alternating, `passes` times over.
    Returns the policy account's msg/s at its median request time, and the median over the pairs of its time over
    the plain account's, less one, in %: in wall-clock time and in this process's CPU time."""
    wall: list[float] = []
    cpu: list[float] = []
    policy_times: list[float] = []
    for number in range(passes):
        for i, request in enumerate(requests):
            taken: dict[int, tuple[float, float]] = {}
            for who in (plain, charged) if (i + number) % 2 == 0 else (charged, plain):
                started, cpu_started = time.perf_counter(), time.process_time()
                submit_checked(gateway, who, request)
                taken[who.id] = (time.perf_counter() - started, time.process_time() - cpu_started)
            (plain_wall, plain_cpu), (policy_wall, policy_cpu) = taken[plain.id], taken[charged.id]
            wall.append(policy_wall / plain_wall)
            cpu.append(policy_cpu / max(plain_cpu, 1e-9))
            policy_times.append(policy_wall)
        clear(store, plain)
        clear(store, charged)
    return (len(requests[0].messages) / statistics.median(policy_times), (statistics.median(wall) - 1) * 100,
            (statistics.median(cpu) - 1) * 100)


def run_database(kind: str, url: str, *, policy: bool = False, repeat: int = 1, scale: float = 1.0) -> list[Row]:
    store = Store(url)
    store.migrate()
    lease = NodeLease(store)
    gateway = Gateway(store, lease.start())
    accounts = Accounts(store)
    account = accounts.create("bench", "bench-password", default_country="NO")
    charged: Account | None = None
    if policy:
        charged = accounts.create("bench-policy", "bench-password", default_country="NO", **POLICY)
        gateway.credit(charged, POLICY_BALANCE)
    results = []
    offset = spent = 0
    for batch, total in SIZES:
        total = max(batch, int(total * scale) // batch * batch)
        requests = [SubmitRequest(specs(batch, offset + i), number_format=NumberFormat.INTERNATIONAL)
                    for i in range(0, total, batch)]
        offset += total

        ours = measure(f"{kind} ours {batch}", requests, lambda request: submit_checked(gateway, account, request))
        clear(store, account)
        row = Row(kind, batch, ours, 0.0)
        if charged is not None:
            row.policy, row.overhead, row.cpu_overhead = paired(store, gateway, account, charged, requests, repeat)
            spent += total * repeat
            if gateway.balance(charged) != POLICY_BALANCE - spent:
                raise SystemExit("bench: the policy account was not charged once per message")
        row.peer = measure(f"{kind} peer {batch}", peer_rows(total, batch, account.id), peer_insert(kind, url))
        with store.write() as conn:
            conn.execute(text("DELETE FROM messages WHERE batch_ref = 'peer'"))
        results.append(row)
    gateway.close()
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
    parser.add_argument("--policy", action="store_true",
                        help="also with credit and rate limits on, and print their overhead (target < 10 %%)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="with --policy: passes over each row's requests, each request by both accounts")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="messages per row relative to the default (0.2: a fifth, for a quick look)")
    args = parser.parse_args()
    if args.repeat < 1 or args.scale <= 0:
        parser.error("--repeat must be at least 1 and --scale positive")

    options = {"policy": args.policy, "repeat": args.repeat, "scale": args.scale}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results += run_database("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", **options)
    if not args.no_pg:
        url, drop = fresh_pg(args.pg_url)
        try:
            results += run_database("postgresql", url, **options)
        finally:
            drop()

    policy_head = f" {'policy msg/s':>12} {'overhead':>8} {'cpu ovh':>8}" if args.policy else ""
    print(f"{'database':<11} {'batch':>6} {'ours msg/s':>11} {'peer msg/s':>11} {'ours/peer':>9} {'target':>8}  "
          f"{'':<6}{policy_head}")
    failed = False
    for row in results:
        target = TARGETS.get((row.kind, row.batch))
        verdict = "" if target is None else ("met" if row.ours >= target else "MISSED")
        failed |= verdict == "MISSED"
        line = (f"{row.kind:<11} {row.batch:>6} {row.ours:>11,.0f} {row.peer:>11,.0f} {row.ours / row.peer:>9.2f} "
                f"{f'{target:,}' if target else '':>8}  {verdict:<6}")
        if row.policy is not None and row.overhead is not None and row.cpu_overhead is not None:
            over = row.overhead >= POLICY_TARGET
            failed |= over
            line += f" {row.policy:>12,.0f} {row.overhead:>7.1f}% {row.cpu_overhead:>7.1f}%{'  OVER' if over else ''}"
        print(line)
    print("peer: the database driver alone inserting the same rows (executemany, one transaction per batch)")
    if args.policy:
        print(f"policy: credit_mode=messages and request/message rates of {POLICY['request_rate']:,}/s (never "
              f"refusing); overhead: median over {args.repeat} passes of each request submitted with and without, "
              f"back to back, of (time with / time without - 1), in wall-clock time (target < {POLICY_TARGET:g} %) "
              f"and in this process's CPU time (PostgreSQL's own work is not in it)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
