"""the digest: subscribers, their marked papers, the outbox, digest items, used tokens, new papers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _subscriber_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("frequency", sa.Text(), nullable=False),
        sa.Column("send_hour", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("max_papers", sa.Integer(), nullable=False),
        sa.Column("empty_note", sa.Boolean(), nullable=False),
        sa.Column("topic_vectors", sa.LargeBinary(), nullable=True),
        sa.Column("vectors_model", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("confirmed_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "subscriber_papers",
        sa.Column("subscriber_id", sa.Text(), nullable=False),
        sa.Column("paper_id", sa.Text(), nullable=False),
        sa.Column("label", sa.Integer(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        _subscriber_fk(),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscriber_id", "paper_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("subscriber_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=True),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Text(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.Text(), nullable=True),
        _subscriber_fk(),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_outbox_subscriber_id", "outbox", ["subscriber_id"])
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "digest_items",
        sa.Column("subscriber_id", sa.Text(), nullable=False),
        sa.Column("paper_id", sa.Text(), nullable=False),
        sa.Column("outbox_key", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _subscriber_fk(),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_key"], ["outbox.key"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscriber_id", "paper_id"),
    )
    op.create_index("ix_digest_items_outbox_key", "digest_items", ["outbox_key"])
    op.create_table(
        "used_tokens",
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("subscriber_id", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Text(), nullable=False),
        _subscriber_fk(),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_used_tokens_subscriber_id", "used_tokens", ["subscriber_id"])
    op.create_index("ix_papers_first_seen", "papers", ["first_seen"])  # the digest's new papers


def downgrade() -> None:
    op.drop_index("ix_papers_first_seen", "papers")
    op.drop_table("used_tokens")
    op.drop_table("digest_items")
    op.drop_table("outbox")
    op.drop_table("subscriber_papers")
    op.drop_table("subscribers")
