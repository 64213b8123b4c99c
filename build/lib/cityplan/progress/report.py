"""Progress pieces of the district report: the last reports and the burn-up charts of a district."""

from __future__ import annotations

import logging
import os
from pathlib import Path

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
