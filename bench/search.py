"""Search speed at 100k and 1M papers: hybrid, keyword-only and related, warm, one query at a time.

    .venv/bin/python bench/search.py --papers 100000
    .venv/bin/python bench/search.py --papers 100000 1000000 --work /tmp/paperwire-search-bench

Each corpus is the real daily arXiv records (74,728 papers) plus synthetic papers made of real
abstracts (bench/search_corpus.py) up to the size asked for, ingested by `paperwire ingest
--no-index` into `<work>/<papers>/data`. Vectors are put in the `embeddings` table before the
indexes are built, so `Library.sync()` embeds nothing and only builds the indexes:
- real ones, embedded by paperwire's own int8 ONNX embedder on a 16-core machine
  (bench/search_vectors.py `export` here, `embed` there), read from `--vectors`;
- for synthetic papers beyond those, vectors mixed from the real vectors of their source papers
  (bench/search_vectors.py `mixed`), calibrated on the synthetic papers that were embedded for real.
Every step is kept in the work folder and reused by the next run: corpus, vectors, indexes.

Measured, each in its own process (so the memory of one is not counted in the next):
- build: `Library.sync()` (keyword index, then the HNSW index from the cached vectors), its time,
  peak RSS, and the size on disk of the keyword index, the vector file and the embeddings table;
- search: with the database and the published index files read once into the OS page cache (as
  on a server that has been answering for a while), after a warm-up, `--rounds` passes over the
  queries in a new random order each, every query run hybrid (query embedding included) and
  keyword-only back to back (in alternating order),
  then `Library.related` for papers drawn at random; p50/p95/p99 over all passes; the parts of a
  hybrid search timed apart; RSS after the warm-up and at the end; recall of the HNSW index against
  exact (numpy, float32 over the stored float16 vectors) nearest neighbours for `--recall` query
  vectors; a cProfile of hybrid queries (`<work>/<papers>/profile-hybrid.txt`);
- baseline (corpora up to 200k): arxiv-sanity-lite's `search_rank`, its own source read from its
  git checkout (`--arxiv-sanity`, fetched separately; nothing of it is copied here) and run over the
  same papers, held in memory as the dict it scans, for the first `--baseline-queries` queries.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import datetime
import io
import json
import os
import platform
import pstats
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # noqa: F401  # before paperwire loads usearch: the other order segfaults

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import search_corpus as corpus
import search_vectors as vectors

BENCH = Path(__file__).resolve().parent

WORK = Path(tempfile.gettempdir()) / "paperwire-search-bench"
ARXIV_SANITY = Path("/work/.mirror/karpathy+arxiv-sanity-lite/repo")
RESULTS = BENCH / "SEARCH.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"
# fmt: off
STOP = {
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "its",
    "of", "on", "or", "over", "the", "their", "this", "to", "under", "using", "via", "vs", "with",
    "without", "towards", "toward", "through", "across", "beyond", "based", "new", "can", "do", "does",
    "how", "what", "when", "where", "which", "why", "we", "our", "you", "your", "not", "all", "more",
    "than", "one", "two", "i",
}
# fmt: on
TITLE_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*[A-Za-z0-9]|[A-Za-z]")


# -- shared helpers --------------------------------------------------------------------------------


def settings_for(data_dir: Path, work: Path) -> Any:
    from paperwire.config import Settings

    extra = {"models_dir": work / "models"} if "models_dir" in Settings.model_fields else {}
    return Settings(data_dir=data_dir, **extra)


def rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "n": len(ms)}  # fmt: skip


def machine() -> str:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if "model name" in ln), platform.processor(),
    )  # fmt: skip
    mem = next(
        ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
    )
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1024**2:.0f} GiB RAM, Python {python}"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def child(command: str, *args: str) -> tuple[dict[str, Any], float]:
    """Run this script's internal `command` in a new process; its JSON answer and its peak RSS (MiB)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        process = subprocess.Popen([sys.executable, __file__, command, *args, "--out", out.name])
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{command} failed (exit {os.waitstatus_to_exitcode(status)})")
        return json.loads(Path(out.name).read_text()), usage.ru_maxrss / 1024


def papers_in(data_dir: Path) -> int:
    db = data_dir / "paperwire.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM papers").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


# -- queries ---------------------------------------------------------------------------------------


