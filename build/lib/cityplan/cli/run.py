"""``cityplan run``: the main job on the sample data."""

from __future__ import annotations

import click

from cityplan.cli._common import CITY_HELP, ONEMAP_HELP, note, print_table, progress_bar


@click.command("run")
@click.option("--city", help=CITY_HELP)
@click.option("--data", type=click.Path(file_okay=False),
              help="Data folder (default $CITYPLAN_DATA, else ./cityplan.toml's data).")
@click.option("--onemap", help=ONEMAP_HELP + " Built there when missing.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for outputs (default out/).")
@click.option("--overwrite", is_flag=True, help="Rebuild the one map and replace earlier outputs.")
def run(city: str | None, data: str | None, onemap: str | None, out: str | None, overwrite: bool) -> None:
    """Build the city's one map, then progress, maps, coverage and reviews its profile's run.yaml names."""
    from pathlib import Path

    from cityplan.build import summary_counts
    from cityplan.paths import write_project_file
    from cityplan.pipeline import run_all
    from cityplan.review.report import VERDICT_TEXT

    with progress_bar(8, "run") as bar:
        task = bar.add_task("cityplan run", total=None, item="")
        res = run_all(city=city, data=data, onemap=onemap, overwrite=overwrite, out=out,
                      step=lambda s: bar.update(task, item=s))
    if res.built is not None and city:
        write_project_file(Path.cwd(), onemap=str(res.onemap), city=city,
                           data=res.built.info.get("data_dir"))
    if res.built is not None:
        tot = summary_counts(res.built.summary)
        note(f"[green]one map[/] {res.onemap}: {len(res.built.summary)} layers, {tot['source_features']:,} "
                      f"source features -> {tot['features']:,} written, {tot['repaired']} repaired, "
                      f"{tot['dropped']} dropped (ledger in the GeoPackage)")
    t = res.progress.table
    view = t[(t.district == "(all)") & t.target.notna()][["task_id", "title_zh", "metric", "target", "planned",
                                                          "planned_illustrative", "achieved", "ratio", "status"]]
    view = view.rename(columns={"planned_illustrative": "of which illustrative", "ratio": "achieved/target"})
    print_table(view, title="Progress of the report's quantified targets (achieved = reported by districts)")
    if res.imported:
        note(f"recorded {res.imported} progress reports from the illustrative example workbooks")
    for preset, cov in res.coverage.items():
        d = cov.districts[["district", "population_share", "area_share"]]
        print_table(d, title=f"Coverage {preset} ({cov.params['method']} {cov.params['within']})")
    rows = [(name, VERDICT_TEXT[r.verdict], int(r.findings.hit.sum())) for name, r in res.reviews.items()]
    import pandas as pd

    print_table(pd.DataFrame(rows, columns=["proposal", "verdict", "findings"]), title="One-map review of the sample proposals")
    note(f"[green]wrote[/] {len(res.outputs)} files, e.g. {res.outputs[0]}")
