"""What changed between two builds of the one map (``cityplan diff``, the web's "what changed").

Per layer, features are matched by a stable key - the catalog's ``ref_column``, else the first of
``site_id``, ``osm_ref``, ``adcode``, ``station_id``, ``id`` that is present and unique in both
builds; a layer with no such key is matched by exact geometry and attributes (added / removed
only). A matched feature is *moved* when its centroid moved more than ``tolerance_m`` (distance in
the working CRS), *reshaped* when its outline moved more than that but its centroid did not
(Hausdorff distance), *changed* when attributes differ (``source_row`` and the like, which a
rebuild renumbers, are not compared). Plan sites are counted per task; targets of the register
compared; coverage figures of presets with a standard recomputed for both builds when an input
of the preset (a layer of its roles, the districts, the census, the profile's preset file) changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from cityplan.onemap import OneMap

logger = logging.getLogger(__name__)

KEY_CANDIDATES = ("site_id", "osm_ref", "adcode", "station_id", "id")
#: columns a rebuild renumbers or that carry no content
IGNORED_COLUMNS = frozenset({"source_row", "fid", "geometry"})
FEATURE_COLUMNS = ["layer", "change", "key", "name", "distance_m", "columns", "old", "new"]
LAYER_COLUMNS = ["layer", "key", "old_features", "new_features", "added", "removed", "moved", "reshaped",
                 "changed", "note"]
DEFAULT_TOLERANCE_M = 1.0
#: at most this many changed-feature rows per layer and kind (the counts are always complete)
MAX_ROWS = 500


@dataclass
class BuildDiff:
    """The differences between two builds (``old`` -> ``new``)."""

    old: dict[str, str]
    new: dict[str, str]
    layers: pd.DataFrame
    features: pd.DataFrame
    targets: pd.DataFrame
    plan_sites: pd.DataFrame
    coverage: pd.DataFrame
    profile_files: pd.DataFrame
    tolerance_m: float = DEFAULT_TOLERANCE_M
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when anything differs."""
        return bool(len(self.features) or len(self.targets) or len(self.plan_sites) or len(self.profile_files)
                    or (len(self.coverage) and (self.coverage["change_points"].abs() > 1e-9).any()))