def make_queries(pool: list[corpus.RealPaper], seed: int = 11) -> dict[str, list[list[str]]]:
    """200 timed queries [kind, text] from real titles, and 300 more texts for the recall check."""
    rng = random.Random(seed)
    titles = [p for p in pool if len(p.title.split()) >= 4 and not re.search(r"[$\\{}^_]", p.title)]
    rng.shuffle(titles)
    picks = iter(titles)

    def content(title: str) -> list[str]:
        return [w for w in TITLE_WORD.findall(title) if w.lower() not in STOP]

    def phrase(p: corpus.RealPaper) -> str:
        head, sep, _ = p.title.partition(":")
        if sep and 1 <= len(head.split()) <= 3 and rng.random() < 0.5:
            return head.strip()  # a system's name: "Xception", "GaussianFormer"
        segments = [TITLE_WORD.findall(part) for part in re.split(r"[:?!]", p.title)]
        words = max(segments, key=len) if rng.random() < 0.5 else rng.choice(segments)
        words = words if len(words) >= 2 else max(segments, key=len)
        if len(words) < 2:
            return " ".join(words)
        n = rng.randint(2, min(4, len(words)))
        starts = [i for i in range(len(words) - n + 1)
                  if words[i].lower() not in STOP and words[i + n - 1].lower() not in STOP]  # fmt: skip
        start = rng.choice(starts) if starts else 0
        return " ".join(words[start : start + n])

    def short(p: corpus.RealPaper, most: int = 4) -> str:
        words = content(p.title)
        n = min(len(words), rng.randint(1, most))
        chosen = sorted(rng.sample(range(len(words)), n))
        return " ".join(words[i] for i in chosen).lower()

    def filtered(p: corpus.RealPaper) -> str:
        words = short(p, 3)
        roll = rng.random()
        if roll < 0.4:
            return f"{words} cat:{p.categories[0]}"
        if roll < 0.6:
            return f"{words} has:code"
        if roll < 0.8 and p.authors:
            return f"{words} author:{TITLE_WORD.findall(p.authors[0])[-1].lower()}"
        other = content(next(picks).title)
        return f"{words} -{other[0].lower()}" if other else words

    kinds: list[tuple[str, Callable[[corpus.RealPaper], str], int]] = [
        ("phrase", phrase, 60), ("short", short, 60), ("title", lambda p: p.title, 30),
        ("filtered", filtered, 50),
    ]  # fmt: skip
    timed: list[list[str]] = []
    seen: set[str] = set()
    for kind, make, count in kinds:
        made = 0
        while made < count:
            text = make(next(picks)).strip()
            if text and text.lower() not in seen:
                seen.add(text.lower())
                timed.append([kind, text])
                made += 1
    rng.shuffle(timed)
    recall = [t for _, t in timed] + [
        short(next(picks)) if i % 2 else phrase(next(picks)) for i in range(300)
    ]
    return {"timed": timed, "recall": [["recall", t] for t in recall]}


# -- building --------------------------------------------------------------------------------------


def build_corpus(n: int, work: Path, pool: list[corpus.RealPaper], dates: list[str]) -> dict[str, Any]:
    """The data directory for n papers: reused when it holds them, else built from scratch."""
    folder = work / str(n)
    marker = folder / "corpus.json"
    if marker.exists() and papers_in(folder / "data") == n:
        return dict(json.loads(marker.read_text()))
    if n < len(pool):
        raise SystemExit(f"--papers {n} is under the {len(pool):,} real papers; ask for at least that many")
    shutil.rmtree(folder, ignore_errors=True)
    print(f"[{n:,}] writing {n - len(pool):,} synthetic records", flush=True)
    corpus.write_synthetic(folder / "synthetic", corpus.Generator(pool, dates), n - len(pool))
    print(f"[{n:,}] paperwire ingest --no-index (real daily files, then synthetic ones)", flush=True)
    env = {**os.environ, "PAPERWIRE_DATA_DIR": str(folder / "data")}
    command = [sys.executable, "-m", "paperwire", "ingest", "--no-index", "--json",
               str(corpus.SHARED), str(folder / "synthetic")]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise SystemExit(f"ingest failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    summary = json.loads(done.stdout)
    found = papers_in(folder / "data")
    if found != n:
        raise SystemExit(f"ingest stored {found:,} papers, not {n:,}")
    info = {"papers": n, "real": len(pool), "synthetic": n - len(pool), "ingest_s": seconds,
            "records": summary["new"] + summary["updated"] + summary["unchanged"],
            "near_duplicates": summary["duplicates"]}  # fmt: skip
    shutil.rmtree(folder / "synthetic")
    marker.write_text(json.dumps(info))
    return info


def fill_vectors(data_dir: Path, work: Path, device: Path) -> dict[str, Any]:
    """Put a vector for every paper in `embeddings` (real ones from `device`, else mixed ones)."""
    from paperwire.library import Library
    from paperwire.search.embed import paper_text
    from paperwire.search.sync import text_hash

    model_id = Library(settings_for(data_dir, work)).embedder.model_id  # type: ignore[union-attr]
    real = vectors.load_device_vectors(device)
    pool, dates = corpus.real_pool()
    generator = corpus.Generator(pool, dates)
    real_of = [real.get(p.id) for p in pool]

    def sources(index: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The real vectors (n, 3, d) of these synthetic papers' sources, and their shares (n, 3)."""
        made = [generator.paper(i) for i in index]
        if any(real_of[k] is None for s in made for k in s.sources):
            raise SystemExit("a source of a synthetic paper has no real vector: embed the real papers first")
        stack = np.array([[real_of[k] for k in s.sources] for s in made], dtype=np.float32)
        return stack, np.array([s.shares for s in made], dtype=np.float32)

    calibration = [i for i in range(200_000) if _synthetic_id(i) in real]
    if not calibration:
        raise SystemExit(f"no synthetic paper among the real vectors in {device}: nothing to calibrate on")
    embedded = np.stack([real[_synthetic_id(i)] for i in calibration]).astype(np.float32)
    cos, residuals = vectors.calibrate(*sources(calibration), embedded)
    counts = {"real": 0, "mixed": 0}
    conn = sqlite3.connect(data_dir / "paperwire.db")
    have = {row[0] for row in conn.execute("SELECT paper_id FROM embeddings WHERE model = ?", (model_id,))}
    last = ""
    while True:
        rows = conn.execute(
            "SELECT id, content_hash, title, abstract FROM papers WHERE id > ? ORDER BY id LIMIT 20000",
            (last,),
        ).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        todo = [r for r in rows if r[0] not in have]
        missing = [r[0] for r in todo if r[0] not in real]
        mixed: dict[str, np.ndarray] = {}
        if missing:
            index = [_synthetic_index(pid) for pid in missing]
            if any(i is None for i in index):
                raise SystemExit(f"no vector for real paper {missing[0]}: run search_vectors.py export/embed")
            rng = np.random.default_rng(index[0])
            matrix = vectors.mixed(*sources([i for i in index if i is not None]), cos, residuals, rng)
            mixed = dict(zip(missing, matrix.astype(np.float16), strict=True))
        conn.executemany(
            "INSERT INTO embeddings (paper_id, model, content_hash, text_hash, vector) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (pid, model_id, content, text_hash(model_id, paper_text(title, abstract)),
                 (real[pid] if pid in real else mixed[pid]).astype(np.float16).tobytes())
                for pid, content, title, abstract in todo
            ],
        )  # fmt: skip
        conn.commit()
        counts["mixed"] += len(missing)
        counts["real"] += len(todo) - len(missing)
    conn.close()
    return {**counts, "model": model_id, "calibration_papers": len(calibration),
            "calibration_cos_p5_p50_p95": [float(x) for x in np.percentile(cos, [5, 50, 95])]}  # fmt: skip


