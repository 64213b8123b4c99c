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
from cityplan.review.clock import local_iso, now
from cityplan.review.constraints import (
    Constraint,
    build_constraint,
    describe,
    missing_layers,
    rule_layers,
)
from cityplan.review.intake import Intake, as_read, crs_as_read
from cityplan.review.parcels import check_parcels
from cityplan.review.proposal import (
    DEFAULT_AREA_UNITS,
    M2_PER_MU,  # noqa: F401 (re-exported: cityplan.review.check.M2_PER_MU)
    area_columns,
    area_values,
    clean_proposal,
    crs_label,
    proposal_summary,
)
from cityplan.review.rules import Rule, load_rules
from cityplan.tools.geometry import FAMILIES, split_families

logger = logging.getLogger(__name__)

#: verdicts, weakest first. ``incomplete``: a rule that could forbid the proposal (severity
#: ``forbidden`` for one of its project types) was not checked - its layers are missing or empty.
#: Order: fail > incomplete > needs_approval > pass (stored reviews keep their older values).
VERDICTS = ("pass", "needs_approval", "incomplete", "fail")
#: the verdict as users read it: Chinese first, English beside it
VERDICT_TEXT = {"pass": "通过 PASS", "needs_approval": "需审批 NEEDS APPROVAL", "incomplete": "不完整 INCOMPLETE",
                "fail": "不通过 FAIL"}
SEVERITY_RANK = {"note": 0, "needs_approval": 1, "forbidden": 2}
#: declared facility type -> coverage preset used for the impact check
IMPACT_PRESETS = {"school": "primary-school-500m", "park": "park-service-radius",
                  "parking": "parking-300m", "ice-sports": "ice-30min"}
_FINDING_HEAD = ["feature", "feature_name", "project_type", "rule", "title", "severity", "hit"]
_FINDING_TAIL = ["share", "length_m", "distance_m", "features_hit", "illustrative_hit", "condition", "citation",
                 "message"]


def finding_columns(units: tuple[str, ...] | list[str] = DEFAULT_AREA_UNITS) -> list[str]:
    """Columns of the findings table; area columns in m² and the profile's ``units``."""
    return [*_FINDING_HEAD, *area_columns(units), *_FINDING_TAIL]


def verdict_text(verdict: str) -> str:
    """``"不完整 INCOMPLETE"``; an unknown (stored) value as it is."""
    return VERDICT_TEXT.get(verdict, verdict)


def unchecked_text(u: dict[str, Any]) -> str:
    """``"未核查（无数据）not checked (no data: layer parks has no features)"``."""
    return f"未核查（无数据）not checked (no data: {u['reason']})"


