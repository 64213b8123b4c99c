"""The PostGIS backend of the one map: one schema per map, swapped in whole on every build.

URL: ``postgresql://USER[:PASSWORD]@HOST:PORT/DB[?schema=NAME]`` (default schema ``onemap``;
the password may also come from ``PGPASSWORD`` or ``~/.pgpass``, as libpq does). Every SQL
statement is composed with :mod:`psycopg.sql` identifiers and bound parameters.

Consistency: a build writes every table into a fresh schema ``<schema>__build_<hex>`` and, in
the same transaction, takes an exclusive advisory lock on the map, moves the append-only tables
over, renames the old schema away, renames the new one to ``<schema>`` and drops the old.
Readers take the same advisory lock in shared mode for each :meth:`PostgisStore.read` (or for a
whole :meth:`PostgisStore.snapshot` block), so they see either the old or the new build, never
a mix, and never wait for the (long) writing phase, only for the swap itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from cityplan._errors import LayerNotFoundError, OneMapError, OutputExistsError, SchemaError
from cityplan.store.base import (
    BUILD_COLUMNS,
    CACHE_TABLE,
    CATALOG_TABLE,
    DEFAULT_KEEP,
    INFO_TABLE,
    LEDGER_TABLE,
    PROFILE_TABLE,
    STYLES_TABLE,
    BuildPayload,
    LayerMeta,
    Store,
)
from cityplan.store.shared import SharedState
from cityplan.store.sqltypes import arrays_from_rows, arrays_to_rows
from cityplan.store.tables import Table, add_columns, ddl, ledger

logger = logging.getLogger(__name__)

DEFAULT_SCHEMA = "onemap"
CONNECT_TIMEOUT = 5
#: connections per process (``$CITYPLAN_PG_POOL``; ``cityplan serve --db-pool``)
POOL_SIZE = 4
#: seconds a thread waits for a free connection before the request fails (one line)
POOL_TIMEOUT = 30.0
#: advisory-lock classes (first key of the two-int form; second key = hashtext of the name)
_MAP_LOCK = 0x43504D31  # readers shared / swap exclusive
_BUILD_LOCK = 0x43504232  # one build of a schema at a time
_TABLE_LOCK = 0x43505433  # append_rows / write_cache on one table
#: a map's schema (at most 40, so the build's stage name fits 63), or a kept build of it
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}(?:__b_[0-9a-f]{1,12})?")
_TABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_ORD = "__cityplan_ord"
_STYLES_DDL = (  # exactly what QGIS (QgsPostgresUtils::createStylesTable) creates
    "CREATE TABLE IF NOT EXISTS public.layer_styles(id SERIAL PRIMARY KEY,"
    "f_table_catalog varchar,f_table_schema varchar,f_table_name varchar,"
    "f_geometry_column varchar,styleName text,styleQML xml,styleSLD xml,useAsDefault boolean,"
    "description text,owner varchar(63) DEFAULT CURRENT_USER,ui xml,"
    "update_time timestamp DEFAULT CURRENT_TIMESTAMP,type varchar,r_raster_column varchar)"
)


# -- URLs ----------------------------------------------------------------------------------
def pool_size() -> int:
    """Connections per process: ``$CITYPLAN_PG_POOL`` (1-100), else :data:`POOL_SIZE`."""
    raw = os.environ.get("CITYPLAN_PG_POOL", "")
    if raw.strip().isdigit() and 1 <= int(raw) <= 100:
        return int(raw)
    return POOL_SIZE


def _configure(conn: psycopg.Connection) -> None:
    """Each pooled connection: autocommit, read committed, UTC."""
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    conn.execute("SET TIME ZONE 'UTC'")


def parse_pg_url(url: str) -> tuple[str, str]:
    """Split a one-map URL into a libpq connection string and the schema name.

    Parameters
    ----------
    url
        ``postgresql://USER[:PASSWORD]@HOST:PORT/DB[?schema=NAME&sslmode=...]``.

    Returns
    -------
    tuple of str
        ``(conninfo, schema)``; ``conninfo`` is the URL without ``schema`` and with
        ``connect_timeout`` set (unless given).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        msg = f"{mask_url(url)}: not a PostgreSQL URL; use postgresql://USER@HOST:PORT/DB[?schema=NAME]"
        raise OneMapError(msg)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not _SCHEMA_RE.fullmatch(schema):
        msg = (f"{mask_url(url)}: schema {schema!r} is not a plain name; use letters, digits and _ "
               "(at most 40, not starting with a digit)")
        raise OneMapError(msg)
    rest = [(k, v) for k, v in query if k != "schema"]
    if not any(k == "connect_timeout" for k, _ in rest):
        rest.append(("connect_timeout", str(CONNECT_TIMEOUT)))
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest, quote_via=quote),
                           parts.fragment))
    return conninfo, schema


