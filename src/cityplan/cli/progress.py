"""``cityplan progress``: progress as of a date, and its template / import / history / quotas."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cityplan.cli._common import ONEMAP_HELP as _ONEMAP_HELP
from cityplan.cli._common import note, print_table, warn

_TABLE_VIEW = ["task_id", "title_zh", "district", "metric", "unit", "target", "quota", "quota_basis", "planned",
               "planned_illustrative", "achieved", "ratio", "status", "checked_by", "sites_overdue", "last_report"]


def _onemap(ctx: click.Context, value: str | None) -> str | None:
    return value if value is not None else (ctx.obj or {}).get("onemap")


def _context(ctx: click.Context, onemap: str | None):
    from cityplan.progress import load_context

    obj = ctx.obj or {}
    return load_context(_onemap(ctx, onemap), tasks=obj.get("tasks"), quotas=obj.get("quotas"))


@click.group(invoke_without_command=True)
@click.option("--onemap", help=_ONEMAP_HELP)
@click.option("--tasks", "tasks_file", type=click.Path(dir_okay=False), help="Task register (default tasks.yaml).")
@click.option("--quotas", "quotas_file", type=click.Path(dir_okay=False),
              help="District quotas (default quotas.yaml).")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", help="Progress on this date (default today).")
@click.option("--by", type=click.Choice(["district"]), help="Split every target by district.")
@click.option("--stale-days", type=click.IntRange(min=1), default=90, show_default=True,
              help="Flag reported sites whose status has not moved for longer as overdue.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "xlsx"]), default="table")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the table to this file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.pass_context
def progress(ctx: click.Context, onemap: str | None, tasks_file: str | None, quotas_file: str | None,
             as_of: str | None, by: str | None, stale_days: int, fmt: str, out: str | None,
             overwrite: bool) -> None:
    """Target, quota, planned and achieved (from district reports) of every target, as of a date.

    Achieved comes from the progress ledger only (`cityplan progress import`); planned shows how much
    of it is illustrative. Subcommands: template, import, history, quotas.
    """
    ctx.obj = {"onemap": onemap, "tasks": tasks_file, "quotas": quotas_file}
    if ctx.invoked_subcommand is not None:
        return
    import pandas as pd

    from cityplan.io.write import write_table
    from cityplan.progress import compute_progress

    res = compute_progress(onemap, tasks=tasks_file, by=by, as_of=as_of, stale_days=stale_days,
                           quotas=quotas_file)
    from cityplan.progress.report import attach_standards, coverage_lookup

    # a standard (a target with check:) is shown with the coverage figure that checks it
    table = attach_standards(res.table, coverage_lookup(res.context.om), res.context.om.profile.settings.languages)
    if fmt == "xlsx" and out is None:
        raise click.UsageError("--format xlsx needs --out FILE.xlsx")
    sites = res.context.site_status(as_of=res.as_of, stale_days=stale_days)
    overdue = sites[sites.overdue][["site_id", "name", "task_id", "district", "status", "status_since",
                                    "last_report"]]
    if out is not None:
        problems = pd.DataFrame(res.link.problems, columns=["kind", "layer", "task_id", "message"])
        path = write_table(table, out, fmt=None if fmt == "table" else fmt, overwrite=overwrite,
                           sheets={"chapters": res.chapters, "overdue": overdue, "problems": problems})
        note(f"[green]wrote[/] {path}")
        return
    view = table[[c for c in _TABLE_VIEW if c in table.columns]] if fmt == "table" else table
    caption = (f"as of {res.as_of.isoformat()}; one map built {res.build_info.get('built_at', '?')}; "
               f"{res.events} reported event(s) in the ledger; achieved = as reported by the districts; "
               "ratio = achieved / target (city rows) or / the district's quota (district rows); "
               "planned_illustrative = planned on sites placed by a documented rule, not real projects; "
               "quota_basis: derived (assumption) 推算(假设) = split by cityplan's assumed rule (quotas.yaml), "
               "not a quota the city gave; a standard 标准 (check:) is met by the coverage figure in checked_by, "
               "not achieved as a quantity")
    print_table(view, title="Progress of the 2023 report's quantified targets", fmt=fmt, caption=caption)
    if fmt == "table":
        print_table(res.chapters, title="Per chapter")
        if len(overdue):
            print_table(overdue, title=f"Overdue: status unchanged for more than {stale_days} days")
        for p in res.link.problems:
            warn(p["message"])


@progress.command("template")
@click.option("--district", required=True, help="District: 南岗区, 南岗, Nangang or 230103.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="FILE.xlsx (or FILE.csv).")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), help="Default: from the --out suffix.")
@click.option("--onemap", help=_ONEMAP_HELP)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.pass_context
def template(ctx: click.Context, district: str, out: str, fmt: str | None, onemap: str | None, overwrite: bool) -> None:
    """Write the district's reporting sheet: its sites and non-spatial targets, ready to fill in."""
    from cityplan.progress.template import write_template

    pc = _context(ctx, onemap)
    path = write_template(pc, district, out, fmt=fmt, overwrite=overwrite)
    note(f"[green]wrote[/] {path}")


@progress.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--reported-by", required=True, help="Who reports (person or office), recorded with every row.")
@click.option("--district", help="The district reported for (南岗区, 南岗, Nangang or 230103): every row must be "
              "its own; rows naming no district get it. Default: the sheet's own district.")
