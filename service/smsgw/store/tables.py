"""The schema, as SQLAlchemy Core tables. Alembic migrations in `migrations/` create exactly this.

Times are integer epoch milliseconds (UTC): the same on SQLite and PostgreSQL, and free to bind on the hot path.
Message, batch and MO ids are 64-bit, time-ordered, allocated in-process (see `ids.py`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

# SQLite auto-increments only an INTEGER PRIMARY KEY.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("credential_version", Integer, nullable=False, server_default="1"),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("allowed_networks", JSON, nullable=False),
    Column("trusted_proxies", JSON, nullable=False),
    Column("client_address_header", String(64)),
    Column("client_cert_header", String(64)),
    Column("client_certs", JSON, nullable=False),
    Column("default_country", String(2)),
    Column("default_originator", String(20)),
    Column("default_originator_type", String(16)),
    Column("allowed_originators", JSON, nullable=False),
    Column("max_parts", SmallInteger, nullable=False),
    Column("parsing_type", String(40), nullable=False),
    Column("duplicate_window", Integer, nullable=False),
    Column("default_validity", Integer, nullable=False),
    Column("test_mode", Boolean, nullable=False),
    Column("send_rate", Integer, nullable=False, server_default="0"),
    Column("single_shot_billing", Boolean, nullable=False),
    Column("report_format", String(20), nullable=False),
    Column("dlr_url", Text),
    Column("mo_url", Text),
    Column("report_intermediate", Boolean, nullable=False),
    Column("intermediate_states", JSON, nullable=False),
    Column("report_retention", Integer, nullable=False, server_default="72"),
    Column("report_timeout", Integer, nullable=False, server_default="10"),
    Column("report_header", Text),
    Column("report_secret", Text),
    Column("credit_mode", String(10), nullable=False, server_default="none"),
    Column("segment_price", Integer, nullable=False, server_default="0"),
    Column("request_rate", Integer, nullable=False, server_default="0"),
    Column("message_rate", Integer, nullable=False, server_default="0"),
    Column("recipient_quota", Integer, nullable=False, server_default="0"),
    Column("recipient_window", Integer, nullable=False, server_default="3600"),
    Column("stop_keywords", JSON, nullable=False),
    Column("start_keywords", JSON, nullable=False),
    Column("stop_reply", Text),
    Column("start_reply", Text),
    Column("suppress_codes", JSON, nullable=False),
    Column("content_retention", Integer, nullable=False, server_default="90"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Client certificates registered on accounts (`smsgw cert add`). The account's `client_certs` holds the same
# fingerprints, which is what a request is checked against; the PEMs are the TLS trust bundle of
# `smsgw serve --tls-cert`, which asks clients for exactly these certificates. One certificate may serve several
# accounts (one customer, several O2 business applications).
client_certificates = Table(
    "client_certificates",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the DER, lower-case hex
    Column("pem", Text, nullable=False),
    Column("added_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "fingerprint"),
)

# Numbers (and optional keywords) an account owns: an MO to one of them is routed to the account.
numbers = Table(
    "numbers",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("number", String(20), nullable=False),
    Column("keyword", String(40), nullable=False, server_default=""),  # "" = any keyword
    Index("uq_numbers_number_keyword", "number", "keyword", unique=True),
    Index("ix_numbers_account", "account_id"),
)

batches = Table(
    "batches",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("ref", String(100), nullable=False),
    Column("face", String(16), nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_batches_account_ref", "account_id", "ref"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("batch_id", BigInteger, nullable=False),
    Column("batch_ref", String(100), nullable=False),
    Column("client_ref", String(100)),
    Column("face", String(16), nullable=False),
    Column("recipient", String(20), nullable=False),
    Column("originator", String(20)),
    Column("originator_type", String(16)),
    Column("encoding", String(8), nullable=False),
    Column("text", Text),
    Column("payload", LargeBinary),
    Column("udh", LargeBinary),
    Column("dcs", SmallInteger),
    Column("pid", SmallInteger),
    Column("flash", Boolean, nullable=False),
    Column("parts", SmallInteger, nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("reports", SmallInteger, nullable=False),  # ReportMask
    Column("price", Integer),
    Column("billing_single_shot", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("error_code", String(40)),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=False),  # when the worker may take it
    Column("expires_at", BigInteger, nullable=False),  # validity, or the send window's last close if earlier
    Column("send_window", JSON),
    Column("extras", JSON),
    # The worker that holds the message while it is being sent; its due_at is then the claim's end, after which
    # another worker may take it again (the first one died between submit and response: a possible duplicate).
    Column("claimed_by", String(64)),
    Column("cost", BigInteger),  # credit charged when accepted (credit accounts); refunded if it never reaches an SMSC
    # The worker's queue: per priority, the due ones in due order.
    Index("ix_messages_queue", "priority", "due_at", sqlite_where=text("status IN ('accepted', 'scheduled')"),
          postgresql_where=text("status IN ('accepted', 'scheduled')")),
    Index("ix_messages_batch", "batch_id"),  # ids are time-ordered: inserts append at the index's right edge
    Index("ix_messages_account_client_ref", "account_id", "client_ref", sqlite_where=text("client_ref IS NOT NULL"),
          postgresql_where=text("client_ref IS NOT NULL")),
    Index("ix_messages_recipient", "recipient"),
    Index("ix_messages_account_id", "account_id", "id"),
)

# One row per SMS part, written when the part is handed to an SMSC; smsc_id is normalised (see delivery).
segments = Table(
    "segments",
    metadata,
    Column("message_id", BigInteger, nullable=False),
    Column("seq", SmallInteger, nullable=False),  # 1-based
    Column("smsc_id", String(64)),
    Column("connector", String(64)),
    Column("status", String(16), nullable=False),
    Column("error_code", String(40)),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("message_id", "seq"),
    Index("ix_segments_smsc_id", "smsc_id"),
)

# Every transition of a message, with the state it left: a message's first state is the `previous` of its first
# transition (or its current status if it has none), so submitting writes no history rows.
status_history = Table(
    "status_history",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("message_id", BigInteger, nullable=False),
    Column("previous", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(40)),
    Column("at", BigInteger, nullable=False),
    Index("ix_status_history_message", "message_id"),
)

inbound = Table(
    "inbound",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger),  # None: no account owns the destination
    Column("originator", String(20), nullable=False),
    Column("destination", String(20), nullable=False),
    Column("keyword", String(40)),
    Column("encoding", String(8), nullable=False),
    Column("text", Text),
    Column("payload", LargeBinary),
    Column("smsc_id", String(64)),
    Column("operator", String(40)),
    Column("received_at", BigInteger, nullable=False),
    Column("reply_to", BigInteger),  # the MT this MO answers: the latest to its sender from its destination
    Index("ix_inbound_account", "account_id", "id"),
)

# The one queue of reports owed to accounts: push (outbox) and pull (receive/confirm) both read it.
reports = Table(
    "reports",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("kind", String(2), nullable=False),  # dr | mo
    Column("message_id", BigInteger),
    Column("inbound_id", BigInteger),
    Column("status", String(16)),  # a DR's reported status
    Column("error_code", String(40)),
    Column("delivery", String(4), nullable=False),  # push | pull
    Column("state", String(8), nullable=False),  # pending | done | dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("retain_until", BigInteger, nullable=False),  # a pushed report not acknowledged by then is dead
    Index("ix_reports_pull", "account_id", "id", sqlite_where=text("delivery = 'pull' AND state = 'pending'"),
          postgresql_where=text("delivery = 'pull' AND state = 'pending'")),
    Index("ix_reports_push", "next_attempt_at", sqlite_where=text("delivery = 'push' AND state = 'pending'"),
          postgresql_where=text("delivery = 'push' AND state = 'pending'")),
    Index("ix_reports_message", "message_id"),
)

# Client keys that must stay unique per account for a window (reject) or replay their first outcome (replay).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("scope", String(8), nullable=False),  # message | request
    Column("key", String(200), nullable=False),
    Column("message_id", BigInteger),
    Column("outcome", JSON),  # request scope: the whole first result
    Column("expires_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "scope", "key"),
)

# A concatenated MO's parts, kept until the last one arrives (each is committed before the SMSC is answered).
mo_parts = Table(
    "mo_parts",
    metadata,
    Column("source", String(20), nullable=False),
    Column("destination", String(20), nullable=False),
    Column("ref", Integer, nullable=False),
    Column("total", SmallInteger, nullable=False),
    Column("seq", SmallInteger, nullable=False),
    Column("connector", String(64), nullable=False),
    Column("data_coding", SmallInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("smsc_id", String(64)),
    Column("received_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("source", "destination", "ref", "total", "seq"),
    Index("ix_mo_parts_received", "received_at"),
)

# The receipt inbox: every receipt is committed here before the SMSC is answered, then applied to its part and
# message in bulk. One that matches no part yet (it overtook the worker's record of the submit, or reached another
# worker's connection) stays and is tried again after each record; after a day it is dropped.
pending_receipts = Table(
    "pending_receipts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("connector", String(64), nullable=False),
    Column("smsc_id", String(64), nullable=False),
    Column("state", String(8), nullable=False),
    Column("error", String(40)),
    Column("received_at", BigInteger, nullable=False),
    Index("ix_pending_receipts_smsc_id", "smsc_id"),
)

# Leases on work that only one process may do at a time (on SQLite: the delivery worker).
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# Each worker's connectors as it last saw them, for the console and /metrics of any process.
connector_states = Table(
    "connector_states",
    metadata,
    Column("worker", String(200), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("state", JSON, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("worker", "connector"),
)

# Whole-system counters per minute (submitted, delivered, failed, ...), summed over all workers.
counters = Table(
    "counters",
    metadata,
    Column("minute", BigInteger, nullable=False),  # epoch ms of the minute's start
    Column("name", String(32), nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("minute", "name"),
)

# Node bits for id allocation, leased so that two live processes never share one.
node_leases = Table(
    "node_leases",
    metadata,
    Column("node_id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(200), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# Prepaid credit of accounts whose credit_mode is not "none": in messages, or in the smallest currency unit.
balances = Table(
    "balances",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("balance", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Numbers an account may not send to: they texted STOP, an operator added them, or the network said barred.
suppressions = Table(
    "suppressions",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("number", String(20), nullable=False),
    Column("reason", String(16), nullable=False),  # stop | operator | barred
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "number"),
)