def unchecked_note(u: dict[str, Any]) -> str:
    """The note a review carries for a rule it did not check (shown wherever notes are)."""
    tail = ("; 禁止性规则 a forbidden-severity rule: the verdict cannot be pass"
            if u.get("blocks_pass") else "")
    return f"{u['title_zh']} {u['title_en']} ({u['rule']}): {unchecked_text(u)}{tail}"


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
    #: rules that were not checked: rule, title_zh, title_en, role, layers, statutory, ``kind``
    #: (``missing``: no such layer or role in the map; ``empty``: the layers hold no feature, or
    #: none after the rule's ``where``), ``reason``, ``severity`` (the worst the rule gives this
    #: proposal's project types) and ``blocks_pass`` (it could forbid the proposal)
    unchecked: list[dict[str, Any]] = field(default_factory=list)
    #: the proposal's own area (m² and the profile's units), centroid and CRSs
    summary: dict[str, Any] = field(default_factory=dict)
    #: the profile's area units (``m2``, ``ha``, ``mu``, ``km2``) the outputs show
    area_units: tuple[str, ...] = DEFAULT_AREA_UNITS
    #: the CRS areas are measured in, with its name: ``EPSG:4551 (CGCS2000 / 3-degree Gauss-Kruger CM 126E)``
    areas_crs: str = ""
    #: what the review was asked (:meth:`Intake.to_dict`): project, applicant, project type, declared CRS
    intake: dict[str, Any] = field(default_factory=dict)
    #: the CRS the file was read in: ``crs`` (``EPSG:4530``, or ``gcj02`` / ``bd09``), ``epsg``,
    #: ``name``, ``how`` (``file`` / ``declared`` / ``detected``) and ``basis`` (in words);
    #: see :mod:`cityplan.review.intake`
    input_crs: dict[str, Any] = field(default_factory=dict)
    #: when the review ran: ISO 8601 in the profile's time zone, to the second
    reviewed_at: str = ""
    #: the profile's time zone (IANA name) the outputs print times in
    timezone: str = "UTC"

    @property
    def exit_code(self) -> int:
        """0 pass, 1 review findings (fail, incomplete or needs approval)."""
        return 0 if self.verdict == "pass" else 1

    @property
    def statutory_unchecked(self) -> list[dict[str, Any]]:
        """Statutory control lines this review did not check (the office's one map lacks them)."""
        return [u for u in self.unchecked if u["statutory"]]

    @property
    def forbidden_unchecked(self) -> list[dict[str, Any]]:
        """Rules not checked that could have forbidden the proposal (they make it ``incomplete``)."""
        return [u for u in self.unchecked if u.get("blocks_pass")]

    @property
    def approvals(self) -> pd.DataFrame:
        """The needs-approval hits (listed with their conditions whatever the verdict)."""
        f = self.findings
        return f[f.hit & (f.severity == "needs_approval")]

    @property
    def verdict_reason(self) -> str:
        """One line saying why the verdict is what it is (Chinese first, English beside it)."""
        f = self.findings
        forbidden = list(dict.fromkeys(f.loc[f.hit & (f.severity == "forbidden"), "rule"]))
        approve = list(dict.fromkeys(self.approvals["rule"]))
        blocked = [u["rule"] for u in self.forbidden_unchecked]
        also = f"; 另需审批 also needs approval: {', '.join(approve)}" if approve else ""
        if self.verdict == "fail":
            text = f"违反禁止性规则 a forbidden-severity rule is hit: {', '.join(forbidden)}"
            return text + (f"; 未核查 not checked: {', '.join(blocked)}" if blocked else "") + also
        if self.verdict == "incomplete":
            if not self.rules:
                return "未核查任何规则 the profile has no review rules: nothing was checked"
            return ("并非所有禁止性规则都已核查 not all forbidden-severity rules could be checked "
                    f"(no data): {', '.join(blocked)}{also}")
        if self.verdict == "needs_approval":
            return f"需审批 approval needed: {', '.join(approve)}"
        rest = f"; {len(self.unchecked)} 条规则未核查 rule(s) not checked, none could forbid it" if self.unchecked else ""
        return "与已核查的规则无冲突 no conflict with the rules checked" + rest

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: verdict, proposal, findings, unchecked rules, notes, data version, impact."""
        f = self.findings.replace({np.nan: None})
        return {"verdict": self.verdict, "verdict_text": verdict_text(self.verdict),
                "verdict_reason": self.verdict_reason, "intake": self.intake, "input_crs": self.input_crs,
                "reviewed_at": self.reviewed_at, "timezone": self.timezone, "proposal": self.summary,
                "area_units": list(self.area_units), "areas_crs": self.areas_crs,
                "findings": f.to_dict(orient="records"),
                "unchecked": self.unchecked, "notes": self.notes, "data_version": self.data_version,
                "impact": None if self.impact is None else self.impact.replace({np.nan: None}).to_dict(orient="records"),
                "rules": [{"id": r.id, "title_zh": r.title_zh, "title_en": r.title_en, "severity": r.severity,
                           "statutory": r.statutory, "citation": r.citation,
                           "by_type": {t: o.__dict__ for t, o in r.by_type.items()}} for r in self.rules]}


def _check_extent(proposal: gpd.GeoDataFrame, source: str, om: OneMap) -> None:
    bbox = om.extent
    area = box(*bbox)
    if not proposal.geometry.intersects(area).any():
        b = tuple(round(float(v), 4) for v in proposal.total_bounds)
        amap = ("Amap/Gaode coordinates must be declared --crs gcj02, "
                if "gcj02" in om.profile.settings.datum_checks else "")
        msg = (f"{source}: the proposal (bounds {b}) lies entirely outside the one map (lon {bbox[0]}-{bbox[2]}, "
               f"lat {bbox[1]}-{bbox[3]}); check its CRS - {amap}"
               f"lon/lat may be swapped, or the site is not in the one map's area ({om.city or om.label})")
        raise ReviewError(msg)


def _could_forbid(rule: Rule, project_types: list[str]) -> bool:
    """True when ``rule`` can give ``forbidden`` to one of the project types (its severity, or
    its ``over_severity`` above a ``max_share``)."""
    for t in project_types:
        o = rule.outcome(t)
        if o.severity == "forbidden" or (o.max_share is not None and o.over_severity == "forbidden"):
            return True
    return False


def _unchecked(rule: Rule, kind: str, reason: str, layer_ids: list[str], project_types: list[str]) -> dict[str, Any]:
    worst = max((rule.outcome(t).severity for t in project_types), key=SEVERITY_RANK.__getitem__,
                default=rule.severity)
    blocks = _could_forbid(rule, project_types)
    return {"rule": rule.id, "title_zh": rule.title_zh, "title_en": rule.title_en, "role": rule.role,
            "layers": layer_ids or list(rule.layers), "statutory": rule.statutory, "kind": kind, "reason": reason,
            "severity": "forbidden" if blocks else worst, "blocks_pass": blocks}


def _verdict(findings: pd.DataFrame, unchecked: list[dict[str, Any]], rules: list[Rule]) -> str:
    """fail > incomplete > needs_approval > pass (see :data:`VERDICTS`)."""
    hit = findings[findings.hit]
    if (hit.severity == "forbidden").any():
        return "fail"
    if not rules or any(u["blocks_pass"] for u in unchecked):
        return "incomplete"
    if (hit.severity == "needs_approval").any():
        return "needs_approval"
    return "pass"


def review_proposal(
    proposal: gpd.GeoDataFrame, *, onemap=None, rules: list[Rule] | None = None, source: str = "proposal",
    name_column: str | None = None, project_type: str | None = None, intake: Intake | None = None,
    input_crs: dict[str, Any] | None = None,
) -> ReviewReport:
    """Review features (any geometry and CRS) against the rules.

    Areas are measured in the one map's metric working CRS and given in m² and the profile's
    ``area_units``.

    Parameters
    ----------
    proposal : GeoDataFrame
        The red line(s); not modified.
    onemap : OneMap or path, optional
        The one map (its profile gives the rules, units and datum checks).
    rules : list of Rule, optional
        Rules to apply instead of the profile's.
    source : str
        How messages name the proposal.
    name_column : str, optional
        Attribute naming each feature.
    project_type : str, optional
        One of :data:`~cityplan.review.rules.PROJECT_TYPES` for every feature; otherwise each
        feature's ``type`` / ``project_type`` / ``项目类型`` attribute, else ``other``.
    intake : Intake, optional
        Project, applicant, project type and declared CRS (its project type is used when
        ``project_type`` is not given); stored in :attr:`ReviewReport.intake`.
    input_crs : dict, optional
        The CRS the proposal was read in and how it is known (:func:`~cityplan.review.intake.crs_as_read`);
        default: the frame's own CRS.

    Returns
    -------
    ReviewReport
        Findings per feature and rule, and the verdict. A rule whose layers are missing from the
        map, or hold no feature (none left after its ``where``), is listed in
        :attr:`ReviewReport.unchecked` with the reason - never as "no conflict" - and when it
        could forbid the proposal the verdict is at least ``incomplete``.
    """
    om = OneMap.coerce(onemap)
    settings = om.profile.settings
    units = tuple(settings.area_units)
    rules = rules if rules is not None else load_rules(om.profile)[0]
    intake = intake or Intake.make(project_type=project_type)
    project_type = project_type or intake.project_type
    if input_crs is None:
        input_crs = (as_read(proposal.crs, "file", "the data's own CRS") if proposal.crs is not None else
                     {"crs": "none", "epsg": None, "name": "", "how": "", "basis": ""})
    prop, notes = clean_proposal(proposal, source=source, name_column=name_column, project_type=project_type)
    _check_extent(prop.to_crs(STORAGE_CRS), source, om)
    work = to_working(prop[["feature", "feature_name", "project_type", "far", "height_m", "geometry"]],
                      om.working_crs)
    ptypes = sorted(set(work["project_type"]))
    cache: dict[str, gpd.GeoDataFrame] = {}
    rows, overlaps, unchecked = [], [], []
    fams = work.geometry.geom_type.map(FAMILIES)
    if (fams == "point").any():
        notes.append("point feature(s): overlap area needs the site's red-line polygon; points are only "
                     "tested for hits and distances")
    if not rules:
        notes.append("未核查任何规则 the profile has no review rules (review_rules.yaml): nothing was checked")
    for rule in rules:
        layer_ids, why = rule_layers(rule, om)
        if why:
            unchecked.append(_unchecked(rule, "missing", why, [], ptypes))
            continue
        c = _constraint(rule, layer_ids, om, cache)
        if c.is_empty:
            unchecked.append(_unchecked(rule, "empty", c.empty_reason(rule), layer_ids, ptypes))
            continue
        partly = [*missing_layers(rule, om), *c.empty_layers()]
        if partly and (rule.statutory or _could_forbid(rule, ptypes)):
            notes.append(f"{rule.title_zh} {rule.title_en} ({rule.id}): 部分核查 checked against "
                         f"{', '.join(k for k, (_, n) in c.counts.items() if n)} only; no data in "
                         f"{', '.join(partly)}")
        for (_, f), fam in zip(work.iterrows(), fams, strict=True):
            rows.append(_finding(rule, f, fam, c, overlaps, units))
    findings = pd.DataFrame(rows, columns=finding_columns(units))
    findings["hit"] = findings["hit"].astype(bool)  # also when no rule was checked (no rows)
    verdict = _verdict(findings, unchecked, rules)
    ov = gpd.GeoDataFrame(overlaps, columns=["rule", "feature", "severity", "geometry"], geometry="geometry",
                          crs=work.crs).to_crs(STORAGE_CRS) if overlaps else gpd.GeoDataFrame(
        {"rule": [], "feature": [], "severity": []}, geometry=[], crs=STORAGE_CRS)
    info = om.build_info
    areas_crs = crs_label(om.working_crs)
    tz = settings.timezone
    version = {"onemap": map_name(om), "city": om.city, "onemap_built_at": local_iso(info.get("built_at", ""), tz),
               "onemap_build_id": info.get("build_id", ""), "cityplan_version": info.get("cityplan_version", ""),
               "catalog_sha256": info.get("catalog_sha256", ""), "working_crs": areas_crs}
    notes += [unchecked_note(u) for u in sorted(unchecked, key=lambda u: (not u["blocks_pass"], not u["statutory"]))]
    return ReviewReport(verdict=verdict, findings=findings, proposal=prop.to_crs(STORAGE_CRS), overlaps=ov,
                        notes=notes, data_version=version, rules=rules, unchecked=unchecked,
                        summary=proposal_summary(prop, work, input_crs=input_crs["crs"], units=units),
                        area_units=units, areas_crs=areas_crs, intake=intake.to_dict(), input_crs=input_crs,
                        reviewed_at=now(tz).isoformat(timespec="seconds"), timezone=tz)


def map_name(om: OneMap) -> str:
    """The one map as a review names it: its GeoPackage's file name, or ``postgis:<database>``
    (never a folder of the machine, a host or a password)."""
    if om.path is not None:
        return Path(om.path).name
    from urllib.parse import urlsplit

    db = urlsplit(om.label).path.strip("/")
    return f"postgis:{db}" if db else "postgis"


def _constraint(rule: Rule, layer_ids: list[str], om: OneMap, cache: dict[str, gpd.GeoDataFrame]) -> Constraint:
    """``build_constraint`` once per build of ``om`` and rule (same layers, filter and labels):
    prepared constraints (union, tree, labels) are kept on the one map, reviews reuse them."""
    key = ("review-constraint", rule.id, tuple(layer_ids), repr(sorted(rule.where.items())), rule.label_fields)
    return om.derived(key, lambda: build_constraint(rule, layer_ids, om, cache))


def _finding(rule: Rule, f: pd.Series, fam: str, c: Constraint, overlaps: list,
             units: tuple[str, ...]) -> dict[str, Any]:
    g = f.geometry
    ptype = f["project_type"]
    outcome = rule.outcome(ptype)
    row: dict[str, Any] = {"feature": f["feature"], "feature_name": f["feature_name"], "project_type": ptype,
                           "rule": rule.id, "title": rule.title_en, "severity": outcome.severity, "hit": False,
                           **dict.fromkeys(area_columns(units)), "share": None, "length_m": None,
                           "distance_m": None, "features_hit": "", "illustrative_hit": False,
                           "condition": outcome.condition,
                           "citation": "; ".join(x for x in (rule.citation, outcome.citation) if x), "message": ""}
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
    _measure(row, fam, g, zone_part, units)
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
        for part in split_families(zone_part):  # a collection (points and polygons hit) as one row per family
            overlaps.append({"rule": rule.id, "feature": f["feature"], "severity": row["severity"],
                             "geometry": part})
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


def _measure(row: dict[str, Any], fam: str, g: shapely.Geometry, zone_part: shapely.Geometry,
             units: tuple[str, ...]) -> None:
    if fam == "polygon":
        a = float(zone_part.area) if row["hit"] else 0.0
        row.update(area_values(a, units), share=round(a / g.area, 6) if g.area else None)
    elif fam == "line":
        row["length_m"] = round(float(zone_part.length), 2) if row["hit"] else 0.0
        row["message"] = "line: overlap measured as length"
    else:
        row["message"] = "point: no area; hit and distance only"


def review_file(
    path: str | os.PathLike[str], *, layer: str | None = None, crs: str | None = None,
    encoding: str | None = None, rules_path: str | os.PathLike[str] | None = None, onemap=None,
    facility_type: str | None = None, name_column: str | None = None, project_type: str | None = None,
    project: str = "", applicant: str = "", display: str | None = None,
) -> ReviewReport:
    """Read a proposal file (any CRS; GCJ-02 declared) and review it; the file is only read.

    ``project``, ``applicant``, ``project_type`` and ``crs`` are the review's intake (stored in
    :attr:`ReviewReport.intake`); the CRS the file was read in, and how it is known, in
    :attr:`ReviewReport.input_crs`. ``display`` names the file in the report (default: its
    file name; the report holds no folder of the machine).
    """
    p = Path(path)
    om = OneMap.coerce(onemap)
    intake = Intake.make(project=project, applicant=applicant, project_type=project_type, crs=crs)
    name = display or p.name
    if facility_type and facility_type not in IMPACT_PRESETS:
        msg = f"--facility-type {facility_type!r} is unknown; use one of {sorted(IMPACT_PRESETS)}"
        raise ReviewError(msg)
    gdf = read_vector(p, layer=layer, crs=crs, encoding=encoding)
    read_in = crs_as_read(p, gdf, declared=crs, layer=layer, encoding=encoding)
    rules, rules_sha = load_rules(rules_path if rules_path is not None else om.profile)
    rep = review_proposal(gdf, onemap=om, rules=rules, source=name, name_column=name_column,
                          project_type=intake.project_type, intake=intake, input_crs=read_in)
    rep.data_version.update({"rules_sha256": rules_sha, "proposal": name, "proposal_sha256": sha256_file(p)})
    gcj = gcj02_check(gdf, om, declared=crs, source_crs=read_in)
    if gcj is not None:
        rep.data_version["gcj02_check"] = gcj.verdict
        if gcj.is_shifted:  # GCJ-02 or BD-09
            rep.notes.insert(0, f"WARNING {name}: {gcj.message()} - the review above is at the place the file "
                                "says, ~500 m off if it came from Amap/Gaode/Tencent (GCJ-02), ~1.3 km if from "
                                "Baidu (BD-09)")
    if facility_type:
        rep.impact = coverage_impact(rep.proposal, facility_type, onemap=om, label=name)
    return rep


def gcj02_check(frame: gpd.GeoDataFrame, om: OneMap, *, declared: str | None, source_crs: object = None):
    """Whether an undeclared proposal looks like GCJ-02 (Amap) read as WGS84, against the roads.

    None when the CRS was declared (the user said what it is), the map's profile does not enable
    the ``gcj02`` datum check (``datum_checks`` in ``profile.yaml``: cities outside China) or the
    map has no roads layer.
    A projected or surveyed-datum source (``source_crs``: the CRS as read) is never tested. On a
    single red line the check is a warning, not an error (rates: docs/gcj02.md).
    """
    datums = tuple(d for d in ("gcj02", "bd09") if d in om.profile.settings.datum_checks)
    if declared or not datums:
        return None
    roads = om.layer_id_for("roads", required=False)
    if roads is None:
        return None
    from cityplan.validate import Gcj02Reference, detect_gcj02

    # the roads' index and transformers, built once per map build
    reference = om.derived(("gcj02-reference", roads), lambda: Gcj02Reference(om.layer(roads), metric=om.working_crs))
    try:
        return detect_gcj02(frame.to_crs(STORAGE_CRS), reference,
                            source_crs=frame.crs if source_crs is None else source_crs,
                            declared=bool(declared), datums=datums)
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
    # a proposal is a planned facility: it counts in the planned scenario only, so the impact is
    # planned before (existing + plan sites) against planned after (+ the proposal)
    b = before.scenario_rows("planned").set_index("district")
    a = after.scenario_rows("planned").set_index("district")
    rows = []
    for d in [n for n in b.index if n in names]:
        rows.append({"preset": preset, "district": d, "scenario": "planned",
                     "population_share_before": b.loc[d, "population_share"],
                     "population_share_after": a.loc[d, "population_share"],
                     "area_share_before": b.loc[d, "area_share"], "area_share_after": a.loc[d, "area_share"],
                     "population_covered_gain": a.loc[d, "population_covered"] - b.loc[d, "population_covered"]})
    return pd.DataFrame(rows)
