"""Check a proposal against the one map's rules: findings per feature and rule, and a verdict."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

from cityplan._errors import GeometryError, ReviewError
from cityplan.crs import STORAGE_CRS, to_working
from cityplan.io.hashing import sha256_file
from cityplan.io.read import read_vector
from cityplan.onemap import OneMap
from cityplan.review.rules import Rule, load_rules
from cityplan.tools.geometry import FAMILIES

logger = logging.getLogger(__name__)

M2_PER_MU = 10000.0 / 15.0
VERDICTS = ("pass", "needs_approval", "fail")
#: declared facility type -> coverage preset used for the impact check
IMPACT_PRESETS = {"school": "primary-school-500m", "park": "park-service-radius",
                  "parking": "parking-300m", "ice-sports": "ice-30min"}
FINDING_COLUMNS = ["feature", "feature_name", "rule", "title", "severity", "hit", "area_m2", "area_mu",
                   "area_ha", "share", "length_m", "distance_m", "message"]


@dataclass
class ReviewReport:
    """The outcome of a review."""

    verdict: str
    findings: pd.DataFrame
    proposal: gpd.GeoDataFrame
    overlaps: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)
    data_version: dict[str, str] = field(default_factory=dict)
    impact: pd.DataFrame | None = None
    rules: list[Rule] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 pass, 1 review findings (needs approval or fail)."""
        return 0 if self.verdict == "pass" else 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: verdict, findings, notes, data version, impact."""
        f = self.findings.replace({np.nan: None})
        return {"verdict": self.verdict, "findings": f.to_dict(orient="records"), "notes": self.notes,
                "data_version": self.data_version,
                "impact": None if self.impact is None else self.impact.replace({np.nan: None}).to_dict(orient="records"),
                "rules": [{"id": r.id, "title_en": r.title_en, "severity": r.severity, "citation": r.citation}
                          for r in self.rules]}


def _constraint(rule: Rule, om: OneMap, cache: dict[str, gpd.GeoDataFrame]) -> shapely.Geometry:
    parts = []
    for lid in rule.layers:
        if lid not in cache:
            cache[lid] = om.layer(lid).to_crs(om.working_crs)
        gdf = cache[lid]
        for col, vals in rule.where.items():
            if col in gdf.columns:
                gdf = gdf[gdf[col].isin(vals)]
        parts.extend(gdf.geometry.dropna().to_numpy())
    geom = shapely.union_all(np.asarray(parts, dtype=object)) if parts else shapely.GeometryCollection()
    shapely.prepare(geom)
    return geom


def clean_proposal(gdf: gpd.GeoDataFrame, *, source: str, name_column: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Drop (and say so) rows without geometry; repair invalid polygons with ``make_valid``."""
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


def _check_extent(proposal: gpd.GeoDataFrame, source: str, om: OneMap) -> None:
    bbox = om.extent
    area = box(*bbox)
    if not proposal.geometry.intersects(area).any():
        b = tuple(round(v, 4) for v in proposal.total_bounds)
        msg = (f"{source}: the proposal (bounds {b}) lies entirely outside the one map (lon {bbox[0]}-{bbox[2]}, "
               f"lat {bbox[1]}-{bbox[3]}); check its CRS - Amap/Gaode coordinates must be declared --crs gcj02, "
               f"lon/lat may be swapped, or the site is not in the one map's area ({om.city or om.label})")
        raise ReviewError(msg)


def review_proposal(
    proposal: gpd.GeoDataFrame, *, onemap=None, rules: list[Rule] | None = None, source: str = "proposal",
    name_column: str | None = None,
) -> ReviewReport:
    """Review features (any geometry, storage CRS) against the rules; areas in the one map's
    metric working CRS (EPSG:4551 for Harbin).

    The input frame is not modified.
    """
    om = OneMap.coerce(onemap)
    rules = rules if rules is not None else load_rules()[0]
    prop, notes = clean_proposal(proposal, source=source, name_column=name_column)
    _check_extent(prop, source, om)
    work = to_working(prop[["feature", "feature_name", "geometry"]], om.working_crs)
    cache: dict[str, gpd.GeoDataFrame] = {}
    rows, overlaps = [], []
    fams = work.geometry.geom_type.map(FAMILIES)
    if (fams == "point").any():
        notes.append("point feature(s): overlap area needs the site's red-line polygon; points are only "
                     "tested for hits and distances")
    for rule in rules:
        c = _constraint(rule, om, cache)
        for (_, f), fam in zip(work.iterrows(), fams, strict=True):
            rows.append(_finding(rule, f, fam, c, overlaps))
    findings = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    hit = findings[findings.hit]
    verdict = ("fail" if (hit.severity == "forbidden").any() else
               "needs_approval" if (hit.severity == "needs_approval").any() else "pass")
    ov = gpd.GeoDataFrame(overlaps, columns=["rule", "feature", "severity", "geometry"], geometry="geometry",
                          crs=work.crs).to_crs(STORAGE_CRS) if overlaps else gpd.GeoDataFrame(
        {"rule": [], "feature": [], "severity": []}, geometry=[], crs=STORAGE_CRS)
    info = om.build_info
    version = {"onemap": om.label, "onemap_built_at": info.get("built_at", ""),
               "onemap_build_id": info.get("build_id", ""), "data_dir": info.get("data_dir", ""),
               "catalog_sha256": info.get("catalog_sha256", ""), "working_crs": f"EPSG:{om.working_epsg}"}
    return ReviewReport(verdict=verdict, findings=findings, proposal=prop.to_crs(STORAGE_CRS), overlaps=ov,
                        notes=notes, data_version=version, rules=rules)


