"""Coverage results kept in the one map, per build: how a :class:`~cityplan.coverage.CoverageResult`
is written and read back (the public use cases are in :mod:`cityplan.services.coverage`).

Two places in the map, both keyed by the build id (``OneMap.build_stamp``):

* the declared ledgers :data:`~cityplan.store.tables.COVERAGE_RUNS` (one row per run and outcome,
  with its parameters, warnings and notes) and :data:`~cityplan.store.tables.COVERAGE_DISTRICTS`
  (the per-district figures of every scenario: what dashboards, reports and the monitor compare);
  append-only, kept across rebuilds, so an older build's figures stay readable;
* the map's cache (:meth:`cityplan.store.base.Store.write_cache`, plain arrays, older builds'
  entries replaced) under ``coverage:RUN``: the per-compound rows with their geometry and 街道,
  the gaps, isochrones, facilities (and a transit run's network effect), geometry as WKB.

A run is stored when its ``done`` row is in the ledger; the ledger rows of one run are appended in
one transaction after the cache entry has been written and read back, so a reader never sees
figures without their detail. Nothing is pickled: text, numbers and WKB only.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan.store.tables import COVERAGE_DISTRICTS, COVERAGE_RUNS, utc_now

logger = logging.getLogger(__name__)

#: the text of a compound's 街道 when the map has no sub-district layer or the compound lies in none
NOT_KNOWN = "未知 not known"
#: the parts of a result kept in the cache
PARTS = ("features", "gaps", "isochrones", "facilities", "network_effect")
_FIGURES = [c for c in COVERAGE_DISTRICTS.names if c not in ("build_id", "run", "preset", "row")]


def cache_key(run: str) -> str:
    """The cache key of a run's detail."""
    return f"coverage:{run}"


# ---------------------------------------------------------------------------------- frames <-> arrays
def frame_arrays(df: pd.DataFrame, prefix: str) -> dict[str, np.ndarray]:
    """``df`` as plain arrays (numbers, UTF-8 text with a code per row, WKB bytes) under ``prefix/``; inverse:
    :func:`arrays_frame`. Missing values are kept (a mask per text column)."""
    out: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"columns": [str(c) for c in df.columns], "kinds": [], "dtypes": [], "n": len(df)}
    geo = df.geometry.name if isinstance(df, gpd.GeoDataFrame) and df._geometry_column_name in df.columns else None
    if geo is not None:
        meta["geometry"] = geo
        meta["crs"] = df.crs.to_wkt() if df.crs is not None else None
    for i, c in enumerate(df.columns):
        s, key = df[c], f"{prefix}/{i}"
        meta["dtypes"].append(str(s.dtype))
        if c == geo or isinstance(s.dtype, gpd.array.GeometryDtype):
            kind = "geometry"
            wkb = shapely.to_wkb(np.asarray(s.array, dtype=object))
            lens = np.array([-1 if b is None else len(b) for b in wkb], np.int64)
            out[key + ".len"] = lens
            out[key + ".wkb"] = np.frombuffer(b"".join(b for b in wkb if b is not None), np.uint8)
        elif pd.api.types.is_bool_dtype(s.dtype) and not s.isna().any():
            kind, out[key] = "bool", s.to_numpy(bool)
        elif pd.api.types.is_integer_dtype(s.dtype) and not s.isna().any():
            kind, out[key] = "int", s.to_numpy(np.int64)
        elif pd.api.types.is_float_dtype(s.dtype):
            kind, out[key] = "float", s.to_numpy(float)
        else:
            kind = _object_kind(s)
            na = s.isna().to_numpy(bool)
            out[key + ".na"] = na
            if kind == "obool":
                out[key] = np.where(na, False, s.to_numpy(object)).astype(bool)
            elif kind == "ofloat":
                out[key] = pd.to_numeric(s, errors="coerce").to_numpy(float)
            else:  # each distinct text once (UTF-8) and a code per row: compact, no fixed width
                vals = ["" if m else str(v) for v, m in zip(s.to_numpy(object), na, strict=True)]
                uniq, codes = np.unique(np.array(vals, dtype=object), return_inverse=True) if vals else ([], [])
                data = [str(u).encode("utf-8") for u in uniq]
                out[key + ".len"] = np.array([len(b) for b in data], np.int64)
                out[key + ".utf8"] = np.frombuffer(b"".join(data), np.uint8)
                out[key] = np.asarray(codes, np.int32)
        meta["kinds"].append(kind)
    if pd.api.types.is_integer_dtype(df.index.dtype):  # e.g. the gaps keep their compound's row number
        out[f"{prefix}/.index"] = df.index.to_numpy(np.int64)
    out[f"{prefix}/.meta"] = np.array([json.dumps(meta, ensure_ascii=False)])
    return out


def _object_kind(s: pd.Series) -> str:
    vals = [v for v in s.to_numpy(object) if not (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA)]
    if vals and all(isinstance(v, (bool, np.bool_)) for v in vals):
        return "obool"
    if vals and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                    for v in vals):
        return "ofloat"
    return "text"


