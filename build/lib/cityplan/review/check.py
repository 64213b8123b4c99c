"""Check a proposal against the one map's rules: findings per feature and rule, and a verdict."""

from __future__ import annotations

import logging
import os
import threading
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
from cityplan.review.constraints import Constraint, build_constraint, describe, rule_layers
from cityplan.review.parcels import check_parcels
from cityplan.review.proposal import M2_PER_MU, clean_proposal, proposal_summary
from cityplan.review.rules import Rule, load_rules
from cityplan.tools.geometry import FAMILIES

logger = logging.getLogger(__name__)

VERDICTS = ("pass", "needs_approval", "fail")
SEVERITY_RANK = {"note": 0, "needs_approval": 1, "forbidden": 2}
#: declared facility type -> coverage preset used for the impact check
IMPACT_PRESETS = {"school": "primary-school-500m", "park": "park-service-radius",
                  "parking": "parking-300m", "ice-sports": "ice-30min"}
FINDING_COLUMNS = ["feature", "feature_name", "project_type", "rule", "title", "severity", "hit", "area_m2",
                   "area_mu", "area_ha", "share", "length_m", "distance_m", "features_hit", "illustrative_hit",
                   "condition", "citation", "message"]


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
    #: rules that could not be checked (no such layer in this one map): rule, title, statutory, reason
    unchecked: list[dict[str, Any]] = field(default_factory=list)
    #: the proposal's own area (m², 亩, ha), centroid and CRSs
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 pass, 1 review findings (needs approval or fail)."""
        return 0 if self.verdict == "pass" else 1

    @property
    def statutory_unchecked(self) -> list[dict[str, Any]]:
        """Statutory control lines this review did not check (the office's one map lacks them)."""
        return [u for u in self.unchecked if u["statutory"]]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: verdict, proposal, findings, unchecked rules, notes, data version, impact."""
        f = self.findings.replace({np.nan: None})
        return {"verdict": self.verdict, "proposal": self.summary, "findings": f.to_dict(orient="records"),
                "unchecked": self.unchecked, "notes": self.notes, "data_version": self.data_version,
                "impact": None if self.impact is None else self.impact.replace({np.nan: None}).to_dict(orient="records"),
                "rules": [{"id": r.id, "title_zh": r.title_zh, "title_en": r.title_en, "severity": r.severity,
                           "statutory": r.statutory, "citation": r.citation,
                           "by_type": {t: o.__dict__ for t, o in r.by_type.items()}} for r in self.rules]}


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
    name_column: str | None = None, project_type: str | None = None,
) -> ReviewReport:
    """Review features (any geometry and CRS) against the rules; areas in the one map's metric
    working CRS (the one map's; its profile's catalog names it).

    ``project_type`` (one of :data:`~cityplan.review.rules.PROJECT_TYPES`) applies to every feature;
    otherwise each feature's ``type`` / ``project_type`` / ``项目类型`` attribute, else ``other``.
    Rules whose layers the one map lacks are listed in :attr:`ReviewReport.unchecked`.
    The input frame is not modified.
    """
    om = OneMap.coerce(onemap)
    rules = rules if rules is not None else load_rules(om.profile)[0]
    input_crs = proposal.crs.to_string() if proposal.crs is not None else "none"
    prop, notes = clean_proposal(proposal, source=source, name_column=name_column, project_type=project_type)
    _check_extent(prop.to_crs(STORAGE_CRS), source, om)
    work = to_working(prop[["feature", "feature_name", "project_type", "far", "height_m", "geometry"]],
                      om.working_crs)
    cache: dict[str, gpd.GeoDataFrame] = {}
    rows, overlaps, unchecked = [], [], []
    fams = work.geometry.geom_type.map(FAMILIES)
    if (fams == "point").any():
        notes.append("point feature(s): overlap area needs the site's red-line polygon; points are only "
                     "tested for hits and distances")
    for rule in rules:
        layer_ids, why = rule_layers(rule, om)
        if why:
            unchecked.append({"rule": rule.id, "title_zh": rule.title_zh, "title_en": rule.title_en,
                              "role": rule.role, "statutory": rule.statutory, "reason": why})
            continue
        c = _constraint(rule, layer_ids, om, cache)
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
    for u in unchecked:
        if u["statutory"]:
            notes.append(f"not checked: {u['title_zh']} {u['title_en']} - {u['reason']}")
    return ReviewReport(verdict=verdict, findings=findings, proposal=prop.to_crs(STORAGE_CRS), overlaps=ov,
                        notes=notes, data_version=version, rules=rules, unchecked=unchecked,
                        summary=proposal_summary(prop, work, input_crs=input_crs))


#: prepared constraints (union, tree, labels) per one map build and rule: reviews reuse them
_CONSTRAINTS: dict[tuple, Constraint] = {}
_CONSTRAINTS_LOCK = threading.Lock()


def _constraint(rule: Rule, layer_ids: list[str], om: OneMap, cache: dict[str, gpd.GeoDataFrame]) -> Constraint:
    """``build_constraint`` once per build of ``om`` and rule (same layers, filter and labels)."""
    stamp = om.build_stamp
    key = (om.label, stamp, rule.id, tuple(layer_ids), repr(sorted(rule.where.items())), rule.label_fields)
    with _CONSTRAINTS_LOCK:
        hit = _CONSTRAINTS.get(key)
    if hit is None:
        hit = build_constraint(rule, layer_ids, om, cache)
        with _CONSTRAINTS_LOCK:
            for k in [k for k in _CONSTRAINTS if k[0] == om.label and k[1] != stamp]:
                del _CONSTRAINTS[k]  # an older build of this one map
            _CONSTRAINTS[key] = hit
    return hit


def _finding(rule: Rule, f: pd.Series, fam: str, c: Constraint, overlaps: list) -> dict[str, Any]:
    g = f.geometry
    ptype = f["project_type"]
    outcome = rule.outcome(ptype)
    row: dict[str, Any] = {"feature": f["feature"], "feature_name": f["feature_name"], "project_type": ptype,
                           "rule": rule.id, "title": rule.title_en, "severity": outcome.severity, "hit": False,
                           "area_m2": None, "area_mu": None, "area_ha": None, "share": None, "length_m": None,
                           "distance_m": None, "features_hit": "", "illustrative_hit": False,
                           "condition": outcome.condition,
                           "citation": "; ".join(x for x in (rule.citation, outcome.citation) if x), "message": ""}
    if c.is_empty:
        row["message"] = "constraint layer empty in this one map"
        return row
    dist = float(shapely.distance(g, c.union))
    extra: list[str] = []
    if rule.relation == "must_be_inside":
        zone_part = shapely.difference(g, c.union)  # the part outside
        row["hit"] = not shapely.covered_by(g, c.union)
    else:
        zone = c.union if rule.relation != "within_distance" else shapely.buffer(c.union, rule.distance_m, quad_segs=8)
        near = rule.distance_m if rule.relation == "within_distance" else 0.0
        row["hit"] = dist <= near
        zone_part = shapely.intersection(g, zone) if row["hit"] else shapely.GeometryCollection()
        row["distance_m"] = round(dist, 2)
        if row["hit"]:
            hits = c.hits(g, near)
            row["features_hit"], row["illustrative_hit"] = describe(hits)
            if rule.relation == "parcel_controls":
                violations, unverified, ok = check_parcels(rule, f, hits)
                row["hit"] = bool(violations or unverified)
                if not violations and unverified:
                    row["severity"] = min(outcome.severity, "needs_approval", key=SEVERITY_RANK.__getitem__)
                extra = violations + unverified + ([] if row["hit"] else ok)
                if not row["hit"]:
                    zone_part = shapely.GeometryCollection()
            elif outcome.max_share is not None and fam == "polygon":
                extra, over = _share_check(g, hits, outcome.max_share)
                if over:
                    row["severity"] = outcome.over_severity
    _measure(row, fam, g, zone_part)
    if row["hit"]:
        verb = {"intersects": "overlaps", "within_distance": f"is within {rule.distance_m:g} m of",
                "must_be_inside": "extends outside", "parcel_controls": "conflicts with"}[rule.relation]
        parts = [f"{verb} {rule.title_en}"]
        if row["features_hit"]:
            parts.append(f"({row['features_hit']})")
        msg = " ".join(parts) + "".join(f"; {x}" for x in extra) + ("" if not row["message"] else f"; {row['message']}")
        if outcome.condition:
            msg += f"; as {ptype}: {outcome.condition}"
        row["message"] = msg + (" (rule is illustrative)" if rule.illustrative else "")
        if not zone_part.is_empty:
            overlaps.append({"rule": rule.id, "feature": f["feature"], "severity": row["severity"],
                             "geometry": zone_part})
    elif extra:
        row["message"] = "; ".join(extra)
    return row


def _share_check(g: shapely.Geometry, hits: gpd.GeoDataFrame, max_share: float) -> tuple[list[str], bool]:
    """Share of each overlapped feature's area the proposal takes, against ``max_share``."""
    out, over = [], False
    for _, h in hits.iterrows():
        total = float(h.geometry.area)
        if total <= 0:
            continue
        share = float(shapely.intersection(g, h.geometry).area) / total
        ok = share <= max_share
        over |= not ok
        out.append(f"takes {share:.1%} of {h['label']} ({'within' if ok else 'above'} the {max_share:.0%} limit)")
    return out, over


def _measure(row: dict[str, Any], fam: str, g: shapely.Geometry, zone_part: shapely.Geometry) -> None:
    if fam == "polygon":
        a = float(zone_part.area) if row["hit"] else 0.0
        row.update(area_m2=round(a, 2), area_mu=round(a / M2_PER_MU, 4), area_ha=round(a / 1e4, 4),
                   share=round(a / g.area, 6) if g.area else None)
    elif fam == "line":
        row["length_m"] = round(float(zone_part.length), 2) if row["hit"] else 0.0
        row["message"] = "line: overlap measured as length"
    else:
        row["message"] = "point: no area; hit and distance only"


def review_file(
    path: str | os.PathLike[str], *, layer: str | None = None, crs: str | None = None,
    encoding: str | None = None, rules_path: str | os.PathLike[str] | None = None, onemap=None,
    facility_type: str | None = None, name_column: str | None = None, project_type: str | None = None,
) -> ReviewReport:
    """Read a proposal file (any CRS; GCJ-02 declared) and review it; the file is only read."""
    p = Path(path)
    om = OneMap.coerce(onemap)
    if facility_type and facility_type not in IMPACT_PRESETS:
        msg = f"--facility-type {facility_type!r} is unknown; use one of {sorted(IMPACT_PRESETS)}"
        raise ReviewError(msg)
    gdf = read_vector(p, layer=layer, crs=crs, encoding=encoding)
    rules, rules_sha = load_rules(rules_path if rules_path is not None else om.profile)
    rep = review_proposal(gdf, onemap=om, rules=rules, source=str(p), name_column=name_column,
                          project_type=project_type)
    rep.data_version.update({"rules_sha256": rules_sha, "proposal": str(p), "proposal_sha256": sha256_file(p)})
    gcj = gcj02_check(gdf, om, declared=crs)
    if gcj is not None:
        rep.data_version["gcj02_check"] = gcj.verdict
        if gcj.is_gcj02:
            rep.notes.insert(0, f"WARNING {p.name}: {gcj.message()} - the review above is at the "
                                "place the file says, which is ~500 m off if it came from Amap/Gaode")
    if facility_type:
        rep.impact = coverage_impact(rep.proposal, facility_type, onemap=om, label=p.name)
    return rep


_GCJ_REFERENCES: dict[tuple[str, str, str], object] = {}


def gcj02_check(frame: gpd.GeoDataFrame, om: OneMap, *, declared: str | None):
    """Whether an undeclared proposal looks like GCJ-02 (Amap) read as WGS84, against the roads.

    None when the CRS was declared (the user said what it is) or the map has no roads layer.
    On a single red line the check is a warning, not an error: it is right on whole layers but
    wrong about 1 in 25 single features (docs/gcj02.md).
    """
    if declared:
        return None
    roads = om.layer_id_for("roads", required=False)
    if roads is None:
        return None
    from cityplan.validate import Gcj02Reference, detect_gcj02

    key = (om.label, om.build_stamp, roads)
    if key not in _GCJ_REFERENCES:  # the roads' index and transformers, built once per map build
        _GCJ_REFERENCES.clear()
        _GCJ_REFERENCES[key] = Gcj02Reference(om.layer(roads), metric=om.working_crs)
    try:
        return detect_gcj02(frame.to_crs(STORAGE_CRS), _GCJ_REFERENCES[key])
    except (ValueError, GeometryError) as exc:
        logger.info("GCJ-02 check skipped: %s", exc)
        return None


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
