"""Events on papers and what is trending.

The trending score of a paper over a window of D days (day 1, week 7, month 30) that ends on the
newest day the store has news of (`as_of`: a paper announced or published, an event, an imported
signal; never later than today), so an instance fed yesterday's listing still has a trending page:

    score = attention + recency

    attention = sum over its events in the window of  weight(kind) * decay(age of the event)
              + for its newest imported signal in the window (Hugging Face daily papers):
                (upvotes + 0.5 * comments + 0.5 * [has a code link]) * decay(age of the observation)
    recency   = 1.0 * decay(age of the paper)   if the paper was announced or published in the window
    decay(age) = 0.5 ** (age in days / (D / 3))      (half-life: 8 hours, 2.3 days or 10 days)

Event weights: upvote 1, save 1, digest click 0.5, view 0.1. So a paper of today with no signal
yet scores 1 (like one fresh upvote) and sinks as it ages, while attention keeps a paper up.
Duplicates count together: a group's attention is the sum over its papers, shown once as its best
paper. A category filter keeps papers listed in it (or in its archive: "cs" holds "cs.CV").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from paperwire.errors import InputError
from paperwire.store import schema
from paperwire.store.sql import insert_missing

Window = Literal["day", "week", "month"]
WINDOWS: dict[str, int] = {"day": 1, "week": 7, "month": 30}
EVENT_WEIGHTS: dict[str, float] = {"upvote": 1.0, "save": 1.0, "click": 0.5, "view": 0.1}
VOTES = frozenset({"upvote", "save"})  # one per actor and paper, ever; the others once a day
RECENCY = 1.0
COMMENT_WEIGHT = CODE_WEIGHT = 0.5


@dataclass(frozen=True)
class Trending:
    paper_id: str
    score: float
    attention: float
    recency: float
    events: dict[str, int] = field(default_factory=dict)  # counts by kind in the window, whole group
    upvotes: int = 0  # imported (Hugging Face) upvotes, newest observation in the window


@dataclass(frozen=True)
class TrendingList:
    window: str
    as_of: str  # the last day of the window
    category: str | None
    papers: list[Trending]


def actor_id(kind: str, value: str) -> str:
    """A stable actor id that keeps no address in clear: e.g. actor_id("ip", "203.0.113.9")."""
    return f"{kind}:" + hashlib.blake2b(value.encode(), digest_size=12).hexdigest()


def record_event(
    conn: sa.Connection, paper_id: str, kind: str, actor: str, at: datetime | None = None
) -> bool:
    """Record one event; False when it was already counted (same vote, or same view that day)."""
    if kind not in EVENT_WEIGHTS:
        raise InputError(f"unknown event kind {kind!r}", hint=f"use one of {', '.join(EVENT_WEIGHTS)}")
    if not actor:
        raise InputError("an event needs an actor (user, subscriber or hashed address)")
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    bucket = "" if kind in VOTES else moment.date().isoformat()
    row = {"paper_id": paper_id, "kind": kind, "actor": actor, "bucket": bucket, "at": moment.isoformat()}
    e = schema.paper_events
    # RETURNING, not rowcount: PostgreSQL's driver gives no rowcount for an insert that returns the id
    insert = insert_missing(conn, e, ["paper_id", "kind", "actor", "bucket"]).returning(e.c.id)
    return conn.execute(insert, row).first() is not None


def withdraw_vote(conn: sa.Connection, paper_id: str, kind: str, actor: str) -> bool:
    """Take back an upvote or save; False when there was none."""
    if kind not in VOTES:
        raise InputError(f"only votes can be withdrawn, not {kind!r}", hint="use upvote or save")
    e = schema.paper_events
    result = conn.execute(
        sa.delete(e).where(e.c.paper_id == paper_id, e.c.kind == kind, e.c.actor == actor, e.c.bucket == "")
    )
    return bool(result.rowcount)


def event_counts(conn: sa.Connection, paper_id: str) -> dict[str, int]:
    """How many of each event a paper has had, all time (votes count once per actor)."""
    e = schema.paper_events
    rows = conn.execute(
        sa.select(e.c.kind, sa.func.count()).where(e.c.paper_id == paper_id).group_by(e.c.kind)
    )
    return {kind: int(n) for kind, n in rows}


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def latest_day(conn: sa.Connection, today: date) -> date:
    """The newest day with news (papers, events, signals), not after today; today if none."""
    p, e, s = schema.papers, schema.paper_events, schema.paper_signals
    bound = (today + timedelta(days=1)).isoformat()
    candidates = [
        conn.execute(sa.select(sa.func.max(column)).where(column < bound)).scalar()
        for column in (p.c.announced, p.c.published, e.c.at, s.c.observed_on)
    ]
    days = [d for d in map(_day, candidates) if d is not None]
    return max(days) if days else today


@dataclass
class _Attention:
    attention: float = 0.0
    recency: float = 0.0
    events: dict[str, int] = field(default_factory=dict)
    upvotes: int = 0


def scores(conn: sa.Connection, window: str, today: date | None = None) -> tuple[date, dict[str, _Attention]]:
    """The window's last day, and the attention and recency of every paper with either in it."""
    if window not in WINDOWS:
        raise InputError(f"unknown window {window!r}", hint=f"use one of {', '.join(WINDOWS)}")
    days = WINDOWS[window]
    end = latest_day(conn, today or datetime.now(UTC).date())
    half_life = days / 3

    def decay(day: date | None) -> float:
        age = max(0, (end - day).days) if day else days
        return float(0.5 ** ((age + 0.5) / half_life))  # an event of the last day is half a day old

    found: dict[str, _Attention] = {}
    lo, hi = (end - timedelta(days=days - 1)).isoformat(), (end + timedelta(days=1)).isoformat()
    e, s, p = schema.paper_events, schema.paper_signals, schema.papers
    for paper_id, kind, at in conn.execute(
        sa.select(e.c.paper_id, e.c.kind, e.c.at).where(e.c.at >= lo, e.c.at < hi)
    ):
        entry = found.setdefault(paper_id, _Attention())
        entry.attention += EVENT_WEIGHTS.get(kind, 0.0) * decay(_day(at))
        entry.events[kind] = entry.events.get(kind, 0) + 1
    newest: dict[str, tuple[str, dict[str, Any]]] = {}
    for paper_id, observed, data in conn.execute(
        sa.select(s.c.paper_id, s.c.observed_on, s.c.data).where(s.c.observed_on >= lo, s.c.observed_on < hi)
    ):
        if paper_id not in newest or observed > newest[paper_id][0]:
            newest[paper_id] = (observed, data or {})
    for paper_id, (observed, data) in newest.items():
        entry = found.setdefault(paper_id, _Attention())
        entry.upvotes = int(data.get("upvotes") or 0)
        points = entry.upvotes + COMMENT_WEIGHT * int(data.get("comments") or 0)
        entry.attention += (points + CODE_WEIGHT * bool(data.get("github_repo"))) * decay(_day(observed))
    dated = sa.func.coalesce(p.c.announced, p.c.published)
    for paper_id, day in conn.execute(sa.select(p.c.id, dated).where(dated >= lo, dated < hi)):
        found.setdefault(paper_id, _Attention()).recency = RECENCY * decay(_day(day))
    return end, found


