"""Regenerate the ILLUSTRATIVE sample progress workbooks of two districts (南岗区, 道里区).

Two reporting rounds per district (end of June, end of November 2023). The figures are invented
by the fixed rules below so that the totals can be computed by hand (tests/test_progress_ledger.py):

南岗区 230103
  2023-06-30  renovation sites 1-10 completed (no figure: planned floor area counts);
              sites 11-20 under construction, half their floor area; parking sites 1-5 completed;
              new urban jobs 9,000; culture-and-sports events 200.
  2023-11-30  renovation sites 11-20 completed; site 10 back to under construction (with a note);
              sites 21-25 started; parking 6-10 completed; the school completed (2,000 seats);
              jobs 21,000; culture-and-sports events 480; cultural training events 60.
道里区 230102
  2023-06-30  renovation 1-8 completed; parking 1-3 completed; the 7 metro stations under
              construction; jobs 7,000.
  2023-11-30  renovation 9-16 completed; all fitness-path sites completed; model streets completed;
              the park completed; jobs 17,500; culture-and-sports events 400.

Run from the repository root: ``.venv/bin/python examples/progress/make_examples.py [ONEMAP]``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

from openpyxl import load_workbook

from cityplan.progress import load_context
from cityplan.progress.importer import import_progress
from cityplan.progress.template import INFO_SHEET, KEYS, REPORT_SHEET, write_template

HERE = Path(__file__).resolve().parent
JUNE, NOV = dt.date(2023, 6, 30), dt.date(2023, 11, 30)


def _rows(ws):
    col = {k: i + 1 for i, k in enumerate(KEYS)}
    rows = []
    for r in range(2, ws.max_row + 1):
        rows.append({k: ws.cell(row=r, column=c).value for k, c in col.items()} | {"_r": r})
    return rows, col


def _fill(path: Path, day: dt.date, plan: dict) -> None:
    wb = load_workbook(path)
    ws = wb[REPORT_SHEET]
    rows, col = _rows(ws)
    by_layer: dict[str, list[dict]] = {}
    for r in rows:
        if r["kind"] == "site":
            by_layer.setdefault(r["site_id"].rsplit("-", 1)[0], []).append(r)
    for (layer, first, last), (status, share, note) in plan.get("sites", {}).items():
        for r in by_layer.get(layer, [])[first - 1:last]:
            ws.cell(row=r["_r"], column=col["status"]).value = status
            if share is not None:
                ws.cell(row=r["_r"], column=col["achieved"]).value = round(float(r["planned"]) * share)
            ws.cell(row=r["_r"], column=col["as_of"]).value = day
            if note:
                ws.cell(row=r["_r"], column=col["note"]).value = note
    for r in rows:
        if r["kind"] == "target" and r["metric"] in plan.get("targets", {}):
            ws.cell(row=r["_r"], column=col["achieved"]).value = plan["targets"][r["metric"]]
            ws.cell(row=r["_r"], column=col["as_of"]).value = day
    info = wb[INFO_SHEET]
    for row in info.iter_rows():
        key = str(row[0].value or "")
        if key.endswith("one map"):
            row[1].value = "layers/build/harbin.gpkg"
        if key.endswith("generated"):
            row[1].value = day.isoformat()
    info.insert_rows(1)
    info["A1"] = "示意 ILLUSTRATIVE"
    info["B1"] = ("示例数据,非真实填报。 Sample figures invented by examples/progress/make_examples.py, "
                  "not a real district report.")
    wb.save(path)


PLANS = {
    ("南岗区", "nangang"): [
        (JUNE, {"sites": {("plan_renovation", 1, 10): ("completed", None, ""),
                          ("plan_renovation", 11, 20): ("under_construction", 0.5, ""),
                          ("plan_parking", 1, 5): ("completed", None, "")},
                "targets": {"new_urban_jobs": 9000, "culture_sports_events": 200}}),
        (NOV, {"sites": {("plan_renovation", 11, 20): ("completed", None, ""),
                         ("plan_renovation", 10, 10): ("under_construction", None,
                                                        "验收未通过,返工 failed inspection, rework"),
                         ("plan_renovation", 21, 25): ("started", None, ""),
                         ("plan_parking", 6, 10): ("completed", None, ""),
                         ("plan_schools", 1, 1): ("completed", 1.0, "")},
               "targets": {"new_urban_jobs": 21000, "culture_sports_events": 480,
                           "cultural_training_events": 60}}),
    ],
    ("道里区", "daoli"): [
        (JUNE, {"sites": {("plan_renovation", 1, 8): ("completed", None, ""),
                          ("plan_parking", 1, 3): ("completed", None, ""),
                          ("plan_metro_nw_stations", 1, 7): ("under_construction", None, "")},
                "targets": {"new_urban_jobs": 7000}}),
        (NOV, {"sites": {("plan_renovation", 9, 16): ("completed", None, ""),
                         ("plan_fitness_paths", 1, 100): ("completed", None, ""),
                         ("plan_model_streets", 1, 10): ("completed", None, ""),
                         ("plan_parks", 1, 1): ("completed", None, "")},
               "targets": {"new_urban_jobs": 17500, "culture_sports_events": 400}}),
    ],
}


def main(onemap: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(onemap or "layers/build/harbin.gpkg")
        work = Path(tmp) / "map.gpkg"
        shutil.copy(src, work)
        ctx = load_context(work)
        for (district, stem), rounds in PLANS.items():
            for day, plan in rounds:
                out = HERE / f"{stem}-{day:%Y-%m}.xlsx"
                write_template(ctx, district, out, overwrite=True, as_of=day)
                _fill(out, day, plan)
                res = import_progress(ctx, out, reported_by="make_examples", today=dt.date(2024, 1, 1))
                assert res.ok, res.problems.to_string()
                print(f"{out.name}: {res.rows_reported} rows")  # noqa: T201 - a script


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
