"""Reading input files line by line, transparently gunzipped, with locations for error reports."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
# what a truncated or corrupted gzip stream raises while it is read
DAMAGED = (EOFError, zlib.error, gzip.BadGzipFile)


class DamagedFileError(Exception):
    """A file that cannot be read past some point (e.g. a truncated gzip stream)."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


@contextmanager
def open_binary(path: Path) -> Iterator[BinaryIO]:
    """Open a file for reading bytes, gunzipping it when it is gzip-compressed."""
    with path.open("rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield raw


def head(path: Path, size: int = 4096) -> bytes:
    """The first bytes of a file (decompressed), for format detection."""
    with open_binary(path) as fh:
        return fh.read(size)


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield (line number from 1, line bytes without the newline); never loads the whole file.

    Raises DamagedFileError where a compressed file stops being readable; the lines before it came.
    """
    number = 0
    try:
        with open_binary(path) as fh:
            for number, line in enumerate(fh, start=1):
                yield number, line.rstrip(b"\r\n")
    except DAMAGED as exc:
        raise DamagedFileError(
            f"{path}:{number + 1}",
            f"the compressed file is damaged here ({exc}); the lines before it were read",
        ) from exc
