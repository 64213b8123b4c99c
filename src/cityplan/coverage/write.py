"""Write a coverage result: GeoPackage, per-district / per-feature tables, parameters.

Maps are a presenter's job (:func:`cityplan.maps.coverage_map.coverage_map`); this module only
writes data.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from cityplan.coverage.run import CoverageResult
from cityplan.crs import STORAGE_CRS
from cityplan.io.write import LayerView, atomic_folder, atomic_path, write_gpkg, write_table


def _layer_suffix(key: str) -> str:
    return key.replace(" ", "_").replace("+", "_")


def write_coverage(res: CoverageResult, out: str | os.PathLike[str], *, formats: tuple[str, ...] = ("csv",),
                   overwrite: bool = False) -> list[Path]:
    """Write GeoPackage, per-district and per-feature tables (CSV/XLSX/JSON) and params.json.

    Every table says which scenario each figure belongs to: ``per_district`` has a ``scenario``
    column (``existing``, ``planned``, ``difference``; and ``network`` in transit mode), the
    GeoPackage has one isochrone and gap layer per scenario, ``per_feature`` has
    ``covered_existing``, ``covered_planned`` and ``newly_covered``. Transit runs add
    ``network_effect`` (each scenario with and without the counterfactual lines, per district).
    The headline layers (``isochrones``, ``gaps``) and ``per_feature``'s status, distance and time
    are the headline scenario's (``existing``: real facilities only; ``params.json`` ``headline``).
    """
    target = Path(out)
    with atomic_folder(target, overwrite=overwrite) as d:  # a failure half-way leaves no partial set
        written = _write_all(res, d, formats)
    return [target / p.relative_to(d) for p in written]


def _write_all(res: CoverageResult, d: Path, formats: tuple[str, ...]) -> list[Path]:
    overwrite = True  # a fresh temporary folder
    written = []
    feats = res.features.to_crs(STORAGE_CRS)
    districts = res.by_scenario if res.by_scenario is not None else res.districts
    # isochrones / gaps: one layer per scenario, and the headline scenario's (its rows say which);
    # geometry stored once: a scenario that repeats another (planned without a plan site) and the
    # headline layers are views of the layer that holds it (the isochrones and gaps of a large
    # city are the bulk of the file)
    layers: dict[str, pd.DataFrame | LayerView] = {"demand": feats, "districts": districts,
                                                   "facilities": res.facilities}
    for key, r in (res.scenarios or {}).items():
        for kind in ("isochrones", "gaps"):
            if r.same_as in res.scenarios:
                layers[f"{kind}_{_layer_suffix(key)}"] = LayerView(f"{kind}_{_layer_suffix(r.same_as)}",
                                                                   {"scenario": r.scenario})
            else:
                layers[f"{kind}_{_layer_suffix(key)}"] = getattr(r, kind)
    head = next((k for k, r in (res.scenarios or {}).items() if r.isochrones is res.isochrones), None)
    for kind in ("isochrones", "gaps"):
        layers[kind] = LayerView(f"{kind}_{_layer_suffix(head)}") if head else getattr(res, kind)
    if res.network_effect is not None:
        layers["network_effect"] = res.network_effect
    # the GeoPackage (GDAL, mostly outside the GIL) is written while this thread writes the tables
    with ThreadPoolExecutor(1) as pool:
        gpkg = pool.submit(write_gpkg, layers, d / "coverage.gpkg", overwrite=overwrite)
        written += _write_tables(res, feats, districts, d, formats, overwrite)
        written.insert(0, gpkg.result())
    with atomic_path(d / "params.json", overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps({**res.params, "warnings": res.warnings}, ensure_ascii=False, indent=1,
                                  default=str), encoding="utf-8")
    written.append(d / "params.json")
    return written


def _write_tables(res: CoverageResult, feats: pd.DataFrame, districts: pd.DataFrame, d: Path,
                  formats: tuple[str, ...], overwrite: bool) -> list[Path]:
    """Per-district and per-feature tables (and the network effect) in each of ``formats``."""
    written = []
    table = pd.DataFrame(feats.drop(columns="geometry"))
    extra = {"network_effect": res.network_effect} if res.network_effect is not None else {}
    for fmt in formats:
        if fmt == "xlsx":
            sheets = {"features": table, **extra}
            for key, r in (res.scenarios or {}).items():
                sheets[f"gaps {key}"[:31]] = pd.DataFrame(r.gaps.drop(columns="geometry"))
            written.append(write_table(districts, d / "coverage.xlsx", overwrite=overwrite, sheet_name="per_district",
                                       sheets=sheets))
        else:
            written.append(write_table(districts, d / f"per_district.{fmt}", overwrite=overwrite))
            written.append(write_table(table, d / f"per_feature.{fmt}", overwrite=overwrite))
            for name, df in extra.items():
                written.append(write_table(df, d / f"{name}.{fmt}", overwrite=overwrite))
    return written
