"""Derivations used by the catalog (``derive: {op: ...}``): pure GeoDataFrame -> GeoDataFrame."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

from cityplan._errors import SchemaError
from cityplan.crs import STORAGE_CRS, to_working

Bbox = tuple[float, float, float, float]


def fill_small_holes(gdf: gpd.GeoDataFrame, max_hole_m2: float) -> gpd.GeoSeries:
    """Polygons without interior rings smaller than ``max_hole_m2`` (slivers between source polygons)."""
    work = to_working(gdf[[gdf.geometry.name]])

    def _fill(poly: shapely.Polygon) -> shapely.Polygon:
        holes = [r for r in poly.interiors if shapely.Polygon(r).area >= max_hole_m2]
        return shapely.Polygon(poly.exterior, holes)

    out = [shapely.multipolygons([_fill(p) for p in shapely.get_parts(g)]) for g in work.geometry]
    return gpd.GeoSeries(out, index=gdf.index, crs=work.crs).to_crs(gdf.crs)


def _multi(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type == "Polygon":
        return shapely.multipolygons([geom])
    if geom.geom_type == "GeometryCollection":
        polys = [p for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")
                 for p in shapely.get_parts(g)]
        return shapely.multipolygons(polys)
    return geom


def dissolve_by_prefix(
    gdf: gpd.GeoDataFrame, *, column: str, length: int, as_: str,
    table: pd.DataFrame | None = None, on: str | None = None, columns: list[str] | None = None,
    fill: gpd.GeoDataFrame | None = None, bbox: Bbox | None = None,
) -> gpd.GeoDataFrame:
    """Dissolve polygons by the first ``length`` characters of ``column``.

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons (e.g. sub-districts with a 12-digit ``division_code``).
    column, length, as_ : str, int, str
        Key column, prefix length and the name of the resulting key column.
    table, on, columns : DataFrame, str, list, optional
        Attribute table joined on the new key (e.g. census names and population).
    fill : GeoDataFrame, optional
        Polygons with the same key column; the parts of the study area (``bbox``)
        that ``gdf`` leaves uncovered are filled from here (see :func:`_fill_gaps`).
    bbox : tuple, optional
        Clip extent (lon/lat).

    Returns
    -------
    GeoDataFrame
        One row per key with ``boundary_source`` (``osm``, ``osm+fill``, ``fill``) and, when
        ``fill`` is given, ``extract_share`` = clipped area / full area of the
        fill polygon of the same key.
    """
    if column not in gdf.columns:
        msg = f"dissolve_by_prefix: column {column!r} not in {list(gdf.columns)}"
        raise SchemaError(msg)
    keys = gdf[column].astype(str).str[:length]
    parts = gdf.geometry.groupby(keys.values).agg(lambda s: shapely.union_all(s.values))
    out = gpd.GeoDataFrame({as_: parts.index.astype(str), "boundary_source": "osm"},
                           geometry=list(parts.values), crs=gdf.crs)
    clip = box(*bbox) if bbox is not None else None
    if fill is not None:
        out = _fill_gaps(out, fill, as_=as_, clip=clip)
        full = fill.set_index(fill[as_].astype(str))
        work_out = to_working(out).area.to_numpy()
        full_area = to_working(full).area
        out["extract_share"] = [
            float(min(1.0, a / full_area[k])) if k in full_area.index else np.nan
            for k, a in zip(out[as_], work_out, strict=True)
        ]
    out["geometry"] = [_multi(g) for g in out.geometry]
    # pinholes where neighbouring sub-district outlines do not quite meet belong to the district
    out["geometry"] = fill_small_holes(out.set_geometry("geometry"), 10_000.0).to_numpy()
    if table is not None:
        t = table.copy()
        t[on or as_] = t[on or as_].astype(str)
        out = out.merge(t[[on or as_, *(columns or [])]], left_on=as_, right_on=on or as_, how="left")
    return gpd.GeoDataFrame(out, geometry="geometry", crs=gdf.crs)


def _fill_gaps(out: gpd.GeoDataFrame, fill: gpd.GeoDataFrame, *, as_: str,
               clip: shapely.Geometry | None, opening_m: float = 25.0) -> gpd.GeoDataFrame:
    """Add the parts of ``fill`` polygons (clipped) that ``out`` does not cover.

    A district with OSM parts gets its uncovered remainder merged in
    (``boundary_source = osm+fill``); a district without any becomes ``fill``.
    Thin slivers where the two boundary sources disagree are removed by a
    morphological opening of ``opening_m`` metres in the working CRS.
    """
    work_out = to_working(out)
    crs = work_out.crs
    covered = shapely.union_all(work_out.geometry.values)
    wfill = fill.to_crs(crs)
    wclip = gpd.GeoSeries([clip], crs=out.crs).to_crs(crs).iloc[0] if clip is not None else None
    geoms = dict(zip(work_out[as_], work_out.geometry, strict=True))
    source = dict(zip(out[as_], out["boundary_source"], strict=True))
    for key, g in zip(wfill[as_].astype(str), wfill.geometry, strict=True):
        rest = g.intersection(wclip) if wclip is not None else g
        rest = rest.difference(covered).buffer(-opening_m).buffer(opening_m).intersection(rest)
        rest = shapely.union_all([p for p in shapely.get_parts(_multi(rest)) if p.area >= 5000])
        if rest.is_empty:
            continue
        if key in geoms:
            geoms[key] = shapely.union_all([geoms[key], rest])
            source[key] = "osm+fill"
        else:
            geoms[key] = rest
            source[key] = "fill"
    res = gpd.GeoDataFrame({as_: list(geoms), "boundary_source": [source[k] for k in geoms]},
                           geometry=list(geoms.values()), crs=crs)
    return res.to_crs(out.crs)


def riverside_band(gdf: gpd.GeoDataFrame, *, width_m: float, bbox: Bbox | None = None) -> gpd.GeoDataFrame:
    """Land within ``width_m`` of the polygons in ``gdf`` (buffer minus the polygons).

    Buffers in the metric working CRS; returns one MultiPolygon in the storage CRS
    with ``width_m`` and ``area_m2`` columns.
    """
    work = to_working(gdf)
    water = shapely.union_all(work.geometry.values)
    band = shapely.buffer(water, width_m, quad_segs=8).difference(water)
    if bbox is not None:
        clip = gpd.GeoSeries([box(*bbox)], crs=STORAGE_CRS).to_crs(work.crs).iloc[0]
        band = band.intersection(clip)
    res = gpd.GeoDataFrame({"name": ["松花江生态廊道(示意)"], "width_m": [width_m],
                            "area_m2": [round(band.area, 1)]},
                           geometry=[_multi(band)], crs=work.crs)
    return res.to_crs(gdf.crs)


def select_points(
    layers: dict[str, gpd.GeoDataFrame], *, any_of: dict[str, list[str]],
) -> gpd.GeoDataFrame:
    """Features of several layers matching any ``column in values`` test, as points.

    Polygons become their representative point (always inside). A ``from_layer``
    column says where each point came from.
    """
    frames = []
    for name, gdf in layers.items():
        mask = np.zeros(len(gdf), dtype=bool)
        for col, values in any_of.items():
            if col in gdf.columns:
                vals = gdf[col].astype("string").fillna("")
                # OSM multi-values are ';'-separated
                mask |= vals.str.split(";").map(lambda xs, v=set(values): bool(v & set(xs))).to_numpy(bool)
        sel = gdf[mask].copy()
        sel["from_layer"] = name
        sel = sel.set_geometry(sel.geometry.representative_point())
        frames.append(sel)
    out = pd.concat(frames, ignore_index=True) if frames else gpd.GeoDataFrame(geometry=[])
    return gpd.GeoDataFrame(out, geometry="geometry", crs=next(iter(layers.values())).crs)
