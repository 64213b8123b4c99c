"""Shared CLI helpers: console, tables, progress bars, output formats."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from typing import Any

import click
import pandas as pd
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

FORMATS = click.Choice(["table", "csv", "json"])

#: set by ``cityplan -q``: notes ("wrote ...") are not shown, warnings and errors are
QUIET = {"on": False}


def note(text: str) -> None:
    """A message for the user (``wrote ...``) on stderr; silenced by ``-q``. Data goes to stdout."""
    if not QUIET["on"]:
        err_console.print(text, highlight=False, soft_wrap=True)


def warn(text: str) -> None:
    """A warning on stderr, shown even with ``-q``."""
    err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)


class FiniteFloat(click.ParamType):
    """A finite float within optional bounds: ``FiniteFloat(min=0, min_open=True)`` means > 0.

    ``nan``, ``inf`` and out-of-range values are refused as a usage error (exit 2) naming the
    option, the value and the allowed range.
    """

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None, *,  # noqa: A002
                 min_open: bool = False, max_open: bool = False) -> None:
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open

    def describe(self) -> str:
        """The allowed range, e.g. ``> 0`` or ``> 0 and <= 1``."""
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.min_open else '>='} {self.min:g}")
        if self.max is not None:
            parts.append(f"{'<' if self.max_open else '<='} {self.max:g}")
        return " and ".join(parts) or "finite"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:  # noqa: D102
        if isinstance(value, float) and math.isfinite(value):
            v = value
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number; give a number {self.describe()}", param, ctx)
            if not math.isfinite(v):
                self.fail(f"{value!r} is not a finite number; give a number {self.describe()}", param, ctx)
        low_bad = self.min is not None and (v <= self.min if self.min_open else v < self.min)
        high_bad = self.max is not None and (v >= self.max if self.max_open else v > self.max)
        if low_bad or high_bad:
            self.fail(f"{value!r} is out of range; give a number {self.describe()}", param, ctx)
        return v

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:  # noqa: D102
        return "NUMBER"


def print_table(df: pd.DataFrame, *, title: str | None = None, fmt: str = "table",
                caption: str | None = None) -> None:
    """Print ``df`` as a rich table, CSV (text cells neutralised, never a formula) or JSON on stdout."""
    if fmt == "csv":
        from cityplan.io.safecells import write_safe_csv

        sys.stdout.write(write_safe_csv(df) or "")
        return
    if fmt == "json":
        sys.stdout.write(json.dumps(json.loads(df.to_json(orient="records", force_ascii=False)),
                                    ensure_ascii=False, indent=1) + "\n")
        return
    cells = [[_fmt(v) for v in row] for row in df.itertuples(index=False, name=None)]
    widths = []
    for j, col in enumerate(df.columns):
        longest = max([cell_len(r[j]) for r in cells] + [1])
        word = max([cell_len(w) for w in str(col).split()] + [1])
        numeric = pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
        # a number is never split: its column is as wide as its widest value; text may fold
        widths.append((numeric, max(longest, min(word, 10)) if numeric else min(max(longest, min(word, 12)), 12)))
    keep = len(df.columns)
    if console.is_terminal or console.width:
        total = 1
        for j, (_, w) in enumerate(widths):
            total += w + 3
            if total > console.width and j > 0:
                keep = j
                break
    table = Table(title=title, caption=caption, show_lines=False)
    for j, col in enumerate(df.columns[:keep]):
        numeric, w = widths[j]
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold", min_width=w)
    for row in cells:
        table.add_row(*row[:keep])
    console.print(table)
    if keep < len(df.columns):
        console.print(f"[dim]({len(df.columns) - keep} more column(s) not shown at this width: "
                      f"{', '.join(map(str, df.columns[keep:]))}; widen the terminal or use --format csv|json)[/]")


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
                    transient=True, disable=QUIET["on"] or not err_console.is_terminal)


def track(items: Iterable[str], total: int, description: str) -> Iterable[str]:
    """Iterate with a progress bar."""
    with progress_bar(total, description) as p:
        task = p.add_task(description, total=total, item="")
        for it in items:
            p.update(task, item=it)
            yield it
            p.advance(task)


CITY_HELP = ("City profile: a built-in id (harbin) or a profile folder made by `cityplan city new` "
             "(default: the city of ./cityplan.toml).")
ONEMAP_HELP = ("One map: GeoPackage path or postgresql:// URL (default $CITYPLAN_ONEMAP, else the map "
               "./cityplan.toml names).")


def resolve_city(city: str | None) -> str:
    """``--city``, else the ``city`` of the nearest ``cityplan.toml``; a one-line error otherwise."""
    from cityplan._errors import LayerNotFoundError
    from cityplan.paths import find_project_file
    from cityplan.profile import builtin_profiles

    if city:
        return city
    project = find_project_file()
    if project is not None and project.city_location:
        return project.city_location
    msg = (f"name the city: --city {'|'.join(builtin_profiles())} or --city DIR (a profile folder made by "
           "`cityplan city new`), or run where a cityplan.toml names one")
    raise LayerNotFoundError(msg)


def build_target(out: str | None, city: str) -> str:
    """Where a build writes: ``--out``, else ``$CITYPLAN_ONEMAP`` / ``cityplan.toml``'s map, else ``<city id>.gpkg``."""
    from cityplan._errors import OneMapError
    from cityplan.paths import default_location
    from cityplan.profile import load_profile

    if out:
        return out
    try:
        return str(default_location())
    except OneMapError:
        return f"{load_profile(city).id}.gpkg"
