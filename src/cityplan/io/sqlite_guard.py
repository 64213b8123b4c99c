"""SQLite-based inputs (GeoPackage, SpatiaLite) are databases, and a database can hold a layer
that is an SQL view - one that never ends (``WITH RECURSIVE``) or costs hours (a cross join).
Opening such a file as a layer would keep a worker busy for good, so every view is checked
before the file is read: a recursive one is refused, and each must count its rows within a
budget of SQLite virtual-machine steps (a progress handler stops it otherwise).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from cityplan._errors import SchemaError

SQLITE_MAGIC = b"SQLite format 3\x00"
#: the progress handler runs every this many SQLite VM instructions ...
STEP = 10_000
#: ... and stops a view's row count after this many calls (50 million instructions, ~1-2 s)
VIEW_BUDGET_CALLS = 5_000
_RECURSIVE = re.compile(r"\bRECURSIVE\b", re.IGNORECASE)


def is_sqlite(path: Path) -> bool:
    """True when ``path`` is an SQLite database (GeoPackage, SpatiaLite, MBTiles...)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def check_views(path: str | Path, *, budget_calls: int = VIEW_BUDGET_CALLS) -> None:
    """Refuse an SQLite input with a recursive view or one too costly to read (SchemaError,
    one line naming the file, the view and the fix). Other files pass untouched."""
    p = Path(path)
    if not is_sqlite(p):
        return
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return  # the reader says what is wrong with the file
    try:
        try:
            views = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall()
        except sqlite3.DatabaseError:
            return
        for name, text in views:
            if _RECURSIVE.search(text or ""):
                msg = (f"{p}: layer {name!r} is a recursive SQL view, refused (it may never end); "
                       "save the layer as a table (ogr2ogr or QGIS 'Export') and upload that")
                raise SchemaError(msg)
            calls = [0]

            def handler(calls: list[int] = calls) -> int:
                calls[0] += 1
                return 1 if calls[0] > budget_calls else 0

            con.set_progress_handler(handler, STEP)
            try:
                con.execute(f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"').fetchone()  # noqa: S608
            except sqlite3.OperationalError as exc:
                if calls[0] > budget_calls:
                    msg = (f"{p}: layer {name!r} is an SQL view too costly to read (stopped after "
                           f"{budget_calls * STEP:,} steps); save the layer as a table and upload that")
                    raise SchemaError(msg) from None
                if "interrupt" not in str(exc):
                    continue  # a broken view: the reader reports the layer it cannot read
            finally:
                con.set_progress_handler(None, STEP)
    finally:
        con.close()
