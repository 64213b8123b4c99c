"""``cityplan tasks`` and ``cityplan progress``."""

from __future__ import annotations

import click

from cityplan.cli._common import note, print_table, warn

_ONEMAP = click.option("--onemap", help="One map: GeoPackage path or postgresql:// URL "
                       "(default $CITYPLAN_ONEMAP or layers/build/harbin.gpkg).")
_TASKS = click.option("--tasks", "tasks_file", type=click.Path(dir_okay=False),
                      help="Task register (default layers/tasks.yaml).")


@click.command()
@_TASKS
@click.option("--chapter", type=click.IntRange(1, 99), help="Only this chapter.")
@click.option("--mapped-only", is_flag=True, help="Only items with a place on the map.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def tasks(tasks_file: str | None, chapter: int | None, mapped_only: bool, fmt: str) -> None:
    """List the task register: every item of the report with its targets."""
    from cityplan.tasks import load_register

    reg = load_register(tasks_file)
    df = reg.items_frame()
    if chapter is not None:
        df = df[df.chapter == str(chapter)]
    if mapped_only:
        df = df[df.mapped]
    print_table(df.drop(columns=["group"]), title=f"Task register ({len(df)} items)", fmt=fmt)


@click.command()
@_ONEMAP
@_TASKS
@click.option("--by", type=click.Choice(["district"]), help="Split every target by district.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "xlsx"]), default="table")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the table to this file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def progress(onemap: str | None, tasks_file: str | None, by: str | None, fmt: str, out: str | None,
             overwrite: bool) -> None:
    """Planned / achieved quantity vs every target, overall, per chapter and per district."""
    from cityplan.io.write import write_table
    from cityplan.tasks import compute_progress

    res = compute_progress(onemap, tasks=tasks_file, by=by)
    table = res.table
    if fmt == "xlsx" and out is None:
        raise click.UsageError("--format xlsx needs --out FILE.xlsx")
    if out is not None:
        sheets = {"chapters": res.chapters, "problems": _problems(res)}
        path = write_table(table, out, fmt=None if fmt == "table" else fmt, overwrite=overwrite,
                           sheets=sheets)
        note(f"[green]wrote[/] {path}")
        return
    view = table.drop(columns=["title_en", "achieved", "achieved_ratio"]) if fmt == "table" else table
    caption = (f"one map built {res.build_info.get('built_at', '?')}; ratio = planned / target"
               + ("; district rows: share of the city-wide target" if by else "")
               + "; illustrative_features = features placed by a documented rule, not real sites")
    print_table(view, title="Progress of the 2023 report's quantified targets", fmt=fmt,
                caption=caption)
    if fmt == "table":
        print_table(res.chapters, title="Per chapter")
        for p in res.link.problems:
            warn(p["message"])


def _problems(res) -> object:
    import pandas as pd

    return pd.DataFrame(res.link.problems, columns=["kind", "layer", "task_id", "message"])
