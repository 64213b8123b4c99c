"""``cityplan map``: interactive HTML maps (onemap, task, district, file)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from cityplan.cli._common import ONEMAP_HELP, note

BASEMAPS = ("osm", "tianditu", "gaode", "none")  # cityplan.maps.basemaps.BASEMAPS


def _with_tiles(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ``--basemap`` + ``--tiles*`` into the command's ``basemap`` (a name, or the office's tile server)."""

    @functools.wraps(f)
    def wrapper(*args: Any, tiles: str | None, tiles_attribution: str | None, tiles_max_zoom: int | None,
                **kwargs: Any) -> Any:
        if tiles:
            from cityplan.maps.basemaps import custom_basemap

            kwargs["basemap"] = custom_basemap(tiles, attribution=tiles_attribution, max_zoom=tiles_max_zoom,
                                               gcj02=kwargs["basemap"] == "gaode")
        elif tiles_attribution or tiles_max_zoom is not None:
            raise click.UsageError("--tiles-attribution and --tiles-max-zoom need --tiles URL")
        return f(*args, **kwargs)

    return wrapper


def _name(basemap: Any) -> str:
    return basemap if isinstance(basemap, str) else basemap.name


def _map_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = _with_tiles(f)
    f = click.option("--tiles-max-zoom", type=click.IntRange(0, 24), help="Highest zoom level of --tiles (default 18).")(f)
    f = click.option("--tiles-attribution", help="Credit line of --tiles, e.g. '© 哈尔滨市自然资源和规划局'.")(f)
    f = click.option("--tiles", help="The office's own XYZ tile server, e.g. http://tiles.intranet/{z}/{x}/{y}.png "
                     "(overrides --basemap; with --basemap gaode the tiles are taken as GCJ-02).")(f)
    f = click.option("--overwrite", is_flag=True, help="Replace an existing output.")(f)
    f = click.option("--out", type=click.Path(dir_okay=False), help="Output HTML (default maps/build/NAME.html).")(f)
    f = click.option("--offline", is_flag=True, help="Self-contained HTML: Leaflet and all assets inlined, no CDN.")(f)
    f = click.option("--basemap", type=click.Choice(BASEMAPS), default="osm", show_default=True,
                     help="Tiles: OSM, Tianditu ($CITYPLAN_TIANDITU_KEY), Gaode (GCJ-02; overlays shifted for display) or none.")(f)
    return f


_ONEMAP = click.option("--onemap", help=ONEMAP_HELP)


def _write(result, out: str | None, name: str, overwrite: bool) -> None:
    from cityplan.maps import default_map_path, save_map

    path = save_map(result, out or default_map_path(name), overwrite=overwrite)
    size = path.stat().st_size / 1e6
    note(f"[green]wrote[/] {path} ({size:.1f} MB, {sum(result.layers.values()):,} features "
         f"in {len(result.layers)} layers)")
    for n in result.notes:
        note(f"  {n}")


@click.group("map")
def map_() -> None:
    """Interactive maps: the one map, a task, a district, or any vector file."""


@map_.command("onemap")
@_ONEMAP
@click.option("--recipe", default="onemap", show_default=True, help="Recipe name in maps/ or a path.")
@_map_options
def onemap_cmd(onemap: str | None, recipe: str, basemap: str, offline: bool, out: str | None,
               overwrite: bool) -> None:
    """Every layer of the one map, grouped base / plan / facilities / constraints."""
    from cityplan.maps import onemap_map

    _write(onemap_map(onemap, recipe=recipe, basemap=basemap, offline=offline), out,
           f"onemap-{_name(basemap)}", overwrite)


@map_.command("task")
@click.argument("task_id")
@_ONEMAP
@_map_options
def task_cmd(task_id: str, onemap: str | None, basemap: str, offline: bool, out: str | None,
             overwrite: bool) -> None:
    """TASK_ID's plan sites with its targets and progress in a side panel."""
    from cityplan.maps import task_map

    _write(task_map(task_id, onemap, basemap=basemap, offline=offline), out, f"task-{task_id}", overwrite)


@map_.command("district")
@click.argument("name")
@_ONEMAP
@click.option("--coverage", "preset", help="Add a coverage choropleth and gaps for this preset (e.g. ice-30min).")
@_map_options
def district_cmd(name: str, onemap: str | None, preset: str | None, basemap: str, offline: bool,
                 out: str | None, overwrite: bool) -> None:
    """One district (南岗区, 南岗, Nangang or 230103) with progress (and coverage) choropleths."""
    from cityplan.maps import district_map

    cov = None
    if preset:
        from cityplan.coverage import run_coverage

        cov = run_coverage(onemap, preset=preset)
    _write(district_map(name, onemap, basemap=basemap, offline=offline, coverage=cov), out, f"district-{name}",
           overwrite)


@map_.command("file")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--layer", help="Layer of a multi-layer file.")
@click.option("--crs", help="Declared CRS if the file has none, or gcj02 / bd09.")
@click.option("--encoding", help="Text encoding, e.g. gbk.")
@_map_options
def file_cmd(path: str, layer: str | None, crs: str | None, encoding: str | None, basemap: str,
             offline: bool, out: str | None, overwrite: bool) -> None:
    """A quick look at any vector file, attributes in popups."""
    from pathlib import Path

    from cityplan.maps import file_map

    _write(file_map(path, layer=layer, crs=crs, encoding=encoding, basemap=basemap, offline=offline),
           out, f"file-{Path(path).stem}", overwrite)
