"""Ingest: sources -> normalise -> store, in batches that commit whole or not at all.

A killed ingest leaves every committed batch complete and nothing of the next one; running it again
stores the rest and finds the rest unchanged, so the result equals one uninterrupted run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import sqlalchemy as sa

from paperwire import dedup
from paperwire.config import Settings
from paperwire.errors import InputError
from paperwire.models import BadRecord, IngestCounts, Paper, RawRecord
from paperwire.normalize import normalize
from paperwire.sources import detect_format, oai_pmh, reader
from paperwire.sources.http import HttpOptions, download
from paperwire.store import ledger
from paperwire.store.papers import write_batch

Progress = Callable[[IngestCounts, str], None]


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


def _records(
    inputs: list[str], format_name: str | None, settings: Settings, workdir: Path
) -> Iterator[tuple[str, RawRecord | BadRecord]]:
    for item in inputs:
        if urlparse(item).scheme in ("http", "https"):
            path = download(
                item, http_options(settings), workdir / f"download-{len(list(workdir.iterdir()))}"
            )
        else:
            path = Path(item)
        read = reader(format_name or detect_format(path))
        for record in read(path):
            yield item, record


class _Writer:
    """Collects normalised papers and bad records; commits them batch by batch."""

    def __init__(self, settings: Settings, report: IngestReport, progress: Progress | None) -> None:
        self.settings = settings
        self.report = report
        self.progress = progress
        self.papers: list[Paper] = []
        self.bad: list[BadRecord] = []

    def add(self, record: RawRecord | BadRecord) -> None:
        if isinstance(record, RawRecord):
            try:
                self.papers.append(normalize(record))
            except Exception as exc:  # a bug on one odd record must not stop a million-record ingest
                self.bad.append(BadRecord(record.location, f"cannot normalise: {exc!r}"))
        else:
            self.bad.append(record)

    @property
    def full(self) -> bool:
        return len(self.papers) + len(self.bad) >= self.settings.ingest_batch_size

    def flush(self, conn: sa.Connection, label: str) -> None:
        """Write what is collected, inside the caller's transaction."""
        prints = dedup.fingerprints([p.title for p in self.papers], [p.abstract for p in self.papers])
        threshold = self.settings.dedup_threshold
        counts = write_batch(conn, self.papers, dedup.Prints.of(prints), threshold, ledger.utcnow())
        counts.bad += len(self.bad)
        ledger.add_counts(conn, self.report.run_id, counts, self.bad)
        self.report.counts.add(counts)
        room = 100 - len(self.report.bad)
        self.report.bad += self.bad[: max(room, 0)]
        self.papers, self.bad = [], []
        if self.progress:
            self.progress(self.report.counts, label)


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
) -> IngestReport:
    """Ingest files, folders or URLs into the store; returns the counts and the first bad records."""
    items = resolve_inputs(inputs)
    if format_name is not None:
        reader(format_name)  # an unknown name fails here, before a run is recorded
    with _recorded_run(engine, "ingest", items) as report, tempfile.TemporaryDirectory() as workdir:
        writer = _Writer(settings, report, progress)
        label = items[0]
        for label, record in _records(items, format_name, settings, Path(workdir)):
            writer.add(record)
            if writer.full:
                with engine.begin() as conn:
                    writer.flush(conn, label)
        with engine.begin() as conn:
            writer.flush(conn, label)
    return report


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
                writer.add(record)
            # the page's records and the cursor past them commit together: a crash loses neither
            with engine.begin() as conn:
                writer.flush(conn, page.url)
                ledger.save_cursor(conn, source, page.cursor.to_dict())
    return report
