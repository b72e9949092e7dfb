"""Inputs -> batches to store: normalised papers with their fingerprints, and the bad records.

Reading, normalising and fingerprinting cost two to three times as much as storing, so a large
ingest makes its batches in child processes (`made_elsewhere`), taking turns batch by batch, while
the parent stores the batches before. Each pipe holds at most one batch, so memory stays flat. A
child never touches the store and stops when the parent does, killed or not (its pipe breaks), so
nothing outlives an ingest. A child also fingerprints its batches while the parent is the busier,
and leaves that to the parent's write_batch() while it is not.
"""

from __future__ import annotations

import functools
import itertools
import os
import pickle
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import urlparse

from paperwire import dedup
from paperwire.models import BadRecord, Paper, RawRecord
from paperwire.normalize import Normalizer
from paperwire.sources import detect_format, jsonl, reader
from paperwire.sources.http import HttpOptions, download

REMEMBERED_TEXTS = 4096  # fingerprints kept for texts that recur (cross-listed papers)
_PROBE = 1 << 17  # bytes: more than a pipe holds, so writing them waits for the reader


@dataclass(slots=True)
class Batch:
    """What one transaction stores."""

    papers: list[Paper]
    bad: list[BadRecord]
    label: str  # the input its last record came from, for progress reports
    prints: dedup.Prints | None = None  # of the papers, in their order; None: the writer makes them


class Batcher:
    """Collects records into batches; a record seen recently is not normalised again."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.papers: list[Paper] = []
        self.bad: list[BadRecord] = []
        self._normalize = Normalizer()

    def add(self, record: RawRecord | BadRecord) -> None:
        if isinstance(record, RawRecord):
            try:
                self.papers.append(self._normalize(record))
            except Exception as exc:  # a bug on one odd record must not stop a million-record ingest
                self.bad.append(BadRecord(record.location, f"cannot normalise: {exc!r}"))
        else:
            self.bad.append(record)

    @property
    def full(self) -> bool:
        return len(self.papers) + len(self.bad) >= self.size

    def take(self, label: str) -> Batch:
        """The batch collected so far (possibly empty); the next one starts empty."""
        batch = Batch(self.papers, self.bad, label)
        self.papers, self.bad = [], []
        return batch


class RecentPrints:
    """Fingerprints of the papers of batches; a text seen recently is not fingerprinted again."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], dedup.Fingerprint] = {}

    def of(self, papers: list[Paper]) -> dedup.Prints:
        texts = [(paper.title, paper.abstract) for paper in papers]
        known = {text: self._known[text] for text in texts if text in self._known}
        todo = list(dict.fromkeys(text for text in texts if text not in known))
        made = dedup.fingerprints([title for title, _ in todo], [abstract for _, abstract in todo])
        known.update(zip(todo, made, strict=True))
        for text, fingerprint in zip(todo, made, strict=True):
            if len(self._known) >= REMEMBERED_TEXTS:
                del self._known[next(iter(self._known))]  # the oldest
            self._known[text] = fingerprint
        return dedup.Prints.of([known[text] for text in texts])


def _records(
    inputs: list[str],
    format_name: str | None,
    options: HttpOptions,
    workdir: Path,
    wanted: Callable[[], bool] = jsonl.always,
) -> Iterator[tuple[str, RawRecord | BadRecord]]:
    """The records of the inputs; where `wanted()` says no, JSON lines yield jsonl.SKIPPED unread
    (other formats read every record)."""
    for item in inputs:
        if urlparse(item).scheme in ("http", "https"):
            path = download(item, options, workdir / f"download-{len(list(workdir.iterdir()))}")
        else:
            path = Path(item)
        name = format_name or detect_format(path)
        read = functools.partial(jsonl.read, wanted=wanted) if name == jsonl.FORMAT else reader(name)
        for record in read(path):
            yield item, record


@dataclass(slots=True)
class Work:
    """What to read, and how, for batches(): plain values, so that it pickles."""

    inputs: list[str]  # files and URLs
    format_name: str | None  # None: detect each file's format
    size: int  # records per batch
    http: HttpOptions
    workdir: Path  # where downloads go


