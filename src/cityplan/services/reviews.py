"""Reviews as a use case: submit, store in the one map, list, reopen, and the 审查意见 from the record.

One ledger for the CLI (``cityplan review PROPOSAL --store``, ``cityplan review list|show|opinion``)
and the web's review desk: ``cityplan_reviews`` (append-only, in the one map's store). Each row
holds the submitted file's sha256, the intake (project, applicant, project type, declared CRS),
the facility type, the one map's build and the full JSON report (findings, notes, impact, the CRS
as read, the proposal and overlaps as GeoJSON), so a review is listed and reopened after rebuilds
by either shell. The submitted file is kept in ``DATA/uploads/<sha256>.<ext>`` and the HTML report
in ``DATA/reports/<id>.html`` (``DATA``: the server's data folder, or the CLI's ``--data-dir``).
Times are stored in UTC.

The 审查意见 PDF is made from the stored report (:func:`write_stored_opinion`): the review is not
run again, so the opinion says what was decided, whatever the one map holds now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from cityplan._errors import CityplanError, MissingCRSError
from cityplan.io.hashing import sha256_file
from cityplan.io.write import atomic_path
from cityplan.maps.payload import LayerView, layer_payload, split_by_family
from cityplan.review.check import ReviewReport, review_file
from cityplan.review.clock import local_iso
from cityplan.review.report import DRAW_ORDER, to_html
from cityplan.review.rules import Outcome, Rule, load_rules
from cityplan.services.audit import AUDIT_TABLE, audit_row

logger = logging.getLogger(__name__)

REVIEWS_TABLE = "cityplan_reviews"
REVIEW_COLUMNS = ["review_id", "created_at", "user", "file_name", "sha256", "stored_file", "kind", "crs",
                  "facility_type", "project", "applicant", "project_type", "verdict", "hits", "build_id", "built_at",
                  "report_json"]
#: the columns a list shows (all but the report)
LIST_COLUMNS = REVIEW_COLUMNS[:-1]
#: the intake fields of a stored review (rows of older versions lack them)
INTAKE_FIELDS = ("project", "applicant", "project_type")
ID_RE = re.compile(r"^[0-9a-f]{32}$")
SEVERITY_STYLE = {"forbidden": "#d7191c", "needs_approval": "#fdae61", "note": "#2b83ba"}


class ReviewNotFoundError(CityplanError):
    """No stored review has this id."""


def utc_now() -> str:
    """Now in UTC, ISO 8601 with microseconds (the ``created_at`` of a stored review)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_review_id() -> str:
    """A fresh review id (32 hex digits)."""
    return uuid.uuid4().hex


def cell_text(v: Any) -> str:
    """A stored cell as text (None / NaN of a row of an older version: empty)."""
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


# ---------------------------------------------------------------------------- reading
def list_reviews(store: Any) -> pd.DataFrame:
    """Stored reviews, newest first (without the report JSON).

    Parameters
    ----------
    store : Store
        The one map's store.

    Returns
    -------
    pandas.DataFrame
        One row per review with :data:`LIST_COLUMNS` (those a row of an older version has).
    """
    t = store.table_or_empty(REVIEWS_TABLE, columns=LIST_COLUMNS)
    if t.empty:
        return pd.DataFrame(columns=LIST_COLUMNS)
    return t[[c for c in LIST_COLUMNS if c in t.columns]].sort_values("created_at", ascending=False)


#: reviews are append-only and never change: the recent ones are kept (the verdict page that
#: follows an upload, and reopened ones) instead of being read back from the store
_RECENT: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
_RECENT_LOCK = threading.Lock()
_RECENT_MAX = 256


def get_review(store: Any, review_id: str) -> dict[str, Any] | None:
    """One stored review (its row with ``report`` parsed from ``report_json``), or None.

    Parameters
    ----------
    store : Store
        The one map's store.
    review_id : str
        32 hex digits (anything else is no review).

    Returns
    -------
    dict or None
    """
    if not ID_RE.match(review_id or ""):
        return None
    key = (store.label, review_id)
    with _RECENT_LOCK:
        if key in _RECENT:
            _RECENT.move_to_end(key)
            return dict(_RECENT[key])
    hit = store.table_or_empty(REVIEWS_TABLE, where={"review_id": review_id})
    if hit.empty:
        return None
    return remember(store, hit.iloc[0].to_dict())


