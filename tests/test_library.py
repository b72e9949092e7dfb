"""The Library end to end over real stores: hybrid search, related papers, topics, filters, sync, repair."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from conftest import shared_path
from paperwire import pipeline
from paperwire.config import load_settings
from paperwire.library import Library
from paperwire.search.fusion import ALPHA
from paperwire.search.query import Filters, SearchRequest
from paperwire.search.snapshots import Snapshot
from paperwire.store import reads, schema


def _quiet(*_args: object) -> None:
    return None


def make_library(data_dir: Path, models: Path, inputs: list[str], **overrides: object) -> Library:
    settings = load_settings(data_dir=data_dir, demo_corpus=False, models_dir=models, **overrides)
    library = Library(settings)
    pipeline.ingest(library.engine, settings, inputs, None, _quiet)
    library.sync()
    return library


@pytest.fixture(scope="module")
def seeds_library(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[Library]:
    seeds = sorted(str(p) for p in shared_path("seeds").glob("*.txt"))
    library = make_library(tmp_path_factory.mktemp("seeds") / "data", models_dir, seeds)
    yield library
    library.close()


@pytest.fixture(scope="module")
def daily_library(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[Library]:
    days = sorted(shared_path("data", "arxiv", "daily_arxiv_jsonl").glob("*.jsonl.gz"))[:2]
    library = make_library(tmp_path_factory.mktemp("daily") / "data", models_dir, [str(d) for d in days])
    yield library
    library.close()


def titles(library: Library, query: str, **kwargs: object) -> list[str]:
    return [hit.title for hit in library.search(SearchRequest(query, **kwargs)).hits]  # type: ignore[arg-type]


def collection_ids(library: Library, prefix: str) -> set[str]:
    with library.engine.connect() as conn:
        names = [name for name in reads.stats(conn)["collections"] if name.startswith(prefix)]
        return {item["id"] for item in reads.collection_items(conn, names[0])}


def test_xception_papers_of_seed_page_000_come_first(seeds_library: Library) -> None:
    results = seeds_library.search(SearchRequest("Xception", limit=10))
    assert results.mode == "hybrid" and not results.notes
    top = [hit.title for hit in results.hits[:2]]
    assert all("Xception" in title for title in top), top
    page_000 = collection_ids(seeds_library, "000")
    assert all(hit.id in page_000 for hit in results.hits[:2])


def test_network_modification_returns_mostly_seed_page_001(seeds_library: Library) -> None:
    hits = seeds_library.search(SearchRequest("network modification", limit=10)).hits
    page_001 = collection_ids(seeds_library, "001")
    assert sum(hit.id in page_001 for hit in hits) >= 7


def test_related_to_drew_are_rewiring_and_oversquashing_papers(seeds_library: Library) -> None:
    drew = seeds_library.search(SearchRequest('"Dynamically Rewired Message Passing"', limit=1)).hits[0]
    assert drew.title.startswith("DRew")
    related = seeds_library.related(drew.id, limit=5)
    assert drew.id not in {hit.id for hit in related}
    on_topic = [
        hit.title for hit in related
        if any(t in f"{hit.title} {hit.abstract}".lower() for t in ("rewir", "squash", "message passing"))
    ]  # fmt: skip
    assert len(on_topic) >= 4, [hit.title for hit in related]
    shared = {term for hit in related for term in hit.explanation.matched_terms}
    assert {"rewir", "squash"} & shared and not {"the", "we", "of"} & shared  # distinctive terms only
    assert all(0 < len(hit.explanation.matched_terms) <= 12 for hit in related)


def test_one_hit_per_duplicate_group_with_the_others_attached(seeds_library: Library) -> None:
    hits = seeds_library.search(SearchRequest("channel pruning very deep neural networks", limit=20)).hits
    pruning = [hit for hit in hits if "Pruning" in hit.title and "Very Deep" in hit.title]
    assert len(pruning) == 1  # "Channel Pruning for ..." and "Pruning Very Deep ..." are one work
    assert len(pruning[0].duplicates) == 1


def test_explanations_add_up(seeds_library: Library) -> None:
    for hit in seeds_library.search(SearchRequest("graph rewiring", limit=10)).hits:
        why = hit.explanation
        assert why.method == "convex"
        assert why.keyword_rank is not None or why.semantic_rank is not None
        if why.keyword_rank is not None:
            assert why.matched_terms and set(why.matched_terms) <= {"graph", "rewir"}
        assert 0 < why.fused_score <= 1.0 + 1e-6
        assert why.fused_score >= ALPHA * (why.similarity or 0.0) - 1e-6
        assert "cosine" in why.describe() or "BM25" in why.describe()


def test_pages_do_not_overlap_and_sorts_order_by_date(daily_library: Library) -> None:
    first = daily_library.search(SearchRequest("language models", limit=5))
    second = daily_library.search(SearchRequest("language models", limit=5, offset=5))
    assert not {h.id for h in first.hits} & {h.id for h in second.hits}
    assert first.total == second.total >= 10
    newest = daily_library.search(SearchRequest("language models", limit=20, sort="newest")).hits
    dates = [hit.date or "" for hit in newest]
    assert dates == sorted(dates, reverse=True)
    oldest = daily_library.search(SearchRequest("language models", limit=20, sort="oldest")).hits
    assert [hit.date or "" for hit in oldest] == sorted(hit.date or "" for hit in oldest)
    assert (oldest[0].date or "") < dates[0]  # two listing days, announced dates sort them


def test_filters_hold_for_every_hit_of_every_mode(daily_library: Library) -> None:
    hits = daily_library.search(SearchRequest("language models", limit=30)).hits
    category = hits[0].categories[0]
    days = sorted({(hit.date or "")[:10] for hit in hits})
    assert len(days) == 2 and all(days)  # papers of two daily listings, dated by announcement
    for mode in ("hybrid", "semantic", "keyword"):
        for dates in (Filters(since=days[1]), Filters(until=days[0])):
            filters = Filters(since=dates.since, until=dates.until, categories=(category,))
            request = SearchRequest("language models", filters, limit=30, mode=mode)  # type: ignore[arg-type]
            found = daily_library.search(request).hits
            assert found, (mode, filters)
            for hit in found:
                assert category in hit.categories
                assert days[1] <= (hit.date or "")[:10] if dates.since else (hit.date or "")[:10] <= days[0]
        coded = daily_library.search(SearchRequest("models", Filters(has_code=True), mode=mode)).hits  # type: ignore[arg-type]
        assert all(hit.links.get("code") for hit in coded)


def test_exclusions_and_fields_restrict_semantic_hits_too(daily_library: Library) -> None:
    for hit in daily_library.search(SearchRequest("language models -language", limit=30)).hits:
        assert "language" not in f"{hit.title} {hit.abstract}".lower()


@pytest.mark.parametrize("query", ['"unclosed', "title:(", "((( AND", "cat:", "-", "???", "author:"])
def test_malformed_queries_never_crash(daily_library: Library, query: str) -> None:
    results = daily_library.search(SearchRequest(query))
    assert results.total >= 0


def test_keyword_only_without_embeddings_says_so(tmp_path: Path, models_dir: Path) -> None:
    seeds = sorted(str(p) for p in shared_path("seeds").glob("*.txt"))
    library = make_library(tmp_path / "data", models_dir, seeds, embeddings=False)
    results = library.search(SearchRequest("Xception"))
    assert results.mode == "keyword" and "keyword-only" in results.notes[0]
    assert "Xception" in results.hits[0].title
    assert library.related(results.hits[0].id)  # keyword overlap alone still finds related papers


def _new_paper(folder: Path, paper_id: str, title: str, abstract: str) -> str:
    path = folder / f"{paper_id}.jsonl"
    line = {"id": paper_id, "title": title, "summary": abstract, "authors": ["A. Person"],
            "categories": ["cs.LG"], "comment": ""}  # fmt: skip
    path.write_bytes(orjson.dumps(line) + b"\n")
    return str(path)


def test_incremental_updates_embed_only_what_changed(tmp_path: Path, models_dir: Path) -> None:
    seeds = sorted(str(p) for p in shared_path("seeds").glob("*.txt"))
    library = make_library(tmp_path / "data", models_dir, seeds)
    assert library.sync().changed is False  # nothing new: nothing done
    new = _new_paper(tmp_path, "2611.00001", "Quokka routing for sparse mixtures",
                     "We route tokens to quokka experts in sparse mixture models.")  # fmt: skip
    pipeline.ingest(library.engine, library.settings, [new], None, _quiet)
    report = library.sync()
    assert (report.keyword, report.embedded, report.vectors) == (1, 1, 1)
    assert library.search(SearchRequest("quokka")).hits[0].id == "2611.00001"


def test_sync_repairs_lost_and_lagging_indexes(tmp_path: Path, models_dir: Path) -> None:
    seeds = sorted(str(p) for p in shared_path("seeds").glob("*.txt"))
    data_dir = tmp_path / "data"
    library = make_library(data_dir, models_dir, seeds)
    papers = len(library.keyword)
    library.close()
    # a crash after the indexes were written but before their record was: the record lags
    with sa.create_engine(library.settings.database).begin() as conn:
        conn.execute(sa.update(schema.search_docs).values(keyword_hash=None, vector_hash=None))
    # and the vector index file is lost altogether
    (library.snapshots.current().directory / "vectors" / "vectors.usearch").unlink()
    library = Library(library.settings)
    report = library.sync()
    assert report.keyword == papers and report.vectors == papers and report.embedded == 0
    assert len(library.keyword) == papers and len(library.vectors or []) == papers
    assert "Xception" in library.search(SearchRequest("Xception")).hits[0].title
    # the keyword index directory wiped: the count differs and it is rebuilt
    library.close()
    shutil.rmtree(library.snapshots.current().directory / "keyword")
    library = Library(library.settings)
    report = library.sync()
    assert "keyword" in report.repaired and len(library.keyword) == papers


def test_topics_of_seed_page_001_and_overlap_of_the_two_pages(seeds_library: Library) -> None:
    with seeds_library.engine.connect() as conn:
        names = sorted(reads.stats(conn)["collections"])
    comparison = seeds_library.overlap(names[0], names[1])
    union = len(comparison.only_a) + len(comparison.both) + len(comparison.only_b)
    assert len(comparison.both) == 23 and comparison.jaccard == pytest.approx(23 / union)
    request = SearchRequest("graph rewiring diffusion models model editing", limit=60)
    hits = seeds_library.search(request).hits
    groups = seeds_library.topics(request)
    assert 2 <= len(groups) <= 6 and all(group.label for group in groups)
    grouped = [hit.id for group in groups for hit in group.hits]
    assert sorted(grouped) == sorted(hit.id for hit in hits)  # every hit in exactly one group


def test_search_works_while_ingest_runs(tmp_path: Path, models_dir: Path) -> None:
    """A reader searches again and again while another process ingests and indexes."""
    seeds = sorted(str(p) for p in shared_path("seeds").glob("*.txt"))
    library = make_library(tmp_path / "data", models_dir, seeds, embeddings=False)
    days = sorted(shared_path("data", "arxiv", "daily_arxiv_jsonl").glob("*.jsonl.gz"))[:8]
    env = {**os.environ, "PAPERWIRE_EMBEDDINGS": "false", "PAPERWIRE_DEMO_CORPUS": "false"}
    command = [
        sys.executable,
        "-m",
        "paperwire",
        "--data-dir",
        str(tmp_path / "data"),
        "ingest",
        *map(str, days),
    ]
    writer = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    totals = []
    while writer.poll() is None:
        totals.append(library.search(SearchRequest("language models", limit=5)).total)
    assert writer.wait() == 0, writer.stderr.read() if writer.stderr else ""
    totals.append(library.search(SearchRequest("language models", limit=5)).total)
    assert len(totals) > 3 and totals == sorted(totals)  # never an error, never fewer hits than before
    assert totals[-1] > totals[0]


def test_a_repeated_query_is_embedded_once(seeds_library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = seeds_library.embedder
    assert embedder is not None
    calls: list[list[str]] = []
    real = embedder.embed

    def counting(texts: list[str], progress: object = None) -> object:
        calls.append(list(texts))
        return real(texts)

    monkeypatch.setattr(embedder, "embed", counting)
    query = "separable convolutions for image classification asked twice"
    first = seeds_library.search(SearchRequest(query, limit=5))
    second = seeds_library.search(SearchRequest(query, limit=5, offset=5))
    again = seeds_library.search(SearchRequest(query, limit=5))
    assert calls == [[query]]
    assert first.mode == "hybrid" and [h.id for h in again.hits] == [h.id for h in first.hits]
    assert not {h.id for h in first.hits} & {h.id for h in second.hits}


def test_a_repeated_search_is_answered_from_the_cache_until_the_index_changes(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_page, second_page = sorted(str(p) for p in shared_path("seeds").glob("*.txt"))[:2]
    library = make_library(tmp_path / "data", models_dir, [first_page])
    computed: list[SearchRequest] = []
    real = library._search

    def counting(request: SearchRequest, snapshot: Snapshot) -> object:
        computed.append(request)
        return real(request, snapshot)

    monkeypatch.setattr(library, "_search", counting)
    request = SearchRequest("graph neural networks", limit=5)
    before = library.search(request)
    assert library.search(request) is before and computed == [request]  # the same request: remembered
    assert library.search(SearchRequest("graph neural networks", limit=5, mode="keyword")) is not before
    trending = SearchRequest("graph neural networks", limit=5, sort="trending")
    library.search(trending), library.search(trending)  # its order moves with every vote: never kept
    assert len(computed) == 4
    pipeline.ingest(library.engine, library.settings, [second_page], None, _quiet)
    library.sync()
    after = library.search(request)  # new papers, a new snapshot published: computed again
    assert len(computed) == 5 and after.total >= before.total
    library.close()


def test_the_result_cache_is_bounded_and_expires() -> None:
    from paperwire.search.cache import ResultCache
    from paperwire.search.results import SearchResults

    now = [0.0]
    cache = ResultCache(max_hits=4, ttl=60, clock=lambda: now[0])
    results = {q: SearchResults(q, "keyword", 2, 0, [object(), object()]) for q in "abc"}  # type: ignore[list-item]
    for q in "ab":
        cache.put(SearchRequest(q), 1, results[q])
    assert cache.get(SearchRequest("a"), 1) is results["a"]  # a is now the most recent
    cache.put(SearchRequest("c"), 1, results["c"])  # 6 hits > 4: the least recent (b) goes
    assert cache.get(SearchRequest("b"), 1) is None and cache.get(SearchRequest("c"), 1) is results["c"]
    assert cache.get(SearchRequest("a"), 2) is None  # another generation of the indexes
    now[0] = 61.0
    assert cache.get(SearchRequest("c"), 1) is None and len(cache) == 0  # too old
