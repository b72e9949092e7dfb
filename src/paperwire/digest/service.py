"""The digest service: subscribing, managing, feedback and the digest run, as the CLI and web call them."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from paperwire import trending
from paperwire.digest import outbox, render, subscribers
from paperwire.digest.compose import (
    FIRST_WINDOW,
    Composed,
    Composer,
    digest_key,
    is_due,
    last_digests,
    period_of,
)
from paperwire.digest.outbox import DeliveryReport, Email
from paperwire.digest.subscribers import Preferences
from paperwire.digest.tokens import CONFIRM_TTL, MANAGE_TTL, SESSION_TTL, TokenError, Tokens, not_valid
from paperwire.digest.transport import Transport, transport_for
from paperwire.errors import InputError, NotFoundError
from paperwire.keys import load_secret
from paperwire.library import Library
from paperwire.store import schema

CHUNK = 500  # subscribers composed together (their topics scored in one matrix product)
FEED_WINDOW = timedelta(days=7)


@dataclass
class RunReport:
    due: int = 0
    composed: int = 0  # digests and notes written to the outbox
    notes: int = 0
    nothing_new: int = 0  # due, but nothing to send and no note wanted
    already_done: int = 0  # the period's digest was composed by an earlier run
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    previews: list[Composed] = field(default_factory=list)  # --dry-run: what would be sent


class Digests:
    """Everything a subscriber does, and the job that sends them their digest."""

    def __init__(
        self,
        library: Library,
        transport: Transport | None = None,
        clock: Callable[[], datetime] = outbox.now_utc,
    ) -> None:
        self.library = library
        self.settings = library.settings
        self.engine = library.engine
        self.clock = clock
        self.tokens = Tokens(load_secret(self.settings), clock=lambda: self.clock().timestamp())
        self.transport = transport or transport_for(self.settings)

    def url(self, path: str, **query: str) -> str:
        return self.settings.base_url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")

    # -- subscribing and managing ----------------------------------------------------------------

    def subscribe(self, email: str, prefs: Preferences) -> list[str]:
        """Queue a confirmation link for a new (or still pending) address, or a manage link for one
        already subscribed; the person subscribing sees the same answer either way. Returns the keys."""
        with self.engine.begin() as conn:
            subscriber_id, status, new = subscribers.subscribe(conn, email, prefs)
            if status == "pending" and not new:
                subscribers.update(conn, subscriber_id, prefs)  # unconfirmed: nothing to protect yet
            row = subscribers.get(conn, subscriber_id)
            message = self._link_email(row)
            outbox.enqueue(conn, message)
        return [message.key]

    def request_manage_link(self, email: str) -> list[str]:
        """Queue a manage link for a subscribed address; nothing (and no sign of it) for others."""
        with self.engine.begin() as conn:
            try:
                row = subscribers.find(conn, email)
            except (NotFoundError, InputError):
                return []
            message = self._link_email(row)
            outbox.enqueue(conn, message)
        return [message.key]

    def _link_email(self, row: dict[str, Any]) -> Email:
        """The email an address gets when it asks to subscribe or to manage: a confirmation link while
        it is pending, else a manage link (single-use, expiring)."""
        if row["status"] == "pending":
            kind, ttl, path, subject = "confirm", CONFIRM_TTL, "/confirm", "Confirm your paperwire digest"
            lead = f"Someone (we hope you) asked to send {row['email']} a digest of new research papers."
            action, after = (
                "Confirm my subscription",
                "The link works once, for two days. Nothing is sent to you until you confirm.",
            )
        else:
            kind, ttl, path, subject = "manage", MANAGE_TTL, "/manage/open", "Your paperwire subscription"
            lead = f"Here is the link to change or end the paperwire digest of {row['email']}."
            action, after = "Manage my subscription", "The link works once, for 24 hours."
        token = self.tokens.issue(kind, row["id"], ttl, single_use=True)
        text, html = render.notice(subject, lead, action, self.url(path, token=token), after)
        return self._notice(row, kind, subject, text, html)

    def _notice(self, row: dict[str, Any], kind: str, subject: str, text: str, html: str) -> Email:
        key = f"{kind}:{row['id']}:{secrets.token_hex(6)}"
        return Email(key, row["id"], kind, row["email"], subject, text, html)

    def check(self, token: str, purpose: str) -> None:
        """Raise TokenError unless the link is good for `purpose` (before showing its button)."""
        self.tokens.read(token, purpose)

    def confirm(self, token: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            claims = self.tokens.consume(conn, token, "confirm")
            subscribers.confirm(conn, claims.subscriber_id)
            return subscribers.get(conn, claims.subscriber_id)

    def open_manage(self, token: str) -> tuple[dict[str, Any], str]:
        """Use a magic link: the subscriber, and a session token for the manage page's forms."""
        with self.engine.begin() as conn:
            claims = self.tokens.consume(conn, token, "manage")
            row = subscribers.get(conn, claims.subscriber_id)
        return row, self.tokens.issue("session", row["id"], SESSION_TTL)

    def session(self, token: str) -> dict[str, Any]:
        """The subscriber of a manage page's session token."""
        return self._subscriber(self.tokens.read(token, "session").subscriber_id)

    def _subscriber(self, subscriber_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            try:
                return subscribers.get(conn, subscriber_id)
            except NotFoundError as exc:
                raise TokenError(
                    "this link is not valid any more", hint="subscribe again on /subscribe"
                ) from exc

    def update(self, session_token: str, prefs: Preferences) -> dict[str, Any]:
        row = self.session(session_token)
        with self.engine.begin() as conn:
            subscribers.update(conn, row["id"], prefs)
            if row["status"] == "unsubscribed":
                subscribers.set_status(conn, row["id"], "active")  # saving preferences resubscribes
            return subscribers.get(conn, row["id"])

    def unsubscribe(self, token: str) -> dict[str, Any]:
        """One click, no login: stop the digest (the link in every email; it works any number of times)."""
        row = self._subscriber(self.tokens.read(token, "unsubscribe").subscriber_id)
        with self.engine.begin() as conn:
            subscribers.set_status(conn, row["id"], "unsubscribed")
        return row

    def delete(self, session_token: str) -> None:
        """Delete the subscriber and everything kept about them, leaving no trace in the database file."""
        row = self.session(session_token)
        with self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # overwrite the deleted rows' bytes instead of leaving them in free pages
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            subscribers.delete(conn, row["id"])
            conn.commit()
            if sqlite:  # and empty the write-ahead log, which still holds the pages as they were
                conn.exec_driver_sql("PRAGMA secure_delete=OFF")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.commit()

    def bounced(self, email: str, reason: str) -> bool:
        """Count a bounce (reported after delivery) like a refusal; True when it disabled the address."""
        with self.engine.begin() as conn:
            row = subscribers.find(conn, email)
            return subscribers.record_failure(conn, row["id"], reason, self.settings.digest_max_failures)

    def feedback(self, token: str, paper_id: str, label: int) -> None:
        """A thumbs up (+1) or down (-1) link from a digest, for a paper the subscriber received."""
        if label not in (1, -1):
            raise InputError(
                f"label must be 1 or -1, not {label}", hint="use the links in the digest as they are"
            )
        with self.engine.begin() as conn:
            subscribers.mark(conn, self._received(conn, token, paper_id), paper_id, label)

    def mark(self, session_token: str, paper_id: str, label: int) -> None:
        """Like (+1) or dislike (-1) a paper from the manage page; 0 removes the mark."""
        row = self.session(session_token)
        with self.engine.begin() as conn:
            subscribers.mark(conn, row["id"], paper_id, label)

    def click(self, token: str, paper_id: str) -> None:
        """A paper link from a digest: counts the click for trending."""
        with self.engine.connect() as conn:
            actor = trending.actor_id("subscriber", self._received(conn, token, paper_id))
        with contextlib.suppress(NotFoundError):  # a paper withdrawn since: its page says so
            self.library.record_event(paper_id, "click", actor)

    def _received(self, conn: sa.Connection, token: str, paper_id: str) -> str:
        """The subscriber a digest's paper links name, when one of their digests held the paper.

        Every paper link of an email carries the same token (one signature per email, not three
        per paper: bench/DIGEST_SCALE.md), so the paper is checked against what was sent."""
        subscriber_id = self.tokens.read(token, "paper").subscriber_id
        items = schema.digest_items
        held = sa.select(items.c.paper_id).where(
            items.c.subscriber_id == subscriber_id, items.c.paper_id == paper_id
        )
        if conn.execute(held).first() is None:
            raise not_valid()
        return subscriber_id

    def feed_token(self, subscriber_id: str) -> str:
        return self.tokens.issue("feed", subscriber_id)

    def feed(self, token: str) -> tuple[dict[str, Any], list[tuple[dict[str, Any], str]]]:
        """A private feed: the subscriber and their picks among the papers of the last week."""
        row = self._subscriber(self.tokens.read(token, "feed").subscriber_id)
        now = self.clock()
        composer = Composer(self.library, self.tokens, self.url, now, now - FEED_WINDOW)
        interest = composer.interests([row])[row["id"]]
        interest.received_groups = set()  # a feed shows the week's picks, sent by email or not
        composed = composer.compose(row, interest, "feed", now - FEED_WINDOW)
        return row, [(composer.detail(pid), reason) for pid, reason in composed.items if reason != "trending"]

    # -- the digest run --------------------------------------------------------------------------

    def _due(self, now: datetime, only: str | None) -> tuple[list[tuple[dict[str, Any], str, datetime]], int]:
        """(subscriber, period, since) of everyone due now, and how many had this period's already."""
        s, o = schema.subscribers, schema.outbox
        with self.engine.connect() as conn:
            query = sa.select(s).where(s.c.status == "active")
            if only is not None:
                query = query.where(s.c.email == subscribers.normalise_email(only))
            rows = [dict(r) for r in conn.execute(query).mappings()]
            rows = [r for r in rows if is_due(r, now)]
            keys = {r["id"]: digest_key(r["id"], period_of(r["frequency"], r["timezone"], now)) for r in rows}
            done = {k for (k,) in conn.execute(sa.select(o.c.key).where(o.c.key.in_(list(keys.values()))))}
            last = last_digests(conn, [r["id"] for r in rows])
        due = [
            (r, keys[r["id"]].rpartition(":")[2], last.get(r["id"], now - FIRST_WINDOW[r["frequency"]]))
            for r in rows
            if keys[r["id"]] not in done
        ]
        return due, len(rows) - len(due)

    def run(self, now: datetime | None = None, dry_run: bool = False, only: str | None = None) -> RunReport:
        """Compose every due digest into the outbox, then send what the outbox holds."""
        now = now or self.clock()
        report = RunReport()
        with outbox.exclusive(self.engine, self.settings.data_dir):
            due, report.already_done = self._due(now, only)
            report.due = len(due)
            # one BLAS thread: every product here is small (thousands by 384), where a second thread
            # only adds hand-offs (bench/DIGEST_SCALE.md: twice as fast on 2 cores)
            with threadpool_limits(limits=1, user_api="blas"):
                self._compose_due(due, now, report, dry_run)
            if not dry_run:
                only_id = due[0][0]["id"] if only is not None and due else None
                if only is None or only_id is not None:
                    report.delivery = outbox.deliver(
                        self.engine, self.transport, self.settings, subscriber_id=only_id
                    )
        return report

    def _compose_due(
        self, due: list[tuple[dict[str, Any], str, datetime]], now: datetime, report: RunReport, dry_run: bool
    ) -> None:
        if not due:
            return
        composer = Composer(self.library, self.tokens, self.url, now, min(since for _, _, since in due))
        for start in range(0, len(due), CHUNK):
            chunk = due[start : start + CHUNK]
            interests = composer.interests([row for row, _, _ in chunk])
            composed = [
                composer.compose(row, interests[row["id"]], period, since) for row, period, since in chunk
            ]
            self._keep(composed, report, dry_run)

    def _keep(self, composed: list[Composed], report: RunReport, dry_run: bool) -> None:
        """Write a chunk's emails in one transaction (a run that dies composes the chunk again)."""
        report.nothing_new += sum(c.email is None for c in composed)
        wanted = [c for c in composed if c.email is not None]
        if dry_run:
            report.previews += wanted
            return
        with self.engine.begin() as conn:
            for c in wanted:
                assert c.email is not None
                if outbox.enqueue(conn, c.email, c.items):
                    report.composed += 1
                    report.notes += c.email.kind == "note"

    def preview(self, email: str, now: datetime | None = None) -> Composed:
        """The digest the address would get now (due or not), rendered and not stored."""
        now = now or self.clock()
        with self.engine.connect() as conn:
            row = subscribers.find(conn, email)
            since = last_digests(conn, [row["id"]]).get(row["id"], now - FIRST_WINDOW[row["frequency"]])
        composer = Composer(self.library, self.tokens, self.url, now, since)
        interest = composer.interests([row])[row["id"]]
        return composer.compose(row, interest, period_of(row["frequency"], row["timezone"], now), since)

    def deliver(self, keys: Sequence[str] | None = None) -> DeliveryReport:
        """Send due emails now (these keys only, if given), after any digest run that is sending."""
        with outbox.exclusive(self.engine, self.settings.data_dir):
            return outbox.deliver(self.engine, self.transport, self.settings, keys=keys)
