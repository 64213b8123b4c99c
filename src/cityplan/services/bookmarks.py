"""Named map views per user, kept in the one map (``cityplan_bookmarks``, append-only events).

A bookmark is a name, a view (``zoom/lat/lon``, as the map's URL hash writes it) and the layers
shown. Saving appends a ``saved`` event (a later one of the same name replaces it), deleting a
``deleted`` event; the list is the last event per name that is not a deletion. Every process
serving the map sees the same bookmarks (the table lives in the map: GeoPackage or PostGIS).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cityplan.store.tables import BOOKMARKS, utc_now

TABLE = BOOKMARKS.name
COLUMNS = [c for c, _ in BOOKMARKS.columns]
#: bookmarks a user may keep
MAX_BOOKMARKS = 200
MAX_NAME = 80
MAX_LAYERS = 200
_VIEW = re.compile(r"^\d{1,2}/-?\d{1,2}(\.\d{1,7})?/-?\d{1,3}(\.\d{1,7})?$")
_LAYER = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


class BookmarkError(ValueError):
    """A bookmark that cannot be stored (answered 400, naming the field and the fix)."""


@dataclass(frozen=True)
class Bookmark:
    """One named view."""

    name: str
    view: str           # zoom/lat/lon
    layers: list[str]
    at: str

    def public(self) -> dict[str, Any]:
        """As JSON for the map page."""
        return {"name": self.name, "view": self.view, "layers": self.layers, "at": self.at}


def check(name: str, view: str, layers: list[str]) -> tuple[str, str, list[str]]:
    """The bookmark's fields checked (BookmarkError naming the field otherwise)."""
    name = " ".join(str(name).split())
    if not name or len(name) > MAX_NAME:
        raise BookmarkError(f"name: 1 to {MAX_NAME} characters")
    if not _VIEW.match(view or ""):
        raise BookmarkError(f"view {view!r}: zoom/lat/lon, e.g. 13/45.7700/126.6200")
    z, lat, lon = (float(v) for v in view.split("/"))
    if not (0 <= z <= 22 and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise BookmarkError(f"view {view!r}: zoom 0-22, lat -90..90, lon -180..180")
    if len(layers) > MAX_LAYERS or any(not _LAYER.match(x) for x in layers):
        raise BookmarkError(f"layers: at most {MAX_LAYERS} layer ids of letters, digits, _ . -")
    return name, view, list(dict.fromkeys(layers))


def _events(store: Any, user: str) -> pd.DataFrame:
    t = store.table_or_empty(TABLE, where={"user": user})
    if t.empty:
        return pd.DataFrame(columns=COLUMNS)
    return t[[c for c in COLUMNS if c in t.columns]].fillna("").astype(str).sort_values("at", kind="stable")


def list_bookmarks(store: Any, user: str) -> list[Bookmark]:
    """The user's bookmarks, newest first."""
    ev = _events(store, user)
    last = ev.groupby("name", sort=False).tail(1)
    last = last[last["event"] == "saved"].sort_values("at", ascending=False)
    return [Bookmark(r["name"], r["view"], [x for x in r["layers"].split(",") if x], r["at"])
            for _, r in last.iterrows()]


def _append(store: Any, user: str, event: str, name: str, view: str = "", layers: str = "") -> None:
    row = pd.DataFrame([{"event_id": uuid.uuid4().hex, "user": user, "event": event, "name": name, "view": view,
                         "layers": layers, "at": utc_now()}], columns=COLUMNS)
    store.append_rows(TABLE, row, key=["event_id"])


def save_bookmark(store: Any, user: str, name: str, view: str, layers: list[str]) -> Bookmark:
    """Store (or replace) the user's bookmark ``name``."""
    name, view, layers = check(name, view, layers)
    have = {b.name for b in list_bookmarks(store, user)}
    if name not in have and len(have) >= MAX_BOOKMARKS:
        raise BookmarkError(f"at most {MAX_BOOKMARKS} bookmarks per user; delete one first")
    _append(store, user, "saved", name, view, ",".join(layers))
    return next(b for b in list_bookmarks(store, user) if b.name == name)


def delete_bookmark(store: Any, user: str, name: str) -> bool:
    """Delete the user's bookmark ``name``; False when there was none."""
    name = " ".join(str(name).split())
    if name not in {b.name for b in list_bookmarks(store, user)}:
        return False
    _append(store, user, "deleted", name)
    return True
