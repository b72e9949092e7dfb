"""Embedding throughput, agreement and peak memory: the default int8 ONNX path against plain fp32
sentence-transformers, on the same real arXiv abstracts (title + abstract, as paperwire embeds them).

Each backend runs in its own subprocess (so its peak RSS, VmHWM, is its own) over the same texts,
after a warm-up batch; the model load (and, for int8, the one-off export, done first in the parent)
is timed apart from the embedding. Every backend's vectors are compared row by row with the fp32
torch ones. Texts per CPU-second (the process's user + system time) is less swayed by other
processes on a shared machine than wall-clock texts/s.

    .venv/bin/python bench/embed.py                                    # 1,000 abstracts, CPU
    .venv/bin/python bench/embed.py --write-texts sample.jsonl.gz -n 20000
    python3 bench/embed.py --texts sample.jsonl.gz --model DIR \\
        --backends torch torch-fp16 --batch-size 256                  # on a GPU machine
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from paperwire.search.embed import TorchEmbedder, load_embedder, paper_text

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv" / "daily_arxiv_jsonl"
BACKENDS = ("onnx-int8", "torch", "torch-fp16")
REFERENCE = "torch"


def sample_texts(n: int) -> list[str]:
    """n papers spread evenly over all the daily files (first version of each id), as paper_text."""
    seen: set[str] = set()
    papers: list[str] = []
    for path in sorted(SHARED.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                if record["id"] not in seen and record.get("summary"):
                    seen.add(record["id"])
                    papers.append(paper_text(record["title"], record["summary"]))
    if len(papers) < n:
        raise SystemExit(f"only {len(papers)} papers in {SHARED}")
    return [papers[i * len(papers) // n] for i in range(n)]


def read_texts(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def write_texts(path: Path, texts: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(text) + "\n" for text in texts)


def child(args: argparse.Namespace) -> None:
    """One backend over the texts: load, warm up, time the embedding, save the vectors."""
    texts = read_texts(args.texts)
    start = time.perf_counter()
    backend = "torch" if args.child == "torch-fp16" else args.child
    embedder = load_embedder(args.model, backend, args.cache_dir, batch_size=args.batch_size)
    device = "cpu"
    if isinstance(embedder, TorchEmbedder):
        device = str(embedder.model.device)
        if args.child == "torch-fp16":
            embedder.model.half()
    load_s = time.perf_counter() - start
    embedder.embed(texts[: args.batch_size])  # warm-up: first-run allocations, CUDA kernels, caches
    start, cpu_start = time.perf_counter(), time.process_time()
    vectors = embedder.embed(texts)
    embed_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    np.save(args.out, vectors)
    result: dict[str, Any] = {
        "load_s": load_s,
        "embed_s": embed_s,
        "cpu_s": cpu_s,
        "device": device,
        "rss_mib": peak_rss(),
    }
    if device.startswith("cuda"):
        import torch

        result["device"] = torch.cuda.get_device_name()
        result["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def peak_rss() -> float:
    """This process's peak RSS in MiB (VmHWM: wait4's ru_maxrss would count the parent's before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_backend(backend: str, args: argparse.Namespace, texts_path: Path, workdir: Path) -> dict[str, Any]:
    out = workdir / f"{backend}.npy"
    command = [
        sys.executable, __file__, "--child", backend, "--texts", str(texts_path), "--out", str(out),
        "--cache-dir", str(args.cache_dir), "--batch-size", str(args.batch_size),
    ]  # fmt: skip
    if args.model:
        command += ["--model", args.model]
    stdout, stderr = workdir / f"{backend}.out", workdir / f"{backend}.err"
    with stdout.open("wb") as so, stderr.open("wb") as se:
        process = subprocess.Popen(command, stdout=so, stderr=se)
        status = process.wait()
    if status != 0:
        raise SystemExit(f"{backend} failed: {stderr.read_text()[-3000:]}")
    result: dict[str, Any] = json.loads(stdout.read_text().strip().splitlines()[-1])
    result["vectors"] = np.load(out)
    return result


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if "model name" in line),
        platform.processor(),
    )  # fmt: skip
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    cores = len(os.sched_getaffinity(0))
    return f"{cores} cores ({cpu}), {int(mem) / 1024**2:.0f} GiB RAM, Python {platform.python_version()}"


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    names = ("torch", "onnxruntime", "sentence-transformers", "transformers", "tokenizers")
    found = []
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, help="number of abstracts (default 1000; with --texts, the first n)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=["onnx-int8", "torch"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", help="model folder or id (default: the bundled all-MiniLM-L6-v2)")
    parser.add_argument("--texts", type=Path, help="a .jsonl.gz of texts (from --write-texts) instead of -n")
    parser.add_argument("--write-texts", type=Path, help="write the -n sampled texts here and stop")
    parser.add_argument("--cache-dir", type=Path, help="data dir for the ONNX cache (default: a temp dir)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per backend, alternating (default 2)")
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.write_texts:
        write_texts(args.write_texts, sample_texts(args.n or 1000))
        return
    with tempfile.TemporaryDirectory(prefix="paperwire-bench-embed-") as tmp:
        workdir = Path(tmp)
        args.cache_dir = args.cache_dir or workdir / "data"
        texts_path = args.texts or workdir / "texts.jsonl.gz"
        if not args.texts:
            write_texts(texts_path, sample_texts(args.n or 1000))
        elif args.n:
            texts_path = workdir / "texts.jsonl.gz"
            write_texts(texts_path, read_texts(args.texts)[: args.n])
        count = len(read_texts(texts_path))
        print(f"machine: {machine()}; {versions()}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if "onnx-int8" in args.backends:
            start = time.perf_counter()
            load_embedder(args.model, "onnx-int8", args.cache_dir)
            print(f"int8 ONNX export or cache check: {time.perf_counter() - start:.1f} s")
        # Backends alternate (A B, then B A, ...) so that load from other processes hits both alike.
        runs: dict[str, list[dict[str, Any]]] = {backend: [] for backend in args.backends}
        for repeat in range(args.repeats):
            for backend in args.backends if repeat % 2 == 0 else reversed(args.backends):
                runs[backend].append(run_backend(backend, args, texts_path, workdir))
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"\n{count:,} texts, batch size {args.batch_size}, {args.repeats} runs per backend\n")
        print(
            "| backend | device | load s | texts/s, median (each run) | texts per CPU-second | peak RSS "
            "| cosine to fp32 (mean / min) |"
        )
        print("|---|---|---|---|---|---|---|")
        reference = runs[REFERENCE][0]["vectors"] if REFERENCE in runs else None
        for backend, results in runs.items():
            first = results[0]
            agreement = "reference" if backend == REFERENCE else "n/a"
            if reference is not None and backend != REFERENCE:
                cosine = np.sum(first["vectors"].astype(np.float32) * reference, axis=1)
                agreement = f"{cosine.mean():.4f} / {cosine.min():.4f}"
            rates = [count / r["embed_s"] for r in results]
            each = ", ".join(f"{rate:,.1f}" for rate in rates)
            peak = max(r["rss_mib"] for r in results)
            per_cpu = statistics.median(count / r["cpu_s"] for r in results)
            gpu = (
                f" ({max(r['gpu_peak_mib'] for r in results):,.0f} MiB on GPU)"
                if "gpu_peak_mib" in first
                else ""
            )
            print(
                f"| {backend} | {first['device']} | {first['load_s']:.1f} | "
                f"{statistics.median(rates):,.1f} ({each}) | {per_cpu:,.1f} | "
                f"{peak:,.0f} MiB{gpu} | {agreement} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
