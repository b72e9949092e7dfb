"""Writing batches of papers (merge, near-duplicate grouping, versions, signals, collections)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from paperwire import dedup
from paperwire.merge import merge
from paperwire.models import IngestCounts, Paper, Version
from paperwire.store import schema
from paperwire.store.sql import upsert

# SQLite allows 32,766 bound parameters per statement; stay well below it.
IN_CHUNK = 5000


@dataclass(slots=True)
class _Stored:
    """A paper's state inside one batch: as loaded from the database or created in the batch."""

    paper: Paper
    sources: list[str]
    group_id: str
    first_seen: str
    fingerprint: dedup.Fingerprint | None
    keys_changed: bool = False  # its LSH keys must be (re)written
    dirty: bool = False  # its row must be written
    is_new: bool = False


@dataclass(slots=True)
class _Batch:
    state: dict[str, _Stored] = field(default_factory=dict)
    counts: IngestCounts = field(default_factory=IngestCounts)
    signals: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    items: dict[tuple[str, int], str] = field(default_factory=dict)


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _load(conn: sa.Connection, ids: list[str]) -> dict[str, _Stored]:
    p, v = schema.papers, schema.paper_versions
    versions: dict[str, list[Version]] = defaultdict(list)
    rows: list[sa.Row[Any]] = []
    for chunk in _chunks(ids):
        rows += conn.execute(sa.select(p).where(p.c.id.in_(chunk))).all()
        for pid, number, date in conn.execute(
            sa.select(v.c.paper_id, v.c.number, v.c.date).where(v.c.paper_id.in_(chunk)).order_by(v.c.number)
        ):
            versions[pid].append(Version(number, date))
    loaded = {}
    for row in rows:
        paper = Paper(
            id=row.id,
            title=row.title,
            title_raw=row.title_raw,
            abstract=row.abstract,
            abstract_raw=row.abstract_raw,
            authors=row.authors,
            categories=row.categories,
            comment=row.comment,
            journal_ref=row.journal_ref,
            doi=row.doi,
            versions=versions[row.id],
            published=row.published,
            updated=row.updated,
            announced=row.announced,
            listed=row.listed,
            links=row.links,
            source=row.sources[-1] if row.sources else "",
            content_hash=row.content_hash,
        )
        fingerprint = (
            dedup.Fingerprint.from_stored(row.minhash, row.title_hash) if row.minhash is not None else None
        )
        loaded[row.id] = _Stored(paper, list(row.sources), row.group_id, row.first_seen, fingerprint)
    return loaded


def _candidates(conn: sa.Connection, keys: list[int]) -> dict[int, list[str]]:
    k = schema.dedup_keys
    found: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(sorted(set(keys))):
        for key, paper_id in conn.execute(sa.select(k.c.key, k.c.paper_id).where(k.c.key.in_(chunk))):
            found[key].append(paper_id)
    return found


def _fingerprints_of(conn: sa.Connection, ids: list[str]) -> dict[str, tuple[dedup.Fingerprint, str]]:
    p = schema.papers
    result = {}
    for chunk in _chunks(ids):
        query = sa.select(p.c.id, p.c.minhash, p.c.title_hash, p.c.group_id).where(p.c.id.in_(chunk))
        for pid, blob, title_hash, group_id in conn.execute(query):
            if blob is not None:
                result[pid] = (dedup.Fingerprint.from_stored(blob, title_hash), group_id)
    return result


def write_batch(conn: sa.Connection, papers: Sequence[Paper], threshold: float, now: str) -> IngestCounts:
    """Store a batch of normalised papers in the open transaction; returns what changed."""
    batch = _Batch(state=_load(conn, list(dict.fromkeys(p.id for p in papers))))
    for paper in papers:
        _absorb(batch, paper, now)
    _group_new_papers(conn, batch, threshold)
    _write(conn, batch, now)
    return batch.counts


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


