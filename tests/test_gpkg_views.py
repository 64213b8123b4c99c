"""GeoPackage layers stored once and shown under a second name (io.write.LayerView): read like
any layer by GDAL, constants quoted as values, bad views refused with one line, and a coverage
output that keeps each isochrone / gap geometry once."""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import pyogrio
import pytest
import shapely

from cityplan._errors import SchemaError
from cityplan.coverage import run_coverage, write_coverage
from cityplan.io.write import LayerView, write_gpkg

TRICKY = "planned'); DROP TABLE base; --"


def _base() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"scenario": ["existing", "existing", "existing"], "n": [1, 2, 3]},
                            geometry=[shapely.box(i, i, i + 1, i + 1) for i in range(3)], crs=4326)


def test_view_reads_as_its_source_with_constants(tmp_path):
    path = write_gpkg({"base": _base(), "same": LayerView("base"),
                       "relabelled": LayerView("base", {"scenario": TRICKY})}, tmp_path / "v.gpkg")
    layers = dict(pyogrio.list_layers(path).tolist())
    assert layers == {"base": "Polygon", "same": "Polygon", "relabelled": "Polygon"}
    base = gpd.read_file(path, layer="base")
    same = gpd.read_file(path, layer="same")
    rel = gpd.read_file(path, layer="relabelled")
    assert same.equals(base)
    assert rel["scenario"].tolist() == [TRICKY] * 3 and rel["n"].tolist() == [1, 2, 3]
    assert rel.geometry.equals(base.geometry) and rel.crs == base.crs
    # a bounding-box read of a view filters like the source's
    assert gpd.read_file(path, layer="same", bbox=(1.5, 1.5, 5, 5))["n"].tolist() == [2, 3]
    with sqlite3.connect(path) as con:  # the geometry is stored once: one table, two views
        kinds = dict(con.execute("SELECT name, type FROM sqlite_master WHERE name IN ('base', 'same', 'relabelled')"))
    assert kinds == {"base": "table", "same": "view", "relabelled": "view"}


@pytest.mark.parametrize(("view", "match"), [
    (LayerView("missing"), "needs the feature layer 'missing'"),
    (LayerView("base", {"nope": 1}), r"\['nope'\] are not columns of 'base'"),
    (LayerView("base", {"n": 7}), "use text"),
])
def test_bad_views_are_refused_and_nothing_is_written(tmp_path, view, match):
    target = tmp_path / "v.gpkg"
    with pytest.raises(SchemaError, match=match):
        write_gpkg({"base": _base(), "bad": view}, target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_coverage_output_stores_each_geometry_once(onemap, tmp_path):
    res = run_coverage(onemap, preset="primary-school-500m")
    assert res.scenarios["planned"].same_as == "existing"  # no plan school: planned repeats existing
    write_coverage(res, tmp_path / "c")
    path = tmp_path / "c" / "coverage.gpkg"
    with sqlite3.connect(path) as con:
        kinds = dict(con.execute("SELECT name, type FROM sqlite_master WHERE name LIKE 'isochrones%' "
                                 "OR name LIKE 'gaps%'"))
    assert kinds == {"isochrones_existing": "table", "gaps_existing": "table", "isochrones_planned": "view",
                     "gaps_planned": "view", "isochrones": "view", "gaps": "view"}
    for kind in ("isochrones", "gaps"):
        head = gpd.read_file(path, layer=kind)
        planned = gpd.read_file(path, layer=f"{kind}_planned")
        existing = gpd.read_file(path, layer=f"{kind}_existing")
        # the headline layers are the existing scenario's (issue #23: real facilities only)
        assert head.equals(existing) and (planned["scenario"] == "planned").all()
        assert (existing["scenario"] == "existing").all()
        assert planned.drop(columns="scenario").equals(existing.drop(columns="scenario"))
        want = getattr(res, kind)
        assert len(head) == len(want)
        assert shapely.equals(head.geometry.to_numpy(), want.geometry.to_numpy()).all()  # written as MultiPolygons


def test_coverage_cli_summarises_a_table_too_long_for_the_terminal(onemap, tmp_path, monkeypatch):
    """More per-district rows than MAX_PRINTED_ROWS: the terminal gets the whole-city rows and where
    the district rows are; per_district.csv keeps every row."""
    import pandas as pd
    from tests.cli_invoke import invoke

    from cityplan.cli import coverage as cov_cli

    monkeypatch.setattr(cov_cli, "MAX_PRINTED_ROWS", 5)
    short = invoke("coverage", "--preset", "park-service-radius", "--onemap", onemap, "--no-map", "--out", tmp_path)
    assert short.exit_code == 0, short.output
    per = pd.read_csv(tmp_path / "per_district.csv", encoding="utf-8-sig")
    assert len(per) > 6 and (per["district"] == "(all)").sum() == 3  # existing, planned, difference
    assert "whole city" in short.stdout and f"{len(per) - 3} district rows are in per_district.csv" in short.stdout
    assert "(all)" in short.stdout
    assert not any(d in short.stdout for d in per["district"].unique() if d != "(all)")


def test_layers_arrow_cannot_type_are_still_written(tmp_path):
    """A column of mixed Python objects (Arrow refuses it) is written the plain way, next to
    layers written through Arrow; every row and value comes back."""
    import pandas as pd

    mixed = _base().assign(note=[1, "two", 3.5])
    with pytest.raises(Exception):  # noqa: B017, PT011 - any Arrow error: what the fallback is for
        import pyarrow as pa

        pa.Table.from_pandas(pd.DataFrame(mixed.drop(columns="geometry")))
    path = write_gpkg({"plain": _base(), "mixed": mixed}, tmp_path / "m.gpkg")
    back = gpd.read_file(path, layer="mixed")
    assert back["note"].astype(str).tolist() == ["1", "two", "3.5"] and back["n"].tolist() == [1, 2, 3]
    assert gpd.read_file(path, layer="plain").equals(_base())
