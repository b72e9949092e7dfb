"""The digest end to end: subscribe, confirm, ingest, run, over a real SMTP server on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from conftest import shared_path
from mail_server import MailServer
from paperwire import pipeline
from paperwire.config import load_settings
from paperwire.digest.service import Digests
from paperwire.digest.subscribers import Preferences
from paperwire.digest.tokens import TokenError
from paperwire.errors import InputError
from paperwire.library import Library
from paperwire.search.query import SearchRequest
from paperwire.store import schema
from pg_site.pg_routing import copy_data_dir

BASE = "http://paperwire.test"


def _quiet(*_args: object) -> None:
    return None


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A data directory holding the first seed page, embedded: the papers before any digest."""
    data_dir = tmp_path_factory.mktemp("digest-history") / "data"
    settings = load_settings(data_dir=data_dir, demo_corpus=False, models_dir=models_dir)
    with Library(settings) as library:
        pipeline.ingest(library.engine, settings, [str(seed_page(0))], None, _quiet)
        library.sync()
    return data_dir


def seed_page(number: int) -> Path:
    return next(shared_path("seeds").glob(f"{number:03d}_*.txt"))


def open_library(data_dir: Path, models_dir: Path, mail: MailServer, **overrides: object) -> Library:
    settings = load_settings(
        data_dir=data_dir, demo_corpus=False, models_dir=models_dir, base_url=BASE, smtp_retries=1,
        smtp_backoff=0.01, secret_key="test-secret-key-0123456789", **mail.settings(), **overrides,
    )  # fmt: skip
    return Library(settings)


@pytest.fixture
def library(history: Path, tmp_path: Path, models_dir: Path, mail: MailServer) -> Iterator[Library]:
    data_dir = tmp_path / "data"
    copy_data_dir(history, data_dir)
    with open_library(data_dir, models_dir, mail) as library:
        yield library


def token_from(message: EmailMessage, path: str) -> str:
    """The token of the first link to `path` in the message's plain text."""
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    url = re.search(rf"{re.escape(BASE + path)}\?\S+", text)
    assert url is not None, f"no {path} link in:\n{text}"
    return parse_qs(urlsplit(url.group(0)).query)["token"][0]


def subscribe_and_confirm(digests: Digests, mail: MailServer, address: str, prefs: Preferences) -> None:
    digests.deliver(digests.subscribe(address, prefs))
    digests.confirm(token_from(mail.mailbox.to(address)[-1], "/confirm"))


