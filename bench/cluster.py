"""Ray scale-out on this machine: embedding and ingest throughput, single process against a local Ray
cluster with 1 and 2 worker nodes, in the same run; and a projection for all of arXiv.

    .venv/bin/python bench/cluster.py                      # figures to stdout, --out FILE as JSON

Embedding: the same lists of texts (`--texts` real abstracts of the daily arXiv listings, in lists of
256 as a sync makes them) embedded by the default backend (int8 ONNX) in this process
(`sync.embed_here`), then by `cluster.embed_on` on a cluster of one node, then of two nodes (a head and
a second node, 1 CPU each, started by `ray start` as processes of their own on loopback); the
cosine of every vector to the single-process one. Ingest: `paperwire ingest --no-index` of
`--days` daily listings into an empty store, without and with `--ray`. Each configuration runs
`--repeats` times; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test suite's Ray launcher

from paperwire.cluster import embed_on
from paperwire.models import RawRecord
from paperwire.search.embed import load_embedder, paper_text
from paperwire.search.sync import EMBED_BATCH, embed_here
from paperwire.sources import jsonl
from ray_cluster import RayCluster

SHARED = Path(__file__).resolve().parents[2] / "shared"
DAILY = SHARED / "data" / "arxiv" / "daily_arxiv_jsonl"
ARXIV = 2_700_000  # abstracts in all of arXiv (issue 6)


def texts(count: int) -> list[str]:
    found: list[str] = []
    for path in sorted(DAILY.glob("*.jsonl.gz")):
        for record in jsonl.read(path):
            if isinstance(record, RawRecord) and record.abstract:
                found.append(paper_text(record.title, record.abstract))
                if len(found) == count:
                    return found
    return found


def timed_embedding(embed_many: Any, batches: list[list[str]]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = np.concatenate(list(embed_many(batches)))
    return time.perf_counter() - started, vectors


def ingest_seconds(inputs: list[str], models: Path, cluster: str | None) -> float:
    with tempfile.TemporaryDirectory(prefix="paperwire-cluster-bench-") as folder:
        env = {**os.environ, "PAPERWIRE_DATA_DIR": folder, "PAPERWIRE_MODELS_DIR": str(models),
               "PAPERWIRE_DEMO_CORPUS": "false"}  # fmt: skip
        command = [sys.executable, "-m", "paperwire", "ingest", "--no-index", "--json", *inputs]
        if cluster:
            command += ["--ray", cluster]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        took = time.perf_counter() - started
        if done.returncode not in (0, 3):
            raise SystemExit(done.stderr[-2000:])
        return took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=3072)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/paperwire-search-bench/models"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    corpus = texts(args.texts)
    batches = [corpus[i : i + EMBED_BATCH] for i in range(0, len(corpus), EMBED_BATCH)]
    inputs = [str(p) for p in sorted(DAILY.glob("*.jsonl.gz"))[: args.days]]
    records = sum(1 for path in inputs for _ in jsonl.read(Path(path)))
    embedder = load_embedder(None, "onnx-int8", args.models_dir, 32)
    rows: list[dict[str, Any]] = []

    single = [timed_embedding(embed_here(embedder), batches) for _ in range(args.repeats)]
    reference = single[0][1]
    ingest_single = [ingest_seconds(inputs, args.models_dir, None) for _ in range(args.repeats)]
    rows.append(row("single process", 1, single, reference, ingest_single, len(corpus), records))

    env = {**os.environ, "PAPERWIRE_MODELS_DIR": str(args.models_dir)}
    for workers in (1, 2):
        cluster = RayCluster(env).start(workers=workers - 1)
        try:
            embed_many = embed_on(cluster.address, None, "onnx-int8", args.models_dir, 32)
            timed_embedding(embed_many, batches[:workers])  # each worker loads its model once
            runs = [timed_embedding(embed_many, batches) for _ in range(args.repeats)]
            worker_rss = max_worker_rss_mib()
            ingests = [ingest_seconds(inputs, args.models_dir, cluster.address) for _ in range(args.repeats)]
        finally:
            import ray

            ray.shutdown()
            cluster.stop()
        rows.append(row(f"Ray, {workers} node{'s' * (workers > 1)}", workers, runs, reference, ingests,
                        len(corpus), records))  # fmt: skip
        rows[-1]["embedding_worker_rss_mib"] = worker_rss
    figures = {
        "texts": len(corpus), "records": records, "days": args.days, "rows": rows,
        "projection": projection(rows), "cpus": os.cpu_count(), "load_after": os.getloadavg(),
    }  # fmt: skip
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


def max_worker_rss_mib() -> float:
    """The largest resident set of the cluster's task processes (each holds one embedder)."""
    sizes = [
        p.info["memory_info"].rss
        for p in psutil.process_iter(["name", "memory_info"])
        if (p.info["name"] or "").startswith("ray::")
    ]
    return round(max(sizes, default=0) / 2**20, 0)


def row(
    name: str, workers: int, runs: list[tuple[float, np.ndarray]], reference: np.ndarray,
    ingests: list[float], texts_count: int, records: int,
) -> dict[str, Any]:  # fmt: skip
    seconds = float(np.median([s for s, _ in runs]))
    cosines = np.einsum("ij,ij->i", runs[0][1], reference)
    ingest = float(np.median(ingests))
    return {
        "config": name, "workers": workers, "embed_texts_per_s": round(texts_count / seconds, 1),
        "embed_runs_s": [round(s, 1) for s, _ in runs], "cosine_min": round(float(cosines.min()), 5),
        "ingest_records_per_s": round(records / ingest, 0), "ingest_runs_s": [round(s, 1) for s in ingests],
    }  # fmt: skip


GPU_TEXTS_PER_S = 2312  # one H200, torch fp32, batches of 256 (bench/EMBED.md, measured there)


def projection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Embedding all of arXiv on N CPU workers (one core each, at the rate a one-core Ray node
    measured here: its tasks run one ONNX thread) or N GPUs (the H200 figure of bench/EMBED.md).
    The 2-node run here cannot show scaling: both nodes share this machine's 2 cores with the driver."""
    core = rows[1]["embed_texts_per_s"]
    return {
        "per_core_texts_per_s": core,
        "two_nodes_on_two_cores_efficiency": round(rows[2]["embed_texts_per_s"] / (2 * core), 2),
        "hours_on_cpu_cores": {n: round(ARXIV / (core * n) / 3600, 2) for n in (1, 8, 32, 128)},
        "minutes_on_h200s": {n: round(ARXIV / (GPU_TEXTS_PER_S * n) / 60, 1) for n in (1, 2, 4, 8)},
    }  # fmt: skip


if __name__ == "__main__":
    main()
