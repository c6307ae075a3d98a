"""The account-policy queries: balances, suppressions, the per-recipient quota's counts, held messages, content
retention and usage. Callers own the transaction; on SQLite a write transaction already holds the write lock, on
PostgreSQL a balance is read `FOR UPDATE`, so concurrent requests never overdraw it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, text

from .repository import chunks, executemany

_FINAL = "('delivered', 'undeliverable', 'expired', 'rejected', 'failed', 'cancelled')"
_IN_LIST = 500  # numbers in one IN (...) list, within every database's parameter limit


# --- credit ---------------------------------------------------------------------------------------------------


def balance(conn: Connection, account_id: int, *, for_update: bool = False) -> int:
    """The account's balance (0 when it was never credited); `for_update` locks it until the transaction ends."""
    lock = " FOR UPDATE" if for_update and conn.dialect.name == "postgresql" else ""
    found = _fetch(conn, f"SELECT balance FROM balances WHERE account_id = ?{lock}", (account_id,))
    return int(found[0][0]) if found else 0


def add_credit(conn: Connection, account_id: int, amount: int, now_ms: int) -> int:
    """Add `amount` (negative takes away); returns the new balance."""
    found = _fetch(conn, "INSERT INTO balances (account_id, balance, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (account_id) DO UPDATE SET balance = balances.balance + excluded.balance, "
                         "updated_at = excluded.updated_at RETURNING balance", (account_id, amount, now_ms))
    return int(found[0][0])


def take_credit(conn: Connection, account_id: int, amount: int, now_ms: int) -> int | None:
    """Take `amount` if the balance covers it, returning what is left; None (and nothing taken) if it does not.
    One statement: the row is locked by the update itself, and on PostgreSQL a transaction that waited for the lock
    checks the balance its predecessor left."""
    found = _fetch(conn, "UPDATE balances SET balance = balance - ?, updated_at = ? WHERE account_id = ? "
                         "AND balance >= ? RETURNING balance", (amount, now_ms, account_id, amount))
    return int(found[0][0]) if found else None


def take_credit_unless_suppressed(conn: Connection, account_id: int, numbers: Iterable[str], amount: int,
                                  now_ms: int) -> int | None:
    """`take_credit` for messages to `numbers`, only if the account has suppressed none of them: what is left, or
    None (nothing taken) if a number is suppressed or the balance does not cover `amount`. The usual request (no
    opt-out among its recipients, credit enough) costs one statement, one round trip, instead of two."""
    wanted = sorted(set(numbers))
    if len(wanted) == 1:
        barred, params = "s.number = ?", wanted
    elif conn.dialect.name == "postgresql":
        barred, params = "s.number = ANY(CAST(? AS text[]))", [_array(wanted)]
    elif len(wanted) <= _IN_LIST:
        barred, params = f"s.number IN ({', '.join('?' * len(wanted))})", wanted
    else:  # a large batch on SQLite: two statements cost no round trip in-process
        return None if suppressed(conn, account_id, wanted) else take_credit(conn, account_id, amount, now_ms)
    found = _fetch(conn, "UPDATE balances SET balance = balance - ?, updated_at = ? WHERE account_id = ? "
                         "AND balance >= ? AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.account_id = ? "
                         f"AND {barred}) RETURNING balance", (amount, now_ms, account_id, amount, account_id, *params))
    return int(found[0][0]) if found else None


def refund(conn: Connection, message_ids: Sequence[int], now_ms: int) -> int:
    """Give back the cost of those messages that ended without reaching an SMSC (final, and no part was taken),
    once: their cost is set to 0. Returns the amount refunded. (A message whose final state was not written — a
    worker whose claim ran out while another took the message — is not refunded.)"""
    owed: dict[int, int] = {}
    refunded: list[tuple[int]] = []
    for chunk in chunks(message_ids):
        marks = ", ".join(str(int(i)) for i in chunk)
        for row in conn.execute(text(
                f"SELECT m.id, m.account_id, m.cost FROM messages m WHERE m.id IN ({marks}) AND m.cost > 0 "
                f"AND m.status IN {_FINAL} "
                "AND NOT EXISTS (SELECT 1 FROM segments s WHERE s.message_id = m.id)")):
            owed[row.account_id] = owed.get(row.account_id, 0) + row.cost
            refunded.append((row.id,))
    executemany(conn, "UPDATE messages SET cost = 0 WHERE id = ?", refunded)
    for account_id, amount in owed.items():
        add_credit(conn, account_id, amount, now_ms)
    return sum(owed.values())


