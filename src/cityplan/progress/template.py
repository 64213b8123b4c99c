"""The district's reporting sheet: its sites and its non-spatial targets, ready to fill in.

XLSX: one sheet ``填报 Report`` with bilingual headers (中文 / English), the identifying columns
locked (sheet protection; only status, achieved, date and note are editable), status as a
drop-down, and a sheet ``说明 Instructions``. CSV: the same columns and headers (UTF-8 with BOM so
spreadsheet programs read the Chinese). Text cells are neutralised against formula injection.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from cityplan.districts import resolve_district
from cityplan.io.safecells import force_text_cells, neutralise, write_safe_csv
from cityplan.io.write import atomic_path
from cityplan.progress.context import ProgressContext
from cityplan.progress.events import EARLIEST, STATUS_ZH, STATUSES, latest

#: (key, Chinese header, English header, editable)
COLUMNS: list[tuple[str, str, str, bool]] = [
    ("kind", "类型", "kind", False),
    ("site_id", "编号", "site_id", False),
    ("name", "名称", "name", False),
    ("task_id", "任务", "task_id", False),
    ("task_title", "任务名称", "task_title", False),
    ("metric", "指标", "metric", False),
    ("unit", "单位", "unit", False),
    ("adcode", "区划代码", "adcode", False),
    ("district", "区", "district", False),
    ("planned", "计划量/区配额", "planned", False),
    ("illustrative", "示意", "illustrative", False),
    ("current_status", "当前状态", "current_status", False),
    ("current_achieved", "当前完成量", "current_achieved", False),
    ("status", "填报状态", "status", True),
    ("achieved", "累计完成量", "achieved", True),
    ("as_of", "截至日期", "as_of", True),
    ("note", "备注", "note", True),
]
KEYS = [c[0] for c in COLUMNS]
EDITABLE = [c[0] for c in COLUMNS if c[3]]
HEADERS = {c[0]: f"{c[1]} / {c[2]}" for c in COLUMNS}
REPORT_SHEET = "填报 Report"
INFO_SHEET = "说明 Instructions"

INSTRUCTIONS = [
    ("用途 Purpose", "区级进度填报:本区的规划地块与非空间目标。 District progress report: the district's plan "
                     "sites and its non-spatial targets (jobs, events...)."),
    ("可填列 Editable", "只填写 填报状态 / status、累计完成量 / achieved、截至日期 / as_of、备注 / note;其余列已锁定。 "
                        "Fill in only status, achieved, as_of and note; the other columns are locked."),
    ("状态 Status", "计划 planned → 已开工 started → 在建 under_construction → 已完成 completed;已取消 cancelled。"
                    "状态倒退(如 已完成→在建)必须在备注中说明。 Going back (completed → under_construction) needs a note."),
    ("完成量 Achieved", "累计数,不是增量;地块行填该地块的完成量(单位见 单位 列),留空且状态为已完成时按计划量计。 "
                        "Cumulative to the date, not an increment; on a site row blank + completed counts the planned "
                        "quantity. Above the planned quantity / quota needs a note."),
    ("日期 Date", f"YYYY-MM-DD,不早于 {EARLIEST.isoformat()},不晚于填报当天。 Not before {EARLIEST.isoformat()} and "
                  "not in the future. Every row you change needs a date."),
    ("未改动的行 Unchanged rows", "状态未改、完成量/日期/备注为空的行不导入。 Rows with the exported status and no "
                                 "achieved/date/note are skipped."),
    ("上传 Upload", "网页: 打开本区页面(/districts/区划代码), 在 填报进度 表单中选择本文件并上传; 一次全部记录或全部不记录。 "
                   "On the web: open the district's page (/districts/ADCODE) and upload this file with the "
                   "Report progress form; all rows or none."),
    ("导入 Import", "命令行 command line: cityplan progress import 本文件.xlsx --reported-by 姓名  "
                   "(一次全部记录或全部不记录 all rows or none)"),
    ("示意 Illustrative", "示意=True 的地块由文档规则生成,不是真实项目。 Sites flagged illustrative were placed by a "
                          "documented rule (docs/plan_sites.md), not real projects."),
]


def template_frame(ctx: ProgressContext, district: str, *, as_of: dt.date | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """The template rows of one district (``KEYS`` columns) and the district's row."""
    d = resolve_district(district, ctx.districts)
    adcode, dname = str(d["adcode"]), str(d["name"])
    day = as_of or dt.date.today()
    st = ctx.site_status(as_of=day)
    mine = st[st.adcode.astype(str) == adcode]
    titles = ctx.register.items_frame().set_index("task_id")["title_zh"]
    order = {it.id: i for i, it in enumerate(ctx.register.items)}
    sites = pd.DataFrame({
        "kind": "site", "site_id": mine.site_id.astype(str), "name": mine.name.astype(str),
        "task_id": mine.task_id.astype(str), "task_title": mine.task_id.map(titles), "metric": mine.metric,
        "unit": mine.unit, "adcode": adcode, "district": dname, "planned": mine.planned.astype(float),
        "illustrative": mine.illustrative.astype(bool), "current_status": mine.status,
        "current_achieved": mine.achieved_quantity.where(~(mine.status.eq("completed") & mine.achieved_quantity.isna()),
                                                         mine.planned), "status": mine.status, "achieved": None, "as_of": None,
        "note": ""})
    sites = sites.assign(_o=sites.task_id.map(order)).sort_values(["_o", "site_id"]).drop(columns="_o")
    ns = ctx.nonspatial
    q = ctx.quotas[ctx.quotas.adcode.astype(str) == adcode].set_index(["task_id", "metric"])["quota"]
    ev = ctx.events
    last = latest(ev[(ev.site_id == "") & (ev.adcode == adcode)], ["task_id", "metric"], day.isoformat())
    last = last.set_index(["task_id", "metric"])["quantity"]
    targets = pd.DataFrame({
        "kind": "target", "site_id": "", "name": ns.title_zh, "task_id": ns.task_id, "task_title": ns.title_zh,
        "metric": ns.metric, "unit": ns.unit, "adcode": adcode, "district": dname,
        "planned": [q.get((a, b), float("nan")) for a, b in zip(ns.task_id, ns.metric, strict=True)],
        "illustrative": False, "current_status": "",
        "current_achieved": [last.get((a, b), float("nan")) for a, b in zip(ns.task_id, ns.metric, strict=True)],
        "status": "", "achieved": None, "as_of": None, "note": ""})
    out = pd.concat([sites, targets], ignore_index=True)[KEYS]
    return out, d


