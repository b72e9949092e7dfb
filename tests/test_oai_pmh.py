"""arXiv OAI-PMH: reading saved responses, and the incremental harvester over a replay server."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperwire.errors import InputError, RemoteError
from paperwire.models import BadRecord, RawRecord
from paperwire.sources import oai_pmh
from paperwire.sources.http import HttpOptions
from paperwire.sources.oai_pmh import (
    BadResumptionTokenError,
    HarvestCursor,
    HarvestPage,
    harvest,
    parse_page,
    read,
    split_authors,
)
from replay_server import ReplayServer, Reply
from xml_corruption import FRAGMENTS

# the OAI-PMH client and parser against a local server:
# no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

FIXTURES = Path(__file__).parent / "fixtures" / "oai"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv" / "oai_pmh"
OPTIONS = HttpOptions(timeout=5.0, retries=2, max_wait=60.0, user_agent="paperwire-test/1")
PAGE_IDS = ["2405.00001", "2405.00002", "2405.00004", "2405.00005"]


def shared(pattern: str) -> Path:
    """A file of the shared data set; skips the test when the data is not there."""
    found = sorted(SHARED.glob(pattern)) if SHARED.is_dir() else []
    if not found:
        pytest.skip(f"shared data {SHARED / pattern} is not available")
    return found[0]


def ids(records: list[RawRecord | BadRecord]) -> list[str | None]:
    return [r.source_id for r in records if isinstance(r, RawRecord)]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay


def page(name: str) -> Reply:
    return Reply.file(FIXTURES / name)


def serve_list(server: ReplayServer) -> None:
    """The three-page list: page 1 for the first request, then pages by resumption token."""
    server.route("/oai?verb=ListRecords&metadataPrefix=arXiv", page("list_page1.xml"))
    server.route("/oai?verb=ListRecords&resumptionToken=tok-2", page("list_page2.xml"))
    server.route("/oai?verb=ListRecords&resumptionToken=tok-3", page("list_page3.xml"))


# --- reading saved responses -------------------------------------------------------------------


def test_scirate_arxivraw_page_has_1000_records_with_versions() -> None:
    path = shared("scirate_*.xml")
    records = list(read(path))
    assert len(records) == 1000  # the page has no deleted records
    assert all(isinstance(r, RawRecord) for r in records)
    raws = [r for r in records if isinstance(r, RawRecord)]
    assert len({r.source_id for r in raws}) == 1000
    for record in raws:
        assert record.source == "oai-pmh"
        assert record.title and record.abstract and record.authors and record.categories
        assert record.versions and all(date for _, date in record.versions)
        for _, date in record.versions:
            assert date is not None
            datetime.fromisoformat(date)
        assert record.published == dict(record.versions)[1]
    first = raws[0]
    assert first.source_id == "0811.3648"
    assert first.authors == ["Daniel M. Kane", "Jelani Nelson", "David P. Woodruff"]
    assert first.versions == [(1, "2008-11-21T22:55:07+00:00"), (2, "2009-04-09T02:45:30+00:00")]
    assert first.updated == "2009-04-09T02:45:30+00:00"
    assert "x_i <-- x_i + v" in first.abstract  # entities decoded
    four = next(r for r in raws if r.source_id == "0811.3649")
    assert [n for n, _ in four.versions] == [1, 2, 3, 4]
    assert four.updated == "2009-09-01T22:36:30+00:00"
    assert first.location.endswith("#record 1")


@pytest.mark.parametrize(
    ("pattern", "count"),
    [
        ("hepcrawl_arxiv-physics-hep-ex.xml", 3),
        ("hepcrawl_arxiv-physics-hep-th.xml", 3),
        ("hepcrawl_arxiv-single.xml", 1),
    ],
)
def test_hepcrawl_arxiv_pages(pattern: str, count: int) -> None:
    records = list(read(shared(pattern)))
    assert len(records) == count
    assert all(isinstance(r, RawRecord) and r.versions and r.published for r in records)


def test_arxiv_prefix_fields() -> None:
    (record,) = read(shared("hepcrawl_arxiv-single.xml"))
    assert isinstance(record, RawRecord)
    assert record.source_id == "1401.2122"
    assert record.title == "New integrable (3+1)-dimensional systems and contact geometry"
    assert record.authors == ["A. Sergyeyev"]
    assert record.categories == ["math.AP", "hep-th", "math-ph", "math.DG", "math.MP", "nlin.SI"]
    assert record.journal_ref == "Lett. Math. Phys. 108 (2018), no. 2, 359-376"
    assert record.doi == "10.1007/s11005-017-1013-4"
    assert record.comment is not None and record.comment.startswith("16 pages")
    assert (record.published, record.updated) == ("2014-01-09", "2017-10-23")
    assert record.versions == [(1, "2014-01-09")]
    assert record.links["abs"] == "https://arxiv.org/abs/1401.2122"


def test_every_shared_file_is_detected_and_read_cleanly() -> None:
    shared("*.xml")
    for path in sorted(SHARED.glob("*.xml")):
        assert oai_pmh.looks_like(path.read_bytes()[:4096]), path
        assert all(isinstance(r, RawRecord) for r in read(path)), path


def test_fixture_page_with_authors_suffix_and_deleted_record() -> None:
    records = list(read(FIXTURES / "list_page1.xml"))
    assert ids(records) == ["2405.00001", "2405.00002"]
    first = records[0]
    assert isinstance(first, RawRecord)
    assert first.authors == ["Ada Lovelace", "Charles Babbage Jr"]
    assert first.title == "Analytical Engines for\n  Sparse Attention"
    assert first.updated is None
    assert ids(list(read(FIXTURES / "list_page2.xml"))) == ["2405.00004"]  # the deleted one skipped


def test_arxivraw_fixture() -> None:
    first, second = read(FIXTURES / "raw_page.xml")
    assert isinstance(first, RawRecord) and isinstance(second, RawRecord)
    assert first.authors == ["Emmy Noether", "David Hilbert", "Felix Klein"]
    assert first.versions == [
        (1, "2008-11-21T22:59:40+00:00"),
        (2, "2008-12-09T20:46:26+00:00"),
        (3, "2009-09-01T22:36:30+00:00"),
    ]
    assert (first.published, first.updated) == ("2008-11-21T22:59:40+00:00", "2009-09-01T22:36:30+00:00")
    assert first.doi == "10.0000/example.1"
    assert first.abstract == "Symmetries <-> conservation laws."
    assert second.source_id == "math/0301002"
    assert second.authors == ["Sofia Kovalevskaya", "Karl Weierstrass"]
    assert (second.published, second.updated) == ("2003-01-05T10:00:00+00:00", None)


def test_bad_records_are_reported_with_location_and_the_rest_still_yields() -> None:
    path = FIXTURES / "bad_records.xml"
    records = list(read(path))
    assert [type(r).__name__ for r in records] == [
        "BadRecord",
        "BadRecord",
        "RawRecord",
        "BadRecord",
        "BadRecord",
    ]
    bad = [r for r in records if isinstance(r, BadRecord)]
    assert [b.location for b in bad] == [f"{path}#record {n}" for n in (1, 2, 4, 5)]
    assert "has no <title>" in bad[0].reason and "2405.10001" in bad[0].reason
    assert "has no <id>" in bad[1].reason
    assert "metadataPrefix arXiv or arXivRaw" in bad[2].reason
    assert "has no metadata" in bad[3].reason
    assert ids(records) == ["2405.10003"]


def test_truncated_page_yields_complete_records_then_one_bad_record(tmp_path: Path) -> None:
    data = (FIXTURES / "list_page1.xml").read_bytes()
    cut = data.index(b"<record>", data.index(b"2405.00001"))  # just before the second record
    path = tmp_path / "cut.xml"
    path.write_bytes(data[: cut + 40])
    records = list(read(path))
    assert ids(records) == ["2405.00001"]
    last = records[-1]
    assert isinstance(last, BadRecord)
    assert last.location.startswith(f"{path}:")  # the line lxml stopped at
    assert "unreadable XML after 1 records" in last.reason


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x00\xff\xfe", b"<OAI-PMH", b"<?xml version='1.0'?>"])
def test_garbage_yields_one_bad_record(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "junk.xml"
    path.write_bytes(data)
    (record,) = read(path)
    assert isinstance(record, BadRecord)


def test_another_xml_document_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_bytes(b"<html><body>maintenance</body></html>")
    (record,) = read(path)
    assert isinstance(record, BadRecord) and "not an OAI-PMH response" in record.reason


def test_gzipped_file(tmp_path: Path) -> None:
    path = tmp_path / "page.xml.gz"
    path.write_bytes(gzip.compress((FIXTURES / "list_page1.xml").read_bytes()))
    assert ids(list(read(path))) == ["2405.00001", "2405.00002"]


def test_truncated_gzip_keeps_what_it_could_read(tmp_path: Path) -> None:
    packed = gzip.compress((FIXTURES / "list_page1.xml").read_bytes())
    path = tmp_path / "cut.xml.gz"
    path.write_bytes(packed[: len(packed) - 30])
    records = list(read(path))
    assert isinstance(records[-1], BadRecord)
    assert ids(records) == ["2405.00001", "2405.00002"][: len(ids(records))]
    path.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    assert [type(r) for r in read(path)] == [BadRecord]


def test_missing_file_is_a_bad_record(tmp_path: Path) -> None:
    (record,) = read(tmp_path / "absent.xml")
    assert isinstance(record, BadRecord) and "cannot read" in record.reason


def test_error_responses_in_files() -> None:
    assert list(read(FIXTURES / "error_noRecordsMatch.xml")) == []
    (bad,) = read(FIXTURES / "error_badArgument.xml")
    assert isinstance(bad, BadRecord) and "badArgument" in bad.reason and "Illegal set" in bad.reason


def test_parse_page_maps_error_codes() -> None:
    empty = parse_page((FIXTURES / "error_noRecordsMatch.xml").read_bytes(), "u")
    assert (empty.records, empty.resumption_token) == ([], None)
    with pytest.raises(BadResumptionTokenError):
        parse_page((FIXTURES / "error_badResumptionToken.xml").read_bytes(), "u")
    with pytest.raises(InputError, match="badArgument: Illegal set: not-a-set"):
        parse_page((FIXTURES / "error_badArgument.xml").read_bytes(), "u")
    odd = (FIXTURES / "error_badArgument.xml").read_bytes().replace(b"badArgument", b"weirdCode")
    with pytest.raises(RemoteError, match="weirdCode"):
        parse_page(odd, "u")
    with pytest.raises(RemoteError, match="malformed XML"):
        parse_page((FIXTURES / "list_page1.xml").read_bytes()[:-40], "u")


def test_looks_like() -> None:
    assert oai_pmh.looks_like((FIXTURES / "list_page1.xml").read_bytes()[:4096])
    assert not oai_pmh.looks_like(b'{"id": "1"}')
    assert not oai_pmh.looks_like(b'<feed xmlns="http://www.w3.org/2005/Atom">')


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.xml"
    path.write_bytes(data)
    assert all(isinstance(r, RawRecord | BadRecord) for r in read(path))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_truncation_or_corruption_keeps_the_complete_records(tmp_path: Path, data: st.DataObject) -> None:
    whole = (FIXTURES / "raw_page.xml").read_bytes()
    cut = data.draw(st.integers(0, len(whole)))
    noise = data.draw(st.binary(max_size=20))
    path = tmp_path / "cut.xml"
    path.write_bytes(whole[:cut] + noise)
    records = list(read(path))
    assert all(isinstance(r, RawRecord | BadRecord) for r in records)
    got = ids(records)
    assert got == ["0811.9001", "math/0301002"][: len(got)]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corruption_anywhere_never_raises(tmp_path: Path, data: st.DataObject) -> None:
    whole = (FIXTURES / "list_page1.xml").read_bytes()
    at = data.draw(st.integers(0, len(whole)))
    junk = data.draw(st.sampled_from(FRAGMENTS) | st.binary(max_size=8))
    path = tmp_path / "corrupt.xml"
    path.write_bytes(whole[:at] + junk + whole[at + data.draw(st.integers(0, 30)) :])
    assert all(isinstance(r, RawRecord | BadRecord) for r in read(path))


def test_split_authors() -> None:
    assert split_authors("A. One, B. Two, and C. Three") == ["A. One", "B. Two", "C. Three"]
    assert split_authors("A. One and B. Two") == ["A. One", "B. Two"]
    assert split_authors("Q. Sugon Jr., C. Fernandez") == ["Q. Sugon Jr.", "C. Fernandez"]
    assert split_authors("J. Smith, Jr., J. Doe") == ["J. Smith Jr.", "J. Doe"]
    assert split_authors("A. B (1,3) ((1) X, Y and Z, (3) W), C. D (2)") == ["A. B", "C. D"]
    assert split_authors("Jo (unclosed, Bob") == ["Jo (unclosed", "Bob"]
    assert split_authors("Alexander Anderson") == ["Alexander Anderson"]
    assert split_authors("") == []


# --- the harvester ------------------------------------------------------------------------------


def test_cursor_round_trips_through_a_dict() -> None:
    cursor = HarvestCursor("2024-05-01", "tok", "2024-06-01", "2024-05-02")
    assert HarvestCursor.from_dict(cursor.to_dict()) == cursor
    assert HarvestCursor.from_dict({"from_date": None, "resumption_token": None}) == HarvestCursor(None, None)
    with pytest.raises(InputError, match="resumption_token"):
        HarvestCursor.from_dict({"from_date": "2024-05-01", "resumption_token": 7})


def test_multi_page_harvest_follows_resumption_tokens(server: ReplayServer) -> None:
    serve_list(server)
    cursor = HarvestCursor("2024-05-01", None)
    pages = list(harvest(server.url("/oai"), OPTIONS, set_spec="cs", cursor=cursor, sleep=Sleeps()))
    assert [ids(p.records) for p in pages] == [PAGE_IDS[:2], PAGE_IDS[2:3], PAGE_IDS[3:]]
    assert [p.complete for p in pages] == [False, False, True]
    assert pages[1].deleted == ["2405.00003"]
    assert [p.cursor for p in pages] == [
        HarvestCursor("2024-05-01", "tok-2", None, "2024-05-02"),
        HarvestCursor("2024-05-01", "tok-3", None, "2024-05-02"),
        HarvestCursor("2024-05-02", None),  # the first page's responseDate: the next harvest's start
    ]
    first, second, third = server.requests
    assert first.query == {
        "verb": "ListRecords",
        "metadataPrefix": "arXiv",
        "from": "2024-05-01",
        "set": "cs",
    }
    assert second.query == {"verb": "ListRecords", "resumptionToken": "tok-2"}  # only these, per protocol
    assert third.query == {"verb": "ListRecords", "resumptionToken": "tok-3"}
    assert first.headers["user-agent"] == "paperwire-test/1"
    assert pages[0].url.startswith(server.url("/oai?verb=ListRecords"))


def test_first_harvest_starts_from_the_beginning(server: ReplayServer) -> None:
    serve_list(server)
    pages = list(harvest(server.url("/oai"), OPTIONS, sleep=Sleeps()))
    assert server.requests[0].query == {"verb": "ListRecords", "metadataPrefix": "arXiv"}
    assert pages[-1].cursor == HarvestCursor("2024-05-02", None)


def test_metadata_prefix_and_until_are_sent(server: ReplayServer) -> None:
    server.route("/oai?metadataPrefix=arXivRaw", page("raw_page.xml"))
    (only,) = harvest(
        server.url("/oai"),
        OPTIONS,
        metadata_prefix="arXivRaw",
        set_spec="math",
        until="2024-04-30",
        sleep=Sleeps(),
    )
    assert server.requests[0].query == {
        "verb": "ListRecords",
        "metadataPrefix": "arXivRaw",
        "set": "math",
        "until": "2024-04-30",
    }
    assert ids(only.records) == ["0811.9001", "math/0301002"]
    assert only.complete and only.cursor == HarvestCursor("2024-04-30", None)  # continue from until


def test_unknown_metadata_prefix_is_refused() -> None:
    with pytest.raises(InputError) as caught:  # at the call, before any request
        harvest("http://127.0.0.1:9/oai", OPTIONS, metadata_prefix="oai_dc")
    assert "'arXiv'" in str(caught.value) and "'arXivRaw'" in str(caught.value)


def test_a_bad_from_date_is_refused() -> None:
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        harvest("http://127.0.0.1:9/oai", OPTIONS, cursor=HarvestCursor("May 1st", None))


def test_503_retry_after_is_honoured(server: ReplayServer) -> None:
    server.route(
        "/oai?metadataPrefix=arXiv", Reply(503, b"busy", {"Retry-After": "10"}), page("list_page1.xml")
    )
    server.route("/oai?resumptionToken=tok-2", page("list_page2.xml"))
    server.route(
        "/oai?resumptionToken=tok-3", Reply(503, headers={"Retry-After": "5"}), page("list_page3.xml")
    )
    sleeps = Sleeps()
    pages = list(harvest(server.url("/oai"), OPTIONS, sleep=sleeps))
    assert sleeps == [10.0, 5.0]
    assert [ids(p.records) for p in pages] == [PAGE_IDS[:2], PAGE_IDS[2:3], PAGE_IDS[3:]]


def test_retries_running_out_leave_the_last_saved_cursor(server: ReplayServer) -> None:
    server.route("/oai?metadataPrefix=arXiv", page("list_page1.xml"))
    server.route("/oai?resumptionToken=tok-2", *[Reply(500)] * 3)
    saved = HarvestCursor("2024-05-01", None)
    stored: list[str | None] = []
    with pytest.raises(RemoteError, match="3 attempts"):
        for harvested in harvest(server.url("/oai"), OPTIONS, cursor=saved, sleep=Sleeps()):
            stored += ids(harvested.records)
            saved = harvested.cursor  # what the caller persists after storing the records
    assert stored == PAGE_IDS[:2]
    assert saved == HarvestCursor("2024-05-01", "tok-2", None, "2024-05-02")
    # Later, the server is well again: resuming from the saved cursor loses nothing.
    server.route("/oai?resumptionToken=tok-2", page("list_page2.xml"))
    server.route("/oai?resumptionToken=tok-3", page("list_page3.xml"))
    rest = list(harvest(server.url("/oai"), OPTIONS, cursor=saved, sleep=Sleeps()))
    assert stored + [i for p in rest for i in ids(p.records)] == PAGE_IDS
    assert rest[-1].cursor == HarvestCursor("2024-05-02", None)


def test_a_timeout_is_retried(server: ReplayServer) -> None:
    server.route("/oai?metadataPrefix=arXiv", Reply(delay=1.0), page("list_page1.xml"))
    server.route("/oai?resumptionToken=tok-2", page("list_page2.xml"))
    server.route("/oai?resumptionToken=tok-3", page("list_page3.xml"))
    sleeps = Sleeps()
    options = HttpOptions(timeout=0.2, retries=2, max_wait=60.0, user_agent="t")
    pages = list(harvest(server.url("/oai"), options, sleep=sleeps))
    assert sleeps == [1.0]
    assert len(pages) == 3


def test_expired_resumption_token_restarts_from_from_date(server: ReplayServer) -> None:
    server.route("/oai?resumptionToken=tok-expired", page("error_badResumptionToken.xml"))
    serve_list(server)
    cursor = HarvestCursor("2024-05-01", "tok-expired", None, "2024-04-30")
    pages = list(harvest(server.url("/oai"), OPTIONS, set_spec="cs", cursor=cursor, sleep=Sleeps()))
    assert [i for p in pages for i in ids(p.records)] == PAGE_IDS
    assert server.requests[1].query == {
        "verb": "ListRecords",
        "metadataPrefix": "arXiv",
        "from": "2024-05-01",
        "set": "cs",
    }
    assert pages[-1].cursor == HarvestCursor("2024-04-30", None)  # the earlier start is kept


def test_a_cursor_saved_without_started_falls_back_to_its_from_date(server: ReplayServer) -> None:
    server.route("/oai?resumptionToken=tok-3", page("list_page3.xml"))
    (last,) = harvest(
        server.url("/oai"), OPTIONS, cursor=HarvestCursor("2024-04-01", "tok-3"), sleep=Sleeps()
    )
    assert last.cursor == HarvestCursor("2024-04-01", None)  # harvesting twice beats missing records


def test_a_token_rejected_after_a_restart_is_an_error(server: ReplayServer) -> None:
    server.route("/oai?resumptionToken=tok-expired", page("error_badResumptionToken.xml"))
    server.route("/oai?metadataPrefix=arXiv", page("list_page1.xml"))
    server.route("/oai?resumptionToken=tok-2", page("error_badResumptionToken.xml"))
    cursor = HarvestCursor("2024-05-01", "tok-expired")
    with pytest.raises(BadResumptionTokenError):
        list(harvest(server.url("/oai"), OPTIONS, cursor=cursor, sleep=Sleeps()))


def test_no_records_match_completes_with_an_empty_page(server: ReplayServer) -> None:
    server.route("/oai", page("error_noRecordsMatch.xml"))
    cursor = HarvestCursor("2024-05-03", None)
    (only,) = harvest(server.url("/oai"), OPTIONS, cursor=cursor, sleep=Sleeps())
    assert only == HarvestPage([], HarvestCursor("2024-05-03", None), only.url, complete=True)


def test_request_errors_are_input_errors(server: ReplayServer) -> None:
    server.route("/oai", page("error_badArgument.xml"))
    with pytest.raises(InputError, match="Illegal set"):
        list(harvest(server.url("/oai"), OPTIONS, set_spec="not-a-set", sleep=Sleeps()))


def test_a_page_that_is_not_oai_pmh_stops_the_harvest(server: ReplayServer) -> None:
    server.route("/oai", Reply(200, b"<html><body>down for maintenance</body></html>"))
    with pytest.raises(RemoteError, match="did not return an OAI-PMH response"):
        list(harvest(server.url("/oai"), OPTIONS, sleep=Sleeps()))


def test_interrupted_harvest_resumes_to_the_same_result(server: ReplayServer) -> None:
    serve_list(server)
    serve_list(server)
    serve_list(server)
    start = HarvestCursor("2024-05-01", None)
    whole = list(harvest(server.url("/oai"), OPTIONS, cursor=start, sleep=Sleeps()))

    run = harvest(server.url("/oai"), OPTIONS, cursor=start, sleep=Sleeps())
    first = next(run)
    run.close()  # the process stops after storing one page
    rest = list(harvest(server.url("/oai"), OPTIONS, cursor=first.cursor, sleep=Sleeps()))

    resumed = ids(first.records) + [i for p in rest for i in ids(p.records)]
    assert resumed == [i for p in whole for i in ids(p.records)] == PAGE_IDS
    assert rest[-1].cursor == whole[-1].cursor == HarvestCursor("2024-05-02", None)
    assert [r.query.get("resumptionToken") for r in server.requests[3:]] == [None, "tok-2", "tok-3"]
