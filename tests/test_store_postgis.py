"""The PostGIS backend of the one map against a real throw-away PostgreSQL/PostGIS cluster."""

from __future__ import annotations

import multiprocessing as mp
import secrets
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from shapely.geometry import Point, box

from cityplan._errors import LayerNotFoundError, OneMapError, OutputExistsError, SchemaError
from cityplan.store.base import BuildPayload, LayerMeta
from cityplan.store.postgis import PostgisStore, mask_url, parse_pg_url
from pgserver import PgServer
from store_workers import append_worker, read_loop, tagged_payload

QML = '<!DOCTYPE qgis PUBLIC "http://mrcc.com/qgis.dtd" "SYSTEM"><qgis version="3.28.0">' \
      '<renderer-v2 type="singleSymbol"/></qgis>'


@pytest.fixture(scope="module")
def db_url(pg_server: PgServer) -> str:
    """A fresh PostGIS database for this module."""
    return pg_server.new_database("store")


@pytest.fixture
def store(db_url: str) -> PostgisStore:
    """A store on a schema of its own (one per test)."""
    s = PostgisStore(f"{db_url}?schema=t_{secrets.token_hex(4)}")
    yield s
    s.close()


def sample_payload(tag: str = "b1") -> BuildPayload:
    """Points in EPSG:4326 with every column type, polygons in EPSG:4490, a plain table."""
    rng = np.random.default_rng(7)
    n = 40
    pts = gpd.GeoDataFrame({
        "name": [f"站{i}" if i % 5 else None for i in range(n)],
        "n32": np.arange(n, dtype="int32"),
        "n64": np.arange(n, dtype="int64") * 10**10,
        "x": rng.normal(size=n),
        "ok": np.arange(n) % 2 == 0,
        "at": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
        "tag": tag,
    }, geometry=gpd.points_from_xy(rng.uniform(126.5, 126.8, n), rng.uniform(45.6, 45.9, n)),
        crs="EPSG:4326")
    polys = gpd.GeoDataFrame(
        {"zone": [f"z{i}" for i in range(12)], "area": rng.uniform(1, 9, 12)},
        geometry=[shapely.MultiPolygon([box(126 + i * .01, 45, 126 + i * .01 + .005, 45.005)])
                  for i in range(12)], crs="EPSG:4490")
    return BuildPayload(
        layers={"stations": pts, "zones": polys},
        catalog=pd.DataFrame({"layer": ["stations", "zones"], "rows": [n, 12], "tag": tag}),
        ledger=pd.DataFrame({"layer": ["zones"], "action": ["repaired"], "reason": ["bowtie"]}),
        info={"build": tag, "crs": "EPSG:4326"},
        meta={"stations": LayerMeta(title="Metro stations", description="illustrative", qml=QML),
              "zones": LayerMeta(title="Zones", qml=QML)})


def one_line_error(exc: pytest.ExceptionInfo, url: str) -> str:
    text = str(exc.value)
    assert "\n" not in text
    assert mask_url(url) in text
    return text


# -- URLs ------------------------------------------------------------------------------------
def test_url_parsing_and_masking() -> None:
    conninfo, schema = parse_pg_url("postgresql://u:s3cret@h:5433/db?schema=plan&sslmode=disable")
    assert schema == "plan"
    assert "schema=" not in conninfo and "sslmode=disable" in conninfo
    assert "connect_timeout=5" in conninfo
    assert parse_pg_url("postgresql://u@h/db")[1] == "onemap"
    masked = mask_url("postgresql://u:s3cret@h:5433/db?password=other")
    assert "s3cret" not in masked and "other" not in masked and "u:***@h:5433" in masked
    with pytest.raises(OneMapError, match="schema"):
        parse_pg_url("postgresql://u:pw@h/db?schema=a;drop")
    with pytest.raises(OneMapError, match="not a PostgreSQL URL"):
        parse_pg_url("mysql://u:pw@h/db")


