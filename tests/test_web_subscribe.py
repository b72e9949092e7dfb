"""Subscribing through the web, and every link in the emails, against a real SMTP server on loopback.

The emails are parsed back from what aiosmtpd received; the links in them are followed with the test
client (base_url http://testserver), pages are read without JavaScript.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from lxml import etree, html

from mail_server import MailServer
from paperwire.config import Settings
from paperwire.digest import subscribers
from paperwire.digest.service import Digests
from paperwire.library import Library
from paperwire.web import create_app
from web_helpers import build_data_dir, last_to, links, mail_settings, subscriber

NS = {"a": "http://www.w3.org/2005/Atom"}
PREFERENCES = {
    "topics": "Xception\ndepthwise separable convolutions", "categories": "cs.CV", "frequency": "daily",
    "send_hour": "0", "timezone": "Europe/Paris", "max_papers": "5",
}  # fmt: skip


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, mail: MailServer) -> Settings:
    return build_data_dir(tmp_path_factory.mktemp("web-subscribe") / "data", **mail_settings(mail))


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, prepared=True)) as client:
        yield client


def doc_of(response: Response, status: int = 200) -> html.HtmlElement:
    assert response.status_code == status, response.text[:800]
    assert response.headers["content-type"].startswith("text/html")
    return html.fromstring(response.text)


def accessible(doc: html.HtmlElement) -> None:
    """One h1 in the main landmark, a label for every field, no inline script."""
    assert len(doc.xpath("//h1")) == 1 and doc.xpath("//main[@id='main']//h1")
    for field in doc.xpath("//input[not(@type='hidden')] | //select | //textarea"):
        assert doc.xpath(f"//label[@for='{field.get('id')}']"), field.get("name")
    assert not doc.xpath("//script[not(@src)]")


def main_text(doc: html.HtmlElement) -> str:
    return " ".join(doc.xpath("//main")[0].text_content().split())


def submit(client: TestClient, page_url: str, action: str, **fields: Any) -> Response:
    """Open a page and submit its form that posts to `action`, hidden fields kept, these fields set."""
    doc = doc_of(client.get(page_url))
    form = doc.xpath(f"//form[@action='{action}']")
    assert form, f"no form posting to {action} on {page_url}"
    data = {field.get("name"): field.get("value") for field in form[0].xpath(".//input[@type='hidden']")}
    return client.post(action, data={**data, **fields})


def subscribe(client: TestClient, address: str, **fields: Any) -> Response:
    return submit(client, "/subscribe", "/subscribe", email=address, **{**PREFERENCES, **fields})


def confirmed(client: TestClient, mail: MailServer, address: str) -> dict[str, Any]:
    """Subscribe the address and press Confirm on the link the email holds."""
    subscribe(client, address)
    [path] = links(last_to(mail, address), "/confirm")
    doc_of(submit(client, path, "/confirm"))
    return {"path": path}


def manage_page(client: TestClient, mail: MailServer, address: str) -> html.HtmlElement:
    """Ask for a manage link, and open it: the manage page."""
    doc_of(submit(client, "/manage", "/manage/link", email=address))
    [path] = links(last_to(mail, address), "/manage/open")
    return doc_of(submit(client, path, "/manage/open"))


def status_of(settings: Settings, address: str) -> str | None:
    found = subscriber(settings, address)
    return None if found is None else str(found["status"])


def forbidden(response: Response, *words: str) -> None:
    """The site's error page for a spent or forged link: 403, with what to do next."""
    doc = doc_of(response, 403)
    message = doc.xpath("//p[@class='error-message']")[0]
    assert message.get("data-code") == "forbidden"
    for word in (*words, "/subscribe"):
        assert word in message.text_content(), message.text_content()


