"""dedup_keys_recent: the small first level of the LSH keys, merged into dedup_keys in key order

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dedup_keys_recent",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("paper_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", "paper_id"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.execute("INSERT INTO dedup_keys (key, paper_id) SELECT key, paper_id FROM dedup_keys_recent")
    op.drop_table("dedup_keys_recent")
