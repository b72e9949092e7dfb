"""Small SQL helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: sa.Connection, table: sa.Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other column, for executemany."""
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    others = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
    return insert.on_conflict_do_update(index_elements=keys, set_=others)


def insert_missing(conn: sa.Connection, table: sa.Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, for executemany."""
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    return insert.on_conflict_do_nothing(index_elements=keys)
