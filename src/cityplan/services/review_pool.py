"""Reviews off the caller's thread: a worker process (or a thread) with the one map open and its
rule constraints prepared once per build (used by the web's review desk; no web framework here).

A review is CPU-bound Python (pandas, GEOS): run in the server's own process it holds the GIL and
stalls every layer request. :class:`ReviewPool` runs reviews in ``workers`` spawned processes
(``cityplan serve`` starts 2 on a machine with 2 or more cores) that open the one map once and keep
:func:`cityplan.review.check.review_file`'s per-build constraint cache warm. Only strings cross
the process boundary (paths, options and the intake - project, applicant, project type - in; the
report's JSON, its HTML, verdict and hit count out). ``workers=0`` runs reviews in one background thread instead (one at a time).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import json
import logging
import multiprocessing
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: the review workers' scheduling niceness (the server process keeps its own)
REVIEW_NICENESS = 3
#: reviews waiting beyond this are refused with 503 (the desk says: try again)
MAX_QUEUED = 64
#: a review (or an opinion PDF) running longer than this (seconds) is stopped: its worker
#: process is killed and replaced, and the reviewer is told why (``cityplan serve --review-time-limit``)
TIME_LIMIT = 300.0

_OM: Any = None  # the worker's one map


@dataclass
class Outcome:
    """A finished review: JSON document, HTML report, verdict and hit count; or an error message."""

    doc_json: str = ""
    html: str = ""
    verdict: str = ""
    hits: int = 0
    error: str = ""
    row_json: str = ""  # the stored review's row (when the job stored it)
    layers_json: str = ""  # the review's own map layers (proposal, overlaps) for its page
    status: int = 422  # the HTTP status of ``error`` (422: the file; 503: the server could not store it)


class ReviewBusyError(RuntimeError):
    """Too many reviews queued (answered with 503)."""


def _init_worker(location: str, tmpdir: str) -> None:
    """Open the one map and prepare every rule's constraint (a review of a dot at the centre)."""
    global _OM
    if hasattr(os, "nice"):
        os.nice(REVIEW_NICENESS)  # panning the map comes first when the cores are busy
    tempfile.tempdir = tmpdir
    os.environ["TMPDIR"] = tmpdir
    from cityplan.onemap import OneMap

    _OM = OneMap.open(location)
    _warm(_OM)


def _warm(om: Any) -> None:
    import geopandas as gpd
    import shapely

    from cityplan.review.check import review_proposal

    try:
        x0, y0, x1, y1 = om.extent
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        dot = gpd.GeoDataFrame({"name": ["warm-up"]}, geometry=[shapely.box(cx, cy, cx + 1e-4, cy + 1e-4)], crs=4326)
        review_proposal(dot, onemap=om)
    except Exception:  # noqa: BLE001 - the first real review reports what is wrong
        logger.exception("preparing the review constraints failed")


def review_job(path: str, crs: str | None, facility_type: str | None, display: str, store_as: str = "",
               om: Any = None, *, intake: dict[str, str] | None = None) -> Outcome:
    """Review the stored upload ``path`` (in a worker) with the desk's ``intake`` (project,
    applicant, project_type); the outcome as strings.

    With ``store_as`` (a JSON object: review id, user, upload fields, data folder) the worker also
    writes the HTML report and appends the review to ``cityplan_reviews`` itself
    (:func:`cityplan.services.reviews.store_review`) - the build it reviewed against is the one
    recorded - so the caller's process does no pandas work for it.
    """
    from cityplan._errors import CityplanError
    from cityplan.review.clock import local_iso
    from cityplan.review.report import to_html
    from cityplan.services.reviews import hit_count, run_review, static_layers, store_review

    the_map = om if om is not None else _OM
    try:
        rep, doc = run_review(the_map, path, crs=crs, facility_type=facility_type, display=display, intake=intake)
    except CityplanError as exc:
        return Outcome(error=str(exc))
    created = json.loads(store_as).get("created_at") if store_as else None
    if created:  # the review's time is the stored one (in the profile's zone)
        rep.reviewed_at = doc["reviewed_at"] = local_iso(created, rep.timezone)
    out = Outcome(doc_json=json.dumps(doc, ensure_ascii=False, default=str, allow_nan=False),
                  html=to_html(rep).replace(str(path), display), verdict=str(rep.verdict), hits=hit_count(rep))
    if store_as:
        try:
            row = store_review(the_map, json.loads(store_as), verdict=out.verdict, hits=out.hits,
                               doc_json=out.doc_json, html=out.html)
        except (CityplanError, OSError) as exc:  # a full disk, a read-only map: say so, keep the upload
            logger.exception("review of %s could not be stored", display)
            return Outcome(error=f"{display}: reviewed ({out.verdict}) but not stored: {exc}; fix the server's "
                                 "data folder / one map and submit again", status=503)
        out.row_json = json.dumps(row, ensure_ascii=False, default=str)
        out.layers_json = json.dumps(static_layers(doc), ensure_ascii=False, default=str)
        out.html = ""  # written to the reports folder
    return out


