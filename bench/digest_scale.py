"""The digest at scale: 10,000 subscribers against 2,000 new papers (issue 5). Results: DIGEST_SCALE.md.

    PYTHONPATH=src .venv/bin/python bench/digest_scale.py                 # everything, prints tables
    PYTHONPATH=src .venv/bin/python bench/digest_scale.py --record        # and writes DIGEST_SCALE.md
    git -C ../main archive HEAD src | tar -x -C /tmp/main-export          # another version of the code:
    PYTHONPATH=src .venv/bin/python bench/digest_scale.py --src /tmp/main-export/src --label main --record

The store (built once in `<work>/template`, about 8 minutes, reused by every later run):
- real papers from the daily arXiv records (`--data`), ingested by `paperwire.pipeline.ingest` in
  three steps over consecutive days: `--history` older papers, then the `--new` papers of the first
  digest (set A), then `--new` more that arrive before the second digest (set B); surplus papers of
  a set's last day join the history. All embedded by `Library.sync()` (the bundled MiniLM), which
  also builds the search indexes the baseline needs;
- `--subscribers` confirmed subscribers (subscribers.subscribe + confirm + mark): 1-3 free-text
  topics each, drawn (popular ones more often) from a pool of the commonest 2- and 3-word phrases
  of the stored titles, 15% of them long-tail phrases cut from single titles; 40% with 1-2
  categories; 25% with 1-3 liked papers; 20% with 4-10 marks up and down (so the logistic
  regression runs); max_papers 10, daily, 10% asking for a note on empty days, 14 time zones.

Each measurement runs in its own process on a fresh copy of the template (so peak RSS is its own):
`first_seen` is moved (one UPDATE per set) so that A arrived in the 20 hours before `now` (the real
clock at the start) and the history long before; send hours are set so every active subscriber is
due at `now` and at `now + 1 day`; 3,000 trending events are recorded on the three days before.
1. first run, `Digests.run(now)`: topic vectors are not stored yet, so they are embedded;
2. B's papers arrive (one UPDATE of their first_seen), second run `Digests.run(now + 1 day)`: the
   next period, with topic vectors cached on the subscriber rows and ~10 received papers each.
Delivery goes through a transport whose `send` does nothing; it is timed apart, and "compose" is
the run less delivery: due subscribers, papers, interests, selection, rendering, outbox writes.
Phases are timed by wrappers set around the digest's functions in the measuring process (about
five calls per subscriber; self time, nested phases subtracted). Memory: RSS when delivery starts
and after each run, and the process's peak (ru_maxrss), at `--scales` and the full size.

Variants (`--variants`), each at the full size, alternating when `--repeat` > 1:
- `src`: the code as it is, in the default environment (OpenBLAS picks its threads: 2 here);
- `src-blas1`: the same code with OPENBLAS_NUM_THREADS=1 (environment only);
  the changes this benchmark proposed are in src/ since (DIGEST_SCALE.md, "Before" section).
The digests of each pair of variants are compared (same papers, same order).

Baseline, in the same invocation: the naive digest, one `Library.search` (hybrid, the query
embedded each time, filtered to set A's announcement days, limit max_papers) per topic of each of
`--baseline-sample` subscribers, the hits merged by fused score: selection only (no rendering, no
outbox), timed per subscriber and extrapolated to 10,000.

cProfile: one more process per variant profiles a first and a second run of `--profile-active`
subscribers: `<work>/profile-<variant>-first.txt` and `-second.txt` (top 40 by internal and by
cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gzip
import io
import itertools
import json
import math
import os
import pstats
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import onnxruntime  # noqa: F401  # before paperwire loads usearch: the other order segfaults
import orjson

BENCH = Path(__file__).resolve().parent
# the code measured: this checkout's src/, or another (an export of main: --src)
SRC = Path(os.environ.get("PAPERWIRE_BENCH_SRC") or BENCH.parent / "src")
sys.path.insert(0, str(SRC))

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv" / "daily_arxiv_jsonl"
WORK = Path(tempfile.gettempdir()) / "paperwire-digest-bench"
RESULTS = BENCH / "DIGEST_SCALE.md"
TARGET_S = 30.0
ZONES = [  # (time zone, share of subscribers)
    ("UTC", 8), ("Europe/London", 8), ("Europe/Paris", 10), ("Europe/Berlin", 10), ("America/New_York", 14),
    ("America/Chicago", 6), ("America/Los_Angeles", 10), ("America/Sao_Paulo", 4), ("Asia/Kolkata", 8),
    ("Asia/Shanghai", 8), ("Asia/Tokyo", 5), ("Asia/Seoul", 3), ("Australia/Sydney", 4),
    ("Africa/Johannesburg", 2),
]  # fmt: skip
# fmt: off
STOP = {
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "its",
    "of", "on", "or", "over", "the", "their", "this", "to", "under", "using", "via", "vs", "with",
    "without", "towards", "toward", "through", "across", "beyond", "based", "new", "can", "do", "does",
    "how", "what", "when", "where", "which", "why", "we", "our", "you", "your", "not", "all", "more",
    "than", "one", "two", "i", "study", "analysis", "approach", "method", "methods", "framework",
    "case", "between", "within", "against", "after", "about", "make",
}
# fmt: on
WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]")


# -- shared helpers --------------------------------------------------------------------------------


def settings_for(data_dir: Path, work: Path) -> Any:
    from paperwire.config import Settings

    return Settings(data_dir=data_dir, models_dir=work / "models", demo_corpus=False)


def rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def child(command: str, *args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], float, float]:
    """Run this script's `command` in a new process: its JSON answer, peak RSS (MiB) and CPU seconds."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        process = subprocess.Popen(
            [sys.executable, __file__, command, *args, "--out", out.name], env={**os.environ, **(env or {})}
        )
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{command} failed (exit {os.waitstatus_to_exitcode(status)})")
        return json.loads(Path(out.name).read_text()), usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def db_path(data_dir: Path) -> Path:
    return data_dir / "paperwire.db"


