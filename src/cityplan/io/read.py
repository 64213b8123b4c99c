"""Read any vector file (GeoJSON, GeoPackage, Shapefile, OSM PBF, CSV with WKT or lon/lat).

Layering follows pyogrio: ``_read_raw`` turns a file into a (Geo)DataFrame with the
file's own CRS; :func:`read_vector` then applies the user's declarations (CRS,
encoding) and the CRS policy so every layer leaves here in the storage CRS.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from cityplan._errors import (
    CRSMismatchError,
    EncodingError,
    GeometryError,
    LayerNotFoundError,
    SchemaError,
)
from cityplan.crs import SourceCRS, ensure_crs, parse_crs
from cityplan.io.encoding import detect_mojibake

logger = logging.getLogger(__name__)

WKT_COLUMNS = ("geom", "geometry", "wkt", "the_geom")
LON_COLUMNS = ("lon", "lng", "longitude", "x")
LAT_COLUMNS = ("lat", "latitude", "y")
_HSTORE = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def _require_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        msg = f"{p}: file not found; check the path or the --data folder"
        raise LayerNotFoundError(msg)
    return p


def list_file_layers(path: str | os.PathLike[str]) -> list[str]:
    """Names of the layers in a vector file."""
    p = _require_file(path)
    if p.suffix.lower() == ".csv":
        return [p.stem]
    try:
        return [str(n) for n, _ in pyogrio.list_layers(p)]
    except DataSourceError as exc:
        msg = f"{p}: not a readable vector file ({exc})"
        raise LayerNotFoundError(msg) from None


def resolve_layer(path: str | os.PathLike[str], layer: str | None) -> str | None:
    """Check ``layer`` exists in ``path``; pick the only one if not given."""
    names = list_file_layers(path)
    if Path(path).suffix.lower() == ".csv":
        return None
    if layer is None:
        if len(names) > 1 and Path(path).suffix.lower() != ".pbf":
            msg = f"{path}: holds {len(names)} layers {names}; choose one with --layer"
            raise LayerNotFoundError(msg)
        return names[0] if names else None
    if layer not in names:
        msg = f"{path}: no layer {layer!r}; available layers: {names}"
        raise LayerNotFoundError(msg)
    return layer


def parse_osm_tags(other_tags: pd.Series, keys: list[str]) -> pd.DataFrame:
    """Pull ``keys`` out of GDAL's OSM ``other_tags`` hstore strings."""
    parsed = other_tags.fillna("").map(lambda s: dict(_HSTORE.findall(s)))
    return pd.DataFrame({k: parsed.map(lambda d, k=k: d.get(k)) for k in keys}, index=other_tags.index)


