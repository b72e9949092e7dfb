"""SQL for the ingest hot path, the same on SQLite and PostgreSQL but for the placeholder.

Batches of rows go to the driver's executemany as plain tuples, with JSON already serialised: on a
batch, SQLAlchemy's per-row parameter processing costs more than SQLite's own work. The statements
are built from the schema tables (INSERT ... ON CONFLICT ... DO UPDATE and IN lists are common SQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

# SQLite allows 32,766 bound parameters per statement; stay well below it.
IN_CHUNK = 5000


def json_text(value: Any) -> str:
    """A value as the JSON text the store keeps (the engine serialises JSON columns with this too)."""
    return orjson.dumps(value).decode()


def _mark(conn: sa.Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def insert_many(
    conn: sa.Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]], conflict: Sequence[str] = ()
) -> None:
    """INSERT rows given as tuples in the table's column order; where a row's `conflict` columns
    match an existing row, update that row's other columns instead."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    names = [column.name for column in table.columns]
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) "
        f"VALUES ({', '.join([_mark(conn)] * len(names))})"
    )
    if conflict:
        updates = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in names if n not in conflict)
        sql += f" ON CONFLICT ({', '.join(map(quote, conflict))}) DO UPDATE SET {updates}"
    conn.exec_driver_sql(sql, list(rows))


def delete_many(conn: sa.Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """DELETE the rows whose primary key is one of `rows` (tuples in the key's column order)."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    where = " AND ".join(f"{quote(column.name)} = {_mark(conn)}" for column in table.primary_key.columns)
    conn.exec_driver_sql(f"DELETE FROM {quote(table.name)} WHERE {where}", list(rows))


Row = sa.Row[*tuple[Any, ...]]


def execute_in(conn: sa.Connection, sql: str, values: Sequence[Any]) -> list[Row]:
    """Run `sql`, whose "IN ({})" takes `values`, in chunks under the parameter limit; all rows."""
    rows: list[Row] = []
    for start in range(0, len(values), IN_CHUNK):
        chunk = tuple(values[start : start + IN_CHUNK])
        result = conn.exec_driver_sql(sql.format(", ".join([_mark(conn)] * len(chunk))), chunk)
        if result.returns_rows:
            rows += result.fetchall()
    return rows


def upsert(conn: sa.Connection, table: sa.Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other column, for executemany."""
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    others = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
    return insert.on_conflict_do_update(index_elements=keys, set_=others)


def insert_missing(conn: sa.Connection, table: sa.Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, for executemany."""
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    return insert.on_conflict_do_nothing(index_elements=keys)
