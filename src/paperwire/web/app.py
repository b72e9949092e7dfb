"""The web application: `create_app(settings)` builds everything a worker needs, nothing at import."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from paperwire import __version__, demo
from paperwire.config import Settings, load_settings
from paperwire.digest.service import Digests
from paperwire.keys import load_secret
from paperwire.library import Library
from paperwire.web import api, feeds, pages, subscriptions
from paperwire.web.access_log import AccessLog, configure_access_log
from paperwire.web.context import Web, make_templates
from paperwire.web.errors import install_error_handlers
from paperwire.web.scheduler import Scheduler
from paperwire.web.security import BodyLimit, Csrf, DropNul, RateLimiter, SecurityHeaders

STATIC = Path(__file__).parent / "static"
PREPARED_VARIABLE = "PAPERWIRE_WEB_PREPARED"  # set by `paperwire serve` for its worker processes
DESCRIPTION = """Search papers by words and meaning, read them with their versions, duplicates and code
links, find related papers and topic groups, compare collections, subscribe an address to the digest.

Errors always have the shape `{"error": {"code": "...", "message": "..."}}`; the message says what to
do next. Searches and subscriptions are rate-limited per client address (429 with a Retry-After
header). Lists use offset pagination: `offset` and `limit` in, `total` (about how many there are) out."""


def prepare(library: Library) -> None:
    """Import the demo corpus into an empty data directory and bring the indexes up to date."""
    demo.ensure_demo(library.engine, library.settings)
    library.sync()


def create_app(settings: Settings, prepared: bool = False) -> FastAPI:
    """The paperwire web app over the settings' data directory (prepared: skip `prepare`)."""
    library = Library(settings)
    if not prepared:
        prepare(library)
    web = Web(
        settings, library, Digests(library), make_templates(), Csrf(load_secret(settings)),
        RateLimiter(settings.search_rate, settings.search_burst),
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler = Scheduler(settings, web.mail_lock) if settings.digest_scheduler else None
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await run_in_threadpool(scheduler.stop)
            library.close()

    app = FastAPI(
        title="paperwire API", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None,
    )  # fmt: skip
    app.state.web = web
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(api.admin)
    app.include_router(feeds.router)
    app.include_router(pages.router)
    app.include_router(subscriptions.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        with library.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return {"status": "ok"}

    # added innermost first: the access log sees every request, headers go on every response
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(DropNul)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)
    return app


GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (Python's default: 700)


def app_from_environment() -> FastAPI:
    """The app for uvicorn's workers (`--factory`): settings from PAPERWIRE_* variables, already prepared.

    `paperwire serve` prepares the data directory once before the workers start.
    """
    configure_access_log()
    app = create_app(load_settings(), prepared=os.environ.get(PREPARED_VARIABLE) == "1")
    settle_collector()
    return app


def settle_collector() -> None:
    """For a server process, once its app is built: what exists now (the Library, its indexes'
    Python side, templates) lives as long as the process, so the garbage collector stops walking it
    (`gc.freeze`), and runs its young generation less often. Without this, full collections over the
    result cache and the app stretched the load benchmark's p99 from 142 to 338 ms (bench/WEB.md)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
