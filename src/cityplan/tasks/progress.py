"""Progress of every quantified target: planned / achieved vs target, per task, district, chapter."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cityplan.onemap import OneMap
from cityplan.tasks.link import LinkResult, link_plan_sites, load_plan_layers
from cityplan.tasks.register import Register, load_register

ACHIEVED_STATUSES = ("completed",)


def _status(target: float, planned: float, achieved: float, linked: bool, check: object) -> str:
    if isinstance(check, str) and check:
        return f"checked by: {check}"
    if np.isnan(target):
        return "measured (no target)"
    if not linked:
        return "not mapped"
    if achieved >= target:
        return "achieved"
    if planned >= target:
        return "planned in full"
    if planned > 0:
        return "partly planned"
    return "not planned"


def _aggregate(q: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return q.groupby(keys, dropna=False).agg(
        planned=("value", "sum"), achieved=("achieved", "sum"), features=("site_id", "nunique"),
        illustrative_features=("ill", "sum"), unit_measured=("unit", "first")).reset_index()


def progress_table(register: Register, link: LinkResult, *, by: str | None = None) -> pd.DataFrame:
    """Planned and achieved quantity against every target.

    Parameters
    ----------
    register : Register
    link : LinkResult
        From :func:`cityplan.tasks.link.link_plan_sites`.
    by : {None, "district"}
        ``"district"`` splits each row by the district the features lie in; the
        district rows of a target sum to its total row (``district == "(all)"``).

    Returns
    -------
    DataFrame
        task_id, chapter, title_zh, title_en, [adcode, district,] metric, unit,
        target (city-wide), planned, achieved, ratio (planned / target; on a
        district row: the district's share of the city target), achieved_ratio,
        features, illustrative_features, status. Measured quantities of mapped
        tasks without a report target appear with an empty target.
    """
    if by not in (None, "district"):
        msg = f"progress by {by!r}: only 'district' is supported"
        raise ValueError(msg)
    q = link.quantities.copy()
    q["achieved"] = np.where(q["status"].isin(ACHIEVED_STATUSES), q["value"], 0.0)
    q["ill"] = q["illustrative"].astype(bool).astype(int)
    agg = _aggregate(q, ["task_id", "metric"])
    t = register.targets_frame()
    items = register.items_frame().set_index("task_id")
    if by:
        per = _aggregate(q, ["task_id", "metric", "adcode", "district"])
        agg = pd.concat([per, agg.assign(adcode="", district="(all)")], ignore_index=True)
        frame = agg.merge(t, on=["task_id", "metric"], how="outer")
        frame["district"] = frame["district"].fillna("(all)")
        frame["adcode"] = frame["adcode"].fillna("")
    else:
        frame = t.merge(agg, on=["task_id", "metric"], how="outer")
    frame["chapter"] = frame.task_id.map(items["chapter"])
    frame["title_zh"] = frame.task_id.map(items["title_zh"])
    frame["title_en"] = frame.task_id.map(items["title_en"])
    frame["unit"] = frame["unit"].fillna(frame["unit_measured"])
    for col in ("planned", "achieved", "features", "illustrative_features"):
        frame[col] = frame[col].fillna(0)
    frame["target"] = frame["target"].astype(float)
    linked = set(link.features.task_id)
    is_total = frame["district"].eq("(all)") if by else pd.Series(True, index=frame.index)
    # on district rows the ratio is the district's share of the city-wide target
    frame["ratio"] = frame.planned / frame.target
    frame["achieved_ratio"] = frame.achieved / frame.target
    frame["status"] = [
        _status(t_, p, a, tid in linked, chk) if tot_ else ""
        for t_, p, a, tid, chk, tot_ in zip(frame.target, frame.planned, frame.achieved,
                                            frame.task_id, frame["check"], is_total, strict=True)
    ]
    cols = ["task_id", "chapter", "title_zh", "title_en"] + (["adcode", "district"] if by else []) + [
        "metric", "unit", "target", "planned", "achieved", "ratio", "achieved_ratio", "features",
        "illustrative_features", "status"]
    order = {tid: i for i, tid in enumerate(it.id for it in register.items)}
    frame["_o"] = frame.task_id.map(order)
    sort = ["_o", "metric"] + (["_d"] if by else [])
    if by:
        frame["_d"] = np.where(frame.district.eq("(all)"), "~", frame.district)
    return frame.sort_values(sort, kind="stable")[cols].reset_index(drop=True)


def chapter_summary(register: Register, table: pd.DataFrame) -> pd.DataFrame:
    """Per chapter: items, quantified targets, targets with mapped features, planned in full."""
    items = register.items_frame()
    tot = table[table.get("district", pd.Series("(all)", index=table.index)).eq("(all)")]
    tot = tot[tot.target.notna()]
    rows = []
    for _, ch in register.chapters.iterrows():
        cid = ch["id"]
        sub = tot[tot.chapter == cid]
        rows.append({
            "chapter": cid, "title_zh": ch["title_zh"], "title_en": ch["title_en"],
            "items": int((items.chapter == cid).sum()),
            "mapped_items": int(items[(items.chapter == cid)].mapped.sum()),
            "targets": len(sub), "targets_mapped": int((sub.features > 0).sum()),
            "targets_planned_in_full": int(sub.status.isin(["planned in full", "achieved"]).sum()),
            "targets_achieved": int((sub.status == "achieved").sum()),
        })
    rows.append({"chapter": "all", "title_zh": "合计", "title_en": "All chapters",
                 **{k: sum(r[k] for r in rows) for k in ("items", "mapped_items", "targets",
                                                         "targets_mapped", "targets_planned_in_full",
                                                         "targets_achieved")}})
    return pd.DataFrame(rows)


@dataclass
class Progress:
    """Everything `cityplan progress` reports."""

    table: pd.DataFrame
    chapters: pd.DataFrame
    link: LinkResult
    build_info: dict[str, str]


def compute_progress(
    onemap: OneMap | str | os.PathLike[str] | None = None, *, tasks: str | os.PathLike[str] | None = None,
    by: str | None = None,
) -> Progress:
    """Link the one map's plan layers to the register and tabulate progress.

    Parameters
    ----------
    onemap : OneMap, path-like or URL, optional
        The one map (default ``$CITYPLAN_ONEMAP`` or ``layers/build/harbin.gpkg``).
    tasks : path-like, optional
        Task register (default ``layers/tasks.yaml``).
    by : {None, "district"}
        Split rows by district.
    """
    om = OneMap.coerce(onemap)
    register = load_register(tasks)
    link = link_plan_sites(register, load_plan_layers(om), om.layer_for("districts"))
    table = progress_table(register, link, by=by)
    return Progress(table=table, chapters=chapter_summary(register, table), link=link,
                    build_info=dict(om.build_info))