def test_subscribe_sends_a_confirmation_that_only_a_post_confirms(
    client: TestClient, mail: MailServer, settings: Settings
) -> None:
    answer = doc_of(subscribe(client, "Ada@Example.org"))
    assert answer.xpath("//h1")[0].text == "Check your inbox"
    message = last_to(mail, "ada@example.org")
    assert message["Subject"] == "Confirm your paperwire digest" and message["From"].addresses
    [path] = links(message, "/confirm")
    assert status_of(settings, "ada@example.org") == "pending"
    stored = subscriber(settings, "ada@example.org")
    assert stored and stored["topics"] == ["Xception", "depthwise separable convolutions"]
    assert stored["categories"] == ["cs.CV"] and stored["timezone"] == "Europe/Paris"

    page = doc_of(client.get(path))  # what a link scanner fetches: confirms nothing
    assert page.xpath("//form[@action='/confirm'][@method='post']//button[.='Confirm']")
    doc_of(client.get(path))
    assert status_of(settings, "ada@example.org") == "pending"

    done = doc_of(submit(client, path, "/confirm"))
    assert done.xpath("//h1")[0].text == "You are subscribed" and done.xpath("//a[@href='/manage']")
    assert "ada@example.org" in main_text(done) and status_of(settings, "ada@example.org") == "active"

    token = path.partition("token=")[2]
    csrf = client.cookies.get("paperwire_csrf")
    forbidden(client.post("/confirm", data={"token": token, "csrf_token": csrf}), "already used")
    payload, _, signature = token.partition(".")
    for forged in (f"{payload}.{signature[:-2]}xx", "abc.def", ""):
        forbidden(client.get("/confirm", params={"token": forged}), "not valid")
        forbidden(client.post("/confirm", data={"token": forged, "csrf_token": csrf}), "not valid")
    refused = client.post("/confirm", data={"token": token})  # the POST needs its CSRF token too
    assert refused.status_code == 403 and "reload the page" in refused.text


def test_the_answer_is_the_same_for_new_pending_and_subscribed_addresses(
    client: TestClient, mail: MailServer, settings: Settings
) -> None:
    confirmed(client, mail, "grace@example.org")
    before = len(mail.mailbox.raw)
    pages = {address: main_text(doc_of(subscribe(client, address))) for address in (
        "new@example.org", "new@example.org", "grace@example.org",
    )}  # fmt: skip
    assert len(set(pages.values())) == 1
    assert len(mail.mailbox.raw) == before + 3
    pending = mail.mailbox.to("new@example.org")
    assert [m["Subject"] for m in pending] == ["Confirm your paperwire digest"] * 2
    latest = last_to(mail, "grace@example.org")  # a manage link, never a second confirmation
    assert latest["Subject"] == "Your paperwire subscription"
    assert links(latest, "/manage/open") and not links(latest, "/confirm")
    assert status_of(settings, "grace@example.org") == "active"
    stored = subscriber(settings, "grace@example.org")
    assert stored and stored["timezone"] == "Europe/Paris"  # a stranger cannot change it by subscribing


def test_invalid_subscriptions_come_back_with_each_field_explained(
    client: TestClient, mail: MailServer
) -> None:
    before = len(mail.mailbox.raw)
    wrong = {
        "topics": "\n".join(f"topic {i}" for i in range(11)),
        "categories": "CS!",
        "timezone": "Mars/Olympus",
        "max_papers": "500",
        "send_hour": "x",
    }
    doc = doc_of(subscribe(client, "not-an-address", **wrong), 422)
    accessible(doc)
    errors = {p.get("id"): p.text_content() for p in doc.xpath("//p[@class='error']")}
    fields = ("email", "topics", "categories", "timezone", "max_papers", "send_hour")
    assert set(errors) == {f"{name}-error" for name in fields}
    assert "ada@example.org" in errors["email-error"] and "Europe/Paris" in errors["timezone-error"]
    for name in ("email", "categories", "timezone", "max_papers", "topics"):
        field = doc.xpath(f"//*[@id='{name}']")[0]
        assert field.get("aria-invalid") == "true" and f"{name}-error" in field.get("aria-describedby")
    assert len(doc.xpath("//div[@class='error-summary']//li/a")) == 6
    assert doc.xpath("//input[@id='timezone']/@value") == ["Mars/Olympus"]  # kept as typed
    assert doc.xpath("//input[@id='categories']/@value") == ["CS!"]
    assert len(mail.mailbox.raw) == before


