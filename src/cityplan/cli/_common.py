"""Shared CLI helpers: console, tables, progress bars, output formats."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

import click
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

FORMATS = click.Choice(["table", "csv", "json"])


def print_table(df: pd.DataFrame, *, title: str | None = None, fmt: str = "table",
                caption: str | None = None) -> None:
    """Print ``df`` as a rich table, CSV or JSON on stdout."""
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
        return
    if fmt == "json":
        sys.stdout.write(json.dumps(json.loads(df.to_json(orient="records", force_ascii=False)),
                                    ensure_ascii=False, indent=1) + "\n")
        return
    table = Table(title=title, caption=caption, show_lines=False)
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold")
    for _, row in df.iterrows():
        table.add_row(*[_fmt(v) for v in row])
    console.print(table)


def _fmt(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def progress_bar(total: int, description: str) -> Progress:
    """A rich progress bar on stderr (so stdout stays machine-readable)."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[item]}"), TimeElapsedColumn(), console=err_console,
                    transient=False, disable=not err_console.is_terminal and total < 0)


def track(items: Iterable[str], total: int, description: str) -> Iterable[str]:
    """Iterate with a progress bar."""
    with progress_bar(total, description) as p:
        task = p.add_task(description, total=total, item="")
        for it in items:
            p.update(task, item=it)
            yield it
            p.advance(task)
