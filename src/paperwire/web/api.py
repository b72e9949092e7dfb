"""The REST API, /api/v1: thin handlers over the Library, pydantic models out, one error shape."""

from __future__ import annotations

import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from paperwire import pipeline
from paperwire.library import Library
from paperwire.sources import FORMATS
from paperwire.web.context import Web, get_web, rate_limited
from paperwire.web.errors import WebError
from paperwire.web.schemas import (
    CollectionItem,
    CollectionOut,
    CollectionPage,
    ErrorOut,
    HitOut,
    IngestOut,
    OverlapOut,
    PaperOut,
    PapersOut,
    ReindexOut,
    RelatedOut,
    SearchOut,
    SubscribeIn,
    SubscribeOut,
    TopicOut,
    TopicsOut,
    TrendingOut,
    TrendingPaperOut,
    VoteOut,
    next_offset,
)
from paperwire.web.security import admin_token_matches, voter
from paperwire.web.subscriptions import CHECK_INBOX
from paperwire.web.views import SearchParams, paper_path, search_params

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": what}
    for status, what in (
        (404, "Not found"), (422, "Invalid parameters"), (429, "Too many searches: wait Retry-After"),
        (500, "Server error"),
    )
}  # fmt: skip
router = APIRouter(prefix="/api/v1", responses=ERRORS)
WebDep = Annotated[Web, Depends(get_web)]
Search = Annotated[SearchParams, Depends(search_params)]
Offset = Annotated[int, Query(ge=0, le=10_000, description="Skip this many items.")]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@router.get("/search", dependencies=[Depends(rate_limited)])
def search(
    web: WebDep,
    params: Search,
    mode: Annotated[Literal["hybrid", "keyword", "semantic"], Query()] = "hybrid",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Offset = 0,
) -> SearchOut:
    """Search by words and meaning: one hit per duplicate group, each with why it is there."""
    results = web.read(lambda library: library.search(params.request(limit, offset, mode)))
    return SearchOut(
        query=results.query, mode=results.mode, total=results.total, offset=offset, limit=limit,
        next_offset=next_offset(offset, len(results.hits), results.total), notes=results.notes,
        hits=[HitOut.of(hit) for hit in results.hits],
    )  # fmt: skip


@router.get("/papers")
def newest_papers(
    web: WebDep, limit: Annotated[int, Query(ge=1, le=100)] = 20, offset: Offset = 0
) -> PapersOut:
    """The newest papers (by first publication or listing; undated last), one per duplicate group."""
    total, papers = web.read(lambda library: library.newest(limit, offset))
    return PapersOut(
        total=total, offset=offset, limit=limit, next_offset=next_offset(offset, len(papers), total),
        papers=[PaperOut.of(paper) for paper in papers],
    )  # fmt: skip


@router.get("/papers/{paper_id:path}/related")
def related(web: WebDep, paper_id: str, limit: Annotated[int, Query(ge=1, le=50)] = 10) -> RelatedOut:
    """Papers nearest by meaning and distinctive shared terms; never the paper's own versions."""
    hits = web.read(lambda library: library.related(paper_id, limit))
    return RelatedOut(paper_id=paper_id, hits=[HitOut.of(hit) for hit in hits])


@router.get("/papers/{paper_id:path}")
def paper(web: WebDep, paper_id: str) -> PaperOut:
    """One paper with its versions, duplicates, signals and collections (arXiv ids with or without vN)."""
    return PaperOut.of(web.read(lambda library: library.paper(paper_id)))


@router.post("/papers/{paper_id:path}/vote")
def vote(request: Request, web: WebDep, paper_id: str) -> VoteOut:
    """Upvote a paper: one vote per client address and paper; a repeat is answered counted=false."""
    web.limit_search(request, scope="vote")

    def work(library: Library) -> VoteOut:
        stored = library.paper_id(paper_id)
        counted = library.record_event(stored, "upvote", voter(request))
        return VoteOut(paper_id=stored, counted=counted, upvotes=library.attention(stored).get("upvote", 0))

    return web.read(work)


