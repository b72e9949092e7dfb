"""Ray: an ingest's batches and the embeddings made on a cluster, stored here as they arrive.

The cluster only computes; this process (the driver) keeps writing through the same store and index
code as a single-process run, in the same order, so the results are the same: the batches are
those `batches()` makes for one process (numbered, each cluster task making a run of them), and
each embedding task embeds the very list of texts a local sync would. Ray runs a task again
elsewhere when its node dies, and a task's result is stored once, in order: nothing is lost or
stored twice. A driver that dies is simply run again: ingest and embedding are idempotent and skip
what is already stored.

Every node needs paperwire installed, and the input files at the same path (a shared file system).
"""

from __future__ import annotations

import functools
import itertools
import logging
import socket
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from paperwire.batches import Batch, RecentPrints, Work, batches
from paperwire.errors import ConfigError, InputError
from paperwire.search.sync import EmbedMany

if TYPE_CHECKING:
    from paperwire.search.embed import Embedder

# Store batches (of ingest_batch_size records) one ingest task makes. A task reads its inputs from
# the start, skipping the records of earlier batches unparsed (JSON lines: about 1 GB/s), so the
# reading repeats once per task: 8 batches of 2,000 make some 170 tasks for all of arXiv, a few
# percent of the cluster's work beside embedding it.
BATCHES_PER_TASK = 8
IN_FLIGHT_PER_CPU = 2  # tasks queued per cluster CPU: every worker has its next one waiting
RETRIES = 3  # times Ray runs a task again after its worker or node died


def connect(address: str) -> Any:
    """The ray module, joined to the cluster at `address` (host:port of its head node)."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "Ray is not installed", hint="install it with: pip install 'paperwire[ray]'"
        ) from exc
    if not ray.is_initialized():
        _reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"cannot join the Ray cluster at {address}: {exc}",
                hint="start one with `ray start --head`, and give its address as host:port",
            ) from exc
    return ray


def _reachable(address: str) -> None:
    """Fail at once on an address nothing listens on (Ray itself would retry for minutes)."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"no Ray cluster answers at {address}: {exc}",
            hint="start one with `ray start --head` and give its head's address as host:port",
        ) from exc


def _in_order(ray: Any, calls: Iterable[Callable[[], Any]]) -> Generator[Any, None, None]:
    """The results of the calls (each submits one task), in their order, with a few tasks ahead
    of the caller; the tasks still running when the caller stops are cancelled."""
    window = max(1, int(ray.cluster_resources().get("CPU", 1))) * IN_FLIGHT_PER_CPU
    pending: deque[Any] = deque()
    try:
        for call in calls:
            pending.append(call())
            if len(pending) >= window:
                yield _result(ray, pending.popleft())
        while pending:
            yield _result(ray, pending.popleft())
    finally:
        for ref in pending:
            if isinstance(ref, ray.ObjectRef):
                ray.cancel(ref)


def _result(ray: Any, ref: Any) -> Any:
    return ray.get(ref) if isinstance(ref, ray.ObjectRef) else ref


# -- ingest --------------------------------------------------------------------------------------


def _make_batches(work: Work, first: int, stop: int) -> list[Batch]:
    """The store batches numbered first..stop-1 (fewer where the input ends), fingerprinted."""
    made = list(batches(work, first=first, stop=stop))
    prints = RecentPrints()
    for batch in made:
        batch.prints = prints.of(batch.papers)
    return made


def batches_on(address: str, work: Work) -> Generator[Batch, None, None]:
    """batches(work), made by tasks on the Ray cluster at `address`: the same batches in the same
    order, BATCHES_PER_TASK to a task, a few tasks ahead of the caller."""
    if any(urlparse(item).scheme in ("http", "https") for item in work.inputs):
        raise InputError(
            "an ingest on a cluster reads files, not URLs",
            hint="download the files to a folder every node sees, then ingest that",
        )
    ray = connect(address)
    task = ray.remote(max_retries=RETRIES, retry_exceptions=False)(_make_batches)
    work = Work([str(Path(item).resolve()) for item in work.inputs], work.format_name, work.size,
                work.http, work.workdir)  # fmt: skip
    runs = (functools.partial(task.remote, work, n, n + BATCHES_PER_TASK)
            for n in itertools.count(0, BATCHES_PER_TASK))  # fmt: skip
    with closing(_in_order(ray, runs)) as made_by_tasks:
        for made in made_by_tasks:
            yield from made
            if len(made) < BATCHES_PER_TASK:  # the input ended in this task's run
                return


# -- embedding -----------------------------------------------------------------------------------


@functools.cache
def _node_embedder(model: str | None, backend: str, models_dir: str, batch_size: int) -> Embedder:
    """The embedder of a cluster worker process, loaded by its first task and kept for the next."""
    from paperwire.search.embed import load_embedder

    return load_embedder(model, backend, Path(models_dir), batch_size)


def _embed_texts(model: str | None, backend: str, models_dir: str, size: int, texts: list[str]) -> Any:
    return _node_embedder(model, backend, models_dir, size).embed(texts)


def embed_on(address: str, model: str | None, backend: str, models_dir: Path, batch_size: int) -> EmbedMany:
    """Each list of texts embedded by a task on the Ray cluster, results in order; a GPU per task
    where the cluster has GPUs and the backend can use one (torch)."""
    ray = connect(address)
    gpus = 1 if backend == "torch" and ray.cluster_resources().get("GPU", 0) >= 1 else 0
    task = ray.remote(max_retries=RETRIES, retry_exceptions=False, num_gpus=gpus)(_embed_texts)

    def embed_many(texts: Iterable[list[str]]) -> Iterator[np.ndarray]:
        def call(batch: list[str]) -> Callable[[], Any]:  # a list with nothing to embed costs no task
            if not batch:
                return lambda: np.zeros((0, 0), dtype=np.float32)
            return functools.partial(task.remote, model, backend, str(models_dir), batch_size, batch)

        return _in_order(ray, map(call, texts))

    return embed_many
