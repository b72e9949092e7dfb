"""Topic groups for a result list, labelled by their distinctive terms, and the overlap of two lists.

Grouping: one Ward tree over the hits' unit vectors (Ward on unit vectors follows cosine distance,
since |a - b|² = 2 - 2 cos(a, b)); or, in keyword-only mode, over LSA-reduced TF-IDF vectors of the
texts. The tree is cut into k clusters, 2 <= k <= max_groups, where the next merge would cost the
most relative to the last one made (the largest relative gap in the dendrogram): a measurement of
where the list stops splitting naturally, with no seed to fix. The cosine silhouette was measured
and rejected: on the mixed seed page it lies between 0.07 and 0.10 for every k from 2 to 8 and peaks
at k = 2, two mixed halves; the gap picks k = 5 there, with diffusion, model editing and graph
papers each in a group of their own.

Clusters smaller than min_size join the group whose centroid is nearest: a result list reads best
with every hit under a real topic, and an "Other" bucket of one or two outliers has no useful label.

Labels: class-based TF-IDF (as in BERTopic) over unigrams and bigrams within phrases, after English
stop words and academic boilerplate are removed; plurals fold into one term ("graphs" -> "graph").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.cluster import AgglomerativeClustering  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import (  # type: ignore[import-untyped]
    ENGLISH_STOP_WORDS,
    CountVectorizer,
    TfidfTransformer,
)

from paperwire.errors import InputError

TERMS = 8  # terms kept per group
LABEL_TERMS = 3  # of which the label shows
LSA_DIMENSIONS = 64  # keyword-only mode: TF-IDF reduced to this many dimensions before clustering
PHRASE_SHARE = 0.75  # of a word's uses in a group that must be in one phrase for the phrase to show
MAX_SHARE = 0.5  # of all hits, for a term to label a group
TOLERANCE = 1e-9  # distances and variances below this are rounding noise
FALLBACK_LABEL = "Other"  # a group whose texts have no usable terms

# Words that say "this is a paper" rather than what it is about, in folded (singular) form; "model"
# too: it is in most abstracts, and "diffusion" says more than "diffusion model".
# fmt: off
BOILERPLATE = frozenset(
    {
        "paper", "propose", "proposed", "method", "approach", "result", "show", "shown", "demonstrate",
        "present", "novel", "new", "work", "existing", "based", "using", "use", "used", "achieve",
        "achieves", "achieved", "experiment", "extensive", "significant", "significantly", "effective",
        "effectively", "state-of-the-art", "outperform", "outperforms", "various", "different",
        "performance", "improve", "improved", "improves", "improvement", "code", "available", "github",
        "http", "https", "www", "com", "org", "furthermore", "additionally", "moreover", "specifically",
        "task", "model", "framework", "study", "introduce", "finding", "provide", "provides", "enable",
        "enables", "address", "problem", "technique", "application",
    }
)
# fmt: on
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | BOILERPLATE

_TOKEN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*|[.,;:!?()\[\]{}\"“”]|\s-\s")


@dataclass(frozen=True)
class TopicGroup:
    """Hits that share a topic: a short label, its best terms, and the hits' input indexes."""

    label: str  # LABEL_TERMS distinctive terms joined by " · ", e.g. "diffusion · denoising · image"
    terms: tuple[str, ...]  # top distinctive terms, best first
    members: tuple[int, ...]  # indexes into the input list, in input order


@dataclass(frozen=True)
class Overlap:
    """Which ids two lists share and which only one of them has."""

    only_a: tuple[str, ...]  # in a's order
    both: tuple[str, ...]  # in a's order
    only_b: tuple[str, ...]  # in b's order
    jaccard: float  # |both| / |a ∪ b|; 0.0 when both lists are empty


def overlap(a: Sequence[str], b: Sequence[str]) -> Overlap:
    """Compare two lists of ids, keeping each list's order; repeated ids count once."""
    first, second = dict.fromkeys(a), dict.fromkeys(b)
    both = tuple(i for i in first if i in second)
    union = len(first) + len(second) - len(both)
    return Overlap(
        only_a=tuple(i for i in first if i not in second),
        both=both,
        only_b=tuple(i for i in second if i not in first),
        jaccard=len(both) / union if union else 0.0,
    )


