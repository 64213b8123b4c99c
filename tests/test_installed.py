"""The package installed non-editable, run from an empty folder: nothing comes from the repository.

The wheel is built from this checkout and installed (``--no-deps``, not editable) into a fresh
virtual environment. Its third-party dependencies are not installed again: the new venv reaches
the dev venv's site-packages through a path line in a ``.pth`` file, which puts that folder on
``sys.path`` without processing it as a site dir, so the dev venv's editable ``cityplan`` (a
``.pth`` line pointing at ``src/``) is not loaded: ``cityplan`` can only come from the wheel
(checked: ``cityplan.__file__`` is inside the new venv, and a wheel missing its package data fails).
The commands run from an empty working directory, so the repository's files cannot be reached:
the city's settings must come from the profile shipped in the wheel and, after the build, from
the one map itself.
A static check makes sure no module of ``src/`` reads files relative to the working directory or
to its own location other than through the documented places.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from cityplan.coverage import run_coverage, write_coverage
from cityplan.review import review_file
from conftest import HARBIN_DIR, REPO

SRC = REPO / "src" / "cityplan"
#: the only places that may look at the working directory: cityplan.toml discovery (paths.py),
#: and the commands that write cityplan.toml into the folder they were run in
CWD_ALLOWED = {"paths.py", "cli/build.py", "cli/run.py", "cli/city.py"}
#: configuration paths relative to the repository that the package once read
REPO_PATH = re.compile(r"^(\.\./shared|layers/|maps/[a-z_]+\.ya?ml|examples/)")


@pytest.mark.unit
def test_src_reads_no_configuration_relative_to_cwd_or_repository() -> None:
    found = []
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC).as_posix()
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "__file__":
                found.append(f"{rel}:{node.lineno} __file__")
            if isinstance(node, ast.Attribute) and node.attr in {"cwd", "getcwd"} and rel not in CWD_ALLOWED:
                found.append(f"{rel}:{node.lineno} .{node.attr}()")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and REPO_PATH.match(node.value):
                found.append(f"{rel}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.Name) and node.id == "project_root":
                found.append(f"{rel}:{node.lineno} project_root")
    assert found == []


@pytest.mark.unit
def test_the_static_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The check above can fail: the patterns it forbids are recognised in a sample module."""
    sample = 'from pathlib import Path\nP = Path(__file__).parent / "layers/catalog.yaml"\nQ = Path.cwd()\n'
    tree = ast.parse(sample)
    kinds = {type(n).__name__ for n in ast.walk(tree)
             if (isinstance(n, ast.Name) and n.id == "__file__")
             or (isinstance(n, ast.Attribute) and n.attr == "cwd")
             or (isinstance(n, ast.Constant) and isinstance(n.value, str) and REPO_PATH.match(n.value))}
    assert kinds == {"Name", "Attribute", "Constant"}


def build_wheel(base: Path) -> Path:
    """The wheel of this checkout, built in ``base`` from a copy of the sources."""
    tree = base / "tree"  # a copy: setuptools writes build/ beside the sources it builds
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tree / name)
    shutil.copytree(REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(base / "dist"), str(tree)], check=True, timeout=300)
    (wheel,) = (base / "dist").glob("cityplan-*.whl")
    return wheel


def install_wheel(wheel: Path, venv: Path) -> Path:
    """A fresh venv with ``wheel`` installed (not editable, no dependencies: those of this dev
    venv are reached through a ``.pth`` path line, see the module docstring); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dev = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    assert not any(Path(d, "cityplan", "__init__.py").exists() for d in dev)  # editable: a src/ .pth line
    Path(site, "_cityplan_test_dev_deps.pth").write_text("".join(f"{d}\n" for d in sorted(dev)))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                    "--no-warn-script-location", str(wheel)], check=True, timeout=300,
                   env={k: v for k, v in os.environ.items() if k != "PIP_REQUIRE_VIRTUALENV"})
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel of this checkout (not editable); its python."""
    return install_wheel(wheel, tmp_path_factory.mktemp("venv") / "venv")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITYPLAN_", "PYTHON", "VIRTUAL_ENV"))}
    return env | {"NO_COLOR": "1", "COLUMNS": "200"}


