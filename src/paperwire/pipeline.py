"""Ingest: sources -> normalise -> store, in batches that commit whole or not at all.

A killed ingest leaves every committed batch complete and nothing of the next one; running it again
stores the rest and finds the rest unchanged, so the result equals one uninterrupted run. Large
inputs are read and normalised in a child process (batches.py) while this one writes: only this
process touches the store, and batches commit in the order the records came.
"""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import sqlalchemy as sa

from paperwire.batches import Batch, Batcher, Work, batches, made_elsewhere
from paperwire.config import Settings
from paperwire.errors import InputError
from paperwire.models import BadRecord, IngestCounts
from paperwire.sources import oai_pmh, reader
from paperwire.sources.http import HttpOptions
from paperwire.store import ledger
from paperwire.store.papers import write_batch

Progress = Callable[[IngestCounts, str], None]
BACKGROUND_BYTES = 4 << 20  # inputs larger than this are read and normalised in a second process


@dataclass(slots=True)
class IngestReport:
    """The outcome of one ingest or harvest run."""

    run_id: int
    counts: IngestCounts = field(default_factory=IngestCounts)
    bad: list[BadRecord] = field(default_factory=list)  # the first ones, for display

    @property
    def anything_new(self) -> bool:
        return self.counts.new > 0 or self.counts.updated > 0


def http_options(settings: Settings) -> HttpOptions:
    """The remote-request policy from the settings."""
    return HttpOptions(
        timeout=settings.http_timeout,
        retries=settings.http_retries,
        max_wait=settings.http_max_wait,
        user_agent=settings.http_user_agent,
    )


def resolve_inputs(inputs: Iterable[str]) -> list[str]:
    """Expand folders into their files (sorted) and check every path exists, before any work."""
    resolved: list[str] = []
    for item in inputs:
        if urlparse(item).scheme in ("http", "https"):
            resolved.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            resolved += sorted(str(p) for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            resolved.append(str(path))
        else:
            raise InputError(f"no such file or folder: {item}", hint="check the path, or give an http(s) URL")
    if not resolved:
        raise InputError("nothing to ingest", hint="give at least one file, folder or URL")
    return resolved


class _Writer:
    """Commits batches, counting what they changed in the report and in the run ledger."""

    def __init__(self, settings: Settings, report: IngestReport, progress: Progress | None) -> None:
        self.settings = settings
        self.report = report
        self.progress = progress

    def write(self, conn: sa.Connection, batch: Batch) -> None:
        """Write a batch inside the caller's transaction."""
        threshold = self.settings.dedup_threshold
        counts = write_batch(conn, batch.papers, batch.prints, threshold, ledger.utcnow())
        counts.bad += len(batch.bad)
        ledger.add_counts(conn, self.report.run_id, counts, batch.bad)
        self.report.counts.add(counts)
        room = 100 - len(self.report.bad)
        self.report.bad += batch.bad[: max(room, 0)]
        if self.progress:
            self.progress(self.report.counts, batch.label)


@contextmanager
def _recorded_run(engine: sa.Engine, kind: str, inputs: list[str]) -> Iterator[IngestReport]:
    """Log a run in the ingest ledger: running, then finished, or failed with the error."""
    with engine.begin() as conn:
        report = IngestReport(ledger.start_run(conn, kind, inputs))
    try:
        yield report
    except BaseException as exc:
        with engine.begin() as conn:
            ledger.finish_run(conn, report.run_id, "failed", str(exc) or type(exc).__name__)
        raise
    with engine.begin() as conn:
        ledger.finish_run(conn, report.run_id, "finished")


def ingest(
    engine: sa.Engine,
    settings: Settings,
    inputs: Iterable[str],
    format_name: str | None = None,
    progress: Progress | None = None,
    cluster: str | None = None,
) -> IngestReport:
    """Ingest files, folders or URLs into the store; returns the counts and the first bad records.
    With `cluster` (host:port of a Ray cluster's head), the batches are made there."""
    items = resolve_inputs(inputs)
    if format_name is not None:
        reader(format_name)  # an unknown name fails here, before a run is recorded
    with _recorded_run(engine, "ingest", items) as report, tempfile.TemporaryDirectory() as workdir:
        writer = _Writer(settings, report, progress)
        work = Work(items, format_name, settings.ingest_batch_size, http_options(settings), Path(workdir))
        # child processes make the next batches while this one writes: worth their start-up
        # (~0.4 s) when there are more than a few batches
        if cluster is not None:
            from paperwire.cluster import batches_on

            made = batches_on(cluster, work)
        elif _large(items):
            made = made_elsewhere(work, _makers(items, settings.ingest_processes))
        else:
            made = batches(work)
        with closing(made), _long_lived_frozen():
            for batch in made:
                with engine.begin() as conn:
                    writer.write(conn, batch)
    return report


@contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects that exist before a run (modules, SQLAlchemy,
    the CLI): each batch leaves enough objects to start a full collection every batch or two, and
    rescanning all of them took ~20% of the time of writing batches."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _makers(items: list[str], wanted: int) -> int:
    """How many processes make batches: as many as wanted; by default two where the cores are not
    all busy already (two cores or more, load average below their number): together they are still
    the slower side, but the second costs ~10% more CPU, a loss where there is none to spare
    (bench/RESULTS.md: two won at load 0.9-1.5, lost at 2.2-5.3 on 2 cores). One for URLs (each
    would download them again)."""
    if any(urlparse(item).scheme in ("http", "https") for item in items):
        return 1
    if wanted:
        return wanted
    cores = os.cpu_count() or 1
    return 2 if cores >= 2 and os.getloadavg()[0] < cores else 1


def _large(items: list[str]) -> bool:
    """Whether inputs are worth a second process: any URL, or files of more than BACKGROUND_BYTES."""
    if any(urlparse(item).scheme in ("http", "https") for item in items):
        return True
    return sum(Path(item).stat().st_size for item in items) > BACKGROUND_BYTES


def harvest_source_name(metadata_prefix: str, set_spec: str | None) -> str:
    """The name under which an OAI-PMH harvest keeps its cursor."""
    return f"oai-pmh:{metadata_prefix}:{set_spec or 'all'}"


def harvest(
    engine: sa.Engine,
    settings: Settings,
    *,
    metadata_prefix: str = "arXiv",
    set_spec: str | None = None,
    from_date: str | None = None,
    until: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Harvest arXiv OAI-PMH from where the last harvest of this set stopped; resumable page by page."""
    source = harvest_source_name(metadata_prefix, set_spec)
    with engine.begin() as conn:
        saved = ledger.get_cursor(conn, source)
    cursor = oai_pmh.HarvestCursor.from_dict(saved) if saved else None
    if from_date is not None:
        cursor = oai_pmh.HarvestCursor(from_date=from_date, resumption_token=None)
    with _recorded_run(engine, "harvest", [settings.oai_url, source]) as report:
        writer = _Writer(settings, report, progress)
        batcher = Batcher(settings.ingest_batch_size)
        pages = oai_pmh.harvest(
            settings.oai_url,
            http_options(settings),
            metadata_prefix=metadata_prefix,
            set_spec=set_spec,
            cursor=cursor,
            until=until,
        )
        for page in pages:
            for record in page.records:
                batcher.add(record)
            # the page's records and the cursor past them commit together: a crash loses neither
            with engine.begin() as conn:
                writer.write(conn, batcher.take(page.url))
                ledger.save_cursor(conn, source, page.cursor.to_dict())
    return report
