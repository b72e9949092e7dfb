"""`pipeline.harvest` end to end: OAI-PMH over a loopback replay server into a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from paperwire.config import Settings, load_settings
from paperwire.errors import RemoteError
from paperwire.pipeline import harvest, harvest_source_name
from paperwire.store import ledger, schema
from paperwire.store.database import open_database
from replay_server import ReplayServer, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "oai"
ALL_IDS = ["2405.00001", "2405.00002", "2405.00004", "2405.00005"]


def page(name: str) -> Reply:
    return Reply.file(FIXTURES / name)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay


def make_settings(tmp_path: Path, server: ReplayServer) -> Settings:
    # no retries: a failing page fails at once instead of sleeping through backoff
    return load_settings(
        data_dir=tmp_path / "data", oai_url=server.url("/oai"), http_retries=0, demo_corpus=False
    )


def stored_ids(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(schema.papers.c.id).order_by(schema.papers.c.id)).scalars())


def cursor(engine: sa.Engine) -> dict[str, object] | None:
    with engine.connect() as conn:
        return ledger.get_cursor(conn, harvest_source_name("arXiv", "cs"))


def test_harvest_stores_pages_and_the_next_harvest_starts_where_it_ended(
    tmp_path: Path, server: ReplayServer
) -> None:
    server.route("/oai?verb=ListRecords&metadataPrefix=arXiv", page("list_page1.xml"))
    server.route("/oai?verb=ListRecords&resumptionToken=tok-2", page("list_page2.xml"))
    server.route("/oai?verb=ListRecords&resumptionToken=tok-3", page("list_page3.xml"))
    settings = make_settings(tmp_path, server)
    engine = open_database(settings)

    report = harvest(engine, settings, set_spec="cs", from_date="2024-05-01")
    assert report.counts.new == 4 and report.anything_new
    assert stored_ids(engine) == ALL_IDS
    saved = cursor(engine)
    assert saved is not None and saved["from_date"] == "2024-05-02" and saved["resumption_token"] is None

    server.route("/oai?verb=ListRecords&metadataPrefix=arXiv", page("error_noRecordsMatch.xml"))
    again = harvest(engine, settings, set_spec="cs")
    assert not again.anything_new
    assert server.requests[-1].query["from"] == "2024-05-02"  # from the saved cursor, not the beginning
    assert server.requests[-1].query["set"] == "cs"


def test_interrupted_harvest_keeps_its_cursor_and_resumes_from_the_next_page(
    tmp_path: Path, server: ReplayServer
) -> None:
    server.route("/oai?verb=ListRecords&metadataPrefix=arXiv", page("list_page1.xml"))
    server.route("/oai?verb=ListRecords&resumptionToken=tok-2", Reply(503, b"busy", {"Retry-After": "0"}))
    settings = make_settings(tmp_path, server)
    engine = open_database(settings)

    with pytest.raises(RemoteError):
        harvest(engine, settings, set_spec="cs", from_date="2024-05-01")
    assert stored_ids(engine) == ALL_IDS[:2]  # page 1 landed with its cursor
    saved = cursor(engine)
    assert saved is not None and saved["resumption_token"] == "tok-2"
    with engine.connect() as conn:
        status = conn.execute(sa.select(schema.ingest_runs.c.status)).scalars().all()
    assert status == ["failed"]

    server.route("/oai?verb=ListRecords&resumptionToken=tok-2", page("list_page2.xml"))
    server.route("/oai?verb=ListRecords&resumptionToken=tok-3", page("list_page3.xml"))
    resumed = harvest(engine, settings, set_spec="cs")
    assert server.requests[-2].query == {"verb": "ListRecords", "resumptionToken": "tok-2"}
    assert resumed.counts.new == 2
    assert stored_ids(engine) == ALL_IDS
    final = cursor(engine)
    assert final is not None and final["resumption_token"] is None and final["from_date"] == "2024-05-02"


def test_harvest_cli_exit_codes(tmp_path: Path, server: ReplayServer) -> None:
    from typer.testing import CliRunner

    from paperwire.cli import NOTHING_NEW, app

    server.route("/oai?verb=ListRecords&metadataPrefix=arXiv", page("list_page1.xml"))
    server.route("/oai?verb=ListRecords&resumptionToken=tok-2", page("list_page2.xml"))
    server.route("/oai?verb=ListRecords&resumptionToken=tok-3", page("list_page3.xml"))
    server.route("/oai?verb=ListRecords&metadataPrefix=arXiv", page("error_noRecordsMatch.xml"))
    env = {"PAPERWIRE_OAI_URL": server.url("/oai"), "PAPERWIRE_HTTP_RETRIES": "0"}
    args = ["--data-dir", str(tmp_path / "d"), "harvest", "--set", "cs", "--json"]
    runner = CliRunner()
    assert runner.invoke(app, [*args, "--from", "2024-05-01"], env=env).exit_code == 0
    assert runner.invoke(app, args, env=env).exit_code == NOTHING_NEW
    assert stored_ids(open_database(load_settings(data_dir=tmp_path / "d"))) == ALL_IDS


def test_ingest_of_a_url_downloads_detects_the_format_and_stores(
    tmp_path: Path, server: ReplayServer
) -> None:
    from paperwire.pipeline import ingest

    server.route("/oai", page("list_page3.xml"))
    settings = make_settings(tmp_path, server)
    engine = open_database(settings)
    report = ingest(engine, settings, [server.url("/oai?verb=ListRecords&resumptionToken=tok-3")])
    assert report.counts.new == 1 and report.counts.bad == 0
    assert stored_ids(engine) == ALL_IDS[3:]


def test_ingest_of_a_failing_url_is_a_clear_remote_error(tmp_path: Path, server: ReplayServer) -> None:
    from paperwire.pipeline import ingest

    server.route("/missing", Reply(500, b"oops", {}))
    settings = make_settings(tmp_path, server)
    with pytest.raises(RemoteError, match="500"):
        ingest(open_database(settings), settings, [server.url("/missing")])