def _run(python: Path, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "cityplan", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_installed_wheel_runs_harbin_from_an_empty_folder(installed: Path, tmp_path: Path, data: Path,
                                                         onemap: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    where = subprocess.run([str(installed), "-c", "import cityplan; print(cityplan.__file__)"], cwd=work,
                           env=_env(), capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(installed.parent.parent)) and "site-packages" in where, where  # not src/

    # nothing named: one line saying how to name a map (exit 2), no Harbin default
    r = _run(installed, work, "tasks")
    assert r.returncode == 2 and "no one map named" in r.stderr and len(r.stderr.strip().splitlines()) == 1

    r = _run(installed, work, "build", "--city", "harbin", "--data", str(data))
    assert r.returncode == 0, r.stderr
    assert (work / "harbin.gpkg").is_file() and 'onemap = "harbin.gpkg"' in (work / "cityplan.toml").read_text()
    for args in (["layers", "list", "--format", "csv"], ["tasks", "--format", "csv"],
                 ["coverage", "presets", "--format", "json"], ["map", "onemap", "--basemap", "none"]):
        r = _run(installed, work, *args)
        assert r.returncode == 0, (args, r.stderr)

    r = _run(installed, work, "coverage", "--preset", "park-service-radius", "--format", "csv")
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(work / "out" / "coverage-park-service-radius" / "per_district.csv")
    write_coverage(run_coverage(onemap, preset="park-service-radius"), tmp_path / "lib")
    want = pd.read_csv(tmp_path / "lib" / "per_district.csv")
    assert len(got) >= 5 and got["area_share"].notna().any()
    pd.testing.assert_frame_equal(got, want)  # the same figures as the library on the checkout's build

    bridge = HARBIN_DIR / "examples" / "proposals" / "footbridge.geojson"
    r = _run(installed, work, "review", str(bridge), "--type", "bridge", "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    verdict = json.loads(r.stdout)["verdict"]
    assert verdict == review_file(bridge, onemap=onemap, project_type="bridge").verdict

    r = _run(installed, work, "report", "--district", "南岗", "--preset", "park-service-radius",
             "--format", "xlsx", timeout=900)
    assert r.returncode == 0, r.stderr
    assert any((work / "out").glob("report-*/*.xlsx"))
    assert not (REPO / "cityplan.toml").exists() or (REPO / "cityplan.toml").stat().st_mtime < time.time() - 1


def test_installed_wheel_serves_the_map_it_was_given(installed: Path, tmp_path: Path, onemap: Path) -> None:
    work = tmp_path / "srv"
    work.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(installed), "-m", "cityplan", "serve", "--onemap", str(onemap), "--port", str(port),
                             "--basemap", "none", "--review-workers", "1"], cwd=work, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = ""
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ogc/collections?f=json", timeout=2) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        assert '"parks"' in body, proc.stdout.read() if proc.poll() is not None else body[:300]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_wheel_without_its_package_data_fails(wheel: Path, tmp_path: Path, data: Path) -> None:
    """The installed-wheel test can fail: the same wheel without the Harbin profile it ships
    (package data), installed the same way, cannot build Harbin; nothing fills the gap from the
    repository or the dev venv."""
    import zipfile

    stripped = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as dst:
        dropped = [i for i in src.infolist() if i.filename.startswith("cityplan/cities/harbin/")]
        assert dropped, "the wheel ships no Harbin profile"
        for info in src.infolist():
            if info not in dropped:
                dst.writestr(info, src.read(info))
    python = install_wheel(stripped, tmp_path / "venv")
    work = tmp_path / "empty"
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import cityplan; print(cityplan.__file__)"], cwd=work,
                           env=_env(), capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), where
    r = _run(python, work, "build", "--city", "harbin", "--data", str(data), timeout=300)
    assert r.returncode != 0 and "built-in profile" in r.stderr, r.stderr
    assert not (work / "harbin.gpkg").exists()
