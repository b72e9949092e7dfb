"""Response models of the REST API (/api/v1): what the OpenAPI schema promises."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from paperwire.digest.subscribers import CATEGORY, EMAIL, MAX_TOPICS, Preferences, timezones
from paperwire.search.results import Hit
from paperwire.web.views import paper_path

LinkValue = str | list[str]


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable: not_found, invalid_input, rate_limited, ...")
    message: str = Field(description="What happened and what to do next.")


class ErrorOut(BaseModel):
    error: ErrorDetail


class Version(BaseModel):
    number: int
    date: str | None


class SnippetRun(BaseModel):
    text: str
    match: bool = Field(description="Whether this run matched a query term.")


class ExplanationOut(BaseModel):
    keyword_rank: int | None
    keyword_score: float | None = Field(description="BM25.")
    matched_terms: list[str] = Field(description="Query terms (stems) found in title or abstract.")
    semantic_rank: int | None
    similarity: float | None = Field(description="Cosine of query and paper embeddings.")
    fused_score: float
    method: str
    text: str = Field(description="The explanation in one line, for people.")


class HitOut(BaseModel):
    id: str
    url: str = Field(description="The paper's page on this site.")
    title: str
    title_raw: str = Field(description="As received, LaTeX kept for rendering.")
    authors: list[str]
    categories: list[str]
    published: str | None = Field(description="The first version's date, where a source gave one.")
    announced: str | None = Field(description="The first day a daily listing showed it.")
    date: str | None = Field(description="published, else announced: what date filters and sorts use.")
    abstract: str
    abstract_raw: str
    links: dict[str, LinkValue]
    versions: list[Version]
    duplicates: list[str] = Field(description="Other papers of its duplicate group (same work).")
    snippet: list[SnippetRun]
    explanation: ExplanationOut

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        return cls.model_validate({**hit.to_dict(), "url": paper_path(hit.id)})


class SearchOut(BaseModel):
    query: str
    mode: str = Field(description="What ran: hybrid, keyword or semantic.")
    total: int = Field(description="About how many distinct papers match.")
    offset: int
    limit: int
    next_offset: int | None = Field(description="The offset of the next page; null on the last.")
    notes: list[str]
    hits: list[HitOut]


class Duplicate(BaseModel):
    id: str
    title: str


class Membership(BaseModel):
    name: str
    position: int


class PaperOut(BaseModel):
    id: str
    url: str
    title: str
    title_raw: str
    abstract: str
    abstract_raw: str
    authors: list[str]
    categories: list[str]
    comment: str | None
    journal_ref: str | None
    doi: str | None
    published: str | None
    updated: str | None
    announced: str | None
    links: dict[str, LinkValue]
    sources: list[str]
    group_id: str
    first_seen: str
    changed_at: str
    versions: list[Version]
    duplicates: list[Duplicate]
    signals: list[dict[str, Any]]
    collections: list[Membership]

    @classmethod
    def of(cls, paper: dict[str, Any]) -> PaperOut:
        return cls.model_validate({**paper, "url": paper_path(paper["id"])})


class PapersOut(BaseModel):
    total: int
    offset: int
    limit: int
    next_offset: int | None
    papers: list[PaperOut]


class RelatedOut(BaseModel):
    paper_id: str
    hits: list[HitOut]


class TopicOut(BaseModel):
    label: str
    terms: list[str]
    hits: list[HitOut]


class TopicsOut(BaseModel):
    query: str
    topics: list[TopicOut]


class CollectionOut(BaseModel):
    name: str
    source: str | None
    created_at: str
    papers: int


class CollectionItem(BaseModel):
    position: int
    id: str
    title: str
    url: str


class CollectionPage(BaseModel):
    name: str
    total: int
    offset: int
    limit: int
    next_offset: int | None
    items: list[CollectionItem]


class OverlapOut(BaseModel):
    first: str
    second: str
    only_first: list[str] = Field(description="Paper ids only in the first, in its order.")
    both: list[str]
    only_second: list[str]
    jaccard: float
    both_titles: list[str]


class BadRecordOut(BaseModel):
    location: str
    reason: str


class IngestOut(BaseModel):
    run_id: int
    new: int
    updated: int
    unchanged: int
    duplicates: int
    bad: int
    bad_records: list[BadRecordOut]
    indexed: int = Field(description="Documents written to the keyword index afterwards.")


class ReindexOut(BaseModel):
    keyword: int
    embedded: int
    vectors: int
    repaired: list[str]


def next_offset(offset: int, shown: int, total: int) -> int | None:
    return offset + shown if offset + shown < total else None


class TrendingPaperOut(BaseModel):
    paper: PaperOut
    score: float = Field(description="attention + recency (see /trending and paperwire/trending.py).")
    attention: float = Field(description="Decayed votes, views, clicks and imported upvotes in the window.")
    recency: float = Field(description="1 for a paper of the window's last day, halving with age.")
    events: dict[str, int] = Field(description="Events in the window by kind, the duplicate group together.")
    upvotes: int = Field(description="Hugging Face upvotes, newest observation in the window.")


class TrendingOut(BaseModel):
    window: str
    as_of: str = Field(description="The window's last day: the newest day with any news.")
    category: str | None
    papers: list[TrendingPaperOut]


class VoteOut(BaseModel):
    paper_id: str
    counted: bool = Field(description="False when this address had already upvoted the paper.")
    upvotes: int


ZONES: list[JsonValue] = [*sorted(timezones())]
# Not blank to Python's str.strip nor to JSON Schema's (ECMAScript's) \s, which differ on \x1c-\x1f, \x85
Topic = Annotated[str, Field(max_length=200, pattern=r"[^\s\x1c-\x1f\x85]", examples=["diffusion models"])]
Category = Annotated[str, Field(max_length=40, pattern=CATEGORY.pattern, examples=["cs.LG"])]


class SubscribeIn(BaseModel):
    """A subscription to the digest: at least one topic or category."""

    # python-re: the patterns are the digest's own, which the service checks again with Python's re
    model_config = ConfigDict(
        extra="forbid",
        regex_engine="python-re",
        json_schema_extra={
            "anyOf": [
                {"required": ["topics"], "properties": {"topics": {"minItems": 1}}},
                {"required": ["categories"], "properties": {"categories": {"minItems": 1}}},
            ]
        },
    )

    email: str = Field(
        max_length=320, pattern=EMAIL.pattern, examples=["ada@example.org"],
        description="The address that gets the digest, once it confirms the link emailed to it.",
    )  # fmt: skip
    topics: list[Topic] = Field(
        default_factory=list, max_length=MAX_TOPICS, description="Searches in words, one per item."
    )
    categories: list[Category] = Field(
        default_factory=list, max_length=20, description="arXiv categories (cs.LG) or archives (stat)."
    )
    frequency: Literal["daily", "weekly"] = Field("daily", description="daily or weekly.")
    send_hour: int = Field(7, ge=0, le=23, description="The hour of the day it is sent, local time.")
    timezone: str = Field("UTC", description="An IANA time zone.", json_schema_extra={"enum": ZONES})
    max_papers: int = Field(10, ge=1, le=50, description="At most this many papers in one digest.")
    empty_note: bool = Field(False, description="A short note when nothing new matches, instead of nothing.")

    def preferences(self) -> Preferences:
        return Preferences(
            topics=[t.strip() for t in self.topics], categories=[c.strip() for c in self.categories],
            frequency=self.frequency, send_hour=self.send_hour, timezone=self.timezone,
            max_papers=self.max_papers, empty_note=self.empty_note,
        )  # fmt: skip


class SubscribeOut(BaseModel):
    message: str = Field(description="The same whatever the address: no sign whether it was subscribed.")
