"""Security of the web service: escaping, headers, CSRF, rate limits, admin token, redirects, sizes, logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from lxml import html

from paperwire.config import Settings, load_settings
from paperwire.errors import ConfigError
from paperwire.web import create_app
from paperwire.web.security import CSRF_COOKIE, RateLimiter, local_path
from paperwire.web.views import external_url
from web_helpers import XSS_PAPER, build_data_dir, jsonl

TOKEN = "a-long-random-admin-token-for-tests"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_data_dir(tmp_path_factory.mktemp("web-security") / "data", admin_token=TOKEN)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/api/v1/admin/ingest", params={"name": "xss.jsonl"}, content=jsonl(XSS_PAPER),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )  # fmt: skip
        assert response.status_code == 200 and response.json()["new"] == 1, response.text
        yield client


def test_script_payloads_in_a_paper_render_inert(client: TestClient) -> None:
    for url in ("/paper/2501.99999", "/search?q=Xception+abstract", "/"):
        body = client.get(url).text
        doc = html.fromstring(body)
        assert "window.__pwned" not in "".join(doc.xpath("//script/text()")), url
        assert not doc.xpath("//img[@onerror] | //*[@onmouseover] | //b"), url
        assert "&lt;script&gt;" in body, url
    paper = html.fromstring(client.get("/paper/2501.99999").text)
    assert "<img" in paper.xpath("//p[@class='abstract math']/@data-tex")[0]  # stays text for KaTeX


def test_security_headers_on_pages_api_static_and_errors(client: TestClient) -> None:
    for url in ("/", "/api/v1/search?q=x", "/static/style.css", "/nothing", "/api/v1/papers/none"):
        headers = client.get(url).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "same-origin"


def test_subscribe_form_needs_its_csrf_token(client: TestClient) -> None:
    form = html.fromstring(client.get("/subscribe").text)
    token = form.xpath("//input[@name='csrf_token']/@value")[0]
    assert client.cookies.get(CSRF_COOKIE) == token
    fields = {"email": "ada@example.org", "topics": "Xception\ngraph rewiring", "csrf_token": token}
    ok = client.post("/subscribe", data=fields)
    assert ok.status_code == 200 and "Check your inbox" in ok.text
    for bad in ("", "forged.token", token + "x"):
        refused = client.post("/subscribe", data={**fields, "csrf_token": bad})
        assert refused.status_code == 403 and "reload the page" in refused.text
    # another site cannot read the cookie: a request without it fails even with a valid-looking token
    stranger = TestClient(client.app)  # no `with`: its lifespan would close the shared app's library
    assert stranger.post("/subscribe", data=fields).status_code == 403


def test_subscribe_validates_and_never_redirects_off_site(client: TestClient) -> None:
    token = html.fromstring(client.get("/subscribe").text).xpath("//input[@name='csrf_token']/@value")[0]
    invalid = client.post("/subscribe", data={"email": "nope", "topics": "", "csrf_token": token})
    assert invalid.status_code == 422 and invalid.text.count('class="error"') == 2
    opened = client.get("/open", params={"id": "//evil.example"}, follow_redirects=False)
    assert opened.headers["location"].startswith("/paper/") and "//evil" not in opened.headers["location"][:8]
    assert local_path("/search?q=x") == "/search?q=x" and local_path("https://evil.example") == "/"
    assert external_url("javascript:alert(1)") == "#" and external_url("https://github.com/a/b").startswith(
        "https"
    )


def test_search_rate_limit_answers_429_in_the_error_shape(settings: Settings) -> None:
    tight = settings.model_copy(update={"search_burst": 3, "search_rate": 0.001})
    with TestClient(create_app(tight, prepared=True)) as client:
        statuses = [client.get("/api/v1/search", params={"q": "Xception"}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/api/v1/search", params={"q": "Xception"})
        assert (
            limited.json()["error"]["code"] == "rate_limited" and "wait" in limited.json()["error"]["message"]
        )
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/search", params={"q": "Xception"}).status_code == 429  # the page too
        assert client.get("/api/v1/papers/2106.00005").status_code == 200  # reading a paper is no search


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5) and limiter.take("b") == 0.0
    now[0] = 0.5
    assert limiter.take("a") == 0.0


def test_admin_endpoints_need_the_token_and_are_off_without_one(
    client: TestClient, settings: Settings
) -> None:
    wrong = client.post("/api/v1/admin/reindex", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    assert client.post("/api/v1/admin/reindex").status_code == 401
    right = client.post("/api/v1/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and right.json()["keyword"] > 200
    off = settings.model_copy(update={"admin_token": None})
    with TestClient(create_app(off, prepared=True)) as plain:
        refused = plain.post("/api/v1/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 403 and "PAPERWIRE_ADMIN_TOKEN" in refused.json()["error"]["message"]


def test_request_bodies_over_the_limit_are_refused(settings: Settings) -> None:
    small = settings.model_copy(update={"max_request_bytes": 2048})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(small, prepared=True)) as client:
        big = client.post("/api/v1/admin/ingest", content=b"x" * 5000, headers=auth)
        assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"

        def chunks() -> Iterator[bytes]:
            yield from (b"y" * 1000 for _ in range(5))  # no Content-Length: counted as it streams

        streamed = client.post("/api/v1/admin/ingest", content=chunks(), headers=auth)
        assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "too_large"


def test_placeholder_secrets_are_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="admin_token looks like a placeholder"):
        load_settings(data_dir=tmp_path, environment="production", admin_token="changeme")
    load_settings(data_dir=tmp_path, environment="development", admin_token="changeme")


def test_one_json_access_log_line_per_request(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="paperwire.access"):
        client.get("/healthz")
        client.get("/api/v1/papers/none")
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "paperwire.access"]
    assert [(line["path"], line["status"]) for line in lines] == [
        ("/healthz", 200),
        ("/api/v1/papers/none", 404),
    ]
    assert all({"time", "method", "query", "bytes", "duration_ms", "client"} <= set(line) for line in lines)


def test_link_tokens_stay_out_of_the_access_log(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="paperwire.access"):
        client.get("/unsubscribe", params={"token": "a-secret.signature", "x": "1"})
        client.get("/digest/feed", params={"x": "1", "token": "another-secret.signature"})
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "paperwire.access"]
    assert [(line["query"], line["status"]) for line in lines] == [
        ("token=redacted&x=1", 403),
        ("x=1&token=redacted", 403),
    ]


def test_nul_characters_in_the_address_are_dropped(client: TestClient) -> None:
    # no id, name or query has one, and PostgreSQL cannot store or compare one: every database
    # answers as if the address had none
    for with_nul, without in [
        ("/api/v1/overlap?first=cs&second=a%00b", "/api/v1/overlap?first=cs&second=ab"),
        ("/api/v1/collections/%00none", "/api/v1/collections/none"),
        ("/api/v1/search?q=diff%00usion", "/api/v1/search?q=diffusion"),
        ("/paper/2405%00.00001", "/paper/2405.00001"),
    ]:
        got, expected = client.get(with_nul), client.get(without)
        assert got.status_code == expected.status_code < 500, (with_nul, got.text)
        assert got.headers["content-type"] == expected.headers["content-type"]
