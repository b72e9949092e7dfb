"""Shared fixtures: a fresh data directory per test, and the public data in ../shared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mail_server import MailServer
from paperwire.config import Settings, load_settings
from paperwire.store.database import open_database

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the test cleanly when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


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