def _with_schema(url: str, schema: str) -> str:
    """``url`` naming ``schema`` (another schema of the same database: a kept build)."""
    parts = urlsplit(url)
    rest = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode([*rest, ("schema", schema)], quote_via=quote),
                       parts.fragment))


def mask_url(url: str) -> str:
    """The URL with its password (in the user part or a ``password=`` parameter) shown as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hostport}"
    query = "&".join(f"{k}=***" if k == "password" else f"{k}={v}"
                     for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# -- column types ------------------------------------------------------------------------
def _column(s: pd.Series) -> tuple[str, list[Any]]:
    """PostgreSQL type and Python values (None for missing) of one frame column."""
    dt = s.dtype
    notna = s.notna().to_numpy()
    if isinstance(dt, pd.CategoricalDtype):
        s = s.astype(object)
        dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        pgtype = "boolean"
    elif pd.api.types.is_integer_dtype(dt):
        size = dt.itemsize + (1 if pd.api.types.is_unsigned_integer_dtype(dt) else 0)
        pgtype = "smallint" if size <= 2 else "integer" if size <= 4 else "bigint" if size <= 8 else "numeric"
    elif pd.api.types.is_float_dtype(dt):
        pgtype = "real" if dt.itemsize == 4 else "double precision"
    elif isinstance(dt, pd.DatetimeTZDtype):
        pgtype = "timestamptz"
    elif pd.api.types.is_datetime64_dtype(dt):
        pgtype = "timestamp"
    elif pd.api.types.is_string_dtype(dt) and not pd.api.types.is_object_dtype(dt):
        pgtype = "text"
    else:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        pgtype = {"string": "text", "empty": "text", "boolean": "boolean", "integer": "bigint",
                  "floating": "double precision", "mixed-integer-float": "double precision",
                  "decimal": "double precision", "date": "date", "bytes": "bytea"}.get(kind, "")
        if kind == "datetime":
            s = pd.to_datetime(s, utc=True)
            pgtype = "timestamptz"
        if not pgtype:  # mixed values: text, lists/dicts as JSON (nothing silently lost)
            vals = [(json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, list | dict)
                     else str(v)) if ok else None for v, ok in zip(s.tolist(), notna, strict=True)]
            return "text", vals
    vals = s.astype(object).tolist()
    if not notna.all():
        vals = [v if ok else None for v, ok in zip(vals, notna, strict=True)]
    if pgtype == "double precision" or pgtype == "real":
        vals = [None if v is None else float(v) for v in vals]
    elif pgtype == "numeric":
        vals = [None if v is None else Decimal(v) for v in vals]
    return pgtype, vals


def _series(values: list[Any], pgtype: str, name: str) -> pd.Series:
    """A pandas column from fetched values, by PostgreSQL type (nulls keep the dtype family)."""
    has_null = any(v is None for v in values)
    ints = {"int2": "int16", "int4": "int32", "int8": "int64"}
    if pgtype in ints:
        dtype = ints[pgtype]
        return pd.Series(values, dtype=dtype.capitalize() if has_null else dtype, name=name)
    if pgtype in ("float4", "float8", "numeric"):
        return pd.Series(np.array(values, dtype="float32" if pgtype == "float4" else "float64"),
                         name=name)
    if pgtype == "bool":
        return pd.Series(values, dtype=object if has_null else bool, name=name)
    if pgtype == "timestamptz":
        return pd.Series(pd.to_datetime(values, utc=True), name=name)
    if pgtype == "timestamp":
        return pd.Series(pd.to_datetime(values), name=name)
    if pgtype in ("text", "varchar", "bpchar", "name") and not values:
        return pd.Series([], dtype=pd.Series(["x"]).dtype, name=name)
    return pd.Series(values, dtype=None if values else object, name=name)


# -- the store ----------------------------------------------------------------------------
class PostgisStore(Store):
    """One one-map held in a PostgreSQL/PostGIS schema.

    Parameters
    ----------
    url
        ``postgresql://USER[:PASSWORD]@HOST:PORT/DB[?schema=NAME]``.

    Notes
    -----
    Connections come from a bounded pool per process (:data:`POOL_SIZE`, or
    ``$CITYPLAN_PG_POOL``; ``cityplan serve --db-pool N``), so N server processes hold at most
    N x pool connections whatever their thread count. A thread holds one connection for the
    length of a :meth:`snapshot` (several reads from the same build) or of one operation, and
    gives it back. The first connection of a process is made directly, so a wrong password, a
    missing database or PostGIS is reported at once in one line.
    """

    kind = "postgis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.conninfo, self.schema = parse_pg_url(url)
        self._label = mask_url(url)
        self._local = threading.local()
        self._shared: PostgisState | None = None
        self._lock = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._pool_pid = 0

    # -- connections ---------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The URL with the password masked."""
        return self._label

    def _explain(self, exc: BaseException) -> str:
        text = _one_line(exc)
        low = text.lower()
        info = psycopg.conninfo.conninfo_to_dict(self.conninfo)
        user = info.get("user") or os.environ.get("PGUSER") or "(default user)"
        db = info.get("dbname") or os.environ.get("PGDATABASE") or user
        where = f"{info.get('host') or 'local socket'}:{info.get('port') or 5432}"
        if "password authentication failed" in low or "no password supplied" in low:
            return (f"{self.label}: password authentication failed for user {user!r}; fix the "
                    "password in the URL, PGPASSWORD or ~/.pgpass")
        if "role" in low and "does not exist" in low:
            return f"{self.label}: role {user!r} does not exist on the server; fix the user name in the URL"
        if "database" in low and "does not exist" in low:
            return (f"{self.label}: database {db!r} does not exist; create it (createdb {db}) and "
                    "run CREATE EXTENSION postgis in it as a superuser")
        if any(t in low for t in ("connection refused", "timeout expired", "could not translate",
                                  "no route to host", "network is unreachable", "no such file")):
            return (f"{self.label}: cannot reach PostgreSQL at {where} ({text}); start the server "
                    "or fix host and port in the URL")
        return f"{self.label}: cannot use the database ({text}); check the URL and the server"

    def _probe(self) -> None:
        """One direct connection: the server, the password, the database and PostGIS are there
        (a one-line OneMapError naming the fix otherwise)."""
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            raise OneMapError(self._explain(exc)) from exc
        try:
            if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is None:
                db = conn.info.dbname
                msg = (f"{self.label}: database {db!r} has no PostGIS extension; run CREATE EXTENSION "
                       f"postgis in {db!r} as a superuser")
                raise OneMapError(msg)
        finally:
            conn.close()

    def _pool_here(self) -> ConnectionPool:
        """This process's pool (made, after a probe, on first use; a new one after a fork)."""
        with self._lock:
            if self._pool is not None and self._pool_pid == os.getpid():
                return self._pool
        self._probe()
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ConnectionPool(
                    self.conninfo, min_size=0, max_size=pool_size(), timeout=POOL_TIMEOUT, open=True,
                    kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}, configure=_configure,
                    check=ConnectionPool.check_connection, name=f"cityplan-{self.schema}")
                self._pool_pid = os.getpid()
            return self._pool

    @contextlib.contextmanager
    def _lease(self) -> Iterator[psycopg.Connection]:
        """A connection for this thread: the one it holds already (inside a snapshot or another
        lease), else one from the pool, given back at the end of the block."""
        held = getattr(self._local, "conn", None)
        if held is not None and getattr(self._local, "pid", 0) == os.getpid():
            yield held
            return
        pool = self._pool_here()
        try:
            cm = pool.connection()
            conn = cm.__enter__()
        except PoolTimeout as exc:
            self._probe()  # the database went away: say why in one line
            msg = (f"{self.label}: no database connection free within {POOL_TIMEOUT:.0f} s (pool of "
                   f"{pool.max_size}); raise --db-pool or the server's max_connections")
            raise OneMapError(msg) from exc
        self._local.conn, self._local.pid, self._local.depth = conn, os.getpid(), 0
        try:
            yield conn
        except BaseException as exc:
            self._local.conn = None
            if not cm.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            self._local.conn = None
            cm.__exit__(None, None, None)

    def _conn(self) -> psycopg.Connection:
        """The connection this thread holds (inside :meth:`_lease` or :meth:`snapshot`)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", 0) != os.getpid():
            raise RuntimeError("no connection held: use PostgisStore._lease() or snapshot()")
        return conn

    def close(self) -> None:
        """Close this process's connection pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[PostgisStore]:
        """Reads inside the block all come from one build (a rebuild's swap waits for it)."""
        if getattr(self._local, "depth", 0) and getattr(self._local, "pid", 0) == os.getpid():
            self._local.depth += 1
            try:
                yield self
            finally:
                self._local.depth -= 1
            return
        with self._lease() as conn, self._errors(), conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock_shared(%s, hashtext(%s))",
                         (_MAP_LOCK, self.schema))
            self._local.depth = 1
            try:
                yield self
            finally:
                self._local.depth = 0

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as exc:
            raise OneMapError(self._explain(exc)) from exc

    # -- catalog queries -----------------------------------------------------------------
    def _tables(self, conn: psycopg.Connection, schema: str) -> list[str]:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.oid", (schema,)).fetchall()
        return [r[0] for r in rows]

    def _columns(self, conn: psycopg.Connection, table: str) -> list[tuple[str, str, int]]:
        """(name, type name, srid or 0) of a table's columns, in order, without ``fid``."""
        rows = conn.execute(
            "SELECT a.attname, t.typname, CASE WHEN t.typname = 'geometry' "
            "THEN postgis_typmod_srid(a.atttypmod) ELSE 0 END "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum", (self.schema, table)).fetchall()
        return [(n, t, s) for n, t, s in rows if n != "fid"]

    def _state(self, conn: psycopg.Connection) -> str:
        """``absent``, ``empty``, ``onemap`` or ``foreign`` (a schema holding other tables)."""
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                        (self.schema,)).fetchone() is None:
            return "absent"
        tables = self._tables(conn, self.schema)
        if INFO_TABLE in tables:
            return "onemap"
        return "foreign" if tables else "empty"

    def _not_a_map(self, state: str) -> str:
        if state == "absent":
            return (f"{self.label}: schema {self.schema!r} does not exist; build the one map into "
                    "it first (cityplan build with this URL) or fix ?schema= in the URL")
        return (f"{self.label}: schema {self.schema!r} is not a cityplan one map (no "
                f"{INFO_TABLE} table); fix ?schema= in the URL or build the one map into a new schema")

    def exists(self) -> bool:
        """True when the schema holds a built one map."""
        with self._lease() as conn, self._errors():
            return self._state(conn) == "onemap"

    def check(self) -> None:
        """Raise OneMapError unless the server, database, PostGIS and the built map are there."""
        with self._lease() as conn, self._errors():
            state = self._state(conn)
        if state != "onemap":
            raise OneMapError(self._not_a_map(state))

    def list_tables(self) -> tuple[str, ...]:
        """Tables of the map schema in creation order (layers first, as the build wrote them)."""
        with self._lease() as conn, self._errors():
            return tuple(self._tables(conn, self.schema))

    # -- reading -------------------------------------------------------------------------
    def read(self, name: str, *, bbox: tuple[float, float, float, float] | None = None,
             columns: Sequence[str] | None = None, where: Mapping[str, str | int] | None = None,
             ) -> pd.DataFrame:
        """A layer as GeoDataFrame (CRS from its SRID) or a table as DataFrame, ordered by fid.

        Parameters
        ----------
        name
            Layer id or table name.
        bbox
            ``(xmin, ymin, xmax, ymax)`` in the layer's CRS: features intersecting it (the GiST
            index answers the ``&&`` test first).
        columns
            Attribute columns to read (the geometry always comes along).
        where
            Column -> value equalities every row returned must meet (bound parameters).
        """
        with self.snapshot():
            conn = self._conn()
            cols = self._columns(conn, name)
            if not cols:
                state = self._state(conn)
                if state != "onemap":
                    raise OneMapError(self._not_a_map(state))
                msg = (f"{self.label}: no layer or table {name!r}; it holds "
                       f"{', '.join(self._tables(conn, self.schema))}. Rebuild with "
                       "`cityplan build --overwrite`")
                raise LayerNotFoundError(msg)
            geom = next(((n, srid) for n, t, srid in cols if t == "geometry"), None)
            attrs = [(n, t) for n, t, _ in cols if t != "geometry"]
            if columns is not None:
                known = {n for n, _ in attrs}
                missing = [c for c in columns if c not in known]
                if missing:
                    msg = (f"{self.label}: {name} has no column(s) {missing}; it has "
                           f"{sorted(known)}")
                    raise SchemaError(msg)
                want = set(columns)
                attrs = [(n, t) for n, t in attrs if n in want]
            select = [sql.Identifier(n) for n, _ in attrs]
            if geom is not None:
                select.append(sql.SQL("ST_AsBinary({})").format(sql.Identifier(geom[0])))
            query = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(select) if select else sql.SQL("1"),
                sql.Identifier(self.schema, name))
            params: tuple[Any, ...] = ()
            conds: list[sql.Composable] = []
            if bbox is not None:
                if geom is None:
                    raise SchemaError(f"{self.label}: {name} is a table without geometry; drop bbox=")
                conds.append(sql.SQL("{g} && ST_MakeEnvelope(%s, %s, %s, %s, %s) AND "
                                     "ST_Intersects({g}, ST_MakeEnvelope(%s, %s, %s, %s, %s))").format(
                                         g=sql.Identifier(geom[0])))
                box = tuple(float(v) for v in bbox)
                params = (*box, geom[1], *box, geom[1])
            for col, value in (where or {}).items():
                if col not in {n for n, _, _ in cols}:
                    raise SchemaError(f"{self.label}: {name} has no column {col!r}; it has "
                                      f"{sorted(n for n, _, _ in cols)}")
                conds.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
                params = (*params, value)
            if conds:
                query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds)
            query += sql.SQL(" ORDER BY fid")
            with self._errors():
                rows = conn.cursor(binary=True).execute(query, params).fetchall()
        values = list(zip(*rows, strict=True)) if rows else [[] for _ in range(len(select))]
        data = {n: _series(list(v), t, n) for (n, t), v in zip(attrs, values, strict=False)}
        frame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
        if not attrs:
            frame = pd.DataFrame(index=pd.RangeIndex(len(rows)))
        if geom is None:
            return frame
        wkb = np.array([None if v is None else bytes(v) for v in values[-1]], dtype=object)
        crs = f"EPSG:{geom[1]}" if geom[1] > 0 else None
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(shapely.from_wkb(wkb), crs=crs),
                                crs=crs)

    # -- writing a build -----------------------------------------------------------------
    def _write_frame(self, conn: psycopg.Connection, schema: str, name: str,
                     frame: pd.DataFrame) -> None:
        """Create ``schema.name`` (fid primary key) and COPY the frame's rows into it."""
        geo = None
        if isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame.columns:
            geo = frame._geometry_column_name
        if "fid" in frame.columns:
            raise SchemaError(f"{name}: column 'fid' is reserved for the primary key; rename it")
        defs = [sql.SQL("fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")]
        names: list[str] = []
        types: list[str] = []
        data: list[list[Any]] = []
        for col in frame.columns:
            s = frame[col]
            if col == geo:
                srid = _srid(frame, name)
                gtype = _geometry_type(s)
                defs.append(sql.SQL("geometry geometry({}, {})").format(sql.SQL(gtype),
                                                                      sql.Literal(srid)))
                arr = shapely.set_srid(np.asarray(s.values, dtype=object), srid)
                names.append("geometry")
                types.append("bytea")  # binary COPY: EWKB bytes go straight to geometry_recv
                data.append(list(shapely.to_wkb(arr, include_srid=True)))
                continue
            if isinstance(s.dtype, gpd.array.GeometryDtype):
                raise SchemaError(f"{name}: second geometry column {col!r}; keep one geometry column")
            if not isinstance(col, str):
                raise SchemaError(f"{name}: column name {col!r} is not text; rename it")
            pgtype, vals = _column(s)
            defs.append(sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(pgtype)))
            names.append(col)
            types.append(pgtype)
            data.append(vals)
        table = sql.Identifier(schema, name)
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(defs)))
        self._copy(conn, table, names, data, types)
        if geo is not None:
            conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geometry)").format(table))
        conn.execute(sql.SQL("ANALYZE {}").format(table))

    @staticmethod
    def _copy(conn: psycopg.Connection, table: sql.Composable, names: list[str],
              data: list[list[Any]], types: list[str] | None = None) -> None:
        """COPY rows in; binary when the column ``types`` are known exactly (a new table)."""
        if not names or not data or not data[0]:
            return
        stmt = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
            table, sql.SQL(", ").join(sql.Identifier(n) for n in names),
            sql.SQL(" (FORMAT BINARY)" if types else ""))
        with conn.cursor() as cur, cur.copy(stmt) as copy:
            if types:
                copy.set_types(types)
            for row in zip(*data, strict=True):
                copy.write_row(row)

    def replace_map(self, payload: BuildPayload, *, overwrite: bool, keep: int = DEFAULT_KEEP) -> None:
        """Write the build into a new schema and swap it in with one transaction.

        Append-only tables of the previous map move into the new schema in the same
        transaction; the cache is dropped (its entries belong to the old build). QGIS default
        styles go to ``public.layer_styles`` and titles to table comments.
        """
        stage = f"{self.schema}__build_{secrets.token_hex(4)}"
        tables = {**payload.layers, CATALOG_TABLE: payload.catalog, LEDGER_TABLE: payload.ledger,
                  PROFILE_TABLE: payload.profile,
                  INFO_TABLE: pd.DataFrame({"key": list(payload.info),
                                            "value": [str(v) for v in payload.info.values()]})}
        if getattr(self._local, "depth", 0):
            raise RuntimeError("replace_map inside snapshot(): the swap would wait for itself")
        with self._lease() as conn:
            self._swap_in(conn, payload, tables, stage, overwrite=overwrite, keep=keep)
        logger.info("%s: one map written (%d layers)", self.label, len(payload.layers))

    def _swap_in(self, conn: psycopg.Connection, payload: BuildPayload, tables: dict[str, pd.DataFrame], stage: str,
                 *, overwrite: bool, keep: int = DEFAULT_KEEP) -> None:
        with self._errors(), conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_BUILD_LOCK, self.schema))
            state = self._state(conn)
            if state == "onemap" and not overwrite:
                msg = f"{self.label}: a one map is already built there; pass --overwrite to replace it"
                raise OutputExistsError(msg)
            if state == "foreign":
                msg = (f"{self.label}: schema {self.schema!r} holds tables but is not a cityplan "
                       "one map; refusing to replace it: choose another ?schema= in the URL")
                raise OneMapError(msg)
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(stage)))
            for name, frame in tables.items():
                self._write_frame(conn, stage, name, frame)
                meta = payload.meta.get(name)
                if meta is not None and (meta.title or meta.description):
                    text = "\n\n".join(t for t in (meta.title, meta.description) if t)
                    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(
                        sql.Identifier(stage, name), sql.Literal(text)))
            # the swap: wait for readers, then move, rename and drop in this transaction
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_MAP_LOCK, self.schema))
            if state != "absent":
                for name in self._tables(conn, self.schema):
                    if name in tables or name == CACHE_TABLE:
                        continue
                    conn.execute(sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                        sql.Identifier(self.schema, name), sql.Identifier(stage)))
                retired = f"{self.schema}__old_{secrets.token_hex(4)}"
                conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                    sql.Identifier(self.schema), sql.Identifier(retired)))
            conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                sql.Identifier(stage), sql.Identifier(self.schema)))
            if state != "absent":
                self._retire(conn, retired, keep)
            self._write_styles(conn, payload.layers, payload.meta)

    # -- build history ---------------------------------------------------------------------
    def _history_prefix(self) -> str:
        return f"{self.schema}__b_"

    def _info_of(self, conn: psycopg.Connection, schema: str) -> dict[str, str]:
        if INFO_TABLE not in self._tables(conn, schema):
            return {}
        rows = conn.execute(sql.SQL('SELECT "key", "value" FROM {}').format(
            sql.Identifier(schema, INFO_TABLE))).fetchall()
        return {str(k): str(v) for k, v in rows}

    def _history_schemas(self, conn: psycopg.Connection) -> list[tuple[str, dict[str, str]]]:
        """Kept earlier builds (schema, build info), newest first."""
        like = self._history_prefix().replace("_", r"\_") + "%"
        names = [r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                            (like,)).fetchall()]
        kept = [(n, self._info_of(conn, n)) for n in names]
        return sorted(kept, key=lambda x: (x[1].get("built_at", ""), x[0]), reverse=True)

    def _retire(self, conn: psycopg.Connection, retired: str, keep: int) -> None:
        """Keep the replaced build as ``<schema>__b_<build id>`` (its cache dropped) or drop it; then
        drop kept builds beyond ``keep - 1``. Inside the swap's transaction."""
        bid = self._info_of(conn, retired).get("build_id", "")
        name = f"{self._history_prefix()}{bid[:12]}"
        if keep > 1 and bid.isalnum() and len(name) <= 63 and conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(retired, CACHE_TABLE)))
            conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(retired), sql.Identifier(name)))
        else:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(retired)))
        for old, _info in self._history_schemas(conn)[max(keep - 1, 0):]:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(old)))

    def builds(self) -> pd.DataFrame:
        """The current build and the kept earlier ones (``BUILD_COLUMNS``), newest first."""
        with self._lease() as conn, self._errors():
            kept = [(self.schema, self._info_of(conn, self.schema), True)]
            kept += [(n, i, False) for n, i in self._history_schemas(conn)]
        rows = [{"build_id": i.get("build_id", ""), "built_at": i.get("built_at", ""), "current": cur,
                 "profile_sha256": i.get("profile_sha256", ""), "sources_sha256": i.get("sources_sha256", ""),
                 "location": _with_schema(self.url, n)} for n, i, cur in kept]
        return pd.DataFrame(rows, columns=BUILD_COLUMNS)

    def _write_styles(self, conn: psycopg.Connection, layers: Mapping[str, pd.DataFrame],
                      meta: Mapping[str, LayerMeta]) -> None:
        """Replace this schema's rows of QGIS's ``public.layer_styles`` (created if missing)."""
        rows = [(name, meta[name]) for name in layers if name in meta and meta[name].qml]
        try:
            with conn.transaction():
                conn.execute(_STYLES_DDL)
                have = {r[0] for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = %s", (STYLES_TABLE,))}
                conn.execute("DELETE FROM public.layer_styles WHERE f_table_catalog = "
                             "current_database() AND f_table_schema = %s", (self.schema,))
                typed = "type" in have
                insert = sql.SQL(
                    "INSERT INTO public.layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                    "f_geometry_column, stylename, styleqml, stylesld, useasdefault, description"
                    "{}) VALUES (current_database(), %s, %s, 'geometry', %s, XMLPARSE(DOCUMENT %s), "
                    "XMLPARSE(DOCUMENT %s), true, %s{})").format(
                        sql.SQL(", type") if typed else sql.SQL(""),
                        sql.SQL(", 'vector'") if typed else sql.SQL(""))
                for name, m in rows:
                    conn.execute(insert, (self.schema, name, name, m.qml, m.sld or None,
                                          m.title or m.description or name))
        except psycopg.errors.InsufficientPrivilege as exc:
            logger.warning("%s: QGIS styles not written to public.layer_styles (%s); grant "
                           "CREATE/INSERT on schema public to store them", self.label,
                           _one_line(exc))
        except psycopg.errors.InvalidXmlDocument as exc:
            raise SchemaError(f"{self.label}: a layer's QML style is not valid XML ({_one_line(exc)})"
                              ) from exc

    # -- caches --------------------------------------------------------------------------
    def read_cache(self, key: str, build: str) -> dict[str, np.ndarray] | None:
        """Arrays stored under ``key`` for ``build``, or None when absent, stale or damaged."""
        with self.snapshot():
            conn = self._conn()
            if CACHE_TABLE not in self._tables(conn, self.schema):
                return None
            with self._errors():
                rows = conn.cursor(binary=True).execute(
                    sql.SQL("SELECT name, dtype, shape, data FROM {} WHERE key = %s AND build = %s "
                            "ORDER BY name").format(sql.Identifier(self.schema, CACHE_TABLE)),
                    (key, build)).fetchall()
        if not rows:
            return None
        try:
            return arrays_from_rows(rows)
        except (TypeError, ValueError) as exc:
            logger.warning("%s: cache %s unreadable (%s); recomputing", self.label, key, exc)
            return None

    def write_cache(self, key: str, build: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store plain arrays as raw bytes (dtype string + JSON shape); older builds' entries go."""
        rows = [(key, build, *r) for r in arrays_to_rows(arrays)]  # TypeError for object arrays
        ddl = sql.SQL("CREATE TABLE IF NOT EXISTS {} (key text NOT NULL, build text NOT NULL, "
                      "name text NOT NULL, dtype text NOT NULL, shape text NOT NULL, "
                      "data bytea NOT NULL, PRIMARY KEY (key, name))").format(
                          sql.Identifier(self.schema, CACHE_TABLE))
        try:
            with self.snapshot():
                conn = self._conn()
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                                 (_TABLE_LOCK, f"{self.schema}.{CACHE_TABLE}"))
                    conn.execute(ddl)
                    table = sql.Identifier(self.schema, CACHE_TABLE)
                    conn.execute(sql.SQL("DELETE FROM {} WHERE key = %s").format(table), (key,))
                    with conn.cursor() as cur:
                        cur.executemany(sql.SQL("INSERT INTO {} (key, build, name, dtype, shape, "
                                                "data) VALUES (%s, %s, %s, %s, %s, %s)").format(table),
                                        rows)
        except (psycopg.Error, OneMapError) as exc:
            logger.warning("%s: cache %s not written (%s)", self.label, key, _one_line(exc))

    # -- append-only tables ----------------------------------------------------------------
    def append_rows(self, table: str, rows: pd.DataFrame, *, key: Sequence[str] = ()) -> int:
        """Append rows in one transaction; rows whose declared key is there already are skipped.

        The table is created from its declaration (:mod:`cityplan.store.tables`) on first use;
        the unique key index decides what is a duplicate (``ON CONFLICT DO NOTHING``), so the
        check and the insert are one statement, atomic across processes and hosts.
        """
        ledger(table, key)
        return self.append_many({table: rows})[table]

    def append_many(self, batches: Mapping[str, pd.DataFrame]) -> dict[str, int]:
        """:meth:`append_rows` for several ledgers in one transaction (all or none)."""
        prepared = [(spec, spec.values(spec.conform(rows))) for spec, rows in
                    ((ledger(t), r) for t, r in batches.items())]
        counts: dict[str, int] = {}
        with self.snapshot():
            conn = self._conn()
            with self._errors(), conn.transaction():
                for spec, data in prepared:
                    existing = self._columns(conn, spec.name)
                    if not existing:
                        state = self._state(conn)
                        if state != "onemap":
                            raise OneMapError(self._not_a_map(state))
                    elif any(t == "geometry" for _, t, _ in existing):
                        raise SchemaError(f"{self.label}: {spec.name} is a layer of the build, not an append-only table")
                    self._ensure_declared(conn, spec, [n for n, _, _ in existing])
                    if not data:
                        counts[spec.name] = 0
                        continue
                    try:
                        counts[spec.name] = self._insert(conn, sql.Identifier(self.schema, spec.name), spec.names, data)
                    except (psycopg.errors.DataError, psycopg.errors.DatatypeMismatch) as exc:
                        raise SchemaError(f"{self.label}: rows do not fit table {spec.name} "
                                          f"({_one_line(exc)}); match its column types") from exc
        return counts

    def _ensure_declared(self, conn: psycopg.Connection, spec: Table, have: list[str]) -> None:
        """Create the declared table, columns and key index where missing. The DDL runs under a
        per-table advisory lock (two processes creating one table would deadlock on its locks);
        an existing, complete table costs one catalog query."""
        def _complete(cols: list[str]) -> bool:
            return bool(cols) and set(spec.names) <= set(cols) and conn.execute(
                "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                (self.schema, spec.name + "_key")).fetchone() is not None

        if _complete(have):
            return
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_TABLE_LOCK, f"{self.schema}.{spec.name}"))
        have = [n for n, _, _ in self._columns(conn, spec.name)]
        if _complete(have):
            return
        qualified = sql.Identifier(self.schema, spec.name).as_string(conn)
        stmts = add_columns(spec, have, "postgres", qualified=qualified) if have else []
        for stmt in [*stmts, *ddl(spec, "postgres", qualified=qualified)]:
            conn.execute(stmt.encode())

    def _insert(self, conn: psycopg.Connection, target: sql.Identifier, names: list[str],
                data: list[tuple]) -> int:
        """COPY the rows to a temporary table, then one ``INSERT ... ON CONFLICT DO NOTHING``
        in their order (the first of rows with one key wins)."""
        tmp = sql.Identifier("cityplan_append_in")
        cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
        conn.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {}, 0::bigint AS {} "
                             "FROM {} WITH NO DATA").format(tmp, cols, sql.Identifier(_ORD), target))
        columns = [list(c) for c in zip(*data, strict=True)]
        self._copy(conn, tmp, [*names, _ORD], [*columns, list(range(len(data)))])
        cur = conn.execute(sql.SQL("INSERT INTO {target} ({cols}) SELECT {cols} FROM {tmp} ORDER BY {ord} "
                                   "ON CONFLICT DO NOTHING").format(
                                       target=target, cols=cols, tmp=tmp, ord=sql.Identifier(_ORD)))
        conn.execute(sql.SQL("DROP TABLE {}").format(tmp))
        return cur.rowcount

    # -- shared state -----------------------------------------------------------------------
    def shared(self) -> PostgisState:
        """Sessions and failed logins in the map's schema: every host serving the map sees them."""
        if self._shared is None:
            self._shared = PostgisState(self)
        return self._shared


