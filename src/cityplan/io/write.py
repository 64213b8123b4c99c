"""Atomic writers: every output goes to a temp file in the target folder, then is renamed.

Without ``overwrite`` the rename is exclusive (a hard link that fails if the target exists), so of
two processes writing the same output one refuses. Temp files are removed on any exception,
including the ``SystemExit``/``KeyboardInterrupt`` the CLI raises on SIGTERM/SIGINT. Operating-system
failures a user can fix (permission denied, read-only file system, disk full, name too long) become
one-line :class:`OutputError` messages naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from cityplan._errors import CityplanError, OutputExistsError, SchemaError
from cityplan.io.safecells import force_text_cells, neutralise_frame, write_safe_csv

logger = logging.getLogger(__name__)

TABLE_FORMATS = ("csv", "json", "xlsx")
_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile",
            ".fgb": "FlatGeobuf"}

#: temp paths being written right now (for diagnostics and last-resort cleanup)
LIVE_TEMPS: set[Path] = set()
#: output folders being written (:func:`atomic_folder`), removed on abnormal exit
LIVE_FOLDERS: set[Path] = set()

_FIXES = {
    errno.EACCES: "permission denied; choose a folder you can write to or fix its permissions",
    errno.EPERM: "operation not permitted; choose a folder you can write to or fix its permissions",
    errno.EROFS: "read-only file system; write to a folder on a writable disk",
    errno.ENOSPC: "no space left on device; free some space or write to another disk",
    errno.EDQUOT: "disk quota exceeded; free some space or write to another disk",
    errno.ENAMETOOLONG: "file name too long; use a shorter file or folder name",
    errno.ENOENT: "no such file or directory; check the path",
    errno.ENOTDIR: "a part of the path is not a folder; check the path",
    errno.EISDIR: "is a folder, not a file; give a file name",
}
_DISK_FULL_TEXT = ("no space left on device", "database or disk is full", "disk quota exceeded")


def _disk_full(path: str | os.PathLike[str]) -> bool:
    """True when the file system holding ``path`` (or its nearest existing folder) has less than
    :data:`FULL_BELOW` bytes free for the user."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = os.statvfs(p)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW


#: a write that failed on a file system with less free space than this is reported as "disk full"
FULL_BELOW = 64 * 1024


class OutputError(CityplanError):
    """An output cannot be written for a reason the user can fix (permissions, space, name)."""


def user_oserror_message(exc: BaseException, path: str | os.PathLike[str] | None = None) -> str | None:
    """One line naming the path and the fix for a user-caused OS error, else ``None``."""
    code = getattr(exc, "errno", None)
    if code not in _FIXES:
        low = str(exc).lower()
        if any(t in low for t in _DISK_FULL_TEXT) or (path is not None and _disk_full(path)):
            code = errno.ENOSPC  # GDAL may report only its failed rollback; the disk says why
        else:
            return None
    where = path if path is not None else getattr(exc, "filename", None)
    return f"{where}: {_FIXES[code]}" if where is not None else _FIXES[code]


