"""Column headers of the district report (中文 / English, with units), one map for HTML and XLSX.

The report's tables keep the data model's column names (``population_covered``) internally;
what a district office reads is ``覆盖人口(估算) / Population covered (est.)`` -- or, for a city
whose profile reads ``languages: [en]``, ``Population covered (est.)``. :func:`bilingual`
renames for display, :func:`english` maps a read-back sheet (of either form) to the data names
again. Empty cells are filled with what they mean (:func:`explain_blanks`), never left silently
blank. Every function takes the profile's ``languages`` (default: Chinese and English).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from cityplan import text

#: data column -> (中文, English with unit)
HEADERS: dict[str, tuple[str, str]] = {
    # the task and the place
    "task_id": ("任务编号", "Task no."),
    "chapter": ("章", "Chapter"),
    "title_zh": ("任务", "Task (Chinese)"),
    "title_en": ("任务(英文)", "Task (English)"),
    "adcode": ("行政区划代码", "Adcode"),
    "district": ("区", "District"),
    "name": ("名称", "Name"),
    "name_en": ("英文名", "Name (English)"),
    # progress
    "metric": ("指标", "Metric"),
    "unit": ("单位", "Unit"),
    "target": ("全市目标", "City target (unit)"),
    "quota": ("本区任务量", "District quota (unit)"),
    "quota_basis": ("任务量依据", "Quota basis"),
    "checked_by": ("标准核验(覆盖分析)", "Standard checked by (coverage)"),
    "planned": ("规划量", "Planned (unit)"),
    "planned_illustrative": ("其中示意", "of which illustrative (unit)"),
    "achieved": ("完成量(上报)", "Achieved, as reported (unit)"),
    "ratio": ("完成率", "Achieved ÷ quota (0–1)"),
    "achieved_ratio": ("完成率(同上)", "Achieved ratio (0–1, same)"),
    "features": ("点位数(个)", "Sites / features (count)"),
    "illustrative_features": ("示意点位(个)", "Illustrative sites (count)"),
    "sites_overdue": ("逾期点位(个)", "Sites overdue (count)"),
    "status": ("状态", "Status"),
    "last_report": ("最近上报日期", "Last report (date)"),
    # last progress reports
    "as_of": ("截至日期", "As of (date)"),
    "site_id": ("点位编号", "Site id"),
    "quantity": ("数量", "Quantity (unit)"),
    "reported_by": ("填报人", "Reported by"),
    "note": ("备注", "Note"),
    "source_file": ("来源文件", "Source file"),
    "recorded_at": ("录入时间", "Recorded at"),
    # coverage
    "preset": ("标准", "Preset"),
    "scenario": ("情景", "Scenario"),
    "network": ("路网", "Network"),
    "method": ("方法", "Method"),
    "within": ("服务半径/时间", "Within (m or min)"),
    "speed_kmh": ("速度(km/h)", "Speed (km/h)"),
    "population": ("人口(估算)", "Population (est.)"),
    "population_covered": ("覆盖人口(估算)", "Population covered (est.)"),
    "population_share": ("人口覆盖率", "Population covered (share 0–1)"),
    "residential_area_m2": ("居住用地面积(m²)", "Residential land (m²)"),
    "residential_area_covered_m2": ("覆盖居住用地(m²)", "Residential land covered (m²)"),
    "area_share": ("居住用地覆盖率", "Residential land covered (share 0–1)"),
    "features_covered": ("覆盖小区(个)", "Compounds covered (count)"),
    "not_snapped_or_unreachable": ("未接入路网(个)", "Not snapped or unreachable (count)"),
    "extract_share": ("数据覆盖本区比例", "Extract share of district area (0–1)"),
    "target_metric": ("考核指标", "Target metric"),
    "target_min": ("目标下限", "Target minimum (0–1)"),
    "meets_target": ("是否达标", "Meets target"),
    # uncovered compounds
    "osm_ref": ("OSM编号", "OSM ref"),
    "population_est": ("小区人口(估算)", "Compound population (est.)"),
    "nearest_facility": ("最近设施", "Nearest facility"),
    "distance_m": ("距离(m)", "Distance (m)"),
    "time_min": ("时间(min)", "Time (min)"),
    "covered_share": ("用地在服务范围内比例", "Share of land in the service area (0–1)"),
    "land_in_service_area": ("服务范围内用地比例", "Land in service area (share 0–1)"),
    "covered": ("覆盖(入口在时限内可达)", "Covered (entrance reached within the limit)"),
    # illustrative data, sources, summary
    "layer": ("图层", "Layer"),
    "features_in_district": ("本区要素(个)", "Features in district (count)"),
    "how": ("生成方法", "How it was placed"),
    "source": ("来源", "Source"),
    "licence": ("许可", "Licence"),
    "attribution": ("署名", "Attribution"),
    "illustrative": ("示意", "Illustrative"),
    "onemap_built_at": ("一张图构建时间", "One map built at"),
    # progress on the web pages
    "sites_completed": ("已完成点位(个)", "Sites completed (count)"),
    "plan": ("规划情况", "Plan"),
    "achieved_quantity": ("完成量", "Achieved quantity (unit)"),
    "planned_basis": ("规划依据", "Planned basis"),
    "uncovered": ("未覆盖小区(个)", "Uncovered compounds (count)"),
    "gap_area_m2": ("缺口面积(m²)", "Gap area (m²)"),
    "standard": ("标准要求", "Standard"),
    # a review's findings, proposal and coverage impact (the review desk's pages)
    "feature_name": ("要素名称", "Feature"),
    "rule": ("审查规则", "Rule"),
    "title": ("规则名称", "Rule title"),
    "severity": ("严重程度", "Severity"),
    "hit": ("是否涉及", "Hit"),
    "area_m2": ("面积(m²)", "Area (m²)"),
    "area_ha": ("面积(公顷)", "Area (ha)"),
    "area_mu": ("面积(亩)", "Area (mu)"),
    "area_km2": ("面积(km²)", "Area (km²)"),
    "share": ("占项目比例", "Share of the proposal (0–1)"),
    "length_m": ("长度(m)", "Length (m)"),
    "message": ("说明", "Message"),
    "centroid_lon": ("中心经度", "Centroid longitude"),
    "centroid_lat": ("中心纬度", "Centroid latitude"),
    "centroid_x": ("中心X(m)", "Centroid x (m)"),
    "centroid_y": ("中心Y(m)", "Centroid y (m)"),
    "input_crs": ("输入坐标系", "CRS as read"),
    "working_crs": ("计算坐标系", "Working CRS"),
    "working_crs_name": ("计算坐标系名称", "Working CRS name"),
    "project_types": ("项目类型", "Project types"),
    "population_share_before": ("人口覆盖率(建设前)", "Population covered before (share 0–1)"),
    "population_share_after": ("人口覆盖率(建设后)", "Population covered after (share 0–1)"),
    "area_share_before": ("居住用地覆盖率(建设前)", "Residential land covered before (share 0–1)"),
    "area_share_after": ("居住用地覆盖率(建设后)", "Residential land covered after (share 0–1)"),
    "population_covered_gain": ("新增覆盖人口(估算)", "Population newly covered (est.)"),
}

#: what an empty cell means, per column (text columns only: numbers stay numbers in the XLSX)
BLANKS: dict[str, str] = {
    "last_report": "无上报 none yet",
    "status": "未评估 not assessed",
    "network": "不适用 n/a (not transit)",
    "meets_target": "不适用 n/a (no target for this row)",
    "target_metric": "无目标 no target",
    "name": "(未命名 unnamed)",
    "osm_ref": "无 none",
    "nearest_facility": "3倍时限内无可达设施 none reachable within 3× the limit",
    "quota_basis": "—",
    "checked_by": "—",
    "note": "—",
    "reported_by": "—",
    "how": "—",
}

#: coded values shown as words (column -> value -> (中文, English)); :func:`english` reads them back
VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "scenario": {"existing": ("现有", "existing (real facilities only)"),
                 "planned": ("规划", "planned (existing + plan sites)"),
                 "difference": ("差值", "difference (planned − existing)")},
}

#: how an empty numeric cell is shown in HTML, and the note under the table explaining it
NUMBER_BLANK = "—"
_NUMBER_BLANK_ZH = "不适用或无数据"
_NUMBER_BLANK_EN = "not applicable or no data (e.g. no quota, no target, straight-line method has no speed)"
NUMBER_BLANK_NOTE = f"{NUMBER_BLANK} {_NUMBER_BLANK_ZH} / {_NUMBER_BLANK_EN}"
#: columns only a Chinese-reading report shows (their values are Chinese text)
CHINESE_COLUMNS = ("title_zh",)

Languages = Iterable[str] | None


def header(column: str, languages: Languages = None) -> str:
    """``中文 / English`` header of a data column in the profile's ``languages`` (English only for
    ``("en",)``); the column name itself if it has none."""
    zh, en = HEADERS.get(column, ("", ""))
    return text.bilingual(zh, en, languages, sep=" / ") if zh else column


def number_blank_note(languages: Languages = None) -> str:
    """:data:`NUMBER_BLANK_NOTE` in the profile's ``languages``."""
    return f"{NUMBER_BLANK} {text.bilingual(_NUMBER_BLANK_ZH, _NUMBER_BLANK_EN, languages, sep=' / ')}"


