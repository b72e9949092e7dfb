"""Writing batches of papers (merge, near-duplicate grouping, versions, signals, collections)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa

from paperwire import dedup
from paperwire.merge import merge
from paperwire.models import IngestCounts, Paper, Version
from paperwire.store import locks, schema
from paperwire.store.sql import delete_many, execute_in, insert_many, json_text

# what a batch reads of a stored paper
SETTLE_AT = 250_000  # recent LSH keys (some 28,000 papers' worth, 7 MB) merged into dedup_keys at once
# JSON columns read as their text (PostgreSQL's driver would parse them; SQLite's gives text)
_LOADED = ", ".join(
    f"CAST({c.name} AS TEXT) AS {c.name}" if isinstance(c.type, sa.JSON) else c.name
    for c in schema.papers.columns
    if c.name not in ("primary_category", "changed_at")
)


@dataclass(slots=True)
class _Stored:
    """A paper's state inside one batch: as loaded from the database or created in the batch."""

    paper: Paper
    sources: list[str]
    group_id: str
    first_seen: str
    fingerprint: dedup.Fingerprint | None
    filed: dedup.Fingerprint | None = None  # as stored, with the LSH keys it is filed under
    keys_changed: bool = False  # its LSH keys must be (re)written
    dirty: bool = False  # its row must be written
    is_new: bool = False


@dataclass(slots=True)
class _Batch:
    state: dict[str, _Stored] = field(default_factory=dict)
    counts: IngestCounts = field(default_factory=IngestCounts)
    signals: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    items: dict[tuple[str, int], str] = field(default_factory=dict)


def _load(conn: sa.Connection, ids: list[str]) -> dict[str, _Stored]:
    versions: dict[str, list[Version]] = defaultdict(list)
    rows = execute_in(conn, f"SELECT {_LOADED} FROM papers WHERE id IN ({{}})", ids)
    query = "SELECT paper_id, number, date FROM paper_versions WHERE paper_id IN ({}) ORDER BY number"
    for pid, number, date in execute_in(conn, query, ids):
        versions[pid].append(Version(number, date))
    loaded = {}
    for row in rows:
        sources = orjson.loads(row.sources)
        paper = Paper(
            id=row.id,
            title=row.title,
            title_raw=row.title_raw,
            abstract=row.abstract,
            abstract_raw=row.abstract_raw,
            authors=orjson.loads(row.authors),
            categories=orjson.loads(row.categories),
            comment=row.comment,
            journal_ref=row.journal_ref,
            doi=row.doi,
            versions=versions[row.id],
            published=row.published,
            updated=row.updated,
            announced=row.announced,
            listed=row.listed,
            links=orjson.loads(row.links),
            source=sources[-1] if sources else "",
            content_hash=row.content_hash,
        )
        fingerprint = (
            dedup.Fingerprint.from_stored(row.minhash, row.title_hash) if row.minhash is not None else None
        )
        loaded[row.id] = _Stored(paper, sources, row.group_id, row.first_seen, fingerprint, fingerprint)
    return loaded


def _candidates(
    conn: sa.Connection, keys: list[int]
) -> tuple[dict[int, list[str]], dict[str, tuple[dedup.Fingerprint, str]]]:
    """The stored papers in the LSH buckets `keys`: the ids per bucket, and their fingerprints."""
    buckets: dict[int, list[str]] = defaultdict(list)
    known: dict[str, tuple[dedup.Fingerprint, str]] = {}
    found = [
        row
        for level in (schema.dedup_keys, schema.dedup_keys_recent)
        for row in execute_in(
            conn,
            "SELECT k.key, p.id, p.minhash, p.title_hash, p.group_id FROM " + level.name + " AS k "
            "JOIN papers AS p ON p.id = k.paper_id WHERE k.key IN ({})",
            sorted(set(keys)),
        )
    ]
    for key, pid, blob, title_hash, group_id in found:
        buckets[key].append(pid)
        if blob is not None and pid not in known:
            known[pid] = (dedup.Fingerprint.from_stored(blob, title_hash), group_id)
    return buckets, known


