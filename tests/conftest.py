"""Shared fixtures: a fresh data directory per test, and the public data in ../shared.

The whole suite runs against SQLite, and again against a real PostgreSQL server with
PAPERWIRE_TEST_DATABASE=postgresql: then every data directory's store is a database of its own on a
server started for the session (pg_site/pg_routing.py), in this process and in every `paperwire`
process the tests start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mail_server import MailServer
from paperwire.config import Settings, load_settings
from paperwire.store.database import create_engine, migrate, open_database
from pg_site import pg_routing
from postgres import PostgresServer

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATABASE = os.environ.get("PAPERWIRE_TEST_DATABASE", "sqlite")
PG_SITE = Path(__file__).parent / "pg_site"
_server: PostgresServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _server
    if DATABASE not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"PAPERWIRE_TEST_DATABASE={DATABASE!r}: use sqlite or postgresql")
    config.addinivalue_line("markers", "sqlite_only: about SQLite itself; skipped in the PostgreSQL pass")
    config.addinivalue_line("markers", "postgres_only: needs PostgreSQL; skipped in the SQLite pass")
    config.addinivalue_line(
        "markers",
        "no_store: never opens a store (parsers, pure functions): run in the SQLite pass only, where "
        "opening a database fails the test",
    )
    if DATABASE != "postgresql":
        return
    _server = PostgresServer().start()
    os.environ[pg_routing.SERVER] = _server.url("").rstrip("/")
    pg_routing.admin(f"CREATE DATABASE {pg_routing.TEMPLATE}")
    pg_routing.admin("CREATE TABLE routes (name text PRIMARY KEY, data_dir text NOT NULL)")
    template = create_engine(_server.url(pg_routing.TEMPLATE))
    migrate(template)
    template.dispose()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PG_SITE), os.environ.get("PYTHONPATH")]))
    pg_routing.route()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()


def pytest_report_header() -> str:
    return f"paperwire store: {DATABASE}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # a test that never opens a store proves the same on either database: it runs once, on SQLite
    skipped = ("sqlite_only", "no_store") if DATABASE == "postgresql" else ("postgres_only",)
    for item in items:
        marker = next((name for name in skipped if item.get_closest_marker(name)), None)
        if marker is not None:
            item.add_marker(pytest.mark.skip(reason=f"{marker}: this pass runs on {DATABASE}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    """A test marked no_store fails if it, or a fixture it sets up, opens a database in this process
    (every engine, SQLite or PostgreSQL, comes from sqlalchemy.create_engine): the marker cannot hide
    store code from the PostgreSQL pass."""
    if item.get_closest_marker("no_store") is None:
        return (yield)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{item.nodeid} is marked no_store but opens a database: {args!r}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sa, "create_engine", refuse)
        patch.setattr(sa.engine, "create_engine", refuse)
        return (yield)


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the test cleanly when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def store_exists(data_dir: Path) -> bool:
    """Whether a store was made for the data directory: its SQLite file, or its PostgreSQL database."""
    if _server is not None:
        return pg_routing.has_database(data_dir)
    return (data_dir / "paperwire.db").is_file()


@pytest.fixture(autouse=True)
def _drop_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    """In the PostgreSQL pass, drop the databases of the test's own data directories after it."""
    own = _server is not None and "tmp_path" in request.fixturenames
    folder = request.getfixturevalue("tmp_path") if own else None
    yield
    if folder is not None:
        pg_routing.drop_under(folder)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", demo_corpus=False)


@pytest.fixture
def engine(settings: Settings) -> sa.Engine:
    return open_database(settings)


@pytest.fixture
def seeds() -> list[Path]:
    return sorted(shared_path("seeds").glob("*.txt"))


@pytest.fixture
def mail() -> Iterator[MailServer]:
    """A real SMTP server on loopback for one test."""
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export of the bundled model for the whole test session (PAPERWIRE_MODELS_DIR)."""
    return tmp_path_factory.mktemp("models")