def require_review(store: Any, review_id: str) -> dict[str, Any]:
    """:func:`get_review`, or :class:`ReviewNotFoundError` naming the id and how to list ids."""
    rv = get_review(store, review_id)
    if rv is None:
        msg = (f"review {review_id!r}: no such review in this one map; `cityplan review list` shows the stored "
               "reviews' ids (32 hex digits)")
        raise ReviewNotFoundError(msg)
    return rv


def remember(store: Any, row: dict[str, Any], *, layers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Keep a stored review's row (plain Python values; ``report_json`` parsed as ``report``; its
    map ``layers`` when made already) and return a copy."""
    out = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    out["report"] = json.loads(out.pop("report_json"))
    if layers is not None:
        out["_layers"] = layers
    with _RECENT_LOCK:
        _RECENT[(store.label, str(out["review_id"]))] = out
        while len(_RECENT) > _RECENT_MAX:
            _RECENT.popitem(last=False)
    return dict(out)


_remember = remember  # the name older callers use


def review_layers(store: Any, rv: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored review's own map layers (proposal, overlaps), made once per review and kept with it."""
    key = (store.label, str(rv["review_id"]))
    with _RECENT_LOCK:
        layers = _RECENT.get(key, {}).get("_layers")
    if layers is None:
        layers = static_layers(rv["report"])
        with _RECENT_LOCK:
            if key in _RECENT:
                _RECENT[key]["_layers"] = layers
    return layers


def static_layers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A review report's own map layers: the proposal and its overlaps by severity."""
    out = []
    prop = gpd.GeoDataFrame.from_features(doc["proposal_geojson"]["features"], crs=4326)
    if "feature_name" in prop.columns:
        prop = prop.rename(columns={"feature_name": "name"})
    out.append(layer_payload(LayerView(
        id="review_proposal", title="拟建项目 Proposal", gdf=prop, group="review",
        style={"color": "#000000", "fill": "#ffff99", "weight": 3, "fillOpacity": 0.3, "radius": 7},
        fields=[c for c in ("feature",) if c in prop.columns], source="proposal", simplify_m=0)))
    ov = doc["overlaps_geojson"]["features"]
    if ov:
        gdf = gpd.GeoDataFrame.from_features(ov, crs=4326)
        for sev in DRAW_ORDER:  # weakest first: the forbidden overlap is drawn last, on top
            col = SEVERITY_STYLE[sev]
            part = gdf[gdf["severity"] == sev] if "severity" in gdf.columns else gdf.iloc[:0]
            if len(part):  # overlaps of points, lines and areas at once: one drawn layer per kind
                out += [layer_payload(v) for v in split_by_family([LayerView(
                    id=f"review_overlap_{sev}", title=f"重叠 Overlap: {sev}", gdf=part, group="review",
                    style={"color": col, "fill": col, "fillOpacity": 0.6, "weight": 2},
                    fields=[c for c in ("rule", "feature") if c in part.columns], source="cityplan review",
                    simplify_m=0)])]
    return out


# ---------------------------------------------------------------------------- running
def _geojson(gdf: gpd.GeoDataFrame) -> dict[str, Any]:
    g = gdf.to_crs(4326) if gdf.crs is not None else gdf
    return json.loads(g.to_json(na="null", drop_id=True, default=str))


def report_document(rep: ReviewReport, *, display: str) -> dict[str, Any]:
    """The report's JSON as stored: :meth:`ReviewReport.to_dict` with the proposal and overlaps as
    GeoJSON (WGS 84) and the file named ``display``."""
    doc = rep.to_dict()
    doc["data_version"] = {k: (display if k == "proposal" else v) for k, v in doc.get("data_version", {}).items()}
    doc["proposal_geojson"] = _geojson(rep.proposal)
    doc["overlaps_geojson"] = _geojson(rep.overlaps)
    return doc


