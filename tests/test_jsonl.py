"""The JSON-lines reader: daily listings, the Kaggle bulk snapshot, BEIR corpora, and malformed input."""

from __future__ import annotations

import gzip
import json
import re
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import shared_path
from paperwire.models import BadRecord, RawRecord
from paperwire.sources import detect_format, jsonl

# the JSON Lines parser: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DAILY: dict[str, Any] = {
    "id": "2501.01234",
    "categories": ["cs.LG", "cs.AI"],
    "pdf": "https://arxiv.org/pdf/2501.01234",
    "abs": "https://arxiv.org/abs/2501.01234",
    "authors": ["Ada Quill", "Bo Marsh"],
    "title": "Teaching Toasters\n  to Count",
    "comment": "8 pages, 3 figures",
    "summary": "We teach a toaster to count\nslices of bread.",
}
SNAPSHOT: dict[str, Any] = {
    "id": "0704.0042",
    "submitter": "Ada Quill",
    "authors": "A. Quill and B. Marsh",
    "title": "On the Counting of Slices",
    "comments": "12 pages",
    "journal-ref": "J. Toast. 3 (2007) 1-12",
    "doi": "10.1000/toast.3.1",
    "report-no": None,
    "categories": "math.CO cs.DM",
    "license": None,
    "abstract": "  Slices are counted.\n",
    "versions": [
        {"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},
        {"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"},
    ],
    "update_date": "2008-11-13",
    "authors_parsed": [["Quill", "Ada", ""], ["Marsh", "Bo", "Jr"]],
}
BEIR: dict[str, Any] = {"_id": "4983", "title": "White matter in newborns", "text": "Alterations of ..."}
KINDS = {"daily": DAILY, "snapshot": SNAPSHOT, "beir": BEIR}


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def dump(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def read_all(path: Path) -> list[RawRecord | BadRecord]:
    return list(jsonl.read(path))


def assert_well_formed(path: Path, items: list[RawRecord | BadRecord]) -> None:
    """Only RawRecord/BadRecord; every location is "path:line"; the fields have the promised types."""
    pattern = re.compile(re.escape(str(path)) + r":(\d+)")
    for item in items:
        assert type(item) in (RawRecord, BadRecord)
        assert pattern.fullmatch(item.location), item.location
        if isinstance(item, BadRecord):
            assert isinstance(item.reason, str) and item.reason
            continue
        assert isinstance(item.title, str) and isinstance(item.abstract, str)
        assert isinstance(item.source_id, str) and item.source_id.strip()
        assert all(isinstance(a, str) for a in item.authors)
        assert all(isinstance(c, str) for c in item.categories)
        for number, date in item.versions:
            assert type(number) is int and (date is None or isinstance(date, str))
        for value in (item.comment, item.journal_ref, item.doi, item.updated, item.announced):
            assert value is None or isinstance(value, str)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in item.links.items())


def line_of(item: RawRecord | BadRecord) -> int:
    return int(item.location.rsplit(":", 1)[1])


# ------------------------------------------------------------------ records written by us


def test_daily_listing_record(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "2025-01-07.jsonl", [dump(DAILY)])
    [record] = read_all(path)
    assert isinstance(record, RawRecord)
    assert record.source == "arxiv-daily"
    assert record.location == f"{path}:1"
    assert record.source_id == "2501.01234"
    assert record.title == DAILY["title"]
    assert record.abstract == DAILY["summary"]
    assert record.authors == ["Ada Quill", "Bo Marsh"]
    assert record.categories == ["cs.LG", "cs.AI"]
    assert record.comment == "8 pages, 3 figures"
    assert record.links == {"abs": DAILY["abs"], "pdf": DAILY["pdf"]}
    assert record.announced == "2025-01-07"  # the date in the file name
    assert record.versions == []


def test_daily_record_without_date_in_name_has_no_announced_date(tmp_path: Path) -> None:
    [record] = read_all(write_lines(tmp_path / "listing.jsonl", [dump(DAILY)]))
    assert isinstance(record, RawRecord) and record.announced is None


def test_daily_authors_as_comma_separated_text(tmp_path: Path) -> None:
    obj = {**DAILY, "authors": "Ada Quill, Bo Marsh, "}
    [record] = read_all(write_lines(tmp_path / "a.jsonl", [dump(obj)]))
    assert isinstance(record, RawRecord) and record.authors == ["Ada Quill", "Bo Marsh"]


def test_snapshot_record(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "snapshot.json", [dump(SNAPSHOT)])
    [record] = read_all(path)
    assert isinstance(record, RawRecord)
    assert record.source == "arxiv-snapshot"
    assert record.source_id == "0704.0042"
    assert record.title == "On the Counting of Slices"
    assert record.abstract == "  Slices are counted.\n"  # cleaning is normalisation's job
    # authors_parsed wins over the free-text authors: "first last suffix"
    assert record.authors == ["Ada Quill", "Bo Marsh Jr"]
    assert record.categories == ["math.CO", "cs.DM"]
    assert record.comment == "12 pages"
    assert record.journal_ref == "J. Toast. 3 (2007) 1-12"
    assert record.doi == "10.1000/toast.3.1"
    assert record.versions == [(1, "2007-04-02T19:18:42+00:00"), (2, "2007-07-24T20:10:27+00:00")]
    assert record.updated == "2008-11-13"


def test_snapshot_without_authors_parsed_uses_authors_text(tmp_path: Path) -> None:
    obj = {**SNAPSHOT, "authors_parsed": None, "authors": "Ada Quill, Bo Marsh"}
    [record] = read_all(write_lines(tmp_path / "s.json", [dump(obj)]))
    assert isinstance(record, RawRecord) and record.authors == ["Ada Quill", "Bo Marsh"]


def test_snapshot_unreadable_version_date_is_none(tmp_path: Path) -> None:
    obj = {**SNAPSHOT, "versions": [{"version": "v1", "created": "sometime in spring"}]}
    [record] = read_all(write_lines(tmp_path / "s.json", [dump(obj)]))
    assert isinstance(record, RawRecord) and record.versions == [(1, None)]


@pytest.mark.parametrize(
    ("versions", "reason"),
    [
        ("v1", "'versions' must be a list"),
        (["v1"], "'versions' entries must be objects"),
        ([{"version": "first"}], "is not like 'v1'"),
    ],
)
def test_snapshot_bad_versions_are_reported(tmp_path: Path, versions: Any, reason: str) -> None:
    path = write_lines(tmp_path / "s.json", [dump({**SNAPSHOT, "versions": versions})])
    [record] = read_all(path)
    assert isinstance(record, BadRecord)
    assert record.location == f"{path}:1"
    assert reason in record.reason


def test_beir_record_ids_are_namespaced_by_folder(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "nfcorpus" / "corpus.jsonl", [dump(BEIR), dump({**BEIR, "_id": 17})])
    first, second = read_all(path)
    assert isinstance(first, RawRecord) and isinstance(second, RawRecord)
    assert first.source == "beir"
    assert first.source_id == "nfcorpus:4983"
    assert second.source_id == "nfcorpus:17"
    assert first.title == BEIR["title"] and first.abstract == BEIR["text"]


def test_beir_namespace_of_other_file_names_is_the_stem(tmp_path: Path) -> None:
    [record] = read_all(write_lines(tmp_path / "trec.jsonl", [dump(BEIR)]))
    assert isinstance(record, RawRecord) and record.source_id == "trec:4983"


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"_id": "", "text": "x"}, "'_id' must be a non-empty"),
        ({"_id": True, "text": "x"}, "'_id' must be a non-empty"),
        ({"_id": "1", "title": "", "text": ""}, "neither 'title' nor 'text'"),
        ({"id": "2501.00001", "summary": "no title"}, "missing 'title'"),
        ({"id": "  ", "title": "T"}, "'id' is empty"),
        ({"id": "2501.00001", "title": 5}, "'title' must be a string"),
        ({"id": "2501.00001", "title": "T", "authors": [1, 2]}, "'authors' must be a list of strings"),
        ({"name": "nothing we know"}, "unrecognised record (keys: name)"),
    ],
)
def test_unusable_records_are_reported(tmp_path: Path, obj: dict[str, Any], reason: str) -> None:
    path = write_lines(tmp_path / "x.jsonl", [dump(obj)])
    [record] = read_all(path)
    assert isinstance(record, BadRecord)
    assert record.location == f"{path}:1"
    assert reason in record.reason


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"[1, 2]", "expected a JSON object, found list"),
        (b'"a string"', "expected a JSON object, found str"),
        (b"{not json", "invalid JSON"),
        (b'{"id": "2501.00001", "title": "T"', "invalid JSON"),
        (b'{"id": "2501.00001", "title": "caf\xe9"}', "invalid JSON"),  # Latin-1, not UTF-8
    ],
)
def test_malformed_lines_are_reported(tmp_path: Path, line: bytes, reason: str) -> None:
    path = write_lines(tmp_path / "x.jsonl", [line])
    [record] = read_all(path)
    assert isinstance(record, BadRecord) and reason in record.reason


