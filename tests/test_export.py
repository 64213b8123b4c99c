"""QGIS sees the one map as planners expect; exports carry sources and respect licences."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cityplan.cli.main import cli
from cityplan.export import export_onemap
from cityplan.onemap import OneMap


def test_layer_styles_and_titles_for_qgis(onemap):
    with sqlite3.connect(onemap) as con:
        styles = pd.read_sql_query("SELECT * FROM layer_styles", con)
        contents = pd.read_sql_query("SELECT table_name, identifier, description FROM gpkg_contents", con)
    om = OneMap.open(onemap)
    spatial = [r.layer for r in om.catalog.itertuples() if r.geometry != "table"]
    assert set(styles.f_table_name) == set(spatial)
    assert styles.useAsDefault.astype(bool).all() if "useAsDefault" in styles else styles.useasdefault.all()
    qml_col = "styleQML" if "styleQML" in styles else "styleqml"
    for qml in styles[qml_col]:
        root = ET.fromstring(qml.split("\n", 1)[1])  # after the DOCTYPE line
        assert root.tag == "qgis" and root.find("renderer-v2") is not None
    # illustrative layers are dashed in QGIS as on the maps
    corr = styles.set_index("f_table_name").loc["songhua_corridor", qml_col]
    assert "dash" in corr
    titles = contents.set_index("table_name")
    assert titles.loc["parks", "identifier"].startswith("公园") or "Parks" in titles.loc["parks", "identifier"]


@pytest.mark.parametrize("fmt", ["parquet", "fgb"])
def test_export_folder_formats(onemap, tmp_path, fmt):
    res = export_onemap(onemap, tmp_path / fmt, fmt=fmt, layers=["parks", "census_population", "districts_datav"])
    names = {p.name for p in res.files}
    assert f"parks.{fmt}" in names and "sources.csv" in names
    parks = gpd.read_parquet(tmp_path / fmt / "parks.parquet") if fmt == "parquet" else gpd.read_file(
        tmp_path / fmt / "parks.fgb")
    ref = OneMap.open(onemap).layer("parks")
    assert len(parks) == len(ref) and parks.crs == ref.crs
    src = pd.read_csv(tmp_path / fmt / "sources.csv", encoding="utf-8-sig").set_index("layer")
    assert "OpenStreetMap" in src.loc["parks", "attribution"]
    assert res.warnings and "districts_datav" in res.warnings[0]


def test_public_export_leaves_out_restricted_layers(onemap, tmp_path):
    r = CliRunner().invoke(cli, ["export", "--onemap", str(onemap), "--format", "gpkg", "--public",
                                 "--out", str(tmp_path / "pub.gpkg"), "--layer", "parks", "--layer", "districts_datav"])
    assert r.exit_code == 0, r.output
    with sqlite3.connect(tmp_path / "pub.gpkg") as con:
        tables = {t for (t,) in con.execute("SELECT table_name FROM gpkg_contents")}
    assert "parks" in tables and "sources" in tables and "districts_datav" not in tables
    assert "left out districts_datav" in r.stderr


def test_export_bad_options(onemap, tmp_path):
    r = CliRunner().invoke(cli, ["export", "--onemap", str(onemap), "--out", str(tmp_path / "x"),
                                 "--layer", "nope"])
    assert r.exit_code == 2 and "'nope'" in r.stderr


def test_append_only_tables_survive_a_geopackage_rebuild(synthetic_onemap, tmp_path):
    """Progress events, accounts, reviews: a rebuild of the GeoPackage keeps them, rows and order."""
    import shutil

    from cityplan.store.base import BuildPayload

    path = tmp_path / "m.gpkg"
    shutil.copy(synthetic_onemap, path)
    om = OneMap.open(path)
    rows = pd.DataFrame({"event_id": ["a", "b", "c"], "quantity": [1.5, 2.0, 3.0], "source_sha256": "f",
                         "source_row": [1, 2, 3]})
    assert om.store.append_rows("cityplan_progress_events", rows) == 3
    assert om.store.append_rows("cityplan_progress_events", rows) == 0
    om.store.write_cache("k", om.build_stamp, {"x": np.arange(3)})
    layers = {lid: om.layer(lid) for lid in om.layer_ids}
    info = {**om.build_info, "build_id": "rebuilt"}
    om.store.replace_map(BuildPayload(layers=layers, catalog=om.store.read("cityplan_catalog"),
                                      ledger=om.store.read("cityplan_ledger"), info=info), overwrite=True)
    again = OneMap.open(path)
    assert again.build_stamp == "rebuilt"
    kept = again.store.read("cityplan_progress_events")
    assert kept[["event_id", "quantity", "source_sha256", "source_row"]].to_dict("records") == rows.to_dict("records")
    assert again.store.read_cache("k", "rebuilt") is None  # caches belong to a build
    assert again.store.append_rows("cityplan_progress_events", rows) == 0
