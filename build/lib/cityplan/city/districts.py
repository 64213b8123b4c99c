"""A city's districts (any vector file) and its census table (CSV).

Districts keep their ``adcode`` when the file has one (else ``D01``, ``D02``... in file
order) and are clipped to the extract, with ``extract_share`` = the share of the district's
area inside it (measured in the working CRS), as the Harbin districts are.

The census CSV (``,``, ``;`` or tab separated; UTF-8, GB 18030 or Windows-1252) needs a
population column (``population``, ``pop_YYYY``, ``pop``, ``inhabitants``, ``residents`` or
the one given as ``population_column``) and a district key: ``adcode`` or the district name
(``name``, or the column given as ``name_column``); ``urban_share`` (0-1) is optional,
default 1 (every resident counts as urban). See :func:`read_census`.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import MissingCRSError, SchemaError
from cityplan.crs import to_working
from cityplan.io.read import read_table, read_vector

logger = logging.getLogger(__name__)

NAME_GUESSES = ("name", "name_zh", "NAME", "Name", "district", "名称")


def read_districts(path: str | os.PathLike[str], *, name_column: str | None = None,
                   crs: str | None = None) -> gpd.GeoDataFrame:
    """Districts with ``adcode``, ``name`` (and ``name_en`` when present), EPSG:4326.

    Raises
    ------
    SchemaError
        ``name_column`` is not a column (the message lists them), no name column can be
        found, names or adcodes repeat, or a row has no polygon.
    MissingCRSError
        The file has no CRS and ``crs`` is not given.
    """
    p = Path(path)
    try:
        gdf = read_vector(p, crs=crs)
    except MissingCRSError:
        msg = (f"--districts {p}: the file has no CRS; declare it with --districts-crs "
               "(e.g. EPSG:4326, EPSG:4490 or gcj02) or add a .prj")
        raise MissingCRSError(msg) from None
    cols = [c for c in gdf.columns if c != "geometry"]
    if name_column is not None and name_column not in cols:
        msg = f"--districts {p}: no column {name_column!r} for --name-column; the file has {cols}"
        raise SchemaError(msg)
    col = name_column or next((c for c in NAME_GUESSES if c in cols), None)
    if col is None:
        msg = f"--districts {p}: which column names the districts? pass --name-column, one of {cols}"
        raise SchemaError(msg)
    names = gdf[col].astype("string")
    bad = np.flatnonzero(names.isna().to_numpy() | (names.fillna("").str.strip() == "").to_numpy())
    if len(bad):
        msg = f"--districts {p}: row {int(bad[0])} has no name in column {col!r}; name every district"
        raise SchemaError(msg)
    poly = gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not poly.all():
        row = int(np.flatnonzero(~poly)[0])
        msg = (f"--districts {p}: row {row} ({names.iloc[row]}) is a {gdf.geometry.iloc[row].geom_type}"
               " geometry; districts must be polygons")
        raise SchemaError(msg)
    if "adcode" in cols:
        adcode = gdf["adcode"].astype("string").str.strip()
    else:
        adcode = pd.Series([f"D{i + 1:02d}" for i in range(len(gdf))], dtype="string")
    for what, s in (("name", names), ("adcode", adcode)):
        dup = s[s.duplicated()]
        if len(dup):
            msg = f"--districts {p}: {what} {dup.iloc[0]!r} appears more than once; one row per district"
            raise SchemaError(msg)
    out = {"adcode": adcode.to_numpy(), "name": names.str.strip().to_numpy()}
    if "name_en" in cols:
        out["name_en"] = gdf["name_en"].astype("string").to_numpy()
    geoms = shapely.make_valid(np.asarray(gdf.geometry.values, dtype=object))
    return gpd.GeoDataFrame(out, geometry=geoms, crs=gdf.crs)


def clip_to_extract(districts: gpd.GeoDataFrame, bbox: tuple[float, float, float, float], *,
                    crs: object) -> gpd.GeoDataFrame:
    """Districts cut to the extract's bbox, with ``extract_share``; those outside it are dropped."""
    box = shapely.box(*bbox)
    clipped = districts.assign(geometry=shapely.intersection(np.asarray(districts.geometry.values), box))
    full = to_working(districts, crs).area.to_numpy()
    inside = to_working(clipped, crs).area.to_numpy()
    out = clipped.assign(extract_share=np.round(np.where(full > 0, inside / full, 0.0), 4))
    return out[inside > 0].reset_index(drop=True)