@router.get("/trending")
def trending(
    web: WebDep,
    window: Annotated[Literal["day", "week", "month"], Query()] = "week",
    category: Annotated[
        str | None, Query(max_length=40, description="A category (cs.LG) or archive (cs).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TrendingOut:
    """The papers getting the most attention in the window; new papers without votes by recency."""
    ranked, papers = web.read(lambda library: library.trending(window, category, limit))
    return TrendingOut(
        window=ranked.window, as_of=ranked.as_of, category=ranked.category,
        papers=[
            TrendingPaperOut(paper=PaperOut.of(paper), **asdict(entry))
            for entry, paper in zip(ranked.papers, papers, strict=True)
        ],
    )  # fmt: skip


@router.get("/topics", dependencies=[Depends(rate_limited)])
def topics(
    web: WebDep,
    params: Search,
    limit: Annotated[int, Query(ge=2, le=200, description="How many hits to group.")] = 50,
) -> TopicsOut:
    """A search's hits split into labelled topic groups."""
    groups = web.read(lambda library: library.topics(params.request(limit)))
    return TopicsOut(
        query=params.q,
        topics=[
            TopicOut(label=g.label, terms=list(g.terms), hits=[HitOut.of(h) for h in g.hits]) for g in groups
        ],
    )


@router.get("/collections")
def collections(web: WebDep) -> list[CollectionOut]:
    """Every collection (an imported results page, for one) with its size."""
    return [CollectionOut.model_validate(c) for c in web.read(lambda library: library.collections())]


@router.get("/collections/{name}")
def collection(
    web: WebDep, name: str, limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Offset = 0
) -> CollectionPage:
    """A collection's papers in their original order."""
    items = web.read(lambda library: library.collection(name))
    page = items[offset : offset + limit]
    return CollectionPage(
        name=name, total=len(items), offset=offset, limit=limit,
        next_offset=next_offset(offset, len(page), len(items)),
        items=[CollectionItem(**item, url=paper_path(item["id"])) for item in page],
    )  # fmt: skip


@router.get("/overlap", dependencies=[Depends(rate_limited)])
def overlap(
    web: WebDep,
    first: Annotated[str, Query(min_length=1, max_length=500, description="A collection name or a query.")],
    second: Annotated[str, Query(min_length=1, max_length=500, description="A collection name or a query.")],
) -> OverlapOut:
    """The papers two collections (or searches) share, a duplicate group counting once."""
    result = web.read(lambda library: library.overlap(first, second))
    return OverlapOut(
        first=first, second=second, only_first=result.only_a, both=result.both, only_second=result.only_b,
        jaccard=result.jaccard, both_titles=result.both_titles,
    )  # fmt: skip


SUBSCRIBE_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"description": "An email is on its way"},
    400: {"model": ErrorOut, "description": "The body is not JSON"},
}


@router.post("/subscribe", status_code=202, responses=SUBSCRIBE_ANSWERS)
def subscribe(request: Request, web: WebDep, body: SubscribeIn, background: BackgroundTasks) -> SubscribeOut:
    """Subscribe an address to the digest. It gets a link to confirm (or, when it is subscribed already,
    a link to manage its subscription); the answer is the same either way. Rate-limited."""
    web.limit_search(request, scope="subscribe")
    prefs = body.preferences()
    background.add_task(web.send, web.digest(lambda digests: digests.subscribe(body.email, prefs)))
    return SubscribeOut(message=CHECK_INBOX)


# -- admin: only with the admin token from the settings ---------------------------------------------


def require_admin(web: WebDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """Admin endpoints are off without PAPERWIRE_ADMIN_TOKEN, and need it as a bearer token."""
    matches = admin_token_matches(web.settings, authorization)
    if matches is None:
        raise WebError(
            403, "admin_disabled",
            "admin endpoints are off on this server; the operator sets PAPERWIRE_ADMIN_TOKEN to turn them on",
        )  # fmt: skip
    if not matches:
        raise WebError(
            401, "unauthorized",
            "missing or wrong admin token; send the header 'Authorization: Bearer <PAPERWIRE_ADMIN_TOKEN>'",
            {"WWW-Authenticate": "Bearer"},
        )  # fmt: skip


ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong admin token"},
    403: {"model": ErrorOut, "description": "Admin endpoints are off"},
    413: {"model": ErrorOut, "description": "Body larger than max_request_bytes"},
}
admin = APIRouter(
    prefix="/api/v1/admin", dependencies=[Depends(require_admin)], responses={**ERRORS, **ADMIN_ERRORS}
)


# The handler reads the raw body itself (any format `paperwire ingest` reads), so FastAPI cannot
# describe it: say so in the schema.
INGEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file's contents: JSONL, an arXiv OAI-PMH or Kaggle dump, a results listing ...",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@admin.post("/ingest", openapi_extra=INGEST_BODY)
async def ingest(
    request: Request,
    web: WebDep,
    name: Annotated[
        str, Query(pattern=_NAME.pattern, description="File name; a listing becomes a collection so named.")
    ] = "upload.txt",
    format_name: Annotated[
        str | None,
        Query(
            alias="format",
            description=f"One of {', '.join(FORMATS)}; detected when omitted.",
            json_schema_extra={"enum": [*FORMATS, None]},
        ),
    ] = None,
) -> IngestOut:
    """Import the papers in the request body (any format `paperwire ingest` reads), then index them."""
    if format_name is not None and format_name not in FORMATS:
        known = ", ".join(FORMATS)
        raise WebError(422, "invalid_input", f"unknown format {format_name!r}; use one of {known}")
    body = await request.body()
    if not body:
        raise WebError(422, "invalid_input", "the request body is empty; send the file's contents as it")

    def work(library: Library) -> IngestOut:
        with tempfile.TemporaryDirectory(dir=library.settings.data_dir) as folder:
            path = Path(folder) / name
            path.write_bytes(body)
            report = pipeline.ingest(library.engine, library.settings, [str(path)], format_name, _quiet)
        synced = library.sync()
        counts = report.counts
        return IngestOut(
            run_id=report.run_id, new=counts.new, updated=counts.updated, unchanged=counts.unchanged,
            duplicates=counts.duplicates, bad=counts.bad, indexed=synced.keyword,
            bad_records=[{"location": b.location, "reason": b.reason} for b in report.bad],  # type: ignore[misc]
        )  # fmt: skip

    return await run_in_threadpool(web.read, work)


@admin.post("/reindex")
def reindex(
    web: WebDep,
    check: Annotated[bool, Query(description="Only bring the indexes up to date and repair them.")] = False,
) -> ReindexOut:
    """Rebuild the search indexes from the store, as `paperwire reindex` does (vectors from the cache)."""
    report = web.read(lambda library: library.sync(rebuild=not check))
    return ReindexOut(
        keyword=report.keyword, embedded=report.embedded, vectors=report.vectors, repaired=report.repaired
    )


def _quiet(*_args: object) -> None:
    return None


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs(request: Request, web: WebDep) -> HTMLResponse:
    """The API reference, rendered on the server from the OpenAPI schema (no scripts)."""
    schema = request.app.openapi()
    operations = [
        {"method": method.upper(), "path": path, **operation}
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    return web.templates.TemplateResponse(
        request, "api_docs.html", {"schema": schema, "operations": operations}
    )