def later(days: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(days=days, minutes=1)


def digests_to(mail: MailServer, address: str) -> list[EmailMessage]:
    return [m for m in mail.mailbox.to(address) if "List-Unsubscribe" in m]


def paper_links(message: EmailMessage, path: str) -> list[dict[str, str]]:
    """The parameters of every link to `path` (/digest/click, /digest/feedback) in the plain text."""
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return [
        {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
        for url in re.findall(rf"{re.escape(BASE + path)}\?\S+", text)
    ]


def paper_ids(message: EmailMessage) -> list[str]:
    """The papers a digest links to, through its click links."""
    return [link["paper"] for link in paper_links(message, "/digest/click")]


TOPIC = "diffusion models for image and video generation"


def test_subscribe_confirm_ingest_and_receive_a_digest(library: Library, mail: MailServer) -> None:
    digests = Digests(library)
    subscribe_and_confirm(digests, mail, "ada@example.org", Preferences(topics=[TOPIC], send_hour=0))
    first = digests.run(later())
    assert first.composed == 1 and first.delivery.sent == 1
    with library.engine.connect() as conn:
        before = set(conn.execute(sa.select(schema.papers.c.id)).scalars())
    pipeline.ingest(library.engine, library.settings, [str(seed_page(1))], None, _quiet)
    library.sync()
    second = digests.run(later(1))
    assert second.composed == 1 and second.delivery.sent == 1

    received = digests_to(mail, "ada@example.org")
    assert len(received) == 2
    message = received[-1]
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{BASE}/unsubscribe?token=") and unsubscribe.endswith(">")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"{BASE}/unsubscribe?token=" in html and "Unsubscribe" in html
    assert f"{BASE}/digest/feedback?token=" in html and f"{BASE}/manage" in html

    # every paper is one the topic selects, arrived since the first digest, and new to the subscriber
    picked = paper_ids(message)
    assert 3 <= len(picked) <= 10
    matches = {hit.id for hit in library.search(SearchRequest(TOPIC, limit=60)).hits}
    assert set(picked) <= matches
    first_papers = set(paper_ids(received[0]))
    assert not set(picked) & first_papers
    assert not set(picked) & before
    assert 'matches your topic "diffusion models' in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_nothing_is_sent_before_the_address_is_confirmed(library: Library, mail: MailServer) -> None:
    digests = Digests(library)
    digests.deliver(digests.subscribe("bob@example.org", Preferences(topics=[TOPIC], send_hour=0)))
    report = digests.run(later())
    assert report.due == 0 and report.delivery.sent == 0
    assert [m["Subject"] for m in mail.mailbox.to("bob@example.org")] == ["Confirm your paperwire digest"]


def test_a_second_run_sends_nothing(library: Library, mail: MailServer) -> None:
    digests = Digests(library)
    subscribe_and_confirm(digests, mail, "ada@example.org", Preferences(topics=[TOPIC], send_hour=0))
    assert digests.run(later()).delivery.sent == 1
    again = digests.run(later())
    assert again.already_done == 1 and again.composed == 0 and again.delivery.sent == 0
    assert len(digests_to(mail, "ada@example.org")) == 1


def test_no_new_papers_sends_nothing_or_the_note_asked_for(library: Library, mail: MailServer) -> None:
    digests = Digests(library)
    subscribe_and_confirm(digests, mail, "quiet@example.org", Preferences(topics=[TOPIC], send_hour=0))
    subscribe_and_confirm(
        digests, mail, "noted@example.org", Preferences(topics=[TOPIC], send_hour=0, empty_note=True)
    )
    assert digests.run(later()).delivery.sent == 2
    weekend = digests.run(later(1))  # nothing was ingested since
    assert weekend.nothing_new == 1 and weekend.notes == 1 and weekend.delivery.sent == 1
    assert len(digests_to(mail, "quiet@example.org")) == 1
    note = digests_to(mail, "noted@example.org")[-1]
    text = note.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert note["Subject"].startswith("No new papers for you")
    assert "arXiv announces nothing on weekends and holidays" in text
    assert "/digest/click" not in text


def test_the_smtp_server_down_mid_run_then_back(library: Library, mail: MailServer) -> None:
    digests = Digests(library)
    addresses = [f"reader{i}@example.org" for i in range(4)]
    for address in addresses:
        subscribe_and_confirm(digests, mail, address, Preferences(topics=[TOPIC], send_hour=0))
    mail.stop()
    down = digests.run(later())
    assert down.composed == 4 and down.delivery.sent == 0 and down.delivery.deferred == 4
    mail.start()
    with library.engine.begin() as conn:  # the back-off has passed
        conn.execute(schema.outbox.update().values(next_attempt_at="2000-01-01T00:00:00+00:00"))
    up = digests.run(later())
    assert up.composed == 0 and up.delivery.sent == 4
    for address in addresses:
        assert len(digests_to(mail, address)) == 1
    assert digests.run(later()).delivery.sent == 0


def test_repeated_permanent_failures_disable_the_address(
    history: Path, tmp_path: Path, models_dir: Path, mail: MailServer
) -> None:
    copy_data_dir(history, tmp_path / "data")
    with open_library(tmp_path / "data", models_dir, mail, digest_max_failures=2) as library:
        digests = Digests(library)
        subscribe_and_confirm(digests, mail, "gone@example.org", Preferences(topics=[TOPIC], send_hour=0))
        mail.mailbox.refuse.add("gone@example.org")
        first = digests.run(later())
        assert first.delivery.failed == 1 and first.delivery.disabled == 0
        pipeline.ingest(library.engine, library.settings, [str(seed_page(1))], None, _quiet)
        library.sync()
        second = digests.run(later(1))
        assert second.delivery.failed == 1 and second.delivery.disabled == 1
        assert digests.run(later(2)).due == 0
        with library.engine.connect() as conn:
            s = schema.subscribers
            status, failures, error = conn.execute(sa.select(s.c.status, s.c.failures, s.c.last_error)).one()
    assert (status, failures) == ("disabled", 2) and "550" in error


def test_links_are_checked(library: Library, mail: MailServer) -> None:
    digests = Digests(library)
    subscribe_and_confirm(digests, mail, "ada@example.org", Preferences(topics=[TOPIC], send_hour=0))
    digests.deliver(digests.subscribe("eve@example.org", Preferences(topics=["graphs"])))
    digests.confirm(token_from(mail.mailbox.to("eve@example.org")[-1], "/confirm"))
    digests.run(later())
    ada = digests_to(mail, "ada@example.org")[0]

    # reused: a confirmation link works once
    confirm = token_from(mail.mailbox.to("ada@example.org")[0], "/confirm")
    with pytest.raises(TokenError, match="already used"):
        digests.confirm(confirm)
    # forged: a changed payload or signature
    unsubscribe = token_from(ada, "/unsubscribe")
    payload, signature = unsubscribe.split(".")
    with pytest.raises(TokenError, match="not valid"):
        digests.unsubscribe(f"{payload}.{signature[:-2]}AA")
    with pytest.raises(TokenError, match="not valid"):
        digests.unsubscribe(f"{payload[:-2]}AA.{signature}")
    # meant for something else: an unsubscribe link is no feedback link
    received = paper_ids(ada)[0]
    with pytest.raises(TokenError, match="not valid"):
        digests.feedback(unsubscribe, received, 1)
    # a paper link names a paper the subscriber received, and a label up or down
    links = token_from(ada, "/digest/click")
    digests.click(links, received)
    with library.engine.connect() as conn:
        never_sent = conn.execute(
            sa.select(schema.papers.c.id).where(schema.papers.c.id.not_in(paper_ids(ada))).limit(1)
        ).scalar_one()
    for act in (lambda: digests.click(links, never_sent), lambda: digests.feedback(links, never_sent, 1)):
        with pytest.raises(TokenError, match="not valid"):
            act()
    with pytest.raises(InputError, match="label must be 1 or -1"):
        digests.feedback(links, received, 5)
    # expired: a manage link is good for 24 hours
    digests.deliver(digests.request_manage_link("ada@example.org"))
    manage = token_from(mail.mailbox.to("ada@example.org")[-1], "/manage/open")
    tomorrow = Digests(library, clock=lambda: datetime.now(UTC) + timedelta(hours=25))
    with pytest.raises(TokenError, match="expired"):
        tomorrow.open_manage(manage)
    row, session = digests.open_manage(manage)
    assert row["email"] == "ada@example.org"
    with pytest.raises(TokenError, match="already used"):
        digests.open_manage(manage)
    # cross-subscriber: ada's links act on ada only
    digests.update(session, Preferences(topics=["graph neural networks"], send_hour=0))
    digests.unsubscribe(unsubscribe)
    with library.engine.connect() as conn:
        s = schema.subscribers
        rows = {e: (st, t) for e, st, t in conn.execute(sa.select(s.c.email, s.c.status, s.c.topics))}
    assert rows["ada@example.org"] == ("unsubscribed", ["graph neural networks"])
    assert rows["eve@example.org"] == ("active", ["graphs"])
    # unsubscribing is idempotent: the one-click link may be followed again
    assert digests.unsubscribe(unsubscribe)["email"] == "ada@example.org"


def test_a_second_subscribe_does_not_reveal_or_change_the_subscription(
    library: Library, mail: MailServer
) -> None:
    digests = Digests(library)
    subscribe_and_confirm(digests, mail, "ada@example.org", Preferences(topics=[TOPIC], send_hour=0))
    keys = digests.subscribe("ADA@example.org", Preferences(topics=["something else entirely"]))
    digests.deliver(keys)
    assert len(keys) == 1  # the same answer as for a new address: one email queued
    last = mail.mailbox.to("ada@example.org")[-1]
    assert last["Subject"] == "Your paperwire subscription"  # a manage link, not a confirmation
    with library.engine.connect() as conn:
        assert conn.execute(sa.select(schema.subscribers.c.topics)).scalar() == [TOPIC]
    assert digests.request_manage_link("nobody@example.org") == []
    for address in ("not an address", "a,b@example.org", "a:b@example.org", "zoë@example.org"):
        with pytest.raises(InputError, match="is not an email address"):
            digests.subscribe(address, Preferences(topics=[TOPIC]))


def test_feedback_links_mark_papers_and_clicks_count(library: Library, mail: MailServer) -> None:
    digests = Digests(library)
    prefs = Preferences(topics=["graph neural networks", "neural network pruning"], send_hour=0)
    subscribe_and_confirm(digests, mail, "ada@example.org", prefs)
    digests.run(later())
    message = digests_to(mail, "ada@example.org")[0]
    feedback = paper_links(message, "/digest/feedback")
    up, down = feedback[0], feedback[3]  # first paper's thumbs up, second paper's thumbs down
    first, second = paper_ids(message)[:2]
    assert (up["paper"], up["label"], down["paper"], down["label"]) == (first, "1", second, "-1")
    for link in (up, down):
        digests.feedback(link["token"], link["paper"], int(link["label"]))
    digests.click(token_from(message, "/digest/click"), first)
    with library.engine.connect() as conn:
        sp, e = schema.subscriber_papers, schema.paper_events
        marks = dict(conn.execute(sa.select(sp.c.paper_id, sp.c.label)).all())
        clicks = conn.execute(sa.select(e.c.paper_id).where(e.c.kind == "click")).scalars().all()
    assert marks == {first: 1, second: -1} and clicks == [first]


def test_deleting_a_subscriber_leaves_no_trace(library: Library, mail: MailServer) -> None:
    digests = Digests(library)
    address = "private.person@example.org"
    prefs = Preferences(topics=["a very private topic", TOPIC], send_hour=0)
    subscribe_and_confirm(digests, mail, address, prefs)
    assert digests.run(later()).delivery.sent == 1
    up = paper_links(digests_to(mail, address)[0], "/digest/feedback")[0]
    digests.feedback(up["token"], up["paper"], 1)
    digests.deliver(digests.subscribe(address, prefs))
    _, session = digests.open_manage(token_from(mail.mailbox.to(address)[-1], "/manage/open"))

    def stored() -> bytes:
        files = library.settings.data_dir.glob("paperwire.db*")
        return b"".join(path.read_bytes() for path in files)

    # the bytes of the database file are checked on SQLite (PostgreSQL's files are the server's)
    on_file = library.engine.dialect.name == "sqlite"
    assert address.encode() in stored() or not on_file
    digests.delete(session)
    with library.engine.connect() as conn:
        for table in (
            schema.subscribers,
            schema.outbox,
            schema.digest_items,
            schema.used_tokens,
            schema.subscriber_papers,
        ):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0, table.name
    assert not on_file or (address.encode() not in stored() and b"a very private topic" not in stored())
    with pytest.raises(TokenError):
        digests.session(session)


def test_preferences_are_checked_with_what_to_do() -> None:
    problems = Preferences(
        topics=[], categories=["not a category!"], send_hour=25, timezone="Mars/Base"
    ).problems()
    assert set(problems) == {"categories", "send_hour", "timezone"}
    assert "cs.LG" in problems["categories"]
    assert "topic" in Preferences().problems()["topics"]
    parsed = Preferences.parse(topics="a\n\n b \n", categories="cs.LG, stat")
    assert (parsed.topics, parsed.categories) == (["a", "b"], ["cs.LG", "stat"])