def _read_csv(p: Path, encoding: str | None) -> gpd.GeoDataFrame:
    df = pd.read_csv(p, encoding=encoding or "utf-8-sig", dtype_backend="numpy_nullable")
    cols = {c.lower(): c for c in df.columns}
    wkt = next((cols[c] for c in WKT_COLUMNS if c in cols), None)
    if wkt is not None:
        text = [v if isinstance(v, str) and v.strip() else None for v in df[wkt].astype(object)]
        geoms = shapely.from_wkt(np.asarray(text, dtype=object), on_invalid="ignore")
        bad = [i for i, (t, g) in enumerate(zip(text, geoms, strict=True)) if t and g is None]
        if bad:
            msg = (f"{p}: column {wkt!r} row {bad[0]} is not valid WKT ({text[bad[0]][:60]!r}); "
                   f"{len(bad)} bad row(s) in all - fix them (e.g. 'POINT (126.6 45.7)')")
            raise GeometryError(msg)
        return gpd.GeoDataFrame(df.drop(columns=[wkt]), geometry=geoms, crs=None)
    lon = next((cols[c] for c in LON_COLUMNS if c in cols), None)
    lat = next((cols[c] for c in LAT_COLUMNS if c in cols), None)
    if lon is None or lat is None:
        msg = (
            f"{p}: CSV has no geometry column; expected a WKT column {WKT_COLUMNS} or lon/lat "
            f"columns {LON_COLUMNS}/{LAT_COLUMNS}; found {list(df.columns)}"
        )
        raise SchemaError(msg)
    x = pd.to_numeric(df[lon], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    y = pd.to_numeric(df[lat], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    geoms = shapely.points(x, y)
    geoms[np.isnan(x) | np.isnan(y)] = None
    return gpd.GeoDataFrame(df, geometry=geoms, crs=None)


def _read_raw(
    p: Path, layer: str | None, *, encoding: str | None, where: str | None,
    columns: list[str] | None,
) -> gpd.GeoDataFrame:
    if p.suffix.lower() == ".csv":
        return _read_csv(p, encoding)
    try:
        return pyogrio.read_dataframe(
            p, layer=layer, encoding=encoding, where=where, columns=columns,
            use_arrow=False,
        )
    except (DataLayerError, DataSourceError) as exc:
        msg = f"{p} (layer {layer!r}): could not be read ({exc})"
        raise LayerNotFoundError(msg) from None


def check_encoding(gdf: pd.DataFrame, *, source: str) -> None:
    """Raise :class:`EncodingError` if string columns look mis-decoded."""
    for col in gdf.columns:
        if col == "geometry" or gdf[col].dtype.kind not in "OUT" and str(gdf[col].dtype) not in (
            "string", "str"
        ):
            continue
        guess = detect_mojibake(gdf[col].dropna().head(500).tolist())
        if guess:
            sample = next(v for v in gdf[col] if isinstance(v, str) and detect_mojibake([v]))
            fixed = sample.encode("latin-1").decode(guess, errors="replace")
            msg = (
                f"{source}: text in column {col!r} looks like {guess.upper()} read as Latin-1 "
                f"({sample!r} would be {fixed!r}); pass --encoding {guess} (encoding={guess!r}) "
                "or add a .cpg file"
            )
            raise EncodingError(msg)


def _check_datum_hint(p: Path, decl: SourceCRS | None) -> None:
    name = p.name.lower()
    if re.search(r"gcj[-_]?02|gcj\b|amap|gaode", name) and (decl is None or decl.datum != "gcj02"):
        msg = (
            f"{p}: the file name says GCJ-02 (Amap/Gaode coordinates) but it is being read as "
            f"{decl.label if decl else 'its own tag (WGS84)'}; declare the source CRS as gcj02 "
            "(--crs gcj02, or --from gcj02 for convert) so it is converted to WGS84, or rename "
            "the file if it is not GCJ-02"
        )
        raise CRSMismatchError(msg)
    if re.search(r"bd[-_]?09|baidu", name) and (decl is None or decl.datum != "bd09"):
        msg = (f"{p}: the file name says BD-09 (Baidu coordinates); declare the source CRS as "
               "bd09 (--crs bd09, or --from bd09 for convert)")
        raise CRSMismatchError(msg)


def read_vector(
    path: str | os.PathLike[str],
    *,
    layer: str | None = None,
    crs: str | SourceCRS | None = None,
    encoding: str | None = None,
    where: str | None = None,
    columns: list[str] | None = None,
    osm_tags: list[str] | None = None,
    check_text: bool = True,
    datum_hint: bool = True,
) -> gpd.GeoDataFrame:
    """Read a vector file and bring it to the storage CRS (EPSG:4326).

    Parameters
    ----------
    path : path-like
        Any OGR-readable file, an OSM ``.pbf`` (give ``layer``: points, lines,
        multilinestrings, multipolygons) or a CSV with a WKT or lon/lat column.
    layer : str, optional
        Layer name; required when the file has several.
    crs : str or SourceCRS, optional
        Declared source CRS: required when the file has none (CSV, bare shapefile),
        and ``"gcj02"``/``"bd09"`` for Amap/Baidu coordinates, which are converted.
    encoding : str, optional
        Text encoding, e.g. ``"gbk"`` for a Chinese shapefile without ``.cpg``.
    where : str, optional
        OGR SQL attribute filter.
    columns : list of str, optional
        Attribute columns to read.
    osm_tags : list of str, optional
        Keys to pull out of the OSM ``other_tags`` column into their own columns.
    check_text : bool, default True
        Detect mojibake and raise :class:`EncodingError` instead of loading it.
    datum_hint : bool, default True
        Refuse files whose name says GCJ-02/BD-09 unless declared so.

    Returns
    -------
    GeoDataFrame
        A new frame in EPSG:4326 (or EPSG:4490 if the file is CGCS2000), index =
        source row number.
    """
    p = _require_file(path)
    lyr = resolve_layer(p, layer)
    source = f"{p}" + (f" layer {lyr!r}" if lyr and p.suffix.lower() != ".csv" else "")
    decl = parse_crs(crs) if crs is not None else None
    if datum_hint:
        _check_datum_hint(p, decl)
    gdf = _read_raw(p, lyr, encoding=encoding, where=where, columns=columns)
    if osm_tags:
        if "other_tags" not in gdf.columns:
            msg = f"{source}: no 'other_tags' column to take OSM tags {osm_tags} from"
            raise SchemaError(msg)
        extra = parse_osm_tags(gdf["other_tags"], [k for k in osm_tags if k not in gdf.columns])
        gdf = pd.concat([gdf, extra], axis=1)
    if check_text and encoding is None:
        check_encoding(gdf, source=source)
    gdf = gdf.reset_index(drop=True)
    out = ensure_crs(gdf, decl, source=source)
    logger.debug("read %s: %d features", source, len(out))
    return out


def read_table(path: str | os.PathLike[str], *, encoding: str | None = None) -> pd.DataFrame:
    """Read a plain attribute table (CSV) without geometry."""
    p = _require_file(path)
    try:
        return pd.read_csv(p, encoding=encoding or "utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = f"{p}: not a readable CSV table ({exc}); try --encoding gbk for Chinese CSVs"
        raise SchemaError(msg) from None
