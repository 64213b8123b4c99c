"""``cityplan export``: the one map as GeoParquet, GeoPackage or FlatGeobuf."""

from __future__ import annotations

import click

from cityplan.cli._common import note, warn


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["parquet", "gpkg", "fgb"]), default="parquet",
              show_default=True, help="GeoParquet / FlatGeobuf: a folder, one file per layer; gpkg: one file.")
@click.option("--out", required=True, help="Output folder (parquet, fgb) or .gpkg file.")
@click.option("--layer", "layers", multiple=True, help="Layer id to export (repeatable; default all).")
@click.option("--public", is_flag=True, help="Leave out layers whose licence forbids redistribution.")
@click.option("--onemap", help="One map: GeoPackage path or postgresql:// URL (default $CITYPLAN_ONEMAP).")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
def export(fmt: str, out: str, layers: tuple[str, ...], public: bool, onemap: str | None,
           overwrite: bool) -> None:
    """Export the one map's layers with their sources and licences."""
    from cityplan.export import export_onemap

    res = export_onemap(onemap, out, fmt=fmt, layers=list(layers) or None, public=public,
                        overwrite=overwrite)
    for w in res.warnings:
        warn(w)
    for lid, why in res.skipped.items():
        note(f"left out {lid}: {why}")
    note(f"[green]wrote[/] {len(res.files)} files to {out}")
