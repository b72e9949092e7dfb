"""`paperwire eval`: each test collection in a store of its own, searched by every mode of the Library.

A collection's store lives in `<data dir>/eval/<name>` and is built once (ingest, index, embed);
later runs reuse it. Hits are not collapsed by duplicate group, since the judgements are per
document, and the reference BM25 runs in the same evaluation to check the keyword set-up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from paperwire import pipeline
from paperwire.config import Settings
from paperwire.evaluation.collections import (
    COLLECTIONS,
    EvalCollection,
    doc_id_for,
    load_collection,
    write_corpus_jsonl,
)
from paperwire.evaluation.metrics import evaluate
from paperwire.evaluation.reference import ReferenceBM25
from paperwire.library import Library
from paperwire.search.keyword import KeywordIndex
from paperwire.search.query import Filters, SearchRequest, parse
from paperwire.store import schema

__all__ = ["COLLECTIONS", "collection_library", "run_evaluation"]

MODES = ("keyword", "semantic", "hybrid")
System = Callable[[str, int], list[str]]


def collection_library(settings: Settings, collection: EvalCollection) -> Library:
    """A Library over a store holding just this collection, built on first use."""
    folder = settings.data_dir / "eval" / collection.name
    eval_settings = settings.model_copy(
        update={"data_dir": folder, "database_url": None, "demo_corpus": False, "dedup_threshold": 1.0}
    )
    library = Library(eval_settings)
    with library.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM papers").scalar_one()
    if stored == 0:
        corpus = write_corpus_jsonl(collection, folder / "corpus")
        pipeline.ingest(library.engine, eval_settings, [str(corpus)], "jsonl", lambda _c, _l: None)
    return library


def _system(library: Library, name: str, mode: str) -> System:
    def search(query: str, k: int) -> list[str]:
        request = SearchRequest(query, limit=min(k, 200), mode=mode, collapse=False)  # type: ignore[arg-type]
        ids = (doc_id_for(name, hit.id) for hit in library.search(request).hits)
        return [doc_id for doc_id in ids if doc_id is not None]

    return search


def _flat_system(library: Library, name: str) -> System:
    """Keyword search scored like the reference (one text field), to check the BM25 set-up."""
    index = KeywordIndex(library.snapshots.current().directory / "keyword", title_boost=0.0)
    d = schema.search_docs

    def search(query: str, k: int) -> list[str]:
        keys = [hit.key for hit in index.search(parse(query, Filters()), k)[0]]
        with library.engine.connect() as conn:
            paper_ids = dict(conn.execute(sa.select(d.c.key, d.c.paper_id).where(d.c.key.in_(keys))).all())
        ids = (doc_id_for(name, paper_ids[key]) for key in keys)
        return [doc_id for doc_id in ids if doc_id is not None]

    return search


def run_evaluation(
    settings: Settings,
    root: Path,
    names: tuple[str, ...],
    sync: Callable[[Library], object] = Library.sync,
) -> dict[str, dict[str, dict[str, float]]]:
    """collection -> system -> metric -> value, for the reference BM25 and each search mode."""
    tables: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        collection = load_collection(name, root)
        with collection_library(settings, collection) as library:
            sync(library)
            modes = MODES if library.embedder is not None else ("keyword",)
            systems: dict[str, System] = {
                "reference BM25 (bm25s, flat)": ReferenceBM25(collection.docs).search
            }
            systems["keyword, flat (no title boost)"] = _flat_system(library, name)
            systems |= {mode: _system(library, name, mode) for mode in modes}
            if library.embedder is not None:  # the other fusion method, side by side
                other = "rrf" if library.settings.fusion == "convex" else "convex"
                alternative = Library(library.settings.model_copy(update={"fusion": other}), library.engine)
                systems[f"hybrid ({other})"] = _system(alternative, name, "hybrid")
            tables[name] = evaluate(collection, systems)
    return tables