def bilingual(df: pd.DataFrame, languages: Languages = None) -> pd.DataFrame:
    """``df`` with display headers (bilingual unless ``languages`` says otherwise)."""
    return df.rename(columns={c: header(c, languages) for c in df.columns})


def english(df: pd.DataFrame) -> pd.DataFrame:
    """A report table (e.g. a sheet read back from the report's XLSX) with the data column names
    and coded values (:data:`VALUES`: ``现有 existing (real facilities only)`` -> ``existing``);
    bilingual, English-only and Chinese-only headers are all recognised."""
    back = {header(c, langs): c for langs in (("en",), ("zh",), text.BOTH) for c in HEADERS}
    out = df.rename(columns={c: back.get(c, c) for c in df.columns})
    for col, values in VALUES.items():
        if col in out.columns:
            words = {text.bilingual(zh, en, langs): code for code, (zh, en) in values.items()
                     for langs in (("en",), ("zh",), text.BOTH)}
            out[col] = out[col].map(lambda v, w=words: w.get(v, v) if isinstance(v, str) else v)
    return out


def value_words(df: pd.DataFrame, languages: Languages = None) -> pd.DataFrame:
    """Coded values (:data:`VALUES`) as words in the profile's ``languages``: the scenario
    ``existing`` reads ``现有 existing (real facilities only)``."""
    out = df
    for col, values in VALUES.items():
        if col in out.columns:
            words = {code: text.bilingual(zh, en, languages) for code, (zh, en) in values.items()}
            out = out.assign(**{col: out[col].map(lambda v, w=words: w.get(v, v) if isinstance(v, str) else v)})
    return out


