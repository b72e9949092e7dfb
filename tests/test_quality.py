"""Retrieval quality on the development collections, through the same code as `paperwire eval`.

Only development judgements are read (CACM, Cranfield, SciFact train). The checks are relative:
the keyword set-up against a reference BM25 run in the same evaluation, hybrid against its parts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED, shared_path
from paperwire.config import load_settings
from paperwire.evaluation.run import COLLECTIONS, run_evaluation

REFERENCE = "reference BM25 (bm25s, flat)"
FLAT = "keyword, flat (no title boost)"

pytestmark = pytest.mark.slow


def test_keyword_bm25_matches_the_reference_on_every_collection(tmp_path: Path) -> None:
    shared_path("data", "scifact")
    settings = load_settings(data_dir=tmp_path / "d", embeddings=False, demo_corpus=False)
    tables = run_evaluation(settings, SHARED / "data", COLLECTIONS)
    for name, table in tables.items():
        reference = table[REFERENCE]["nDCG@10"]
        assert abs(table[FLAT]["nDCG@10"] - reference) <= 0.01, name
        # the title boost may only help
        assert table["keyword"]["nDCG@10"] >= reference - 0.01, name


def test_hybrid_beats_both_of_its_parts_on_cacm(tmp_path: Path, models_dir: Path) -> None:
    shared_path("data", "cacm")
    settings = load_settings(data_dir=tmp_path / "d", models_dir=models_dir, demo_corpus=False)
    table = run_evaluation(settings, SHARED / "data", ("cacm",))["cacm"]
    best_part = max(table["keyword"]["nDCG@10"], table["semantic"]["nDCG@10"])
    assert table["hybrid"]["nDCG@10"] >= best_part, table
