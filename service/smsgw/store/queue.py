"""The delivery worker's SQL: claim due messages, record what the SMSC said, apply receipts, leases and state.

Everything here is bulk: one statement (or one driver `executemany`) per kind of change for a whole chunk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from ..delivery.connectors.base import Outgoing
from ..domain.model import Status
from .repository import chunks, executemany
from .tables import connector_states, counters, leases, messages, mo_parts, pending_receipts, segments

# The queue index's own predicate, as literal SQL: with bound parameters instead, SQLite cannot tell that a query
# implies the partial index's WHERE, and scans the whole table.
_QUEUED = text("status IN ('accepted', 'scheduled')")
_CLAIM_COLUMNS = (
    messages.c.id, messages.c.account_id, messages.c.recipient, messages.c.originator, messages.c.originator_type,
    messages.c.encoding, messages.c.text, messages.c.payload, messages.c.udh, messages.c.dcs, messages.c.pid,
    messages.c.flash, messages.c.parts, messages.c.priority, messages.c.reports, messages.c.expires_at,
    messages.c.attempts, messages.c.status, messages.c.send_window, messages.c.billing_single_shot,
    messages.c.claimed_by,
)


def claim(conn: Connection, worker: str, now_ms: int, limit: int, claim_ms: int) -> list[Outgoing]:
    """Take up to `limit` due messages, the most urgent priority first and each priority in due order, for
    `claim_ms`: their due time moves to the claim's end, so if this worker dies another takes them then. Rows
    another worker is claiming are skipped (SKIP LOCKED on PostgreSQL; SQLite has one worker, by lease)."""
    taken: list[Any] = []
    pg = conn.dialect.name == "postgresql"
    for priority in (3, 2, 1, 0):
        if len(taken) >= limit:
            break
        query = (select(*_CLAIM_COLUMNS)
                 .where(_QUEUED, messages.c.priority == priority,
                        messages.c.due_at <= now_ms)
                 .order_by(messages.c.due_at).limit(limit - len(taken)))
        if pg:
            query = query.with_for_update(skip_locked=True)
        taken += conn.execute(query).all()
    if not taken:
        return []
    for chunk in chunks([r.id for r in taken]):
        conn.execute(update(messages).where(messages.c.id.in_(chunk)).values(
            claimed_by=worker, due_at=now_ms + claim_ms, attempts=messages.c.attempts + 1, updated_at=now_ms))
    return [
        Outgoing(id=r.id, account_id=r.account_id, recipient=r.recipient, originator=r.originator,
                 originator_type=r.originator_type, encoding=r.encoding, text=r.text, payload=r.payload, udh=r.udh,
                 dcs=r.dcs, pid=r.pid, flash=r.flash, parts=r.parts, priority=r.priority, reports=r.reports,
                 expires_at=r.expires_at, attempts=r.attempts + 1, status=r.status,
                 send_window=_json_text(r.send_window), billing_single_shot=r.billing_single_shot,
                 reclaimed=r.claimed_by is not None)
        for r in taken
    ]


def _json_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def sent_parts(conn: Connection, message_ids: Sequence[int]) -> dict[int, frozenset[int]]:
    """For messages sent before in parts: the parts an SMSC already took (a retry sends only the rest)."""
    found: dict[int, set[int]] = {}
    for chunk in chunks(message_ids):
        for message_id, seq in conn.execute(
            select(segments.c.message_id, segments.c.seq).where(segments.c.message_id.in_(chunk))
        ):
            found.setdefault(message_id, set()).add(seq)
    return {k: frozenset(v) for k, v in found.items()}


@dataclass(frozen=True, slots=True)
class MessageChange:
    """A claimed message's new state after an attempt (or a receipt)."""

    id: int
    status: Status
    due_at: int | None = None  # None: unchanged
    error_code: str | None = None
    attempts_back: bool = False  # the attempt did not count (throttled): give it back


def record_attempts(conn: Connection, worker: str, now_ms: int, segment_rows: Sequence[Mapping[str, Any]],
                    changes: Sequence[MessageChange]) -> None:
    """The parts an SMSC took (segments) and each claimed message's new state; the claim ends. A message another
    worker has taken meanwhile (this claim ran out) is left to it."""
    executemany(conn, _UPSERT_SEGMENT, [tuple(row[c] for c in _SEGMENT_COLUMNS) for row in segment_rows])
    executemany(conn, "UPDATE messages SET status = ?, due_at = COALESCE(?, due_at), error_code = ?, "
                      "attempts = attempts - ?, claimed_by = NULL, updated_at = ? WHERE id = ? AND claimed_by = ?",
                [(c.status.value, c.due_at, c.error_code, int(c.attempts_back), now_ms, c.id, worker)
                 for c in changes])


