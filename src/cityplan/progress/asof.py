"""Progress as of a date: per target, quota, planned (and how much is illustrative), achieved.

*Achieved* comes from the progress ledger only (:mod:`cityplan.progress.events`), never from the
plan layers: for each site, the latest event on or before the date gives its status and its
achieved primary metric (a blank figure: a ``completed`` site counts its planned value, any other
keeps the last figure reported before); the site's other metrics count in full once it is
``completed``. A ``cancelled`` site counts neither planned nor achieved. For non-spatial targets
the latest cumulative figure a district reported counts. District rows sum to the city row.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

from cityplan.progress.events import RANK, latest
from cityplan.tasks.link import LinkResult
from cityplan.tasks.register import Register

ALL = "(all)"
DEFAULT_STALE_DAYS = 90
SITE_STATUS_COLUMNS = ["site_id", "status", "achieved_quantity", "reported_quantity", "latest_quantity",
                       "last_report", "status_since", "reported", "overdue"]
TABLE_COLUMNS = ["task_id", "chapter", "title_zh", "title_en", "adcode", "district", "metric", "unit",
                 "target", "quota", "quota_basis", "planned", "planned_illustrative", "achieved", "ratio",
                 "planned_ratio", "achieved_ratio", "features", "illustrative_features", "sites_reported",
                 "sites_completed", "sites_cancelled", "sites_overdue", "status", "checked_by", "plan", "last_report"]
#: the mark of a quota cityplan derived by an assumed split rule (``quotas.yaml`` rule ``sites`` / ``population``)
QUOTA_DERIVED = "derived (assumption) 推算(假设)"
#: the mark of a quota a district table gave (``cityplan progress quotas import``)
QUOTA_GIVEN = "given 给定"
#: a target with ``check:`` is a standard a coverage preset checks, not a quantity to achieve
STANDARD = "standard 标准"


def quota_basis(rule: object) -> str:
    """What a quota is, from its ``quotas.yaml`` rule: :data:`QUOTA_DERIVED` for the assumed split
    rules (``sites``, ``population``), :data:`QUOTA_GIVEN` for an imported table, else empty."""
    words = set(re.split(r"[\s+,]+", str(rule).strip())) if isinstance(rule, str) else set()
    if words & {"sites", "population"}:
        return QUOTA_DERIVED
    return QUOTA_GIVEN if "given" in words else ""


def quota_basis_text(value: object, languages: Any = None) -> str:
    """A quota basis in the city's ``languages`` (both, as stored, for a bilingual city)."""
    from cityplan.text import bilingual

    if value == QUOTA_DERIVED:
        return bilingual("推算(假设)", "derived (assumption)", languages, legacy=QUOTA_DERIVED)
    if value == QUOTA_GIVEN:
        return bilingual("给定", "given", languages, legacy=QUOTA_GIVEN)
    return value if isinstance(value, str) else ""


def check_preset(check: object) -> str | None:
    """The coverage preset a standard's ``check:`` names (``cityplan coverage --preset ice-30min``)."""
    if not isinstance(check, str) or not check:
        return None
    m = re.search(r"--preset[ =](\S+)", check)
    return m.group(1) if m else None


def checked_by_text(check: object) -> str:
    """The standard's check before its figure is known: ``coverage preset ice-30min, existing scenario``."""
    preset = check_preset(check)
    if preset is None:
        return str(check) if isinstance(check, str) else ""
    return f"coverage preset {preset}, 现有 existing scenario (real facilities only)"


def parse_date(value: str | dt.date | None, *, what: str = "--as-of") -> dt.date:
    """A date from ``YYYY-MM-DD`` (default today)."""
    from cityplan._errors import SchemaError

    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        msg = f"{what} {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2023-06-30"
        raise SchemaError(msg) from None


