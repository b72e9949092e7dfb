"""Trending on the web: the home page, /trending, its API and feed, and upvotes (one per address)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree, html

from conftest import shared_path
from paperwire import pipeline
from paperwire.config import Settings, load_settings
from paperwire.library import Library
from paperwire.web import create_app
from paperwire.web.security import CSRF_FIELD
from web_helpers import build_data_dir

HF_DAY = shared_path("data", "arxiv", "hf_daily_papers", "2026-08-21.json")
ATOM = "{http://www.w3.org/2005/Atom}"


def _quiet(*_args: object) -> None:
    return None


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The seed pages and dated papers of the web tests, plus a day of Hugging Face papers."""
    settings = build_data_dir(tmp_path_factory.mktemp("web-trending") / "data")
    with Library(settings) as library:
        pipeline.ingest(library.engine, settings, [str(HF_DAY)], None, _quiet)
        library.sync()
    return settings


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def titles(page: str) -> list[str]:
    return [t.text_content().strip() for t in html.fromstring(page).xpath("//article[@class='card']/h3")]


def test_home_and_trending_page_rank_by_attention(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200 and "Trending this week" in home.text
    api = client.get("/api/v1/trending", params={"window": "week", "limit": 5}).json()
    assert api["as_of"] == "2026-08-21" and api["papers"][0]["upvotes"] == 163
    assert titles(home.text)[0] == api["papers"][0]["paper"]["title"]
    assert "163 upvotes on Hugging Face" in home.text
    for window in ("day", "week", "month"):
        page = client.get("/trending", params={"window": window})
        assert page.status_code == 200
        current = html.fromstring(page.text).xpath("//nav[@class='tabs']//a[@aria-current='page']")
        assert [a.text_content() for a in current] == [f"This {window}"]
    assert client.get("/trending", params={"window": "year"}).status_code == 422
    empty = client.get("/trending", params={"category": "q-bio.NC"})
    assert empty.status_code == 200 and "Nothing trends this week in q-bio.NC" in empty.text


def test_an_upvote_counts_once_per_address_and_needs_the_form_token(client: TestClient) -> None:
    paper_id = client.get("/api/v1/trending", params={"limit": 100}).json()["papers"][-1]["paper"]["id"]
    page = client.get(f"/paper/{paper_id}")
    form = html.fromstring(page.text).xpath("//form[@id='vote']")[0]
    token = form.xpath(f"input[@name='{CSRF_FIELD}']")[0].get("value")
    assert "0 upvotes" in page.text
    forged = client.post(f"/paper/{paper_id}/vote", data={CSRF_FIELD: "forged"}, follow_redirects=False)
    assert forged.status_code == 403 and "reload the page" in forged.text
    for _ in range(2):  # pressing twice counts once
        voted = client.post(form.get("action"), data={CSRF_FIELD: token}, follow_redirects=False)
        assert voted.status_code == 303 and voted.headers["location"] == f"/paper/{paper_id}#vote"
    assert "1 upvote" in client.get(f"/paper/{paper_id}").text
    again = client.post(f"/api/v1/papers/{paper_id}/vote").json()
    assert again == {"paper_id": paper_id, "counted": False, "upvotes": 1}  # same address, API or form
    day = client.get("/api/v1/trending", params={"window": "day", "limit": 100}).json()["papers"]
    entry = next(p for p in day if p["paper"]["id"] == paper_id)
    assert entry["events"] == {"upvote": 1}
    assert client.post("/api/v1/papers/9999.99999/vote").status_code == 404


def test_trending_feed_is_atom_in_trending_order(client: TestClient) -> None:
    feed = client.get("/feeds/trending.atom", params={"window": "week"})
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    root = etree.fromstring(feed.content)
    entries = root.findall(f"{ATOM}entry")
    api = client.get("/api/v1/trending", params={"window": "week", "limit": len(entries)}).json()
    assert [e.findtext(f"{ATOM}title") for e in entries] == [p["paper"]["title"] for p in api["papers"]]


def test_home_falls_back_to_newest_when_nothing_is_dated(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "d", demo_corpus=False, embeddings=False)
    with Library(settings) as library:
        pipeline.ingest(
            library.engine, settings, [str(p) for p in shared_path("seeds").glob("*.txt")], None, _quiet
        )
        library.sync()
    with TestClient(create_app(settings)) as client:
        home = client.get("/")
    assert "Newest papers" in home.text and "Trending this week" not in home.text and titles(home.text)
