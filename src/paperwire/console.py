"""Terminal output shared by the command-line modules: consoles, errors with hints, JSON."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from paperwire.errors import PaperwireError

FAILED = 1

# soft wrap: long paths stay on one line, so logs can be searched for them
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(exc: PaperwireError) -> NoReturn:
    """Print an error with what to do next and exit non-zero."""
    err.print(f"[bold red]error:[/] {escape(exc.message)}")
    if exc.hint:
        err.print(f"[yellow]what to do:[/] {escape(exc.hint)}")
    raise typer.Exit(FAILED)


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