def site_status(site_ids: pd.Series | list[str], events: pd.DataFrame, as_of: dt.date, *,
                stale_days: int = DEFAULT_STALE_DAYS) -> pd.DataFrame:
    """Status of every site on ``as_of`` from the ledger (``planned`` for sites never reported).

    ``achieved_quantity`` is the latest report's figure; when that is blank, the last figure
    reported before (NaN for a completed site: it counts its planned value).

    ``status_since`` is the date the current status was first reported (in the last unbroken
    run of that status); ``overdue`` marks reported sites, neither completed nor cancelled,
    whose status has not moved for more than ``stale_days`` days.
    """
    ids = pd.Index(pd.Series(site_ids, dtype=str).unique(), name="site_id")
    ev = events[(events.site_id != "") & (events.as_of <= as_of.isoformat())]
    ev = ev.sort_values(["as_of", "recorded_at", "source_row"], kind="stable")
    rows: dict[str, dict[str, Any]] = {}
    for sid, g in ev.groupby("site_id", sort=False):
        st = g["status"].to_numpy()
        dates = g["as_of"].to_numpy()
        cur = st[-1]
        i = len(st) - 1
        while i > 0 and st[i - 1] == cur:
            i -= 1
        q = g["quantity"].dropna()
        rows[str(sid)] = {"status": cur, "reported_quantity": float(q.iloc[-1]) if len(q) else np.nan,
                          "latest_quantity": float(g["quantity"].iloc[-1]),
                          "last_report": dates[-1], "status_since": dates[i], "reported": True}
    out = pd.DataFrame.from_dict(rows, orient="index").reindex(ids) if rows else pd.DataFrame(index=ids)
    for col, fill in (("status", "planned"), ("reported_quantity", np.nan), ("latest_quantity", np.nan),
                      ("last_report", ""),
                      ("status_since", ""), ("reported", False)):
        out[col] = out[col].fillna(fill) if col in out.columns else fill
    out["reported"] = out["reported"].astype(bool)
    # the latest report's figure; blank: a completed site counts its planned value (filled in by
    # site_quantities), any other keeps the last figure reported before
    out["achieved_quantity"] = out["latest_quantity"].where(
        out["latest_quantity"].notna() | out["status"].eq("completed"), out["reported_quantity"])
    since = pd.to_datetime(out["status_since"].replace("", None), errors="coerce")
    age = (pd.Timestamp(as_of) - since).dt.days
    out["overdue"] = (out["reported"] & ~out["status"].isin(["completed", "cancelled"])
                      & (age > stale_days)).fillna(False).astype(bool)
    return out.reset_index()[SITE_STATUS_COLUMNS]


def site_quantities(link: LinkResult, primary: pd.Series, status: pd.DataFrame) -> pd.DataFrame:
    """Every (site, metric) with planned and achieved as of the status table's date."""
    q = link.quantities.copy()
    q["site_id"] = q["site_id"].astype(str)
    s = status.set_index("site_id")
    q["status_now"] = q.site_id.map(s["status"]).fillna("planned")
    q["reported_quantity"] = q.site_id.map(s["achieved_quantity"])
    q["last_report"] = q.site_id.map(s["last_report"]).fillna("")
    q["reported"] = q.site_id.map(s["reported"]).fillna(False).astype(bool)
    q["overdue"] = q.site_id.map(s["overdue"]).fillna(False).astype(bool)
    is_primary = q["metric"].to_numpy() == q.site_id.map(primary).to_numpy()
    completed = q.status_now.eq("completed").to_numpy()
    cancelled = q.status_now.eq("cancelled").to_numpy()
    rep = q.reported_quantity.to_numpy(float)
    val = q["value"].to_numpy(float)
    primary_achieved = np.where(np.isnan(rep), np.where(completed, val, 0.0), rep)
    q["achieved"] = np.where(cancelled, 0.0, np.where(is_primary, primary_achieved, np.where(completed, val, 0.0)))
    q["planned"] = np.where(cancelled, 0.0, val)
    q["planned_illustrative"] = np.where(q["illustrative"].astype(bool), q["planned"], 0.0)
    q["completed"] = completed
    q["cancelled"] = cancelled
    return q


def _aggregate_sites(q: pd.DataFrame) -> pd.DataFrame:
    keys = ["task_id", "metric", "adcode", "district"]
    return q.groupby(keys, dropna=False, sort=False).agg(
        unit_measured=("unit", "first"), planned=("planned", "sum"),
        planned_illustrative=("planned_illustrative", "sum"), achieved=("achieved", "sum"),
        features=("site_id", "nunique"), illustrative_features=("illustrative", "sum"),
        sites_reported=("reported", "sum"), sites_completed=("completed", "sum"),
        sites_cancelled=("cancelled", "sum"), sites_overdue=("overdue", "sum"),
        last_report=("last_report", "max")).reset_index()