def test_one_file_may_mix_kinds_and_bad_lines(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [dump(DAILY), b"", b"garbage", b"   ", dump(SNAPSHOT), b"\xff\xfe", dump(BEIR), b"{}"],
    )
    items = read_all(path)
    assert_well_formed(path, items)
    assert [(type(i).__name__, line_of(i)) for i in items] == [
        ("RawRecord", 1),
        ("BadRecord", 3),
        ("RawRecord", 5),
        ("BadRecord", 6),
        ("RawRecord", 7),
        ("BadRecord", 8),
    ]
    assert [i.source for i in items if isinstance(i, RawRecord)] == ["arxiv-daily", "arxiv-snapshot", "beir"]


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "2025-02-03.jsonl"
    path.write_bytes(dump(DAILY) + b"\r\n" + dump({**DAILY, "id": "2501.09999"}) + b"\r\n")
    items = read_all(path)
    assert [i.source_id for i in items if isinstance(i, RawRecord)] == ["2501.01234", "2501.09999"]


def test_gzipped_file_reads_the_same(tmp_path: Path) -> None:
    lines = [dump({**DAILY, "id": f"2501.{n:05d}"}) for n in range(50)]
    plain = write_lines(tmp_path / "plain" / "2025-01-07.jsonl", lines)
    zipped = tmp_path / "zipped" / "2025-01-07.jsonl.gz"
    zipped.parent.mkdir()
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert detect_format(zipped) == "jsonl"
    a, b = read_all(plain), read_all(zipped)
    assert len(a) == len(b) == 50
    for x, y in zip(a, b, strict=True):
        assert isinstance(x, RawRecord) and isinstance(y, RawRecord)
        assert (x.source_id, x.title, x.announced) == (y.source_id, y.title, y.announced)


