"""Read the one-map GeoPackage that `cityplan build` wrote: layers, catalog table, build info."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from cityplan._errors import LayerNotFoundError
from cityplan.paths import default_onemap

try:  # pyarrow makes reading ~40 % faster; everything works without it
    import pyarrow  # noqa: F401

    _ARROW = True
except ImportError:
    _ARROW = False

CATALOG_TABLE = "cityplan_catalog"
LEDGER_TABLE = "cityplan_ledger"
INFO_TABLE = "cityplan_build_info"


def onemap_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The one-map GeoPackage to read; a clear error if it has not been built."""
    p = Path(path) if path is not None else default_onemap()
    if not p.exists():
        msg = f"{p}: one-map GeoPackage not found; run `cityplan build` first (or pass --onemap FILE)"
        raise LayerNotFoundError(msg)
    return p


@lru_cache(maxsize=8)
def _layer_names(path: str, mtime: float) -> tuple[str, ...]:
    return tuple(str(n) for n, _ in pyogrio.list_layers(path))


def layer_names(path: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """Layers and tables of the one map (cached per file version)."""
    p = onemap_path(path)
    return _layer_names(str(p), p.stat().st_mtime)


def read_layer(path: str | os.PathLike[str] | None, layer: str) -> gpd.GeoDataFrame:
    """One layer of the one map, with a message listing the layers if it is missing."""
    p = onemap_path(path)
    names = layer_names(p)
    if layer not in names:
        msg = f"{p}: no layer {layer!r}; it holds {names}. Rebuild with `cityplan build --overwrite`"
        raise LayerNotFoundError(msg)
    return pyogrio.read_dataframe(p, layer=layer, use_arrow=_ARROW)


@lru_cache(maxsize=8)
def _table(path: str, mtime: float, layer: str) -> pd.DataFrame:
    return pyogrio.read_dataframe(path, layer=layer, read_geometry=False)


def _read_table(path: str | os.PathLike[str] | None, layer: str) -> pd.DataFrame:
    p = onemap_path(path)
    return _table(str(p), p.stat().st_mtime, layer).copy()


def read_catalog_table(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The ``cityplan_catalog`` table (one row per layer) with ``quantities``/``style`` parsed."""
    t = _read_table(path, CATALOG_TABLE)
    for col in ("quantities", "style"):
        if col in t.columns:
            t[col] = t[col].map(lambda s: json.loads(s) if isinstance(s, str) and s else [])
    t["illustrative"] = t["illustrative"].astype(bool)
    return t


def read_build_info(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Build time, data folder, catalog and register hashes of the one map."""
    t = _read_table(path, INFO_TABLE)
    return dict(zip(t["key"], t["value"], strict=True))


def read_ledger(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The repair/drop ledger of the build."""
    return _read_table(path, LEDGER_TABLE)


def cache_file(path: str | os.PathLike[str] | None, kind: str, suffix: str) -> Path:
    """A cache file beside the one map for ``kind``, named after the build (older ones removed).

    Derived data (the routing graph, prepared demand) depend only on the one map; naming the
    file after the build time means a rebuild can never serve a stale cache.
    """
    p = onemap_path(path)
    stamp = read_build_info(p).get("built_at", "").replace(":", "")
    current = p.with_name(f"{p.stem}.{kind}.{stamp}{suffix}")
    for old in p.parent.glob(f"{p.stem}.{kind}.*{suffix}"):
        if old != current:
            old.unlink(missing_ok=True)
    return current
