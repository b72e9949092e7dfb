"""The command line: a thin shell over the library (Typer + Rich)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from paperwire import demo, digest_cli, pipeline, search_cli
from paperwire.config import Settings, load_settings
from paperwire.console import err, fail, out, print_json
from paperwire.errors import PaperwireError
from paperwire.library import Library
from paperwire.models import IngestCounts
from paperwire.sources import FORMATS
from paperwire.store import ledger, reads, transfer
from paperwire.store.database import create_engine, open_database

# Exit codes a cron job can chain on: 0 = something new arrived, NOTHING_NEW = nothing did.
NOTHING_NEW = 3

app = typer.Typer(
    help="paperwire: find, search and follow research papers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for command in search_cli.COMMANDS:
    app.command()(command)
app.command("eval")(search_cli.evaluate)
app.add_typer(digest_cli.app, name="digest")


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (database, indexes). Env: PAPERWIRE_DATA_DIR.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML settings file. Env: PAPERWIRE_CONFIG.")] = None,
    embeddings: Annotated[
        bool | None,
        typer.Option(
            "--embeddings/--no-embeddings",
            help="Semantic search with embeddings (default on), or keyword-only. Env: PAPERWIRE_EMBEDDINGS.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Global options; every command reads the settings built here."""
    try:
        ctx.obj = load_settings(config, data_dir=data_dir, embeddings=embeddings)
    except PaperwireError as exc:
        fail(exc)


def _open(ctx: typer.Context) -> tuple[Settings, sa.Engine]:
    settings: Settings = ctx.obj
    try:
        return settings, open_database(settings)
    except PaperwireError as exc:
        fail(exc)


def _summary(counts: IngestCounts, title: str) -> Table:
    table = Table(title=title, show_header=True)
    for column in ("new", "updated", "unchanged", "duplicates", "bad"):
        table.add_column(column, justify="right")
    table.add_row(*(str(getattr(counts, c)) for c in ("new", "updated", "unchanged", "duplicates", "bad")))
    return table


def _run_with_progress(
    task: str, work: Callable[[pipeline.Progress], pipeline.IngestReport], as_json: bool
) -> pipeline.IngestReport:
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=as_json, transient=False) as progress:
        bar = progress.add_task(task, total=None, counts="")

        def update(counts: IngestCounts, label: str) -> None:
            text = (
                f"{counts.seen:,} records: {counts.new:,} new, {counts.updated:,} updated, "
                f"{counts.unchanged:,} unchanged, {counts.duplicates:,} duplicates, {counts.bad:,} bad"
            )
            progress.update(bar, counts=text, description=f"{task} {Path(label).name}")

        report = work(update)
        progress.update(bar, total=1, completed=1)
    return report


def _finish(report: pipeline.IngestReport, as_json: bool, title: str) -> NoReturn:
    if as_json:
        counts = report.counts
        print_json(
            {
                "run_id": report.run_id,
                "new": counts.new,
                "updated": counts.updated,
                "unchanged": counts.unchanged,
                "duplicates": counts.duplicates,
                "bad": counts.bad,
                "bad_records": [{"location": b.location, "reason": b.reason} for b in report.bad],
            }
        )
    else:
        for bad in report.bad[:20]:
            err.print(f"[yellow]bad record[/] {escape(bad.location)}: {escape(bad.reason)}")
        if report.counts.bad > 20:
            err.print(
                f"... {report.counts.bad - 20} more bad records "
                f"(the first {ledger.MAX_ERRORS_PER_RUN:,} are kept in the ingest log, run {report.run_id})"
            )
        out.print(_summary(report.counts, title))
    raise typer.Exit(0 if report.anything_new else NOTHING_NEW)


