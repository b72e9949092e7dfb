"""Every shared sample format through pipeline.ingest into a real SQLite store.

The expected counts were computed independently from the files (lxml / json / gzip, outside
paperwire) and are hard-coded: records in the file, unique arXiv ids, versions listed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import shared_path
from paperwire import dedup
from paperwire.config import Settings
from paperwire.pipeline import ingest
from paperwire.sources import detect_format
from paperwire.store import reads, schema

ARXIV = ("data", "arxiv")

# (folder, file, format, records in the file, unique papers, versions stored)
SAMPLES = [
    ("kaggle_snapshot_sample", "arxiv-metadata-oai-snapshot.head200.json", "jsonl", 200, 200, 326),
    ("oai_pmh", "hepcrawl_arxiv-physics-hep-ex.xml", "oai-pmh", 3, 3, 3),
    ("oai_pmh", "hepcrawl_arxiv-physics-hep-th.xml", "oai-pmh", 3, 3, 3),
    ("oai_pmh", "hepcrawl_arxiv-single.xml", "oai-pmh", 1, 1, 1),
    (
        "oai_pmh",
        "scirate_ListRecords_arXivRaw_2014-01-16_token-496549-96001.xml",
        "oai-pmh",
        1000,
        1000,
        1632,
    ),
    ("atom_api", "arxivpy_2016_search_query_au_del_maestro.xml", "arxiv-atom", 10, 10, 10),
    ("atom_api", "arxivpy_2026_id_list_1707.08567.atom.xml", "arxiv-atom", 1, 1, 1),
    ("atom_api", "arxivpy_2026_search_query_testing_max100.atom.xml", "arxiv-atom", 100, 100, 100),
    ("hf_daily_papers", "2024-05-27.json", "hf-daily", 13, 13, 0),
    ("hf_daily_papers", "2025-07-22.json", "hf-daily", 16, 16, 0),
    ("hf_daily_papers", "2026-02-18.json", "hf-daily", 13, 13, 0),
    ("hf_daily_papers", "2026-08-21.json", "hf-daily", 17, 17, 0),
    # daily listings repeat a paper on one day (cross-lists): the repeats are "unchanged"
    ("daily_arxiv_jsonl", "2025-03-19.jsonl.gz", "jsonl", 172, 172, 0),
    ("daily_arxiv_jsonl", "2025-05-05.jsonl.gz", "jsonl", 101, 97, 0),
    ("daily_arxiv_jsonl", "2025-07-22.jsonl.gz", "jsonl", 375, 292, 0),
]


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def paper(engine: sa.Engine, paper_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return reads.get_paper(conn, paper_id)


@pytest.mark.parametrize(
    ("folder", "name", "fmt", "records", "papers", "versions"),
    SAMPLES,
    ids=[name for _, name, *_ in SAMPLES],
)
def test_sample_file(
    engine: sa.Engine,
    settings: Settings,
    folder: str,
    name: str,
    fmt: str,
    records: int,
    papers: int,
    versions: int,
) -> None:
    path = shared_path(*ARXIV, folder, name)
    assert detect_format(path) == fmt
    report = ingest(engine, settings, [str(path)])
    assert report.counts.bad == 0, report.bad[:3]
    assert report.bad == []
    assert report.counts.seen == records
    assert report.counts.new == papers
    assert report.counts.unchanged == records - papers
    assert report.counts.updated == 0
    assert count(engine, schema.papers) == papers
    assert count(engine, schema.paper_versions) == versions
    with engine.connect() as conn:
        run = conn.execute(sa.select(schema.ingest_runs)).one()._mapping
        stats = reads.stats(conn)
    assert run["status"] == "finished" and run["new"] == papers and run["bad"] == 0
    assert sum(stats["by_year"].values()) == papers
    assert sum(stats["by_source"].values()) == papers
    # the second run finds everything unchanged
    again = ingest(engine, settings, [str(path)])
    assert (again.counts.new, again.counts.updated, again.counts.unchanged) == (0, 0, records)
    assert count(engine, schema.papers) == papers


def test_atom_paper_fields(engine: sa.Engine, settings: Settings) -> None:
    ingest(
        engine, settings, [str(shared_path(*ARXIV, "atom_api", "arxivpy_2026_id_list_1707.08567.atom.xml"))]
    )
    p = paper(engine, "arXiv:1707.08567v1")
    assert p["id"] == "1707.08567"
    assert p["title"] == "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications"
    assert p["versions"] == [{"number": 1, "date": "2017-07-27T08:18:33+00:00"}]
    assert p["categories"] == ["cs.IT"]
    assert len(p["authors"]) == 34 and p["authors"][0] == "Kees A. Schouhamer Immink"
    assert "Dirk Wübben" in p["authors"]
    assert p["links"]["pdf"].startswith("https://arxiv.org/pdf/1707.08567")


def test_hf_daily_signals_land_in_paper_signals(engine: sa.Engine, settings: Settings) -> None:
    path = shared_path(*ARXIV, "hf_daily_papers", "2025-07-22.json")
    ingest(engine, settings, [str(path)])
    assert count(engine, schema.paper_signals) == 16
    item = next(i for i in json.loads(path.read_text(encoding="utf-8")) if i["paper"]["id"] == "2507.14683")
    assert item["paper"]["upvotes"] == 63
    with engine.connect() as conn:
        source, observed_on, data = conn.execute(
            sa.select(
                schema.paper_signals.c.source, schema.paper_signals.c.observed_on, schema.paper_signals.c.data
            ).where(schema.paper_signals.c.paper_id == "2507.14683")
        ).one()
    assert source == "hf-daily"
    assert observed_on == "2025-07-22"
    assert data["upvotes"] == 63 == item["paper"]["upvotes"]
    assert data["comments"] == item["numComments"]
    assert paper(engine, "2507.14683")["signals"][0]["upvotes"] == 63


def test_same_paper_from_daily_listing_and_hf_daily(engine: sa.Engine, settings: Settings) -> None:
    daily = shared_path(*ARXIV, "daily_arxiv_jsonl", "2025-07-22.jsonl.gz")
    hf = shared_path(*ARXIV, "hf_daily_papers", "2025-07-22.json")
    ingest(engine, settings, [str(daily)])
    second = ingest(engine, settings, [str(hf)])
    # 8 of the 16 HF papers were in that day's arXiv listing already: they are updated, not new
    assert (second.counts.new, second.counts.updated) == (8, 8)
    assert count(engine, schema.papers) == 292 + 8
    p = paper(engine, "2507.14683")
    assert sorted(p["sources"]) == ["arxiv-daily", "hf-daily"]
    assert p["categories"] == ["cs.CL"]  # from the arXiv listing; HF gives none
    assert p["title"].startswith("MiroMind-M1: An Open-Source Advancement in Mathematical Reas")
    assert [s["upvotes"] for s in p["signals"]] == [63]
    assert p["announced"] == "2025-07-22"


def test_same_paper_from_daily_listing_and_atom_gets_versions(engine: sa.Engine, settings: Settings) -> None:
    ingest(engine, settings, [str(shared_path(*ARXIV, "daily_arxiv_jsonl", "2025-04-01.jsonl.gz"))])
    assert paper(engine, "2503.23466")["versions"] == []
    report = ingest(
        engine,
        settings,
        [str(shared_path(*ARXIV, "atom_api", "arxivpy_2026_search_query_testing_max100.atom.xml"))],
    )
    assert (report.counts.new, report.counts.updated) == (99, 1)
    p = paper(engine, "2503.23466")
    assert sorted(p["sources"]) == ["arxiv-atom", "arxiv-daily"]
    assert p["versions"] == [{"number": 1, "date": "2025-03-30T14:50:03+00:00"}]
    assert p["categories"] == ["cs.SE", "cs.AI", "cs.CL", "cs.LG"]
    assert p["title"].startswith("Codehacks: A Dataset of Adversarial Tests for Competitive Pr")


DAILY = {
    "id": "2501.01234",
    "title": "Teaching Toasters to Count",
    "summary": "We teach a toaster to count the slices of bread it toasts, using a very small network.",
    "authors": ["Ada Quill", "Bo Marsh"],
    "categories": ["cs.LG", "cs.AI"],
    "comment": "8 pages",
    "abs": "https://arxiv.org/abs/2501.01234",
    "pdf": "https://arxiv.org/pdf/2501.01234",
}
SNAPSHOT = {
    "id": "2501.01234",
    "submitter": "Ada Quill",
    "authors": "Ada Quill, Bo Marsh",
    "title": "Teaching Toasters to Count",
    "comments": "8 pages",
    "journal-ref": None,
    "doi": None,
    "report-no": None,
    "categories": "cs.LG cs.AI",
    "license": None,
    "abstract": "  We teach a toaster to count the slices of bread it toasts, using a very small network.\n",
    "versions": [
        {"version": "v1", "created": "Mon, 6 Jan 2025 10:00:00 GMT"},
        {"version": "v2", "created": "Tue, 14 Jan 2025 09:30:00 GMT"},
    ],
    "update_date": "2025-01-15",
    "authors_parsed": [["Quill", "Ada", ""], ["Marsh", "Bo", ""]],
}


@pytest.mark.parametrize("snapshot_first", [False, True])
def test_daily_listing_and_snapshot_become_one_paper(
    engine: sa.Engine, settings: Settings, tmp_path: Path, snapshot_first: bool
) -> None:
    daily = tmp_path / "2025-01-07.jsonl"
    daily.write_text(json.dumps(DAILY) + "\n", encoding="utf-8")
    snapshot = tmp_path / "arxiv-metadata-oai-snapshot.json"
    snapshot.write_text(json.dumps(SNAPSHOT) + "\n", encoding="utf-8")
    order = [snapshot, daily] if snapshot_first else [daily, snapshot]
    first = ingest(engine, settings, [str(order[0])])
    ingest(engine, settings, [str(order[1])])
    assert first.counts.new == 1
    assert count(engine, schema.papers) == 1
    p = paper(engine, "2501.01234")
    assert sorted(p["sources"]) == ["arxiv-daily", "arxiv-snapshot"]
    assert p["versions"] == [
        {"number": 1, "date": "2025-01-06T10:00:00+00:00"},
        {"number": 2, "date": "2025-01-14T09:30:00+00:00"},
    ]
    assert p["announced"] == "2025-01-07"
    assert p["authors"] == ["Ada Quill", "Bo Marsh"]
    assert p["categories"] == ["cs.LG", "cs.AI"]
    assert p["abstract"] == DAILY["summary"]
    assert p["published"] is not None and p["published"].startswith("2025-01-06")


def test_both_records_in_one_run(engine: sa.Engine, settings: Settings, tmp_path: Path) -> None:
    mixed = tmp_path / "2025-01-07.jsonl"
    mixed.write_text(json.dumps(DAILY) + "\n" + json.dumps(SNAPSHOT) + "\n", encoding="utf-8")
    report = ingest(engine, settings, [str(mixed)])
    assert report.counts.new == 1 and report.counts.seen == 2 and report.counts.bad == 0
    p = paper(engine, "2501.01234")
    assert [v["number"] for v in p["versions"]] == [1, 2]
    assert sorted(p["sources"]) == ["arxiv-daily", "arxiv-snapshot"]


def test_a_revised_text_is_filed_under_its_new_lsh_keys_only(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    revised = {
        **SNAPSHOT,
        "title": "Teaching Toasters to Count, Revisited",
        "abstract": "We teach a toaster and a kettle to count slices and cups, with one tiny network.",
    }
    for day, record in (("2025-01-07", DAILY), ("2025-01-20", revised)):
        path = tmp_path / f"{day}.jsonl"
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
        ingest(engine, settings, [str(path)])
    (expected,) = dedup.fingerprints([revised["title"]], [revised["abstract"]])
    with engine.connect() as conn:  # in either level of the LSH keys
        filed = [
            key
            for k in (schema.dedup_keys, schema.dedup_keys_recent)
            for key in conn.execute(sa.select(k.c.key).where(k.c.paper_id == "2501.01234")).scalars()
        ]
    assert paper(engine, "2501.01234")["title"] == revised["title"]
    assert sorted(filed) == sorted(expected.keys) and len(filed) == dedup.BANDS + 1


def test_folder_input_ingests_all_its_files(engine: sa.Engine, settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    for parts in [
        ("hf_daily_papers", "2024-05-27.json"),
        ("oai_pmh", "hepcrawl_arxiv-physics-hep-ex.xml"),
        ("atom_api", "arxivpy_2016_search_query_au_del_maestro.xml"),
        ("kaggle_snapshot_sample", "arxiv-metadata-oai-snapshot.head200.json"),
    ]:
        shutil.copy(shared_path(*ARXIV, *parts), folder / parts[1])
    (folder / ".hidden.json").write_text("not even json", encoding="utf-8")  # hidden files are skipped
    (folder / "sub").mkdir()  # sub-folders are not descended into
    shutil.copy(shared_path(*ARXIV, "oai_pmh", "hepcrawl_arxiv-single.xml"), folder / "sub" / "single.xml")
    report = ingest(engine, settings, [str(folder)])
    assert report.counts.bad == 0
    assert report.counts.new == 13 + 3 + 10 + 200
    with engine.connect() as conn:
        stats = reads.stats(conn)
        inputs = conn.execute(sa.select(schema.ingest_runs.c.inputs)).scalar_one()
    assert stats["by_source"] == {"arxiv-snapshot": 200, "hf-daily": 13, "arxiv-atom": 10, "oai-pmh": 3}
    copied = [
        "2024-05-27.json",
        "arxiv-metadata-oai-snapshot.head200.json",
        "arxivpy_2016_search_query_au_del_maestro.xml",
        "hepcrawl_arxiv-physics-hep-ex.xml",
    ]
    assert sorted(Path(i).name for i in inputs) == copied


def test_shared_folder_of_hf_daily_files(engine: sa.Engine, settings: Settings) -> None:
    report = ingest(engine, settings, [str(shared_path(*ARXIV, "hf_daily_papers"))])
    assert report.counts.bad == 0
    assert report.counts.seen == 13 + 16 + 13 + 17
    assert count(engine, schema.paper_signals) == report.counts.seen
