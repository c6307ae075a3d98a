"""Reports out: per-account callback settings, and how long each pushed report is retried.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_DEFAULT_RETENTION_MS = 72 * 3600 * 1000


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("intermediate_states", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("report_retention", sa.Integer(), server_default="72", nullable=False))
        batch_op.add_column(sa.Column("report_timeout", sa.Integer(), server_default="10", nullable=False))
        batch_op.add_column(sa.Column("report_header", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("report_secret", sa.Text(), nullable=True))
    op.execute("UPDATE accounts SET intermediate_states = '[\"buffered\"]'")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column("intermediate_states", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retain_until", sa.BigInteger(), nullable=True))
    op.execute(f"UPDATE reports SET retain_until = created_at + {_DEFAULT_RETENTION_MS}")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.alter_column("retain_until", existing_type=sa.BigInteger(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("retain_until")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("report_secret")
        batch_op.drop_column("report_header")
        batch_op.drop_column("report_timeout")
        batch_op.drop_column("report_retention")
        batch_op.drop_column("intermediate_states")
