"""Account policy: credit (balances, the cost of each message), rate limits, per-recipient quota, opt-out
(suppressions and STOP/START keywords), content retention.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:00:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The defaults of domain.model.Account, written out: a migration must not change when the model does.
_STOP = ["STOP", "STOPP", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT", "STOPALL", "AVSLUTT", "AVMELD", "KONEC",
         "ODHLÁSIT", "ODHLASIT"]
_START = ["START", "UNSTOP", "YES", "PÅMELD", "PAMELD", "ZAČÍT", "ZACIT"]


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credit_mode", sa.String(length=10), server_default="none", nullable=False))
        batch_op.add_column(sa.Column("segment_price", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("request_rate", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("message_rate", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("recipient_quota", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("recipient_window", sa.Integer(), server_default="3600", nullable=False))
        batch_op.add_column(sa.Column("stop_keywords", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("start_keywords", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("stop_reply", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("start_reply", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("suppress_codes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("content_retention", sa.Integer(), server_default="90", nullable=False))
    op.get_bind().execute(sa.text("UPDATE accounts SET stop_keywords = :stop, start_keywords = :start, "
                                  "suppress_codes = '[]'"), {"stop": json.dumps(_STOP), "start": json.dumps(_START)})
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        for name in ("stop_keywords", "start_keywords", "suppress_codes"):
            batch_op.alter_column(name, existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost", sa.BigInteger(), nullable=True))
    op.create_table(
        "balances",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "suppressions",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "number"),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_table("balances")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("cost")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        for name in ("content_retention", "suppress_codes", "start_reply", "stop_reply", "start_keywords",
                     "stop_keywords", "recipient_window", "recipient_quota", "message_rate", "request_rate",
                     "segment_price", "credit_mode"):
            batch_op.drop_column(name)
