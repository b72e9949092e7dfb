"""Bookkeeping tables: ingest runs and their bad records, harvest cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from paperwire.models import BadRecord, IngestCounts
from paperwire.store import schema
from paperwire.store.sql import insert_many, json_text

MAX_ERRORS_PER_RUN = 10_000  # beyond this only the count grows; the first ones say enough


def utcnow() -> str:
    """The current UTC time as ISO 8601 text, as the store records times."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def start_run(conn: sa.Connection, kind: str, inputs: list[str]) -> int:
    """Record a new running ingest; runs left 'running' by a killed process become 'interrupted'."""
    runs = schema.ingest_runs
    conn.execute(sa.update(runs).where(runs.c.status == "running").values(status="interrupted"))
    values: dict[str, Any] = {"kind": kind, "inputs": inputs, "status": "running", "started_at": utcnow()}
    values.update(dict.fromkeys(("new", "updated", "unchanged", "duplicates", "bad"), 0))
    return int(conn.execute(sa.insert(runs).values(**values).returning(runs.c.id)).scalar_one())


def add_counts(conn: sa.Connection, run_id: int, counts: IngestCounts, bad: list[BadRecord]) -> None:
    """Add one committed batch's counts and bad records to a run (in the batch's transaction)."""
    runs = schema.ingest_runs
    columns = ("new", "updated", "unchanged", "duplicates", "bad")
    conn.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values({c: runs.c[c] + getattr(counts, c) for c in columns})
    )
    if bad:
        errors = schema.ingest_errors
        logged = conn.execute(
            sa.select(sa.func.count()).select_from(errors).where(errors.c.run_id == run_id)
        ).scalar_one()
        room = max(0, MAX_ERRORS_PER_RUN - logged)
        rows = [{"run_id": run_id, "location": b.location, "reason": b.reason} for b in bad[:room]]
        if rows:
            conn.execute(sa.insert(errors), rows)


def finish_run(conn: sa.Connection, run_id: int, status: str, message: str | None = None) -> None:
    """Mark a run finished or failed."""
    runs = schema.ingest_runs
    conn.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values(status=status, finished_at=utcnow(), message=message)
    )


def get_cursor(conn: sa.Connection, source: str) -> dict[str, Any] | None:
    """The saved harvest cursor of a source, if any."""
    cursors = schema.harvest_cursors
    row = conn.execute(sa.select(cursors.c.cursor).where(cursors.c.source == source)).first()
    return dict(row[0]) if row else None


def save_cursor(conn: sa.Connection, source: str, cursor: dict[str, Any]) -> None:
    """Save a source's harvest cursor (in the transaction that stored the records it covers)."""
    insert_many(conn, schema.harvest_cursors, [(source, json_text(cursor), utcnow())], conflict=["source"])
