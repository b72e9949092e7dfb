"""What searches return: hits that can explain themselves, pages of hits, topic groups."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from paperwire.search.fusion import ALPHA, RRF_K, Fused


@dataclass(frozen=True)
class Explanation:
    """Why a hit is where it is."""

    keyword_rank: int | None
    keyword_score: float | None  # BM25
    matched_terms: tuple[str, ...]  # query terms (stems) found in title or abstract
    semantic_rank: int | None
    similarity: float | None  # cosine of query and paper embeddings
    fused_score: float
    method: str

    @classmethod
    def of(cls, fused: Fused, matched_terms: tuple[str, ...], method: str) -> Explanation:
        return cls(
            fused.keyword_rank, fused.keyword_score, matched_terms, fused.semantic_rank,
            fused.similarity, fused.score, method,
        )  # fmt: skip

    def describe(self) -> str:
        """One line for people, e.g. 'keyword #2 (BM25 7.1; xception, convolut) + semantic #1 ...'."""
        parts = []
        if self.keyword_rank is not None:
            terms = ", ".join(self.matched_terms) or "field match"
            parts.append(f"keyword #{self.keyword_rank} (BM25 {self.keyword_score:.2f}; {terms})")
        if self.semantic_rank is not None:
            parts.append(f"semantic #{self.semantic_rank} (cosine {self.similarity:.3f})")
        if self.method == "rrf":
            return " + ".join(parts) + f" → reciprocal rank fusion (k={RRF_K}) {self.fused_score:.4f}"
        if self.method == "convex":
            how = f"{ALPHA:g}·cosine + {1 - ALPHA:g}·BM25/top BM25"
            return " + ".join(parts) + f" → {how} = {self.fused_score:.3f}"
        return " + ".join(parts) + f" ({self.method} only)"


@dataclass(frozen=True)
class Hit:
    """One paper (the best of its duplicate group) in a result list."""

    id: str
    title: str
    title_raw: str
    authors: list[str]
    categories: list[str]
    published: str | None  # the first version's date, where a source gave one
    announced: str | None  # the first day a daily listing showed it
    abstract: str
    abstract_raw: str
    links: dict[str, Any]
    versions: list[dict[str, Any]]
    duplicates: list[str]  # other papers of its duplicate group
    snippet: list[tuple[str, bool]]  # abstract excerpt as (text, is_match) runs
    explanation: Explanation

    @property
    def date(self) -> str | None:
        """The date that filters and sorts by date go by: published, else announced."""
        return self.published or self.announced

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["date"] = self.date
        data["snippet"] = [{"text": text, "match": match} for text, match in self.snippet]
        data["explanation"]["text"] = self.explanation.describe()
        return data


@dataclass(frozen=True)
class SearchResults:
    query: str
    mode: str  # "hybrid", "keyword" or "semantic": what actually ran
    total: int  # distinct papers among the candidates considered
    offset: int
    hits: list[Hit]
    notes: list[str] = field(default_factory=list)  # e.g. a malformed query read as plain words

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query, "mode": self.mode, "total": self.total, "offset": self.offset,
            "notes": self.notes, "hits": [hit.to_dict() for hit in self.hits],
        }  # fmt: skip


@dataclass(frozen=True)
class Topic:
    """A labelled group of hits from one result list."""

    label: str
    terms: tuple[str, ...]
    hits: list[Hit]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "terms": list(self.terms), "hits": [hit.to_dict() for hit in self.hits]}


@dataclass(frozen=True)
class Comparison:
    """Two lists of papers (collections or searches) compared, a duplicate group counting once."""

    only_a: list[str]  # paper ids, in the first list's order
    both: list[str]
    only_b: list[str]
    jaccard: float
    both_titles: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
