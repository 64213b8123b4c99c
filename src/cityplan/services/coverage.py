"""Coverage of every preset, computed once per build and stored in the one map: the use cases the
district dashboards, the district report, ``cityplan coverage store`` and the monitor share.

Every server process, the dashboard and the report read the same stored results
(:mod:`cityplan.services.coverage_store`: per-district figures in the declared ledgers
``cityplan_coverage_runs`` / ``cityplan_coverage_districts``, the detail in the build's cache).
Each result's headline is the existing scenario (real facilities only); the planned rows are beside
it in ``by_scenario`` (:meth:`cityplan.coverage.CoverageResult.scenario_rows`), with how many plan
sites are illustrative; illustrative sites are never counted in the headline.

Public API
----------
``coverage_runs(om, presets=None, *, transit=True) -> list[RunSpec]``
    The runs a build stores: every preset of the profile, and the time-limited walking presets again
    by transit (walk + metro) when the map has a metro (run id ``PRESET+transit``).
``stored_districts(om, preset, *, build=None, variant="") -> DataFrame | None``
    The stored per-district figures of ``preset`` for ``build`` (default: the current build; any
    older build id of :func:`stored_builds` works too): one row per scenario (``existing``,
    ``planned``, ``difference``), network and district (``(all)`` = the city), columns as
    :func:`cityplan.coverage.run.aggregate_districts`; None when that build has no stored run of it.
``stored_builds(om) -> DataFrame``
    The builds with stored runs: ``build_id``, ``runs``, ``first_at``, ``last_at``.
``stored_result(om, preset, *, variant="") -> StoredRun | None``
    The whole stored result of the current build (figures, compounds with their 街道, gaps,
    isochrones, facilities) as a :class:`~cityplan.coverage.CoverageResult`; None when not stored.
``ensure_stored(om, presets=None, *, transit=True, progress=None, retry_failed=False) -> dict[str, str]``
    Compute and store the runs the current build lacks (in this thread); returns each run's state.
``uncovered_list(om, preset, adcode) -> GeoDataFrame | None``
    The uncovered compounds of a district (:func:`cityplan.coverage.run.uncovered_compounds`) with
    their 街道 and geometry, from the stored result; :func:`write_uncovered` exports it (CSV/XLSX
    formula-safe, GeoJSON).
:class:`CoverageCache`
    A server process's view: computes missing runs in a background thread when no other process
    does (a claim row in the map's shared state, not process memory, says who computes).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd

from cityplan.coverage import get_preset, load_presets, preset_availability, run_coverage
from cityplan.services import coverage_store as cs
from cityplan.services.coverage_store import NOT_KNOWN, StoredRun
from cityplan.store.tables import COVERAGE_CLAIMS, COVERAGE_RUNS, epoch, utc_now

logger = logging.getLogger(__name__)

TRANSIT = "transit"
#: a claim whose holder has not been heard of for this long is taken over (the process died)
STALE_CLAIM_S = 600.0
#: run states
DONE, FAILED, UNAVAILABLE, COMPUTING, MISSING = "done", "failed", "unavailable", "computing", "missing"


@dataclass(frozen=True)
class RunSpec:
    """One stored run: a preset, by its own method or again by transit."""

    preset: str
    variant: str = ""

    @property
    def run(self) -> str:
        """The run id (``ice-30min``, ``ice-30min+transit``)."""
        return f"{self.preset}+{self.variant}" if self.variant else self.preset


def coverage_runs(om: Any, presets: list[str] | None = None, *, transit: bool = True) -> list[RunSpec]:
    """Every preset of the profile (or ``presets``), then the transit runs (see the module doc)."""
    from cityplan.network.graph import load_speeds

    every = load_presets(om.profile)
    wanted = list(presets) if presets else list(every)
    out = [RunSpec(pid) for pid in wanted]
    if transit and om.layer_id_for("metro_stations", required=False) and load_speeds(om.profile).get("transit"):
        out += [RunSpec(pid, TRANSIT) for pid in wanted
                if pid in every and every[pid].within.unit == "s" and every[pid].method == "walk"]
    return out


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


# ---------------------------------------------------------------------------------- reading
def run_states(om: Any, build: str | None = None) -> dict[str, tuple[str, str, pd.Series]]:
    """``run -> (state, reason, ledger row)`` of the stored runs of ``build``; a run with a ``done``
    row is done whatever failed before it."""
    t = cs.runs_table(om, build)
    out: dict[str, tuple[str, str, pd.Series]] = {}
    rank = {DONE: 0, UNAVAILABLE: 1, FAILED: 2}
    for _, r in t.sort_values("computed_at", kind="stable").iterrows():
        have = out.get(r["run"])
        if have is None or rank.get(str(r["status"]), 9) < rank.get(have[0], 9):
            out[str(r["run"])] = (str(r["status"]), str(r["reason"] or ""), r)
    return out


def stored_builds(om: Any) -> pd.DataFrame:
    """The builds with stored coverage runs (``build_id``, ``runs``, ``first_at``, ``last_at``), oldest first."""
    t = om.store.table_or_empty(COVERAGE_RUNS.name)
    if t.empty:
        return pd.DataFrame(columns=["build_id", "runs", "first_at", "last_at"])
    done = t[t["status"] == DONE]
    g = done.groupby("build_id")["computed_at"]
    out = pd.DataFrame({"runs": done.groupby("build_id")["run"].nunique(), "first_at": g.min(), "last_at": g.max()})
    return out.reset_index().sort_values("first_at").reset_index(drop=True)


def stored_districts(om: Any, preset: str, *, build: str | None = None, variant: str = "") -> pd.DataFrame | None:
    """The stored per-district figures of ``preset`` for ``build`` (default the current build); None
    when not stored. See the module doc."""
    import json

    run = RunSpec(preset, variant).run
    state = run_states(om, build).get(run)
    if state is None or state[0] != DONE:
        return None
    rows = cs.district_rows(om, run, build)
    return cs.figures_frame(rows, json.loads(state[2]["columns_json"]))


def stored_result(om: Any, preset: str, *, variant: str = "", states: dict | None = None) -> StoredRun | None:
    """The stored result of ``preset`` for the current build (None when not stored)."""
    run = RunSpec(preset, variant).run
    state = (states if states is not None else run_states(om)).get(run)
    if state is None or state[0] != DONE:
        return None
    return cs.read_run(om, run, state[2])


def compute_run(om: Any, spec: RunSpec, *, by: str = "", store: bool = True) -> tuple[str, str, Any]:
    """Compute one run (and store it): ``(state, reason, result or None)``; an unavailable preset
    (a role the map lacks) and a failure are stored as such, with the reason."""
    try:
        available, why = preset_availability(get_preset(spec.preset, om.profile), om)
    except Exception as exc:  # noqa: BLE001 - an unknown preset is a stored failure, never fatal here
        available, why = False, str(exc)
    if not available:
        if store:
            cs.store_run(om, spec.run, spec.preset, spec.variant, status=UNAVAILABLE, reason=why, by=by)
        return UNAVAILABLE, why, None
    t0 = time.perf_counter()
    try:
        res = run_coverage(om, preset=spec.preset, **({"method": TRANSIT} if spec.variant == TRANSIT else {}))
    except Exception as exc:  # noqa: BLE001 - shown on the dashboard, never fatal
        logger.warning("coverage %s failed: %s", spec.run, exc)
        if store:
            cs.store_run(om, spec.run, spec.preset, spec.variant, status=FAILED, reason=str(exc), by=by,
                         seconds=time.perf_counter() - t0)
        return FAILED, str(exc), None
    if store:
        cs.store_run(om, spec.run, spec.preset, spec.variant, res, seconds=time.perf_counter() - t0, by=by)
    return DONE, "", res


def ensure_stored(om: Any, presets: list[str] | None = None, *, transit: bool = True,
                  progress: Callable[[str], None] | None = None, retry_failed: bool = False,
                  heartbeat: Callable[[], None] | None = None) -> dict[str, str]:
    """Compute and store, in this thread, every run of :func:`coverage_runs` the current build lacks
    (``retry_failed``: also those that failed). Returns ``run -> state``. ``progress`` is told
    ``RUN: computing`` before a run is computed and ``RUN: STATE`` once per run when it is there."""
    step = progress or (lambda _s: None)
    states = run_states(om)
    out: dict[str, str] = {}
    by = _me()
    for spec in coverage_runs(om, presets, transit=transit):
        have = states.get(spec.run)
        if have is not None and (have[0] != FAILED or not retry_failed):
            out[spec.run] = have[0]
            step(f"{spec.run}: stored")
            continue
        step(f"{spec.run}: computing")
        out[spec.run] = compute_run(om, spec, by=by)[0]
        step(f"{spec.run}: {out[spec.run]}")
        if heartbeat is not None:
            heartbeat()
    return out


def uncovered_list(om: Any, preset: str, adcode: str, *, stored: StoredRun | None = None) -> gpd.GeoDataFrame | None:
    """The district's uncovered compounds of the headline scenario, with their 街道 (``subdistrict``)
    and geometry (WGS84), from the stored result (None when not stored): the one list the
    dashboard shows and exports and the report prints."""
    from cityplan.coverage.run import COMPOUND_COLUMNS, uncovered_compounds

    st = stored or stored_result(om, preset)
    if st is None:
        return None
    res = st.result
    f = res.features
    mask = (f["adcode"].astype(str) == str(adcode)) & ~f["covered"].astype(bool)
    table = uncovered_compounds(res, adcode)
    table.insert(COMPOUND_COLUMNS.index("district") + 1, "subdistrict", st.subdistrict[mask.to_numpy()])
    table.insert(0, "preset", preset)
    return gpd.GeoDataFrame(table, geometry=f.geometry[mask].to_crs("EPSG:4326").to_numpy(), crs="EPSG:4326")


#: the formats :func:`write_uncovered` writes
UNCOVERED_FORMATS = ("csv", "xlsx", "geojson")


def write_uncovered(table: gpd.GeoDataFrame, path: Any, fmt: str) -> Any:
    """Write an :func:`uncovered_list` as CSV / XLSX (text cells formula-safe,
    :mod:`cityplan.io.safecells`) or GeoJSON (WGS84), atomically; returns the path."""
    from pathlib import Path

    from cityplan.io.write import atomic_path, write_table

    if fmt not in UNCOVERED_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(UNCOVERED_FORMATS)}")
    p = Path(path)
    if fmt == "geojson":
        with atomic_path(p, overwrite=True) as tmp:
            tmp.write_text(table.to_json(drop_id=True, ensure_ascii=False, na="null"), encoding="utf-8")
        return p
    return write_table(pd.DataFrame(table.drop(columns="geometry")), p, fmt=fmt, overwrite=True,
                       sheet_name="uncovered")


# ---------------------------------------------------------------------------------- claims
def claim(om: Any, who: str, *, stale_s: float = STALE_CLAIM_S) -> bool:
    """Claim the computing of the current build's runs for ``who`` (True: this caller computes).
    A claim nobody has renewed for ``stale_s`` seconds is taken over."""
    state = om.store.shared()
    row = {"build_id": om.build_stamp, "claimed_by": who, "claimed_at": utc_now(), "seen_at": utc_now()}
    if state.insert(COVERAGE_CLAIMS, row):
        return True
    state.delete(COVERAGE_CLAIMS, {"build_id": om.build_stamp}, before=("seen_at", utc_now(time.time() - stale_s)))
    return state.insert(COVERAGE_CLAIMS, row)


def claimed(om: Any, *, stale_s: float = STALE_CLAIM_S) -> str | None:
    """Who computes the current build's runs now (None: nobody, or a stale claim)."""
    rows = om.store.shared().select(COVERAGE_CLAIMS, {"build_id": om.build_stamp})
    if not rows or epoch(rows[0]["seen_at"]) < time.time() - stale_s:
        return None
    return str(rows[0]["claimed_by"])


