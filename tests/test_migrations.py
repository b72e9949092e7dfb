"""The Alembic migrations build exactly the schema the code declares (store/schema.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from paperwire.store import schema
from paperwire.store.database import create_engine, migrate

# the store here is a SQLite file whatever the pass, so the PostgreSQL pass would only repeat it
pytestmark = pytest.mark.sqlite_only


def test_migrations_match_the_declared_schema(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert differences == []
    engine.dispose()
