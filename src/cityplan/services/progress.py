"""District progress as a use case: import a district's workbook under the ownership rule, and a
site's status change recorded as an event. Shared by ``cityplan progress import`` and the web's
progress desk (:mod:`cityplan.server.progress_desk`).

The ownership rule: a writer bound to a district (a district office, ``office``) writes only that
district's rows - the sheet, every site and every row's ``adcode`` must be its own - and a row
that names no district gets the district written (the office's own), so no event is ever stored
without an adcode: an import whose rows name no district and that is not made for a district is
rejected (every row, nothing recorded). Writers bound to no district (admins, the CLI) may write
any district.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cityplan._errors import CityplanError
from cityplan.progress.context import ProgressContext, load_context
from cityplan.progress.events import (
    EARLIEST,
    RANK,
    STATUS_ZH,
    STATUSES,
    event_id,
    normalise_events,
    record_events,
    utc_now,
)
from cityplan.progress.importer import (
    PROBLEM_COLUMNS,
    ImportResult,
    ProgressInputError,
    read_report,
    record_report,
)

logger = logging.getLogger(__name__)

#: statuses as a form or a sheet may write them (code, Chinese, code with spaces)
STATUS_INPUT = {s: s for s in STATUSES} | {zh: s for s, zh in STATUS_ZH.items()} | {
    s.replace("_", " "): s for s in STATUSES}


class DistrictWriteRefusedError(CityplanError):
    """The writer may not write this district's rows (answered with 403 by the web)."""


class SiteNotFoundError(CityplanError):
    """No plan site has this id (answered with 404 by the web)."""


class ProgressState:
    """The progress context of the one map's current build (read once), with a lock for writes."""

    def __init__(self, om: Any) -> None:
        self.om = om
        self.lock = threading.RLock()
        self._ctx: ProgressContext | None = None
        self._build = ""

    def context(self) -> ProgressContext:
        """The context, events re-read from the ledger (other servers or the CLI may have written)."""
        with self.lock:
            if self._ctx is None or self._build != self.om.build_stamp:
                self._ctx = load_context(self.om)
                self._build = self.om.build_stamp
            else:
                self._ctx.reload_events()
            return self._ctx


# ---------------------------------------------------------------------------- ownership
def check_writer(office: str | None, adcode: str) -> None:
    """Refuse a writer bound to ``office`` writing district ``adcode``.

    Parameters
    ----------
    office : str, optional
        The adcode the writer is bound to (a district office); None or empty: any district.
    adcode : str
        The district written.

    Raises
    ------
    DistrictWriteRefusedError
    """
    if office and str(office) != str(adcode):
        msg = f"the office of district {office} cannot write district {adcode}'s rows"
        raise DistrictWriteRefusedError(msg)


def foreign_rows(ctx: ProgressContext, frame: pd.DataFrame, meta: dict[str, str], adcode: str) -> str:
    """Why a sheet writes another district than ``adcode`` (empty when it writes only ``adcode``'s
    rows, or rows that name no district)."""
    if meta.get("adcode") and str(meta["adcode"]) != adcode:
        return f"the sheet is {meta.get('district', '')} ({meta['adcode']})'s, not district {adcode}'s"
    where = ctx.sites.set_index("site_id")["adcode"].astype(str)
    for sid in frame.get("site_id", pd.Series(dtype=object)).dropna().astype(str):
        sid = sid.strip()
        if sid and sid in where.index and where[sid] != adcode:
            return f"site {sid} lies in district {where[sid]}, not {adcode}"
    for code in frame.get("adcode", pd.Series(dtype=object)).dropna().astype(str):
        if code.strip() and code.strip() != adcode:
            return f"a row names district {code.strip()}, not {adcode}"
    return ""


def _no_district(valid: list[dict[str, Any]]) -> pd.DataFrame:
    """A problem per valid row without a district (the sheet named none and none was given)."""
    rows = [{"row": r["source_row"], "column": "adcode", "value": "",
             "problem": "the row names no district (no adcode, no site, no district on the sheet)",
             "fix": "fill the adcode column, use the district's template (cityplan progress template --district "
                    "NAME), or import for a district (--district NAME)"}
            for r in valid if not str(r.get("adcode") or "").strip()]
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