def _prepare(ctx: typer.Context) -> Settings:
    """Open the data directory, import the demo corpus into an empty one, bring the indexes up to date."""
    settings, engine = _open(ctx)
    try:
        report = demo.ensure_demo(engine, settings)
        search_cli.sync_indexes(Library(settings, engine), quiet=False)
    except PaperwireError as exc:
        fail(exc)
    out.print(f"data directory: {settings.data_dir}")
    if report is not None:
        out.print(_summary(report.counts, "demo corpus imported"))
    return settings


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the data directory and database; import the demo corpus into an empty one."""
    _prepare(ctx)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each answers requests).", min=1)] = 1,
) -> None:
    """Start the web service (pages, REST API, feeds); an empty data directory gets the demo corpus."""
    settings = _prepare(ctx)
    from paperwire.web.serve import serve as run  # FastAPI and uvicorn load only for this command

    out.print(f"paperwire is serving on http://{host}:{port}/ (Ctrl-C stops it)")
    run(settings, host, port, workers)


@app.command()
def ingest(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(help="Files, folders or http(s) URLs.", show_default=False)],
    format_name: Annotated[
        str | None,
        typer.Option("--format", help=f"Input format, detected when omitted: {', '.join(FORMATS)}."),
    ] = None,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Update the search indexes afterwards.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    cluster: search_cli.RayOption = None,
) -> None:
    """Import papers. Exit code 0 when something new or updated arrived, 3 when nothing did.
    With --ray, records are read and normalised, and papers embedded, on a Ray cluster."""
    settings, engine = _open(ctx)
    try:
        report = _run_with_progress(
            "ingesting",
            lambda update: pipeline.ingest(engine, settings, inputs, format_name, update, cluster),
            as_json,
        )
        if index:
            search_cli.sync_indexes(Library(settings, engine), quiet=as_json, cluster=cluster)
    except PaperwireError as exc:
        fail(exc)
    _finish(report, as_json, "ingest summary")


@app.command()
def harvest(
    ctx: typer.Context,
    set_spec: Annotated[
        str | None, typer.Option("--set", help="OAI-PMH set, e.g. cs or physics:hep-th.")
    ] = None,
    metadata_prefix: Annotated[str, typer.Option("--prefix", help="arXiv or arXivRaw.")] = "arXiv",
    from_date: Annotated[
        str | None,
        typer.Option("--from", help="Start date YYYY-MM-DD (default: where the last harvest ended)."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="End date YYYY-MM-DD.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Harvest arXiv over OAI-PMH from where the last harvest stopped. Exit code as for ingest."""
    settings, engine = _open(ctx)
    try:
        report = _run_with_progress(
            "harvesting",
            lambda update: pipeline.harvest(
                engine,
                settings,
                metadata_prefix=metadata_prefix,
                set_spec=set_spec,
                from_date=from_date,
                until=until,
                progress=update,
            ),
            as_json,
        )
        search_cli.sync_indexes(Library(settings, engine), quiet=as_json)
    except PaperwireError as exc:
        fail(exc)
    _finish(report, as_json, "harvest summary")


