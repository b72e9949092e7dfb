"""Hugging Face daily papers: the JSON array served by ``/api/daily_papers?date=YYYY-MM-DD``.

Each item wraps one arXiv paper (``paper``: id, title, summary, authors, publishedAt, upvotes,
githubRepo, ...) with what the daily page adds (numComments, organization, ...). The schema grew
over time: 2024 items carry only ``paper, publishedAt, title, mediaUrl, numComments``; later ones
add ``summary``, ``submittedOnDailyAt``, ``ai_keywords``, ``githubRepo``/``githubStars`` and more.
The file is streamed item by item with ijson, so memory stays flat in the length of the array.

ijson's C parser (yajl) is fast, with two quirks handled here: it rescans a string that spans
several reads from its start at every read (quadratic: an abstract of 2 million non-ASCII
characters took 2.6 s in 16 kB reads), so reads grow while an item stays open; and it cannot hold
integers beyond 64 bits, which are valid JSON, so such a file is read on with ijson's pure-Python
parser (linear time, but its buffer is not bounded, hence not the default).

Two traps in the data: the item-level ``publishedAt`` means the listing time in 2024 but a
time-zone-shifted copy of ``paper.publishedAt`` later (sometimes on the previous day), so it is
never used; and the item-level ``title`` is a cleaned copy (sometimes with LaTeX put back), while
``paper.title`` is arXiv's own title, the one the other sources deliver too.
"""

from __future__ import annotations

import io
import re
from collections.abc import Generator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import ijson
from ijson.backends import python as ijson_python

from paperwire.models import BadRecord, RawRecord
from paperwire.sources.files import DAMAGED, open_binary

FORMAT = "hf-daily"
DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
BOM = b"\xef\xbb\xbf"
JSON_WHITESPACE = b" \t\r\n"
BUFFER_SIZE = 16 * 1024  # small, so that a parse error's byte range is narrow
# HF fills projectPage with the paper's own HF page when authors gave none: that is no project page.
HF_PAPER_PAGE = re.compile(r"^https?://(www\.)?huggingface\.co/papers/", re.IGNORECASE)


class RecordError(ValueError):
    """An item whose content cannot become a paper."""


def looks_like(head: bytes) -> bool:
    """Whether a file starts with a JSON array whose first item holds a ``paper`` object."""
    try:
        for prefix, event, _ in ijson_python.parse(io.BytesIO(head.removeprefix(BOM))):
            if prefix == "":
                if event != "start_array":
                    return False
            elif prefix == "item":
                if event not in ("start_map", "map_key"):
                    return False  # the first item is not an object, or it ended without "paper"
            elif prefix == "item.paper":
                return bool(event == "start_map")
    except (ijson.JSONError, ValueError):
        return False  # garbage, or the head ended before the first item's "paper" key
    return False


def read(path: Path) -> Iterator[RawRecord | BadRecord]:
    """Yield one record per array item; a bad item is reported and skipped, broken JSON ends the file."""
    listed = _date_in_name(path.name)
    done = yield from _read_with(ijson, path, listed, skip=0)
    if done is not None:
        yield from _read_with(ijson_python, path, listed, skip=done)


def _read_with(
    parser: Any, path: Path, listed: str | None, skip: int
) -> Generator[RawRecord | BadRecord, None, int | None]:
    """Read with one ijson backend, after ``skip`` items; returns the items done if yajl overflowed."""
    count = 0
    with open_binary(path) as raw:
        stream = _CountingReader(raw)
        try:
            first = stream.first_byte()
            if first != b"[":
                yield BadRecord(f"{path}#item 1", _not_an_array(first))
                return None
            for count, item in enumerate(
                parser.items(stream, "item", use_float=True, buf_size=BUFFER_SIZE), start=1
            ):
                stream.items_done = count
                if count <= skip:
                    continue
                location = f"{path}#item {count}"
                try:
                    yield _record(item, location, listed)
                except RecordError as exc:
                    yield BadRecord(location, str(exc))
        except NotUtf8Error as exc:
            yield BadRecord(
                f"{path}#item {count + 1}",
                f"item {count + 1} (after {count} complete items): {exc}; stopped reading this file",
            )
        except (ijson.JSONError, UnicodeDecodeError, *DAMAGED) as exc:
            reason = _first_line(exc)
            if parser is not ijson_python and "integer overflow" in reason:
                return count
            # Items before the damage were yielded already; nothing after it can be trusted.
            yield BadRecord(
                f"{path}#item {count + 1}",
                f"invalid JSON in item {count + 1} (after {count} complete items), "
                f"{stream.where()}: {reason}; stopped reading this file",
            )
    return None


