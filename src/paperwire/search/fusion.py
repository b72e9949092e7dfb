"""Fusing keyword and semantic candidate lists into one ranking, with the parts kept for explaining.

Reciprocal rank fusion (Cormack et al., 2009): score = Σ weight / (k + rank). It needs no score
calibration between BM25 and cosine, which differ in scale from query to query. The weights and k
were chosen on the development collections (see bench/QUALITY.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RRF_K = 60
KEYWORD_WEIGHT = 1.0
SEMANTIC_WEIGHT = 1.0


@dataclass(frozen=True)
class Fused:
    """One candidate with its place in each list (1-based rank; None: not in that list)."""

    key: int
    score: float
    keyword_rank: int | None = None
    keyword_score: float | None = None
    semantic_rank: int | None = None
    similarity: float | None = None

    @property
    def keyword_part(self) -> float:
        return KEYWORD_WEIGHT / (RRF_K + self.keyword_rank) if self.keyword_rank else 0.0

    @property
    def semantic_part(self) -> float:
        return SEMANTIC_WEIGHT / (RRF_K + self.semantic_rank) if self.semantic_rank else 0.0


def fuse(keyword: Sequence[tuple[int, float]], semantic: Sequence[tuple[int, float]]) -> list[Fused]:
    """Candidates from both lists (each (key, score), best first), best fused score first.

    Ties (equal fused score) go to the better keyword rank, then to the lower key, so the order is
    deterministic.
    """
    entries: dict[int, dict[str, float | int]] = {}
    for rank, (key, score) in enumerate(keyword, 1):
        entries.setdefault(key, {}).update(keyword_rank=rank, keyword_score=score)
    for rank, (key, similarity) in enumerate(semantic, 1):
        entries.setdefault(key, {}).update(semantic_rank=rank, similarity=similarity)
    fused = []
    for key, parts in entries.items():
        k_rank, s_rank = parts.get("keyword_rank"), parts.get("semantic_rank")
        score = (KEYWORD_WEIGHT / (RRF_K + k_rank) if k_rank else 0.0) + (
            SEMANTIC_WEIGHT / (RRF_K + s_rank) if s_rank else 0.0
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
