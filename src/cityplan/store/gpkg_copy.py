"""Whole-file operations on a GeoPackage one map done with SQLite directly, below pyogrio: a
translated copy (every geometry moved, in place in the copy: fast for the check-up's synthetic
countries) and emptying the derived-array cache. Kept in the storage layer, the only place that
knows the file format.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS

from cityplan.store.base import CACHE_TABLE, CATALOG_TABLE, INFO_TABLE

Move = Callable[[np.ndarray], np.ndarray]


def translated_copy(source: Path, target: Path, translator: Callable[[CRS], Move], *,
                    info: Mapping[str, str], description_prefix: str) -> None:
    """Copy the GeoPackage ``source`` to ``target`` (a temporary file the caller renames into
    place), every geometry moved by ``translator(layer_crs)``; the copy gets ``info`` as its build
    info, ``description_prefix`` before every catalog description and an empty cache."""
    import shutil

    shutil.copyfile(source, target)
    con = sqlite3.connect(target, isolation_level=None)
    try:  # a temp file renamed into place when complete: no journal needed
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("BEGIN")
        cols = con.execute("SELECT table_name, column_name, srs_id FROM gpkg_geometry_columns").fetchall()
        for table, column, srs_id in cols:
            box = _translate_table(con, table, column, srs_id, translator(_srs(con, srs_id)))
            if box is not None:
                con.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? "
                            "WHERE table_name = ?", (*box, table))
        con.execute(f'DELETE FROM "{INFO_TABLE}"')  # noqa: S608
        cols_info = [r[1] for r in con.execute(f'PRAGMA table_info("{INFO_TABLE}")')]
        if "fid" in cols_info:
            con.executemany(f'INSERT INTO "{INFO_TABLE}" (key, value) VALUES (?, ?)', list(info.items()))  # noqa: S608
        else:
            con.executemany(f'INSERT INTO "{INFO_TABLE}" VALUES (?, ?)', list(info.items()))  # noqa: S608
        con.execute(f'UPDATE "{CATALOG_TABLE}" SET description = ? || coalesce(description, \'\')',  # noqa: S608
                    (description_prefix,))
        if con.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (CACHE_TABLE,)).fetchone()[0]:
            con.execute(f"DELETE FROM {CACHE_TABLE}")  # noqa: S608 - a constant table name
        con.execute("COMMIT")
    finally:
        con.close()


def clear_cache(path: Path) -> None:
    """Empty the derived-array cache of the GeoPackage one map at ``path``."""
    with sqlite3.connect(path) as con:
        if con.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (CACHE_TABLE,)).fetchone()[0]:
            con.execute(f"DELETE FROM {CACHE_TABLE}")  # noqa: S608 - a constant table name


def _gpkg_blobs(geoms: np.ndarray, srs_id: int) -> list[bytes | None]:
    """GeoPackage geometry blobs (little endian, xy envelope except for points)."""
    wkb = shapely.to_wkb(geoms, byte_order=1, flavor="iso")
    bounds = shapely.bounds(geoms)
    empty = shapely.is_empty(geoms)
    is_point = shapely.get_type_id(geoms) == 0
    out: list[bytes | None] = []
    for w, b, e, p in zip(wkb, bounds, empty, is_point, strict=True):
        if w is None:
            out.append(None)
        elif e or p:
            out.append(b"GP\x00" + bytes([0x01 | (0x10 if e else 0)]) + struct.pack("<i", srs_id) + w)
        else:
            out.append(b"GP\x00\x03" + struct.pack("<i4d", srs_id, b[0], b[2], b[1], b[3]) + w)
    return out


def _from_blobs(blobs: list[bytes | None]) -> np.ndarray:
    """Shapely geometries from GeoPackage blobs (header and envelope skipped)."""
    wkb = []
    for b in blobs:
        if b is None:
            wkb.append(None)
            continue
        env = (b[3] >> 1) & 0x07
        wkb.append(b[8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[env]:])
    return shapely.from_wkb(np.array(wkb, dtype=object))


def _translate_table(con: sqlite3.Connection, table: str, column: str, srs_id: int,
                     move: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float, float, float] | None:
    rows = con.execute(f'SELECT fid, "{column}" FROM "{table}"').fetchall()  # noqa: S608 - names from gpkg_geometry_columns
    if not rows:
        return None
    fids = [r[0] for r in rows]
    geoms = shapely.transform(_from_blobs([r[1] for r in rows]), move)
    rtree = f"rtree_{table}_{column}"
    trig = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
                       "AND name LIKE ?", (table, f"{rtree}%")).fetchall()
    for name, _ in trig:  # the triggers call ST_* functions plain SQLite lacks; rebuilt below
        con.execute(f'DROP TRIGGER "{name}"')
    con.executemany(f'UPDATE "{table}" SET "{column}" = ? WHERE fid = ?',  # noqa: S608
                    list(zip(_gpkg_blobs(geoms, srs_id), fids, strict=True)))
    has_rtree = con.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (rtree,)).fetchone()[0]
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    b = shapely.bounds(geoms)
    if has_rtree:
        con.execute(f'DELETE FROM "{rtree}"')  # noqa: S608
        con.executemany(f'INSERT INTO "{rtree}" VALUES (?, ?, ?, ?, ?)',  # noqa: S608
                        [(f, x0, x1, y0, y1) for f, (x0, y0, x1, y1), k in zip(fids, b, ok, strict=True) if k])
    for _, sql in trig:
        con.execute(sql)
    if not ok.any():
        return None
    b = b[ok]
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())


def _srs(con: sqlite3.Connection, srs_id: int) -> CRS:
    row = con.execute("SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys "
                      "WHERE srs_id = ?", (srs_id,)).fetchone()
    if row and str(row[0]).upper() == "EPSG":
        return CRS.from_epsg(int(row[1]))
    if row and row[2] and row[2] != "undefined":
        return CRS.from_wkt(row[2])
    return CRS.from_epsg(4326)