class PostgisState(SharedState):
    """Shared tables in the map's PostGIS schema (moved with the map when it is rebuilt)."""

    mark = "%s"

    def __init__(self, store: PostgisStore) -> None:
        super().__init__()
        self.store = store

    def _name(self, table: Table) -> str:
        s = self.store.schema.replace('"', '""')
        return f'"{s}"."{table.name}"'

    def _dialect(self) -> str:
        return "postgres"

    def _guard(self, table: Table) -> list[tuple[str, Sequence[Any]]]:
        return [("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_TABLE_LOCK, f"{self.store.schema}.{table.name}"))]

    def _run(self, statements: Sequence[tuple[str, Sequence[Any]]], *, fetch: bool = False) -> tuple[list[tuple], int]:
        rows: list[tuple] = []
        changed = 0
        with self.store._lease() as conn, self.store._errors(), conn.transaction():
            for stmt, params in statements:
                cur = conn.execute(stmt.encode(), tuple(params) or None)
            changed = max(cur.rowcount, 0)
            if fetch:
                rows = cur.fetchall()
        return rows, changed


def _srid(frame: gpd.GeoDataFrame, name: str) -> int:
    if frame.crs is None:
        raise SchemaError(f"{name}: layer has no CRS; set the storage CRS (EPSG:4326) before writing")
    epsg = frame.crs.to_epsg()
    if epsg is None:
        raise SchemaError(f"{name}: CRS {frame.crs.name!r} has no EPSG code; reproject to EPSG:4326")
    return int(epsg)


def _geometry_type(s: gpd.GeoSeries) -> str:
    """The PostGIS type modifier: the one geometry type of the column, else ``Geometry``."""
    types = {t for t in s.geom_type.dropna().unique() if t}
    allowed = {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
               "MultiPolygon", "GeometryCollection"}
    has_z = bool(len(s)) and bool(s.has_z.any())
    if len(types) == 1 and (t := types.pop()) in allowed:
        return t + ("Z" if has_z else "")
    return "GeometryZ" if has_z else "Geometry"
