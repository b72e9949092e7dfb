"""Input formats: each module reads one format and yields RawRecord or BadRecord, never touching the store.

Every reader module exposes ``FORMAT`` (its name), ``looks_like(head: bytes) -> bool`` and
``read(path: Path) -> Iterator[RawRecord | BadRecord]``, streaming so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

from paperwire.errors import InputError
from paperwire.models import BadRecord, RawRecord
from paperwire.sources import atom, files, hf_daily, hf_listing, jsonl, oai_pmh

Reader = Callable[[Path], Iterator[RawRecord | BadRecord]]

# Detection order matters: the most specific signatures first, generic JSON lines last.
READERS: tuple[ModuleType, ...] = (hf_listing, oai_pmh, atom, hf_daily, jsonl)
FORMATS: dict[str, ModuleType] = {module.FORMAT: module for module in READERS}


def detect_format(path: Path) -> str:
    """The format name of a file, from its first bytes; raises InputError when unknown."""
    try:
        head = files.head(path)
    except files.DAMAGED as exc:
        raise InputError(
            f"cannot read {path}: the compressed file is damaged ({exc})", hint="fetch it again"
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", hint="check the path") from exc
    for module in READERS:
        if module.looks_like(head):
            return str(module.FORMAT)
    raise InputError(
        f"cannot tell the format of {path}",
        hint=f"pass --format, one of: {', '.join(FORMATS)}",
    )


def reader(format_name: str) -> Reader:
    """The read function of a named format; raises InputError for an unknown name."""
    module = FORMATS.get(format_name)
    if module is None:
        raise InputError(f"unknown format {format_name!r}", hint=f"use one of: {', '.join(FORMATS)}")
    read: Reader = module.read
    return read
