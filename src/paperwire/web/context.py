"""What every request handler shares: settings, the Library, the digest service, templates, CSRF signer,
rate limiter."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates

from paperwire.config import Settings
from paperwire.digest.service import Digests
from paperwire.library import Library
from paperwire.web.errors import WebError
from paperwire.web.security import Csrf, RateLimiter, client_key
from paperwire.web.views import external_url, has_math, joined, paper_path

T = TypeVar("T")
TEMPLATES = Path(__file__).parent / "templates"
log = logging.getLogger("paperwire.web")


@dataclass
class Web:
    settings: Settings
    library: Library
    digests: Digests
    templates: Jinja2Templates
    csrf: Csrf
    search_limiter: RateLimiter
    # The Library's indexes and embedder are shared objects made for one caller at a time (the
    # Tantivy writer, the ONNX tokenizer); requests take turns. Workers (processes) run in parallel.
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Emails go out one delivery at a time in a worker: a second delivery would find the outbox's
    # lock file taken and leave its emails to the next digest run.
    mail_lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, work: Callable[[Library], T]) -> T:
        """Run work on the Library, one request at a time."""
        with self.lock:
            return work(self.library)

    def digest(self, work: Callable[[Digests], T]) -> T:
        """Run work on the digest service, under the Library lock (its feeds and clicks use the Library)."""
        with self.lock:
            return work(self.digests)

    def send(self, keys: list[str]) -> None:
        """Send these queued emails now; a background task, after the response.

        Outside the Library lock (sending needs only the database and the SMTP server, and may wait on
        it); an email that cannot go now stays in the outbox for the next digest run.
        """
        if not keys:
            return
        with self.mail_lock:
            try:
                self.digests.deliver(keys)
            except Exception:
                log.exception("sending %s failed; the next digest run sends it", ", ".join(keys))

    def check_csrf(self, request: Request, submitted: str | None) -> None:
        """A 403 unless the form's CSRF token matches the cookie's."""
        if not self.csrf.check(request, submitted):
            raise WebError(
                403,
                "csrf_failed",
                "this form expired or came from another site; reload the page, send it again",
            )

    def limit_search(self, request: Request, scope: str = "search") -> None:
        """Count one search (or subscription) against the client's rate limit; a 429 when it is spent."""
        wait = self.search_limiter.take(f"{scope}:{client_key(request)}")
        if wait > 0:
            seconds = max(1, round(wait + 0.5))
            raise WebError(
                429, "rate_limited",
                f"too many {scope} requests from your address; wait {seconds} s and try again",
                {"Retry-After": str(seconds)},
            )  # fmt: skip


def make_templates() -> Jinja2Templates:
    """Jinja2 templates with autoescaping on for every template."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    templates = Jinja2Templates(env=env)
    templates.env.globals.update(
        paper_path=paper_path, joined=joined, has_math=has_math, external_url=external_url
    )
    return templates


def get_web(request: Request) -> Web:
    """FastAPI dependency: the app's shared state."""
    web: Web = request.app.state.web
    return web


def rate_limited(request: Request) -> None:
    """FastAPI dependency: counts a search (or anything that runs one) against the client's limit."""
    get_web(request).limit_search(request)
