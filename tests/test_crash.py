"""An ingest killed with SIGKILL at random points, then rerun, equals one uninterrupted ingest."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from paperwire.config import load_settings
from paperwire.library import Library
from paperwire.store import schema
from paperwire.store.database import open_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import synthetic

RECORDS = 12_000


def run_ingest(data_dir: Path, source: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PAPERWIRE_DATA_DIR": str(data_dir),
        "PAPERWIRE_INGEST_BATCH_SIZE": "500",
        "PAPERWIRE_EMBEDDINGS": "false",  # the kills land in the store and keyword-index writes alike
    }
    return subprocess.Popen(
        [sys.executable, "-m", "paperwire", "ingest", "--json", str(source)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def snapshot(data_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    engine = open_database(load_settings(data_dir=data_dir))
    tables = {
        "papers": [c for c in schema.papers.c if c.name not in ("first_seen", "changed_at")],
        "versions": list(schema.paper_versions.c),
        "keys": list(schema.dedup_keys.c),
        "items": list(schema.collection_items.c),
    }
    with engine.connect() as conn:
        result = {
            name: [tuple(r) for r in conn.execute(sa.select(*cols).order_by(*cols[:2]))]
            for name, cols in tables.items()
        }
        p = schema.papers
        orphans = conn.execute(
            sa.select(sa.func.count())
            .select_from(schema.dedup_keys)
            .where(~schema.dedup_keys.c.paper_id.in_(sa.select(p.c.id)))
        ).scalar_one()
        result["orphan_keys"] = [(orphans,)]
    engine.dispose()
    return result


def test_sigkill_at_random_points_then_rerun_equals_uninterrupted_run(tmp_path: Path) -> None:
    source = synthetic.write(tmp_path / "listing.jsonl", RECORDS)
    reference = tmp_path / "reference"
    assert run_ingest(reference, source).wait(timeout=300) == 0

    crashed = tmp_path / "crashed"
    rng = random.Random(2026)
    kills = 0
    for _ in range(4):
        process = run_ingest(crashed, source)
        time.sleep(rng.uniform(0.8, 3.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
    assert kills >= 1, "every ingest finished before it could be killed; raise RECORDS"
    assert run_ingest(crashed, source).wait(timeout=300) in (0, 3)

    expected, actual = snapshot(reference), snapshot(crashed)
    assert len(expected["papers"]) > 10_000
    assert actual == expected
    assert actual["orphan_keys"] == [(0,)]
    # the keyword index holds every paper once, each built from the paper's current text
    library = Library(load_settings(data_dir=crashed, embeddings=False))
    with library.engine.connect() as conn:
        d, p = schema.search_docs, schema.papers
        stale = conn.execute(
            sa.select(sa.func.count())
            .select_from(p.outerjoin(d, d.c.paper_id == p.c.id))
            .where(sa.or_(d.c.keyword_hash.is_(None), d.c.keyword_hash != p.c.content_hash))
        ).scalar_one()
    assert stale == 0 and len(library.keyword) == len(actual["papers"])
    library.close()