def write_batch(
    conn: sa.Connection, papers: Sequence[Paper], prints: dedup.Prints | None, threshold: float, now: str
) -> IngestCounts:
    """Store a batch of normalised papers in the open transaction, with their fingerprints if given
    (or else made here); returns what changed. Batches of concurrent ingests take turns."""
    locks.hold_for_writing(conn)
    batch = _Batch(state=_load(conn, list(dict.fromkeys(p.id for p in papers))))
    for paper in papers:
        _absorb(batch, paper, now)
    _fingerprint(batch, papers, prints)
    _group_new_papers(conn, batch, threshold)
    _write(conn, batch, now)
    settle_keys(conn)
    return batch.counts


def settle_keys(conn: sa.Connection) -> bool:
    """Merge the recent LSH keys into dedup_keys, in key order, once there are SETTLE_AT (in the
    caller's transaction: a crash leaves them all in one level or the other). Sorted, the merge
    passes over dedup_keys once, where filing each batch's keys straight into it rewrote most of
    its pages every batch (bench/RESULTS.md). True when it merged."""
    recent, main = schema.dedup_keys_recent.name, schema.dedup_keys.name
    if conn.exec_driver_sql(f"SELECT count(*) FROM {recent}").scalar_one() < SETTLE_AT:
        return False
    conn.exec_driver_sql(
        f"INSERT INTO {main} (key, paper_id) SELECT key, paper_id FROM {recent} ORDER BY key"
    )
    conn.exec_driver_sql(f"DELETE FROM {recent}")
    return True


def _absorb(batch: _Batch, paper: Paper, now: str) -> None:
    stored = batch.state.get(paper.id)
    if paper.signals:
        day = paper.signals.get("listed_on") or paper.announced or now[:10]
        batch.signals[(paper.id, paper.source, str(day))] = paper.signals
    if paper.collection is not None:
        batch.items[paper.collection] = paper.id
    if stored is None:
        batch.state[paper.id] = _Stored(
            paper, [paper.source], paper.id, now, None, keys_changed=True, dirty=True, is_new=True
        )
        batch.counts.new += 1
        return
    merged = merge(stored.paper, paper)
    sources = stored.sources if paper.source in stored.sources else [*stored.sources, paper.source]
    # a new source counts as an update; a later listing date of a known paper changes nothing
    updated = merged.content_hash != stored.paper.content_hash or sources != stored.sources
    if updated or (merged.announced, merged.listed) != (stored.paper.announced, stored.paper.listed):
        text_changed = (merged.title, merged.abstract) != (stored.paper.title, stored.paper.abstract)
        stored.keys_changed = stored.keys_changed or text_changed
        if text_changed:
            stored.fingerprint = None
        stored.paper, stored.sources, stored.dirty = merged, sources, True
    if updated and not stored.is_new:
        batch.counts.updated += 1
    else:
        batch.counts.unchanged += 1


def _fingerprint(batch: _Batch, papers: Sequence[Paper], prints: dedup.Prints | None) -> None:
    """Give new and re-worded papers the fingerprint of their text: the one given with the batch's
    papers or, where none was given or a merge joined one record's title to another's abstract, a
    new one."""
    given = {(p.title, p.abstract): index for index, p in enumerate(papers)} if prints is not None else {}
    todo = [s for s in batch.state.values() if s.keys_changed]
    texts = [(s.paper.title, s.paper.abstract) for s in todo]
    missing = list(dict.fromkeys(text for text in texts if text not in given))
    titles, abstracts = [title for title, _ in missing], [abstract for _, abstract in missing]
    made = dict(zip(missing, dedup.fingerprints(titles, abstracts), strict=True))
    for stored, text in zip(todo, texts, strict=True):
        stored.fingerprint = prints[given[text]] if prints is not None and text in given else made[text]


