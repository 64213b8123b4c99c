"""The tables a one map keeps beside its build, declared once for every backend.

Two kinds:

* **append-only ledgers** (progress events, reviews, accounts, audit, stored coverage figures per
  build): rows are only ever added;
  a unique key makes re-appending the same row a no-op, checked by the database;
* **shared state** (sessions, failed logins, coverage claims): small tables whose rows are replaced and deleted,
  shared by every server process (and host) serving the map.

Each is a :class:`Table`: columns with one of three portable types, a unique key and indexes.
Both backends create them from the same declaration (:func:`ddl`); nothing is inferred from the
first rows written, and a row carrying a column the table does not declare is refused.

Timestamps are text in one format, UTC ISO 8601 with microseconds (``2026-12-06T23:08:00.123456Z``,
:func:`utc_now`): fixed width, so text order is time order; pages show them in the profile's
time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from cityplan._errors import SchemaError

Kind = Literal["text", "integer", "real"]
Dialect = Literal["sqlite", "postgres"]

_SQL_TYPES: dict[str, dict[str, str]] = {
    "sqlite": {"text": "TEXT", "integer": "INTEGER", "real": "REAL"},
    "postgres": {"text": "text", "integer": "bigint", "real": "double precision"},
}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now(clock: float | None = None) -> str:
    """Now (or the epoch seconds ``clock``) in UTC, the one stored timestamp format."""
    when = dt.datetime.now(dt.UTC) if clock is None else dt.datetime.fromtimestamp(clock, dt.UTC)
    return when.strftime(TIME_FORMAT)


def iso_utc(value: object) -> str:
    """A stored timestamp in the one format (older rows may lack the fraction: ``...:00Z``)."""
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    if len(text) == 20 and text.endswith("Z") and text[10] == "T":
        return text[:19] + ".000000Z"
    return text


def epoch(value: str) -> float:
    """Epoch seconds of a stored timestamp."""
    return dt.datetime.strptime(iso_utc(value), TIME_FORMAT).replace(tzinfo=dt.UTC).timestamp()


@dataclass(frozen=True)
class Table:
    """One declared table: columns ``(name, kind)``, the unique ``key``, more ``indexes``."""

    name: str
    columns: tuple[tuple[str, Kind], ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    #: rows are replaced and deleted (shared state), not only appended
    mutable: bool = False

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return [c for c, _ in self.columns]

    def kind(self, column: str) -> Kind:
        """The declared type of ``column``."""
        return dict(self.columns)[column]

    def conform(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` with exactly the declared columns (missing ones empty), in order.

        Raises
        ------
        SchemaError
            A column the table does not declare, or a row with an empty key.
        """
        extra = [str(c) for c in rows.columns if c not in self.names]
        if extra:
            msg = (f"{self.name}: column(s) {extra} are not declared for this table "
                   f"(it has {', '.join(self.names)}); declare them in cityplan.store.tables")
            raise SchemaError(msg)
        out = pd.DataFrame(index=rows.index)
        for c, kind in self.columns:
            s = rows[c] if c in rows.columns else pd.Series(None, index=rows.index, dtype=object)
            if kind == "text":
                out[c] = s.astype(object).where(s.notna(), None)
                out[c] = out[c].map(lambda v: v if v is None else str(v))
            else:
                out[c] = pd.to_numeric(s, errors="raise").astype(float)
        if len(out):
            bad = out[list(self.key)].isna().any(axis=1).to_numpy().nonzero()[0]
            if len(bad):
                msg = (f"{self.name}: row {int(bad[0])} has an empty key ({', '.join(self.key)}); "
                       "fill the key of every row")
                raise SchemaError(msg)
        return out.reset_index(drop=True)

    def values(self, rows: pd.DataFrame) -> list[tuple[Any, ...]]:
        """Rows of :meth:`conform`-ed data as tuples of plain Python values (None for missing)."""
        kinds = [k for _, k in self.columns]
        out = []
        for r in rows.itertuples(index=False, name=None):
            out.append(tuple(_plain(v, k) for v, k in zip(r, kinds, strict=True)))
        return out

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """One row (a mapping) as a tuple in column order; refuses undeclared columns."""
        extra = [k for k in values if k not in self.names]
        if extra:
            raise SchemaError(f"{self.name}: column(s) {extra} are not declared for this table")
        return tuple(_plain(values.get(c), k) for c, k in self.columns)


def _plain(v: Any, kind: str) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if kind == "integer":
        return int(v)
    if kind == "real":
        return float(v)
    return str(v)


