"""Ingest throughput and peak memory, on the real daily arXiv records and on synthetic ones.

Each corpus is ingested end to end by `paperwire ingest` in a fresh data directory (a subprocess,
so its peak RSS is its own), next to two baselines run on the same input in the same run:
- parse only: gunzip + orjson of every line, nothing stored (the floor any importer pays);
- naive store: every parsed record inserted as is into one SQLite table with executemany,
  no normalisation, no versions, no duplicate detection.

Each ingest runs without embeddings, with `--no-index` (mode "no-index") or with the keyword
index built after the store (mode "keyword"). `--compare` runs several checkouts side by side
(through PYTHONPATH), alternating their order round by round, and checks they stored the same.

    .venv/bin/python bench/ingest.py                  # real 120k + synthetic 100k
    .venv/bin/python bench/ingest.py --synthetic 1000000
    .venv/bin/python bench/ingest.py --compare main=../bench-main/src branch=src --repeat 2 \
        --modes no-index keyword
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
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


@dataclass
class Implementation:
    src: Path  # a checkout's src/ folder
    env: dict[str, str]  # its environment variables

    @classmethod
    def parse(cls, text: str) -> tuple[str, Implementation]:
        """NAME=SRC[@VAR=VALUE...] -> (NAME, Implementation)."""
        name, rest = text.split("=", 1)
        src, *variables = rest.split("@")
        return name, cls(Path(src).resolve(), dict(v.split("=", 1) for v in variables))


def paperwire_ingest(
    inputs: list[Path], workdir: Path, implementation: Implementation | None = None, index: bool = False
) -> tuple[dict[str, int], float, float, float, float]:
    """Run `paperwire ingest` in a subprocess (the code under `src` when given, else the installed
    one; without embeddings; `--no-index` unless `index`, which then builds the keyword index);
    returns its summary, seconds, and peak RSS in MiB: the largest of its processes (exact), and
    of all of them together (sampled every 50 ms); and the CPU seconds of all of them."""
    env = {**os.environ, "PAPERWIRE_DATA_DIR": str(workdir / "data"), "PAPERWIRE_EMBEDDINGS": "false"}
    if implementation is not None:
        env["PYTHONPATH"] = str(implementation.src)
        env.update(implementation.env)
    flags = [] if index else ["--no-index"]
    command = [sys.executable, "-m", "paperwire", "ingest", "--json", *flags, *map(str, inputs)]
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
    cpu = usage.ru_utime + usage.ru_stime  # with the children it waited for (batch makers)
    return orjson.loads(out.read_bytes()), seconds, usage.ru_maxrss / 1024, together[0] / 2**20, cpu


# What two runs must agree on: papers (text, metadata, group), versions, LSH keys, signals.
_DIGESTED = [
    "SELECT id, title, title_raw, abstract, abstract_raw, authors, categories, comment, journal_ref, "
    "doi, published, updated, announced, listed, links, sources, group_id, minhash, title_hash, "
    "content_hash FROM papers ORDER BY id",
    "SELECT paper_id, number, date FROM paper_versions ORDER BY paper_id, number",
    "SELECT key, paper_id FROM dedup_keys{recent} ORDER BY key, paper_id",  # both levels, where two
    "SELECT paper_id, source, observed_on, data FROM paper_signals ORDER BY paper_id, source, observed_on",
]


def store_digest(database: Path) -> str:
    """A hash of what the store holds, to check that two implementations stored the same."""
    digest = hashlib.blake2b(digest_size=8)
    with closing(sqlite3.connect(database)) as db:
        levels = db.execute("SELECT name FROM sqlite_master WHERE name = 'dedup_keys_recent'").fetchall()
        recent = " UNION ALL SELECT key, paper_id FROM dedup_keys_recent" if levels else ""
        for query in _DIGESTED:
            for row in db.execute(query.format(recent=recent)):
                digest.update(repr(row).encode())
    return digest.hexdigest()


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


@dataclass
class Run:
    implementation: str
    mode: str
    rate: float
    seconds: float
    largest: float
    cpu: float  # seconds of CPU, all processes
    together: float
    load: tuple[float, float]  # 1-minute load average before and after
    summary: dict[str, int]
    digest: str


def measure(
    name: str,
    inputs: list[Path],
    workdir: Path,
    implementations: dict[str, Implementation | None],
    modes: list[str],
    repeat: int,
    baselines: bool,
) -> None:
    """Parse-only and naive-store floors once, then every implementation in every mode `repeat`
    times, alternating the order of the implementations from one round to the next."""
    count = sum(1 for _ in lines(inputs))
    if baselines:
        count, parse_s = parse_only(inputs)
        _, naive_s = naive_store(inputs, workdir)
        (workdir / "naive.db").unlink()
        print(
            f"{name}: {count:,} records; parse only {count / parse_s:,.0f} rec/s, "
            f"naive store {count / naive_s:,.0f} rec/s",
            flush=True,
        )
    names = list(implementations)
    runs: list[Run] = []
    for round_ in range(repeat):
        for implementation in names if round_ % 2 == 0 else names[::-1]:
            for mode in modes:
                shutil.rmtree(workdir / "data", ignore_errors=True)
                before = os.getloadavg()[0]
                summary, seconds, largest, together, cpu = paperwire_ingest(
                    inputs, workdir, implementations[implementation], index=mode == "keyword"
                )
                after = os.getloadavg()[0]
                digest = store_digest(workdir / "data" / "paperwire.db")
                run = Run(
                    implementation,
                    mode,
                    count / seconds,
                    seconds,
                    largest,
                    cpu,
                    together,
                    (before, after),
                    summary,
                    digest,
                )
                runs.append(run)
                print(
                    f"| {name} | {implementation} | {mode} | {round_ + 1} "
                    f"| {run.rate:,.0f} ({seconds:.1f} s, CPU {cpu:.1f} s) "
                    f"| {largest:,.0f} / {together:,.0f} MiB | {before:.2f} -> {after:.2f} | "
                    f"{summary['new']:,} new, {summary['updated']:,} updated, "
                    f"{summary['unchanged']:,} unchanged, {summary['duplicates']:,} dup, "
                    f"{summary['bad']:,} bad | {digest} |",
                    flush=True,
                )
    shutil.rmtree(workdir / "data", ignore_errors=True)
    print(f"\n{name}, {count:,} records: median (min-max) over {repeat} runs")
    print(
        "| implementation | mode | rec/s | seconds | CPU seconds | peak RSS all processes "
        "| same store as the others |"
    )
    print("|---|---|---|---|---|---|---|")
    digests = {run.digest for run in runs}
    for implementation in names:
        for mode in modes:
            mine = [run for run in runs if (run.implementation, run.mode) == (implementation, mode)]
            rates = sorted(run.rate for run in mine)
            print(
                f"| {implementation} | {mode} | {statistics.median(rates):,.0f} "
                f"({rates[0]:,.0f}-{rates[-1]:,.0f}) | "
                f"{statistics.median(run.seconds for run in mine):.1f} | "
                f"{statistics.median(run.cpu for run in mine):.1f} | "
                f"{max(run.together for run in mine):,.0f} MiB | {'yes' if len(digests) == 1 else 'NO'} |"
            )
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--synthetic", type=int, nargs="*", default=[100_000], help="synthetic corpus sizes")
    parser.add_argument("--no-real", action="store_true", help="skip the real daily arXiv records")
    parser.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="NAME=SRC[@VAR=VALUE...]",
        help="implementations to run side by side: a name and the src/ folder of a checkout "
        "and environment variables for it (e.g. main=/tmp/main/src "
        "one-process=src@PAPERWIRE_INGEST_PROCESSES=1); without it, the installed paperwire",
    )
    parser.add_argument(
        "--modes",
        nargs="*",
        default=["no-index"],
        choices=["no-index", "keyword"],
        help="ingest --no-index, and/or ingest that also builds the keyword index (never embeddings)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each implementation and mode")
    parser.add_argument("--no-baselines", action="store_true", help="skip parse-only and naive store")
    args = parser.parse_args()
    implementations: dict[str, Implementation | None] = {"installed": None}
    if args.compare:
        implementations = dict(map(Implementation.parse, args.compare))
    print(f"machine: {machine()}; load average at start {os.getloadavg()}")
    print(
        "| corpus | implementation | mode | round | rec/s | peak RSS: largest process / all "
        "| 1-min load before -> after | result | store digest |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    common = (implementations, args.modes, args.repeat, not args.no_baselines)
    with tempfile.TemporaryDirectory(prefix="paperwire-bench-") as tmp:
        if not args.no_real:
            if SHARED.is_dir():
                (Path(tmp) / "real").mkdir()
                measure("real arXiv daily", sorted(SHARED.glob("*.jsonl.gz")), Path(tmp) / "real", *common)
            else:
                print(f"(skipped the real corpus: {SHARED} is absent)")
        for size in args.synthetic:
            workdir = Path(tmp) / f"synthetic-{size}"
            workdir.mkdir(parents=True)
            source = synthetic.write(workdir / "records.jsonl", size)
            measure(f"synthetic {size:,}", [source], workdir, *common)
            source.unlink()


if __name__ == "__main__":
    main()
