"""What a search asks for: the query text, its filters, sort and page.

Query syntax (a superset of Tantivy's): words, "exact phrases", -excluded, author:name, cat:cs.CV,
title:word, plus filters that paperwire takes out of the text itself:
``since:2024-01-01``, ``until:2024-06`` (also ``before:``/``after:``), ``has:code``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from paperwire.errors import InputError

Sort = Literal["relevance", "newest", "oldest", "trending"]
SORTS: tuple[str, ...] = ("relevance", "newest", "oldest", "trending")

_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?$")
_FILTER = re.compile(r"(?<!\S)(since|after|until|before|has):(\S+)", re.IGNORECASE)
# Field names a query may use, and the index field each one searches.
FIELDS = {"author": "author", "cat": "cat", "category": "cat", "title": "title", "abstract": "text"}
_FIELD_NAMES = "|".join(FIELDS)
_RESTRICTION = re.compile(
    rf"(?<!\S)(?:-(?:(?:{_FIELD_NAMES}):)?(?:\"[^\"]*\"|\S+)|\+?(?:{_FIELD_NAMES}):(?:\"[^\"]*\"|\S+))",
    re.IGNORECASE,
)
_FIELD_NAME = re.compile(rf"^([-+]?)({_FIELD_NAMES}):", re.IGNORECASE)
_PHRASE = re.compile(r"\"([^\"]*)\"")
_WORDS = re.compile(r"[^\W_]+")
_OPERATORS = frozenset({"AND", "OR", "NOT", "IN", "TO"})


# The keyword index stores dates as nanoseconds since 1970 (years 1678 to 2262); filters stay inside.
YEARS = (1700, 2199)


def parse_date(value: str, *, end: bool = False) -> str:
    """'2024', '2024-03' or '2024-03-07' as an ISO date; a partial date is its first (or last) day."""
    match = _DATE.match(value.strip())
    if not match:
        raise InputError(f"{value!r} is not a date", hint="write dates as YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = int(match[1]), match[2], match[3]
    if not YEARS[0] <= year <= YEARS[1]:
        raise InputError(f"{value!r} is out of range", hint=f"dates run from {YEARS[0]} to {YEARS[1]}")
    try:
        if month is None:
            return date(year, 12, 31).isoformat() if end else date(year, 1, 1).isoformat()
        if day is None:
            first = date(year, int(month), 1)
            if not end:
                return first.isoformat()
            following = date(year + (first.month == 12), first.month % 12 + 1, 1)
            return date.fromordinal(following.toordinal() - 1).isoformat()
        return date(year, int(month), int(day)).isoformat()
    except ValueError as exc:
        raise InputError(f"{value!r} is not a valid date: {exc}", hint="check the month and day") from exc


@dataclass(frozen=True)
class Filters:
    """Restrictions every hit satisfies. Dates: inclusive ISO days of publication, else of announcement."""

    since: str | None = None
    until: str | None = None
    categories: tuple[str, ...] = ()  # any of these (prefix "cs" matches "cs.CV")
    has_code: bool = False

    def __post_init__(self) -> None:  # "2024" or "2024-03" become the first (or last) day
        if self.since:
            object.__setattr__(self, "since", parse_date(self.since))
        if self.until:
            object.__setattr__(self, "until", parse_date(self.until, end=True))

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.categories or self.has_code)


@dataclass(frozen=True)
class SearchRequest:
    """One search: the user's query as typed, filters from options, sort and page."""

    query: str
    filters: Filters = field(default_factory=Filters)
    sort: Sort = "relevance"
    limit: int = 10
    offset: int = 0
    mode: Literal["hybrid", "keyword", "semantic"] = "hybrid"
    collapse: bool = True  # one hit per duplicate group (off for evaluation on test collections)

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 200:
            raise InputError(f"limit {self.limit} is out of range", hint="ask for 1 to 200 hits a page")
        if self.offset < 0:
            raise InputError("offset must not be negative", hint="start at offset 0")
        if self.sort not in SORTS:
            raise InputError(f"unknown sort {self.sort!r}", hint=f"use one of: {', '.join(SORTS)}")


@dataclass(frozen=True)
class ParsedQuery:
    """A query split into its parts: what is ranked, what is required, what the embedder reads."""

    words: str  # free words, ranked by BM25 (operators and punctuation removed), phrases' words too
    phrases: tuple[str, ...]  # "quoted phrases": hits holding them rank higher
    restrictions: str  # field terms (+cat:cs.LG) and exclusions (-word), Tantivy syntax
    filters: Filters

    @property
    def semantic(self) -> str:
        """The text to embed: the words, nothing a hit must not contain."""
        return self.words

    @property
    def empty(self) -> bool:
        return not (self.words or self.phrases or self.restrictions)


def parse(query: str, filters: Filters) -> ParsedQuery:
    """Split a query into words, phrases, restrictions and filters (merged with the given ones)."""
    since, until, has_code = filters.since, filters.until, filters.has_code
    for name, value in _FILTER.findall(query):
        name = name.lower()
        if name in ("since", "after"):
            since = parse_date(value)
        elif name in ("until", "before"):
            until = parse_date(value, end=True)
        elif value.lower() == "code":
            has_code = True
        else:
            raise InputError(f"unknown filter has:{value}", hint="the only one is has:code")
    text = _FILTER.sub(" ", query)
    restrictions = " ".join(_restriction(term) for term in _RESTRICTION.findall(text))
    text = _RESTRICTION.sub(" ", text)
    phrases = tuple(plain_words(p) for p in _PHRASE.findall(text) if len(plain_words(p).split()) > 1)
    words = plain_words(text)
    return ParsedQuery(
        words, phrases, restrictions, replace(filters, since=since, until=until, has_code=has_code)
    )


def _restriction(term: str) -> str:
    """A field term made required (cat:cs.LG filters) and named as the index names its field."""
    match = _FIELD_NAME.match(term)
    if match is None:
        return term  # an exclusion of a word or phrase
    sign = match[1] or "+"
    return f"{sign}{FIELDS[match[2].lower()]}:{term[match.end() :]}"


def plain_words(query: str) -> str:
    """The query's words with every operator removed: what a malformed query falls back to."""
    return " ".join(word for word in _WORDS.findall(query) if word not in _OPERATORS)
