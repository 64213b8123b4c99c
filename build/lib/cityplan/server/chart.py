"""The burn-up chart as inline SVG data: achieved (steps) vs quota/target and the linear path.

The page draws it from numbers computed here (no image file, nothing to fetch); the same series
as ``cityplan progress history`` (:func:`cityplan.progress.history.task_history`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from cityplan.progress.events import EARLIEST, YEAR_END

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 560, 200, 64, 16, 16, 28


def _x(day: dt.date) -> float:
    span = (YEAR_END - EARLIEST).days
    frac = min(max((day - EARLIEST).days / span, 0.0), 1.0)
    return PAD_L + frac * (WIDTH - PAD_L - PAD_R)


def burnup_series(history: pd.DataFrame) -> list[dict[str, Any]]:
    """One chart per metric: SVG polyline points and the values they draw."""
    charts = []
    for metric in dict.fromkeys(history["metric"]):
        h = history[history["metric"] == metric].sort_values("date")
        ref = h["reference"].iloc[-1]
        ref = float(ref) if pd.notna(ref) else None
        top = max([v for v in [ref, float(h["achieved"].max())] if v is not None] + [1.0]) * 1.05

        def y(v: float, top: float = top) -> float:
            return PAD_T + (1 - v / top) * (HEIGHT - PAD_T - PAD_B)

        pts, prev = [], None
        for day, val in zip(h["date"], h["achieved"], strict=True):
            d = dt.date.fromisoformat(str(day))
            if prev is not None:
                pts.append((_x(d), y(prev)))
            pts.append((_x(d), y(float(val))))
            prev = float(val)
        if prev is not None:
            pts.append((_x(YEAR_END), y(prev)))
        charts.append({
            "metric": str(metric), "unit": str(h["unit"].iloc[0]), "reference": ref,
            "achieved": float(h["achieved"].iloc[-1]), "dates": [str(d) for d in h["date"]],
            "values": [float(v) for v in h["achieved"]],
            "points": " ".join(f"{a:.1f},{b:.1f}" for a, b in pts),
            "ref_y": y(ref) if ref is not None else None,
            "path": f"{_x(EARLIEST):.1f},{y(0):.1f} {_x(YEAR_END):.1f},{y(ref):.1f}" if ref is not None else "",
            "width": WIDTH, "height": HEIGHT, "x0": PAD_L, "x1": WIDTH - PAD_R, "y0": y(0), "top": top,
            "year_start": EARLIEST.isoformat(), "year_end": YEAR_END.isoformat()})
    return charts
