"""Implementation supervision as a use case: the indicators of a date, for the city or one district
(``cityplan monitor`` and the web's supervision page), and the differences between two builds
(``cityplan diff`` and the web's "what changed" view)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cityplan.monitor.coverage_figures import district_figures
from cityplan.monitor.diff import BuildDiff, diff_builds
from cityplan.monitor.indicators import indicators
from cityplan.monitor.rules import GREY, LEVEL_ORDER, RED, Rules, load_rules
from cityplan.onemap import OneMap
from cityplan.progress.asof import ALL, parse_date
from cityplan.progress.context import ProgressContext, load_context

logger = logging.getLogger(__name__)


@dataclass
class Supervision:
    """The indicators of one date, worst first."""

    table: pd.DataFrame
    as_of: dt.date
    rules: Rules
    build_info: dict[str, str]
    district: str | None = None          # adcode when restricted to one district
    district_name: str = ""
    context: ProgressContext | None = field(default=None, repr=False)

    @property
    def any_red(self) -> bool:
        """True when an indicator is red (``cityplan monitor`` exits 1)."""
        return bool((self.table["level"] == RED).any())

    @property
    def warnings(self) -> pd.DataFrame:
        """Red and yellow rows (the warnings list)."""
        return self.table[self.table["level"].isin(["red", "yellow"])].reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        """Rows per level."""
        return {lv: int((self.table["level"] == lv).sum()) for lv in LEVEL_ORDER}

    def matrix(self, *, first: str | None = None) -> tuple[list[dict[str, str]], list[dict[str, object]]]:
        """The district x indicator matrix: columns (indicator keys and labels) and one row per
        district (the city last), worst district first (``first``, an adcode, before all).

        Each cell is the table's row for (district, indicator) - level, figures, reason, link - or
        None when the indicator does not apply to the district.
        """
        t = self.table.copy()
        t["key"] = np.where(t["kind"] == "target", t["task_id"] + " " + t["indicator"], t["indicator"])
        t["_l"] = t["level"].map(LEVEL_ORDER)
        cols = t.groupby("key", sort=False).agg(kind=("kind", "first"), title=("title", "first"),
                                                 task_id=("task_id", "first"), indicator=("indicator", "first"),
                                                 worst=("_l", "min"))
        cols = cols.assign(_k=cols["kind"].map({"target": 0, "coverage": 1, "freshness": 2})).sort_values(
            ["worst", "_k"], kind="stable")
        columns = [{"key": str(k), "kind": str(r.kind), "title": str(r.title), "task_id": str(r.task_id),
                    "indicator": str(r.indicator)} for k, r in cols.iterrows()]
        rows = []
        for (adcode, name), g in t.groupby(["adcode", "district"], sort=False):
            cells = {str(r["key"]): _cell(r) for _, r in g.iterrows()}
            score = (int((g["level"] == "red").sum()), int((g["level"] == "yellow").sum()))
            rows.append({"adcode": str(adcode), "district": str(name), "city": name == ALL,
                         "red": score[0], "yellow": score[1],
                         "cells": [cells.get(c["key"]) for c in columns]})
        rows.sort(key=lambda r: (r["adcode"] != first, bool(r["city"]), -int(r["red"]), -int(r["yellow"]),
                                 str(r["adcode"])))
        return columns, rows


def _num(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _cell(r: pd.Series) -> dict[str, object]:
    return {"level": str(r["level"]), "value_pct": _num(r["value_pct"]), "expected_pct": _num(r["expected_pct"]),
            "gap_points": _num(r["gap_points"]), "achieved": _num(r["achieved"]), "reference": _num(r["reference"]),
            "unit": str(r["unit"]), "reason": str(r["reason"]), "since": str(r["since"]),
            "last_report": str(r["last_report"]), "link": str(r["link"])}


def supervise(onemap: OneMap | ProgressContext | str | os.PathLike[str] | None = None, *,
              as_of: dt.date | str | None = None, district: str | None = None,
              coverage: bool = True) -> Supervision:
    """Every indicator on ``as_of`` (default today), worst first.

    Parameters
    ----------
    onemap : OneMap, ProgressContext, path-like or URL, optional
        The one map (or a progress context already read).
    as_of : date or ``YYYY-MM-DD``, optional
        The date judged.
    district : str, optional
        Only this district's rows (南岗区, 南岗, Nangang or 230103).
    coverage : bool
        Compute the coverage figures of presets with a standard (False: listed as not checked).
    """
    from cityplan.districts import resolve_district

    ctx = onemap if isinstance(onemap, ProgressContext) else load_context(onemap)
    rules = load_rules(ctx.om.profile)
    day = parse_date(as_of)
    adcode, dname = None, ""
    if district:
        d = resolve_district(district, ctx.districts)
        adcode, dname = str(d["adcode"]), str(d["name"])
    stored = stored_figures(ctx.om)
    figs = (lambda p: district_figures(ctx.om, p, stored)) if coverage else None
    table = indicators(ctx, rules, day, figures=figs, district=adcode)
    return Supervision(table=table, as_of=day, rules=rules, build_info=dict(ctx.om.build_info), district=adcode,
                       district_name=dname, context=ctx)




def compare_builds(om: OneMap, old: str | None = None, new: str | None = None, *, tolerance_m: float = 1.0,
                   coverage: bool = True) -> BuildDiff:
    """The diff of two kept builds of ``om`` (ids or prefixes; default the previous and the current)."""
    a = om.open_build(old) if old else om.open_build(back=1)
    b = om.open_build(new) if new else om
    stored = stored_figures(om)
    return diff_builds(a, b, tolerance_m=tolerance_m,
                       figures=(lambda m, p: district_figures(m, p, stored)) if coverage else None)


def stored_figures(current: OneMap) -> Callable[[OneMap, str], pd.DataFrame | str | None]:
    """The ``stored`` provider of :func:`cityplan.monitor.coverage_figures.district_figures` for the
    map ``current``: a preset's stored per-district table of a build.

    The current build's runs missing from the store are computed and stored
    (:func:`cityplan.services.coverage.ensure_stored`, this preset only) unless another process is
    computing them (then the reason says so: not checked yet). An older build (a kept build, as the
    diff opens it) is only read - from the current map's ledgers (``build=`` its id), else its own
    store - and never written; None when it has nothing stored (the figures are then computed).
    """
    from cityplan.services import coverage as cov

    def get(m: OneMap, preset: str) -> pd.DataFrame | str | None:
        if m is not current and m.build_stamp != current.build_stamp:
            for src, build in ((current, m.build_stamp), (m, None)):
                try:
                    t = cov.stored_districts(src, preset, build=build)
                except Exception as exc:  # noqa: BLE001 - an old store without the ledgers: computed instead
                    logger.info("stored coverage of build %s not read: %s", m.build_stamp, exc)
                    t = None
                if t is not None:
                    return t
            return None
        t = cov.stored_districts(m, preset)
        if t is not None:
            return t
        states = cov.run_states(m)
        have = states.get(preset)
        if have is None:
            try:
                who = cov.claimed(m)
            except Exception:  # noqa: BLE001 - no shared state: nobody else computes
                who = None
            if who is not None:
                return f"not computed yet: the coverage of this build is being computed ({who})"
            try:
                cov.ensure_stored(m, [preset], transit=False)
            except Exception as exc:  # noqa: BLE001 - a map that cannot be written: computed, not stored
                logger.warning("coverage %s not stored: %s", preset, exc)
                return None
            t = cov.stored_districts(m, preset)
            if t is not None:
                return t
            have = cov.run_states(m).get(preset)
        if have is not None and have[0] != cov.DONE:
            return f"not computed: {have[1] or have[0]}"
        return None

    return get


def _records(df: pd.DataFrame) -> list[dict[str, object]]:
    import json

    return json.loads(df.to_json(orient="records", force_ascii=False)) if len(df) else []


def diff_payload(d: BuildDiff) -> dict[str, object]:
    """A diff as plain JSON-able data (the CLI's ``--format json`` and the web page)."""
    keep = ["build_id", "built_at", "profile_sha256", "sources_sha256"]
    lay = d.layers[d.layers[["added", "removed", "moved", "reshaped", "changed"]].sum(axis=1) > 0]
    return {"old": {k: d.old.get(k, "") for k in keep}, "new": {k: d.new.get(k, "") for k in keep},
            "tolerance_m": d.tolerance_m, "changed": d.changed, "layers": _records(lay),
            "features": _records(d.features), "plan_sites": _records(d.plan_sites), "targets": _records(d.targets),
            "profile_files": _records(d.profile_files), "coverage": _records(d.coverage), "notes": d.notes}


def completed_periods(events: pd.DataFrame, as_of: dt.date) -> dict[str, list[list[str | None]]]:
    """Per site, the periods ``[from, until)`` (``until`` None: still) its status was ``completed``,
    from the ledger up to ``as_of`` (the latest report of each day counts, as in progress as of a date)."""
    ev = events[(events["site_id"] != "") & (events["as_of"] <= as_of.isoformat())]
    ev = ev.sort_values(["as_of", "recorded_at", "source_row"], kind="stable").drop_duplicates(
        ["site_id", "as_of"], keep="last")
    out: dict[str, list[list[str | None]]] = {}
    for sid, g in ev.groupby("site_id", sort=False):
        periods: list[list[str | None]] = []
        for day, status in zip(g["as_of"], g["status"], strict=True):
            if status == "completed" and (not periods or periods[-1][1] is not None):
                periods.append([str(day), None])
            elif status != "completed" and periods and periods[-1][1] is None:
                periods[-1][1] = str(day)
        if periods:
            out[str(sid)] = periods
    return out


def completed_sites(ctx: ProgressContext, as_of: dt.date | str | None = None) -> dict[str, object]:
    """Plan sites completed at some day up to ``as_of``, each with its completed periods and a WGS84
    point, for the supervision page's map slider (a site is shown on a day inside one of its periods).

    Illustrative sites are flagged (their completion is as reported, their place illustrative).
    """
    day = parse_date(as_of)
    periods = completed_periods(ctx.events, day)
    sites_t = ctx.sites[ctx.sites["site_id"].astype(str).isin(set(periods))]
    points: dict[str, tuple[float, float]] = {}
    for lid in sorted(set(sites_t["layer"])):
        g = ctx.om.layer(lid)
        if "site_id" not in g.columns or not len(g):
            continue
        g = g[g["site_id"].astype(str).isin(set(periods))]
        pts = g.geometry.to_crs(ctx.om.working_crs).representative_point().to_crs(4326)
        points |= {str(s): (round(float(p.x), 6), round(float(p.y), 6))
                   for s, p in zip(g["site_id"], pts, strict=True) if p is not None and not p.is_empty}
    sites = [{"site_id": str(r.site_id), "name": str(r.name), "task_id": str(r.task_id), "district": str(r.district),
              "periods": periods[str(r.site_id)], "illustrative": bool(r.illustrative),
              "lon": points[str(r.site_id)][0], "lat": points[str(r.site_id)][1]}
             for r in sites_t.itertuples() if str(r.site_id) in points]
    start = min([str(s["periods"][0][0]) for s in sites] + [day.isoformat()])  # type: ignore[index]
    return {"as_of": day.isoformat(), "start": start, "sites": sites, "total_sites": int(len(ctx.sites))}

__all__ = ["GREY", "Supervision", "compare_builds", "completed_sites", "diff_payload", "supervise"]
