"""The vector index: usearch HNSW over float16 vectors, cosine metric, persisted as one file.

Writers load it fully, change it and save it atomically (a new file renamed over the old one);
readers memory-map the file of the snapshot they opened (see snapshots.py), which never changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  # must load before usearch: importing it after usearch segfaults
from usearch.index import Index

CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 400  # recall@10 0.968 against exact at 100k real abstracts (bench/HNSW.md)


@dataclass(frozen=True)
class VectorHit:
    key: int
    similarity: float  # cosine


class VectorIndex:
    """usearch HNSW in `<dir>/vectors.usearch` with a sidecar `vectors.json` naming model and size."""

    def __init__(self, directory: Path, model_id: str, dim: int) -> None:
        self.path = directory / "vectors.usearch"
        self.meta_path = directory / "vectors.json"
        self.model_id, self.dim = model_id, dim
        self._index: Index | None = None
        self._writable = False

    def _new(self) -> Index:
        return Index(
            ndim=self.dim, metric="cos", dtype="f16", connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH, multi=False,
        )  # fmt: skip

    def matches_model(self) -> bool:
        """Whether the saved index holds vectors of this model (False when there is none)."""
        try:
            meta = json.loads(self.meta_path.read_text())
        except (FileNotFoundError, ValueError):
            return False
        return bool(meta.get("model") == self.model_id and meta.get("dim") == self.dim)

    def _reader(self) -> Index:
        """The index for searching: the saved file, mapped (or the one being written)."""
        if self._index is None:
            index = self._new()
            if self.path.exists() and self.matches_model():
                index.view(str(self.path))
            self._index = index
        return self._index

    def _writer(self) -> Index:
        if not self._writable:
            index = self._new()
            if self.path.exists() and self.matches_model():
                index.load(str(self.path))
            self._index, self._writable = index, True
        assert self._index is not None
        return self._index

    def __len__(self) -> int:
        return len(self._reader())

    def upsert(self, keys: Sequence[int], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        index = self._writer()
        key_array = np.asarray(keys, dtype=np.uint64)
        present = key_array[index.contains(key_array)] if len(index) else key_array[:0]
        if len(present):
            index.remove(present)
        index.add(key_array, np.asarray(vectors, dtype=np.float32))

    def clear(self) -> None:
        self._index, self._writable = self._new(), True

    def save(self) -> None:
        """Write the index and its sidecar atomically; readers switch on their next search."""
        if not self._writable or self._index is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        self._index.save(str(tmp))
        with tmp.open("rb") as written:  # on disk before it is renamed into place
            os.fsync(written.fileno())
        meta_tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        meta_tmp.write_text(json.dumps({"model": self.model_id, "dim": self.dim, "count": len(self._index)}))
        meta_tmp.replace(self.meta_path)
        tmp.replace(self.path)

    def get(self, key: int) -> np.ndarray | None:
        index = self._reader()
        if not len(index) or not index.contains(key):
            return None
        return np.asarray(index.get(key), dtype=np.float32)

    def search(self, vector: np.ndarray, limit: int) -> list[VectorHit]:
        index = self._reader()
        if not len(index):
            return []
        matches = index.search(np.asarray(vector, dtype=np.float32), limit, threads=1)
        return [
            VectorHit(int(key), 1.0 - float(distance))
            for key, distance in zip(matches.keys, matches.distances, strict=True)
        ]
