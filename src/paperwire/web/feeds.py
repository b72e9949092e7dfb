"""Atom feeds (RFC 4287): the newest matches of any search, and the newest papers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from lxml import etree

from paperwire import __version__
from paperwire.web.context import Web, get_web, rate_limited
from paperwire.web.views import SearchParams, paper_path, search_params

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
FEED_SIZE = 50
# Characters XML 1.0 cannot carry; dropped rather than failing the whole feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

router = APIRouter(prefix="/feeds", tags=["feeds"])
WebDep = Annotated[Web, Depends(get_web)]


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    authors: list[str]
    published: str | None
    summary: str
    categories: list[str]


def _text(parent: etree._Element, tag: str, text: str, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    element.text = _NOT_XML.sub("", text)
    return element


def _timestamp(day: str | None, fallback: datetime) -> str:
    """An RFC 3339 time for an ISO date or date-time (dates are taken as midnight UTC)."""
    if not day:
        return fallback.isoformat(timespec="seconds")
    try:
        moment = datetime.fromisoformat(day)
    except ValueError:
        return fallback.isoformat(timespec="seconds")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def atom(request: Request, title: str, entries: list[Entry]) -> Response:
    """An Atom feed of these papers; entry ids are the papers' page addresses on this site."""
    now = datetime.now(UTC).replace(microsecond=0)
    base = str(request.base_url).rstrip("/")
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})  # type: ignore[dict-item]
    _text(feed, "id", str(request.url))
    _text(feed, "title", title)
    stamps = [_timestamp(e.published, now) for e in entries]
    _text(feed, "updated", max(stamps, default=now.isoformat(timespec="seconds")))
    author = etree.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", "paperwire")
    etree.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=str(request.url), type="application/atom+xml")
    etree.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=base + "/", type="text/html")
    _text(feed, "generator", "paperwire", version=__version__)
    for entry, stamp in zip(entries, stamps, strict=True):
        item = etree.SubElement(feed, f"{{{ATOM}}}entry")
        url = base + paper_path(entry.id)
        _text(item, "id", url)
        _text(item, "title", entry.title)
        _text(item, "updated", stamp)
        if entry.published:
            _text(item, "published", stamp)
        for name in entry.authors:
            _text(etree.SubElement(item, f"{{{ATOM}}}author"), "name", name)
        etree.SubElement(item, f"{{{ATOM}}}link", rel="alternate", href=url, type="text/html")
        for category in entry.categories:
            etree.SubElement(item, f"{{{ATOM}}}category", term=_NOT_XML.sub("", category))
        _text(item, "summary", entry.summary)
    body = etree.tostring(feed, xml_declaration=True, encoding="utf-8")
    return Response(body, media_type=MEDIA_TYPE)


@router.get("/search.atom", dependencies=[Depends(rate_limited)], response_class=Response)
def search_feed(
    request: Request, web: WebDep, params: Annotated[SearchParams, Depends(search_params)]
) -> Response:
    """The newest papers matching a search (same parameters as /search), for feed readers."""
    newest = SearchParams(
        params.q, params.since, params.until, params.categories, params.has_code, "newest", params.filters
    )
    results = web.read(lambda library: library.search(newest.request(FEED_SIZE)))
    entries = [Entry(h.id, h.title, h.authors, h.date, h.abstract, h.categories) for h in results.hits]
    return atom(request, f"paperwire: {params.q or 'all papers'}", entries)


@router.get("/newest.atom", response_class=Response)
def newest_feed(request: Request, web: WebDep) -> Response:
    """The newest papers in the library."""
    _, papers = web.read(lambda library: library.newest(FEED_SIZE))
    return atom(request, "paperwire: newest papers", [paper_entry(paper) for paper in papers])


@router.get("/trending.atom", response_class=Response)
def trending_feed(
    request: Request, web: WebDep, window: Annotated[Literal["day", "week", "month"], Query()] = "week"
) -> Response:
    """The papers trending in the window, most attention first."""
    _, papers = web.read(lambda library: library.trending(window, None, FEED_SIZE))
    return atom(request, f"paperwire: trending this {window}", [paper_entry(paper) for paper in papers])


def paper_entry(paper: dict[str, Any]) -> Entry:
    """A stored paper as a feed entry."""
    day = paper["published"] or paper["announced"]
    return Entry(paper["id"], paper["title"], paper["authors"], day, paper["abstract"], paper["categories"])
