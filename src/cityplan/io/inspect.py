"""Describe a vector file without loading all of it (driver, layers, CRS, schema, encoding)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyogrio

from cityplan.io.encoding import detect_mojibake
from cityplan.io.read import _read_csv, list_file_layers, resolve_layer


def inspect_file(
    path: str | os.PathLike[str], *, layer: str | None = None, encoding: str | None = None,
    sample: int = 200,
) -> dict[str, Any]:
    """Summarise a vector file.

    Reads the header through :func:`pyogrio.read_info` and only ``sample`` rows of
    attributes (no geometry) to check the text encoding.

    Returns
    -------
    dict
        ``path, driver, layers, layer, crs, geometry_type, features, bounds,
        fields (name -> dtype), encoding, mojibake`` where ``mojibake`` is the
        suggested encoding if text looks mis-decoded, else ``None``.
    """
    p = Path(path)
    layers = list_file_layers(p)
    if p.suffix.lower() == ".csv":
        gdf = _read_csv(p, encoding)
        return {
            "path": str(p), "driver": "CSV", "layers": layers, "layer": layers[0], "crs": None,
            "geometry_type": str(gdf.geom_type.dropna().iloc[0]) if gdf.geometry.notna().any() else None,
            "features": len(gdf), "bounds": tuple(float(v) for v in gdf.total_bounds),
            "fields": {c: str(t) for c, t in gdf.drop(columns="geometry").dtypes.items()},
            "encoding": encoding or "utf-8", "mojibake": None,
        }
    # an OSM PBF always holds several layers: default to its first (points) rather than refuse
    lyr = resolve_layer(p, layer or (layers[0] if p.suffix.lower() == ".pbf" else None))
    info = pyogrio.read_info(p, layer=lyr, encoding=encoding, force_feature_count=True,
                             force_total_bounds=True)
    attrs = pyogrio.read_dataframe(p, layer=lyr, encoding=encoding, read_geometry=False,
                                   max_features=sample)
    guess = None
    if encoding is None:
        for col in attrs.columns:
            guess = detect_mojibake(attrs[col].dropna().tolist())
            if guess:
                break
    bounds = info.get("total_bounds")
    return {
        "path": str(p), "driver": info.get("driver"), "layers": layers, "layer": lyr,
        "crs": info.get("crs"), "geometry_type": info.get("geometry_type"),
        "features": int(info.get("features", -1)),
        "bounds": tuple(float(v) for v in bounds) if bounds is not None else None,
        "fields": dict(zip(info["fields"].tolist(), info["dtypes"].tolist(), strict=True)),
        "encoding": encoding or info.get("encoding"), "mojibake": guess,
    }