def run_review(om: Any, path: Any, *, crs: str | None, facility_type: str | None, display: str,
               intake: dict[str, Any] | None = None, **options: Any) -> tuple[ReviewReport, dict[str, Any]]:
    """Review the file ``path`` with the ``intake`` (project, applicant, project_type).

    Parameters
    ----------
    om : OneMap
    path : path
        The submitted file (read only).
    crs : str, optional
        The declared CRS (the file's own otherwise).
    facility_type : str, optional
        Also report the coverage change of this facility type.
    display : str
        The name the report and every message give the file (never the machine's folder).
    intake : dict, optional
        ``project``, ``applicant``, ``project_type``.
    **options
        Further :func:`cityplan.review.check.review_file` options (``layer``, ``encoding``,
        ``rules_path``, ``name_column``).

    Returns
    -------
    (ReviewReport, dict)
        The report and its stored JSON document (:func:`report_document`).

    Raises
    ------
    CityplanError
        The file cannot be reviewed; the message names ``display``, not the stored path.
    """
    i = intake or {}
    try:
        rep = review_file(path, crs=crs, onemap=om, facility_type=facility_type,
                          project_type=i.get("project_type") or None, project=i.get("project") or "",
                          applicant=i.get("applicant") or "", display=display, **options)
    except MissingCRSError as exc:
        msg = (f"{str(exc).replace(str(path), display)} - 请选择坐标系: choose the file's 坐标系 CRS "
               "(on the form, or --crs: e.g. CGCS2000 3° GK zone, or its EPSG code)")
        raise CityplanError(msg) from None
    except CityplanError as exc:
        raise CityplanError(str(exc).replace(str(path), display)) from None
    return rep, report_document(rep, display=display)


def hit_count(rep: ReviewReport) -> int:
    """How many findings hit."""
    return int(rep.findings["hit"].sum()) if "hit" in rep.findings.columns else 0


def store_review(om: Any, fields: dict[str, Any], *, verdict: str, hits: int, doc_json: str,
                 html: str | None = None) -> dict[str, Any]:
    """Append a finished review's row to ``cityplan_reviews`` (and write its HTML report).

    Parameters
    ----------
    om : OneMap
        The one map reviewed against (its build is recorded).
    fields : dict
        ``review_id``, ``created_at``, ``user``, ``file_name``, ``sha256``, ``stored_file``, ``kind``,
        ``crs``, ``facility_type``, the intake fields and, optionally, ``data_dir`` (the HTML report
        goes to ``data_dir/reports/<id>.html``) and ``audit`` (``who``, ``role``, ``client``: the
        ``review.create`` audit row is appended in the same transaction).
    verdict, hits, doc_json
        The outcome: verdict, hit count and the report's JSON document as text.
    html : str, optional
        The HTML report (written only with a ``data_dir``).

    Returns
    -------
    dict
        The row as stored (``report_json`` as text).
    """
    fields = dict(fields)
    data_dir = fields.pop("data_dir", None)
    audit = fields.pop("audit", None)
    if data_dir and html is not None:
        reports = Path(data_dir) / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        with atomic_path(reports / f"{fields['review_id']}.html", overwrite=True) as tmp:
            tmp.write_text(html, encoding="utf-8")
    info = om.build_info
    row = {**dict.fromkeys(INTAKE_FIELDS, ""), **fields, "verdict": verdict, "hits": int(hits),
           "build_id": info.get("build_id", ""), "built_at": info.get("built_at", ""), "report_json": doc_json}
    row = {c: row.get(c, "") for c in REVIEW_COLUMNS}
    batches = {REVIEWS_TABLE: pd.DataFrame([row], columns=REVIEW_COLUMNS)}
    if audit:  # the review and its audit row in one transaction: both stored or neither
        batches[AUDIT_TABLE] = audit_row(
            who=str(audit.get("who") or fields.get("user") or "-"), role=str(audit.get("role", "")),
            action="review.create", target=str(fields["review_id"]), client=str(audit.get("client", "")),
            detail={"verdict": verdict, "file": fields.get("file_name", ""), "sha256": fields.get("sha256", "")})
    om.store.append_many(batches)
    return row


@dataclass
class Submitted:
    """A review run and stored: the report, its JSON document and the stored row."""

    report: ReviewReport
    doc: dict[str, Any]
    row: dict[str, Any]

    @property
    def review_id(self) -> str:
        """The stored review's id."""
        return str(self.row["review_id"])


