"""What one check-up task computes (on a Dask worker or in the serial loop): plain records only.

A task returns a dict of plain values (str, float, bool, None, bytes), never library objects.
A user error of the city (a missing or damaged one map, a missing layer: any
:class:`~cityplan._errors.CityplanError`) is returned as ``{"error": "<one line>"}`` - it would
fail the same way again, so it is not retried; any other exception propagates and the scheduler
retries the task.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import numpy as np
import pandas as pd
import shapely

from cityplan._errors import CityplanError

logger = logging.getLogger(__name__)

#: the check-up table's leading columns, in this order
COLUMNS = ("city", "district", "preset", "scenario", "population_share", "area_share", "target", "met")
#: per-district columns of the coverage table kept after them
EXTRAS = ("adcode", "population", "population_covered", "residential_area_m2", "residential_area_covered_m2",
          "features", "features_covered", "not_snapped_or_unreachable", "extract_share", "target_metric",
          "network")
#: every row's ``status``: the preset ran, or the city's map cannot run it (``reason`` says why)
OK, SKIPPED = "ok", "skipped"
ALL = "(all)"


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def checkup_rows(city: str, preset: str, districts: pd.DataFrame) -> pd.DataFrame:
    """The check-up rows of one coverage per-district table (``by_scenario`` or ``districts``).

    ``scenario`` is the table's own column when coverage has scenarios, else ``"all"``;
    ``target`` the preset's minimum share (NaN when the preset has no target), ``met`` whether
    the district meets it (missing when there is no target, and for ``difference`` rows).
    """
    d = districts.reset_index(drop=True)
    n = len(d)
    out = pd.DataFrame({
        "city": [city] * n, "district": d["district"].astype(str).to_numpy(), "preset": [preset] * n,
        "scenario": d["scenario"].astype(str).to_numpy() if "scenario" in d.columns else ["all"] * n,
        "population_share": pd.to_numeric(d["population_share"], errors="coerce").to_numpy(float),
        "area_share": pd.to_numeric(d["area_share"], errors="coerce").to_numpy(float),
        "target": (pd.to_numeric(d["target_min"], errors="coerce").to_numpy(float) if "target_min" in d.columns
                   else np.full(n, np.nan)),
    })
    met = d["meets_target"] if "meets_target" in d.columns else pd.Series([None] * n)
    out["met"] = pd.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v)
                           for v in met], dtype="boolean")
    for c in EXTRAS:
        if c in d.columns:
            out[c] = d[c].to_numpy()
    out["status"] = OK
    out["reason"] = ""
    return out


def skipped_rows(city: str, preset: str, reason: str, target: dict[str, Any] | None = None) -> pd.DataFrame:
    """The one check-up row of a preset the city's map cannot run: district ``(all)``, no scenario,
    no shares, ``status`` ``skipped`` and ``reason`` ``skipped: not available here: needs ROLE``."""
    return pd.DataFrame({
        "city": [city], "district": [ALL], "preset": [preset], "scenario": [""],
        "population_share": [np.nan], "area_share": [np.nan],
        "target": [float(target["min"]) if target else np.nan],
        "met": pd.array([None], dtype="boolean"), "status": [SKIPPED], "reason": [f"{SKIPPED}: {reason}"],
    })


def run_city_preset(city: str, location: str, preset: str) -> dict[str, Any]:
    """Coverage ``preset`` for one city: ``{"rows": {column: list}, "seconds", "pid"}`` or ``{"error"}``.

    A preset the city's map cannot run (:func:`cityplan.coverage.preset_availability`) is no
    error: its one row says ``skipped`` and why (:func:`skipped_rows`), and ``"skipped"`` holds the reason.
    """
    from cityplan.coverage import get_preset, preset_availability, run_coverage
    from cityplan.onemap import OneMap

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        om = OneMap.coerce(location)
        p = get_preset(preset, om.profile)
        available, reason = preset_availability(p, om)
        if not available:
            logger.info("checkup: %s %s skipped: %s", city, preset, reason)
            return {"rows": _plain(skipped_rows(city, preset, reason, p.target)), "skipped": reason,
                    "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                    "pid": os.getpid(), "warnings": []}
        res = run_coverage(om, preset=preset)
    except CityplanError as exc:
        return {"error": _one_line(exc), "seconds": time.perf_counter() - t0, "pid": os.getpid()}
    table = res.by_scenario if getattr(res, "by_scenario", None) is not None else res.districts
    rows = checkup_rows(city, preset, table)
    return {"rows": _plain(rows), "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "pid": os.getpid(), "warnings": [str(w) for w in res.warnings]}


def city_outline(city: str, location: str) -> dict[str, Any]:
    """The city's district geometries (WKB, lon/lat), names and adcodes, or ``{"error"}``."""
    from cityplan.onemap import OneMap

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        om = OneMap.coerce(location)
        d = om.layer_for("districts").to_crs(4326)
        name_col = "name" if "name" in d.columns else "adcode"
        info = om.build_info
    except CityplanError as exc:
        return {"error": _one_line(exc), "seconds": time.perf_counter() - t0, "pid": os.getpid()}
    return {"district": d[name_col].astype(str).tolist(), "adcode": d["adcode"].astype(str).tolist()
            if "adcode" in d.columns else [""] * len(d),
            "wkb": list(shapely.to_wkb(d.geometry.to_numpy())), "synthetic": info.get("synthetic", ""),
            "build_id": om.build_stamp, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0, "pid": os.getpid()}


def _plain(df: pd.DataFrame) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s) and str(s.dtype) == "boolean":
            out[c] = [None if v is pd.NA else bool(v) for v in s]
        elif pd.api.types.is_float_dtype(s):
            out[c] = [float(v) for v in s]
        elif pd.api.types.is_integer_dtype(s):
            out[c] = [int(v) for v in s]
        else:
            out[c] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else
                      (v if isinstance(v, str | bool | int | float) else str(v)) for v in s]
    return out


def rows_frame(records: list[dict[str, list[Any]]]) -> pd.DataFrame:
    """The check-up table from task records, with the exact leading columns and typed ``met``."""
    frames = [pd.DataFrame(r) for r in records if r]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    df = pd.concat(frames, ignore_index=True)
    df["met"] = pd.array(df["met"].tolist(), dtype="boolean")
    for c in ("population_share", "area_share", "target"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    last = [c for c in ("status", "reason") if c in df.columns]
    if "reason" in df.columns:
        df["reason"] = df["reason"].fillna("")
    return df[list(COLUMNS) + [c for c in df.columns if c not in COLUMNS and c not in last] + last]