def trending(
    conn: sa.Connection,
    window: str = "week",
    category: str | None = None,
    limit: int = 20,
    today: date | None = None,
) -> TrendingList:
    """The papers with the highest trending score in the window (see the module's docstring)."""
    end, found = scores(conn, window, today)
    wanted = category.lower() if category else None
    groups: dict[str, list[str]] = {}
    for pid, (group, categories) in _papers(conn, set(found)).items():
        if wanted and not any(c.lower() == wanted or c.lower().split(".")[0] == wanted for c in categories):
            continue
        groups.setdefault(group, []).append(pid)
    ranked = []
    for members in groups.values():
        parts = [found[pid] for pid in members]
        best = max(members, key=lambda pid: (found[pid].attention + found[pid].recency, pid))
        attention, recency = sum(a.attention for a in parts), max(a.recency for a in parts)
        events: dict[str, int] = {}
        for part in parts:
            for kind, n in part.events.items():
                events[kind] = events.get(kind, 0) + n
        ranked.append(
            Trending(
                paper_id=best, score=round(attention + recency, 6), attention=round(attention, 6),
                recency=round(recency, 6), events=events, upvotes=max(a.upvotes for a in parts),
            )
        )  # fmt: skip
    ranked.sort(key=lambda t: (-t.score, t.paper_id))
    return TrendingList(window, end.isoformat(), category, ranked[:limit])


def _papers(conn: sa.Connection, ids: set[str]) -> dict[str, tuple[str, list[str]]]:
    """Duplicate group and categories of each paper."""
    p = schema.papers
    found: dict[str, tuple[str, list[str]]] = {}
    chunk = sorted(ids)
    for i in range(0, len(chunk), 5000):
        rows = conn.execute(
            sa.select(p.c.id, p.c.group_id, p.c.categories).where(p.c.id.in_(chunk[i : i + 5000]))
        )
        found.update({pid: (group, list(categories or [])) for pid, group, categories in rows})
    return found
