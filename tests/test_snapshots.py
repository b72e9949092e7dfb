"""Index snapshots: built as a draft, published at once, read whole; a dead sync's draft carried on."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from conftest import shared_path
from paperwire import pipeline
from paperwire.config import load_settings
from paperwire.library import Library
from paperwire.search import sync as sync_module
from paperwire.search.query import Filters, SearchRequest, parse
from paperwire.search.snapshots import KEEP


def _quiet(*_args: object) -> None:
    return None


def seed_page(number: int) -> str:
    return str(next(shared_path("seeds").glob(f"{number:03d}_*.txt")))


def keyword_library(data_dir: Path) -> Library:
    return Library(load_settings(data_dir=data_dir, demo_corpus=False, embeddings=False))


def ids(library: Library, query: str) -> set[str]:
    return {hit.id for hit in library.search(SearchRequest(query, limit=50, mode="keyword")).hits}


def test_a_sync_publishes_a_new_snapshot_and_readers_keep_the_one_they_hold(tmp_path: Path) -> None:
    library = keyword_library(tmp_path / "data")
    pipeline.ingest(library.engine, library.settings, [seed_page(0)], None, _quiet)
    library.sync()
    before = library.snapshots.current()
    assert not ids(library, "snapshots")
    # a second process's view, opened now, and a sync that changes nothing: no new snapshot
    other = keyword_library(tmp_path / "data")
    assert other.snapshots.current().name == before.name
    assert not library.sync().changed and library.snapshots.current().name == before.name

    pipeline.ingest(library.engine, library.settings, [str(make_listing(tmp_path, 9))], None, _quiet)
    library.sync()
    after = other.snapshots.current()  # the other process switches on its next search
    assert after.name > before.name and len(after.keyword) == len(before.keyword) + 1
    assert ids(other, "snapshots") == {"2601.00009"}
    # the snapshot held before still answers as it did, even once pruned from the disk
    for page in range(KEEP + 1):
        pipeline.ingest(library.engine, library.settings, [str(make_listing(tmp_path, page))], None, _quiet)
        library.sync()
    assert not before.directory.exists()
    hits, _ = before.keyword.search(parse("Xception", Filters()), 50)
    assert {h.key for h in hits} and len(before.keyword) < len(other.keyword)
    published = sorted(p.name for p in (tmp_path / "data" / "index" / "snapshots").iterdir())
    assert len(published) == KEEP
    other.close()
    library.close()


def make_listing(folder: Path, n: int) -> Path:
    """A one-paper daily listing file (a new paper each time)."""
    path = folder / f"2026-01-0{n + 1}.jsonl"
    record = {
        "id": f"2601.0{n:04d}", "abs": f"https://arxiv.org/abs/2601.0{n:04d}", "pdf": "",
        "authors": ["Ada Lovelace"], "title": f"Snapshot paper number {n}", "categories": ["cs.IR"],
        "comment": None, "summary": f"An abstract about index snapshots, number {n}.",
    }  # fmt: skip
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def test_a_sync_that_dies_leaves_its_draft_and_the_next_one_carries_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = keyword_library(tmp_path / "data")
    pipeline.ingest(library.engine, library.settings, [seed_page(0)], None, _quiet)
    library.sync()
    published, indexed = library.snapshots.current().name, len(library.keyword)
    pipeline.ingest(library.engine, library.settings, [seed_page(1)], None, _quiet)
    monkeypatch.setattr(sync_module, "BATCH", 20)
    real = sync_module.IndexSync._ensure_keys
    calls = 0

    def dies_on_the_third_batch(conn: object, paper_ids: list[str]) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("killed mid-sync")
        return real(conn, paper_ids)  # type: ignore[arg-type]

    monkeypatch.setattr(sync_module.IndexSync, "_ensure_keys", staticmethod(dies_on_the_third_batch))
    with pytest.raises(RuntimeError):
        library.sync()
    # nothing was published: readers see the snapshot as it was, the draft waits on disk
    assert library.snapshots.current().name == published and len(library.keyword) == indexed
    draft = tmp_path / "data" / "index" / "snapshots" / f"{int(published) + 1:06d}"
    assert draft.is_dir()

    monkeypatch.setattr(sync_module.IndexSync, "_ensure_keys", staticmethod(real))
    report = library.sync()
    assert library.snapshots.current().name == draft.name  # the draft, carried on and published
    assert report.keyword > 0 and not report.repaired  # its index and the record agree
    fresh = keyword_library(tmp_path / "fresh")
    pipeline.ingest(fresh.engine, fresh.settings, [seed_page(0), seed_page(1)], None, _quiet)
    fresh.sync()
    assert len(library.keyword) == len(fresh.keyword)
    assert ids(library, "graph rewiring over-squashing") == ids(fresh, "graph rewiring over-squashing")
    fresh.close()
    library.close()


def test_searches_never_fail_while_snapshots_are_published(tmp_path: Path) -> None:
    library = keyword_library(tmp_path / "data")
    pipeline.ingest(library.engine, library.settings, [seed_page(0)], None, _quiet)
    library.sync()
    reader = keyword_library(tmp_path / "data")  # another process's view of the same directory
    failures: list[BaseException] = []
    counts: list[int] = []
    done = threading.Event()

    def search_all_along() -> None:
        while not done.is_set():
            try:
                counts.append(len(ids(reader, "Xception")))
            except BaseException as exc:
                failures.append(exc)

    thread = threading.Thread(target=search_all_along)
    thread.start()
    try:
        for n in range(8):
            pipeline.ingest(library.engine, library.settings, [str(make_listing(tmp_path, n))], None, _quiet)
            library.sync()
    finally:
        done.set()
        thread.join()
    assert not failures and len(counts) > 20 and min(counts) > 0
    assert reader.snapshots.current().name == library.snapshots.current().name
    reader.close()
    library.close()


def test_the_indexes_of_an_older_paperwire_become_the_first_snapshot(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    library = keyword_library(data_dir)
    pipeline.ingest(library.engine, library.settings, [seed_page(0)], None, _quiet)
    library.sync()
    expected = ids(library, "Xception")
    library.close()
    # the layout before snapshots: index/keyword (and index/vectors) straight in the index folder
    index = data_dir / "index"
    (library.snapshots.current().directory / "keyword").rename(index / "keyword")
    (index / "CURRENT").unlink()
    shutil.rmtree(index / "snapshots")
    library = keyword_library(data_dir)
    assert ids(library, "Xception") == expected
    assert not (index / "keyword").exists() and library.snapshots.current().name == "000001"
    assert not library.sync().changed
    library.close()
