"""All 410 real daily arXiv files: 120,405 records become 74,728 papers, none bad."""

from __future__ import annotations

import sqlalchemy as sa

from conftest import shared_path
from paperwire.config import Settings
from paperwire.pipeline import ingest
from paperwire.store import schema


def test_all_daily_records_become_one_paper_per_arxiv_id(engine: sa.Engine, settings: Settings) -> None:
    folder = shared_path("data", "arxiv", "daily_arxiv_jsonl")
    report = ingest(engine, settings, [str(folder)])
    counts = report.counts
    assert counts.seen == 120_405 and counts.bad == 0
    assert counts.new == 74_728
    with engine.connect() as conn:
        p = schema.papers
        assert conn.execute(sa.select(sa.func.count()).select_from(p)).scalar_one() == 74_728
        # every paper was listed on some day, and has its abs and pdf links
        missing = conn.execute(
            sa.select(sa.func.count()).select_from(p).where(p.c.announced.is_(None))
        ).scalar_one()
        assert missing == 0
    again = ingest(engine, settings, [str(folder)])
    assert again.counts.new == 0 and again.counts.updated == 0 and not again.anything_new
