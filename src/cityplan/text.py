"""User-facing text in the city's languages (``ProfileSettings.languages``: ``("zh", "en")``, ``("en",)``...).

Outputs used to be bilingual in one string, Chinese first (``名称 name``). Two pure helpers let a
presenter speak the languages the profile names instead:

- :func:`bilingual` joins a text given in parts (``title_zh`` / ``title_en``) in the profile's order;
- :func:`localize` keeps the part a profile asks for of a legacy ``中文 English`` string (labels
  from ``maps/labels.yaml``, group titles of map recipes, built-in legend texts).

With both languages the texts are what they always were, so Harbin's outputs do not change.
:func:`languages_of` reads the language list off a one map, a profile or its settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: today's bilingual outputs: Chinese first, English beside it (what a caller without a map shows)
BOTH: tuple[str, ...] = ("zh", "en")

# CJK ideographs (incl. extension A and compatibility forms), radicals, CJK symbols and
# punctuation (、。「」), full-width forms (（），：) and half-width katakana
_CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
# letters of a Latin-script part (English, and the Portuguese/Spanish/... of data names)
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_DIGIT = re.compile(r"\d")
_BRACKETS = {"(": ")", "（": "）", "[": "]"}


def _langs(languages: str | Iterable[str] | None) -> tuple[str, ...]:
    if languages is None:
        return BOTH
    if isinstance(languages, str):
        return (languages,)
    return tuple(languages)


def bilingual(zh: str, en: str, languages: str | Iterable[str] | None, *, sep: str = " ",
              legacy: str | None = None) -> str:
    """A text given in Chinese and English, in the languages (and the order) of ``languages``.

    Parameters
    ----------
    zh, en : str
        The Chinese and the English text; either may be empty (or missing: ``None``, NaN).
    languages : sequence of {"zh", "en"}, str or None
        The profile's languages (``om.profile.settings.languages``), the first one leading;
        ``None`` means :data:`BOTH`.
    sep : str
        What joins two parts (``" / "`` for the report's column headers).
    legacy : str, optional
        The text as outputs have shown it so far, returned as it is when ``languages`` holds
        both Chinese and English: for bilingual texts written English first or with the Chinese
        inside (``Legend 图例``), which stay unchanged for a bilingual city.

    Returns
    -------
    str
        The parts of ``languages`` joined by ``sep``, empty parts skipped and equal parts
        given once. When no part of ``languages`` has text, the first non-empty of ``zh`` and
        ``en`` (a name the city has only in one language is shown rather than nothing).

    Examples
    --------
    >>> bilingual("公园", "Parks", ("zh", "en"))
    '公园 Parks'
    >>> bilingual("公园", "Parks", ("en",))
    'Parks'
    >>> bilingual("公园", "Parks", ["en", "zh"], sep=" / ")
    'Parks / 公园'
    >>> bilingual("", "Parks", ("zh", "en"))
    'Parks'
    >>> bilingual("Parks", "Parks", ("zh", "en"))
    'Parks'
    >>> bilingual("公园", "", ("en",))
    '公园'
    >>> bilingual("图例", "Legend", ("zh", "en"), legacy="Legend 图例")
    'Legend 图例'
    >>> bilingual("图例", "Legend", ("en",), legacy="Legend 图例")
    'Legend'
    """
    langs = _langs(languages)
    if legacy is not None and set(BOTH) <= set(langs):
        return legacy
    parts = {"zh": zh if isinstance(zh, str) else "", "en": en if isinstance(en, str) else ""}
    out = [parts[lang] for lang in langs if parts.get(lang)]
    if not out:
        out = [p for p in (parts["zh"], parts["en"]) if p][:1]
    return sep.join(dict.fromkeys(out))


def split_bilingual(text: str) -> tuple[str, str] | None:
    """The Chinese and the English part of a legacy ``中文 English`` string, or ``None``.

    The Chinese part is the leading run of whitespace-separated words up to the last one holding
    CJK text (CJK punctuation and parentheses included: ``居住用地(小区)``, ``规划设施（示意）``;
    numbers and Latin letters may be part of it: ``2020人口``, ``OSM编号``). The English part starts
    at the first word holding a Latin letter and no CJK. Words between the two holding a digit go
    with the English part; punctuation words (``/``, ``—``, ``·``) are separators and dropped.
    ``None`` when the text has no such two parts (no CJK, no Latin part, or English first).

    Examples
    --------
    >>> split_bilingual("居住用地(小区) Residential land (compounds)")
    ('居住用地(小区)', 'Residential land (compounds)')
    >>> split_bilingual("2020人口 population 2020")
    ('2020人口', 'population 2020')
    >>> split_bilingual("OSM编号 OSM ref")
    ('OSM编号', 'OSM ref')
    >>> split_bilingual("区县覆盖率 / District share")
    ('区县覆盖率', 'District share')
    >>> split_bilingual("Legend 图例") is None
    True
    """
    words = list(re.finditer(r"\S+", text))
    first_latin = next((i for i, w in enumerate(words)
                        if _LATIN.search(w.group()) and not _CJK.search(w.group())), None)
    if first_latin is None or first_latin == 0:
        return None
    cjk = [i for i in range(first_latin) if _CJK.search(words[i].group())]
    if not cjk:
        return None
    last = cjk[-1]
    start = next((i for i in range(last + 1, first_latin) if _DIGIT.search(words[i].group())), first_latin)
    return text[words[0].start():words[last].end()], text[words[start].start():].rstrip()


def localize(text: str, languages: str | Iterable[str] | None) -> str:
    """The part of a legacy ``中文 English`` string that ``languages`` asks for.

    Parameters
    ----------
    text : str
        A string written Chinese first with English beside it (``名称 name``); any other
        string (no CJK, no Latin part, English first, a data name) is returned unchanged, as is
        every string when ``languages`` holds both Chinese and English (today's outputs).
    languages : sequence of {"zh", "en"}, str or None
        The profile's languages; ``None`` means :data:`BOTH`.

    Returns
    -------
    str
        The Chinese part for ``("zh",)``, the English part for ``("en",)``. Leading and
        trailing white space is kept, and so is one pair of brackets around the whole string:
        ``(未命名 unnamed)`` -> ``(unnamed)``.

    Examples
    --------
    >>> localize("名称 name", ("en",))
    'name'
    >>> localize("名称 name", ("zh",))
    '名称'
    >>> localize("名称 name", ("zh", "en"))
    '名称 name'
    >>> localize("规划设施（示意） Planned facilities (illustrative)", ["en"])
    'Planned facilities (illustrative)'
    >>> localize("(未命名 unnamed)", ("en",))
    '(unnamed)'
    >>> localize("南岗区", ("en",))
    '南岗区'
    >>> localize("OSM", ("zh",))
    'OSM'
    """
    langs = _langs(languages)
    want = [lang for lang in langs if lang in BOTH]
    if not want or set(BOTH) <= set(want) or not isinstance(text, str):
        return text
    stripped = text.strip()
    lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    if len(stripped) > 2 and _BRACKETS.get(stripped[0]) == stripped[-1]:
        inner = localize(stripped[1:-1], want)
        if inner != stripped[1:-1]:
            return lead + stripped[0] + inner + stripped[-1] + trail
    parts = split_bilingual(stripped)
    if parts is None:
        return text
    return lead + (parts[0] if want[0] == "zh" else parts[1]) + trail


def localize_all(texts: dict[str, str], languages: str | Iterable[str] | None) -> dict[str, str]:
    """:func:`localize` of every value of ``texts`` (e.g. the field labels of ``maps/labels.yaml``).

    Examples
    --------
    >>> localize_all({"name": "名称 name", "osm_ref": "OSM"}, ("en",))
    {'name': 'name', 'osm_ref': 'OSM'}
    """
    return {k: localize(v, languages) for k, v in texts.items()}


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds CJK characters (ideographs, CJK or full-width punctuation).

    Examples
    --------
    >>> has_cjk("公园 Parks"), has_cjk("Parque da Luz")
    (True, False)
    """
    return bool(_CJK.search(text))


def languages_of(obj: Any) -> tuple[str, ...]:
    """The language list of a one map, a profile, its settings or a language sequence.

    ``None`` (no map, e.g. a report assembled by hand) gives :data:`BOTH`.

    Examples
    --------
    >>> languages_of(None), languages_of(["en"])
    (('zh', 'en'), ('en',))
    """
    if obj is None:
        return BOTH
    if isinstance(obj, str | list | tuple):
        return _langs(obj)
    for attr in ("profile", "settings"):
        if hasattr(obj, attr) and not hasattr(obj, "languages"):
            obj = getattr(obj, attr)
    return _langs(obj.languages)


# ---------------------------------------------------------------------------- coded values
#: the one dictionary of coded values as people read them: kind -> code -> (中文, English). Codes
#: stay what storage, exports and APIs hold; presenters (the web pages, printed maps) show these
#: words in the profile's languages (:func:`code_label`). ``tests/test_labels.py`` checks that
#: every code the analyses define (verdicts, severities, site statuses, project types) is here.
CODES: dict[str, dict[str, tuple[str, str]]] = {
    "verdict": {"pass": ("通过", "pass"), "needs_approval": ("需审批", "needs approval"),
                "incomplete": ("不完整", "incomplete"), "fail": ("不通过", "fail")},
    "severity": {"forbidden": ("禁止", "forbidden"), "needs_approval": ("需审批", "needs approval"),
                 "note": ("提示", "note")},
    "site_status": {"planned": ("计划", "planned"), "started": ("已开工", "started"),
                    "under_construction": ("在建", "under construction"), "completed": ("已完成", "completed"),
                    "cancelled": ("已取消", "cancelled")},
    "task_status": {"achieved": ("已完成", "achieved"), "in progress": ("进行中", "in progress"),
                    "measured (no target)": ("已测量(无目标)", "measured (no target)"),
                    "no quota": ("无任务量", "no quota"),
                    "reported, none achieved": ("已上报, 尚无完成量", "reported, none achieved"),
                    "no report": ("未上报", "no report")},
    "project_type": {"bridge": ("桥梁", "bridge"), "pipeline": ("管线", "pipeline"), "road": ("道路", "road"),
                     "building": ("建筑", "building"), "park_facility": ("公园设施", "park facility"),
                     "sports": ("体育设施", "sports"), "school": ("学校", "school"), "other": ("其他", "other")},
    "role": {"admin": ("管理员", "admin"), "reviewer": ("审查员", "reviewer"),
             "district": ("区县填报员", "district office"), "viewer": ("查看者", "viewer")},
    "facility_type": {"school": ("学校", "school"), "park": ("公园", "park"), "parking": ("停车场", "parking"),
                      "ice-sports": ("冰上运动设施", "ice sports")},
    "boolean": {"True": ("是", "yes"), "False": ("否", "no")},
    # units of targets (every key of ``cityplan.schema.units.UNITS``)
    "unit": {"m2": ("平方米", "m²"), "ha": ("公顷", "ha"), "km2": ("平方千米", "km²"), "mu": ("亩", "mu"),
             "m": ("米", "m"), "km": ("千米", "km"), "min": ("分钟", "min"), "h": ("小时", "h"),
             "actions": ("项行动", "actions"), "projects": ("个项目", "projects"), "spaces": ("个车位", "spaces"),
             "streets": ("条街道", "streets"), "parks": ("个公园", "parks"), "schools": ("所学校", "schools"),
             "seats": ("个学位", "seats"), "stations": ("个站点", "stations"), "fields": ("块场地", "fields"),
             "sets": ("套", "sets"), "events": ("场活动", "events"), "persons": ("人", "persons"),
             "colleges": ("所学院", "colleges"), "programmes": ("个项目(贯通培养)", "programmes"),
             "zones": ("个片区", "zones"), "sections": ("段", "sections")},
    # target metrics of the task registers (the register names a metric by its code only)
    "metric": {"area_share": ("用地覆盖率", "land share"), "population_share": ("人口覆盖率", "population share"),
               "corridor_area": ("廊道面积", "corridor area"), "corridor_sections": ("廊道段数", "corridor sections"),
               "cultural_training_events": ("文化培训活动", "cultural training events"),
               "culture_sports_events": ("文体活动", "culture and sports events"),
               "fitness_circle_time": ("健身圈时间", "fitness circle time"),
               "fitness_path_sets": ("健身路径(套)", "fitness path sets"), "fitness_stations": ("健身站点", "fitness stations"),
               "floor_area": ("建筑面积", "floor area"), "industry_colleges": ("产业学院", "industry colleges"),
               "model_streets": ("示范街道", "model streets"), "multi_use_fields": ("多功能运动场", "multi-use fields"),
               "new_urban_jobs": ("城镇新增就业", "new urban jobs"), "park_area": ("公园面积", "park area"),
               "parking_spaces": ("停车位", "parking spaces"), "parks": ("公园", "parks"),
               "projects": ("项目", "projects"), "school_seats": ("学位", "school seats"), "schools": ("学校", "schools"),
               "special_actions": ("专项行动", "special actions"), "stations": ("站点", "stations"),
               "street_length": ("街道长度", "street length"), "sun_island_area": ("太阳岛面积", "Sun Island area"),
               "sun_island_zones": ("太阳岛片区", "Sun Island zones"),
               "through_programmes": ("贯通培养项目", "through programmes"), "track_length": ("轨道长度", "track length")},
}
# a standard's status names the coverage check as a command; the web says what it is instead
_STANDARD_STATUS = re.compile(r"^standard 标准: checked by `.*?--preset[ =](\S+?)`.*$")


def code_label(kind: str, code: Any, languages: str | Iterable[str] | None = None) -> str:
    """The words for a coded value (``fail`` -> ``不通过 fail``) in the profile's ``languages``.

    Parameters
    ----------
    kind : str
        A key of :data:`CODES` (``verdict``, ``severity``, ``site_status``, ``task_status``,
        ``project_type``, ``role``, ``boolean``).
    code : object
        The stored code; a code the dictionary does not know is returned as text, unchanged
        (booleans are looked up as ``True`` / ``False``).
    languages : sequence of {"zh", "en"}, str or None
        The profile's languages; ``None`` means :data:`BOTH`.

    Examples
    --------
    >>> code_label("verdict", "fail", ("zh", "en"))
    '不通过 fail'
    >>> code_label("site_status", "under_construction", ("en",))
    'under construction'
    >>> code_label("severity", "unknown_code")
    'unknown_code'
    >>> code_label("task_status", "standard 标准: checked by `cityplan coverage --preset ice-30min`, not a quantity")
    '标准, 由覆盖分析核验: ice-30min standard, checked by coverage: ice-30min'
    """
    if code is None or (isinstance(code, float) and code != code):
        return ""
    key = str(code)
    words = CODES.get(kind, {}).get(key)
    if words is None and kind == "task_status":
        m = _STANDARD_STATUS.match(key)
        if m:
            return bilingual(f"标准, 由覆盖分析核验: {m.group(1)}", f"standard, checked by coverage: {m.group(1)}",
                             languages)
    if words is None:
        return key.replace("_", " ") if kind == "metric" else key
    return bilingual(*words, languages)
