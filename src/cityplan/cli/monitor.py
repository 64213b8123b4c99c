"""``cityplan monitor``: indicators against their pace and thresholds; warnings; exit 1 on any red."""

from __future__ import annotations

import sys

import click

from cityplan.cli._common import ONEMAP_HELP, note, print_table, warn

_VIEW = ["level", "task_id", "district", "indicator", "value_pct", "expected_pct", "gap_points", "since",
         "last_report", "reported_by", "reason"]


@click.command()
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", help="The date judged (default today).")
@click.option("--district", help="Only this district (南岗区, 南岗, Nangang or 230103).")
@click.option("--all", "show_all", is_flag=True, help="List green and not-checked indicators too (default: warnings).")
@click.option("--skip-coverage", is_flag=True, help="Do not compute coverage figures (their standards are "
              "listed as not checked).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx", "json"]), default="table")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the table to this file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def monitor(onemap: str | None, as_of: str | None, district: str | None, show_all: bool, skip_coverage: bool,
            fmt: str, out: str | None, overwrite: bool) -> None:
    """Warnings of the implementation supervision: every quantified target against its pace, every
    coverage standard, and each district's reporting freshness (red / yellow / green, reason).

    Pace and thresholds come from the profile's monitor.yaml (defaults, printed as assumptions,
    without one; docs/monitor.md). Exit 1 when any indicator is red, 0 otherwise.
    """
    from cityplan.io.write import write_table
    from cityplan.services.monitor import supervise

    if fmt == "xlsx" and out is None:
        raise click.UsageError("--format xlsx needs --out FILE.xlsx")
    res = supervise(onemap, as_of=as_of, district=district, coverage=not skip_coverage)
    for a in res.rules.assumptions:
        warn(f"assumption 假设: {a}")
    table = res.table if show_all else res.warnings
    if out is not None:
        path = write_table(table, out, fmt=None if fmt == "table" else fmt, overwrite=overwrite,
                           sheets={"all": res.table})
        note(f"[green]wrote[/] {path}")
    else:
        view = table[_VIEW] if fmt == "table" else table
        c = res.counts()
        caption = (f"as of {res.as_of.isoformat()}; build {res.build_info.get('build_id', '?')[:8]} "
                   f"({res.build_info.get('built_at', '?')}); rules: {res.rules.source}; "
                   f"red {c['red']}, yellow {c['yellow']}, green {c['green']}, not checked {c['grey']}; "
                   "value = achieved / quota (district) or / target (city), expected = share due by the pace; "
                   "coverage figures are those of the build (existing facilities only)")
        title = "Supervision warnings 预警" + (f" — {res.district_name}" if res.district_name else "")
        print_table(view, title=title, fmt=fmt, caption=caption)
    sys.exit(1 if res.any_red else 0)