def batches(
    work: Work, part: int = 0, parts: int = 1, first: int = 0, stop: int | None = None
) -> Generator[Batch, None, None]:
    """The batches of the records read from the inputs, the last one possibly empty; of them, only
    every `parts`-th from the `part`-th on (batch numbers counted from 0), and only those numbered
    from `first` to before `stop`: the others are read and counted, never normalised (JSON lines
    not even parsed), so that several processes (or cluster tasks) can share the work of one input."""
    batcher = Batcher(work.size)
    label = work.inputs[0]
    number = skipped = 0  # the batch being collected; records of another part's batch in it so far

    def ours() -> bool:  # whether the next record belongs to one of this part's batches
        return number % parts == part and number >= first and (stop is None or number < stop)

    for label, record in _records(work.inputs, work.format_name, work.http, work.workdir, ours):
        if stop is not None and number >= stop:
            return
        if not ours():
            # every record counts once towards a batch's size, normalisable or not (see Batcher)
            skipped += 1
            if skipped >= work.size:
                number, skipped = number + 1, 0
            continue
        batcher.add(record)
        if batcher.full:
            yield batcher.take(label)
            number += 1
    if ours():
        yield batcher.take(label)


def made_elsewhere(work: Work, makers: int = 1) -> Generator[Batch, None, None]:
    """batches(work), made in `makers` child processes while the caller works on the last one:
    batch i by child i % makers, each child reading all the inputs. Only for local files when
    makers > 1 (each child would download a URL again).

    An exception in a child is raised here, after the batches made before it.
    """
    # fresh interpreters (not fork, not multiprocessing): they inherit no threads or connections,
    # and they never re-run the caller's main module
    command = [sys.executable, "-c", "from paperwire.batches import serve; serve()"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    children: list[subprocess.Popen[bytes]] = []
    try:
        for part in range(makers):
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            children.append(child)
            with cast(BinaryIO, child.stdin) as sending:
                pickle.dump((work, part, makers), sending, protocol=pickle.HIGHEST_PROTOCOL)
        for number in itertools.count():
            child = children[number % makers]
            try:
                message = pickle.load(cast(BinaryIO, child.stdout))
            except (EOFError, pickle.UnpicklingError):
                raise RuntimeError(f"the process making batches stopped (exit code {child.wait()})") from None
            if isinstance(message, _Failure):
                raise message.error from ChildError(message.trace)
            if message is None:  # the batch before was the last one
                break
            yield message
    finally:
        for child in children:
            cast(BinaryIO, child.stdout).close()  # a child still sending gets a broken pipe and stops
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:  # busy reading a huge record, or a download
                child.kill()
                child.wait()


class ChildError(Exception):
    """The traceback, in the child process, of an exception raised again in the parent."""


@dataclass(slots=True)
class _Failure:
    error: BaseException
    trace: str


def serve() -> None:
    """The child's side of made_elsewhere(): (Work, part, parts) from stdin, pickled batches to
    stdout, then None."""
    sending = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what anything prints goes to stderr, not into the batches
    try:
        work, part, parts = pickle.load(sys.stdin.buffer)
        prints = RecentPrints()
        waited = spent = 0.0  # so far: waiting for the parent to take a batch; fingerprinting
        for batch in batches(work, part, parts):
            # Fingerprints take ~30% of the work here. Make them here with the time the parent has
            # kept this process waiting, and leave the rest to the parent (results are the same):
            # the two processes share the work of a corpus whichever of them is busier with it.
            if waited >= spent:
                started = time.process_time()
                batch.prints = prints.of(batch.papers)
                spent += time.process_time() - started
            waited += _send(sending, batch)
        _send(sending, None)
    except BrokenPipeError:  # the parent stopped listening: it failed or was killed
        os._exit(0)  # no flush at exit, which would fail the same way
    except BaseException as exc:
        failure = _Failure(exc, traceback.format_exc())
        try:
            message = pickle.dumps(failure, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.loads(message)  # some exceptions pickle but cannot be rebuilt from their args
        except Exception:
            message = pickle.dumps(_Failure(RuntimeError(f"{exc!r}"), failure.trace))
        try:
            sending.write(message)
            sending.flush()
        except OSError:
            os._exit(1)


def _send(sending: BinaryIO, message: Batch | None) -> float:
    """Send a message; returns the seconds spent waiting for the parent to start taking it."""
    data = memoryview(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    started = time.perf_counter()
    sending.write(data[:_PROBE])  # done once the parent starts reading, whatever it does next
    sending.flush()
    waited = time.perf_counter() - started
    sending.write(data[_PROBE:])
    sending.flush()
    return waited
