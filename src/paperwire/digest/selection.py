"""Choosing each subscriber's papers from the new ones, and saying why.

For a subscriber and each new paper:

    topic(t, p)  = ALPHA * cosine(embedding of topic t, embedding of p)
                 + (1 - ALPHA) * cosine(TF-IDF of t, TF-IDF of p)      (the search's convex fusion,
                                                                         TF-IDF over the new papers)
    liked(l, p)  = cosine(embedding of liked paper l, embedding of p)   ("papers like these")
    relevance(p) = max over topics and liked papers  (the best one is the reason shown)
    score(p)     = relevance(p) + CATEGORY_BONUS * [p is in one of the subscriber's categories]
                 + FEEDBACK_WEIGHT * (P(like | p) - 0.5)   once the subscriber has liked a paper: a
                   logistic regression on paper embeddings, as Scholar Inbox does, of the papers
                   marked up (+1) against those marked down (-1) and BACKGROUND of the new papers
                   (unmarked papers as negatives, as arxiv-sanity's SVM takes every other paper)

A paper qualifies when its relevance reaches MIN_RELEVANCE or it is in one of the categories (a
subscriber of a category wants its papers; ties between those go to the most discussed). Then the
list is diversified by maximal marginal relevance over the embeddings (a candidate's score less
DIVERSITY times its closest similarity to a paper already picked; near-copies above NEAR_COPY are
skipped), with one paper per duplicate group and none the subscriber has already received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from paperwire.search.fusion import ALPHA
from paperwire.search.keyword import analyze

Matrix = npt.NDArray[np.float32]
MIN_RELEVANCE = 0.15  # bench/DIGEST_QUALITY.md: 0.25 sent 3.5 papers a topic, with fewer relevant ones
MIN_KEYWORD_RELEVANCE = 0.1  # without embeddings, relevance is the TF-IDF cosine alone
CATEGORY_BONUS = 0.3
FEEDBACK_WEIGHT = 2.0
BACKGROUND = 50
DIVERSITY = 0.3
NEAR_COPY = 0.92
POOL = 5  # candidates considered for diversity, per paper wanted


def matching(categories: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """The categories that are one of `wanted` or in one of its archives ("cs" holds "cs.CV")."""
    prefixes = tuple(f"{c}." for c in wanted)
    return [c for c in categories if c in wanted or c.startswith(prefixes)]


@dataclass
class NewPapers:
    """The papers a digest chooses from, with what scoring needs of them."""

    ids: list[str]
    titles: list[str]
    texts: list[str]  # title and abstract
    groups: list[str]
    categories: list[list[str]]
    vectors: Matrix | None  # unit rows, or None without embeddings
    attention: npt.NDArray[np.float64]  # trending attention, to order papers of equal interest
    _tfidf: Any = field(default=None, repr=False)
    _vectorizer: Any = field(default=None, repr=False)
    _category_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

        self.index = {paper_id: i for i, paper_id in enumerate(self.ids)}
        if self.ids:
            self._vectorizer = TfidfVectorizer(analyzer=analyze, sublinear_tf=True, dtype=np.float32)
            self._tfidf = self._vectorizer.fit_transform(self.texts)

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def feedback_background(self) -> _Background:
        return _Background(self)

    @cached_property
    def background(self) -> npt.NDArray[np.int64]:
        """BACKGROUND of the papers, the same for every subscriber: the feedback classifier's negatives."""
        order = np.random.default_rng(0).permutation(len(self))
        return np.sort(order[:BACKGROUND])

    def in_categories(self, wanted: Sequence[str]) -> npt.NDArray[np.bool_]:
        """Which papers are listed in one of the categories (an archive holds its categories)."""
        found = np.zeros(len(self), dtype=bool)
        for category in set(wanted):  # each category's papers found once per run, not per subscriber
            if category not in self._category_masks:
                mask = np.array([bool(matching(cats, [category])) for cats in self.categories], dtype=bool)
                mask.flags.writeable = False
                self._category_masks[category] = mask
            found |= self._category_masks[category]
        return found

    def topic_scores(self, topics: Sequence[str], topic_vectors: Matrix | None) -> Matrix:
        """topic(t, p) for every topic (rows) and paper (columns)."""
        if not topics or not self.ids:
            return np.zeros((len(topics), len(self)), dtype=np.float32)
        keyword: Matrix = (self._vectorizer.transform(topics) @ self._tfidf.T).toarray().astype(np.float32)
        if topic_vectors is None or self.vectors is None:
            return keyword
        semantic = topic_vectors @ self.vectors.T
        return np.asarray(ALPHA * semantic + (1 - ALPHA) * keyword, dtype=np.float32)


@dataclass
class Interest:
    """One subscriber's interests, as selection needs them."""

    topics: list[str]
    topic_scores: Matrix  # NewPapers.topic_scores of the topics
    categories: list[str]
    liked_titles: list[str] = field(default_factory=list)
    liked_vectors: Matrix | None = None  # unit rows, one per liked paper
    feedback_vectors: Matrix | None = None  # marked papers (up and down) for the classifier
    feedback_labels: npt.NDArray[np.int8] | None = None  # 1 up, 0 down
    received_groups: set[str] = field(default_factory=set)  # duplicate groups already sent
    limit: int = 10


@dataclass(frozen=True)
class Pick:
    index: int  # into NewPapers
    score: float
    reason: str  # e.g. 'matches your topic "diffusion models" (0.61)'


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))  # 1 / (1 + exp(-z)), without overflow