# -- layers and tables -----------------------------------------------------------------------
def test_round_trip(store: PostgisStore) -> None:
    payload = sample_payload()
    assert not store.exists()
    store.replace_map(payload, overwrite=False)
    assert store.exists()
    store.check()
    assert set(store.list_tables()) == {"stations", "zones", "cityplan_catalog",
                                        "cityplan_ledger", "cityplan_build_info", "cityplan_profile"}
    for name, want in payload.layers.items():
        got = store.read(name)
        assert isinstance(got, gpd.GeoDataFrame)
        assert got.crs == want.crs
        assert list(got.columns) == list(want.columns)
        pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry")),
                                      pd.DataFrame(want.drop(columns="geometry")),
                                      check_dtype=False)
        for col in want.columns.drop("geometry"):  # same dtype family (str for text)
            assert got[col].dtype.kind == want[col].dtype.kind or (
                want[col].dtype == object and pd.api.types.is_string_dtype(got[col])), col
        assert got["geometry"].geom_equals_exact(want.geometry, tolerance=0).all()
    assert store.read("stations")["n32"].dtype == np.int32
    assert store.read("stations")["at"].dtype == "datetime64[us, UTC]"
    assert store.read("stations")["name"].isna().sum() == 8
    pd.testing.assert_frame_equal(store.read("cityplan_catalog"), payload.catalog,
                                  check_dtype=False)
    info = store.read("cityplan_build_info")
    assert dict(zip(info["key"], info["value"], strict=True)) == payload.info
    assert not isinstance(store.read("cityplan_ledger"), gpd.GeoDataFrame)
    assert list(store.read("stations", columns=["tag"]).columns) == ["tag", "geometry"]
    with pytest.raises(LayerNotFoundError, match="no layer or table 'nope'"):
        store.read("nope")
    with pytest.raises(SchemaError, match="no column"):
        store.read("zones", columns=["missing"])
    with pytest.raises(OutputExistsError):
        store.replace_map(payload, overwrite=False)


def test_bbox_read_uses_the_index_and_equals_intersects(store: PostgisStore, pg_server) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(126, 127, 2000), rng.uniform(45, 46, 2000)
    blocks = gpd.GeoDataFrame({"i": np.arange(2000)},
                              geometry=[box(a, b, a + .02, b + .01) for a, b in zip(x, y, strict=True)],
                              crs="EPSG:4326")
    payload = BuildPayload(layers={"blocks": blocks}, catalog=pd.DataFrame({"layer": ["blocks"]}),
                           ledger=pd.DataFrame({"layer": []}), info={"build": "x"})
    store.replace_map(payload, overwrite=False)
    bbox = (126.3, 45.2, 126.45, 45.31)
    got = store.read("blocks", bbox=bbox)
    want = blocks[blocks.intersects(box(*bbox))]
    assert 20 < len(want) < 200
    assert got["i"].tolist() == want["i"].tolist()
    assert got["i"].tolist() == blocks.cx[126.3:126.45, 45.2:45.31]["i"].tolist()
    dbname = store.conninfo.split("/")[-1].split("?")[0]
    with pg_server.superuser(dbname) as conn:
        idx = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = "
                           "'blocks'", (store.schema,)).fetchall()
        assert any("USING gist (geometry)" in d for (d,) in idx)
        assert any("(fid)" in d for (d,) in idx)  # primary key
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute(f'EXPLAIN SELECT fid FROM "{store.schema}".blocks WHERE geometry && '
                            "ST_MakeEnvelope(126.3, 45.2, 126.45, 45.31, 4326)").fetchall()
        assert "blocks_geometry_idx" in " ".join(r[0] for r in plan)