def arrays_frame(arrays: dict[str, np.ndarray], prefix: str) -> pd.DataFrame | None:
    """The frame :func:`frame_arrays` stored under ``prefix/`` (None when absent)."""
    raw = arrays.get(f"{prefix}/.meta")
    if raw is None:
        return None
    meta = json.loads(str(raw[0]))
    cols: dict[str, Any] = {}
    geom = None
    for i, (c, kind, dtype) in enumerate(zip(meta["columns"], meta["kinds"], meta["dtypes"], strict=True)):
        key = f"{prefix}/{i}"
        if kind == "geometry":
            lens, data = arrays[key + ".len"], arrays[key + ".wkb"].tobytes()
            ends = np.cumsum(np.where(lens < 0, 0, lens))
            starts = ends - np.where(lens < 0, 0, lens)
            wkb = [None if n < 0 else data[a:b] for n, a, b in zip(lens, starts, ends, strict=True)]
            values = shapely.from_wkb(np.array(wkb, dtype=object))
            if c == meta.get("geometry"):
                geom = values
                cols[c] = values
                continue
            cols[c] = gpd.GeoSeries(values, crs=meta.get("crs"))
        elif kind in ("bool", "int", "float"):
            cols[c] = pd.Series(arrays[key], dtype=dtype if kind != "float" else float)
        else:
            na = arrays[key + ".na"]
            if key + ".utf8" in arrays:
                data, lens = arrays[key + ".utf8"].tobytes(), arrays[key + ".len"]
                ends = np.cumsum(lens)
                uniq = np.array([data[a:b].decode("utf-8") for a, b in zip(ends - lens, ends, strict=True)] or [""],
                                dtype=object)
                v = uniq[arrays[key]] if len(arrays[key]) else np.array([], dtype=object)
            else:
                v = arrays[key].astype(object)
            v = np.array(v, dtype=object)
            v[na] = None
            s = pd.Series(v, dtype=object)
            if kind == "ofloat":
                s = s.where(~na, np.nan) if dtype != "object" else s
            if dtype in ("str", "string"):
                s = s.astype(dtype)
            cols[c] = s
    index = arrays.get(f"{prefix}/.index")
    df = pd.DataFrame({c: cols[c] for c in meta["columns"]}, index=pd.RangeIndex(meta["n"]))
    if index is not None and not (index == np.arange(meta["n"])).all():
        df.index = pd.Index(index)
    if "geometry" in meta:
        df = gpd.GeoDataFrame(df, geometry=meta["geometry"], crs=meta.get("crs"))
        df[meta["geometry"]] = gpd.GeoSeries(geom, crs=meta.get("crs"), index=df.index)
        df = df[meta["columns"]]
    return df


# ---------------------------------------------------------------------------------- 街道 of compounds
def subdistrict_names(om: Any, features: gpd.GeoDataFrame) -> np.ndarray:
    """The 街道 (the layer of role ``subdistricts``) each compound's representative point lies in;
    :data:`NOT_KNOWN` when the map has no such layer or the point lies in none."""
    out = np.full(len(features), NOT_KNOWN, dtype=object)
    lid = om.layer_id_for("subdistricts", required=False)
    if lid is None or not len(features):
        return out
    subs = om.layer(lid)
    if "name" not in subs.columns or subs.empty:
        return out
    crs = om.working_crs
    subs = subs.to_crs(crs)
    geoms = features.geometry.to_crs(crs).to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    pts = shapely.point_on_surface(geoms[ok])
    tree = shapely.STRtree(subs.geometry.to_numpy())
    pi, si = tree.query(pts, predicate="within")
    first = pd.Series(si).groupby(pi).min()
    names = subs["name"].to_numpy(object)
    idx = np.flatnonzero(ok)[first.index.to_numpy(int)]
    named = [n if isinstance(n, str) and n.strip() else NOT_KNOWN for n in names[first.to_numpy(int)]]
    out[idx] = named
    return out


# ---------------------------------------------------------------------------------- write
def result_arrays(om: Any, res: Any) -> dict[str, np.ndarray]:
    """The cache entry of a result: its frames and the 街道 of each compound."""
    arrays: dict[str, np.ndarray] = {}
    for part in PARTS:
        df = getattr(res, part, None)
        if df is not None:
            arrays.update(frame_arrays(df, part))
    sub = subdistrict_names(om, res.features)
    arrays.update(frame_arrays(pd.DataFrame({"subdistrict": sub}), "subdistrict"))
    return arrays


