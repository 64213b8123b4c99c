"""A task's progress over time: the time series from the ledger and a burn-up chart.

The series has one point per distinct report date (``as_of``) of the task (in the district,
with ``district``): achieved as of that date, computed exactly as ``cityplan progress --as-of``
does, against the target (city) or quota (district) and the linear path from
1 January to 31 December of the plan year.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cityplan.districts import resolve_district
from cityplan.io.write import atomic_path
from cityplan.progress.asof import ALL, parse_date
from cityplan.progress.context import ProgressContext
from cityplan.progress.events import EARLIEST, YEAR_END

HISTORY_COLUMNS = ["task_id", "metric", "unit", "adcode", "district", "date", "achieved", "reference",
                   "ratio", "linear_path", "sites_completed"]


def linear_path(day: dt.date, reference: float) -> float:
    """Where a steady pace from 0 on 1 Jan to ``reference`` on 31 Dec of the plan year stands on ``day``."""
    span = (YEAR_END - EARLIEST).days
    frac = min(max((day - EARLIEST).days / span, 0.0), 1.0)
    return reference * frac


def task_history(ctx: ProgressContext, task_id: str, *, district: str | None = None,
                 until: dt.date | str | None = None) -> pd.DataFrame:
    """Achieved per target metric of ``task_id`` at every report date (``HISTORY_COLUMNS``)."""
    item = ctx.register.get(task_id)
    adcode, dname = "", ALL
    if district:
        d = resolve_district(district, ctx.districts)
        adcode, dname = str(d["adcode"]), str(d["name"])
    end = parse_date(until)
    ev = ctx.events[(ctx.events.task_id == task_id) & (ctx.events.as_of <= end.isoformat())]
    if adcode:
        ev = ev[ev.adcode == adcode]
    dates = sorted({EARLIEST.isoformat(), *ev.as_of.unique()})
    metrics = [t.metric for t in item.targets if not t.check] or sorted(
        set(ctx.link.quantities.loc[ctx.link.quantities.task_id == task_id, "metric"]))
    rows = []
    for day in dates:
        t = ctx.table(as_of=day, by="district" if adcode else None)
        t = t[(t.task_id == task_id) & t.metric.isin(metrics)]
        if adcode:
            t = t[t.adcode == adcode]
        for r in t.itertuples():
            ref = r.quota if adcode else r.target
            rows.append({"task_id": task_id, "metric": r.metric, "unit": r.unit, "adcode": adcode,
                         "district": dname, "date": day, "achieved": float(r.achieved), "reference": ref,
                         "ratio": r.ratio, "linear_path": linear_path(dt.date.fromisoformat(day), ref)
                         if pd.notna(ref) else float("nan"), "sites_completed": int(r.sites_completed)})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


@dataclass(frozen=True)
class ChartPace:
    """The pace a burn-up chart draws: ``share(day)`` (0..1 of the reference), its label, its
    ``start``/``deadline``, and the supervision thresholds (points behind: yellow, red) shaded
    below it (:mod:`cityplan.monitor` makes one from the profile's ``monitor.yaml``)."""

    share: Callable[[dt.date], float]
    label: str
    start: dt.date
    deadline: dt.date
    yellow_points: float | None = None
    red_points: float | None = None


def burnup_chart(history: pd.DataFrame, out: str | os.PathLike[str], *, title: str, title_en: str | None = None,
                 overwrite: bool = False, pace: ChartPace | None = None) -> list[Path]:
    """Write ``out``.png and ``out``.svg: achieved (steps) vs target and the pace, per metric, with
    a legend naming every line.

    ``pace`` (default: the linear path over the plan year) draws the expected path and, when it
    carries thresholds, the yellow and red bands (behind the pace by more than the thresholds).
    ``title_en`` replaces ``title`` when no CJK font is installed (no empty boxes in print). The
    figure is made without pyplot and the fonts are set for it alone (:func:`cityplan.fonts.cjk_rc`).
    """
    import matplotlib

    from cityplan.fonts import cjk_rc

    with matplotlib.rc_context(cjk_rc()):
        return _draw_burnup(history, out, title=title, title_en=title_en, overwrite=overwrite, pace=pace)


def burnup_svg(history: pd.DataFrame, *, title: str, title_en: str | None = None,
               pace: ChartPace | None = None) -> bytes:
    """The burn-up chart of :func:`burnup_chart` as SVG bytes (for a web page; no file written)."""
    import io

    import matplotlib

    from cityplan.fonts import cjk_rc

    with matplotlib.rc_context(cjk_rc()):
        fig = _burnup_figure(history, title=title, title_en=title_en, pace=pace)
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _draw_burnup(history: pd.DataFrame, out: str | os.PathLike[str], *, title: str, title_en: str | None,
                 overwrite: bool, pace: ChartPace | None = None) -> list[Path]:
    fig = _burnup_figure(history, title=title, title_en=title_en, pace=pace)
    base = Path(out)
    base = base.with_suffix("") if base.suffix.lower() in (".png", ".svg") else base
    written = []
    for ext in (".png", ".svg"):
        target = base.with_name(base.name + ext)
        with atomic_path(target, overwrite=overwrite) as tmp:
            fig.savefig(tmp, dpi=150, format=ext[1:], metadata={"Date": None} if ext == ".svg" else None)
        written.append(target)
    return written


def _burnup_figure(history: pd.DataFrame, *, title: str, title_en: str | None, pace: ChartPace | None = None):  # noqa: ANN202
    import matplotlib.dates as mdates

    from cityplan.fonts import agg_figure, cjk_font

    font = cjk_font()
    metrics = list(dict.fromkeys(history.metric)) or ["(no target)"]
    fig = agg_figure(figsize=(11, 2.6 * len(metrics) + 0.6))
    axes = fig.subplots(len(metrics), 1, squeeze=False)
    for ax, m in zip(axes[:, 0], metrics, strict=True):
        h = history[history.metric == m].sort_values("date")
        if h.empty:
            ax.text(0.5, 0.5, "no reports", ha="center", va="center", transform=ax.transAxes)
            continue
        x = pd.to_datetime(h.date)
        last = max(x.max(), pd.Timestamp(YEAR_END))
        xs = list(x) + [last]
        ys = list(h.achieved) + [h.achieved.iloc[-1]]
        ax.step(xs, ys, where="post", color="#1b7837", lw=2, label="achieved (reported)")
        ref = h.reference.iloc[-1]
        if pd.notna(ref):
            what = "district quota" if str(h.adcode.iloc[0]) else "target"
            ax.axhline(ref, color="#762a83", lw=1.2, ls="--", label=f"{what} {ref:,.10g}")
            if pace is None:
                ax.plot([pd.Timestamp(EARLIEST), pd.Timestamp(YEAR_END)], [0, ref], color="#999999", lw=1, ls=":",
                        label="linear path to year end 线性进度")
            else:
                days = [pace.start + dt.timedelta(days=i) for i in range((pace.deadline - pace.start).days + 1)]
                xs_p = pd.to_datetime(days)
                exp = [pace.share(d) * ref for d in days]
                ax.plot(xs_p, exp, color="#555555", lw=1, ls=":", label=f"pace 进度要求 ({pace.label})")
                if pace.yellow_points is not None and pace.red_points is not None:
                    yel = [max(e - ref * pace.yellow_points / 100, 0) for e in exp]
                    red = [max(e - ref * pace.red_points / 100, 0) for e in exp]
                    ax.fill_between(xs_p, red, yel, color="#fdae61", alpha=0.35, lw=0,
                                    label=f"yellow 黄: > {pace.yellow_points:g} points behind")
                    ax.fill_between(xs_p, 0, red, color="#d7191c", alpha=0.18, lw=0,
                                    label=f"red 红: > {pace.red_points:g} points behind")
        ax.set_title(f"{m} ({h.unit.iloc[0]})", fontsize=10, loc="left")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="legend 图例", title_fontsize=7)
    fig.suptitle(title if font or not title_en else title_en, fontsize=11)
    fig.tight_layout()
    return fig
