"""Initial schema: accounts, numbers, batches, messages, segments, history, inbound, reports, keys, leases.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 21:40:41.477055
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("credential_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("allowed_networks", sa.JSON(), nullable=False),
        sa.Column("trusted_proxies", sa.JSON(), nullable=False),
        sa.Column("client_address_header", sa.String(length=64), nullable=True),
        sa.Column("client_cert_header", sa.String(length=64), nullable=True),
        sa.Column("client_certs", sa.JSON(), nullable=False),
        sa.Column("default_country", sa.String(length=2), nullable=True),
        sa.Column("default_originator", sa.String(length=20), nullable=True),
        sa.Column("default_originator_type", sa.String(length=16), nullable=True),
        sa.Column("allowed_originators", sa.JSON(), nullable=False),
        sa.Column("max_parts", sa.SmallInteger(), nullable=False),
        sa.Column("parsing_type", sa.String(length=40), nullable=False),
        sa.Column("duplicate_window", sa.Integer(), nullable=False),
        sa.Column("default_validity", sa.Integer(), nullable=False),
        sa.Column("test_mode", sa.Boolean(), nullable=False),
        sa.Column("single_shot_billing", sa.Boolean(), nullable=False),
        sa.Column("report_format", sa.String(length=20), nullable=False),
        sa.Column("dlr_url", sa.Text(), nullable=True),
        sa.Column("mo_url", sa.Text(), nullable=True),
        sa.Column("report_intermediate", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=False),
        sa.Column("face", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index("ix_batches_account_ref", ["account_id", "ref"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "scope", "key"),
    )
    op.create_table(
        "inbound",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("originator", sa.String(length=20), nullable=False),
        sa.Column("destination", sa.String(length=20), nullable=False),
        sa.Column("keyword", sa.String(length=40), nullable=True),
        sa.Column("encoding", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("smsc_id", sa.String(length=64), nullable=True),
        sa.Column("operator", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_account", ["account_id", "id"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("batch_ref", sa.String(length=100), nullable=False),
        sa.Column("client_ref", sa.String(length=100), nullable=True),
        sa.Column("face", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=20), nullable=False),
        sa.Column("originator", sa.String(length=20), nullable=True),
        sa.Column("originator_type", sa.String(length=16), nullable=True),
        sa.Column("encoding", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("udh", sa.LargeBinary(), nullable=True),
        sa.Column("dcs", sa.SmallInteger(), nullable=True),
        sa.Column("pid", sa.SmallInteger(), nullable=True),
        sa.Column("flash", sa.Boolean(), nullable=False),
        sa.Column("parts", sa.SmallInteger(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("reports", sa.SmallInteger(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=True),
        sa.Column("billing_single_shot", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("send_window", sa.JSON(), nullable=True),
        sa.Column("extras", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_batch", ["batch_id"], unique=False)
        batch_op.create_index(
            "ix_messages_account_client_ref",
            ["account_id", "client_ref"],
            unique=False,
            sqlite_where=sa.text("client_ref IS NOT NULL"),
            postgresql_where=sa.text("client_ref IS NOT NULL"),
        )
        batch_op.create_index("ix_messages_account_id", ["account_id", "id"], unique=False)
        batch_op.create_index(
            "ix_messages_due",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("status IN ('accepted', 'scheduled')"),
            postgresql_where=sa.text("status IN ('accepted', 'scheduled')"),
        )
        batch_op.create_index("ix_messages_recipient", ["recipient"], unique=False)

    op.create_table(
        "node_leases",
        sa.Column("node_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("node_id"),
    )
    op.create_table(
        "reports",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=2), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("inbound_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("delivery", sa.String(length=4), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_message", ["message_id"], unique=False)
        batch_op.create_index(
            "ix_reports_pull",
            ["account_id", "id"],
            unique=False,
            sqlite_where=sa.text("delivery = 'pull' AND state = 'pending'"),
            postgresql_where=sa.text("delivery = 'pull' AND state = 'pending'"),
        )
        batch_op.create_index(
            "ix_reports_push",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=sa.text("delivery = 'push' AND state = 'pending'"),
            postgresql_where=sa.text("delivery = 'push' AND state = 'pending'"),
        )

    op.create_table(
        "segments",
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("smsc_id", sa.String(length=64), nullable=True),
        sa.Column("connector", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "seq"),
    )
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.create_index("ix_segments_smsc_id", ["smsc_id"], unique=False)

    op.create_table(
        "status_history",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("status_history", schema=None) as batch_op:
        batch_op.create_index("ix_status_history_message", ["message_id"], unique=False)

    op.create_table(
        "numbers",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("keyword", sa.String(length=40), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.create_index("ix_numbers_account", ["account_id"], unique=False)
        batch_op.create_index("uq_numbers_number_keyword", ["number", "keyword"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.drop_index("uq_numbers_number_keyword")
        batch_op.drop_index("ix_numbers_account")

    op.drop_table("numbers")
    with op.batch_alter_table("status_history", schema=None) as batch_op:
        batch_op.drop_index("ix_status_history_message")

    op.drop_table("status_history")
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_index("ix_segments_smsc_id")

    op.drop_table("segments")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_reports_push",
            sqlite_where=sa.text("delivery = 'push' AND state = 'pending'"),
            postgresql_where=sa.text("delivery = 'push' AND state = 'pending'"),
        )
        batch_op.drop_index(
            "ix_reports_pull",
            sqlite_where=sa.text("delivery = 'pull' AND state = 'pending'"),
            postgresql_where=sa.text("delivery = 'pull' AND state = 'pending'"),
        )
        batch_op.drop_index("ix_reports_message")

    op.drop_table("reports")
    op.drop_table("node_leases")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_recipient")
        batch_op.drop_index(
            "ix_messages_due",
            sqlite_where=sa.text("status IN ('accepted', 'scheduled')"),
            postgresql_where=sa.text("status IN ('accepted', 'scheduled')"),
        )
        batch_op.drop_index("ix_messages_account_id")
        batch_op.drop_index("ix_messages_account_client_ref")
        batch_op.drop_index("ix_messages_batch")

    op.drop_table("messages")
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_account")

    op.drop_table("inbound")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index("ix_batches_account_ref")

    op.drop_table("batches")
    op.drop_table("accounts")
