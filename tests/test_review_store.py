"""A review stored by the review worker reads back the same from memory and from the store."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from cityplan.onemap import OneMap
from cityplan.services import reviews as review_desk
from cityplan.services.review_pool import review_job
from conftest import HARBIN_DIR

ROOT = HARBIN_DIR


def test_worker_stores_the_review_and_both_reads_agree(onemap: Path, tmp_path: Path) -> None:
    p = tmp_path / "m.gpkg"
    shutil.copy(onemap, p)
    om = OneMap.open(p)
    data = tmp_path / "data"
    red = ROOT / "examples" / "proposals" / "river_crossing.geojson"
    rid = uuid.uuid4().hex
    fields = {"review_id": rid, "created_at": "2026-11-26T08:00:00.000000Z", "user": "li", "file_name": red.name,
              "sha256": "0" * 64, "stored_file": "uploads/x.geojson", "kind": "geojson", "crs": "",
              "facility_type": "", "data_dir": str(data)}
    out = review_job(str(red), None, None, red.name, json.dumps(fields), om=om)
    assert not out.error and out.verdict == "fail" and out.hits >= 1
    assert (data / "reports" / f"{rid}.html").read_text(encoding="utf-8").count(red.name) >= 1
    row = json.loads(out.row_json)
    assert row["build_id"] == om.build_info["build_id"] and row["hits"] == out.hits

    remembered = review_desk._remember(om.store, row, layers=json.loads(out.layers_json))
    review_desk._RECENT.clear()
    stored = review_desk.get_review(OneMap.open(p).store, rid)  # a fresh process's view: from the store
    assert stored is not None
    remembered.pop("_layers")
    assert stored == remembered
    assert json.dumps(stored, sort_keys=True, default=str) == json.dumps(remembered, sort_keys=True, default=str)
    assert stored["report"]["verdict"] == "fail"
    # the page's layers made in the worker equal those made from the stored report
    assert json.loads(out.layers_json) == json.loads(json.dumps(review_desk.static_layers(stored["report"]),
                                                                default=str))
    assert review_desk.get_review(om.store, "f" * 32) is None


def test_a_review_that_cannot_be_stored_is_a_clear_503(onemap: Path, tmp_path: Path) -> None:
    """The data folder is not a folder: the worker says what failed (no traceback to the desk)."""
    om = OneMap.open(onemap)
    blocked = tmp_path / "data"
    blocked.write_text("not a folder")
    red = ROOT / "examples" / "proposals" / "river_crossing.geojson"
    fields = {"review_id": uuid.uuid4().hex, "created_at": "x", "user": "li", "file_name": red.name, "sha256": "0",
              "stored_file": "uploads/x", "kind": "geojson", "crs": "", "facility_type": "", "data_dir": str(blocked)}
    out = review_job(str(red), None, None, red.name, json.dumps(fields), om=om)
    assert out.status == 503 and "reviewed (fail) but not stored" in out.error and red.name in out.error
    assert not out.row_json