# ---------------------------------------------------------------------------- workbook import
def import_district_progress(ctx: ProgressContext, path: str | os.PathLike[str], *, reported_by: str,
                             district: str | None = None, office: str | None = None,
                             today: dt.date | None = None, dry_run: bool = False,
                             sheet: tuple[pd.DataFrame, dict[str, str]] | None = None) -> ImportResult:
    """Validate every row of a progress workbook; record all of them in one transaction, or none.

    Parameters
    ----------
    ctx : ProgressContext
    path : path
        The filled-in template (XLSX or CSV).
    reported_by : str
        Who reports (recorded with every row).
    district : str, optional
        The adcode the import is for: every row must be this district's, and rows naming no
        district get it. Default: the writer's ``office``, else the sheet's own district.
    office : str, optional
        The adcode the writer is bound to (a district office): only its own district.
    today : datetime.date, optional
        The latest valid ``as_of`` (default today).
    dry_run : bool
        Validate only.
    sheet : (DataFrame, dict), optional
        The file as :func:`cityplan.progress.importer.read_report` read it (the server parses
        uploads in a worker process); default: read ``path`` here.

    Returns
    -------
    ImportResult
        Rejected rows are in ``problems`` (nothing recorded); rows naming no district when no
        district is given are rejected there too - never stored with an empty adcode.

    Raises
    ------
    DistrictWriteRefusedError
        The writer's office is another district, or the sheet writes another district's rows.
    ProgressInputError
        The file cannot be read, or ``reported_by`` is empty.
    """
    if not reported_by or not reported_by.strip():
        msg = "--reported-by: give the name of the person or office reporting, e.g. --reported-by 南岗区住建局"
        raise ProgressInputError(msg)
    adcode = str(district or office or "")
    if adcode:
        check_writer(office, adcode)
    p = Path(path)
    frame, meta = sheet if sheet is not None else read_report(p)
    if adcode:
        why = foreign_rows(ctx, frame, meta, adcode)
        if why:
            raise DistrictWriteRefusedError(why)
        meta = {**meta, "adcode": str(meta.get("adcode") or adcode)}
    return record_report(ctx, p, frame, meta, reported_by=reported_by.strip(), today=today, dry_run=dry_run,
                         more_problems=_no_district)


# ---------------------------------------------------------------------------- one site's status
@dataclass
class StatusChange:
    """A site's status change: the event recorded, or the problems (nothing recorded)."""

    site_id: str
    task_id: str
    problems: pd.DataFrame
    event: dict[str, Any] = field(default_factory=dict)
    recorded: int = 0

    @property
    def ok(self) -> bool:
        """True when recorded."""
        return self.problems.empty and bool(self.event)


def _number(v: object) -> float | None | str:
    text = str(v).strip() if v is not None else ""
    if not text or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        x = float(text.replace(",", ""))
    except ValueError:
        return "bad"
    return x if math.isfinite(x) else "bad"


def _day(v: object) -> dt.date | None | str:
    if isinstance(v, dt.date):
        return v
    text = str(v).strip() if v is not None else ""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return "bad"


def _goes_back(prev: str, new: str) -> bool:
    if not prev or not new or prev == new or new == "cancelled":
        return False
    return prev == "cancelled" or RANK[new] < RANK[prev]


def _status_before(events: pd.DataFrame, site_id: str, day: str) -> str:
    ev = events[(events["site_id"] == site_id) & (events["as_of"] <= day) & (events["status"] != "")]
    if ev.empty:
        return ""
    return str(ev.sort_values(["as_of", "recorded_at", "source_row"], kind="stable")["status"].iloc[-1])


