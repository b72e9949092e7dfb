"""Events and trending over a real store: one vote per actor, decay, windows, categories, groups."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import shared_path
from paperwire import pipeline, trending
from paperwire.config import load_settings
from paperwire.errors import InputError
from paperwire.library import Library
from paperwire.search.query import SearchRequest
from paperwire.store import schema
from test_cli import paperwire

HF_DAY = "2026-08-21"  # a Hugging Face daily-papers file: 17 papers with upvotes and comments


def _quiet(*_args: object) -> None:
    return None


def make_library(data_dir: Path, inputs: list[Path]) -> Library:
    settings = load_settings(data_dir=data_dir, demo_corpus=False, embeddings=False)
    library = Library(settings)
    pipeline.ingest(library.engine, settings, [str(p) for p in inputs], None, _quiet)
    return library


@pytest.fixture
def hf_library(tmp_path: Path) -> Iterator[Library]:
    library = make_library(
        tmp_path / "data", [shared_path("data", "arxiv", "hf_daily_papers", f"{HF_DAY}.json")]
    )
    yield library
    library.close()


def hf_items() -> list[dict[str, Any]]:
    items = json.loads(shared_path("data", "arxiv", "hf_daily_papers", f"{HF_DAY}.json").read_text())
    return [item["paper"] for item in items]


def test_a_vote_counts_once_per_actor_and_a_view_once_a_day(hf_library: Library) -> None:
    paper = hf_items()[-1]["id"]
    assert hf_library.record_event(paper, "upvote", "user:ada")
    assert not hf_library.record_event(paper, "upvote", "user:ada")  # the same vote again
    assert hf_library.record_event(paper, "upvote", "user:alan")
    assert hf_library.record_event(paper, "view", "user:ada")
    assert not hf_library.record_event(paper, "view", "user:ada")  # same day
    with hf_library.engine.begin() as conn:
        later = trending.record_event(conn, paper, "view", "user:ada", at=datetime(2030, 1, 2, tzinfo=UTC))
    assert later  # another day, another view
    assert hf_library.withdraw_vote(paper, "upvote", "user:alan") and not hf_library.withdraw_vote(
        paper, "upvote", "user:alan"
    )
    with hf_library.engine.connect() as conn:
        kinds = conn.execute(
            sa.select(schema.paper_events.c.kind, sa.func.count()).group_by(schema.paper_events.c.kind)
        ).all()
    assert dict(kinds) == {"upvote": 1, "view": 2}


def test_bad_events_and_windows_say_what_to_do(hf_library: Library) -> None:
    paper = hf_items()[0]["id"]
    with pytest.raises(InputError, match="unknown event kind") as error:
        hf_library.record_event(paper, "like", "user:ada")
    assert "upvote" in (error.value.hint or "")
    with pytest.raises(InputError, match="unknown window"):
        hf_library.trending("year")
    with pytest.raises(InputError, match="actor"):
        hf_library.record_event(paper, "upvote", "")
    with pytest.raises(Exception, match="no paper"):
        hf_library.record_event("9999.99999", "upvote", "user:ada")


def test_imported_upvotes_rank_the_day_and_votes_move_a_paper_up(hf_library: Library) -> None:
    items = hf_items()
    ranked, papers = hf_library.trending("week")
    assert ranked.as_of == HF_DAY  # the window ends on the newest day with news, not the wall clock
    ids = [entry.paper_id for entry in ranked.papers]
    assert sorted(ids) == sorted(str(item["id"]) for item in items)  # every paper of the day, once
    assert ids[0] == max(items, key=lambda item: int(item["upvotes"]))["id"]  # 163 upvotes
    assert [p["id"] for p in papers] == ids
    scores = [entry.score for entry in ranked.papers]
    assert scores == sorted(scores, reverse=True)
    by_id = {entry.paper_id: entry for entry in ranked.papers}
    assert all(by_id[str(item["id"])].upvotes == int(item["upvotes"]) for item in items)
    last, voters = ids[-1], int(by_id[ids[0]].attention) + 1  # enough to pass the leader
    for n in range(voters):
        hf_library.record_event(last, "upvote", f"user:{n}")
    ranked, _ = hf_library.trending("week")
    assert ranked.papers[0].paper_id == last and ranked.papers[0].events == {"upvote": voters}


def test_new_papers_without_signals_rank_by_recency_within_the_window(tmp_path: Path) -> None:
    days = sorted(shared_path("data", "arxiv", "daily_arxiv_jsonl").glob("*.jsonl.gz"))
    first, second = days[0], days[5]  # two listing days, some days apart
    library = make_library(tmp_path / "data", [first, second])
    with library.engine.connect() as conn:
        announced = dict(conn.execute(sa.select(schema.papers.c.id, schema.papers.c.announced)).all())
    newest_day = max(announced.values())
    week, _ = library.trending("week", limit=200)
    assert week.as_of == newest_day
    assert week.papers and all(announced[e.paper_id] == newest_day for e in week.papers[:50])
    assert all(entry.attention == 0 and entry.recency > 0 for entry in week.papers)
    month, _ = library.trending("month", limit=2000)
    month_days = {announced[e.paper_id] for e in month.papers}
    assert month_days == set(announced.values())  # the older day is inside a month, after the newer one
    positions = [announced[e.paper_id] for e in month.papers]
    assert positions == sorted(positions, reverse=True)
    old_paper = next(pid for pid, day in announced.items() if day != newest_day)
    for n in range(3):
        library.record_event(old_paper, "upvote", f"user:{n}")
    month, _ = library.trending("month", limit=5)
    assert month.papers[0].paper_id == old_paper  # attention lifts an older paper over new ones
    category = library.paper(old_paper)["categories"][0]
    in_category, papers = library.trending("month", category=category, limit=2000)
    assert in_category.papers and all(category in p["categories"] for p in papers)
    archive = category.split(".")[0]
    assert len(library.trending("month", category=archive, limit=2000)[0].papers) >= len(in_category.papers)
    library.close()


def test_duplicates_trend_together_as_one_entry(tmp_path: Path) -> None:
    seeds = sorted(shared_path("seeds").glob("*.txt"))
    library = make_library(tmp_path / "data", seeds)
    p = schema.papers
    with library.engine.connect() as conn:
        group = conn.execute(
            sa.select(p.c.group_id).group_by(p.c.group_id).having(sa.func.count() > 1).limit(1)
        ).scalar_one()
        members = list(conn.execute(sa.select(p.c.id).where(p.c.group_id == group)).scalars())
    for n, member in enumerate(members):
        library.record_event(member, "save", f"user:{n}")
    ranked, _ = library.trending("day")
    entries = [e for e in ranked.papers if e.paper_id in members]
    assert len(entries) == 1 and entries[0].events == {"save": len(members)}
    library.close()


def test_trending_command_prints_and_answers_json(tmp_path: Path) -> None:
    hf = shared_path("data", "arxiv", "hf_daily_papers", f"{HF_DAY}.json")
    env = {"PAPERWIRE_EMBEDDINGS": "false"}
    assert (
        paperwire("--data-dir", tmp_path / "d", "ingest", "--no-index", hf, cwd=tmp_path, env=env).returncode
        == 0
    )
    result = paperwire(
        "--data-dir", tmp_path / "d", "trending", "--window", "day", "--json", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert (
        answer["as_of"] == HF_DAY and answer["papers"][0]["upvotes"] == 163 and answer["papers"][0]["title"]
    )
    result = paperwire("--data-dir", tmp_path / "d", "trending", "--window", "decade", cwd=tmp_path, env=env)
    assert result.returncode != 0 and "unknown window" in result.stderr


def test_as_of_never_passes_today(hf_library: Library) -> None:
    with hf_library.engine.connect() as conn:
        assert trending.latest_day(conn, date(2026, 8, 20)) < date(2026, 8, 21)


def test_search_sorts_by_trending(hf_library: Library) -> None:
    hf_library.sync()
    relevance = hf_library.search(SearchRequest("models", limit=50)).hits
    assert len(relevance) >= 5
    quiet = relevance[-1].id  # the least relevant hit gets attention
    for n in range(200):
        hf_library.record_event(quiet, "upvote", f"user:{n}")
    hits = hf_library.search(SearchRequest("models", limit=50, sort="trending")).hits
    assert hits[0].id == quiet and {h.id for h in hits} == {h.id for h in relevance}
    ranked, _ = hf_library.trending("month", limit=100)
    score = {entry.paper_id: entry.score for entry in ranked.papers}
    in_order = [score.get(hit.id, 0.0) for hit in hits]
    assert in_order == sorted(in_order, reverse=True)
