"""The emails' text: multipart plain text and HTML from the Jinja2 templates beside this module."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
ABSTRACT_CHARS = 300


@dataclass(frozen=True)
class Entry:
    title: str
    authors: str
    date: str
    why: str
    abstract: str  # its first lines, LaTeX already made readable Unicode by the importer
    url: str
    code: str | None = None
    up: str = ""
    down: str = ""


@dataclass
class DigestView:
    recipient: str
    frequency: str
    subject: str
    intro: str
    entries: list[Entry]
    note: str  # shown instead of entries when there are none
    manage_url: str
    unsubscribe_url: str
    trending: list[Entry] = field(default_factory=list)
    trending_scope: str = ""


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )


def first_lines(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """The text cut at a word boundary near `limit` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(",;:.") + "…"


def authors_line(authors: list[str], shown: int = 3) -> str:
    if len(authors) <= shown:
        return ", ".join(authors)
    return f"{', '.join(authors[:shown])} and {len(authors) - shown} more"


def render(name: str, context: dict[str, Any]) -> tuple[str, str]:
    """(plain text, HTML) of the template pair `name`.txt and `name`.html."""
    env = _environment()
    return env.get_template(f"{name}.txt").render(context), env.get_template(f"{name}.html").render(context)


def digest(view: DigestView) -> tuple[str, str]:
    return render("digest", vars(view))


def notice(subject: str, lead: str, action: str, url: str, after: str) -> tuple[str, str]:
    """A one-link email: confirm a subscription, or open the manage page."""
    return render("notice", {"subject": subject, "lead": lead, "action": action, "url": url, "after": after})