def test_huge_title_is_read_whole(tmp_path: Path) -> None:
    title = "Toast " * 500_000  # 3 MB on one line
    path = write_lines(tmp_path / "big.jsonl", [dump({**DAILY, "title": title}), dump(DAILY)])
    items = read_all(path)
    assert [type(i) for i in items] == [RawRecord, RawRecord]
    assert isinstance(items[0], RawRecord) and items[0].title == title


def test_looks_like() -> None:
    assert jsonl.looks_like(b'{"id": "1"}\n')
    assert jsonl.looks_like(b'\xef\xbb\xbf\n  {"id": "1"}')
    assert not jsonl.looks_like(b'[{"paper": {}}]')
    assert not jsonl.looks_like(b"id,title\n1,x\n")


def test_byte_order_mark_does_not_spoil_the_first_record(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + dump(DAILY) + b"\n")
    assert detect_format(path) == "jsonl"
    [record] = read_all(path)
    assert isinstance(record, RawRecord) and record.source_id == "2501.01234"


# ------------------------------------------------------------------ truncated / damaged gzip


def gzipped_records(count: int) -> tuple[list[bytes], bytes]:
    lines = [
        dump({**DAILY, "id": f"2501.{n:05d}", "summary": f"abstract number {n} " * 20}) for n in range(count)
    ]
    return lines, gzip.compress(b"".join(line + b"\n" for line in lines))


def collect_without_raising(path: Path) -> tuple[list[RawRecord | BadRecord], BaseException | None]:
    items: list[RawRecord | BadRecord] = []
    try:
        for item in jsonl.read(path):
            items.append(item)
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        return items, exc
    return items, None


def assert_prefix_then_one_bad(path: Path, items: list[RawRecord | BadRecord], total: int) -> None:
    assert_well_formed(path, items)
    good = [i for i in items if isinstance(i, RawRecord)]
    bad = [i for i in items if isinstance(i, BadRecord)]
    # the good records are the file's first records, in order; then one bad record for the damage
    assert [r.source_id for r in good] == [f"2501.{n:05d}" for n in range(len(good))]
    assert len(good) <= total  # a cut in the gzip trailer loses no record, yet is reported
    assert len(bad) == 1 and items[-1] is bad[0]
    assert line_of(bad[0]) == len(good) + 1


