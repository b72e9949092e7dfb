"""The seed pages: papers, collections in page order, exactly the named duplicate groups, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from paperwire.config import Settings
from paperwire.pipeline import ingest
from paperwire.store import papers, reads, schema

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


def test_duplicates_are_found_in_both_levels_of_lsh_keys(
    engine: sa.Engine, settings: Settings, seeds: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The first page's keys merged into dedup_keys (SETTLE_AT 1: after every batch), the second
    page's left in dedup_keys_recent: the same groups as one ingest, and revisions unfile keys
    from whichever level holds them."""
    monkeypatch.setattr(papers, "SETTLE_AT", 1)
    ingest(engine, settings, [str(seeds[0])])
    monkeypatch.setattr(papers, "SETTLE_AT", 10**9)
    ingest(engine, settings, [str(seeds[1])])

    def filed() -> tuple[int, int]:
        with engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(sa.select(sa.func.count()).select_from(level)).scalar_one()
                for level in (schema.dedup_keys, schema.dedup_keys_recent)
            )

    main, recent = filed()
    assert main > 0 and recent > 0
    assert sorted(groups(engine), key=sorted) == sorted(SAME_WORK, key=sorted)
    revised = []  # every abstract revised: each paper's keys unfiled and filed again
    for seed in seeds:
        lines = seed.read_text(encoding="utf-8").splitlines()
        lines[3::2] = [f"{line} A closing sentence added in a revision." for line in lines[3::2]]
        revised.append(tmp_path / seed.name)
        revised[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    with engine.connect() as conn:
        before = set(conn.execute(sa.select(schema.dedup_keys.c.key)).scalars())
    assert ingest(engine, settings, [str(p) for p in revised]).counts.updated == 212
    with engine.connect() as conn:
        still = before & set(conn.execute(sa.select(schema.dedup_keys.c.key)).scalars())
    assert len(still) < len(before) / 2  # the old keys left the merged level too
    assert sum(filed()) == main + recent  # as many keys as before: none left behind, none doubled
    assert sorted(groups(engine), key=sorted) == sorted(SAME_WORK, key=sorted)
