"""Delivery: message claims, send rates, the queue index, MO parts, receipt inbox, leases, connector states, counters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_QUEUED = sa.text("status IN ('accepted', 'scheduled')")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.drop_index("ix_messages_due", sqlite_where=_QUEUED, postgresql_where=_QUEUED)
        batch_op.create_index("ix_messages_queue", ["priority", "due_at"], unique=False, sqlite_where=_QUEUED,
                              postgresql_where=_QUEUED)
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_to", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_rate", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "pending_receipts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("smsc_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("error", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pending_receipts_smsc_id", "pending_receipts", ["smsc_id"], unique=False)
    op.create_table(
        "mo_parts",
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("destination", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("total", sa.SmallInteger(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("data_coding", sa.SmallInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("smsc_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "destination", "ref", "total", "seq"),
    )
    op.create_index("ix_mo_parts_received", "mo_parts", ["received_at"], unique=False)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "connector_states",
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("worker", "connector"),
    )
    op.create_table(
        "counters",
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "name"),
    )


def downgrade() -> None:
    op.drop_table("counters")
    op.drop_table("connector_states")
    op.drop_table("leases")
    op.drop_index("ix_mo_parts_received", table_name="mo_parts")
    op.drop_table("mo_parts")
    op.drop_index("ix_pending_receipts_smsc_id", table_name="pending_receipts")
    op.drop_table("pending_receipts")
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.drop_column("reply_to")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("send_rate")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_queue", sqlite_where=_QUEUED, postgresql_where=_QUEUED)
        batch_op.create_index("ix_messages_due", ["due_at"], unique=False, sqlite_where=_QUEUED,
                              postgresql_where=_QUEUED)
        batch_op.drop_column("claimed_by")
