"""The Hugging Face Papers listing reader: header, "Subscribe" prefix, page order, damaged lines."""

from __future__ import annotations

import gzip
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import shared_path
from paperwire.models import BadRecord, RawRecord
from paperwire.sources import detect_format, hf_listing

# the HF listing parser: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = [
    "Get trending papers in your email inbox once a day!",
    "Get trending papers in your email inbox!",
]
PAIRS = [
    ("Teaching Toasters to Count", "We teach a toaster to count slices."),
    ("Subscriber Churn in Bakeries", "A later title starting with 'Subscribe' keeps it."),
    ("Bread $\\alpha$-Crumbs", "Crumbs follow a power law."),
]


def listing(pairs: list[tuple[str, str]] = PAIRS, prefix: str = "Subscribe") -> list[str]:
    lines = list(HEADER)
    for number, (title, abstract) in enumerate(pairs):
        lines += [(prefix if number == 0 else "") + title, abstract]
    return lines


def write(path: Path, lines: list[str] | list[bytes]) -> Path:
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    path.write_bytes(data)
    return path


def records(items: list[RawRecord | BadRecord]) -> list[RawRecord]:
    return [i for i in items if isinstance(i, RawRecord)]


def line_of(item: RawRecord | BadRecord) -> int:
    return int(item.location.rsplit(":", 1)[1])


def test_pairs_in_page_order(tmp_path: Path) -> None:
    path = write(tmp_path / "000_page.txt", listing())
    assert detect_format(path) == "hf-listing"
    items = list(hf_listing.read(path))
    assert all(isinstance(i, RawRecord) for i in items)
    got = records(items)
    assert [(r.title, r.abstract) for r in got] == PAIRS  # "Subscribe" dropped from the first title only
    assert [r.collection for r in got] == [("000_page", 1), ("000_page", 2), ("000_page", 3)]
    assert [r.location for r in got] == [f"{path}:3", f"{path}:5", f"{path}:7"]  # the title's line
    assert {r.source for r in got} == {"hf-listing"}
    assert all(r.source_id is None for r in got)


def test_collection_is_named_after_the_file_before_any_dot(tmp_path: Path) -> None:
    path = write(tmp_path / "weekly.2025-01.txt", listing())
    assert {r.collection[0] for r in records(list(hf_listing.read(path))) if r.collection} == {"weekly"}