class _Background:
    """What every subscriber's classifier shares in a run: the background papers' products with
    themselves and with every new paper (the intercept as a constant feature: the +1)."""

    def __init__(self, papers: NewPapers) -> None:
        assert papers.vectors is not None
        self.vectors = papers.vectors[papers.background].astype(np.float64)
        self.gram = self.vectors @ self.vectors.T + 1.0
        self.against_papers = papers.vectors.astype(np.float64) @ self.vectors.T + 1.0


def _feedback(interest: Interest, papers: NewPapers) -> npt.NDArray[np.float64] | None:
    """P(like) of every new paper from the subscriber's marks; None before they like any paper.

    The logistic regression scikit-learn's LogisticRegression(C=1, class_weight="balanced",
    solver="liblinear") fits on the marked papers and the background ones as negatives, solved
    by Newton's method on its dual form: the weights are a combination of the n training vectors
    (their n x n products: the background's computed once per run), so each step solves an n x n
    system, n = marks + BACKGROUND. Same P(like) to 1e-5, 2-4x faster than liblinear."""
    labels, vectors = interest.feedback_labels, interest.feedback_vectors
    if labels is None or vectors is None or papers.vectors is None or not labels.any():
        return None
    shared: _Background = papers.feedback_background
    marked = vectors.astype(np.float64)
    cross = marked @ shared.vectors.T + 1.0
    gram = np.block([[marked @ marked.T + 1.0, cross], [cross.T, shared.gram]])
    y = np.concatenate([labels.astype(np.intp), np.zeros(len(shared.vectors), np.intp)])
    n = len(y)
    t = np.where(y > 0, 1.0, -1.0)
    weight = n / (2.0 * np.bincount(y, minlength=2)[y])  # class_weight="balanced"

    def objective(a: npt.NDArray[np.float64], z: npt.NDArray[np.float64]) -> float:  # C = 1; z = gram @ a
        return float(np.sum(weight * np.logaddexp(0.0, -t * z)) + 0.5 * a @ z)

    a = np.zeros(n)
    for _ in range(50):
        z = gram @ a
        step = np.linalg.solve(
            (weight * _sigmoid(z) * _sigmoid(-z))[:, None] * gram + np.eye(n),
            a - weight * t * _sigmoid(-t * z),  # the gradient is gram @ this
        )
        if np.max(np.abs(step)) < 1e-9:
            break
        before, size, moved = objective(a, z), 1.0, gram @ step
        while objective(a - size * step, z - size * moved) > before and size > 1e-3:  # never uphill
            size /= 2
        a = a - size * step
    scores = (papers.vectors.astype(np.float64) @ marked.T + 1.0) @ a[: len(marked)]
    return _sigmoid(scores + shared.against_papers @ a[len(marked) :])


def select(papers: NewPapers, interest: Interest, allowed: npt.NDArray[np.bool_] | None = None) -> list[Pick]:
    """The subscriber's papers from the new ones (those `allowed`: all by default), best first."""
    n = len(papers)
    if n == 0:
        return []
    sources = [f'matches your topic "{t}"' for t in interest.topics]
    rows = [interest.topic_scores]
    if interest.liked_vectors is not None and papers.vectors is not None and len(interest.liked_vectors):
        rows.append(interest.liked_vectors @ papers.vectors.T)
        sources += [f'is like "{title}", which you liked' for title in interest.liked_titles]
    table = np.vstack(rows) if sum(len(r) for r in rows) else np.zeros((1, n), dtype=np.float32)
    best = table.argmax(axis=0)
    relevance = table[best, np.arange(n)].astype(np.float64)
    in_category = papers.in_categories(interest.categories)
    floor = MIN_RELEVANCE if papers.vectors is not None else MIN_KEYWORD_RELEVANCE
    eligible = (relevance >= floor) | in_category
    if allowed is not None:
        eligible &= allowed
    score = np.where(relevance >= floor, relevance, 0.0) + CATEGORY_BONUS * in_category
    liking = _feedback(interest, papers)
    if liking is not None:
        score = score + FEEDBACK_WEIGHT * (liking - 0.5)
    # equal scores (a category's papers without a topic match) go to the most discussed
    order = np.lexsort((-papers.attention, -score))
    pool: list[int] = []  # the best eligible ones not received yet, as many as the pool holds
    for i in order[eligible[order]].tolist():
        if papers.groups[i] not in interest.received_groups:
            pool.append(i)
            if len(pool) == POOL * interest.limit:
                break
    picks: list[int] = []
    seen_groups: set[str] = set()
    while pool and len(picks) < interest.limit:
        if papers.vectors is not None and picks:
            closeness = (papers.vectors[pool] @ papers.vectors[picks].T).max(axis=1)
            adjusted = score[pool] - DIVERSITY * closeness
            choice = int(np.argmax(adjusted))
            if closeness[choice] >= NEAR_COPY:
                pool.pop(choice)
                continue
        else:
            choice = 0
        index = pool.pop(choice)
        if papers.groups[index] in seen_groups:
            continue
        seen_groups.add(papers.groups[index])
        picks.append(index)

    def reason(i: int) -> str:
        parts = []
        if relevance[i] >= floor:
            parts.append(f"{sources[best[i]]} ({relevance[i]:.2f})")
        if in_category[i]:
            parts.append(f"is in {', '.join(matching(papers.categories[i], interest.categories))}")
        if liking is not None:
            parts.append(f"your feedback rates it {liking[i]:.2f}")
        return "; ".join(parts)

    return [Pick(i, float(score[i]), reason(i)) for i in picks]
