"""The HTML pages: server-rendered (Jinja2), every one usable without JavaScript; HTMX only enhances."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from paperwire.library import Library
from paperwire.search.results import Topic
from paperwire.web.context import Web, get_web
from paperwire.web.security import CSRF_FIELD, local_path, voter
from paperwire.web.views import (
    PAGE_SIZE,
    Card,
    Pager,
    SearchParams,
    bibtex,
    paper_path,
    search_params,
    trending_cards,
)

router = APIRouter(include_in_schema=False)
WebDep = Annotated[Web, Depends(get_web)]
Search = Annotated[SearchParams, Depends(search_params)]
PageNumber = Annotated[int, Query(ge=1, le=1000)]
TOPIC_DEPTH = 50  # hits grouped into the topic facets of a search
RELATED = 8
HOME_PAPERS = 10
TRENDING_PAGE = 30


def render(web: Web, request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return web.templates.TemplateResponse(request, template, context, status_code=status)


def render_with_form(
    web: Web, request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    """A page holding a form that changes state: its CSRF token in the page and in the cookie."""
    token = web.csrf.token_for(request)
    form = {"csrf_token": token, "csrf_field": CSRF_FIELD}
    response = render(web, request, template, {**context, **form}, status)
    web.csrf.set_cookie(response, token, request)
    return response


@router.get("/")
def home(request: Request, web: WebDep) -> Response:
    """Search, this week's trending papers (the newest where nothing is dated), collections."""

    def read(library: Library) -> dict[str, Any]:
        ranked, papers = library.trending("week", limit=HOME_PAPERS)
        cards = trending_cards(ranked, papers)
        if not cards:
            cards = [Card.of_paper(p) for p in library.newest(HOME_PAPERS)[1]]
        return {"trending": bool(ranked.papers), "as_of": ranked.as_of, "cards": cards,
                "collections": library.collections()}  # fmt: skip

    return render(web, request, "home.html", web.read(read))


@router.get("/trending")
def trending(
    request: Request,
    web: WebDep,
    window: Annotated[Literal["day", "week", "month"], Query()] = "week",
    category: Annotated[str, Query(max_length=40, pattern=r"^[A-Za-z0-9.-]*$")] = "",
) -> Response:
    """The papers getting attention today, this week or this month (optionally in one category)."""
    ranked, papers = web.read(lambda library: library.trending(window, category or None, TRENDING_PAGE))
    cards = trending_cards(ranked, papers)
    context = {"ranked": ranked, "cards": cards, "window": window, "category": category}
    return render(web, request, "trending.html", context)


@router.get("/open")
def open_paper(paper_id: Annotated[str, Query(alias="id", min_length=1, max_length=200)]) -> Response:
    """The "open a paper by id" form: a redirect to the paper's page, never off this site."""
    return RedirectResponse(local_path(paper_path(paper_id.strip())), status_code=303)


@router.get("/search")
def search(request: Request, web: WebDep, params: Search, page: PageNumber = 1, topic: str = "") -> Response:
    """Results with topic facets; an HTMX request (search as you type) gets the results part only."""
    partial = request.headers.get("HX-Request") == "true"
    context: dict[str, Any] = {"params": params, "topic": topic, "cards": [], "topics": [], "notes": []}
    if params.q:
        web.limit_search(request)
        context.update(web.read(lambda library: _results(library, params, page, topic)))
    else:
        context["pager"] = Pager(1, PAGE_SIZE, 0, 0)
    response = render(web, request, "_results.html" if partial else "search.html", context)
    response.headers["Vary"] = "HX-Request"
    return response


def _results(library: Library, params: SearchParams, page: int, topic: str) -> dict[str, Any]:
    offset = (page - 1) * PAGE_SIZE
    grouped = library.search(params.request(TOPIC_DEPTH))
    topics: list[Topic] = library.group(grouped.hits)
    chosen = next((t for t in topics if t.label == topic), None)
    if chosen is not None:
        hits, total, notes = chosen.hits[offset : offset + PAGE_SIZE], len(chosen.hits), []
    elif offset + PAGE_SIZE <= TOPIC_DEPTH:  # the same ranking: the page is a slice of the grouped hits
        hits, total, notes = grouped.hits[offset : offset + PAGE_SIZE], grouped.total, grouped.notes
    else:
        results = library.search(params.request(PAGE_SIZE, offset))
        hits, total, notes = results.hits, results.total, results.notes
    return {
        "cards": [Card.of_hit(hit) for hit in hits], "topics": topics, "notes": notes,
        "topic": topic if chosen else "", "pager": Pager(page, PAGE_SIZE, len(hits), total),
    }  # fmt: skip