def topic_groups(
    texts: Sequence[str],
    vectors: npt.NDArray[np.floating] | None,
    max_groups: int = 6,
    min_size: int = 2,
) -> list[TopicGroup]:
    """Group hits by topic, largest group first; vectors None clusters the texts' TF-IDF instead.

    Fewer than min_size hits give no groups, fewer than 2 * min_size one group of all of them.
    """
    if max_groups < 1 or min_size < 1:
        raise InputError(f"max_groups and min_size must be at least 1, not {max_groups} and {min_size}")
    n = len(texts)
    if vectors is not None and (vectors.ndim != 2 or vectors.shape[0] != n):
        raise InputError(f"{n} texts need an array of {n} vectors, not one of shape {vectors.shape}")
    if n < min_size:
        return []
    counts, terms, names = _term_counts(texts)
    if n < 2 * min_size or max_groups == 1 or (vectors is None and not terms):
        clusters = np.zeros(n, dtype=np.intp)  # too few hits to split, or no words to split them by
    else:
        points = _unit(vectors.astype(np.float64) if vectors is not None else _lsa(counts))
        clusters = _merge_small(points, _cluster(points, max_groups, min_size), min_size)
    return _labelled(clusters, counts, terms, names)


# ---------------------------------------------------------------------------------------------------
# clustering


def _unit(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if not np.isfinite(points).all():
        raise InputError("vectors contain NaN or infinite values")
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    return points / np.where(norms > 0, norms, 1.0)


def _lsa(counts: Any) -> npt.NDArray[np.float64]:
    """Texts as LSA coordinates of their TF-IDF vectors: the top singular directions."""
    # terms in one text only cannot pull two texts together; they just add noise
    shared = np.flatnonzero(np.asarray((counts > 0).sum(axis=0)).ravel() >= 2)
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts[:, shared] if shared.size else counts)
    # through the texts x texts Gram matrix: exact, seed-free, and fast while texts << terms
    values, vectors = np.linalg.eigh(np.asarray((tfidf @ tfidf.T).toarray(), dtype=np.float64))
    top = np.argsort(values)[::-1][:LSA_DIMENSIONS]
    top = top[values[top] > TOLERANCE * max(values[top[0]], 1.0)]  # no dimensions of rounding noise
    return np.asarray(vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None)), dtype=np.float64)


def _cluster(points: npt.NDArray[np.float64], max_groups: int, min_size: int) -> npt.NDArray[np.intp]:
    """Cut the Ward tree at the largest relative gap, preferring cuts with two clusters of min_size."""
    n = len(points)
    tree = AgglomerativeClustering(linkage="ward", distance_threshold=0.0, n_clusters=None).fit(points)
    children: npt.NDArray[np.intp] = tree.children_
    heights: npt.NDArray[np.float64] = tree.distances_
    best: tuple[bool, float, int] | None = None  # (two clusters of min_size or more, gap, -k)
    for k in range(2, min(max_groups, n - 1) + 1):  # k = n has no last merge to compare with
        last, following = heights[n - k - 1], heights[n - k]
        if following <= TOLERANCE:
            break  # the k clusters would only split identical points
        gap = following / last if last > TOLERANCE else math.inf
        sizes = np.bincount(_cut(children, n, k))
        score = (bool(np.count_nonzero(sizes >= min_size) >= 2), float(gap), -k)
        if best is None or score > best:
            best = score
    k = -best[2] if best else 1
    return _cut(children, n, k)


def _cut(children: npt.NDArray[np.intp], n: int, k: int) -> npt.NDArray[np.intp]:
    """Cluster of each point after the first n - k merges, numbered by first member."""
    parent = np.arange(2 * n - 1)
    parent[children[: n - k].ravel()] = np.repeat(np.arange(n, 2 * n - k), 2)  # merge i makes node n + i
    roots = np.arange(n)
    while True:  # follow parents until every point sits at its cluster's root
        up = parent[roots]
        if np.array_equal(up, roots):
            break
        roots = up
    _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return np.asarray(order[inverse], dtype=np.intp)


def _merge_small(
    points: npt.NDArray[np.float64], clusters: npt.NDArray[np.intp], min_size: int
) -> npt.NDArray[np.intp]:
    """Move each cluster smaller than min_size, whole, into the group with the nearest centroid."""
    sizes = np.bincount(clusters)
    kept = np.flatnonzero(sizes >= min_size)
    if kept.size == 0:
        return np.zeros_like(clusters)
    centroids = _unit(np.vstack([points[clusters == c].mean(axis=0) for c in range(len(sizes))]))
    nearest = kept[np.argmax(centroids @ centroids[kept].T, axis=1)]
    target = np.where(sizes >= min_size, np.arange(len(sizes)), nearest)
    _, renumbered = np.unique(target[clusters], return_inverse=True)
    return np.asarray(renumbered, dtype=np.intp)


# ---------------------------------------------------------------------------------------------------
# terms and labels


def _fold(word: str) -> str:
    """Singular of a plural word, roughly: "graphs" -> "graph", "studies" -> "study"."""
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    return word[:-1]


