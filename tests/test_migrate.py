"""`paperwire migrate --to postgresql://...`: an embedded SQLite instance moved to PostgreSQL whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import shared_path
from paperwire import pipeline
from paperwire.config import load_settings
from paperwire.digest.service import Digests
from paperwire.digest.subscribers import Preferences
from paperwire.library import Library
from paperwire.search.query import SearchRequest
from paperwire.store import schema, transfer
from pg_site import pg_routing
from test_cli import paperwire

pytestmark = pytest.mark.postgres_only  # the source is a SQLite file, the target the test server


def _quiet(*_args: object) -> None:
    return None


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'paperwire.db'}"


@pytest.fixture
def sqlite_library(tmp_path: Path, models_dir: Path) -> Iterator[Library]:
    """A SQLite instance holding every kind of row: papers, signals, collections, vectors, indexes,
    events, subscribers and their outbox."""
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, database_url=sqlite_url(data_dir), demo_corpus=False, models_dir=models_dir,
        secret_key="test-secret-key-0123456789",
    )  # fmt: skip
    library = Library(settings)
    hf_day = shared_path("data", "arxiv", "hf_daily_papers", "2026-08-21.json")
    inputs = [*shared_path("seeds").glob("*.txt"), hf_day]
    pipeline.ingest(library.engine, settings, [str(p) for p in sorted(inputs)], None, _quiet)
    library.sync()
    first = library.search(SearchRequest("Xception")).hits[0].id
    library.record_event(first, "upvote", "user:ada")
    library.record_event(first, "view", "address:1")
    Digests(library).subscribe("ada@example.org", Preferences(topics=["graph rewiring"]))
    yield library
    library.close()


def test_migrate_moves_every_row_and_the_instance_runs_on_postgresql(
    sqlite_library: Library, tmp_path: Path
) -> None:
    data_dir = sqlite_library.settings.data_dir
    target = pg_routing.database_for(tmp_path / "target")
    env = {"PAPERWIRE_DATABASE_URL": sqlite_url(data_dir), "PAPERWIRE_EMBEDDINGS": "true"}
    result = paperwire("--data-dir", data_dir, "migrate", "--to", target, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "counts and checksums equal" in " ".join(result.stdout.split())

    # every table, compared here again, independently of the command's own check
    source, moved = sa.create_engine(sqlite_url(data_dir)), sa.create_engine(target)
    with source.connect() as a, moved.connect() as b:
        for table in schema.metadata.sorted_tables:
            assert transfer.fingerprint(a, table) == transfer.fingerprint(b, table), table.name
        assert b.execute(sa.select(sa.func.count()).select_from(schema.papers)).scalar_one() > 200
    source.dispose()
    moved.dispose()

    # the same data directory (its indexes) over the moved store answers as before, and keeps going:
    # new events and ingest runs get fresh ids (the sequences were moved past the copied ones)
    expected = [hit.id for hit in sqlite_library.search(SearchRequest("graph rewiring", limit=10)).hits]
    settings = sqlite_library.settings.model_copy(update={"database_url": target})
    with Library(settings) as library:
        assert library.engine.dialect.name == "postgresql"
        assert [hit.id for hit in library.search(SearchRequest("graph rewiring", limit=10)).hits] == expected
        assert library.record_event(expected[0], "upvote", "user:grace")
        report = pipeline.ingest(library.engine, settings, [str(shared_path("seeds"))], None, _quiet)
        assert report.counts.new == 0
        assert library.sync().keyword == 0  # the indexes already match the moved store


def test_migrate_refuses_a_database_that_is_not_empty(sqlite_library: Library, tmp_path: Path) -> None:
    data_dir = sqlite_library.settings.data_dir
    target = pg_routing.database_for(tmp_path / "target")
    env = {"PAPERWIRE_DATABASE_URL": sqlite_url(data_dir)}
    assert paperwire("--data-dir", data_dir, "migrate", "--to", target, cwd=tmp_path, env=env).returncode == 0
    engine = sa.create_engine(target)
    with engine.connect() as conn:
        before = transfer.fingerprint(conn, schema.papers)
    again = paperwire("--data-dir", data_dir, "migrate", "--to", target, cwd=tmp_path, env=env)
    assert again.returncode != 0
    message = " ".join(again.stderr.split())
    assert "the target database is not empty" in message and "nothing was copied" in message
    with engine.connect() as conn:
        assert transfer.fingerprint(conn, schema.papers) == before
    engine.dispose()


def test_migrate_to_an_unreachable_server_says_so(sqlite_library: Library, tmp_path: Path) -> None:
    data_dir = sqlite_library.settings.data_dir
    env = {"PAPERWIRE_DATABASE_URL": sqlite_url(data_dir)}
    url = "postgresql://nobody:secret@127.0.0.1:1/paperwire"
    result = paperwire("--data-dir", data_dir, "migrate", "--to", url, cwd=tmp_path, env=env)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "cannot use the database" in message and "secret" not in message and "Traceback" not in message
