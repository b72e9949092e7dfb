"""The arXiv API (Atom feeds): saved responses, and paged queries by search or by ids.

Reads both the current feed (2026: links with title="pdf", arxiv:affiliation) and the legacy one
(2016: namespaces declared on each arxiv: element). Entries keep their version suffix in
``source_id`` ("1707.08567v1"); normalisation strips it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import IO

import httpx
from lxml import etree

from paperwire.errors import InputError
from paperwire.models import BadRecord, RawRecord
from paperwire.sources.files import DAMAGED, open_binary
from paperwire.sources.http import HttpOptions, HttpStatusError, display_url, fetch
from paperwire.sources.xml import ScanInfo, scan

FORMAT = "arxiv-atom"
API_URL = "https://export.arxiv.org/api/query"
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
ERROR_ID = "arxiv.org/api/errors"
ABS_ID = re.compile(r"/abs/(.+)$")
VERSION = re.compile(r"v(\d+)$")
MAX_PAGE = 2000  # the most entries the API returns per request
API_HINT = "fix search_query or id_list; see https://info.arxiv.org/help/api/user-manual.html"
# UTF-8 read as Latin-1 ("WÃ¼bben"): some recorded and relayed feeds carry it.
MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]")


@dataclass(slots=True)
class AtomFeed:
    """One parsed API response."""

    records: list[RawRecord | BadRecord]
    total_results: int | None
    start_index: int | None
    entries: int  # entries read, good or bad (the offset of the next page moves by this)


@dataclass(slots=True)
class _FeedInfo(ScanInfo):
    total_results: int | None = None
    start_index: int | None = None
    error: str | None = None  # the summary of an API error entry


def looks_like(head: bytes) -> bool:
    """Whether a file starts like an Atom feed from the arXiv API."""
    return b"<feed" in head and b"http://www.w3.org/2005/Atom" in head and b"arxiv.org" in head


def read(path: Path) -> Iterator[RawRecord | BadRecord]:
    """Yield the entries of a saved arXiv API response; never raises on malformed content."""
    info = _FeedInfo()
    try:
        with open_binary(path) as source:
            yield from _scan(source, str(path), info)
    except (OSError, *DAMAGED) as exc:  # unreadable, or a corrupt/truncated .gz
        yield BadRecord(str(path), f"cannot read the file: {getattr(exc, 'strerror', None) or exc}")
        return
    if info.error is not None:
        yield BadRecord(str(path), f"arXiv API error: {info.error}")
    elif info.root is not None and info.root != f"{ATOM}feed" and info.malformed is None:
        yield BadRecord(str(path), f"not an Atom feed (root element {info.root})")


def parse(data: bytes, location: str) -> AtomFeed:
    """Parse one API response; raises InputError when it is the API's error entry."""
    info = _FeedInfo()
    records = list(_scan(BytesIO(data), location, info))
    if info.error is not None:
        raise InputError(f"the arXiv API rejected the query: {info.error}", hint=API_HINT)
    if info.root is not None and info.root != f"{ATOM}feed" and info.malformed is None:
        records.append(BadRecord(location, f"not an Atom feed (root element {info.root})"))
    return AtomFeed(records, info.total_results, info.start_index, info.items)


def query(
    options: HttpOptions,
    *,
    search_query: str | None = None,
    id_list: list[str] | None = None,
    start: int = 0,
    max_results: int = 100,
    page_size: int = 100,
    base_url: str = API_URL,
    delay: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
    client: httpx.Client | None = None,
) -> Iterator[RawRecord | BadRecord]:
    """Yield up to max_results entries from offset start, page_size per request, delay s apart."""
    if not search_query and not id_list:
        raise InputError("an arXiv API query needs search_query or id_list", hint=API_HINT)
    if start < 0 or max_results < 0 or not 1 <= page_size <= MAX_PAGE:
        raise InputError(
            f"bad paging: start={start}, max_results={max_results}, page_size={page_size}",
            hint=f"use start >= 0, max_results >= 0 and 1 <= page_size <= {MAX_PAGE}",
        )
    params = {"search_query": search_query or "", "id_list": ",".join(id_list or [])}
    pages = _pages(base_url, options, params, start, max_results, page_size, delay, sleep, client)
    return (record for page in pages for record in page.records)