def _group_new_papers(conn: sa.Connection, batch: _Batch, threshold: float) -> None:
    """Put each new paper in the duplicate group of its best match."""
    new = [(s, s.fingerprint) for s in batch.state.values() if s.is_new and s.fingerprint]
    buckets, known = _candidates(conn, [key for _, fingerprint in new for key in fingerprint.keys])
    # the batch's own papers as they are now, not as stored
    known = {pid: value for pid, value in known.items() if pid not in batch.state}
    known.update(
        (pid, (s.fingerprint, s.group_id)) for pid, s in batch.state.items() if s.fingerprint and not s.is_new
    )
    for stored, fingerprint in new:
        ids = sorted({pid for key in fingerprint.keys for pid in buckets.get(key, [])} - {stored.paper.id})
        match = dedup.best_match(
            fingerprint, ((pid, known[pid][0]) for pid in ids if pid in known), threshold
        )
        if match is not None:
            stored.group_id = known[match[0]][1]
            batch.counts.duplicates += 1
        # later papers of this batch can match this one
        known[stored.paper.id] = (fingerprint, stored.group_id)
        for key in fingerprint.keys:
            buckets[key].append(stored.paper.id)


def _row(stored: _Stored, now: str) -> tuple[Any, ...]:
    """The papers row of a paper, in the table's column order."""
    paper = stored.paper
    fingerprint = stored.fingerprint
    return (
        paper.id,
        paper.title,
        paper.title_raw,
        paper.abstract,
        paper.abstract_raw,
        json_text(paper.authors),
        json_text(paper.categories),
        paper.categories[0] if paper.categories else None,
        paper.comment,
        paper.journal_ref,
        paper.doi,
        paper.published,
        paper.updated,
        paper.announced,
        paper.listed,
        json_text(paper.links),
        json_text(stored.sources),
        stored.group_id,
        fingerprint.to_bytes() if fingerprint else None,
        fingerprint.title_hash if fingerprint else None,
        paper.content_hash,
        stored.first_seen,
        now,
    )


def _write(conn: sa.Connection, batch: _Batch, now: str) -> None:
    dirty = [s for s in batch.state.values() if s.dirty]
    insert_many(conn, schema.papers, [_row(s, now) for s in dirty], conflict=["id"])
    stale = [s.paper.id for s in dirty if not s.is_new]
    execute_in(conn, "DELETE FROM paper_versions WHERE paper_id IN ({})", stale)
    versions = [(s.paper.id, version.number, version.date) for s in dirty for version in s.paper.versions]
    insert_many(conn, schema.paper_versions, versions)
    rekeyed = [s for s in batch.state.values() if s.keys_changed and s.fingerprint]
    _unfile(conn, [s for s in rekeyed if not s.is_new])
    keys = [(key, s.paper.id) for s in rekeyed if s.fingerprint for key in dict.fromkeys(s.fingerprint.keys)]
    insert_many(conn, schema.dedup_keys_recent, keys)
    signals = [(i, s, d, json_text(data)) for (i, s, d), data in batch.signals.items()]
    insert_many(conn, schema.paper_signals, signals, conflict=["paper_id", "source", "observed_on"])
    if batch.items:
        _write_collection_items(conn, batch.items, now)


def _unfile(conn: sa.Connection, papers: list[_Stored]) -> None:
    """Delete the LSH keys of stored papers: the keys of their stored fingerprints, which are what
    was filed with them (both are written from one fingerprint). By key, since dedup_keys has no
    index on paper_id: deleting by paper_id read the whole table for every batch with a revision."""
    filed = [(s.paper.id, s.filed) for s in papers if s.filed is not None]
    if not filed:
        return
    signatures = np.stack([fingerprint.signature for _, fingerprint in filed])
    keys = dedup.lsh_keys(signatures, [fingerprint.title_hash for _, fingerprint in filed])
    rows = [(key, pid) for (pid, _), paper_keys in zip(filed, keys, strict=True) for key in paper_keys]
    for level in (schema.dedup_keys, schema.dedup_keys_recent):  # a key is in one of them
        delete_many(conn, level, rows)


def _write_collection_items(conn: sa.Connection, items: dict[tuple[str, int], str], now: str) -> None:
    c = schema.collections
    names = sorted({name for name, _ in items})
    existing = dict(conn.execute(sa.select(c.c.name, c.c.id).where(c.c.name.in_(names))).all())
    for name in names:
        if name not in existing:
            existing[name] = conn.execute(
                sa.insert(c).values(name=name, source="import", created_at=now).returning(c.c.id)
            ).scalar_one()
    rows = [(existing[name], position, pid) for (name, position), pid in items.items()]
    insert_many(conn, schema.collection_items, rows, conflict=["collection_id", "position"])
