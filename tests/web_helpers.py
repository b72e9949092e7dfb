"""Building data directories and apps for the web tests: the two seed pages plus our dated papers; a real
SMTP server's emails and the links in them."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import orjson
import sqlalchemy as sa

from conftest import shared_path
from mail_server import MailServer
from paperwire import pipeline
from paperwire.config import Settings, load_settings
from paperwire.digest import subscribers
from paperwire.errors import NotFoundError
from paperwire.library import Library
from paperwire.store import schema

WEB_PAPERS = Path(__file__).parent / "fixtures" / "web" / "papers.jsonl"
ART_V_TITLE = r"ART$\boldsymbol{\cdot}$V: Auto-Regressive Text-to-Video Generation with Diffusion Models"
# Script payloads in a title and an abstract; every one must render inert.
XSS_PAPER = {
    "id": "2501.99999",
    "title": "Xception <script>window.__pwned = 'title'</script> "
    "<img src=x onerror=\"window.__pwned='img'\">",
    "abstract": "Xception abstract <script>window.__pwned = 'abstract'</script> "
    "<img src=x onerror=\"window.__pwned='abstract-img'\"> "
    "and math $<img src=x onerror=\"window.__pwned='tex'\">$",
    "authors": "Mallory <b onmouseover=\"window.__pwned='author'\">Evil</b>",
    "categories": "cs.CV",
    "versions": [{"version": "v1", "created": "Tue, 7 Jan 2025 10:00:00 GMT"}],
}


def _quiet(*_args: object) -> None:
    return None


def seed_files() -> list[str]:
    return sorted(str(p) for p in shared_path("seeds").glob("*.txt"))


def build_data_dir(data_dir: Path, **overrides: Any) -> Settings:
    """A data directory holding the seed pages and the web fixture papers, indexed."""
    options: dict[str, Any] = {"demo_corpus": False, "embeddings": False, "search_burst": 100_000}
    settings = load_settings(data_dir=data_dir, **{**options, **overrides})
    with Library(settings) as library:
        pipeline.ingest(library.engine, settings, [*seed_files(), str(WEB_PAPERS)], None, _quiet)
        library.sync()
    return settings


def jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def paper_id_by_title(settings: Settings, title_raw: str) -> str:
    """The id of the paper with this title as received."""
    p = schema.papers
    with Library(settings) as library, library.engine.connect() as conn:
        found = conn.execute(sa.select(p.c.id).where(p.c.title_raw == title_raw)).scalar()
    assert found is not None, title_raw
    return str(found)


def mail_settings(server: MailServer, base_url: str = "http://testserver") -> dict[str, Any]:
    """Settings that send the app's emails to the test SMTP server, their links to the app's address."""
    return {**server.settings(), "smtp_timeout": 10.0, "smtp_retries": 0, "base_url": base_url}


def last_to(server: MailServer, address: str, subject: str = "", timeout: float = 0.0) -> EmailMessage:
    """The newest email to the address (whose subject holds the text), waiting up to `timeout` for one."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in server.mailbox.to(address) if subject in str(m["Subject"])]
        if found or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    assert found, (
        f"no email {subject!r} to {address}; there are {[str(m['To']) for m in server.mailbox.messages]}"
    )
    return found[-1]


def links(message: EmailMessage, path: str) -> list[str]:
    """The links to this path in an email's plain text (path and query), in order."""
    body = cast(EmailMessage, message.get_body(("plain",))).get_content()
    return re.findall(rf"https?://[^/\s]+({re.escape(path)}\?[^\s]+)", body)


def subscriber(settings: Settings, address: str) -> dict[str, Any] | None:
    """The stored subscriber of an address, or None."""
    with Library(settings) as library, library.engine.connect() as conn:
        try:
            return subscribers.find(conn, address)
        except NotFoundError:
            return None
