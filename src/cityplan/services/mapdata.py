"""A map layer's attribute table: rows filtered by column, sorted, selected, exported.

The use case behind the map's attribute table (``GET /api/attributes/{layer}``): the same
selection gives the table's rows and every export, so what is downloaded is what the table
showed. Exports keep codes as text (``230103`` stays ``230103``; nothing is re-typed), CSV and
XLSX are formula-safe (:mod:`cityplan.io.safecells`), GeoJSON is WGS84 (RFC 7946) and GeoPackage
keeps the layer's CRS. Rows are bounded (:data:`MAX_EXPORT_ROWS`).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from cityplan.io.safecells import force_text_cells, neutralise_frame, write_safe_csv
from cityplan.services.search import column, normalise

#: rows one table answer holds at most (the browser's table)
MAX_TABLE_ROWS = 5_000
#: rows one export holds at most
MAX_EXPORT_ROWS = 200_000
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           "geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3"}


class SelectionError(ValueError):
    """A filter, sort or selection that cannot be applied (answered 400)."""


def attribute_columns(gdf: gpd.GeoDataFrame) -> list[str]:
    """The attribute columns (all but the geometry)."""
    return [c for c in gdf.columns if c != gdf.geometry.name]


def select(gdf: gpd.GeoDataFrame, *, fids: Sequence[int] | None = None, within: np.ndarray | None = None,
           filters: Mapping[str, str] | None = None, sort: str | None = None,
           descending: bool = False) -> np.ndarray:
    """The fids (row positions of ``gdf``) selected, in order.

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer as the map holds it (row i is fid i).
    fids : sequence of int, optional
        Only these rows (a selection made on the map).
    within : array of int, optional
        Only these rows (the features in view).
    filters : mapping column -> text
        Rows whose value in the column contains the text (compared normalised:
        :func:`cityplan.services.search.normalise`).
    sort : str, optional
        Sort by this column (numbers as numbers, missing last).
    descending : bool
    """
    n = len(gdf)
    keep = np.ones(n, dtype=bool)
    for name, ids in (("fids", fids), ("view", within)):
        if ids is None:
            continue
        arr = np.asarray(list(ids), dtype=np.int64)
        if len(arr) and (arr.min() < 0 or arr.max() >= n):
            raise SelectionError(f"{name}: feature ids must be 0 to {n - 1}")
        m = np.zeros(n, dtype=bool)
        m[arr] = True
        keep &= m
    cols = attribute_columns(gdf)
    for col, text in (filters or {}).items():
        if col not in cols:
            raise SelectionError(f"filter column {col!r} is not a column of the layer; columns: {', '.join(cols)}")
        want = normalise(text)
        if want:
            vals = np.array([normalise(v) for v in column(gdf, col).tolist()], dtype=str)
            keep &= np.char.find(vals, want) >= 0
    out = np.flatnonzero(keep)
    if sort:
        if sort not in cols:
            raise SelectionError(f"sort column {sort!r} is not a column of the layer; columns: {', '.join(cols)}")
        s = column(gdf, sort).iloc[out]
        num = pd.to_numeric(s, errors="coerce")
        key = num if num.notna().sum() >= s.notna().sum() else s.astype(str).where(s.notna())
        frame = pd.DataFrame({"k": key.to_numpy()})
        order = frame.sort_values("k", ascending=not descending, na_position="last", kind="stable").index.to_numpy()
        out = out[order]
    return out


def export_bytes(gdf: gpd.GeoDataFrame, fmt: str, *, layer: str, tmpdir: str | os.PathLike[str] | None = None) -> bytes:
    """The rows of ``gdf`` as a file of format ``fmt`` (csv, xlsx, geojson, gpkg)."""
    if fmt not in FORMATS:
        raise SelectionError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    if len(gdf) > MAX_EXPORT_ROWS:
        raise SelectionError(f"{len(gdf)} rows: at most {MAX_EXPORT_ROWS} per export; filter the table first")
    if fmt in ("csv", "xlsx"):
        table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        if fmt == "csv":
            return ("\ufeff" + str(write_safe_csv(table))).encode("utf-8")  # BOM: Excel reads UTF-8
        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as xw:
            neutralise_frame(table, xlsx=True).to_excel(xw, sheet_name=layer[:31] or "layer", index=False)
            force_text_cells(xw.book)
        return buf.getvalue()
    out = gdf.to_crs(4326) if fmt == "geojson" and gdf.crs is not None else gdf
    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        path = Path(tmp) / f"export.{fmt}"
        pyogrio.write_dataframe(out, path, layer=layer, driver="GeoJSON" if fmt == "geojson" else "GPKG")
        return path.read_bytes()
