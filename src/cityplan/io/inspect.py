"""Describe a vector file without loading all of it (driver, layers, CRS, schema, encoding).

This is the diagnostic command's engine: it never fails on a damaged file. What
cannot be read is listed under ``problems`` (one line each, as the reading
commands would say it) and everything else that could be read is reported.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from cityplan._errors import CityplanError, LayerNotFoundError, MissingCRSError
from cityplan.io.encoding import check_encoding_name, detect_mojibake
from cityplan.io.pointtable import read_frame
from cityplan.io.read import _is_dbf_text, _read_raw, file_kind, list_file_layers, resolve_layer
from cityplan.io.sqlite_guard import check_views

logger = logging.getLogger(__name__)

_DRIVERS = {"table": "CSV/XLSX point table", "jzd": "界址点坐标 TXT", "dxf": "DXF (ezdxf)",
            "kml": "KML", "kmz": "KMZ (zipped KML)", "zip": "zipped vector file"}


def _empty(p: Path, layer: str | None, encoding: str | None) -> dict[str, Any]:
    return {"path": str(p), "size_bytes": p.stat().st_size if p.exists() else None, "driver": None,
            "layers": [], "layer": layer, "crs": None, "geometry_type": None, "features": None,
            "bounds": None, "fields": {}, "encoding": encoding, "mojibake": None, "problems": []}


def _from_frame(info: dict[str, Any], p: Path, lyr: str | None, encoding: str | None) -> None:
    if file_kind(p) == "table":
        df = read_frame(p, layer=lyr, encoding=encoding)
        info.update({"features": len(df), "fields": {str(c): str(t) for c, t in df.dtypes.items()},
                     "encoding": encoding or df.attrs.get("encoding", "utf-8")})
    try:
        gdf = _read_raw(p, lyr, encoding=encoding, where=None, columns=None)
    except MissingCRSError:
        return  # no CRS is reported as crs None, not as a problem
    geom = gdf.geometry.dropna()
    info.update({
        "crs": gdf.crs.to_string() if gdf.crs is not None else None,
        "geometry_type": ", ".join(sorted(set(geom.geom_type))) or None,
        "features": len(gdf),
        "bounds": tuple(float(v) for v in geom.total_bounds) if len(geom) else None,
        "fields": {c: str(t) for c, t in gdf.drop(columns=gdf.geometry.name).dtypes.items()},
        "encoding": encoding or gdf.attrs.get("encoding", "utf-8"),
    })
    if _is_dbf_text(p, lyr) and encoding is None:
        info["mojibake"] = next((g for c in gdf.columns if c != gdf.geometry.name
                                 if (g := detect_mojibake(gdf[c].dropna().head(200).tolist()))), None)


def _from_ogr(info: dict[str, Any], p: Path, lyr: str | None, encoding: str | None, sample: int) -> None:
    meta = pyogrio.read_info(p, layer=lyr, encoding=encoding, force_feature_count=True,
                             force_total_bounds=True)
    bounds = meta.get("total_bounds")
    info.update({
        "driver": meta.get("driver"), "crs": meta.get("crs"), "geometry_type": meta.get("geometry_type"),
        "features": int(meta.get("features", -1)),
        "bounds": tuple(float(v) for v in bounds) if bounds is not None else None,
        "fields": dict(zip(meta["fields"].tolist(), meta["dtypes"].tolist(), strict=True)),
        "encoding": encoding or meta.get("encoding"),
    })
    if encoding is None and _is_dbf_text(p, lyr):
        attrs = pyogrio.read_dataframe(p, layer=lyr, read_geometry=False, max_features=sample)
        info["mojibake"] = next((g for c in attrs.columns if (g := detect_mojibake(attrs[c].dropna().tolist()))),
                                None)


def inspect_file(
    path: str | os.PathLike[str], *, layer: str | None = None, encoding: str | None = None,
    sample: int = 200,
) -> dict[str, Any]:
    """Summarise a vector file.

    Reads the header through :func:`pyogrio.read_info` and only ``sample`` rows of
    attributes (no geometry) to check the text encoding; tables, 界址点 TXT, DXF,
    KML/KMZ and zipped files are read through their readers.

    Returns
    -------
    dict
        ``path, size_bytes, driver, layers, layer, crs, geometry_type, features, bounds,
        fields (name -> dtype), encoding, mojibake, problems`` where ``mojibake`` is the
        suggested encoding if text looks mis-decoded, and ``problems`` the one-line
        reasons why parts could not be read (empty when all is well).

    Raises
    ------
    LayerNotFoundError
        Only when ``path`` does not exist.
    """
    p = Path(path)
    if not p.exists():
        msg = f"{p}: file not found; check the path"
        raise LayerNotFoundError(msg)
    info = _empty(p, layer, encoding)
    try:
        if encoding is not None:
            check_encoding_name(encoding)
        kind = file_kind(p)
        info["driver"] = _DRIVERS.get(kind)
        check_views(p)  # a never-ending SQL view is a problem to report, not a layer to count
        info["layers"] = list_file_layers(p)
        default = info["layers"][0] if p.suffix.lower() == ".pbf" and info["layers"] else None
        lyr = resolve_layer(p, layer or default)
        info["layer"] = lyr
        if kind == "ogr":
            _from_ogr(info, p, lyr, encoding, sample)
        else:
            _from_frame(info, p, lyr, encoding)
    except CityplanError as exc:
        info["problems"].append(str(exc))
    except (DataSourceError, DataLayerError, OSError, ValueError, UnicodeError) as exc:
        info["problems"].append(f"{p}: could not be read ({type(exc).__name__}: {str(exc)[:160]})")
        logger.debug("inspect %s", p, exc_info=True)
    return info