_SEGMENT_COLUMNS = tuple(c.name for c in segments.c)
_UPSERT_SEGMENT = (  # a part sent again after a worker died may already have its row: the newer answer wins
    f"INSERT INTO segments ({', '.join(_SEGMENT_COLUMNS)}) VALUES ({', '.join('?' * len(_SEGMENT_COLUMNS))}) "
    "ON CONFLICT (message_id, seq) DO UPDATE SET smsc_id = excluded.smsc_id, connector = excluded.connector, "
    "status = excluded.status, error_code = excluded.error_code, updated_at = excluded.updated_at"
)


# --- receipts -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentRow:
    message_id: int
    seq: int
    smsc_id: str
    connector: str
    status: Status


@dataclass(slots=True)
class ReceiptTarget:
    """A message a receipt touched: what aggregation needs."""

    id: int
    account_id: int
    status: Status
    parts: int
    reports: int
    segments: dict[int, Status]


def receipt_matches(conn: Connection, ids: Iterable[tuple[str, str]]
                    ) -> tuple[dict[tuple[str, str], SegmentRow], dict[int, ReceiptTarget]]:
    """Segments by (connector, normalised SMSC id), and their messages with every part's status (what aggregation
    needs): one query with the messages joined, and one more only for messages of several parts."""
    wanted = set(ids)
    found: dict[tuple[str, str], SegmentRow] = {}
    targets: dict[int, ReceiptTarget] = {}
    for chunk in chunks(sorted({smsc_id for _, smsc_id in wanted})):
        rows = conn.execute(
            select(segments.c.message_id, segments.c.seq, segments.c.smsc_id, segments.c.connector,
                   segments.c.status, messages.c.account_id, messages.c.status.label("message_status"),
                   messages.c.parts, messages.c.reports)
            .join(messages, messages.c.id == segments.c.message_id)
            .where(segments.c.smsc_id.in_(chunk))
        )
        for r in rows:
            if (r.connector, r.smsc_id) not in wanted:
                continue
            found[r.connector, r.smsc_id] = SegmentRow(r.message_id, r.seq, r.smsc_id, r.connector, Status(r.status))
            target = targets.setdefault(r.message_id, ReceiptTarget(
                r.message_id, r.account_id, Status(r.message_status), r.parts, r.reports, {}))
            target.segments[r.seq] = Status(r.status)
    several = [t.id for t in targets.values() if t.parts > 1]
    for chunk in chunks(several):
        for message_id, seq, status in conn.execute(select(segments.c.message_id, segments.c.seq, segments.c.status)
                                                     .where(segments.c.message_id.in_(chunk))):
            targets[message_id].segments[seq] = Status(status)
    return found, targets


def update_segments(conn: Connection, now_ms: int, changes: Sequence[tuple[int, int, Status, str | None]]) -> None:
    """(message id, seq, new status, error) per segment."""
    executemany(conn, "UPDATE segments SET status = ?, error_code = ?, updated_at = ? WHERE message_id = ? AND seq = ?",
                [(s.value, e, now_ms, m, q) for m, q, s, e in changes])


_SENT = text("status IN ('submitted', 'buffered')")


def unreported(conn: Connection, expired_before_ms: int, limit: int) -> list[tuple[int, int, Status]]:
    """(id, account id, status) of messages sent, asking for a receipt, still without a final one, whose validity
    ended before then. A scan of the sent messages: run it rarely."""
    rows = conn.execute(select(messages.c.id, messages.c.account_id, messages.c.status)
                        .where(_SENT, messages.c.reports.op("&")(1) == 1, messages.c.expires_at < expired_before_ms)
                        .limit(limit))
    return [(i, account_id, Status(status)) for i, account_id, status in rows]


def update_statuses(conn: Connection, now_ms: int, changes: Sequence[tuple[int, Status, str | None]]) -> None:
    """(message id, new status, error code) for messages no worker holds (receipts move them along)."""
    executemany(conn, "UPDATE messages SET status = ?, error_code = ?, updated_at = ? WHERE id = ?",
                [(s.value, e, now_ms, m) for m, s, e in changes])


def add_to_inbox(conn: Connection, rows: Sequence[tuple[str, str, str, str | None, int]]) -> None:
    """Receipts as they came (connector, smsc_id, state, error, received_at), to be applied in bulk."""
    executemany(conn, "INSERT INTO pending_receipts (connector, smsc_id, state, error, received_at) "
                      "VALUES (?, ?, ?, ?, ?)", rows)


def inbox(conn: Connection, limit: int) -> list[Any]:
    return list(conn.execute(select(pending_receipts).order_by(pending_receipts.c.id).limit(limit)).all())