def check_output(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Refuse to replace an existing output unless ``overwrite``."""
    p = Path(path)
    if p.exists() and not overwrite:
        msg = f"{p}: output exists; pass --overwrite (overwrite=True) to replace it"
        raise OutputExistsError(msg)
    return p


def _publish(src: Path, dst: Path, *, overwrite: bool) -> None:
    """Rename ``src`` to ``dst``; without ``overwrite`` fail if ``dst`` exists, even in a race."""
    if overwrite:
        os.replace(src, dst)
        return
    try:
        os.link(src, dst)
    except FileExistsError:
        msg = f"{dst}: output exists (written meanwhile by another process?); pass --overwrite to replace it"
        raise OutputExistsError(msg) from None
    except OSError as exc:  # file systems without hard links: best effort
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        check_output(dst, overwrite=False)
        os.replace(src, dst)
    else:
        os.unlink(src)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The temporary file keeps the suffix so drivers that infer the format from it
    work. On error (or SIGTERM/SIGINT in the CLI) the temporary file is removed and
    ``path`` is untouched. Without ``overwrite`` the final rename refuses an existing ``path``.
    """
    target = check_output(path, overwrite=overwrite)
    tmp_path: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
        tmp_path = Path(tmp)
        LIVE_TEMPS.add(tmp_path)
        os.close(fd)
        os.unlink(tmp)  # drivers want to create the file themselves
        yield tmp_path
        if target.suffix.lower() == ".shp":
            _publish(tmp_path, target, overwrite=overwrite)
            for side in _siblings(tmp_path):
                os.replace(side, target.with_suffix(side.suffix))
        else:
            _publish(tmp_path, target, overwrite=overwrite)
    except CityplanError:
        raise
    except Exception as exc:
        line = user_oserror_message(exc, target if getattr(exc, "filename", None) in (None, str(tmp_path))
                                    else None)
        if line is None:
            raise
        raise OutputError(line) from exc
    finally:
        if tmp_path is not None:
            for side in _siblings(tmp_path):
                with contextlib.suppress(OSError):
                    side.unlink()
            LIVE_TEMPS.discard(tmp_path)


def _siblings(tmp: Path) -> list[Path]:
    """``tmp`` and its side files (``.shp`` parts, ``-journal``), without glob metacharacters."""
    stem = tmp.stem + "."
    try:
        return [p for p in tmp.parent.iterdir() if p.name.startswith(stem)]
    except OSError:
        return []


def remove_live_temps() -> None:
    """Unlink every temp file and folder still being written (last resort on abnormal exit)."""
    for tmp in list(LIVE_TEMPS):
        for side in _siblings(tmp):
            with contextlib.suppress(OSError):
                side.unlink()
        LIVE_TEMPS.discard(tmp)
    for folder in list(LIVE_FOLDERS):
        shutil.rmtree(folder, ignore_errors=True)
        LIVE_FOLDERS.discard(folder)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside the output folder ``path``; when the block ends
    without error, move everything written into ``path`` (rename by rename, no copying, nothing
    that can run out of space), else remove it all: a failure half-way (full disk, a bad row,
    SIGTERM) leaves no partial result set.

    Without ``overwrite`` a ``path`` that holds anything is refused, before the work (one line)
    and again before the move (a concurrent writer). With it, files of the same names are
    replaced and other files in ``path`` are left alone.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"{target}: exists and is not a folder; choose another --out")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise OutputExistsError(f"{target}: output folder is not empty; pass --overwrite to replace its files")
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
        LIVE_FOLDERS.add(tmp)
        yield tmp
        target.mkdir(exist_ok=True)
        entries = sorted(tmp.iterdir())
        if not overwrite:
            clash = [e.name for e in entries if (target / e.name).exists()]
            if clash:
                msg = f"{target}: {clash[0]} was written meanwhile by another process; pass --overwrite to replace it"
                raise OutputExistsError(msg)
        for e in entries:
            dest = target / e.name
            if e.is_dir() and dest.is_dir():
                shutil.rmtree(dest)
            os.replace(e, dest)
    except CityplanError:
        raise
    except Exception as exc:
        line = user_oserror_message(exc, target)
        if line is None:
            raise
        raise OutputError(line) from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            LIVE_FOLDERS.discard(tmp)


def write_vector(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, layer: str | None = None,
    overwrite: bool = False, encoding: str = "UTF-8",
) -> Path:
    """Write one layer atomically; the driver follows the suffix (.gpkg, .geojson, .shp, .fgb)."""
    p = Path(path)
    driver = _DRIVERS.get(p.suffix.lower())
    if driver is None:
        msg = f"{p}: unsupported output suffix {p.suffix!r}; use one of {sorted(_DRIVERS)}"
        raise SchemaError(msg)
    with atomic_path(p, overwrite=overwrite) as tmp:
        kw = {"encoding": encoding} if driver == "ESRI Shapefile" else {}
        pyogrio.write_dataframe(gdf, tmp, layer=layer, driver=driver, **kw)
    logger.info("wrote %s (%d features)", p, len(gdf))
    return p


@dataclass(frozen=True)
class LayerView:
    """A GeoPackage layer that shows another layer's rows instead of storing them again.

    ``source`` is a layer written in the same file; ``constants`` replace some of its text columns
    by one text (e.g. ``{"scenario": "planned"}`` for a scenario that is the same as another; a
    view column computed from a number would lose its type in GDAL, so only text is allowed).
    It is an SQL view registered as a feature table (GeoPackage 1.2 §2.1.6), read by GDAL, QGIS
    and geopandas like any layer; it has no spatial index of its own.
    """

    source: str
    constants: Mapping[str, str] = field(default_factory=dict)


