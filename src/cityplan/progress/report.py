"""Progress pieces of the district report: the last reports and the burn-up charts of a district,
and the coverage figure that checks each standard (a target with ``check:``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cityplan.progress.context import ProgressContext
from cityplan.progress.events import empty_events
from cityplan.progress.history import burnup_chart, task_history

logger = logging.getLogger(__name__)

REPORT_COLUMNS = ["as_of", "site_id", "name", "task_id", "metric", "quantity", "unit", "status", "reported_by",
                  "note", "source_file", "recorded_at"]


def last_reports(ctx: ProgressContext | None, adcode: str, *, n: int = 30) -> pd.DataFrame:
    """The district's ``n`` latest ledger events (newest first), with site names."""
    ev = ctx.events if ctx is not None else empty_events()
    ev = ev[ev.adcode.astype(str) == str(adcode)]
    ev = ev.sort_values(["as_of", "recorded_at", "source_row"], ascending=False, kind="stable").head(n)
    names = ctx.sites.set_index("site_id")["name"] if ctx is not None else pd.Series(dtype=str)
    return ev.assign(name=ev.site_id.map(names).fillna("")).reindex(columns=REPORT_COLUMNS).reset_index(drop=True)


def district_history_charts(ctx: ProgressContext | None, adcode: str, folder: str | os.PathLike[str], *,
                            until: str | None = None) -> list[Path]:
    """A burn-up chart (PNG + SVG) per task the district has reported on; returns the PNG paths."""
    if ctx is None:
        return []
    ev = ctx.events[ctx.events.adcode.astype(str) == str(adcode)]
    out = []
    for tid in sorted(set(ev.task_id), key=lambda t: [int(x) for x in t.split(".")]):
        item = ctx.register.get(tid)
        if not [t for t in item.targets if not t.check]:
            continue
        h = task_history(ctx, tid, district=str(adcode), until=until)
        stem = Path(folder) / f"history_{tid.replace('.', '_')}"
        files = burnup_chart(h, stem, title=f"{tid} {item.title_zh} · {h.district.iloc[0] if len(h) else adcode}",
                             title_en=f"{tid} {item.title_en} · {adcode}", overwrite=True)
        out.append(files[0])
    return out


def attach_ledger_status(gdf: pd.DataFrame, events: pd.DataFrame, *, as_of: str | None = None) -> pd.DataFrame:
    """Plan sites with ``status`` from the ledger (``planned`` if never reported), ``achieved`` (the
    latest figure reported; blank when none) and ``last_report`` — for map popups and styles."""
    from cityplan.progress.asof import parse_date, site_status

    if "site_id" not in gdf.columns:
        return gdf
    st = site_status(gdf["site_id"].astype(str), events, parse_date(as_of)).set_index("site_id")
    ids = gdf["site_id"].astype(str)
    return gdf.assign(status=ids.map(st["status"]).fillna("planned").to_numpy(),
                      achieved=ids.map(st["achieved_quantity"]).to_numpy(),
                      last_report=ids.map(st["last_report"]).fillna("").to_numpy())


def standard_figure(res: Any, adcode: str | None = None, languages: Any = None) -> str:
    """The figure that checks a standard, named: ``coverage ice-30min · 现有 existing (real facilities
    only) 8.3 % · 规划 planned (existing + plan sites) 26.3 % (18 plan sites, 18 of them illustrative)``
    (population share of the district ``adcode``, default the whole city)."""
    what = "population share" if res.share_metric == "population_share" else "residential land share"
    preset = res.params.get("preset") or f"{res.params.get('method')} {res.params.get('within')}"
    return f"coverage {preset}, {what}: {res.headline_text(adcode, languages)}"


def coverage_lookup(onemap: Any, given: Mapping[str, Any] | None = None) -> Callable[[str], Any]:
    """``preset -> CoverageResult`` (or an error text): a result of ``given`` when there is one, else
    the preset run once on ``onemap`` (kept for the one map's build)."""
    cache: dict[str, Any] = dict(given or {})

    def get(preset: str) -> Any:
        if preset not in cache:
            from cityplan.coverage import get_preset, preset_availability, run_coverage
            from cityplan.onemap import OneMap

            om = OneMap.coerce(onemap)
            try:
                ok, why = preset_availability(get_preset(preset, om.profile), om)
                cache[preset] = run_coverage(om, preset=preset) if ok else f"not computed: {why}"
            except Exception as exc:  # noqa: BLE001 - a progress table never fails for its standards
                logger.warning("standard check %s not computed: %s", preset, exc)
                cache[preset] = f"not computed: {exc}"
        return cache[preset]

    return get


def attach_standards(table: pd.DataFrame, coverage: Callable[[str], Any] | Mapping[str, Any],
                     languages: Any = None) -> pd.DataFrame:
    """``table`` (:func:`cityplan.progress.asof.progress_table`) with each standard's ``checked_by``
    holding the coverage figure that checks it: the preset, the existing scenario's share (the
    district's on a district row), the planned share beside it and how much of it is illustrative.

    ``coverage`` maps a preset id to its :class:`~cityplan.coverage.CoverageResult` (a mapping, or a
    callable such as :func:`coverage_lookup`); a preset it lacks keeps the plain text.
    """
    from cityplan.progress.asof import check_preset

    if "check" not in table.columns and "checked_by" not in table.columns:
        return table
    get = coverage if callable(coverage) else (lambda pid: coverage.get(pid))
    out = table.copy()
    checks = out["check"] if "check" in out.columns else _checks_from_status(out)
    for i, chk in checks.items():
        preset = check_preset(chk)
        if preset is None:
            continue
        res = get(preset)
        if res is None:
            continue
        if isinstance(res, str):
            out.at[i, "checked_by"] = f"coverage preset {preset}: {res}"
            continue
        adcode = str(out.at[i, "adcode"]) if "adcode" in out.columns and str(out.at[i, "adcode"] or "") else None
        out.at[i, "checked_by"] = standard_figure(res, adcode, languages)
    return out


def _checks_from_status(table: pd.DataFrame) -> pd.Series:
    """The ``check:`` text of standard rows when the table has no ``check`` column (it is in the status)."""
    import re

    def one(status: object) -> str | None:
        m = re.search(r"checked by `([^`]+)`", str(status))
        return m.group(1) if m else None

    return table["status"].apply(one) if "status" in table.columns else pd.Series(dtype=object)
