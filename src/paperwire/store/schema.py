"""The relational schema, as SQLAlchemy Core tables. Changes go through an Alembic migration too."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

papers = sa.Table(
    "papers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),  # arXiv id without version, or "<namespace>:<key>"
    sa.Column("title", sa.Text, nullable=False),  # plain Unicode
    sa.Column("title_raw", sa.Text, nullable=False),  # as received, LaTeX kept for rendering
    sa.Column("abstract", sa.Text, nullable=False),
    sa.Column("abstract_raw", sa.Text, nullable=False),
    sa.Column("authors", sa.JSON, nullable=False),
    sa.Column("categories", sa.JSON, nullable=False),
    sa.Column("primary_category", sa.Text, index=True),
    sa.Column("comment", sa.Text),
    sa.Column("journal_ref", sa.Text),
    sa.Column("doi", sa.Text),
    sa.Column("published", sa.Text, index=True),  # ISO 8601 date(-time) of the first version
    sa.Column("updated", sa.Text),
    sa.Column("announced", sa.Text, index=True),  # first date a daily listing showed it
    sa.Column("listed", sa.Text),  # listing date of the record whose text is kept
    sa.Column("links", sa.JSON, nullable=False),  # abs, pdf: str; code, project: list[str]
    sa.Column("sources", sa.JSON, nullable=False),  # names of the formats it came from
    sa.Column("group_id", sa.Text, nullable=False, index=True),  # duplicate group: its first paper
    sa.Column("minhash", sa.LargeBinary),  # near-duplicate signature (see dedup.py)
    sa.Column("title_hash", sa.BigInteger),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("first_seen", sa.Text, nullable=False, index=True),  # when this instance stored it
    sa.Column("changed_at", sa.Text, nullable=False),
    # what a search needs of each of its ~200 candidates (group, date), read from this index alone
    # rather than from ~200 rows of kilobytes each scattered over the table (search/ranking reads it)
    sa.Index("ix_papers_search", "id", "group_id", "published", "announced"),
)

paper_versions = sa.Table(
    "paper_versions",
    metadata,
    sa.Column("paper_id", sa.Text, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("date", sa.Text),
)

paper_signals = sa.Table(
    "paper_signals",
    metadata,
    sa.Column("paper_id", sa.Text, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("observed_on", sa.Text, primary_key=True, index=True),  # ISO date the signal was read
    sa.Column("data", sa.JSON, nullable=False),  # upvotes, comments, github_repo, ...
)


# LSH buckets for near-duplicate candidates; clustered on the key, no rowid.
def _lsh_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("paper_id", sa.Text, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
        sqlite_with_rowid=False,
    )


# The LSH buckets of every paper's fingerprint, in two levels as in a log-structured merge tree:
# new keys go to the small `dedup_keys_recent` (its pages stay in the cache), which is merged into
# `dedup_keys` in key order once it is large (store/papers.py: settle_keys). Random 64-bit keys
# inserted straight into a table of millions of rows dirtied most of its pages in every batch.
dedup_keys = _lsh_table("dedup_keys")
dedup_keys_recent = _lsh_table("dedup_keys_recent")

collections = sa.Table(
    "collections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("source", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
)

collection_items = sa.Table(
    "collection_items",
    metadata,
    sa.Column(
        "collection_id", sa.Integer, sa.ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column(
        "paper_id", sa.Text, sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False, index=True
    ),
)

harvest_cursors = sa.Table(
    "harvest_cursors",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),  # e.g. "oai-pmh:arXiv:cs"
    sa.Column("cursor", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
)

ingest_runs = sa.Table(
    "ingest_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),  # "ingest" or "harvest"
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # running, finished, failed, interrupted
    sa.Column("started_at", sa.Text, nullable=False),
    sa.Column("finished_at", sa.Text),
    sa.Column("new", sa.Integer, nullable=False, default=0),
    sa.Column("updated", sa.Integer, nullable=False, default=0),
    sa.Column("unchanged", sa.Integer, nullable=False, default=0),
    sa.Column("duplicates", sa.Integer, nullable=False, default=0),
    sa.Column("bad", sa.Integer, nullable=False, default=0),
    sa.Column("message", sa.Text),
)

ingest_errors = sa.Table(
    "ingest_errors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("ingest_runs.id", ondelete="CASCADE"), index=True),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

# Vectors cached per paper and model: recomputed only when the embedded text changes (text_hash).
embeddings = sa.Table(
    "embeddings",
    metadata,
    sa.Column("paper_id", sa.Text, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("content_hash", sa.Text, nullable=False),  # the paper's, when it was embedded
    sa.Column("text_hash", sa.Text, nullable=False),  # of the text embedded (model + title + abstract)
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float16, L2-normalised
)

# What the search indexes hold for each paper: its integer key there, the content hash its
# keyword document was built from and the text hash of its vector (NULL: not indexed yet).
search_docs = sa.Table(
    "search_docs",
    metadata,
    sa.Column("key", sa.Integer, primary_key=True),
    sa.Column(
        "paper_id", sa.Text, sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False, unique=True
    ),
    sa.Column("keyword_hash", sa.Text),
    sa.Column("vector_hash", sa.Text),
)

# What people did with papers, for trending: one row per (paper, kind, actor, bucket). Votes
# (upvote, save) have the empty bucket, so one per actor and paper ever; views and digest clicks
# have the day as bucket, so one per actor, paper and day. The actor is a user or subscriber id,
# or a hash of the client's address.
paper_events = sa.Table(
    "paper_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.Text, sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # upvote, save, view, click
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("bucket", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False, index=True),  # ISO 8601 date-time, UTC
    sa.UniqueConstraint("paper_id", "kind", "actor", "bucket", name="uq_paper_events_once"),
)

# -- the digest: subscribers, what they like, the outbox of emails and what each digest held --------

# A subscriber's id is random (never reused), so a link signed for a deleted subscriber stays dead.
subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),  # lowercased
    sa.Column("status", sa.Text, nullable=False),  # pending, active, unsubscribed, disabled
    sa.Column("topics", sa.JSON, nullable=False),  # free-text searches
    sa.Column("categories", sa.JSON, nullable=False),  # e.g. ["cs.LG", "stat"]
    sa.Column("frequency", sa.Text, nullable=False),  # daily, weekly
    sa.Column("send_hour", sa.Integer, nullable=False),  # 0-23, in `timezone`
    sa.Column("timezone", sa.Text, nullable=False),  # IANA name
    sa.Column("max_papers", sa.Integer, nullable=False),
    sa.Column("empty_note", sa.Boolean, nullable=False),  # a short note when there is nothing new
    sa.Column("topic_vectors", sa.LargeBinary),  # float16, one row per topic, by `vectors_model`
    sa.Column("vectors_model", sa.Text),
    sa.Column("failures", sa.Integer, nullable=False, default=0),  # permanent delivery failures
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("confirmed_at", sa.Text),
)

# Papers a subscriber marked: liked (+1) or not for me (-1), on the site or from a digest's links.
subscriber_papers = sa.Table(
    "subscriber_papers",
    metadata,
    sa.Column(
        "subscriber_id", sa.Text, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("paper_id", sa.Text, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("label", sa.Integer, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
)

# Every email, written before it is sent: the key makes one digest per subscriber and period.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),  # digest:<subscriber>:<period>, confirm:<subscriber>:<n>
    sa.Column(
        "subscriber_id",
        sa.Text,
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("kind", sa.Text, nullable=False),  # digest, note, confirm, manage
    sa.Column("period", sa.Text),  # 2026-11-21 (daily) or 2026-W47 (weekly)
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("html", sa.Text),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # pending, sending, sent, failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Text, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("sent_at", sa.Text),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
)

# The papers each digest holds; a paper goes to a subscriber once.
digest_items = sa.Table(
    "digest_items",
    metadata,
    sa.Column(
        "subscriber_id", sa.Text, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("paper_id", sa.Text, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "outbox_key", sa.Text, sa.ForeignKey("outbox.key", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

# Single-use links already used (their nonce), until they expire.
used_tokens = sa.Table(
    "used_tokens",
    metadata,
    sa.Column("nonce", sa.Text, primary_key=True),
    sa.Column(
        "subscriber_id",
        sa.Text,
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("expires_at", sa.Text, nullable=False),
)
