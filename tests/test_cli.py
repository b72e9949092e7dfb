"""The command line as a user drives it: a real `python -m paperwire` process over a real SQLite file."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import shared_path, store_exists
from paperwire.config import load_settings

NOTHING_NEW = 3
FORMATS = ["hf-listing", "oai-pmh", "arxiv-atom", "hf-daily", "jsonl"]
ATOM_ONE = ("data", "arxiv", "atom_api", "arxivpy_2026_id_list_1707.08567.atom.xml")
DAILY = {
    "id": "2501.01234",
    "title": "Teaching Toasters to Count",
    "summary": "We teach a toaster to count the slices of bread it toasts.",
    "authors": ["Ada Quill"],
    "categories": ["cs.LG"],
}


def paperwire(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process, with no PAPERWIRE_* setting of the calling shell leaking in."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PAPERWIRE_") and k not in ("COLUMNS", "LINES", "FORCE_COLOR")
    }
    # these tests are about the store: keyword-only indexing keeps them quick (test_search_cli embeds)
    environment.update(
        {"HOME": str(cwd / "home"), "NO_COLOR": "1", "PAPERWIRE_EMBEDDINGS": "false", **(env or {})}
    )
    environment.pop("XDG_DATA_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "paperwire", *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone, for checks of wording."""
    return " ".join(text.split())


