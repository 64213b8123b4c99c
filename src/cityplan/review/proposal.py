"""The proposal side of a review: cleaning, project types, declared attributes, its own area."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import GeometryError, ReviewError
from cityplan.review.rules import PROJECT_TYPES
from cityplan.tools.geometry import FAMILIES

M2_PER_MU = 10000.0 / 15.0
#: area units a profile may list (``area_units``): square metres per unit, symbol, decimals
AREA_UNITS: dict[str, tuple[float, str, int]] = {"m2": (1.0, "m²", 2), "ha": (1e4, "ha", 4),
                                                 "mu": (M2_PER_MU, "亩", 4), "km2": (1e6, "km²", 6)}
#: the units of a map whose profile names none (the profile schema's default)
DEFAULT_AREA_UNITS = ("m2", "ha")
#: attributes a proposal may declare its type in (first present wins)
TYPE_COLUMNS = ("type", "project_type", "项目类型")
#: Chinese names of the project types (accepted as attribute values, printed in the 审查意见)
TYPE_ZH = {"bridge": "桥梁", "pipeline": "管线", "road": "道路", "building": "建筑", "park_facility": "公园配套设施",
           "sports": "体育设施", "school": "学校", "other": "其他"}
_TYPE_ALIASES = {**{v: k for k, v in TYPE_ZH.items()}, "管道": "pipeline", "公园设施": "park_facility",
                 "park facility": "park_facility", "park-facility": "park_facility"}
#: declared attributes checked against 控规 limits: name -> accepted column names
ATTRIBUTE_COLUMNS = {"far": ("far", "容积率"), "height_m": ("height_m", "height", "建筑高度")}


def area_columns(units: tuple[str, ...] | list[str]) -> list[str]:
    """Area columns of findings and summaries: ``area_m2`` always (the measure), then one
    ``area_<unit>`` per other unit the profile lists (``area_mu`` only where it lists ``mu``).

    Parameters
    ----------
    units : sequence of str
        The profile's ``area_units`` (keys of :data:`AREA_UNITS`).

    Returns
    -------
    list of str
        Column names, e.g. ``["area_m2", "area_ha", "area_mu"]``.
    """
    return ["area_m2", *(f"area_{u}" for u in units if u != "m2" and u in AREA_UNITS)]


def area_values(m2: float, units: tuple[str, ...] | list[str]) -> dict[str, float]:
    """``m2`` square metres in every column of :func:`area_columns` (rounded per unit)."""
    out: dict[str, float] = {}
    for col in area_columns(units):
        per, _, digits = AREA_UNITS[col.removeprefix("area_")]
        out[col] = round(m2 / per, digits)
    return out


def format_area(values: dict[str, Any], units: tuple[str, ...] | list[str]) -> str:
    """``"1,234.50 m² = 0.1235 ha = 1.8518 亩"`` in the profile's units (its order), from the
    ``area_<unit>`` values of a finding or summary; ``""`` when there is no area."""
    parts = []
    for u in units:
        if u not in AREA_UNITS:
            continue
        per, sym, nd = AREA_UNITS[u]
        v = values.get(f"area_{u}")
        if v is None and values.get("area_m2") is not None:
            v = float(values["area_m2"]) / per
        if v is None or v != v:
            continue
        parts.append(f"{float(v):,.{nd}f} {sym}")
    return " = ".join(parts)


def crs_label(crs: Any) -> str:
    """``"EPSG:32723 (WGS 84 / UTM zone 23S)"``: the code and the name of a metric CRS."""
    code = crs.to_epsg()
    return f"EPSG:{code} ({crs.name})" if code else str(crs.name)


def normalise_type(value: object, *, where: str) -> str:
    """``bridge`` / ``桥梁`` / ``Bridge`` -> ``bridge``; :class:`ReviewError` naming ``where`` otherwise."""
    text = str(value).strip()
    key = _TYPE_ALIASES.get(text, text.lower().replace("-", "_").replace(" ", "_"))
    if key not in PROJECT_TYPES:
        msg = (f"{where}: project type {text!r} is unknown; use one of {list(PROJECT_TYPES)} "
               f"(or {list(TYPE_ZH.values())})")
        raise ReviewError(msg)
    return key


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def clean_proposal(gdf: gpd.GeoDataFrame, *, source: str, name_column: str | None = None,
                   project_type: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Drop (and say so) rows without geometry; repair invalid polygons with ``make_valid``;
    resolve each feature's project type and declared FAR / height."""
    if gdf.empty:
        msg = f"{source}: the file has no features; nothing to review"
        raise GeometryError(msg)
    notes = []
    out = gdf.copy()
    ids = [str(i) for i in out.index]
    if name_column and name_column not in out.columns:
        msg = (f"{source}: --name-column {name_column!r} is not a column; "
               f"choose one of {[str(c) for c in out.columns if c != out.geometry.name]}")
        raise ReviewError(msg)
    names = (out[name_column] if name_column and name_column in out.columns else
             out["name"] if "name" in out.columns else pd.Series([None] * len(out), index=out.index))
    out["feature"] = ids
    out["feature_name"] = [n if isinstance(n, str) and n else f"feature {i}" for n, i in zip(names, ids, strict=True)]
    out["project_type"] = _types(out, ids, source, project_type, notes)
    for attr, cols in ATTRIBUTE_COLUMNS.items():
        out[attr] = _numbers(out, ids, cols, source)
    keep = []
    geoms = []
    for i, g in zip(ids, out.geometry, strict=True):
        if g is None or g.is_empty:
            notes.append(f"{source} row {i}: no geometry - not reviewed")
            keep.append(False)
            geoms.append(g)
            continue
        if not g.is_valid:
            why = shapely.is_valid_reason(g)
            fixed = shapely.make_valid(g)
            if FAMILIES.get(g.geom_type) == "polygon":
                fixed = shapely.union_all([p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")])
            notes.append(f"{source} row {i}: invalid geometry ({why}) repaired with make_valid; check the red line")
            g = fixed
        keep.append(True)
        geoms.append(g)
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
    out = out[np.asarray(keep)]
    if out.empty:
        msg = f"{source}: no feature has a geometry; nothing to review"
        raise GeometryError(msg)
    return out, notes


def _types(out: gpd.GeoDataFrame, ids: list[str], source: str, declared: str | None, notes: list[str]) -> list[str]:
    col = next((c for c in TYPE_COLUMNS if c in out.columns), None)
    given = declared and normalise_type(declared, where="--type")
    types = []
    for i, v in zip(ids, out[col] if col else [None] * len(ids), strict=True):
        attr = None if _blank(v) else normalise_type(v, where=f"{source} row {i}, column {col!r}")
        if given and attr and attr != given:
            notes.append(f"{source} row {i}: attribute {col}={v!r} differs from --type {given}; reviewed as {given}")
        types.append(given or attr or "other")
    if not given and not col:
        notes.append(f"no project type given (--type or a {'/'.join(TYPE_COLUMNS)} attribute): reviewed as 'other'")
    return types


def _numbers(out: gpd.GeoDataFrame, ids: list[str], cols: tuple[str, ...], source: str) -> list[float | None]:
    col = next((c for c in cols if c in out.columns), None)
    if col is None:
        return [None] * len(out)
    vals: list[float | None] = []
    for i, v in zip(ids, out[col], strict=True):
        if _blank(v):
            vals.append(None)
            continue
        try:
            x = float(str(v).strip().rstrip("m米"))
        except ValueError:
            x = float("nan")
        if not math.isfinite(x) or x < 0:
            msg = f"{source} row {i}, column {col!r}: {v!r} is not a non-negative number; give e.g. 2.5 or 36"
            raise ReviewError(msg)
        vals.append(x)
    return vals


def proposal_summary(prop: gpd.GeoDataFrame, work: gpd.GeoDataFrame, *, input_crs: str,
                     units: tuple[str, ...] = DEFAULT_AREA_UNITS) -> dict[str, Any]:
    """The proposal's own area (m² and the profile's ``units``, in the metric CRS), centroid
    (lon/lat and metric) and CRSs (``working_crs`` the code, ``working_crs_name`` code and name)."""
    geom = shapely.union_all(work.geometry.to_numpy())
    area = float(geom.area)
    c = geom.centroid if area > 0 or geom.length > 0 else shapely.centroid(geom)
    lonlat = gpd.GeoSeries([c], crs=work.crs).to_crs(4326).iloc[0]
    code = work.crs.to_epsg()
    return {"features": len(prop), **area_values(area, units),
            "length_m": round(float(geom.length), 2) if area == 0 else None,
            "centroid_lon": round(float(lonlat.x), 6), "centroid_lat": round(float(lonlat.y), 6),
            "centroid_x": round(float(c.x), 2), "centroid_y": round(float(c.y), 2),
            "input_crs": input_crs, "working_crs": f"EPSG:{code}" if code else work.crs.name,
            "working_crs_name": crs_label(work.crs),
            "project_types": sorted(set(prop["project_type"]))}
