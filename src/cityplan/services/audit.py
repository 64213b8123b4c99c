"""The audit trail: one append-only row per write (and per refused write) in ``cityplan_audit``."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from typing import Any

import pandas as pd

from cityplan.store.tables import AUDIT, utc_now

logger = logging.getLogger(__name__)

AUDIT_TABLE = AUDIT.name
AUDIT_COLUMNS = AUDIT.names


def record(store: Any, *, who: str, role: str, action: str, target: str = "", outcome: str = "ok",
           detail: dict[str, Any] | None = None, client: str = "", per_source_window: int | None = None) -> str:
    """Append one audit row; returns its id.

    Parameters
    ----------
    store : Store
        The one map's store (GeoPackage or PostGIS).
    who, role : str
        The account (``"-"`` when anonymous) and its role.
    action : str
        What was done, e.g. ``review.create``, ``progress.import``, ``user.add``, ``login``.
    target : str
        What it was done to (review id, district adcode, site id, user name).
    outcome : str
        ``ok``, ``denied``, ``rejected`` (validation) or ``failed``.
    detail : dict, optional
        Extra facts, stored as JSON text.
    per_source_window : int, optional
        Seconds: record at most one row of this ``action``, ``outcome`` and ``detail`` per
        ``client`` in each window (refused logins: a password spray adds a row a minute, not one
        per guess, whatever names it tries). The row's id is made from these, so the database's
        unique key drops the repeats; the row kept is the window's first.
    """
    row = audit_row(who=who, role=role, action=action, target=target, outcome=outcome, detail=detail,
                    client=client, per_source_window=per_source_window)
    store.append_rows(AUDIT_TABLE, row)
    logger.info("audit %s %s %s %s", who, action, target, outcome)
    return str(row["event_id"].iloc[0])


def audit_row(*, who: str, role: str, action: str, target: str = "", outcome: str = "ok",
              detail: dict[str, Any] | None = None, client: str = "",
              per_source_window: int | None = None) -> pd.DataFrame:
    """One audit row (the parameters of :func:`record`), to append with other rows in one
    transaction (``Store.append_many``: a review and its audit row, or neither)."""
    if per_source_window:
        window = int(time.time() // per_source_window)
        what = json.dumps(detail or {}, sort_keys=True, default=str)
        eid = hashlib.sha256(f"{action}|{outcome}|{client}|{what}|{window}".encode()).hexdigest()[:32]
    else:
        eid = uuid.uuid4().hex
    return pd.DataFrame([{
        "event_id": eid, "at": utc_now(), "who": who, "role": role, "action": action, "target": str(target),
        "outcome": outcome, "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
        "client": client}], columns=AUDIT_COLUMNS)


def read_audit(store: Any, *, limit: int | None = None) -> pd.DataFrame:
    """The audit rows, newest first."""
    t = store.table_or_empty(AUDIT_TABLE)
    if t.empty:
        return pd.DataFrame(columns=AUDIT_COLUMNS)
    t = t[[c for c in AUDIT_COLUMNS if c in t.columns]].sort_values("at", ascending=False, kind="stable")
    return t.head(limit) if limit else t
