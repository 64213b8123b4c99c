"""The task register covers the report: counted against the seed text's structure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cityplan.errors import DuplicateTaskIdError, SchemaError, UnitError
from cityplan.tasks import load_register
from conftest import HARBIN, REPO

SEED = REPO.parent / "shared" / "seeds" / "harbin_2023_work_report_summary.txt"
CH5_SECTIONS = ("民生热线", "就业优先", "社会保障", "健康安全", "办好教育", "文体生活")
# numbers that name things rather than count them: a metro line, a hotline, a year
IDENTIFIERS = re.compile(r"\d+号线|12345热线|\d{4}年")


def parse_seed(path: Path) -> list[tuple[str, str, list[str]]]:
    """(chapter, group heading, [item texts]) from the report summary, in order.

    Chapters 1-4: groups are the '任务 ...' headings, items the '- ' bullets.
    Chapter 5: groups are the six 民生 headings, items the sentences (。) of each paragraph.
    """
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    out: list[tuple[str, str, list[str]]] = []
    chapter = None
    pending_ch5: str | None = None
    for ln in lines:
        m = re.match(r"^(\d) 在.+上实现新突破$", ln)
        if m:
            chapter = m.group(1)
            continue
        if chapter is None or not ln:
            continue
        if chapter != "5":
            if ln.startswith("任务 "):
                out.append((chapter, ln[3:].strip(), []))
            elif ln.startswith("- "):
                out[-1][2].append(ln[2:])
        else:
            if ln in CH5_SECTIONS:
                pending_ch5 = ln
            elif pending_ch5:
                sentences = [s for s in ln.split("。") if s.strip()]
                out.append(("5", pending_ch5, sentences))
                pending_ch5 = None
    return out


def numbers(text: str) -> list[float]:
    """Quantities in an item's text (万 = 10,000), identifiers removed."""
    text = IDENTIFIERS.sub("", text)
    return [float(n) * (10000 if wan else 1) for n, wan in re.findall(r"(\d+(?:\.\d+)?)(万)?", text)]


@pytest.fixture(scope="module")
def register():
    return load_register(HARBIN)


def test_register_covers_every_item_of_the_seed(register):
    seed = parse_seed(SEED)
    assert [c for c, _, _ in seed].count("5") == 6
    assert sorted({c for c, _, _ in seed}) == ["1", "2", "3", "4", "5"]
    groups = register.groups
    assert len(groups) == len(seed)
    for (chapter, heading, items), (_, g) in zip(seed, groups.iterrows(), strict=True):
        assert g["chapter"] == chapter and g["title_zh"] == heading
        reg_items = [i for i in register.items if i.group == g["id"]]
        assert len(reg_items) == len(items), (heading, len(reg_items), len(items))
    assert len(register.items) == sum(len(i) for _, _, i in seed) == 54


def test_every_number_of_the_report_is_a_target(register):
    seed_items = [text for _, _, items in parse_seed(SEED) for text in items]
    found = 0
    for text, item in zip(seed_items, register.items, strict=True):
        values = {t.value for t in item.targets}
        for n in numbers(text):
            assert n in values, f"{item.id}: {n:g} from the report is not a target ({values})"
            found += 1
    assert found == 17  # 9, 224, 1093万, 5000, 10, 5, 8.3万, 4, 8000, 6, 60, 300, 2000, 9, 9, 100, 30


def test_titles_are_short_not_sentences(register):
    seed_items = [text for _, _, items in parse_seed(SEED) for text in items]
    for text, it in zip(seed_items, register.items, strict=True):
        assert "。" not in it.title_zh and "," not in it.title_zh
        assert len(it.title_zh) <= 20 and len(it.title_zh) <= max(12, 0.7 * len(text)), it.id
        # a verbatim fragment is only allowed when it is a name-length phrase
        assert it.title_zh not in text or len(it.title_zh) <= 14, it.id


def test_key_targets(register):
    t = {(x.task_id, x.metric): (x.value, x.unit) for i in register.items for x in i.targets}
    assert t[("2.3.3", "projects")] == (224, "projects")
    assert t[("2.3.3", "floor_area")] == (10_930_000, "m2")
    assert t[("2.5.2", "parking_spaces")] == (5000, "spaces")
    assert t[("5.5.1", "school_seats")] == (8000, "seats")
    assert t[("5.2.1", "new_urban_jobs")] == (83_000, "persons")
    assert t[("5.6.2", "fitness_path_sets")] == (100, "sets")


BAD = """
chapters:
  - id: "1"
    title_zh: 章
    title_en: C
    groups:
      - id: "1.1"
        title_zh: 组
        title_en: G
        items:
          - {{id: "1.1.1", title_zh: 甲, title_en: A, level: city, mapped: false{extra1}}}
          - {{id: "{id2}", title_zh: 乙, title_en: B, level: city, mapped: false}}
"""


@pytest.mark.parametrize(("extra1", "id2", "exc", "match"), [
    ("", "1.1.1", DuplicateTaskIdError, "duplicate task id '1.1.1'"),
    (", targets: [{metric: x, value: 3, unit: furlongs}]", "1.1.2", UnitError, "unknown unit 'furlongs'"),
    (", colour: red", "1.1.2", SchemaError, r"unknown key\(s\) \['colour'\]"),
    ("", "1.2.1", SchemaError, "does not belong under '1.1'"),
    (", targets: [{metric: x, value: -1, unit: m2}]", "1.1.2", SchemaError, "positive number"),
])
def test_bad_registers(tmp_path, extra1, id2, exc, match):
    p = tmp_path / "t.yaml"
    p.write_text(BAD.format(extra1=extra1, id2=id2), encoding="utf-8")
    with pytest.raises(exc, match=match):
        load_register(p)


def test_tasks_json_gives_structured_targets():
    import json

    from click.testing import CliRunner

    from cityplan.cli.main import cli

    r = CliRunner().invoke(cli, ["tasks", "--city", "harbin", "--format", "json", "--mapped-only"])
    assert r.exit_code == 0, r.output
    items = {i["task_id"]: i for i in json.loads(r.stdout)}
    parking = {t["metric"]: t for t in items["2.5.2"]["targets"]}
    assert parking["parking_spaces"] == {"metric": "parking_spaces", "value": 5000.0, "unit": "spaces",
                                         "at_least": True, "check": None}
    assert all(isinstance(t["value"], float) for i in items.values() for t in i["targets"])
