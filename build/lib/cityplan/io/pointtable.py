"""Point lists in CSV and XLSX with Chinese or English headers (and CSVs with a WKT column).

Headers recognised (case-insensitive): ``经度/纬度``, ``lon/lat``, ``lng``, ``longitude/latitude``
(degrees); ``东坐标/北坐标``, ``easting/northing``, ``E/N`` (metres); ``X/Y`` (degrees or
metres, decided from the values; in Chinese surveying X is the northing, so the column
holding eastings is found by magnitude). ``名称``/``名字`` become ``name``.

Degrees need a declared datum (``wgs84``, ``gcj02``, ``bd09``, ``cgcs2000``): the ~500 m
GCJ-02 offset cannot be told from the numbers. Metres with zone-prefixed eastings name
their Gauss-Krueger zone (CGCS2000 is assumed; declare another with ``--crs``); metres
without the prefix need ``--crs``.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import (
    CRSMismatchError,
    GeometryError,
    LayerNotFoundError,
    MissingCRSError,
    SchemaError,
)
from cityplan.crs import SourceCRS
from cityplan.io.encoding import decode_text
from cityplan.io.gk import looks_plain_gk, prefixed_zone

logger = logging.getLogger(__name__)

WKT_COLUMNS = ("geom", "geometry", "wkt", "the_geom")
DEGREE_PAIRS = (("经度", "纬度"), ("lon", "lat"), ("lng", "lat"), ("longitude", "latitude"), ("long", "lat"))
METRE_PAIRS = (("东坐标", "北坐标"), ("easting", "northing"), ("e", "n"), ("东", "北"))
XY_PAIRS = (("x", "y"), ("x坐标", "y坐标"))
NAME_COLUMNS = ("名称", "名字", "地名", "name")
TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
_BAD_SHOWN = 5


def _line_of(row: int) -> int:
    return row + 2  # header is line 1


def read_csv_text(path: Path, encoding: str | None) -> pd.DataFrame:
    """A CSV as a DataFrame, refusing ragged rows and empty files with one-line errors."""
    data = path.read_bytes()
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        msg = f"{path}: the file is empty (0 rows); export the table again"
        raise SchemaError(msg)
    text, used = decode_text(data, encoding, source=str(path))
    if used != "utf-8":
        logger.info("%s: read as %s", path, used)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
        width = len(header)
        for rec in reader:
            if rec and len(rec) != width and any(c.strip() for c in rec):
                row = reader.line_num - 2
                msg = (f"{path}: line {reader.line_num} (row {row}) has {len(rec)} fields but the header "
                       f"has {width} ({rec[:4]!r}...); fix the row or quote values containing commas")
                raise SchemaError(msg)
    except csv.Error as exc:
        msg = f"{path}: line {reader.line_num}: not a readable CSV ({exc})"
        raise SchemaError(msg) from None
    try:
        df = pd.read_csv(io.StringIO(text), dtype_backend="numpy_nullable", skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        msg = f"{path}: not a readable CSV ({str(exc).splitlines()[0]})"
        raise SchemaError(msg) from None
    df.attrs["encoding"] = used
    return df


def xlsx_sheets(path: Path) -> dict[str, pd.DataFrame]:
    """Every sheet of a workbook (blank rows removed)."""
    try:
        sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for damaged workbooks
        msg = f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {str(exc)[:80]})"
        raise LayerNotFoundError(msg) from None
    return {str(k): v.dropna(how="all") for k, v in sheets.items()}


def table_layers(path: Path) -> list[str]:
    """Layers of a table file: the stem of a CSV, the sheets of a workbook."""
    if path.suffix.lower() not in WORKBOOK_SUFFIXES:
        return [path.stem]
    return list(xlsx_sheets(path))


def read_frame(path: Path, *, layer: str | None, encoding: str | None) -> pd.DataFrame:
    """The attribute table of a CSV, or of one sheet (``layer``) of a workbook."""
    if path.suffix.lower() not in WORKBOOK_SUFFIXES:
        return read_csv_text(path, encoding)
    sheets = xlsx_sheets(path)
    if layer is not None:
        if layer not in sheets:
            msg = f"{path}: no sheet {layer!r}; sheets: {list(sheets)}"
            raise LayerNotFoundError(msg)
        return sheets[layer]
    filled = [k for k, v in sheets.items() if len(v)]
    if len(filled) > 1:
        msg = f"{path}: {len(filled)} sheets hold data {filled}; choose one with --layer"
        raise LayerNotFoundError(msg)
    if not filled:
        msg = f"{path}: every sheet is empty"
        raise SchemaError(msg)
    return sheets[filled[0]]


def _find(cols: dict[str, str], pairs: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    for a, b in pairs:
        if a in cols and b in cols:
            return cols[a], cols[b]
    return None


def _numbers(df: pd.DataFrame, col: str, source: str) -> np.ndarray:
    raw = df[col].astype(object)
    text = raw.map(lambda v: v.strip().replace("，", ".") if isinstance(v, str) else v)
    nums = pd.to_numeric(text.replace("", None), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    given = text.map(lambda v: v != "" if isinstance(v, str) else not pd.isna(v)).to_numpy(dtype=bool)
    bad = np.flatnonzero(given & ~np.isfinite(nums))
    if len(bad):
        shown = ", ".join(f"row {int(df.index[i])} (line {_line_of(int(df.index[i]))}) {raw.iloc[i]!r}"
                          for i in bad[:_BAD_SHOWN])
        msg = (f"{source}: column {col!r} has {len(bad)} value(s) that are not finite numbers: {shown}; "
               "write decimal numbers (degrees as 126.6354, not 126°38')")
        raise GeometryError(msg)
    return nums


def _half_empty(df: pd.DataFrame, x: np.ndarray, y: np.ndarray, cols: tuple[str, str], source: str) -> None:
    half = np.flatnonzero(np.isnan(x) ^ np.isnan(y))
    if len(half):
        shown = ", ".join(f"row {int(df.index[i])} (line {_line_of(int(df.index[i]))})" for i in half[:_BAD_SHOWN])
        msg = (f"{source}: {len(half)} row(s) have only one of {list(cols)}: {shown}; fill in both "
               "coordinates or leave both empty")
        raise GeometryError(msg)


def _wkt_frame(df: pd.DataFrame, col: str, source: str) -> gpd.GeoDataFrame:
    text = [v if isinstance(v, str) and v.strip() else None for v in df[col].astype(object)]
    geoms = shapely.from_wkt(np.asarray(text, dtype=object), on_invalid="ignore")
    bad = [i for i, (t, g) in enumerate(zip(text, geoms, strict=True)) if t and g is None]
    if bad:
        msg = (f"{source}: column {col!r} row {bad[0]} is not valid WKT ({text[bad[0]][:60]!r}); "
               f"{len(bad)} bad row(s) in all - fix them (e.g. 'POINT (126.6 45.7)')")
        raise GeometryError(msg)
    return gpd.GeoDataFrame(df.drop(columns=[col]), geometry=geoms, crs=None)


def _gk_crs(e: np.ndarray, n: np.ndarray, crs: SourceCRS | None, source: str, cols: tuple[str, str]):
    zone = prefixed_zone(e)
    if crs is not None:
        if crs.datum != "crs" or crs.crs.is_geographic:
            msg = f"{source}: columns {list(cols)} hold metres, but {crs.label} (degrees) was declared"
            raise CRSMismatchError(msg)
        if zone is not None and crs.crs.to_epsg() not in (None, zone.epsg) and "zone" in crs.crs.name.lower() \
                and f"zone {zone.zone}" not in crs.crs.name:
            msg = (f"{source}: eastings carry zone prefix {zone.zone} ({zone.describe()}) but "
                   f"{crs.label} ({crs.crs.name}) was declared")
            raise CRSMismatchError(msg)
        return crs.crs
    if zone is not None:
        logger.warning("%s: %s detected from the eastings; declare --crs to override", source, zone.describe())
        return f"EPSG:{zone.epsg}"
    if looks_plain_gk(e, n):
        msg = (f"{source}: columns {list(cols)} look like Gauss-Krueger metres without zone prefix "
               "(easting < 1,000 km); declare the zone, e.g. --crs EPSG:4551 (CGCS2000 3-degree GK, "
               "CM 126E, Harbin)")
        raise MissingCRSError(msg)
    msg = (f"{source}: columns {list(cols)} are neither degrees nor Gauss-Krueger metres of China "
           f"(first easting {e[np.isfinite(e)][:1].tolist()}); declare the CRS with --crs")
    raise MissingCRSError(msg)


def _degrees_needed(crs: SourceCRS | None, source: str, cols: tuple[str, str]) -> None:
    if crs is None:
        msg = (f"{source}: columns {list(cols)} hold degrees; declare their datum: --crs wgs84 (GPS), "
               "--crs gcj02 (Amap/Tencent), --crs bd09 (Baidu) or --crs cgcs2000")
        raise MissingCRSError(msg)


def point_frame(df: pd.DataFrame, *, source: str, crs: SourceCRS | None) -> gpd.GeoDataFrame:
    """Geometry from a table's WKT or coordinate columns; CRS set when the numbers name it.

    Rows with both coordinates empty keep a null geometry (reported per row by
    validation); rows with a non-numeric, infinite or half-empty coordinate raise
    :class:`GeometryError` naming rows (0-based data rows and file lines) and values.
    """
    cols = {str(c).strip().lower(): c for c in df.columns}
    wkt = next((cols[c] for c in WKT_COLUMNS if c in cols), None)
    name = next((cols[c] for c in NAME_COLUMNS if c in cols), None)
    if name is not None and "name" not in df.columns:
        df = df.rename(columns={name: "name"})
        cols = {str(c).strip().lower(): c for c in df.columns}
    if wkt is not None:
        return _wkt_frame(df, wkt, source)
    deg = _find(cols, DEGREE_PAIRS)
    met = _find(cols, METRE_PAIRS)
    xy = _find(cols, XY_PAIRS)
    pair = deg or met or xy
    if pair is None:
        msg = (f"{source}: no geometry column; expected coordinate columns 经度/纬度, lon/lat, X/Y, 东坐标/北坐标 or a WKT "
               f"column {WKT_COLUMNS}; found {[str(c) for c in df.columns]}")
        raise SchemaError(msg)
    a, b = (_numbers(df, c, source) for c in pair)
    _half_empty(df, a, b, pair, source)
    target: object = None
    if deg is not None:
        _degrees_needed(crs, source, pair)
        x, y = a, b
    else:
        finite = np.isfinite(a) & np.isfinite(b)
        in_degrees = bool(finite.any()) and bool((np.abs(a[finite]) <= 180).all() and (np.abs(b[finite]) <= 90).all())
        if xy is not None and in_degrees:
            _degrees_needed(crs, source, pair)
            x, y = a, b
        else:
            if xy is not None:
                # survey convention: X = northing; whichever column holds eastings is the x
                e_is_b = _easting_is_second(a[finite], b[finite])
                x, y = (b, a) if e_is_b else (a, b)
                if e_is_b:
                    logger.info("%s: column %r holds northings and %r eastings (survey X/Y)", source, *pair)
            else:
                x, y = a, b
            target = _gk_crs(x, y, crs, source, pair)
    geoms = shapely.points(x, y)
    geoms[np.isnan(x) | np.isnan(y)] = None
    out = gpd.GeoDataFrame(df, geometry=geoms, crs=None)
    return out.set_crs(target) if target is not None else out


def _easting_is_second(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``b`` holds the eastings: zone-prefixed (>= 10,000 km) or < 1,000 km next to northings."""
    if not len(a):
        return False
    ma, mb = float(np.median(a)), float(np.median(b))
    return bool(mb >= 1.0e7 > ma or (ma >= 1.0e6 > mb))


def read_point_table(
    path: Path, *, layer: str | None = None, encoding: str | None = None, crs: SourceCRS | None = None,
) -> gpd.GeoDataFrame:
    """Read a CSV / XLSX point list (or a CSV with WKT) into a GeoDataFrame.

    The result's CRS is set when the coordinates name it (zone-prefixed GK eastings, or
    a declared metric CRS); otherwise it is ``None`` and the caller applies ``crs``.
    """
    source = f"{path}" + (f" sheet {layer!r}" if layer else "")
    df = read_frame(path, layer=layer, encoding=encoding)
    df.columns = [str(c).strip() for c in df.columns]
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()].tolist()
        msg = f"{source}: duplicate column name(s) {dup}; rename them"
        raise SchemaError(msg)
    return point_frame(df, source=source, crs=crs)
