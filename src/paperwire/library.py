"""The Library: one object over a data directory that the CLI, the web and the digest all call.

It owns the database engine and the search indexes, keeps the indexes in step with the store, and
answers searches, related papers and topic groups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import sqlalchemy as sa

from paperwire import trending
from paperwire.config import Settings
from paperwire.errors import NotFoundError
from paperwire.search.cache import ResultCache
from paperwire.search.fusion import Fused, fuse
from paperwire.search.keyword import KeywordIndex, TermFinder, analyze, highlight
from paperwire.search.query import ParsedQuery, SearchRequest, parse
from paperwire.search.results import Comparison, Explanation, Hit, SearchResults, Topic
from paperwire.search.snapshots import Snapshot, Snapshots
from paperwire.search.sync import IndexSync, Progress, SyncReport
from paperwire.search.vectors import VectorIndex
from paperwire.store import locks, reads, schema
from paperwire.store.database import open_database
from paperwire.store.reads import CandidateInfo

if TYPE_CHECKING:
    from paperwire.search.embed import Embedder

CANDIDATES = 100  # per list, before fusion
QUERY_CACHE = 4096  # query embeddings remembered (1.5 KB each)
RESULT_CACHE_HITS = 5000  # hits of recent searches remembered (a few KB each: some 15 MB)
RESULT_TTL = 600.0  # seconds a remembered result is good for at most (see search/cache.py)
SNIPPET_CHARS = 320
KEYWORD_ONLY_NOTE = "keyword-only search: embeddings are turned off (PAPERWIRE_EMBEDDINGS=false)"
NO_VECTORS_NOTE = "keyword-only search: no papers are embedded yet; run `paperwire reindex`"


class Candidate(NamedTuple):
    key: int  # in the search indexes
    paper_id: str
    date: str | None  # the first version's, else the day a daily listing announced it


class Library:
    """Papers, their indexes and every read of them, over one data directory."""

    def __init__(self, settings: Settings, engine: sa.Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or open_database(settings)
        self.index_dir = settings.data_dir / "index"
        self.snapshots = Snapshots(self.index_dir, settings.title_boost)
        self._results = ResultCache(RESULT_CACHE_HITS, RESULT_TTL)

    # -- components ------------------------------------------------------------------------------

    @cached_property
    def embedder(self) -> Embedder | None:
        if not self.settings.embeddings:
            return None
        from paperwire.search.embed import load_embedder  # loads ONNX Runtime: only when needed

        return load_embedder(
            self.settings.embedding_model, self.settings.embedding_backend,
            self.settings.models_folder, self.settings.embedding_batch_size,
        )  # fmt: skip

    @property
    def keyword(self) -> KeywordIndex:
        """The published snapshot's keyword index (a search takes its snapshot once, at its start)."""
        return self.snapshots.current().keyword

    @property
    def vectors(self) -> VectorIndex | None:
        return self._vectors_in(self.snapshots.current())

    def _vectors_in(self, snapshot: Snapshot) -> VectorIndex | None:
        embedder = self.embedder
        return None if embedder is None else snapshot.vectors(embedder.model_id, embedder.dim)

    @cached_property
    def _semantic_pool(self) -> ThreadPoolExecutor:
        """Threads that embed the query and search the vectors while the keyword search runs
        (ONNX Runtime, usearch and Tantivy all release the GIL)."""
        return ThreadPoolExecutor(max_workers=4, thread_name_prefix="paperwire-semantic")

    def close(self) -> None:
        if "_semantic_pool" in self.__dict__:
            self._semantic_pool.shutdown()
        self.snapshots.close()
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- keeping the indexes in step -------------------------------------------------------------

    def sync(
        self, progress: Progress | None = None, rebuild: bool = False, cluster: str | None = None
    ) -> SyncReport:
        """Index what the store holds and the indexes do not, or repair an index that disagrees,
        in a draft snapshot; publish it if anything changed. Embeddings are made on the Ray cluster
        at `cluster` (host:port) when one is given."""
        embed_many = None
        if cluster is not None and self.embedder is not None:
            from paperwire.cluster import embed_on

            s = self.settings
            embed_many = embed_on(
                cluster, s.embedding_model, s.embedding_backend, s.models_folder, s.embedding_batch_size
            )
        with locks.exclusive(self.engine, locks.INDEXES, self.index_dir / "sync.lock"):
            draft, resumed = self.snapshots.draft()
            try:
                job = IndexSync(
                    self.engine, draft.keyword, self._vectors_in(draft), self.embedder, embed_many
                )
                report = job.run(progress or (lambda _stage, _n: None), rebuild=rebuild)
            finally:
                draft.close()  # on failure the draft stays, and the next sync carries on with it
            if report.changed or resumed:
                self.snapshots.publish(draft)
            else:
                self.snapshots.discard(draft)
            return report

    # -- reading ---------------------------------------------------------------------------------

    def paper(self, paper_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return reads.get_paper(conn, paper_id)

    def search(self, request: SearchRequest) -> SearchResults:
        """The request's page of hits; the same request again, from the result cache while the
        indexes are unchanged (sorted by trending, never: that order moves with every vote)."""
        snapshot = self.snapshots.current()
        if request.sort == "trending":
            return self._search(request, snapshot)
        results = self._results.get(request, snapshot.name)
        if results is None:
            results = self._search(request, snapshot)
            self._results.put(request, snapshot.name, results)
        return results

    def _search(self, request: SearchRequest, snapshot: Snapshot) -> SearchResults:
        parsed = parse(request.query, request.filters)
        notes: list[str] = []
        depth = max(CANDIDATES, 2 * (request.offset + request.limit))
        semantic_notes: list[str] = []
        semantic = (  # a keyword-only search needs no thread
            self._semantic_pool.submit(self._semantic, snapshot, parsed, depth, request.mode, semantic_notes)
            if request.mode != "keyword"
            else None
        )
        keyword: list[tuple[int, float]] = []
        if request.mode != "semantic":
            hits, note = snapshot.keyword.search(parsed, depth)
            keyword = [(h.key, h.score) for h in hits]
            notes += [note] if note else []
        # while the query is still being embedded and its neighbours found, look up the keyword side's
        known = self._candidate_info([key for key, _ in keyword]) if semantic else {}
        nearest, mode = semantic.result() if semantic else ([], "keyword")
        fused = fuse(keyword, nearest, self.settings.fusion)
        notes += semantic_notes
        return self._page(request, parsed, fused, mode, notes, known)

    def _semantic(
        self, snapshot: Snapshot, parsed: ParsedQuery, depth: int, wanted: str, notes: list[str]
    ) -> tuple[list[tuple[int, float]], str]:
        """Nearest papers by meaning that honour the query's filters; the mode that really ran."""
        if wanted == "keyword" or not parsed.semantic:
            return [], "keyword"
        vectors = self._vectors_in(snapshot)
        if vectors is None:
            notes.append(KEYWORD_ONLY_NOTE)
            return [], "keyword"
        if len(vectors) == 0:
            notes.append(NO_VECTORS_NOTE)
            return [], "keyword"
        query_vector = self._query_vector(parsed.semantic)
        restricted = parsed.filters.active or bool(parsed.restrictions)
        hits = vectors.search(query_vector, depth * (4 if restricted else 1))
        if restricted:
            allowed = snapshot.keyword.keys_matching(parsed, [h.key for h in hits])
            hits = [h for h in hits if h.key in allowed][:depth]
        return [(h.key, h.similarity) for h in hits], wanted

    @cached_property
    def _query_vector(self) -> Callable[[str], np.ndarray]:
        """The embedding of a query text, remembered for the QUERY_CACHE most recent texts: a second
        page, a feed poll or a popular query skips the model (about half of a hybrid search's CPU)."""
        embedder = self.embedder
        assert embedder is not None

        @lru_cache(maxsize=QUERY_CACHE)
        def embed(text: str) -> np.ndarray:
            vector: np.ndarray = embedder.embed([text])[0]
            vector.setflags(write=False)
            return vector

        return embed

    def _page(
        self,
        request: SearchRequest,
        parsed: ParsedQuery,
        fused: list[Fused],
        mode: str,
        notes: list[str],
        known: dict[int, CandidateInfo],
    ) -> SearchResults:
        best = self._collapse(fused, collapse=request.collapse, known=known)
        if request.sort in ("newest", "oldest"):
            best.sort(key=lambda c: c.date or "", reverse=request.sort == "newest")
        elif request.sort == "trending":  # by this month's trending score; relevance among equals
            with self.engine.connect() as conn:
                _, attention = trending.scores(conn, "month")
            best.sort(key=lambda c: -(a.attention + a.recency) if (a := attention.get(c.paper_id)) else 0.0)
        page = best[request.offset : request.offset + request.limit]
        by_key = {f.key: f for f in fused}
        hits = self._hits([(by_key[c.key], c.key) for c in page], set(analyze(parsed.semantic)), mode)
        return SearchResults(request.query, mode, len(best), request.offset, hits, notes)

    def related(self, paper_id: str, limit: int = 10) -> list[Hit]:
        """Nearest papers by meaning, sharpened by shared distinctive terms; never its own group."""
        with self.engine.connect() as conn:
            key, paper = reads.search_source(conn, paper_id)
        snapshot = self.snapshots.current()
        text = f"{paper['title']} {paper['abstract']}"
        neighbours = self._semantic_pool.submit(self._neighbours, snapshot, key, text)
        keyword = [
            (h.key, h.score) for h in snapshot.keyword.similar(paper["title"], paper["abstract"], CANDIDATES)
        ]
        semantic, terms = neighbours.result()
        fused = [f for f in fuse(keyword, semantic, self.settings.fusion) if f.key != key]
        best = self._collapse(fused, exclude_group=paper["group_id"])[:limit]
        by_key = {f.key: f for f in fused}
        return self._hits([(by_key[c.key], c.key) for c in best], terms, "hybrid" if semantic else "keyword")

    def _neighbours(
        self, snapshot: Snapshot, key: int | None, text: str
    ) -> tuple[list[tuple[int, float]], set[str]]:
        """The papers nearest by meaning to the one indexed under this key (none without vectors),
        and the text's distinctive terms (found here, while the keyword search runs beside)."""
        terms = snapshot.keyword.distinctive_terms(text)
        vectors = self._vectors_in(snapshot)
        if vectors is None or key is None or (vector := vectors.get(key)) is None:
            return [], terms
        return [(h.key, h.similarity) for h in vectors.search(vector, CANDIDATES)], terms

    # -- attention -------------------------------------------------------------------------------

    def paper_id(self, paper_id: str) -> str:
        """The stored id of the paper an id names (versions and arXiv: prefixes resolve to it)."""
        with self.engine.connect() as conn:
            return reads.stored_id(conn, paper_id)

    def record_event(self, paper_id: str, kind: str, actor: str) -> bool:
        """Count a view, save, upvote or digest click (once per actor: see trending.py)."""
        with self.engine.begin() as conn:
            return trending.record_event(conn, reads.stored_id(conn, paper_id), kind, actor)

    def attention(self, paper_id: str) -> dict[str, int]:
        """A paper's upvotes, saves, views and clicks so far."""
        with self.engine.connect() as conn:
            return trending.event_counts(conn, reads.stored_id(conn, paper_id))

    def withdraw_vote(self, paper_id: str, kind: str, actor: str) -> bool:
        with self.engine.begin() as conn:
            return trending.withdraw_vote(conn, reads.stored_id(conn, paper_id), kind, actor)

    def trending(
        self, window: str = "week", category: str | None = None, limit: int = 20
    ) -> tuple[trending.TrendingList, list[dict[str, Any]]]:
        """What is trending in the window, and the papers themselves in that order."""
        with self.engine.connect() as conn:
            ranked = trending.trending(conn, window, category, limit)
            return ranked, [reads.get_paper(conn, entry.paper_id) for entry in ranked.papers]

    def topics(self, request: SearchRequest, max_groups: int = 6) -> list[Topic]:
        """The request's hits split into labelled groups (by their vectors, or their words)."""
        return self.group(self.search(request).hits, max_groups)

    def group(self, hits: list[Hit], max_groups: int = 6) -> list[Topic]:
        """Hits split into labelled groups (by their vectors, or their words)."""
        vectors = self._vectors_of([hit.id for hit in hits])
        texts = [f"{hit.title}. {hit.abstract}" for hit in hits]
        from paperwire.search.topics import topic_groups  # scikit-learn: ~0.7 s to import, so only here

        groups = topic_groups(texts, vectors, max_groups=max_groups)
        return [Topic(g.label, g.terms, [hits[i] for i in g.members]) for g in groups]

    def _vectors_of(self, paper_ids: list[str]) -> np.ndarray | None:
        """The cached embeddings of these papers in order; None unless every one has a vector."""
        if self.embedder is None or not paper_ids:
            return None
        e = schema.embeddings
        with self.engine.connect() as conn:
            rows = dict(
                conn.execute(
                    sa.select(e.c.paper_id, e.c.vector).where(
                        e.c.model == self.embedder.model_id, e.c.paper_id.in_(paper_ids)
                    )
                ).all()
            )
        if len(rows) < len(set(paper_ids)):
            return None
        return np.stack([np.frombuffer(rows[pid], dtype=np.float16).astype(np.float32) for pid in paper_ids])

    def overlap(self, first: str, second: str, depth: int = 100) -> Comparison:
        """Compare two collections or searches (a name that is no collection is a query)."""
        a, b = self._paper_list(first, depth), self._paper_list(second, depth)
        p = schema.papers
        with self.engine.connect() as conn:
            groups = dict(conn.execute(sa.select(p.c.id, p.c.group_id).where(p.c.id.in_([*a, *b]))).all())
        from paperwire.search.topics import overlap as compare  # scikit-learn, as in topics()

        shared = compare([groups[i] for i in a], [groups[i] for i in b])
        first_of = {groups[i]: i for i in reversed(a)}
        second_of = {groups[i]: i for i in reversed(b)}
        both = [first_of[g] for g in shared.both]
        with self.engine.connect() as conn:
            titles = dict(conn.execute(sa.select(p.c.id, p.c.title).where(p.c.id.in_(both))).all())
        return Comparison(
            only_a=[first_of[g] for g in shared.only_a], both=both,
            only_b=[second_of[g] for g in shared.only_b], jaccard=shared.jaccard,
            both_titles=[titles[i] for i in both],
        )  # fmt: skip

    def _paper_list(self, name_or_query: str, depth: int) -> list[str]:
        with self.engine.connect() as conn:
            try:
                return [item["id"] for item in reads.collection_items(conn, name_or_query)]
            except NotFoundError:
                pass
        return [hit.id for hit in self.search(SearchRequest(name_or_query, limit=min(depth, 200))).hits]

    def _candidate_info(self, keys: list[int]) -> dict[int, CandidateInfo]:
        if not keys:
            return {}
        with self.engine.connect() as conn:
            return reads.search_candidates(conn, keys)

    def _collapse(
        self,
        fused: list[Fused],
        exclude_group: str | None = None,
        collapse: bool = True,
        known: dict[int, CandidateInfo] | None = None,
    ) -> list[Candidate]:
        """One candidate per duplicate group (its best), in fused order (`known`: candidates
        already looked up)."""
        known = known or {}
        info = {**known, **self._candidate_info([f.key for f in fused if f.key not in known])}
        seen: set[str] = set()
        best: list[Candidate] = []
        for candidate in fused:
            if candidate.key not in info:
                continue  # deleted since it was indexed; the next sync sees the count differ and rebuilds
            paper_id, group, day = info[candidate.key]
            if group == exclude_group or (collapse and group in seen):
                continue
            seen.add(group)
            best.append(Candidate(candidate.key, paper_id, day))
        return best

    def _hits(self, page: Sequence[tuple[Fused, int]], terms: set[str], method: str) -> list[Hit]:
        papers = self._papers([key for _, key in page])
        finder = TermFinder(terms)
        hits = []
        for fused, key in page:
            paper = papers[key]
            matched = tuple(sorted(finder.found(f"{paper['title']} {paper['abstract']}")))
            hits.append(
                Hit(
                    id=paper["id"], title=paper["title"], title_raw=paper["title_raw"],
                    authors=paper["authors"], categories=paper["categories"],
                    published=paper["published"], announced=paper["announced"], abstract=paper["abstract"],
                    abstract_raw=paper["abstract_raw"], links=paper["links"],
                    versions=paper["versions"], duplicates=paper["duplicates"],
                    snippet=highlight(paper["abstract"], finder, SNIPPET_CHARS),
                    explanation=Explanation.of(
                        fused, matched, self.settings.fusion if method == "hybrid" else method
                    ),
                )
            )  # fmt: skip
        return hits

    def _papers(self, keys: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Full rows with versions and duplicate-group members, by search key."""
        d, p, v = schema.search_docs, schema.papers, schema.paper_versions
        keys = list(keys)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(d.c.key, *(p.c[f] for f in reads.PAPER_FIELDS))
                .join(p, p.c.id == d.c.paper_id)
                .where(d.c.key.in_(keys))
            ).all()
            papers = {row.key: {f: row._mapping[f] for f in reads.PAPER_FIELDS} for row in rows}
            ids = [paper["id"] for paper in papers.values()]
            versions: dict[str, list[dict[str, Any]]] = {pid: [] for pid in ids}
            for pid, number, day in conn.execute(
                sa.select(v.c.paper_id, v.c.number, v.c.date)
                .where(v.c.paper_id.in_(ids))
                .order_by(v.c.number)
            ):
                versions[pid].append({"number": number, "date": day})
            groups = {paper["group_id"] for paper in papers.values()}
            members: dict[str, list[str]] = {}
            for pid, group in conn.execute(
                sa.select(p.c.id, p.c.group_id).where(p.c.group_id.in_(groups)).order_by(p.c.id)
            ):
                members.setdefault(group, []).append(pid)
        for paper in papers.values():
            paper["versions"] = versions[paper["id"]]
            paper["duplicates"] = [m for m in members.get(paper["group_id"], []) if m != paper["id"]]
        return papers

    # -- listings for the web (newest papers, collections) ---------------------------------------

    def newest(self, limit: int = 20, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """The newest papers, one per duplicate group, as full papers; and how many groups there are."""
        with self.engine.connect() as conn:
            total, ids = reads.newest_papers(conn, limit, offset)
            return total, [reads.get_paper(conn, paper_id) for paper_id in ids]

    def collections(self) -> list[dict[str, Any]]:
        """Every collection (name, source, created_at, papers), by name."""
        with self.engine.connect() as conn:
            return reads.list_collections(conn)

    def collection(self, name: str) -> list[dict[str, Any]]:
        """A collection's papers (position, id, title) in its order; NotFoundError if there is none."""
        with self.engine.connect() as conn:
            return reads.collection_items(conn, name)
