"""The Tantivy keyword index on its own: fields, phrases, exclusions, filters, repair of bad queries."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import shared_path
from paperwire.errors import InputError
from paperwire.search.keyword import (
    _WORD,
    KeywordDoc,
    KeywordIndex,
    TermFinder,
    _best_window,
    _stem,
    analyze,
    highlight,
)
from paperwire.search.query import Filters, parse

# the keyword index (its own files, not the store):
# no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

DOCS = [
    KeywordDoc(1, "2101.00001", "Graph rewiring against over-squashing", "We rewire graphs so messages "
               "travel further in message passing neural networks.", ["Ada Lovelace"], ["cs.LG"],
               "2021-01-05", True),
    KeywordDoc(2, "2201.00002", "Denoising diffusion models for images", "Diffusion models generate "
               "images by reversing a noising process.", ["Alan Turing"], ["cs.CV", "stat.ML"],
               "2022-01-10", False),
    KeywordDoc(3, "2301.00003", "Diffusion on graphs", "Heat diffusion over graph structure for message "
               "passing.", ["Ada Lovelace", "Grace Hopper"], ["cs.LG"], "2023-03-01", False),
    KeywordDoc(4, "2401.00004", "Editing facts in language models", "We edit factual associations "
               "stored in transformer weights.", ["Grace Hopper"], ["cs.CL"], "2024-06-30", True),
]  # fmt: skip


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> KeywordIndex:
    index = KeywordIndex(tmp_path_factory.mktemp("kw") / "keyword")
    index.upsert(DOCS)
    index.commit()
    return index


def keys(index: KeywordIndex, query: str, filters: Filters | None = None) -> list[int]:
    hits, note = index.search(parse(query, filters or Filters()), 10)
    assert note is None, note
    return [hit.key for hit in hits]


def test_words_match_stems_and_title_counts_double(index: KeywordIndex) -> None:
    assert keys(index, "rewired") == [1]  # stemmed: rewire/rewired/rewiring
    assert keys(index, "denoising") == [2]
    # both titles hold "diffusion"; the shorter title and abstract of 3 make its BM25 higher
    assert keys(index, "diffusion") == [3, 2]


def test_phrases_exclusions_and_fields(index: KeywordIndex) -> None:
    assert keys(index, '"message passing"') == [3, 1]
    assert keys(index, "diffusion -images") == [3]
    assert set(keys(index, "author:hopper")) == {3, 4}
    assert keys(index, "diffusion author:lovelace") == [3]  # a field term is required
    assert keys(index, "models cat:cs.CL") == [4]
    assert set(keys(index, "models cat:cs")) == {2, 4}  # an archive matches its categories


def test_filters(index: KeywordIndex) -> None:
    assert set(keys(index, "graph OR models OR diffusion", Filters(since="2022-01-01"))) == {2, 3, 4}
    assert set(keys(index, "graph OR models OR diffusion", Filters(until="2022-12-31"))) == {1, 2}
    assert set(keys(index, "graphs OR facts OR diffusion", Filters(has_code=True))) == {1, 4}
    assert set(keys(index, "diffusion", Filters(categories=("stat",)))) == {2}
    assert set(keys(index, "diffusion since:2023")) == {3}


def test_semantic_candidates_are_checked_against_filters_and_restrictions(index: KeywordIndex) -> None:
    assert index.keys_matching(parse("x -graphs", Filters()), [1, 2, 3, 4]) == {2, 4}
    assert index.keys_matching(parse("x cat:cs.LG", Filters(since="2022")), [1, 2, 3, 4]) == {3}
    assert index.keys_matching(parse("x", Filters()), [1, 2]) == {1, 2}


@pytest.mark.parametrize("query", ['"unclosed phrase', "zzz AND", "((( diffusion", "^~", "I'm diffusion?"])
def test_operators_in_free_text_are_read_as_words(index: KeywordIndex, query: str) -> None:
    hits, note = index.search(parse(query, Filters()), 10)
    assert note is None
    assert {hit.key for hit in hits} == ({2, 3} if "diffusion" in query else set())


def test_a_malformed_field_term_is_searched_as_words_with_a_note(index: KeywordIndex) -> None:
    hits, note = index.search(parse("title:(diffusion", Filters()), 10)
    assert note is not None and "malformed" in note
    assert {hit.key for hit in hits} == {2, 3}


def test_an_unknown_field_is_just_words(index: KeywordIndex) -> None:
    hits, note = index.search(parse("nosuchfield:diffusion", Filters()), 10)
    assert note is None and {hit.key for hit in hits} == {2, 3}


def test_a_phrase_ranks_its_exact_order_first(tmp_path: Path) -> None:
    index = KeywordIndex(tmp_path / "kw")
    index.upsert([
        KeywordDoc(1, "a", "Rewiring of the graph", "We study rewiring of the graph.", [], [], None, False),
        KeywordDoc(2, "b", "Graph rewiring", "We study graph rewiring.", [], [], None, False),
        KeywordDoc(3, "c", "Unrelated", "Nothing here.", [], [], None, False),
    ])  # fmt: skip
    index.commit()
    assert keys(index, '"graph rewiring"') == [2, 1]
    assert keys(index, '"rewiring of the graph"') == [1, 2]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60))
def test_no_query_ever_crashes(index: KeywordIndex, query: str) -> None:
    try:
        parsed = parse(query, Filters())
    except InputError:  # a bad since:/until: date or has: filter is a clear input error
        return
    hits, _ = index.search(parsed, 5)
    assert all(hit.key in {1, 2, 3, 4} for hit in hits)


def test_upsert_replaces_a_document(tmp_path: Path) -> None:
    index = KeywordIndex(tmp_path / "kw")
    index.upsert(DOCS[:2])
    index.commit()
    changed = KeywordDoc(2, "2201.00002", "Consistency models", "One step generation.", [], [], None, False)
    index.upsert([changed])
    index.commit()
    assert len(index) == 2
    assert keys(index, "denoising") == []
    assert keys(index, "consistency") == [2]


def test_similar_papers_share_distinctive_terms(index: KeywordIndex) -> None:
    hits = index.similar(DOCS[0].title, DOCS[0].abstract, 10)
    assert hits[0].key == 1 and hits[1].key == 3  # itself, then the other message-passing graph paper


def test_highlight_marks_stem_matches_in_a_window() -> None:
    terms = TermFinder(analyze("rewiring graphs"))
    segments = highlight("We rewire graphs so that messages pass.", terms)
    assert [text for text, matched in segments if matched] == ["rewire", "graphs"]
    assert "".join(text for text, _ in segments) == "We rewire graphs so that messages pass."
    long = "filler " * 100 + "graph rewiring here " + "tail " * 100
    window = highlight(long, terms, max_chars=120)
    joined = "".join(text for text, _ in window)
    assert window[0] == ("…", False) and window[-1] == ("…", False) and len(joined) <= 124
    assert [text for text, matched in window if matched] == ["graph", "rewiring"]


def test_term_finder_finds_what_stemming_every_word_finds() -> None:
    """On real abstracts, for terms drawn from them: the same words as stemming each word."""
    texts = [line for path in shared_path("seeds").glob("*.txt") for line in path.read_text().splitlines()]
    rng = random.Random(4)
    for text in rng.sample(texts, 120):
        words = analyze(text) or ["none"]
        terms = set(rng.sample(words, min(len(words), rng.randint(1, 6)))) | {"graph", "studi", "ai"}
        finder = TermFinder(terms)
        expected = [m.span() for m in _WORD.finditer(text) if _stem(m.group()) in terms]
        assert finder.spans(text) == expected
        assert finder.found(text) == terms & set(analyze(text))
    assert TermFinder([]).spans("anything") == [] and TermFinder([]).found("anything") == set()


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 12)), max_size=60), st.integers(10, 200))
def test_best_window_covers_the_most_matches(gaps: list[tuple[int, int]], width: int) -> None:
    spans, position = [], 0
    for gap, size in gaps:  # ordered, non-overlapping matches, as a text yields them
        spans.append((position + gap, position + gap + size))
        position += gap + size
    length = position + 50

    def reference(spans: list[tuple[int, int]]) -> int:  # the plain quadratic definition
        if not spans:
            return 0
        best, most = 0, 0
        for i, (a, _) in enumerate(spans):
            if (count := sum(1 for _, e in spans[i:] if e <= a + width)) > most:
                best, most = a, count
        lead = min(best, width // 5)
        return 0 if best - lead <= 0 else max(0, min(best - lead, length - width))

    assert _best_window(spans, length, width) == reference(spans)