def test_gzip_truncated_in_the_middle_keeps_records_before_the_damage(tmp_path: Path) -> None:
    _, data = gzipped_records(2000)
    path = tmp_path / "2025-01-07.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    items, raised = collect_without_raising(path)
    assert raised is None, f"read() raised {raised!r} after {len(items)} records"
    assert len(items) > 100  # the first half of the stream decompressed fine
    assert_prefix_then_one_bad(path, items, 2000)


def test_gzip_with_corrupt_bytes_is_reported_not_raised(tmp_path: Path) -> None:
    _, data = gzipped_records(2000)
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    path = tmp_path / "2025-01-07.jsonl.gz"
    path.write_bytes(bytes(damaged))
    items, raised = collect_without_raising(path)
    assert raised is None, f"read() raised {raised!r} after {len(items)} records"
    assert_well_formed(path, items)
    # records before the damaged block are kept; the damage itself is reported last
    good = [i.source_id for i in items if isinstance(i, RawRecord)]
    assert good[:100] == [f"2501.{n:05d}" for n in range(100)]
    assert isinstance(items[-1], BadRecord)


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(min_value=0.05, max_value=0.999))
def test_gzip_truncated_anywhere_never_raises(fraction: float) -> None:
    _, data = gzipped_records(300)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "2025-01-07.jsonl.gz"
        path.write_bytes(data[: max(11, int(len(data) * fraction))])
        items, raised = collect_without_raising(path)
        assert raised is None, f"read() raised {raised!r} after {len(items)} records"
        assert_prefix_then_one_bad(path, items, 300)


# ------------------------------------------------------------------ property-based

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def no_newline_no_gzip(line: bytes) -> bytes:
    """A line of junk; never the gzip magic number, whose own bug is covered above."""
    line = line.replace(b"\n", b"?")
    return b"?" + line[2:] if line.startswith(b"\x1f\x8b") else line


def check_file(write: Callable[[Path], None], name: str = "2025-01-07.jsonl") -> list[RawRecord | BadRecord]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        write(path)
        items = read_all(path)
        assert_well_formed(path, items)
        return items


@FAST
@given(data=st.binary(max_size=3000).filter(lambda b: not b.startswith(b"\x1f\x8b")))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    items = check_file(lambda p: p.write_bytes(data))
    # at most one item per non-blank line, each at a distinct line
    lines = [n for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]
    assert len(items) <= len(lines)
    assert len({line_of(i) for i in items}) == len(items)
    assert {line_of(i) for i in items} <= set(lines)


@FAST
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_after_gzip_magic_never_raise(data: bytes) -> None:
    check_file(lambda p: p.write_bytes(b"\x1f\x8b" + data))


@FAST
@given(kind=st.sampled_from(sorted(KINDS)), data=st.data())
def test_wrong_types_for_every_field_give_one_item(kind: str, data: st.DataObject) -> None:
    base = KINDS[kind]
    fields = data.draw(st.lists(st.sampled_from(sorted(base)), min_size=1, max_size=len(base), unique=True))
    obj = {**base, **{f: data.draw(json_values, label=f) for f in fields}}
    items = check_file(lambda p: write_lines(p, [dump(obj)]))
    assert len(items) == 1


@FAST
@given(
    lines=st.lists(
        st.one_of(
            st.tuples(st.just("good"), st.sampled_from(sorted(KINDS))),
            st.tuples(st.just("bytes"), st.binary(min_size=1, max_size=200).map(no_newline_no_gzip)),
            st.tuples(st.just("truncated"), st.sampled_from(sorted(KINDS)), st.integers(1, 60)),
            st.tuples(st.just("latin1"), st.text(alphabet="éàüß", min_size=1, max_size=5)),
            st.tuples(st.just("huge"), st.integers(10_000, 200_000)),
        ),
        max_size=12,
    )
)
def test_good_lines_around_bad_ones_are_all_yielded(lines: list[tuple[Any, ...]]) -> None:
    encoded: list[bytes] = []
    expected_good: dict[int, str] = {}  # line number -> source id
    expected_bad: set[int] = set()
    for number, spec in enumerate(lines, start=1):
        match spec:
            case ("good", kind):
                obj = (
                    {**KINDS[kind], "id": f"2501.{number:05d}"} if kind != "beir" else {**BEIR, "_id": number}
                )
                encoded.append(dump(obj))
                expected_good[number] = f"2501.{number:05d}" if kind != "beir" else f"{number}"
            case ("bytes", raw):
                encoded.append(raw)
            case ("truncated", kind, cut):
                encoded.append(dump(KINDS[kind])[: min(cut, len(dump(KINDS[kind])) - 1)])
                expected_bad.add(number)
            case ("latin1", text):
                encoded.append(b'{"id": "2501.00001", "title": "' + text.encode("latin-1") + b'"}')
                expected_bad.add(number)
            case ("huge", size):
                encoded.append(dump({**DAILY, "id": f"2501.{number:05d}", "summary": "x" * size}))
                expected_good[number] = f"2501.{number:05d}"
    items = check_file(lambda p: write_lines(p, encoded))
    by_line = {line_of(i): i for i in items}
    for number, source_id in expected_good.items():
        record = by_line.get(number)
        assert isinstance(record, RawRecord), (number, record)
        assert record.source_id is not None and record.source_id.endswith(source_id)
    for number in expected_bad:
        assert isinstance(by_line.get(number), BadRecord)


