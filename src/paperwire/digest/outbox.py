"""The outbox: every email is written to the store before it is sent, and sent from there.

Exactly once. A digest's key is `digest:<subscriber>:<period>` and the outbox's primary key, so a
period's digest is composed once however often the job runs (a second run finds the key and skips
it). Sending moves a row pending -> sending -> sent, each step committed. A run that dies leaves
rows pending (never handed over: sent by the next run) or, for at most the one message in flight,
sending: the server may or may not have accepted it before the process died, and SMTP offers no way
to ask. The next run sends a `sending` row again with the same Message-ID, so the one duplicate the
crash can cause in that window (between the server's acceptance and our commit, well under a
millisecond on loopback) is recognisably the same message, which mail stores and clients fold.

Runs are exclusive (a PostgreSQL advisory lock, or on SQLite a lock file in the data directory: both
released when the process holding them dies), so a `sending` row found at the start of a run is
always one a dead run left behind.

Failures: a server that is down or answers 4xx leaves the row pending with a back-off; retried in
the same run up to smtp_retries times, then by the next run. A 5xx is permanent: the row is marked
failed and counted against the address, which is disabled after digest_max_failures of them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from paperwire.config import Settings
from paperwire.digest import subscribers
from paperwire.digest.transport import DeliveryError, Transport
from paperwire.store import locks, schema
from paperwire.store.sql import insert_missing


@dataclass(frozen=True)
class Email:
    key: str
    subscriber_id: str
    kind: str  # digest, note, confirm, manage
    recipient: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] | None = None
    period: str | None = None


@dataclass
class DeliveryReport:
    sent: int = 0
    deferred: int = 0  # left pending: the server was unavailable
    failed: int = 0  # refused for good (5xx)
    disabled: int = 0  # addresses disabled by repeated refusals
    resent: int = 0  # rows a dead run left in flight, sent again with the same Message-ID
    error: str = ""  # why the server was unavailable, the last time it was


def now_utc() -> datetime:
    return datetime.now(UTC)


def enqueue(conn: sa.Connection, email: Email, items: Sequence[tuple[str, str]] = ()) -> bool:
    """Write an email (and the papers it holds: (paper id, reason)) unless its key is there already."""
    o = schema.outbox
    now = now_utc().isoformat()
    row = {
        "key": email.key, "subscriber_id": email.subscriber_id, "kind": email.kind, "period": email.period,
        "recipient": email.recipient, "subject": email.subject, "text": email.text, "html": email.html,
        "headers": email.headers or {}, "status": "pending", "attempts": 0, "next_attempt_at": now,
        "last_error": None, "created_at": now, "sent_at": None,
    }  # fmt: skip
    if not conn.execute(insert_missing(conn, o, ["key"]), row).rowcount:
        return False
    if items:
        conn.execute(
            schema.digest_items.insert(),
            [
                {"subscriber_id": email.subscriber_id, "paper_id": paper_id, "outbox_key": email.key,
                 "position": position, "reason": reason}
                for position, (paper_id, reason) in enumerate(items)
            ],
        )  # fmt: skip
    return True


def message_id(key: str, sender: str) -> str:
    """The same Message-ID every time a row is sent, so a resend after a crash is the same message."""
    domain = sender.rpartition("@")[2].strip(" >") or "paperwire.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_message(row: Any, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = format_datetime(datetime.fromisoformat(row.created_at))
    message["Message-ID"] = message_id(row.key, sender)
    for name, value in (row.headers or {}).items():
        message[name] = value
    message.set_content(row.text)
    if row.html:
        message.add_alternative(row.html, subtype="html")
        message.set_boundary(f"=_{hashlib.sha256(row.key.encode()).hexdigest()[:24]}")  # a resend: same bytes
    return message


def exclusive(engine: sa.Engine, data_dir: Path) -> AbstractContextManager[None]:
    """Hold the outbox lock while the block runs (waiting for another run to finish first), across
    every machine that shares the database."""
    return locks.exclusive(engine, locks.OUTBOX, data_dir / "outbox.lock")


def _unsent(keys: Sequence[str] | None, subscriber_id: str | None) -> list[sa.ColumnElement[bool]]:
    o = schema.outbox
    where: list[sa.ColumnElement[bool]] = [o.c.status.in_(["pending", "sending"])]
    if keys is not None:
        where.append(o.c.key.in_(keys))
    if subscriber_id is not None:
        where.append(o.c.subscriber_id == subscriber_id)
    return where


def _set(conn: sa.Connection, row: Any, **values: Any) -> None:
    """Record the outcome of one attempt to send the row."""
    o = schema.outbox
    conn.execute(o.update().where(o.c.key == row.key).values(attempts=row.attempts + 1, **values))


def deliver(
    engine: sa.Engine,
    transport: Transport,
    settings: Settings,
    keys: Sequence[str] | None = None,
    subscriber_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send every due email (or just these keys / this subscriber's); call it under `exclusive`."""
    report = DeliveryReport()
    o = schema.outbox
    for attempt in range(settings.smtp_retries + 1):
        with engine.connect() as conn:  # the keys only: 10,000 digests' bodies are some 300 MB
            due = (
                conn.execute(
                    sa.select(o.c.key)
                    .where(*_unsent(keys, subscriber_id), o.c.next_attempt_at <= now_utc().isoformat())
                    .order_by(o.c.created_at, o.c.key)
                )
                .scalars()
                .all()
            )
        server_down = False
        for key in due:
            with engine.begin() as conn:
                row = conn.execute(sa.select(o).where(o.c.key == key, *_unsent(None, None))).first()
                if row is None:  # sent meanwhile
                    continue
                conn.execute(o.update().where(o.c.key == row.key).values(status="sending"))
            report.resent += row.status == "sending"
            try:
                transport.send(build_message(row, settings.mail_from))
            except DeliveryError as exc:
                if exc.permanent:
                    with engine.begin() as conn:
                        _set(conn, row, status="failed", last_error=str(exc)[:500])
                        report.failed += 1
                        report.disabled += subscribers.record_failure(
                            conn, row.subscriber_id, str(exc), settings.digest_max_failures
                        )
                    continue
                wait = settings.smtp_backoff * 2 ** min(row.attempts, 10)
                retry_at = now_utc() + timedelta(seconds=wait)
                with engine.begin() as conn:
                    _set(
                        conn,
                        row,
                        status="pending",
                        last_error=str(exc)[:500],
                        next_attempt_at=retry_at.isoformat(),
                    )
                server_down, report.error = True, str(exc)
                break  # the server is unavailable: the rest waits too
            with engine.begin() as conn:
                _set(conn, row, status="sent", sent_at=now_utc().isoformat(), last_error=None)
            report.sent += 1
        if not server_down:
            break
        if attempt < settings.smtp_retries:
            sleep(settings.smtp_backoff * 2**attempt)
    with engine.connect() as conn:
        report.deferred = conn.execute(
            sa.select(sa.func.count()).select_from(o).where(*_unsent(keys, subscriber_id))
        ).scalar_one()
    transport.close()
    return report
