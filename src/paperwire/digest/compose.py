"""Composing digests: who is due, the new papers since their last one, their picks, the email.

A subscriber is due when, in their time zone, the send hour of the day has come and the period
(the local day for a daily digest, the ISO week for a weekly one) has no digest yet. Their new
papers are those this instance stored since their last digest (or in the last day or week, for a
first one). When none arrived (arXiv announces nothing on weekends and holidays), or none match,
nothing is sent, or a short note that says so for subscribers who asked for one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from paperwire import trending
from paperwire.digest import render, selection, subscribers
from paperwire.digest.outbox import Email
from paperwire.digest.render import DigestView, Entry
from paperwire.digest.tokens import FEEDBACK_TTL, Tokens
from paperwire.library import Library
from paperwire.search.embed import paper_text
from paperwire.store import reads, schema

TRENDING_IN_DIGEST = 3
TRENDING_POOL = 1000  # the week's most trending papers, of which each digest shows its categories'
FIRST_WINDOW = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
UrlFor = Callable[..., str]  # (path, **query) -> absolute URL


def period_of(frequency: str, timezone: str, now: datetime) -> str:
    local = now.astimezone(ZoneInfo(timezone))
    if frequency == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.date().isoformat()


def is_due(row: dict[str, Any], now: datetime) -> bool:
    return bool(now.astimezone(ZoneInfo(row["timezone"])).hour >= row["send_hour"])


def digest_key(subscriber_id: str, period: str) -> str:
    return f"digest:{subscriber_id}:{period}"


def last_digests(conn: sa.Connection, subscriber_ids: list[str]) -> dict[str, datetime]:
    """When each subscriber's newest digest (or note) was composed."""
    o = schema.outbox
    rows = conn.execute(
        sa.select(o.c.subscriber_id, sa.func.max(o.c.created_at))
        .where(o.c.kind.in_(["digest", "note"]), o.c.subscriber_id.in_(subscriber_ids))
        .group_by(o.c.subscriber_id)
    )
    return {sid: datetime.fromisoformat(at) for sid, at in rows}