def write_gpkg(
    layers: Mapping[str, pd.DataFrame | LayerView], path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write several layers / attribute tables into one GeoPackage atomically.

    A :class:`LayerView` value becomes a view of an already written feature layer (large
    geometries repeated under two names are stored once).
    """
    with atomic_path(path, overwrite=overwrite) as tmp:
        for name, df in layers.items():
            if not isinstance(df, LayerView):
                _write_layer(df, tmp, name)
        views = {k: v for k, v in layers.items() if isinstance(v, LayerView)}
        if views:
            _add_views(tmp, views)
    return Path(path)


def _write_layer(df: pd.DataFrame, gpkg: Path, name: str) -> None:
    """One layer into ``gpkg`` through Arrow (about 2x faster on large layers), or, for a column
    Arrow cannot type (mixed Python objects), the same way without it. The conversion fails
    before anything is written, so the fallback starts from the same file."""
    import pyarrow as pa

    try:
        pyogrio.write_dataframe(df, gpkg, layer=name, driver="GPKG", append=gpkg.exists(), use_arrow=True)
    except pa.ArrowException as exc:
        logger.debug("%s: layer %s written without Arrow (%s)", gpkg, name, exc)
        pyogrio.write_dataframe(df, gpkg, layer=name, driver="GPKG", append=gpkg.exists())


def _add_views(gpkg: Path, views: Mapping[str, LayerView]) -> None:
    """Create and register ``views`` in ``gpkg`` (one transaction)."""
    def q(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    con = sqlite3.connect(gpkg, isolation_level=None)
    try:
        con.execute("BEGIN")
        for name, view in views.items():
            geom = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                               (view.source,)).fetchone()
            if geom is None:
                msg = f"{gpkg.name}: view {name!r} needs the feature layer {view.source!r}, which is not in the file"
                raise SchemaError(msg)
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({q(view.source)})")]
            unknown = sorted(set(view.constants) - set(cols))
            if unknown:
                msg = f"{gpkg.name}: view {name!r}: {unknown} are not columns of {view.source!r}; columns: {cols}"
                raise SchemaError(msg)
            # a view's SQL cannot bind parameters: the constants become quoted SQL literals
            select = ", ".join(f"{_sql_literal(view.constants[c])} AS {q(c)}" if c in view.constants else q(c)
                               for c in cols)
            con.execute(f"CREATE VIEW {q(name)} AS SELECT {select} FROM {q(view.source)}")  # noqa: S608
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, "
                        "min_x, min_y, max_x, max_y, srs_id) SELECT ?, data_type, ?, description, last_change, "
                        "min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents WHERE table_name = ?",
                        (name, name, view.source))
            con.execute("INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m) "
                        "SELECT ?, column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns "
                        "WHERE table_name = ?", (name, view.source))
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def _sql_literal(value: str) -> str:
    """``value`` as a quoted SQL text literal."""
    if not isinstance(value, str):
        msg = f"view constant {value!r}: use text (a number would be read back as text)"
        raise SchemaError(msg)
    return "'" + value.replace("'", "''") + "'"


def write_table(
    df: pd.DataFrame, path: str | os.PathLike[str], *, fmt: str | None = None,
    overwrite: bool = False, sheets: dict[str, pd.DataFrame] | None = None, sheet_name: str = "table",
) -> Path:
    """Write a plain table as CSV (UTF-8 with BOM, so Excel reads Chinese), JSON or XLSX.

    Text cells of CSV and XLSX are neutralised (:mod:`cityplan.io.safecells`): none can become a
    formula; JSON is data, written as is.

    ``sheets`` adds further named sheets to an XLSX workbook (the first is ``sheet_name``).
    """
    p = Path(path)
    fmt = (fmt or p.suffix.lstrip(".")).lower()
    if fmt not in TABLE_FORMATS:
        msg = f"{p}: unknown table format {fmt!r}; use one of {TABLE_FORMATS}"
        raise SchemaError(msg)
    with atomic_path(p, overwrite=overwrite) as tmp:
        if fmt == "csv":
            write_safe_csv(df, tmp, encoding="utf-8-sig")
        elif fmt == "json":
            df.to_json(tmp, orient="records", force_ascii=False, indent=1)
        else:
            with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
                neutralise_frame(df, xlsx=True).to_excel(xw, sheet_name=sheet_name, index=False)
                for name, extra in (sheets or {}).items():
                    neutralise_frame(extra, xlsx=True).to_excel(xw, sheet_name=name[:31], index=False)
                force_text_cells(xw.book)
    return p
