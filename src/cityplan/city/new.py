"""``new_city``: a data folder and catalog for any city from an OSM extract and its districts."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import osmium
import pandas as pd
import pyogrio
import yaml

from cityplan import __version__
from cityplan._errors import CRSMismatchError, LayerNotFoundError, OutputExistsError, SchemaError
from cityplan.catalog import load_catalog
from cityplan.city.catalog import CENSUS_FILE, DISTRICTS_FILE, OSM_FILE, OSM_LAYERS, city_catalog
from cityplan.city.districts import clip_to_extract, read_census, read_districts
from cityplan.city.osm import describe, gdal_config, read_osm, select_layers
from cityplan.city.profile_files import write_profile
from cityplan.city.roadgraph import road_graph_edges
from cityplan.crs import working_crs
from cityplan.io.hashing import sha256_file
from cityplan.io.write import write_table
from cityplan.profile import load_profile

logger = logging.getLogger(__name__)

_GEOMETRY = {lid: geom for lid, _r, _role, geom, *_ in OSM_LAYERS}


def _require(path: Path, option: str) -> Path:
    if not path.is_file():
        msg = f"{option} {path}: file not found; check the path"
        raise LayerNotFoundError(msg)
    return path


def extract_bbox(path: Path, frames: dict[str, gpd.GeoDataFrame]) -> tuple[float, float, float, float]:
    """The extract's bounding box: from the file header if it has one, else the data's bounds."""
    box = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING).header().box()
    if box.valid():
        return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)
    bounds = [f.total_bounds for f in frames.values() if len(f)]
    if not bounds:
        msg = f"--osm {path}: the extract holds no tagged feature; is it the right file?"
        raise SchemaError(msg)
    return (min(b[0] for b in bounds), min(b[1] for b in bounds), max(b[2] for b in bounds),
            max(b[3] for b in bounds))


def city_working_crs(bbox: tuple[float, float, float, float]) -> str:
    """The CGCS2000 3-degree GK zone of the extract's centre; a UTM zone outside China's zones."""
    import shapely

    probe = gpd.GeoDataFrame(geometry=[shapely.box(*bbox)], crs="EPSG:4326")
    try:
        crs = working_crs(probe)
    except CRSMismatchError:
        crs = working_crs(probe, utm=True)
    return f"EPSG:{crs.to_epsg()}"


def _publish(tmp: Path, out: Path, *, overwrite: bool) -> None:
    """Move the finished folder into place (the old one, if replaced, is removed afterwards)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_folder(tmp: Path, *, layers: dict[str, gpd.GeoDataFrame], districts: gpd.GeoDataFrame,
                  census: pd.DataFrame | None, catalog: dict, summary: dict, header: str) -> None:
    """Write every file of the city into ``tmp``, then flush each to disk once."""
    with gdal_config({"OGR_SQLITE_SYNCHRONOUS": "OFF"}):  # one fsync per file below instead of per layer
        for lid, geom in _GEOMETRY.items():
            pyogrio.write_dataframe(layers[lid], tmp / OSM_FILE, layer=lid, driver="GPKG", geometry_type=geom,
                                    promote_to_multi=geom.startswith("Multi"), append=(tmp / OSM_FILE).exists())
        pyogrio.write_dataframe(districts, tmp / DISTRICTS_FILE, layer="districts", driver="GPKG",
                                geometry_type="MultiPolygon", promote_to_multi=True)
    if census is not None:
        write_table(census, tmp / CENSUS_FILE)
    text = yaml.safe_dump(catalog, allow_unicode=True, sort_keys=False, width=110)
    (tmp / "catalog.yaml").write_text(
        header + "# Schema: docs/catalog.md; build with `cityplan build --catalog catalog.yaml --data .`\n"
        + text, encoding="utf-8")
    (tmp / "city.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    for f in tmp.iterdir():
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: ``transit.yaml`` of a city made with ``--gtfs`` (generic settings, stated as assumptions)
TRANSIT_YAML = """\
# Transit by timetable (docs/transit.md): `cityplan coverage --mode transit --depart 07:00-09:00`.
# The feed was copied here by `cityplan city new --gtfs`; paths are relative to this folder.
feeds: [{feed}]
date: null                  # null: a weekday the feed covers (printed); set YYYY-MM-DD to fix it
depart: "07:00-09:00"
percentile: 75              # reported beside the median
decide_by: median           # covered = the median travel time over the window's minutes within the limit
max_transfers: 3
transfer_penalty_min: 0
min_change_min: 1
max_walk_m: 1000
max_transfer_walk_m: 400
max_stop_snap_m: 300
source: >-
  Generic assumptions written by `cityplan city new` (not measured for this city): up to 3
  transfers, 1 minute to change at a stop, walks of up to 1000 m to and from stops and 400 m
  between stops, no transfer penalty. Change them here.
"""


def write_transit(folder: Path, feed: Path) -> None:
    """Copy ``feed`` to ``folder/transit/`` and write ``folder/transit.yaml`` naming it."""
    (folder / "transit").mkdir(exist_ok=True)
    shutil.copyfile(feed, folder / "transit" / feed.name)
    (folder / "transit.yaml").write_text(TRANSIT_YAML.format(feed=f"transit/{feed.name}"), encoding="utf-8")


def new_city(
    name: str, *, osm: str | os.PathLike[str], districts: str | os.PathLike[str],
    name_column: str | None = None, districts_crs: str | None = None,
    census: str | os.PathLike[str] | None = None, out: str | os.PathLike[str], overwrite: bool = False,
    population_column: str | None = None, country: str | None = None, timezone: str | None = None,
    gtfs: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a city's folder: its profile (settings) and data (OSM layers, districts, census).

    The folder is both the profile (``--city DIR``: ``profile.yaml``, ``catalog.yaml``, generic
    presets, speeds, review rules and map recipes to edit) and the data folder (``--data DIR``).

    Parameters
    ----------
    name : str
        City name (the catalog's ``city``).
    osm : path-like
        OSM extract (``.osm.pbf``; any file GDAL's OSM driver and libosmium read).
    districts : path-like
        District polygons, any vector file with a CRS (or give ``districts_crs``).
    name_column : str, optional
        Column of ``districts`` with the district names (default: ``name`` and the like).
    districts_crs : str, optional
        CRS of a districts file that declares none (``EPSG:4326``, ``gcj02``...).
    census : path-like, optional
        CSV with ``population`` and ``adcode`` or the district name (see
        :func:`cityplan.city.districts.read_census`).
    out : path-like
        Folder to write; must not exist (or be empty) unless ``overwrite``.
    population_column : str, optional
        The census column holding the population (default: ``population``, ``pop_YYYY``...).
    country : str, optional
        ISO 3166-1 alpha-2 code; default ``CN`` for an extract inside China, else not known (the
        profile says so; units m²/ha, English labels, no Chinese datum checks).
    timezone : str, optional
        IANA time zone (default ``Asia/Shanghai`` in China, else ``UTC``, stated as an assumption).
    overwrite : bool, default False
        Replace an existing folder.
    gtfs : path-like, optional
        A GTFS feed (zip), copied to ``transit/`` of the folder and named in a ``transit.yaml``
        (timetable transit for ``cityplan coverage --mode transit``; validate it first:
        ``cityplan city new --gtfs`` does).

    Returns
    -------
    Path
        ``out``; build it with ``cityplan build --city OUT --data OUT``.
    """
    osm_p = _require(Path(osm), "--osm")
    dist_p = _require(Path(districts), "--districts")
    census_p = _require(Path(census), "--census") if census is not None else None
    gtfs_p = _require(Path(gtfs), "--gtfs") if gtfs is not None else None
    target = Path(out)
    if target.exists() and not target.is_dir():
        msg = f"--out {target}: exists and is not a folder; choose a folder"
        raise OutputExistsError(msg)
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        msg = f"--out {target}: folder exists and is not empty; pass --overwrite to replace it"
        raise OutputExistsError(msg)
    dist = read_districts(dist_p, name_column=name_column, crs=districts_crs)
    frames = read_osm(osm_p)
    layers, osm_counts = select_layers(frames)
    bbox = extract_bbox(osm_p, frames)
    wcrs = city_working_crs(bbox)
    edges, graph_report = road_graph_edges(osm_p, crs=wcrs)
    layers["road_graph"] = edges
    kept = clip_to_extract(dist, bbox, crs=wcrs)
    if kept.empty:
        msg = (f"--districts {dist_p}: no district overlaps the OSM extract {tuple(round(v, 4) for v in bbox)}; "
               "are the files of the same city (and the districts' CRS right)?")
        raise SchemaError(msg)
    census_df = (read_census(census_p, dist, name_column=name_column, population_column=population_column)
                 if census_p else None)
    if census_df is not None:
        by_code = census_df.set_index("adcode")
        for col in ("population", "pop_2020", "population_year"):
            kept[col] = kept["adcode"].astype(str).map(by_code[col])
    counts = {lid: len(layers[lid]) for lid in _GEOMETRY}
    catalog = city_catalog(name, bbox=bbox, working_crs=wcrs, osm_file=osm_p.name, districts_file=dist_p.name,
                           census_file=census_p.name if census_p else None, counts=counts)
    summary = {
        "city": name, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cityplan_version": __version__, "extract_bbox": catalog["extract_bbox"], "working_crs": wcrs,
        "osm": {"file": str(osm_p), "sha256": sha256_file(osm_p), "features": osm_counts},
        "layers": counts, "selections": describe(), "road_graph": graph_report.as_dict(),
        "districts": {"file": str(dist_p), "sha256": sha256_file(dist_p), "read": len(dist),
                      "kept": len(kept), "outside_extract": sorted(set(dist["name"]) - set(kept["name"]))},
        "census": None if census_df is None else {"file": str(census_p), "sha256": sha256_file(census_p),
                                                  "rows": len(census_df)},
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _write_folder(tmp, layers=layers, districts=kept, census=census_df, catalog=catalog, summary=summary,
                      header=f"# {name}: written by `cityplan city new` from {osm_p.name} and {dist_p.name}.\n")
        write_profile(tmp, name=name, bbox=bbox, country=country, timezone=timezone)
        if gtfs_p is not None:
            write_transit(tmp, gtfs_p)
        load_catalog(load_profile(tmp))  # what we write must load
        _publish(tmp, target, overwrite=overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("wrote %s: %s", target, counts)
    return target