def _pages(
    base_url: str,
    options: HttpOptions,
    query_params: dict[str, str],
    start: int,
    max_results: int,
    page_size: int,
    delay: float,
    sleep: Callable[[float], None],
    client: httpx.Client | None,
) -> Iterator[AtomFeed]:
    http = client or httpx.Client(follow_redirects=True)
    try:
        offset, fetched = start, 0
        while fetched < max_results:
            if fetched:
                sleep(delay)  # the API's terms ask for one request every three seconds
            params = {k: v for k, v in query_params.items() if v}
            params |= {"start": str(offset), "max_results": str(min(page_size, max_results - fetched))}
            feed = _get(base_url, options, params, sleep, http)
            yield feed
            offset, fetched = offset + feed.entries, fetched + feed.entries
            if feed.entries == 0 or (feed.total_results is not None and offset >= feed.total_results):
                return
    finally:
        if client is None:
            http.close()


def _get(
    base_url: str,
    options: HttpOptions,
    params: dict[str, str],
    sleep: Callable[[float], None],
    http: httpx.Client,
) -> AtomFeed:
    url = display_url(base_url, params)
    try:
        data = fetch(base_url, options, params=params, sleep=sleep, client=http)
    except HttpStatusError as exc:
        if exc.status_code == 400:  # the API explains a rejected query in an Atom error entry
            parse(exc.body, url)
        raise
    return parse(data, url)


def _scan(source: IO[bytes], location: str, info: _FeedInfo) -> Iterator[RawRecord | BadRecord]:
    def note(elem: etree._Element) -> None:
        if elem.tag == f"{OPENSEARCH}totalResults":
            info.total_results = _int(elem.text)
        elif elem.tag == f"{OPENSEARCH}startIndex":
            info.start_index = _int(elem.text)

    yield from scan(
        source,
        location,
        info,
        item_tag=f"{ATOM}entry",
        noun=("entry", "entries"),
        read_item=lambda elem, where: _entry(elem, where, info),
        note=note,
    )


def _entry(elem: etree._Element, location: str, info: _FeedInfo) -> RawRecord | BadRecord | None:
    entry_id = _text(elem, f"{ATOM}id") or ""
    if ERROR_ID in entry_id:
        info.error = _text(elem, f"{ATOM}summary") or entry_id
        return None
    match = ABS_ID.search(entry_id)
    source_id = match.group(1) if match else entry_id
    title = _text(elem, f"{ATOM}title")
    if not source_id or not title:
        missing = " and ".join(n for n, v in (("<id>", source_id), ("<title>", title)) if not v)
        return BadRecord(location, f"entry {entry_id or '(no id)'} has no {missing}")
    updated = _iso(_text(elem, f"{ATOM}updated"))
    version = VERSION.search(source_id)
    primary = elem.find(f"{ARXIV}primary_category")
    categories = [primary.get("term", "")] if primary is not None else []
    for category in elem.iterfind(f"{ATOM}category"):
        term = category.get("term", "")
        if term and term not in categories:
            categories.append(term)
    return RawRecord(
        source=FORMAT,
        location=location,
        source_id=source_id,
        title=title,
        abstract=_text(elem, f"{ATOM}summary") or "",
        authors=[n for a in elem.iterfind(f"{ATOM}author") if (n := _text(a, f"{ATOM}name"))],
        categories=[c for c in categories if c],
        comment=_text(elem, f"{ARXIV}comment"),
        journal_ref=_text(elem, f"{ARXIV}journal_ref"),
        doi=_text(elem, f"{ARXIV}doi"),
        versions=[(int(version.group(1)), updated)] if version else [],
        published=_iso(_text(elem, f"{ATOM}published")),
        updated=updated,
        links=_links(elem),
    )


def _links(elem: etree._Element) -> dict[str, str]:
    links: dict[str, str] = {}
    for link in elem.iterfind(f"{ATOM}link"):
        href = link.get("href")
        if not href:
            continue
        if link.get("rel") == "alternate":
            links.setdefault("abs", href)
        elif link.get("title") == "pdf" or link.get("type") == "application/pdf":
            links.setdefault("pdf", href)
    return links


def _text(parent: etree._Element, path: str) -> str | None:
    value = parent.findtext(path)
    if value is None or not value.strip():
        return None
    return repair_mojibake(value.strip())


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 decoded as Latin-1 ('WÃ¼bben' -> 'Wübben'); other text is returned unchanged."""
    if not MOJIBAKE.search(text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _iso(value: str | None) -> str | None:
    """'2017-07-27T08:18:33Z' -> '2017-07-27T08:18:33+00:00'; unreadable dates are kept as given."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        return value


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None
