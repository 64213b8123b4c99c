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
    cols = [c for c in ("task_id", "title_zh", "metric", "target", "planned", "planned_illustrative", "achieved",
                        "ratio", "status", "checked_by") if c in t.columns]
    view = t[(t.district == "(all)") & t.target.notna()][cols]
    view = view.rename(columns={"planned_illustrative": "of which illustrative", "ratio": "achieved/target"})
    print_table(view, title="Progress of the report's quantified targets (achieved = reported by districts; "
                            "a standard 标准 is checked by the coverage figure in checked_by)")
    if res.imported:
        note(f"recorded {res.imported} progress reports from the illustrative example workbooks")
    for preset, cov in res.coverage.items():
        d, title = coverage_view(cov, preset)
        print_table(d, title=title)
    rows = [(name, VERDICT_TEXT[r.verdict], int(r.findings.hit.sum())) for name, r in res.reviews.items()]
    import pandas as pd

    print_table(pd.DataFrame(rows, columns=["proposal", "verdict", "findings"]), title="One-map review of the sample proposals")
    note(f"[green]wrote[/] {len(res.outputs)} files, e.g. {res.outputs[0]}")


def coverage_view(cov, preset: str):
    """The main job's per-district coverage table of one preset and its title: the existing scenario
    (real facilities only) first, the planned one beside it, and how much of planned is illustrative."""
    import pandas as pd

    from cityplan.coverage.run import HEADLINE, scenario_label

    langs = cov.params.get("languages")
    head = cov.scenario_rows(HEADLINE)
    view = pd.DataFrame({"district": head["district"].to_numpy(),
                         "existing pop. share": head["population_share"].to_numpy(),
                         "existing area share": head["area_share"].to_numpy()})
    planned = cov.scenario_rows("planned")
    if len(planned):
        p = planned.set_index("adcode").reindex(head["adcode"])
        view["planned pop. share"] = p["population_share"].to_numpy()
        view["planned area share"] = p["area_share"].to_numpy()
    title = (f"Coverage {preset} ({cov.params['method']} {cov.params['within']}): headline "
             f"{scenario_label(HEADLINE, langs)}")
    if len(planned):
        title += f"; beside it {scenario_label('planned', langs)}: {cov.planned_basis(langs)}"
    return view, title
