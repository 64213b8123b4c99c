"""Atomic writers: every output goes to a temp file in the target folder, then is renamed."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from cityplan._errors import OutputExistsError, SchemaError

logger = logging.getLogger(__name__)

TABLE_FORMATS = ("csv", "json", "xlsx")
_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile",
            ".fgb": "FlatGeobuf"}


def check_output(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Refuse to replace an existing output unless ``overwrite``."""
    p = Path(path)
    if p.exists() and not overwrite:
        msg = f"{p}: output exists; pass --overwrite (overwrite=True) to replace it"
        raise OutputExistsError(msg)
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The temporary file keeps the suffix so drivers that infer the format from it
    work. On error the temporary file is removed and ``path`` is untouched.
    """
    target = check_output(path, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)  # drivers want to create the file themselves
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if target.suffix.lower() == ".shp":
            for side in tmp_path.parent.glob(tmp_path.stem + ".*"):
                os.replace(side, target.with_suffix(side.suffix))
        else:
            os.replace(tmp_path, target)
    finally:
        for side in tmp_path.parent.glob(tmp_path.stem + ".*"):
            side.unlink(missing_ok=True)


def write_vector(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, layer: str | None = None,
    overwrite: bool = False, encoding: str = "UTF-8",
) -> Path:
    """Write one layer atomically; the driver follows the suffix (.gpkg, .geojson, .shp, .fgb)."""
    p = Path(path)
    driver = _DRIVERS.get(p.suffix.lower())
    if driver is None:
        msg = f"{p}: unsupported output suffix {p.suffix!r}; use one of {sorted(_DRIVERS)}"
        raise SchemaError(msg)
    with atomic_path(p, overwrite=overwrite) as tmp:
        kw = {"encoding": encoding} if driver == "ESRI Shapefile" else {}
        pyogrio.write_dataframe(gdf, tmp, layer=layer, driver=driver, **kw)
    logger.info("wrote %s (%d features)", p, len(gdf))
    return p


def write_gpkg(
    layers: dict[str, pd.DataFrame], path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write several layers / attribute tables into one GeoPackage atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        for name, df in layers.items():
            pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG", append=tmp.exists())
    return Path(path)


def write_table(
    df: pd.DataFrame, path: str | os.PathLike[str], *, fmt: str | None = None,
    overwrite: bool = False, sheets: dict[str, pd.DataFrame] | None = None, sheet_name: str = "table",
) -> Path:
    """Write a plain table as CSV (UTF-8 with BOM, so Excel reads Chinese), JSON or XLSX.

    ``sheets`` adds further named sheets to an XLSX workbook (the first is ``sheet_name``).
    """
    p = Path(path)
    fmt = (fmt or p.suffix.lstrip(".")).lower()
    if fmt not in TABLE_FORMATS:
        msg = f"{p}: unknown table format {fmt!r}; use one of {TABLE_FORMATS}"
        raise SchemaError(msg)
    with atomic_path(p, overwrite=overwrite) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False, encoding="utf-8-sig")
        elif fmt == "json":
            df.to_json(tmp, orient="records", force_ascii=False, indent=1)
        else:
            with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
                df.to_excel(xw, sheet_name=sheet_name, index=False)
                for name, extra in (sheets or {}).items():
                    extra.to_excel(xw, sheet_name=name[:31], index=False)
    return p