def test_styles_and_comments(store: PostgisStore, pg_server) -> None:
    store.replace_map(sample_payload(), overwrite=False)
    store.replace_map(sample_payload("b2"), overwrite=True)  # replaces, never duplicates rows
    dbname = store.conninfo.split("/")[-1].split("?")[0]
    with pg_server.superuser(dbname) as conn:
        rows = conn.execute(
            "SELECT f_table_catalog, f_table_name, f_geometry_column, useasdefault, "
            "styleqml::text, type FROM public.layer_styles WHERE f_table_schema = %s "
            "ORDER BY f_table_name", (store.schema,)).fetchall()
        assert [r[1] for r in rows] == ["stations", "zones"]
        assert all(r[0] == dbname and r[2] == "geometry" and r[3] and "<qgis" in r[4]
                   and r[5] == "vector" for r in rows)
        comment = conn.execute("SELECT obj_description(%s::regclass)",
                               (f'"{store.schema}".stations',)).fetchone()[0]
        assert comment == "Metro stations\n\nillustrative"
        leftovers = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                 (store.schema + "%",)).fetchall()
        assert leftovers == [(store.schema,)]


# -- caches ----------------------------------------------------------------------------------
def test_cache(store: PostgisStore) -> None:
    store.replace_map(sample_payload(), overwrite=False)
    arrays = {"dist": np.arange(12, dtype="<f4").reshape(3, 4), "ids": np.array(["a", "bcd"]),
              "big": np.arange(5, dtype=">i8"), "flags": np.array([True, False])}
    assert store.read_cache("graph", "b1") is None
    store.write_cache("graph", "b1", arrays)
    got = store.read_cache("graph", "b1")
    assert set(got) == set(arrays)
    for k, a in arrays.items():
        assert got[k].dtype == a.dtype and got[k].shape == a.shape
        np.testing.assert_array_equal(got[k], a)
    assert store.read_cache("graph", "b0") is None  # stale build: a miss
    store.write_cache("graph", "b2", {"dist": np.zeros(2)})  # older builds' entries go
    assert store.read_cache("graph", "b1") is None
    assert set(store.read_cache("graph", "b2")) == {"dist"}
    with pytest.raises(TypeError, match="object"):
        store.write_cache("graph", "b2", {"bad": np.array([{"a": 1}], dtype=object)})
    store.replace_map(sample_payload("b2"), overwrite=True)  # a rebuild drops the cache
    assert store.read_cache("graph", "b2") is None


# -- append-only tables ----------------------------------------------------------------------
def test_append_idempotent_and_survives_rebuild(store: PostgisStore) -> None:
    store.replace_map(sample_payload(), overwrite=False)
    rows = pd.DataFrame({"event_id": ["e1", "e2", "e3"], "quantity": [1.5, 2.5, np.nan],
                         "source_sha256": "f1", "source_row": [1, 2, 3], "recorded_at": "2024-05-01T00:00:00.000000Z"})
    assert store.append_rows("cityplan_progress_events", rows) == 3
    assert store.append_rows("cityplan_progress_events", rows) == 0
    more = pd.DataFrame({"event_id": ["e3", "e4", "e4"], "quantity": [9.0, 4.0, 5.0],
                         "source_sha256": "f1", "source_row": [3, 4, 4]})
    assert store.append_rows("cityplan_progress_events", more, key=["source_sha256", "source_row"]) == 1
    users = pd.DataFrame({"event_id": ["u1"], "user": ["ana"], "role": ["planner"]})
    assert store.append_rows("cityplan_users", users) == 1
    store.replace_map(sample_payload("b2"), overwrite=True)
    events = store.read("cityplan_progress_events")
    assert events["event_id"].tolist() == ["e1", "e2", "e3", "e4"]
    assert events["quantity"].tolist()[:2] == [1.5, 2.5] and np.isnan(events["quantity"][2])
    assert events["quantity"][3] == 4.0  # first of the batch's duplicates
    assert events["source_row"].dtype == np.int64
    # declared columns, declared types: nothing inferred from the first rows
    assert store.read("cityplan_users")["user"].tolist() == ["ana"]
    assert store.read("stations")["tag"].iloc[0] == "b2"
    assert store.append_rows("cityplan_users", pd.DataFrame({"event_id": ["u2"], "user": ["bo"]})) == 1
    assert len(store.read("cityplan_users")) == 2
    with pytest.raises(SchemaError, match="empty key"):
        store.append_rows("cityplan_users", pd.DataFrame({"event_id": [None], "user": ["x"]}))
    with pytest.raises(SchemaError, match="not declared"):
        store.append_rows("cityplan_users", pd.DataFrame({"event_id": ["u3"], "colour": ["red"]}))
    with pytest.raises(SchemaError, match="its key is"):
        store.append_rows("cityplan_progress_events", rows, key=["event_id"])
    with pytest.raises(SchemaError, match="not a declared table"):
        store.append_rows("cityplan_catalog", users)
    with pytest.raises(SchemaError, match="not a declared table"):
        store.append_rows("stations", users)


