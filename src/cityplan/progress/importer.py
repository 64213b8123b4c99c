"""Import a district's filled-in progress sheet (XLSX or CSV) into the ledger: all rows or none.

Every row is validated before anything is written; the problems come back as a per-row report
(row, column, value, problem, fix). Only when there are none are the rows recorded, in one
transaction, idempotent on (file sha256, row): importing the same file again records nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cityplan._errors import SchemaError
from cityplan.io.hashing import sha256_file
from cityplan.progress.context import ProgressContext
from cityplan.progress.events import (
    EARLIEST,
    STATUS_ZH,
    STATUSES,
    make_events,
    read_events,
    record_events,
)
from cityplan.progress.template import COLUMNS, INFO_SHEET, REPORT_SHEET
from cityplan.text import bilingual

logger = logging.getLogger(__name__)

REQUIRED = ("site_id", "task_id", "metric", "status", "achieved", "as_of")
#: a progress sheet holds one district's sites: more rows than this is not a report but a mistake
#: (or an attack) and is refused before it is read in full
MAX_ROWS = 5_000
#: ... nor more columns than this
MAX_COLUMNS = 64
#: uncompressed size of an XLSX's shared strings and of its worksheets together (bytes): a
#: 41 KiB file can hold a million shared strings
MAX_XLSX_XML_BYTES = 8 * 1024 * 1024
#: largest CSV progress sheet (bytes)
MAX_CSV_BYTES = 4 * 1024 * 1024
PROBLEM_COLUMNS = ["row", "column", "value", "problem", "fix"]
_ALIASES = {zh.lower(): key for key, zh, _en, _e in COLUMNS} | {en.lower(): key for key, _zh, en, _e in COLUMNS}
_ALIASES |= {"quantity": "achieved", "date": "as_of", "完成量": "achieved", "日期": "as_of", "状态": "status"}
_STATUS_IN = {s: s for s in STATUSES} | {zh: s for s, zh in STATUS_ZH.items()} | {
    s.replace("_", " "): s for s in STATUSES}
_FORWARD = {"planned": 0, "started": 1, "under_construction": 2, "completed": 3}


# ------------------------------------------------------------------ the messages on web pages
#: the importer's (and the web form's) rejection texts for people reading a web page: English
#: pattern -> (中文, English for the web). The CLI prints the English as it is; the web shows
#: :func:`problem_text` in the profile's languages, Chinese first, and names the page's upload
#: form and downloaded template instead of CLI commands. ``{0}``, ``{1}``... are the pattern's
#: groups. ``tests/test_progress_ledger.py`` checks every message the importer writes is here.
MESSAGES_ZH: list[tuple[str, str, str]] = [
    # problems
    (r"the sheet's district is not a district of the one map", "表中的区不是本一张图的区",
     "the sheet's district is not a district of the one map"),
    (r"a formula, not a value", "是公式, 不是数值", "a formula, not a value"),
    (r"another district than the sheet's \((.*)\)", "与本表所属区({0})不同", "another district than the sheet's ({0})"),
    (r"unknown site id", "未知点位编号", "unknown site id"),
    (r"the site lies in (.*), not in (.*)", "该点位位于 {0}, 不在 {1}", "the site lies in {0}, not in {1}"),
    (r"site (.*) serves task (.*)", "点位 {0} 属于任务 {1}", "site {0} serves task {1}"),
    (r"site (.*) reports (.*)", "点位 {0} 上报的指标是 {1}", "site {0} reports {1}"),
    (r"neither a site id nor a task id", "既无点位编号也无任务编号", "neither a site id nor a task id"),
    (r"unknown task id", "未知任务编号", "unknown task id"),
    (r"measured by plan sites", "按规划点位计量", "measured by plan sites"),
    (r"not a target of task (.*)", "不是任务 {0} 的指标", "not a target of task {0}"),
    (r"unknown status", "未知状态", "unknown status"),
    (r"no status", "缺少状态", "no status"),
    (r"not a number", "不是数字", "not a number"),
    (r"negative quantity", "数量为负", "negative quantity"),
    (r"above the site's planned quantity \((.*)\)", "超过点位规划量({0})", "above the site's planned quantity ({0})"),
    (r"above the district's quota \((.*)\)", "超过本区任务量({0})", "above the district's quota ({0})"),
    (r"above (.*) \((.*)\)", "超过 {0} ({1})", "above {0} ({1})"),
    (r"no figure", "缺少数量", "no figure"),
    (r"no date", "缺少日期", "no date"),
    (r"not a date", "不是日期", "not a date"),
    (r"before (.*)", "早于 {0}", "before {0}"),
    (r"in the future", "晚于今天", "in the future"),
    (r"the same site/target reported twice for this date", "同一点位/指标在同一日期填报了两次",
     "the same site/target reported twice for this date"),
    (r"goes back from (.*)", "状态倒退(原为 {0})", "goes back from {0}"),
    (r"the row names no district .*", "此行没有指明区(无行政区划代码、无点位、表上也未写区)",
     "the row names no district (no adcode, no site, no district on the sheet)"),
    # fixes
    (r"use a template of one of (.*)", "使用以下某区的模板: {0}", "use a template of one of {0}"),
    (r"type the value itself \(formulas are not read\)", "直接填写数值(不读取公式)",
     "type the value itself (formulas are not read)"),
    (r"report each district on its own sheet", "每个区用各自的表填报", "report each district on its own sheet"),
    (r"use a site id of the one map .*", "使用一张图中的点位编号(本页下载的模板列出了本区全部点位)",
     "use a site id of the one map (the template downloaded on this page lists them)"),
    (r"remove the row; that district reports it", "删除此行, 由该区填报", "remove the row; that district reports it"),
    (r"write (\S+) \(or leave the id column as exported\)", "填写 {0} (或保留导出时的编号)",
     "write {0} (or leave the id column as exported)"),
    (r"write (\S+) \((.*)\)", "填写 {0} ({1})", "write {0} ({1})"),
    (r"fill site_id for a site, or task_id \+ metric for a district figure",
     "点位行填写点位编号; 区级数字填写任务编号和指标", "fill site_id for a site, or task_id + metric for a district figure"),
    (r"use a task id listed by .*", "使用任务页列出的任务编号", "use a task id listed on the tasks page"),
    (r"report it on the site rows", "在点位行上填报", "report it on the site rows"),
    (r"use one of (.*)", "使用以下之一: {0}", "use one of {0}"),
    (r"choose one of (.*)", "从以下选择: {0}", "choose one of {0}"),
    (r"write a number in (.*), e\.g\. (.*)", "填写以 {0} 计的数字, 例如 {1}", "write a number in {0}, e.g. {1}"),
    (r"write the cumulative quantity achieved \(>= 0\)", "填写累计完成量(>= 0)",
     "write the cumulative quantity achieved (>= 0)"),
    (r"check the number, or explain in the note( column)?", "核对数字, 或在备注栏说明",
     "check the number, or explain in the note"),
    (r"write the cumulative (.*) achieved \((.*)\)", "填写累计完成的 {0} ({1})", "write the cumulative {0} achieved ({1})"),
    (r"write the date the (?:figures|status) refers? to, YYYY-MM-DD", "填写所指日期, 格式 YYYY-MM-DD",
     "write the date the figures refer to, YYYY-MM-DD"),
    (r"write YYYY-MM-DD, e\.g\. (.*)", "按 YYYY-MM-DD 填写, 例如 {0}", "write YYYY-MM-DD, e.g. {0}"),
    (r"the plan starts (.*)", "规划自 {0} 开始", "the plan starts {0}"),
    (r"use a date up to (.*)", "使用不晚于 {0} 的日期", "use a date up to {0}"),
    (r"keep one row per site and date", "每个点位每个日期只留一行", "keep one row per site and date"),
    (r"explain the change in the note(?: column)? \(or correct the status\)", "在备注栏说明变化(或改正状态)",
     "explain the change in the note (or correct the status)"),
    (r"fill the adcode column, use the district's template .*", "填写行政区划代码列, 或使用在本区页面下载的模板",
     "fill the adcode column, or use the template downloaded on the district's page"),
    # the file as a whole (``ProgressInputError``; the file's name leads the message)
    (r"(.*): file not found; .*", "{0}: 找不到文件; 请上传本页下载的模板", "{0}: file not found; upload the template of this page"),
    (r"(.*): unsupported file type (.*); give an \.xlsx or \.csv progress sheet", "{0}: 不支持的文件类型 {1}; 请上传 XLSX 或 CSV 填报表",
     "{0}: unsupported file type {1}; upload an .xlsx or .csv progress sheet"),
    (r"(.*): no header row; .*", "{0}: 没有表头行; 请使用本页下载的模板", "{0}: no header row; use the template downloaded on this page"),
    (r"(.*): missing column\(s\) (.*) in the header (.*); .*", "{0}: 表头 {2} 缺少列 {1}; 请使用本页下载的模板",
     "{0}: missing column(s) {1} in the header {2}; use the template downloaded on this page"),
    (r"(.*): not a readable XLSX workbook \((.*)\); save it again as \.xlsx", "{0}: 无法读取的 XLSX 工作簿({1}); 请重新另存为 .xlsx",
     "{0}: not a readable XLSX workbook ({1}); save it again as .xlsx"),
    (r"(.*): the workbook's sheets and strings expand to (.*) \(at most (.*)\); .*",
     "{0}: 工作簿解压后达 {1}(上限 {2}); 填报表只含本区点位, 请删除其他行",
     "{0}: the workbook's sheets and strings expand to {1} (at most {2}); a progress sheet is one district's sites - remove the other rows"),
    (r"(.*): more than (\S+) (\S+) \(a progress sheet .*", "{0}: 超过 {1} 行(填报表只含本区点位); 请拆分文件或删除多余的行",
     "{0}: more than {1} {2} (a progress sheet holds one district's sites); split the file or remove the extra rows"),
    (r"(.*): (.*) is more than a progress sheet \(at most (.*)\); .*", "{0}: {1} 超过填报表上限({2}); 请删除其他区的行",
     "{0}: {1} is more than a progress sheet (at most {2}); a sheet holds one district's sites - remove the other rows"),
    (r"(.*): not UTF-8 or GB18030 text; .*", "{0}: 不是 UTF-8 或 GB18030 文本; 请将 CSV 另存为 UTF-8",
     "{0}: not UTF-8 or GB18030 text; save the CSV as UTF-8"),
    (r"(.*): binary data, not a CSV table; .*", "{0}: 是二进制数据, 不是 CSV 表格; 请上传 CSV 或 XLSX 填报表",
     "{0}: binary data, not a CSV table; upload the CSV or XLSX progress sheet"),
]
_MESSAGES = [(re.compile(pat + r"\Z", re.S), zh, en) for pat, zh, en in MESSAGES_ZH]


def problem_text(message: object, languages: str | Iterable[str] | None = None) -> str:
    """A rejection text of the importer (a problem, a fix, a file's error) for a web page.

    Parameters
    ----------
    message : object
        The English text the importer (or the web form's check) wrote.
    languages : sequence of {"zh", "en"}, str or None
        The profile's languages; ``None`` means Chinese and English.

    Returns
    -------
    str
        The words of :data:`MESSAGES_ZH` in ``languages`` (Chinese first), with the web's
        instructions in place of CLI commands; a text no pattern knows is returned unchanged.

    Examples
    --------
    >>> problem_text("not a date")
    '不是日期 not a date'
    >>> problem_text("use a date up to 2024-01-01", ("en",))
    'use a date up to 2024-01-01'
    """
    text = "" if message is None else str(message)
    for pat, zh, en in _MESSAGES:
        m = pat.match(text)
        if m:
            return bilingual(zh.format(*m.groups()), en.format(*m.groups()), languages)
    return text


class ProgressInputError(SchemaError):
    """The progress file cannot be read at all (missing, not XLSX/CSV, no header) - exit 2."""


@dataclass
class ImportResult:
    """What an import found and did."""

    path: Path
    sha256: str
    adcode: str
    district: str
    rows_read: int
    rows_reported: int
    problems: pd.DataFrame
    recorded: int = 0
    events: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return self.problems.empty

    @property
    def already_recorded(self) -> int:
        """Valid rows that were in the ledger already (same file and row)."""
        return self.rows_reported - self.recorded if self.ok else 0


def _key(header: object) -> str | None:
    text = str(header or "").strip()
    for part in [text, *[p.strip() for p in text.split("/")]]:
        k = _ALIASES.get(part.lower())
        if k:
            return k
    return None


def read_report(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """The rows of a progress file as text/values with ``source_row`` (the spreadsheet row number).

    Formula cells are kept as ``=…`` text flagged in ``_formula`` so they are rejected, never
    evaluated. Raises :class:`ProgressInputError` for a file that cannot be read.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"{p}: file not found; give the XLSX or CSV written by `cityplan progress template`"
        raise ProgressInputError(msg)
    suffix = p.suffix.lower()
    meta: dict[str, str] = {}
    if suffix in (".xlsx", ".xlsm"):
        rows, meta = _read_xlsx(p)
    elif suffix in (".csv", ".txt"):
        rows = _read_csv(p)
    else:
        msg = f"{p}: unsupported file type {suffix!r}; give an .xlsx or .csv progress sheet"
        raise ProgressInputError(msg)
    if not rows:
        msg = f"{p}: no header row; use the sheet written by `cityplan progress template`"
        raise ProgressInputError(msg)
    header = rows[0][0]
    keys = [_key(h) for h in header]
    missing = [k for k in REQUIRED if k not in keys]
    if missing:
        msg = (f"{p}: missing column(s) {missing} in the header {[str(h) for h in header if h]}; "
               "use the sheet written by `cityplan progress template`")
        raise ProgressInputError(msg)
    records = []
    for values, formulas, rownum in rows[1:]:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        rec: dict[str, Any] = {"source_row": rownum, "_formula": []}
        for k, v, f in zip(keys, values, formulas, strict=False):
            if k is None or k in rec:
                continue
            rec[k] = v
            if f:
                rec["_formula"].append(k)
        records.append(rec)
    return pd.DataFrame(records, dtype=object), meta


def _check_xlsx_parts(p: Path) -> None:
    """Refuse, from the archive's directory alone, a workbook whose sheets and shared strings
    expand beyond :data:`MAX_XLSX_XML_BYTES` (no XML is parsed)."""
    try:
        with zipfile.ZipFile(p) as zf:
            xml = sum(i.file_size for i in zf.infolist()
                      if i.filename.startswith("xl/worksheets/") or i.filename == "xl/sharedStrings.xml")
    except (zipfile.BadZipFile, OSError) as exc:
        msg = f"{p}: not a readable XLSX workbook ({type(exc).__name__}: {exc}); save it again as .xlsx"
        raise ProgressInputError(msg) from None
    if xml > MAX_XLSX_XML_BYTES:
        msg = (f"{p}: the workbook's sheets and strings expand to {xml / 2**20:.0f} MiB (at most "
               f"{MAX_XLSX_XML_BYTES // 2**20} MiB); a progress sheet is one district's sites - remove the other rows")
        raise ProgressInputError(msg)


def _too_many(p: Path, what: str) -> ProgressInputError:
    return ProgressInputError(f"{p}: more than {MAX_ROWS:,} {what} (a progress sheet holds one district's sites); "
                              "split the file or remove the extra rows")


def _read_xlsx(p: Path) -> tuple[list[tuple[list[Any], list[bool], int]], dict[str, str]]:
    from openpyxl import load_workbook

    _check_xlsx_parts(p)
    try:
        wb = load_workbook(p, data_only=False, read_only=True)  # streamed: stops at the row limit
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        msg = f"{p}: not a readable XLSX workbook ({type(exc).__name__}: {exc}); save it again as .xlsx"
        raise ProgressInputError(msg) from None
    try:
        ws = wb[REPORT_SHEET] if REPORT_SHEET in wb.sheetnames else wb.worksheets[0]
        rows = []
        for r in ws.iter_rows(max_col=MAX_COLUMNS):
            cells = [c for c in r if getattr(c, "value", None) is not None or getattr(c, "data_type", "") == "f"]
            if not cells:
                continue  # empty rows cost nothing and count for nothing
            if len(rows) > MAX_ROWS:
                raise _too_many(p, "rows")
            vals = [getattr(c, "value", None) for c in r]
            forms = [getattr(c, "data_type", "") == "f" for c in r]
            rows.append((vals, forms, getattr(cells[0], "row", 0) or len(rows) + 1))
        meta: dict[str, str] = {}
        if INFO_SHEET in wb.sheetnames:
            for i, r in enumerate(wb[INFO_SHEET].iter_rows(values_only=True, max_col=4)):
                if i > 200:
                    break
                if r and r[0]:
                    meta[str(r[0]).split(" ")[-1]] = "" if len(r) < 2 or r[1] is None else str(r[1])
    finally:
        wb.close()
    return rows, meta


def _read_csv(p: Path) -> list[tuple[list[Any], list[bool], int]]:
    import csv

    if p.stat().st_size > MAX_CSV_BYTES:
        msg = (f"{p}: {p.stat().st_size / 2**20:.1f} MiB is more than a progress sheet (at most "
               f"{MAX_CSV_BYTES // 2**20} MiB); a sheet holds one district's sites - remove the other rows")
        raise ProgressInputError(msg)
    raw = p.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        msg = f"{p}: not UTF-8 or GB18030 text; save the CSV as UTF-8"
        raise ProgressInputError(msg)
    if "\x00" in text:
        msg = f"{p}: binary data, not a CSV table; give the CSV or XLSX progress sheet"
        raise ProgressInputError(msg)
    out = []
    for i, row in enumerate(csv.reader(text.splitlines()), start=1):
        if len(out) > MAX_ROWS:
            raise _too_many(p, "rows")
        vals = [None if v == "" else v for v in row[:MAX_COLUMNS]]
        out.append((vals, [False] * len(vals), i))
    return out


# ------------------------------------------------------------------------------ validation
def _blank(v: object) -> bool:
    return (v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))
            or (isinstance(v, str) and not v.strip()))