def test_manage_through_a_magic_link(client: TestClient, mail: MailServer, settings: Settings) -> None:
    confirmed(client, mail, "hedy@example.org")
    same = {main_text(doc_of(submit(client, "/manage", "/manage/link", email=address)))
            for address in ("hedy@example.org", "nobody@example.org", "junk")}  # fmt: skip
    assert len(same) == 1 and not mail.mailbox.to("nobody@example.org")
    [path] = links(last_to(mail, "hedy@example.org"), "/manage/open")
    opener = doc_of(client.get(path))
    assert opener.xpath("//form[@action='/manage/open'][@method='post']//button")
    page = doc_of(submit(client, path, "/manage/open"))
    for doc in (opener, page, doc_of(client.get("/manage"))):
        accessible(doc)
    assert page.xpath("//textarea[@id='topics']")[0].text == "Xception\ndepthwise separable convolutions"
    assert page.xpath("//select[@id='send_hour']/option[@selected]/@value") == ["0"]
    assert page.xpath("//input[@name='session']/@value")[0]

    saved = client.post(
        "/manage",
        data={**hidden(page, "/manage"), **PREFERENCES, "topics": "graph rewiring", "frequency": "weekly",
              "empty_note": "1"},
    )  # fmt: skip
    after = doc_of(saved)
    assert saved.headers["cache-control"] == "no-store"  # it holds the session and the feed's link
    assert "Saved" in main_text(after) and after.xpath("//textarea[@id='topics']")[0].text == "graph rewiring"
    stored = subscriber(settings, "hedy@example.org")
    assert stored and stored["topics"] == ["graph rewiring"] and stored["frequency"] == "weekly"
    assert stored["empty_note"] is True

    invalid = client.post("/manage", data={**hidden(page, "/manage"), **PREFERENCES, "max_papers": "0"})
    assert "1 to 50" in doc_of(invalid, 422).xpath("//p[@id='max_papers-error']")[0].text
    forbidden(submit(client, path, "/manage/open"), "already used")
    forbidden(client.post("/manage", data={**hidden(page, "/manage"), "session": "x.y"}), "not valid")


def hidden(doc: html.HtmlElement, action: str) -> dict[str, str]:
    form = doc.xpath(f"//form[@action='{action}']")[0]
    return {field.get("name"): field.get("value") for field in form.xpath(".//input[@type='hidden']")}


@pytest.fixture(scope="module")
def digest(client: TestClient, mail: MailServer, settings: Settings) -> EmailMessage:
    """A digest for a confirmed subscriber, sent by the digest service's own run."""
    confirmed(client, mail, "alan@example.org")
    with Library(settings) as library:
        report = Digests(library).run(only="alan@example.org")
    assert report.delivery.sent == 1, report
    message = last_to(mail, "alan@example.org")
    assert "new paper" in message["Subject"]
    return message


