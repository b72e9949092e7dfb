"""The Hugging Face daily-papers reader: real samples, every schema variant, and malformed input."""

from __future__ import annotations

import gzip
import json
import re
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperwire.models import BadRecord, RawRecord
from paperwire.sources import files, hf_daily

# the HF daily parser: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HF_DIR = SHARED_DATA / "arxiv" / "hf_daily_papers"
SAMPLE_COUNTS = {
    "2024-05-27.json": 13,
    "2025-07-22.json": 16,
    "2026-02-18.json": 13,
    "2026-08-21.json": 17,
}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- fixtures written by us


def make_item(number: int = 1, **paper_fields: Any) -> dict[str, Any]:
    """A 2025-style daily-papers item about an invented paper."""
    paper: dict[str, Any] = {
        "id": f"2501.{number:05d}",
        "authors": [
            {"_id": "a1", "name": "Ada Quill", "hidden": False},
            {"_id": "a2", "name": "Bo Marsh", "hidden": True},
        ],
        "publishedAt": "2025-01-09T17:59:58.000Z",
        "submittedOnDailyAt": "2025-01-10T02:11:00.000Z",
        "title": f"Teaching Toasters to Count, part {number}",
        "summary": "We teach a toaster\nto count slices.",
        "upvotes": 40 - number,
        "githubRepo": "https://github.com/example/toaster-count",
        "githubStars": 7,
        "projectPage": "https://example.org/toaster",
        "ai_keywords": ["toasters", "counting"],
    }
    paper.update(paper_fields)
    return {
        "paper": paper,
        "publishedAt": "2025-01-09T12:59:58.000Z",
        "title": paper["title"],
        "summary": paper["summary"],
        "numComments": 2,
        "organization": {"_id": "o1", "name": "toastlab", "fullname": "Toast Lab"},
    }


def write_items(
    directory: Path, items: list[Any], name: str = "2025-01-10.json", indent: int | None = None
) -> Path:
    path = directory / name
    path.write_text(json.dumps(items, indent=indent), encoding="utf-8")
    return path


def read_all(path: Path) -> list[RawRecord | BadRecord]:
    records = list(hf_daily.read(path))
    assert all(isinstance(r, RawRecord | BadRecord) for r in records)
    return records


def good(records: list[RawRecord | BadRecord]) -> list[RawRecord]:
    return [r for r in records if isinstance(r, RawRecord)]


def bad(records: list[RawRecord | BadRecord]) -> list[BadRecord]:
    return [r for r in records if isinstance(r, BadRecord)]