def _finding(rule: Rule, f: pd.Series, fam: str, c: shapely.Geometry, overlaps: list) -> dict[str, Any]:
    g = f.geometry
    row: dict[str, Any] = {"feature": f["feature"], "feature_name": f["feature_name"], "rule": rule.id,
                           "title": rule.title_en, "severity": rule.severity, "hit": False, "area_m2": None,
                           "area_mu": None, "area_ha": None, "share": None, "length_m": None,
                           "distance_m": None, "message": ""}
    if c.is_empty:
        row["message"] = "constraint layer empty in this one map"
        return row
    dist = float(shapely.distance(g, c))
    if rule.relation == "must_be_inside":
        zone_part = shapely.difference(g, c)  # the part outside
        row["hit"] = not shapely.covered_by(g, c)
    else:
        zone = c if rule.relation == "intersects" else shapely.buffer(c, rule.distance_m, quad_segs=8)
        row["hit"] = dist <= (rule.distance_m if rule.relation == "within_distance" else 0.0)
        zone_part = shapely.intersection(g, zone) if row["hit"] else shapely.GeometryCollection()
        row["distance_m"] = round(dist, 2)
    if fam == "polygon":
        a = float(zone_part.area) if row["hit"] else 0.0
        row.update(area_m2=round(a, 2), area_mu=round(a / M2_PER_MU, 4), area_ha=round(a / 1e4, 4),
                   share=round(a / g.area, 6) if g.area else None)
    elif fam == "line":
        row["length_m"] = round(float(zone_part.length), 2) if row["hit"] else 0.0
        row["message"] = "line: overlap measured as length"
    else:
        row["message"] = "point: no area; hit and distance only"
    if row["hit"]:
        verb = {"intersects": "overlaps", "within_distance": f"is within {rule.distance_m:g} m of",
                "must_be_inside": "extends outside"}[rule.relation]
        row["message"] = (f"{verb} {rule.title_en}" + ("" if not row["message"] else f"; {row['message']}")
                          + (" (rule is illustrative)" if rule.illustrative else ""))
        if not zone_part.is_empty:
            overlaps.append({"rule": rule.id, "feature": f["feature"], "severity": rule.severity,
                             "geometry": zone_part})
    return row


def review_file(
    path: str | os.PathLike[str], *, layer: str | None = None, crs: str | None = None,
    encoding: str | None = None, rules_path: str | os.PathLike[str] | None = None, onemap=None,
    facility_type: str | None = None, name_column: str | None = None,
) -> ReviewReport:
    """Read a proposal file (any CRS; GCJ-02 declared) and review it; the file is only read."""
    p = Path(path)
    om = OneMap.coerce(onemap)
    if facility_type and facility_type not in IMPACT_PRESETS:
        msg = f"--facility-type {facility_type!r} is unknown; use one of {sorted(IMPACT_PRESETS)}"
        raise ReviewError(msg)
    gdf = read_vector(p, layer=layer, crs=crs, encoding=encoding)
    rules, rules_sha = load_rules(rules_path)
    rep = review_proposal(gdf, onemap=om, rules=rules, source=str(p), name_column=name_column)
    rep.data_version.update({"rules_sha256": rules_sha, "proposal": str(p), "proposal_sha256": sha256_file(p)})
    if facility_type:
        rep.impact = coverage_impact(rep.proposal, facility_type, onemap=om, label=p.name)
    return rep


def coverage_impact(proposal: gpd.GeoDataFrame, facility_type: str, *, onemap=None,
                    label: str = "proposal") -> pd.DataFrame:
    """Coverage of the type's preset in the proposal's district(s), before and after adding it.

    ``proposal`` is the cleaned frame the review used (so the file's layer, encoding and CRS
    options apply to the impact run as well).
    """
    from cityplan.coverage import run_coverage

    if facility_type not in IMPACT_PRESETS:
        msg = f"--facility-type {facility_type!r} is unknown; use one of {sorted(IMPACT_PRESETS)}"
        raise ReviewError(msg)
    om = OneMap.coerce(onemap)
    preset = IMPACT_PRESETS[facility_type]
    before = run_coverage(om, preset=preset)
    extra = proposal.assign(name=proposal["feature_name"]) if "feature_name" in proposal.columns else proposal
    after = run_coverage(om, preset=preset, extra_facilities=[(label, extra)])
    from cityplan.tasks.link import assign_districts

    where = assign_districts(proposal, om.layer_for("districts"))
    names = set(where.district) | {"(all)"}
    b = before.districts.set_index("district")
    a = after.districts.set_index("district")
    rows = []
    for d in [n for n in b.index if n in names]:
        rows.append({"preset": preset, "district": d,
                     "population_share_before": b.loc[d, "population_share"],
                     "population_share_after": a.loc[d, "population_share"],
                     "area_share_before": b.loc[d, "area_share"], "area_share_after": a.loc[d, "area_share"],
                     "population_covered_gain": a.loc[d, "population_covered"] - b.loc[d, "population_covered"]})
    return pd.DataFrame(rows)