def _term_counts(texts: Sequence[str]) -> tuple[Any, list[str], list[str]]:
    """Term counts per text (sparse, texts x terms), the terms (folded), and how each is best written."""
    keys: dict[str, str] = {}  # word -> its folded form, or "" for a stop word
    written: Counter[tuple[str, str]] = Counter()  # (term, as written)

    def analyse(text: str) -> list[str]:
        terms: list[str] = []
        forms: list[str] = []
        previous = ""  # bigrams join neighbouring content words only, never across a stop word or a comma
        for word in _TOKEN.findall(text.lower()):
            key = keys.get(word)
            if key is None:
                key = keys[word] = _fold(word) if word[0].isalpha() else ""  # punctuation ends a phrase
                if len(word) < 2 or word in STOP_WORDS or key in STOP_WORDS:
                    key = keys[word] = ""
            if key:
                terms.append(key)
                forms.append(word)
                if previous:
                    terms.append(f"{keys[previous]} {key}")
                    forms.append(f"{previous} {word}")
            previous = word if key else ""
        written.update(zip(terms, forms, strict=True))
        return terms

    vectorizer = CountVectorizer(analyzer=analyse)
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no text has a single content word
        return np.zeros((len(texts), 0)), [], []
    # a term is shown as it is most often written: "gnns" if so, "network pruning" not "networks pruning"
    shown: dict[str, str] = {}
    for (term, form), _ in sorted(written.items(), key=lambda item: (-item[1], item[0])):
        shown.setdefault(term, form)
    terms = [str(term) for term in vectorizer.get_feature_names_out()]
    return counts.tocsr(), terms, [shown[term] for term in terms]


def _labelled(
    clusters: npt.NDArray[np.intp], counts: Any, terms: list[str], names: list[str]
) -> list[TopicGroup]:
    found = (np.flatnonzero(clusters == c) for c in np.unique(clusters))
    groups = sorted(found, key=lambda m: (-len(m), m[0]))  # largest first, then by first hit
    if not terms:
        return [TopicGroup(FALLBACK_LABEL, (), tuple(int(i) for i in m)) for m in groups]
    per_group = np.vstack([np.asarray(counts[m].sum(axis=0)).ravel() for m in groups]).astype(np.float64)
    texts_with = np.vstack([np.asarray((counts[m] > 0).sum(axis=0)).ravel() for m in groups])
    # c-TF-IDF: a term's share of its group's words, times log(1 + average words per group / the
    # term's count over all groups); terms common to every group sink, a group's own terms rise
    shares = per_group / np.maximum(per_group.sum(axis=1, keepdims=True), 1.0)
    average = per_group.sum() / len(groups)
    weights = shares * np.log1p(average / np.maximum(per_group.sum(axis=0), 1.0))
    # a term in more than half of all the hits (often the query itself) describes the list, not a group
    everyday = texts_with.sum(axis=0) <= MAX_SHARE * len(clusters) if len(groups) > 1 else True
    phrases = _phrases(terms)
    result = []
    for row, members in enumerate(groups):
        # a term must come from two of the group's texts, not from one text repeating its own name
        usable = (weights[row] > 0) & (texts_with[row] >= min(2, len(members)))
        if (usable & everyday).any():
            usable &= everyday
        candidates = np.flatnonzero(usable)
        order = candidates[np.argsort(-weights[row, candidates], kind="stable")]  # ties: alphabetical
        best = _distinct((names[_phrase(t, per_group[row], phrases)] for t in order), TERMS)
        label = " · ".join(best[:LABEL_TERMS]) or FALLBACK_LABEL
        result.append(TopicGroup(label, best, tuple(int(i) for i in members)))
    return result


def _phrases(terms: Sequence[str]) -> dict[int, list[int]]:
    """For each single word, the two-word terms it is part of."""
    words = {term: t for t, term in enumerate(terms) if " " not in term}
    phrases: dict[int, list[int]] = {}
    for t, term in enumerate(terms):
        if " " in term:
            for word in term.split(" "):
                phrases.setdefault(words[word], []).append(t)
    return phrases


def _phrase(term: int, counts: npt.NDArray[np.float64], phrases: dict[int, list[int]]) -> int:
    """The two-word term that a word nearly always comes in within a group ("message passing"), or it."""
    best = max(phrases.get(term, ()), key=lambda t: (counts[t], -t), default=term)
    return best if counts[best] >= PHRASE_SHARE * counts[term] else term


def _stem(word: str) -> str:
    """A word without plural, -ing or -ed, to tell near-repeats apart: "edit", "edits", "editing"."""
    word = _fold(word)
    for ending in ("ing", "ed"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


def _distinct(candidates: Iterable[str], limit: int) -> tuple[str, ...]:
    """The first candidates that share no word stem with a candidate already taken."""
    taken: list[str] = []
    seen: set[str] = set()
    for term in candidates:
        words = {_stem(w) for w in re.split(r"[\s-]+", term) if w not in STOP_WORDS}
        if words & seen:
            continue
        taken.append(term)
        seen |= words
        if len(taken) == limit:
            break
    return tuple(taken)
