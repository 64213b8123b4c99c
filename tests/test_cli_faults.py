"""Faults of the command line made harmless (issue #25): concurrent builds of one file, a full
disk under a result set, a rules file naming an unknown layer, inspecting a file that is not
vector data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli_invoke import invoke


def test_two_builds_of_one_new_file_one_refuses(synthetic_onemap: Path, tmp_path: Path) -> None:
    city = synthetic_onemap.parent / "city"
    out = tmp_path / "race.gpkg"
    procs = []
    for i in range(2):
        work = tmp_path / f"w{i}"
        work.mkdir()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "cityplan", "build", "--city", str(city), "--data", str(city), "--out", str(out)],
            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 2], results
    refused = next(err for c, err in results if c == 2)
    assert "output exists" in refused and "--overwrite" in refused and len(refused.strip().splitlines()) == 1
    from cityplan.onemap import OneMap

    assert OneMap.open(out).build_stamp  # the file left is a complete map
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".race")] == []  # no temp file left


def test_coverage_on_a_full_disk_leaves_no_partial_result_set(synthetic_onemap: Path, tiny_tmpfs) -> None:
    mnt = tiny_tmpfs("size=96k")
    out = mnt / "cov"
    r = invoke("coverage", "--facilities", "parks", "--within", "500m", "--mode", "walk", "--onemap",
               synthetic_onemap, "--out", out, "--no-map", "--format", "csv")
    assert r.exit_code == 2, r.output
    assert "no space left on device" in r.output
    assert list(mnt.iterdir()) == []  # no result folder, no half of its files, no temp folder


def test_review_outputs_are_published_together(synthetic_onemap: Path, tmp_path: Path) -> None:
    """A review's files appear all at once in --out: a second review into the same folder is refused
    before anything of it is written, and the first one's files are all there."""
    import json

    red = tmp_path / "red.geojson"
    from cityplan.onemap import OneMap

    x0, y0, x1, y1 = OneMap.open(synthetic_onemap).extent
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ring = [[cx, cy], [cx + 0.002, cy], [cx + 0.002, cy + 0.002], [cx, cy + 0.002], [cx, cy]]
    red.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "red"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    out = tmp_path / "rv"
    r = invoke("review", red, "--crs", "EPSG:4326", "--type", "building", "--onemap", synthetic_onemap, "--out", out)
    assert r.exit_code in (0, 1), r.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["overlaps.gpkg", "review.html", "review.json", "review.md", "review_map.html",
                     "review_opinion.pdf"]
    again = invoke("review", red, "--crs", "EPSG:4326", "--type", "building", "--onemap", synthetic_onemap,
                   "--out", out)
    assert again.exit_code == 2 and "not empty" in again.output
    assert sorted(p.name for p in out.iterdir()) == names
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


@pytest.mark.parametrize("name, content", [("notes.txt", b"hello, this is not vector data\n"),
                                           ("blob.bin", bytes(range(256)) * 20),
                                           ("notes.geojson", b"hello, this is not vector data\n")])
def test_inspecting_what_is_not_vector_data_says_so(tmp_path: Path, name: str, content: bytes) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    r = invoke("layers", "inspect", f)
    assert r.exit_code == 1, r.output
    assert "error:" in r.stderr and "no CRS" not in r.stderr
    assert invoke("layers", "inspect", f, "--format", "json").exit_code == 1


def test_inspecting_vector_data_still_passes(synthetic_onemap: Path) -> None:
    r = invoke("layers", "inspect", synthetic_onemap, "--layer", "parks")
    assert r.exit_code == 0, r.output
    assert "error:" not in r.stderr
