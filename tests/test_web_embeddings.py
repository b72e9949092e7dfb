"""The web service with semantic search on (the bundled model, exported once per test session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import html

from paperwire.web import create_app
from web_helpers import build_data_dir


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("web-embeddings") / "data"
    settings = build_data_dir(data_dir, embeddings=True, models_dir=models_dir)
    with TestClient(create_app(settings)) as client:
        yield client


def test_hybrid_search_through_the_api_finds_meaning_beyond_words(client: TestClient) -> None:
    body = client.get("/api/v1/search", params={"q": "Xception", "limit": 20}).json()
    assert body["mode"] == "hybrid" and not body["notes"]
    assert body["total"] > 20  # semantic neighbours beyond the keyword hits
    methods = {hit["explanation"]["method"] for hit in body["hits"]}
    assert methods == {"convex"}
    assert any(hit["explanation"]["semantic_rank"] for hit in body["hits"])
    semantic_only = [hit for hit in body["hits"] if hit["explanation"]["keyword_rank"] is None]
    assert all("cosine" in hit["explanation"]["text"] for hit in semantic_only)


def test_related_papers_and_topic_facets_use_the_vectors(client: TestClient) -> None:
    related = client.get("/api/v1/papers/2311.00010/related", params={"limit": 5}).json()["hits"]
    assert len(related) == 5 and all(hit["explanation"]["method"] == "convex" for hit in related)
    doc = html.fromstring(client.get("/search", params={"q": "graph rewiring"}).text)
    assert len(doc.xpath("//nav[@class='facets']//li")) >= 3
    paper = html.fromstring(client.get("/paper/2311.00010").text)
    assert len(paper.xpath("//section[@class='related']//article")) == 8
