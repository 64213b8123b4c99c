"""``cityplan diff [OLD] [NEW]``: what changed between two builds of the one map."""

from __future__ import annotations

import json
import sys

import click

from cityplan.cli._common import ONEMAP_HELP, note, print_table


@click.command()
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--tolerance", "tolerance_m", type=float, default=1.0, show_default=True,
              help="A feature moved when its centroid moved more than this many metres.")
@click.option("--skip-coverage", is_flag=True, help="Do not recompute the coverage figures of presets whose inputs changed.")
@click.option("--list", "list_builds", is_flag=True, help="List the kept builds and exit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def diff(old: str | None, new: str | None, onemap: str | None, tolerance_m: float, skip_coverage: bool,
         list_builds: bool, fmt: str) -> None:
    """Per layer the features added, removed, moved (with the distance) and changed; plan sites and
    targets changed; coverage figures changed for presets with a standard whose inputs changed.

    OLD and NEW are build ids (or prefixes of 6+ characters) of `cityplan diff --list`; default: the
    build before the current one, and the current one. Exit 0 when nothing changed, 1 otherwise.
    """
    from cityplan.onemap import OneMap
    from cityplan.services.monitor import compare_builds, diff_payload

    om = OneMap.coerce(onemap)
    if list_builds:
        print_table(om.builds(), title="Kept builds 保留的构建 (newest first)", fmt=fmt)
        return
    d = compare_builds(om, old, new, tolerance_m=tolerance_m, coverage=not skip_coverage)
    if fmt == "json":
        sys.stdout.write(json.dumps(diff_payload(d), ensure_ascii=False, indent=1) + "\n")
    else:
        note(f"build {d.old.get('build_id', '?')[:12]} ({d.old.get('built_at', '?')}) → "
             f"{d.new.get('build_id', '?')[:12]} ({d.new.get('built_at', '?')}); tolerance {tolerance_m:g} m")
        lay = d.layers[d.layers[["added", "removed", "moved", "reshaped", "changed"]].sum(axis=1) > 0]
        print_table(lay, title="Layers changed 图层变化")
        if len(d.features):
            print_table(d.features, title="Features 要素变化")
        for title, t in (("Plan sites per task 规划点位", d.plan_sites), ("Targets 指标值", d.targets),
                         ("Profile files 配置文件", d.profile_files), ("Coverage 覆盖率", d.coverage)):
            if len(t):
                print_table(t, title=title)
        for n in d.notes:
            note(n)
    sys.exit(1 if d.changed else 0)
