"""A synthetic country: translated copies of one one-map, each its own "city", with known answers.

Two products, both for tests and benchmarks of the check-up (:mod:`cityplan.checkup`):

* :func:`synthetic_country` writes N GeoPackages ``DIR/<prefix>-NNN.gpkg``, each a copy of the
  source one map (default: the map ``$CITYPLAN_ONEMAP`` or ./cityplan.toml names) moved by a grid
  offset. Copy ``k`` sits at column ``k % cols``, row ``k // cols`` of a grid whose spacing is the
  map's extent plus a margin, so copies never overlap.
* :func:`stitched_onemap` writes ONE GeoPackage holding N copies side by side (districts, census,
  demand, facilities, and one road graph joined by connector roads) - the "very large city" of the
  benchmark.

How copies are moved, and why the numbers stay Harbin's
-------------------------------------------------------
Every geometry is taken from the storage CRS (lon/lat) into the map's **metric working CRS**
(EPSG:4551 for Harbin), translated there by ``(dx, dy)`` metres, and taken back. Each copy keeps
the working CRS of the original (written into its build info), so every distance and area a
coverage run measures is the original's measured on translated coordinates: the shapes are the
same to ~1e-9 m (the float round trip through lon/lat). Translating lon/lat directly would not
do: one degree of longitude is shorter farther north, so areas would change. The per-district
shares of every copy equal the original's exactly after the rounding coverage applies (4
decimals; tested in ``tests/test_checkup.py``).

Copies are cheap: the file is copied and each feature table's geometry blobs are rewritten in one
SQLite transaction (shapely vectorised transform, GeoPackage headers with new envelopes, the
R-tree index rebuilt from them). Each copy gets a new ``build_id`` (so caches keyed by the build
are never shared), its derived-array cache is emptied, its build info says ``synthetic`` and how
it was made, and every catalog description starts with ``[synthetic copy ...]``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from cityplan._errors import CityplanError
from cityplan.io.write import atomic_path, check_output
from cityplan.onemap import OneMap, default_location
from cityplan.store.base import BuildPayload
from cityplan.store.gpkg_copy import clear_cache, translated_copy

logger = logging.getLogger(__name__)

__all__ = ["copy_onemap", "grid_offsets", "stitched_onemap", "synthetic_country", "translator"]

#: empty space between neighbouring copies (metres); > 3x the longest preset limit in metres
MARGIN_M = 20_000.0
#: roles coverage reads besides the facilities: always copied into a stitched map
COVERAGE_ROLES = ("districts", "district_boundaries_full", "census", "residential", "buildings", "road_graph")
#: road class of the connectors of a stitched map (117 = unclassified: walkable, drivable)
CONNECTOR_CLASS = 117


class SyntheticError(CityplanError):
    """The synthetic country cannot be written (source not a GeoPackage, bad N)."""


def translator(src_crs: CRS | str | int, working_crs: CRS | str | int,
               dx: float, dy: float) -> Callable[[np.ndarray], np.ndarray]:
    """A coordinate function for :func:`shapely.transform`: ``src`` -> working, + (dx, dy), -> ``src``."""
    src, work = CRS.from_user_input(src_crs), CRS.from_user_input(working_crs)
    if src == work:
        return lambda xy: xy + np.array([dx, dy])
    fwd, inv = _transformers(src.to_wkt(), work.to_wkt())

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = fwd.transform(xy[:, 0], xy[:, 1])
        x, y = inv.transform(np.asarray(x) + dx, np.asarray(y) + dy)
        return np.column_stack([x, y])

    return move


@functools.lru_cache(maxsize=16)
def _transformers(src_wkt: str, work_wkt: str) -> tuple[Transformer, Transformer]:
    """Both directions between two CRSs (building a transformer costs ~0.4 s: made once)."""
    src, work = CRS.from_wkt(src_wkt), CRS.from_wkt(work_wkt)
    return Transformer.from_crs(src, work, always_xy=True), Transformer.from_crs(work, src, always_xy=True)


def grid_offsets(n: int, extent_m: tuple[float, float], *, margin_m: float = MARGIN_M) -> np.ndarray:
    """``(n, 2)`` offsets in metres: a near-square grid, spacing = extent + margin, copy 0 at (0, 0)."""
    if n < 1:
        msg = f"number of copies {n!r}: give at least 1"
        raise SyntheticError(msg)
    cols = math.ceil(math.sqrt(n))
    k = np.arange(n)
    step = np.array([extent_m[0] + margin_m, extent_m[1] + margin_m])
    return np.column_stack([(k % cols) * step[0], (k // cols) * step[1]])


def _extent_m(om: OneMap) -> tuple[float, float]:
    minx, miny, maxx, maxy = om.extent
    box = gpd.GeoSeries(gpd.points_from_xy([minx, maxx], [miny, maxy]), crs=4326).to_crs(om.working_crs)
    xy = shapely.get_coordinates(box.to_numpy())
    return float(abs(xy[1, 0] - xy[0, 0])), float(abs(xy[1, 1] - xy[0, 1]))


def copy_onemap(source: str | os.PathLike[str], out: str | os.PathLike[str], *, dx: float, dy: float,
                city: str, note: str = "", overwrite: bool = False) -> Path:
    """Write a copy of the one-map GeoPackage ``source`` moved by ``(dx, dy)`` metres.

    The translation is done in the map's working CRS (see the module notes), which the copy
    keeps. The copy gets a new ``build_id``, an empty cache, ``synthetic`` in its build info and
    ``[synthetic copy ...]`` in every catalog description. The source is only read.
    """
    om = OneMap.open(source)
    if om.path is None:
        msg = f"{om.label}: synthetic copies are made of a GeoPackage one map; pass a .gpkg"
        raise SyntheticError(msg)
    info = dict(om.build_info)
    work = om.working_crs
    check_output(out, overwrite=overwrite)
    flag = (f"synthetic copy of {om.path.name} (build {om.build_stamp[:12]}) moved by dx={dx:.0f} m, "
            f"dy={dy:.0f} m in {work.to_string()}" + (f"; {note}" if note else ""))
    if "extract_bbox" in info:
        x0, y0, x1, y1 = json.loads(info["extract_bbox"])
        xy = translator(4326, work, dx, dy)(np.array([[x0, y0], [x1, y1]], dtype=float))
        info["extract_bbox"] = json.dumps([round(float(v), 6) for v in (xy[0, 0], xy[0, 1], xy[1, 0], xy[1, 1])])
    info.update({"build_id": uuid.uuid4().hex, "city": city, "synthetic": flag,
                 "synthetic_offset_m": json.dumps([dx, dy]),
                 "working_crs": info.get("working_crs") or work.to_string()})
    with atomic_path(out, overwrite=overwrite) as tmp:
        translated_copy(om.path, tmp, lambda src_crs: translator(src_crs, work, dx, dy), info=info,
                        description_prefix=f"[{flag}] ")
    om.close()
    return Path(out)


def clear_caches(paths: list[Path]) -> None:
    """Empty the derived-array cache (road graph, demand estimates) of each GeoPackage one map,
    so the next run starts cold (the benchmarks compare runs from the same state)."""
    for p in paths:
        clear_cache(p)


def synthetic_country(n: int, out_dir: str | os.PathLike[str], *, source: str | os.PathLike[str] | None = None,
                      prefix: str = "synth", margin_m: float = MARGIN_M, overwrite: bool = False,
                      progress: Callable[[str], None] | None = None) -> list[Path]:
    """Write ``n`` translated copies of ``source`` as ``out_dir/<prefix>-NNN.gpkg`` (one city each).

    Parameters
    ----------
    n : int
        Number of cities.
    out_dir : path
        Folder for the copies (created).
    source : path, optional
        The one-map GeoPackage to copy (default: ``$CITYPLAN_ONEMAP`` or the map ./cityplan.toml names).
    margin_m : float
        Empty space between neighbouring copies.

    Returns
    -------
    list of Path
        The copies, in grid order (copy 0 sits where the source is).
    """
    src = Path(source) if source is not None else Path(default_location())
    om = OneMap.open(src)
    offsets = grid_offsets(n, _extent_m(om), margin_m=margin_m)
    om.close()
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(n - 1)))
    paths = []
    for k, (dx, dy) in enumerate(offsets):
        name = f"{prefix}-{k:0{width}d}"
        paths.append(copy_onemap(src, folder / f"{name}.gpkg", dx=float(dx), dy=float(dy), city=name,
                                 note=f"copy {k} of {n}", overwrite=overwrite))
        if progress:
            progress(name)
    return paths


# ------------------------------------------------------------------------------- stitched
def _attachment(graph: gpd.GeoDataFrame, work: gpd.GeoSeries) -> tuple[int, np.ndarray]:
    """The node connectors attach to: the southern-most node of the graph's largest component
    (its id and working-CRS coordinates)."""
    from scipy.sparse import coo_matrix, csgraph

    src, dst = graph["source"].to_numpy(), graph["target"].to_numpy()
    uniq, inv = np.unique(np.concatenate([src, dst]), return_inverse=True)
    m = len(src)
    adj = coo_matrix((np.ones(m), (inv[:m], inv[m:])), shape=(len(uniq), len(uniq)))
    _, lab = csgraph.connected_components(adj, directed=False)
    main = np.bincount(lab).argmax()
    start = shapely.get_coordinates(shapely.get_point(work.to_numpy(), 0))
    end = shapely.get_coordinates(shapely.get_point(work.to_numpy(), -1))
    xy = np.full((len(uniq), 2), np.nan)
    xy[inv[:m]] = start
    xy[inv[m:]] = end
    cand = np.flatnonzero(lab == main)
    node = cand[np.argmin(xy[cand, 1])]
    return int(uniq[node]), xy[node]


def stitched_onemap(n: int, out: str | os.PathLike[str], *, source: str | os.PathLike[str] | None = None,
                    layers: list[str] | None = None, margin_m: float = MARGIN_M,
                    overwrite: bool = False) -> Path:
    """Write ONE one map holding ``n`` translated copies of ``source`` side by side.

    Districts get unique ``adcode`` (``<adcode>-<k>``, in every layer with an ``adcode``: full
    boundaries, census rows repeated per copy) and names (``<name> #k``); road-graph node ids are offset per copy and the copies'
    graphs are joined into one network by connector roads (class 117, unclassified) that leave each
    copy from its southern-most road node and run through the empty margin between copies, so a
    coverage run sees one graph of ``n`` times the edges whose per-copy answers are the
    original's. ``layers`` limits the copied layers (the roles coverage needs are always kept).
    """
    src = Path(source) if source is not None else Path(default_location())
    om = OneMap.open(src)
    work = om.working_crs
    offsets = grid_offsets(n, _extent_m(om), margin_m=margin_m)
    cols = math.ceil(math.sqrt(n))
    need = {om.layer_id_for(r, required=False) for r in COVERAGE_ROLES}
    keep = [lid for lid in om.layer_ids if (layers is None or lid in layers or lid in need)]
    districts_id = om.layer_id_for("districts")
    graph_id = om.layer_id_for("road_graph")
    out_layers: dict[str, pd.DataFrame] = {}
    id_step = 0
    for lid in keep:
        df = om.layer(lid)
        if lid == graph_id:
            id_step = int(10 ** math.ceil(math.log10(max(int(df["source"].max()), int(df["target"].max())) + 2)))
        if not isinstance(df, gpd.GeoDataFrame):
            if "adcode" in df.columns:  # the census: one row per copy's district
                df = pd.concat([df.assign(adcode=df["adcode"].astype(str) + f"-{k}") for k in range(n)],
                               ignore_index=True)
            out_layers[lid] = df
            continue
        w = df.geometry.to_crs(work).to_numpy()
        parts = []
        for k, (dx, dy) in enumerate(offsets):
            g = shapely.transform(w, lambda xy, dx=dx, dy=dy: xy + np.array([dx, dy]))
            part = df.copy()
            part = part.set_geometry(gpd.GeoSeries(g, crs=work, index=df.index).to_crs(df.crs))
            if "adcode" in part.columns:  # districts and full district boundaries
                part["adcode"] = part["adcode"].astype(str) + f"-{k}"
            if lid == districts_id and "name" in part.columns:
                part["name"] = part["name"].astype(str) + f" #{k}"
            if lid == graph_id:
                part["source"] = part["source"] + k * id_step
                part["target"] = part["target"] + k * id_step
            parts.append(part)
        if lid == graph_id:
            parts.append(_connector_edges(df, df.geometry.to_crs(work), offsets, cols, id_step, work))
        out_layers[lid] = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=df.crs)
    catalog = om.catalog[om.catalog["layer"].isin(keep)].copy()
    for c in ("quantities", "style", "roles"):
        catalog[c] = catalog[c].map(lambda v: json.dumps(v, ensure_ascii=False))
    flag = f"synthetic: {n} copies of {src.name} side by side, one road graph joined by connector roads"
    catalog["description"] = f"[{flag}] " + catalog["description"].fillna("").astype(str)
    catalog["features"] = [len(out_layers[lid]) for lid in catalog["layer"]]
    catalog["source_features"] = catalog["features"] + catalog["dropped"]
    info = dict(om.build_info)
    allb = out_layers[districts_id].to_crs(4326).total_bounds
    info.update({"build_id": uuid.uuid4().hex, "city": f"stitched {n}", "synthetic": flag,
                 "extract_bbox": json.dumps([round(float(v), 6) for v in allb]),
                 "working_crs": info.get("working_crs") or work.to_string()})
    from cityplan.store import open_store

    ledger = om.ledger.iloc[0:0]
    om.close()
    check_output(out, overwrite=overwrite)
    open_store(Path(out)).replace_map(BuildPayload(layers=out_layers, catalog=catalog, ledger=ledger, info=info),
                                      overwrite=overwrite)
    return Path(out)


def _connector_edges(graph: gpd.GeoDataFrame, work: gpd.GeoSeries, offsets: np.ndarray, cols: int,
                     id_step: int, crs: CRS) -> gpd.GeoDataFrame:
    """Connector roads between copies (see :func:`stitched_onemap`), in the graph's storage CRS."""
    node_id, node_xy = _attachment(graph, work)
    bounds = shapely.bounds(shapely.union_all(work.to_numpy()))
    below = bounds[1] - MARGIN_M / 2  # the east-west trunk runs through the margin south of each row
    west = bounds[0] - MARGIN_M / 2   # the north-south trunk west of column 0
    lines, us, vs = [], [], []
    n = len(offsets)
    hub = {}
    for k, (dx, dy) in enumerate(offsets):
        a = node_xy + (dx, dy)
        h = (a[0], below + dy)  # the copy's drop to its row's trunk
        lines.append(shapely.LineString([a, h]))
        us.append(node_id + k * id_step)
        vs.append(_virtual(k, 0, n, id_step))
        hub[k] = h
    for k in range(n):
        col = k % cols
        if col + 1 < cols and k + 1 < n:  # east along the row's trunk
            lines.append(shapely.LineString([hub[k], hub[k + 1]]))
            us.append(_virtual(k, 0, n, id_step))
            vs.append(_virtual(k + 1, 0, n, id_step))
        if col == 0 and k + cols < n:  # north along the west trunk, column 0 only
            p0 = (west + offsets[k][0], hub[k][1])
            p1 = (west + offsets[k + cols][0], hub[k + cols][1])
            lines.append(shapely.LineString([hub[k], p0, p1, hub[k + cols]]))
            us.append(_virtual(k, 0, n, id_step))
            vs.append(_virtual(k + cols, 0, n, id_step))
    cls = pd.Series([CONNECTOR_CLASS]).astype(graph["class_id"].dtype).iloc[0]
    conn = gpd.GeoDataFrame({"source": us, "target": vs, "class_id": cls, "reverse": 1,
                             "illustrative": True}, geometry=lines, crs=crs).to_crs(graph.crs)
    conn["length"] = shapely.length(np.asarray(lines, dtype=object))
    for c in graph.columns:
        if c not in conn.columns:
            conn[c] = None
    return conn[list(graph.columns)]


def _virtual(k: int, j: int, n: int, id_step: int) -> int:
    """Node ids of connector junctions: above every copy's id range."""
    return (n + 1) * id_step + 2 * k + j
