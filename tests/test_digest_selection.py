"""Selection rules on hand-made papers: relevance floor, categories, near-copies, duplicate groups,
papers already received, and the feedback classifier."""

from __future__ import annotations

import numpy as np
import pytest

from paperwire.digest.selection import BACKGROUND, Interest, NewPapers, _feedback, select

# the selection functions over plain vectors:
# no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store


def unit(*rows: list[float]) -> np.ndarray:
    matrix = np.array(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def papers(
    vectors: np.ndarray,
    groups: list[str] | None = None,
    categories: list[list[str]] | None = None,
    texts: list[str] | None = None,
) -> NewPapers:
    n = len(vectors)
    return NewPapers(
        ids=[f"p{i}" for i in range(n)], titles=[f"paper {i}" for i in range(n)],
        texts=texts or [f"a study number {i}" for i in range(n)],
        groups=groups or [f"p{i}" for i in range(n)], categories=categories or [["cs.LG"]] * n,
        vectors=vectors, attention=np.zeros(n),
    )  # fmt: skip


def interest(new: NewPapers, topic: np.ndarray | None, **kwargs: object) -> Interest:
    topics = ["graphs"] if topic is not None else []
    scores = new.topic_scores(topics, topic[None, :] if topic is not None else None)
    return Interest(topics=topics, topic_scores=scores, categories=[], **kwargs)  # type: ignore[arg-type]


def test_only_relevant_papers_best_first_with_the_reason() -> None:
    new = papers(unit([1, 0, 0], [0.8, 0.5, 0], [0, 1, 0], [0.2, 0, 1]))
    picks = select(new, interest(new, unit([1, 0, 0])[0]))
    assert [new.ids[p.index] for p in picks] == ["p0", "p1"]
    assert picks[0].reason.startswith('matches your topic "graphs" (')


def test_near_copies_and_duplicate_groups_give_one_entry() -> None:
    new = papers(unit([1, 0, 0], [1, 0.01, 0], [0.8, 0.6, 0], [0.8, 0, 0.6]), groups=["a", "b", "c", "c"])
    picks = [new.ids[p.index] for p in select(new, interest(new, unit([1, 0, 0])[0]))]
    assert picks[0] == "p0"
    assert "p1" not in picks  # a near-copy of p0 (cosine > 0.99)
    assert len({new.groups[int(pid[1:])] for pid in picks}) == len(picks)  # one per duplicate group


def test_received_groups_and_papers_outside_the_window_are_left_out() -> None:
    new = papers(unit([1, 0, 0], [0.9, 0.3, 0], [0.9, 0, 0.3]))
    chosen = select(
        new, interest(new, unit([1, 0, 0])[0], received_groups={"p0"}), allowed=np.array([1, 1, 0], bool)
    )
    assert [new.ids[p.index] for p in chosen] == ["p1"]


def test_a_category_subscriber_gets_the_category_most_discussed_first() -> None:
    new = papers(
        unit([1, 0, 0], [0, 1, 0], [0, 0, 1]), categories=[["cs.CV"], ["math.AP"], ["cs.LG", "cs.CV"]]
    )
    new.attention = np.array([0.0, 5.0, 3.0])
    wanted = Interest(topics=[], topic_scores=new.topic_scores([], None), categories=["cs"])
    picks = select(new, wanted)
    assert [new.ids[p.index] for p in picks] == ["p2", "p0"]
    assert picks[0].reason == "is in cs.LG, cs.CV"


def test_liked_papers_train_a_classifier_that_reorders() -> None:
    new = papers(unit([1, 1, 0], [1, 0, 1], [1, 0, 0], [0.9, 0.1, 0.1], [0.9, 0.05, 0.2]))
    topic = unit([1, 0, 0])[0]
    assert select(new, interest(new, topic))[0].index == 2
    liked = unit([0, 1, 0], [0.1, 1, 0])
    marks = {"feedback_vectors": liked, "feedback_labels": np.array([1, 1], np.int8)}
    ranked = select(new, interest(new, topic, **marks))
    assert new.ids[ranked[0].index] == "p0" and "your feedback rates it" in ranked[0].reason
    disliked_only = {"feedback_vectors": liked, "feedback_labels": np.array([0, 0], np.int8)}
    assert select(new, interest(new, topic, **disliked_only))[0].index == 2


def test_the_feedback_classifier_is_scikit_learns_logistic_regression() -> None:
    """The dual-form Newton fit gives liblinear's P(like) (C=1, balanced classes, intercept as a
    feature), on marks both ways against the background papers."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    rng = np.random.default_rng(7)
    new = papers(unit(*rng.normal(size=(BACKGROUND + 150, 24)).tolist()))
    marked = unit(*rng.normal(size=(9, 24)).tolist())
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 1, 0], np.int8)
    wanted = interest(new, None, feedback_vectors=marked, feedback_labels=labels)
    ours = _feedback(wanted, new)
    assert ours is not None
    background = new.vectors[new.background]
    reference = LogisticRegression(C=1.0, class_weight="balanced", solver="liblinear", tol=1e-10)
    reference.fit(np.vstack([marked, background]), np.concatenate([labels, np.zeros(BACKGROUND, np.int8)]))
    expected = reference.predict_proba(new.vectors)[:, 1]
    assert np.abs(ours - expected).max() < 1e-4
    assert expected.max() - expected.min() > 0.3  # a real spread, not a flat answer both agree on


def test_keyword_only_when_there_are_no_embeddings() -> None:
    new = papers(unit([1, 0, 0], [0, 1, 0]), texts=["graph neural networks", "protein folding"])
    new.vectors = None
    topics = ["graph networks"]
    chosen = select(new, Interest(topics=topics, topic_scores=new.topic_scores(topics, None), categories=[]))
    assert [new.ids[p.index] for p in chosen] == ["p0"]
