"""A real, throwaway PostgreSQL server on loopback for a test session (Debian's `postgresql`).

`initdb` refuses to run as root, so as root the server runs as the `postgres` user the Debian
package creates, in a folder of its own under the system's temporary folder (pytest's are private
to root). pg_site/pg_routing.py gives every data directory a database on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mail_server import free_port

USER = "paperwire"


def _bin_dir() -> Path:
    """Where initdb and pg_ctl are: Debian keeps them per version under /usr/lib/postgresql."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if versions:
        return versions[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError(
            "PostgreSQL is not installed: install Debian's `postgresql` package (.ci/run does), "
            "or run the tests against SQLite (unset PAPERWIRE_TEST_DATABASE)"
        )
    return Path(initdb).parent


class PostgresServer:
    """A cluster in a new temporary folder, listening on 127.0.0.1 only, with trust
    authentication for USER; `stop` removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="paperwire-postgres-"))
        self.data = self.root / "cluster"
        self.port = free_port()
        self.bin = _bin_dir()
        self._as_postgres = os.geteuid() == 0

    def _run(self, program: str, *args: str) -> None:
        command: Sequence[str] = [str(self.bin / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--locale=C")
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c max_connections=300",
                # a test server: nothing here must survive a power cut
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            ]
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"
