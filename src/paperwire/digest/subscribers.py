"""Subscribers in the store: subscribe (double opt-in), confirm, preferences, marks, leave, delete.

Every function takes a connection inside the caller's transaction and returns plain values; the
digest service (service.py) adds the emails and links around them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal
from zoneinfo import available_timezones

import sqlalchemy as sa

from paperwire.errors import InputError, NotFoundError
from paperwire.store import schema
from paperwire.store.sql import insert_missing, upsert

# RFC 5322 dot-atoms in ASCII: no "a,b@x.org" or "a:b@x.org" that a To header would read as other
# recipients, and nothing that needs SMTPUTF8, which not every server has
EMAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,}$")
CATEGORY = re.compile(r"^[a-z][a-z-]*(\.[A-Za-z-]+)?$")
MAX_TOPICS = 10
Status = Literal["pending", "active", "unsubscribed", "disabled"]


@dataclass
class Preferences:
    """What a subscriber wants: at least one topic, category or liked paper."""

    topics: list[str] = field(default_factory=list)  # free-text searches
    categories: list[str] = field(default_factory=list)  # arXiv categories or archives: cs.LG, stat
    frequency: Literal["daily", "weekly"] = "daily"
    send_hour: int = 7  # local time
    timezone: str = "UTC"
    max_papers: int = 10
    empty_note: bool = False  # a short note on days without new papers, instead of nothing

    def problems(self, has_liked_papers: bool = False) -> dict[str, str]:
        """Field name -> what to fix; empty when the preferences are usable."""
        found: dict[str, str] = {}
        if len(self.topics) > MAX_TOPICS or any(len(t) > 200 for t in self.topics):
            found["topics"] = (
                f"Enter up to {MAX_TOPICS} topics, one search per line, each under 200 characters."
            )
        bad = [c for c in self.categories if not CATEGORY.match(c)]
        if bad or len(self.categories) > 20:
            found["categories"] = f"Use arXiv categories such as cs.LG or stat (not {', '.join(bad[:3])})."
        if not (self.topics or self.categories or has_liked_papers):
            found["topics"] = "Enter at least one topic or category, e.g. 'diffusion models' or cs.LG."
        if self.frequency not in ("daily", "weekly"):
            found["frequency"] = "Choose daily or weekly."
        if not 0 <= self.send_hour <= 23:
            found["send_hour"] = "Choose an hour from 0 to 23."
        if self.timezone not in timezones():
            found["timezone"] = "Use a time zone name such as Europe/Paris or America/New_York."
        if not 1 <= self.max_papers <= 50:
            found["max_papers"] = "Choose from 1 to 50 papers."
        return found

    def check(self, has_liked_papers: bool = False) -> None:
        if problems := self.problems(has_liked_papers):
            raise InputError("; ".join(f"{name}: {text}" for name, text in problems.items()))

    @classmethod
    def parse(cls, topics: str = "", categories: str = "", **other: Any) -> Preferences:
        """From form text: topics one per line, categories separated by spaces or commas."""
        return cls(
            topics=[line.strip() for line in topics.splitlines() if line.strip()],
            categories=[c for c in re.split(r"[\s,]+", categories.strip()) if c],
            **other,
        )


@cache
def timezones() -> frozenset[str]:
    """The IANA time zone names a subscriber can choose."""
    return frozenset(available_timezones() | {"UTC"})


def normalise_email(email: str) -> str:
    address = email.strip().lower()
    if not EMAIL.match(address):
        raise InputError(f"{email!r} is not an email address", hint="enter one such as ada@example.org")
    return address


def _now() -> str:
    return datetime.now(UTC).isoformat()


def subscribe(conn: sa.Connection, email: str, prefs: Preferences) -> tuple[str, Status, bool]:
    """Add an address as pending; (its id, its status, whether it is new).

    An address already there keeps its status and preferences (its owner changes them through a
    manage link), so a stranger cannot change someone's subscription by subscribing their address.
    """
    prefs.check()
    address = normalise_email(email)
    s = schema.subscribers
    row = conn.execute(sa.select(s.c.id, s.c.status).where(s.c.email == address)).first()
    if row is not None:
        return row.id, row.status, False
    # another process may add the same address at this moment: the unique email decides which
    values = {"id": secrets.token_hex(12), "email": address, "status": "pending", "failures": 0}
    insert = insert_missing(conn, s, ["email"]).values(**values, created_at=_now(), **asdict(prefs))
    subscriber_id = conn.execute(insert.returning(s.c.id)).scalar()
    if subscriber_id is not None:
        return subscriber_id, "pending", True
    row = conn.execute(sa.select(s.c.id, s.c.status).where(s.c.email == address)).one()
    return row.id, row.status, False


def get(conn: sa.Connection, subscriber_id: str) -> dict[str, Any]:
    s = schema.subscribers
    row = conn.execute(sa.select(s).where(s.c.id == subscriber_id)).mappings().first()
    if row is None:
        raise NotFoundError("no such subscriber", hint="subscribe again on /subscribe")
    return dict(row)


def find(conn: sa.Connection, email: str) -> dict[str, Any]:
    s = schema.subscribers
    row = conn.execute(sa.select(s.c.id).where(s.c.email == normalise_email(email))).first()
    if row is None:
        raise NotFoundError(f"{email} is not subscribed", hint="subscribe it first")
    return get(conn, row.id)


def preferences(row: dict[str, Any]) -> Preferences:
    return Preferences(**{name: row[name] for name in Preferences.__dataclass_fields__})


def confirm(conn: sa.Connection, subscriber_id: str) -> None:
    """Activate an address (from its confirmation link); a disabled one starts afresh."""
    s = schema.subscribers
    conn.execute(
        s.update()
        .where(s.c.id == subscriber_id)
        .values(status="active", confirmed_at=_now(), failures=0, last_error=None)
    )


def update(conn: sa.Connection, subscriber_id: str, prefs: Preferences) -> None:
    """New preferences; topics that change are embedded again at the next digest."""
    prefs.check(has_liked_papers=bool(liked(conn, subscriber_id)))
    s = schema.subscribers
    conn.execute(
        s.update()
        .where(s.c.id == subscriber_id)
        .values(**asdict(prefs), topic_vectors=None, vectors_model=None)
    )


def set_status(conn: sa.Connection, subscriber_id: str, status: Status) -> None:
    s = schema.subscribers
    conn.execute(s.update().where(s.c.id == subscriber_id).values(status=status))


def delete(conn: sa.Connection, subscriber_id: str) -> None:
    """Delete the subscriber and, by cascade, their marks, emails, digest items and used links."""
    conn.execute(schema.subscribers.delete().where(schema.subscribers.c.id == subscriber_id))


def mark(conn: sa.Connection, subscriber_id: str, paper_id: str, label: int) -> None:
    """Like (+1) or dislike (-1) a paper; 0 removes the mark."""
    sp = schema.subscriber_papers
    if not label:
        conn.execute(sp.delete().where(sp.c.subscriber_id == subscriber_id, sp.c.paper_id == paper_id))
        return
    row = {"subscriber_id": subscriber_id, "paper_id": paper_id, "label": label, "at": _now()}
    conn.execute(upsert(conn, sp, ["subscriber_id", "paper_id"]), row)


def marks(conn: sa.Connection, subscriber_ids: list[str] | None = None) -> dict[str, dict[str, int]]:
    """subscriber id -> paper id -> label, for these subscribers (default: all)."""
    sp = schema.subscriber_papers
    query = sa.select(sp.c.subscriber_id, sp.c.paper_id, sp.c.label)
    if subscriber_ids is not None:
        query = query.where(sp.c.subscriber_id.in_(subscriber_ids))
    found: dict[str, dict[str, int]] = {}
    for subscriber_id, paper_id, label in conn.execute(query):
        found.setdefault(subscriber_id, {})[paper_id] = label
    return found


def liked(conn: sa.Connection, subscriber_id: str) -> list[str]:
    return [p for p, label in marks(conn, [subscriber_id]).get(subscriber_id, {}).items() if label > 0]


def record_failure(conn: sa.Connection, subscriber_id: str, error: str, max_failures: int) -> bool:
    """Count a permanent delivery failure; True when it disabled the address."""
    s = schema.subscribers
    conn.execute(
        s.update().where(s.c.id == subscriber_id).values(failures=s.c.failures + 1, last_error=error[:500])
    )
    failures = conn.execute(sa.select(s.c.failures).where(s.c.id == subscriber_id)).scalar()
    if failures is not None and failures >= max_failures:
        set_status(conn, subscriber_id, "disabled")
        return True
    return False