def _renew(om: Any, who: str) -> None:
    om.store.shared().upsert(COVERAGE_CLAIMS, {"build_id": om.build_stamp, "claimed_by": who,
                                                "claimed_at": utc_now(), "seen_at": utc_now()})


def _release(om: Any, who: str) -> None:
    om.store.shared().delete(COVERAGE_CLAIMS, {"build_id": om.build_stamp, "claimed_by": who})


class CoverageCache:
    """A server process's view of the stored coverage of its map's current build.

    :meth:`start` computes the runs the build lacks in one background thread, unless another
    process (or host) holds the build's claim; every process reads the stored results. What a
    page shows per preset: :meth:`state` (``done``, ``computing``, ``failed``, ``unavailable``).
    """

    def __init__(self, om: Any) -> None:
        self.om = om
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.presets = list(load_presets(om.profile))
        #: runs computed by this process (a counter tests read)
        self.computed: list[str] = []
        #: runs this process computed but could not store (a read-only map): kept here instead
        self.local: dict[str, tuple[str, str, Any]] = {}

    def states(self) -> dict[str, tuple[str, str, Any]]:
        """``run -> (state, reason, row)``: the stored runs of the build (and those kept in memory)."""
        return {**self.local, **run_states(self.om)}

    def start(self) -> None:
        """Start computing the missing runs in the background (no-op when all are stored, this
        process is computing, or another process holds the claim)."""
        specs = coverage_runs(self.om)
        states = self.states()
        if all(s.run in states for s in specs):
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            who = _me()
            try:
                if not claim(self.om, who):
                    return
            except Exception as exc:  # noqa: BLE001 - without shared state this process computes alone
                logger.warning("coverage: no claim possible (%s); computing here", exc)
            self._thread = threading.Thread(target=self._run, args=(who,), name="cityplan-coverage", daemon=True)
            self._thread.start()

    def _run(self, who: str) -> None:
        try:
            states = self.states()
            for spec in coverage_runs(self.om):
                if spec.run in states:
                    continue
                state, why, res = compute_run(self.om, spec, by=who)
                self.computed.append(spec.run)
                if spec.run not in run_states(self.om):  # not stored: shown from this process's memory
                    self.local[spec.run] = (state, why, res)
                _renew(self.om, who)
        except Exception:  # noqa: BLE001 - logged; the pages say what is missing
            logger.exception("coverage: background computing stopped")
        finally:
            try:
                _release(self.om, who)
            except Exception as exc:  # noqa: BLE001
                logger.info("coverage: claim not released (%s)", exc)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for this process's background computing (tests, shutdown)."""
        t = self._thread
        if t is not None:
            t.join(timeout)

    def state(self, preset: str, states: dict | None = None) -> tuple[str, str]:
        """``(state, reason)`` of a preset for the current build."""
        got = (states if states is not None else self.states()).get(preset)
        if got is not None:
            return got[0], got[1]
        return COMPUTING, ""

    def result(self, preset: str, states: dict | None = None) -> StoredRun | None:
        """The stored result of ``preset`` (None when not stored yet; the result in this process's
        memory when the map could not be written)."""
        if preset in self.local:
            state, _why, res = self.local[preset]
            if state != DONE:
                return None
            return StoredRun(run=preset, build=self.om.build_stamp, result=res,
                             subdistrict=cs.subdistrict_names(self.om, res.features), computed_at="")
        return stored_result(self.om, preset, states=states)

    def lookup(self, preset: str) -> Any:
        """The result of ``preset``, or a text saying why there is none yet (computing, failed,
        not a preset of this city): what :func:`cityplan.progress.report.attach_standards` shows."""
        if preset not in self.presets:
            return f"no coverage preset {preset!r}"
        states = self.states()
        st = self.result(preset, states)
        if st is not None:
            return st.result
        state, why = self.state(preset, states)
        if state in (FAILED, UNAVAILABLE):
            return f"not computed: {why}"
        return "计算中 computing… (the page refreshes itself)"

    @property
    def done(self) -> bool:
        """True when every run of the build is stored (done, failed or unavailable)."""
        states = self.states()
        return all(s.run in states for s in coverage_runs(self.om))


__all__ = ["NOT_KNOWN", "CoverageCache", "RunSpec", "StoredRun", "claim", "claimed", "compute_run", "coverage_runs",
           "ensure_stored", "run_states", "stored_builds", "stored_districts", "stored_result", "uncovered_list", "write_uncovered"]