def _key(old: pd.DataFrame, new: pd.DataFrame, preferred: str | None) -> str | None:
    for c in ([preferred] if preferred else []) + list(KEY_CANDIDATES):
        if c in old.columns and c in new.columns:
            a, b = old[c], new[c]
            if a.notna().all() and b.notna().all() and a.is_unique and b.is_unique:
                return c
    return None


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality with NaN == NaN and numbers to 1e-9 (relative)."""
    an, bn = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    numeric = an.notna().to_numpy() & bn.notna().to_numpy()
    close = np.isclose(an.to_numpy(float, na_value=np.nan), bn.to_numpy(float, na_value=np.nan), rtol=1e-9, atol=0)
    both_na = a.isna().to_numpy() & b.isna().to_numpy()
    text = a.astype(str).to_numpy() == b.astype(str).to_numpy()
    return np.where(numeric, close, both_na | text)


def _name(row: pd.Series) -> str:
    for c in ("name", "name_en", "title"):
        v = row.get(c)
        if isinstance(v, str) and v:
            return v
    return ""


def _describe(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    return pd.Series([", ".join(f"{c}={r[c]}" for c in cols if c in r and pd.notna(r[c]))[:200]
                      for _, r in df.iterrows()], index=df.index, dtype=object)


def diff_layer(layer: str, old: pd.DataFrame, new: pd.DataFrame, *, crs: Any, key: str | None = None,
               tolerance_m: float = DEFAULT_TOLERANCE_M) -> tuple[dict[str, Any], pd.DataFrame]:
    """The changes of one layer: a summary row (``LAYER_COLUMNS``) and one row per changed feature."""
    k = _key(old, new, key)
    geo = "geometry" in old.columns and "geometry" in new.columns
    cols = [c for c in old.columns if c in new.columns and c not in IGNORED_COLUMNS and c != k]
    rows: list[dict[str, Any]] = []
    summary = {"layer": layer, "key": k or "(geometry and attributes)", "old_features": len(old),
               "new_features": len(new), "added": 0, "removed": 0, "moved": 0, "reshaped": 0, "changed": 0,
               "note": ""}
    if k is None:
        def sig(df: pd.DataFrame) -> pd.Series:
            wkb = (df.geometry.to_wkb(hex=True) if geo else pd.Series("", index=df.index)).astype(str)
            return wkb + "|" + df[cols].astype(str).agg("|".join, axis=1) if cols else wkb
        so, sn = sig(old), sig(new)
        gone, came = old[~so.isin(set(sn))], new[~sn.isin(set(so))]
        summary |= {"removed": len(gone), "added": len(came),
                    "note": "no stable key: matched by exact geometry and attributes"}
        for change, part in (("removed", gone), ("added", came)):
            for _, r in part.head(MAX_ROWS).iterrows():
                rows.append({"layer": layer, "change": change, "key": "", "name": _name(r), "distance_m": np.nan,
                             "columns": "", "old": "", "new": ""})
        return summary, pd.DataFrame(rows, columns=FEATURE_COLUMNS)
    o = old.set_index(old[k].astype(str))
    n = new.set_index(new[k].astype(str))
    gone = o.index.difference(n.index, sort=False)
    came = n.index.difference(o.index, sort=False)
    both = o.index.intersection(n.index, sort=False)
    summary |= {"removed": len(gone), "added": len(came)}
    for change, part in (("removed", o.loc[gone]), ("added", n.loc[came])):
        for idx, r in part.head(MAX_ROWS).iterrows():
            rows.append({"layer": layer, "change": change, "key": idx, "name": _name(r), "distance_m": np.nan,
                         "columns": "", "old": "", "new": ""})
    if len(both):
        ob, nb = o.loc[both], n.loc[both]
        diffcols = np.zeros((len(both), len(cols)), dtype=bool)
        for j, c in enumerate(cols):
            diffcols[:, j] = ~_same(ob[c], nb[c])
        moved = np.zeros(len(both), dtype=bool)
        reshaped = np.zeros(len(both), dtype=bool)
        dist = np.full(len(both), np.nan)
        if geo:
            go = ob.geometry.set_crs(old.crs, allow_override=True).to_crs(crs).to_numpy()
            gn = nb.geometry.set_crs(new.crs, allow_override=True).to_crs(crs).to_numpy()
            valid = ~(shapely.is_missing(go) | shapely.is_missing(gn))
            same_geom = np.zeros(len(both), dtype=bool)
            same_geom[valid] = shapely.equals_exact(go[valid], gn[valid], tolerance=tolerance_m)
            cand = valid & ~same_geom
            if cand.any():
                dist[cand] = shapely.distance(shapely.centroid(go[cand]), shapely.centroid(gn[cand]))
                moved[cand] = dist[cand] > tolerance_m
                rest = cand & ~moved
                if rest.any():
                    h = shapely.hausdorff_distance(go[rest], gn[rest])
                    dist[rest] = h
                    reshaped[rest] = h > tolerance_m
        changed = diffcols.any(axis=1)
        summary |= {"moved": int(moved.sum()), "reshaped": int(reshaped.sum()),
                    "changed": int((changed & ~moved & ~reshaped).sum())}
        pick = np.flatnonzero(moved | reshaped | changed)[:MAX_ROWS * 3]
        for i in pick:
            which = [c for j, c in enumerate(cols) if diffcols[i, j]]
            kind = "moved" if moved[i] else "reshaped" if reshaped[i] else "changed"
            rows.append({"layer": layer, "change": kind, "key": both[i], "name": _name(nb.iloc[i]),
                         "distance_m": round(float(dist[i]), 1) if kind != "changed" else np.nan,
                         "columns": ", ".join(which),
                         "old": _describe(ob.iloc[[i]], which).iloc[0] if which else "",
                         "new": _describe(nb.iloc[[i]], which).iloc[0] if which else ""})
    return summary, pd.DataFrame(rows, columns=FEATURE_COLUMNS)


def _targets(a: OneMap, b: OneMap) -> pd.DataFrame:
    from cityplan.tasks.register import load_register

    ta = load_register(a.profile).targets_frame().set_index(["task_id", "metric"])
    tb = load_register(b.profile).targets_frame().set_index(["task_id", "metric"])
    j = ta[["target", "unit"]].add_suffix("_old").join(tb[["target", "unit"]].add_suffix("_new"), how="outer")
    j = j[~_same(j["target_old"], j["target_new"]) | ~_same(j["unit_old"], j["unit_new"])]
    return j.reset_index()


def _plan_sites(a: OneMap, b: OneMap) -> pd.DataFrame:
    def counts(om: OneMap) -> pd.Series:
        parts = [om.layer(lid)[["task_id"]].assign(layer=lid) for lid in om.plan_layer_ids
                 if "task_id" in om.layer(lid).columns]
        if not parts:
            return pd.Series(dtype=float)
        return pd.concat(parts).groupby(["task_id", "layer"]).size()
    j = pd.concat({"old_sites": counts(a), "new_sites": counts(b)}, axis=1).fillna(0).astype(int)
    j = j[j["old_sites"] != j["new_sites"]]
    return j.reset_index().rename(columns={"level_0": "task_id", "level_1": "layer"})


def _profile_files(a: OneMap, b: OneMap) -> pd.DataFrame:
    def files(om: OneMap) -> pd.Series:
        t = om.store.table_or_empty("cityplan_profile")
        return t.set_index("path")["sha256"] if len(t) else pd.Series(dtype=str)
    fa, fb = files(a), files(b)
    j = pd.concat({"old_sha256": fa, "new_sha256": fb}, axis=1)
    j = j[~_same(j["old_sha256"], j["new_sha256"])]
    j["change"] = np.where(j["old_sha256"].isna(), "added", np.where(j["new_sha256"].isna(), "removed", "changed"))
    return j.reset_index(names="path")[["path", "change", "old_sha256", "new_sha256"]]


def _affected_presets(a: OneMap, b: OneMap, changed_layers: set[str], profile_changed: set[str]) -> list[str]:
    """Presets with a standard whose inputs changed."""
    from cityplan.coverage import load_presets

    presets = load_presets(b.profile)
    roles: dict[str, set[str]] = {}
    for om in (a, b):
        for lid in changed_layers & set(om.layer_ids):
            roles.setdefault(lid, set()).update(json_list(om.catalog_row(lid).get("roles")))
            roles[lid].add(str(om.catalog_row(lid).get("role") or ""))
    changed_roles = set().union(*roles.values()) if roles else set()
    out = []
    for pid, p in presets.items():
        if not p.target:
            continue
        needs = {f.get("role") for f in p.facilities} | {p.demand.get("role"), "districts", "census"}
        layers = {f.get("layer") for f in p.facilities} | {p.demand.get("layer")}
        network = p.method != "euclid"
        if ("coverage_presets.yaml" in profile_changed or needs & changed_roles or layers & changed_layers
                or (network and any("road" in r or "walk" in r or "graph" in r or "transit" in r or "metro" in r
                                    for r in changed_roles))):
            out.append(pid)
    return out


def json_list(v: object) -> list[str]:
    """A catalog cell holding a JSON list (``roles``) as a list."""
    import json

    if isinstance(v, list):
        return [str(x) for x in v]
    if isinstance(v, str) and v.startswith("["):
        try:
            return [str(x) for x in json.loads(v)]
        except ValueError:
            return []
    return []


def _coverage(a: OneMap, b: OneMap, presets: list[str],
              figures: Callable[[OneMap, str], pd.DataFrame | str]) -> pd.DataFrame:
    from cityplan.coverage import load_presets

    rows = []
    defs = load_presets(b.profile)
    for pid in presets:
        fa, fb = figures(a, pid), figures(b, pid)
        metric = defs[pid].target.get("metric", "population_share")
        if isinstance(fa, str) or isinstance(fb, str):
            rows.append({"preset": pid, "district": "", "adcode": "", "metric": metric, "old": np.nan, "new": np.nan,
                         "change_points": np.nan, "note": fa if isinstance(fa, str) else fb})
            continue
        j = fa.set_index("district")[[metric]].add_suffix("_old").join(
            fb.set_index("district")[[metric]].add_suffix("_new"), how="outer")
        codes = dict(zip(fb["district"], fb["adcode"], strict=False)) | dict(
            zip(fa["district"], fa["adcode"], strict=False))
        for dname, r in j.iterrows():
            old, new = float(r[f"{metric}_old"]), float(r[f"{metric}_new"])
            rows.append({"preset": pid, "district": dname, "adcode": codes.get(dname, ""), "metric": metric,
                         "old": old, "new": new, "change_points": round((new - old) * 100, 2), "note": ""})
    return pd.DataFrame(rows, columns=["preset", "district", "adcode", "metric", "old", "new", "change_points",
                                       "note"])


def diff_builds(old: OneMap, new: OneMap, *, tolerance_m: float = DEFAULT_TOLERANCE_M,
                figures: Callable[[OneMap, str], pd.DataFrame | str] | None = None) -> BuildDiff:
    """Compare two builds (two :class:`OneMap` s, e.g. a kept build and the current one).

    ``figures`` gives a build's per-district coverage figures of a preset
    (:func:`cityplan.monitor.coverage_figures.district_figures`); None: coverage not compared.
    """
    from cityplan.catalog import load_catalog

    crs = new.working_crs
    try:
        refs = {s.id: s.ref_column for s in load_catalog(new.profile).layers}
    except Exception:  # noqa: BLE001 - an old profile that no longer parses: no declared keys
        refs = {}
    summaries, feats = [], []
    ids_old, ids_new = set(old.layer_ids), set(new.layer_ids)
    notes = []
    for lid in [*new.layer_ids, *[x for x in old.layer_ids if x not in ids_new]]:
        if lid not in ids_old or lid not in ids_new:
            which = "added" if lid in ids_new else "removed"
            n = len((new if lid in ids_new else old).layer(lid))
            summaries.append({"layer": lid, "key": "", "old_features": n if which == "removed" else 0,
                              "new_features": n if which == "added" else 0, "added": n if which == "added" else 0,
                              "removed": n if which == "removed" else 0, "moved": 0, "reshaped": 0,
                              "changed": 0, "note": f"layer {which}"})
            continue
        s, f = diff_layer(lid, old.layer(lid), new.layer(lid), crs=crs, key=refs.get(lid), tolerance_m=tolerance_m)
        summaries.append(s)
        if len(f):
            feats.append(f)
    layers = pd.DataFrame(summaries, columns=LAYER_COLUMNS)
    features = pd.concat(feats, ignore_index=True) if feats else pd.DataFrame(columns=FEATURE_COLUMNS)
    prof = _profile_files(old, new)
    changed_layers = set(layers.loc[layers[["added", "removed", "moved", "reshaped", "changed"]].sum(axis=1) > 0,
                                    "layer"])
    if figures is not None:
        presets = _affected_presets(old, new, changed_layers, set(prof["path"]))
        cov = _coverage(old, new, presets, figures)
        if not presets:
            notes.append("coverage: no input of a preset with a standard changed; not recomputed")
    else:
        cov = _coverage(old, new, [], lambda _o, _p: "")
        notes.append("coverage: not compared")
    return BuildDiff(old=dict(old.build_info), new=dict(new.build_info), layers=layers, features=features,
                     targets=_targets(old, new), plan_sites=_plan_sites(old, new), coverage=cov,
                     profile_files=prof, tolerance_m=tolerance_m, notes=notes)
