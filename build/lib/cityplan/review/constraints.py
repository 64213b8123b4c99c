"""The constraint side of a review: a rule's layers in the one map, named features, their union."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan.review.rules import Rule

#: columns naming an overlapped feature when a rule gives no ``label_fields``
DEFAULT_LABEL_FIELDS = ("name", "site_id", "task_id")
MAX_NAMED = 6


@dataclass
class Constraint:
    """A rule's features (metric CRS) with labels and illustrative flags, and their prepared union."""

    features: gpd.GeoDataFrame
    union: shapely.Geometry
    tree: shapely.STRtree
    #: per layer: (features in the layer, features left after the rule's ``where`` filter)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when the layers hold no feature."""
        return self.union.is_empty

    def empty_layers(self) -> list[str]:
        """The rule's layers that gave no feature (none at all, or none after ``where``)."""
        return [lid for lid, (_, kept) in self.counts.items() if kept == 0]

    def empty_reason(self, rule: Rule) -> str:
        """Why the layers gave nothing: ``layer parks has no features`` (or none matching ``where``)."""
        raw = [lid for lid, (n, _) in self.counts.items() if n == 0]
        filtered = [lid for lid, (n, kept) in self.counts.items() if n > 0 and kept == 0]
        parts = []
        if raw:
            parts.append(f"layer {raw[0]} has no features" if len(raw) == 1 else
                         f"layers {', '.join(raw)} have no features")
        if filtered:
            where = "; ".join(f"{k} in {list(v)}" for k, v in rule.where.items())
            parts.append((f"layer {filtered[0]} has" if len(filtered) == 1 else
                          f"layers {', '.join(filtered)} have") + f" no features matching where {where}")
        return "; ".join(parts) or "the layers have no features"

    def hits(self, geom: shapely.Geometry, distance: float = 0.0) -> gpd.GeoDataFrame:
        """The features ``geom`` intersects (or comes within ``distance`` m of)."""
        if distance > 0:
            idx = self.tree.query(geom, predicate="dwithin", distance=distance)
        else:
            idx = self.tree.query(geom, predicate="intersects")
        return self.features.iloc[np.sort(idx)]


def rule_layers(rule: Rule, om) -> tuple[list[str], str | None]:
    """The one map's layers for ``rule`` and, when it cannot be checked, why."""
    if rule.role:
        ids = om.layers_with_role(rule.role)
        if not ids:
            return [], (f"the one map has no layer with role {rule.role!r} "
                        "(declare it in the catalog and rebuild)")
        return ids, None
    present = [lid for lid in rule.layers if om.has_layer(lid)]
    if not present:
        return [], f"none of the layers {list(rule.layers)} is in this one map"
    return present, None


def missing_layers(rule: Rule, om) -> list[str]:
    """Layers a ``layers:`` rule names that the one map lacks (a role rule names none)."""
    return [] if rule.role else [lid for lid in rule.layers if not om.has_layer(lid)]


def _label(row: pd.Series, layer: str, fields: tuple[str, ...]) -> str:
    parts = []
    for col in fields:
        v = row.get(col)
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
            continue
        parts.append(str(v) if col == "name" else f"{col} {v}")
    if not parts:
        ref = row.get("osm_ref")
        parts.append(f"{ref}" if isinstance(ref, str) and ref else f"#{row.name}")
    return f"{layer}: " + " · ".join(parts)


def build_constraint(rule: Rule, layer_ids: list[str], om, cache: dict[str, gpd.GeoDataFrame]) -> Constraint:
    """Read (once per review), filter and label the features of ``rule``'s layers."""
    cat = om.catalog.set_index("layer")
    frames = []
    counts: dict[str, tuple[int, int]] = {}
    fields = rule.label_fields or DEFAULT_LABEL_FIELDS
    for lid in layer_ids:
        if lid not in cache:
            cache[lid] = om.layer(lid).to_crs(om.working_crs)
        gdf = cache[lid]
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        total = len(gdf)
        for col, vals in rule.where.items():
            if col in gdf.columns:
                gdf = gdf[gdf[col].isin(vals)]
        counts[lid] = (total, len(gdf))
        if gdf.empty:
            continue
        layer_ill = bool(cat.loc[lid, "illustrative"]) if lid in cat.index else False
        ill = gdf["illustrative"].fillna(layer_ill).astype(bool) if "illustrative" in gdf.columns else layer_ill
        keep = [c for c in gdf.columns if c != gdf.geometry.name]
        frames.append(gpd.GeoDataFrame({
            "layer": lid, "label": [_label(r, lid, fields) for _, r in gdf[keep].iterrows()],
            "illustrative": ill if isinstance(ill, bool) else ill.to_numpy(),
            "attrs": [dict(r) for _, r in gdf[keep].iterrows()]}, geometry=gdf.geometry.to_numpy(), crs=gdf.crs))
    feats = (pd.concat(frames, ignore_index=True) if frames else
             gpd.GeoDataFrame({"layer": [], "label": [], "illustrative": [], "attrs": []}, geometry=[],
                              crs=om.working_crs))
    geoms = feats.geometry.to_numpy()
    union = shapely.union_all(geoms) if len(geoms) else shapely.GeometryCollection()
    shapely.prepare(union)
    return Constraint(features=gpd.GeoDataFrame(feats, geometry="geometry", crs=om.working_crs), union=union,
                      tree=shapely.STRtree(geoms), counts=counts)


def describe(hits: gpd.GeoDataFrame) -> tuple[str, bool]:
    """``"parks: 兆麟公园; plan_parks: site_id P-1 · task_id 3.2.1 (示意 illustrative)"``, any illustrative."""
    labels = [f"{lab} (示意 illustrative)" if ill else lab
              for lab, ill in zip(hits["label"], hits["illustrative"], strict=True)]
    uniq = list(dict.fromkeys(labels))
    text = "; ".join(uniq[:MAX_NAMED]) + (f"; and {len(uniq) - MAX_NAMED} more" if len(uniq) > MAX_NAMED else "")
    return text, bool(np.asarray(hits["illustrative"], dtype=bool).any()) if len(hits) else False


def attrs_of(row: Any) -> dict[str, Any]:
    """The attribute dict of a constraint feature row."""
    return row["attrs"] if isinstance(row["attrs"], dict) else {}
