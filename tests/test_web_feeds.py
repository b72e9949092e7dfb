"""Atom feeds: parsed back with a real XML parser, with the elements RFC 4287 requires."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from paperwire.config import Settings
from paperwire.web import create_app
from web_helpers import build_data_dir

NS = {"a": "http://www.w3.org/2005/Atom"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings: Settings = build_data_dir(tmp_path_factory.mktemp("web-feeds") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


def parse(client: TestClient, url: str) -> etree._Element:
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))


def check_required_elements(feed: etree._Element) -> list[etree._Element]:
    """RFC 4287 §4.1.1-4.1.2: feed id, title, updated, author (here on the feed); entry id, title, updated."""
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    for name in ("id", "title", "updated", "author/a:name"):
        assert len(feed.xpath(f"a:{name}", namespaces=NS)) == 1, name
    assert feed.xpath("a:link[@rel='self']/@href", namespaces=NS)
    entries = feed.xpath("a:entry", namespaces=NS)
    ids = [entry.xpath("string(a:id)", namespaces=NS) for entry in entries]
    assert len(ids) == len(set(ids)) and all(i.startswith("http") for i in ids)
    for entry in entries:
        assert entry.xpath("string(a:title)", namespaces=NS)
        assert entry.xpath("string(a:updated)", namespaces=NS)[:4].isdigit()
        assert entry.xpath("a:link[@rel='alternate']/@href", namespaces=NS)
        assert entry.xpath("string(a:summary)", namespaces=NS)
    return entries


def test_search_feed_lists_the_newest_matches(client: TestClient) -> None:
    feed = parse(client, "/feeds/search.atom?q=Xception&since=2021")
    entries = check_required_elements(feed)
    assert "Xception" in feed.xpath("string(a:title)", namespaces=NS)
    published = [e.xpath("string(a:published)", namespaces=NS) for e in entries]
    assert len(entries) == 8 and published == sorted(published, reverse=True)
    assert entries[0].xpath("a:author/a:name/text()", namespaces=NS)[:2] == ["Ada Lovelace", "Alan Turing"]
    assert entries[0].xpath("a:category/@term", namespaces=NS)


def test_newest_feed_and_an_empty_search_feed(client: TestClient) -> None:
    entries = check_required_elements(parse(client, "/feeds/newest.atom"))
    assert len(entries) == 50
    assert entries[0].xpath("string(a:link/@href)", namespaces=NS).endswith("/paper/2412.00011")
    assert check_required_elements(parse(client, "/feeds/search.atom?q=zzzzqqq")) == []


def test_feed_errors_are_json(client: TestClient) -> None:
    response = client.get("/feeds/search.atom?q=x&since=never")
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"
