"""Turn a GeoDataFrame into the compact, script-safe payload drawn by ``cityplan.js``."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from cityplan.crs import to_display
from cityplan.maps.encode import encode_geometries, simplify_metric
from cityplan.services.search import PINYIN_COLUMNS, column, label_columns, pinyin_keys
from cityplan.text import localize
from cityplan.tools.geometry import FAMILIES

DEFAULT_STYLE = {"color": "#3366cc", "weight": 1, "fillOpacity": 0.35, "radius": 4}


@dataclass
class LayerView:
    """One map layer: data plus how to show it."""

    id: str
    title: str
    gdf: gpd.GeoDataFrame
    group: str = "base"
    show: bool = True
    style: dict[str, Any] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    illustrative: bool = False
    source: str = ""
    note: str = ""
    simplify_m: float = 0.25
    color_column: str | None = None  # per-feature fill colours (choropleths)


#: a column holding each feature's own line colour (OSM's ``colour``; ``#rrggbb``)
COLOUR_COLUMNS = ("colour", "color")
_HEX = re.compile(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")


def shown_rows(view: LayerView) -> gpd.GeoDataFrame:
    """The view's features as the map holds them (null and empty geometries left out): row i is the
    feature the map calls ``fid`` i."""
    g = view.gdf
    return g[g.geometry.notna() & ~g.geometry.is_empty]


def colour_column(gdf: pd.DataFrame) -> str | None:
    """The column giving each feature its colour (data-driven: OSM's ``colour``), when every
    non-empty value is a ``#rgb``/``#rrggbb`` colour; else None."""
    for c in COLOUR_COLUMNS:
        if c in gdf.columns:
            vals = column(gdf, c).dropna().astype(str)
            vals = vals[vals != ""]
            if len(vals) and vals.map(lambda v: bool(_HEX.match(v))).all():
                return c
    return None


def display_fields(view: LayerView) -> tuple[list[str], dict[str, Any]]:
    """The columns sent with each feature (the recipe's fields, then the name, English name and
    colour columns the map uses) and which of them name and colour a feature
    (``{"nameField", "enField", "colorField"}``, None when absent)."""
    cols = view.gdf.columns
    fields = [f for f in view.fields if f in cols]
    name, en = label_columns(cols)
    colour = colour_column(view.gdf) if view.color_column is None else None
    for f in (colour, en, name):
        if f and f not in fields:
            fields.insert(0, f)
    return fields, {"nameField": name, "enField": en, "colorField": colour}


def clean_value(v: Any) -> Any:
    """A cell as JSON can hold it: NaN/inf and missing as None, numpy scalars as Python, floats to 3 decimals,
    anything else as text."""
    if v is None:
        return None
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, float | np.floating):  # JSON has no NaN or infinity
        return round(float(v), 3) if math.isfinite(v) else None
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, str):
        return v
    if pd.isna(v) if not isinstance(v, list | tuple | dict) else False:
        return None
    return str(v)


def layer_style(view: LayerView) -> dict[str, Any]:
    """The layer's style with the defaults filled in (``fill`` true or unset: the line colour)."""
    st = {**DEFAULT_STYLE, **view.style}
    fill = st.get("fill")
    if fill is True or fill is None:
        st["fill"] = st["color"]
    return st


def json_for_script(obj: Any) -> str:
    """JSON that cannot break out of a ``<script>`` element (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def layer_payload(view: LayerView, *, gcj02: bool = False) -> dict[str, Any]:
    """The dict ``cityplan.addLayer`` expects, geometry simplified, shifted and encoded.

    Parameters
    ----------
    view : LayerView
    gcj02 : bool
        Shift to GCJ-02 for Amap tiles (display only; the data are not changed).
    """
    gdf = view.gdf[view.gdf.geometry.notna() & ~view.gdf.geometry.is_empty]
    geoms = simplify_metric(gdf, view.simplify_m) if view.simplify_m else gdf.geometry
    shown = to_display(gpd.GeoDataFrame(geometry=geoms, crs=gdf.crs), gcj02=gcj02)
    kind, encoded = encode_geometries(shown.geometry)
    fields, naming = display_fields(view)
    rows = [[clean_value(v) for v in row] for row in gdf[fields].itertuples(index=False, name=None)]
    ill = None
    if "illustrative" in gdf.columns:
        flags = gdf["illustrative"].fillna(view.illustrative).astype(bool)
        if flags.any():
            ill = [int(v) for v in flags]
    # pinyin of the names for the offline map's search (the served map searches on the server)
    pinyin = None
    name_col = naming["nameField"]
    if name_col and not any(c in gdf.columns for c in PINYIN_COLUMNS):
        made = [list(pinyin_keys(v)) if isinstance(v, str) else None for v in column(gdf, name_col).tolist()]
        pinyin = made if any(m and m[0] for m in made) else None
    return {
        "pinyin": pinyin,
        "id": view.id, "title": view.title, "group": view.group, "kind": kind, "show": view.show,
        "style": layer_style(view), "illustrative": view.illustrative, "ill": ill, "fields": fields,
        "labels": [view.labels.get(f, f) for f in fields], "rows": rows, "geoms": encoded,
        "source": view.source, "note": view.note,
        "colors": gdf[view.color_column].astype(str).tolist() if view.color_column else None,
        # display bounds (lon/lat, shifted for Amap if asked) for fitting the map; None if empty
        "bounds": [float(v) for v in shown.total_bounds] if len(shown) else None,
        **naming,
    }


def split_by_family(views: list[LayerView], languages=None) -> list[LayerView]:
    """Views whose geometries mix points, lines and polygons (e.g. parking areas and parking
    nodes as facilities) as one view per family (``ID__point``...): a drawn layer has one kind."""
    out: list[LayerView] = []
    for v in views:
        fam = v.gdf.geometry.geom_type.map(FAMILIES) if len(v.gdf) else pd.Series(dtype=object)
        kinds = [f for f in ("polygon", "line", "point") if (fam == f).any()]
        if len(kinds) < 2:
            out.append(v)
            continue
        for f in kinds:
            out.append(replace(v, id=f"{v.id}__{f}", title=f"{v.title} ({localize(FAMILY_TITLE[f], languages)})",
                                           gdf=v.gdf[(fam == f).to_numpy()]))
    return out


#: how a geometry family is named beside a layer's title
FAMILY_TITLE = {"polygon": "面 areas", "line": "线 lines", "point": "点 points"}