@click.option("--onemap", help=_ONEMAP_HELP)
@click.option("--dry-run", is_flag=True, help="Validate only; record nothing.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              help="Format of the per-row report.")
@click.pass_context
def import_(ctx: click.Context, file: str, reported_by: str, district: str | None, onemap: str | None,
            dry_run: bool, fmt: str) -> None:
    """Validate every row of a filled-in sheet, then record all rows in one transaction (or none).

    A row that names no district (no adcode, no site, no district on the sheet) gets --district, or
    is rejected: no event is stored without its district. Exit 0 when recorded (or already
    recorded), 1 when rows were rejected (nothing recorded), 2 when the file cannot be read or
    writes another district than --district.
    """
    from cityplan.services.progress import import_district_progress

    pc = _context(ctx, onemap)
    adcode = None
    if district is not None:
        from cityplan.districts import resolve_district

        adcode = str(resolve_district(district, pc.districts)["adcode"])
    res = import_district_progress(pc, file, reported_by=reported_by, district=adcode, dry_run=dry_run)
    if not res.ok:
        print_table(res.problems, title=f"{res.path.name}: {len(res.problems)} problem(s) - nothing recorded",
                    fmt=fmt)
        warn(f"{res.path}: {res.problems.row.nunique()} row(s) rejected; fix them and import the file again "
             "(nothing was recorded)")
        sys.exit(1)
    what = "valid (dry run, nothing recorded)" if dry_run else (
        f"recorded {res.recorded} new event(s), {res.already_recorded} already in the ledger")
    note(f"{res.path.name} ({res.district} {res.adcode}): {res.rows_read} rows read, "
         f"{res.rows_reported} reported, {what}")


@progress.command("history")
@click.argument("task_id")
@click.option("--district", help="Only this district (ratio against its quota).")
@click.option("--onemap", help=_ONEMAP_HELP)
@click.option("--until", metavar="YYYY-MM-DD", help="Last date (default today).")
@click.option("--chart", type=click.Path(dir_okay=False),
              help="Chart file stem (writes STEM.png and STEM.svg; default out/progress/history-TASK[-ADCODE]).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--overwrite", is_flag=True, help="Replace existing chart files.")
@click.pass_context
def history(ctx: click.Context, task_id: str, district: str | None, onemap: str | None, until: str | None,
            chart: str | None, fmt: str, overwrite: bool) -> None:
    """Print a task's achieved quantity at every report date and write a burn-up chart (PNG, SVG)."""
    from cityplan.monitor.rules import chart_pace
    from cityplan.paths import output_dir
    from cityplan.progress.history import burnup_chart, task_history

    pc = _context(ctx, onemap)
    h = task_history(pc, task_id, district=district, until=until)
    item = pc.register.get(task_id)
    where = h.district.iloc[0] if len(h) else (district or "")
    stem = chart or str(output_dir(None, "progress") /
                        (f"history-{task_id}" + (f"-{h.adcode.iloc[0]}" if district and len(h) else "")))
    files = burnup_chart(h, stem, title=f"{task_id} {item.title_zh} · {where}",
                         title_en=f"{task_id} {item.title_en}" + (f" · {h.adcode.iloc[0]}" if district and len(h) else ""),
                         overwrite=overwrite or chart is None, pace=chart_pace(pc.om.profile, task_id))
    view = h.drop(columns=["task_id", "adcode", "district"]) if fmt == "table" else h
    print_table(view, title=f"History of {task_id} {item.title_zh} ({where})", fmt=fmt)
    note("[green]wrote[/] " + ", ".join(str(f) for f in files))


@progress.group("quotas")
def quotas() -> None:
    """District quotas (quotas.yaml of the city profile): derive from the one map, or import a table."""


@quotas.command("derive")
@click.option("--onemap", help=_ONEMAP_HELP)
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="The quota file to write: PROFILE_DIR/quotas.yaml, then rebuild the map.")
@click.option("--overwrite", is_flag=True)
@click.pass_context
def quotas_derive(ctx: click.Context, onemap: str | None, out: str | None, overwrite: bool) -> None:
    """Split every city target per district by the documented (assumed) rules and write the quota file."""
    from cityplan.io.write import atomic_path
    from cityplan.onemap import OneMap
    from cityplan.progress.quotas import derive_quotas, quotas_yaml
    from cityplan.tasks.link import link_plan_sites, load_plan_layers
    from cityplan.tasks.register import load_register

    om = OneMap.coerce(_onemap(ctx, onemap))
    reg = load_register((ctx.obj or {}).get("tasks") or om.profile)
    districts = om.layer_for("districts")
    link = link_plan_sites(reg, load_plan_layers(om), districts)
    path = out
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(quotas_yaml(derive_quotas(reg, link, districts)), encoding="utf-8")
    note(f"[green]wrote[/] {path}")


@quotas.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--onemap", help=_ONEMAP_HELP)
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="The quota file to update (PROFILE_DIR/quotas.yaml; created from the map's quotas when new).")
def quotas_import(file: str, onemap: str | None, out: str | None) -> None:
    """Replace the quotas of the targets a CSV/XLSX table gives (columns task_id, metric, district, quota)."""
    from cityplan.io.read import read_table
    from cityplan.io.write import atomic_path
    from cityplan.onemap import OneMap
    from cityplan.progress.quotas import (
        import_quota_table,
        merge_quotas,
        quotas_yaml,
        read_quotas,
    )
    from cityplan.tasks.register import load_register

    om = OneMap.coerce(onemap)
    reg = load_register(om.profile)
    districts = om.layer_for("districts")
    if file.lower().endswith((".xlsx", ".xlsm")):
        import pandas as pd

        table = pd.read_excel(file, dtype=str)
    else:
        table = read_table(file)
    new = import_quota_table(table, register=reg, districts=districts, source=file)
    path = out
    base = read_quotas(path if Path(path).exists() else om.profile, register=reg, districts=districts)
    merged = merge_quotas(base, new)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(quotas_yaml(merged), encoding="utf-8")
    note(f"[green]wrote[/] {path}: {len(new)} district quota(s) of {new.groupby(['task_id', 'metric']).ngroups} target(s)")