def test_one_click_unsubscribe_needs_no_cookie_and_no_csrf(
    client: TestClient, digest: EmailMessage, settings: Settings
) -> None:
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = digest["List-Unsubscribe"].strip("<>")
    assert url.startswith("http://testserver/unsubscribe?token=")
    page = doc_of(client.get(url))
    assert page.xpath("//form[@method='post']//button[.='Unsubscribe']")
    bare = TestClient(client.app)  # a mail provider: no cookies, the RFC 8058 body, nothing else
    assert not bare.cookies
    answer = bare.post(url, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and status_of(settings, "alan@example.org") == "unsubscribed"
    assert bare.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # any number of times
    forbidden(bare.post(url[:-3] + "abc", data={"List-Unsubscribe": "One-Click"}), "not valid")


def test_feedback_and_click_links(client: TestClient, digest: EmailMessage, settings: Settings) -> None:
    up = links(digest, "/digest/feedback")[0]
    thanks = doc_of(client.get(up))
    paper_link = thanks.xpath("//main//a[starts-with(@href, '/paper/')]/@href")[0]
    assert "more papers like it" in main_text(thanks)
    stored = subscriber(settings, "alan@example.org")
    assert stored
    with Library(settings) as library, library.engine.connect() as conn:
        assert subscribers.marks(conn, [stored["id"]])[stored["id"]] == {
            paper_link.removeprefix("/paper/"): 1
        }
    clicked = client.get(links(digest, "/digest/click")[0], follow_redirects=False)  # the same paper
    assert clicked.status_code == 303 and clicked.headers["location"] == paper_link
    assert doc_of(client.get(paper_link)).xpath("//h1")
    token, paper = parse_qs(urlsplit(up).query)["token"][0], paper_link.removeprefix("/paper/")
    forbidden(
        client.get("/digest/click", params={"token": "forged.token", "paper": paper}, follow_redirects=False),
        "not valid",
    )
    forbidden(
        client.get("/digest/feedback", params={"token": token, "paper": "0704.0001", "label": 1}), "not valid"
    )


def test_a_click_link_never_leaves_the_site(client: TestClient, settings: Settings, mail: MailServer) -> None:
    confirmed(client, mail, "evil@example.org")
    stored = subscriber(settings, "evil@example.org")
    assert stored
    with Library(settings) as library:
        token = Digests(library).tokens.issue("paper", stored["id"])
        for target in ("//evil.example", "https://evil.example/", "/\\evil.example", "\r\nLocation: x"):
            answer = client.get(
                "/digest/click", params={"token": token, "paper": target}, follow_redirects=False
            )
            forbidden(answer, "not valid")  # never a redirect: the paper is not one the digest held


def test_the_private_feed_is_atom(client: TestClient, mail: MailServer) -> None:
    confirmed(client, mail, "feed@example.org")
    page = manage_page(client, mail, "feed@example.org")
    url = page.xpath("//input[@id='feed-url']/@value")[0]
    assert url.startswith("http://testserver/digest/feed?token=")
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    feed = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    entries = feed.xpath("a:entry", namespaces=NS)
    assert entries and all(e.xpath("string(a:link/@href)", namespaces=NS).startswith("http") for e in entries)
    assert any("xception" in e.xpath("string(a:title)", namespaces=NS).lower() for e in entries)
    refused = client.get("/digest/feed", params={"token": "forged.token"})
    assert (
        refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    )  # a feed reader's shape


def test_delete_removes_the_subscriber(client: TestClient, mail: MailServer, settings: Settings) -> None:
    confirmed(client, mail, "gone@example.org")
    page = manage_page(client, mail, "gone@example.org")
    unticked = doc_of(client.post("/manage/delete", data=hidden(page, "/manage/delete")), 422)
    assert unticked.xpath("//p[@id='confirm-error']") and status_of(settings, "gone@example.org") == "active"
    deleted = doc_of(client.post("/manage/delete", data={**hidden(page, "/manage/delete"), "confirm": "1"}))
    assert deleted.xpath("//h1")[0].text == "Subscription deleted"
    assert subscriber(settings, "gone@example.org") is None
    forbidden(client.post("/manage", data={**hidden(page, "/manage"), **PREFERENCES}), "not valid any more")


def test_subscribe_through_the_api(client: TestClient, mail: MailServer, settings: Settings) -> None:
    body = {"email": "api@example.org", "topics": ["Xception"], "categories": ["cs.CV"], "send_hour": 6,
            "timezone": "Asia/Tokyo", "max_papers": 3, "empty_note": True}  # fmt: skip
    first = client.post("/api/v1/subscribe", json=body)
    assert first.status_code == 202 and "email is on its way" in first.json()["message"]
    assert last_to(mail, "api@example.org")["Subject"] == "Confirm your paperwire digest"
    stored = subscriber(settings, "api@example.org")
    assert stored and stored["timezone"] == "Asia/Tokyo" and stored["max_papers"] == 3
    assert client.post("/api/v1/subscribe", json=body).json() == first.json()
    for wrong in ({"timezone": "Mars/Olympus"}, {"topics": [], "categories": []}, {"email": "nope"}):
        refused = client.post("/api/v1/subscribe", json={**body, **wrong})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_input", wrong
    garbled = client.post("/api/v1/subscribe", content=b"\xff{", headers={"Content-Type": "application/json"})
    assert garbled.status_code == 400 and "not valid JSON" in garbled.json()["error"]["message"]
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/subscribe"]["post"]
    assert "202" in operation["responses"] and "429" in operation["responses"]


def test_subscribing_is_rate_limited(settings: Settings) -> None:
    tight = settings.model_copy(update={"search_burst": 2, "search_rate": 0.001})
    body = {"email": "limit@example.org", "topics": ["Xception"]}
    with TestClient(create_app(tight, prepared=True)) as client:
        statuses = [client.post("/api/v1/subscribe", json=body).status_code for _ in range(3)]
        assert statuses == [202, 202, 429]
        assert subscribe(client, "limit@example.org").status_code == 429  # the form shares the limit


def test_the_scheduler_sends_due_digests(client: TestClient, mail: MailServer, settings: Settings) -> None:
    confirmed(client, mail, "cron@example.org")
    scheduled = settings.model_copy(update={"digest_scheduler": True})
    with TestClient(create_app(scheduled, prepared=True)):
        message = last_to(
            mail, "cron@example.org", "new paper", timeout=60
        )  # the first run starts with the app
    assert message["List-Unsubscribe"]
