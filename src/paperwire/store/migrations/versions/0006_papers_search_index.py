"""ix_papers_search: a covering index of what a search reads of each candidate (group, dates)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 13:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_papers_search", "papers", ["id", "group_id", "published", "announced"])


def downgrade() -> None:
    op.drop_index("ix_papers_search", table_name="papers")
