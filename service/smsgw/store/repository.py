"""Bulk SQL for the gateway, in SQLAlchemy Core; rows go in as dicts and come out as domain dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, case, delete, func, insert, or_, select, text, update

from ..domain.encoding import Encoding, ParsingType
from ..domain.model import (
    Account,
    Inbound,
    MessageView,
    ReportItem,
    ReportKind,
    Status,
)
from ..domain.numbers import OriginatorType
from .tables import (
    accounts,
    batches,
    client_certificates,
    idempotency_keys,
    inbound,
    messages,
    numbers,
    reports,
    status_history,
)

_CHUNK = 500  # keeps IN (...) lists within every database's parameter limit


def to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    """`values` in pieces small enough for an `IN (...)` list."""
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


# --- accounts -------------------------------------------------------------------------------------------------

_LIST_FIELDS = ("allowed_networks", "trusted_proxies", "client_certs", "allowed_originators", "intermediate_states",
                "stop_keywords", "start_keywords", "suppress_codes")


def account_from_row(row: Row[Any] | Mapping[str, Any]) -> Account:
    m = row._mapping if isinstance(row, Row) else row
    return Account(
        id=m["id"],
        name=m["name"],
        password_hash=m["password_hash"],
        credential_version=m["credential_version"],
        active=bool(m["active"]),
        allowed_networks=tuple(m["allowed_networks"]),
        trusted_proxies=tuple(m["trusted_proxies"]),
        client_address_header=m["client_address_header"],
        client_cert_header=m["client_cert_header"],
        client_certs=tuple(m["client_certs"]),
        default_country=m["default_country"],
        default_originator=m["default_originator"],
        default_originator_type=OriginatorType(m["default_originator_type"]) if m["default_originator_type"] else None,
        allowed_originators=tuple(m["allowed_originators"]),
        max_parts=m["max_parts"],
        parsing_type=ParsingType(m["parsing_type"]),
        duplicate_window=m["duplicate_window"],
        default_validity=m["default_validity"],
        test_mode=bool(m["test_mode"]),
        send_rate=m["send_rate"],
        single_shot_billing=bool(m["single_shot_billing"]),
        report_format=m["report_format"],
        dlr_url=m["dlr_url"],
        mo_url=m["mo_url"],
        report_intermediate=bool(m["report_intermediate"]),
        intermediate_states=tuple(m["intermediate_states"]),
        report_retention=m["report_retention"],
        report_timeout=m["report_timeout"],
        report_header=m["report_header"],
        report_secret=m["report_secret"],
        credit_mode=m["credit_mode"],
        segment_price=m["segment_price"],
        request_rate=m["request_rate"],
        message_rate=m["message_rate"],
        recipient_quota=m["recipient_quota"],
        recipient_window=m["recipient_window"],
        stop_keywords=tuple(m["stop_keywords"]),
        start_keywords=tuple(m["start_keywords"]),
        stop_reply=m["stop_reply"],
        start_reply=m["start_reply"],
        suppress_codes=tuple(m["suppress_codes"]),
        content_retention=m["content_retention"],
    )


def account_values(account: Account) -> dict[str, Any]:
    """An account as column values (enums as their strings, tuples as lists)."""
    values: dict[str, Any] = {}
    for column in accounts.c:
        if column.name in ("created_at", "updated_at"):
            continue
        value = getattr(account, column.name)
        if column.name in _LIST_FIELDS:
            value = list(value)
        elif hasattr(value, "value"):
            value = value.value
        values[column.name] = value
    return values


def get_account(conn: Connection, *, name: str | None = None, account_id: int | None = None) -> Account | None:
    query = select(accounts)
    query = query.where(accounts.c.name == name) if name is not None else query.where(accounts.c.id == account_id)
    row = conn.execute(query).first()
    return account_from_row(row) if row else None


def account_with_stamp(conn: Connection, account_id: int) -> tuple[Account, int] | None:
    """An account and its `updated_at`, from one read of its row."""
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    return (account_from_row(row), row.updated_at) if row else None


def list_accounts(conn: Connection) -> list[Account]:
    return [account_from_row(r) for r in conn.execute(select(accounts).order_by(accounts.c.id))]


def next_account_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(accounts.c.id), 0))).scalar_one()) + 1


def insert_account(conn: Connection, account: Account, now_ms: int) -> None:
    conn.execute(insert(accounts).values(**account_values(account), created_at=now_ms, updated_at=now_ms))


def update_account(conn: Connection, account: Account, now_ms: int) -> None:
    """Every change moves `updated_at` forward (by at least 1 ms), so (updated_at, credential_version) is a stamp
    that says whether a cached copy of the account is still current."""
    values = account_values(account)
    stamp = case((accounts.c.updated_at >= now_ms, accounts.c.updated_at + 1), else_=now_ms)
    conn.execute(update(accounts).where(accounts.c.id == account.id).values(**values, updated_at=stamp))


_STAMP_BY_NAME = text("SELECT id, updated_at FROM accounts WHERE name = :key")
_STAMP_BY_ID = text("SELECT id, updated_at FROM accounts WHERE id = :key")


def account_stamp(conn: Connection, *, name: str | None = None,
                  account_id: int | None = None) -> tuple[int, int] | None:
    """(id, updated_at) of an account: one small indexed read, to check a cached Account is current."""
    row = conn.execute(_STAMP_BY_NAME if name is not None else _STAMP_BY_ID,
                       {"key": name if name is not None else account_id}).first()
    return (row[0], row[1]) if row else None


def add_number(conn: Connection, account_id: int, number: str, keyword: str) -> None:
    conn.execute(insert(numbers).values(account_id=account_id, number=number, keyword=keyword))


def numbers_of(conn: Connection, account_id: int) -> list[tuple[str, str]]:
    rows = conn.execute(
        select(numbers.c.number, numbers.c.keyword)
        .where(numbers.c.account_id == account_id)
        .order_by(numbers.c.number, numbers.c.keyword)
    )
    return [(r.number, r.keyword) for r in rows]


def route_inbound(conn: Connection, destination: str, keyword: str) -> int | None:
    """The account owning `destination` with this keyword, else the one owning it for any keyword."""
    rows = conn.execute(
        select(numbers.c.account_id, numbers.c.keyword).where(
            numbers.c.number == destination, numbers.c.keyword.in_([keyword, ""])
        )
    ).all()
    by_keyword = {r.keyword: r.account_id for r in rows}
    return by_keyword.get(keyword, by_keyword.get(""))


# --- submission -----------------------------------------------------------------------------------------------


def live_keys(conn: Connection, account_id: int, scope: str, keys: Sequence[str], now_ms: int) -> dict[str, Any]:
    """Keys still inside their window, with the message id or outcome stored for them (rows by key)."""
    found: dict[str, Any] = {}
    for chunk in chunks(keys):
        rows = conn.execute(
            select(idempotency_keys.c.key, idempotency_keys.c.message_id, idempotency_keys.c.outcome).where(
                idempotency_keys.c.account_id == account_id,
                idempotency_keys.c.scope == scope,
                idempotency_keys.c.key.in_(chunk),
                idempotency_keys.c.expires_at > now_ms,
            )
        )
        found.update((r.key, r) for r in rows)
    return found


def drop_expired_keys(conn: Connection, account_id: int, scope: str, keys: Sequence[str], now_ms: int) -> None:
    for chunk in chunks(keys):
        conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.account_id == account_id,
                idempotency_keys.c.scope == scope,
                idempotency_keys.c.key.in_(chunk),
                idempotency_keys.c.expires_at <= now_ms,
            )
        )


def extend_key(conn: Connection, account_id: int, scope: str, key: str, expires_ms: int) -> None:
    conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.account_id == account_id, idempotency_keys.c.scope == scope,
               idempotency_keys.c.key == key)
        .values(expires_at=expires_ms)
    )


# The hot insert bypasses SQLAlchemy's per-row parameter processing: rows are tuples in column order, handed to the
# driver as they are (sqlite3 executemany, PostgreSQL executemany or COPY). JSON columns arrive already serialised.
MESSAGE_COLUMNS = tuple(c.name for c in messages.c)
_COPY_FROM = 50  # below this many rows COPY's setup costs more than it saves


def _insert_sql(table: Table, marker: str) -> str:
    names = [c.name for c in table.c]
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([marker] * len(names))})"


_INSERTS = {(dialect, table.name): _insert_sql(table, marker)
            for dialect, marker in (("sqlite", "?"), ("postgresql", "%s")) for table in (messages, batches)}
_PG_COPY = f"COPY messages ({', '.join(MESSAGE_COLUMNS)}) FROM STDIN"


def executemany(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One statement (written with `?` markers) for many rows, straight on the driver's cursor in the caller's
    transaction: on hot paths SQLAlchemy's per-row parameter processing costs more than the database."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def insert_submission(
    conn: Connection,
    batch_rows: Sequence[tuple[Any, ...]],
    message_rows: Sequence[tuple[Any, ...]],
    key_rows: Sequence[Mapping[str, Any]],
) -> None:
    """Batches and messages (tuples in their tables' column order) and idempotency keys of one or more requests, in
    the caller's transaction, straight on the driver's cursor."""
    driver: Any = conn.connection.driver_connection
    dialect = conn.dialect.name
    cursor = driver.cursor()
    try:
        if batch_rows:
            cursor.executemany(_INSERTS[dialect, "batches"], batch_rows)
        if dialect == "postgresql" and len(message_rows) >= _COPY_FROM:
            with cursor.copy(_PG_COPY) as copy:
                for row in message_rows:
                    copy.write_row(row)
        elif message_rows:
            cursor.executemany(_INSERTS[dialect, "messages"], message_rows)
    finally:
        cursor.close()
    if key_rows:
        conn.execute(insert(idempotency_keys), list(key_rows))


def batch_ids(conn: Connection, account_id: int, batch_ref: str) -> list[int]:
    """The ids of every request an account sent under this batch reference (a client may reuse one)."""
    rows = conn.execute(select(batches.c.id).where(batches.c.account_id == account_id, batches.c.ref == batch_ref))
    return [r.id for r in rows]


# --- messages -------------------------------------------------------------------------------------------------


# What a MessageView shows, in its fields' order: selected by name and unpacked by position, because a view per row
# is the outbox's busiest database work (RowMapping lookups cost more than the query).
_VIEW_COLUMNS = tuple(messages.c[name] for name in (
    "id", "account_id", "recipient", "originator", "originator_type", "status", "encoding", "parts", "batch_ref",
    "client_ref", "created_at", "updated_at", "due_at", "expires_at", "error_code", "text", "payload", "extras"))
_STATUSES = {s.value: s for s in Status}
_ENCODINGS = {e.value: e for e in Encoding}
_ORIGINATOR_TYPES = {t.value: t for t in OriginatorType}


def view_from_row(row: Sequence[Any]) -> MessageView:
    """A row of `select(*_VIEW_COLUMNS)`."""
    (id_, account_id, recipient, originator, originator_type, status, encoding, parts, batch_ref, client_ref,
     created_at, updated_at, due_at, expires_at, error_code, text_, payload, extras) = row
    return MessageView(
        id_, account_id, recipient, originator, _ORIGINATOR_TYPES[originator_type] if originator_type else None,
        _STATUSES[status], _ENCODINGS[encoding], parts, batch_ref, client_ref, to_dt(created_at), to_dt(updated_at),
        to_dt(due_at), to_dt(expires_at), error_code, text_, payload, extras or {})


def message_views(conn: Connection, ids: Sequence[int]) -> dict[int, MessageView]:
    found: dict[int, MessageView] = {}
    for chunk in chunks(ids):
        for row in conn.execute(select(*_VIEW_COLUMNS).where(messages.c.id.in_(chunk))):
            found[row[0]] = view_from_row(row)
    return found


def message_by_client_ref(conn: Connection, account_id: int, client_ref: str) -> MessageView | None:
    row = conn.execute(
        select(*_VIEW_COLUMNS)
        .where(messages.c.account_id == account_id, messages.c.client_ref == client_ref)
        .order_by(messages.c.id.desc())
        .limit(1)
    ).first()
    return view_from_row(row) if row else None


def list_messages(
    conn: Connection,
    *,
    account_id: int | None = None,
    status: Status | None = None,
    recipient: str | None = None,
    batch_ref: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[MessageView]:
    """Newest first, keyset-paginated by id."""
    query = select(*_VIEW_COLUMNS).order_by(messages.c.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where(messages.c.account_id == account_id)
    if status is not None:
        query = query.where(messages.c.status == status.value)
    if recipient is not None:
        query = query.where(messages.c.recipient == recipient)
    if batch_ref is not None and account_id is not None:
        query = query.where(messages.c.batch_id.in_(batch_ids(conn, account_id, batch_ref)))
    elif batch_ref is not None:
        query = query.where(messages.c.batch_ref == batch_ref)
    if before_id is not None:
        query = query.where(messages.c.id < before_id)
    return [view_from_row(r) for r in conn.execute(query)]


def history(conn: Connection, message_id: int) -> list[tuple[Status, Status, datetime, str | None]]:
    """(previous, new, when, error code) for each transition, oldest first."""
    rows = conn.execute(
        select(status_history.c.previous, status_history.c.status, status_history.c.at, status_history.c.error_code)
        .where(status_history.c.message_id == message_id)
        .order_by(status_history.c.id)
    )
    return [(Status(r.previous), Status(r.status), to_dt(r.at), r.error_code) for r in rows]


def batch_counts(conn: Connection, account_id: int, batch_ref: str) -> dict[Status, int]:
    counts: dict[Status, int] = {}
    for chunk in chunks(batch_ids(conn, account_id, batch_ref)):
        rows = conn.execute(
            select(messages.c.status, func.count()).where(messages.c.batch_id.in_(chunk)).group_by(messages.c.status)
        )
        for status, count in rows:
            counts[Status(status)] = counts.get(Status(status), 0) + count
    return counts


def pending_batches(conn: Connection, account_id: int) -> list[tuple[str, int]]:
    """Batch references with messages not yet sent, and how many."""
    rows = conn.execute(
        select(messages.c.batch_ref, func.count())
        .where(messages.c.account_id == account_id,
               messages.c.status.in_([Status.ACCEPTED.value, Status.SCHEDULED.value, Status.HELD.value]))
        .group_by(messages.c.batch_ref)
        .order_by(messages.c.batch_ref)
    )
    return [(ref, count) for ref, count in rows]


def cancel_pending(conn: Connection, account_id: int, batch_ref: str, now_ms: int) -> list[Any]:
    """Cancel a batch's messages that are not yet sent; returns (id, client_ref, reports) of each one cancelled.

    The rows are locked first (FOR UPDATE on PostgreSQL; SQLite has one writer at a time), so a message a worker
    takes meanwhile is either waited for and then skipped, or cancelled before the worker sees it — never both.
    A message a worker holds (claimed, being sent) stays with the worker: what was sent stays sent."""
    pending = [Status.ACCEPTED.value, Status.SCHEDULED.value, Status.HELD.value]
    rows: list[Any] = []
    for chunk in chunks(batch_ids(conn, account_id, batch_ref)):
        rows += conn.execute(
            select(messages.c.id, messages.c.client_ref, messages.c.reports, messages.c.status)
            .where(messages.c.batch_id.in_(chunk), messages.c.status.in_(pending),
                   # one a worker is sending right now is not stopped (its claim has not run out)
                   or_(messages.c.claimed_by.is_(None), messages.c.due_at <= now_ms))
            .order_by(messages.c.id)
            .with_for_update()
        ).all()
    for chunk in chunks([r.id for r in rows]):
        conn.execute(update(messages).where(messages.c.id.in_(chunk)).values(status=Status.CANCELLED.value,
                                                                           updated_at=now_ms))
    record_history(conn, [(r.id, Status(r.status), Status.CANCELLED, None) for r in rows], now_ms)
    return rows


def record_history(conn: Connection, changes: Sequence[tuple[int, Status, Status, str | None]], now_ms: int) -> None:
    """(message id, previous, new, error code) per transition."""
    executemany(conn, "INSERT INTO status_history (message_id, previous, status, error_code, at) "
                      "VALUES (?, ?, ?, ?, ?)", [(i, p.value, s.value, e, now_ms) for i, p, s, e in changes])


# --- inbound and reports --------------------------------------------------------------------------------------


def latest_mt(conn: Connection, account_id: int, recipient: str, originator: str, since_ms: int) -> int | None:
    """The id of the account's newest message to `recipient` from `originator` since then: what an MO answers."""
    return conn.execute(
        select(messages.c.id)
        .where(messages.c.recipient == recipient, messages.c.account_id == account_id,
               messages.c.originator == originator, messages.c.created_at >= since_ms)
        .order_by(messages.c.id.desc()).limit(1)
    ).scalar()


def insert_inbound(conn: Connection, mo: Inbound) -> None:
    conn.execute(
        insert(inbound).values(
            id=mo.id, account_id=mo.account_id, originator=mo.originator, destination=mo.destination,
            keyword=mo.keyword, encoding=mo.encoding.value, text=mo.text, payload=mo.payload, smsc_id=mo.smsc_id,
            operator=mo.operator, received_at=to_ms(mo.received_at), reply_to=mo.reply_to,
        )
    )


def inbound_from_row(row: Row[Any]) -> Inbound:
    m = row._mapping
    return Inbound(
        id=m["id"], account_id=m["account_id"], originator=m["originator"], destination=m["destination"],
        text=m["text"], payload=m["payload"], encoding=Encoding(m["encoding"]), keyword=m["keyword"],
        received_at=to_dt(m["received_at"]), smsc_id=m["smsc_id"], operator=m["operator"], reply_to=m["reply_to"],
    )


def report_row(account: Account, kind: ReportKind, now_ms: int, **fields: Any) -> dict[str, Any]:
    """A row of the reports queue: pushed when the account has a push format and a URL for this kind of report,
    otherwise kept for pull (receive/confirm), so a report always has a way out and never takes both."""
    url = account.dlr_url if kind is ReportKind.DR else account.mo_url
    push = account.report_format != "pull" and url is not None
    return {"account_id": account.id, "kind": kind.value, "message_id": None, "inbound_id": None,
            "status": None, "error_code": None, "delivery": "push" if push else "pull",
            "state": "pending", "attempts": 0, "next_attempt_at": now_ms, "last_error": None, "created_at": now_ms,
            "retain_until": now_ms + account.report_retention * 3_600_000, **fields}


_REPORT_COLUMNS = tuple(c.name for c in reports.c if c.name != "id")
_INSERT_REPORT = f"INSERT INTO reports ({', '.join(_REPORT_COLUMNS)}) VALUES ({', '.join('?' * len(_REPORT_COLUMNS))})"


def queue_reports(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows made by `report_row`."""
    executemany(conn, _INSERT_REPORT, [tuple(row[c] for c in _REPORT_COLUMNS) for row in rows])


def pull_reports(conn: Connection, account_id: int, limit: int) -> list[ReportItem]:
    """The account's oldest unconfirmed pull reports, with the MT or MO each is about."""
    rows = conn.execute(
        select(reports)
        .where(reports.c.account_id == account_id, reports.c.delivery == "pull", reports.c.state == "pending")
        .order_by(reports.c.id)
        .limit(limit)
    ).all()
    return report_items(conn, rows)


def report_items(conn: Connection, rows: Sequence[Row[Any]]) -> list[ReportItem]:
    """Report rows as ReportItems: a DR with its MT, an MO with its inbound message and, when it answers one, the MT
    it answers (as `message`: Modica reports that MT's reference with the MO)."""
    mos: dict[int, Inbound] = {}
    for chunk in chunks([r.inbound_id for r in rows if r.inbound_id is not None]):
        mos.update((r.id, inbound_from_row(r)) for r in conn.execute(select(inbound).where(inbound.c.id.in_(chunk))))
    answered = [mo.reply_to for mo in mos.values() if mo.reply_to is not None]
    views = message_views(conn, [r.message_id for r in rows if r.message_id is not None] + answered)
    items = []
    for r in rows:
        mo = mos.get(r.inbound_id) if r.inbound_id is not None else None
        about = r.message_id if r.message_id is not None else (mo.reply_to if mo is not None else None)
        items.append(ReportItem(
            id=r.id,
            kind=ReportKind(r.kind),
            created_at=to_dt(r.created_at),
            message=views.get(about) if about is not None else None,
            status=Status(r.status) if r.status else None,
            error_code=r.error_code,
            inbound=mo,
        ))
    return items


def confirm_reports(conn: Connection, account_id: int, ids: Sequence[int]) -> int:
    done = 0
    for chunk in chunks(ids):
        result = conn.execute(
            update(reports)
            .where(reports.c.account_id == account_id, reports.c.id.in_(chunk), reports.c.delivery == "pull",
                   reports.c.state == "pending")
            .values(state="done")
        )
        done += result.rowcount
    return done


# --- client certificates --------------------------------------------------------------------------------------


def add_client_certificate(conn: Connection, account_id: int, fingerprint: str, pem: str, now_ms: int) -> None:
    conn.execute(insert(client_certificates).values(account_id=account_id, fingerprint=fingerprint, pem=pem,
                                                    added_at=now_ms))


def client_certificates_of(conn: Connection, account_id: int) -> dict[str, datetime]:
    """The fingerprints of the account's stored certificates, with when each was added."""
    rows = conn.execute(
        select(client_certificates.c.fingerprint, client_certificates.c.added_at)
        .where(client_certificates.c.account_id == account_id)
        .order_by(client_certificates.c.added_at, client_certificates.c.fingerprint)
    )
    return {r.fingerprint: to_dt(r.added_at) for r in rows}


def remove_client_certificates(conn: Connection, account_id: int, fingerprints: Sequence[str]) -> None:
    for chunk in chunks(fingerprints):
        conn.execute(delete(client_certificates).where(client_certificates.c.account_id == account_id,
                                                       client_certificates.c.fingerprint.in_(chunk)))


def trusted_fingerprints(conn: Connection) -> set[str]:
    """Every stored certificate's fingerprint, whichever account it is on: what TLS serving watches for changes."""
    return set(conn.execute(select(client_certificates.c.fingerprint).distinct()).scalars())


def trusted_pems(conn: Connection) -> dict[str, str]:
    """Every stored certificate once, by fingerprint: the TLS trust bundle."""
    rows = conn.execute(select(client_certificates.c.fingerprint, client_certificates.c.pem))
    return {r.fingerprint: r.pem for r in rows}
