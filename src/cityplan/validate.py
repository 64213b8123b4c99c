"""Check a user's vector file before it joins the one map (``cityplan layers validate``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import CityplanError, CRSMismatchError, SchemaError
from cityplan.catalog import ROLES
from cityplan.crs import HARBIN_WORKING_EPSG, convert_datum, to_working
from cityplan.io.read import read_vector
from cityplan.tools.geometry import FAMILIES

#: allowed geometry families and required columns per role
ROLE_RULES: dict[str, dict[str, tuple[str, ...]]] = {
    "base": {"families": ("point", "line", "polygon"), "required": ()},
    "plan": {"families": ("point", "line", "polygon"), "required": ("task_id",)},
    "facility": {"families": ("point", "polygon"), "required": ()},
    "demand": {"families": ("point", "polygon"), "required": ()},
    "constraint": {"families": ("line", "polygon"), "required": ()},
}
#: a GCJ-02 layer misread as WGS84 sits ~510 m off in Harbin; flag when
#: un-shifting it brings it this much closer to a WGS84 reference
GCJ_SUSPECT_RATIO = 0.7
GCJ_SUSPECT_MIN_M = 15.0


@dataclass
class Finding:
    """One problem found in a file."""

    level: str  # "error" or "warning"
    row: int | None
    message: str


@dataclass
class ValidationReport:
    """Result of :func:`validate_file`."""

    source: str
    role: str
    features: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not any(f.level == "error" for f in self.findings)

    def frame(self) -> pd.DataFrame:
        """Findings as a table (level, row, message)."""
        return pd.DataFrame([f.__dict__ for f in self.findings], columns=["level", "row", "message"])


def gcj02_offset_check(
    gdf: gpd.GeoDataFrame, reference: gpd.GeoDataFrame, *, sample: int = 300, seed: int = 0,
) -> tuple[float, float]:
    """Median distance (m) from ``gdf`` to ``reference`` as read and after GCJ-02 -> WGS84.

    If the second is much smaller, the layer is GCJ-02 data tagged as WGS84.
    """
    # vertices, not centroids: OSM-style outlines and points hug the street network
    xy = shapely.get_coordinates(np.asarray(gdf.geometry.values, dtype=object))
    if len(xy) > sample:
        xy = xy[np.random.default_rng(seed).choice(len(xy), sample, replace=False)]
    pts_gdf = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=gdf.crs)
    shifted = convert_datum(pts_gdf, "gcj02", "EPSG:4326")
    ref = to_working(reference, HARBIN_WORKING_EPSG)
    tree = shapely.STRtree(np.asarray(ref.geometry.values, dtype=object))

    def _median(frame: gpd.GeoDataFrame) -> float:
        g = np.asarray(to_working(frame, HARBIN_WORKING_EPSG).geometry.values, dtype=object)
        _, dist = tree.query_nearest(g, return_distance=True, all_matches=False)
        return float(np.median(dist))

    return _median(pts_gdf), _median(shifted)


def validate_file(
    path: str | os.PathLike[str], *, role: str, layer: str | None = None, crs: str | None = None,
    encoding: str | None = None, required: tuple[str, ...] = (),
    reference: gpd.GeoDataFrame | None = None, bbox: tuple[float, float, float, float] | None = None,
) -> ValidationReport:
    """Validate a file for use as a layer of ``role``.

    Collects every problem instead of stopping at the first: read errors (CRS,
    encoding, missing file), missing columns, null/empty/invalid geometries per
    row, geometry types the role does not allow, features outside ``bbox`` and,
    given a WGS84 ``reference`` layer, GCJ-02 coordinates passed as WGS84.
    """
    if role not in ROLES:
        msg = f"unknown role {role!r}; use one of {ROLES}"
        raise SchemaError(msg)
    rep = ValidationReport(source=str(path) + (f" layer {layer!r}" if layer else ""), role=role)
    try:
        gdf = read_vector(path, layer=layer, crs=crs, encoding=encoding)
    except CityplanError as exc:
        rep.findings.append(Finding("error", None, str(exc)))
        return rep
    rep.features = len(gdf)
    if gdf.empty:
        rep.findings.append(Finding("error", None, "the layer has no features"))
        return rep
    rules = ROLE_RULES[role]
    need = tuple(rules["required"]) + tuple(required)
    missing = [c for c in need if c not in gdf.columns]
    if missing:
        rep.findings.append(Finding("error", None, f"missing column(s) {missing} required for role "
                                    f"{role!r}; present: {[c for c in gdf.columns if c != 'geometry']}"))
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    for row, g in zip(gdf.index, geoms, strict=True):
        if g is None or shapely.is_empty(g):
            rep.findings.append(Finding("error", int(row), "null or empty geometry (would be dropped)"))
            continue
        fam = FAMILIES.get(g.geom_type)
        if fam not in rules["families"]:
            rep.findings.append(Finding("error", int(row), f"{g.geom_type} not allowed for role "
                                        f"{role!r} (allowed: {rules['families']})"))
        elif not shapely.is_valid(g):
            rep.findings.append(Finding("warning", int(row), f"invalid geometry "
                                        f"({shapely.is_valid_reason(g)}); make_valid will repair it"))
    if bbox is not None:
        b = gdf.geometry.bounds
        out = b.index[(b.maxx < bbox[0]) | (b.minx > bbox[2]) | (b.maxy < bbox[1]) | (b.miny > bbox[3])]
        if len(out):
            rep.findings.append(Finding("warning", int(out[0]), f"{len(out)} feature(s) entirely "
                                        f"outside the study area {bbox}"))
    if reference is not None and len(gdf.geometry.dropna()):
        try:
            raw, fixed = gcj02_offset_check(gdf[gdf.geometry.notna() & ~gdf.is_empty], reference)
        except CRSMismatchError:
            raw, fixed = 0.0, 0.0
        if raw > GCJ_SUSPECT_MIN_M and fixed < GCJ_SUSPECT_RATIO * raw:
            rep.findings.append(Finding("error", None, (
                f"coordinates look like GCJ-02 (Amap/Gaode) read as WGS84: median distance to the "
                f"reference is {raw:.0f} m as read and {fixed:.0f} m after GCJ-02 -> WGS84; "
                "re-read with --crs gcj02")))
    return rep
