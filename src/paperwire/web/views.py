"""What pages show: paper cards built from hits or stored papers, search parameters, pages, BibTeX."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Query

from paperwire.errors import InputError
from paperwire.normalize import parse_arxiv_id
from paperwire.search.query import Filters, SearchRequest
from paperwire.search.results import Hit
from paperwire.trending import TrendingList
from paperwire.web.errors import WebError

PAGE_SIZE = 10
# TeX math the browser renders with KaTeX: $...$, $$...$$, \(...\), \[...\]
_MATH = re.compile(r"\$[^$]+\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)


def has_math(text: str) -> bool:
    return bool(_MATH.search(text))


def external_url(url: str) -> str:
    """An http(s) address as it is; anything else (javascript:, data:) becomes '#'."""
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else "#"


def paper_path(paper_id: str) -> str:
    """The page of a paper (ids may hold '/' and ':')."""
    return "/paper/" + quote(paper_id, safe="/:")


@dataclass(frozen=True)
class Card:
    """One paper as a result list shows it."""

    id: str
    title: str
    title_tex: str | None  # the title as received, when it holds math for KaTeX
    authors: list[str]
    published: str | None
    categories: list[str]
    abstract: str
    snippet: list[tuple[str, bool]]  # abstract excerpt as (text, is_match) runs
    code: list[str]
    versions: int
    duplicates: int
    why: str | None = None  # how the search ranked it
    note: str | None = None  # shown under its title, e.g. why it is trending

    @property
    def url(self) -> str:
        return paper_path(self.id)

    @classmethod
    def of_hit(cls, hit: Hit) -> Card:
        """A hit's card: its excerpt marks the query's terms (or, for related papers, the shared
        distinctive ones)."""
        return cls(
            id=hit.id, title=hit.title, title_tex=hit.title_raw if has_math(hit.title_raw) else None,
            authors=hit.authors, published=hit.date, categories=hit.categories,
            abstract=hit.abstract, snippet=hit.snippet, code=list(hit.links.get("code") or []),
            versions=len(hit.versions), duplicates=len(hit.duplicates), why=hit.explanation.describe(),
        )  # fmt: skip

    @classmethod
    def of_paper(cls, paper: dict[str, Any], excerpt: int = 320) -> Card:
        abstract: str = paper["abstract"]
        short = abstract if len(abstract) <= excerpt else abstract[:excerpt].rsplit(" ", 1)[0] + " …"
        return cls(
            id=paper["id"], title=paper["title"],
            title_tex=paper["title_raw"] if has_math(paper["title_raw"]) else None,
            authors=paper["authors"], published=paper["published"] or paper.get("announced"),
            categories=paper["categories"], abstract=abstract, snippet=[(short, False)],
            code=list(paper["links"].get("code") or []), versions=len(paper["versions"]),
            duplicates=len(paper["duplicates"]),
        )  # fmt: skip


# -- search parameters, shared by pages, API and feeds ---------------------------------------------

Sort = Literal["relevance", "newest", "oldest"]


@dataclass(frozen=True)
class SearchParams:
    q: str
    since: str | None = None
    until: str | None = None
    categories: tuple[str, ...] = ()
    has_code: bool = False
    sort: Sort = "relevance"
    filters: Filters = field(default_factory=Filters)

    def request(self, limit: int, offset: int = 0, mode: str = "hybrid") -> SearchRequest:
        return SearchRequest(self.q, self.filters, self.sort, limit, offset, mode)  # type: ignore[arg-type]

    def items(self, **changes: object) -> list[tuple[str, str]]:
        """The parameters as query-string pairs (empty ones left out), with changes applied."""
        values: dict[str, object] = {
            "q": self.q, "since": self.since, "until": self.until,
            "category": " ".join(self.categories), "has_code": "1" if self.has_code else None,
            "sort": None if self.sort == "relevance" else self.sort,
        }  # fmt: skip
        values.update(changes)
        if values.get("page") == 1:
            values["page"] = None  # the first page has one address
        return [(k, str(v)) for k, v in values.items() if v not in (None, "")]

    def url(self, path: str, **changes: object) -> str:
        pairs = self.items(**changes)
        return f"{path}?{urlencode(pairs)}" if pairs else path


# Published in the OpenAPI schema so clients know what a date is (parse_date checks it, and the days
# a month lacks, with a message that says what to write); years as the keyword index can hold them.
_DATE_SCHEMA: dict[str, Any] = {
    "json_schema_extra": {
        "pattern": "^((1[7-9]|2[01])[0-9]{2}(-(0?[1-9]|1[0-2])(-(0?[1-9]|[12][0-9]|3[01]))?)?)?$",
        "examples": ["2024", "2024-03", "2024-03-07"],
    }
}


def _blank_is_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def search_params(
    q: Annotated[str, Query(max_length=500, description='Words, "phrases", -exclusions, author:...')] = "",
    since: Annotated[
        str | None,
        Query(
            max_length=10, description="Published on or after YYYY, YYYY-MM or YYYY-MM-DD.", **_DATE_SCHEMA
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            max_length=10, description="Published on or before YYYY, YYYY-MM or YYYY-MM-DD.", **_DATE_SCHEMA
        ),
    ] = None,
    category: Annotated[
        list[str] | None,
        Query(max_length=200, description="arXiv categories or archives (cs.CV, cs); repeatable."),
    ] = None,
    has_code: Annotated[bool, Query(description="Only papers with a code link.")] = False,
    sort: Annotated[Sort, Query(description="Order of the hits.")] = "relevance",
) -> SearchParams:
    """The search parameters of a request (a FastAPI dependency); bad dates are a 422."""
    categories = tuple(c for value in category or () for c in re.split(r"[\s,]+", value) if c)
    since, until = _blank_is_none(since), _blank_is_none(until)
    try:
        filters = Filters(since, until, categories, has_code)
    except InputError as exc:
        raise WebError(422, "invalid_input", f"{exc.message}; {exc.hint}") from exc
    return SearchParams(q.strip(), since, until, categories, has_code, sort, filters)


@dataclass(frozen=True)
class Pager:
    """Offset pagination of a page of results, counted from page 1."""

    page: int
    size: int
    shown: int  # hits on this page
    total: int  # about how many there are

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def previous(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next(self) -> int | None:
        return self.page + 1 if self.offset + self.shown < self.total else None

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))


# -- BibTeX ----------------------------------------------------------------------------------------

_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "#": r"\#",
    "_": r"\_", "$": r"\$", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def _bibtex_text(text: str) -> str:
    return "".join(_BIBTEX_SPECIAL.get(ch, ch) for ch in text)


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", folded)


def bibtex(paper: dict[str, Any]) -> str:
    """A BibTeX entry for a paper: @article when it has a journal reference, else @misc."""
    authors: Sequence[str] = paper["authors"]
    year = (paper["published"] or paper.get("announced") or "")[:4]
    first_author = _ascii_word(authors[0].split()[-1]) if authors else ""
    title_word = next((_ascii_word(w) for w in paper["title"].split() if len(_ascii_word(w)) > 3), "paper")
    key = f"{first_author.lower() or 'anon'}{year}{title_word.lower()}"
    fields: list[tuple[str, str]] = [
        ("title", "{" + _bibtex_text(paper["title"]) + "}"),
        ("author", " and ".join(_bibtex_text(a) for a in authors)),
        ("year", year),
        ("journal", _bibtex_text(paper.get("journal_ref") or "")),
        ("doi", paper.get("doi") or ""),
    ]
    if parse_arxiv_id(paper["id"]):
        primary = paper["categories"][0] if paper["categories"] else ""
        fields += [("eprint", paper["id"]), ("archivePrefix", "arXiv"), ("primaryClass", primary)]
    fields.append(("url", paper["links"].get("abs") or ""))
    kind = "article" if paper.get("journal_ref") else "misc"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def joined(names: Iterable[str], limit: int = 6) -> str:
    """Author names for a card: the first few, then 'et al.'."""
    names = list(names)
    return ", ".join(names[:limit]) + (" et al." if len(names) > limit else "")


def trending_cards(ranked: TrendingList, papers: Sequence[dict[str, Any]]) -> list[Card]:
    """Cards of trending papers, each noting why it trends: its signals in the window, or newness."""
    cards = []
    for entry, paper in zip(ranked.papers, papers, strict=True):
        parts = [f"{entry.upvotes} upvotes on Hugging Face"] if entry.upvotes else []
        parts += [f"{n} {kind}{'s' * (n > 1)}" for kind, n in sorted(entry.events.items())]
        note = f"score {entry.score:.2f}: " + (", ".join(parts) if parts else "new, no votes yet")
        cards.append(replace(Card.of_paper(paper), note=note))
    return cards
