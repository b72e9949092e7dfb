"""The PostgreSQL pass of the tests: every data directory gets a database of its own.

A test (or a `paperwire` process it starts) opens the store of a data directory; on SQLite that is
the file in it, so tests isolate stores by their temporary folders. For the PostgreSQL pass,
`route()` makes a data directory without a database URL of its own use the database named after
the directory's path on the test server, created on first use from a template that already holds
the schema. It runs in the test process (conftest) and, through `sitecustomize` on PYTHONPATH, in
every Python process the tests start. The store code itself runs unchanged on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import sqlalchemy as sa

# the test server's URL without a database name (not PAPERWIRE_*: some tests clear those)
SERVER = "TESTS_POSTGRES_SERVER"
TEMPLATE = "paperwire_template"
_known: dict[str, str] = {}


def admin(sql: str, **params: str) -> list[tuple[str, ...]]:
    """Run a statement outside a transaction in the server's maintenance database."""
    url = f"{os.environ[SERVER]}/postgres"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def name_for(data_dir: Path) -> str:
    return "d_" + hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:24]


def _create(name: str, template: str, data_dir: Path) -> None:
    """CREATE DATABASE from a template, retried while another process is copying the same one."""
    for attempt in range(50):
        if admin("SELECT 1 FROM pg_database WHERE datname = :name", name=name):
            return
        try:
            admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
            admin("INSERT INTO routes (name, data_dir) VALUES (:name, :dir)", name=name, dir=str(data_dir))
            return
        except sa.exc.DBAPIError:  # the template in use, or the database made meanwhile by another process
            if attempt == 49:
                raise
            time.sleep(0.1)


def database_for(data_dir: Path) -> str:
    """The URL of the data directory's database on the test server (created if it is new)."""
    name = name_for(data_dir)
    if name not in _known:
        _create(name, TEMPLATE, data_dir)
        _known[name] = f"{os.environ[SERVER]}/{name}"
    return _known[name]


def has_database(data_dir: Path) -> bool:
    return bool(admin("SELECT 1 FROM pg_database WHERE datname = :name", name=name_for(data_dir)))


def copy_data_dir(source: Path, target: Path) -> None:
    """A copy of a data directory, and on PostgreSQL of its database."""
    shutil.copytree(source, target)
    if SERVER in os.environ:
        origin = name_for(source)
        admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name", name=origin)
        _create(name_for(target), origin, target)


def drop_under(folder: Path) -> None:
    """Drop the databases of every data directory under `folder` (a test's temporary folder)."""
    prefix = str(folder.resolve()) + os.sep
    for (name,) in admin("SELECT name FROM routes WHERE starts_with(data_dir, :prefix)", prefix=prefix):
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin("DELETE FROM routes WHERE name = :name", name=name)
        _known.pop(name, None)


def route() -> None:
    """Give every data directory without a database URL of its own its database on the server."""
    from paperwire.config import Settings

    def database(self: Settings) -> str:
        return self.database_url or database_for(self.data_dir)

    Settings.database = property(database)  # type: ignore[method-assign,assignment]
