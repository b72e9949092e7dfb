"""Vectors for the search benchmark: real ones embedded elsewhere, and synthetic ones mixed from them.

Real vectors are paperwire's own embedder (bundled MiniLM, int8 ONNX, `OnnxEmbedder._run`) over
`paper_text(title, abstract)` of the stored papers, run where there are more cores than here:

    python bench/search_vectors.py export DATA_DIR OUT_DIR         # here: texts, in parts of 50k
    python3 bench/search_vectors.py embed --cache DIR --model DIR --texts PART --out DIR   # there

`embed` needs only numpy, tokenizers and onnxruntime (and src/ on the path). It calls
paperwire's own `load_embedder` on the cached int8 export and the model's config and tokenizer
files (the weights are not needed once exported), so the vectors are what `library.sync()` would
have written, up to the int8 kernels of another CPU. What travels: `--model`, a folder named
`model` with the bundled model's *.json files, vocab.txt, tokenizer.json and 1_Pooling/ (no
weights); `--cache`, a folder holding the export copied from paperwire's model cache and renamed
`model-<digest>-onnx-int8/` (model.onnx, manifest.json; ~23 MB). 100k texts took two runs of
~150 s on 16 cores (8 workers); each run returns its part as float16 .npy files under 16 MiB.
A paper's int8 vector depends a little on the batch it is embedded in (dynamic quantisation
scales activations per batch): the same text in another batch gives cosine >= 0.993 (median .996).

Synthetic vectors (`mixed`): for a synthetic paper made of real papers A, B and C, the unit vector
of the sum of their vectors weighted by the share of its abstract taken from each, turned away from
itself by an angle that really separates the embedding of a synthetic paper's own text from that
mixture (drawn from the angles measured on synthetic papers that were embedded for real), towards a
blend of two of the residuals measured there (so the deviation has the anisotropy of real
embeddings, not that of isotropic noise).
"""

from __future__ import annotations

import argparse
import json
import lzma
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

PART = 50_000
ROWS_PER_FILE = 16_000  # 16,000 x 384 float16 = 12 MB: under the 16 MiB a file the device returns


# -- here ------------------------------------------------------------------------------------------


def export(data_dir: Path, out: Path, ids: list[str] | None = None) -> list[Path]:
    """Write (paper id, paper_text) of stored papers (all, or `ids`) as .jsonl.xz parts of 50k."""
    import sqlalchemy as sa

    from paperwire.search.embed import paper_text

    engine = sa.create_engine(f"sqlite:///{data_dir / 'paperwire.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, title, abstract FROM papers ORDER BY id")).all()
    engine.dispose()
    wanted = set(ids) if ids is not None else None
    pairs = [(r.id, paper_text(r.title, r.abstract)) for r in rows if wanted is None or r.id in wanted]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(pairs), PART):
        path = out / f"texts-{start // PART}.jsonl.xz"
        with lzma.open(path, "wb", preset=6) as fh:
            for pid, text in pairs[start : start + PART]:
                fh.write(json.dumps([pid, text]).encode() + b"\n")
        paths.append(path)
    return paths


