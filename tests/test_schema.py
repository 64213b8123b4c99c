"""Every YAML file kind: broken files give one-line errors (exit 2); the real files still parse.

Each broken file is made from the project's real file (or a small valid one), so a test can only
pass if the loader refuses exactly the damage it was given.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cityplan.catalog import load_catalog
from cityplan.cli.main import cli
from cityplan.coverage.presets import load_presets
from cityplan.errors import LayerNotFoundError, SchemaError, UnitError, UnknownTaskIdError
from cityplan.maps.recipes import load_recipe
from cityplan.network.graph import load_speeds
from cityplan.review.rules import load_rules
from cityplan.schema._yaml import MAX_BYTES, MAX_NODES
from cityplan.schema.monitor import load_monitor_settings
from cityplan.schema.quotas import load_quotas
from cityplan.tasks import load_register
from conftest import HARBIN, HARBIN_DIR, write_profile

ROOT = HARBIN_DIR
QUOTAS = """version: 1
quotas:
  - task_id: "2.3.3"
    metric: projects
    unit: projects
    districts: {"230102": 60, 230103: 80}
"""


def _profile_with(folder, presets_file):
    """A profile folder holding ``presets_file`` as its presets (named like it, for the error)."""
    write_profile(folder, _real("catalog.yaml"))
    (folder / "coverage_presets.yaml").write_bytes(presets_file.read_bytes())
    return folder


def _real(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8")


#: kind -> (loader, valid text, file suffix)
KINDS = {
    "catalog": (load_catalog, lambda: _real("catalog.yaml")),
    "tasks": (load_register, lambda: _real("tasks.yaml")),
    "presets": (load_presets, lambda: _real("coverage_presets.yaml")),
    "rules": (load_rules, lambda: _real("review_rules.yaml")),
    "recipe": (load_recipe, lambda: _real("maps/onemap.yaml")),
    "speeds": (load_speeds, lambda: _real("speeds.yaml")),
    "quotas": (load_quotas, lambda: QUOTAS),
    "monitor": (load_monitor_settings, lambda: _real("monitor.yaml")),
}

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                 + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"


def _first_key(text: str) -> str:
    return next(m.group(1) for line in text.splitlines() if (m := re.match(r"^(\w+):", line)))


def _broken(kind: str, damage: str) -> bytes:
    text = KINDS[kind][1]()
    return {
        "list_top": lambda: b"- a\n- b\n",
        "binary": lambda: bytes(range(256)) * 8,
        "gbk": lambda: text.encode("utf-8") + "# 注释 名称\n".encode("gbk"),
        "control": lambda: b"\x01\x02\x03 not: yaml\n",
        "nul": lambda: text.encode("utf-8")[:50] + b"\x00\x00" + text.encode("utf-8")[50:],
        "empty": lambda: b"",
        "comments_only": lambda: b"# nothing here\n\n",
        "bomb": lambda: BOMB.encode(),
        "recursive": lambda: b"a: &a [1, *a]\n",
        "duplicate_top": lambda: (f"{_first_key(text)}: null\n" + text).encode("utf-8"),
        "huge": lambda: b"# " + b"x" * (MAX_BYTES + 10) + b"\n",
        "syntax": lambda: (text + "\n  : [unclosed\n").encode("utf-8"),
        "scalar": lambda: b"just a string\n",
    }[damage]()


DAMAGES = ["list_top", "binary", "gbk", "control", "nul", "empty", "comments_only", "bomb", "recursive",
           "duplicate_top", "huge", "syntax", "scalar"]
#: words the one-line message must contain for each damage
EXPECT = {
    "list_top": "expected a mapping", "binary": "not UTF-8", "gbk": "not UTF-8", "control": "control character",
    "nul": "NUL", "empty": "is empty", "comments_only": "is empty", "bomb": "billion laughs",
    "recursive": "recursive", "duplicate_top": "appears twice", "huge": "refusing YAML files over",
    "syntax": "not valid YAML", "scalar": "expected a mapping",
}


def _one_line_schema_error(loader, path: Path, *fragments: str) -> str:
    with pytest.raises(SchemaError) as info:
        loader(path)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg
    assert info.value.exit_code == 2
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


@pytest.mark.parametrize("kind", list(KINDS))
def test_real_files_parse(kind, tmp_path):
    loader, text = KINDS[kind]
    p = tmp_path / f"{kind}.yaml"
    p.write_text(text(), encoding="utf-8")
    assert loader(p)


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_broken_yaml_one_line(kind, damage, tmp_path):
    p = tmp_path / f"{kind}.yaml"
    p.write_bytes(_broken(kind, damage))
    _one_line_schema_error(KINDS[kind][0], p, EXPECT[damage])


def test_bomb_is_refused_before_expansion():
    """The bomb expands to 9**9 strings; the checker counts nodes without building them."""
    from cityplan.schema._yaml import parse_yaml_text

    with pytest.raises(SchemaError, match="billion laughs"):
        parse_yaml_text(BOMB, source="bomb")
    # small legitimate anchors and merge keys still work
    ok = parse_yaml_text("base: &b {weight: 1}\nx: {<<: *b, color: red}\ny: [*b, *b]\n", source="ok")
    assert ok["x"] == {"weight": 1, "color": "red"} and ok["y"] == [{"weight": 1}] * 2
    assert MAX_NODES < 9 ** 9


def test_duplicate_key_nested_names_lines(tmp_path):
    text = _real("catalog.yaml").replace("    role: base\n", "    role: base\n    role: plan\n", 1)
    p = tmp_path / "c.yaml"
    p.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    role: plan") + 1
    msg = _one_line_schema_error(load_catalog, p, "key 'role' appears twice")
    assert f"line {line}:" in msg and f"also line {line - 1}" in msg


def _mutate(tmp_path: Path, kind: str, old: str, new: str, count: int = 1) -> Path:
    text = KINDS[kind][1]()
    assert old in text, old
    p = tmp_path / f"{kind}.yaml"
    p.write_text(text.replace(old, new, count), encoding="utf-8")
    return p


WRONG_TYPES = [
    # kind, old text, new text, fragments of the message
    ("catalog", "illustrative: false", "illustrative: maybe",
     ["layer #0 (census_population)", "illustrative: expected true or false, got text 'maybe'"]),
    ("catalog", "  - id: subdistricts", "  - id: 3",
     ["layer #1 (3)", "id: expected text, got the number 3", 'quote it: "3"']),
    ("catalog", "    roles: [census]", "    roles: census", ["layer #0", "roles: expected a list", "'census'"]),
    ("catalog", "    role: demand", "    role: demnad", ["layer #0 (census_population)", "role 'demnad' is not one of",
                                                         "'demand'"]),
    ("catalog", "extract_bbox: [126.506130, 45.657920, 126.771862, 45.830905]", "extract_bbox: [1, 2, 3]",
     ["top level", "extract_bbox: [1, 2, 3] has 3 items; give at least 4"]),
    ("catalog", "    source: {file: census2020_tudigong/harbin_population_census2020_by_district.csv, format: csv_table}",
     "    source: {file: x.csv, format: xlsx}", ["layer #0 (census_population)", "source.format 'xlsx' is not one of"]),
    ("catalog", "from: subdistricts", "from: residential",
     ["layer #3 (districts)", "derive: 'residential' must name a layer declared earlier"]),
    ("tasks", 'id: "1.1.1"', "id: 1.1", ["item #0 (1.1)", "id: expected text, got the number 1.1"]),
    ("tasks", "mapped: false}", "mapped: maybe}", ["item #0 (1.1.1)", "mapped: expected true or false"]),
    ("tasks", "level: city, mapped: false}", "level: town, mapped: false}", ["level 'town' is not one of"]),
    ("presets", "within: 300m", "within: 300", ["preset #0 (life-5min)", "within: 300 has no unit; write 300m"]),
    ("presets", "within: 300m", "within: 300 metres", ["preset #0 (life-5min)", "needs a number with a unit"]),
    ("presets", "facilities: [{role: parks}]", "facilities: parks", ["preset #0", "facilities: expected a list"]),
    ("presets", "season: winter", "season: 3", ["preset #7 (ice-30min)", "season: expected text"]),
    ("rules", "layers: [songhua_water]", "layers: songhua_water", ["rule #0 (blue-line)", "layers: expected a list"]),
    ("rules", "illustrative: true", "illustrative: maybe", ["rule #1 (riverside-setback)", "illustrative"]),
    ("rules", "distance_m: 50", "distance_m: -5", ["rule #1 (riverside-setback)", "distance_m -5.0 must be"]),
    ("rules", "  - id: blue-line", "  - id: 3", ["rule #0 (3)", "id: expected text"]),
    ("recipe", "fields: [name_en, adcode, pop_2020, boundary_source, extract_share]", "fields: name_en",
     ["layer #0 (districts)", "fields: expected a list"]),
    ("recipe", "show: false", "show: maybe", ["layer #1 (subdistricts)", "show: expected true or false"]),
    ("recipe", "{layer: parks, group: facility", "{layer: parks, group: facilities",
     ["layer #14 (parks)", "group 'facilities' is not one of the recipe's groups"]),
    ("speeds", "default_kmh: 12", "default_kmh: fast", ["top level", "bike.default_kmh: expected a number"]),
    ("speeds", "default_kmh: 12", "default_kmh: 0", ["bike.default_kmh", "not a travel speed"]),
    ("speeds", "  forbidden: [footway, pedestrian, steps, path, cycleway, track]", "  forbidden: footway",
     ["drive.forbidden: expected a list"]),
    ("quotas", 'task_id: "2.3.3"', "task_id: 2.3", ["quota #0", "task_id: expected text, got the number 2.3"]),
    ("quotas", '{"230102": 60, 230103: 80}', "[60, 80]", ["quota #0 (2.3.3)", "districts: expected a mapping"]),
    ("quotas", '{"230102": 60, 230103: 80}', '{"230102": many}', ["quota #0 (2.3.3)", "districts.230102: expected a number"]),
    ("quotas", '{"230102": 60, 230103: 80}', '{"2301": 6}', ["adcode '2301' is not a 6-digit district code"]),
    ("quotas", '{"230102": 60, 230103: 80}', '{"230102": -6}', ["quota -6.0 must be a finite number >= 0"]),
]


@pytest.mark.parametrize(("kind", "old", "new", "fragments"), WRONG_TYPES,
                         ids=[f"{k}:{n[:30]}" for k, _, n, _ in WRONG_TYPES])
def test_wrong_types_name_entry_field_value(kind, old, new, fragments, tmp_path):
    _one_line_schema_error(KINDS[kind][0], _mutate(tmp_path, kind, old, new), *fragments)


def test_unknown_keys_listed_with_allowed(tmp_path):
    p = _mutate(tmp_path, "catalog", "    illustrative: false\n", "    illustrative: false\n    colour: red\n    size: 3\n")
    _one_line_schema_error(load_catalog, p, "layer #0 (census_population)", "unknown key(s) ['colour', 'size']",
                           "allowed keys: ['id', 'title_zh'")
    p = _mutate(tmp_path, "rules", "    severity: forbidden\n", "    severity: forbidden\n    sevrity: note\n")
    _one_line_schema_error(load_rules, p, "rule #0 (blue-line)", "unknown key(s) ['sevrity']")


def test_missing_key_named(tmp_path):
    p = _mutate(tmp_path, "presets", "    citation: GB 50180-2018 城市居住区", "    cite: GB 50180-2018 城市居住区")
    _one_line_schema_error(load_presets, p, "preset #0 (life-5min)")
    p = _mutate(tmp_path, "speeds", "bike:\n  default_kmh: 12\n  forbidden: [101, 102, motorway, motorway_link]\n", "")
    _one_line_schema_error(load_speeds, p, "missing key 'bike'")


def test_duplicate_ids_and_units(tmp_path):
    text = _real("review_rules.yaml").replace("  - id: green-line", "  - id: blue-line")
    p = tmp_path / "r.yaml"
    p.write_text(text, encoding="utf-8")
    _one_line_schema_error(load_rules, p, "rule #2 (blue-line)", "duplicate rule id 'blue-line'")
    p = _mutate(tmp_path, "presets", "  - id: life-10min", "  - id: life-5min")
    _one_line_schema_error(load_presets, p, "preset #1 (life-5min)", "duplicate preset id")
    p = _mutate(tmp_path, "catalog", "{metric: projects, column: projects, unit: projects}",
                "{metric: projects, column: projects, unit: furlongs}")
    with pytest.raises(UnitError, match=r"layer #\d+ \(plan_renovation\) quantity #0: unit: unknown unit 'furlongs'"):
        load_catalog(p)


def test_quotas(tmp_path):
    p = tmp_path / "q.yaml"
    p.write_text(QUOTAS, encoding="utf-8")
    (q,) = load_quotas(p, register=load_register(HARBIN))
    assert (q.task_id, q.metric, q.unit) == ("2.3.3", "projects", "projects")
    assert dict(q.districts) == {"230102": 60.0, "230103": 80.0} and q.total == 140.0
    with pytest.raises(TypeError):
        q.districts["230102"] = 1  # type: ignore[index]
    p.write_text(QUOTAS + QUOTAS.split("quotas:\n")[1], encoding="utf-8")
    _one_line_schema_error(load_quotas, p, "quota #1 (2.3.3 projects)", "a second quota")
    for old, new, exc, match in [
        ('"2.3.3"', '"9.9.9"', UnknownTaskIdError, "quota #0 .*unknown task id '9.9.9'"),
        ("metric: projects", "metric: seats", SchemaError, "quota #0 .*task 2.3.3 has no target 'seats'"),
        ("unit: projects", "unit: m2", UnitError, "cannot be compared"),
        ("unit: projects", "unit: furlongs", UnitError, "unknown unit 'furlongs'"),
    ]:
        p.write_text(QUOTAS.replace(old, new), encoding="utf-8")
        with pytest.raises(exc, match=match):
            load_quotas(p, register=load_register(HARBIN))
    with pytest.raises(LayerNotFoundError, match="quotas file not found"):
        load_quotas(tmp_path / "none.yaml")


def _cli(args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.mark.parametrize("damage", ["list_top", "binary", "gbk", "empty", "bomb", "duplicate_top", "syntax"])
def test_cli_broken_yaml_exit_2(damage, tmp_path):
    runs = {}
    for kind in ("catalog", "tasks", "presets"):
        p = tmp_path / f"{kind}.yaml"
        p.write_bytes(_broken(kind, damage))
        runs[kind] = p
    results = [
        _cli(["layers", "list", "--catalog", str(runs["catalog"])]),
        _cli(["tasks", "--tasks", str(runs["tasks"])]),
        _cli(["coverage", "presets", "--city", str(_profile_with(tmp_path / "city", runs["presets"]))]),
    ]
    for kind, r in zip(runs, results, strict=True):
        err = r.stderr.strip()
        assert r.exit_code == 2, (kind, r.output)
        assert len(err.splitlines()) == 1 and err.startswith("Error:"), (kind, err)
        assert str(runs[kind].name) in err and EXPECT[damage] in err, (kind, err)
        assert "Traceback" not in r.output


def test_cli_wrong_type_exit_2(tmp_path):
    p = _mutate(tmp_path, "catalog", "illustrative: false", "illustrative: maybe")
    r = _cli(["layers", "list", "--catalog", str(p)])
    assert r.exit_code == 2
    assert "layer #0 (census_population): illustrative: expected true or false, got text 'maybe'" in r.stderr
    p = _mutate(tmp_path, "tasks", 'id: "1.1.1"', "id: 1.1")
    r = _cli(["tasks", "--tasks", str(p)])
    assert r.exit_code == 2 and "id: expected text, got the number 1.1" in r.stderr