def _synthetic_id(i: int) -> str:
    return f"{3001 + i // 100_000:04d}.{i % 100_000:05d}"


def _synthetic_index(pid: str) -> int | None:
    m = re.fullmatch(r"30(\d\d)\.(\d{5})", pid)
    return None if m is None else (int(m[1]) - 1) * 100_000 + int(m[2])


def build_indexes(data_dir: Path, work: Path) -> dict[str, Any]:
    """Library.sync() over cached vectors: seconds per stage."""
    from paperwire.library import Library

    library = Library(settings_for(data_dir, work))
    marks: dict[str, float] = {}
    done: dict[str, int] = {}
    start = time.perf_counter()

    def progress(stage: str, n: int) -> None:
        marks.setdefault(f"{stage}_first", time.perf_counter() - start)
        marks[f"{stage}_last"] = time.perf_counter() - start
        done[stage] = done.get(stage, 0) + n
        if done[stage] % 100_000 < n:
            print(f"  sync {stage}: {done[stage]:,} ({time.perf_counter() - start:.0f} s)", flush=True)

    report = library.sync(progress)
    total = time.perf_counter() - start
    keyword_s = marks.get("keyword_last", 0.0)
    return {
        "total_s": total, "keyword_s": keyword_s, "vectors_s": total - keyword_s,
        "keyword_docs": report.keyword, "embedded": report.embedded, "vectors": report.vectors,
    }  # fmt: skip


def sizes(data_dir: Path) -> dict[str, float]:
    def tree(path: Path) -> int:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

    with sqlite3.connect(data_dir / "paperwire.db") as conn:
        table = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name IN ('embeddings', 'sqlite_autoindex_embeddings_1')"
        ).fetchone()[0]
    mib = 2**20
    snapshot = data_dir / "index" / "snapshots" / (data_dir / "index" / "CURRENT").read_text().strip()
    return {
        "keyword_mib": tree(snapshot / "keyword") / mib,
        "vectors_mib": (snapshot / "vectors" / "vectors.usearch").stat().st_size / mib,
        "embeddings_mib": (table or 0) / mib,
        "database_mib": sum(p.stat().st_size for p in data_dir.glob("paperwire.db*")) / mib,
    }


# -- measuring -------------------------------------------------------------------------------------


def read_into_page_cache(*paths: Path) -> tuple[float, float]:
    """Read files (a folder: all of its files) once, as a server that has been answering for a
    while has its database and indexes in the OS page cache ("warm"); MiB read and seconds taken.
    Reading a file maps nothing into this process: its resident memory is not changed by it."""
    files = [f for path in paths for f in ([path] if path.is_file() else path.rglob("*")) if f.is_file()]
    start, total = time.perf_counter(), 0
    for path in files:
        with path.open("rb") as f:
            while chunk := f.read(8 << 20):
                total += len(chunk)
    return total / 2**20, time.perf_counter() - start


