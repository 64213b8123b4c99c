"""``cityplan build``: the one-map GeoPackage."""

from __future__ import annotations

import click

from cityplan.cli._common import note, print_table, progress_bar


@click.command()
@click.option("--data", type=click.Path(file_okay=False), help="Data folder (default $CITYPLAN_DATA or ../shared/data/harbin).")
@click.option("--out", help="Output GeoPackage, or postgresql://USER@HOST:PORT/DB[?schema=NAME] (default $CITYPLAN_ONEMAP or layers/build/harbin.gpkg).")
@click.option("--catalog", type=click.Path(dir_okay=False), help="Layer catalog (default layers/catalog.yaml).")
@click.option("--layer", "layers", multiple=True, help="Build only this layer id (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def build(data: str | None, out: str | None, catalog: str | None, layers: tuple[str, ...],
          overwrite: bool, fmt: str) -> None:
    """Build the one map (GeoPackage or PostGIS) from the catalog and print its summary."""
    from cityplan.build import build_onemap, summary_counts
    from cityplan.catalog import load_catalog

    cat = load_catalog(catalog)
    with progress_bar(len(cat.layers), "build") as bar:
        task = bar.add_task("building layers", total=len(layers) or len(cat.layers), item="")
        res = build_onemap(data=data, out=out, catalog=cat, overwrite=overwrite,
                           layers=list(layers) or None,
                           progress=lambda lid: bar.update(task, advance=1, item=lid))
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
        note(f"[green]wrote[/] {res.path}")
