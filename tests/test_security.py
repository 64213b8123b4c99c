"""No live formula in CSV/XLSX outputs, no raw HTML from user text in Markdown reports."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cityplan.cli._common import print_table
from cityplan.io.safecells import TRIGGERS, force_text_cells, neutralise, neutralise_frame
from cityplan.io.write import write_table
from cityplan.review.report import _md_table, md_text
from cli_invoke import run
from conftest import feature, square, write_geojson

HOSTILE = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1+1", "@SUM(1)", "-2+3", "\t=1", "\r=1",
           "\uff1d1", "\uff0b1", "\uff0d1", "\uff201"]
BENIGN = ["南岗区", "plain", "a=b", "3-2", "'quoted", ""]
# the raw first characters Excel / LibreOffice treat as the start of a formula
RAW_TRIGGERS = set("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI, in-process (cli_invoke.run)."""
    return run(*args, cwd=cwd)


def hostile_frame() -> pd.DataFrame:
    n = len(HOSTILE) + len(BENIGN)
    return pd.DataFrame({
        "name": HOSTILE + BENIGN,
        "value": [-3.5 - i for i in range(n)],  # numeric column: negatives stay numbers
        "count": list(range(-(n // 2), n - n // 2)),
        "mixed": [-1.25, "=1+1", None] + ["x"] * (n - 3),  # object column holding a number
        "=HEADER()": ["h"] * n,
    })


@pytest.mark.parametrize("text", HOSTILE)
def test_neutralise_prefixes_every_trigger(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert text[0] in RAW_TRIGGERS and text[0] in TRIGGERS


@pytest.mark.parametrize("value", [*BENIGN, -3.5, 0, None, True])
def test_neutralise_keeps_safe_values(value: object) -> None:
    assert neutralise(value) is value or neutralise(value) == value


def test_neutralise_frame_keeps_numbers() -> None:
    out = neutralise_frame(hostile_frame())
    assert out["value"].dtype.kind == "f" and out["value"].iloc[0] == -3.5
    assert out["count"].dtype.kind == "i" and out["count"].min() < 0
    assert out["mixed"].iloc[0] == -1.25 and out["mixed"].iloc[1] == "'=1+1"
    assert list(out.columns)[-1] == "'=HEADER()"


def _sheet_xml(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/")}


def test_write_table_xlsx_has_no_formula(tmp_path: Path) -> None:
    df = hostile_frame()
    extra = pd.DataFrame({"gap": HOSTILE, "n": range(len(HOSTILE))})
    p = write_table(df, tmp_path / "t.xlsx", sheets={"=evil sheet": extra, "more": df})
    wb = openpyxl.load_workbook(p)
    assert len(wb.worksheets) == 3
    seen = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.value[:1] not in RAW_TRIGGERS, (ws.title, cell.coordinate, cell.value)
                    seen += 1
    # independent of openpyxl's reading: the sheet XML holds no <f> (formula) element at all
    for name, xml in _sheet_xml(p).items():
        assert "<f>" not in xml and "<f " not in xml, name
    first = wb.worksheets[0]
    names = [c.value for c in first["A"][1:]]
    # XML turns a stored CR into LF; the cell is still text
    assert names[: len(HOSTILE)] == ["'" + h.replace("\r", "\n") for h in HOSTILE]
    assert names[len(HOSTILE):] == [b or None for b in BENIGN]
    values = [c.value for c in first["B"][1:]]
    assert values[0] == -3.5 and all(isinstance(v, (int, float)) for v in values)
    assert first["A1"].value == "name" and first["E1"].value == "'=HEADER()"
    assert wb.worksheets[1]["A2"].value == "'" + HOSTILE[0]
    assert seen > 3 * len(HOSTILE)


def test_force_text_cells_turns_formulas_into_text(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active["A1"] = "=1+1"
    assert wb.active["A1"].data_type == "f"
    assert force_text_cells(wb) == 1
    wb.save(tmp_path / "f.xlsx")
    cell = openpyxl.load_workbook(tmp_path / "f.xlsx").active["A1"]
    assert cell.data_type == "s" and cell.value == "'=1+1"


def test_xlsx_control_characters_do_not_crash(tmp_path: Path) -> None:
    p = write_table(pd.DataFrame({"name": ["a\x01b", "=\x02"]}), tmp_path / "c.xlsx")
    ws = openpyxl.load_workbook(p).active
    assert [ws["A2"].value, ws["A3"].value] == ["a\ufffdb", "'=\ufffd"]


def _check_csv(text: str, numeric: set[str]) -> int:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows
    checked = 0
    for row in rows:
        for col, v in row.items():
            if col in numeric and _is_number(v):
                continue  # a number, written as a number
            assert v[:1] not in RAW_TRIGGERS, (col, v)
            checked += 1
    for col in rows[0]:
        assert col[:1] not in RAW_TRIGGERS
    return checked


def test_write_table_csv_has_no_trigger(tmp_path: Path) -> None:
    p = write_table(hostile_frame(), tmp_path / "t.csv")
    text = p.read_text(encoding="utf-8-sig")
    assert _check_csv(text, {"value", "count", "mixed"}) > 2 * len(HOSTILE)
    back = pd.read_csv(p, encoding="utf-8-sig", keep_default_na=False)
    assert len(back) == len(hostile_frame())  # a CR in a name did not split its row
    assert back["name"].tolist()[: len(HOSTILE)] == ["'" + h for h in HOSTILE]
    assert back["value"].iloc[0] == -3.5 and back["mixed"].iloc[0] == "-1.25"  # number, not text
    # JSON is data, not a spreadsheet: untouched
    j = json.loads(write_table(hostile_frame(), tmp_path / "t.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in j][: len(HOSTILE)] == HOSTILE


def test_print_table_csv_is_neutralised(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(hostile_frame(), fmt="csv")
    out = capsys.readouterr().out
    assert _check_csv(out, {"value", "count", "mixed"}) > 2 * len(HOSTILE)
    assert "'=HYPERLINK" in out


def test_md_text_escapes_html_and_markdown() -> None:
    for raw in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>"):
        assert "<" not in md_text(raw) and ">" not in md_text(raw)
    assert md_text("a|b") == "a\\|b" and md_text("[x](javascript:alert(1))").startswith("\\[x\\]")
    assert md_text("two\nlines") == "two lines"
    table = _md_table(pd.DataFrame({"name": ["<b>x</b>|y"], "<th>": [1.5]}))
    assert "<b>" not in table and "<th>" not in table and table.count("\n") == 2
    assert table.splitlines()[2] == "| &lt;b&gt;x&lt;/b&gt;\\|y | 1.5 |"


HOSTILE_NAMES = [*HOSTILE[:5], "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "a|b **c**"]


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    polys = [feature(square(126.630 + 0.004 * i, 45.750, 0.002), name=n) for i, n in enumerate(HOSTILE_NAMES)]
    pts = [feature({"type": "Point", "coordinates": [126.631 + 0.004 * i, 45.751]}, name=n)
           for i, n in enumerate(HOSTILE_NAMES)]
    return {"polys": write_geojson(d / "hostile.geojson", polys), "points": write_geojson(d / "pts.geojson", pts)}


def test_coverage_xlsx_from_hostile_names(onemap: Path, hostile_files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cov"
    r = cli("coverage", "--onemap", str(onemap), "--facilities", str(hostile_files["points"]),
            "--demand", str(hostile_files["polys"]), "--within", "500m", "--mode", "euclid",
            "--format", "xlsx", "--format", "csv", "--no-map", "--out", str(out))
    assert r.returncode == 0, r.stderr
    xlsx = sorted(out.glob("*.xlsx"))
    assert xlsx
    strings = []
    for p in xlsx:
        for ws in openpyxl.load_workbook(p).worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (p.name, ws.title, cell.coordinate, cell.value)
                    if isinstance(cell.value, str):
                        assert cell.value[:1] not in RAW_TRIGGERS, (p.name, cell.value)
                        strings.append(cell.value)
        assert all("<f>" not in x for x in _sheet_xml(p).values())
    assert "'" + HOSTILE[0] in strings  # the names reached the workbook, neutralised
    for p in out.glob("*.csv"):
        for row in csv.reader(io.StringIO(p.read_text(encoding="utf-8-sig"))):
            for v in row:
                assert v[:1] not in RAW_TRIGGERS or _is_number(v), (p.name, v)


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def test_review_reports_escape_hostile_names(onemap: Path, hostile_files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rev"
    r = cli("review", str(hostile_files["polys"]), "--onemap", str(onemap), "--out", str(out), "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    md = (out / "review.md").read_text(encoding="utf-8")
    html_text = (out / "review.html").read_text(encoding="utf-8")
    for raw in ("<script>", "<img"):
        assert raw not in md and raw not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    assert "a\\|b \\*\\*c\\*\\*" in md
    findings = [ln for ln in md.splitlines() if ln.startswith("| ")]
    ncols = findings[0].replace("\\|", "").count("|")
    assert all(ln.replace("\\|", "").count("|") == ncols for ln in findings)  # no cell split by a name
    assert json.loads(r.stdout)  # stdout is data only