def read_part(path: Path) -> tuple[list[str], list[str]]:
    with lzma.open(path, "rb") as fh:
        pairs = [json.loads(line) for line in fh]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def load_device_vectors(folder: Path) -> dict[str, np.ndarray]:
    """paper id -> float16 vector, from every `vectors-<part>-<file>.npy` with its ids file."""
    found: dict[str, np.ndarray] = {}
    for ids_path in sorted(folder.glob("ids-*.json")):
        part = ids_path.stem.removeprefix("ids-")
        ids = json.loads(ids_path.read_text())
        files = sorted(folder.glob(f"vectors-{part}-*.npy"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        matrix = np.concatenate([np.load(p) for p in files])
        if len(matrix) != len(ids):
            raise SystemExit(f"{folder}: part {part} has {len(ids)} ids but {len(matrix)} vectors")
        found.update(zip(ids, matrix, strict=True))
    return found


# -- synthetic -------------------------------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.linalg.norm(x, axis=-1, keepdims=True), dtype=np.float32)


def mixture(sources: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Unit vectors of the share-weighted sums of each paper's source vectors (n, k, d) -> (n, d)."""
    return _unit(np.einsum("nkd,nk->nd", sources, shares))


def calibrate(sources: np.ndarray, shares: np.ndarray, embedded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Measured on synthetic papers embedded for real: cos(embedding, mixture) and unit residuals."""
    mix = mixture(sources, shares)
    embedded = _unit(embedded)
    cos = np.einsum("nd,nd->n", mix, embedded)
    return cos, _unit(embedded - cos[:, None] * mix)


def mixed(
    sources: np.ndarray, shares: np.ndarray, cos: np.ndarray, residuals: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Synthetic unit vectors: the mixture of the sources, turned by a measured angle (module doc)."""
    n = len(shares)
    mix = mixture(sources, shares)
    c = cos[rng.integers(0, len(cos), n)]
    i, j = rng.integers(0, len(residuals), n), rng.integers(0, len(residuals), n)
    w = rng.uniform(0, 1, n)[:, None]
    direction = w * residuals[i] + (1 - w) * residuals[j]
    direction -= np.einsum("nd,nd->n", direction, mix)[:, None] * mix  # orthogonal to the mixture
    direction = _unit(direction)
    return _unit(c[:, None] * mix + np.sqrt(np.clip(1 - c * c, 0, 1))[:, None] * direction)


# -- there -----------------------------------------------------------------------------------------

_embedder = None
_setup: tuple[str, str, list[list[int]]] | None = None  # cache dir, model dir, cores per worker


def _load() -> None:
    """This worker's embedder: paperwire's own load_embedder, pinned to its share of the cores."""
    global _embedder
    import onnxruntime  # noqa: F401  # before anything that may load usearch

    from paperwire.search import embed, onnx_export

    assert _setup is not None
    cache_dir, model_dir, shares = _setup
    os.sched_setaffinity(0, shares[(multiprocessing.current_process()._identity[0] - 1) % len(shares)])
    # Only the model's config and tokenizer files travel, not its weights nor its package: the
    # export is found by the digest of the weights, taken here from the export's own manifest.
    manifest = next(Path(cache_dir).rglob("manifest.json"))
    digest = json.loads(manifest.read_text())["weights_sha256"]
    onnx_export.weights_digest = lambda _path: digest  # type: ignore[assignment]
    embed._bundled_path = lambda: Path("/nonexistent")  # type: ignore[assignment]
    _embedder = embed.load_embedder(model_dir, "onnx-int8", Path(cache_dir))


def _embed_chunk(texts: list[str]) -> np.ndarray:
    if _embedder is None:
        _load()  # here, not in a Pool initializer: a failing initializer makes the pool hang
    assert _embedder is not None
    return np.asarray(_embedder.embed(texts), dtype=np.float16)


def embed(cache_dir: Path, model_dir: Path, texts_path: Path, out: Path, workers: int) -> None:
    """Embed one part of texts with `workers` processes, each on its share of the cores."""
    global _setup
    ids, texts = read_part(texts_path)
    part = texts_path.name.split(".")[0].removeprefix("texts-")
    cores = sorted(os.sched_getaffinity(0))
    _setup = (str(cache_dir), str(model_dir), [cores[w::workers] for w in range(workers)])
    chunk = 1024  # texts a worker embeds per task (paperwire sorts them by length into batches)
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        matrix = np.concatenate(pool.map(_embed_chunk, chunks, chunksize=1))
    seconds = time.perf_counter() - start
    print(
        f"part {part}: {len(texts):,} texts in {seconds:.1f} s ({len(texts) / seconds:,.0f}/s), "
        f"{workers} workers on {len(cores)} cores",
        flush=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / f"ids-{part}.json").write_text(json.dumps(ids))
    for n, first in enumerate(range(0, len(matrix), ROWS_PER_FILE)):
        np.save(out / f"vectors-{part}-{n}.npy", matrix[first : first + ROWS_PER_FILE])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write the texts of a data directory's papers")
    ex.add_argument("data_dir", type=Path)
    ex.add_argument("out", type=Path)
    em = sub.add_parser("embed", help="embed one part of texts (on the machine with cores)")
    em.add_argument("--cache", type=Path, required=True, help="model cache holding the int8 export")
    em.add_argument("--model", type=Path, required=True, help="the model's config and tokenizer files")
    em.add_argument("--texts", type=Path, nargs="+", required=True)
    em.add_argument("--out", type=Path, required=True)
    em.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    if args.command == "export":
        for path in export(args.data_dir, args.out):
            print(path, path.stat().st_size)
    else:
        for path in args.texts:
            embed(args.cache, args.model, path, args.out, args.workers)


if __name__ == "__main__":
    main()
