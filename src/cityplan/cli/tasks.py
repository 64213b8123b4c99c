"""``cityplan tasks`` (``cityplan progress`` lives in :mod:`cityplan.cli.progress`)."""

from __future__ import annotations

import click

from cityplan.cli._common import print_table

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