def measure(
    data_dir: Path, work: Path, queries: dict[str, Any], rounds: int, recall_n: int
) -> dict[str, Any]:
    """Warm latencies, memory, recall and a profile, in this (fresh) process."""
    from paperwire.library import Library
    from paperwire.search.cache import ResultCache
    from paperwire.search.query import Filters, SearchRequest, parse

    library = Library(settings_for(data_dir, work))
    snapshot = library.snapshots.current().directory
    cached_mib, cached_s = read_into_page_cache(data_dir / "paperwire.db", snapshot)
    timed = [text for _, text in queries["timed"]]
    rng = random.Random(5)
    with sqlite3.connect(data_dir / "paperwire.db") as conn:
        ids = [row[0] for row in conn.execute("SELECT paper_id FROM search_docs ORDER BY key")]
    related_ids = rng.sample(ids, len(timed))
    load_before = load()

    # every timed search is a new one: no remembered results, no remembered query embedding (the
    # repeats a real service sees are measured by bench/web_load.py's "repeated" stream)
    library._results = ResultCache(max_hits=0, ttl=0)

    def run(mode: str, text: str) -> float:
        if library.embedder is not None:
            library._query_vector.cache_clear()  # type: ignore[attr-defined]
        start = time.perf_counter()
        library.search(SearchRequest(text, limit=10, mode=mode))  # type: ignore[arg-type]
        return (time.perf_counter() - start) * 1000

    def related(pid: str) -> float:
        start = time.perf_counter()
        library.related(pid, limit=10)
        return (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    for text in timed[:40]:  # warm-up: loads the model, maps the indexes, fills the caches
        run("hybrid", text)
        run("keyword", text)
    for pid in related_ids[:40]:
        related(pid)
    warmup_s = time.perf_counter() - start
    rss_warm = rss_mib()
    times: dict[str, list[float]] = {"hybrid": [], "keyword": [], "related": []}
    per_query: dict[str, dict[str, list[float]]] = {
        "hybrid": {t: [] for t in timed},
        "keyword": {t: [] for t in timed},
    }
    for r in range(rounds):
        order = list(range(len(timed)))
        rng.shuffle(order)
        for position, q in enumerate(order):
            modes = ("hybrid", "keyword") if (position + r) % 2 == 0 else ("keyword", "hybrid")
            for mode in modes:
                ms = run(mode, timed[q])
                times[mode].append(ms)
                per_query[mode][timed[q]].append(ms)
        for pid in rng.sample(related_ids, len(related_ids)):
            times["related"].append(related(pid))
    # The parts of a hybrid search, timed apart (one pass).
    parts: dict[str, list[float]] = {"embed": [], "vector_top100": [], "keyword_top100": []}
    assert library.embedder is not None and library.vectors is not None
    for text in timed:
        parsed = parse(text, Filters())
        t0 = time.perf_counter()
        vector = library.embedder.embed([parsed.semantic])[0]
        t1 = time.perf_counter()
        library.vectors.search(vector, 100)
        t2 = time.perf_counter()
        library.keyword.search(parsed, 100)
        t3 = time.perf_counter()
        parts["embed"].append((t1 - t0) * 1000)
        parts["vector_top100"].append((t2 - t1) * 1000)
        parts["keyword_top100"].append((t3 - t2) * 1000)
    rss_end = rss_mib()
    load_after = load()
    median_hybrid = {t: float(np.median(v)) for t, v in per_query["hybrid"].items()}
    profile = profile_hybrid(library, timed[:100], data_dir.parent / "profile-hybrid.txt")
    recall = hnsw_recall(library, data_dir, [t for _, t in queries["recall"]][:recall_n])
    return {
        "hybrid": percentiles(times["hybrid"]), "keyword": percentiles(times["keyword"]),
        "related": percentiles(times["related"]),
        "parts": {k: percentiles(v) for k, v in parts.items()},
        "hybrid_median_per_query": median_hybrid,
        "keyword_median_per_query": {t: float(np.median(v)) for t, v in per_query["keyword"].items()},
        "by_kind": {
            kind: percentiles([median_hybrid[t] for k, t in queries["timed"] if k == kind])
            for kind in sorted({k for k, _ in queries["timed"]})
        },
        "rss_warm_mib": rss_warm, "rss_end_mib": rss_end, "warmup_s": warmup_s,
        "page_cache_mib": cached_mib, "page_cache_s": cached_s,
        "load_before": load_before, "load_after": load_after, "rounds": rounds,
        "recall": recall, "profile": profile,
    }  # fmt: skip


def profile_hybrid(library: Any, texts: list[str], path: Path) -> list[list[Any]]:
    """cProfile over hybrid searches: the functions taking most time, in ms per query."""
    from paperwire.search.query import SearchRequest

    profiler = cProfile.Profile()
    profiler.enable()
    for text in texts:
        library.search(SearchRequest(text, limit=10, mode="hybrid"))
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(45)
    path.write_text(out.getvalue())
    rows = []
    for (file, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append([f"{Path(file).name}:{line}({name})", calls / len(texts),
                     tottime * 1000 / len(texts), cumtime * 1000 / len(texts)])  # fmt: skip
    rows.sort(key=lambda r: -r[3])
    return rows[:40]


def hnsw_recall(library: Any, data_dir: Path, texts: list[str]) -> dict[str, Any]:
    """Recall of the HNSW index against exact cosine neighbours (numpy over the stored vectors).

    For embedded query texts (as hybrid search asks): recall@10 of a top-10 search, of the top 10 of a
    top-100 search (the depth hybrid search asks for) and recall@100 of that; for stored paper vectors
    (as related papers asks): recall@10. Then the same index file searched at other expansion_search
    values (a separate usearch view; paperwire's own setting is untouched) to show the trade-off.
    """
    from usearch.index import Index

    from paperwire.search import vectors as vector_module

    queries = np.asarray(library.embedder.embed(texts), dtype=np.float32)
    keys, matrix = _stored_vectors(library, data_dir)
    rng = np.random.default_rng(3)
    papers = matrix[rng.choice(len(matrix), 200, replace=False)]
    exact_q, exact_p = _exact(matrix, keys, queries, 100), _exact(matrix, keys, papers, 10)
    del matrix

    search = library.vectors.search
    top10 = [np.array([h.key for h in search(v, 10)]) for v in queries]
    top100 = [np.array([h.key for h in search(v, 100)]) for v in queries]
    paper10 = [np.array([h.key for h in search(v, 10)]) for v in papers]
    result: dict[str, Any] = {
        "queries": len(queries), "recall_at_10": _recall(top10, exact_q, 10),
        "recall_at_10_of_100": _recall(top100, exact_q, 10), "recall_at_100": _recall(top100, exact_q, 100),
        "paper_queries": len(papers), "paper_recall_at_10": _recall(paper10, exact_p, 10),
        "expansion_search": vector_module.EXPANSION_SEARCH, "sweep": [],
    }  # fmt: skip
    index = Index(
        ndim=queries.shape[1], metric="cos", dtype="f16", connectivity=vector_module.CONNECTIVITY,
        expansion_add=vector_module.EXPANSION_ADD, expansion_search=vector_module.EXPANSION_SEARCH,
    )  # fmt: skip
    index.view(str(library.vectors.path))
    for ef in (vector_module.EXPANSION_SEARCH, 200, 400, 800):
        index.expansion_search = ef
        start = time.perf_counter()
        found = [index.search(v, 10, threads=1).keys for v in queries]
        ms = (time.perf_counter() - start) * 1000 / len(queries)
        result["sweep"].append(
            {"expansion_search": ef, "recall_at_10": _recall(found, exact_q, 10), "ms": ms}
        )
    return result


def _stored_vectors(library: Any, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Keys and unit float32 vectors of every paper, as the index holds them (float16, cosine)."""
    with sqlite3.connect(data_dir / "paperwire.db") as conn:
        rows = conn.execute(
            "SELECT d.key, e.vector FROM search_docs d JOIN embeddings e ON e.paper_id = d.paper_id "
            "AND e.model = ? ORDER BY d.key", (library.embedder.model_id,),
        ).fetchall()  # fmt: skip
    keys = np.array([r[0] for r in rows], dtype=np.int64)
    matrix = np.empty((len(rows), library.embedder.dim), dtype=np.float32)
    for start in range(0, len(rows), 50_000):
        chunk = rows[start : start + 50_000]
        part = np.frombuffer(b"".join(r[1] for r in chunk), dtype=np.float16).reshape(len(chunk), -1)
        matrix[start : start + len(chunk)] = part
    del rows
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return keys, matrix


def _exact(matrix: np.ndarray, keys: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The keys of each query's k nearest vectors by cosine, best first."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_keys = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(matrix), 50_000):
        scores = np.concatenate([best_scores, queries @ matrix[start : start + 50_000].T], axis=1)
        chunk_keys = np.broadcast_to(
            keys[start : start + 50_000], (len(queries), min(50_000, len(keys) - start))
        )
        all_keys = np.concatenate([best_keys, chunk_keys], axis=1)
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, top, axis=1)
        best_keys = np.take_along_axis(all_keys, top, axis=1)
    return np.take_along_axis(best_keys, np.argsort(-best_scores, axis=1), axis=1)


def hardness(work: Path, small: int, large: int) -> list[dict[str, Any]]:
    """Are mixed vectors as easy for HNSW as embedded ones? Indexes of equal size, the same queries.

    Built here with paperwire's HNSW settings: the embedded vectors of the `small` corpus (and
    subsets of them, for the trend with size), and as many mixed vectors from the `large` one.
    """
    from usearch.index import Index

    from paperwire.search import vectors as vector_module
    from paperwire.search.embed import load_embedder

    embedder = load_embedder(None, "onnx-int8", work / "models")
    queries = json.loads((work / "queries.json").read_text())
    texts = np.asarray(embedder.embed([t for _, t in queries["recall"]]), dtype=np.float32)

    def stored(db: Path, where: str = "", limit: int = -1) -> np.ndarray:
        with sqlite3.connect(db) as conn:
            sql = f"SELECT vector FROM embeddings {where} ORDER BY paper_id LIMIT {limit}"
            blobs = [r[0] for r in conn.execute(sql)]
        matrix = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)
        return np.asarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), dtype=np.float32)

    embedded = stored(work / str(small) / "data" / "paperwire.db")
    real = json.loads((work / str(small) / "corpus.json").read_text())["real"]
    first_mixed = _synthetic_id(small - real)  # synthetic papers past the small corpus have mixed vectors
    mixed = stored(
        work / str(large) / "data" / "paperwire.db", f"WHERE paper_id >= '{first_mixed}'", len(embedded)
    )
    rng = np.random.default_rng(9)
    sets = [(f"embedded, {n:,}", embedded[rng.choice(len(embedded), n, replace=False)])
            for n in (len(embedded) // 4, len(embedded) // 2)]  # fmt: skip
    sets += [
        (f"embedded, {len(embedded):,}", embedded),
        (f"mixed, {len(embedded):,}", mixed[: len(embedded)]),
    ]
    rows = []
    for name, matrix in sets:
        index = Index(
            ndim=matrix.shape[1], metric="cos", dtype="f16", connectivity=vector_module.CONNECTIVITY,
            expansion_add=vector_module.EXPANSION_ADD, expansion_search=vector_module.EXPANSION_SEARCH,
        )  # fmt: skip
        keys = np.arange(len(matrix))
        index.add(keys, matrix)
        papers = matrix[rng.choice(len(matrix), 200, replace=False)]
        exact_q, exact_p = _exact(matrix, keys, texts, 10), _exact(matrix, keys, papers, 10)
        top = -np.sort(-(texts @ matrix.T), axis=1)[:, :10]
        rows.append({
            "vectors": name,
            "text_recall_at_10": _recall([index.search(v, 10).keys for v in texts], exact_q, 10),
            "paper_recall_at_10": _recall([index.search(v, 10).keys for v in papers], exact_p, 10),
            "text_cos_1st": float(np.median(top[:, 0])), "text_cos_10th": float(np.median(top[:, 9])),
        })  # fmt: skip
    return rows


def _recall(found: list[np.ndarray], exact: np.ndarray, k: int) -> float:
    return float(
        np.mean(
            [len(set(f[:k].tolist()) & set(e[:k].tolist())) / k for f, e in zip(found, exact, strict=True)]
        )
    )


# -- the baseline ----------------------------------------------------------------------------------


def baseline(data_dir: Path, checkout: Path, deps: Path, texts: list[str]) -> dict[str, Any]:
    """arxiv-sanity-lite's search_rank (its own code, from its checkout) over the same papers.

    Twice: over a plain dict in memory (its scoring alone), and as it is deployed, over its
    CompressedSqliteDict (zlib-compressed pickles in SQLite, decoded one by one as the loop reads
    them), when its sqlitedict dependency is found in `deps`.
    """
    from paperwire.search.query import Filters, parse

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(checkout), *args], capture_output=True, check=True
        ).stdout.decode()

    tree = ast.parse(git("show", "HEAD:serve.py"))
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "search_rank")
    with sqlite3.connect(data_dir / "paperwire.db") as conn:
        rows = conn.execute(
            "SELECT id, title, abstract, authors, categories, announced FROM papers"
        ).fetchall()
    pdb = {pid: _arxiv_sanity_entry(pid, *rest) for pid, *rest in rows}
    store: Callable[[], Any] | None = None
    if (deps / "sqlitedict.py").exists():
        sys.path[:0] = [str(deps), str(_arxiv_sanity_tree(checkout, data_dir.parent.parent, git))]
        from aslite.db import CompressedSqliteDict  # its own storage class, from its checkout

        path = data_dir.parent / "arxiv-sanity-papers.db"
        if not path.exists():
            with CompressedSqliteDict(
                str(path) + ".tmp", tablename="papers", flag="c", autocommit=False
            ) as db:
                for pid, entry in pdb.items():
                    db[pid] = entry
                db.commit()
            Path(str(path) + ".tmp").rename(path)

        read_into_page_cache(path)  # warm, as paperwire's files are

        def store() -> Any:  # as serve.py's get_papers: opened once per request
            return CompressedSqliteDict(str(path), tablename="papers", flag="r")

    result: dict[str, Any] = {"commit": git("rev-parse", "HEAD").strip(), "papers": len(pdb)}
    for name, get_papers in (("memory", lambda: pdb), ("deployed", store)):
        if get_papers is None:
            continue
        namespace: dict[str, Any] = {"get_papers": get_papers}
        exec(compile(ast.Module([function], []), "arxiv-sanity-lite/serve.py", "exec"), namespace)
        times = []
        for text in texts:
            words = parse(text, Filters()).words  # its search has no filters: the same words, without them
            start = time.perf_counter()
            namespace["search_rank"](q=words)
            times.append((time.perf_counter() - start) * 1000)
        result[name] = {**percentiles(times), "times": dict(zip(texts, times, strict=True))}
    return result


def _arxiv_sanity_entry(
    pid: str, title: str, abstract: str, authors: str, categories: str, announced: str | None
) -> dict[str, Any]:
    """A paper shaped like the arXiv API entries arxiv-sanity-lite stores (fewer fields)."""
    names, cats = json.loads(authors), json.loads(categories)
    return {
        "id": f"http://arxiv.org/abs/{pid}v1", "title": title, "summary": abstract,
        "authors": [{"name": n} for n in names], "author": names[-1] if names else "",
        "published": announced, "updated": announced,
        "links": [{"href": f"http://arxiv.org/abs/{pid}v1", "rel": "alternate", "type": "text/html"},
                  {"href": f"http://arxiv.org/pdf/{pid}v1", "rel": "related", "type": "application/pdf"}],
        "arxiv_primary_category": {"term": cats[0] if cats else ""},
        "tags": [{"term": c, "scheme": "http://arxiv.org/schemas/atom", "label": None} for c in cats],
        "_idv": f"{pid}v1", "_id": pid, "_version": 1, "_time": 0.0, "_time_str": announced or "",
    }  # fmt: skip


def _arxiv_sanity_tree(checkout: Path, work: Path, git: Callable[..., str]) -> Path:
    """Its aslite package unpacked from the checkout into the work folder (never into this repo)."""
    target = work / "arxiv-sanity-lite"
    if not (target / "aslite" / "db.py").exists():
        (target / "aslite").mkdir(parents=True, exist_ok=True)
        for name in ("__init__.py", "db.py"):
            try:
                (target / "aslite" / name).write_text(git("show", f"HEAD:aslite/{name}"))
            except subprocess.CalledProcessError:
                (target / "aslite" / name).write_text("")
    return target


# -- the report ------------------------------------------------------------------------------------


def row_values(fig: dict[str, Any]) -> dict[str, str]:
    m, b, s, c, v = fig["measure"], fig["build"], fig["sizes"], fig["corpus"], fig["vectors"]
    r = m["recall"]

    def lat(x: dict[str, float]) -> str:
        return f"{x['p50']:.1f} / {x['p95']:.1f} / {x['p99']:.1f}"

    values = {
        "papers (real + synthetic)": f"{c['papers']:,} ({c['real']:,} + {c['synthetic']:,})",
        "vectors (embedded + mixed)": f"{v['real']:,} + {v['mixed']:,}",
        "hybrid p50 / p95 / p99 ms": lat(m["hybrid"]),
        "keyword-only p50 / p95 / p99 ms": lat(m["keyword"]),
        "hybrid / keyword p95": f"{m['hybrid']['p95'] / m['keyword']['p95']:.2f}x",
        "related p50 / p95 / p99 ms": lat(m["related"]),
        "· query embedding p50 / p95 ms": (
            f"{m['parts']['embed']['p50']:.1f} / {m['parts']['embed']['p95']:.1f}"
        ),
        "· HNSW top-100 p50 / p95 ms": (
            f"{m['parts']['vector_top100']['p50']:.2f} / {m['parts']['vector_top100']['p95']:.2f}"
        ),
        "· Tantivy top-100 p50 / p95 ms": (
            f"{m['parts']['keyword_top100']['p50']:.1f} / {m['parts']['keyword_top100']['p95']:.1f}"
        ),
        "HNSW recall@10, query texts (top-10 / top-10 of 100)": (
            f"{r['recall_at_10']:.3f} / {r['recall_at_10_of_100']:.3f} ({r['queries']} queries, "
            f"expansion_search {r['expansion_search']})"
        ),
        "HNSW recall@100, query texts": f"{r['recall_at_100']:.3f}",
        "HNSW recall@10, paper vectors (as related)": (
            f"{r['paper_recall_at_10']:.3f} ({r['paper_queries']} papers)"
        ),
        "recall@10 at expansion_search 200 / 400 / 800": " / ".join(
            f"{x['recall_at_10']:.3f} ({x['ms']:.2f} ms)" for x in r["sweep"][1:]
        ),
        "read into the OS page cache before timing": (
            f"{m['page_cache_mib']:,.0f} MiB in {m['page_cache_s']:.1f} s (database, published indexes)"
        ),
        "RSS after warm-up / at end": f"{m['rss_warm_mib']:,.0f} / {m['rss_end_mib']:,.0f} MiB",
        "ingest (--no-index)": f"{c['ingest_s']:,.0f} s",
        "index build: keyword / HNSW": f"{b['keyword_s']:,.0f} s / {b['vectors_s']:,.0f} s",
        "index build peak RSS": f"{b['peak_rss_mib']:,.0f} MiB",
        "on disk: keyword / vectors / embeddings table": (
            f"{s['keyword_mib']:,.0f} / {s['vectors_mib']:,.0f} / {s['embeddings_mib']:,.0f} MiB"
        ),
        "database file (all tables)": f"{s['database_mib']:,.0f} MiB",
        "load average before / after": f"{m['load_before']} / {m['load_after']}",
    }
    for name, base in (
        (k, fig["baseline"][k]) for k in ("memory", "deployed") if k in fig.get("baseline", {})
    ):
        texts = list(base["times"])
        hybrid = float(np.median([m["hybrid_median_per_query"][t] for t in texts]))
        keyword = float(np.median([m["keyword_median_per_query"][t] for t in texts]))
        label = "dict in memory" if name == "memory" else "as deployed, CompressedSqliteDict"
        values[f"arxiv-sanity-lite search p50 / p95 ms ({label})"] = (
            f"{base['p50']:,.0f} / {base['p95']:,.0f} ({base['n']} queries)"
        )
        values[f"speed-up, its p50 / ours, same queries ({label})"] = (
            f"{base['p50'] / hybrid:,.0f}x hybrid, {base['p50'] / keyword:,.0f}x keyword-only"
        )
    return values


def table(figures: list[dict[str, Any]]) -> str:
    columns = [row_values(f) for f in figures]
    names = list(dict.fromkeys(name for col in columns for name in col))
    head = "| | " + " | ".join(f"{f['corpus']['papers']:,} papers" for f in figures) + " |"
    lines = [head, "|---" * (len(figures) + 1) + "|"]
    lines += [
        "| " + name + " | " + " | ".join(col.get(name, "–") for col in columns) + " |" for name in names
    ]
    return "\n".join(lines)


def hardness_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "HNSW recall at paperwire's settings, embedded against mixed vectors (same queries; indexes "
        "built for this check):",
        "",
        "| vectors | recall@10, query texts | recall@10, paper vectors | median cosine of 1st / 10th |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['vectors']} | {r['text_recall_at_10']:.3f} | {r['paper_recall_at_10']:.3f} "
        f"| {r['text_cos_1st']:.3f} / {r['text_cos_10th']:.3f} |"
        for r in rows
    ]
    return "\n".join(lines)


def write_results(figures: list[dict[str, Any]], command: str, hard: list[dict[str, Any]] | None) -> None:
    commit = subprocess.run(["git", "-C", str(BENCH), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    notes = []
    for f in figures:
        v = f["vectors"]
        lo, mid, hi = v["calibration_cos_p5_p50_p95"]
        notes.append(
            f"- {f['corpus']['papers']:,}: {f['corpus']['near_duplicates']:,} papers grouped as "
            f"near-duplicates at ingest; vectors: {v['real']:,} embedded by `{v['model']}`, "
            f"{v['mixed']:,} mixed "
            f"(calibrated on {v['calibration_papers']:,} synthetic papers embedded for real: cosine of their "
            f"embedding to the mixture of their sources p5 {lo:.3f}, p50 {mid:.3f}, p95 {hi:.3f}); "
            f"measured {f['date']}"
        )
    block = "\n".join([
        START,
        f"Machine: {figures[0]['machine']}; shared with other sessions' builds and tests while "
        f"measuring (load averages in the table). Commit {commit} plus the working tree of the day.",
        "",
        f"Command: `{command}`",
        "",
        table(figures),
        "",
        *notes,
        *(["", hardness_table(hard)] if hard else []),
        END,
    ])  # fmt: skip
    text = RESULTS.read_text() if RESULTS.exists() else f"# Search speed\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    RESULTS.write_text(head + block + rest.split(END, 1)[1])


# -- driver ----------------------------------------------------------------------------------------


def run_size(
    n: int, args: argparse.Namespace, pool: list[corpus.RealPaper], dates: list[str]
) -> dict[str, Any]:
    work: Path = args.work
    folder, data = work / str(n), work / str(n) / "data"
    info = build_corpus(n, work, pool, dates)
    vec_path = folder / "vectors.json"
    if not vec_path.exists():
        print(f"[{n:,}] filling the embeddings table", flush=True)
        vec_path.write_text(json.dumps(child("_vectors", str(data), str(work), str(args.vectors))[0]))
    build_path = folder / "build.json"
    if not build_path.exists():
        print(f"[{n:,}] building the indexes (Library.sync)", flush=True)
        result, peak = child("_build", str(data), str(work))
        build_path.write_text(json.dumps({**result, "peak_rss_mib": peak}))
    child("_prepare", str(data), str(work))  # the int8 export, if missing, made before measuring
    queries_path = work / "queries.json"
    print(f"[{n:,}] measuring: {args.rounds} rounds of {len(json.loads(queries_path.read_text())['timed'])} "
          "queries, hybrid and keyword, and related papers", flush=True)  # fmt: skip
    result, _ = child("_measure", str(data), str(work), str(args.rounds), str(args.recall))
    figure: dict[str, Any] = {
        "corpus": info, "vectors": json.loads(vec_path.read_text()),
        "build": json.loads(build_path.read_text()), "sizes": sizes(data), "measure": result,
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
    }  # fmt: skip
    if n <= 200_000 and args.baseline_queries and args.arxiv_sanity.exists():
        print(f"[{n:,}] arxiv-sanity-lite search_rank, {args.baseline_queries} queries", flush=True)
        figure["baseline"], _ = child(
            "_baseline", str(data), str(args.arxiv_sanity), str(args.arxiv_sanity_deps),
            str(args.baseline_queries), str(work),
        )  # fmt: skip
    (folder / "figures.json").write_text(json.dumps(figure, indent=1))
    return figure


def internal(argv: list[str]) -> None:
    command, *rest = argv
    out = Path(rest[rest.index("--out") + 1])
    rest = rest[: rest.index("--out")]
    result: dict[str, Any]
    if command == "_vectors":
        result = fill_vectors(Path(rest[0]), Path(rest[1]), Path(rest[2]))
    elif command == "_prepare":
        from paperwire.library import Library

        embedder = Library(settings_for(Path(rest[0]), Path(rest[1]))).embedder
        result = {"model": embedder.model_id if embedder else None}
    elif command == "_hardness":
        result = {"rows": hardness(Path(rest[0]), int(rest[1]), int(rest[2]))}
    elif command == "_build":
        result = build_indexes(Path(rest[0]), Path(rest[1]))
    elif command == "_measure":
        work = Path(rest[1])
        queries = json.loads((work / "queries.json").read_text())
        result = measure(Path(rest[0]), work, queries, int(rest[2]), int(rest[3]))
    elif command == "_baseline":
        queries = json.loads((Path(rest[4]) / "queries.json").read_text())
        texts = [t for _, t in queries["timed"]][: int(rest[3])]
        result = baseline(Path(rest[0]), Path(rest[1]), Path(rest[2]), texts)
    else:
        raise SystemExit(f"unknown internal command {command}")
    out.write_text(json.dumps(result))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        internal(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--papers", type=int, nargs="+", default=[100_000], help="corpus sizes")
    parser.add_argument("--work", type=Path, default=WORK, help="scratch folder, reused between runs")
    parser.add_argument(
        "--vectors", type=Path, default=None, help="real vectors from search_vectors.py (<work>/vectors)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the queries")
    parser.add_argument("--recall", type=int, default=500, help="query vectors for the recall check")
    parser.add_argument("--baseline-queries", type=int, default=30, help="queries for arxiv-sanity-lite")
    parser.add_argument("--arxiv-sanity", type=Path, default=ARXIV_SANITY, help="its git checkout")
    parser.add_argument(
        "--arxiv-sanity-deps", type=Path, default=None,
        help="folder holding sqlitedict.py, to run it as deployed (default: <work>/arxiv-sanity-deps)",
    )  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help=f"do not update {RESULTS.name}")
    args = parser.parse_args()
    args.vectors = args.vectors or args.work / "vectors"
    args.arxiv_sanity_deps = args.arxiv_sanity_deps or args.work / "arxiv-sanity-deps"
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; load {load()}", flush=True)
    pool, dates = corpus.real_pool()
    queries_path = args.work / "queries.json"
    if not queries_path.exists():
        queries_path.write_text(json.dumps(make_queries(pool), indent=0))
    figures = [run_size(n, args, pool, dates) for n in args.papers]
    hard = None
    sizes_built = sorted(n for n in args.papers if (args.work / str(n) / "vectors.json").exists())
    if (
        len(sizes_built) >= 2
        and json.loads((args.work / str(sizes_built[-1]) / "vectors.json").read_text())["mixed"]
    ):
        print(f"HNSW recall, embedded against mixed vectors ({sizes_built[0]:,} of each)", flush=True)
        hard = child("_hardness", str(args.work), str(sizes_built[0]), str(sizes_built[-1]))[0]["rows"]
    print()
    print(table(figures))
    if hard:
        print()
        print(hardness_table(hard))
    if not args.no_write:
        write_results(figures, "python bench/search.py " + " ".join(sys.argv[1:]), hard)
        print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