# -- the store: papers, subscribers ----------------------------------------------------------------


def day_files(data: Path, history: int, new: int) -> dict[str, list[Path]]:
    """The last days of the records split into B (newest), A and history, each with enough papers
    seen there for the first time (counted over the whole folder, in date order)."""
    files = sorted(data.glob("*.jsonl.gz"))
    seen: set[str] = set()
    fresh: list[int] = []
    for path in files:
        with gzip.open(path, "rb") as fh:
            ids = {orjson.loads(line)["id"] for line in fh}
        fresh.append(len(ids - seen))
        seen |= ids
    sets: dict[str, list[Path]] = {}
    end = len(files)
    for name, wanted in (("B", new), ("A", new), ("history", history)):
        count, start = 0, end
        while count < wanted * 1.03 and start > 0:  # a few more: some merge as duplicates
            start -= 1
            count += fresh[start]
        sets[name] = files[start:end]
        end = start
    return sets


def topic_pool(titles: list[str], size: int) -> tuple[list[str], list[float]]:
    """The commonest 2- and 3-word phrases of the titles (no stop word at either end), with weights."""
    counts: Counter[str] = Counter()
    for title in titles:
        words = [w.lower() for w in WORD.findall(title)]
        grams = set()
        for n in (2, 3):
            for i in range(len(words) - n + 1):
                gram = words[i : i + n]
                if (
                    gram[0] in STOP
                    or gram[-1] in STOP
                    or any(len(w) < 3 and w not in ("3d", "ai") for w in gram)
                ):
                    continue
                grams.add(" ".join(gram))
        counts.update(grams)
    bigrams = [(g, c) for g, c in counts.most_common() if g.count(" ") == 1 and c >= 3][: size * 2 // 3]
    trigrams = [(g, c) for g, c in counts.most_common() if g.count(" ") == 2 and c >= 3][: size // 3]
    pool = bigrams + trigrams
    return [g for g, _ in pool], [math.sqrt(c) for _, c in pool]


def long_tail(rng: random.Random, title: str) -> str | None:
    words = WORD.findall(title)
    if len(words) < 3:
        return None
    n = rng.randint(2, min(4, len(words)))
    starts = [
        i
        for i in range(len(words) - n + 1)
        if words[i].lower() not in STOP and words[i + n - 1].lower() not in STOP
    ]
    if not starts:
        return None
    start = rng.choice(starts)
    return " ".join(words[start : start + n]).lower()


def setup(args: argparse.Namespace) -> dict[str, Any]:
    """Build (or reuse) the template data directory: papers, embeddings, indexes, subscribers."""
    from paperwire.digest import subscribers
    from paperwire.digest.subscribers import Preferences
    from paperwire.library import Library
    from paperwire.pipeline import ingest

    template = args.work / "template"
    meta_path = template / "bench.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["subscribers"] >= args.subscribers and meta["new"] == args.new:
            return meta
        raise SystemExit(f"{template} was built for other sizes: remove it, or pass its sizes ({meta_path})")
    if template.exists():
        shutil.rmtree(template)  # a setup that did not finish
    settings = settings_for(template, args.work)
    library = Library(settings)
    files = day_files(args.data, args.history, args.new)
    timings: dict[str, float] = {}
    sets: dict[str, list[str]] = {}
    known: set[str] = set()
    for name in ("history", "A", "B"):
        start = time.perf_counter()
        report = ingest(library.engine, settings, [str(p) for p in files[name]], None, None)
        timings[f"ingest {name}"] = time.perf_counter() - start
        with library.engine.begin() as conn:
            rows = conn.exec_driver_sql("SELECT id FROM papers ORDER BY first_seen, id").all()
            # later steps must tell their papers apart by first_seen
            conn.exec_driver_sql("UPDATE papers SET first_seen = '2000-01-01T00:00:00+00:00'")
        added = [r[0] for r in rows if r[0] not in known]
        known.update(added)
        wanted = args.history if name == "history" else args.new
        if name == "history":
            sets["history"] = added
        else:
            sets[name] = added[:wanted]
            sets["history"] += added[wanted:]
        print(f"ingested {name}: {len(files[name])} files, {report.counts.new} new, "
              f"{len(added)} added, kept {len(sets[name])}", flush=True)  # fmt: skip
    start = time.perf_counter()
    library.sync()
    timings["sync (embed + indexes)"] = time.perf_counter() - start
    print(f"synced in {timings['sync (embed + indexes)']:.0f} s", flush=True)

    rng = random.Random(args.seed)
    with library.engine.connect() as conn:
        papers = conn.exec_driver_sql("SELECT id, title, categories FROM papers").all()
    title_of = {pid: title for pid, title, _ in papers}
    history = sets["history"]
    pool, weights = topic_pool([t for _, t, _ in papers], args.topic_pool)
    category_counts: Counter[str] = Counter(json.loads(c)[0] for _, _, c in papers if json.loads(c))
    categories, category_weights = zip(*category_counts.most_common(150), strict=True)
    archives = ["cs", "stat", "math", "physics", "eess", "q-bio"]
    by_word: dict[str, list[str]] = defaultdict(list)  # history papers by title word, for liked papers
    for pid in history:
        for w in {w.lower() for w in WORD.findall(title_of[pid])} - STOP:
            by_word[w].append(pid)

    def related(topic: str) -> list[str]:
        words = [w for w in topic.split() if w not in STOP]
        found = set(by_word.get(words[0], [])) if words else set()
        for w in words[1:]:
            found &= set(by_word.get(w, []))
        return sorted(found) or sorted(by_word.get(words[-1], [])) if words else []

    zones, zone_weights = zip(*ZONES, strict=True)
    start = time.perf_counter()
    kinds: Counter[str] = Counter()
    with library.engine.begin() as conn:
        for n in range(args.subscribers):
            topics: list[str] = []
            for _ in range(rng.choice((1, 1, 2, 2, 2, 3))):
                topic = None
                if rng.random() < 0.15:
                    topic = long_tail(rng, title_of[rng.choice(history)])
                topic = topic or rng.choices(pool, weights)[0]
                if topic not in topics:
                    topics.append(topic)
            cats: list[str] = []
            if rng.random() < 0.4:
                cats = [rng.choice(archives)] if rng.random() < 0.1 else []
                while len(cats) < rng.choice((1, 1, 2)):
                    c = rng.choices(categories, category_weights)[0]
                    if c not in cats:
                        cats.append(c)
            prefs = Preferences(
                topics=topics, categories=cats, frequency="daily", send_hour=7,
                timezone=rng.choices(zones, zone_weights)[0], max_papers=10, empty_note=rng.random() < 0.1,
            )  # fmt: skip
            sid, _, _ = subscribers.subscribe(conn, f"reader{n:05d}@bench.example.org", prefs)
            subscribers.confirm(conn, sid)
            roll = rng.random()
            candidates = [p for t in topics for p in related(t)]
            if roll < 0.2:  # enough marks both ways for the classifier
                ups = rng.sample(candidates, min(len(candidates), rng.randint(2, 5))) if candidates else []
                ups += rng.sample(history, max(0, 2 - len(ups)))
                downs = rng.sample(history, rng.randint(2, 5))
                for pid in ups:
                    subscribers.mark(conn, sid, pid, 1)
                for pid in downs:
                    if pid not in ups:
                        subscribers.mark(conn, sid, pid, -1)
                kinds["feedback"] += 1
            elif roll < 0.45:  # a few liked papers
                likes = rng.sample(candidates, min(len(candidates), rng.randint(1, 3))) if candidates else []
                for pid in likes or rng.sample(history, 1):
                    subscribers.mark(conn, sid, pid, 1)
                kinds["liked"] += 1
            kinds["categories"] += bool(cats)
            kinds["topics"] += len(topics)
    timings["subscribers"] = time.perf_counter() - start
    with library.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        unique_topics = len(
            {t for (js,) in conn.exec_driver_sql("SELECT topics FROM subscribers") for t in json.loads(js)}
        )
        marks = conn.exec_driver_sql("SELECT count(*) FROM subscriber_papers").scalar()
    library.close()
    meta = {
        "subscribers": args.subscribers, "new": args.new, "sets": sets,
        "counts": {k: len(v) for k, v in sets.items()},
        "files": {k: [p.name for p in v] for k, v in files.items()},
        "topic_pool": len(pool), "unique_topics": unique_topics, "marks": marks, "kinds": dict(kinds),
        "timings": timings,
    }  # fmt: skip
    meta_path.write_text(json.dumps(meta))
    print(f"template ready: {meta['counts']}, {unique_topics} distinct topics, {marks} marks, {dict(kinds)}")
    return meta


def prepare(args: argparse.Namespace, meta: dict[str, Any], active: int, name: str) -> tuple[Path, datetime]:
    """A fresh copy of the template with A just arrived, everyone due now and tomorrow; returns (dir, now)."""
    target = args.work / "runs" / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(args.work / "template", target)
    now = datetime.now(UTC).replace(microsecond=0)
    later = now + timedelta(days=1)
    conn = sqlite3.connect(db_path(target))
    with conn:
        conn.execute("CREATE TEMP TABLE bench_set (id TEXT PRIMARY KEY, n INTEGER)")

        def place(ids: list[str], first: datetime, step: timedelta) -> None:
            conn.execute("DELETE FROM bench_set")
            conn.executemany("INSERT INTO bench_set VALUES (?, ?)", [(pid, i) for i, pid in enumerate(ids)])
            stamps = [((first + i * step).isoformat(), i) for i in range(len(ids))]
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS bench_stamp (n INTEGER PRIMARY KEY, at TEXT)")
            conn.execute("DELETE FROM bench_stamp")
            conn.executemany("INSERT INTO bench_stamp (at, n) VALUES (?, ?)", stamps)
            conn.execute(
                "UPDATE papers SET first_seen = (SELECT at FROM bench_stamp JOIN bench_set USING (n) "
                "WHERE bench_set.id = papers.id) WHERE id IN (SELECT id FROM bench_set)"
            )

        place(meta["sets"]["history"], now - timedelta(days=40), timedelta(seconds=60))
        place(meta["sets"]["B"], now - timedelta(days=20), timedelta(seconds=1))  # "arrives" after run 1
        place(meta["sets"]["A"], now - timedelta(hours=20), timedelta(hours=19) / len(meta["sets"]["A"]))
        rng = random.Random(args.seed + 1)
        events = []
        hot = rng.sample(meta["sets"]["A"], 300) + rng.sample(meta["sets"]["history"], 100)
        for i in range(3000):
            kind = rng.choices(["view", "click", "upvote", "save"], [6, 2, 2, 1])[0]
            # on the three days before today's, so every process of the same date scores them alike
            day = datetime.combine(now.date(), datetime.min.time(), UTC) - timedelta(days=rng.randint(1, 3))
            at = day + timedelta(seconds=rng.randint(0, 86399))
            bucket = "" if kind in ("upvote", "save") else at.date().isoformat()
            events.append((rng.choice(hot), kind, f"bench:{i % 700}", bucket, at.isoformat()))
        conn.executemany(
            "INSERT OR IGNORE INTO paper_events (paper_id, kind, actor, bucket, at) VALUES (?, ?, ?, ?, ?)",
            events,
        )
        rows = conn.execute("SELECT id, timezone FROM subscribers ORDER BY email").fetchall()
        hours = []
        for i, (sid, tz) in enumerate(rows):
            zone = ZoneInfo(tz)
            latest = min(now.astimezone(zone).hour, later.astimezone(zone).hour)
            share = random.Random(sid).random()
            hours.append((int(share * (latest + 1)), "active" if i < active else "unsubscribed", sid))
        conn.executemany("UPDATE subscribers SET send_hour = ?, status = ? WHERE id = ?", hours)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return target, now


def arrive_b(data_dir: Path, meta: dict[str, Any]) -> None:
    """B's papers reach the store after the first run (first_seen from now on, a millisecond apart)."""
    conn = sqlite3.connect(db_path(data_dir))
    start = datetime.now(UTC)
    with conn:
        conn.executemany(
            "UPDATE papers SET first_seen = ? WHERE id = ?",
            [
                ((start + timedelta(milliseconds=i)).isoformat(), pid)
                for i, pid in enumerate(meta["sets"]["B"])
            ],
        )
    conn.close()


# -- measuring -------------------------------------------------------------------------------------


class NullTransport:
    """Accepts every message and sends nothing: delivery's own bookkeeping is all that is timed."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, message: Any) -> None:
        self.sent += 1

    def close(self) -> None:
        pass


class Phases:
    """Wall time inside wrapped functions: inclusive, and self (wrapped callees subtracted)."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.own: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._stack: list[float] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        phases = self

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            phases._stack.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                inner = phases._stack.pop()
                phases.total[name] += elapsed
                phases.own[name] += elapsed - inner
                phases.calls[name] += 1
                if phases._stack:
                    phases._stack[-1] += elapsed

        return timed

    def snapshot(self) -> dict[str, dict[str, float]]:
        found = {n: {"self": self.own[n], "total": self.total[n], "calls": self.calls[n]} for n in self.total}
        self.total.clear(), self.own.clear(), self.calls.clear()
        return found


PHASES = [  # (label, owner, attribute): in the order of a run
    ("due subscribers", "service.Digests", "_due"),
    ("embedder load, Composer setup", "compose.Composer", "__init__"),
    ("load new papers (rows, details)", "compose.Composer", "_new_papers"),
    ("TF-IDF fit over new papers", "selection.NewPapers", "__post_init__"),
    ("trending scores", "trending", "scores"),
    ("stored vectors (papers, marks)", "compose.Composer", "stored_vectors"),
    ("topic embedding (+ store vectors)", "compose.Composer", "topic_vectors"),
    ("interests (marks, received)", "compose.Composer", "interests"),
    ("topic scores (TF-IDF + matmul)", "selection.NewPapers", "topic_scores"),
    ("compose: entries, links, views", "compose.Composer", "compose"),
    ("selection", "selection", "select"),
    ("feedback classifier", "selection", "_feedback"),
    ("trending lists", "compose.Composer", "_trending"),
    ("rendering (Jinja2)", "render", "digest"),
    ("outbox writes (enqueue, commit)", "service.Digests", "_keep"),
    ("delivery (null transport)", "outbox", "deliver"),
    ("run, rest", "service.Digests", "run"),
]


def instrument() -> Phases:
    import importlib

    phases = Phases()
    for label, owner, attribute in PHASES:
        module_name, _, cls = owner.partition(".")
        module = importlib.import_module(
            f"paperwire.{module_name}" if module_name == "trending" else f"paperwire.digest.{module_name}"
        )
        target = getattr(module, cls) if cls else module
        setattr(target, attribute, phases.wrap(label, getattr(target, attribute)))
    return phases


def one_run(
    digests: Any, now: datetime, phases: Phases | None, profile: cProfile.Profile | None
) -> dict[str, Any]:
    import gc

    gc.collect()
    cpu, start = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    report = digests.run(now=now)
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    result = {
        "wall_s": wall, "cpu_s": cpu, "due": report.due, "composed": report.composed, "notes": report.notes,
        "nothing_new": report.nothing_new, "already_done": report.already_done, "sent": report.delivery.sent,
        "rss_mib": rss_mib(), "peak_mib": peak_mib(), "load": load(),
    }  # fmt: skip
    if phases is not None:
        result["phases"] = phases.snapshot()
    return result


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """One process: prepare a copy with `--active` subscribers, run the digest twice, report."""
    meta = json.loads((args.work / "template" / "bench.json").read_text())
    phases = instrument() if not args.profile else None
    from paperwire.digest import outbox
    from paperwire.digest.service import Digests
    from paperwire.library import Library

    at_delivery: list[dict[str, float]] = []  # memory when composing is over and delivery starts
    deliver = outbox.deliver

    def noted(*a: Any, **k: Any) -> Any:
        at_delivery.append({"rss_mib": rss_mib(), "peak_mib": peak_mib()})
        return deliver(*a, **k)

    outbox.deliver = noted

    data_dir, now = prepare(args, meta, args.active, args.name)
    settings = settings_for(data_dir, args.work)
    before = {"rss_mib": rss_mib(), "peak_mib": peak_mib()}
    library = Library(settings)
    transport = NullTransport()
    digests = Digests(library, transport)
    profiles = [cProfile.Profile(), cProfile.Profile()] if args.profile else [None, None]
    first = one_run(digests, now, phases, profiles[0])
    first_items = picks(library)
    arrive_b(data_dir, meta)
    second = one_run(digests, now + timedelta(days=1), phases, profiles[1])
    second_items = {k: v for k, v in picks(library).items() if k not in first_items}
    for run, mem in zip((first, second), at_delivery, strict=True):
        run["at_delivery"] = mem
    (args.work / f"picks-{args.name}.json").write_text(
        json.dumps({"first": first_items, "second": second_items})
    )
    with library.engine.connect() as conn:
        items = conn.exec_driver_sql("SELECT count(*) FROM digest_items").scalar()
        digests_per_kind = dict(conn.exec_driver_sql("SELECT kind, count(*) FROM outbox GROUP BY kind").all())
        vectors = conn.exec_driver_sql(
            "SELECT count(*) FROM subscribers WHERE topic_vectors IS NOT NULL"
        ).scalar()
        sample = conn.exec_driver_sql(
            "SELECT subject, text FROM outbox WHERE kind = 'digest' LIMIT 1"
        ).first()
    library.close()
    if args.profile:
        for label, profile in zip(("first", "second"), profiles, strict=True):
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text)
            stats.sort_stats("tottime").print_stats(40)
            text.write("\n\n--- by cumulative time ---\n")
            stats.sort_stats("cumulative").print_stats(40)
            (args.work / f"{args.name}-{label}.txt").write_text(text.getvalue())
    shutil.rmtree(data_dir)
    return {
        "active": args.active, "before": before, "first": first, "second": second, "digest_items": items,
        "outbox": digests_per_kind, "vectors_stored": vectors,
        "sample": list(sample) if sample else None,
    }  # fmt: skip


def picks(library: Any) -> dict[str, dict[str, list[str]]]:
    """Each digest's papers in order, by outbox key: {"picks": [...], "trending": [...]}."""
    found: dict[str, dict[str, list[str]]] = {}
    with library.engine.connect() as conn:
        for key, paper_id, reason in conn.exec_driver_sql(
            "SELECT outbox_key, paper_id, reason FROM digest_items ORDER BY outbox_key, position"
        ):
            entry = found.setdefault(key, {"picks": [], "trending": []})
            entry["trending" if reason == "trending" else "picks"].append(paper_id)
    return found


def same_picks(a: str, b: str, work: Path) -> dict[str, Any]:
    """How many digests two measured runs (`picks-<name>.json`) made alike, by subscriber."""
    out: dict[str, Any] = {}
    left, right = (json.loads((work / f"picks-{n}.json").read_text()) for n in (a, b))
    for run in ("first", "second"):
        by_sub = [{key.split(":")[1]: v for key, v in side[run].items()} for side in (left, right)]
        subs = set(by_sub[0]) | set(by_sub[1])
        same = sum(by_sub[0].get(s, {}).get("picks") == by_sub[1].get(s, {}).get("picks") for s in subs)
        same_set = sum(
            set(by_sub[0].get(s, {}).get("picks", [])) == set(by_sub[1].get(s, {}).get("picks", []))
            for s in subs
        )
        trend = sum(
            by_sub[0].get(s, {}).get("trending") == by_sub[1].get(s, {}).get("trending") for s in subs
        )
        out[run] = {"digests": len(subs), "same_order": same, "same_set": same_set, "same_trending": trend}
    return out


def baseline(args: argparse.Namespace) -> dict[str, Any]:
    """The naive digest's selection: one hybrid search per topic, for a sample of subscribers."""
    from paperwire.library import Library
    from paperwire.search.query import Filters, SearchRequest

    meta = json.loads((args.work / "template" / "bench.json").read_text())
    data_dir, _ = prepare(args, meta, args.subscribers, args.name)
    library = Library(settings_for(data_dir, args.work))
    days = [re.match(r"\d{4}-\d\d-\d\d", f)[0] for f in meta["files"]["A"]]  # type: ignore[index]
    filters = Filters(since=min(days), until=max(days))
    with library.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, topics, max_papers FROM subscribers ORDER BY email").all()
    sample = random.Random(args.seed + 2).sample(rows, args.baseline_sample)
    for text in ("graph neural networks", "warm-up", "diffusion models"):
        library.search(SearchRequest(text, filters=filters, limit=10))
    times, searches, picked = [], 0, 0
    start_all = time.perf_counter()
    cpu = time.process_time()
    for _, topics_json, limit in sample:
        start = time.perf_counter()
        best: dict[str, float] = {}
        for topic in json.loads(topics_json):
            for hit in library.search(SearchRequest(topic, filters=filters, limit=limit)).hits:
                best[hit.id] = max(best.get(hit.id, 0.0), hit.explanation.fused_score)
            searches += 1
        picks = sorted(best, key=lambda pid: -best[pid])[:limit]
        picked += len(picks)
        times.append(time.perf_counter() - start)
    wall, cpu = time.perf_counter() - start_all, time.process_time() - cpu
    library.close()
    shutil.rmtree(data_dir)
    per = float(np.mean(times))
    return {
        "sample": len(sample), "searches": searches, "wall_s": wall, "cpu_s": cpu,
        "per_subscriber_ms": per * 1000,
        "p50_ms": float(np.percentile(times, 50) * 1000), "p95_ms": float(np.percentile(times, 95) * 1000),
        "per_search_ms": wall / searches * 1000, "extrapolated_s": per * args.subscribers,
        "picks_per_subscriber": picked / len(sample), "filters": [filters.since, filters.until],
        "rss_mib": rss_mib(), "load": load(),
    }  # fmt: skip


# -- reporting -------------------------------------------------------------------------------------


def compose_s(run: dict[str, Any]) -> float:
    return float(run["wall_s"] - deliver_s(run))


def deliver_s(run: dict[str, Any]) -> float:
    return float(run.get("phases", {}).get("delivery (null transport)", {}).get("total", 0.0))


VARIANTS = {  # name: (label, extra measure arguments, environment)
    "src": ("current src/, default environment (OpenBLAS: 2 threads)", [], {}),
    "src-blas1": (
        "current src/, OPENBLAS_NUM_THREADS=1 (environment only)",
        [],
        {"OPENBLAS_NUM_THREADS": "1"},
    ),
}


SELECTION_PHASES = (
    "embedder load, Composer setup", "load new papers (rows, details)", "TF-IDF fit over new papers",
    "trending scores", "stored vectors (papers, marks)", "topic embedding (+ store vectors)",
    "interests (marks, received)", "topic scores (TF-IDF + matmul)", "selection", "feedback classifier",
)  # fmt: skip


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The measured process whose first run's compose time is the median."""
    return sorted(runs, key=lambda r: compose_s(r["first"]))[len(runs) // 2]


def tables(figures: dict[str, Any]) -> str:
    meta, variants = figures["meta"], figures["variants"]
    n = meta["subscribers"]
    out = [
        f"Store: {meta['counts']['A']:,} new papers for the first digest, {meta['counts']['B']:,} more "
        "arriving "
        f"before the second, {meta['counts']['history']:,} older ones; {n:,} confirmed subscribers with "
        f"{meta['kinds']['topics']:,} topics ({meta['unique_topics']:,} distinct: a pool of "
        f"{meta['topic_pool']} "
        f"common title phrases plus long-tail ones), {meta['kinds']['categories']:,} with categories, "
        f"{meta['kinds']['liked']:,} with 1-3 liked papers, {meta['kinds']['feedback']:,} with 4-10 marks "
        "both "
        f"ways ({meta['marks']:,} marks in all).",
        "",
        f"**{n:,} subscribers, {meta['counts']['A']:,} new papers**: compose = `Digests.run` less delivery "
        "(due subscribers, papers, interests, selection, rendering, outbox writes); "
        f"target {TARGET_S:.0f} s. "
        f"Each process: a first run (topics embedded), then the next day's run (vectors cached, "
        f"{meta['counts']['B']:,} new papers).",
        "",
        "| variant | run | due | digests (notes) | nothing to send | **compose, s** | subscribers/s "
        "| delivery (null transport), s | CPU s (whole run) | RSS when delivery starts, MiB | RSS after, MiB "
        "| peak RSS, MiB | load before |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in variants.items():
        for key, label in (("first", "first"), ("second", "second")):
            med = median_run(runs)[key]
            times = [compose_s(r[key]) for r in runs]
            spread = f" ({min(times):.1f}-{max(times):.1f})" if len(times) > 1 else ""
            out.append(
                f"| {name if key == 'first' else ''} | {label} | {med['due']:,} "
                f"| {med['composed']:,} ({med['notes']}) | {med['nothing_new']:,} "
                f"| **{compose_s(med):.1f}**{spread} | {med['due'] / compose_s(med):,.0f} "
                f"| {deliver_s(med):.1f} | {med['cpu_s']:.0f} | {med['at_delivery']['rss_mib']:.0f} "
                f"| {med['rss_mib']:.0f} | {med['peak_mib']:.0f} | {med['load_before']} |"
            )
    out.append("")
    out.append("Variants: " + "; ".join(f"`{k}`: {VARIANTS[k][0]}" for k in variants) + ".")
    out += [
        "",
        "**Phases** (s, self time: time in wrapped callees subtracted; the median process of each variant)",
        "",
    ]
    names = list(variants)
    out.append(
        "| phase | calls (first run) | " + " | ".join(f"{v}: first | {v}: second" for v in names) + " |"
    )
    out.append("|---|---|" + "---|---|" * len(names))
    meds = {v: median_run(variants[v]) for v in names}
    for label, _, _ in PHASES:
        cells = []
        for v in names:
            for key in ("first", "second"):
                cells.append(f"{meds[v][key]['phases'].get(label, {'self': 0.0})['self']:.2f}")
        calls = meds[names[0]]["first"]["phases"].get(label, {"calls": 0})["calls"]
        out.append(f"| {label} | {calls:,} | " + " | ".join(cells) + " |")
    out.append("| **whole run** | | " + " | ".join(
        f"**{meds[v][k]['wall_s']:.1f}**" for v in names for k in ("first", "second")) + " |")  # fmt: skip
    if figures.get("same"):
        out += ["", "**Same digests?** Digests of the same subscribers in two variants (topical picks, by "
                "subscriber; trending entries apart)", ""]  # fmt: skip
        out.append("| compared | run | digests | same papers, same order | same papers | same trending |")
        out.append("|---|---|---|---|---|---|")
        for label, result in figures["same"].items():
            for key in ("first", "second"):
                r = result[key]
                out.append(f"| {label} | {key} | {r['digests']:,} | {r['same_order']:,} | {r['same_set']:,} "
                           f"| {r['same_trending']:,} |")  # fmt: skip
    out += ["", "**Memory as subscribers grow** (one process each, fresh copy of "
            "the store)", ""]  # fmt: skip
    out.append("| variant | active subscribers | first: compose s | subscribers/s | second: compose s "
               "| subscribers/s | RSS before, MiB | RSS when delivery starts (first / second), MiB "
               "| RSS after second, MiB | peak RSS, MiB |")  # fmt: skip
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for variant, r in ((v, r) for v, runs in figures["scale"].items() for r in runs):
        f, g = r["first"], r["second"]
        out.append(
            f"| `{variant}` | {r['active']:,} | {compose_s(f):.1f} | {f['due'] / compose_s(f):,.0f} "
            f"| {compose_s(g):.1f} | {g['due'] / compose_s(g):,.0f} | {r['before']['rss_mib']:.0f} "
            f"| {f['at_delivery']['rss_mib']:.0f} / {g['at_delivery']['rss_mib']:.0f} | {g['rss_mib']:.0f} "
            f"| {g['peak_mib']:.0f} |"
        )
    b = figures.get("baseline")
    if b:
        out += [
            "",
            "**Baseline: one `Library.search` per topic** (same store, same invocation; selection only)",
            "",
        ]
        out.append("| approach | subscribers timed | per subscriber, ms | for 10,000, s | covers |")
        out.append("|---|---|---|---|---|")
        out.append(
            f"| naive: a hybrid search per topic, query embedded each time | {b['sample']} "
            f"| {b['per_subscriber_ms']:.1f} (p50 {b['p50_ms']:.1f}, p95 {b['p95_ms']:.1f}) "
            f"| {b['per_subscriber_ms'] * 10:.0f} (extrapolated) | {b['searches']} searches, "
            f"{b['per_search_ms']:.1f} ms each; no rendering, no outbox |"
        )
        for v in names:
            first = meds[v]["first"]
            chosen = sum(first["phases"].get(k, {}).get("self", 0.0) for k in SELECTION_PHASES)
            out.append(
                f"| matrix (Composer), `{v}`, first run | {first['due']:,} "
                f"| {chosen / first['due'] * 1000:.2f} | {chosen / first['due'] * 10_000:.1f} "
                f"({'measured' if first['due'] == 10_000 else 'extrapolated'}) "
                "| papers, topic embedding, interests, scores, selection, classifier |"
            )
    return "\n".join(out)


def write_results(figures: dict[str, Any], command: str, label: str) -> None:
    start, end = f"<!-- figures:{label}:start -->", f"<!-- figures:{label}:end -->"
    block = "\n".join([
        start,
        f"Code measured: {figures['code']}. Run {figures['date']}: {figures['machine']}. **Shared machine**: "
        "other sessions' builds and tests used the CPU at the same time; `uptime` before: "
        f"`{figures['uptime_before']}`; after: `{figures['uptime_after']}`.",
        "",
        "```sh",
        command,
        "```",
        "",
        tables(figures),
        end,
    ])  # fmt: skip
    text = RESULTS.read_text() if RESULTS.exists() else "# Digest at scale\n"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    RESULTS.write_text(head + block + rest.split(end, 1)[1])


def code_version(src: Path) -> str:
    """The commit of the src/ measured, and whether it has edits; for an export, its folder."""
    git = ["git", "-C", str(src)]
    found = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if found.returncode != 0:
        return f"`{src}` (an export)"
    dirty = subprocess.run([*git, "status", "--porcelain", "."], capture_output=True, text=True).stdout
    return f"`{src}` at {found.stdout.strip()}{' with uncommitted changes' if dirty.strip() else ''}"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    from search import machine  # after SRC is on the path: search imports paperwire

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="all", choices=["all", "setup", "measure", "baseline"])
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=2_000, help="new papers per digest")
    parser.add_argument("--history", type=int, default=3_000, help="older papers")
    parser.add_argument("--topic-pool", type=int, default=400)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--repeat", type=int, default=1, help="processes per variant at the full size")
    parser.add_argument("--scales", type=int, nargs="*", default=[2_500, 5_000], help="smaller sizes, memory")
    parser.add_argument("--baseline-sample", type=int, default=300, help="0: no baseline")
    parser.add_argument(
        "--profile-active", type=int, default=2_500, help="subscribers in the profiled runs; 0: none"
    )
    parser.add_argument(
        "--profile", action="store_true", help="(measure) profile the runs instead of timing phases"
    )
    parser.add_argument("--active", type=int, default=10_000)
    parser.add_argument("--name", default="run")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--record", action="store_true", help=f"write the figures into {RESULTS.name}")
    parser.add_argument("--label", default="branch", help="(--record) the block of the .md to write")
    parser.add_argument(
        "--src", type=Path, help="measure the paperwire in this src/ folder (an export of main)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    if args.command == "setup":
        answer: Any = setup(args)
    elif args.command == "measure":
        answer = measure(args)
    elif args.command == "baseline":
        answer = baseline(args)
    if args.command != "all":
        if args.out:
            args.out.write_text(json.dumps(answer))
        return

    if args.src:
        os.environ["PAPERWIRE_BENCH_SRC"] = str(args.src.resolve())  # for every child process
    figures: dict[str, Any] = {
        "code": code_version(Path(os.environ.get("PAPERWIRE_BENCH_SRC") or SRC)),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
        "uptime_before": uptime(),
        "variants": {v: [] for v in args.variants}, "scale": [], "same": {},
    }  # fmt: skip
    common = ["--work", str(args.work), "--subscribers", str(args.subscribers), "--new", str(args.new),
              "--seed", str(args.seed)]  # fmt: skip
    meta, _, _ = child("setup", *common, "--data", str(args.data), "--history", str(args.history),
                       "--topic-pool", str(args.topic_pool))  # fmt: skip
    meta.pop("sets")
    figures["meta"] = meta

    def measured(variant: str, active: int, name: str) -> dict[str, Any]:
        _, extra, env = VARIANTS[variant]
        before = load()
        result, peak, cpu = child(
            "measure", *common, "--active", str(active), "--name", name, *extra, env=env
        )
        result["first"]["load_before"], result["second"]["load_before"] = before, result["first"]["load"]
        result["process_peak_mib"], result["process_cpu_s"], result["variant"] = peak, cpu, variant
        f, s = result["first"], result["second"]
        print(f"{name} ({variant}): {active:,} active; first {compose_s(f):.1f} s compose "
              f"+ {deliver_s(f):.1f} s "
              f"delivery, {f['composed']:,} composed; second {compose_s(s):.1f} s + {deliver_s(s):.1f} s, "
              f"{s['composed']:,}; RSS {f['rss_mib']:.0f}/{s['rss_mib']:.0f} MiB, "
              f"peak {s['peak_mib']:.0f} MiB; "
              f"load {before}", flush=True)  # fmt: skip
        return result

    for i in range(args.repeat):  # the variants alternate: one order, then the reverse
        for variant in args.variants if i % 2 == 0 else args.variants[::-1]:
            figures["variants"][variant].append(measured(variant, args.subscribers, f"{variant}-{i}"))
    first = args.variants[0]
    for one, other in itertools.combinations(args.variants, 2):
        figures["same"][f"`{one}` vs `{other}`"] = same_picks(f"{one}-0", f"{other}-0", args.work)
    figures["scale"] = {}
    for variant in [v for v in args.variants if v == "src"][:1] or [first]:
        runs = [measured(variant, n, f"scale-{variant}-{n}") for n in args.scales]
        figures["scale"][variant] = sorted(
            [*runs, figures["variants"][variant][0]], key=lambda r: r["active"]
        )
    if args.baseline_sample:
        figures["baseline"], _, _ = child("baseline", *common, "--baseline-sample", str(args.baseline_sample),
                                          "--name", "baseline")  # fmt: skip
        b = figures["baseline"]
        print(f"baseline: {b['sample']} subscribers, {b['searches']} searches, "
              f"{b['per_subscriber_ms']:.1f} ms "
              f"per subscriber", flush=True)  # fmt: skip
    if args.profile_active:
        for variant in args.variants:
            _, extra, env = VARIANTS[variant]
            child("measure", *common, "--active", str(args.profile_active), "--name", f"profile-{variant}",
                  "--profile", *extra, env=env)  # fmt: skip
        print(f"profiles: {args.work}/profile-<variant>-first.txt and -second.txt", flush=True)
    figures["uptime_after"] = uptime()
    (args.work / f"figures-{args.label}.json").write_text(json.dumps(figures, indent=1))
    print()
    print(tables(figures))
    if args.record:
        command = "PYTHONPATH=src .venv/bin/python bench/digest_scale.py " + " ".join(sys.argv[1:])
        write_results(figures, command, args.label)


if __name__ == "__main__":
    main()
