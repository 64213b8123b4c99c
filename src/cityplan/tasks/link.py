"""Link plan sites to their tasks and to districts, checking ids and units."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import SchemaError, UnknownTaskIdError
from cityplan.crs import to_working
from cityplan.onemap import OneMap
from cityplan.schema.units import check_unit, conversion_factor
from cityplan.tasks.register import Register

logger = logging.getLogger(__name__)

OUTSIDE = "(outside districts)"


@dataclass
class PlanLayer:
    """A plan-role layer and the quantities it measures: [{metric, column, unit}]."""

    id: str
    gdf: gpd.GeoDataFrame
    quantities: list[dict[str, Any]]
    illustrative: bool = False


@dataclass
class LinkResult:
    """Plan features joined to tasks and districts."""

    features: pd.DataFrame  # layer, site_id, task_id, adcode, district, illustrative
    quantities: pd.DataFrame  # + metric, unit, value (in the target's unit where there is one)
    problems: list[dict[str, str]] = field(default_factory=list)


def assign_districts(gdf: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> pd.DataFrame:
    """The one district each feature lies in most (area, length, or containment).

    Returns a frame aligned to ``gdf.index`` with ``adcode`` and ``district``;
    features touching no district get ``OUTSIDE`` so none is lost.
    """
    work = to_working(gdf[["geometry"]])
    dist = to_working(districts[["adcode", "name", "geometry"]])
    pairs = gpd.sjoin(work, dist, how="inner", predicate="intersects")
    if len(pairs):
        # only features touching several districts need the overlap measured
        multi = pairs.index.duplicated(keep=False)
        measure = np.ones(len(pairs))
        if multi.any():
            sub = pairs[multi]
            other = np.asarray(dist.geometry.loc[sub["index_right"]].values, dtype=object)
            inter = shapely.intersection(np.asarray(sub.geometry.values, dtype=object), other)
            gt = sub.geometry.geom_type.str.replace("Multi", "").to_numpy()
            measure[multi] = np.where(gt == "Polygon", shapely.area(inter),
                                      np.where(gt == "LineString", shapely.length(inter), 1.0))
        pairs = pairs.assign(_m=measure).sort_values("_m", ascending=False, kind="stable")
        first = pairs[~pairs.index.duplicated(keep="first")]
        best = pd.DataFrame({"adcode": first["adcode"].astype(str), "district": first["name"].astype(str)})
    else:
        best = pd.DataFrame(columns=["adcode", "district"], dtype=str)
    out = best.reindex(gdf.index)
    out["adcode"] = out["adcode"].fillna("")
    out["district"] = out["district"].fillna(OUTSIDE)
    return out


def link_plan_sites(
    register: Register, layers: list[PlanLayer], districts: gpd.GeoDataFrame,
) -> LinkResult:
    """Join every plan feature to its task and district.

    Raises
    ------
    SchemaError
        A plan layer has no ``task_id`` column, or lacks a declared quantity column.
    UnknownTaskIdError
        A feature names a task id that is not in the register (layer, rows, ids named).
    UnitError
        A quantity's unit is unknown or cannot be compared with its target's unit.
    """
    targets = {(t.task_id, t.metric): t for i in register.items for t in i.targets}
    feats, qty = [], []
    problems: list[dict[str, str]] = []
    for pl in layers:
        gdf = pl.gdf
        if "task_id" not in gdf.columns:
            msg = (f"plan layer {pl.id!r} has no 'task_id' column (columns: "
                   f"{[c for c in gdf.columns if c != 'geometry']}); every plan feature must name "
                   "the task it serves, e.g. task_id = '2.3.3'")
            raise SchemaError(msg)
        ids = gdf["task_id"].astype("string")
        unknown = ~ids.isin(register.ids)
        if unknown.any():
            rows = list(gdf.index[unknown.to_numpy()])
            msg = (f"plan layer {pl.id!r}: {int(unknown.sum())} feature(s) name unknown task id(s) "
                   f"{sorted(set(ids[unknown].fillna('<missing>')))} (rows {rows[:10]}); use an id of "
                   f"the register {register.path.name}, e.g. {sorted(register.ids)[:3]}")
            raise UnknownTaskIdError(msg)
        if gdf.empty:
            problems.append({"kind": "empty layer", "layer": pl.id, "task_id": "",
                             "message": f"plan layer {pl.id!r} has no features"})
            continue
        where = assign_districts(gdf, districts)
        site = gdf["site_id"] if "site_id" in gdf.columns else pd.Series(
            [f"{pl.id}-{i}" for i in range(len(gdf))], index=gdf.index)
        ill = gdf["illustrative"].astype(bool) if "illustrative" in gdf.columns else pl.illustrative
        base = pd.DataFrame({"layer": pl.id, "site_id": site, "task_id": ids.astype(str),
                             "adcode": where.adcode, "district": where.district, "illustrative": ill,
                             "status": gdf["status"] if "status" in gdf.columns else "planned"},
                            index=gdf.index)
        feats.append(base)
        for q in pl.quantities:
            col, metric = q["column"], q["metric"]
            if col not in gdf.columns:
                msg = f"plan layer {pl.id!r}: quantity column {col!r} (metric {metric!r}) is missing"
                raise SchemaError(msg)
            unit = check_unit(q["unit"], where=f"plan layer {pl.id!r} quantity {metric!r}")
            vals = pd.to_numeric(gdf[col], errors="coerce").fillna(0.0).to_numpy(float)
            for tid in sorted(set(base.task_id)):
                t = targets.get((tid, metric))
                sel = (base.task_id == tid).to_numpy()
                f = 1.0
                out_unit = unit
                if t is not None:
                    f = conversion_factor(unit, t.unit, where=f"plan layer {pl.id!r} quantity {metric!r} "
                                          f"vs target {tid} {metric}")
                    out_unit = t.unit
                qty.append(base[sel].assign(metric=metric, unit=out_unit, value=vals[sel] * f))
    features = pd.concat(feats, ignore_index=True) if feats else pd.DataFrame(
        columns=["layer", "site_id", "task_id", "adcode", "district", "illustrative", "status"])
    quantities = pd.concat(qty, ignore_index=True) if qty else features.assign(metric="", unit="", value=0.0)
    linked = set(features.task_id)
    for it in register.items:
        if it.mapped and it.id not in linked:
            problems.append({"kind": "no linked features", "layer": "", "task_id": it.id,
                             "message": f"task {it.id} ({it.title_en}) is marked mapped but no plan "
                                        "feature serves it"})
    for p in problems:
        logger.warning(p["message"])
    return LinkResult(features=features, quantities=quantities, problems=problems)


def load_plan_layers(onemap: OneMap | str | os.PathLike[str] | None = None) -> list[PlanLayer]:
    """Every plan-role layer of the one map with the quantities its catalog entry declares."""
    om = OneMap.coerce(onemap)
    cat = om.catalog
    plan = cat[cat.role == "plan"]
    return [PlanLayer(id=r.layer, gdf=om.layer(r.layer), quantities=list(r.quantities),
                      illustrative=bool(r.illustrative)) for r in plan.itertuples()]