def _text(v: object) -> str:
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    s = str(v).strip()
    return s[1:] if s.startswith("'") and len(s) > 1 and s[1] in "=+-@" else s


def _number(v: object) -> float | None | str:
    """A float, None for blank, or the string ``"bad"``."""
    if _blank(v):
        return None
    if isinstance(v, bool):
        return "bad"
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else "bad"
    try:
        x = float(str(v).replace(",", "").strip())
    except ValueError:
        return "bad"
    return x if math.isfinite(x) else "bad"


def _date(v: object) -> dt.date | None | str:
    if _blank(v):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool) and 20000 < v < 80000:  # an Excel serial day
        return dt.date(1899, 12, 30) + dt.timedelta(days=int(v))
    s = str(v).strip().replace("/", "-").replace(".", "-")
    try:
        return dt.date.fromisoformat(s[:10])
    except ValueError:
        return "bad"


@dataclass
class _Check:
    problems: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: int, column: str, value: object, problem: str, fix: str) -> None:
        self.problems.append({"row": row, "column": column, "value": "" if _blank(value) else str(value),
                              "problem": problem, "fix": fix})


def validate_rows(frame: pd.DataFrame, ctx: ProgressContext, *, meta: dict[str, str] | None = None,
                  today: dt.date | None = None) -> tuple[list[dict[str, Any]], pd.DataFrame, str, str]:
    """Check every row; returns (valid report rows, problems, adcode, district)."""
    today = today or dt.date.today()
    chk = _Check()
    sites = ctx.sites.set_index("site_id")
    ns = ctx.nonspatial
    nonspatial = {(a, b): u for a, b, u in zip(ns.task_id, ns.metric, ns.unit, strict=True)}
    site_metrics = set(zip(ctx.link.quantities.task_id, ctx.link.quantities.metric, strict=True))
    quotas = ctx.quotas.set_index(["task_id", "metric", "adcode"])["quota"].to_dict()
    names = dict(zip(ctx.districts.adcode.astype(str), ctx.districts.name.astype(str), strict=True))
    # the sheet's district: the instructions sheet, else the adcode column, else the first site's
    adcode = (meta or {}).get("adcode", "")
    if not adcode and "adcode" in frame.columns:
        codes = [c for c in (_text(v) for v in frame["adcode"]) if c]
        adcode = max(set(codes), key=codes.count) if codes else ""
    if not adcode:
        for v in frame.get("site_id", []):
            if _text(v) in sites.index:
                adcode = str(sites.loc[_text(v), "adcode"])
                break
    if adcode and adcode not in names:
        chk.add(1, "adcode", adcode, "the sheet's district is not a district of the one map",
                f"use a template of one of {sorted(names)}")
    district = names.get(adcode, "")
    current = ctx.site_status()
    ledger_now = current.set_index("site_id")["status"].to_dict()
    events = ctx.events
    valid: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str, str]] = set()
    for rec in frame.to_dict("records"):
        row = int(rec["source_row"])
        for k in rec.get("_formula", []):
            chk.add(row, k, rec.get(k), "a formula, not a value", "type the value itself (formulas are not read)")
        if rec.get("_formula"):
            continue
        sid, tid, metric = _text(rec.get("site_id")), _text(rec.get("task_id")), _text(rec.get("metric"))
        status_raw, note = _text(rec.get("status")), _text(rec.get("note"))
        qty, day = _number(rec.get("achieved")), _date(rec.get("as_of"))
        is_site = bool(sid)
        exported = _text(rec.get("current_status")) if "current_status" in rec else ledger_now.get(sid, "")
        unchanged = (qty is None and day is None and not note
                     and (not is_site or not status_raw or _STATUS_IN.get(status_raw.lower(), status_raw) == exported))
        if unchanged:
            continue
        n0 = len(chk.problems)
        row_adcode = _text(rec.get("adcode"))
        if row_adcode and adcode and row_adcode != adcode:
            chk.add(row, "adcode", row_adcode, f"another district than the sheet's ({district} {adcode})",
                    "report each district on its own sheet")
        planned: float | None = None
        unit = ""
        if is_site:
            if sid not in sites.index:
                chk.add(row, "site_id", sid, "unknown site id",
                        "use a site id of the one map (cityplan progress template --district NAME lists them)")
                continue
            s = sites.loc[sid]
            if str(s["adcode"]) != adcode:
                chk.add(row, "site_id", sid, f"the site lies in {s['district']} ({s['adcode']}), not in "
                        f"{district} ({adcode})", "remove the row; that district reports it")
            if tid and tid != str(s["task_id"]):
                chk.add(row, "task_id", tid, f"site {sid} serves task {s['task_id']}",
                        f"write {s['task_id']} (or leave the id column as exported)")
            if metric and metric != str(s["metric"]):
                chk.add(row, "metric", metric, f"site {sid} reports {s['metric']!r}",
                        f"write {s['metric']} ({s['unit']})")
            tid, metric, unit, planned = str(s["task_id"]), str(s["metric"]), str(s["unit"]), float(s["planned"])
        else:
            if not tid:
                chk.add(row, "task_id", tid, "neither a site id nor a task id",
                        "fill site_id for a site, or task_id + metric for a district figure")
                continue
            if tid not in ctx.register.ids:
                chk.add(row, "task_id", tid, "unknown task id", "use a task id listed by `cityplan tasks`")
                continue
            if (tid, metric) not in nonspatial:
                why = ("measured by plan sites" if (tid, metric) in site_metrics
                       else f"not a target of task {tid}")
                fix = ("report it on the site rows" if (tid, metric) in site_metrics else
                       f"use one of {[m for (t, m) in nonspatial if t == tid] or 'the template metrics'}")
                chk.add(row, "metric", metric, why, fix)
                continue
            unit = nonspatial[(tid, metric)]
            planned = quotas.get((tid, metric, adcode))
        status = ""
        if status_raw:
            status = _STATUS_IN.get(status_raw.lower(), _STATUS_IN.get(status_raw, ""))
            if not status:
                chk.add(row, "status", status_raw, "unknown status",
                        f"choose one of {', '.join(STATUSES)} ({'/'.join(STATUS_ZH.values())})")
        elif is_site:
            chk.add(row, "status", status_raw, "no status", f"choose one of {', '.join(STATUSES)}")
        if qty == "bad":
            chk.add(row, "achieved", rec.get("achieved"), "not a number", f"write a number in {unit}, e.g. 1200")
        elif qty is not None and qty < 0:
            chk.add(row, "achieved", qty, "negative quantity", "write the cumulative quantity achieved (>= 0)")
        elif qty is not None and planned is not None and not math.isnan(planned) and qty > planned + 1e-9 and not note:
            what = "the site's planned quantity" if is_site else "the district's quota"
            chk.add(row, "achieved", qty, f"above {what} ({planned:,.10g} {unit})",
                    "check the number, or explain in the note column")
        elif qty is None and not is_site:
            chk.add(row, "achieved", "", "no figure", f"write the cumulative {metric} achieved ({unit})")
        if day is None:
            chk.add(row, "as_of", "", "no date", "write the date the figures refer to, YYYY-MM-DD")
        elif day == "bad":
            chk.add(row, "as_of", rec.get("as_of"), "not a date", "write YYYY-MM-DD, e.g. 2023-06-30")
        elif day < EARLIEST:
            chk.add(row, "as_of", day, f"before {EARLIEST.isoformat()}", f"the plan starts {EARLIEST.isoformat()}")
        elif day > today:
            chk.add(row, "as_of", day, "in the future", f"use a date up to {today.isoformat()}")
        if len(chk.problems) > n0:
            continue
        k = (sid, tid, metric, day.isoformat())
        if k in seen:
            chk.add(row, "as_of", day, "the same site/target reported twice for this date",
                    "keep one row per site and date")
            continue
        seen.add(k)
        valid.append({"site_id": sid, "task_id": tid, "metric": metric, "quantity": qty, "unit": unit,
                      "status": status, "as_of": day.isoformat(), "adcode": adcode, "district": district,
                      "note": note, "source_row": row})
    _check_backwards(valid, events, chk)
    problems = pd.DataFrame(chk.problems, columns=PROBLEM_COLUMNS).sort_values(["row", "column"], kind="stable")
    return valid, problems.reset_index(drop=True), adcode, district