def _second(moment: datetime) -> str:
    """The moment to the second, as the store records when papers arrived: papers stored in the
    second a digest was composed count as new for the next one (received ones are left out anyway)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _unit(blob: bytes, dim: int) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32).reshape(-1, dim)


@dataclass
class Composed:
    subscriber_id: str
    email: Email | None  # None: nothing to send this period
    items: list[tuple[str, str]]  # (paper id, reason) of every paper in it
    new_papers: int  # that arrived in the subscriber's window


class Composer:
    """One run's state: the new papers (embedded and TF-IDF-indexed once), trending, paper details."""

    def __init__(self, library: Library, tokens: Tokens, url: UrlFor, now: datetime, since: datetime) -> None:
        self.library, self.tokens, self.url, self.now = library, tokens, url, now
        self.engine = library.engine
        self.embedder = library.embedder
        self._hot: dict[tuple[str, ...], list[tuple[str, float, str]]] = {}
        self._details: dict[str, dict[str, Any]] = {}
        self._entries: dict[str, Entry] = {}  # an entry's parts that are the same in every digest
        self._embedded: dict[str, np.ndarray] = {}  # topic texts embedded in this run
        self.papers, self.first_seen = self._new_papers(since)

    # -- the run's papers ------------------------------------------------------------------------

    def _new_papers(self, since: datetime) -> tuple[selection.NewPapers, np.ndarray]:
        p = schema.papers
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    p.c.id, p.c.title, p.c.abstract, p.c.authors, p.c.categories, p.c.group_id, p.c.links,
                    p.c.published, p.c.announced, p.c.first_seen,
                ).where(p.c.first_seen >= _second(since)).order_by(p.c.first_seen, p.c.id)
            ).all()  # fmt: skip
            _, attention = trending.scores(conn, "week", self.now.date())
        ids = [r.id for r in rows]
        for r in rows:
            self._details[r.id] = r._asdict()
        vectors = self._vectors(ids)
        papers = selection.NewPapers(
            ids=ids, titles=[r.title for r in rows], texts=[paper_text(r.title, r.abstract) for r in rows],
            groups=[r.group_id for r in rows], categories=[list(r.categories) for r in rows], vectors=vectors,
            attention=np.array([attention[i].attention if i in attention else 0.0 for i in ids]),
        )  # fmt: skip
        seen = np.array([datetime.fromisoformat(r.first_seen).timestamp() for r in rows], dtype=np.float64)
        return papers, seen

    def _vectors(self, paper_ids: list[str]) -> np.ndarray | None:
        """Unit embeddings of the papers in order (zeros where one is missing); None without a model."""
        if self.embedder is None:
            return None
        found = self.stored_vectors(paper_ids)
        matrix = np.zeros((len(paper_ids), self.embedder.dim), dtype=np.float32)
        for i, paper_id in enumerate(paper_ids):
            if paper_id in found:
                matrix[i] = found[paper_id]
        return matrix

    def stored_vectors(self, paper_ids: Iterable[str]) -> dict[str, np.ndarray]:
        if self.embedder is None:
            return {}
        e = schema.embeddings
        wanted = list(set(paper_ids))
        found: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 5000):
                for paper_id, blob in conn.execute(
                    sa.select(e.c.paper_id, e.c.vector).where(
                        e.c.model == self.embedder.model_id, e.c.paper_id.in_(wanted[start : start + 5000])
                    )
                ):
                    found[paper_id] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        return found

    def detail(self, paper_id: str) -> dict[str, Any]:
        if paper_id not in self._details:
            with self.engine.connect() as conn:
                self._details[paper_id] = reads.get_paper(conn, paper_id)
        return self._details[paper_id]

    @cached_property
    def _trending_week(self) -> list[tuple[str, float, str, list[str]]]:
        """(paper id, score, duplicate group, categories) of the week's most trending, best first."""
        p = schema.papers
        with self.engine.connect() as conn:
            ranked = trending.trending(conn, "week", None, limit=TRENDING_POOL, today=self.now.date()).papers
            ids = [entry.paper_id for entry in ranked]
            about = {
                row.id: (row.group_id, list(row.categories))
                for row in conn.execute(
                    sa.select(p.c.id, p.c.group_id, p.c.categories).where(p.c.id.in_(ids))
                )
            }
        return [(e.paper_id, e.score, *about[e.paper_id]) for e in ranked if e.paper_id in about]

    def _trending(self, categories: list[str]) -> list[tuple[str, float, str]]:
        """(paper id, score, group) trending this week in the categories (everywhere without any)."""
        key = tuple(sorted(categories))
        if key not in self._hot:
            self._hot[key] = [
                (pid, score, group)
                for pid, score, group, cats in self._trending_week
                if not key or selection.matching(cats, key)
            ]
        return self._hot[key]

    # -- subscribers' interests ------------------------------------------------------------------

    def topic_vectors(self, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Each subscriber's topic embeddings: stored ones, else embedded now and stored."""
        if self.embedder is None:
            return {}
        model, dim = self.embedder.model_id, self.embedder.dim
        found = {
            r["id"]: _unit(r["topic_vectors"], dim)
            for r in rows
            if r["topics"] and r["topic_vectors"] and r["vectors_model"] == model
        }
        missing = [r for r in rows if r["topics"] and r["id"] not in found]
        texts = sorted({t for r in missing for t in r["topics"]} - self._embedded.keys())
        if texts:  # a text is embedded once a run, not once per chunk of subscribers that has it
            self._embedded.update(zip(texts, self.embedder.embed(texts), strict=True))
        if missing:
            s = schema.subscribers
            with self.engine.begin() as conn:
                for r in missing:
                    found[r["id"]] = np.stack([self._embedded[t] for t in r["topics"]]).astype(np.float32)
                    blob = found[r["id"]].astype(np.float16).tobytes()
                    conn.execute(
                        s.update().where(s.c.id == r["id"]).values(topic_vectors=blob, vectors_model=model)
                    )
        return found

    def interests(self, rows: list[dict[str, Any]]) -> dict[str, selection.Interest]:
        ids = [r["id"] for r in rows]
        topic_vectors = self.topic_vectors(rows)
        vector_of = {
            t: v
            for r in rows
            if r["id"] in topic_vectors
            for t, v in zip(r["topics"], topic_vectors[r["id"]], strict=True)
        }
        texts = sorted({t for r in rows for t in r["topics"]})
        matrix = np.stack([vector_of[t] for t in texts]) if texts and vector_of else None
        scores = self.papers.topic_scores(texts, matrix)
        row_of = {t: i for i, t in enumerate(texts)}
        with self.engine.connect() as conn:
            marked = subscribers.marks(conn, ids)
            di, p = schema.digest_items, schema.papers
            received: dict[str, set[str]] = {}
            for sid, group in conn.execute(
                sa.select(di.c.subscriber_id, p.c.group_id)
                .join(p, p.c.id == di.c.paper_id)
                .where(di.c.subscriber_id.in_(ids))
            ):
                received.setdefault(sid, set()).add(group)
        vectors = self.stored_vectors(pid for marks in marked.values() for pid in marks)
        liked_ids = {pid for marks in marked.values() for pid, label in marks.items() if label > 0}
        with self.engine.connect() as conn:
            p = schema.papers
            titles = dict(conn.execute(sa.select(p.c.id, p.c.title).where(p.c.id.in_(liked_ids))).all())
        found = {}
        for r in rows:
            marks = {pid: label for pid, label in marked.get(r["id"], {}).items() if pid in vectors}
            liked = [pid for pid, label in marks.items() if label > 0]
            found[r["id"]] = selection.Interest(
                topics=list(r["topics"]),
                topic_scores=scores[[row_of[t] for t in r["topics"]]] if r["topics"] else scores[:0],
                categories=list(r["categories"]),
                liked_titles=[titles[pid] for pid in liked],
                liked_vectors=np.stack([vectors[pid] for pid in liked]) if liked else None,
                feedback_vectors=np.stack([vectors[pid] for pid in marks]) if marks else None,
                feedback_labels=np.array([label > 0 for label in marks.values()], dtype=np.int8)
                if marks
                else None,
                received_groups=received.get(r["id"], set()),
                limit=r["max_papers"],
            )
        return found

    # -- one subscriber's digest -----------------------------------------------------------------

    def compose(
        self, row: dict[str, Any], interest: selection.Interest, period: str, since: datetime
    ) -> Composed:
        arrived = self.first_seen >= datetime.fromisoformat(_second(since)).timestamp()
        picks = selection.select(self.papers, interest, allowed=arrived)
        sid = row["id"]
        links = self.tokens.issue("paper", sid, FEEDBACK_TTL)
        entries = [self._entry(links, self.papers.ids[pick.index], pick.reason) for pick in picks]
        groups = interest.received_groups | {self.papers.groups[pick.index] for pick in picks}
        hot = [
            (pid, score) for pid, score, group in self._trending(interest.categories) if group not in groups
        ][:TRENDING_IN_DIGEST]
        trending_entries = [
            self._entry(links, pid, f"trending score {score:.1f}", feedback=False) for pid, score in hot
        ]
        new_count = int(arrived.sum())
        unsubscribe = self.url("/unsubscribe", token=self.tokens.issue("unsubscribe", sid))
        view = DigestView(
            recipient=row["email"], frequency=row["frequency"], subject="", intro="", entries=entries,
            note="", manage_url=self.url("/manage"), unsubscribe_url=unsubscribe,
            trending=trending_entries if entries else [],
            trending_scope=", ".join(interest.categories) or "all categories",
        )  # fmt: skip
        when = self.now.astimezone(ZoneInfo(row["timezone"])).strftime("%-d %b %Y")
        if entries:
            view.subject = f"{len(entries)} new paper{'s' * (len(entries) > 1)} for you · {when}"
            view.intro = (
                f"{len(entries)} of the {new_count} papers that arrived since your last digest "
                f"{'match' if len(entries) > 1 else 'matches'} your interests."
            )
            kind = "digest"
        elif row["empty_note"]:
            view.subject = f"No new papers for you · {when}"
            view.note = (
                f"{new_count} papers arrived since your last digest, and none of them matches your interests."
                if new_count
                else "No new papers arrived since your last digest: arXiv announces nothing on weekends and "
                "holidays. The next digest comes with the next announcement."
            )
            kind = "note"
        else:
            return Composed(sid, None, [], new_count)
        text, html = render.digest(view)
        headers = {
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        email = Email(
            key=digest_key(sid, period), subscriber_id=sid, kind=kind, recipient=row["email"],
            subject=view.subject, text=text, html=html, headers=headers, period=period,
        )  # fmt: skip
        items = [(self.papers.ids[p.index], p.reason) for p in picks] + [(pid, "trending") for pid, _ in hot]
        return Composed(sid, email, items if entries else [], new_count)

    def _entry(self, links_token: str, paper_id: str, why: str, feedback: bool = True) -> Entry:
        """An entry's links share one signed token per email (see Digests.click): paper and label
        travel as plain parameters, checked against the papers the subscriber received."""
        if paper_id not in self._entries:
            paper = self.detail(paper_id)
            self._entries[paper_id] = Entry(
                title=paper["title"], authors=render.authors_line(list(paper["authors"])),
                date=(paper.get("published") or paper.get("announced") or "")[:10], why="",
                abstract=render.first_lines(paper["abstract"]), url="",
                code=((paper.get("links") or {}).get("code") or [None])[0],
            )  # fmt: skip
        click = self.url("/digest/click", token=links_token, paper=paper_id)
        rate = self.url("/digest/feedback", token=links_token, paper=paper_id) + "&label="
        return replace(
            self._entries[paper_id], why=why, url=click,
            up=rate + "1" if feedback else "", down=rate + "-1" if feedback else "",
        )  # fmt: skip
