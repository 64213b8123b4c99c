"""Read any vector file planners exchange into the storage CRS.

GeoJSON, GeoPackage, Shapefile, OSM PBF, KML through GDAL; zipped shapefiles and KMZ
through :mod:`cityplan.io.archive`; CSV/XLSX point lists (:mod:`cityplan.io.pointtable`),
自然资源部 界址点坐标 TXT (:mod:`cityplan.io.jzd`) and DXF (:mod:`cityplan.io.dxf`).
``_read_raw`` turns a file into a (Geo)DataFrame with the file's own CRS (or the one its
coordinates name); :func:`read_vector` then cleans the geometries (2D, finite), applies
the user's declarations (CRS, encoding) and the CRS policy so every layer leaves here in
the storage CRS.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from pathlib import Path, PurePosixPath

import geopandas as gpd
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from cityplan._errors import (
    CityplanError,
    CRSMismatchError,
    EncodingError,
    LayerNotFoundError,
    SchemaError,
)
from cityplan.crs import SourceCRS, ensure_crs, parse_crs
from cityplan.io.archive import VECTOR_MEMBERS, extracted, member_for, vector_members
from cityplan.io.dxf import dxf_layers, read_dxf
from cityplan.io.encoding import check_encoding_name, decode_table, detect_mojibake
from cityplan.io.jzd import is_jzd, read_jzd
from cityplan.io.pointtable import TABLE_SUFFIXES, read_point_table, table_layers
from cityplan.io.sqlite_guard import check_views
from cityplan.tools.geometry import sanitize_read

logger = logging.getLogger(__name__)

_HSTORE = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def _require_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        msg = f"{p}: file not found; check the path or the --data folder"
        raise LayerNotFoundError(msg)
    return p


def file_kind(path: Path) -> str:
    """How a file is read: ``table``, ``jzd``, ``dxf``, ``zip``, ``kmz``, ``kml`` or ``ogr``."""
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix == ".txt":
        with open(path, "rb") as fh:
            return "jzd" if is_jzd(fh.read(1 << 20)) else "table"
    return {".dxf": "dxf", ".zip": "zip", ".kmz": "kmz", ".kml": "kml"}.get(suffix, "ogr")


def _ogr_layers(path: Path | str, source: Path) -> list[str]:
    try:
        return [str(n) for n, _ in pyogrio.list_layers(path)]
    except (DataSourceError, DataLayerError, OSError) as exc:
        msg = f"{source}: not a readable vector file ({_first_line(exc)})"
        raise LayerNotFoundError(msg) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def list_file_layers(path: str | os.PathLike[str]) -> list[str]:
    """Names of the layers in a vector file (sheets of a workbook, DXF layers, zipped files)."""
    p = _require_file(path)
    kind = file_kind(p)
    if p.stat().st_size == 0:
        msg = f"{p}: the file is empty (0 bytes); export it again"
        raise LayerNotFoundError(msg)
    if kind == "table":
        return table_layers(p) if p.suffix.lower() in (".xlsx", ".xlsm") else [p.stem]
    if kind == "jzd":
        return [p.stem]
    if kind == "dxf":
        return dxf_layers(p)
    if kind == "zip":
        return [PurePosixPath(n).stem for n in vector_members(p)]
    if kind == "kmz":
        with extracted(p, member_for(p, None, kinds=(".kml",))) as kml:
            return _ogr_layers(kml, p)
    return _ogr_layers(p, p)


def resolve_layer(path: str | os.PathLike[str], layer: str | None) -> str | None:
    """Check ``layer`` exists in ``path``; pick the only one if not given.

    Files whose layers are parts of one drawing (DXF layers, KML folders) are read
    whole when no layer is given, with a ``layer`` column.
    """
    p = Path(path)
    names = list_file_layers(p)
    kind = file_kind(p)
    if kind in ("table", "jzd") and p.suffix.lower() not in (".xlsx", ".xlsm"):
        return None
    if layer is None:
        if kind in ("dxf", "kml", "kmz", "table"):
            return None
        if len(names) > 1 and p.suffix.lower() != ".pbf":
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


def _ogr_read(path: Path, source: Path, layer: str | None, **kw) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(path, layer=layer, use_arrow=False, **kw)
    except (DataLayerError, DataSourceError, OSError) as exc:
        msg = f"{source} (layer {layer!r}): could not be read ({_first_line(exc)})"
        raise LayerNotFoundError(msg) from None


def _read_kml(path: Path, source: Path, layer: str | None) -> gpd.GeoDataFrame:
    """One KML layer, or every folder with a ``layer`` column."""
    if layer is not None:
        return _ogr_read(path, source, layer)
    names = _ogr_layers(path, source)
    frames = [_ogr_read(path, source, n).assign(layer=n) for n in names]
    frames = [f for f in frames if len(f)] or frames[:1]
    if not frames:
        msg = f"{source}: the KML holds no layer"
        raise LayerNotFoundError(msg)
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=frames[0].crs)


def _read_raw(
    p: Path, layer: str | None, *, encoding: str | None, where: str | None,
    columns: list[str] | None, crs: SourceCRS | None = None,
) -> gpd.GeoDataFrame:
    kind = file_kind(p)
    if kind == "table":
        return read_point_table(p, layer=layer, encoding=encoding, crs=crs)
    if kind == "jzd":
        return read_jzd(p, encoding=encoding, crs=crs)
    if kind == "dxf":
        return read_dxf(p, layer=layer, crs=crs)
    if kind == "kml":
        return _read_kml(p, p, layer)
    if kind in ("zip", "kmz"):
        member = member_for(p, layer, kinds=(".kml",) if kind == "kmz" else VECTOR_MEMBERS)
        with extracted(p, member) as inner:
            if inner.suffix.lower() == ".kml":
                return _read_kml(inner, p, layer if kind == "zip" else None)
            check_views(inner)  # a GeoPackage inside the archive too
            return _ogr_read(inner, p, None, encoding=encoding, where=where, columns=columns)
    if encoding is not None:
        check_encoding_name(encoding)
    return _ogr_read(p, p, layer, encoding=encoding, where=where, columns=columns)


def _is_dbf_text(p: Path, layer: str | None) -> bool:
    """Only DBF text (shapefiles) can be GBK read as Latin-1; GeoJSON/GPKG/KML are UTF-8."""
    suffix = p.suffix.lower()
    if suffix in (".shp", ".dbf"):
        return True
    if suffix == ".zip":
        try:
            return member_for(p, layer).lower().endswith(".shp")
        except CityplanError:
            return False
    return False


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
        multilinestrings, multipolygons), a CSV/XLSX point list (or CSV with WKT), a
        界址点坐标 TXT, a DXF (``crs`` required), KML/KMZ or a zipped shapefile.
    layer : str, optional
        Layer name; required when the file has several (a sheet of a workbook, a DXF
        layer or KML folder - those are read whole, with a ``layer`` column, without it).
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
    if encoding is not None:
        check_encoding_name(encoding)
    check_views(p)  # a GeoPackage layer that is a never-ending SQL view is refused before GDAL opens it
    lyr = resolve_layer(p, layer) if file_kind(p) != "dxf" else layer
    kind = file_kind(p)
    source = f"{p}" + (f" layer {lyr!r}" if lyr and kind not in ("table", "jzd") else "")
    decl = parse_crs(crs) if crs is not None else None
    if datum_hint:
        _check_datum_hint(p, decl)
    gdf = _read_raw(p, lyr, encoding=encoding, where=where, columns=columns, crs=decl)
    if kind in ("table", "jzd", "dxf"):
        if columns is not None:
            gdf = gdf[[c for c in gdf.columns if c in columns or c == gdf.geometry.name]]
        if gdf.crs is not None:
            decl = None  # the reader applied the declaration (or the zone its coordinates name)
    gdf = sanitize_read(gdf, source=source)
    if osm_tags:
        if "other_tags" not in gdf.columns:
            msg = f"{source}: no 'other_tags' column to take OSM tags {osm_tags} from"
            raise SchemaError(msg)
        extra = parse_osm_tags(gdf["other_tags"], [k for k in osm_tags if k not in gdf.columns])
        gdf = pd.concat([gdf, extra], axis=1)
    if check_text and encoding is None and _is_dbf_text(p, lyr):
        check_encoding(gdf, source=source)
    gdf = gdf.reset_index(drop=True)
    out = ensure_crs(gdf, decl, source=source)
    logger.debug("read %s: %d features", source, len(out))
    return out


#: separators :func:`read_table` detects (any other is given with ``sep``)
TABLE_SEPARATORS = (",", ";", "\t")
_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def _fields(line: str, sep: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=sep), []))
    except csv.Error:
        return 0


def detect_separator(text: str) -> str:
    """The field separator of a CSV text: ``,``, ``;`` or tab.

    The one that splits the header (the first non-blank line) into the most fields wins;
    on a tie, the one that splits the next lines into as many fields as the header, then
    ``,`` before ``;`` before tab. A one-column table is comma-separated.
    """
    lines = [ln for ln in text.splitlines()[:51] if ln.strip()]
    if not lines:
        return ","
    header, body = lines[0], lines[1:]

    def rank(sep: str) -> tuple[int, int, int]:
        width = _fields(header, sep)
        same = sum(_fields(ln, sep) == width for ln in body)
        return width, same, -TABLE_SEPARATORS.index(sep)

    return max(TABLE_SEPARATORS, key=rank)


def _check_ragged(text: str, sep: str, path: Path) -> None:
    """Refuse rows with more or fewer fields than the header (one line naming the line)."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    try:
        header = next(reader, [])
        width = len(header)
        for rec in reader:
            if rec and len(rec) != width and any(c.strip() for c in rec):
                row = reader.line_num - 2
                what = {",": "commas", ";": "semicolons", "\t": "tabs"}.get(sep, repr(sep))
                msg = (f"{path}: line {reader.line_num} (row {row}) has {len(rec)} fields but the header "
                       f"has {width} ({rec[:4]!r}...); fix the row or quote values containing {what}")
                raise SchemaError(msg)
    except csv.Error as exc:
        msg = f"{path}: line {reader.line_num}: not a readable CSV ({exc})"
        raise SchemaError(msg) from None