def record_site_status(ctx: ProgressContext, *, adcode: str, site_id: str, status: str, reported_by: str,
                       as_of: object = None, achieved: object = None, note: str = "", office: str | None = None,
                       source: str = "status form", today: dt.date | None = None) -> StatusChange:
    """Record one site's status (and achieved quantity) as of a date: one event in the ledger.

    Parameters
    ----------
    ctx : ProgressContext
    adcode : str
        The district written (the site must lie in it).
    site_id : str
    status : str
        One of :data:`cityplan.progress.events.STATUSES` (or its Chinese name).
    reported_by : str
        Who reports.
    as_of : date or str
        The date the status refers to (required; ``YYYY-MM-DD``).
    achieved : number or str, optional
        The cumulative quantity achieved (the site's metric and unit).
    note : str
        Required when the status goes back or the quantity exceeds the planned one.
    office : str, optional
        The adcode the writer is bound to (a district office).
    source : str
        What the event was recorded from (its ``source_file``: ``status form``, ``cli``).
    today : datetime.date, optional
        The latest valid date (default today).

    Returns
    -------
    StatusChange
        With ``problems`` (row 1 = the form) and nothing recorded when the input is wrong.

    Raises
    ------
    DistrictWriteRefusedError
        The writer's office is another district, or the site lies in another district.
    SiteNotFoundError
        No such site.
    """
    check_writer(office, adcode)
    sites = ctx.sites.set_index("site_id")
    if site_id not in sites.index:
        msg = f"no site {site_id!r} in the one map; the district's template lists its sites"
        raise SiteNotFoundError(msg)
    s = sites.loc[site_id]
    if str(s["adcode"]) != str(adcode):
        msg = f"site {site_id} lies in district {s['adcode']}, not {adcode}"
        raise DistrictWriteRefusedError(msg)
    today = today or dt.date.today()
    note = (note or "").strip()[:500]
    problems: list[dict[str, Any]] = []

    def bad(column: str, value: object, problem: str, fix: str) -> None:
        problems.append({"row": 1, "column": column, "value": "" if value is None else value, "problem": problem,
                         "fix": fix})

    code = STATUS_INPUT.get(str(status or "").strip().lower(), STATUS_INPUT.get(str(status or "").strip(), ""))
    if not code:
        bad("status", status, "unknown status" if status else "no status",
            f"choose one of {', '.join(STATUSES)} ({'/'.join(STATUS_ZH.values())})")
    unit, planned = str(s["unit"]), float(s["planned"])
    qty = _number(achieved)
    if qty == "bad":
        bad("achieved", achieved, "not a number", f"write a number in {unit}, e.g. 1200")
    elif qty is not None and qty < 0:
        bad("achieved", qty, "negative quantity", "write the cumulative quantity achieved (>= 0)")
    elif qty is not None and not math.isnan(planned) and qty > planned + 1e-9 and not note:
        bad("achieved", qty, f"above the site's planned quantity ({planned:,.10g} {unit})",
            "check the number, or explain in the note")
    day = _day(as_of)
    if day is None:
        bad("as_of", "", "no date", "write the date the status refers to, YYYY-MM-DD")
    elif day == "bad":
        bad("as_of", as_of, "not a date", "write YYYY-MM-DD, e.g. 2023-06-30")
    elif day < EARLIEST:
        bad("as_of", day.isoformat(), f"before {EARLIEST.isoformat()}", f"the plan starts {EARLIEST.isoformat()}")
    elif day > today:
        bad("as_of", day.isoformat(), "in the future", f"use a date up to {today.isoformat()}")
    if not problems:
        ctx.reload_events()
        prev = _status_before(ctx.events, site_id, day.isoformat())
        if _goes_back(prev, code) and not note:
            bad("status", code, f"goes back from {prev!r}", "explain the change in the note (or correct the status)")
    change = StatusChange(site_id=site_id, task_id=str(s["task_id"]),
                          problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS))
    if problems:
        return change
    at = utc_now()
    sha = hashlib.sha256(f"status:{reported_by}:{site_id}:{at}:{secrets.token_hex(16)}".encode()).hexdigest()
    event = {"event_id": event_id(sha, 0), "site_id": site_id, "task_id": str(s["task_id"]),
             "metric": str(s["metric"]), "quantity": qty, "unit": unit, "status": code, "as_of": day.isoformat(),
             "adcode": str(s["adcode"]), "district": str(s["district"]), "reported_by": reported_by,
             "note": note, "source_file": source, "source_sha256": sha, "source_row": 0, "recorded_at": at}
    change.recorded = record_events(ctx.om.store, normalise_events(pd.DataFrame([event])))
    change.event = event
    ctx.reload_events()
    logger.info("site %s: %s as of %s recorded by %s", site_id, code, event["as_of"], reported_by)
    return change
