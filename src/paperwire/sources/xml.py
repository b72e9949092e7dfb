"""Streaming XML for the Atom and OAI-PMH readers: safe parsing, flat memory, one scan loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from lxml import etree

from paperwire.models import BadRecord, RawRecord

# What lxml raises on unreadable input: syntax errors, unknown encodings, undecodable bytes.
PARSE_ERRORS = (etree.LxmlError, ValueError, LookupError)


@dataclass
class ScanInfo:
    """What a scan learnt besides its items; readers extend it with their own fields."""

    root: str | None = None
    items: int = 0
    malformed: str | None = None


def iterparse_safely(source: IO[bytes]) -> Iterator[tuple[str, etree._Element]]:
    """Start and end events of an XML stream; no DTDs, no entities, no network."""
    yield from etree.iterparse(
        source, events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False
    )


def free(elem: etree._Element) -> None:
    """Drop a fully read element and the siblings before it, so memory stays flat."""
    elem.clear()
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def parse_failure(exc: Exception) -> tuple[str, int | None]:
    """A short description of a parse error and the line it happened at, where lxml knows it."""
    if isinstance(exc, etree.XMLSyntaxError):
        line, column = exc.position
        return f"{exc.msg or 'syntax error'} at line {line}, column {column}", line or None
    return f"{type(exc).__name__}: {exc}", None


def scan(
    source: IO[bytes],
    location: str,
    info: ScanInfo,
    *,
    item_tag: str,
    noun: tuple[str, str],
    read_item: Callable[[etree._Element, str], RawRecord | BadRecord | None],
    note: Callable[[etree._Element], None],
) -> Iterator[RawRecord | BadRecord]:
    """Yield what read_item makes of each item element; other elements go to note.

    Unreadable XML ends the scan with one BadRecord saying where; the items before it still come.
    """
    singular, plural = noun
    try:
        for event, elem in iterparse_safely(source):
            if event == "start":
                info.root = info.root or str(elem.tag)
            elif elem.tag == item_tag:
                info.items += 1
                item = read_item(elem, f"{location}#{singular} {info.items}")
                free(elem)
                if item is not None:
                    yield item
            else:
                note(elem)
    except PARSE_ERRORS as exc:
        info.malformed, line = parse_failure(exc)
        yield BadRecord(
            f"{location}:{line}" if line else f"{location}#{singular} {info.items + 1}",
            f"unreadable XML after {info.items} {plural} ({info.malformed}); the rest is skipped",
        )