def test_concurrent_appends_from_two_processes(store: PostgisStore) -> None:
    store.replace_map(sample_payload(), overwrite=False)
    batches, size = 25, 20
    with mp.get_context("spawn").Pool(2) as pool:
        counts = pool.starmap(append_worker, [(store.url, w, batches, size) for w in (1, 2)])
    events = store.read("cityplan_progress_events")
    shared, own = batches * (size // 2), batches * (size - size // 2)
    assert len(events) == shared + 2 * own == sum(counts)
    assert events["event_id"].is_unique
    for w in (1, 2):
        assert (events["event_id"].str.startswith(f"w{w}-")).sum() == own


# -- rebuilds under readers ------------------------------------------------------------------
@pytest.mark.slow
def test_rebuild_while_reading(store: PostgisStore, tmp_path) -> None:
    store.replace_map(tagged_payload(0, 300), overwrite=False)
    store.append_rows("cityplan_audit", pd.DataFrame({"event_id": ["b0"], "target": ["built 0"]}))
    stop = tmp_path / "stop"
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        reader = pool.apply_async(read_loop, (store.url, 60.0, str(stop)))
        time.sleep(3)  # the child imports geopandas first
        for build in range(1, 7):
            store.replace_map(tagged_payload(build, 600 if build % 2 else 300), overwrite=True)
            store.append_rows("cityplan_audit", pd.DataFrame({"event_id": [f"b{build}"], "target": [f"built {build}"]}))
            time.sleep(0.3)
        stop.touch()
        stats = reader.get(timeout=60)
    assert stats["errors"] == []
    assert stats["mixed"] == [] and stats["partial"] == []
    assert stats["reads"] > 10 and len(stats["builds"]) >= 3, stats
    assert store.read("cityplan_audit")["target"].tolist() == [f"built {b}" for b in range(7)]


# -- errors a user can cause -----------------------------------------------------------------
def test_errors_are_one_line(pg_server: PgServer, db_url: str) -> None:
    dbname = db_url.rsplit("/", 1)[1]
    bad_pw = pg_server.url(dbname, password="wrong-password")
    with pytest.raises(OneMapError) as exc:
        PostgisStore(bad_pw).check()
    text = one_line_error(exc, bad_pw)
    assert "password authentication failed" in text and "wrong-password" not in text

    with socket_closed() as port:
        closed = pg_server.url(dbname, port=port)
        t0 = time.monotonic()
        with pytest.raises(OneMapError) as exc:
            PostgisStore(closed).exists()
        assert "cannot reach PostgreSQL at 127.0.0.1:" in one_line_error(exc, closed)
        assert time.monotonic() - t0 < 6

    missing_db = pg_server.url("no_such_db")
    with pytest.raises(OneMapError) as exc:
        PostgisStore(missing_db).check()
    assert "database 'no_such_db' does not exist" in one_line_error(exc, missing_db)

    plain = pg_server.new_database("plain", postgis=False)
    with pytest.raises(OneMapError) as exc:
        PostgisStore(plain).check()
    assert "run CREATE EXTENSION postgis" in one_line_error(exc, plain)
    assert "as a superuser" in str(exc.value)

    with pg_server.superuser(dbname) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS other_app")
        conn.execute("CREATE TABLE IF NOT EXISTS other_app.things (id int)")
    foreign = f"{db_url}?schema=other_app"
    with pytest.raises(OneMapError) as exc:
        PostgisStore(foreign).check()
    assert "is not a cityplan one map" in one_line_error(exc, foreign)
    with pytest.raises(OneMapError, match="refusing to replace"):
        PostgisStore(foreign).replace_map(sample_payload(), overwrite=True)
    with pytest.raises(OneMapError) as exc:
        PostgisStore(f"{db_url}?schema=absent").read("stations")
    assert "schema 'absent' does not exist" in one_line_error(exc, f"{db_url}?schema=absent")


class socket_closed:  # noqa: N801 - used as a context manager
    """A loopback port that was just bound and released: nothing listens on it."""

    def __enter__(self) -> int:
        from pgserver import free_port

        return free_port()

    def __exit__(self, *exc: object) -> None:
        return None


def test_failed_build_leaves_the_old_map(store: PostgisStore) -> None:
    store.replace_map(sample_payload(), overwrite=False)
    broken = sample_payload("b2")
    broken.layers["zones"] = broken.layers["zones"].set_crs(None, allow_override=True)
    with pytest.raises(SchemaError, match="no CRS"):
        store.replace_map(broken, overwrite=True)
    assert store.read("stations")["tag"].iloc[0] == "b1"
    with psycopg.connect(store.conninfo) as conn:
        names = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                             (store.schema + "%",)).fetchall()
    assert names == [(store.schema,)]


