"""Chinese first on the web: every coded value has Chinese words, the pages say no CLI commands, and
the pages' CJK web font (slices of the shipped Noto Sans CJK) is declared as the package cuts it."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from fontTools.ttLib import TTFont

from cityplan.progress.events import STATUS_ZH, STATUSES
from cityplan.review.check import IMPACT_PRESETS, VERDICT_TEXT, VERDICTS
from cityplan.review.rules import PROJECT_TYPES, SEVERITIES
from cityplan.server import webfont
from cityplan.services.accounts import ROLES
from cityplan.text import CODES, code_label, has_cjk

pytestmark = pytest.mark.unit

KINDS = {"verdict": VERDICTS, "severity": SEVERITIES, "site_status": STATUSES, "project_type": PROJECT_TYPES,
         "role": ROLES, "facility_type": tuple(IMPACT_PRESETS)}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_code_has_chinese_words(kind):
    for code in KINDS[kind]:
        zh, en = CODES[kind][code]
        assert has_cjk(zh) and en and not has_cjk(en), (kind, code)
        assert code_label(kind, code, ("zh", "en")) == f"{zh} {en}"
        assert code_label(kind, code, ("en",)) == en and code_label(kind, code, ("zh",)) == zh


def test_the_dictionary_agrees_with_the_analyses_own_chinese():
    assert {c: CODES["site_status"][c][0] for c in STATUSES} == STATUS_ZH
    assert {c: CODES["verdict"][c][0] for c in VERDICTS} == {c: t.split()[0] for c, t in VERDICT_TEXT.items()}


def test_task_status_words_and_the_standard_without_a_command():
    from cityplan.progress.asof import _status

    seen = {_status(10.0, 10.0, True, "2026-01-01", None, False), _status(10.0, 1.0, True, "", None, False),
            _status(float("nan"), 0.0, False, "", None, True), _status(float("nan"), 0.0, False, "", None, False),
            _status(10.0, 0.0, False, "2026-01-01", None, False), _status(10.0, 0.0, False, "", None, False)}
    for s in seen:
        assert has_cjk(code_label("task_status", s)), s
    std = _status(1.0, 0.0, False, "", "cityplan coverage --preset ice-30min", False)
    words = code_label("task_status", std)
    assert "ice-30min" in words and "--" not in words and "`" not in words and has_cjk(words)


def test_pages_name_no_command_line():
    folder = resources.files("cityplan.server") / "templates"
    for f in folder.iterdir():
        if f.name.endswith(".j2"):
            text = f.read_text(encoding="utf-8")
            assert not re.search(r"`?cityplan [a-z]+ [a-z]+|\s--[a-z][a-z-]+", text), f.name


def test_server_css_declares_the_font_slices_as_cut():
    css = (resources.files("cityplan.server") / "static" / "server.css").read_text(encoding="utf-8")
    assert webfont.css_block(css) == webfont.font_css(), "run: python -m cityplan.server.webfont"
    assert re.search(r'body \{[^}]*font: 14px "cityplan CJK"', css)  # first in the pages' font stack
    parts = webfont.slices()
    seen: set[int] = set()
    for p in parts:
        assert not seen & set(p)  # no character in two slices: the browser fetches one per character
        seen |= set(p)
    assert seen == {c for c in webfont.font_cmap() if c >= 0x20 and c != 0x7F}  # every glyph of the font
    first = set(parts[0])
    assert {ord(c) for c in "一张图审查结论不通过需审批禁止提示计划已开工在建哈尔滨南岗区地图任务"} <= first
    assert {ord(c) for c in "0123456789 abcxyz·–—…（），、。²−≥"} <= first


def test_a_slice_is_a_woff2_font_holding_its_characters(tmp_path):
    i = min(range(len(webfont.slices())), key=lambda k: len(webfont.slices()[k]))  # the smallest: fast
    path = webfont.slice_file(i, tmp_path)
    assert path.name == webfont.slice_name(i) and path.read_bytes()[:4] == b"wOF2"
    with TTFont(path) as f:
        assert set(webfont.slices()[i]) <= set(f.getBestCmap())
    assert webfont.slice_file(i, tmp_path).stat().st_mtime == path.stat().st_mtime  # cut once


def _registers_metrics() -> set[str]:
    import yaml

    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("metric"), str):
                found.add(node["metric"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for pkg in ("cityplan.cities.harbin", "cityplan.city.template"):
        for f in resources.files(pkg).iterdir():
            if f.name == "tasks.yaml":
                walk(yaml.safe_load(f.read_text(encoding="utf-8")))
    return found


def test_units_and_the_built_in_registers_metrics_have_chinese_words():
    from cityplan.schema.units import UNITS

    metrics = _registers_metrics()
    assert "special_actions" in metrics  # the Harbin register was read
    for kind, codes in (("unit", UNITS), ("metric", metrics)):
        for code in codes:
            zh, en = CODES[kind][code]
            assert has_cjk(zh) and en and not has_cjk(en), (kind, code)
    assert code_label("unit", "m2") == "平方米 m²" and code_label("metric", "no_such_metric") == "no such metric"


def _messages(path: str, calls: dict[str, tuple[int, ...]]) -> list[str]:
    """Every problem/fix/file error the importer and the web form write, ``X`` for each value."""
    import ast

    tree = ast.parse((resources.files("cityplan") / path).read_text(encoding="utf-8"))

    def text(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
        if isinstance(node, ast.IfExp):
            return text(node.body)
        return None

    out = []
    for n in ast.walk(tree):
        args: list[ast.AST] = []
        if isinstance(n, ast.Call):
            name = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            args = [n.args[i] for i in calls.get(name, ()) if i < len(n.args)]
        elif isinstance(n, ast.Assign) and any(getattr(t, "id", "") in ("msg", "why", "fix") for t in n.targets):
            args = [n.value.body, n.value.orelse] if isinstance(n.value, ast.IfExp) else [n.value]
        elif isinstance(n, ast.Dict):
            args = [v for k, v in zip(n.keys, n.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value in ("problem", "fix")]
        out += [t for t in map(text, args) if t]
    return out


def test_every_import_refusal_reads_in_chinese_on_the_web_without_a_command():
    from cityplan.progress.importer import problem_text

    msgs = _messages("progress/importer.py", {"add": (3, 4), "ProgressInputError": (0,)})
    msgs += _messages("services/progress.py", {"bad": (2, 3)})
    assert len(msgs) > 40 and "unknown site id" in msgs
    for m in msgs:
        if m.startswith(("no site ", "site X lies in district", "the office of district", "--")):  # a 404, a refusal, a CLI option (not on the web)
            continue
        both, en = problem_text(m), problem_text(m, ("en",))
        assert has_cjk(both) and both.endswith(en) and not has_cjk(en), m
        assert not re.search(r"cityplan [a-z]+|\s--[a-z]", en), m


def test_district_page_shows_words_and_keeps_codes_in_attributes():
    from cityplan.server.web import environment

    ctx = dict(title="t", user=None, csrf="t", path="/d", city="c", tz="Asia/Shanghai", adcode="230103",
               district={"name": "南岗区", "name_en": "Nangang"}, message="", report=None, can_write=True, max_mb=8,
               tasks=["2.3.3"], task="2.3.3", charts=[], progress_columns=["task_id", "metric", "unit", "status"],
               progress=[{"task_id": "2.3.3", "metric": "special_actions", "unit": "m2", "status": "no report"}],
               coverage=[], headline="H", planned_label="P", refresh_s=None, covered_definition="d",
               uncovered_preset="", preset="ice", standards=[], page="{}", uncovered=[], uncovered_total=0,
               uncovered_columns=[], uncovered_limit=3, formats=[], computing=False,
               sites=[{"site_id": "S1", "status": "under_construction", "achieved_quantity": 1.0}],
               site_columns=["site_id", "status", "achieved_quantity"], statuses=list(STATUSES))
    html = environment().get_template("district.html.j2").render(langs=("zh", "en"), **ctx)
    assert '<option value="under_construction" selected>在建 under construction</option>' in html
    assert '<th data-column="achieved_quantity">完成量 Achieved quantity (unit)</th>' in html
    assert '<span data-code="special_actions">专项行动 special actions</span>' in html
    assert '<span data-code="m2">平方米 m²</span>' in html and ">未上报 no report<" in html
    en = environment().get_template("district.html.j2").render(langs=("en",), **ctx)
    assert ">under construction</option>" in en
    # (the district's name is data; the uncovered-compounds section is written Chinese-first on its own)
    assert not [line for line in en.split("<main")[-1].splitlines()
                if has_cjk(line) and "cp-uncovered" not in line and "南岗区" not in line]
    # codes never show as text, only in attributes
    assert not re.search(r">[^<]*(under_construction|special_actions|achieved_quantity)", html)
