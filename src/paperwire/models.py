"""Plain data carried between the layers: what sources yield, what normalisation produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RawRecord:
    """One paper as a source delivered it, before normalisation.

    Sources fill what they know and leave the rest empty; nothing here is cleaned yet.
    """

    source: str  # format name, e.g. "arxiv-daily", "oai-pmh", "hf-listing"
    location: str  # "file:line" or "url#offset", for error reports
    title: str
    abstract: str = ""
    source_id: str | None = None  # the source's own id (an arXiv id, possibly with a version)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    # (version number, ISO 8601 date or None), in any order
    versions: list[tuple[int, str | None]] = field(default_factory=list)
    published: str | None = None  # ISO date of the first version, where known
    updated: str | None = None  # ISO date of the latest change, where known
    announced: str | None = None  # ISO date a daily listing showed it, where known
    links: dict[str, str] = field(default_factory=dict)  # abs, pdf, code, project
    # external popularity signals (Hugging Face daily papers): upvotes, comments, github_repo, ...
    signals: dict[str, Any] | None = None
    # ordered lists the record belongs to (e.g. one imported results page): (name, position)
    collection: tuple[str, int] | None = None


@dataclass(slots=True)
class BadRecord:
    """A record a source could not read; reported with its location, then skipped."""

    location: str
    reason: str


@dataclass(slots=True)
class Version:
    number: int
    date: str | None


@dataclass(slots=True)
class Paper:
    """A normalised paper, ready for the store."""

    id: str  # arXiv id without version, or "<namespace>:<key>" for other corpora
    title: str  # plain Unicode, for indexing and plain text
    title_raw: str  # as received (LaTeX kept), for rendering
    abstract: str
    abstract_raw: str
    authors: list[str]
    categories: list[str]
    comment: str | None
    journal_ref: str | None
    doi: str | None
    versions: list[Version]
    published: str | None
    updated: str | None
    announced: str | None  # not part of content_hash: a re-listing changes nothing stored
    # the listing date of the record whose text this is; breaks ties between records without
    # versions or update dates, so re-ingesting old listings never overrides newer text
    listed: str | None
    links: dict[str, Any]  # abs, pdf: str; code, project: list[str]
    source: str
    content_hash: str  # changes whenever anything stored about the paper changes
    signals: dict[str, Any] | None = None
    collection: tuple[str, int] | None = None


@dataclass(slots=True)
class IngestCounts:
    """What one ingest run did."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # new papers that joined an existing duplicate group
    bad: int = 0

    @property
    def seen(self) -> int:
        return self.new + self.updated + self.unchanged + self.bad

    def add(self, other: IngestCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.duplicates += other.duplicates
        self.bad += other.bad
