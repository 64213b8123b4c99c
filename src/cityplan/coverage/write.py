"""Write a coverage result: GeoPackage, per-district / per-feature tables, parameters.

Maps are a presenter's job (:func:`cityplan.maps.coverage_map.coverage_map`); this module only
writes data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from cityplan._errors import OutputExistsError
from cityplan.coverage.run import CoverageResult
from cityplan.crs import STORAGE_CRS
from cityplan.io.write import atomic_path, write_gpkg, write_table


def write_coverage(res: CoverageResult, out: str | os.PathLike[str], *, formats: tuple[str, ...] = ("csv",),
                   overwrite: bool = False) -> list[Path]:
    """Write GeoPackage, per-district and per-feature tables (CSV/XLSX/JSON) and params.json."""
    d = Path(out)
    if d.exists() and any(d.iterdir()) and not overwrite:
        msg = f"{d}: output folder is not empty; pass --overwrite to replace its files"
        raise OutputExistsError(msg)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    feats = res.features.to_crs(STORAGE_CRS)
    written.append(write_gpkg({"demand": feats, "districts": res.districts, "isochrones": res.isochrones,
                               "gaps": res.gaps, "facilities": res.facilities},
                              d / "coverage.gpkg", overwrite=overwrite))
    table = pd.DataFrame(feats.drop(columns="geometry"))
    for fmt in formats:
        if fmt == "xlsx":
            written.append(write_table(res.districts, d / "coverage.xlsx", overwrite=overwrite,
                                       sheets={"features": table, "gaps": pd.DataFrame(res.gaps.drop(columns="geometry"))}))
        else:
            written.append(write_table(res.districts, d / f"per_district.{fmt}", overwrite=overwrite))
            written.append(write_table(table, d / f"per_feature.{fmt}", overwrite=overwrite))
    with atomic_path(d / "params.json", overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps({**res.params, "warnings": res.warnings}, ensure_ascii=False, indent=1,
                                  default=str), encoding="utf-8")
    written.append(d / "params.json")
    return written