def explain_blanks(df: pd.DataFrame, languages: Languages = None) -> pd.DataFrame:
    """Fill empty text cells with what they mean (:data:`BLANKS`, in the profile's ``languages``);
    numeric columns are left as they are."""
    out = df.copy()
    for col, meaning in BLANKS.items():
        if col in out.columns and not pd.api.types.is_numeric_dtype(out[col]):
            s = out[col].astype(object)
            blank = s.isna() | s.astype(str).str.strip().eq("")
            out[col] = s.where(~blank, text.localize(meaning, languages))
    return out


def report_table(df: pd.DataFrame, languages: Languages = None) -> pd.DataFrame:
    """What the report shows of a table: blanks explained, headers in the profile's ``languages``
    (a report without Chinese leaves out the Chinese-text :data:`CHINESE_COLUMNS`)."""
    if "zh" not in text.languages_of(languages):
        df = df.drop(columns=[c for c in CHINESE_COLUMNS if c in df.columns])
    return bilingual(explain_blanks(value_words(df, languages), languages), languages)


def html_table(df: pd.DataFrame, languages: Languages = None) -> dict[str, list]:
    """The HTML template's ``{"columns", "rows"}`` of a report table: headers in the profile's
    ``languages``, every cell filled (empty numbers shown as :data:`NUMBER_BLANK`, explained by
    :func:`number_blank_note`)."""
    from cityplan.report.templating import table

    t = table(report_table(df, languages))
    t["rows"] = [[NUMBER_BLANK if isinstance(v, str) and v == "" else v for v in row] for row in t["rows"]]
    return t