def test_without_the_subscribe_prefix(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", listing(prefix=""))
    assert [r.title for r in records(list(hf_listing.read(path)))] == [t for t, _ in PAIRS]


def test_a_lone_subscribe_title_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", [*HEADER, "Subscribe", "An abstract."])
    [record] = list(hf_listing.read(path))
    assert isinstance(record, RawRecord) and record.title == "Subscribe"


def test_blank_lines_bom_and_crlf_are_tolerated(tmp_path: Path) -> None:
    lines = listing()
    data = "\ufeff" + "\r\n\r\n".join(lines) + "\r\n   \r\n"
    path = tmp_path / "p.txt"
    path.write_bytes(data.encode())
    assert detect_format(path) == "hf-listing"
    items = list(hf_listing.read(path))
    assert [(r.title, r.abstract) for r in records(items)] == PAIRS
    assert [r.collection[1] for r in records(items) if r.collection] == [1, 2, 3]


def test_header_lines_only_skipped_before_the_body(tmp_path: Path) -> None:
    # a paper whose abstract happens to equal a header line is still a paper
    path = write(tmp_path / "p.txt", [*HEADER, "Title one", HEADER[1]])
    [record] = list(hf_listing.read(path))
    assert isinstance(record, RawRecord) and record.abstract == HEADER[1]


def test_title_without_abstract_at_the_end_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", [*listing(), "A Title Left Alone"])
    items = list(hf_listing.read(path))
    assert len(records(items)) == 3
    bad = items[-1]
    assert isinstance(bad, BadRecord)
    assert bad.location == f"{path}:9"
    assert "without an abstract" in bad.reason


@pytest.mark.parametrize("broken", [0, 1], ids=["title", "abstract"])
def test_invalid_utf8_skips_only_its_pair(tmp_path: Path, broken: int) -> None:
    lines: list[bytes] = [line.encode() for line in listing()]
    damaged_line = 5 + broken  # the second pair: title on line 5, abstract on line 6
    lines[damaged_line - 1] = b"Caf\xe9 \xff\xfe Latin-1 text"
    path = write(tmp_path / "p.txt", lines)
    items = list(hf_listing.read(path))
    bad = [i for i in items if isinstance(i, BadRecord)]
    assert len(bad) == 1
    assert bad[0].location == f"{path}:{damaged_line}"
    assert "UTF-8" in bad[0].reason
    got = records(items)
    assert [(r.title, r.abstract) for r in got] == [PAIRS[0], PAIRS[2]]
    # the pair after the damage keeps its place on the page
    assert [r.collection[1] for r in got if r.collection] == [1, 3]
    assert [line_of(r) for r in got] == [3, 7]


def test_gzipped_listing(tmp_path: Path) -> None:
    path = tmp_path / "page.txt.gz"
    path.write_bytes(gzip.compress("\n".join(listing()).encode()))
    assert detect_format(path) == "hf-listing"
    assert [(r.title, r.abstract) for r in records(list(hf_listing.read(path)))] == PAIRS


def test_truncated_gzip_listing_keeps_pairs_before_the_damage(tmp_path: Path) -> None:
    pairs = [(f"Title {n}", f"Abstract number {n} " * 10) for n in range(2000)]
    data = gzip.compress("\n".join(listing(pairs)).encode())
    path = tmp_path / "page.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    items: list[RawRecord | BadRecord] = []
    try:
        items.extend(hf_listing.read(path))
    except (EOFError, OSError) as exc:
        pytest.fail(f"read() raised {exc!r} after {len(items)} items")
    got = records(items)
    assert len(got) > 100
    assert [r.title for r in got] == [f"Title {n}" for n in range(len(got))]
    assert isinstance(items[-1], BadRecord)


def test_looks_like() -> None:
    assert hf_listing.looks_like(("\n".join(HEADER)).encode())
    assert hf_listing.looks_like(b"\xef\xbb\xbf" + HEADER[0].encode())
    assert not hf_listing.looks_like(b'{"id": 1}')
    assert not hf_listing.looks_like(b"Some other text file\n")


# ------------------------------------------------------------------ the real seed pages


def test_seed_pages() -> None:
    folder = shared_path("seeds")
    expected = {"000_ead136927b218f15.txt": 119, "001_7f0376ca914509b2.txt": 116}
    for name, count in expected.items():
        path = folder / name
        assert detect_format(path) == "hf-listing"
        items = list(hf_listing.read(path))
        assert len(items) == count and all(isinstance(i, RawRecord) for i in items)
        got = records(items)
        assert [r.collection for r in got] == [(path.stem, n) for n in range(1, count + 1)]
        assert not any(r.title.startswith("Subscribe") for r in got)
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[:2] == HEADER
        assert got[0].title == lines[2].removeprefix("Subscribe")
        assert [r.abstract for r in got] == lines[3::2]
        assert [r.title for r in got[1:]] == lines[4::2]
    first = records(list(hf_listing.read(folder / "000_ead136927b218f15.txt")))[0]
    assert first.title == "Xception: Deep Learning with Depthwise Separable Convolutions"


# ------------------------------------------------------------------ property-based


def model(raw_lines: list[bytes]) -> tuple[list[tuple[int, str, str, int]], list[int]]:
    """What the format promises: (title line, title, abstract, position) per pair; bad lines."""
    body: list[tuple[int, str | None]] = []
    bad: list[int] = []
    for number, data in enumerate(raw_lines, start=1):
        try:
            line: str | None = data.decode("utf-8").lstrip("\ufeff").strip()
        except UnicodeDecodeError:
            line = None
            bad.append(number)
        if line == "" or (not body and line in HEADER):
            continue
        body.append((number, line))
    pairs = []
    for k in range(len(body) // 2):
        (t_line, title), (_, abstract) = body[2 * k], body[2 * k + 1]
        if k == 0 and title and title.startswith("Subscribe") and title != "Subscribe":
            title = title.removeprefix("Subscribe")
        if title is not None and abstract is not None:
            pairs.append((t_line, title, abstract, k + 1))
    if len(body) % 2:
        bad.append(body[-1][0])
    return pairs, bad


def check(raw_lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "page.txt"
        path.write_bytes(b"".join(line + b"\n" for line in raw_lines))
        items = list(hf_listing.read(path))
        location = re.compile(re.escape(str(path)) + r":(\d+)")
        for item in items:
            assert type(item) in (RawRecord, BadRecord)
            assert location.fullmatch(item.location)
            if isinstance(item, RawRecord):
                assert isinstance(item.title, str) and isinstance(item.abstract, str)
        pairs, bad = model(raw_lines)
        got = [
            (line_of(r), r.title, r.abstract, r.collection[1] if r.collection else 0) for r in records(items)
        ]
        assert got == pairs
        assert sorted(line_of(i) for i in items if isinstance(i, BadRecord)) == sorted(bad)


text_line = st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=60)


@FAST
@given(
    lines=st.lists(
        st.one_of(text_line, st.sampled_from([*HEADER, "", "Subscribe", "SubscribeX"])), max_size=20
    )
)
def test_arbitrary_text_lines(lines: list[str]) -> None:
    check([line.encode("utf-8", "surrogatepass") for line in lines])


@FAST
@given(
    lines=st.lists(
        st.one_of(
            text_line.map(lambda s: s.encode("utf-8", "surrogatepass")),
            st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\x1f\x8b", b"?")),
        ),
        max_size=20,
    ),
    with_header=st.booleans(),
)
def test_arbitrary_byte_lines(lines: list[bytes], with_header: bool) -> None:
    check([h.encode() for h in HEADER] + lines if with_header else lines)