def opinion_job(review_id: str, out_pdf: str, om: Any = None) -> Outcome:
    """Write the stored review ``review_id``'s 审查意见 PDF to ``out_pdf`` from its stored report
    (:func:`cityplan.services.reviews.write_stored_opinion`: the review is not run again)."""
    from cityplan._errors import CityplanError
    from cityplan.services.reviews import write_stored_opinion

    the_map = om if om is not None else _OM
    try:
        write_stored_opinion(the_map, review_id, out_pdf, dpi=150, overwrite=True)
    except CityplanError as exc:
        return Outcome(error=str(exc), status=404)
    except OSError as exc:  # the reports folder is full or read-only
        logger.exception("审查意见 PDF of review %s not written", review_id)
        return Outcome(error=f"{out_pdf}: the 审查意见 PDF could not be written ({exc}); free or fix the server's "
                             "data folder and download again", status=503)
    return Outcome()


def recheck_job(review_id: str, om: Any = None) -> Outcome:
    """Review the stored review ``review_id``'s proposal again on the current build (in a worker):
    :func:`cityplan.services.reviews.recheck_review` as JSON in ``doc_json`` (nothing is stored)."""
    from cityplan._errors import CityplanError
    from cityplan.services.reviews import ReviewNotFoundError, recheck_review

    the_map = om if om is not None else _OM
    try:
        rc = recheck_review(the_map, review_id)
    except ReviewNotFoundError as exc:
        return Outcome(error=str(exc), status=404)
    except CityplanError as exc:
        return Outcome(error=str(exc))

    def rows(df: Any) -> Any:
        return json.loads(df.to_json(orient="records", force_ascii=False)) if len(df) else []

    doc = {"review_id": rc.review_id, "build_then": rc.build_then, "build_now": rc.build_now,
           "verdict_then": rc.verdict_then, "verdict_now": rc.verdict_now, "note": rc.note, "changed": rc.changed,
           "findings": rows(rc.findings), "layers": rows(rc.layers), "features": rows(rc.features)}
    return Outcome(doc_json=json.dumps(doc, ensure_ascii=False, default=str), verdict=rc.verdict_now)


def parse_progress_job(path: str, om: Any = None) -> tuple[Any, dict[str, str]]:
    """Read a progress sheet (in a worker): see :meth:`ReviewPool.parse_progress`."""
    from cityplan.progress.importer import read_report

    return read_report(path)


