"""控规 (regulatory detailed plan) parcels: land-use compatibility, FAR and height limits.

Land-use codes follow 《国土空间调查、规划、用途管制用地用海分类指南》; the compatibility table
(``landuse_compat.yaml`` beside the profile's rules) says which project types each class allows.
"""

from __future__ import annotations

import hashlib
import math
import threading
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from cityplan.review.constraints import attrs_of
from cityplan.review.proposal import TYPE_ZH
from cityplan.review.rules import LandUseCompat, Rule, load_landuse_compat

#: overlaps smaller than this (m²) are slivers along a parcel edge, not a use of the parcel
SLIVER_M2 = 1.0


#: parsed tables by (where, sha256 of the bytes): a server reviews many red lines against one table
_PARSED: dict[tuple[str, str], LandUseCompat] = {}
_LOCK = threading.Lock()


def compat_for(rule: Rule) -> LandUseCompat:
    """The compatibility table a ``parcel_controls`` rule names (relative to its rules file)."""
    assert rule.parcels is not None
    name = str(rule.parcels["compat"])
    p: Traversable = Path(name)
    if not Path(name).is_absolute() and rule.base_dir is not None:
        p = rule.base_dir.joinpath(name)
    data = p.read_bytes() if p.is_file() else b""
    key = (str(p), hashlib.sha256(data).hexdigest())
    with _LOCK:
        if key not in _PARSED:
            if len(_PARSED) > 8:
                _PARSED.clear()
            _PARSED[key] = load_landuse_compat(p)
        return _PARSED[key]


def _num(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def check_parcels(rule: Rule, feature: Any, hits: gpd.GeoDataFrame) -> tuple[list[str], list[str], list[str]]:
    """Violations, unverifiable points and notes for one proposal feature over the parcels it touches.

    ``feature`` carries ``geometry`` (metric CRS), ``project_type``, ``far`` and ``height_m``.
    """
    cols = rule.parcels or {}
    table = compat_for(rule)
    g = feature.geometry
    polygon = g.area > 0
    violations: list[str] = []
    unverified: list[str] = []
    notes: list[str] = []
    ptype = feature["project_type"]
    for _, p in hits.iterrows():
        if polygon and shapely.intersection(g, p.geometry).area < SLIVER_M2:
            continue
        a = attrs_of(p)
        name = p["label"]
        code = a.get(cols.get("landuse", "landuse_code"))
        found = table.lookup(code) if code is not None else None
        if found is None:
            unverified.append(f"{name}: land-use code {code!r} is not in the compatibility table - cannot "
                              "confirm the use")
        else:
            c, cname, allows = found
            if ptype not in allows:
                violations.append(f"{name}: {c} {cname} does not allow {ptype} ({TYPE_ZH.get(ptype, ptype)}) "
                                  "- land-use conflict")
            else:
                notes.append(f"{name}: {c} {cname} allows {ptype}")
        for attr, limit_col, what in (("far", cols.get("far_max"), "FAR 容积率"),
                                      ("height_m", cols.get("height_max"), "height 建筑高度")):
            limit = _num(a.get(limit_col)) if limit_col else None
            if limit is None:
                continue
            value = _num(feature.get(attr))
            unit = " m" if attr == "height_m" else ""
            if value is None:
                unverified.append(f"{name}: {what} limit {limit:g}{unit} but the proposal declares no {attr} "
                                  "- not verifiable")
            elif value > limit:
                violations.append(f"{name}: {what} {value:g}{unit} exceeds the limit {limit:g}{unit}")
            else:
                notes.append(f"{name}: {what} {value:g}{unit} within {limit:g}{unit}")
    return violations, unverified, notes
