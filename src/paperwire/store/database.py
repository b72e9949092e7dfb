"""Opening the database: engine, SQLite pragmas (WAL), and migration to the newest schema."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from paperwire.config import Settings
from paperwire.errors import ConfigError
from paperwire.store import locks
from paperwire.store.sql import json_text

MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str) -> sa.Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and a busy timeout. A plain
    postgresql:// URL goes through psycopg 3, the driver paperwire installs."""
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # hide_parameters: an error message never carries a row's values (addresses, tokens)
    engine = sa.create_engine(
        parsed, json_serializer=json_text, json_deserializer=orjson.loads, hide_parameters=True
    )
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it consistent
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # an ingest batch touches tens of MB of pages (papers, LSH keys): with the default 2 MB
            # cache it rereads them, and with 4 MB of WAL per checkpoint it checkpoints every commit
            cursor.execute("PRAGMA cache_size=-65536")  # KiB
            cursor.execute("PRAGMA wal_autocheckpoint=10000")  # pages
            cursor.close()

    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: sa.Engine, turn: AbstractContextManager[object] | None = None) -> None:
    """Bring the schema to the newest migration (a no-op when it is already there); an upgrade
    waits for `turn` (a lock) and looks again, so that processes opening a store at once take turns."""
    config = _alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
    with turn or nullcontext(), engine.begin() as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_database(settings: Settings) -> sa.Engine:
    """Create the data directory if needed (it holds the indexes whatever the database), open the
    database and migrate it."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the data directory {settings.data_dir}: {exc.strerror}",
            hint="choose another with --data-dir or PAPERWIRE_DATA_DIR",
        ) from exc
    engine = create_engine(settings.database)
    try:
        migrate(engine, locks.exclusive(engine, locks.MIGRATIONS, settings.data_dir / "migrate.lock"))
    except sa.exc.DBAPIError as exc:
        if engine.dialect.name == "sqlite":
            hint = "check that the data directory is writable and the file is a paperwire database"
        else:
            hint = "check PAPERWIRE_DATABASE_URL (or database_url in the settings) and that the server is up"
        shown = engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"cannot open the database {shown}: {exc.orig}", hint=hint) from exc
    return engine
