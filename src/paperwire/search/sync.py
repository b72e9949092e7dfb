"""Keeping the search indexes in step with the store.

The store is the truth. `search_docs` records what each index holds for each paper (the content
hash of its keyword document, the text hash of its vector); an index is written first and that
record second, so after a crash the record can only lag behind, and the next sync redoes the lag
(writing a document or vector again is idempotent). Counts are compared after every sync; an
index that disagrees with its record (lost, deleted, or of another model) is rebuilt. The indexes
a sync writes are a draft snapshot's, published when it is done (snapshots.py).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from paperwire.search.keyword import KeywordDoc, KeywordIndex
from paperwire.search.vectors import VectorIndex
from paperwire.store import schema
from paperwire.store.sql import insert_missing, upsert

if TYPE_CHECKING:
    from paperwire.search.embed import Embedder

BATCH = 2000
EMBED_BATCH = 256

Progress = Callable[[str, int], None]  # (stage, items done)
# lists of texts -> their vectors, in order: here (embed_here) or on a cluster (cluster.embed_on)
EmbedMany = Callable[[Iterable[list[str]]], Iterator[np.ndarray]]


def embed_here(embedder: Embedder) -> EmbedMany:
    """Each list of texts embedded in turn, in this process."""

    def embed_many(texts: Iterable[list[str]]) -> Iterator[np.ndarray]:
        for batch in texts:
            yield embedder.embed(batch) if batch else np.zeros((0, 0), dtype=np.float32)

    return embed_many


@dataclass
class SyncReport:
    keyword: int = 0  # documents (re)written to the keyword index
    embedded: int = 0  # papers embedded by the model (cache misses)
    vectors: int = 0  # vectors (re)written to the vector index
    repaired: list[str] = field(default_factory=list)  # indexes rebuilt because they disagreed

    @property
    def changed(self) -> bool:
        return bool(self.keyword or self.embedded or self.vectors or self.repaired)


def text_hash(model_id: str, text: str) -> str:
    return hashlib.blake2b(f"{model_id}\0{text}".encode(), digest_size=16).hexdigest()


def _noop(_stage: str, _done: int) -> None:
    return None


@dataclass
class _Stale:
    """A batch of papers to look at: their rows, the hash of the text each would be embedded from,
    and the rows whose text changed (or was never embedded) with those texts: the ones to embed."""

    rows: list[Any]
    hashes: dict[str, str]
    todo: list[Any]
    texts_to_embed: list[str]


class IndexSync:
    """Brings a keyword index (and, with an embedder, the vector index) up to date with the store."""

    def __init__(
        self,
        engine: sa.Engine,
        keyword: KeywordIndex,
        vectors: VectorIndex | None,
        embedder: Embedder | None,
        embed_many: EmbedMany | None = None,
    ) -> None:
        self.engine, self.keyword, self.vectors, self.embedder = engine, keyword, vectors, embedder
        self.embed_many = embed_many  # None: embed_here(embedder)

    def run(self, progress: Progress = _noop, rebuild: bool = False) -> SyncReport:
        report = SyncReport()
        if rebuild:
            self._reset_keyword()
            self._reset_vectors()
        elif self.vectors is not None and not self.vectors.matches_model() and len(self._vector_record()):
            self._reset_vectors()
            report.repaired.append("vectors (model changed)")
        report.keyword = self._sync_keyword(progress)
        if not rebuild and len(self.keyword) != self._count("keyword_hash"):
            self._reset_keyword()
            report.repaired.append("keyword")
            report.keyword = self._sync_keyword(progress)
        if self.embedder is not None and self.vectors is not None:
            report.embedded = self._embed(self.embedder, progress)
            report.vectors = self._sync_vectors(self.vectors, progress)
            if not rebuild and len(self.vectors) != self._count("vector_hash"):
                self._reset_vectors()
                report.repaired.append("vectors")
                report.vectors = self._sync_vectors(self.vectors, progress)
        self.keyword.close()
        return report

    # -- the record ------------------------------------------------------------------------------

    def _count(self, column: str) -> int:
        d = schema.search_docs
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(d.c[column].is_not(None))).scalar_one())

    def _vector_record(self) -> list[int]:
        d = schema.search_docs
        with self.engine.connect() as conn:
            return list(
                conn.execute(sa.select(d.c.key).where(d.c.vector_hash.is_not(None)).limit(1)).scalars()
            )

    def _reset_keyword(self) -> None:
        self.keyword.clear()
        self.keyword.commit()
        with self.engine.begin() as conn:
            conn.execute(sa.update(schema.search_docs).values(keyword_hash=None))

    def _reset_vectors(self) -> None:
        if self.vectors is not None:
            self.vectors.clear()
            self.vectors.save()
        with self.engine.begin() as conn:
            conn.execute(sa.update(schema.search_docs).values(vector_hash=None))

    # -- keyword ---------------------------------------------------------------------------------

    def _sync_keyword(self, progress: Progress) -> int:
        p, d = schema.papers, schema.search_docs
        pending = (
            sa.select(
                p.c.id, p.c.content_hash, p.c.title, p.c.abstract, p.c.authors, p.c.categories,
                sa.func.coalesce(p.c.published, p.c.announced).label("published"), p.c.links,
            )
            .outerjoin(d, d.c.paper_id == p.c.id)
            .where(sa.or_(d.c.keyword_hash.is_(None), d.c.keyword_hash != p.c.content_hash))
            .where(p.c.id > sa.bindparam("after"))
            .order_by(p.c.id)
            .limit(BATCH)
        )  # fmt: skip
        done, after = 0, ""
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(pending, {"after": after}).all()
                if not rows:
                    return done
                keys = self._ensure_keys(conn, [row.id for row in rows])
            after = rows[-1].id
            self.keyword.upsert(
                KeywordDoc(
                    key=keys[row.id], paper_id=row.id, title=row.title, abstract=row.abstract,
                    authors=row.authors, categories=row.categories, published=row.published,
                    has_code=bool((row.links or {}).get("code")),
                )
                for row in rows
            )  # fmt: skip
            self.keyword.commit()
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(d).where(d.c.paper_id == sa.bindparam("pid")),
                    [{"pid": row.id, "keyword_hash": row.content_hash} for row in rows],
                )
            done += len(rows)
            progress("keyword", len(rows))

    @staticmethod
    def _ensure_keys(conn: sa.Connection, paper_ids: list[str]) -> dict[str, int]:
        d = schema.search_docs
        conn.execute(insert_missing(conn, d, ["paper_id"]), [{"paper_id": pid} for pid in paper_ids])
        rows = conn.execute(sa.select(d.c.paper_id, d.c.key).where(d.c.paper_id.in_(paper_ids)))
        return {pid: int(key) for pid, key in rows}

    # -- embeddings ------------------------------------------------------------------------------

    def _embed(self, embedder: Embedder, progress: Progress) -> int:
        """Embed papers whose cached vector is missing or was made from other text."""
        embedded = 0
        # `again` holds the batches the embedder has taken ahead of the ones stored so far
        stale, again = itertools.tee(self._stale(embedder))
        vectors = (self.embed_many or embed_here(embedder))(batch.texts_to_embed for batch in stale)
        for batch, batch_vectors in zip(again, vectors, strict=True):
            self._keep(embedder, batch, batch_vectors)
            embedded += len(batch.todo)
            progress("embed", len(batch.rows))
        return embedded

    def _stale(self, embedder: Embedder) -> Iterator[_Stale]:
        """The papers whose cached vector is missing or out of date, in batches of EMBED_BATCH."""
        from paperwire.search.embed import paper_text

        p, e = schema.papers, schema.embeddings
        joined = sa.and_(e.c.paper_id == p.c.id, e.c.model == embedder.model_id)
        stale = (
            sa.select(p.c.id, p.c.content_hash, p.c.title, p.c.abstract, e.c.text_hash)
            .outerjoin(e, joined)
            .where(sa.or_(e.c.content_hash.is_(None), e.c.content_hash != p.c.content_hash))
            .where(p.c.id > sa.bindparam("after"))
            .order_by(p.c.id)
            .limit(EMBED_BATCH)
        )
        after = ""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(stale, {"after": after}).all()
            if not rows:
                return
            after = rows[-1].id
            texts = {row.id: paper_text(row.title, row.abstract) for row in rows}
            hashes = {pid: text_hash(embedder.model_id, text) for pid, text in texts.items()}
            todo = [row for row in rows if row.text_hash != hashes[row.id]]
            yield _Stale(list(rows), hashes, todo, [texts[row.id] for row in todo])

    def _keep(self, embedder: Embedder, batch: _Stale, vectors: np.ndarray) -> None:
        """Store a batch's new vectors, and the new content hash of papers whose text is unchanged."""
        e = schema.embeddings
        with self.engine.begin() as conn:
            if batch.todo:
                conn.execute(
                    upsert(conn, e, ["paper_id", "model"]),
                    [
                            {
                                "paper_id": row.id, "model": embedder.model_id,
                                "content_hash": row.content_hash, "text_hash": batch.hashes[row.id],
                                "vector": vector.astype(np.float16).tobytes(),
                            }
                        for row, vector in zip(batch.todo, vectors, strict=True)
                    ],
                )  # fmt: skip
            unchanged = [row for row in batch.rows if row.text_hash == batch.hashes[row.id]]
            if unchanged:
                conn.execute(
                    sa.update(e)
                    .where(e.c.paper_id == sa.bindparam("pid"), e.c.model == embedder.model_id)
                    .values(content_hash=sa.bindparam("hash")),
                    [{"pid": row.id, "hash": row.content_hash} for row in unchanged],
                )

    # -- vectors ---------------------------------------------------------------------------------

    def _sync_vectors(self, vectors: VectorIndex, progress: Progress) -> int:
        d, e = schema.search_docs, schema.embeddings
        assert self.embedder is not None
        pending = (
            sa.select(d.c.key, e.c.text_hash, e.c.vector)
            .join(e, sa.and_(e.c.paper_id == d.c.paper_id, e.c.model == self.embedder.model_id))
            .where(sa.or_(d.c.vector_hash.is_(None), d.c.vector_hash != e.c.text_hash))
            .order_by(d.c.key)
        )
        written: list[tuple[int, str]] = []
        with self.engine.connect() as conn:
            # streamed (PostgreSQL's driver would otherwise fetch every vector before the first)
            for rows in conn.execution_options(yield_per=BATCH * 5).execute(pending).partitions():
                keys = [row.key for row in rows]
                matrix = np.frombuffer(b"".join(row.vector for row in rows), dtype=np.float16)
                vectors.upsert(keys, matrix.reshape(len(keys), vectors.dim).astype(np.float32))
                written += [(row.key, row.text_hash) for row in rows]
                progress("vectors", len(rows))
        if written:
            vectors.save()
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(d).where(d.c.key == sa.bindparam("k")).values(vector_hash=sa.bindparam("h")),
                    [{"k": key, "h": hash_} for key, hash_ in written],
                )
        return len(written)
