"""MinHash signatures match datasketch; LSH keys find near-duplicates and keep distinct papers apart."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from paperwire import dedup

# the fingerprint and grouping functions: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

ABSTRACT = (
    "In this paper, we introduce a new channel pruning method to accelerate very deep convolutional "
    "neural networks. Given a trained CNN model, we propose an iterative two-step algorithm to "
    "effectively prune each layer, by a LASSO regression based channel selection and least square "
    "reconstruction."
)


def reference(text: str) -> np.ndarray:
    """datasketch's MinHash over the same shingle hashes."""
    m = MinHash(num_perm=dedup.NUM_PERM, seed=dedup.SEED, hashfunc=int)
    for value in dedup.shingle_hashes(text).tolist():
        m.update(value)
    return m.hashvalues.astype(np.uint32)


def test_signatures_equal_datasketch() -> None:
    texts = [ABSTRACT, "a b", "graph rewiring with delay for message passing networks", ""]
    ours = dedup.signatures(texts)
    for text, sig in zip(texts[:3], ours[:3], strict=True):
        assert np.array_equal(sig, reference(text))
    assert np.all(ours[3] == dedup.EMPTY)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=20))
def test_batched_signatures_do_not_depend_on_batch(texts: list[str]) -> None:
    together = dedup.signatures(texts)
    alone = np.vstack([dedup.signatures([t]) for t in texts])
    assert np.array_equal(together, alone)


@given(st.one_of(st.text(), st.text(alphabet=st.characters(max_codepoint=127))))
def test_words_are_the_regex_words(text: str) -> None:
    assert dedup._words(text) == [word.encode() for word in dedup.WORD.findall(text.lower())]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(),
            st.text(alphabet=st.characters(max_codepoint=127)),
            st.text(alphabet="ab \u00e9", max_size=400),  # words longer than 48 bytes too
        ),
        max_size=12,
    )
)
def test_shingle_values_are_crc32_of_three_words_mixed(texts: list[str]) -> None:
    # what the vectorised word hashing must equal: zlib.crc32 of each word, three by three
    m0, m1 = (int(m) for m in dedup._SHINGLE_MIX)
    expected: list[int] = []
    for text in texts:
        words = [word.encode() for word in dedup.WORD.findall(text.lower())]
        h = [zlib.crc32(word) for word in words]
        if len(words) >= dedup.SHINGLE:
            expected += [(h[i] * m0 + h[i + 1] * m1 + h[i + 2]) % 2**32 for i in range(len(h) - 2)]
        elif words:
            expected.append(zlib.crc32(b" ".join(words)))
    values, counts = dedup._shingle_values(texts)
    assert values.tolist() == expected
    assert sum(counts) == len(expected) and len(counts) == len(texts)


def test_shingles_ignore_case_punctuation_and_repeats() -> None:
    assert np.array_equal(
        dedup.shingle_hashes("Deep nets, deep NETS!"), dedup.shingle_hashes("deep nets deep nets")
    )
    assert len(dedup.shingle_hashes("a b")) == 1 and len(dedup.shingle_hashes("")) == 0
    assert len(dedup.shingle_hashes("one two three one two three")) == 3


def test_near_duplicate_matches_and_shares_a_key() -> None:
    edited = ABSTRACT.replace("network", "net").replace("accelerate", "speed up")
    a, b = dedup.fingerprints(["Channel Pruning", "Pruning Channels"], [ABSTRACT, edited])
    assert set(a.keys) & set(b.keys)
    assert dedup.match_score(b, a, 0.6) is not None


def test_unrelated_abstracts_do_not_match() -> None:
    other = (
        "We study the over-squashing of information in graph neural networks and rewire graphs with delay."
    )
    a, b = dedup.fingerprints(["X-Teaming", "X-Teaming Evolutionary M2S"], [ABSTRACT, other])
    assert dedup.match_score(b, a, 0.6) is None


def test_same_long_title_without_abstract_matches_but_short_titles_do_not() -> None:
    a, b = dedup.fingerprints(["A Study of Very Deep Networks", "A study of very deep networks."], ["", ""])
    assert dedup.match_score(b, a, 0.6) is not None
    c, d = dedup.fingerprints(["Editorial", "Editorial"], ["", ""])
    assert c.title_hash is None and dedup.match_score(d, c, 0.6) is None


def test_fingerprint_round_trips_through_bytes() -> None:
    (f,) = dedup.fingerprints(["Some title of a paper"], [ABSTRACT])
    back = dedup.Fingerprint.from_stored(f.to_bytes(), f.title_hash)
    assert np.array_equal(back.signature, f.signature) and back.title_hash == f.title_hash
