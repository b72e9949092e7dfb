"""Locks in the store, for writers that may run on several machines sharing one database.

PostgreSQL: advisory locks (a dead holder's lock goes with its connection). SQLite, which only the
processes of one machine share: a lock file in the data directory (released by the kernel when a
holder dies), or the database's own write lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from paperwire.locks import file_lock

# advisory lock keys: fixed 64-bit numbers of paperwire's own ("paperwir" + a letter)
OUTBOX = 0x70617065_72776972  # digest runs (sending from the outbox)
INDEXES = 0x70617065_72776973  # index syncs
WRITES = 0x70617065_72776974  # ingest batches (read the stored state, then write it)
MIGRATIONS = 0x70617065_72776975  # schema upgrades at start-up


@contextmanager
def exclusive(engine: sa.Engine, key: int, lock_file: Path) -> Iterator[None]:
    """Hold one of the locks above while the block runs (waiting for its holder to finish): on
    PostgreSQL an advisory lock held by a connection of its own, so processes on every machine
    sharing the database exclude each other; on SQLite the lock file."""
    if engine.dialect.name != "postgresql":
        with file_lock(lock_file):
            yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
        try:
            yield
        finally:
            conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))


def hold_for_writing(conn: sa.Connection, key: int = WRITES) -> None:
    """At the start of a transaction that reads stored rows and then writes what follows from them:
    wait until no other such transaction runs, and keep the others out until this one ends. On
    PostgreSQL a transaction-scoped advisory lock; on SQLite a write that changes nothing, which
    takes the database's write lock before the reads (the driver begins the transaction lazily)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    else:
        conn.exec_driver_sql("UPDATE ingest_runs SET id = id WHERE 0")