#: population headers by preference after ``population`` and ``pop_YYYY`` (matched case-insensitively)
POPULATION_FALLBACKS = ("pop", "inhabitants", "residents", "人口", "常住人口")
_POP_YEAR = re.compile(r"^pop(?:ulation)?_?(\d{4})$")
#: characters accepted as thousands separators besides ``,`` / ``.`` (spaces, apostrophes)
_GROUP_SPACES = (" ", "\u00a0", "\u202f", "\u2009", "'", "\u2019")
_ROWS = "counting the header as row 1"


def _norm_header(name: object) -> str:
    """A header as compared: NFC, BOM and surrounding whitespace removed, case-folded."""
    return unicodedata.normalize("NFC", str(name)).replace("\ufeff", "").strip().casefold()


def _norm_name(name: object) -> str:
    """A district name as compared: NFC, whitespace trimmed and collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFC", str(name)).split()).casefold()


def _norm_code(code: object) -> str:
    """An adcode as compared: trimmed, without the ``.0`` a spreadsheet may have added."""
    text = str(code).strip()
    return re.sub(r"^(\d+)\.0+$", r"\1", text)


def parse_number(text: str, *, decimal: str) -> float | None:
    """A number written the way the file's convention allows, or ``None`` if it is not one.

    Accepted, with ``decimal="."`` (comma- and tab-separated files): ``12345``,
    ``12345.6``, ``12,345`` and ``1,234,567.5`` (``,`` groups thousands), ``12 345``.
    With ``decimal=","`` (``;``-separated files): ``12345``, ``12345,6``, ``12.345`` and
    ``1.234.567,5`` (``.`` groups thousands), ``12 345``. In both, a space, no-break space,
    thin space or apostrophe may group thousands (``12 345``, ``12'345``); groups must be
    of three digits and use one separator, and a leading ``-`` is kept (for the caller to
    refuse). Anything else - ``12,5`` in a comma file, ``1.234,5`` in a comma file, units,
    percentages - is not a number.
    """
    s = text.strip()
    sign = -1.0 if s[:1] in ("-", "\u2212") else 1.0
    s = s.lstrip("-\u2212+").strip()
    if not s:
        return None
    dec = re.escape(decimal)
    if re.fullmatch(rf"\d+(?:{dec}\d+)?", s):
        return sign * float(s.replace(decimal, "."))
    for group in ("," if decimal == "." else ".", *_GROUP_SPACES):
        if re.fullmatch(rf"\d{{1,3}}(?:{re.escape(group)}\d{{3}})+(?:{dec}\d+)?", s):
            return sign * float(s.replace(group, "").replace(decimal, "."))
    return None


def _number_hint(decimal: str) -> str:
    if decimal == ",":
        return ("in a ;-separated file ',' is the decimal mark and '.' or a space groups thousands: "
                "write 12345, 12.345 or 12 345")
    return ("in a comma- or tab-separated file '.' is the decimal mark and ',' or a space groups thousands: "
            "write 12345, 12,345 or 12 345 (for decimal commas save the file with ; as separator)")


def _find_column(df: pd.DataFrame, name: str) -> str | None:
    """The column called ``name``: exactly, else by :func:`_norm_header`."""
    if name in df.columns:
        return name
    want = _norm_header(name)
    return next((c for c in df.columns if _norm_header(c) == want), None)


def census_population_column(df: pd.DataFrame, *, population_column: str | None = None,
                             source: str = "census") -> tuple[str, int | None]:
    """The census column holding the population and the year it names (``None`` if none).

    ``population_column`` if given; else the first of ``population``, ``pop_YYYY`` (also
    ``popYYYY``, ``population_YYYY``; the most recent year when there are several),
    ``pop``, ``inhabitants``, ``residents``, ``人口``, ``常住人口`` - headers compared
    case-insensitively, without surrounding spaces or BOM.

    Raises
    ------
    SchemaError
        ``population_column`` is not a column, or no column is recognised (the message lists
        the columns and names ``--population-column``).
    """
    cols = [str(c) for c in df.columns]
    if population_column is not None:
        col = _find_column(df, population_column)
        if col is None:
            msg = (f"{source}: no column {population_column!r} (--population-column); the file has {cols}")
            raise SchemaError(msg)
        m = _POP_YEAR.match(_norm_header(col))
        return col, int(m.group(1)) if m else None
    col = _find_column(df, "population")
    if col is not None:
        return col, None
    years = sorted((int(m.group(1)), c) for c in df.columns if (m := _POP_YEAR.match(_norm_header(c))))
    if years:
        year, col = years[-1]
        if len(years) > 1:
            logger.info("%s: population from column %r, the most recent of %s", source, col,
                        [c for _, c in years])
        return col, year
    for name in POPULATION_FALLBACKS:
        col = _find_column(df, name)
        if col is not None:
            return col, None
    msg = (f"{source}: no population column (population, pop_YYYY, pop, inhabitants, residents); the file has "
           f"{cols}; name it with --population-column")
    raise SchemaError(msg)


def _numbers(df: pd.DataFrame, col: str, *, decimal: str, source: str, what: str) -> np.ndarray:
    """Column ``col`` as floats; one-line error at the first cell that is not a number."""
    out = np.empty(len(df), dtype=float)
    for i, (row, raw) in enumerate(zip(df.index, df[col], strict=True)):
        text = "" if pd.isna(raw) else str(raw)
        value = parse_number(text, decimal=decimal)
        if value is None:
            fix = f"give {what}" if not text.strip() else _number_hint(decimal)
            msg = (f"{source}: row {row} ({_ROWS}), column {col!r}: {text!r} is not a number; {fix}")
            raise SchemaError(msg)
        out[i] = value
    return out


def _match_keys(df: pd.DataFrame, districts: gpd.GeoDataFrame, *, name_column: str | None,
                source: str) -> np.ndarray:
    """Position in ``districts`` of each census row, by ``adcode`` or by district name."""
    candidates: list[tuple[str, str, list[str], dict[str, int]]] = []
    code_col = _find_column(df, "adcode")
    if code_col is not None:
        codes = districts["adcode"].astype(str).map(_norm_code).tolist()
        candidates.append((code_col, "adcode", [_norm_code(v) for v in df[code_col]],
                           {c: i for i, c in enumerate(codes)}))
    name_col = next((c for n in (name_column, *NAME_GUESSES) if n and (c := _find_column(df, n)) is not None),
                    None)
    if name_col is not None:
        lookup: dict[str, int] = {}
        for i, n in enumerate(districts["name"].astype(str)):
            lookup.setdefault(_norm_name(n), i)
        candidates.append((name_col, "name", [_norm_name(v) for v in df[name_col]], lookup))
    if not candidates:
        msg = (f"{source}: no 'adcode' or district name column (name, name_zh, district, 名称 or the "
               f"--name-column) to match the districts; the file has {[str(c) for c in df.columns]}")
        raise SchemaError(msg)
    # the key matching the most rows; adcode first on a tie
    hits = [sum(k in cand[3] for k in cand[2]) for cand in candidates]
    col, kind, keys, lookup = candidates[hits.index(max(hits))]
    if len(candidates) > 1:
        logger.info("%s: rows matched to the districts by %s (column %r)", source, kind, col)
    for row, key, raw in zip(df.index, keys, df[col], strict=True):
        if key in lookup:
            continue
        if not key:
            msg = f"{source}: row {row} ({_ROWS}) has no {kind} in column {col!r}; fill it in or delete the row"
            raise SchemaError(msg)
        valid = sorted(districts[kind].astype(str))
        close = difflib.get_close_matches(str(raw).strip(), valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        msg = (f"{source}: row {row} ({_ROWS}), column {col!r}: {str(raw).strip()!r} is not a district of the "
               f"districts file; {hint}valid {kind}s: {valid}")
        raise SchemaError(msg)
    pos = np.array([lookup[k] for k in keys], dtype=int)
    seen: dict[int, int] = {}
    for row, i in zip(df.index, pos, strict=True):
        if i in seen:
            msg = (f"{source}: rows {seen[i]} and {row} ({_ROWS}) are both district "
                   f"{districts['name'].iloc[i]!r}; give one row per district")
            raise SchemaError(msg)
        seen[i] = row
    return pos


def read_census(path: str | os.PathLike[str], districts: gpd.GeoDataFrame, *,
                name_column: str | None = None, population_column: str | None = None,
                encoding: str | None = None) -> pd.DataFrame:
    """Census rows matched to the districts.

    The file is a CSV separated by ``,``, ``;`` or tab, in UTF-8 (with or without BOM),
    GB 18030 or Windows-1252 / Latin-1 - all detected (:func:`cityplan.io.read.read_table`,
    the choices are logged). Numbers follow the file's decimal mark: ``,`` in ``;``-separated
    files, ``.`` in the others (:func:`parse_number` lists the forms accepted). Rows are
    named in messages by their spreadsheet row number (the header is row 1).

    Parameters
    ----------
    path : path-like
        The census CSV.
    districts : GeoDataFrame
        The districts (:func:`read_districts`): ``adcode`` and ``name``.
    name_column : str, optional
        Census column with the district names (``--name-column``); default ``name``,
        ``name_zh``, ``district`` or ``名称``, any case. Rows are matched by ``adcode`` when
        the census has one and it matches; else by name, ignoring case, surrounding and
        repeated spaces and Unicode composition (NFC).
    population_column : str, optional
        Census column with the population (``--population-column``); default: see
        :func:`census_population_column`.
    encoding : str, optional
        Text encoding (``--encoding``), overriding detection.

    Returns
    -------
    DataFrame
        ``adcode, name, population, pop_2020, urban_share, population_year``: ``adcode`` and
        ``name`` as in ``districts``; ``population`` (integers when every value is whole);
        ``pop_2020`` the same numbers when the source column names 2020 or no year, else
        empty (a ``pop_2022`` census is not a 2020 one); ``urban_share`` 0-1, default 1
        (every resident urban); ``population_year`` the year the column names, or empty.

    Raises
    ------
    SchemaError
        No population column, no key column, a population that is not a number >= 0, an
        ``urban_share`` outside 0-1, a row naming no district of the districts file or two
        rows naming the same one.
    EncodingError
        A file in an encoding that is not detected or not the one given.
    """
    p = Path(path)
    source = f"--census {p}"
    df = read_table(p, encoding=encoding, as_text=True)
    decimal = df.attrs.get("decimal", ".")
    pop_col, year = census_population_column(df, population_column=population_column, source=source)
    logger.info("%s: population from column %r%s", source, pop_col, f" ({year})" if year else "")
    pos = _match_keys(df, districts, name_column=name_column, source=source)
    pop = _numbers(df, pop_col, decimal=decimal, source=source, what="the number of residents (0 if none)")
    neg = np.flatnonzero(pop < 0)
    if len(neg):
        row = df.index[neg[0]]
        msg = (f"{source}: row {row} ({_ROWS}), column {pop_col!r}: {df[pop_col].iloc[neg[0]]!r} is negative; "
               "give a number of residents >= 0")
        raise SchemaError(msg)
    frac = np.flatnonzero(pop != np.floor(pop))
    if len(frac):
        raw = str(df[pop_col].iloc[frac[0]]).strip()
        three = re.search(rf"{re.escape(decimal)}\d{{3}}$", raw) is not None
        logger.warning("%s: %d population(s) are not whole numbers, e.g. row %s %r read as %s%s", source,
                       len(frac), df.index[frac[0]], raw, pop[frac[0]],
                       f"; if {decimal!r} groups thousands there, save the file with "
                       f"{';' if decimal == '.' else ','} as separator" if three else "")
    share_col = _find_column(df, "urban_share")
    if share_col is not None:
        share = _numbers(df, share_col, decimal=decimal, source=source, what="a share between 0 and 1")
        bad = np.flatnonzero((share < 0) | (share > 1))
        if len(bad):
            msg = (f"{source}: row {df.index[bad[0]]} ({_ROWS}), column {share_col!r}: "
                   f"{df[share_col].iloc[bad[0]]!r} is not a share between 0 and 1; write e.g. 0.85 for 85 %")
            raise SchemaError(msg)
    else:
        share = np.ones(len(df))
    whole = bool((pop == np.floor(pop)).all())
    population = pd.array(pop.astype("int64") if whole else pop, dtype="Int64" if whole else "Float64")
    legacy = year in (None, 2020)
    pop_2020 = population if legacy else pd.array([pd.NA] * len(pop), dtype=population.dtype)
    hit = districts.iloc[pos]
    return pd.DataFrame({
        "adcode": hit["adcode"].astype(str).to_numpy(), "name": hit["name"].to_numpy(),
        "population": population, "pop_2020": pop_2020, "urban_share": share.astype(float),
        "population_year": pd.array([year] * len(pop), dtype="Int64"),
    })