def keep_submitted_file(path: str | Path, data_dir: str | Path, *, sha256: str | None = None) -> str:
    """Copy a submitted file to ``data_dir/uploads/<sha256>.<ext>`` (as the web keeps uploads);
    the path relative to ``data_dir``."""
    p = Path(path)
    digest = sha256 or sha256_file(p)
    kind = p.suffix.lower().lstrip(".") or "bin"
    uploads = Path(data_dir) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    dest = uploads / f"{digest}.{kind}"
    if not dest.exists():
        with atomic_path(dest, overwrite=True) as tmp:
            shutil.copyfile(p, tmp)
    return str(dest.relative_to(Path(data_dir)))


def store_report(om: Any, rep: ReviewReport, path: str | Path, *, user: str, intake: dict[str, Any] | None = None,
                 crs: str | None = None, facility_type: str | None = None, display: str | None = None,
                 data_dir: str | Path | None = None, review_id: str | None = None,
                 created_at: str | None = None, doc: dict[str, Any] | None = None) -> Submitted:
    """Store a review already run on ``path`` (what ``cityplan review --store`` does).

    Parameters
    ----------
    om : OneMap
    rep : ReviewReport
        The review of ``path`` against ``om``.
    path : path
        The file reviewed (its sha256 is recorded; with ``data_dir`` a copy is kept there).
    user : str
        Who submitted it.
    intake : dict, optional
        ``project``, ``applicant``, ``project_type`` (default: the report's own intake).
    crs, facility_type : str, optional
        The declared CRS and facility type the review ran with.
    display : str, optional
        The file's name in the record (default: its file name).
    data_dir : path, optional
        The server's data folder: the file is kept in ``uploads/`` and the HTML report in ``reports/``.
    review_id, created_at : str, optional
        Default: a new id, now.
    doc : dict, optional
        The report's document when made already (:func:`report_document`).

    Returns
    -------
    Submitted
    """
    p = Path(path)
    name = display or p.name
    rid = review_id or new_review_id()
    created = created_at or utc_now()
    given = intake if intake is not None else rep.intake or {}
    asked = {k: cell_text(given.get(k)) for k in INTAKE_FIELDS}
    rep.reviewed_at = local_iso(created, rep.timezone)  # the review's time is the stored one
    if doc is None:
        doc = report_document(rep, display=name)
    doc["reviewed_at"] = rep.reviewed_at
    digest = sha256_file(p)
    stored_file = keep_submitted_file(p, data_dir, sha256=digest) if data_dir and p.is_file() else ""
    fields = {"review_id": rid, "created_at": created, "user": user, "file_name": name, "sha256": digest,
              "stored_file": stored_file, "kind": p.suffix.lower().lstrip("."), "crs": crs or "",
              "facility_type": facility_type or "", **asked,
              "audit": {"who": user, "role": "cli", "client": "cli"}}  # stored with its audit row
    if data_dir:
        fields["data_dir"] = str(data_dir)
    html = to_html(rep).replace(str(p), name) if data_dir else None
    row = store_review(om, fields, verdict=str(rep.verdict), hits=hit_count(rep),
                       doc_json=json.dumps(doc, ensure_ascii=False, default=str, allow_nan=False), html=html)
    remember(om.store, row)
    logger.info("review %s of %s stored (%s)", rid, name, rep.verdict)
    return Submitted(report=rep, doc=doc, row=row)


def submit_review(om: Any, path: str | Path, *, user: str, intake: dict[str, Any] | None = None,
                  crs: str | None = None, facility_type: str | None = None, display: str | None = None,
                  data_dir: str | Path | None = None, **options: Any) -> Submitted:
    """Run a review of ``path`` and store it (:func:`run_review` then :func:`store_report`).

    Parameters are those of :func:`store_report`; ``**options`` go to :func:`run_review`.

    Returns
    -------
    Submitted
    """
    name = display or Path(path).name
    rep, doc = run_review(om, path, crs=crs, facility_type=facility_type, display=name, intake=intake, **options)
    return store_report(om, rep, path, user=user, intake=intake, crs=crs, facility_type=facility_type,
                        display=name, data_dir=data_dir, doc=doc)


# ---------------------------------------------------------------------------- the opinion
def _frame(records: list[dict[str, Any]] | None) -> pd.DataFrame:
    """Records as a frame, numeric columns numeric again (JSON's nulls are NaN, not None)."""
    df = pd.DataFrame(records or [])
    for c in df.columns:
        vals = df[c].dropna()
        if len(vals) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
            df[c] = pd.to_numeric(df[c], errors="coerce")
        elif len(vals) and all(isinstance(v, bool) for v in vals):
            df[c] = df[c].fillna(False).astype(bool)
    return df


