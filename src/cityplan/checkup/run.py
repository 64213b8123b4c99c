"""The check-up of many cities: city x preset jobs, one Dask task per city (or a serial loop), then outputs.

``run_checkup`` runs, per city, one outline job (district geometries) and one job per preset;
each city's jobs form one task of a ``dask.distributed`` cluster (its presets then share the
layers and caches the worker has read): a ``LocalCluster`` sized to the machine (one process
per core, one thread each) unless ``scheduler="tcp://HOST:PORT"`` names an existing one, or
``scheduler="serial"`` for the same tasks in a plain loop in this process (the reference the
Dask run must equal). Tasks that raise are retried (``retries``); a city whose one map is
missing or broken is reported once, with its one-line error, and every other city completes.
A preset a city's map cannot run (it lacks a role the preset names, e.g. no parking layer) is no
error: the table gets one row for it with ``status`` ``skipped`` and the ``reason``
(``skipped: not available here: needs parking``); every row that ran has ``status`` ``ok``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cityplan._cores import usable_cores
from cityplan._errors import CityplanError
from cityplan.checkup.cities import CheckupError, City, read_cities
from cityplan.checkup.tasks import city_outline, rows_frame, run_city_preset

logger = logging.getLogger(__name__)

#: the 城市体检 coverage indicators cityplan has presets for
STANDARD_PRESETS = ("primary-school-500m", "middle-school-1000m", "park-service-radius", "life-15min",
                    "parking-300m")

Progress = Callable[[int, int, str], None]

#: Dask settings of the check-up's own ``LocalCluster`` workers. A check-up task is one long,
#: CPU-bound call; the worker's sampling profiler (a stack sample every 10 ms, taken under the
#: GIL), its 20 ms event-loop ticks and 100-500 ms system/memory polls only take CPU from it:
#: the jobs took 18 % more CPU seconds on default workers than in a serial loop (100 cities),
#: 4 % with these (300 cities; docs/benchmarks.md, benchmarks/bench_dask_workers.py). An
#: existing cluster (``--scheduler``) keeps its own settings.
LOCAL_WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


@dataclass
class CheckupResult:
    """What a check-up produced."""

    table: pd.DataFrame                    # city x district x preset x scenario (checkup.csv); status, reason
    errors: pd.DataFrame                   # city, location, preset, error (errors.csv)
    outlines: dict[str, dict[str, Any]]    # city -> outline record (district WKB, names)
    tasks: pd.DataFrame                    # city, preset, seconds, worker pid, ok
    cities: list[City]
    presets: tuple[str, ...]
    scheduler: str
    workers: int
    wall_seconds: float
    written: list[Path] = field(default_factory=list)


def check_presets(presets: Sequence[str] | str | None, known: Sequence[str] | None) -> tuple[str, ...]:
    """Preset ids (``"a,b"`` or a list; default :data:`STANDARD_PRESETS`), each one of ``known``
    (the presets of the first city's profile that opens: every city reports on the same
    indicators; None when no city opens - each city then reports its own errors)."""
    if presets is None:
        return STANDARD_PRESETS
    ids = [p.strip() for p in (presets.split(",") if isinstance(presets, str) else presets) if p.strip()]
    bad = [p for p in ids if known is not None and p not in known]
    if bad or not ids:
        msg = (f"--presets {','.join(ids) or '(none)'}: unknown preset(s) {bad}; use ids of "
               f"`cityplan coverage presets`: {', '.join(known or [])}")
        raise CheckupError(msg)
    return tuple(dict.fromkeys(ids))


def run_checkup(
    cities: str | os.PathLike[str] | list[str] | list[City], *, presets: Sequence[str] | str | None = None,
    scheduler: str | None = None, out: str | os.PathLike[str] | None = None, retries: int = 2,
    workers: int | None = None, overwrite: bool = False, progress: Progress | None = None,
    overview_map: bool = True,
) -> CheckupResult:
    """Run ``presets`` for every city and (with ``out``) write the check-up outputs.

    Parameters
    ----------
    cities : folder, list file, or list of paths/URLs or :class:`City`
        ``--cities DIR`` (every ``*.gpkg``, city = file stem) or ``--cities LIST``.
    presets : ids, optional
        Default :data:`STANDARD_PRESETS`.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running scheduler; ``"serial"`` for an in-process loop; default a
        ``LocalCluster`` of ``workers`` processes (default: the machine's cores), 1 thread each.
    out : folder, optional
        Where ``checkup.csv``, ``checkup.xlsx``, ``checkup.parquet``, ``overview.html``,
        ``errors.csv`` and ``tasks.csv`` go (:func:`cityplan.checkup.outputs.write_checkup`).
    retries : int
        Extra attempts of a task that raised (a city's user error is not retried: it is reported).
    progress : callable, optional
        ``progress(done, total, label)`` after each task.

    Raises
    ------
    CheckupError
        No cities, duplicate city names, unknown presets, outputs exist without ``overwrite``.
    """
    from cityplan.checkup.outputs import OUTPUT_FILES, write_checkup
    from cityplan.io.write import check_output

    if isinstance(cities, list) and cities and all(isinstance(c, City) for c in cities):
        todo: list[City] = list(cities)  # type: ignore[arg-type]
    else:
        todo = read_cities([str(c) for c in cities] if isinstance(cities, list) else cities)
    ids = check_presets(presets, _known_presets(todo))
    if retries < 0:
        msg = f"retries {retries!r}: give 0 or more"
        raise CheckupError(msg)
    if out is not None:
        for name in OUTPUT_FILES:
            check_output(Path(out) / name, overwrite=overwrite)
    jobs: list[tuple[str, City, str | None]] = []
    for c in todo:
        jobs.append(("outline", c, None))
        jobs.extend(("preset", c, p) for p in ids)
    t0 = time.perf_counter()
    if scheduler == "serial":
        results, n_workers = _run_serial(jobs, retries, progress), 1
        label = "serial"
    else:
        results, n_workers, label = _run_dask(jobs, scheduler, workers, retries, progress)
    wall = time.perf_counter() - t0
    res = _assemble(todo, ids, jobs, results, label, n_workers, wall)
    if out is not None:
        res.written = write_checkup(res, out, overwrite=overwrite, overview_map=overview_map)
    return res


def _call(kind: str, city: City, preset: str | None) -> dict[str, Any]:
    if kind == "outline":
        return city_outline(city.name, city.location)
    assert preset is not None
    return run_city_preset(city.name, city.location, preset)


def _call_many(jobs: list[tuple[str, City, str | None]]) -> list[dict[str, Any]]:
    """One city's jobs in order, in one task (its layers and caches are read once per worker)."""
    return [_call(*job) for job in jobs]


def _job_label(job: tuple[str, City, str | None]) -> str:
    return f"{job[1].name} {job[2] or 'districts'}"


def _known_presets(cities: list[City]) -> list[str] | None:
    """Preset ids of the first city's profile that opens (read from its one map)."""
    from cityplan.coverage import load_presets
    from cityplan.onemap import OneMap

    for c in cities:
        try:
            om = OneMap.open(c.location)
        except CityplanError:
            continue
        try:
            return list(load_presets(om.profile))
        except CityplanError:
            continue
        finally:
            om.close()
    return None


def _run_serial(jobs: list[tuple[str, City, str | None]], retries: int,
                progress: Progress | None) -> list[dict[str, Any]]:
    out = []
    for i, job in enumerate(jobs):
        for attempt in range(retries + 1):
            try:
                out.append(_call(*job))
                break
            except Exception as exc:  # noqa: BLE001 - retried, then reported like a failed Dask task
                if attempt == retries:
                    out.append({"error": " ".join(f"{type(exc).__name__}: {exc}".split()), "seconds": float("nan"),
                                "pid": os.getpid()})
        if progress:
            progress(i + 1, len(jobs), _job_label(job))
    return out


def local_cluster(n_workers: int) -> Any:
    """The check-up's ``LocalCluster``: ``n_workers`` processes x 1 thread, with :data:`LOCAL_WORKER_CONFIG`.

    The workers' settings are taken when they start (each nanny hands its config to its worker).
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set(LOCAL_WORKER_CONFIG):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                            silence_logs=logging.ERROR)


def _run_dask(jobs: list[tuple[str, City, str | None]], scheduler: str | None, workers: int | None,
              retries: int, progress: Progress | None) -> tuple[list[dict[str, Any]], int, str]:
    from distributed import Client, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="20s")
        label = scheduler
    else:
        n = workers or usable_cores()
        cluster = local_cluster(n)
        client = Client(cluster)
        label = f"LocalCluster({n} processes x 1 thread)"
    try:
        n_workers = len(client.scheduler_info().get("workers", {})) or (workers or 1)
        groups: dict[str, list[int]] = {}  # one Dask task per city: its presets share the loaded map
        for i, job in enumerate(jobs):
            groups.setdefault(job[1].name, []).append(i)
        futures = [client.submit(_call_many, [jobs[i] for i in idx], retries=retries, pure=False,
                                 key=f"checkup-{k}-{name}") for k, (name, idx) in enumerate(groups.items())]
        members = {f.key: idx for f, idx in zip(futures, groups.values(), strict=True)}
        results: list[dict[str, Any] | None] = [None] * len(jobs)
        done = 0
        for fut in as_completed(futures):
            idx = members[fut.key]
            if fut.status == "finished":
                for i, r in zip(idx, fut.result(), strict=True):
                    results[i] = r
            else:
                exc = fut.exception()
                for i in idx:
                    results[i] = {"error": " ".join(f"{type(exc).__name__}: {exc}".split()),
                                  "seconds": float("nan"), "pid": None}
            done += len(idx)
            if progress:
                progress(done, len(jobs), _job_label(jobs[idx[-1]]))
            fut.release()
        return [r if r is not None else {"error": "no result"} for r in results], n_workers, label
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _assemble(cities: list[City], presets: tuple[str, ...], jobs: list[tuple[str, City, str | None]],
              results: list[dict[str, Any]], label: str, n_workers: int, wall: float) -> CheckupResult:
    records, errors, outlines, timing = [], [], {}, []
    failed: set[str] = set()
    for (kind, city, preset), r in zip(jobs, results, strict=True):
        timing.append({"city": city.name, "task": preset or "districts", "seconds": r.get("seconds"),
                       "cpu_seconds": r.get("cpu_seconds"), "worker_pid": r.get("pid"), "ok": "error" not in r})
        if "error" in r:
            if city.name not in failed:  # the first error of a city says it; its other tasks add nothing new
                errors.append({"city": city.name, "location": city.label, "preset": preset or "",
                               "error": r["error"]})
                failed.add(city.name)
            elif not any(e["city"] == city.name and e["error"] == r["error"] for e in errors):
                errors.append({"city": city.name, "location": city.label, "preset": preset or "",
                               "error": r["error"]})
            continue
        if kind == "outline":
            outlines[city.name] = r
        else:
            if r.get("skipped"):  # the city's map cannot run this preset: a row says so, no error
                logger.warning("checkup: %s: preset %s skipped: %s", city.name, preset, r["skipped"])
            records.append(r["rows"])
    table = rows_frame(records)
    err = pd.DataFrame(errors, columns=["city", "location", "preset", "error"])
    return CheckupResult(table=table, errors=err, outlines=outlines, tasks=pd.DataFrame(timing), cities=cities,
                         presets=presets, scheduler=label, workers=n_workers, wall_seconds=wall)