def test_points_without_geometry_values(store: PostgisStore) -> None:
    """Null geometries and an empty layer survive the round trip."""
    layer = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[Point(126, 45), None], crs="EPSG:4326")
    empty = gpd.GeoDataFrame({"b": pd.Series([], dtype="float64")},
                             geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    store.replace_map(BuildPayload(layers={"p": layer, "e": empty},
                                   catalog=pd.DataFrame({"layer": ["p", "e"]}),
                                   ledger=pd.DataFrame({"layer": []}), info={"build": "n"}),
                      overwrite=False)
    got = store.read("p")
    assert got.geometry.iloc[0].equals(Point(126, 45)) and got.geometry.iloc[1] is None
    e = store.read("e")
    assert len(e) == 0 and e.crs == "EPSG:4326" and e["b"].dtype == np.float64


def test_odd_columns_keep_their_values(store: PostgisStore) -> None:
    """Columns pandas holds as object, unsigned or categorical are stored without loss."""
    import datetime as dt

    layer = gpd.GeoDataFrame({
        "u64": np.array([1, 2**63 + 5], dtype="uint64"),
        "mixed": [1, "two"],
        "tags": [["a", "b"], {"k": "中"}],
        "day": [dt.date(2024, 1, 2), None],
        "cat": pd.Categorical(["x", "y"]),
        "opt": pd.array([7, None], dtype="Int64"),
        "flag": [True, None],
    }, geometry=[Point(126, 45), Point(127, 46)], crs="EPSG:4326")
    store.replace_map(BuildPayload(layers={"odd": layer}, catalog=pd.DataFrame({"layer": ["odd"]}),
                                   ledger=pd.DataFrame({"layer": []}), info={"build": "o"}),
                      overwrite=False)
    got = store.read("odd")
    assert got["u64"].tolist() == [1.0, float(2**63 + 5)]
    assert got["mixed"].tolist() == ["1", "two"]
    assert got["tags"].tolist() == ['["a", "b"]', '{"k": "中"}']
    assert got["day"].tolist() == [dt.date(2024, 1, 2), None]
    assert got["cat"].tolist() == ["x", "y"]
    assert got["opt"].dtype == "Int64" and got["opt"].tolist()[0] == 7 and got["opt"].isna()[1]
    assert got["flag"].tolist() == [True, None]
