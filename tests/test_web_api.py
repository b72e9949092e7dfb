"""The REST API over a real SQLite data directory (the seed pages plus dated papers), keyword-only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paperwire.config import Settings
from paperwire.web import create_app
from web_helpers import ART_V_TITLE, build_data_dir, paper_id_by_title


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_data_dir(tmp_path_factory.mktemp("web-api") / "data")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return dict(body["error"])


def test_search_returns_hits_that_explain_themselves(client: TestClient) -> None:
    body = client.get("/api/v1/search", params={"q": "Xception", "limit": 5}).json()
    assert body["mode"] == "keyword" and "keyword-only" in body["notes"][0]
    assert body["total"] >= 10 and len(body["hits"]) == 5 and body["next_offset"] == 5
    first = body["hits"][0]
    assert "Xception" in first["title"] and first["url"] == f"/paper/{first['id']}"
    assert first["explanation"]["keyword_rank"] == 1 and "BM25" in first["explanation"]["text"]
    assert any(run["match"] for run in first["snippet"])


def test_offset_pages_do_not_overlap_and_end(client: TestClient) -> None:
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        body = client.get("/api/v1/search", params={"q": "Xception", "limit": 4, "offset": offset}).json()
        seen += [hit["id"] for hit in body["hits"]]
        offset = body["next_offset"]
    assert len(seen) == len(set(seen)) == body["total"]


def test_filters_by_date_category_and_code(client: TestClient) -> None:
    dated = client.get("/api/v1/search", params={"q": "Xception", "since": "2022", "limit": 50}).json()
    assert dated["hits"] and all(hit["published"] >= "2022-01-01" for hit in dated["hits"])
    until = client.get("/api/v1/search", params={"q": "Xception", "until": "2019-12", "limit": 50}).json()
    assert {hit["id"] for hit in until["hits"]} == {"1902.00001", "1903.00002"}
    category = client.get("/api/v1/search", params={"q": "Xception", "category": "cs.DC"}).json()
    assert [hit["id"] for hit in category["hits"]] == ["2401.00012"]
    coded = client.get("/api/v1/search", params={"q": "Xception", "has_code": "true"}).json()
    assert coded["hits"] and all(hit["links"]["code"] for hit in coded["hits"])
    newest = client.get("/api/v1/search", params={"q": "Xception", "sort": "newest", "limit": 5}).json()
    dates = [hit["published"] for hit in newest["hits"]]
    assert dates == sorted(dates, reverse=True)


def test_paper_with_versions_any_id_form_and_related(client: TestClient, settings: Settings) -> None:
    paper = client.get("/api/v1/papers/arXiv:2106.00005v2").json()
    assert paper["id"] == "2106.00005" and [v["number"] for v in paper["versions"]] == [1, 2, 3]
    assert paper["title_raw"].endswith(r"$\mathcal{O}(n)$ time") and "𝒪" in paper["title"]
    related = client.get("/api/v1/papers/2106.00005/related", params={"limit": 5}).json()
    assert related["paper_id"] == "2106.00005" and len(related["hits"]) == 5
    assert "2106.00005" not in {hit["id"] for hit in related["hits"]}
    art_v = client.get(f"/api/v1/papers/{paper_id_by_title(settings, ART_V_TITLE)}").json()
    assert art_v["collections"][0]["name"].startswith("001")


def test_newest_papers_are_dated_first(client: TestClient) -> None:
    body = client.get("/api/v1/papers", params={"limit": 3}).json()
    assert [paper["id"] for paper in body["papers"]] == ["2412.00011", "2401.00012", "2311.00010"]
    assert body["next_offset"] == 3 and body["total"] > 200


def test_topics_group_every_hit(client: TestClient) -> None:
    body = client.get("/api/v1/topics", params={"q": "network modification", "limit": 40}).json()
    assert 2 <= len(body["topics"]) <= 6 and all(topic["label"] for topic in body["topics"])
    assert sum(len(topic["hits"]) for topic in body["topics"]) == 40


def test_collections_their_pages_and_overlap(client: TestClient) -> None:
    collections = client.get("/api/v1/collections").json()
    names = [c["name"] for c in collections if c["name"][:3] in ("000", "001")]
    assert len(names) == 2 and all(c["papers"] > 100 for c in collections)
    page = client.get(f"/api/v1/collections/{names[0]}", params={"limit": 10, "offset": 10}).json()
    assert [item["position"] for item in page["items"]] == list(range(11, 21))
    assert page["next_offset"] == 20 and page["items"][0]["url"].startswith("/paper/")
    overlap = client.get("/api/v1/overlap", params={"first": names[0], "second": names[1]}).json()
    assert len(overlap["both"]) == 23 and len(overlap["both_titles"]) == 23


def test_errors_have_one_shape_and_say_what_to_do(client: TestClient) -> None:
    missing = error_of(client.get("/api/v1/papers/9999.99999"), 404)
    assert missing["code"] == "not_found" and "search" in missing["message"]
    assert error_of(client.get("/api/v1/collections/nope"), 404)["code"] == "not_found"
    assert error_of(client.get("/api/v1/nothing-here"), 404)["code"] == "not_found"
    bad_limit = error_of(client.get("/api/v1/search", params={"q": "x", "limit": 0}), 422)
    assert bad_limit["code"] == "invalid_input" and "limit" in bad_limit["message"]
    bad_date = error_of(client.get("/api/v1/search", params={"q": "x", "since": "2024-13"}), 422)
    assert "not a valid date" in bad_date["message"] and "check the month" in bad_date["message"]
    assert error_of(client.get("/api/v1/search", params={"q": "x", "sort": "loudest"}), 422)
    assert error_of(client.get("/api/v1/search", params={"q": "has:nothing"}), 422)["code"] == "invalid_input"
    assert error_of(client.post("/api/v1/search"), 405)["code"] == "method_not_allowed"


def test_openapi_schema_and_its_reference_page(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    paths = set(schema["paths"])
    assert {"/api/v1/search", "/api/v1/papers/{paper_id}", "/api/v1/topics", "/api/v1/collections",
            "/api/v1/overlap", "/api/v1/admin/ingest"} <= paths  # fmt: skip
    assert not any(path.startswith(("/search", "/paper/")) for path in paths)  # pages stay out
    error_ref = schema["paths"]["/api/v1/search"]["get"]["responses"]["429"]["content"]["application/json"]
    assert error_ref["schema"]["$ref"].endswith("/ErrorOut")
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and "GET /api/v1/search" in docs.text and "<script>" not in docs.text
