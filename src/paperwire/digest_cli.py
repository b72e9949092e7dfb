"""Digest commands of the command line: `paperwire digest run | preview | subscribe`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from paperwire.console import err, fail, out, print_json
from paperwire.digest.service import Digests, RunReport
from paperwire.digest.subscribers import Preferences
from paperwire.errors import InputError, PaperwireError
from paperwire.library import Library

app = typer.Typer(help="The email digest: send it, preview it, subscribe an address.", no_args_is_help=True)
AtOption = Annotated[
    str | None, typer.Option("--at", help="Act as if it were this UTC time (ISO 8601); default: now.")
]


def _moment(at: str | None) -> datetime | None:
    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError as exc:
        raise InputError(
            f"--at {at!r} is not a date-time", hint="use ISO 8601, e.g. 2026-11-21T07:00"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_digest(library: Library, at: str | None, dry_run: bool, only: str | None) -> RunReport:
    return Digests(library).run(_moment(at), dry_run=dry_run, only=only)


def print_report(report: RunReport, as_json: bool, dry_run: bool) -> None:
    delivery = report.delivery
    figures = {
        "due": report.due, "composed": report.composed, "notes": report.notes,
        "nothing_new": report.nothing_new, "already_done": report.already_done, "sent": delivery.sent,
        "deferred": delivery.deferred, "failed": delivery.failed, "disabled": delivery.disabled,
        "resent": delivery.resent, "error": delivery.error,
    }  # fmt: skip
    previews = [
        {"to": c.email.recipient, "subject": c.email.subject, "papers": [pid for pid, _ in c.items]}
        for c in report.previews
        if c.email is not None
    ]
    if dry_run:
        figures["would_send"] = len(previews)
    if as_json:
        print_json({**figures, "previews": previews} if dry_run else figures)
        return
    table = Table(title="digest run" + (" (dry run: nothing stored or sent)" if dry_run else ""))
    for name in figures:
        table.add_column(name.replace("_", " "), justify="right")
    table.add_row(*(str(v) for v in figures.values()))
    out.print(table)
    if dry_run:
        for c in report.previews:
            if c.email is not None:
                out.print(f"{escape(c.email.recipient)}: {escape(c.email.subject)}")
    if delivery.deferred:
        err.print(
            f"[yellow]{delivery.deferred} emails wait for the SMTP server; the next run sends them[/]"
            + (f"\n[yellow]the server: {escape(delivery.error)}[/]" if delivery.error else "")
        )
    if delivery.resent:
        err.print(
            f"[yellow]{delivery.resent} emails a stopped run left in flight were sent again with the same "
            "Message-ID[/]"
        )


@app.command("run")
def run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Select and render, store and send nothing.")
    ] = False,
    only: Annotated[str | None, typer.Option("--only", help="Only this subscriber's digest.")] = None,
    at: AtOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Compose the digests that are due and send every email waiting in the outbox."""
    try:
        with Library(ctx.obj) as library:
            report = run_digest(library, at, dry_run, only)
    except PaperwireError as exc:
        fail(exc)
    print_report(report, as_json, dry_run)


@app.command("preview")
def preview(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The subscriber's address.")],
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part instead of the text.")] = False,
    at: AtOption = None,
) -> None:
    """Render the digest an address would get now, without storing or sending it."""
    try:
        with Library(ctx.obj) as library:
            composed = Digests(library).preview(email, _moment(at))
    except PaperwireError as exc:
        fail(exc)
    if composed.email is None:
        out.print(
            f"nothing to send: none of the {composed.new_papers} new papers matches, and no note is wanted"
        )
        return
    out.print(f"Subject: {composed.email.subject}\n")
    typer.echo(composed.email.html if html else composed.email.text)


@app.command("subscribe")
def subscribe(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The address to subscribe; it gets a confirmation link.")],
    topic: Annotated[list[str] | None, typer.Option("--topic", help="A topic (repeat for more).")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="An arXiv category.")] = None,
    weekly: Annotated[bool, typer.Option("--weekly", help="Weekly instead of daily.")] = False,
    hour: Annotated[int, typer.Option("--hour", help="Send hour, local time.", min=0, max=23)] = 7,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone.")] = "UTC",
    max_papers: Annotated[int, typer.Option("--max-papers", min=1, max=50)] = 10,
) -> None:
    """Subscribe an address: it is sent a confirmation link, and nothing else until it confirms."""
    prefs = Preferences(
        topics=topic or [], categories=category or [], frequency="weekly" if weekly else "daily",
        send_hour=hour, timezone=timezone, max_papers=max_papers,
    )  # fmt: skip
    try:
        with Library(ctx.obj) as library:
            digests = Digests(library)
            report = digests.deliver(digests.subscribe(email, prefs))
    except PaperwireError as exc:
        fail(exc)
    if report.sent:
        out.print(
            f"a confirmation link (or, for an address already subscribed, a manage link) went to {email}"
        )
    else:
        err.print(
            "[yellow]the email waits in the outbox: the SMTP server did not take it; `digest run` retries[/]"
        )


@app.command("bounced")
def bounced(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The address that bounced.")],
    reason: Annotated[str, typer.Option("--reason", help="What the bounce said.")] = "bounced",
) -> None:
    """Record a bounce your mail provider reported; repeated ones disable the address."""
    try:
        with Library(ctx.obj) as library:
            disabled = Digests(library).bounced(email, reason)
    except PaperwireError as exc:
        fail(exc)
    out.print(f"{email} is disabled after repeated failures" if disabled else f"bounce of {email} recorded")
