"""The sites a district reports on: one row per plan site with its reported (primary) metric.

A site measures one or more quantities (a renovated compound: 1 project and its floor area; a
school: 1 school and its seats). The district reports the *primary* metric — the one with a
report target whose per-site value is a volume rather than a count of 1 (floor area, seats,
parking spaces), else the first targeted metric, else the first measured one. The other metrics
of a site count in full when the site is ``completed`` (1 project, 1 school).
"""

from __future__ import annotations

import pandas as pd

from cityplan.tasks.link import LinkResult, PlanLayer
from cityplan.tasks.register import Register

SITE_COLUMNS = ["site_id", "layer", "name", "task_id", "adcode", "district", "illustrative", "metric",
                "unit", "planned"]


def primary_metrics(register: Register, link: LinkResult) -> dict[str, str]:
    """Layer id -> the metric its sites report."""
    targeted = {(t.task_id, t.metric) for i in register.items for t in i.targets if not t.check}
    out: dict[str, str] = {}
    q = link.quantities
    for layer, sub in q.groupby("layer", sort=False):
        metrics = list(dict.fromkeys(sub["metric"]))
        tid = str(sub["task_id"].iloc[0])
        with_target = [m for m in metrics if (tid, m) in targeted]
        volume = [m for m in with_target if not sub.loc[sub.metric == m, "value"].eq(1).all()]
        out[str(layer)] = (volume or with_target or metrics)[0]
    return out


def site_table(register: Register, link: LinkResult, layers: list[PlanLayer] | None = None) -> pd.DataFrame:
    """One row per site: id, layer, name, task, district, illustrative, primary metric and planned value."""
    prim = primary_metrics(register, link)
    q = link.quantities
    if q.empty:
        return pd.DataFrame(columns=SITE_COLUMNS)
    keep = q[q.metric == q.layer.map(prim)]
    sites = keep.rename(columns={"value": "planned"}).drop_duplicates("site_id")
    names: dict[str, str] = {}
    for pl in layers or []:
        if "site_id" in pl.gdf.columns and "name" in pl.gdf.columns:
            names.update(zip(pl.gdf["site_id"].astype(str),
                             pl.gdf["name"].fillna("").astype(str), strict=True))
    sites = sites.assign(name=sites.site_id.astype(str).map(names).fillna(""),
                         illustrative=sites.illustrative.astype(bool))
    return sites[SITE_COLUMNS].reset_index(drop=True)


def nonspatial_targets(register: Register, link: LinkResult) -> pd.DataFrame:
    """Targets no plan site measures (jobs, events, colleges...): reported as district figures."""
    measured = set(zip(link.quantities.task_id, link.quantities.metric, strict=True))
    t = register.targets_frame()
    keep = t["check"].isna() & ~pd.Series([(a, b) in measured for a, b in zip(t.task_id, t.metric, strict=True)],
                                          index=t.index, dtype=bool)
    return t[keep][["task_id", "title_zh", "title_en", "metric", "target", "unit"]].reset_index(drop=True)
