"""Client certificates: the PEM of each certificate registered on an account, the trust bundle of TLS serving.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_certificates",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("added_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "fingerprint"),
    )


def downgrade() -> None:
    op.drop_table("client_certificates")
