"""City profiles (package, folder, one map) and the ``cityplan.toml`` that names a folder's map."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityplan._errors import LayerNotFoundError, OneMapError, SchemaError
from cityplan.catalog import load_catalog
from cityplan.coverage import load_presets
from cityplan.paths import data_dir, default_location, find_project_file, write_project_file
from cityplan.profile import MemoryTree, Profile, builtin_profiles, load_profile
from cityplan.review.rules import load_rules
from cityplan.tasks import load_register
from conftest import HARBIN, write_profile

pytestmark = pytest.mark.unit


def test_harbin_ships_in_the_package() -> None:
    assert "harbin" in builtin_profiles()
    p = load_profile("harbin")
    assert p.id == "harbin" and p.settings.country == "CN" and p.settings.area_units == ("m2", "ha", "mu")
    assert p.folder is not None and (p.folder / "examples" / "proposals").is_dir()
    files = p.text_files()
    assert {"profile.yaml", "catalog.yaml", "tasks.yaml", "maps/onemap.yaml", "speeds.yaml"} <= set(files)
    assert not [k for k in files if not k.endswith(".yaml")]  # sample workbooks stay beside it


def test_unknown_city_is_one_line_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(LayerNotFoundError, match=r"--city nowhere: neither a built-in profile \(harbin\)"):
        load_profile("nowhere")
    (tmp_path / "x").mkdir()
    with pytest.raises(LayerNotFoundError, match="not a city profile .no profile.yaml."):
        load_profile(tmp_path / "x")


def test_profile_stored_as_a_table_reads_back_the_same() -> None:
    back = Profile.from_table(HARBIN.table(), label="m.gpkg profile")
    assert back.sha256 == HARBIN.sha256 and back.folder is None
    assert load_catalog(back).ids == load_catalog(HARBIN).ids
    assert [t.id for t in load_register(back).items] == [t.id for t in load_register(HARBIN).items]
    assert list(load_presets(back)) == list(load_presets(HARBIN))
    assert [r.id for r in load_rules(back)[0]] == [r.id for r in load_rules(HARBIN)[0]]
    assert str(back.file("maps/task.yaml")) == "m.gpkg profile/maps/task.yaml"


def test_memory_tree_is_a_read_only_folder() -> None:
    t = MemoryTree({"a.yaml": b"x: 1", "maps/b.yaml": b"y"}, label="L")
    assert sorted(c.name for c in t.iterdir()) == ["a.yaml", "maps"]
    assert t.joinpath("maps").is_dir() and not t.joinpath("maps").is_file()
    assert t.joinpath("maps/b.yaml").read_bytes() == b"y" and not t.joinpath("nope").is_file()
    with pytest.raises(SchemaError, match="'..' is not allowed"):
        t.joinpath("../etc/passwd")


@pytest.mark.parametrize(("text", "expect"), [
    ("version: 1\nid: Harbin\ncountry: CN\n", "is not a profile id"),
    ("version: 1\nid: x\ncountry: China\n", "not an ISO 3166-1 alpha-2"),
    ("version: 1\nid: x\ntimezone: Mars/Olympus\n", "not an IANA time zone"),
    ("version: 1\nid: x\nlanguages: [fr]\n", "languages"),
    ("version: 1\nid: x\narea_units: [acre]\n", "area_units"),
])
def test_bad_settings_are_one_line(tmp_path: Path, text: str, expect: str) -> None:
    write_profile(tmp_path, "layers: []\n")
    (tmp_path / "profile.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(SchemaError, match=expect) as exc:
        _ = load_profile(tmp_path).settings
    assert "profile.yaml" in str(exc.value) and "\n" not in str(exc.value)


def test_a_city_without_tasks_rules_or_presets_has_none(tmp_path: Path) -> None:
    p = load_profile(write_profile(tmp_path, "layers: []\n", country="BR"))
    assert load_register(p).items == () and load_presets(p) == {} and load_rules(p) == ([], "")


def test_no_map_named_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OneMapError, match=r"no one map named: pass --onemap .* cityplan.toml"):
        default_location()
    with pytest.raises(LayerNotFoundError, match="no data folder named"):
        data_dir()


def test_cityplan_toml_here_or_above_names_the_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    out = write_project_file(tmp_path, onemap=str(tmp_path / "maps" / "c.gpkg"), city="harbin",
                             data=str(tmp_path / "data"))
    assert 'onemap = "maps/c.gpkg"' in out.read_text(encoding="utf-8")  # relative: the folder can move
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert find_project_file().path == out
    assert default_location() == tmp_path / "maps" / "c.gpkg"
    assert data_dir() == tmp_path / "data"
    assert find_project_file().city_location == "harbin"  # a built-in id stays an id
    write_profile(tmp_path / "cities" / "x", "layers: []\n")
    write_project_file(tmp_path, onemap="m.gpkg", city=str(tmp_path / "cities" / "x"))
    assert 'city = "cities/x"' in out.read_text(encoding="utf-8")
    assert find_project_file().city_location == str(tmp_path / "cities" / "x")  # a folder, found from below
    monkeypatch.setenv("CITYPLAN_ONEMAP", "postgresql://u@h/db?schema=x")
    assert default_location() == "postgresql://u@h/db?schema=x"  # the environment wins


def test_a_damaged_cityplan_toml_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cityplan.toml").write_text('onemap = "x.gpkg"\nonemap2 = 3\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SchemaError, match=r"cityplan.toml: key 'onemap2' is unknown"):
        default_location()