def _aggregate_targets(events: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    ev = events[events.site_id == ""]
    last = latest(ev, ["adcode", "task_id", "metric"], as_of.isoformat())
    out = pd.DataFrame({"task_id": last.task_id, "metric": last.metric, "adcode": last.adcode,
                        "district": last.district, "unit_measured": last.unit,
                        "achieved": last.quantity.fillna(0.0), "last_report": last.as_of})
    return out.reset_index(drop=True)


def _status(ref: float, achieved: float, started: bool, last: str, check: object, is_city: bool) -> str:
    if isinstance(check, str) and check:
        return f"{STANDARD}: checked by `{check}`, not a quantity to achieve"
    if np.isnan(ref):
        return "measured (no target)" if is_city else "no quota"
    if ref > 0 and achieved >= ref:
        return "achieved"
    if achieved > 0 or started:
        return "in progress"
    if last:
        return "reported, none achieved"
    return "no report"


def _plan(ref: float, planned: float, features: float, check: object) -> str:
    if (isinstance(check, str) and check) or np.isnan(ref):
        return ""
    if features == 0:
        return "no sites (reported as figures)"
    if planned >= ref:
        return "planned in full"
    return "partly planned" if planned > 0 else "not planned"


def progress_table(register: Register, link: LinkResult, events: pd.DataFrame, *,
                   quotas: pd.DataFrame | None = None, primary: pd.Series | None = None,
                   as_of: dt.date | str | None = None, by: str | None = None,
                   stale_days: int = DEFAULT_STALE_DAYS) -> pd.DataFrame:
    """Target, quota, planned, achieved and ratio of every target, as of a date.

    Parameters
    ----------
    register, link
        The task register and plan sites linked to tasks and districts.
    events : DataFrame
        The progress ledger (:func:`cityplan.progress.events.read_events`).
    quotas : DataFrame, optional
        District quotas (:func:`cityplan.progress.quotas.read_quotas`).
    primary : Series, optional
        site_id -> the metric its reports give (:func:`cityplan.progress.sites.site_table`);
        default: every metric counts only on completion.
    as_of : date or ``YYYY-MM-DD``, optional
        Default today.
    by : {None, "district"}
        Also one row per district and target (``district == "(all)"`` is the city row).
    stale_days : int
        A reported site whose status has not moved for longer is overdue.

    Returns
    -------
    DataFrame
        ``TABLE_COLUMNS``: on the city row ``ratio`` = achieved / target, on a district row
        achieved / the district's quota; ``planned_ratio`` likewise for planned.
    """
    if by not in (None, "district"):
        msg = f"progress by {by!r}: only 'district' is supported"
        raise ValueError(msg)
    day = parse_date(as_of)
    prim = primary if primary is not None else pd.Series(dtype=str)
    status = site_status(link.quantities["site_id"].astype(str), events, day, stale_days=stale_days)
    per = _aggregate_sites(site_quantities(link, prim, status))
    tgt = _aggregate_targets(events, day)
    per = pd.concat([per, tgt], ignore_index=True)
    qt = quotas if quotas is not None and len(quotas) else pd.DataFrame(
        columns=["task_id", "metric", "adcode", "district", "quota"])
    keys = ["task_id", "metric", "adcode"]
    qt = qt.assign(quota_basis=[quota_basis(r) for r in qt["rule"]] if "rule" in qt.columns else "")
    per = per.merge(qt[keys + ["quota", "quota_basis"]].assign(_q=True), on=keys, how="outer")
    names = dict(zip(qt.adcode.astype(str), qt.district.astype(str), strict=False))
    per["district"] = per["district"].fillna(per["adcode"].map(names)).fillna("")
    num = ["planned", "planned_illustrative", "achieved", "features", "illustrative_features",
           "sites_reported", "sites_completed", "sites_cancelled", "sites_overdue"]
    per[num] = per[num].astype(float).fillna(0.0)
    per["last_report"] = per["last_report"].fillna("")
    per = per.drop(columns="_q")
    per["quota_basis"] = per["quota_basis"].where(per["quota"].notna(), "").fillna("")
    city = per.groupby(["task_id", "metric"], sort=False).agg(
        unit_measured=("unit_measured", "first"), quota=("quota", lambda s: s.sum(min_count=1)),
        quota_basis=("quota_basis", _city_basis),
        last_report=("last_report", "max"), **{c: (c, "sum") for c in num}).reset_index()
    city = city.assign(adcode="", district=ALL)
    t = register.targets_frame()
    items = register.items_frame().set_index("task_id")
    frames = [city] + ([per] if by else [])
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.merge(t.drop(columns=["chapter", "title_zh", "title_en"]), on=["task_id", "metric"], how="outer")
    frame["district"] = frame["district"].fillna(ALL)
    frame["adcode"] = frame["adcode"].fillna("")
    frame[num] = frame[num].fillna(0.0)
    frame["last_report"] = frame["last_report"].fillna("")
    frame["quota_basis"] = frame["quota_basis"].fillna("")
    frame["chapter"] = frame.task_id.map(items["chapter"])
    frame["title_zh"] = frame.task_id.map(items["title_zh"])
    frame["title_en"] = frame.task_id.map(items["title_en"])
    frame["unit"] = frame["unit"].fillna(frame["unit_measured"])
    frame["target"] = frame["target"].astype(float)
    frame["quota"] = frame["quota"].astype(float)
    is_city = frame["district"].eq(ALL)
    ref = np.where(is_city, frame["target"], frame["quota"]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ratio"] = np.where(ref > 0, frame["achieved"] / ref, np.nan)
        frame["planned_ratio"] = np.where(ref > 0, frame["planned"] / ref, np.nan)
    frame["achieved_ratio"] = frame["ratio"]
    started = (frame["sites_reported"] > 0).to_numpy()
    frame["status"] = [_status(r, a, s, lr, chk, c) for r, a, s, lr, chk, c in zip(
        ref, frame.achieved, started, frame.last_report, frame["check"], is_city, strict=True)]
    frame["plan"] = [_plan(r, p, f, chk) for r, p, f, chk in zip(
        ref, frame.planned, frame.features, frame["check"], strict=True)]
    # a standard (``check:``) is met or not by a coverage figure, never "achieved 0, ratio 0":
    # its achieved / planned / ratios stay empty and ``checked_by`` names the figure that checks it
    std = frame["check"].apply(lambda c: isinstance(c, str) and bool(c)).to_numpy(bool)
    frame["checked_by"] = [checked_by_text(c) if m else "" for c, m in zip(frame["check"], std, strict=True)]
    frame.loc[std, ["planned", "planned_illustrative", "achieved", "ratio", "planned_ratio",
                    "achieved_ratio"]] = np.nan
    for c in ("features", "illustrative_features", "sites_reported", "sites_completed", "sites_cancelled",
              "sites_overdue"):
        frame[c] = frame[c].astype(int)
    order = {tid: i for i, tid in enumerate(it.id for it in register.items)}
    frame["_o"] = frame.task_id.map(order)
    frame["_d"] = np.where(is_city, "~", frame.district)
    cols = TABLE_COLUMNS if by else [c for c in TABLE_COLUMNS if c not in ("adcode", "district")]
    out = frame.sort_values(["_o", "metric", "_d"], kind="stable")[cols].reset_index(drop=True)
    return out


def _city_basis(s: pd.Series) -> str:
    """The city row's quota basis: derived when any district quota is."""
    vals = [v for v in s if isinstance(v, str) and v]
    if QUOTA_DERIVED in vals:
        return QUOTA_DERIVED
    return vals[0] if vals else ""


def chapter_summary(register: Register, table: pd.DataFrame) -> pd.DataFrame:
    """Per chapter: items, quantified targets, targets with sites, planned in full, achieved."""
    items = register.items_frame()
    tot = table[table["district"].eq(ALL)] if "district" in table.columns else table
    tot = tot[tot.target.notna()]
    rows = []
    for _, ch in register.chapters.iterrows():
        cid = ch["id"]
        sub = tot[tot.chapter == cid]
        rows.append({
            "chapter": cid, "title_zh": ch["title_zh"], "title_en": ch["title_en"],
            "items": int((items.chapter == cid).sum()),
            "mapped_items": int(items[(items.chapter == cid)].mapped.sum()),
            "targets": len(sub), "targets_mapped": int((sub.features > 0).sum()),
            "targets_planned_in_full": int(sub.plan.eq("planned in full").sum()),
            "targets_reported": int(sub.last_report.ne("").sum()),
            "targets_achieved": int((sub.status == "achieved").sum()),
        })
    keys = ("items", "mapped_items", "targets", "targets_mapped", "targets_planned_in_full", "targets_reported",
            "targets_achieved")
    rows.append({"chapter": "all", "title_zh": "合计", "title_en": "All chapters",
                 **{k: sum(r[k] for r in rows) for k in keys}})
    return pd.DataFrame(rows)


def rank(status: str) -> int:
    """Position of ``status`` on the way to completion (``cancelled`` = -1)."""
    return RANK.get(status, -2)
