"""HNSW settings against recall and speed: which connectivity / expansion values reach recall@10 0.95.

    .venv/bin/python bench/hnsw.py --papers 100000 [--work /tmp/paperwire-search-bench]

Runs over a corpus that bench/search.py built (its `embeddings` table and queries.json). For each
connectivity and expansion_add, an index is built from the stored vectors (time and size noted),
then searched one query at a time, as hybrid search does (top 100, single thread), at several
expansion_search values: recall@10 and recall@100 of the embedded query texts against exact cosine
neighbours (numpy over the same float16 vectors), and mean / p95 milliseconds per search. The row
marked `*` is paperwire's setting (src/paperwire/search/vectors.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # noqa: F401  # before usearch: the other order segfaults

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import WORK, _exact, _recall, _stored_vectors, load, machine, settings_for

BUILDS = [(16, 128), (32, 128), (32, 200)]  # (connectivity, expansion_add)
SEARCHES = [96, 200, 300, 400, 600]


def sweep(data_dir: Path, work: Path, n_queries: int) -> dict[str, Any]:
    from usearch.index import Index

    from paperwire.library import Library
    from paperwire.search import vectors as paperwire_vectors

    library = Library(settings_for(data_dir, work))
    assert library.embedder is not None
    texts = [text for _, text in json.loads((work / "queries.json").read_text())["recall"]][:n_queries]
    queries = np.asarray(library.embedder.embed(texts), dtype=np.float32)
    keys, matrix = _stored_vectors(library, data_dir)
    exact = _exact(matrix, keys, queries, 100)
    v = paperwire_vectors
    ours = (v.CONNECTIVITY, v.EXPANSION_ADD, v.EXPANSION_SEARCH)
    builds = sorted({*BUILDS, ours[:2]})
    rows = []
    for connectivity, expansion_add in builds:
        index = Index(
            ndim=matrix.shape[1], metric="cos", dtype="f16",
            connectivity=connectivity, expansion_add=expansion_add,
        )  # fmt: skip
        start = time.perf_counter()
        index.add(keys, matrix, threads=2)
        build_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            index.save(f"{tmp}/v.usearch")
            size_mib = Path(f"{tmp}/v.usearch").stat().st_size / 2**20
        for expansion_search in sorted({*SEARCHES, ours[2]}):
            index.expansion_search = expansion_search
            found, ms = [], []
            for vector in queries:
                start = time.perf_counter()
                found.append(index.search(vector, 100, threads=1).keys)
                ms.append((time.perf_counter() - start) * 1000)
            rows.append(
                {
                    "connectivity": connectivity, "expansion_add": expansion_add,
                    "expansion_search": expansion_search, "build_s": build_s, "size_mib": size_mib,
                    "recall_at_10": _recall(found, exact, 10), "recall_at_100": _recall(found, exact, 100),
                    "ms_mean": float(np.mean(ms)), "ms_p95": float(np.percentile(ms, 95)),
                    "ours": (connectivity, expansion_add, expansion_search) == ours,
                }
            )  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
        del index
    return {"papers": len(keys), "queries": len(queries), "rows": rows}


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['papers']:,} vectors, {result['queries']} query texts, top-100 searches, 1 thread",
        "",
        "| connectivity | expansion_add | build s | file MiB | expansion_search | recall@10 | recall@100 "
        "| ms mean / p95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        mark = " *" if r["ours"] else ""
        lines.append(
            f"| {r['connectivity']} | {r['expansion_add']} | {r['build_s']:.0f} | {r['size_mib']:.0f} | "
            f"{r['expansion_search']}{mark} | {r['recall_at_10']:.3f} | {r['recall_at_100']:.3f} | "
            f"{r['ms_mean']:.2f} / {r['ms_p95']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--papers", type=int, default=100_000, help="which corpus of bench/search.py")
    parser.add_argument("--work", type=Path, default=WORK, help="bench/search.py's work folder")
    parser.add_argument("--queries", type=int, default=500, help="query texts for recall")
    args = parser.parse_args()
    print(f"machine: {machine()}; load {load()}", flush=True)
    result = sweep(args.work / str(args.papers) / "data", args.work, args.queries)
    print(f"load after: {load()}\n")
    print(table(result))


if __name__ == "__main__":
    main()
