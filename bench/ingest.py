"""Ingest throughput and peak memory, on the real daily arXiv records and on synthetic ones.

Each corpus is ingested end to end by `paperwire ingest` in a fresh data directory (a subprocess,
so its peak RSS is its own), next to two baselines run on the same input in the same run:
- parse only: gunzip + orjson of every line, nothing stored (the floor any importer pays);
- naive store: every parsed record inserted as is into one SQLite table with executemany,
  no normalisation, no versions, no duplicate detection.

    .venv/bin/python bench/ingest.py                  # real 120k + synthetic 100k
    .venv/bin/python bench/ingest.py --synthetic 1000000
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv" / "daily_arxiv_jsonl"


def lines(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            yield from fh


def parse_only(paths: list[Path]) -> tuple[int, float]:
    start = time.perf_counter()
    count = sum(1 for line in lines(paths) if orjson.loads(line))
    return count, time.perf_counter() - start


def naive_store(paths: list[Path], workdir: Path) -> tuple[int, float]:
    start = time.perf_counter()
    db = sqlite3.connect(workdir / "naive.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE papers (id TEXT, title TEXT, abstract TEXT, record TEXT)")
    count = 0
    batch: list[tuple[str, str, str, str]] = []
    for line in lines(paths):
        record = orjson.loads(line)
        batch.append((record["id"], record["title"], record["summary"], line.decode()))
        if len(batch) == 2000:
            count += len(batch)
            db.executemany("INSERT INTO papers VALUES (?, ?, ?, ?)", batch)
            db.commit()
            batch = []
    count += len(batch)
    db.executemany("INSERT INTO papers VALUES (?, ?, ?, ?)", batch)
    db.commit()
    db.close()
    return count, time.perf_counter() - start


def _sample_rss(pid: int, peak: list[int], done: threading.Event) -> None:
    """Keep in peak[0] the largest RSS, in bytes, of a process and its children taken together."""
    root = psutil.Process(pid)
    while not done.wait(0.05):
        try:
            tree = [root, *root.children(recursive=True)]
            peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:  # a process ended between listing and reading it
            continue


def paperwire_ingest(inputs: list[Path], workdir: Path) -> tuple[dict[str, int], float, float, float]:
    """Run `paperwire ingest` in a subprocess; returns its summary, seconds, and peak RSS in MiB:
    the largest of its processes (exact), and of all of them together (sampled every 50 ms)."""
    env = {**os.environ, "PAPERWIRE_DATA_DIR": str(workdir / "data")}
    command = [sys.executable, "-m", "paperwire", "ingest", "--json", *map(str, inputs)]
    out, err = workdir / "stdout", workdir / "stderr"
    start = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        together, done = [0], threading.Event()
        sampler = threading.Thread(target=_sample_rss, args=(process.pid, together, done))
        sampler.start()
        # wait4's peak RSS is the larger of this child's and its own (waited-for) children's
        _, status, usage = os.wait4(process.pid, 0)
        done.set()
        sampler.join()
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise SystemExit(f"paperwire ingest failed ({code}): {err.read_text()[-2000:]}")
    return orjson.loads(out.read_bytes()), seconds, usage.ru_maxrss / 1024, together[0] / 2**20


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1024**2:.0f} GiB RAM, Python {python}"


def measure(name: str, inputs: list[Path], workdir: Path) -> None:
    count, parse_s = parse_only(inputs)
    _, naive_s = naive_store(inputs, workdir)
    summary, ours_s, peak, together = paperwire_ingest(inputs, workdir)
    print(
        f"| {name} | {count:,} | {count / parse_s:,.0f} | {count / naive_s:,.0f} | "
        f"{count / ours_s:,.0f} ({ours_s:.1f} s) | {peak:,.0f} MiB / {together:,.0f} MiB | "
        f"{summary['new']:,} new, {summary['updated']:,} updated, {summary['unchanged']:,} unchanged, "
        f"{summary['duplicates']:,} dup, {summary['bad']:,} bad |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--synthetic", type=int, nargs="*", default=[100_000], help="synthetic corpus sizes")
    parser.add_argument("--no-real", action="store_true", help="skip the real daily arXiv records")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        "| corpus | records | parse only rec/s | naive store rec/s | paperwire ingest rec/s "
        "| peak RSS: largest process / all | result |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="paperwire-bench-") as tmp:
        if not args.no_real:
            if SHARED.is_dir():
                (Path(tmp) / "real").mkdir()
                measure("real arXiv daily", sorted(SHARED.glob("*.jsonl.gz")), Path(tmp) / "real")
            else:
                print(f"(skipped the real corpus: {SHARED} is absent)")
        for size in args.synthetic:
            workdir = Path(tmp) / f"synthetic-{size}"
            workdir.mkdir(parents=True)
            source = synthetic.write(workdir / "records.jsonl", size)
            measure(f"synthetic {size:,}", [source], workdir)
            source.unlink()


if __name__ == "__main__":
    main()
