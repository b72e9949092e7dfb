"""events on papers (views, saves, upvotes, digest clicks) for trending

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("paper_id", "kind", "actor", "bucket", name="uq_paper_events_once"),
    )
    op.create_index("ix_paper_events_at", "paper_events", ["at"])
    op.create_index("ix_paper_signals_observed_on", "paper_signals", ["observed_on"])
    op.create_index("ix_papers_announced", "papers", ["announced"])


def downgrade() -> None:
    op.drop_index("ix_papers_announced", "papers")
    op.drop_index("ix_paper_signals_observed_on", "paper_signals")
    op.drop_index("ix_paper_events_at", "paper_events")
    op.drop_table("paper_events")
