"""Load on the web service: concurrent clients against /api/v1/search over 100k papers, 2 workers.

    .venv/bin/python bench/web_load.py
    .venv/bin/python bench/web_load.py --data-dir /tmp/paperwire-search-bench/100000/data --seconds 60

Starts `paperwire serve --workers 2` on loopback over an indexed data directory (by default the 100k
corpus bench/search.py builds, vectors included), waits for /healthz, then for each mode (hybrid, then
keyword) runs `--clients` asyncio clients (aiohttp, one keep-alive connection each, in this process;
the server is another process tree) in a closed loop for `--seconds` after a `--warmup`, each request a
query from real queries (bench/search.py's queries.json, else the seed pages' titles): per `--kinds`,
drawn at random ("repeated": the result cache answers most) or never the same twice ("unique": a real
query plus one word of another, so every request is searched and embedded).
Before each mode, `--single` seconds of one client alone measure the service time without queueing.

With `--publish-every S`, a publisher beside the clients ingests one new paper every S seconds
(`paperwire ingest`, which embeds it and publishes a new index snapshot that every worker switches to):
the figures then show searching while snapshots are swapped (use a copy of the data directory).

Counted: requests/s, latency p50/p95/p99/max as the client sees it, transport errors and non-200
answers (by status), the duration the server logged for the same requests (its access log, so time
spent queueing inside the server shows), CPU used by the server processes and by this client, and the
load average. The rate limiter is set out of the way (one address makes every request).
Figures go to stdout as a table and to `--out` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psutil

BENCH = Path("/tmp/paperwire-search-bench")
SHARED = Path(__file__).resolve().parents[2] / "shared"
SERVE_TIMEOUT = 300.0  # opening 100k papers' indexes in two workers


def real_queries(path: Path) -> list[str]:
    """Query texts: bench/search.py's timed queries when present, else the seed pages' title lines."""
    if path.exists():
        return [text for _kind, text in json.loads(path.read_text())["timed"]]
    titles: list[str] = []
    for page in sorted((SHARED / "seeds").glob("*.txt")):
        lines = [line.strip() for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
        titles += [line.removeprefix("Subscribe") for line in lines[2::2]]
    if not titles:
        raise SystemExit(f"no queries: neither {path} nor seed pages under {SHARED / 'seeds'}")
    return titles


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, port: int, log: Path) -> subprocess.Popen[bytes]:
    paperwire = Path(sys.executable).parent / "paperwire"
    env = {
        **os.environ,
        "PAPERWIRE_SEARCH_BURST": "1000000000",
        "PAPERWIRE_SEARCH_RATE": "1000000000",
        "PAPERWIRE_EMBEDDINGS": "true",
    }
    if args.models_dir:
        env["PAPERWIRE_MODELS_DIR"] = str(args.models_dir)
    command = [str(paperwire), "--data-dir", str(args.data_dir), "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(args.workers)]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


async def wait_healthy(base: str, server: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < SERVE_TIMEOUT:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with {server.returncode}; see its log")
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit(f"no answer from {base}/healthz in {SERVE_TIMEOUT:.0f} s")


def query_stream(queries: list[str], kind: str, seed: int) -> Iterator[str]:
    """'repeated': the real queries drawn at random (each comes back many times a minute, as popular
    queries do: the result cache answers most); 'unique': no request repeats another (a real query
    plus one word of another query: every search is computed, embedding included)."""
    rng = random.Random(seed)
    if kind == "repeated":
        while True:
            yield rng.choice(queries)
    words = sorted({w for q in queries for w in re.findall(r"[a-z]{4,}", q.lower())})
    rng.shuffle(words)
    for word in itertools.cycle(words):  # len(queries) x len(words) distinct pairs before any repeat
        for query in rng.sample(queries, len(queries)):
            yield f"{query} {word}"


async def drive(
    base: str, mode: str, queries: Iterator[str], clients: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """Closed loop: each client sends its next query as soon as the last is answered."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    per_client: list[list[float]] = []

    async def client(session: aiohttp.ClientSession) -> None:
        mine: list[float] = []
        per_client.append(mine)
        while (now := time.perf_counter()) < stop_at:
            params = {"q": next(queries), "mode": mode, "limit": "10"}
            counted = now >= measure_from
            sent = time.perf_counter()
            try:
                async with session.get(f"{base}/api/v1/search", params=params) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                if counted:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            if counted:
                latencies.append(time.perf_counter() - sent)
                mine.append(latencies[-1])
                statuses[status] = statuses.get(status, 0) + 1

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    elapsed = time.perf_counter() - measure_from
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    means = [1000 * sum(mine) / len(mine) for mine in per_client if mine]
    return {
        "mode": mode, "clients": clients, "seconds": round(elapsed, 1), "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1), "max_ms": round(float(ms.max()), 1),
        "non_200": {str(k): v for k, v in statuses.items() if k != 200}, "errors": errors,
        # each client's mean latency, lowest / median / highest: an uneven share between workers shows
        "client_mean_ms": [round(float(v), 1) for v in np.percentile(means, [0, 50, 100])] if means else [],
    }  # fmt: skip


