"""Several processes voting, subscribing and running the digest against one store at the same time.

On PostgreSQL (the team server: many web workers and a digest job on one database) and on SQLite
alike, constraints and transactions keep it right: no vote counted twice or lost, one subscriber per
address, one digest per subscriber and period, each sent once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import sqlalchemy as sa

from conftest import shared_path
from mail_server import MailServer
from paperwire import pipeline
from paperwire.config import load_settings
from paperwire.digest import subscribers
from paperwire.digest.subscribers import Preferences
from paperwire.digest.tokens import TokenError, Tokens
from paperwire.library import Library
from paperwire.store import schema

WORKERS = 4
WORKER = Path(__file__).parent / "fixtures" / "concurrent_worker.py"
READERS = [f"reader{i}@example.org" for i in range(12)]  # confirmed before the workers start
NEWCOMERS = [f"newcomer{i}@example.org" for i in range(8)]  # every worker subscribes all of them


def test_concurrent_votes_subscriptions_and_digest_runs(tmp_path: Path, mail: MailServer) -> None:
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PAPERWIRE_DATA_DIR": str(data_dir),
        "PAPERWIRE_EMBEDDINGS": "false",
        "PAPERWIRE_DEMO_CORPUS": "false",
        "PAPERWIRE_SECRET_KEY": "concurrency-test-secret-key-0123456789",
        "PAPERWIRE_SMTP_BACKOFF": "0.01",
        **{f"PAPERWIRE_{name.upper()}": str(value) for name, value in mail.settings().items()},
    }
    settings = load_settings(data_dir=data_dir, demo_corpus=False, embeddings=False)
    with Library(settings) as library:
        seeds = sorted(shared_path("seeds").glob("*.txt"))
        pipeline.ingest(library.engine, settings, [str(seeds[0])], None, lambda *_: None)
        library.sync()
        with library.engine.begin() as conn:
            p = schema.papers
            papers = list(conn.execute(sa.select(p.c.id).order_by(p.c.id).limit(15)).scalars())
            prefs = Preferences(topics=["graph neural networks", "diffusion models"], send_hour=0)
            for address in READERS:
                subscriber_id, _, _ = subscribers.subscribe(conn, address, prefs)
                subscribers.confirm(conn, subscriber_id)
    actors = [f"user:{i}" for i in range(6)]
    job = {
        "start": time.time() + 3.0,  # each worker has opened the store by then; all go at once
        "papers": papers, "actors": actors, "addresses": NEWCOMERS,
        "at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    }  # fmt: skip
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(job)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(WORKERS)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-3000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))

    engine = sa.create_engine(settings.database)
    with engine.connect() as conn:
        e, s, o = schema.paper_events, schema.subscribers, schema.outbox
        upvotes = conn.execute(sa.select(e.c.paper_id, e.c.actor).where(e.c.kind == "upvote")).all()
        emails = conn.execute(sa.select(s.c.email)).scalars().all()
        digests = conn.execute(sa.select(o.c.recipient, o.c.status).where(o.c.kind == "digest")).all()
        items = conn.execute(sa.select(sa.func.count()).select_from(schema.digest_items)).scalar_one()
    engine.dispose()

    # every vote once: each (paper, actor) pair stored once, and exactly one worker was told it counted
    assert len(upvotes) == len(set(upvotes)) == len(papers) * len(actors)
    assert sum(r["votes"] for r in results) == len(papers) * len(actors)
    # one subscriber per address, however many workers subscribed it at the same moment
    assert Counter(emails) == Counter(READERS + NEWCOMERS)
    # one digest per confirmed subscriber, composed by one worker and sent once
    assert sorted(recipient for recipient, _ in digests) == sorted(READERS)
    assert {status for _, status in digests} == {"sent"}
    assert sum(r["composed"] for r in results) == len(READERS)
    received = Counter(m["To"] for m in mail.mailbox.messages if "List-Unsubscribe" in m)
    assert received == Counter(READERS)
    assert items >= len(READERS)


def _at_once(count: int, action: Callable[[], object]) -> list[object]:
    """Run `action` in `count` threads released together; each one's result or exception."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _subscribe(engine: sa.Engine, address: str) -> str:
    with engine.begin() as conn:
        return subscribers.subscribe(conn, address, Preferences(topics=["graph neural networks"]))[0]


def _confirm(engine: sa.Engine, tokens: Tokens, link: str) -> object:
    with engine.begin() as conn:
        return tokens.consume(conn, link, "confirm")


def test_the_same_address_subscribed_and_the_same_link_used_at_the_same_instant(engine: sa.Engine) -> None:
    tokens = Tokens(b"concurrency-test-secret-key-0123456789")
    for round in range(10):  # the race is narrow: several rounds
        ids = _at_once(4, partial(_subscribe, engine, f"twice{round}@example.org"))
        assert all(isinstance(i, str) for i in ids), ids
        assert len(set(ids)) == 1  # everyone got the one subscriber the address has
        link = tokens.issue("confirm", str(ids[0]), timedelta(days=2), single_use=True)
        outcomes = _at_once(4, partial(_confirm, engine, tokens, link))
        used = [o for o in outcomes if isinstance(o, TokenError)]
        assert len(used) == 3 and all("already used" in str(o) for o in used), outcomes


def _store(data_dir: Path) -> dict[str, tuple[str, str]]:
    engine = sa.create_engine(load_settings(data_dir=data_dir).database)
    p = schema.papers
    with engine.connect() as conn:
        papers = {
            row.id: (row.group_id, row.content_hash)
            for row in conn.execute(sa.select(p.c.id, p.c.group_id, p.c.content_hash))
        }
    engine.dispose()
    return papers


def test_ingests_running_at_once_store_what_one_ingest_would(tmp_path: Path) -> None:
    days = sorted(shared_path("data", "arxiv", "daily_arxiv_jsonl").glob("*.jsonl.gz"))[:3]
    env = {**os.environ, "PAPERWIRE_DEMO_CORPUS": "false", "PAPERWIRE_INGEST_BATCH_SIZE": "50"}

    def ingest(data_dir: Path, files: list[Path]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "paperwire", "--data-dir", str(data_dir), "ingest", "--no-index"]
        return subprocess.Popen([*command, *map(str, files)], env=env, stderr=subprocess.PIPE)

    alone = ingest(tmp_path / "alone", days)
    assert alone.wait(timeout=300) == 0
    # three ingests of overlapping days into one store at once: their batches interleave
    together = [ingest(tmp_path / "together", files) for files in (days, days[1:], days[::-1])]
    for process in together:
        _, err = process.communicate(timeout=300)
        assert process.returncode in (0, 3), err.decode()[-2000:]
    assert _store(tmp_path / "together") == _store(tmp_path / "alone")
