"""Search commands of the command line: search, related, topics, overlap, trending, reindex, eval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from paperwire.console import err, fail, out, print_json
from paperwire.errors import PaperwireError
from paperwire.library import Library
from paperwire.search.query import SORTS, Filters, SearchRequest
from paperwire.search.results import Hit, SearchResults
from paperwire.search.sync import SyncReport

T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
LimitOption = Annotated[int, typer.Option(help="How many hits.", min=1, max=200)]
RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray", metavar="ADDRESS", help="Do the work on the Ray cluster whose head is at host:port."
    ),
]


def with_library(ctx: typer.Context, work: Callable[[Library], T]) -> T:
    """Run work on the data directory's Library; a PaperwireError becomes a message and exit 1."""
    try:
        with Library(ctx.obj) as library:
            return work(library)
    except PaperwireError as exc:
        fail(exc)


def sync_indexes(
    library: Library, quiet: bool, rebuild: bool = False, cluster: str | None = None
) -> SyncReport:
    """Bring the indexes up to date with a progress bar per stage (embedding is the slow one)."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=quiet) as progress:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(f"indexing: {stage}", total=None)
            progress.advance(tasks[stage], done)

        report = library.sync(update, rebuild=rebuild, cluster=cluster)
    if not quiet and report.repaired:
        err.print(f"[yellow]repaired:[/] {', '.join(report.repaired)} (they disagreed with the store)")
    return report


def _print_hit(number: int, hit: Hit, explain: bool) -> None:
    badges = []
    if hit.links.get("code"):
        badges.append("[green]code[/]")
    if len(hit.versions) > 1:
        badges.append(f"[cyan]v{hit.versions[-1]['number']}[/]")
    if hit.duplicates:
        badges.append(f"[magenta]+{len(hit.duplicates)} duplicate{'s' * (len(hit.duplicates) > 1)}[/]")
    out.print(f"[bold]{number}. {escape(hit.title)}[/]  [dim]{escape(hit.id)}[/] {' '.join(badges)}")
    authors = ", ".join(hit.authors[:4]) + (" et al." if len(hit.authors) > 4 else "")
    out.print(f"   [dim]{escape(authors)}{'  ' if authors else ''}{(hit.published or '')[:10]}[/]")
    snippet = Text("   ")
    for text, matched in hit.snippet:
        snippet.append(text, style="bold yellow" if matched else None)
    out.print(snippet)
    if explain:
        out.print(f"   [dim]why: {escape(hit.explanation.describe())}[/]")


def search(
    ctx: typer.Context,
    query: Annotated[
        str, typer.Argument(help='Words, "phrases", -exclusions, author:, cat:, since:, until:, has:code.')
    ],
    limit: LimitOption = 10,
    offset: Annotated[int, typer.Option(help="Skip this many hits (paging).", min=0)] = 0,
    since: Annotated[str | None, typer.Option(help="Published on or after YYYY[-MM[-DD]].")] = None,
    until: Annotated[str | None, typer.Option(help="Published on or before YYYY[-MM[-DD]].")] = None,
    category: Annotated[list[str] | None, typer.Option(help="arXiv category or archive; repeatable.")] = None,
    has_code: Annotated[bool, typer.Option("--has-code", help="Only papers with a code link.")] = False,
    sort: Annotated[str, typer.Option(help=f"One of {', '.join(SORTS)}.")] = "relevance",
    mode: Annotated[str, typer.Option(help="hybrid, keyword or semantic.")] = "hybrid",
    explain: Annotated[bool, typer.Option("--explain", help="Say why each hit is where it is.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Search papers by words and by meaning."""

    def run(library: Library) -> SearchResults:
        filters = Filters(since, until, tuple(category or ()), has_code)
        return library.search(SearchRequest(query, filters, sort, limit, offset, mode))  # type: ignore[arg-type]

    results = with_library(ctx, run)
    if as_json:
        print_json(results.to_dict())
        return
    for note in results.notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    if not results.hits:
        out.print("no papers found" + (" on this page" if offset else ""))
    for number, hit in enumerate(results.hits, offset + 1):
        _print_hit(number, hit, explain)
    shown = offset + len(results.hits)
    if shown < results.total:
        err.print(f"[dim]{shown} of about {results.total}; next page: --offset {shown}[/]")


