"""The query language: filters taken out of the text, field terms required, plain-word fallback."""

from __future__ import annotations

import pytest

from paperwire.errors import InputError
from paperwire.search.fusion import ALPHA, RRF_K, fuse
from paperwire.search.query import Filters, SearchRequest, parse, parse_date, plain_words

# query parsing and rank fusion: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store


def test_filters_leave_the_text_and_merge_with_options() -> None:
    parsed = parse("diffusion since:2022 until:2023-02 has:code", Filters(categories=("cs.CV",)))
    assert parsed.words == "diffusion" and not parsed.restrictions and not parsed.phrases
    expected = Filters(since="2022-01-01", until="2023-02-28", categories=("cs.CV",), has_code=True)
    assert parsed.filters == expected


def test_field_terms_are_required_and_exclusions_restrict() -> None:
    parsed = parse('"graph rewiring" in GNNs -oversmoothing cat:cs.LG author:"Di Giovanni"', Filters())
    assert parsed.phrases == ("graph rewiring",)
    assert parsed.words == "graph rewiring in GNNs"  # a phrase's words count as words too
    assert parsed.restrictions == '-oversmoothing +cat:cs.LG +author:"Di Giovanni"'
    assert parsed.semantic == "graph rewiring in GNNs"  # no excluded word, no field values


def test_field_names_are_known_and_mapped() -> None:
    parsed = parse("Category:cs.CV abstract:diffusion -title:survey note: x:y", Filters())
    assert parsed.restrictions == "+cat:cs.CV +text:diffusion -title:survey"
    assert parsed.words == "note x y"


def test_words_lose_operators_and_punctuation() -> None:
    parsed = parse("I'm (interested) in message-passing AND graphs?", Filters())
    assert parsed.words == "I m interested in message passing graphs"
    assert parsed.restrictions == "" and parsed.phrases == ()


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [("2024", "2024-01-01", "2024-12-31"), ("2024-02", "2024-02-01", "2024-02-29"),
     ("2023-12", "2023-12-01", "2023-12-31"), ("2024-03-07", "2024-03-07", "2024-03-07")],
)  # fmt: skip
def test_partial_dates_cover_their_whole_period(value: str, start: str, end: str) -> None:
    assert parse_date(value) == start
    assert parse_date(value, end=True) == end


@pytest.mark.parametrize(
    "bad", ["yesterday", "2024-13", "2024-02-30", "24-01-01", "1200", "9999-01"]
)  # the index holds 1678-2262
def test_bad_dates_say_how_to_write_them(bad: str) -> None:
    with pytest.raises(InputError, match=bad) as error:
        parse(f"x since:{bad}", Filters())
    assert error.value.hint


def test_unknown_has_filter_is_an_input_error() -> None:
    with pytest.raises(InputError, match="has:pdf"):
        parse("x has:pdf", Filters())


def test_plain_words_drop_every_operator() -> None:
    assert plain_words('foo:bar ( "x AND -y^2~ [a TO b]') == "foo bar x y 2 a b"


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"sort": "random"}])
def test_bad_requests_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        SearchRequest("x", **kwargs)  # type: ignore[arg-type]


def test_rrf_adds_reciprocal_ranks_and_keeps_the_parts() -> None:
    fused = fuse([(1, 9.0), (2, 5.0), (3, 1.0)], [(3, 0.9), (4, 0.8), (1, 0.7)], "rrf")
    by_key = {f.key: f for f in fused}
    assert by_key[1].score == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 3))
    assert by_key[3].score == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert by_key[4].keyword_rank is None and by_key[4].semantic_rank == 2
    # 1 and 3 tie on score; the better keyword rank goes first. Both lists beat either one alone.
    assert [f.key for f in fused] == [1, 3, 2, 4]


def test_convex_fusion_mixes_cosine_and_bm25_relative_to_the_best() -> None:
    fused = fuse([(1, 10.0), (2, 5.0)], [(2, 0.8), (3, 0.6)], "convex")
    scores = {f.key: f.score for f in fused}
    assert scores == pytest.approx({1: (1 - ALPHA) * 1.0, 2: ALPHA * 0.8 + (1 - ALPHA) * 0.5, 3: ALPHA * 0.6})
    # low similarities everywhere (a term the model does not know) leave the keyword order alone
    weak = fuse([(1, 10.0), (2, 9.0)], [(3, 0.12), (2, 0.10), (1, 0.05)], "convex")
    assert [f.key for f in weak] == [1, 2, 3]


@pytest.mark.parametrize("method", ["rrf", "convex"])
def test_fusion_of_one_list_keeps_its_order(method: str) -> None:
    assert [f.key for f in fuse([], [(5, 0.9), (2, 0.8), (7, 0.1)], method)] == [5, 2, 7]  # type: ignore[arg-type]
    assert fuse([], [], method) == []  # type: ignore[arg-type]
