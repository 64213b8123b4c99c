"""``cityplan checkup``: the annual city check-up (城市体检) of many cities, on Dask."""

from __future__ import annotations

import click

from cityplan.cli._common import note, progress_bar, warn


@click.command("checkup")
@click.option("--cities", "cities", required=True, type=click.Path(exists=False),
              help="Folder of *.gpkg one maps (city = file stem) or a text file of paths / postgresql:// URLs.")
@click.option("--presets", help="Comma-separated coverage presets (default: the standard check-up presets).")
@click.option("--scheduler", help="tcp://HOST:PORT of a running Dask scheduler (default: a LocalCluster); "
              "'serial' runs the tasks in this process.")
@click.option("--workers", type=click.IntRange(min=1), help="LocalCluster processes (default: the machine's cores).")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True, help="Extra attempts of a failed task.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--no-map", is_flag=True, help="Do not write overview.html.")
@click.option("--overwrite", is_flag=True, help="Replace the outputs in an existing folder.")
def checkup(cities, presets, scheduler, workers, retries, out, no_map, overwrite) -> None:
    """Coverage presets for every city as Dask tasks: checkup.csv/xlsx/parquet, errors.csv, overview.html."""
    from cityplan.checkup.run import run_checkup

    with progress_bar(1, "checkup") as bar:
        task = bar.add_task("checkup", total=None, item="starting")

        def step(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, item=label)

        res = run_checkup(cities, presets=presets, scheduler=scheduler, workers=workers, retries=retries,
                          out=out, overwrite=overwrite, progress=step, overview_map=not no_map)
    ok = len(res.cities) - len(set(res.errors["city"]))
    note(f"checkup: {len(res.cities)} cities x {len(res.presets)} presets on {res.scheduler} in "
         f"{res.wall_seconds:.1f} s; {ok} complete, {len(set(res.errors['city']))} with errors")
    for row in res.errors.itertuples():
        warn(f"{row.city}: {row.error}")
    note(f"[green]wrote[/] {len(res.written)} files to {out}")
