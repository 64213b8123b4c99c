"""The one map (一张图) as an object opened once: catalog, roles, working CRS, layers, caches.

``OneMap.open(location)`` takes a GeoPackage path or a ``postgresql://`` URL; analyses take a
``OneMap`` (or, for convenience, anything :meth:`OneMap.coerce` accepts) and find their inputs
by the functional **role** the catalog declares (``layer_for("districts")``), never by a
city-specific layer name.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from cityplan._errors import LayerNotFoundError, OneMapError
from cityplan.paths import default_location
from cityplan.profile import Profile, profile_from_store
from cityplan.store import open_store
from cityplan.store.base import CATALOG_TABLE, INFO_TABLE, LEDGER_TABLE, PROFILE_TABLE, Store

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: values :meth:`OneMap.derived` keeps per map
DERIVED_MAX = 64

__all__ = ["CATALOG_TABLE", "INFO_TABLE", "LEDGER_TABLE", "OneMap", "OneMapLike", "default_location"]

OneMapLike = "OneMap | str | os.PathLike[str] | None"


class OneMap:
    """A built one map, opened once.

    Parameters
    ----------
    store : Store
        The backend (:class:`cityplan.store.gpkg.GpkgStore` or ``PostgisStore``).

    Notes
    -----
    Layers are read once and kept in memory (copies are handed out, so callers may modify
    them). The catalog, build info and working CRS are read on first use.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._layers: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()
        self._derived: OrderedDict[tuple[str, Hashable], Any] = OrderedDict()
        self._derived_lock = threading.Lock()

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | os.PathLike[str] | None = None) -> OneMap:
        """Open the one map at ``location`` (path or URL); default: ``$CITYPLAN_ONEMAP``, else the
        map a ``cityplan.toml`` here or above names (:func:`cityplan.paths.default_location`).

        Raises
        ------
        OneMapError
            Missing, damaged or not a cityplan one map; server unreachable, wrong password...
        """
        loc = location if location is not None else default_location()
        store = open_store(loc)
        store.check()
        return cls(store)

    @classmethod
    def coerce(cls, onemap: OneMap | str | os.PathLike[str] | None) -> OneMap:
        """``onemap`` itself, or the (cached) one map opened at that location."""
        if isinstance(onemap, OneMap):
            return onemap
        loc = onemap if onemap is not None else default_location()
        return _open_cached(loc)

    # -- build history ----------------------------------------------------------------------
    def builds(self) -> pd.DataFrame:
        """This map's current build and the earlier builds its store keeps, newest first
        (:meth:`cityplan.store.base.Store.builds`)."""
        return self.store.builds()

    def open_build(self, build_id: str | None = None, *, back: int = 0) -> OneMap:
        """A kept build of this map (by its id or an unambiguous prefix of at least 6 characters;
        or ``back`` builds before the current one), opened read-only in intent: callers only read.

        Raises
        ------
        OneMapError
            No such build is kept (the message lists those that are).
        """
        from cityplan._errors import OneMapError

        b = self.builds()
        if build_id is None:
            if back >= len(b):
                msg = (f"{self.label}: only {len(b)} build(s) kept, none {back} before the current one; "
                       "rebuild (cityplan build --overwrite) to have one to compare")
                raise OneMapError(msg)
            row = b.iloc[back]
        else:
            want = build_id.strip().lower()
            hit = b[b["build_id"].str.lower().str.startswith(want)] if len(want) >= 6 else b.iloc[:0]
            if len(hit) != 1:
                msg = (f"{self.label}: no kept build {build_id!r}" + (" (ambiguous)" if len(hit) > 1 else "")
                       + f"; kept builds: {', '.join(x[:12] for x in b['build_id'])}")
                raise OneMapError(msg)
            row = hit.iloc[0]
        return self if bool(row["current"]) else OneMap.coerce(str(row["location"]))

    # -- identity ---------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """Where the map lives (path, or URL with the password masked)."""
        return self.store.label

    @property
    def kind(self) -> str:
        """``"gpkg"`` or ``"postgis"``."""
        return self.store.kind

    @property
    def path(self) -> Path | None:
        """The GeoPackage file, or None for a database."""
        return getattr(self.store, "path", None)

    def __repr__(self) -> str:
        return f"OneMap({self.label!r}, built {self.build_stamp})"

    @cached_property
    def build_info(self) -> dict[str, str]:
        """Build time, data folder, catalog and register hashes, CRSs."""
        with self.store.snapshot():
            t = self.store.read(INFO_TABLE)
            info = dict(zip(t["key"].astype(str), t["value"].astype(str), strict=True))
            self.__dict__["catalog"] = _parse_catalog(self.store.read(CATALOG_TABLE))
        return info

    @property
    def build_stamp(self) -> str:
        """Identifies the build (its time stamp); caches are keyed by it."""
        return self.build_info.get("build_id") or self.build_info.get("built_at", "")

    @property
    def catalog(self) -> pd.DataFrame:
        """The ``cityplan_catalog`` table, ``quantities``/``style``/``roles`` parsed."""
        if "catalog" not in self.__dict__:
            self.__dict__.pop("build_info", None)
            _ = self.build_info  # reads build info and catalog in one snapshot
        return self.__dict__["catalog"]

    @cached_property
    def profile(self) -> Profile:
        """The city profile this map was built with (settings, presets, rules, recipes, tasks).

        Read from the map's ``cityplan_profile`` table, never from the working directory.
        """
        names = set(self.store.list_tables())
        table = self.store.read(PROFILE_TABLE) if PROFILE_TABLE in names else None
        return profile_from_store(table, label=self.label)

    @cached_property
    def ledger(self) -> pd.DataFrame:
        """The build's repair/drop ledger."""
        return self.store.read(LEDGER_TABLE)

    @cached_property
    def working_crs(self) -> CRS:
        """The metric CRS analyses measure in: the catalog's, else the GK3 zone of the data."""
        declared = self.build_info.get("working_crs")
        if declared:
            return CRS.from_user_input(declared)
        from cityplan.crs import working_crs

        minx, miny, maxx, maxy = self.extent
        frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy([minx, maxx], [miny, maxy]), crs=4326)
        return working_crs(frame)

    @property
    def working_epsg(self) -> int:
        """EPSG code of :attr:`working_crs`."""
        code = self.working_crs.to_epsg()
        return int(code) if code else 0

    @cached_property
    def extent(self) -> tuple[float, float, float, float]:
        """lon/lat bounds of the map (the catalog's extract box, else the districts' bounds)."""
        box = self.build_info.get("extract_bbox")
        if box:
            vals = json.loads(box)
            return (float(vals[0]), float(vals[1]), float(vals[2]), float(vals[3]))
        b = self.layer_for("districts").to_crs(4326).total_bounds
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))

    @property
    def city(self) -> str:
        """The city's name as the catalog gives it."""
        return self.build_info.get("city", "")

    # -- layers -----------------------------------------------------------------------------
    @property
    def layer_ids(self) -> list[str]:
        """Catalog layer ids in build order."""
        return self.catalog["layer"].astype(str).tolist()

    def has_layer(self, layer_id: str) -> bool:
        """True when ``layer_id`` is a layer of this map."""
        return layer_id in set(self.layer_ids)

    def layer(self, layer_id: str, *, bbox: tuple[float, float, float, float] | None = None) -> Any:
        """One layer (GeoDataFrame in the storage CRS; DataFrame for tables), read once.

        ``bbox`` (lon/lat) reads only the features it touches (not cached).
        """
        if not self.has_layer(layer_id):
            msg = (f"{self.label}: no layer {layer_id!r}; it holds {self.layer_ids}. Rebuild with "
                   "`cityplan build --overwrite` or check the catalog")
            raise LayerNotFoundError(msg)
        if bbox is not None:
            return self.store.read(layer_id, bbox=bbox)
        with self._lock:
            if layer_id not in self._layers:
                self._layers[layer_id] = self._read_current(layer_id)
            return self._layers[layer_id].copy()

    def _read_current(self, name: str) -> pd.DataFrame:
        """Read ``name`` from the build this object was opened on.

        The read and a check of the build stamp happen in one snapshot. If the map was rebuilt
        since it was opened (a shared PostGIS map rebuilt by someone else), the object moves
        to the new build as a whole: catalog, build info and layers are read afresh, so one
        command never combines layers of two builds it knows about.
        """
        with self.store.snapshot():
            t = self.store.read(INFO_TABLE)
            info = dict(zip(t["key"].astype(str), t["value"].astype(str), strict=True))
            stamp = info.get("build_id") or info.get("built_at", "")
            if "build_info" in self.__dict__ and stamp != self.build_stamp:
                logger.info("%s was rebuilt (%s -> %s); reading the new build", self.label,
                            self.build_stamp, stamp)
                for attr in ("build_info", "catalog", "ledger", "working_crs", "extent", "_role_index",
                             "profile"):
                    self.__dict__.pop(attr, None)
                self._layers.clear()
                with self._derived_lock:
                    self._derived.clear()
            self.__dict__["build_info"] = info
            return self.store.read(name)

    def derived(self, key: Hashable, make: Callable[[], T]) -> T:
        """A value derived from this build - prepared review constraints, a reference index -
        made once per build and kept on the one map (the one state holder; no module-level
        caches). Values of an older build are dropped; at most :data:`DERIVED_MAX` are kept.

        ``make`` may run twice when two threads ask at once; both results are equal.
        """
        stamp = self.build_stamp
        with self._derived_lock:
            if (stamp, key) in self._derived:
                self._derived.move_to_end((stamp, key))
                return self._derived[(stamp, key)]
        value = make()
        with self._derived_lock:
            for old in [k for k in self._derived if k[0] != stamp]:
                del self._derived[old]
            self._derived[(stamp, key)] = value
            while len(self._derived) > DERIVED_MAX:
                self._derived.popitem(last=False)
        return value

    @cached_property
    def _role_index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for lid, roles in zip(self.catalog["layer"], self.catalog["roles"], strict=True):
            for role in roles or []:
                index.setdefault(str(role), []).append(str(lid))
        return index

    def layers_with_role(self, role: str) -> list[str]:
        """Ids of the layers declaring the functional ``role`` (catalog order)."""
        return list(self._role_index.get(role, []))

    def layer_id_for(self, role: str, *, required: bool = True) -> str | None:
        """The id of the (first) layer with ``role``; an error naming the catalog key otherwise."""
        ids = self.layers_with_role(role)
        if ids:
            return ids[0]
        if not required:
            return None
        msg = (f"{self.label}: no layer has the role {role!r}; declare `roles: [{role}]` on a layer "
               "of the catalog and rebuild (see docs/catalog.md)")
        raise LayerNotFoundError(msg)

    def layer_for(self, role: str) -> Any:
        """The layer with the functional ``role`` (e.g. ``districts``, ``census``, ``road_graph``)."""
        lid = self.layer_id_for(role)
        assert lid is not None
        return self.layer(lid)

    @property
    def plan_layer_ids(self) -> list[str]:
        """Plan-site layers (catalog role ``plan``)."""
        return self.catalog.loc[self.catalog["role"] == "plan", "layer"].astype(str).tolist()

    def catalog_row(self, layer_id: str) -> Mapping[str, Any]:
        """The catalog row of a layer."""
        row = self.catalog[self.catalog["layer"] == layer_id]
        if row.empty:
            self.layer(layer_id)  # raises with the list of layers
        return row.iloc[0].to_dict()

    # -- caches -----------------------------------------------------------------------------
    def cached_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        """Arrays cached in the store for this build (None when absent)."""
        try:
            return self.store.read_cache(key, self.build_stamp)
        except (OneMapError, TypeError, ValueError) as exc:
            logger.info("cache %s unreadable (%s); recomputing", key, exc)
            return None

    def cache_arrays(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Keep ``arrays`` in the store for this build (plain arrays; never pickles)."""
        self.store.write_cache(key, self.build_stamp, arrays)

    def close(self) -> None:
        """Release the backend's connections."""
        self.store.close()


def _parse_catalog(t: pd.DataFrame) -> pd.DataFrame:
    t = t.copy()
    for col in ("quantities", "style", "roles"):
        if col not in t.columns:
            t[col] = "[]"
        t[col] = t[col].map(lambda s: json.loads(s) if isinstance(s, str) and s else [])
    t["illustrative"] = t["illustrative"].astype(bool)
    if "redistribute" in t.columns:
        t["redistribute"] = t["redistribute"].astype(bool)
    return t


_CACHE: OrderedDict[tuple[str, str], OneMap] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _open_cached(location: str | os.PathLike[str]) -> OneMap:
    """Open ``location`` once per build: the same object for the same build of the same map."""
    om = OneMap.open(location)
    key = (str(location), _identity(om))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            om.close()
            return hit
        _CACHE[key] = om
        while len(_CACHE) > 4:
            _CACHE.popitem(last=False)[1].close()
    return om


def _identity(om: OneMap) -> str:
    p = om.path
    inode = f"{p.stat().st_ino}" if p is not None else ""
    return f"{om.build_stamp}|{inode}"
