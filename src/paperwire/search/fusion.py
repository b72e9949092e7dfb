"""Fusing keyword and semantic candidate lists into one ranking, with the parts kept for explaining.

Two methods, chosen between by measurement on the development collections (bench/QUALITY.md):
- "rrf", reciprocal rank fusion (Cormack et al., 2009): score = Σ 1 / (k + rank);
- "convex", a convex combination of scores (Bruch et al., 2023): α·cosine + (1-α)·BM25/max BM25.
  The cosine is used as it is, not rescaled, so a query the embedding model does not understand
  (low similarities everywhere, e.g. a rare model name) leaves the ranking to the keyword side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

RRF_K = 60
ALPHA = 0.5  # weight of the semantic side in the convex combination
Method = Literal["rrf", "convex"]


@dataclass(frozen=True)
class Fused:
    """One candidate with its place in each list (1-based rank; None: not in that list)."""

    key: int
    score: float
    keyword_rank: int | None = None
    keyword_score: float | None = None
    semantic_rank: int | None = None
    similarity: float | None = None


def fuse(
    keyword: Sequence[tuple[int, float]], semantic: Sequence[tuple[int, float]], method: Method = "convex"
) -> list[Fused]:
    """Candidates from both lists (each (key, score), best first), best fused score first.

    Ties go to the better keyword rank, then to the lower key, so the order is deterministic.
    """
    entries: dict[int, dict[str, float]] = {}
    for rank, (key, score) in enumerate(keyword, 1):
        entries.setdefault(key, {}).update(keyword_rank=rank, keyword_score=score)
    for rank, (key, similarity) in enumerate(semantic, 1):
        entries.setdefault(key, {}).update(semantic_rank=rank, similarity=similarity)
    top_bm25 = max((score for _, score in keyword), default=0.0) or 1.0
    fused = []
    for key, parts in entries.items():
        k_rank, s_rank = parts.get("keyword_rank"), parts.get("semantic_rank")
        if method == "rrf":
            score = (1 / (RRF_K + k_rank) if k_rank else 0.0) + (1 / (RRF_K + s_rank) if s_rank else 0.0)
        else:
            score = (
                ALPHA * parts.get("similarity", 0.0)
                + (1 - ALPHA) * parts.get("keyword_score", 0.0) / top_bm25
            )
        fused.append(
            Fused(
                key=key, score=score,
                keyword_rank=int(k_rank) if k_rank else None, keyword_score=parts.get("keyword_score"),
                semantic_rank=int(s_rank) if s_rank else None, similarity=parts.get("similarity"),
            )
        )  # fmt: skip
    fused.sort(key=lambda f: (-f.score, f.keyword_rank or 1 << 30, f.key))
    return fused
