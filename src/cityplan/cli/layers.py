"""``cityplan layers``: the catalog, and users' own files (inspect, validate)."""

from __future__ import annotations

import json

import click
import pandas as pd

from cityplan.catalog import ROLES, load_catalog
from cityplan.cli._common import FORMATS, ONEMAP_HELP, console, note, print_table, warn


@click.group()
def layers() -> None:
    """List catalog layers; inspect or validate your own vector files."""


@layers.command("list")
@click.option("--catalog", type=click.Path(dir_okay=False), help="A catalog file instead of a profile's.")
@click.option("--city", help="A city profile (harbin, or a folder) instead of the one map's.")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--role", type=click.Choice(ROLES), help="Only layers of this role.")
@click.option("--format", "fmt", type=FORMATS, default="table")
def list_(catalog: str | None, city: str | None, onemap: str | None, role: str | None, fmt: str) -> None:
    """List the layers declared in the catalog (of a one map's profile, a profile or a file)."""
    from cityplan.onemap import OneMap
    from cityplan.profile import load_profile

    cat = load_catalog(catalog or (load_profile(city) if city else OneMap.coerce(onemap).profile))
    rows = [{"id": s.id, "title_zh": s.title_zh, "title_en": s.title_en, "role": s.role,
             "geometry": s.geometry, "source": s.source_label,
             "crs": (s.source.crs or "file") if s.source else "derived",
             "kind": "illustrative" if s.illustrative else "real", "licence": s.licence}
            for s in cat.layers if role is None or s.role == role]
    print_table(pd.DataFrame(rows), title=f"Catalog {cat.path}", fmt=fmt)


@layers.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--layer", help="Layer of a multi-layer file.")
@click.option("--encoding", help="Text encoding, e.g. gbk for a shapefile without .cpg.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def inspect(file: str, layer: str | None, encoding: str | None, fmt: str) -> None:
    """Driver, layers, CRS, bounds, feature count, schema and encoding of FILE."""
    from cityplan.io.inspect import inspect_file

    info = inspect_file(file, layer=layer, encoding=encoding)
    if fmt == "json":
        click.echo(json.dumps(info, ensure_ascii=False, indent=1, default=str))
    else:
        rows = [(k, v) for k, v in info.items() if k != "fields"]
        print_table(pd.DataFrame(rows, columns=["property", "value"]).astype(str), title=str(file))
        print_table(pd.DataFrame(list(info["fields"].items()), columns=["field", "type"]), title="schema")
    if info["problems"]:  # not vector data cityplan can use: say why, not "no CRS" (exit 1: findings)
        for line in info["problems"]:
            click.echo(f"error: {line}", err=True)
        raise SystemExit(1)
    if info["mojibake"]:
        warn(f"text looks like {info['mojibake'].upper()} read as "
             f"Latin-1; use --encoding {info['mojibake']}")
    if info["crs"] is None:
        warn("no CRS; declare one with --crs when using this file")


@layers.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--as", "role", type=click.Choice(ROLES), required=True, help="Role the file should play.")
@click.option("--layer", help="Layer of a multi-layer file.")
@click.option("--crs", help="Declared CRS if the file has none, or gcj02 / bd09.")
@click.option("--encoding", help="Text encoding, e.g. gbk.")
@click.option("--require", multiple=True, help="Extra required column (repeatable).")
@click.option("--onemap", help="One map (GeoPackage or postgresql:// URL) whose roads are the reference for the GCJ-02 check.")
@click.option("--format", "fmt", type=FORMATS, default="table")
def validate(file: str, role: str, layer: str | None, crs: str | None, encoding: str | None,
             require: tuple[str, ...], onemap: str | None, fmt: str) -> None:
    """Check FILE for use as a layer of ROLE; exit 1 if it has errors."""
    from cityplan._errors import OneMapError
    from cityplan.onemap import OneMap
    from cityplan.validate import validate_file

    ref, bbox = None, None
    try:
        om = OneMap.coerce(onemap)
        bbox = om.extent
        if "gcj02" in om.profile.settings.datum_checks:
            ref = om.layer_for("roads")
        else:
            note(f"{om.profile.label}: no Chinese datum checks for this city (profile datum_checks); "
                 "the GCJ-02 alignment check is skipped")
    except OneMapError:
        if onemap:
            raise
        note("no one map named: the GCJ-02 alignment and extent checks are skipped (pass --onemap)")
    rep = validate_file(file, role=role, layer=layer, crs=crs, encoding=encoding, required=require,
                        reference=ref, bbox=bbox)
    print_table(rep.frame(), title=f"{rep.source} as {role}: {rep.features} features", fmt=fmt)
    if fmt == "table":
        console.print("[green]OK[/]" if rep.ok else "[red]errors found[/]")
    raise SystemExit(0 if rep.ok else 1)