def _features(doc: dict[str, Any], key: str) -> gpd.GeoDataFrame:
    feats = (doc.get(key) or {}).get("features") or []
    if not feats:
        return gpd.GeoDataFrame({"severity": pd.Series(dtype=object)}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    return gpd.GeoDataFrame.from_features(feats, crs=4326)


def _rules(doc: dict[str, Any], om: Any | None) -> list[Rule]:
    """The stored rules (titles, severities, citations, outcomes as decided); the layers each
    rule reads - which the stored report does not hold - from the profile's rule of that id."""
    current: dict[str, Rule] = {}
    if om is not None:
        try:
            current = {r.id: r for r in load_rules(om.profile)[0]}
        except CityplanError as exc:  # the profile's rules no longer parse: the map shows fewer layers
            logger.warning("rules of the profile not read (%s); the opinion's map shows no rule layers", exc)
    out = []
    for r in doc.get("rules") or []:
        by_type = {t: Outcome(**o) for t, o in (r.get("by_type") or {}).items()}
        stored = {"title_zh": r.get("title_zh", ""), "title_en": r.get("title_en", ""),
                  "severity": r.get("severity", "note"), "citation": r.get("citation", ""),
                  "statutory": bool(r.get("statutory")), "by_type": by_type}
        base = current.get(r["id"])
        out.append(dataclasses.replace(base, **stored) if base is not None
                   else Rule(id=r["id"], layers=(), relation="", **stored))
    return out


def report_from_document(doc: dict[str, Any], om: Any | None = None) -> ReviewReport:
    """The :class:`ReviewReport` a stored document describes (no review is run).

    Parameters
    ----------
    doc : dict
        The stored report (``report_json`` parsed).
    om : OneMap, optional
        The one map: the rules' layers come from its profile (for the opinion's map).

    Returns
    -------
    ReviewReport
    """
    impact = doc.get("impact")
    return ReviewReport(
        verdict=str(doc.get("verdict", "")), findings=_frame(doc.get("findings")),
        proposal=_features(doc, "proposal_geojson"), overlaps=_features(doc, "overlaps_geojson"),
        notes=list(doc.get("notes") or []), data_version=dict(doc.get("data_version") or {}),
        impact=None if impact is None else _frame(impact), rules=_rules(doc, om),
        unchecked=list(doc.get("unchecked") or []), summary=dict(doc.get("proposal") or {}),
        area_units=tuple(doc.get("area_units") or ("m2", "ha")), areas_crs=str(doc.get("areas_crs") or ""),
        intake=dict(doc.get("intake") or {}), input_crs=dict(doc.get("input_crs") or {}),
        reviewed_at=str(doc.get("reviewed_at") or ""), timezone=str(doc.get("timezone") or "UTC"))


def write_stored_opinion(om: Any, review: str | dict[str, Any], out_pdf: str | Path, *, dpi: int = 150,
                         overwrite: bool = True) -> Path:
    """Write a stored review's 审查意见 PDF from its stored report (the review is not run again).

    Parameters
    ----------
    om : OneMap
        The one map (the opinion's map draws its context).
    review : str or dict
        The review id, or the stored review (:func:`get_review`).
    out_pdf : path
        Where to write (atomically).
    dpi : int
        Raster resolution.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ReviewNotFoundError
        No such review.
    """
    from cityplan.review.opinion import write_opinion

    rv = require_review(om.store, review) if isinstance(review, str) else review
    rep = report_from_document(rv["report"], om)
    intake = {k: cell_text(rv.get(k)) or cell_text(rep.intake.get(k)) for k in INTAKE_FIELDS}
    if rv.get("created_at"):
        rep.reviewed_at = local_iso(rv["created_at"], rep.timezone)
    return write_opinion(rep, out_pdf, onemap=om, project=intake["project"], applicant=intake["applicant"],
                         submitted=str(rv.get("file_name") or ""), dpi=dpi, overwrite=overwrite)


# ------------------------------------------------------------------------ re-check against the current build
@dataclass
class Recheck:
    """A stored review checked again against the one map's current build.

    ``findings`` has one row per (feature, rule): ``hit_then`` / ``hit_now``, ``severity_then`` /
    ``severity_now`` and ``change`` (``new hit``, ``no longer hit``, ``severity changed``,
    ``unchanged``); ``layers`` names, for each constraint layer of the rules, the features added,
    removed, moved or changed between the review's build and the current one (when the review's
    build is still kept; else ``note`` says so - the finding changes are listed all the same).
    """

    review_id: str
    build_then: dict[str, str]
    build_now: dict[str, str]
    verdict_then: str
    verdict_now: str
    findings: pd.DataFrame
    layers: pd.DataFrame
    features: pd.DataFrame
    note: str = ""

    @property
    def changed(self) -> bool:
        """True when the verdict or a finding differs."""
        return self.verdict_then != self.verdict_now or bool((self.findings["change"] != "unchanged").any())


def recheck_review(om: Any, review_id: str) -> Recheck:
    """Review the stored proposal again on the current build and name what differs (nothing stored).

    Raises
    ------
    ReviewNotFoundError
        No stored review has this id.
    """
    from cityplan.monitor.diff import FEATURE_COLUMNS, LAYER_COLUMNS, diff_layer
    from cityplan.review.check import review_proposal
    from cityplan.review.constraints import rule_layers

    rv = require_review(om.store, review_id)
    doc = rv.get("report") or {}
    prop = _features(doc, "proposal_geojson")
    ptype = (doc.get("intake") or {}).get("project_type") or rv.get("project_type") or None
    rep = review_proposal(prop, onemap=om, project_type=ptype or None, source=str(rv.get("file_name") or "proposal"))
    then = _frame(doc.get("findings"))
    keys = ["feature", "rule"]
    cols = keys + ["title", "hit", "severity"]
    old = then.reindex(columns=cols) if len(then) else pd.DataFrame(columns=cols)
    new = rep.findings.reindex(columns=cols)
    j = old.merge(new, on=keys, how="outer", suffixes=("_then", "_now"))
    j["title"] = j["title_now"].fillna(j["title_then"])
    hit_then = j["hit_then"].fillna(False).astype(bool)
    hit_now = j["hit_now"].fillna(False).astype(bool)
    j["change"] = np.select(
        [hit_now & ~hit_then, hit_then & ~hit_now,
         hit_then & hit_now & (j["severity_then"].astype(str) != j["severity_now"].astype(str))],
        ["new hit", "no longer hit", "severity changed"], "unchanged")
    findings = j[["feature", "rule", "title", "hit_then", "hit_now", "severity_then", "severity_now", "change"]]
    then_build = {"build_id": str(rv.get("build_id", "")), "built_at": str(rv.get("built_at", ""))}
    now_build = {k: om.build_info.get(k, "") for k in ("build_id", "built_at")}
    layer_rows, feats, note = [], [], ""
    if then_build["build_id"] == now_build["build_id"]:
        note = "checked against the same build: the one map has not changed since"
    else:
        try:
            old_om = om.open_build(then_build["build_id"]) if len(then_build["build_id"]) >= 6 else None
        except CityplanError:
            old_om = None
        if old_om is None:
            note = (f"the review's build {then_build['build_id'][:8] or '(unknown)'} is no longer kept "
                    "(cityplan build --keep): the findings are compared, the layer changes cannot be named")
        else:
            ids = sorted({lid for r in rep.rules for lid in rule_layers(r, om)[0]})
            for lid in ids:
                if lid not in old_om.layer_ids:
                    continue
                s, f = diff_layer(lid, old_om.layer(lid), om.layer(lid), crs=om.working_crs)
                if s["added"] or s["removed"] or s["moved"] or s["reshaped"] or s["changed"]:
                    layer_rows.append(s)
                    feats.append(f)
    return Recheck(review_id=review_id, build_then=then_build, build_now=now_build,
                   verdict_then=str(rv.get("verdict", "")), verdict_now=rep.verdict, findings=findings,
                   layers=pd.DataFrame(layer_rows, columns=LAYER_COLUMNS),
                   features=pd.concat(feats, ignore_index=True) if feats else pd.DataFrame(columns=FEATURE_COLUMNS),
                   note=note)
