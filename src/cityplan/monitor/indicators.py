"""Supervision indicators (指标监测、评估、预警): every quantified target per district and for the
city against its pace, every coverage standard per district, and reporting freshness.

One row per (kind, task or preset, metric, district), ``INDICATOR_COLUMNS``:

* ``target`` - achieved / quota (district) or / target (city, ``district == "(all)"``) from the
  progress ledger (:mod:`cityplan.progress.asof`), against the share the task's pace
  (:mod:`cityplan.monitor.pace`) asks for on the date; ``gap_points`` = expected - value, in
  percentage points; ``since`` the first day of the current run of the same level (the achieved
  figure is a step function of the report dates, the pace a function of the day);
* ``coverage`` - a preset's share (existing facilities only) against its standard (the preset's
  ``target``, or a standard ``monitor.yaml`` gives); as of the build, not of the date;
* ``freshness`` - days since the district's last report against the profile's limits.

Levels (:mod:`cityplan.monitor.rules`): red, yellow, green, grey (not checked - no quota, no
figure, no standard; never counted as green).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

from cityplan.monitor.rules import GREEN, GREY, LEVEL_ORDER, RED, YELLOW, Rules
from cityplan.progress.asof import ALL, parse_date
from cityplan.progress.context import ProgressContext

INDICATOR_COLUMNS = ["level", "kind", "task_id", "title", "adcode", "district", "indicator", "unit",
                     "achieved", "reference", "value_pct", "expected_pct", "gap_points", "reason", "since",
                     "last_report", "reported_by", "pace", "deadline", "link"]
CITY_LINK = "/tasks/{task_id}"
DISTRICT_LINK = "/districts/{adcode}"

#: preset id -> per-district figures (``district``, ``adcode``, shares) or the reason there are none
Figures = Callable[[str], "pd.DataFrame | str"]


def _quantified(t: pd.DataFrame) -> pd.DataFrame:
    return t[t["target"].notna() & (t["checked_by"].fillna("") == "")]


def _tables(ctx: ProgressContext, dates: list[str]) -> dict[str, pd.DataFrame]:
    return {d: _quantified(ctx.table(as_of=d, by="district")) for d in dates}


def _levels(rules: Rules, ratio: np.ndarray, expected: np.ndarray, days: list[dt.date],
            deadline: dt.date) -> np.ndarray:
    """The level of every day (vectorised :meth:`Rules.behind`)."""
    t = rules.settings.thresholds
    gap = (expected - ratio) * 100
    achieved = ratio >= 1 - 1e-9
    past = np.array([d > deadline for d in days])
    out = np.where(gap > t.yellow_behind_points, YELLOW, GREEN).astype(object)
    out = np.where(gap > t.red_behind_points, RED, out)
    if t.red_past_deadline:
        out = np.where(past, RED, out)
    return np.where(achieved, GREEN, out)


def _since(levels: np.ndarray, days: list[dt.date]) -> str:
    """First day of the last unbroken run of the final level."""
    if not len(levels):
        return ""
    i = len(levels) - 1
    while i > 0 and levels[i - 1] == levels[-1]:
        i -= 1
    return days[i].isoformat()


def _reporters(events: pd.DataFrame, day: str) -> tuple[dict[tuple[str, str], tuple[str, str]],
                                                       dict[str, tuple[str, str]]]:
    """Latest (as_of, reported_by) per (task, adcode) and per adcode, on or before ``day``."""
    ev = events[events["as_of"] <= day].sort_values(["as_of", "recorded_at", "source_row"], kind="stable")
    per_task = {(r.task_id, r.adcode): (r.as_of, r.reported_by)
                for r in ev.drop_duplicates(["task_id", "adcode"], keep="last").itertuples()}
    per_district = {r.adcode: (r.as_of, r.reported_by) for r in ev.drop_duplicates(["adcode"], keep="last").itertuples()}
    return per_task, per_district


def target_indicators(ctx: ProgressContext, rules: Rules, as_of: dt.date | str | None = None) -> pd.DataFrame:
    """Every quantified target, per district with a quota and for the city, against its pace."""
    day = parse_date(as_of)
    iso = day.isoformat()
    ev = ctx.events
    dates = sorted({d for d in ev["as_of"] if d <= iso} | {iso})
    tables = _tables(ctx, dates)
    now = tables[iso]
    # achieved ratio at every report date, per (task, metric, adcode)
    hist = pd.concat([t.assign(date=d) for d, t in tables.items()], ignore_index=True)
    hist["ratio"] = hist["ratio"].astype(float).fillna(0.0)
    series = {k: (g["date"].tolist(), g["ratio"].to_numpy(float))
              for k, g in hist.groupby(["task_id", "metric", "adcode"], sort=False)}
    per_task, _per_district = _reporters(ev, iso)
    rows = []
    for r in now.itertuples(index=False):
        is_city = r.district == ALL
        ref = float(r.target if is_city else r.quota)
        pace = rules.pace(r.task_id)
        base = {"kind": "target", "task_id": r.task_id, "title": f"{r.title_zh} {r.title_en}",
                "adcode": r.adcode, "district": r.district, "indicator": r.metric, "unit": r.unit,
                "achieved": float(r.achieved), "reference": ref, "pace": pace.describe(),
                "deadline": pace.deadline.isoformat(),
                "link": CITY_LINK.format(task_id=r.task_id) if is_city else DISTRICT_LINK.format(adcode=r.adcode)}
        if is_city:
            last = max((v for (t, _a), v in per_task.items() if t == r.task_id), default=("", ""))
        else:
            last = per_task.get((r.task_id, r.adcode), ("", ""))
        base |= {"last_report": last[0], "reported_by": last[1]}
        if not np.isfinite(ref) or ref <= 0:
            rows.append(base | {"level": GREY, "value_pct": np.nan, "expected_pct": pace.share(day) * 100,
                                "gap_points": np.nan, "since": "",
                                "reason": "无分区指标 no district quota: not checked" if not is_city
                                else "无目标值 no target value: not checked"})
            continue
        dts, ratios = series.get((r.task_id, r.metric, r.adcode), ([iso], np.array([0.0])))
        start = min(pace.start, day)
        days = [start + dt.timedelta(days=i) for i in range((day - start).days + 1)]
        idx = np.searchsorted(np.array(dts), np.array([d.isoformat() for d in days]), side="right") - 1
        ratio_d = np.where(idx >= 0, ratios[np.clip(idx, 0, None)], 0.0)
        expected = pace.shares(days)
        levels = _levels(rules, ratio_d, expected, days, pace.deadline)
        value = float(r.achieved) / ref
        gap = (pace.share(day) - value) * 100
        level, reason = rules.behind(gap, past_deadline=day > pace.deadline, achieved=value >= 1 - 1e-9)
        if not base["last_report"]:
            reason += "; 无报送 nothing reported yet"
        rows.append(base | {"level": level, "value_pct": value * 100, "expected_pct": pace.share(day) * 100,
                            "gap_points": gap, "since": _since(levels, days), "reason": reason})
    return pd.DataFrame(rows, columns=INDICATOR_COLUMNS)


def reporting_districts(ctx: ProgressContext) -> pd.DataFrame:
    """Districts expected to report: those holding a quota (every district of the map when the
    profile has no quotas); columns ``adcode``, ``district``."""
    d = ctx.districts[["adcode", "name"]].astype(str).rename(columns={"name": "district"})
    if len(ctx.quotas):
        d = d[d["adcode"].isin(set(ctx.quotas["adcode"].astype(str)))]
    return d.sort_values("adcode").reset_index(drop=True)


def freshness_indicators(ctx: ProgressContext, rules: Rules, as_of: dt.date | str | None = None) -> pd.DataFrame:
    """Days since each reporting district's last report (any task) against the profile's limits."""
    day = parse_date(as_of)
    _per_task, per_district = _reporters(ctx.events, day.isoformat())
    f = rules.settings.freshness
    start = rules.pace("").start
    rows = []
    for d in reporting_districts(ctx).itertuples(index=False):
        last, who = per_district.get(d.adcode, ("", ""))
        ever = bool(last)
        ref_day = dt.date.fromisoformat(last) if ever else start
        days = max((day - ref_day).days, 0)
        level, reason = rules.freshness(days, ever=ever)
        limit = f.red_days if level == RED else f.yellow_days
        since = (ref_day + dt.timedelta(days=limit + 1)).isoformat() if level in (RED, YELLOW) else ""
        rows.append({"level": level, "kind": "freshness", "task_id": "", "title": "报送及时性 reporting freshness",
                     "adcode": d.adcode, "district": d.district, "indicator": "days_since_report", "unit": "days",
                     "achieved": float(days), "reference": float(f.yellow_days), "value_pct": np.nan,
                     "expected_pct": np.nan, "gap_points": np.nan, "reason": reason, "since": since,
                     "last_report": last, "reported_by": who, "pace": "", "deadline": "",
                     "link": DISTRICT_LINK.format(adcode=d.adcode)})
    return pd.DataFrame(rows, columns=INDICATOR_COLUMNS)


def coverage_standards(ctx: ProgressContext, rules: Rules) -> list[dict[str, object]]:
    """Presets with a standard: their own ``target``, else one ``monitor.yaml`` gives."""
    from cityplan.coverage import load_presets

    presets = load_presets(ctx.om.profile)
    out: list[dict[str, object]] = []
    given = {s.preset: s for s in rules.settings.coverage.standards}
    for pid, p in presets.items():
        if p.target:
            out.append({"preset": pid, "title": f"{p.title_zh} {p.title_en}", "metric": p.target["metric"],
                        "min": float(p.target["min"]), "basis": p.citation})
        elif pid in given:
            s = given[pid]
            out.append({"preset": pid, "title": f"{p.title_zh} {p.title_en}", "metric": s.metric,
                        "min": float(s.min), "basis": s.basis or f"{rules.source}"})
    return out


def coverage_indicators(ctx: ProgressContext, rules: Rules, figures: Figures | None) -> pd.DataFrame:
    """Every coverage standard per district (and the city) as of the build.

    ``figures`` None: the standards are listed as not checked (grey).
    """
    build = ctx.om.build_info
    built = str(build.get("built_at", ""))[:10]
    stamp = f"build {str(build.get('build_id', ''))[:8]} {built}".strip()
    districts = reporting_districts(ctx)
    rows = []
    for std in coverage_standards(ctx, rules):
        fig = figures(str(std["preset"])) if figures is not None else "not computed (--skip-coverage)"
        base = {"kind": "coverage", "task_id": "", "title": std["title"], "indicator": std["preset"],
                "unit": std["metric"], "reference": std["min"], "expected_pct": float(std["min"]) * 100,
                "pace": "", "deadline": "", "last_report": stamp, "reported_by": "cityplan coverage"}
        if isinstance(fig, str):
            for d in [*districts.itertuples(index=False)]:
                rows.append(base | {"level": GREY, "adcode": d.adcode, "district": d.district, "achieved": np.nan,
                                    "value_pct": np.nan, "gap_points": np.nan, "since": "",
                                    "reason": f"未检查 not checked: {fig}",
                                    "link": DISTRICT_LINK.format(adcode=d.adcode)})
            continue
        fig = fig.set_index(fig["adcode"].where(fig["district"] != ALL, ""))
        for adcode, name in [*zip(districts.adcode, districts.district, strict=True), ("", ALL)]:
            share = float(fig[std["metric"]].get(adcode, np.nan)) if adcode in fig.index else np.nan
            if not np.isfinite(share):
                level, reason = GREY, "无覆盖率数据 no coverage figure here: not checked"
            else:
                level, reason = rules.coverage(share, float(std["min"]))  # type: ignore[arg-type]
            rows.append(base | {"level": level, "adcode": adcode, "district": name, "achieved": share,
                                "value_pct": share * 100 if np.isfinite(share) else np.nan,
                                "gap_points": (float(std["min"]) - share) * 100 if np.isfinite(share) else np.nan,
                                "since": built if level in (RED, YELLOW) else "", "reason": reason,
                                "link": DISTRICT_LINK.format(adcode=adcode) if adcode else "/districts"})
    return pd.DataFrame(rows, columns=INDICATOR_COLUMNS)


def indicators(ctx: ProgressContext, rules: Rules, as_of: dt.date | str | None = None, *,
               figures: Figures | None = None, district: str | None = None) -> pd.DataFrame:
    """All indicators, worst first (red, yellow, green, grey; then the largest gap).

    ``district`` (an adcode) keeps that district's rows (and not the city rows).
    """
    parts = [target_indicators(ctx, rules, as_of), coverage_indicators(ctx, rules, figures),
             freshness_indicators(ctx, rules, as_of)]
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else \
        pd.DataFrame(columns=INDICATOR_COLUMNS)
    if district is not None:
        out = out[out["adcode"] == district]
    out = out.assign(_l=out["level"].map(LEVEL_ORDER), _g=-out["gap_points"].astype(float).fillna(-1e9))
    return out.sort_values(["_l", "_g", "task_id", "adcode"], kind="stable").drop(columns=["_l", "_g"])[
        INDICATOR_COLUMNS].reset_index(drop=True)
