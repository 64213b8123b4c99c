"""The progress ledger: append-only events in the one map (``cityplan_progress_events``).

One row per reported fact: a site's status and achieved quantity, or a district's cumulative
figure for a non-spatial target (jobs, events), as of a date. Nothing is ever updated or
deleted; a correction is a new event with a later ``as_of`` or ``recorded_at``. Rows are
idempotent on ``(source_sha256, source_row)``: importing the same file twice records nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import numpy as np
import pandas as pd

from cityplan.store.tables import PROGRESS_EVENTS, iso_utc, utc_now

EVENTS_TABLE = PROGRESS_EVENTS.name
#: statuses in the order a site moves through them; ``cancelled`` stands apart
STATUSES = ("planned", "started", "under_construction", "completed", "cancelled")
STATUS_ZH = {"planned": "计划", "started": "已开工", "under_construction": "在建",
             "completed": "已完成", "cancelled": "已取消"}
RANK = {"planned": 0, "started": 1, "under_construction": 2, "completed": 3, "cancelled": -1}
#: the report's year: the earliest valid as-of date and the year end of the linear path
PLAN_YEAR = 2023
EARLIEST = dt.date(PLAN_YEAR, 1, 1)
YEAR_END = dt.date(PLAN_YEAR, 12, 31)
KEY = PROGRESS_EVENTS.key
COLUMNS = tuple(PROGRESS_EVENTS.names)
_TEXT = ("event_id", "site_id", "task_id", "metric", "unit", "status", "as_of", "adcode", "district",
         "reported_by", "note", "source_file", "source_sha256", "recorded_at")


def event_id(source_sha256: str, source_row: int) -> str:
    """Deterministic id of the event read from row ``source_row`` of a file."""
    return hashlib.sha256(f"{source_sha256}:{int(source_row)}".encode()).hexdigest()[:20]


def empty_events() -> pd.DataFrame:
    """An events frame with no rows and the ledger's columns and dtypes."""
    return normalise_events(pd.DataFrame(columns=list(COLUMNS)))


def normalise_events(df: pd.DataFrame) -> pd.DataFrame:
    """The ledger's columns in order, text as ``str`` ("" for missing), quantity float, row int."""
    out = pd.DataFrame(index=df.index)
    for c in COLUMNS:
        s = df[c] if c in df.columns else pd.Series(np.nan, index=df.index)
        if c == "quantity":
            out[c] = pd.to_numeric(s, errors="coerce").astype(float)
        elif c == "source_row":
            out[c] = pd.to_numeric(s, errors="coerce").fillna(0).astype("int64")
        else:
            out[c] = s.astype(object).where(s.notna(), "").astype(str)
    out["recorded_at"] = out["recorded_at"].map(iso_utc)  # rows of older versions: to the second
    return out.reset_index(drop=True)


def make_events(rows: list[dict[str, Any]], *, reported_by: str, source_file: str,
                source_sha256: str, recorded_at: str | None = None) -> pd.DataFrame:
    """Ledger rows from validated report rows (each with site_id/task_id/metric/... and ``source_row``)."""
    at = recorded_at or utc_now()
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in (
        "event_id", "reported_by", "source_file", "source_sha256", "recorded_at")])
    df["reported_by"] = reported_by
    df["source_file"] = source_file
    df["source_sha256"] = source_sha256
    df["recorded_at"] = at
    df["event_id"] = [event_id(source_sha256, r) for r in df["source_row"]]
    return normalise_events(df)


def read_events(store: Any) -> pd.DataFrame:
    """Every event of the ledger (empty frame with the ledger's columns if none yet)."""
    t = store.table_or_empty(EVENTS_TABLE)
    return empty_events() if t.empty else normalise_events(t)


def record_events(store: Any, events: pd.DataFrame) -> int:
    """Append ``events`` in one transaction; rows already recorded (same file and row) are skipped."""
    if events.empty:
        return 0
    return int(store.append_rows(EVENTS_TABLE, normalise_events(events), key=list(KEY)))


def latest(events: pd.DataFrame, keys: list[str], as_of: dt.date | str | None = None) -> pd.DataFrame:
    """The latest event per ``keys`` with ``as_of`` on or before the date.

    Order: ``as_of``, then ``recorded_at`` (a later correction for the same day wins), then
    ``source_row``.
    """
    ev = events
    if as_of is not None:
        ev = ev[ev["as_of"] <= str(as_of)]
    ev = ev.sort_values(["as_of", "recorded_at", "source_row"], kind="stable")
    return ev.drop_duplicates(keys, keep="last")
