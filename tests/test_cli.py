"""The CLI: `python -m cityplan` entry point, errors as one line, convert = library (in-process)."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from cityplan.convert import convert_file
from cli_invoke import invoke as run


def test_help_lists_commands():
    # the real entry point, in its own process
    r = subprocess.run([sys.executable, "-m", "cityplan", "--help"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0
    for cmd in ("build", "layers", "convert"):
        assert f"  {cmd}" in r.stdout


def test_user_error_is_one_line_without_traceback(tmp_path):
    r = run("layers", "inspect", str(tmp_path / "missing.geojson"))
    assert r.exit_code == 2
    assert "Traceback" not in r.stderr
    assert "file not found" in r.stderr


def test_convert_cli_equals_library(tmp_path, data):
    src = data / "osm_metro_justgo/harbin_metro_stations.gcj02.geojson"
    r = run("convert", str(src), str(tmp_path / "cli.geojson"), "--from", "gcj02", "--to", "wgs84")
    assert r.exit_code == 0, r.stderr
    convert_file(src, tmp_path / "lib.geojson", src_crs="gcj02", dst_crs="wgs84")
    a, b = gpd.read_file(tmp_path / "cli.geojson"), gpd.read_file(tmp_path / "lib.geojson")
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert a.geom_equals_exact(b, tolerance=1e-12).all()
    assert len(a) == 73
    # without the declaration, the file name gives it away
    r = run("convert", str(src), str(tmp_path / "x.geojson"))
    assert r.exit_code == 2 and "--from gcj02" in r.stderr
    # refuses to overwrite
    r = run("convert", str(src), str(tmp_path / "cli.geojson"), "--from", "gcj02")
    assert r.exit_code == 2 and "--overwrite" in r.stderr


def test_convert_skips_outside_china(tmp_path):
    gdf = gpd.GeoDataFrame({"n": ["harbin", "paris"]}, geometry=[Point(126.6, 45.7), Point(2.35, 48.85)],
                           crs=4326)
    gdf.to_file(tmp_path / "mixed.geojson")
    r = run("convert", str(tmp_path / "mixed.geojson"), str(tmp_path / "o.geojson"), "--to", "gcj02")
    assert r.exit_code == 2 and "outside China (rows [1])" in r.stderr
    r = run("convert", str(tmp_path / "mixed.geojson"), str(tmp_path / "o.geojson"), "--to", "gcj02",
            "--skip-invalid")
    assert r.exit_code == 0 and "skipped" in r.stderr and "row 1" in r.stderr
    assert gpd.read_file(tmp_path / "o.geojson").n.tolist() == ["harbin"]


def test_layers_validate(tmp_path, data, onemap):
    # GCJ-02 stations under an innocent name are caught by the alignment check
    raw = gpd.read_file(data / "osm_metro_justgo/harbin_metro_stations.gcj02.geojson")
    raw.to_file(tmp_path / "stations.geojson")
    r = run("layers", "validate", str(tmp_path / "stations.geojson"), "--as", "facility",
            "--onemap", str(onemap), "--format", "csv")
    assert r.exit_code == 1 and "GCJ-02" in r.stdout
    ok = gpd.read_file(data / "osm_metro_justgo/harbin_metro_stations.wgs84.geojson")
    ok.to_file(tmp_path / "ok.geojson")
    r = run("layers", "validate", str(tmp_path / "ok.geojson"), "--as", "facility", "--onemap",
            str(onemap), "--format", "csv")
    assert r.exit_code == 0, r.stdout
    r = run("layers", "validate", str(tmp_path / "ok.geojson"), "--as", "plan", "--onemap", str(onemap),
            "--format", "csv")
    assert r.exit_code == 1 and "task_id" in r.stdout


def test_layers_list_and_inspect(data):
    r = run("layers", "list", "--city", "harbin", "--format", "csv")
    assert r.exit_code == 0 and "songhua_corridor" in r.stdout and "illustrative" in r.stdout
    r = run("layers", "inspect", str(data / "osm_central_harbin_2024/harbin_central_2024-04.osm.pbf"),
            "--layer", "multipolygons", "--format", "json")
    assert r.exit_code == 0 and '"driver": "OSM"' in r.stdout


def test_terminal_table_never_splits_a_number(monkeypatch):
    """On an 80-column terminal numbers stay whole; columns that do not fit are named, not mangled."""
    import re

    import pandas as pd
    from rich.console import Console

    from cityplan.cli import _common

    con = Console(width=80, record=True, force_terminal=True)
    monkeypatch.setattr(_common, "console", con)
    df = pd.DataFrame({"scenario": ["existing", "difference"], "district": ["道里区", "(all)"],
                       "population_covered": [4491998.0, 9998.0], "residential_area_m2": [76228212.0, 1.0],
                       "area_share": [0.048, 0.5], "features_covered": [99, 3], "not_snapped": [4, 0],
                       "extract_share": [0.31, 0.5], "meets_target": [False, True]})
    _common.print_table(df, title="t")
    text = con.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    for n in ("4,491,998", "76,228,212", "9,998"):
        assert n in text  # on one line, whole
    shown = [c for c in df.columns if c.split("_")[0] in text]
    assert "not shown at this width" in text or len(shown) == len(df.columns)
    assert not re.search(r"\\d,\\d{0,2}\\s*$", text, re.M)