# --- suppressions ---------------------------------------------------------------------------------------------


def suppressed(conn: Connection, account_id: int, numbers: Iterable[str]) -> set[str]:
    """Those of `numbers` the account may not send to. (Every submit asks: straight on the driver.)"""
    wanted = sorted(set(numbers))
    if not wanted:
        return set()
    if len(wanted) == 1:  # a request of one message (most are): the cheapest statement
        return {r[0] for r in _fetch(conn, "SELECT number FROM suppressions WHERE account_id = ? AND number = ?",
                                     (account_id, wanted[0]))}
    if conn.dialect.name == "postgresql":  # one array literal: psycopg adapts a list element by element, slowly
        return {r[0] for r in _fetch(conn, "SELECT number FROM suppressions WHERE account_id = ? "
                                           "AND number = ANY(CAST(? AS text[]))", (account_id, _array(wanted)))}
    found: set[str] = set()
    for chunk in chunks(wanted):
        found.update(r[0] for r in _fetch(
            conn, f"SELECT number FROM suppressions WHERE account_id = ? AND number IN ({', '.join('?' * len(chunk))})",
            (account_id, *chunk)))
    return found


def suppress(conn: Connection, rows: Sequence[tuple[int, str, str]], now_ms: int) -> None:
    """(account id, number, reason) rows; a number already suppressed keeps its first reason."""
    executemany(conn, "INSERT INTO suppressions (account_id, number, reason, created_at) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (account_id, number) DO NOTHING", [(*row, now_ms) for row in rows])


def suppress_recipients(conn: Connection, message_ids: Sequence[int], reason: str, now_ms: int) -> None:
    """Suppress the recipients of these messages for their accounts (a final DR said the number is barred)."""
    for chunk in chunks(list(message_ids)):
        conn.execute(text(
            "INSERT INTO suppressions (account_id, number, reason, created_at) SELECT DISTINCT account_id, recipient, "
            ":reason, :now FROM messages WHERE id IN :ids ON CONFLICT (account_id, number) DO NOTHING").bindparams(
                _expanding("ids")), {"reason": reason, "now": now_ms, "ids": chunk})


def unsuppress(conn: Connection, account_id: int, numbers: Sequence[str]) -> int:
    removed = 0
    for chunk in chunks(list(numbers)):
        removed += int(conn.execute(text(
            "DELETE FROM suppressions WHERE account_id = :a AND number IN :numbers").bindparams(
                _expanding("numbers")), {"a": account_id, "numbers": chunk}).rowcount)
    return removed


def suppression_rows(conn: Connection, account_id: int, limit: int) -> list[Row[Any]]:
    return list(conn.execute(text(
        "SELECT number, reason, created_at FROM suppressions WHERE account_id = :a ORDER BY created_at DESC, number "
        "LIMIT :limit"), {"a": account_id, "limit": limit}))


# --- the per-recipient quota and held messages ----------------------------------------------------------------


def recent_counts(conn: Connection, account_id: int, recipients: Iterable[str], since_ms: int) -> dict[str, int]:
    """How many messages the account has sent to each of `recipients` since `since_ms`."""
    counts: dict[str, int] = {}
    for chunk in chunks(sorted(set(recipients))):
        counts.update((r.recipient, int(r.n)) for r in conn.execute(text(
            "SELECT recipient, COUNT(*) AS n FROM messages WHERE account_id = :a AND recipient IN :recipients "
            "AND created_at >= :since GROUP BY recipient").bindparams(_expanding("recipients")),
            {"a": account_id, "recipients": chunk, "since": since_ms}))
    return counts