def ddl(table: Table, dialect: Dialect, *, qualified: str | None = None) -> list[str]:
    """``CREATE TABLE/INDEX IF NOT EXISTS`` statements for ``table`` (``qualified``: the quoted
    name to use, e.g. ``"schema"."table"``; indexes are named after the bare table)."""
    types = _SQL_TYPES[dialect]
    name = qualified or _quote(table.name)
    fid = ("fid INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite"
           else "fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    cols = ", ".join(f"{_quote(c)} {types[k]}" for c, k in table.columns)
    out = [f"CREATE TABLE IF NOT EXISTS {name} ({fid}, {cols})"]
    out.append(f"CREATE UNIQUE INDEX IF NOT EXISTS {_quote(table.name + '_key')} ON {name} "
               f"({', '.join(_quote(c) for c in table.key)})")
    for i, idx in enumerate(table.indexes):
        out.append(f"CREATE INDEX IF NOT EXISTS {_quote(f'{table.name}_i{i}')} ON {name} "
                   f"({', '.join(_quote(c) for c in idx)})")
    return out


def add_columns(table: Table, have: Sequence[str], dialect: Dialect, *, qualified: str | None = None) -> list[str]:
    """``ALTER TABLE ... ADD COLUMN`` for declared columns a table written by an older version lacks."""
    types = _SQL_TYPES[dialect]
    name = qualified or _quote(table.name)
    return [f"ALTER TABLE {name} ADD COLUMN {_quote(c)} {types[k]}" for c, k in table.columns if c not in have]


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _t(name: str, cols: str, key: tuple[str, ...], indexes: tuple[tuple[str, ...], ...] = (), *,
       mutable: bool = False, kinds: Mapping[str, Kind] | None = None) -> Table:
    kinds = kinds or {}
    return Table(name, tuple((c, kinds.get(c, "text")) for c in cols.split()), key, indexes, mutable)


#: progress ledger: one row per reported fact (cityplan.progress.events)
PROGRESS_EVENTS = _t(
    "cityplan_progress_events",
    "event_id site_id task_id metric quantity unit status as_of adcode district reported_by note "
    "source_file source_sha256 source_row recorded_at",
    ("source_sha256", "source_row"), (("site_id",), ("adcode",)),
    kinds={"quantity": "real", "source_row": "integer"})
#: stored reviews and their report JSON (cityplan.services.reviews)
REVIEWS = _t(
    "cityplan_reviews",
    "review_id created_at user file_name sha256 stored_file kind crs facility_type project applicant "
    "project_type verdict hits build_id built_at report_json",
    ("review_id",), (("created_at",),), kinds={"hits": "integer"})
#: accounts as events (created, password, disabled, enabled)
USERS = _t("cityplan_users", "event_id user event role adcode district password_hash at by",
           ("event_id",), (("user",),))
#: one row per write and refused write
AUDIT = _t("cityplan_audit", "event_id at who role action target outcome detail client",
           ("event_id",), (("at",),))
#: logged-in browsers, shared by every server process: the id is stored hashed (sha256)
SESSIONS = _t("cityplan_sessions", "sid_hash user csrf created_at seen_at", ("sid_hash",),
              (("user",), ("seen_at",)), mutable=True)
#: failed logins per key (``user:NAME``, ``ip:ADDRESS``), counted by every server process
LOGIN_FAILURES = _t("cityplan_login_failures", "fail_id key at", ("fail_id",), (("key", "at"),),
                    mutable=True)
#: named map views per user, as events (saved, deleted): cityplan.services.bookmarks
BOOKMARKS = _t("cityplan_bookmarks", "event_id user event name view layers at", ("event_id",), (("user",),))

#: coverage runs stored per build (cityplan.services.coverage): one row per preset run and outcome
#: (``done``, ``failed``, ``unavailable``); ``run`` is the preset id, ``PRESET+transit`` for its transit run
COVERAGE_RUNS = _t(
    "cityplan_coverage_runs",
    "build_id run preset variant status reason params_json warnings_json notes_json columns_json computed_at "
    "computed_by seconds",
    ("build_id", "run", "status"), (("build_id",),), kinds={"seconds": "real"})
#: the stored per-district coverage figures of each run: one row per scenario, network and district
#: (``(all)``: the whole city); the detail (compounds, gaps, isochrones) is in the build's cache
COVERAGE_DISTRICTS = _t(
    "cityplan_coverage_districts",
    "build_id run preset row scenario network district adcode population population_covered population_share "
    "residential_area_m2 residential_area_covered_m2 area_share features features_covered "
    "not_snapped_or_unreachable extract_share target_metric target_min meets_target",
    ("build_id", "run", "scenario", "network", "district", "adcode"), (("build_id", "preset"),),
    kinds={**{c: "real" for c in ("population", "population_covered", "population_share", "residential_area_m2",
                                  "residential_area_covered_m2", "area_share", "features", "features_covered",
                                  "not_snapped_or_unreachable", "extract_share", "target_min")},
           "meets_target": "integer", "row": "integer"})
#: which process computes a build's coverage now (one row per build; ``seen_at`` is its heartbeat)
COVERAGE_CLAIMS = _t("cityplan_coverage_claims", "build_id claimed_by claimed_at seen_at", ("build_id",),
                     mutable=True)

LEDGERS = {t.name: t for t in (PROGRESS_EVENTS, REVIEWS, USERS, AUDIT, BOOKMARKS, COVERAGE_RUNS,
                                COVERAGE_DISTRICTS)}
SHARED = {t.name: t for t in (SESSIONS, LOGIN_FAILURES, COVERAGE_CLAIMS)}
DECLARED = {**LEDGERS, **SHARED}


def declared(name: str) -> Table:
    """The declaration of table ``name`` (SchemaError naming the declared tables otherwise)."""
    try:
        return DECLARED[name]
    except KeyError:
        msg = (f"{name!r} is not a declared table of the one map; declared: {', '.join(DECLARED)} "
               "(cityplan.store.tables)")
        raise SchemaError(msg) from None


def ledger(name: str, key: Sequence[str] = ()) -> Table:
    """The declaration of an append-only ledger (``key``, when given, must be its declared key)."""
    spec = declared(name)
    if spec.mutable:
        raise SchemaError(f"{name} holds shared state, not an append-only ledger; use Store.shared()")
    if key and tuple(key) != spec.key:
        msg = f"{name}: its key is ({', '.join(spec.key)}), not ({', '.join(key)}); drop key= or match it"
        raise SchemaError(msg)
    return spec
