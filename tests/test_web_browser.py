"""A person using the site in a real headless Chromium (Debian's, driven by Playwright), by mouse and by
keyboard alone. Screenshots go to test-artifacts/. Skipped only where /usr/bin/chromium is absent."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from mail_server import MailServer, free_port
from paperwire.config import Settings
from paperwire.web import create_app
from web_helpers import (
    ART_V_TITLE,
    XSS_PAPER,
    build_data_dir,
    jsonl,
    last_to,
    links,
    mail_settings,
    paper_id_by_title,
)

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TOKEN = "browser-tests-admin-token-0123456789"
# --disable-background-networking and friends: Chromium must not reach for the (closed) network
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    """The SMTP server the app sends its emails to."""
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, mail: MailServer) -> Settings:
    """Settings of an app that will listen on a free loopback port (the links in its emails lead there)."""
    mailing = mail_settings(mail, base_url=f"http://127.0.0.1:{free_port()}")
    return build_data_dir(tmp_path_factory.mktemp("web-browser") / "data", admin_token=TOKEN, **mailing)


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    """The real app served by uvicorn on its loopback port, in a thread."""
    port = int(settings.base_url.rpartition(":")[2])
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    url = f"http://127.0.0.1:{port}"
    ingested = httpx.post(
        f"{url}/api/v1/admin/ingest", params={"name": "xss.jsonl"}, content=jsonl(XSS_PAPER),
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
    )  # fmt: skip
    assert ingested.status_code == 200, ingested.text
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    yield page
    context.close()
    assert not problems, problems  # no script errors, no CSP violations, no alert() anywhere


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def card_titles(page: Page) -> list[str]:
    return page.locator("article.card h3").all_inner_texts()


def visible_text_without_mathml(page: Page, selector: str) -> str:
    """What a reader sees: the element's text without KaTeX's hidden MathML copy."""
    return str(
        page.eval_on_selector(
            selector,
            "el => { const c = el.cloneNode(true);"
            " c.querySelectorAll('.katex-mathml').forEach(m => m.remove()); return c.textContent; }",
        )
    )


def test_search_open_a_paper_and_follow_a_related_one(page: Page) -> None:
    page.goto("/")
    page.get_by_role("searchbox", name="Search papers").fill("Xception")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"/search\?q=Xception"))
    assert "Xception" in card_titles(page)[0]
    shot(page, "01-search-xception")
    page.locator("article.card h3 a").first.click()
    expect(page.locator("h1")).to_contain_text("Xception")
    shot(page, "02-paper")
    first_title = page.locator("h1").inner_text()
    related = page.locator("section.related article.card h3 a").first
    related_title = related.inner_text()
    related.click()
    expect(page.locator("h1")).to_have_text(related_title)
    assert page.locator("h1").inner_text() != first_title
    shot(page, "03-related-paper")


def test_math_is_rendered_by_katex(page: Page, settings: Settings) -> None:
    page.goto(f"/paper/{paper_id_by_title(settings, ART_V_TITLE)}")
    expect(page.locator("h1 .katex").first).to_be_visible()
    seen = visible_text_without_mathml(page, "h1")
    assert seen.replace("⋅", "·").startswith("ART·V: Auto-Regressive"), seen
    assert "$" not in seen and "boldsymbol" not in seen
    shot(page, "04-math-art-v")


def test_filter_by_date_and_page_through_results(page: Page) -> None:
    page.goto("/search?q=Xception")
    page.get_by_label("Published since").fill("2022")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"since=2022"))
    dates = page.locator("article.card time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")
    assert dates and all(day >= "2022" for day in dates), dates
    shot(page, "05-filtered-since-2022")
    page.goto("/search?q=network")
    first = card_titles(page)
    page.get_by_role("link", name="Next page").first.click()
    expect(page.locator(".page-number")).to_have_text("Page 2")
    second = card_titles(page)
    assert second and not set(first) & set(second)
    page.get_by_role("link", name="Previous page").click()
    assert card_titles(page) == first
    shot(page, "06-paging")


def test_search_as_you_type_and_why_this_result(page: Page) -> None:
    page.goto("/search")
    page.get_by_role("searchbox", name="Search papers").press_sequentially("depthwise", delay=30)
    expect(page.locator("article.card").first).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=depthwise"))  # htmx pushed the address
    page.get_by_role("link", name=re.compile("Why this result")).first.click()
    expect(page.locator("#why-1 .why-text")).to_contain_text("keyword #1")
    expect(page).to_have_url(re.compile(r"/search\?"))  # stayed on the results
    shot(page, "07-why-this-result")


def test_script_payloads_stay_inert_in_the_browser(page: Page) -> None:
    for url in ("/paper/2501.99999", "/search?q=Xception+abstract", "/"):
        page.goto(url)
        page.wait_for_load_state("load")
        assert page.evaluate("window.__pwned === undefined"), url
    expect(page.locator("text=<script>").first).to_be_attached()  # shown as text
    page.goto("/paper/2501.99999")
    assert page.evaluate("window.__pwned === undefined")
    shot(page, "08-xss-inert")


def confirmation_link(mail: MailServer, address: str) -> str:
    """The confirmation link of the email the address got (sent just after the answer: waited for)."""
    [path] = links(last_to(mail, address, "Confirm", timeout=30), "/confirm")
    return path


def test_subscribe_and_confirm_by_email(page: Page, mail: MailServer) -> None:
    page.goto("/subscribe")
    page.get_by_label("Email address").fill("ada@example.org")
    page.get_by_label("Topics, one search per line").fill("Xception")
    page.get_by_label("arXiv categories (optional)").fill("cs.CV")
    page.get_by_label("How often").select_option("weekly")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_label("Send a short note when there is nothing new").check()
    shot(page, "09a-subscribe-form")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")
    shot(page, "09-subscribe")
    page.goto(confirmation_link(mail, "ada@example.org"))
    expect(page.locator("h1")).to_have_text("Confirm your subscription")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("h1")).to_have_text("You are subscribed")
    expect(page.locator("main")).to_contain_text("weekly digest will be sent to ada@example.org")
    shot(page, "09b-subscribed")
    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_label("Email address").fill("ada@example.org")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")
    [path] = links(
        last_to(mail, "ada@example.org", "Your paperwire subscription", timeout=30), "/manage/open"
    )
    page.goto(path)
    page.get_by_role("button", name="Open my settings").click()
    expect(page.get_by_label("Topics, one search per line")).to_have_value("Xception")
    page.get_by_label("Topics, one search per line").fill("Xception\ngraph rewiring")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(page.get_by_label("Topics, one search per line")).to_have_value("Xception\ngraph rewiring")
    shot(page, "09c-manage")


def test_search_page_transfers_under_200_kb(page: Page) -> None:
    page.goto("/search?q=Xception")
    page.wait_for_load_state("networkidle")
    transferred = page.evaluate(
        "performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".reduce((sum, e) => sum + e.transferSize, 0)"
    )
    assert 0 < transferred < 200_000, transferred


def test_mobile_layout_has_no_sideways_scrolling(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 375, "height": 800}, is_mobile=True)
    page = context.new_page()
    for url in ("/", "/search?q=Xception", "/paper/2106.00005"):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), url
    shot(page, "10-mobile-paper")
    context.close()


# -- the same flows by keyboard only ------------------------------------------------------------------


def tab_to(page: Page, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches the selector."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"no visible focus on {selector}"
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only_search_paper_related_filter_and_pages(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip-link')")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    tab_to(page, "#q")
    page.keyboard.type("Xception")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=Xception"))
    tab_to(page, "article.card h3 a")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("Xception")
    shot(page, "11-keyboard-paper")
    tab_to(page, "section.related article.card h3 a")
    related_title = page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(related_title)
    page.goto("/search?q=Xception")
    tab_to(page, "#since")
    page.keyboard.type("2022")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"since=2022"))
    dates = page.locator("article.card time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")
    assert dates and all(day >= "2022" for day in dates)
    page.goto("/search?q=network")
    tab_to(page, "a[rel=next]")
    page.keyboard.press("Enter")
    expect(page.locator(".page-number")).to_have_text("Page 2")
    tab_to(page, "a[rel=prev]")
    page.keyboard.press("Enter")
    expect(page.locator(".page-number")).to_have_text("Page 1")
    shot(page, "12-keyboard-paging")


def test_keyboard_only_why_this_result_and_subscribe(page: Page, mail: MailServer) -> None:
    page.goto("/search?q=Xception")
    tab_to(page, "a.why-link")
    page.keyboard.press("Enter")
    expect(page.locator("#why-1 .why-text")).to_contain_text("keyword #1")
    page.goto("/subscribe")
    tab_to(page, "#email")
    page.keyboard.type("grace@example.org")
    tab_to(page, "#topics")
    page.keyboard.type("Xception")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Check your inbox")
    shot(page, "13-keyboard-subscribe")
    page.goto(confirmation_link(mail, "grace@example.org"))
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("You are subscribed")
    shot(page, "14-keyboard-subscribed")