class NotUtf8Error(ValueError):
    """Bytes that are not UTF-8, found at a known offset of the (decompressed) file."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"not UTF-8 text at byte {offset} ({reason})")
        self.offset = offset


class _CountingReader:
    """The byte stream the parser reads: skips a leading BOM and whitespace, counts what it hands
    on, reads more at a time while one item stays open, and stops before the first non-UTF-8 byte.

    Checking UTF-8 here gives the exact offset of a bad byte, and hands on the good items that
    share its chunk first (ijson's Python parser decodes whole chunks).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.pending = b""  # peeked, or a partial UTF-8 character left from the previous chunk
        self.consumed = 0  # bytes of the (decompressed) file handed to the parser so far
        self.last = 0  # size of the latest chunk handed on
        self.error: NotUtf8Error | None = None
        self.items_done = 0  # set by the reader loop as items complete
        self.open_item = (0, 0)  # (items done, bytes handed on since that count last changed)

    def first_byte(self) -> bytes:
        """The first byte that is neither a BOM nor JSON whitespace (b"" for an empty file)."""
        skipped = 0
        chunk = self.raw.read(BUFFER_SIZE)
        if chunk.startswith(BOM):
            chunk, skipped = chunk[len(BOM) :], len(BOM)
        while chunk:
            stripped = chunk.lstrip(JSON_WHITESPACE)
            skipped += len(chunk) - len(stripped)
            if stripped:
                self.pending = stripped
                self.consumed = skipped
                return stripped[:1]
            chunk = self.raw.read(BUFFER_SIZE)
        self.consumed = skipped
        return b""

    def read(self, size: int = -1) -> bytes:
        """Up to about ``size`` bytes of valid UTF-8; raises NotUtf8Error once those run out."""
        if size == 0:
            return b""  # ijson probes with read(0) to tell bytes from text
        if self.error is not None:
            raise self.error
        done, open_bytes = self.open_item
        if done != self.items_done:
            done, open_bytes = self.items_done, 0
        # One item still open after many reads: read as much again as it already took (doubling),
        # which keeps yajl's rescans of a long string linear overall; memory stays one item's worth.
        size = max(size if size > 0 else BUFFER_SIZE, open_bytes)
        chunk, self.pending = self.pending, b""
        if not chunk:
            chunk = self.raw.read(size)
        while True:
            try:
                chunk.decode("utf-8")
                break
            except UnicodeDecodeError as exc:
                if exc.reason == "unexpected end of data" and exc.end == len(chunk):
                    more = self.raw.read(size)
                    if more:  # a character split between two reads, not an error
                        if exc.start > 0:
                            chunk, self.pending = chunk[: exc.start], chunk[exc.start :] + more
                            break
                        chunk += more
                        continue
                self.error = NotUtf8Error(self.consumed + exc.start, exc.reason)
                chunk = chunk[: exc.start]
                break
        if not chunk and self.error is not None:
            raise self.error
        self.last = len(chunk)
        self.consumed += len(chunk)
        self.open_item = (done, open_bytes + len(chunk))
        return chunk

    def where(self) -> str:
        """Where the parser stopped, as a byte range: the parser does not say which byte exactly."""
        start = self.consumed - self.last
        if self.last == 0:
            return f"at byte {self.consumed} (end of file)"
        return f"between bytes {start} and {self.consumed}"


def _not_an_array(first: bytes) -> str:
    found = {
        b"": "an empty file",
        b"{": "a JSON object",
        b'"': "a JSON string",
    }.get(first, f"text starting with {first!r}")
    return f'expected a JSON array of daily-papers items ([{{"paper": ...}}, ...]), found {found}'


def _first_line(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def _record(item: Any, location: str, listed_in_name: str | None) -> RawRecord:
    if not isinstance(item, dict):
        raise RecordError(f"item must be a JSON object, found {_kind(item)}")
    paper = item.get("paper")
    if paper is None:
        raise RecordError("item has no 'paper' object")
    if not isinstance(paper, dict):
        raise RecordError(f"'paper' must be an object, found {_kind(paper)}")

    paper_id = _text(paper, "paper.id")
    if not paper_id.strip():
        raise RecordError("'paper.id' (the arXiv id) is missing or empty")
    title = _text(paper, "paper.title") or _text(item, "title")
    if not title.strip():
        raise RecordError("neither 'paper.title' nor 'title' is given")
    abstract = _text(paper, "paper.summary") or _text(item, "summary")

    code = _text(paper, "paper.githubRepo").strip()
    project = _text(paper, "paper.projectPage").strip()
    links = {"code": code} if code else {}
    if project and project != code and not HF_PAPER_PAGE.match(project):
        links["project"] = project

    listed_on = _date(paper, "paper.submittedOnDailyAt") or listed_in_name
    signals: dict[str, Any] = {
        "upvotes": _count(paper, "paper.upvotes"),
        "comments": _count(item, "numComments"),
        "github_repo": code or None,
        "github_stars": _count(paper, "paper.githubStars"),
        "listed_on": listed_on,
        "ai_keywords": _keywords(paper) or None,
        "organization": _organization(item, "organization") or _organization(paper, "paper.organization"),
    }
    signals = {key: value for key, value in signals.items() if value is not None}
    return RawRecord(
        source=FORMAT,
        location=location,
        source_id=paper_id.strip(),
        title=title,
        abstract=abstract,
        authors=_authors(paper),
        published=_date(paper, "paper.publishedAt"),
        announced=listed_on,
        links=links,
        signals=signals or None,
    )


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _get(obj: dict[str, Any], dotted: str) -> Any:
    return obj.get(dotted.rsplit(".", 1)[-1])


def _text(obj: dict[str, Any], dotted: str) -> str:
    value = _get(obj, dotted)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"'{dotted}' must be a string, found {_kind(value)}")
    return value


def _count(obj: dict[str, Any], dotted: str) -> int | None:
    value = _get(obj, dotted)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"'{dotted}' must be a whole number, found {_kind(value)}: {_preview(value)}")
    if value < 0:
        raise RecordError(f"'{dotted}' must not be negative, found {value}")
    return value