@router.get("/why")
def why(
    request: Request,
    web: WebDep,
    params: Search,
    paper_id: Annotated[str, Query(alias="id", min_length=1, max_length=200)],
    page: PageNumber = 1,
) -> Response:
    """Why one hit is where it is in a search: inline with HTMX, a small page without it."""
    web.limit_search(request)
    results = web.read(lambda library: library.search(params.request(PAGE_SIZE, (page - 1) * PAGE_SIZE)))
    card = next((Card.of_hit(hit) for hit in results.hits if hit.id == paper_id), None)
    partial = request.headers.get("HX-Request") == "true"
    context = {"card": card, "params": params, "page": page, "paper_id": paper_id}
    return render(web, request, "_why.html" if partial else "why.html", context)


@router.get("/paper/{paper_id:path}/bibtex")
def paper_bibtex(web: WebDep, paper_id: str) -> Response:
    paper = web.read(lambda library: library.paper(paper_id))
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", paper["id"]) + ".bib"
    return PlainTextResponse(bibtex(paper), headers={"Content-Disposition": f'inline; filename="{filename}"'})


@router.get("/paper/{paper_id:path}")
def paper(request: Request, web: WebDep, paper_id: str) -> Response:
    """A paper: full abstract with its math, versions, duplicates, code links, related papers, export."""

    def read(library: Library) -> tuple[dict[str, Any], list[Card], dict[str, int]]:
        found = library.paper(paper_id)
        related = [Card.of_hit(hit) for hit in library.related(found["id"], RELATED)]
        return found, related, library.attention(found["id"])

    found, related, attention = web.read(read)
    if found["id"] != paper_id:  # arXiv:1707.08567v2 and friends: one address per paper
        return RedirectResponse(local_path(paper_path(found["id"])), status_code=308)
    context = {
        "paper": found, "summary": Card.of_paper(found), "related": related,
        "upvotes": attention.get("upvote", 0),
    }  # fmt: skip
    return render_with_form(web, request, "paper.html", context)


@router.post("/paper/{paper_id:path}/vote")
def vote(
    request: Request,
    web: WebDep,
    paper_id: str,
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD, max_length=200)] = None,
) -> Response:
    """Upvote a paper: one vote per address and paper, however often the button is pressed."""
    web.check_csrf(request, csrf_token)
    web.limit_search(request, scope="vote")

    def work(library: Library) -> str:
        stored = library.paper_id(paper_id)
        library.record_event(stored, "upvote", voter(request))
        return stored

    stored = web.read(work)
    return RedirectResponse(local_path(paper_path(stored)) + "#vote", status_code=303)


@router.get("/collections")
def collections(request: Request, web: WebDep) -> Response:
    found = web.read(lambda library: library.collections())
    return render(web, request, "collections.html", {"collections": found})


@router.get("/collections/{name}")
def collection(request: Request, web: WebDep, name: str, page: PageNumber = 1) -> Response:
    def read(library: Library) -> tuple[int, list[tuple[int, Card]]]:
        items = library.collection(name)
        window = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return len(items), [(item["position"], Card.of_paper(library.paper(item["id"]))) for item in window]

    total, numbered = web.read(read)
    pager = Pager(page, PAGE_SIZE, len(numbered), total)
    return render(web, request, "collection.html", {"name": name, "numbered": numbered, "pager": pager})


@router.get("/overlap")
def overlap(
    request: Request,
    web: WebDep,
    first: Annotated[str, Query(max_length=500)] = "",
    second: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """Which papers two collections (or searches) share."""
    collections = web.read(lambda library: library.collections())
    context: dict[str, Any] = {"first": first, "second": second, "collections": collections, "result": None}
    if first.strip() and second.strip():
        web.limit_search(request)
        context["result"] = web.read(lambda library: library.overlap(first.strip(), second.strip()))
    return render(web, request, "overlap.html", context)
