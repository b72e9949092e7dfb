"""The arXiv API (Atom): saved feeds, recorded responses replayed, paging, API errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperwire.errors import InputError
from paperwire.models import BadRecord, RawRecord
from paperwire.sources import atom
from paperwire.sources.atom import parse, query, read, repair_mojibake
from paperwire.sources.http import HttpOptions
from replay_server import ReplayServer, Reply, load_recording
from xml_corruption import FRAGMENTS

# the Atom parser, over files and a local HTTP server:
# no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv" / "atom_api"
OPTIONS = HttpOptions(timeout=5.0, retries=2, max_wait=60.0, user_agent="paperwire-test/1")


def shared(name: str) -> Path:
    """A file of the shared data set; skips the test when the data is not there."""
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared data {path} is not available")
    return path


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay


def entry(arxiv_id: str, title: str | None = "A title", version: int = 1) -> str:
    title_xml = f"<title>{escape(title)}</title>" if title is not None else ""
    return f"""<entry>
    <id>http://arxiv.org/abs/{arxiv_id}v{version}</id>{title_xml}
    <updated>2024-05-0{version}T10:00:00Z</updated><published>2024-05-01T10:00:00Z</published>
    <summary>About {arxiv_id}.</summary><author><name>Ada Lovelace</name></author>
    <link href="https://arxiv.org/abs/{arxiv_id}v{version}" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/{arxiv_id}v{version}" rel="related" type="application/pdf" title="pdf"/>
    <arxiv:primary_category term="cs.LG"/><category term="stat.ML"/><category term="cs.LG"/>
  </entry>"""


def feed(entries: list[str], total: int, start: int = 0) -> bytes:
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom"
 xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/test</id><title>arXiv Query</title>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>{start}</opensearch:startIndex>
  {"".join(entries)}
</feed>""".encode()


ERROR_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">
  <title>arXiv Query: search_query=&amp;id_list=1234.12345</title>
  <opensearch:totalResults>1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345</id>
    <title>Error</title>
    <summary>incorrect id format for 1234.12345</summary>
    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345" rel="alternate"/>
  </entry>