# ------------------------------------------------------------------ the real shared files


def test_kaggle_snapshot_sample() -> None:
    path = shared_path("data", "arxiv", "kaggle_snapshot_sample", "arxiv-metadata-oai-snapshot.head200.json")
    assert detect_format(path) == "jsonl"
    items = read_all(path)
    assert_well_formed(path, items)
    good = [i for i in items if isinstance(i, RawRecord)]
    assert len(items) == len(good) == 200
    assert {r.source for r in good} == {"arxiv-snapshot"}
    assert good[0].source_id == "0704.0001"
    assert len({r.source_id for r in good}) == 200
    assert all(r.versions for r in good)
    assert sum(len(r.versions) for r in good) == 326
    iso = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00")
    for record in good:
        numbers = [n for n, _ in record.versions]
        assert numbers == list(range(1, len(numbers) + 1))
        assert all(date is not None and iso.fullmatch(date) for _, date in record.versions)
        assert record.updated is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", record.updated)
    # the first line of the file, checked field by field against the raw JSON
    raw = json.loads(path.read_bytes().split(b"\n", 1)[0])
    assert good[0].title == raw["title"] and good[0].abstract == raw["abstract"]
    assert good[0].categories == raw["categories"].split()
    assert good[0].versions[0] == (1, "2007-04-02T19:18:42+00:00")
    assert raw["versions"][0]["created"] == "Mon, 2 Apr 2007 19:18:42 GMT"


def test_scifact_corpus() -> None:
    path = shared_path("data", "scifact", "corpus.jsonl")
    items = read_all(path)
    assert len(items) == 5183
    assert all(isinstance(i, RawRecord) for i in items)
    ids = [i.source_id for i in items if isinstance(i, RawRecord)]
    assert ids[0] == "scifact:4983"
    assert len(set(ids)) == 5183
    raw_ids = [json.loads(line)["_id"] for line in path.read_bytes().splitlines() if line.strip()]
    assert ids == [f"scifact:{key}" for key in raw_ids]
    assert {i.source for i in items if isinstance(i, RawRecord)} == {"beir"}


@pytest.mark.parametrize("name", ["2025-03-19.jsonl.gz", "2025-05-05.jsonl.gz"])
def test_daily_gzip_files(name: str) -> None:
    path = shared_path("data", "arxiv", "daily_arxiv_jsonl", name)
    items = read_all(path)
    assert_well_formed(path, items)
    raw = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines() if line.strip()]
    assert len(items) == len(raw) > 0
    assert all(isinstance(i, RawRecord) for i in items)
    records = [i for i in items if isinstance(i, RawRecord)]
    assert {r.announced for r in records} == {name.removesuffix(".jsonl.gz")}
    assert {r.source for r in records} == {"arxiv-daily"}
    assert [r.source_id for r in records] == [obj["id"] for obj in raw]
    assert [r.categories for r in records] == [obj["categories"] for obj in raw]


@FAST
@given(data=st.binary(max_size=300), pattern=st.lists(st.booleans(), min_size=1, max_size=8))
def test_skipped_lines_stand_for_the_records_they_would_have_been(data: bytes, pattern: list[bool]) -> None:
    # the batch makers share an input by skipping records: a skipped line must count as one record
    with tempfile.TemporaryDirectory() as tmp:
        path = write_lines(Path(tmp) / "mixed.jsonl", [json.dumps(DAILY).encode(), data, b"", b"{not json"])
        whole = list(jsonl.read(path))
        asked = iter(pattern * 50)
        skimmed = list(jsonl.read(path, wanted=lambda: next(asked)))
    assert len(skimmed) == len(whole)
    assert all(s is jsonl.SKIPPED or s == w for s, w in zip(skimmed, whole, strict=True))
