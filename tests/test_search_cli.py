"""The search commands as a user drives them: real processes over a real data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import shared_path
from test_cli import flat, paperwire


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> tuple[Path, dict[str, str]]:
    """A data directory holding the two seed pages, indexed with embeddings."""
    cwd = tmp_path_factory.mktemp("cli")
    env = {"PAPERWIRE_EMBEDDINGS": "true", "PAPERWIRE_MODELS_DIR": str(models_dir)}
    seeds = sorted(shared_path("seeds").glob("*.txt"))
    result = paperwire("--data-dir", cwd / "d", "ingest", *seeds, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    assert "indexing: embed" in result.stderr
    return cwd, env


def run(data: tuple[Path, dict[str, str]], *args: str) -> tuple[int, str, str]:
    cwd, env = data
    result = paperwire("--data-dir", cwd / "d", *args, cwd=cwd, env=env)
    return result.returncode, result.stdout, result.stderr


def test_search_prints_hits_with_explanations_and_paging(data: tuple[Path, dict[str, str]]) -> None:
    code, out, err = run(data, "search", "Xception", "--limit", "3", "--explain")
    assert code == 0, err
    assert flat(out).startswith("1. Xception: Deep Learning with Depthwise Separable Convolutions")
    assert "why: keyword #1" in out and "cosine" in out
    assert "next page: --offset 3" in flat(err)


def test_search_json_has_hits_snippets_and_explanations(data: tuple[Path, dict[str, str]]) -> None:
    code, out, _ = run(data, "search", "graph rewiring", "--json", "--limit", "5")
    results = json.loads(out)
    assert code == 0 and results["mode"] == "hybrid" and len(results["hits"]) == 5
    hit = results["hits"][0]
    assert any(part["match"] for part in hit["snippet"])
    assert {"keyword_rank", "similarity", "fused_score", "text"} <= set(hit["explanation"])


def test_bad_search_options_say_what_to_do(data: tuple[Path, dict[str, str]]) -> None:
    code, _, err = run(data, "search", "x", "--since", "last week")
    assert code == 1 and "YYYY" in err
    code, _, err = run(data, "search", "x", "--sort", "random")
    assert code == 1 and "relevance" in err


def test_related_topics_and_overlap(data: tuple[Path, dict[str, str]]) -> None:
    _, out, _ = run(data, "search", '"Dynamically Rewired Message Passing"', "--limit", "1", "--json")
    drew = json.loads(out)["hits"][0]["id"]
    code, out, _ = run(data, "related", drew, "--json", "--limit", "5")
    related = json.loads(out)
    assert code == 0 and len(related) == 5 and drew not in {hit["id"] for hit in related}
    code, out, _ = run(data, "topics", "graph diffusion editing", "--json")
    groups = json.loads(out)
    assert code == 0 and len(groups) >= 2 and all(group["label"] for group in groups)
    _, out, _ = run(data, "stats", "--json")
    first, second = sorted(json.loads(out)["collections"])
    code, out, _ = run(data, "overlap", first, second, "--json")
    assert code == 0 and len(json.loads(out)["both"]) == 23


def test_reindex_rebuilds_and_check_finds_nothing_to_do(data: tuple[Path, dict[str, str]]) -> None:
    code, out, _ = run(data, "reindex", "--json")
    report = json.loads(out)
    assert code == 0 and report["keyword"] == 212 and report["vectors"] == 212 and report["embedded"] == 0
    code, out, _ = run(data, "reindex", "--check", "--json")
    assert json.loads(out) == {"keyword": 0, "embedded": 0, "vectors": 0, "repaired": []}


def test_no_embeddings_searches_keywords_and_says_so(data: tuple[Path, dict[str, str]]) -> None:
    code, out, err = run(data, "--no-embeddings", "search", "Xception", "--limit", "2")
    assert code == 0 and "keyword-only" in flat(err) and "Xception" in out


def test_related_of_an_unknown_paper_is_a_clear_error(data: tuple[Path, dict[str, str]]) -> None:
    code, _, err = run(data, "related", "9999.99999")
    assert code == 1 and "no paper with id" in flat(err)