def related(
    ctx: typer.Context,
    paper_id: Annotated[str, typer.Argument(help="Paper id, e.g. 2503.13531.")],
    limit: LimitOption = 10,
    explain: Annotated[bool, typer.Option("--explain", help="Say why each paper is related.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Papers related to one paper by meaning and distinctive terms (never its own versions)."""
    hits = with_library(ctx, lambda library: library.related(paper_id, limit))
    if as_json:
        print_json([hit.to_dict() for hit in hits])
        return
    for number, hit in enumerate(hits, 1):
        _print_hit(number, hit, explain)


def topics(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="A search query, as for `paperwire search`.")],
    limit: Annotated[int, typer.Option(help="How many hits to group.", min=2, max=200)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Split a query's results into a handful of labelled topic groups."""
    groups = with_library(ctx, lambda library: library.topics(SearchRequest(query, limit=limit)))
    if as_json:
        print_json([group.to_dict() for group in groups])
        return
    for group in groups:
        out.print(f"[bold]{escape(group.label)}[/] [dim]({len(group.hits)})[/]")
        for hit in group.hits:
            out.print(f"   {escape(hit.title)}  [dim]{escape(hit.id)}[/]")


def overlap(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(help="A collection name or a search query.")],
    second: Annotated[str, typer.Argument(help="A collection name or a search query.")],
    as_json: JsonOption = False,
) -> None:
    """Which papers two collections (or searches) share, counting duplicates as one paper."""
    result = with_library(ctx, lambda library: library.overlap(first, second))
    if as_json:
        print_json(result.to_dict())
        return
    out.print(
        f"[bold]{len(result.both)}[/] shared, {len(result.only_a)} only in {escape(first)!r}, "
        f"{len(result.only_b)} only in {escape(second)!r} (Jaccard {result.jaccard:.2f})"
    )
    for title in result.both_titles:
        out.print(f"   {escape(title)}")


def trending(
    ctx: typer.Context,
    window: Annotated[str, typer.Option(help="day, week or month.")] = "week",
    category: Annotated[str | None, typer.Option(help="Only this category or archive (cs.LG, cs).")] = None,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
) -> None:
    """The papers getting the most attention (votes, saves, views, Hugging Face upvotes), newest first
    among those without any yet; the score is documented in paperwire/trending.py."""
    ranked, papers = with_library(ctx, lambda library: library.trending(window, category, limit))
    if as_json:
        print_json(
            {
                "window": ranked.window, "as_of": ranked.as_of, "category": ranked.category,
                "papers": [
                    {**asdict(entry), "title": paper["title"], "authors": paper["authors"]}
                    for entry, paper in zip(ranked.papers, papers, strict=True)
                ],
            }
        )  # fmt: skip
        return
    scope = f" in {escape(category)}" if category else ""
    out.print(f"[bold]Trending this {ranked.window}{scope}[/] [dim](as of {ranked.as_of})[/]")
    if not ranked.papers:
        out.print("nothing yet: no paper was announced, published or voted on in this window")
    for number, (entry, paper) in enumerate(zip(ranked.papers, papers, strict=True), 1):
        why = ", ".join(f"{n} {kind}{'s' * (n > 1)}" for kind, n in sorted(entry.events.items()))
        if entry.upvotes:
            why = ", ".join(filter(None, [f"{entry.upvotes} HF upvotes", why]))
        out.print(
            f"[bold]{number}. {escape(paper['title'])}[/]  [dim]{escape(paper['id'])}  "
            f"score {entry.score:.2f}{' · ' + escape(why) if why else ' · new'}[/]"
        )


def reindex(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Only bring the indexes up to date and repair differences.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Rebuild the search indexes from the store (vectors come from the embedding cache)."""
    _print_sync(
        with_library(ctx, lambda library: sync_indexes(library, quiet=as_json, rebuild=not check)), as_json
    )


def embed(
    ctx: typer.Context,
    cluster: RayOption = None,
    as_json: JsonOption = False,
) -> None:
    """Embed the papers that have no vector yet (or an outdated one), on a Ray cluster with --ray,
    and bring the search indexes up to date."""
    _print_sync(
        with_library(ctx, lambda library: sync_indexes(library, quiet=as_json, cluster=cluster)), as_json
    )


def _print_sync(report: SyncReport, as_json: bool) -> None:
    summary = {"keyword": report.keyword, "embedded": report.embedded, "vectors": report.vectors}
    if as_json:
        print_json({**summary, "repaired": report.repaired})
    else:
        out.print(", ".join(f"{name}: {count:,}" for name, count in summary.items()))


def evaluate(
    ctx: typer.Context,
    collection: Annotated[
        list[str] | None, typer.Option(help="cacm, cranfield or scifact; repeatable (default: all).")
    ] = None,
    data: Annotated[Path, typer.Option(help="Folder holding cacm/, cranfield/ and scifact/.")] = Path(
        "../shared/data"
    ),
    as_json: JsonOption = False,
) -> None:
    """Retrieval quality (nDCG@10, recall@100, MRR) of keyword, semantic and hybrid search."""
    from paperwire.evaluation.run import COLLECTIONS, run_evaluation

    try:
        tables = run_evaluation(
            ctx.obj, data, tuple(collection or COLLECTIONS), lambda lib: sync_indexes(lib, quiet=as_json)
        )
    except PaperwireError as exc:
        fail(exc)
    if as_json:
        print_json(tables)
        return
    from paperwire.evaluation.metrics import format_table

    for name, results in tables.items():
        out.print(format_table(results, title=name))


COMMANDS = (search, related, topics, overlap, trending, reindex, embed)
