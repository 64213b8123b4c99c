"""A city's districts (any vector file) and its census table (CSV).

Districts keep their ``adcode`` when the file has one (else ``D01``, ``D02``... in file
order) and are clipped to the extract, with ``extract_share`` = the share of the district's
area inside it (measured in the working CRS), as the Harbin districts are.

The census CSV needs a ``population`` column (or ``pop_2020``) and a district key:
``adcode`` or the district name (``name``, or the column given as ``name_column``);
``urban_share`` (0-1) is optional, default 1 (every resident counts as urban).
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import MissingCRSError, SchemaError
from cityplan.crs import to_working
from cityplan.io.read import read_table, read_vector

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


def read_census(path: str | os.PathLike[str], districts: gpd.GeoDataFrame, *,
                name_column: str | None = None) -> pd.DataFrame:
    """Census rows matched to the districts: ``adcode, name, population, pop_2020, urban_share``.

    Raises
    ------
    SchemaError
        No population column, no key column, a population that is not a number >= 0, an
        ``urban_share`` outside 0-1, or a row naming no district of the districts file.
    """
    p = Path(path)
    df = read_table(p)
    cols = list(df.columns)
    pop_col = next((c for c in ("population", "pop_2020") if c in cols), None)
    if pop_col is None:
        msg = f"--census {p}: no 'population' (or 'pop_2020') column; the file has {cols}"
        raise SchemaError(msg)
    by_code = "adcode" in cols
    key = "adcode" if by_code else next((c for c in (name_column, "name") if c and c in cols), None)
    if key is None:
        msg = f"--census {p}: no 'adcode' or 'name' column to match the districts; the file has {cols}"
        raise SchemaError(msg)
    pop = pd.to_numeric(df[pop_col], errors="coerce")
    bad = np.flatnonzero((pop.isna() | (pop < 0)).to_numpy())
    if len(bad):
        msg = (f"--census {p}: row {int(bad[0])} column {pop_col!r} is {df[pop_col].iloc[bad[0]]!r}; "
               "give a number of residents >= 0")
        raise SchemaError(msg)
    share = pd.to_numeric(df["urban_share"], errors="coerce") if "urban_share" in cols else pd.Series(1.0, index=df.index)
    bad = np.flatnonzero((share.isna() | (share < 0) | (share > 1)).to_numpy())
    if len(bad):
        msg = f"--census {p}: row {int(bad[0])} urban_share is not a share between 0 and 1"
        raise SchemaError(msg)
    lookup = districts.set_index(districts["adcode" if by_code else "name"].astype(str))
    keys = df[key].astype(str).str.strip()
    unknown = np.flatnonzero(~keys.isin(lookup.index).to_numpy())
    if len(unknown):
        msg = (f"--census {p}: row {int(unknown[0])} {key} {keys.iloc[unknown[0]]!r} is not a district "
               f"of the districts file; valid: {sorted(lookup.index)}")
        raise SchemaError(msg)
    hit = lookup.loc[keys.to_numpy()]
    return pd.DataFrame({"adcode": hit["adcode"].astype(str).to_numpy(), "name": hit["name"].to_numpy(),
                         "population": pop.to_numpy(), "pop_2020": pop.to_numpy(),
                         "urban_share": share.to_numpy(float)})