def store_run(om: Any, run: str, preset: str, variant: str, res: Any = None, *, status: str = "done",
              reason: str = "", seconds: float = 0.0, by: str = "") -> bool:
    """Store one run of the current build: the detail in the cache (read back to be sure), then its
    ledger rows in one transaction. Returns False (and logs) when the map could not be written."""
    build = om.build_stamp
    runs_row: dict[str, Any] = {"build_id": build, "run": run, "preset": preset, "variant": variant, "status": status,
                                "reason": reason, "computed_at": utc_now(), "computed_by": by,
                                "seconds": round(seconds, 3)}
    batches: dict[str, pd.DataFrame] = {}
    try:
        if res is not None:
            om.cache_arrays(cache_key(run), result_arrays(om, res))
            if om.cached_arrays(cache_key(run)) is None:
                logger.warning("coverage %s: the map's cache could not be written; results not stored", run)
                return False
            by_s = res.by_scenario if res.by_scenario is not None else res.districts
            rows = by_s.reset_index(drop=True).copy()
            if "network" not in rows.columns:
                rows["network"] = "full"
            rows["meets_target"] = rows["meets_target"].map(
                lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else int(bool(v))) \
                if "meets_target" in rows.columns else None
            rows = rows.reindex(columns=_FIGURES).assign(build_id=build, run=run, preset=preset,
                                                         row=np.arange(len(rows)))
            batches[COVERAGE_DISTRICTS.name] = rows
            runs_row.update(params_json=json.dumps(res.params, ensure_ascii=False, default=str),
                            warnings_json=json.dumps(list(res.warnings), ensure_ascii=False),
                            notes_json=json.dumps(list(res.notes), ensure_ascii=False),
                            columns_json=json.dumps([str(c) for c in by_s.columns], ensure_ascii=False))
        batches[COVERAGE_RUNS.name] = pd.DataFrame([runs_row])
        om.store.append_many(batches)
    except Exception as exc:  # noqa: BLE001 - a read-only map computes, it only cannot keep the results
        logger.warning("coverage %s: results not stored in %s: %s", run, om.label, exc)
        return False
    return True


# ---------------------------------------------------------------------------------- read
def runs_table(om: Any, build: str | None = None) -> pd.DataFrame:
    """The stored run rows of ``build`` (default: the current one); empty when none."""
    t = om.store.table_or_empty(COVERAGE_RUNS.name, where={"build_id": build or om.build_stamp})
    return t.reindex(columns=COVERAGE_RUNS.names)


def district_rows(om: Any, run: str, build: str | None = None) -> pd.DataFrame:
    """The stored per-district rows of one run (in the order they were computed)."""
    t = om.store.table_or_empty(COVERAGE_DISTRICTS.name, where={"build_id": build or om.build_stamp, "run": run})
    t = t.reindex(columns=COVERAGE_DISTRICTS.names)
    return t.sort_values("row", kind="stable").reset_index(drop=True)


def figures_frame(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Stored per-district rows as the run's ``by_scenario`` table (its columns, in order)."""
    out = rows.drop(columns=["build_id", "run", "preset", "row"]).copy()
    if "meets_target" in out.columns:
        out["meets_target"] = out["meets_target"].map(lambda v: None if pd.isna(v) else bool(v)).astype(object)
    for c in ("district", "adcode", "scenario"):
        out[c] = out[c].astype(object).where(out[c].notna(), "")
    return out.reindex(columns=columns).reset_index(drop=True)


@dataclass
class StoredRun:
    """One stored run read back: the result and each compound's 街道 (same order as its features)."""

    run: str
    build: str
    result: Any
    subdistrict: np.ndarray
    computed_at: str


_MEMO: OrderedDict[tuple[str, str, str], StoredRun] = OrderedDict()
_MEMO_LOCK = threading.Lock()


def read_run(om: Any, run: str, row: pd.Series) -> StoredRun | None:
    """The stored result of ``run`` for the current build (``row``: its ``done`` ledger row); None
    when its detail is not in the cache (then it is computed again). Kept in memory once read: a
    build's stored rows never change."""
    from cityplan.coverage.run import FULL, CoverageResult

    build = om.build_stamp
    memo = (om.label, build, run)
    with _MEMO_LOCK:
        if memo in _MEMO:
            _MEMO.move_to_end(memo)
            return _MEMO[memo]
    arrays = om.cached_arrays(cache_key(run))
    if arrays is None:
        return None
    parts = {p: arrays_frame(arrays, p) for p in PARTS}
    columns = json.loads(row["columns_json"])
    params = json.loads(row["params_json"])
    by_s = figures_frame(district_rows(om, run), columns)
    primary = params.get("primary_scenario", "existing")
    head = by_s[by_s["scenario"] == primary]
    if "network" in head.columns:
        head = head[head["network"] == FULL]
    res = CoverageResult(features=parts["features"], districts=head.reset_index(drop=True), isochrones=parts["isochrones"],
                         gaps=parts["gaps"], facilities=parts["facilities"], params=params,
                         warnings=json.loads(row["warnings_json"] or "[]"), scenario=primary, scenarios={},
                         by_scenario=by_s, network_effect=parts["network_effect"],
                         notes=json.loads(row["notes_json"] or "[]"))
    sub = arrays_frame(arrays, "subdistrict")
    out = StoredRun(run=run, build=build, result=res,
                    subdistrict=sub["subdistrict"].to_numpy(object) if sub is not None else
                    np.full(len(res.features), NOT_KNOWN, dtype=object),
                    computed_at=str(row["computed_at"]))
    with _MEMO_LOCK:
        _MEMO[memo] = out
        while len(_MEMO) > 48:
            _MEMO.popitem(last=False)
    return out