</feed>"""


def raws(records: list[RawRecord | BadRecord]) -> list[RawRecord]:
    assert all(isinstance(r, RawRecord) for r in records), [r for r in records if isinstance(r, BadRecord)]
    return [r for r in records if isinstance(r, RawRecord)]


# --- saved feeds -------------------------------------------------------------------------------


def test_2026_search_feed_has_100_entries() -> None:
    records = raws(list(read(shared("arxivpy_2026_search_query_testing_max100.atom.xml"))))
    assert len(records) == 100
    for record in records:
        assert record.source == "arxiv-atom"
        assert record.source_id and record.title and record.abstract and record.authors
        assert record.versions and record.versions[0][1] == record.updated
        assert record.published and record.updated
        datetime.fromisoformat(record.published)
        assert set(record.links) == {"abs", "pdf"}
        assert record.categories
    first = records[0]
    assert first.source_id == "2202.12139v1"
    assert first.categories == ["cs.SE", "cs.LG"]  # primary first
    assert first.doi == "10.1109/ICSTW55395.2022.00035"
    assert first.journal_ref is not None and first.journal_ref.startswith("Artificial Intelligence")
    names = {name for r in records for name in r.authors}
    assert "Mika V. Mäntylä" in names and not any("Ã" in n for n in names)  # mojibake undone


def test_2026_id_list_feed() -> None:
    (record,) = raws(list(read(shared("arxivpy_2026_id_list_1707.08567.atom.xml"))))
    assert record.source_id == "1707.08567v1"
    assert record.versions == [(1, "2017-07-27T08:18:33+00:00")]
    assert (record.published, record.updated) == ("2017-07-27T08:18:33+00:00", "2017-07-27T08:18:33+00:00")
    assert record.links == {
        "abs": "https://arxiv.org/abs/1707.08567v1",
        "pdf": "https://arxiv.org/pdf/1707.08567v1",
    }
    assert record.categories == ["cs.IT"]
    assert len(record.authors) == 34 and "Dirk Wübben" in record.authors
    assert record.comment is not None and record.comment.startswith("44 pages")


def test_legacy_2016_feed() -> None:
    records = raws(list(read(shared("arxivpy_2016_search_query_au_del_maestro.xml"))))
    assert len(records) == 10
    first, second = records[:2]
    assert first.source_id == "1201.4869v1"
    assert first.doi == "10.1142/S021797921244002X"
    assert first.journal_ref == "Int. J. Mod. Phys. B, 26, 1244002 (2012)"
    assert first.comment == "26 pages, 10 figures"
    assert first.categories == ["cond-mat.mes-hall", "cond-mat.other"]
    assert first.links["pdf"] == "http://arxiv.org/pdf/1201.4869v1"
    assert second.source_id == "cond-mat/0412498v1"  # an old-style id keeps its archive
    assert second.authors == ["Adrian Del Maestro", "Subir Sachdev"]


def test_every_shared_feed_is_detected() -> None:
    shared("arxivpy_2026_id_list_1707.08567.atom.xml")
    for path in sorted(SHARED.glob("*.xml")):
        assert atom.looks_like(path.read_bytes()[:4096]), path
    assert not atom.looks_like(b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">')


def test_entry_without_title_is_a_bad_record_and_the_rest_yields() -> None:
    result = parse(feed([entry("2405.00001", title=None), entry("2405.00002")], total=2), "mem")
    bad, good = result.records
    assert isinstance(bad, BadRecord) and bad.location == "mem#entry 1" and "<title>" in bad.reason
    assert isinstance(good, RawRecord) and good.source_id == "2405.00002v1"
    assert good.categories == ["cs.LG", "stat.ML"]
    assert (result.total_results, result.entries) == (2, 2)


def test_api_error_entry_is_an_input_error_with_its_summary(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"incorrect id format for 1234\.12345"):
        parse(ERROR_FEED, "mem")
    path = tmp_path / "error.xml"
    path.write_bytes(ERROR_FEED)
    (bad,) = read(path)  # reading a saved error never raises
    assert isinstance(bad, BadRecord) and "incorrect id format" in bad.reason


@pytest.mark.parametrize(
    "data", [b"", b"junk", b"\x1f\x8b\x08junk", b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>"]
)
def test_garbage_yields_one_bad_record(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "junk.xml"
    path.write_bytes(data)
    (record,) = read(path)
    assert isinstance(record, BadRecord)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.xml"
    path.write_bytes(data)
    assert all(isinstance(r, RawRecord | BadRecord) for r in read(path))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_truncation_keeps_the_complete_entries(tmp_path: Path, data: st.DataObject) -> None:
    whole = feed([entry("2405.00001"), entry("2405.00002"), entry("2405.00003")], total=3)
    cut = data.draw(st.integers(0, len(whole)))
    path = tmp_path / "cut.xml"
    path.write_bytes(whole[:cut] + data.draw(st.binary(max_size=20)))
    records = list(read(path))
    got = [r.source_id for r in records if isinstance(r, RawRecord)]
    assert got == ["2405.00001v1", "2405.00002v1", "2405.00003v1"][: len(got)]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corruption_anywhere_never_raises(tmp_path: Path, data: st.DataObject) -> None:
    whole = feed([entry("2405.00001"), entry("2405.00002")], total=2)
    at = data.draw(st.integers(0, len(whole)))
    junk = data.draw(st.sampled_from(FRAGMENTS) | st.binary(max_size=8))
    path = tmp_path / "corrupt.xml"
    path.write_bytes(whole[:at] + junk + whole[at + data.draw(st.integers(0, 30)) :])
    assert all(isinstance(r, RawRecord | BadRecord) for r in read(path))


def test_repair_mojibake() -> None:
    assert repair_mojibake("Dirk WÃ¼bben") == "Dirk Wübben"
    assert repair_mojibake("$Î±$-stable") == "$α$-stable"
    assert repair_mojibake("Dirk Wübben") == "Dirk Wübben"
    assert repair_mojibake("Ã alone") == "Ã alone"
    assert repair_mojibake("WÃ¼bben and 東京") == "WÃ¼bben and 東京"  # not Latin-1: left alone


# --- queries over the replay server ------------------------------------------------------------


def test_query_by_id_replays_the_recording(server: ReplayServer) -> None:
    recording = load_recording(shared("arxivpy_id_1707.08567_s0_m100_6a1afebfc6a3.json"))
    server.route("/api/query?id_list=1707.08567&start=0&max_results=100", recording.reply)
    records = raws(list(query(OPTIONS, id_list=["1707.08567"], base_url=server.url("/api/query"))))
    assert [r.source_id for r in records] == ["1707.08567v1"]
    (request,) = server.requests
    assert request.query == {"id_list": "1707.08567", "start": "0", "max_results": "100"}
    assert request.headers["user-agent"] == "paperwire-test/1"


def test_query_by_search_replays_the_recording(server: ReplayServer) -> None:
    recording = load_recording(shared("arxivpy_q_testing_s0_m100_cfe7536492ca.json"))
    assert recording.query["search_query"] == "testing"
    server.route("/api/query?search_query=testing&start=0&max_results=100", recording.reply)
    sleeps = Sleeps()
    records = raws(
        list(query(OPTIONS, search_query="testing", base_url=server.url("/api/query"), sleep=sleeps))
    )
    assert len(records) == 100
    assert len(server.requests) == 1 and sleeps == []  # max_results reached: no second page


def test_query_pages_with_start_and_max_results(server: ReplayServer) -> None:
    items = [entry(f"2405.0000{n}") for n in range(1, 6)]
    server.route("/q?start=0&max_results=2", Reply(body=feed(items[0:2], total=5, start=0)))
    server.route("/q?start=2&max_results=2", Reply(body=feed(items[2:4], total=5, start=2)))
    server.route("/q?start=4&max_results=2", Reply(body=feed(items[4:], total=5, start=4)))
    sleeps = Sleeps()
    records = raws(
        list(
            query(
                OPTIONS,
                search_query="cat:cs.LG",
                max_results=50,
                page_size=2,
                base_url=server.url("/q"),
                sleep=sleeps,
            )
        )
    )
    assert [r.source_id for r in records] == [f"2405.0000{n}v1" for n in range(1, 6)]
    assert [r.query["start"] for r in server.requests] == ["0", "2", "4"]
    assert all(r.query["search_query"] == "cat:cs.LG" for r in server.requests)
    assert sleeps == [3.0, 3.0]  # the API asks for three seconds between requests


def test_query_asks_only_for_what_is_left(server: ReplayServer) -> None:
    items = [entry(f"2405.0000{n}") for n in range(1, 6)]
    server.route("/q?start=10&max_results=2", Reply(body=feed(items[0:2], total=99, start=10)))
    server.route("/q?start=12&max_results=1", Reply(body=feed(items[2:3], total=99, start=12)))
    records = list(
        query(
            OPTIONS,
            search_query="x",
            start=10,
            max_results=3,
            page_size=2,
            base_url=server.url("/q"),
            sleep=Sleeps(),
        )
    )
    assert len(records) == 3 and server.unmatched == []


def test_query_stops_on_an_empty_page(server: ReplayServer) -> None:
    server.route("/q?start=0", Reply(body=feed([entry("2405.00001")], total=1000)))
    server.route("/q?start=1", Reply(body=feed([], total=1000, start=1)))
    records = list(
        query(
            OPTIONS, search_query="x", max_results=10, page_size=1, base_url=server.url("/q"), sleep=Sleeps()
        )
    )
    assert len(records) == 1 and len(server.requests) == 2


def test_query_retries_a_503(server: ReplayServer) -> None:
    server.route(
        "/q", Reply(503, headers={"Retry-After": "4"}), Reply(body=feed([entry("2405.00001")], total=1))
    )
    sleeps = Sleeps()
    assert len(list(query(OPTIONS, id_list=["2405.00001"], base_url=server.url("/q"), sleep=sleeps))) == 1
    assert sleeps == [4.0]


@pytest.mark.parametrize("status", [200, 400])
def test_query_error_entry_is_an_input_error(server: ReplayServer, status: int) -> None:
    server.route("/q", Reply(status, ERROR_FEED))
    with pytest.raises(InputError, match=r"incorrect id format for 1234\.12345"):
        list(query(OPTIONS, id_list=["1234.12345"], base_url=server.url("/q"), sleep=Sleeps()))


def test_query_needs_a_search_or_ids() -> None:
    with pytest.raises(InputError, match="search_query or id_list"):
        next(query(OPTIONS))
    with pytest.raises(InputError, match="page_size"):
        next(query(OPTIONS, search_query="x", page_size=5000))
