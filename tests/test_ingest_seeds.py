"""The seed pages: papers, collections in page order, exactly the named duplicate groups, idempotence."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from paperwire.config import Settings
from paperwire.pipeline import ingest
from paperwire.store import reads, schema

SAME_WORK = [
    {"Channel Pruning for Accelerating Very Deep Neural Networks",
     "Pruning Very Deep Neural Network Channels for Efficient Inference"},
    {"Seeker: Enhancing Exception Handling in Code with LLM-based Multi-Agent Approach",
     "Seeker: Towards Exception Safety Code Generation with Intermediate Language Agents Framework"},
]  # fmt: skip
DIFFERENT_WORKS = [
    ("X-Teaming: Multi-Turn Jailbreaks", "X-Teaming Evolutionary M2S"),
    ("RedOne: Revealing", "RedOne 2.0"),
    ("Xmodel-2 Technical Report", "Xmodel-2.5"),
]


def groups(engine: sa.Engine) -> list[set[str]]:
    p = schema.papers
    with engine.connect() as conn:
        rows = conn.execute(sa.select(p.c.group_id, p.c.title)).all()
    by_group: dict[str, set[str]] = {}
    for group_id, title in rows:
        by_group.setdefault(group_id, set()).add(title)
    return [titles for titles in by_group.values() if len(titles) > 1]


def test_seed_pages_ingest(engine: sa.Engine, settings: Settings, seeds: list[Path]) -> None:
    report = ingest(engine, settings, [str(p) for p in seeds])
    # 235 listing entries; the 23 papers shown on both pages are one paper each
    assert report.counts.seen == 235 and report.counts.bad == 0
    assert report.counts.new == 212 and report.counts.unchanged == 23
    with engine.connect() as conn:
        data = reads.stats(conn)
        first = reads.collection_items(conn, "000_ead136927b218f15")
        second = reads.collection_items(conn, "001_7f0376ca914509b2")
    assert data["papers"] == 212
    assert data["collections"] == {"000_ead136927b218f15": 119, "001_7f0376ca914509b2": 116}
    lines = seeds[0].read_text(encoding="utf-8").splitlines()
    titles = [lines[2].removeprefix("Subscribe"), *lines[4::2]]
    assert [item["title"] for item in first] == titles[:119]
    assert [item["position"] for item in first] == list(range(1, 120))
    # the plain title of the first paper on page 001: its LaTeX converted, the button text gone
    assert second[0]["title"] == "ART·V: Auto-Regressive Text-to-Video Generation with Diffusion Models"
    shared = {i["id"] for i in first} & {i["id"] for i in second}
    assert len(shared) == 23
    assert sorted(groups(engine), key=sorted) == sorted(SAME_WORK, key=sorted)
    assert data["duplicate_groups"] == 2


def test_related_but_different_papers_stay_apart(
    engine: sa.Engine, settings: Settings, seeds: list[Path]
) -> None:
    ingest(engine, settings, [str(p) for p in seeds])
    for group in groups(engine):
        for a, b in DIFFERENT_WORKS:
            assert not (any(t.startswith(a) for t in group) and any(t.startswith(b) for t in group))


def test_rerun_adds_nothing(engine: sa.Engine, settings: Settings, seeds: list[Path]) -> None:
    ingest(engine, settings, [str(p) for p in seeds])
    with engine.connect() as conn:
        before = conn.execute(sa.select(schema.papers).order_by(schema.papers.c.id)).all()
    again = ingest(engine, settings, [str(p) for p in seeds])
    assert (again.counts.new, again.counts.updated, again.counts.unchanged) == (0, 0, 235)
    assert not again.anything_new
    with engine.connect() as conn:
        after = conn.execute(sa.select(schema.papers).order_by(schema.papers.c.id)).all()
    assert [r._mapping["content_hash"] for r in before] == [r._mapping["content_hash"] for r in after]
