"""JSON lines: arXiv daily listings, the arXiv bulk metadata snapshot (Kaggle), BEIR corpus.jsonl.

Each line is recognised by its keys, so one file may even mix them:
- daily listing: ``id, title, summary, authors[], categories[], comment, abs, pdf`` (file named by date);
- bulk snapshot: ``id, title, abstract, authors, authors_parsed, categories, versions[], update_date``;
- BEIR: ``_id, title, text``; ids are namespaced by the corpus folder ("scifact:4983").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import orjson

from paperwire.models import BadRecord, RawRecord
from paperwire.sources.files import DamagedFileError, numbered_lines

FORMAT = "jsonl"
DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
VERSION_LABEL = re.compile(r"v(\d+)$")


class RecordError(ValueError):
    """A record whose content cannot become a paper."""


def looks_like(head: bytes) -> bool:
    """Whether a file starts with a JSON object on its first line."""
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    return first.startswith(b"{")


def always() -> bool:
    """Every record is wanted: read() parses every line."""
    return True


# What read() yields for a line it was told to skip: it stands for one record, unread.
SKIPPED = BadRecord("", "skipped")


def read(path: Path, wanted: Callable[[], bool] = always) -> Iterator[RawRecord | BadRecord]:
    """Yield one record per line; malformed lines are reported with their line number. Where
    `wanted()` says no (asked before each line), the line is not parsed: SKIPPED stands for it."""
    listed = DATE_IN_NAME.search(path.name)
    context = _Context(listed.group(1) if listed else None, _namespace(path))
    try:
        for number, line in numbered_lines(path):
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark some editors write
            if not line.strip():
                continue
            if not wanted():
                yield SKIPPED
                continue
            location = f"{path}:{number}"
            try:
                obj = orjson.loads(line)
                if not isinstance(obj, dict):
                    raise RecordError(f"expected a JSON object, found {type(obj).__name__}")
                yield context.record(obj, location)
            except orjson.JSONDecodeError as exc:
                yield BadRecord(location, f"invalid JSON: {exc}")
            except RecordError as exc:
                yield BadRecord(location, str(exc))
    except DamagedFileError as exc:
        yield BadRecord(exc.location, exc.reason)


def _namespace(path: Path) -> str:
    """The id prefix for a BEIR corpus: its folder name for corpus.jsonl, else the file stem."""
    stem = path.name.split(".")[0]
    return path.resolve().parent.name if stem == "corpus" else stem


class _Context:
    def __init__(self, listed: str | None, namespace: str) -> None:
        self.listed = listed
        self.namespace = namespace

    def record(self, obj: dict[str, Any], location: str) -> RawRecord:
        if "_id" in obj and "text" in obj:
            return self.beir(obj, location)
        if "versions" in obj or "abstract" in obj:
            return self.snapshot(obj, location)
        if "summary" in obj or "id" in obj:
            return self.daily(obj, location)
        keys = ", ".join(sorted(obj)[:8])
        raise RecordError(
            f"unrecognised record (keys: {keys}); expected a daily listing (id, summary), "
            "a bulk snapshot (id, abstract, versions) or a BEIR record (_id, title, text)"
        )

    def daily(self, obj: dict[str, Any], location: str) -> RawRecord:
        links = {k: v for k in ("abs", "pdf") if isinstance(v := obj.get(k), str) and v}
        return RawRecord(
            source="arxiv-daily",
            location=location,
            source_id=_text(obj, "id", required=True),
            title=_text(obj, "title", required=True),
            abstract=_text(obj, "summary"),
            authors=_strings(obj, "authors"),
            categories=_strings(obj, "categories"),
            comment=_text(obj, "comment") or None,
            links=links,
            announced=self.listed,
        )

    def snapshot(self, obj: dict[str, Any], location: str) -> RawRecord:
        versions = _versions(obj.get("versions"))
        update_date = _text(obj, "update_date") or None
        return RawRecord(
            source="arxiv-snapshot",
            location=location,
            source_id=_text(obj, "id", required=True),
            title=_text(obj, "title", required=True),
            abstract=_text(obj, "abstract"),
            authors=_snapshot_authors(obj),
            categories=_text(obj, "categories").split(),
            comment=_text(obj, "comments") or None,
            journal_ref=_text(obj, "journal-ref") or None,
            doi=_text(obj, "doi") or None,
            versions=versions,
            updated=update_date,
        )

    def beir(self, obj: dict[str, Any], location: str) -> RawRecord:
        key = obj["_id"]
        if not isinstance(key, str | int) or isinstance(key, bool) or str(key).strip() == "":
            raise RecordError("'_id' must be a non-empty string or number")
        title = _text(obj, "title")
        text = _text(obj, "text")
        if not title and not text:
            raise RecordError("record has neither 'title' nor 'text'")
        return RawRecord(
            source="beir",
            location=location,
            source_id=f"{self.namespace}:{str(key).strip()}",
            title=title,
            abstract=text,
        )


def _text(obj: dict[str, Any], key: str, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise RecordError(f"missing '{key}'")
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool) and key in ("id", "_id"):
        return str(value)
    if not isinstance(value, str):
        raise RecordError(f"'{key}' must be a string, found {type(value).__name__}")
    if required and not value.strip():
        raise RecordError(f"'{key}' is empty")
    return value


def _strings(obj: dict[str, Any], key: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(map(isinstance, value, repeat(str))):
        raise RecordError(f"'{key}' must be a list of strings")
    return value


def _snapshot_authors(obj: dict[str, Any]) -> list[str]:
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed and all(isinstance(p, list) for p in parsed):
        names = []
        for parts in parsed:
            last, first, suffix = ([str(p) for p in parts] + ["", "", ""])[:3]
            names.append(" ".join(p for p in (first, last, suffix) if p.strip()))
        return names
    return _strings(obj, "authors")


def _versions(value: Any) -> list[tuple[int, str | None]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError("'versions' must be a list")
    versions = []
    for entry in value:
        if not isinstance(entry, dict):
            raise RecordError("'versions' entries must be objects")
        label = VERSION_LABEL.search(str(entry.get("version", "")))
        if label is None:
            raise RecordError(f"version label {entry.get('version')!r} is not like 'v1'")
        versions.append((int(label.group(1)), rfc2822_to_iso(entry.get("created"))))
    return versions


def rfc2822_to_iso(value: Any) -> str | None:
    """'Mon, 2 Apr 2007 19:18:42 GMT' -> '2007-04-02T19:18:42+00:00'; None when unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError, IndexError):
        return None