def read_table(path: str | os.PathLike[str], *, encoding: str | None = None, sep: str | None = None,
               as_text: bool = False) -> pd.DataFrame:
    """Read a plain attribute table (CSV) without geometry.

    Parameters
    ----------
    path : path-like
        A CSV file.
    encoding : str, optional
        Text encoding (``--encoding``); default: detected by
        :func:`cityplan.io.encoding.decode_table` (UTF-8 with or without BOM, GB 18030 or
        Windows-1252).
    sep : str, optional
        Field separator; default: detected by :func:`detect_separator` (``,``, ``;`` or tab).
    as_text : bool, default False
        Keep every cell as the text written in the file (empty cells as ``""``) and index the
        rows by their spreadsheet row number (the header is row 1, so the first data row is
        2); blank rows are dropped. Otherwise pandas infers the column types, with ``,`` as
        the decimal mark in ``;``-separated files and ``.`` in the others.

    Returns
    -------
    DataFrame
        ``attrs`` holds ``encoding``, ``sep`` and ``decimal`` (the decimal mark: ``","`` for
        ``;``-separated files, else ``"."``).

    Raises
    ------
    SchemaError
        Empty file, ragged rows or unreadable CSV, in one line naming the file and line.
    EncodingError
        Unknown or wrong ``encoding``; UTF-16, binary or undecidable text.
    """
    p = _require_file(path)
    data = p.read_bytes()
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        msg = f"{p}: the file is empty (0 rows); export the table again"
        raise SchemaError(msg)
    text, used = decode_table(data, encoding, source=str(p))
    sep = sep or detect_separator(text)
    decimal = "," if sep == ";" else "."
    level = logging.DEBUG if (used, sep) == ("utf-8", ",") else logging.INFO
    logger.log(level, "%s: read as %s, %s-separated, decimal mark %r", p, used, _SEP_NAMES.get(sep, repr(sep)),
               decimal)
    _check_ragged(text, sep, p)
    try:
        if as_text:
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                             skip_blank_lines=False)
            df.index = df.index + 2
            filled = df.apply(lambda col: col.fillna("").str.strip().ne("")).any(axis=1)
            df = df[filled.to_numpy(dtype=bool)]
        else:
            df = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, dtype_backend="numpy_nullable",
                             skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        msg = f"{p}: not a readable CSV ({str(exc).splitlines()[0]})"
        raise SchemaError(msg) from None
    df.attrs.update(encoding=used, sep=sep, decimal=decimal)
    return df
