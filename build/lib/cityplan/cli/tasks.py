"""``cityplan tasks`` (``cityplan progress`` lives in :mod:`cityplan.cli.progress`)."""

from __future__ import annotations

import click

from cityplan.cli._common import ONEMAP_HELP, print_table


def _profile(city: str | None, onemap: str | None):  # noqa: ANN202
    """The profile ``--city`` names, else the one map's (``--onemap`` or the default map)."""
    from cityplan.onemap import OneMap
    from cityplan.profile import load_profile

    return load_profile(city) if city else OneMap.coerce(onemap).profile

_TASKS = click.option("--tasks", "tasks_file", type=click.Path(dir_okay=False),
                      help="Task register file (default: the one map's profile's).")


@click.command()
@_TASKS
@click.option("--chapter", type=click.IntRange(1, 99), help="Only this chapter.")
@click.option("--mapped-only", is_flag=True, help="Only items with a place on the map.")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--city", help="A city profile (harbin, or a folder) instead of a one map's.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def tasks(tasks_file: str | None, chapter: int | None, mapped_only: bool, onemap: str | None,
          city: str | None, fmt: str) -> None:
    """List the task register: every item of the report with its targets."""
    from cityplan.tasks import load_register

    reg = load_register(tasks_file or _profile(city, onemap))
    df = reg.items_frame()
    if chapter is not None:
        df = df[df.chapter == str(chapter)]
    if mapped_only:
        df = df[df.mapped]
    if fmt == "json":  # targets as objects, not the display string (docs/json.md)
        import json
        import sys

        keep = set(df.task_id)
        items = [{"task_id": i.id, "chapter": i.chapter, "group": i.group, "title_zh": i.title_zh,
                  "title_en": i.title_en, "level": i.level, "mapped": i.mapped,
                  "targets": [{"metric": t.metric, "value": t.value, "unit": t.unit, "at_least": True,
                               "check": t.check} for t in i.targets]}
                 for i in reg.items if i.id in keep]
        sys.stdout.write(json.dumps(items, ensure_ascii=False, indent=1) + "\n")
        return
    print_table(df.drop(columns=["group"]), title=f"Task register ({len(df)} items)", fmt=fmt)