def db_rows(data_dir: Path, query: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(load_settings(data_dir=data_dir).database)
    with engine.connect() as conn:
        rows = [tuple(row) for row in conn.exec_driver_sql(query)]
    engine.dispose()
    return rows


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


# ------------------------------------------------------------------ init and the demo corpus


def test_init_imports_the_demo_corpus_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"PAPERWIRE_DATA_DIR": str(data)}
    first = paperwire("init", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert str(data) in flat(first.stdout)
    assert "demo corpus imported" in first.stdout
    assert "212" in first.stdout
    stats = as_json(paperwire("stats", "--json", cwd=tmp_path, env=env))
    assert stats["papers"] == 212
    assert stats["collections"] == {"000_ead136927b218f15": 119, "001_7f0376ca914509b2": 116}
    assert stats["duplicate_groups"] == 2

    second = paperwire("init", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "demo corpus imported" not in second.stdout
    assert db_rows(data, "SELECT count(*) FROM papers") == [(212,)]
    assert db_rows(data, "SELECT count(*) FROM ingest_runs") == [(1,)]  # nothing imported the second time


def test_init_without_demo_corpus(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = paperwire("--data-dir", data, "init", cwd=tmp_path, env={"PAPERWIRE_DEMO_CORPUS": "false"})
    assert result.returncode == 0, result.stderr
    assert store_exists(data)
    assert db_rows(data, "SELECT count(*) FROM papers") == [(0,)]


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = paperwire("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("init", "ingest", "harvest", "stats", "show"):
        assert command in result.stdout


# ------------------------------------------------------------------ ingest


def test_ingest_exit_codes_and_json_summary(tmp_path: Path, seeds: list[Path]) -> None:
    data = tmp_path / "data"
    first = paperwire("--data-dir", data, "ingest", *seeds, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = as_json(first)
    assert {"new", "updated", "unchanged", "duplicates", "bad"} <= summary.keys()
    assert (summary["new"], summary["updated"], summary["unchanged"], summary["bad"]) == (212, 0, 23, 0)
    assert summary["duplicates"] == 2
    assert summary["bad_records"] == []

    second = paperwire("--data-dir", data, "ingest", *seeds, "--json", cwd=tmp_path)
    assert second.returncode == NOTHING_NEW, second.stderr
    again = as_json(second)
    assert (again["new"], again["updated"], again["unchanged"], again["bad"]) == (0, 0, 235, 0)
    assert again["run_id"] == summary["run_id"] + 1

    stats = as_json(paperwire("--data-dir", data, "stats", "--json", cwd=tmp_path))
    assert {
        "papers",
        "by_source",
        "by_category",
        "by_year",
        "duplicate_groups",
        "collections",
    } <= stats.keys()
    assert stats["papers"] == 212
    assert stats["by_source"] == {"hf-listing": 212}
    assert stats["duplicate_groups"] == 2
    assert stats["collections"] == {"000_ead136927b218f15": 119, "001_7f0376ca914509b2": 116}
    assert sum(stats["by_year"].values()) == 212


def test_ingest_human_summary(tmp_path: Path, seeds: list[Path]) -> None:
    result = paperwire("--data-dir", tmp_path / "data", "ingest", seeds[0], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ingest summary" in result.stdout
    assert "119" in result.stdout  # the new papers of the first page
    human = paperwire("--data-dir", tmp_path / "data", "stats", cwd=tmp_path)
    assert human.returncode == 0
    assert "119 papers" in flat(human.stdout)


def test_missing_path_writes_nothing(tmp_path: Path, seeds: list[Path]) -> None:
    data = tmp_path / "data"
    missing = Path("inbox") / "nowhere.jsonl"
    # a good file first: nothing of it may land when a later input does not exist
    result = paperwire("--data-dir", data, "ingest", seeds[0], missing, cwd=tmp_path)
    assert result.returncode == 1
    err = flat(result.stderr)
    assert "error:" in err and str(missing) in err
    assert "what to do:" in err and "check the path" in err
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() == ""
    assert db_rows(data, "SELECT count(*) FROM papers") == [(0,)]
    assert db_rows(data, "SELECT count(*) FROM ingest_runs") == [(0,)]


def test_unknown_format_lists_the_formats(tmp_path: Path, seeds: list[Path]) -> None:
    data = tmp_path / "data"
    result = paperwire("--data-dir", data, "ingest", "--format", "bibtex", seeds[0], cwd=tmp_path)
    assert result.returncode != 0
    err = flat(result.stderr)
    assert "'bibtex'" in err
    for name in FORMATS:
        assert name in err
    assert "Traceback" not in result.stderr
    assert db_rows(data, "SELECT count(*) FROM papers") == [(0,)]


def test_unknown_file_format_suggests_format_option(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Some notes about papers I liked.\n", encoding="utf-8")
    result = paperwire("--data-dir", tmp_path / "data", "ingest", "notes.txt", cwd=tmp_path)
    assert result.returncode == 1
    err = flat(result.stderr)
    assert "cannot tell the format of notes.txt" in err
    assert "--format" in err and "jsonl" in err
    assert "Traceback" not in result.stderr


def test_format_option_overrides_detection(tmp_path: Path) -> None:
    # a JSON-lines file that does not start with "{" (a blank first line) still reads with --format jsonl
    (tmp_path / "2025-01-07.txt").write_text("\n" + json.dumps(DAILY) + "\n", encoding="utf-8")
    result = paperwire(
        "--data-dir",
        tmp_path / "data",
        "ingest",
        "--format",
        "jsonl",
        "2025-01-07.txt",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert as_json(result)["new"] == 1


def mixed_file(path: Path) -> list[int]:
    """Three good records and three bad lines; returns the bad line numbers."""
    lines = [
        json.dumps(DAILY).encode(),
        b'{"id": "2501.00002", "title": "cut off',
        json.dumps({**DAILY, "id": "2501.00003"}).encode(),
        b"[1, 2, 3]",
        json.dumps({**DAILY, "id": "2501.00005"}).encode(),
        b'{"id": "2501.00006", "title": "caf\xe9"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return [2, 4, 6]


def test_bad_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    bad_lines = mixed_file(tmp_path / "mixed.jsonl")
    data = tmp_path / "data"
    result = paperwire("--data-dir", data, "ingest", "mixed.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for number in bad_lines:
        assert f"bad record mixed.jsonl:{number}:" in result.stderr
    assert "mixed.jsonl:1:" not in result.stderr
    assert sorted(i for (i,) in db_rows(data, "SELECT id FROM papers")) == [
        "2501.00003",
        "2501.00005",
        "2501.01234",
    ]
    logged = db_rows(data, "SELECT location FROM ingest_errors ORDER BY id")
    assert logged == [(f"mixed.jsonl:{n}",) for n in bad_lines]


def test_bad_lines_in_json_output(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    bad_lines = mixed_file(path)
    result = paperwire("--data-dir", tmp_path / "data", "ingest", path, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = as_json(result)
    assert (summary["new"], summary["bad"]) == (3, 3)
    assert [b["location"] for b in summary["bad_records"]] == [f"{path}:{n}" for n in bad_lines]
    assert all(b["reason"] for b in summary["bad_records"])


def test_error_messages_keep_square_brackets(tmp_path: Path) -> None:
    odd = Path("inbox[red]") / "nowhere.jsonl"
    result = paperwire("--data-dir", tmp_path / "data", "ingest", odd, cwd=tmp_path)
    assert result.returncode == 1
    assert str(odd) in result.stderr


def test_error_messages_keep_long_paths_on_one_line(tmp_path: Path) -> None:
    long_path = tmp_path / ("a-rather-long-folder-name-" * 4) / "nowhere.jsonl"
    result = paperwire("--data-dir", tmp_path / "data", "ingest", long_path, cwd=tmp_path)
    assert result.returncode == 1
    assert str(long_path) in result.stderr


def test_truncated_gzip_keeps_the_good_records(tmp_path: Path) -> None:
    # 600 records: the cut at half the compressed bytes still leaves some 290 complete ones before it
    # (3,000 left 1,470), well over the 100 checked, and a damaged gzip stream for the last one
    lines = [json.dumps({**DAILY, "id": f"2501.{n:05d}", "summary": f"slice {n} " * 30}) for n in range(600)]
    data = gzip.compress("\n".join(lines).encode())
    (tmp_path / "2025-01-07.jsonl.gz").write_bytes(data[: len(data) // 2])
    result = paperwire(
        "--data-dir", tmp_path / "data", "ingest", "2025-01-07.jsonl.gz", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = as_json(result)
    assert summary["new"] > 100 and summary["bad"] == 1
    assert summary["bad_records"][0]["location"].startswith("2025-01-07.jsonl.gz:")


# ------------------------------------------------------------------ show


@pytest.fixture(scope="module")
def one_arxiv_paper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding one arXiv paper; the show tests only read it."""
    folder = tmp_path_factory.mktemp("one-paper")
    data = folder / "data"
    result = paperwire("--data-dir", data, "ingest", shared_path(*ATOM_ONE), "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert as_json(result)["new"] == 1
    return data


def test_show_an_arxiv_paper(tmp_path: Path, one_arxiv_paper: Path) -> None:
    result = paperwire("--data-dir", one_arxiv_paper, "show", "1707.08567", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = flat(result.stdout)
    assert "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications" in text
    assert "Kees A. Schouhamer Immink" in text and "Dirk Wübben" in text
    assert "versions: v1 2017-07-27T08:18:33+00:00" in text
    assert "pdf: https://arxiv.org/pdf/1707.08567v1" in text
    assert "categories: cs.IT" in text
    assert "sources: arxiv-atom" in text


def test_show_accepts_prefixed_versioned_ids(tmp_path: Path, one_arxiv_paper: Path) -> None:
    plain = paperwire("--data-dir", one_arxiv_paper, "show", "1707.08567", cwd=tmp_path)
    prefixed = paperwire("--data-dir", one_arxiv_paper, "show", "arXiv:1707.08567v1", cwd=tmp_path)
    assert prefixed.returncode == 0, prefixed.stderr
    assert prefixed.stdout == plain.stdout


def test_show_json(tmp_path: Path, one_arxiv_paper: Path) -> None:
    result = paperwire("--data-dir", one_arxiv_paper, "show", "arXiv:1707.08567v1", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = as_json(result)
    assert shown["id"] == "1707.08567"
    assert shown["versions"] == [{"number": 1, "date": "2017-07-27T08:18:33+00:00"}]
    assert shown["links"]["pdf"] == "https://arxiv.org/pdf/1707.08567v1"
    assert shown["authors"][0] == "Kees A. Schouhamer Immink" and len(shown["authors"]) == 34
    assert shown["sources"] == ["arxiv-atom"]


def test_show_unknown_id(tmp_path: Path) -> None:
    result = paperwire("--data-dir", tmp_path / "data", "show", "nosuchid", cwd=tmp_path)
    assert result.returncode == 1
    err = flat(result.stderr)
    assert "no paper with id 'nosuchid'" in err
    assert "what to do:" in err and "paperwire stats" in err
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ settings


def test_invalid_setting_names_it(tmp_path: Path) -> None:
    result = paperwire(
        "--data-dir", tmp_path / "data", "stats", cwd=tmp_path, env={"PAPERWIRE_INGEST_BATCH_SIZE": "0"}
    )
    assert result.returncode == 1
    err = flat(result.stderr)
    assert "ingest_batch_size" in err
    assert "PAPERWIRE_" in err
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # settings are checked before anything is created


def test_toml_config_file(tmp_path: Path) -> None:
    from_toml = tmp_path / "from-toml"
    config = tmp_path / "paperwire.toml"
    config.write_text(
        f'data_dir = "{from_toml}"\ningest_batch_size = 1\ndemo_corpus = false\n', encoding="utf-8"
    )
    result = paperwire("--config", config, "init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert store_exists(from_toml)
    assert db_rows(from_toml, "SELECT count(*) FROM papers") == [(0,)]  # demo_corpus = false was read

    # the same file named by PAPERWIRE_CONFIG; --data-dir beats the file's data_dir
    other = tmp_path / "other"
    result = paperwire("--data-dir", other, "init", cwd=tmp_path, env={"PAPERWIRE_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert store_exists(other)
    assert db_rows(other, "SELECT count(*) FROM papers") == [(0,)]

    # ingest_batch_size is read from the file too: an invalid one is refused, naming it
    config.write_text(f'data_dir = "{from_toml}"\ningest_batch_size = 0\n', encoding="utf-8")
    result = paperwire("--config", config, "stats", cwd=tmp_path)
    assert result.returncode == 1
    assert "ingest_batch_size" in flat(result.stderr)


def test_missing_config_file(tmp_path: Path) -> None:
    result = paperwire("--config", "nope.toml", "stats", cwd=tmp_path)
    assert result.returncode == 1
    err = flat(result.stderr)
    assert "config file nope.toml does not exist" in err and "--config" in err


def test_unknown_key_in_config_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("ingest_batch_sise = 10\n", encoding="utf-8")
    result = paperwire("--config", "c.toml", "stats", cwd=tmp_path)
    assert result.returncode == 1
    assert "ingest_batch_sise" in flat(result.stderr)
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_server_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql://reader:hunter2@127.0.0.1:1/paperwire"
    env = {"PAPERWIRE_DATABASE_URL": url}
    result = paperwire("--data-dir", tmp_path / "data", "stats", cwd=tmp_path, env=env)
    assert result.returncode != 0
    message = flat(result.stderr)
    assert "cannot open the database postgresql+psycopg://reader:***@127.0.0.1:1/paperwire" in message
    assert "PAPERWIRE_DATABASE_URL" in message and "hunter2" not in message and "Traceback" not in message


def test_ingest_on_a_ray_cluster_that_is_not_there_says_so_at_once(tmp_path: Path, seeds: list[Path]) -> None:
    data = tmp_path / "data"
    result = paperwire("--data-dir", data, "ingest", "--ray", "127.0.0.1:1", seeds[0], cwd=tmp_path)
    assert result.returncode == 1
    message = flat(result.stderr)
    assert "no Ray cluster answers at 127.0.0.1:1" in message and "ray start --head" in message
    assert "Traceback" not in result.stderr
