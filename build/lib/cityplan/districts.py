"""District names: resolve what users type (南岗区, 南岗, Nangang, 230103) to one district."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from cityplan._errors import DistrictNotFoundError


def _keys(row: pd.Series) -> set[str]:
    name = str(row.get("name") or "")
    keys = {name, str(row.get("adcode") or ""), str(row.get("name_en") or "").lower()}
    if name.endswith(("区", "县", "市")):
        keys.add(name[:-1])
    return {k for k in keys if k}


def resolve_district(name: str, districts: gpd.GeoDataFrame) -> pd.Series:
    """The row of ``districts`` named ``name`` (Chinese with or without 区, English, adcode).

    Raises
    ------
    DistrictNotFoundError
        Listing every valid name as ``南岗区 / Nangang / 230103``.
    """
    wanted = name.strip()
    for _, row in districts.iterrows():
        if wanted in _keys(row) or wanted.lower() in _keys(row):
            return row
    valid = ", ".join(f"{r['name']} / {r.get('name_en', '')} / {r['adcode']}" for _, r in districts.iterrows())
    msg = f"unknown district {name!r}; valid districts of the one map: {valid}"
    raise DistrictNotFoundError(msg)


def district_names(districts: gpd.GeoDataFrame) -> list[str]:
    """Chinese names of the districts, in adcode order."""
    return districts.sort_values("adcode")["name"].astype(str).tolist()


#: district population columns, first found wins (the census year lives in the catalog's titles)
DISTRICT_POPULATION_COLUMNS = ("population", "pop_2020", "pop", "人口")


def district_population(districts: pd.DataFrame) -> pd.Series:
    """Each district's census population (NaN where the map has none), from the first of
    :data:`DISTRICT_POPULATION_COLUMNS` present."""
    col = next((c for c in DISTRICT_POPULATION_COLUMNS if c in districts.columns), None)
    if col is None:
        return pd.Series(float("nan"), index=districts.index)
    return pd.to_numeric(districts[col], errors="coerce")


def population_text(row: pd.Series) -> str:
    """``population 1,234,567`` for a district row, or ``population not in the map``."""
    pop = district_population(row.to_frame().T).iloc[0]
    return f"population {int(pop):,}" if pop == pop else "population not in the map"