def drop_from_inbox(conn: Connection, ids: Sequence[int]) -> None:
    for chunk in chunks(ids):
        conn.execute(delete(pending_receipts).where(pending_receipts.c.id.in_(chunk)))


def drop_stale_inbox(conn: Connection, before_ms: int) -> int:
    return conn.execute(delete(pending_receipts).where(pending_receipts.c.received_at < before_ms)).rowcount


# --- concatenated MOs ---------------------------------------------------------------------------------------------


def add_mo_part(conn: Connection, row: Mapping[str, Any]) -> list[Any] | None:
    """Keep one part of a concatenated MO; when it completes its message, return all its parts (in order) and
    forget them. A part the SMSC sends twice is kept once."""
    key = and_(mo_parts.c.source == row["source"], mo_parts.c.destination == row["destination"],
               mo_parts.c.ref == row["ref"], mo_parts.c.total == row["total"])
    present = conn.execute(select(mo_parts.c.seq).where(key, mo_parts.c.seq == row["seq"])).first()
    if present is None:
        conn.execute(insert(mo_parts), [dict(row)])
    parts = conn.execute(select(mo_parts).where(key).order_by(mo_parts.c.seq)).all()
    if len(parts) < row["total"]:
        return None
    conn.execute(delete(mo_parts).where(key))
    return list(parts)


def stale_mo_parts(conn: Connection, before_ms: int) -> list[Any]:
    """Parts of MOs whose other parts never came, received before then; they are removed."""
    rows = conn.execute(select(mo_parts).where(mo_parts.c.received_at < before_ms)
                        .order_by(mo_parts.c.source, mo_parts.c.destination, mo_parts.c.ref, mo_parts.c.seq)).all()
    for chunk in chunks([(r.source, r.destination, r.ref, r.total, r.seq) for r in rows]):
        conn.execute(delete(mo_parts).where(
            tuple_(mo_parts.c.source, mo_parts.c.destination, mo_parts.c.ref, mo_parts.c.total, mo_parts.c.seq)
            .in_(chunk)))
    return list(rows)


# --- leases, state, counters --------------------------------------------------------------------------------------


def take_lease(conn: Connection, name: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
    """Take or renew the lease `name` for `holder`, unless another holder's lease is still running."""
    current = conn.execute(select(leases.c.holder, leases.c.expires_at).where(leases.c.name == name)
                           .with_for_update()).first()
    if current is None:
        conn.execute(insert(leases).values(name=name, holder=holder, expires_at=now_ms + ttl_ms))
        return True
    if current.holder != holder and current.expires_at > now_ms:
        return False
    conn.execute(update(leases).where(leases.c.name == name).values(holder=holder, expires_at=now_ms + ttl_ms))
    return True


def release_lease(conn: Connection, name: str, holder: str) -> None:
    conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))


def lease_holder(conn: Connection, name: str, now_ms: int) -> str | None:
    return conn.execute(select(leases.c.holder).where(leases.c.name == name, leases.c.expires_at > now_ms)).scalar()


def save_connector_states(conn: Connection, worker: str, now_ms: int, states: Mapping[str, Mapping[str, Any]]) -> None:
    conn.execute(delete(connector_states).where(connector_states.c.worker == worker))
    if states:
        conn.execute(insert(connector_states), [
            {"worker": worker, "connector": name, "state": dict(state), "updated_at": now_ms}
            for name, state in states.items()
        ])


def connector_state_rows(conn: Connection) -> list[Any]:
    return list(conn.execute(select(connector_states).order_by(connector_states.c.connector,
                                                               connector_states.c.worker)).all())


def add_counts(conn: Connection, now_ms: int, counts: Mapping[str, int]) -> None:
    """Add to this minute's whole-system counters."""
    counts = {name: n for name, n in counts.items() if n}
    if not counts:
        return
    minute = now_ms - now_ms % 60_000
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(counters)
    conn.execute(
        statement.on_conflict_do_update(index_elements=[counters.c.minute, counters.c.name],
                                        set_={"value": counters.c.value + statement.excluded.value}),
        [{"minute": minute, "name": name, "value": n} for name, n in sorted(counts.items())],
    )


def counts_since(conn: Connection, since_ms: int) -> dict[str, int]:
    rows = conn.execute(select(counters.c.name, func.sum(counters.c.value)).where(counters.c.minute >= since_ms)
                        .group_by(counters.c.name))
    return {name: int(total) for name, total in rows}


def queue_depth(conn: Connection, now_ms: int) -> int:
    """Messages due now and not being sent."""
    return int(conn.execute(select(func.count()).select_from(messages).where(
        _QUEUED, messages.c.due_at <= now_ms)).scalar() or 0)