def server_cpu(server: subprocess.Popen[bytes]) -> float:
    """CPU seconds used so far by the server and its workers."""
    total = 0.0
    parent = psutil.Process(server.pid)
    for process in [parent, *parent.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def logged_durations(log: Path, offset: int, mode: str) -> tuple[list[float], int]:
    """Durations (ms) the server logged for searches in this mode since offset, and the new offset."""
    durations = []
    with log.open("rb") as f:
        f.seek(offset)
        chunk = f.read()
    for line in chunk.splitlines():
        if b'"duration_ms"' not in line or f"mode={mode}".encode() not in line:
            continue
        try:
            record = json.loads(line[line.index(b"{") :])
        except ValueError:
            continue
        if "/api/v1/search" in str(record.get("path", "")):
            durations.append(float(record["duration_ms"]))
    return durations, offset + len(chunk)


class Publisher(threading.Thread):
    """Ingests a new one-paper listing every `every` seconds until stopped; each ingest publishes a
    new index snapshot. Counts the ones that succeeded and how long each took."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        super().__init__(daemon=True)
        self.args, self.folder = args, folder
        self.stopping = threading.Event()
        self.took: list[float] = []
        self.failed = 0

    def run(self) -> None:
        paperwire = Path(sys.executable).parent / "paperwire"
        env = {**os.environ, "PAPERWIRE_EMBEDDINGS": "true"}
        if self.args.models_dir:
            env["PAPERWIRE_MODELS_DIR"] = str(self.args.models_dir)
        first = int(time.time() * 10) % 90_000  # ids an earlier run on the same data directory did not use
        for n in itertools.count(first):
            if self.stopping.wait(self.args.publish_every):
                return
            listing = self.folder / str(n) / f"2099-01-{n % 28 + 1:02d}.jsonl"  # a daily listing's name
            listing.parent.mkdir()
            paper = {
                "id": f"2901.{n % 100_000:05d}", "abs": "", "pdf": "", "authors": ["Snap Shot"],
                "categories": ["cs.IR"], "title": f"Index snapshot number {n}",
                "summary": f"A paper published with snapshot {n}.",
            }  # fmt: skip
            listing.write_text(json.dumps(paper) + "\n")
            started = time.perf_counter()
            done = subprocess.run(
                [str(paperwire), "--data-dir", str(self.args.data_dir), "ingest", str(listing), "--json"],
                env=env, capture_output=True,
            )  # fmt: skip
            if done.returncode == 0:  # 0: something new arrived, and a snapshot was published
                self.took.append(time.perf_counter() - started)
            else:
                self.failed += 1


def measure(
    args: argparse.Namespace, base: str, server: subprocess.Popen[bytes], log: Path, queries: list[str]
) -> list[dict[str, Any]]:
    rows = []
    offset = log.stat().st_size
    for mode, kind in itertools.product(args.modes, args.kinds):
        single = asyncio.run(drive(base, mode, query_stream(queries, kind, 1), 1, 2.0, args.single))
        offset = log.stat().st_size
        load_before = os.getloadavg()
        cpu_server, cpu_client, wall = server_cpu(server), client_cpu(), time.perf_counter()
        stream = query_stream(queries, kind, 2)
        with tempfile.TemporaryDirectory(prefix="paperwire-publish-") as listings:
            publisher = Publisher(args, Path(listings))
            if args.publish_every:
                publisher.start()
            row = asyncio.run(drive(base, mode, stream, args.clients, args.warmup, args.seconds))
            publisher.stopping.set()
            if args.publish_every:
                publisher.join()
                row["snapshots_published"] = len(publisher.took)
                row["publish_failed"] = publisher.failed
                row["publish_s_median"] = (
                    round(float(np.median(publisher.took)), 2) if publisher.took else None
                )
        row["queries"] = kind
        wall = time.perf_counter() - wall
        row["server_cpu_cores"] = round((server_cpu(server) - cpu_server) / wall, 2)
        row["client_cpu_cores"] = round((client_cpu() - cpu_client) / wall, 2)
        row["load_before"], row["load_after"] = load_before, os.getloadavg()
        logged, offset = logged_durations(log, offset, mode)
        if logged:
            row["server_logged_p50_ms"] = round(float(np.percentile(logged, 50)), 1)
            row["server_logged_p99_ms"] = round(float(np.percentile(logged, 99)), 1)
        row["single_client"] = {
            k: single[k] for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "non_200", "errors")
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=BENCH / "100000" / "data")
    parser.add_argument(
        "--models-dir", type=Path, default=BENCH / "models" if (BENCH / "models").exists() else None
    )
    parser.add_argument("--queries", type=Path, default=BENCH / "queries.json")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--single", type=float, default=10.0, help="Seconds of one client alone per mode.")
    parser.add_argument("--modes", nargs="+", default=["hybrid", "keyword"])
    parser.add_argument(
        "--kinds", nargs="+", default=["repeated", "unique"], choices=["repeated", "unique"],
        help="query streams (see query_stream)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="Write the figures here as JSON.")
    parser.add_argument(
        "--publish-every", type=float, default=0.0, help="Seconds between new snapshots published (0: none)."
    )
    args = parser.parse_args()
    if not (args.data_dir / "paperwire.db").exists():
        raise SystemExit(
            f"{args.data_dir} holds no paperwire.db; build it with bench/search.py or pass --data-dir"
        )

    queries = real_queries(args.queries)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="paperwire-web-load-") as folder:
        log = Path(folder) / "server.log"
        server = start_server(args, port, log)
        try:
            ready = asyncio.run(wait_healthy(base, server))
            print(f"server ready in {ready:.1f} s on {base}; {len(queries)} queries", flush=True)
            rows = measure(args, base, server, log, queries)
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        tail = log.read_text(errors="replace").splitlines()
        problems = [line for line in tail if "Traceback" in line or '"level": "ERROR"' in line]
    figures = {
        "data_dir": str(args.data_dir), "workers": args.workers, "queries": len(queries),
        "cpus": os.cpu_count(), "cpu_model": _cpu_model(), "server_errors_logged": len(problems),
        "server_ready_s": round(ready, 1), "rows": rows,
    }  # fmt: skip
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