def write_template(ctx: ProgressContext, district: str, out: str | os.PathLike[str], *, fmt: str | None = None,
                   overwrite: bool = False, as_of: dt.date | None = None) -> Path:
    """Write the district's template as XLSX (default from the suffix) or CSV; returns the path."""
    frame, d = template_frame(ctx, district, as_of=as_of)
    path = Path(out)
    kind = fmt or ("csv" if path.suffix.lower() == ".csv" else "xlsx")
    with atomic_path(path, overwrite=overwrite) as tmp:
        if kind == "csv":
            write_safe_csv(frame.rename(columns=HEADERS), tmp, encoding="utf-8-sig")
        else:
            _write_xlsx(frame, d, ctx, tmp)
    return path


def _write_xlsx(frame: pd.DataFrame, d: pd.Series, ctx: ProgressContext, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill, Protection
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = REPORT_SHEET
    ws.append([HEADERS[k] for k in KEYS])
    for row in frame.itertuples(index=False):
        ws.append([_cell(v) for v in row])
    n = len(frame) + 1
    head_fill = PatternFill("solid", fgColor="DDDDDD")
    edit_fill = PatternFill("solid", fgColor="FFF2CC")
    for j, key in enumerate(KEYS, start=1):
        c = ws.cell(row=1, column=j)
        c.font = Font(bold=True)
        c.fill = edit_fill if key in EDITABLE else head_fill
        c.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(j)].width = {"name": 28, "task_title": 24, "note": 36}.get(key, 14)
    for key in EDITABLE:
        j = KEYS.index(key) + 1
        for i in range(2, n + 1):
            cell = ws.cell(row=i, column=j)
            cell.protection = Protection(locked=False)
            cell.fill = edit_fill
            if key == "as_of":
                cell.number_format = "yyyy-mm-dd"
            if key == "note":
                cell.number_format = "@"
    col = {k: get_column_letter(KEYS.index(k) + 1) for k in KEYS}
    status = DataValidation(type="list", formula1='"' + ",".join(STATUSES) + '"', allow_blank=True,
                            showErrorMessage=True, errorTitle="状态 status",
                            error="请选择 / choose: " + ", ".join(f"{s} {STATUS_ZH[s]}" for s in STATUSES))
    qty = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                         showErrorMessage=True, error="完成量须为非负数 / achieved must be a number >= 0")
    date = DataValidation(type="date", operator="greaterThanOrEqual",
                          formula1=f"DATE({EARLIEST.year},{EARLIEST.month},{EARLIEST.day})", allow_blank=True,
                          showErrorMessage=True, error=f"日期 YYYY-MM-DD, >= {EARLIEST.isoformat()}")
    for dv, k in ((status, "status"), (qty, "achieved"), (date, "as_of")):
        ws.add_data_validation(dv)
        dv.add(f"{col[k]}2:{col[k]}{max(n, 2)}")
    ws.freeze_panes = "C2"
    ws.auto_filter.ref = f"A1:{col[KEYS[-1]]}{max(n, 2)}"
    ws.protection.sheet = True
    ws.protection.autoFilter = False
    ws.protection.sort = False
    ws.protection.formatColumns = False
    info = wb.create_sheet(INFO_SHEET)
    meta = [("区 district", str(d["name"])), ("区划代码 adcode", str(d["adcode"])),
            ("一张图 one map", f"{ctx.om.label} (built {ctx.om.build_stamp})"),
            ("生成时间 generated", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
            ("地块 sites", str(int((frame.kind == "site").sum()))),
            ("非空间目标 targets", str(int((frame.kind == "target").sum())))]
    for k, v in meta + [("", "")] + INSTRUCTIONS:
        info.append([neutralise(k), neutralise(v)])
    info.column_dimensions["A"].width = 24
    info.column_dimensions["B"].width = 110
    for r in info.iter_rows():
        r[0].font = Font(bold=True)
        r[1].alignment = Alignment(wrap_text=True, vertical="top")
    force_text_cells(wb)
    wb.save(path)


def _cell(v: object) -> object:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    if isinstance(v, bool):
        return bool(v)
    return neutralise(v) if isinstance(v, str) else v


def read_meta(path: str | os.PathLike[str]) -> dict[str, str]:
    """The key/value block of a template's instructions sheet (district, adcode...)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        if INFO_SHEET not in wb.sheetnames:
            return {}
        out = {}
        for row in wb[INFO_SHEET].iter_rows(values_only=True):
            if row and row[0]:
                out[str(row[0]).split(" ")[-1]] = "" if len(row) < 2 or row[1] is None else str(row[1])
        return out
    finally:
        wb.close()
