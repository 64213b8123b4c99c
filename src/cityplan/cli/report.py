"""``cityplan report``: one command, one district (or all), tables and print-ready maps."""

from __future__ import annotations

from pathlib import Path

import click

from cityplan.cli._common import ONEMAP_HELP, note, progress_bar


@click.command()
@click.option("--district", "district", help="District: 南岗区, 南岗, Nangang or 230103.")
@click.option("--all-districts", is_flag=True, help="Every district of the one map.")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default out/report-DISTRICT).")
@click.option("--format", "fmt", type=click.Choice(["html", "xlsx", "all"]), default="all", show_default=True)
@click.option("--preset", "presets", multiple=True, help="Coverage presets to include (default: all).")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--paper", type=click.Choice(["A4", "A3"]), default="A4", show_default=True, help="Paper of the printed maps.")
@click.option("--orientation", type=click.Choice(["portrait", "landscape"]), default="portrait", show_default=True)
@click.option("--scale", default="auto", show_default=True, help="Map scale 1:N (e.g. 1:25000) or auto (smallest that fits).")
@click.option("--dpi", type=click.IntRange(50, 1200), default=300, show_default=True, help="PNG resolution.")
@click.option("--overwrite", is_flag=True, help="Replace files in existing output folders.")
def report(district, all_districts, out, fmt, presets, onemap, paper, orientation, scale, dpi, overwrite) -> None:
    """District office report: progress, coverage per preset, uncovered compounds, static and interactive maps."""
    from cityplan.districts import district_names, resolve_district
    from cityplan.onemap import OneMap
    from cityplan.paths import output_dir
    from cityplan.report import build_district_report, prepare_inputs
    from cityplan.report.district import report_steps
    from cityplan.report.layout import PageSpec, parse_scale

    if bool(district) == bool(all_districts):
        raise click.UsageError("give --district NAME or --all-districts")
    page = PageSpec(paper=paper, orientation=orientation, scale=parse_scale(scale), dpi=dpi)
    onemap = OneMap.coerce(onemap)
    districts = onemap.layer_for("districts")
    names = district_names(districts) if all_districts else [str(resolve_district(district, districts)["name"])]
    formats = ("html", "xlsx") if fmt == "all" else (fmt,)
    with progress_bar(1, "report") as bar:  # its length: the inputs' steps, then the districts'
        task = bar.add_task("district report", total=None, item="")

        def advance(item: str) -> None:
            bar.update(task, advance=1, item=item)

        shared = prepare_inputs(onemap, presets=list(presets) or None, progress=advance,
                                plan=lambda n: bar.update(task, total=n))
        done = bar.tasks[0].completed
        bar.update(task, total=done + len(names) * report_steps(shared, formats=formats))
        for name in names:
            folder = (Path(out) / name if all_districts else Path(out)) if out else output_dir(None, f"report-{name}")
            rep = build_district_report(name, shared, folder, formats=formats, overwrite=overwrite, page=page,
                                        progress=advance)
            note(f"[green]wrote[/] {folder}: {len(rep.files)} files "
                 f"({len(rep.progress)} progress rows, {len(rep.coverage)} coverage rows, "
                          f"{rep.uncovered.name.nunique()} uncovered compounds)")