def _group_new_papers(conn: sa.Connection, batch: _Batch, threshold: float) -> None:
    """Fingerprint new and re-worded papers; put each new one in the group of its best match."""
    todo = [s for s in batch.state.values() if s.keys_changed]
    prints = dedup.fingerprints([s.paper.title for s in todo], [s.paper.abstract for s in todo])
    new: list[tuple[_Stored, dedup.Fingerprint]] = []
    for stored, fingerprint in zip(todo, prints, strict=True):
        stored.fingerprint = fingerprint
        if stored.is_new:
            new.append((stored, fingerprint))
    all_keys = [key for _, fingerprint in new for key in fingerprint.keys]
    buckets = _candidates(conn, all_keys)
    candidate_ids = sorted({pid for key in all_keys for pid in buckets.get(key, [])} - batch.state.keys())
    known = _fingerprints_of(conn, candidate_ids)
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


def _row(stored: _Stored, now: str) -> dict[str, Any]:
    paper = stored.paper
    fingerprint = stored.fingerprint
    return {
        "id": paper.id,
        "title": paper.title,
        "title_raw": paper.title_raw,
        "abstract": paper.abstract,
        "abstract_raw": paper.abstract_raw,
        "authors": paper.authors,
        "categories": paper.categories,
        "primary_category": paper.categories[0] if paper.categories else None,
        "comment": paper.comment,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "published": paper.published,
        "updated": paper.updated,
        "announced": paper.announced,
        "listed": paper.listed,
        "links": paper.links,
        "sources": stored.sources,
        "group_id": stored.group_id,
        "minhash": fingerprint.to_bytes() if fingerprint else None,
        "title_hash": fingerprint.title_hash if fingerprint else None,
        "content_hash": paper.content_hash,
        "first_seen": stored.first_seen,
        "changed_at": now,
    }


def _write(conn: sa.Connection, batch: _Batch, now: str) -> None:
    dirty = [s for s in batch.state.values() if s.dirty]
    if dirty:
        conn.execute(upsert(conn, schema.papers, ["id"]), [_row(s, now) for s in dirty])
        ids = [s.paper.id for s in dirty if not s.is_new]
        v = schema.paper_versions
        for chunk in _chunks(ids):
            conn.execute(sa.delete(v).where(v.c.paper_id.in_(chunk)))
        versions = [
            {"paper_id": s.paper.id, "number": ver.number, "date": ver.date}
            for s in dirty
            for ver in s.paper.versions
        ]
        if versions:
            conn.execute(sa.insert(v), versions)
    rekeyed = [s for s in batch.state.values() if s.keys_changed and s.fingerprint]
    k = schema.dedup_keys
    for chunk in _chunks([s.paper.id for s in rekeyed if not s.is_new]):
        conn.execute(sa.delete(k).where(k.c.paper_id.in_(chunk)))
    keys = {(key, s.paper.id) for s in rekeyed if s.fingerprint for key in s.fingerprint.keys}
    if keys:
        conn.execute(sa.insert(k), [{"key": key, "paper_id": pid} for key, pid in sorted(keys)])
    if batch.signals:
        rows = [
            {"paper_id": i, "source": s, "observed_on": d, "data": data}
            for (i, s, d), data in batch.signals.items()
        ]
        conn.execute(upsert(conn, schema.paper_signals, ["paper_id", "source", "observed_on"]), rows)
    if batch.items:
        _write_collection_items(conn, batch.items, now)


def _write_collection_items(conn: sa.Connection, items: dict[tuple[str, int], str], now: str) -> None:
    c = schema.collections
    names = sorted({name for name, _ in items})
    existing = dict(conn.execute(sa.select(c.c.name, c.c.id).where(c.c.name.in_(names))).all())
    for name in names:
        if name not in existing:
            existing[name] = conn.execute(
                sa.insert(c).values(name=name, source="import", created_at=now).returning(c.c.id)
            ).scalar_one()
    rows = [
        {"collection_id": existing[name], "position": position, "paper_id": pid}
        for (name, position), pid in items.items()
    ]
    conn.execute(upsert(conn, schema.collection_items, ["collection_id", "position"]), rows)
