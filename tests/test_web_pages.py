"""The HTML pages through TestClient, without JavaScript: every page works with plain links and forms."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from lxml import html

from paperwire.config import Settings
from paperwire.web import create_app
from web_helpers import ART_V_TITLE, build_data_dir, paper_id_by_title


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_data_dir(tmp_path_factory.mktemp("web-pages") / "data")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def page(client: TestClient, url: str, status: int = 200) -> html.HtmlElement:
    response = client.get(url)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return html.fromstring(response.text)


def texts(doc: html.HtmlElement, xpath: str) -> list[str]:
    return [" ".join(node.text_content().split()) for node in doc.xpath(xpath)]


def test_every_page_has_landmarks_a_skip_link_and_labelled_fields(
    client: TestClient, settings: Settings
) -> None:
    art_v = paper_id_by_title(settings, ART_V_TITLE)
    pages = (
        "/",
        "/search?q=Xception",
        f"/paper/{art_v}",
        "/collections",
        "/overlap",
        "/subscribe",
        "/manage",
    )
    for url in pages:
        doc = page(client, url)
        assert doc.xpath("//a[@class='skip-link'][@href='#main']") and doc.xpath("//main[@id='main']")
        assert doc.xpath("//header//nav[@aria-label]") and doc.xpath("//footer")
        assert len(doc.xpath("//h1")) == 1 and doc.xpath("/html[@lang='en']")
        for field in doc.xpath("//input[not(@type='hidden')] | //select | //textarea"):
            assert doc.xpath(f"//label[@for='{field.get('id')}']"), (url, field.get("name"))
        assert not doc.xpath("//script[not(@src)]"), url  # no inline scripts: the CSP forbids them


def test_home_shows_newest_papers_collections_and_the_subscribe_call(client: TestClient) -> None:
    doc = page(client, "/")
    assert (
        texts(doc, "//section[@class='newest']//h3")[0]
        == "Xception for sign language recognition in the wild"
    )
    assert len(doc.xpath("//aside//a[starts-with(@href, '/collections/')]")) == 2
    assert doc.xpath("//form[@action='/search'][@method='get']//input[@name='q']")
    assert doc.xpath("//section[@class='subscribe-cta']//a[@href='/subscribe']")


def test_search_results_with_badges_abstracts_facets_and_pages(client: TestClient) -> None:
    doc = page(client, "/search?q=Xception")
    titles = texts(doc, "//article[@class='card']//h3")
    assert len(titles) == 10 and all("xception" in t.lower() for t in titles[:5])
    assert doc.xpath("//article//details[@class='abstract-full']/summary")
    assert doc.xpath("//article//mark[.='Xception']")
    assert doc.xpath(
        "//a[contains(@class,'badge-code')][@href='https://github.com/example/xception-pruning']"
    )
    assert "2 versions" in texts(doc, "//span[@class='badge']")
    facets = doc.xpath("//nav[@class='facets']//a")
    assert len(facets) >= 3 and facets[0].get("aria-current") == "true"
    next_link = doc.xpath("//nav[@class='pager']//a[@rel='next']/@href")[0]
    second = page(client, next_link)
    assert not set(texts(second, "//article[@class='card']//h3")) & set(titles)
    assert second.xpath("//nav[@class='pager']//a[@rel='prev']/@href")[0] == "/search?q=Xception"


def test_a_topic_facet_narrows_the_results_to_its_group(client: TestClient) -> None:
    doc = page(client, "/search?q=Xception")
    label, count = doc.xpath("//nav[@class='facets']//a")[1].text.strip(), None
    count = int(doc.xpath("//nav[@class='facets']//a")[1].xpath(".//span")[0].text)
    narrowed = page(client, doc.xpath("//nav[@class='facets']//a")[1].get("href"))
    assert len(narrowed.xpath("//article[@class='card']")) == min(count, 10)
    assert label in texts(narrowed, "//p[@class='count']")[0]


def test_filters_sort_and_has_code_work_as_a_plain_get_form(client: TestClient) -> None:
    doc = page(client, "/search?q=Xception&since=2023&until=&category=&sort=newest")
    dates = [t.get("datetime") for t in doc.xpath("//article//time")]
    assert dates and dates == sorted(dates, reverse=True) and all(d >= "2023" for d in dates)
    assert doc.xpath("//input[@id='since']/@value") == ["2023"]
    assert doc.xpath("//select[@id='sort']/option[@selected]/@value") == ["newest"]
    coded = page(client, "/search?q=Xception&has_code=1")
    cards = coded.xpath("//article[@class='card']")
    assert cards and all(card.xpath(".//a[contains(@class, 'badge-code')]") for card in cards)
    assert len(cards) < len(doc.xpath("//article[@class='card']")) + 8
    assert page(client, "/search?q=Xception&since=2024-13", 422).xpath("//p[@class='error-message']")


def test_search_as_you_type_gets_only_the_results_part(client: TestClient) -> None:
    response = client.get("/search?q=depthwise", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.text.lstrip().startswith('<div id="results"')
    assert "<html" not in response.text and "HX-Request" in response.headers["vary"]
    doc = page(client, "/search?q=Xception")
    box = doc.xpath("//input[@id='q']")[0]
    assert box.get("hx-get") == "/search" and box.get("hx-target") == "#results"


def test_why_this_result_inline_and_as_a_page(client: TestClient) -> None:
    doc = page(client, "/search?q=Xception")
    link = doc.xpath("//a[@class='why-link']")[0]
    assert link.get("hx-get") == link.get("href") and link.get("hx-target") == "#why-1"
    inline = client.get(link.get("href"), headers={"HX-Request": "true"})
    assert "keyword #1" in inline.text and "<html" not in inline.text
    full = page(client, link.get("href"))
    assert "keyword #1" in full.text_content() and full.xpath("//a[starts-with(@href, '/search?q=Xception')]")


def test_paper_page_math_versions_duplicates_links_related_and_export(
    client: TestClient, settings: Settings
) -> None:
    doc = page(client, f"/paper/{paper_id_by_title(settings, ART_V_TITLE)}")
    heading = doc.xpath("//h1")[0]
    assert heading.get("data-tex") == ART_V_TITLE  # KaTeX renders this in the browser
    assert "$" not in heading.text_content() and heading.text_content().startswith("ART")
    assert doc.xpath("//script[@src='/static/vendor/katex/katex.min.js']")
    assert len(doc.xpath("//section[@class='related']//article")) == 8
    distillation = page(client, "/paper/2106.00005")
    assert texts(distillation, "//ul[@class='versions']/li") == [
        "v1 · 2021-06-03", "v2 · 2021-06-04", "v3 · 2021-06-05",
    ]  # fmt: skip
    assert distillation.xpath("//a[@href='/paper/2106.00005/bibtex']")
    assert distillation.xpath("//a[@href='/api/v1/papers/2106.00005']")
    pruning = page(client, "/paper/2004.00003")
    assert pruning.xpath("//a[@href='https://github.com/example/xception-pruning']")
    no_math = page(client, "/paper/2004.00003")
    assert not no_math.xpath("//script[contains(@src, 'katex')]")  # KaTeX only where there is math


def test_duplicates_are_listed_on_the_paper_page(client: TestClient) -> None:
    results = client.get("/api/v1/search", params={"q": "channel pruning very deep", "limit": 5}).json()
    hit = next(h for h in results["hits"] if h["duplicates"])
    doc = page(client, hit["url"])
    assert doc.xpath(f"//a[@href='/paper/{hit['duplicates'][0]}']")


def test_old_paper_addresses_redirect_to_the_canonical_one(client: TestClient) -> None:
    response = client.get("/paper/arXiv:2106.00005v3", follow_redirects=False)
    assert response.status_code == 308 and response.headers["location"] == "/paper/2106.00005"
    opened = client.get("/open", params={"id": "arXiv:2106.00005v2"})
    assert opened.url.path == "/paper/2106.00005" and opened.status_code == 200


def test_bibtex_export(client: TestClient) -> None:
    response = client.get("/paper/2106.00005/bibtex")
    assert response.headers["content-type"].startswith("text/plain")
    entry = response.text
    assert entry.startswith("@misc{lovelace2021knowledge,") and "eprint = {2106.00005}" in entry
    assert (
        r"\$\textbackslash{}mathcal\{O\}" not in entry and "author = {Ada Lovelace and Alan Turing" in entry
    )
    assert entry.count("{") == entry.count("}")


def test_collection_pages_and_overlap(client: TestClient) -> None:
    names = [a.text for a in page(client, "/collections").xpath("//table//a")]
    assert [n[:3] for n in names] == ["000", "001"]
    first = page(client, f"/collections/{names[0]}")
    assert first.xpath("//ol[@start='1']") and len(first.xpath("//ol/li")) == 10
    assert page(client, f"/collections/{names[0]}?page=2").xpath("//ol[@start='11']")
    overlap = page(client, f"/overlap?first={names[0]}&second={names[1]}")
    assert texts(overlap, "//h2")[0] == "23 shared papers" and len(overlap.xpath("//section//ol/li")) == 23
    assert page(client, "/collections/nope", 404).xpath("//p[@data-code='not_found']")


def test_search_page_weighs_under_200_kb_compressed(client: TestClient) -> None:
    response = client.get("/search?q=Xception", headers={"Accept-Encoding": "gzip"})
    doc = html.fromstring(response.text)
    assets = doc.xpath("//script/@src | //link[@rel='stylesheet']/@href")
    total = len(gzip.compress(response.content))
    for asset in assets:
        body = client.get(asset).content
        total += len(gzip.compress(body))
    assert total < 200_000, total
    assert not any("katex" in asset for asset in assets)


def test_unknown_pages_answer_404_pages(client: TestClient) -> None:
    doc = page(client, "/no/such/page", 404)
    assert re.search(r"nothing at /no/such/page", doc.text_content())
