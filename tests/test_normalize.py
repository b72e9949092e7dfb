"""normalize.py: LaTeX to text, whitespace, arXiv ids, code links, dedup keys, RawRecord -> Paper."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import paperwire
from paperwire.models import RawRecord, Version
from paperwire.normalize import (
    _URL,
    MIRROR_HOSTS,
    Normalizer,
    _repair_whitespace,
    _urls,
    clean_whitespace,
    extract_links,
    latex_to_text,
    normalize,
    parse_arxiv_id,
    title_key,
)

# normalisation functions: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEEDS = SHARED_DATA.parent / "seeds"

# text rich in what breaks TeX converters, surrogates and control characters included
TEXISH = st.lists(
    st.one_of(
        st.sampled_from(list("$\\{}[]()^_%&#~'\"`=. \n\t\r-+0123456789")),
        st.sampled_from(
            ["\\frac", "\\emph", "\\cdot", "\\begin{x}", "\\end{x}", "$$", "\\(", "\\]", "pm", "times"]
        ),
        st.sampled_from(["https://", "github.com/", "Code: ", "Project page: ", ".git", ".github.io"]),
        st.characters(codec=None, exclude_categories=()),
    ),
    max_size=80,
).map("".join)
ANY_TEXT = st.one_of(st.text(), TEXISH)
HUGE_TEXT = st.builds(lambda s, n: s * n, TEXISH.filter(bool), st.integers(50, 400))


def raw(title: str = "A title", **fields: Any) -> RawRecord:
    return RawRecord(source="test", location="test:1", title=title, **fields)


# --------------------------------------------------------------------------------------------- latex_to_text


@pytest.mark.parametrize(
    ("tex", "text"),
    [
        (r"ART$\boldsymbol{\cdot}$V", "ART·V"),
        (r"\%", "%"),
        (r"$\mu$P", "μP"),
        (r"$\alpha$-divergence", "α-divergence"),
        (r"\emph{very}", "very"),
        (r"83.59\pm2.11\%", "83.59±2.11%"),
        # half-stripped by an earlier converter
        ("83.59pm2.11%", "83.59±2.11%"),
        ("1.3-2.4times", "1.3-2.4×"),
        ("10000times", "10000×"),
        ("ARTcdotV", "ART·V"),
        # accents, groups, escapes
        (r"C. Bal\'azs", "C. Balázs"),
        (r"{\"u}ber", "über"),
        (r"\v{s}", "š"),
        (r"{\em x}", "x"),
        (r"\textbf{A}ll \texttt{code}", "All code"),
        (r"\$5", "$5"),
        (r"a $\to$ b \& c", "a → b & c"),
        (r"$\frac{1}{2}$", "1/2"),
        (r"$$x$$ and \(y\) and \[z\]", "x and y and z"),
        (r"\begin{equation}x=1\end{equation}", "x=1"),
        (r"30$^\circ$ or 30{\deg}", "30° or 30°"),
        (r"En$\unicode{x2013}$De", "En–De"),
        (r"\href{https://x.org/a}{here}", "here <https://x.org/a>"),
        (r"\url{https://x.org/a}", "https://x.org/a"),
        (r"as in \cite{smith}.", "as in ."),
        (r"$10\%$ of", "10% of"),
        # authors' own macros keep their name in text; unknown markup in math goes
        (r"\ours{} beats \method", "ours beats method"),
        (r"$\bm{x}$", "x"),
    ],
)
def test_latex_to_text_examples(tex: str, text: str) -> None:
    assert latex_to_text(tex) == text


def test_latex_to_text_superscript_is_readable() -> None:
    assert latex_to_text("O($n^2$)") in ("O(n^2)", "O(n²)")


@pytest.mark.parametrize(
    "text",
    [
        "10 times faster",
        "an anecdote, 3 times",
        "Plain abstract with (parentheses), 42% and ~10 items.",
        "a development at 5pm",
        "",
    ],
)
def test_latex_to_text_leaves_plain_text_alone(text: str) -> None:
    assert latex_to_text(text) is text


def test_latex_to_text_keeps_plain_text_around_spans_exactly() -> None:
    assert latex_to_text("Hello,  world\n $x$  !\t\\%") == "Hello,  world\n x  !\t%"


@pytest.mark.parametrize(
    ("tex", "text"),
    [
        ("costs $5 today", "costs 5 today"),  # unbalanced $: dropped, content kept
        ("$a", "a"),
        (r"\textbf{a {b}", "{a {b}"),  # unbalanced brace: no crash, text kept
        ("a stray \\", "a stray "),
        (r"C:\Users", "C:Users"),
        (r"\verb", "verb"),  # pylatexenc raises on this one
        ("$x$$y$", "xy"),  # paired left to right, as TeX does
    ],
)
def test_latex_to_text_malformed_falls_back_to_raw_text(tex: str, text: str) -> None:
    assert latex_to_text(tex) == text


@given(ANY_TEXT)
def test_latex_to_text_never_raises(text: str) -> None:
    assert isinstance(latex_to_text(text), str)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HUGE_TEXT)
def test_latex_to_text_never_raises_on_huge_text(text: str) -> None:
    assert isinstance(latex_to_text(text), str)


@pytest.mark.parametrize(
    "text",
    [
        "\\a{" * 5000,
        "$" * 10001,
        "{\\" * 5000,
        "\\[" * 3000,
        "\\begin{x}" * 2000,
        "$" + "{" * 3000 + "$",
        "\\textbf" + "{" * 3000 + "}" * 3000,
        "https://github.com/" + "a(" * 5000,
    ],
)
def test_pathological_input_is_handled(text: str) -> None:
    assert isinstance(latex_to_text(text), str)
    assert isinstance(title_key(text), str)
    assert extract_links(text) is not None


@given(
    st.lists(
        st.sampled_from(["a", "x^2", r"\alpha", r"\frac{1}{2}", r"\mathbf{X}", "1+1", r"\%"]), min_size=1
    )
)
def test_balanced_math_leaves_no_dollar(parts: list[str]) -> None:
    text = " and ".join(f"${p}$" for p in parts)
    assert "$" not in latex_to_text(text)


# ------------------------------------------------------------------------------------------ clean_whitespace


@pytest.mark.parametrize(
    ("raw_text", "clean"),
    [
        ("line one\nline two", "line one line two"),
        ("First paragraph.\n  Second paragraph.", "First paragraph.\n\nSecond paragraph."),
        ("a question?\n  Methods: we", "a question?\n\nMethods: we"),
        ("a line that\n  continues mid-sentence", "a line that continues mid-sentence"),
        ("a.\n\n\n\nb", "a.\n\nb"),
        ("a\n \n b", "a\n\nb"),
        ("a \t  b", "a b"),
        ("  padded  \n", "padded"),
        ("nul\x00 bell\x07 del\x7f", "nul bell del"),
        ("windows\r\nline", "windows line"),
        ("\nwrapped at\nthe margin\n", "wrapped at the margin"),
        ("", ""),
    ],
)
def test_clean_whitespace_examples(raw_text: str, clean: str) -> None:
    assert clean_whitespace(raw_text) == clean


def test_clean_whitespace_without_paragraphs_for_titles() -> None:
    assert clean_whitespace("A title that wraps.\n  Onto a second line", paragraphs=False) == (
        "A title that wraps. Onto a second line"
    )


@given(ANY_TEXT, st.booleans())
def test_clean_whitespace_is_idempotent(text: str, paragraphs: bool) -> None:
    once = clean_whitespace(text, paragraphs=paragraphs)
    assert clean_whitespace(once, paragraphs=paragraphs) == once
    assert "  " not in once and "\n\n\n" not in once and once == once.strip()
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f\ud800-\udfff]", once)


# hard-wrapped text and its near misses: the cases clean_whitespace() takes without regexes
WRAPPED = st.lists(
    st.sampled_from(["word", "Word.", "é", " ", "  ", "\n", "\n\n", "\n ", "\t", "\r", "\x00", "\x1c"]),
    max_size=30,
).map("".join)


@given(st.one_of(ANY_TEXT, WRAPPED), st.booleans())
def test_clean_whitespace_shortcuts_equal_the_full_repair(text: str, paragraphs: bool) -> None:
    assert clean_whitespace(text, paragraphs=paragraphs) == _repair_whitespace(text, paragraphs)


# ------------------------------------------------------------------------------------------- parse_arxiv_id


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("2503.13531", ("2503.13531", None)),
        ("0704.0001", ("0704.0001", None)),
        ("1501.00001v2", ("1501.00001", 2)),
        ("1412.9999", ("1412.9999", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("cond-mat/0102536", ("cond-mat/0102536", None)),
        # the subject class is not part of an old-style identifier
        ("math.GT/0309136v1", ("math/0309136", 1)),
        ("arXiv:2503.13531v3", ("2503.13531", 3)),
        ("oai:arXiv.org:2503.13531", ("2503.13531", None)),
        ("oai:arXiv.org:hep-th/9901001", ("hep-th/9901001", None)),
        ("http://arxiv.org/abs/2503.13531v1", ("2503.13531", 1)),
        ("https://arxiv.org/abs/2503.13531", ("2503.13531", None)),
        ("https://arxiv.org/pdf/2503.13531v2.pdf", ("2503.13531", 2)),
        ("https://arxiv.org/pdf/2503.13531", ("2503.13531", None)),
        ("http://export.arxiv.org/abs/hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("export.arxiv.org/abs/2503.13531", ("2503.13531", None)),
        ("https://huggingface.co/papers/2503.13531", ("2503.13531", None)),
        ("  2503.13531\n", ("2503.13531", None)),
    ],
)
def test_parse_arxiv_id_accepts(text: str, parsed: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "1234.5",
        "scifact:12",
        "",
        "2513.00001",  # month 13
        "0703.0001",  # before the new scheme
        "1501.1234",  # 4-digit number after 2014
        "1412.12345",  # 5-digit number before 2015
        "2503.13531v0",
        "hep-th/9913001",
        "https://example.org/abs/2503.13531",
        "2503.13531 and more",
        "t:0123456789abcdef",
    ],
)
def test_parse_arxiv_id_rejects(text: str) -> None:
    assert parse_arxiv_id(text) is None


@st.composite
def arxiv_ids(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        yymm = draw(st.integers(704, 3012).filter(lambda n: 1 <= n % 100 <= 12))
        digits = 5 if yymm >= 1501 else 4
        return f"{yymm:04d}.{draw(st.integers(1, 10**digits - 1)):0{digits}d}"
    archive = draw(
        st.sampled_from(["hep-th", "hep-ph", "astro-ph", "cond-mat", "math", "cs", "quant-ph", "gr-qc"])
    )
    year = draw(st.sampled_from([*range(91, 100), *range(8)]))
    return f"{archive}/{year:02d}{draw(st.integers(1, 12)):02d}{draw(st.integers(1, 999)):03d}"


@given(
    arxiv_ids(),
    st.one_of(st.none(), st.integers(1, 99)),
    st.sampled_from(
        [
            "{}",
            "arXiv:{}",
            "oai:arXiv.org:{}",
            "http://arxiv.org/abs/{}",
            "https://arxiv.org/abs/{}",
            "https://arxiv.org/pdf/{}",
            "https://arxiv.org/pdf/{}.pdf",
            "export.arxiv.org/abs/{}",
            "https://huggingface.co/papers/{}",
        ]
    ),
)
def test_parse_arxiv_id_round_trip(bare: str, version: int | None, form: str) -> None:
    text = form.format(bare + (f"v{version}" if version else ""))
    assert parse_arxiv_id(text) == (bare, version)


# -------------------------------------------------------------------------------------------- extract_links


@pytest.mark.parametrize(
    ("text", "code", "project"),
    [
        (
            "One-Class Novelty Detection task. Code: https://github.com/DonaldRR/SimpleNet.",
            ["https://github.com/DonaldRR/SimpleNet"],
            [],
        ),
        ("Repository: https://github.com/basiralab/X-Node.", ["https://github.com/basiralab/X-Node"], []),
        (
            "Our code is available at https://github.com/ajbrock/SMASH",
            ["https://github.com/ajbrock/SMASH"],
            [],
        ),
        (
            "algorithms (https://github.com/DSE-MSU/DeepRobust/tree/master/deeprobust/graph). The",
            ["https://github.com/DSE-MSU/DeepRobust/tree/master/deeprobust/graph"],
            [],
        ),
        (
            "release our code here: https://github.com/Fi/NeuroAda.git.",
            ["https://github.com/Fi/NeuroAda"],
            [],
        ),
        (
            "at {{https://github.com/giangdip2410/HyperRouter}}.",
            ["https://github.com/giangdip2410/HyperRouter"],
            [],
        ),
        ("see github.com/foo/bar; thanks", ["https://github.com/foo/bar"], []),
        (
            "http://gitlab.com/a/b, http://bitbucket.org/c/d",
            ["https://gitlab.com/a/b", "https://bitbucket.org/c/d"],
            [],
        ),
        ("at https://codeberg.org/x/y and https://sourceforge.net/projects/z/", None, []),
        (
            "under the Apache-2.0 license.https://hf.mirrork.net/XiaoduoAILab/Xmodel-2.5 and "
            "https://hf-mirror.com/datasets/a/b (data)",
            ["https://huggingface.co/XiaoduoAILab/Xmodel-2.5", "https://huggingface.co/datasets/a/b"],
            [],
        ),
        ("https://huggingface.co/papers/2503.13531 and https://huggingface.co/spaces/a/b", None, []),
        ("Project page: https://scedit.github.io/", [], ["https://scedit.github.io"]),
        (
            "Our project website is available at https://aniaggarwal.github.io/ecad and our code is "
            "available at https://github.com/aniaggarwal/ecad.",
            ["https://github.com/aniaggarwal/ecad"],
            ["https://aniaggarwal.github.io/ecad"],
        ),
        ("Homepage: https://www.example.org/proj.", [], ["https://www.example.org/proj"]),
        ("Website: http://lab.example.edu/x", [], ["https://lab.example.edu/x"]),
        ("Code: https://anonymous.4open.science/r/X-1797/", ["https://anonymous.4open.science/r/X-1797"], []),
        ("Code and models: https://lab.example.edu/release", ["https://lab.example.edu/release"], []),
        # no cue, or a cue that belongs to an earlier URL: not a code or project link
        ("Data are at https://zenodo.org/records/1.", [], []),
        ("Our code (https://github.com/a/b) and video (https://lab.example.edu/v) are out.", None, []),
        ("see https://arxiv.org/abs/2503.13531 for the code", [], []),
        ("mail foo@github.com", [], []),
        (r"\url{https://github.com/a/my\_repo}", ["https://github.com/a/my_repo"], []),
        ("same https://github.com/a/b twice https://github.com/a/b/", ["https://github.com/a/b"], []),
        ("", [], []),
    ],
)
def test_extract_links_examples(text: str, code: list[str] | None, project: list[str]) -> None:
    found_code, found_project = extract_links(text)
    if code is None:  # the hosts count, the exact URLs are checked elsewhere
        assert found_code and all(url.startswith("https://") for url in found_code)
        assert not any("/papers/" in url for url in found_code)
        assert not any("lab.example.edu" in url for url in found_code)
    else:
        assert found_code == code
    assert found_project == project


def test_mirror_hosts_can_be_extended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MIRROR_HOSTS, "gh.mirror.example", "github.com")
    assert extract_links("Code: https://gh.mirror.example/a/b") == (["https://github.com/a/b"], [])


@given(ANY_TEXT)
def test_extract_links_never_raises(text: str) -> None:
    code, project = extract_links(text)
    assert all(url.startswith("https://") for url in code + project)


# text dense in what URLs are made of: schemes, hosts in any case, host characters, separators
URLISH = st.lists(
    st.one_of(
        st.sampled_from(["http", "HTTPS", "://", "github.com", "GitHub.COM", "hf.co", "hf.mirrork.net"]),
        st.sampled_from(["www.", "a-b.", "9", ".", "-", "_", "@", "/", ":", " ", "(", "é", "İ", "\u212a"]),
    ),
    max_size=25,
).map("".join)


@given(st.one_of(URLISH, ANY_TEXT))
def test_urls_are_what_the_url_regex_finds(text: str) -> None:
    assert [m.span() for m in _urls(text)] == [m.span() for m in _URL.finditer(text)]


def test_seed_pages_code_links() -> None:
    pages = sorted(SEEDS.glob("*.txt"))
    if not pages:
        pytest.skip(f"{SEEDS} is not available")
    code = [url for page in pages for url in extract_links(page.read_text(encoding="utf-8"))[0]]
    assert "https://github.com/DonaldRR/SimpleNet" in code
    assert "https://huggingface.co/XiaoduoAILab/Xmodel-2.5" in code
    assert not [url for url in code if url.endswith((".", ")", ".git", ",")) or "mirrork" in url]


# ---------------------------------------------------------------------------------------- title_key


def test_title_key() -> None:
    assert (
        title_key(r"ART$\boldsymbol{\cdot}$V: Auto-Regressive  Text-to-Video")
        == "art v auto regressive text to video"
    )
    assert title_key("ARTcdotV") == title_key(r"ART$\boldsymbol{\cdot}$V")
    assert title_key("Über Café Straße, naïve ﬁx!") == "uber cafe strasse naive fix"
    assert title_key("") == ""


@given(ANY_TEXT)
def test_title_key_equals_its_unicode_definition(text: str) -> None:
    decomposed = unicodedata.normalize("NFKD", latex_to_text(text))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    assert title_key(text) == " ".join(re.findall(r"[a-z0-9]+", bare.casefold()))


# -------------------------------------------------------------------------------------------------- normalize


def test_normalize_arxiv_record() -> None:
    paper = normalize(
        raw(
            "ART$\\boldsymbol{\\cdot}$V:  Auto-Regressive\n  Text-to-Video",
            abstract="Unlike ARTcdotV we get 83.59pm2.11%.\nCode:\nhttps://github.com/a/b.\n  Second one.",
            source_id="2401.00001v3",
            authors=["  C. Bal\\'azs ", "", "  ", "Jane\n  Doe"],
            categories=[" cs.CV", "cs.LG ", "cs.CV"],
            comment="  10 pages,\n  project page: https://x.github.io/p ",
            journal_ref=" ",
            doi="10.1/xyz",
        )
    )
    assert paper.id == "2401.00001"
    assert paper.versions == [Version(3, None)]
    assert paper.published is None and paper.updated is None
    assert paper.title_raw == r"ART$\boldsymbol{\cdot}$V: Auto-Regressive Text-to-Video"
    assert paper.title == "ART·V: Auto-Regressive Text-to-Video"
    assert paper.abstract_raw == (
        "Unlike ARTcdotV we get 83.59pm2.11%. Code: https://github.com/a/b.\n\nSecond one."
    )
    assert paper.abstract.startswith("Unlike ART·V we get 83.59±2.11%.")
    assert paper.authors == ["C. Balázs", "Jane Doe"]
    assert paper.categories == ["cs.CV", "cs.LG"]
    assert paper.comment == "10 pages, project page: https://x.github.io/p"
    assert paper.journal_ref is None
    assert paper.doi == "10.1/xyz"
    assert paper.links == {
        "abs": "https://arxiv.org/abs/2401.00001",
        "pdf": "https://arxiv.org/pdf/2401.00001",
        "code": ["https://github.com/a/b"],
        "project": ["https://x.github.io/p"],
    }
    assert re.fullmatch(r"[0-9a-f]{32,}", paper.content_hash)


def test_normalize_versions_and_dates() -> None:
    paper = normalize(
        raw(
            source_id="arXiv:2401.00001v2",
            versions=[(3, "2024-03-01"), (2, None), (1, None), (1, "2024-01-01")],
        )
    )
    assert paper.versions == [Version(1, "2024-01-01"), Version(2, None), Version(3, "2024-03-01")]
    assert (paper.published, paper.updated) == ("2024-01-01", "2024-03-01")
    given_dates = normalize(raw(source_id="2401.00001", versions=[(1, "2024-01-01")], published="2023-12-31"))
    assert (given_dates.published, given_dates.updated) == ("2023-12-31", "2024-01-01")
    assert normalize(raw(source_id="2401.00001")).versions == []
    odd = [(0, None), (-1, "2020-01-01"), ("3", " 2024-01-03 "), ("x", None), "ab", (4,), None]
    assert normalize(raw(source_id="2401.00001", versions=odd)).versions == [Version(3, "2024-01-03")]


def test_normalize_keeps_given_links_first() -> None:
    paper = normalize(
        raw(
            abstract="Code: https://github.com/from/abstract",
            source_id="hep-th/9901001",
            links={"abs": "https://arxiv.org/abs/hep-th/9901001v1", "code": "https://github.com/given/repo/"},
        )
    )
    assert paper.links["abs"] == "https://arxiv.org/abs/hep-th/9901001v1"
    assert paper.links["pdf"] == "https://arxiv.org/pdf/hep-th/9901001"
    assert paper.links["code"] == ["https://github.com/given/repo", "https://github.com/from/abstract"]
    assert "project" not in paper.links


def test_normalize_ids_without_arxiv() -> None:
    assert normalize(raw(source_id="scifact:4983")).id == "scifact:4983"
    assert normalize(raw(source_id="scifact:4983")).links == {}
    assert normalize(raw(categories=["cs.CL cs.LG", "cs.CL"])).categories == ["cs.CL", "cs.LG"]
    key = title_key("Channel Pruning for Accelerating Very Deep Neural Networks")
    expected = "t:" + hashlib.sha1(key.encode()).hexdigest()[:16]
    assert normalize(raw("Channel Pruning for Accelerating Very Deep Neural Networks")).id == expected
    # the same title from two listing pages is one paper
    assert normalize(raw("  channel pruning for accelerating\n very deep neural networks.")).id == expected
    assert normalize(raw("", source_id="  ")).id.startswith("t:")
    assert normalize(raw("深度学习")).id != normalize(raw("强化学习")).id


NAMES = st.lists(
    st.one_of(
        st.sampled_from(["Ada Lovelace", " Alan  Turing ", "Paul Erd\\H{o}s", "$x$", "cs.LG cs.AI", "10pm4"]),
        st.sampled_from(["", " ", "A\x00B", "Ana\nRosa", "x\u00a0y", "icdot"]),
        ANY_TEXT,
    ),
    max_size=6,
)


@given(NAMES)
def test_authors_and_categories_equal_cleaning_each_name(names: list[str]) -> None:
    paper = normalize(raw(authors=names, categories=names))
    cleaned = [clean_whitespace(name, paragraphs=False) for name in names]
    assert paper.authors == [a for a in (latex_to_text(c).strip() for c in cleaned) if a]
    assert paper.categories == list(dict.fromkeys(c for name in cleaned for c in name.split()))


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A title", "Another title"]),
            st.sampled_from(["Plain text.", "With $x^2$ and https://github.com/a/b"]),
            st.sampled_from([None, "2025-03-18", "2025-03-19"]),
            st.sampled_from([None, {"upvotes": 3}, {"upvotes": 4}]),
            st.sampled_from([None, ("page", 1), ("page", 2)]),
        ),
        max_size=30,
    ),
    st.integers(1, 3),
)
def test_normalizer_equals_normalize(
    rows: list[tuple[str, str, str | None, dict[str, int] | None, tuple[str, int] | None]], remember: int
) -> None:
    normalizer = Normalizer(remember)
    for number, (title, abstract, announced, signals, collection) in enumerate(rows):
        record = raw(title, abstract=abstract, announced=announced, signals=signals, collection=collection)
        record.location = f"test:{number}"
        assert normalizer(record) == normalize(record)
    odd = raw(links={1: "https://github.com/a/b"})  # type: ignore[dict-item]  # a reader's bug
    assert normalizer(odd) == normalize(odd)


def test_normalize_copies_source_signals_collection() -> None:
    paper = normalize(raw(signals={"upvotes": 3}, collection=("000_page", 7), announced="2025-03-18"))
    assert (paper.source, paper.signals, paper.collection) == ("test", {"upvotes": 3}, ("000_page", 7))
    assert paper.announced == "2025-03-18"


def test_content_hash_is_stable_and_sensitive() -> None:
    record: dict[str, Any] = {
        "title": "A title",
        "abstract": "An abstract.",
        "source_id": "2401.00001v1",
        "authors": ["A"],
    }
    first = normalize(raw(**record)).content_hash
    assert normalize(raw(**record)).content_hash == first
    changes: list[dict[str, Any]] = [
        {"title": "A title!"},
        {"abstract": "Another abstract."},
        {"authors": ["B"]},
        {"categories": ["cs.LG"]},
        {"comment": "v2"},
        {"doi": "10.1/x"},
        {"versions": [(2, "2024-01-02")]},
        {"links": {"code": "https://github.com/a/b"}},
    ]
    for change in changes:
        assert normalize(raw(**{**record, **change})).content_hash != first, change
    # signals, listings and collections are not content
    unchanged: dict[str, Any] = {
        "signals": {"upvotes": 9},
        "collection": ("page", 1),
        "announced": "2025-01-01",
    }
    assert normalize(raw(**record, **unchanged)).content_hash == first
    # the same input hashes the same in another process, whatever its hash seed
    program = (
        "from paperwire.models import RawRecord; from paperwire.normalize import normalize; "
        "print(normalize(RawRecord(source='test', location='test:1', title='A title', "
        "abstract='An abstract.', source_id='2401.00001v1', authors=['A'])).content_hash)"
    )
    other = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PYTHONPATH": str(Path(paperwire.__file__).parents[1])},
    )
    assert other.stdout.strip() == first


@given(
    title=ANY_TEXT,
    abstract=ANY_TEXT,
    source_id=st.one_of(st.none(), ANY_TEXT, arxiv_ids()),
    authors=st.lists(ANY_TEXT, max_size=4),
    categories=st.lists(ANY_TEXT, max_size=3),
    comment=st.one_of(st.none(), ANY_TEXT),
    versions=st.lists(st.tuples(st.integers(-5, 50), st.one_of(st.none(), ANY_TEXT)), max_size=4),
    links=st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=3),
)
@settings(max_examples=150, deadline=None)
def test_normalize_never_raises(
    title: str,
    abstract: str,
    source_id: str | None,
    authors: list[str],
    categories: list[str],
    comment: str | None,
    versions: list[tuple[int, str | None]],
    links: dict[str, str],
) -> None:
    record = raw(
        title,
        abstract=abstract,
        source_id=source_id,
        authors=authors,
        categories=categories,
        comment=comment,
        versions=versions,
        links=links,
    )
    paper = normalize(record)
    assert paper.id and paper.content_hash == normalize(record).content_hash
    assert [v.number for v in paper.versions] == sorted({v.number for v in paper.versions})
    assert all(v.number >= 1 for v in paper.versions)
    assert all(isinstance(url, str) for key in ("code", "project") for url in paper.links.get(key, []))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HUGE_TEXT)
def test_normalize_never_raises_on_huge_text(text: str) -> None:
    assert normalize(raw(text, abstract=text, comment=text, authors=[text])).id


# ----------------------------------------------------------------------------------------------- real records


def _balanced(text: str) -> bool:
    return "\\$" not in text and text.count("$") % 2 == 0


def test_real_daily_records() -> None:
    files = sorted((SHARED_DATA / "arxiv" / "daily_arxiv_jsonl").glob("*.jsonl.gz"))
    if not files:
        pytest.skip(f"{SHARED_DATA / 'arxiv'} is not available")
    records: list[dict[str, Any]] = []
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            records += [json.loads(line) for line in lines]
        if len(records) >= 5000:
            break
    with_tex = 0
    for obj in records[:5000]:
        record = RawRecord(
            source="arxiv-daily",
            location=str(obj["id"]),
            title=str(obj["title"]),
            abstract=str(obj["summary"]),
            source_id=str(obj["id"]),
            authors=list(obj["authors"]),
            categories=list(obj["categories"]),
            comment=obj["comment"],
        )
        paper = normalize(record)
        assert parse_arxiv_id(str(obj["id"])) == (paper.id, None)
        assert paper.links["abs"] == f"https://arxiv.org/abs/{paper.id}"
        with_tex += "$" in record.abstract
        if _balanced(record.abstract):
            assert "$" not in paper.abstract, record.abstract
        if _balanced(record.title):
            assert "$" not in paper.title, record.title
        if "backslash" not in record.abstract:  # \textbackslash and \backslash print one
            assert "\\" not in paper.abstract, record.abstract
    assert with_tex > 100
