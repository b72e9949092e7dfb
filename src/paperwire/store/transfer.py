"""Moving a store to another database (an embedded SQLite instance to PostgreSQL, say).

Every table is copied in one transaction on the target, so a failed move leaves the target empty
and can simply be run again; then both sides are compared table by table: row counts, and a
checksum of the rows that does not depend on their order or on how each database returns them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from paperwire.errors import ConfigError
from paperwire.store import schema
from paperwire.store.database import migrate

BATCH = 2000
_MODULUS = 1 << 128


@dataclass(frozen=True)
class TableCheck:
    """One table as found on both sides after a move."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def equal(self) -> bool:
        return (self.source_rows, self.source_checksum) == (self.target_rows, self.target_checksum)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"bytes": bytes(value).hex()}
    return value


def fingerprint(conn: sa.Connection, table: sa.Table) -> tuple[int, str]:
    """The table's row count and the sum of its rows' hashes (so row order does not matter)."""
    rows, total = 0, 0
    result = conn.execution_options(yield_per=BATCH).execute(sa.select(table))
    for batch in result.partitions():
        for row in batch:
            text = orjson.dumps([_plain(v) for v in row], option=orjson.OPT_SORT_KEYS)
            total += int.from_bytes(hashlib.blake2b(text, digest_size=16).digest())
            rows += 1
    return rows, f"{total % _MODULUS:032x}"


def _held(conn: sa.Connection) -> dict[str, int]:
    counts = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in _tables()}
    return {name: n for name, n in counts.items() if n}


def _tables() -> list[sa.Table]:
    return list(schema.metadata.sorted_tables)  # parents before the tables that refer to them


def _advance_sequences(conn: sa.Connection) -> None:
    """On PostgreSQL, move each serial key's sequence past the ids copied in."""
    if conn.dialect.name != "postgresql":
        return
    for table in _tables():
        column = table.autoincrement_column
        if column is not None:
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                    f"COALESCE(MAX({column.name}), 0) + 1, false) FROM {table.name}"
                ),
                {"table": table.name, "column": column.name},
            )


def move(
    source: sa.Engine, target: sa.Engine, progress: Callable[[str, int], None] = lambda table, rows: None
) -> list[TableCheck]:
    """Copy every table of `source` into the empty database `target`, then compare both sides.

    Nothing may write to the source meanwhile (stop ingest, the web service and the digest)."""
    migrate(target)
    with target.begin() as dst:
        held = _held(dst)
        if held:
            found = ", ".join(f"{n:,} rows in {name}" for name, n in held.items())
            raise ConfigError(
                f"the target database is not empty ({found})",
                hint="give a new, empty database; nothing was copied",
            )
        with source.connect() as src:
            for table in _tables():
                for batch in src.execution_options(yield_per=BATCH).execute(sa.select(table)).partitions():
                    dst.execute(table.insert(), [row._asdict() for row in batch])
                    progress(table.name, len(batch))
        _advance_sequences(dst)
    checks = []
    with source.connect() as src, target.connect() as dst:
        for table in _tables():
            (rows, checksum), (copied, copied_checksum) = fingerprint(src, table), fingerprint(dst, table)
            checks.append(TableCheck(table.name, rows, copied, checksum, copied_checksum))
    return checks