@app.command()
def daily(
    ctx: typer.Context,
    set_spec: Annotated[
        str | None, typer.Option("--set", help="OAI-PMH set to harvest, e.g. cs (default: all of arXiv).")
    ] = None,
    harvest_new: Annotated[
        bool,
        typer.Option("--harvest/--no-harvest", help="Harvest arXiv first (off: send from what is stored)."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """The whole day in one cron line: harvest arXiv, index what arrived, then send the digests.

    A failed harvest stops here (exit 1) and sends nothing, so subscribers do not get an empty
    digest for a day whose papers never arrived; the next run harvests from where this one stopped.
    """
    settings, engine = _open(ctx)
    try:
        if harvest_new:
            report = _run_with_progress(
                "harvesting",
                lambda update: pipeline.harvest(engine, settings, set_spec=set_spec, progress=update),
                as_json,
            )
            if not as_json:
                out.print(_summary(report.counts, "harvest summary"))
        with Library(settings, engine) as library:
            search_cli.sync_indexes(library, quiet=as_json)
            sent = digest_cli.run_digest(library, None, dry_run=False, only=None)
    except PaperwireError as exc:
        fail(exc)
    digest_cli.print_report(sent, as_json, dry_run=False)


def _counts_table(title: str, counts: dict[str, int], limit: int = 15) -> Table:
    table = Table(title=title)
    table.add_column(title.split()[-1])
    table.add_column("papers", justify="right")
    for key, value in list(counts.items())[:limit]:
        table.add_row(key, f"{value:,}")
    if len(counts) > limit:
        table.add_row(f"... {len(counts) - limit} more", "")
    return table


@app.command()
def stats(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """What the store holds: papers by source, category and year, duplicate groups, collections."""
    _, engine = _open(ctx)
    with engine.connect() as conn:
        data = reads.stats(conn)
    if as_json:
        print_json(data)
        return
    out.print(
        f"[bold]{data['papers']:,}[/] papers; {data['duplicate_groups']:,} duplicate groups "
        f"holding {data['papers_in_duplicate_groups']:,} papers"
    )
    out.print(_counts_table("by source", data["by_source"]))
    out.print(_counts_table("by category", data["by_category"]))
    out.print(_counts_table("by year", data["by_year"], limit=40))
    out.print(_counts_table("in collections", data["collections"]))


@app.command()
def show(
    ctx: typer.Context,
    paper_id: Annotated[str, typer.Argument(help="Paper id, e.g. 2503.13531 or arXiv:2503.13531v2.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """One paper with all its versions, links, duplicates and signals."""
    _, engine = _open(ctx)
    try:
        with engine.connect() as conn:
            paper = reads.get_paper(conn, paper_id)
    except PaperwireError as exc:
        fail(exc)
    if as_json:
        print_json(paper)
        return
    out.print(f"[bold]{paper['title']}[/]  [dim]{paper['id']}[/]")
    out.print(", ".join(paper["authors"]) or "[dim]no authors listed[/]")
    details = [
        ("categories", " ".join(paper["categories"])),
        ("published", paper["published"] or ""),
        ("announced", paper["announced"] or ""),
        ("sources", ", ".join(paper["sources"])),
        ("versions", ", ".join(f"v{v['number']} {v['date'] or ''}".strip() for v in paper["versions"])),
    ]
    for name, value in paper["links"].items():
        details.append((name, " ".join(value) if isinstance(value, list) else value))
    for name, value in details:
        if value:
            out.print(f"[dim]{name}:[/] {value}")
    out.print()
    out.print(paper["abstract"])
    for dup in paper["duplicates"]:
        out.print(f"[dim]same work as:[/] {dup['id']} {dup['title']}")
    for col in paper["collections"]:
        out.print(f"[dim]in collection:[/] {col['name']} #{col['position']}")


@app.command("migrate")
def migrate_store(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="URL of the empty database to move to, e.g. postgresql://user:password@host/paperwire.",
        ),
    ],
) -> None:
    """Move this instance's store to another database (e.g. SQLite to PostgreSQL), then compare
    every table's row count and checksum on both sides. Stop ingest, serve and digest first."""
    settings, source = _open(ctx)
    shown = "the --to database"
    try:
        shown = sa.make_url(to).render_as_string(hide_password=True)
        target = create_engine(to)
        columns = TextColumn("{task.description}"), TextColumn("{task.completed:,} rows")
        with Progress(*columns, console=err) as bar:
            task = bar.add_task("copying")
            checks = transfer.move(
                source, target, lambda table, rows: bar.update(task, advance=rows, description=table)
            )
    except PaperwireError as exc:
        fail(exc)
    except sa.exc.DBAPIError as exc:  # the driver's own message: no SQL, no rows
        fail(
            PaperwireError(
                f"cannot use the database {shown}: {exc.orig}", hint="check the URL and the server"
            )
        )
    except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
        fail(PaperwireError(f"cannot use the database {shown}: {exc}", hint="check the URL"))
    table = Table("table", "rows here", "rows there", "checksums")
    for check in checks:
        equal = "[green]equal[/]" if check.equal else "[red]DIFFERENT[/]"
        table.add_row(check.table, f"{check.source_rows:,}", f"{check.target_rows:,}", equal)
    out.print(table)
    different = [c.table for c in checks if not c.equal]
    if different:
        fail(
            PaperwireError(
                f"the copy differs from this store in {', '.join(different)}",
                hint="was something writing to the store meanwhile? empty the target and run migrate again",
            )
        )
    out.print(
        f"Moved {sum(c.source_rows for c in checks):,} rows to {shown}; counts and checksums equal.\n"
        "Use it from now on: set PAPERWIRE_DATABASE_URL (or database_url in the settings file) to the "
        f"URL given to --to; the indexes stay in {settings.data_dir}."
    )


def main() -> None:
    """Entry point of the `paperwire` console script."""
    app()
