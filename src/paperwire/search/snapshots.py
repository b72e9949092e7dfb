"""Published index snapshots: the keyword and vector indexes that searches read, switched together.

`index/snapshots/<NNNNNN>/` holds one snapshot: `keyword/` (Tantivy) and `vectors/` (usearch);
`index/CURRENT` names the published one. A sync builds the next snapshot as a draft beside it, made
of hard links to the published one's files (neither index ever changes a file in place: both write
new files and rename them over old ones, which only replaces the draft's link), changes the draft,
then publishes it by replacing CURRENT atomically. A reader looks at CURRENT before each search (one
stat) and opens a newly published snapshot whole before it switches to it, so a search reads one
snapshot from start to end, and searches go on while another one is published. A process keeps
reading a snapshot it opened even after it has been pruned (its files stay until closed).

The search record in the store (`search_docs`) follows the newest snapshot, draft included: a sync
that dies leaves its draft, and the next sync carries on with that draft, then publishes it.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from paperwire.errors import ConfigError
from paperwire.locks import file_lock
from paperwire.search.keyword import KeywordIndex
from paperwire.search.vectors import VectorIndex

KEEP = 3  # published snapshots kept on disk: the current one and the two before it
_NOT_LINKED = shutil.ignore_patterns(".tantivy-*.lock", "*.tmp")  # locks and half-written files


def _link(source: str, target: str) -> None:
    """A hard link (no bytes copied); a copy where the file system has none."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _fsync_directory(path: Path) -> None:
    """Make the renames in a folder durable (a power cut could otherwise undo them)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Snapshot:
    """One snapshot's indexes; the vector index is opened when first asked for (it needs the model)."""

    def __init__(self, directory: Path, title_boost: float) -> None:
        self.directory = directory
        self.name = directory.name
        self.keyword = KeywordIndex(directory / "keyword", title_boost)
        self._vectors: VectorIndex | None = None
        self._lock = threading.Lock()

    def vectors(self, model_id: str, dim: int) -> VectorIndex:
        with self._lock:
            if self._vectors is None or (self._vectors.model_id, self._vectors.dim) != (model_id, dim):
                self._vectors = VectorIndex(self.directory / "vectors", model_id, dim)
            return self._vectors

    def close(self) -> None:
        self.keyword.close()


class Snapshots:
    """The snapshots of one index directory: the published one for readers, drafts for the sync."""

    def __init__(self, index_dir: Path, title_boost: float) -> None:
        self.index_dir, self.title_boost = index_dir, title_boost
        self.root = index_dir / "snapshots"
        self.pointer = index_dir / "CURRENT"
        self._held: tuple[tuple[int, int], Snapshot] | None = None
        self._lock = threading.Lock()
        self._ensure()

    def _ensure(self) -> None:
        """Publish a first snapshot: the indexes of an older paperwire (index/keyword, index/vectors)
        moved into it, or empty ones."""
        if self.pointer.exists():
            return
        with file_lock(self.index_dir / "snapshots.lock"):
            if self.pointer.exists():
                return
            # a pointer lost while snapshots remain: the newest of them (the numbers go on from it)
            existing = sorted(p.name for p in self.root.glob("[0-9]*") if p.is_dir())
            first = self.root / (existing[-1] if existing else f"{1:06d}")
            first.mkdir(parents=True, exist_ok=True)
            for part in ("keyword", "vectors"):
                if (self.index_dir / part).is_dir() and not (first / part).exists():
                    (self.index_dir / part).rename(first / part)
            Snapshot(first, self.title_boost).close()  # an empty keyword index where there was none
            self._point_to(first.name)

    def _point_to(self, name: str) -> None:
        """Switch CURRENT to the snapshot, durably: its folder, then the pointer, then its folder."""
        _fsync_directory(self.root)
        temporary = self.pointer.with_name("CURRENT.tmp")
        with temporary.open("w") as handle:
            handle.write(name)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.pointer)
        _fsync_directory(self.index_dir)

    def published(self) -> str:
        return self.pointer.read_text().strip()

    # -- reading ---------------------------------------------------------------------------------

    def current(self) -> Snapshot:
        """The published snapshot, opened again only when another one has been published."""
        stat = self.pointer.stat()
        stamp = (stat.st_ino, stat.st_mtime_ns)
        held = self._held
        if held is not None and held[0] == stamp:
            return held[1]
        with self._lock:
            if self._held is None or self._held[0] != stamp:
                directory = self.root / self.published()
                if not directory.is_dir():  # never create an empty index where a snapshot should be
                    raise ConfigError(
                        f"the published index snapshot {directory} is missing",
                        hint="rebuild the indexes with `paperwire reindex`",
                    )
                self._held = (stamp, Snapshot(directory, self.title_boost))
            return self._held[1]

    def close(self) -> None:
        if self._held is not None:
            self._held[1].close()

    # -- writing (under the sync lock) -----------------------------------------------------------

    def draft(self) -> tuple[Snapshot, bool]:
        """The next snapshot to change, and whether it is one a dead sync left (to be published
        whatever this sync finds: the search record already counts what it holds)."""
        name = f"{int(self.published()) + 1:06d}"
        target = self.root / name
        resumed = target.is_dir()
        if not resumed:
            building = self.root / f".building-{name}"
            shutil.rmtree(building, ignore_errors=True)
            shutil.copytree(self.root / self.published(), building, copy_function=_link, ignore=_NOT_LINKED)
            building.rename(target)
        return Snapshot(target, self.title_boost), resumed

    def publish(self, draft: Snapshot) -> None:
        """Make the draft the snapshot every reader switches to, and prune the oldest ones."""
        draft.close()
        self._point_to(draft.name)
        published = sorted(p.name for p in self.root.iterdir() if p.name.isdigit() and p.name <= draft.name)
        for old in published[:-KEEP]:
            shutil.rmtree(self.root / old, ignore_errors=True)

    def discard(self, draft: Snapshot) -> None:
        """Remove a draft that changed nothing (renamed first: a half-deleted draft is never resumed)."""
        draft.close()
        doomed = self.root / f".discarded-{draft.name}"
        shutil.rmtree(doomed, ignore_errors=True)
        draft.directory.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