def _backwards(prev: str, new: str) -> bool:
    if not prev or not new or prev == new or new == "cancelled":
        return False
    if prev == "cancelled":
        return True
    return _FORWARD[new] < _FORWARD[prev]


def _check_backwards(valid: list[dict[str, Any]], events: pd.DataFrame, chk: _Check) -> None:
    """A site's status going back (vs the ledger and earlier dates of the sheet) needs a note."""
    site_ev = events[events.site_id != ""][["site_id", "as_of", "recorded_at", "source_row", "status"]]
    by_site = {sid: g.sort_values(["as_of", "recorded_at", "source_row"]) for sid, g in site_ev.groupby("site_id")}
    rows = sorted((r for r in valid if r["site_id"]), key=lambda r: (r["site_id"], r["as_of"], r["source_row"]))
    bad: set[int] = set()
    last_in_file: dict[str, tuple[str, str]] = {}
    for r in rows:
        g = by_site.get(r["site_id"])
        prev, prev_day = "", ""
        if g is not None:
            before = g[g.as_of <= r["as_of"]]
            if len(before):
                prev, prev_day = str(before.status.iloc[-1]), str(before.as_of.iloc[-1])
        f = last_in_file.get(r["site_id"])
        if f and f[1] >= prev_day:
            prev = f[0]
        if _backwards(prev, r["status"]) and not r["note"]:
            chk.add(r["source_row"], "status", r["status"], f"goes back from {prev!r}",
                    "explain the change in the note column (or correct the status)")
            bad.add(r["source_row"])
        last_in_file[r["site_id"]] = (r["status"], r["as_of"])
    if bad:
        valid[:] = [r for r in valid if r["source_row"] not in bad]


