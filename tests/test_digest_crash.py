"""A digest run killed with SIGKILL at random points, then rerun: each subscriber gets the period's
digest once; a run after that sends nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from mail_server import Mailbox, MailServer
from paperwire import pipeline
from paperwire.config import load_settings
from paperwire.digest import subscribers
from paperwire.digest.subscribers import Preferences
from paperwire.library import Library
from paperwire.store import schema
from pg_site.pg_routing import copy_data_dir
from test_digest import seed_page

SUBSCRIBERS = 60
TOPICS = ["graph neural networks", "diffusion models", "neural architecture search", "model pruning"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    data_dir = tmp_path_factory.mktemp("digest-crash") / "data"
    settings = load_settings(data_dir=data_dir, demo_corpus=False, models_dir=models_dir)
    with Library(settings) as library:
        pipeline.ingest(
            library.engine, settings, [str(seed_page(0)), str(seed_page(1))], None, lambda *_: None
        )
        library.sync()
        with library.engine.begin() as conn:
            for i in range(SUBSCRIBERS):
                topics = [TOPICS[i % len(TOPICS)], TOPICS[(i + 1) % len(TOPICS)]]
                subscriber_id, _, _ = subscribers.subscribe(
                    conn, f"reader{i}@example.org", Preferences(topics=topics, send_hour=0)
                )
                subscribers.confirm(conn, subscriber_id)
    return data_dir


def start_run(data_dir: Path, models_dir: Path, mail: MailServer, at: datetime) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PAPERWIRE_DATA_DIR": str(data_dir),
        "PAPERWIRE_MODELS_DIR": str(models_dir),
        "PAPERWIRE_SMTP_HOST": "127.0.0.1",
        "PAPERWIRE_SMTP_PORT": str(mail.port),
        "PAPERWIRE_SMTP_SECURITY": "plain",
        "PAPERWIRE_SMTP_BACKOFF": "0.01",
        "PAPERWIRE_SECRET_KEY": "crash-test-secret-key-0123456789",
        "PAPERWIRE_DEMO_CORPUS": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "paperwire", "digest", "run", "--json", "--at", at.isoformat()],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigkill_at_random_points_then_rerun_sends_each_digest_once(
    store: Path, tmp_path: Path, models_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    copy_data_dir(store, data_dir)
    mailbox = Mailbox(delay=0.05)  # a server that takes 50 ms a message: kills land while sending too
    mail = MailServer(mailbox).start()
    at = datetime.now(UTC) + timedelta(minutes=1)
    rng = random.Random(2026)
    kills = 0
    try:
        for attempt in range(10):
            if kills == 5:
                break
            process = start_run(data_dir, models_dir, mail, at)
            if attempt % 2 == 0:  # anywhere: starting, composing or sending
                time.sleep(rng.uniform(0.5, 4.0))
            else:  # while sending: right after the server takes a random n-th message of this run
                target = len(mailbox.raw) + rng.randint(1, 6)
                deadline = time.monotonic() + 60
                while len(mailbox.raw) < target and process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.001)
                time.sleep(rng.uniform(0, 0.03))
            if process.poll() is not None:
                break  # this run finished its work: nothing left to interrupt
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=120)
            kills += 1
        assert kills >= 3, "the runs finished before they could be killed"
        assert start_run(data_dir, models_dir, mail, at).wait(timeout=300) == 0
        received = len(mailbox.raw)
        assert start_run(data_dir, models_dir, mail, at).wait(timeout=300) == 0
        assert len(mailbox.raw) == received, "a run after the period's digests were sent sent more"
    finally:
        mail.stop()

    engine = sa.create_engine(load_settings(data_dir=data_dir).database)
    with engine.connect() as conn:
        o = schema.outbox
        rows = conn.execute(sa.select(o.c.recipient, o.c.status).where(o.c.kind == "digest")).all()
    engine.dispose()
    assert len(rows) >= SUBSCRIBERS - 2  # nearly everyone's topics match some of the papers
    assert {status for _, status in rows} == {"sent"}
    assert len({recipient for recipient, _ in rows}) == len(rows)  # one digest per subscriber and period

    # every subscriber with a digest has exactly one message (one Message-ID) in their mailbox; a kill
    # between the server taking a message and the run recording it may repeat that same message once
    by_recipient: dict[str, set[str]] = defaultdict(set)
    copies = Counter(mailbox.raw)
    for message in mailbox.messages:
        by_recipient[message["To"]].add(message["Message-ID"])
    assert set(by_recipient) == {recipient for recipient, _ in rows}
    assert all(len(ids) == 1 for ids in by_recipient.values())
    repeated = sum(n - 1 for n in copies.values())
    print(f"{kills} kills, {repeated} messages repeated after a kill")
    assert repeated <= kills
    assert len(copies) == len(rows)  # every repeat is byte-identical to its first copy
