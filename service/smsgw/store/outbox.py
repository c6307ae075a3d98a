"""The outbox's queries on the reports table: claim what is due to be pushed, settle what was tried, list and resend
the dead. Pushed and pulled reports share the table; these touch only `delivery = 'push'` rows (literal SQL, so
SQLite uses the partial index)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, text

from .repository import chunks, executemany

_HOUR_MS = 3_600_000

# Due push reports, oldest due first, each only when no earlier report about the same message is still pending:
# reports for one message go out in the order they arose, whatever retries come between.
_DUE = """
SELECT r.id FROM reports r
WHERE r.delivery = 'push' AND r.state = 'pending' AND r.next_attempt_at <= :now
  AND NOT EXISTS (SELECT 1 FROM reports e WHERE e.message_id = r.message_id AND e.id < r.id
                  AND e.delivery = 'push' AND e.state = 'pending')
ORDER BY r.next_attempt_at, r.id LIMIT :limit"""


def claim(conn: Connection, now_ms: int, limit: int, lease_ms: int,
          skip: Sequence[tuple[int, str]] = ()) -> list[Row[Any]]:
    """Take up to `limit` due push reports for `lease_ms`: their next attempt moves to the lease's end, so if this
    sender dies another sends them then. Rows another sender is claiming are skipped (SKIP LOCKED on PostgreSQL;
    SQLite's write lock makes the claim atomic), and so are those of the endpoints in `skip` ((account id, kind):
    this sender holds enough of theirs)."""
    params: dict[str, Any] = {"now": now_ms, "limit": limit}
    due = _DUE
    if skip:
        params.update((f"skip_a{n}", account) for n, (account, _) in enumerate(skip))
        params.update((f"skip_k{n}", kind) for n, (_, kind) in enumerate(skip))
        others = " AND ".join(f"NOT (r.account_id = :skip_a{n} AND r.kind = :skip_k{n})" for n in range(len(skip)))
        due = due.replace("\nORDER BY", f" AND {others}\nORDER BY")
    due += " FOR UPDATE OF r SKIP LOCKED" if conn.dialect.name == "postgresql" else ""
    ids = [r.id for r in conn.execute(text(due), params)]
    if not ids:
        return []
    rows: list[Row[Any]] = []
    for chunk in chunks(ids):
        marks = ", ".join(str(int(i)) for i in chunk)
        rows += conn.execute(text(
            f"UPDATE reports SET next_attempt_at = :until WHERE id IN ({marks}) RETURNING *"),
            {"until": now_ms + lease_ms}).all()
    rows.sort(key=lambda r: r.id)
    return rows


@dataclass(frozen=True, slots=True)
class Retry:
    report_id: int
    attempts: int  # attempts made so far, this one included
    next_attempt_at: int
    error: str


def settle(conn: Connection, done: Sequence[int], retries: Sequence[Retry], dead: Sequence[Retry]) -> None:
    """The outcome of a pass: acknowledged reports done, failed ones due again later, exhausted ones dead."""
    executemany(conn, "UPDATE reports SET state = 'done', attempts = attempts + 1, last_error = NULL WHERE id = ?",
                [(i,) for i in done])
    executemany(conn, "UPDATE reports SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                [(r.attempts, r.next_attempt_at, r.error, r.report_id) for r in retries])
    executemany(conn, "UPDATE reports SET state = 'dead', attempts = ?, next_attempt_at = ?, last_error = ? "
                      "WHERE id = ?", [(r.attempts, r.next_attempt_at, r.error, r.report_id) for r in dead])


def release(conn: Connection, ids: Sequence[int], until_ms: int) -> None:
    """Claimed reports not tried (their endpoint is down): due again at `until_ms`, no attempt counted."""
    executemany(conn, "UPDATE reports SET next_attempt_at = ? WHERE id = ?", [(until_ms, i) for i in ids])


def postpone(conn: Connection, account_id: int, kind: str, until_ms: int) -> int:
    """Hold back every pending push report of one endpoint (an account's DRs or MOs) until `until_ms`, no attempt
    counted: an endpoint that is down is tried again with one report, not with its whole queue."""
    result = conn.execute(text(
        "UPDATE reports SET next_attempt_at = :until WHERE delivery = 'push' AND state = 'pending' "
        "AND account_id = :account AND kind = :kind AND next_attempt_at < :until"),
        {"until": until_ms, "account": account_id, "kind": kind})
    return int(result.rowcount)


def to_pull(conn: Connection, ids: Sequence[int]) -> None:
    """Reports whose account no longer pushes (format `pull`, or no URL for the kind): kept for receive/confirm."""
    executemany(conn, "UPDATE reports SET delivery = 'pull' WHERE id = ? AND state = 'pending'", [(i,) for i in ids])


def listed(conn: Connection, *, failed: bool, account_id: int | None, limit: int) -> list[Row[Any]]:
    """Push reports, newest first: the dead ones (`failed`), or those still waiting."""
    where = "r.delivery = 'push' AND r.state = " + ("'dead'" if failed else "'pending'")
    params: dict[str, Any] = {"limit": limit}
    if account_id is not None:
        where += " AND r.account_id = :account"
        params["account"] = account_id
    return list(conn.execute(text(
        "SELECT r.id, a.name AS account, r.kind, r.message_id, r.inbound_id, r.status, r.attempts, "
        "r.next_attempt_at, r.last_error, r.created_at, r.retain_until "
        f"FROM reports r JOIN accounts a ON a.id = r.account_id WHERE {where} ORDER BY r.id DESC LIMIT :limit"),
        params).all())


def resend(conn: Connection, now_ms: int, *, ids: Sequence[int] | None, account_id: int | None) -> int:
    """Dead reports back in the outbox, due now, with a fresh retention and attempt count (all of them, or those
    named, or one account's)."""
    where = "delivery = 'push' AND state = 'dead'"
    params: dict[str, Any] = {"now": now_ms, "hour": _HOUR_MS}
    if account_id is not None:
        where += " AND account_id = :account"
        params["account"] = account_id
    update = ("UPDATE reports SET state = 'pending', attempts = 0, next_attempt_at = :now, last_error = NULL, "
              "retain_until = :now + :hour * (SELECT a.report_retention FROM accounts a "
              f"WHERE a.id = reports.account_id) WHERE {where}")
    if ids is None:
        return int(conn.execute(text(update), params).rowcount)
    count = 0
    for chunk in chunks(ids):
        marks = ", ".join(str(int(i)) for i in chunk)
        count += int(conn.execute(text(f"{update} AND id IN ({marks})"), params).rowcount)
    return count