def held_rows(conn: Connection, *, account_id: int | None = None, ids: Sequence[int] | None = None,
              limit: int = 10_000, for_update: bool = False) -> list[Row[Any]]:
    """Held messages, oldest first: all, an account's, or those of `ids` that are held."""
    where, params = "status = 'held'", {"limit": limit}
    if account_id is not None:
        where += " AND account_id = :a"
        params["a"] = account_id
    if ids is not None:
        where += f" AND id IN ({', '.join(str(int(i)) for i in ids) or 'NULL'})"
    lock = " FOR UPDATE" if for_update and conn.dialect.name == "postgresql" else ""
    return list(conn.execute(text(
        "SELECT id, account_id, recipient, originator, text, parts, due_at, expires_at, reports, created_at "
        f"FROM messages WHERE {where} ORDER BY id LIMIT :limit{lock}"), params))


# --- retention and usage --------------------------------------------------------------------------------------


def content_retention(conn: Connection) -> list[tuple[int, int]]:
    """(account id, days) of every account that keeps content for a limited time."""
    return [(r.id, r.content_retention) for r in conn.execute(text(
        "SELECT id, content_retention FROM accounts WHERE content_retention > 0 ORDER BY id"))]


def erase_content(conn: Connection, account_id: int, before_ms: int, limit: int) -> int:
    """Erase the text of up to `limit` of the account's finished messages and MOs older than `before_ms`, keeping
    every other field (reports and billing need them). Returns how many were erased."""
    erased = 0
    for table, stamp, final in (("messages", "created_at", f" AND status IN {_FINAL}"),
                                ("inbound", "received_at", "")):
        ids = list(conn.execute(text(
            f"SELECT id FROM {table} WHERE account_id = :a AND {stamp} < :before "
            f"AND (text IS NOT NULL OR payload IS NOT NULL){final} LIMIT :limit"),
            {"a": account_id, "before": before_ms, "limit": limit}).scalars())
        executemany(conn, f"UPDATE {table} SET text = NULL, payload = NULL WHERE id = ?", [(i,) for i in ids])
        erased += len(ids)
    return erased


@dataclass(frozen=True, slots=True)
class Usage:
    """One UTC day of an account's traffic."""

    day: str  # YYYY-MM-DD
    messages: int
    segments: int
    delivered: int
    failed: int  # undeliverable, expired, rejected or failed
    credit: int  # charged and not refunded


def usage(conn: Connection, account_id: int, from_ms: int, to_ms: int) -> list[Usage]:
    """Per UTC day in [from_ms, to_ms): the account's messages, their parts, how many were delivered or failed, and
    the credit they used."""
    rows = conn.execute(text(
        "SELECT created_at / 86400000 AS day, COUNT(*) AS messages, SUM(parts) AS segments, "
        "SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) AS delivered, "
        "SUM(CASE WHEN status IN ('undeliverable', 'expired', 'rejected', 'failed') THEN 1 ELSE 0 END) AS failed, "
        "SUM(COALESCE(cost, 0)) AS credit "
        "FROM messages WHERE account_id = :a AND created_at >= :start AND created_at < :end "
        "GROUP BY created_at / 86400000 ORDER BY 1"), {"a": account_id, "start": from_ms, "end": to_ms})
    return [Usage(datetime.fromtimestamp(int(r.day) * 86400, UTC).strftime("%Y-%m-%d"), int(r.messages),
                  int(r.segments), int(r.delivered), int(r.failed), int(r.credit)) for r in rows]


def _array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of text values."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _fetch(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """One statement (written with `?` markers) straight on the driver's cursor, in the caller's transaction; its
    rows, if it returns any. The policy's statements run in every submit, where SQLAlchemy's statement handling
    costs more than the database."""
    if conn.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


def _expanding(name: str) -> Any:
    return bindparam(name, expanding=True)