class ReviewPool:
    """Runs :func:`review_job` in ``workers`` processes (or, with 0, one thread) with a bounded queue."""

    def __init__(self, om: Any, location: str | None, *, workers: int = 1, tmpdir: str | None = None,
                 time_limit: float = TIME_LIMIT) -> None:
        self.om = om
        self.time_limit = float(time_limit)
        self.queued = 0
        self._lock = threading.Lock()
        self._args = (workers, location, tmpdir or tempfile.gettempdir())
        self._exec: cf.Executor | None = None
        if workers > 0 and location:
            self.processes = True  # started by start() (after the server's own warm-up) or the first review
        else:
            self._exec = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cityplan-review")
            self.processes = False
            self._exec.submit(_warm, om)

    def start(self) -> None:
        """Start the worker processes (they open the one map and prepare the rules' constraints).

        Started after the server's own reads at start: two processes first opening the same
        GeoPackage at once can make one of SQLite's read-only opens fail."""
        with self._lock:
            if self._exec is None:
                self._exec = self._processes()

    def _processes(self) -> cf.ProcessPoolExecutor:
        workers, location, tmpdir = self._args
        ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_init_worker, initargs=(location, tmpdir))
        for _ in range(workers):  # start the workers now: they open the map and warm up
            ex.submit(os.getpid)
        return ex

    async def parse_progress(self, path: str) -> tuple[Any, dict[str, str]]:
        """A progress sheet read (bounded in rows and size) in a worker process within the time
        limit: ``(rows, meta)`` as :func:`cityplan.progress.importer.read_report` returns them.

        Raises
        ------
        ProgressInputError
            The file cannot be read, is over a limit, or took longer than the time limit.
        """
        from cityplan.progress.importer import ProgressInputError

        out = await self._run(parse_progress_job, (path,))
        if isinstance(out, Outcome):  # the time limit
            raise ProgressInputError(f"{path}: {out.error}")
        return out

    async def opinion(self, review_id: str, *, out_pdf: str) -> Outcome:
        """Write a stored review's 审查意见 PDF from its stored report in the review worker."""
        return await self._run(opinion_job, (review_id, out_pdf))

    async def recheck(self, review_id: str) -> Outcome:
        """Re-check a stored review against the current build (:func:`recheck_job`) in the review
        worker, queued and time-limited like a review."""
        return await self._run(recheck_job, (review_id,))

    async def review(self, path: str, *, crs: str | None, facility_type: str | None, display: str,
                     store_as: str = "", intake: dict[str, str] | None = None) -> Outcome:
        """Queue a review and wait for it (ReviewBusyError when the queue is full); ``store_as``
        and ``intake``: see :func:`review_job`."""
        return await self._run(review_job, (path, crs, facility_type, display, store_as), {"intake": intake})

    async def _run(self, job: Any, job_args: tuple, job_kwargs: dict[str, Any] | None = None) -> Outcome:
        with self._lock:
            if self.queued >= MAX_QUEUED:
                raise ReviewBusyError(f"{self.queued} reviews are waiting; try again in a minute")
            self.queued += 1
        try:
            kwargs = {**(job_kwargs or {}), **({} if self.processes else {"om": self.om})}
            self.start()
            ex = self._exec
            try:
                return await self._bounded(ex, ex.submit(job, *job_args, **kwargs))
            except cf.BrokenExecutor:
                if not self.processes:
                    raise
                with self._lock:
                    if self._exec is ex:  # the first to notice starts a new worker
                        logger.error("the review worker died; starting a new one")
                        self._exec = self._processes()
                        ex.shutdown(wait=False, cancel_futures=True)
                ex = self._exec
                return await self._bounded(ex, ex.submit(job, *job_args, **kwargs))
        finally:
            with self._lock:
                self.queued -= 1

    async def _bounded(self, ex: cf.Executor, fut: cf.Future) -> Outcome:
        """The job's outcome, or - past :attr:`time_limit` - an error outcome after the worker
        running it is killed and replaced (a thread cannot be killed: without processes the
        job runs on and only the reviewer's wait ends)."""
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout=self.time_limit)
        except TimeoutError:
            logger.error("a review ran longer than %.0f s; stopping its worker", self.time_limit)
            if self.processes:
                with self._lock:
                    if self._exec is ex:
                        self._exec = self._processes()
                _kill(ex)
            return Outcome(error=f"the review was stopped after {self.time_limit:.0f} s (the time limit); "
                                 "a file this costly is refused - split it or simplify its geometry", status=422)

    def shutdown(self) -> None:
        """Stop the workers (queued reviews are cancelled)."""
        if self._exec is not None:
            self._exec.shutdown(wait=False, cancel_futures=True)


def _kill(ex: cf.Executor) -> None:
    """Kill the worker processes of ``ex`` (jobs still queued there fail as a broken pool and are
    re-run by their callers on the new workers)."""
    procs = list((getattr(ex, "_processes", None) or {}).values()) if isinstance(ex, cf.ProcessPoolExecutor) else []
    for proc in procs:
        with contextlib.suppress(OSError, ValueError):  # already gone
            proc.kill()
    ex.shutdown(wait=False, cancel_futures=True)