def _date(obj: dict[str, Any], dotted: str) -> str | None:
    value = _text(obj, dotted).strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)  # HF serves UTC; the day of the listing is a UTC day
    except (ValueError, OverflowError):
        raise RecordError(f"'{dotted}' is not an ISO 8601 date: {_preview(value)}") from None
    return moment.date().isoformat()


def _date_in_name(name: str) -> str | None:
    found = DATE_IN_NAME.search(name)
    if found is None:
        return None
    try:
        return date.fromisoformat(found.group(1)).isoformat()
    except ValueError:
        return None  # digits shaped like a date that is none, e.g. 2024-13-45


def _authors(paper: dict[str, Any]) -> list[str]:
    # Hidden authors are kept: "hidden" hides an entry on the HF page, but the name is still part
    # of the paper's byline, and dropping it would make this record disagree with arXiv's.
    entries = paper.get("authors")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise RecordError(f"'paper.authors' must be an array, found {_kind(entries)}")
    names = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise RecordError(f"'paper.authors' entry {number} must be an object, found {_kind(entry)}")
        name = entry.get("name")
        if name is None and isinstance(user := entry.get("user"), dict):
            name = user.get("fullname")
        if name is None:
            continue  # an entry without any name says nothing about the byline
        if not isinstance(name, str):
            raise RecordError(f"'paper.authors' entry {number}: 'name' must be a string, found {_kind(name)}")
        if name.strip():
            names.append(name.strip())
    return names


def _keywords(paper: dict[str, Any]) -> list[str]:
    value = paper.get("ai_keywords")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise RecordError("'paper.ai_keywords' must be an array of strings")
    return [word.strip() for word in value if word.strip()]


def _organization(obj: dict[str, Any], dotted: str) -> str | None:
    value = _get(obj, dotted)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordError(f"'{dotted}' must be an object, found {_kind(value)}")
    name = _text(value, f"{dotted}.name").strip()
    return name or None


def _preview(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
