"""The storage contract of the one map: one interface, two backends (GeoPackage, PostGIS).

A :class:`Store` holds raw tables; :class:`cityplan.onemap.OneMap` (opened once per command)
sits on top of it and adds the catalog, roles, working CRS and in-memory caching. Analyses
never talk to a store directly.

Table names every backend holds after a build:

* one table per catalog layer (layer id = table name), geometry column ``geometry`` in the
  storage CRS (EPSG:4326 or EPSG:4490);
* ``cityplan_catalog`` (one row per layer), ``cityplan_ledger`` (build repairs/drops),
  ``cityplan_build_info`` (key/value), ``cityplan_profile`` (the city profile's files, as built);
* ``cityplan_cache`` (derived arrays keyed by build; see :meth:`Store.read_cache`);
* the declared append-only ledgers (progress events, reviews, accounts, audit) created on
  first use by :meth:`Store.append_rows` and the shared state of :meth:`Store.shared`
  (sessions, failed logins); both survive rebuilds (:mod:`cityplan.store.tables`).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cityplan.store.shared import SharedState

CATALOG_TABLE = "cityplan_catalog"
LEDGER_TABLE = "cityplan_ledger"
INFO_TABLE = "cityplan_build_info"
CACHE_TABLE = "cityplan_cache"
STYLES_TABLE = "layer_styles"
#: the city profile the map was built with (one row per profile file: path, text, sha256)
PROFILE_TABLE = "cityplan_profile"
#: tables a build writes (everything else but layers is kept across rebuilds)
BUILD_TABLES = (CATALOG_TABLE, LEDGER_TABLE, INFO_TABLE, PROFILE_TABLE)
#: builds a store keeps by default: the current one and the four before it (``cityplan build --keep``)
DEFAULT_KEEP = 5
#: columns of :meth:`Store.builds`
BUILD_COLUMNS = ["build_id", "built_at", "current", "profile_sha256", "sources_sha256", "location"]


@dataclass(frozen=True)
class LayerMeta:
    """What a build writes beside a layer: titles for ``gpkg_contents``/comments, a QML style."""

    title: str = ""
    description: str = ""
    qml: str = ""
    sld: str = ""


@dataclass
class BuildPayload:
    """Everything one build writes, handed to :meth:`Store.replace_map` in one piece."""

    layers: dict[str, pd.DataFrame]          # layer id -> (Geo)DataFrame, storage CRS
    catalog: pd.DataFrame
    ledger: pd.DataFrame
    info: dict[str, str]
    profile: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "text", "sha256"]))
    meta: dict[str, LayerMeta] = field(default_factory=dict)


class Store(abc.ABC):
    """Raw table storage of one one-map. Implementations: GpkgStore, PostgisStore.

    Every method raises :class:`cityplan.errors.OneMapError` (exit code 2, one line naming the
    location and the fix) for user-caused problems: missing/damaged file, unreachable server,
    wrong password, no PostGIS, a schema or file that is not a cityplan one map.
    """

    #: ``"gpkg"`` or ``"postgis"``
    kind: str = ""

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """Where the map lives, for messages (file path, or URL with the password masked)."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """True when a built one map is there (build info table present)."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise OneMapError unless this is a readable, built cityplan one map."""

    @abc.abstractmethod
    def list_tables(self) -> tuple[str, ...]:
        """Names of all layers and tables."""

    @abc.abstractmethod
    def read(self, name: str, *, bbox: tuple[float, float, float, float] | None = None,
             columns: Sequence[str] | None = None, where: Mapping[str, str | int] | None = None) -> pd.DataFrame:
        """A layer (GeoDataFrame, storage CRS) or table (DataFrame); ``bbox`` in storage CRS;
        ``where`` keeps the rows whose columns equal the given values (bound, never spliced raw)."""

    @abc.abstractmethod
    def replace_map(self, payload: BuildPayload, *, overwrite: bool, keep: int = DEFAULT_KEEP) -> None:
        """Write a whole build atomically for readers.

        A reader sees either the old map or the new one, never a mix: the GeoPackage is written
        to a temp file and renamed; PostGIS builds into a fresh schema and swaps it in one
        transaction. Append-only tables (progress events, audit, reviews) and the user accounts
        of the previous map are carried over. ``overwrite=False`` and an existing map ->
        OutputExistsError.

        The replaced build is kept (read-only, for ``cityplan diff`` and the web's build history)
        so that at most ``keep`` builds exist, the new one included: the GeoPackage keeps earlier
        files in ``MAP.gpkg.builds/``, PostGIS earlier schemas ``<schema>__b_<build id>``.
        ``keep=1`` keeps none.
        """

    def builds(self) -> pd.DataFrame:
        """The current build and the kept earlier ones, newest first (``BUILD_COLUMNS``;
        ``location`` opens that build with :meth:`cityplan.onemap.OneMap.open`)."""
        info = self.read_info()
        return pd.DataFrame([{"build_id": info.get("build_id", ""), "built_at": info.get("built_at", ""),
                              "current": True, "profile_sha256": info.get("profile_sha256", ""),
                              "sources_sha256": info.get("sources_sha256", ""), "location": self.label}],
                            columns=BUILD_COLUMNS)

    def read_info(self) -> dict[str, str]:
        """The build info table as a dict."""
        t = self.table_or_empty(INFO_TABLE)
        return dict(zip(t["key"].astype(str), t["value"].astype(str), strict=True)) if len(t) else {}

    # -- caches: plain numpy arrays, never pickles ----------------------------------------
    @abc.abstractmethod
    def read_cache(self, key: str, build: str) -> dict[str, np.ndarray] | None:
        """Arrays stored under ``key`` for build stamp ``build``; None if absent or stale."""

    @abc.abstractmethod
    def write_cache(self, key: str, build: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store numeric / fixed-width-unicode arrays (no object dtype) under ``key``.

        Older builds' entries for the key are removed. Failure to write (read-only file)
        is logged, not raised.
        """

    # -- append-only tables ----------------------------------------------------------------
    @abc.abstractmethod
    def append_rows(self, table: str, rows: pd.DataFrame, *, key: Sequence[str] = ()) -> int:
        """Append ``rows`` to the declared ledger ``table`` in one transaction.

        The table is created from its declaration (:mod:`cityplan.store.tables`) on first use.
        Rows whose declared key equals an existing row's are skipped by the database's unique
        index (idempotent re-import), atomically against concurrent writers; ``key``, when
        given, must be the declared key. A column the table does not declare is refused
        (SchemaError). Returns the number of rows inserted. Never updates or deletes.
        """

    @abc.abstractmethod
    def append_many(self, batches: Mapping[str, pd.DataFrame]) -> dict[str, int]:
        """:meth:`append_rows` for several ledgers in one transaction: all rows or none (a review
        is stored only with its audit row). Returns the rows inserted per table."""

    @abc.abstractmethod
    def shared(self) -> SharedState:
        """The map's shared state (sessions, failed logins) for every process serving it."""

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Store]:
        """Reads inside the block come from one build (PostGIS holds the swap off meanwhile)."""
        yield self

    def table_or_empty(self, name: str, *, columns: Sequence[str] | None = None,
                       where: Mapping[str, str | int] | None = None) -> pd.DataFrame:
        """The table (its ``columns``, the rows matching ``where``), or an empty frame when it does
        not exist yet."""
        if name in self.list_tables():
            return self.read(name, columns=columns, where=where)
        return pd.DataFrame()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