def import_progress(ctx: ProgressContext, path: str | os.PathLike[str], *, reported_by: str,
                    today: dt.date | None = None, dry_run: bool = False) -> ImportResult:
    """Validate every row of ``path``; record all of them in one transaction, or none.

    Raises
    ------
    ProgressInputError
        The file cannot be read (exit 2). Rejected rows are not raised: they are in
        ``ImportResult.problems`` and nothing is recorded.
    """
    if not reported_by or not reported_by.strip():
        msg = "--reported-by: give the name of the person or office reporting, e.g. --reported-by 南岗区住建局"
        raise ProgressInputError(msg)
    p = Path(path)
    frame, meta = read_report(p)
    return record_report(ctx, p, frame, meta, reported_by=reported_by, today=today, dry_run=dry_run)


def record_report(ctx: ProgressContext, path: Path, frame: pd.DataFrame, meta: dict[str, str], *, reported_by: str,
                  today: dt.date | None = None, dry_run: bool = False,
                  more_problems: Callable[[list[dict[str, Any]]], pd.DataFrame] | None = None) -> ImportResult:
    """Validate the rows read from ``path`` and record all of them in one transaction, or none.

    ``more_problems`` (given the valid rows) adds the caller's own rejections - the district
    ownership rule of :mod:`cityplan.services.progress` - checked when the rows are otherwise valid.
    """
    sha = sha256_file(path)
    ctx.reload_events()
    valid, problems, adcode, district = validate_rows(frame, ctx, meta=meta, today=today)
    if problems.empty and more_problems is not None:
        problems = more_problems(valid)
    res = ImportResult(path=path, sha256=sha, adcode=adcode, district=district, rows_read=len(frame),
                       rows_reported=len(valid) if problems.empty else 0, problems=problems)
    if not problems.empty or not valid or dry_run:
        return res
    events = make_events(valid, reported_by=reported_by.strip(), source_file=path.name, source_sha256=sha)
    res.events = events
    res.recorded = record_events(ctx.om.store, events)
    ctx.events = read_events(ctx.om.store)
    logger.info("%s: %d rows recorded (%d already in the ledger)", path, res.recorded, len(valid) - res.recorded)
    return res