def read_bytes(data: bytes, name: str = "2025-01-10.json") -> list[RawRecord | BadRecord]:
    """Read bytes through a real file, for hypothesis tests (no function-scoped fixtures there)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return read_all(path)


@pytest.fixture
def hf_dir() -> Path:
    if not HF_DIR.is_dir():
        pytest.skip(f"shared sample data not present at {HF_DIR}")
    return HF_DIR


def sample(hf_dir: Path, name: str) -> tuple[Path, list[dict[str, Any]]]:
    path = hf_dir / name
    if not path.is_file():
        pytest.skip(f"sample {name} not present")
    return path, json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the real samples


@pytest.mark.parametrize(("name", "count"), sorted(SAMPLE_COUNTS.items()))
def test_every_sample_parses_cleanly(hf_dir: Path, name: str, count: int) -> None:
    path, items = sample(hf_dir, name)
    records = read_all(path)
    assert bad(records) == []
    assert len(records) == len(items) == count
    assert hf_daily.looks_like(files.head(path))
    for number, (record, item) in enumerate(zip(good(records), items, strict=True), start=1):
        assert record.source == "hf-daily"
        assert record.location == f"{path}#item {number}"
        assert record.source_id == item["paper"]["id"]
        assert record.title == item["paper"]["title"]
        assert record.abstract == item["paper"]["summary"]
        assert record.authors == [a["name"] for a in item["paper"]["authors"]]
        assert record.published == item["paper"]["publishedAt"][:10]
        assert record.announced == name[:10]
        assert record.signals is not None
        assert record.signals["upvotes"] == item["paper"]["upvotes"]
        assert record.signals["comments"] == item["numComments"]
        assert record.signals["listed_on"] == name[:10]


@pytest.mark.parametrize("name", sorted(SAMPLE_COUNTS))
def test_signals_follow_the_data(hf_dir: Path, name: str) -> None:
    path, items = sample(hf_dir, name)
    for record, item in zip(good(read_all(path)), items, strict=True):
        paper, signals = item["paper"], record.signals or {}
        assert signals.get("github_repo") == paper.get("githubRepo")
        assert signals.get("github_stars") == paper.get("githubStars")
        assert record.links.get("code") == paper.get("githubRepo")
        assert signals.get("ai_keywords") == (paper.get("ai_keywords") or None)
        assert signals.get("organization") == (item.get("organization") or {}).get("name")
        assert set(signals) <= {
            "upvotes",
            "comments",
            "github_repo",
            "github_stars",
            "listed_on",
            "ai_keywords",
            "organization",
        }


def test_2024_schema_without_item_summary(hf_dir: Path) -> None:
    path, items = sample(hf_dir, "2024-05-27.json")
    assert all("summary" not in item and "submittedOnDailyAt" not in item["paper"] for item in items)
    first = good(read_all(path))[0]
    assert first.source_id == "2405.15738"
    assert first.abstract.startswith("High-resolution Large Multimodal Models (LMMs)")
    assert first.published == "2024-05-24"
    assert first.announced == "2024-05-27"  # from the file name: 2024 items have no submittedOnDailyAt
    assert first.links == {}
    assert first.signals == {"upvotes": 32, "comments": 3, "listed_on": "2024-05-27"}
    # arXiv's own title (with its line wrap), not the cleaned item-level copy
    assert first.title == "ConvLLaVA: Hierarchical Backbones as Visual Encoder for Large Multimodal\n  Models"


def test_2025_concrete_values(hf_dir: Path) -> None:
    path, _ = sample(hf_dir, "2025-07-22.json")
    record = good(read_all(path))[1]
    assert record.source_id == "2507.15846"
    assert record.links == {
        "code": "https://github.com/ZJU-REAL/GUI-G2",
        "project": "https://zju-real.github.io/GUI-G2/",
    }
    assert record.signals == {
        "upvotes": 28,
        "comments": 4,
        "github_repo": "https://github.com/ZJU-REAL/GUI-G2",
        "github_stars": 18,
        "listed_on": "2025-07-22",
    }
    assert record.published == "2025-07-21"


def test_2026_project_page_duplicates_are_dropped(hf_dir: Path) -> None:
    path, _ = sample(hf_dir, "2026-02-18.json")
    by_id = {r.source_id: r for r in good(read_all(path))}
    # projectPage repeats the GitHub repository: one code link, no project link
    assert by_id["2602.14299"].links == {"code": "https://github.com/MingLiiii/Moltbook_Socialization"}
    assert by_id["2602.15200"].signals is not None
    assert by_id["2602.15200"].signals["organization"] == "MTSAIR"
    assert len(by_id["2602.15763"].authors) == 186


def test_2026_self_link_is_no_project_page(hf_dir: Path) -> None:
    path, _ = sample(hf_dir, "2026-08-21.json")
    by_id = {r.source_id: r for r in good(read_all(path))}
    assert by_id["2608.19861"].links == {"code": "https://github.com/erjui/PolicyGuide"}
    assert by_id["2608.19861"].signals is not None
    assert by_id["2608.19861"].signals["github_stars"] == 0  # zero is a value, kept
    top = by_id["2608.19880"]
    assert top.signals is not None
    assert top.signals["upvotes"] == 163
    assert top.signals["organization"] == "google"
    assert top.signals["ai_keywords"][:2] == ["LLM agents", "Environment Harness"]


def test_gzipped_sample_reads_the_same(hf_dir: Path, tmp_path: Path) -> None:
    path, _ = sample(hf_dir, "2026-02-18.json")
    zipped = tmp_path / "2026-02-18.json.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    assert hf_daily.looks_like(files.head(zipped))
    plain = [(r.source_id, r.signals) for r in good(read_all(path))]
    assert [(r.source_id, r.signals) for r in good(read_all(zipped))] == plain


def item_ends(data: bytes) -> list[int]:
    """Byte offsets just past each top-level item of a json.dump(indent=...) file."""
    indent = re.match(rb"\[\n( +)\{", data)
    assert indent is not None
    return [m.end() for m in re.finditer(rb"\n" + indent.group(1) + rb"\}", data)]


@FAST
@given(fraction=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_real_file_keeps_good_items(fraction: float) -> None:
    path = HF_DIR / "2025-07-22.json"
    if not path.is_file():
        pytest.skip("shared sample data not present")
    data = path.read_bytes()
    cut = int(len(data) * fraction)
    records = read_bytes(data[:cut])
    complete = sum(end <= cut for end in item_ends(data))
    full_ids = [r.source_id for r in good(read_all(path))]
    assert [r.source_id for r in good(records)] == full_ids[:complete]
    if cut < len(data):
        assert isinstance(records[-1], BadRecord)
        assert len(bad(records)) == 1


# ---------------------------------------------------------------- format detection


@pytest.mark.parametrize(
    "text",
    [
        '[{"paper": {"id": "2501.00001"}}]',
        '[\n    {\n        "paper": {\n            "id": "2501.00001",',  # cut short, indented
        '\ufeff  [ {"title": "x", "paper" :{',  # BOM, odd spacing, paper not the first key
    ],
)
def test_looks_like_daily_papers(text: str) -> None:
    assert hf_daily.looks_like(text.encode("utf-8"))


@pytest.mark.parametrize(
    "text",
    [
        '{"paper": {"id": "2501.00001"}}',  # an object, not an array
        '{"id": "2501.00001", "title": "x"}\n{"id": "2501.00002"}\n',  # JSON lines
        "[]",
        '[{"title": "x", "abstract": "y"}]',  # an array of something else
        '[{"paper": "2501.00001"}]',  # "paper" not an object
        '[{"meta": {"paper": {"id": "1"}}}]',  # "paper" deeper down
        '[[{"paper": {}}]]',
        "Get trending papers in your email inbox once a day!\n",
        "",
        "\x00\xff garbage",
    ],
)
def test_looks_like_rejects_other_input(text: str) -> None:
    assert not hf_daily.looks_like(text.encode("utf-8", "surrogateescape"))


def test_looks_like_with_a_large_first_item() -> None:
    head = json.dumps([make_item(summary="x" * 10_000)]).encode()[:4096]
    assert hf_daily.looks_like(head)  # "paper" comes first, as Hugging Face serves it


# ---------------------------------------------------------------- inline fixtures


def test_inline_item_becomes_a_record(tmp_path: Path) -> None:
    path = write_items(tmp_path, [make_item(1), make_item(2)], indent=2)
    records = read_all(path)
    assert bad(records) == []
    first = good(records)[0]
    assert first.location == f"{path}#item 1"
    assert first.source_id == "2501.00001"
    assert first.authors == ["Ada Quill", "Bo Marsh"]  # hidden authors are kept
    assert first.published == "2025-01-09"
    assert first.announced == "2025-01-10"
    assert first.links == {
        "code": "https://github.com/example/toaster-count",
        "project": "https://example.org/toaster",
    }
    assert first.signals == {
        "upvotes": 39,
        "comments": 2,
        "github_repo": "https://github.com/example/toaster-count",
        "github_stars": 7,
        "listed_on": "2025-01-10",
        "ai_keywords": ["toasters", "counting"],
        "organization": "toastlab",
    }


def test_listed_on_prefers_submitted_on_daily_at(tmp_path: Path) -> None:
    item = make_item(submittedOnDailyAt="2025-01-11T23:30:00.000-02:00")  # 2025-01-12 in UTC
    record = good(read_all(write_items(tmp_path, [item], name="2025-01-10.json")))[0]
    assert record.announced == "2025-01-12"
    assert record.signals is not None and record.signals["listed_on"] == "2025-01-12"


def test_without_any_listing_date(tmp_path: Path) -> None:
    item = {"paper": {"id": "2501.00001", "title": "Bare"}}
    record = good(read_all(write_items(tmp_path, [item], name="papers.json")))[0]
    assert record.announced is None
    assert record.signals is None
    assert record.links == {}
    assert record.authors == []
    assert record.published is None


def test_missing_paper_title_falls_back_to_item_title(tmp_path: Path) -> None:
    item = make_item(title=None)
    item["title"] = "Item-level title"
    assert good(read_all(write_items(tmp_path, [item])))[0].title == "Item-level title"


def test_abstract_falls_back_to_item_summary(tmp_path: Path) -> None:
    item = make_item(summary=None)
    item["summary"] = "Item-level abstract"
    assert good(read_all(write_items(tmp_path, [item])))[0].abstract == "Item-level abstract"


def test_author_names(tmp_path: Path) -> None:
    authors = [
        {"name": "  Cy Dune ", "hidden": True},
        {"user": {"fullname": "Di Fenn"}},  # no name: the linked account's full name
        {"_id": "only-an-id"},  # nothing to show: skipped
        {"name": ""},
    ]
    record = good(read_all(write_items(tmp_path, [make_item(authors=authors)])))[0]
    assert record.authors == ["Cy Dune", "Di Fenn"]


def test_zero_counts_are_kept_and_empty_values_dropped(tmp_path: Path) -> None:
    item = make_item(upvotes=0, githubRepo="", githubStars=None, projectPage="", ai_keywords=[])
    item["numComments"] = 0
    item["organization"] = None
    record = good(read_all(write_items(tmp_path, [item])))[0]
    assert record.signals == {"upvotes": 0, "comments": 0, "listed_on": "2025-01-10"}
    assert record.links == {}


def test_organization_from_paper_when_item_has_none(tmp_path: Path) -> None:
    item = make_item(organization={"name": "paperorg"})
    del item["organization"]
    record = good(read_all(write_items(tmp_path, [item])))[0]
    assert record.signals is not None and record.signals["organization"] == "paperorg"


WRONG_ITEMS: list[tuple[str, Any, str]] = [
    ("upvotes as a string", make_item(upvotes="12"), "'paper.upvotes' must be a whole number"),
    ("negative upvotes", make_item(upvotes=-1), "'paper.upvotes' must not be negative"),
    ("fractional stars", make_item(githubStars=1.5), "'paper.githubStars' must be a whole number"),
    ("boolean stars", make_item(githubStars=True), "'paper.githubStars' must be a whole number"),
    ("paper a string", {"paper": "2501.00001", "title": "x"}, "'paper' must be an object"),
    ("no paper", {"title": "x", "numComments": 1}, "no 'paper' object"),
    ("no id", make_item(id=None), "'paper.id'"),
    ("empty id", make_item(id="  "), "'paper.id'"),
    ("numeric id", make_item(id=2501.1), "'paper.id' must be a string"),
    ("no title anywhere", {"paper": {"id": "2501.00001"}}, "title"),
    ("title a list", make_item(title=["a"]), "'paper.title' must be a string"),
    ("summary a number", make_item(summary=3), "'paper.summary' must be a string"),
    ("authors an object", make_item(authors={"name": "x"}), "'paper.authors' must be an array"),
    ("author a string", make_item(authors=["Ada Quill"]), "'paper.authors' entry 1 must be an object"),
    ("author name a number", make_item(authors=[{"name": 5}]), "entry 1: 'name' must be a string"),
    ("keywords a string", make_item(ai_keywords="a, b"), "'paper.ai_keywords' must be an array of strings"),
    ("date not a date", make_item(publishedAt="yesterday"), "'paper.publishedAt' is not an ISO 8601 date"),
    ("date a number", make_item(submittedOnDailyAt=20250110), "'paper.submittedOnDailyAt' must be a string"),
    ("repo an object", make_item(githubRepo={"url": "x"}), "'paper.githubRepo' must be a string"),
    (
        "organization a string",
        {**make_item(), "organization": "toastlab"},
        "'organization' must be an object",
    ),
    ("comments a string", {**make_item(), "numComments": "2"}, "'numComments' must be a whole number"),
    ("item a number", 42, "item must be a JSON object, found a number"),
    ("item null", None, "item must be a JSON object, found null"),
    ("item an array", [make_item()], "item must be a JSON object, found an array"),
]


@pytest.mark.parametrize(("case", "item", "reason"), WRONG_ITEMS, ids=[c[0] for c in WRONG_ITEMS])
def test_wrong_types_make_one_bad_record(tmp_path: Path, case: str, item: Any, reason: str) -> None:
    path = write_items(tmp_path, [make_item(1), item, make_item(3)])
    records = read_all(path)
    assert [type(r) for r in records] == [RawRecord, BadRecord, RawRecord], case
    assert records[1].location == f"{path}#item 2"
    assert reason in records[1].reason
    assert records[2].location == f"{path}#item 3"


def test_top_level_object_is_one_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "2025-01-10.json"
    path.write_text(json.dumps({"papers": [make_item()]}))
    records = read_all(path)
    assert len(records) == 1 and isinstance(records[0], BadRecord)
    assert "expected a JSON array" in records[0].reason
    assert "found a JSON object" in records[0].reason


@pytest.mark.parametrize(
    ("content", "found"), [(b"", "an empty file"), (b" \n\t ", "an empty file"), (b"hello", "b'h'")]
)
def test_not_an_array_at_all(content: bytes, found: str) -> None:
    records = read_bytes(content)
    assert len(records) == 1 and isinstance(records[0], BadRecord)
    assert found in records[0].reason


def test_empty_array_is_a_day_without_papers() -> None:
    assert read_bytes(b"\xef\xbb\xbf [ ]\n") == []


def test_truncation_keeps_items_before_it(tmp_path: Path) -> None:
    data = json.dumps([make_item(1), make_item(2), make_item(3)]).encode()
    cut = data.index(b'"2501.00003"') + 5
    path = tmp_path / "2025-01-10.json"
    path.write_bytes(data[:cut])
    records = read_all(path)
    assert [r.source_id for r in good(records)] == ["2501.00001", "2501.00002"]
    last = records[-1]
    assert isinstance(last, BadRecord)
    assert last.location == f"{path}#item 3"
    assert "after 2 complete items" in last.reason
    assert f"at byte {cut}" in last.reason or "between bytes" in last.reason
    assert "stopped reading" in last.reason


def test_garbage_after_the_array(tmp_path: Path) -> None:
    path = tmp_path / "2025-01-10.json"
    path.write_bytes(json.dumps([make_item(1)]).encode() + b" trailing")
    records = read_all(path)
    assert [type(r) for r in records] == [RawRecord, BadRecord]
    assert "#item 2" in records[1].location


def test_invalid_utf8_inside_a_string() -> None:
    data = json.dumps([make_item(1), make_item(2)]).encode().replace(b"part 2", b"part \xff\xfe")
    records = read_bytes(data)
    assert [type(r) for r in records] == [RawRecord, BadRecord]
    assert records[1].location.endswith("#item 2")
    offset = data.index(b"\xff")
    assert f"not UTF-8 text at byte {offset}" in records[1].reason


def test_truncated_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(json.dumps([make_item(n) for n in range(1, 200)]).encode())
    path = tmp_path / "2025-01-10.json.gz"
    path.write_bytes(packed[: len(packed) // 2])
    records = read_all(path)
    assert isinstance(records[-1], BadRecord)
    assert len(good(records)) > 0


def test_memory_stays_flat_in_the_input_size(tmp_path: Path) -> None:
    path = tmp_path / "2025-01-10.json"
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        out.write(",".join(json.dumps(make_item(n + 1, summary="word " * 800)) for n in range(800)))
        out.write("]")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        seen = sum(1 for _ in hf_daily.read(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 800
    assert peak < size / 10, (peak, size)


# ---------------------------------------------------------------- property-based


@FAST
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    read_bytes(data)


@FAST
@given(data=st.binary(max_size=500))
def test_arbitrary_bytes_after_an_array_start_never_raise(data: bytes) -> None:
    records = read_bytes(b'[{"paper": {"id": "2501.00001", "title": "t"}},' + data)
    assert isinstance(records[0], RawRecord)


@FAST
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_truncated_inline_file_keeps_complete_items(cut: int) -> None:
    parts = [json.dumps(make_item(n)).encode() for n in range(1, 6)]
    data = b"[" + b",".join(parts) + b"]"
    cut = min(cut, len(data))
    ends = []
    offset = 1
    for part in parts:
        offset += len(part)
        ends.append(offset)
        offset += 1
    records = read_bytes(data[:cut])
    complete = sum(end <= cut for end in ends)
    assert [r.source_id for r in good(records)] == [f"2501.{n:05d}" for n in range(1, complete + 1)]
    if cut < len(data):
        assert isinstance(records[-1], BadRecord)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
PAPER_KEYS = [
    "id",
    "title",
    "summary",
    "authors",
    "publishedAt",
    "submittedOnDailyAt",
    "upvotes",
    "githubRepo",
    "githubStars",
    "projectPage",
    "ai_keywords",
    "organization",
]
ITEM_KEYS = ["paper", "title", "summary", "numComments", "organization", "publishedAt"]


@st.composite
def mangled_items(draw: st.DrawFn) -> Any:
    """Items shaped like the real ones, with any field replaced by any JSON value."""
    item: Any = make_item(draw(st.integers(1, 99)))
    for key in draw(st.lists(st.sampled_from(PAPER_KEYS), max_size=4)):
        item["paper"][key] = draw(JSON_VALUES)
    for key in draw(st.lists(st.sampled_from(ITEM_KEYS), max_size=2)):
        item[key] = draw(JSON_VALUES)
    if draw(st.integers(0, 9)) == 0:
        item = draw(JSON_VALUES)
    return item


@FAST
@given(items=st.lists(mangled_items(), max_size=6))
def test_items_with_wrong_types_give_one_record_each(items: list[Any]) -> None:
    records = read_bytes(json.dumps(items).encode())
    assert len(records) == len(items)
    for number, record in enumerate(records, start=1):
        assert record.location.endswith(f"#item {number}")
        if isinstance(record, RawRecord):
            assert record.source_id and record.title.strip()
            assert all(isinstance(name, str) for name in record.authors)


@settings(max_examples=5, deadline=None)
@given(
    size=st.integers(min_value=100_000, max_value=3_000_000), char=st.sampled_from('aé\u4e00\U0001f600\\"')
)
def test_huge_strings(size: int, char: str) -> None:
    items = [make_item(1, title=char * (size // 50), summary=char * size), make_item(2)]
    records = read_bytes(json.dumps(items, ensure_ascii=False).encode())
    assert [type(r) for r in records] == [RawRecord, RawRecord]
    first = records[0]
    assert isinstance(first, RawRecord)
    assert first.abstract == char * size  # characters split between reads come out whole


@FAST
@given(data=st.binary(min_size=1, max_size=300))
def test_garbage_with_gzip_magic_never_raises(data: bytes) -> None:
    read_bytes(b"\x1f\x8b" + data)


@FAST
@given(title=st.text(min_size=1).filter(str.strip), summary=st.text(), ascii_only=st.booleans())
def test_any_text_comes_back_unchanged(title: str, summary: str, ascii_only: bool) -> None:
    item = make_item(1, title=title, summary=summary)
    records = read_bytes(json.dumps([item], ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))
    if any("\ud800" <= ch <= "\udfff" for ch in title + summary):
        return  # lone surrogates are not UTF-8: only the escaped (ASCII) form could carry them
    first = records[0]
    assert isinstance(first, RawRecord)
    assert (first.title, first.abstract) == (title, summary)


def test_integers_beyond_64_bits_are_still_json(tmp_path: Path) -> None:
    # yajl cannot hold them; the reader carries on with ijson's Python parser, without repeats
    items = [make_item(1), make_item(2, githubStars=2**70), make_item(3, upvotes=-(2**70))]
    path = write_items(tmp_path, items)
    records = read_all(path)
    assert [r.location for r in records] == [f"{path}#item {n}" for n in (1, 2, 3)]
    assert [type(r) for r in records] == [RawRecord, RawRecord, BadRecord]
    assert records[1].signals is not None and records[1].signals["github_stars"] == 2**70
