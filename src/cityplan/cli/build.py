"""``cityplan build``: the one-map GeoPackage."""

from __future__ import annotations

import click

from cityplan.cli._common import (
    CITY_HELP,
    build_target,
    note,
    print_table,
    progress_bar,
    resolve_city,
)


@click.command()
@click.option("--city", help=CITY_HELP)
@click.option("--data", type=click.Path(file_okay=False),
              help="Data folder the catalog's paths are relative to (default $CITYPLAN_DATA, else ./cityplan.toml's data).")
@click.option("--out", help="Output GeoPackage, or postgresql://USER@HOST:PORT/DB[?schema=NAME] "
              "(default $CITYPLAN_ONEMAP, else ./cityplan.toml's map, else CITY.gpkg here).")
@click.option("--layer", "layers", multiple=True, help="Build only this layer id (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--keep", type=click.IntRange(min=1, max=100), default=5, show_default=True,
              help="Builds to keep, this one included (earlier ones read-only for cityplan diff; 1 keeps none).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def build(city: str | None, data: str | None, out: str | None, layers: tuple[str, ...],
          overwrite: bool, keep: int, fmt: str) -> None:
    """Build the one map (GeoPackage or PostGIS) of a city profile and print its summary.

    The profile is written into the map; ./cityplan.toml then names the map, its profile and data
    folder, so later commands here need no --onemap.
    """
    from pathlib import Path

    from cityplan.build import build_onemap, summary_counts
    from cityplan.catalog import load_catalog
    from cityplan.paths import data_dir, write_project_file
    from cityplan.profile import load_profile

    city = resolve_city(city)
    profile = load_profile(city)
    cat = load_catalog(profile)
    target = build_target(out, city)
    root = data_dir(data)
    with progress_bar(len(cat.layers), "build") as bar:
        task = bar.add_task("building layers", total=len(layers) or len(cat.layers), item="")
        res = build_onemap(city=profile, data=root, out=target, overwrite=overwrite,
                           layers=list(layers) or None, keep=keep,
                           progress=lambda lid: bar.update(task, advance=1, item=lid))
    project = write_project_file(Path.cwd(), onemap=str(res.path), city=city, data=str(root))
    s = res.summary
    view = s[["layer", "title_zh", "role", "geometry", "source_features", "features", "repaired",
              "dropped"]].rename(columns={"source_features": "in", "features": "out"})
    view["kind"] = s.illustrative.map({True: "illustrative", False: "real"})
    view["source"] = s.source.str.replace(r"^.*/", "", regex=True).str.slice(0, 40)
    view["licence"] = s.licence.str.slice(0, 24)
    tot = summary_counts(s)
    caption = (f"{tot['source_features']:,} source features -> {tot['features']:,} written, "
               f"{tot['repaired']:,} repaired, {tot['dropped']:,} dropped (reasons in table "
               f"cityplan_ledger). Built {res.info['built_at']}.")
    print_table(view, title=f"One map: {res.path}", fmt=fmt, caption=caption)
    if fmt == "table" and len(res.ledger):
        print_table(res.ledger.groupby(["layer", "action", "reason"]).size().reset_index(name="n"),
                    title="Repaired / dropped features")
    if fmt == "table":
        note(f"[green]wrote[/] {res.path} (profile {profile.label}); {project.name} here names it")
