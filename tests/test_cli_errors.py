"""Exit codes, one-line errors, numeric options, and outputs under faults (SIGTERM, races, full disks)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cityplan._errors import CoverageError, OutputExistsError
from cityplan.cli.main import cli
from cityplan.coverage.presets import check_capacity, check_numeric_options, parse_within
from cityplan.io.write import OutputError, atomic_path, user_oserror_message, write_table

# A real cityplan process with three extra commands registered on the real group: they exercise
# the CLI's error and signal handling without depending on any analysis.
PROBE = r'''
import pathlib, sys, time
import click, numpy as np, pandas as pd
from cityplan.cli.main import cli, main
from cityplan.io.write import write_table

@cli.command("probe-write")
@click.argument("out")
@click.option("--rows", type=int, default=10)
@click.option("--go", default=None)
@click.option("--overwrite", is_flag=True)
def probe_write(out, rows, go, overwrite):
    df = pd.DataFrame({"name": np.where(np.arange(rows) % 2, "=x", "text"), "v": np.arange(rows)})
    if go:
        print("ready", flush=True)
        while not pathlib.Path(go).exists():
            time.sleep(0.005)
    write_table(df, out, overwrite=overwrite)
    click.echo(f"done {out}")

@cli.command("probe-crash")
def probe_crash():
    return {}["no such key"]

@cli.command("probe-sleep")
def probe_sleep():
    print("ready", flush=True)
    time.sleep(60)

main()
'''


def probe(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PROBE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})}, **kw)


def run_probe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    p = probe(*args, env=env)
    out, err = p.communicate(timeout=300)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


# --- exit codes -------------------------------------------------------------------------------

def test_internal_error_one_line_log_file_exit_3(tmp_path: Path) -> None:
    r = run_probe("probe-crash", env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert r.returncode == 3
    lines = r.stderr.strip().splitlines()
    log = tmp_path / "state" / "cityplan" / "cityplan.log"
    assert lines == [f"internal error: KeyError: 'no such key' (details in {log})"]
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in probe_crash" in text
    assert "probe-crash" in text  # the command line is logged
    assert "Traceback" not in r.stderr


def test_internal_error_verbose_prints_traceback(tmp_path: Path) -> None:
    r = run_probe("-v", "probe-crash", env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert r.returncode == 3
    assert "Traceback (most recent call last)" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("internal error: KeyError")


def test_log_falls_back_to_temp_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file, not a folder")
    r = run_probe("probe-crash", env={"XDG_STATE_HOME": str(blocker), "TMPDIR": str(tmp_path)})
    assert r.returncode == 3
    logs = list(tmp_path.glob("cityplan-*.log"))
    assert len(logs) == 1 and f"details in {logs[0]}" in r.stderr
    assert "KeyError" in logs[0].read_text(encoding="utf-8")


def test_user_error_exit_2_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["layers", "inspect", str(tmp_path / "missing.gpkg")])
    assert r.exit_code == 2, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "missing.gpkg" in r.stderr
    assert "Traceback" not in r.output


def test_usage_error_exit_2() -> None:
    r = CliRunner().invoke(cli, ["coverage", "--bogus"])
    assert r.exit_code == 2 and "No such option" in r.stderr


def test_sigint_exit_130_one_line() -> None:
    # the probe starts with SIGINT at its default, as from a terminal: a CI started in the
    # background of a non-interactive shell passes SIGINT on *ignored*, and Python keeps that
    p = probe("probe-sleep", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err.strip() == "interrupted"


# --- user-caused OS errors --------------------------------------------------------------------

@pytest.mark.parametrize(("code", "words"), [
    (errno.EACCES, "permission denied"), (errno.EROFS, "read-only file system"),
    (errno.ENOSPC, "no space left on device"), (errno.ENAMETOOLONG, "file name too long"),
])
def test_user_oserror_message(code: int, words: str) -> None:
    line = user_oserror_message(OSError(code, os.strerror(code), "/x/out.csv"))
    assert line.startswith("/x/out.csv: " + words) and ";" in line  # path, cause; fix
    assert user_oserror_message(OSError(errno.EIO, "I/O error")) is None  # not the user's fault
    assert user_oserror_message(RuntimeError("sqlite: database or disk is full"), "/x/o.gpkg").startswith(
        "/x/o.gpkg: no space left")


def test_name_too_long_one_line(tmp_path: Path) -> None:
    out = tmp_path / ("a" * 300 + ".csv")
    r = run_probe("probe-write", str(out))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"Error: {out}: file name too long; use a shorter file or folder name"]
    assert temps(tmp_path) == []


def test_disk_full_one_line_no_partial_file(tiny_tmpfs) -> None:
    mnt = tiny_tmpfs("size=64k")
    out = mnt / "big.csv"
    r = run_probe("probe-write", str(out), "--rows", "200000")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"Error: {out}: no space left on device; free some space or "
                                             "write to another disk"]
    assert list(mnt.iterdir()) == []  # neither the output nor a temp file
    with pytest.raises(OutputError, match="no space left"):  # the library says the same
        write_table(pd.DataFrame({"v": np.arange(200_000)}), mnt / "lib.csv")
    assert list(mnt.iterdir()) == []


def test_read_only_folder_one_line(tiny_tmpfs) -> None:
    mnt = tiny_tmpfs("ro,size=64k")
    r = run_probe("probe-write", str(mnt / "sub" / "t.csv"))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "read-only file system" in lines[0] and str(mnt) in lines[0]


# --- atomic outputs ---------------------------------------------------------------------------

def test_sigterm_mid_write_leaves_no_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "huge.csv"
    p = probe("probe-write", str(out), "--rows", "3000000")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the temp file is being written
        tmp = [t for t in temps(tmp_path) if t.stat().st_size > 0]
        if tmp or p.poll() is not None:
            break
        time.sleep(0.02)
    assert tmp, "the write never started or finished too fast"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1] == f"terminated by signal {int(signal.SIGTERM)}"
    assert list(tmp_path.iterdir()) == []  # no temp file, no partial output


def test_two_processes_same_output_one_refuses(tmp_path: Path) -> None:
    out, go = tmp_path / "same.csv", tmp_path / "go"
    ps = [probe("probe-write", str(out), "--rows", "400000", "--go", str(go)) for _ in range(2)]
    for p in ps:  # both passed the existence check and wait at the start line
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in ps]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[0] == 2)
    assert "output exists" in loser[2] and len(loser[2].strip().splitlines()) == 1, loser
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "same.csv"]
    assert len(pd.read_csv(out)) == 400_000


def test_exclusive_publish_in_process(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    with pytest.raises(OutputExistsError, match="another process"), atomic_path(target) as a:
        a.write_text("first")
        with atomic_path(target) as b:  # both checked before either finished
            b.write_text("second")
    assert target.read_text() == "second" and temps(tmp_path) == []
    with atomic_path(target, overwrite=True) as c:
        c.write_text("third")
    assert target.read_text() == "third"


def test_error_in_writer_removes_temp(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="writer failed"), atomic_path(tmp_path / "x.csv") as tmp:
        tmp.write_text("partial")
        raise ValueError("writer failed")
    assert list(tmp_path.iterdir()) == []


# --- numeric options --------------------------------------------------------------------------

@pytest.mark.parametrize(("opt", "value"), [
    ("--speed", "0"), ("--speed", "-3"), ("--speed", "nan"), ("--speed", "inf"), ("--speed", "fast"),
    ("--max-snap", "0"), ("--max-snap", "-inf"), ("--offroad", "-1"), ("--offroad", "NaN"),
    ("--demand-share", "0"), ("--demand-share", "1.5"), ("--demand-share", "nan"),
])
def test_coverage_numeric_options_refused(opt: str, value: str) -> None:
    r = CliRunner().invoke(cli, ["coverage", "--facilities", "schools", "--within", "500m", "--mode", "walk",
                                 opt, value])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip().splitlines()[-1]
    assert f"Invalid value for '{opt}'" in err and repr(value) in err and "give a number" in err


def test_numeric_option_accepts_bounds() -> None:
    from cityplan.cli._common import FiniteFloat

    assert FiniteFloat(0).convert("0", None, None) == 0.0
    assert FiniteFloat(0, 1, min_open=True).convert("1", None, None) == 1.0
    assert FiniteFloat(0, min_open=True).convert(3.6, None, None) == 3.6


@pytest.mark.parametrize("text", ["nanm", "infm", "0m", "-5m", "9" * 400 + "m", "500", "1e3m"])
def test_within_refused(text: str) -> None:
    with pytest.raises(CoverageError, match="--within"):
        parse_within(text)


@pytest.mark.parametrize(("kw", "opt"), [
    ({"speed_kmh": 0}, "--speed"), ({"speed_kmh": float("nan")}, "--speed"), ({"speed_kmh": -3}, "--speed"),
    ({"max_snap_m": 0.0}, "--max-snap"), ({"max_snap_m": float("inf")}, "--max-snap"),
    ({"offroad_m": -0.1}, "--offroad"), ({"demand_share": 0}, "--demand-share"),
    ({"demand_share": 1.01}, "--demand-share"), ({"speed_kmh": "x"}, "--speed"), ({"max_snap_m": True}, "--max-snap"),
])
def test_check_numeric_options_refuses(kw: dict, opt: str) -> None:
    with pytest.raises(CoverageError, match=f"^{opt} "):
        check_numeric_options(**kw)


def test_check_numeric_options_accepts() -> None:
    check_numeric_options(speed_kmh=None, max_snap_m=300, offroad_m=0, demand_share=1.0, access_spacing_m=50)
    with pytest.raises(TypeError):
        check_numeric_options(speed=3)


def test_check_capacity() -> None:
    check_capacity(pd.Series([100, 250.5, None]), "seats")
    check_capacity(pd.Series(["100", "20"]), "seats")  # numbers stored as text are numbers
    with pytest.raises(CoverageError, match=r"--capacity 'name': row 1 of the facilities holds '一中'"):
        check_capacity(pd.Series(["12", "一中", "二中"]), "name")
    with pytest.raises(CoverageError, match="row 0"):
        check_capacity(pd.Series([-5, 10]), "seats")
    with pytest.raises(CoverageError, match="row 1"):
        check_capacity(pd.Series([5, np.inf]), "seats")


# --- options naming columns -------------------------------------------------------------------

@pytest.fixture(scope="module")
def schools_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import feature, write_geojson

    d = tmp_path_factory.mktemp("cols")
    feats = [feature({"type": "Point", "coordinates": [126.631 + 0.004 * i, 45.751]}, name=f"学校{i}",
                     seats=500 + i) for i in range(3)]
    return write_geojson(d / "schools.geojson", feats)


def test_unknown_name_column_one_line(onemap: Path, schools_file: Path) -> None:
    r = CliRunner().invoke(cli, ["review", str(schools_file), "--onemap", str(onemap), "--name-column", "titel"])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--name-column 'titel' is not a column" in lines[0] and "'seats'" in lines[0]


def test_capacity_text_column_one_line(onemap: Path, schools_file: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["coverage", "--onemap", str(onemap), "--facilities", str(schools_file),
                                 "--within", "500m", "--mode", "euclid", "--capacity", "name",
                                 "--out", str(tmp_path / "o"), "--no-map"])
    assert r.exit_code == 2, r.output
    assert "--capacity 'name': row 0 of the facilities holds '学校0'" in r.stderr
    assert not (tmp_path / "o").exists()


def test_messages_on_stderr_and_quiet(schools_file: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["convert", str(schools_file), str(tmp_path / "a.geojson")])
    assert r.exit_code == 0, r.output
    assert r.stdout == "" and "wrote" in r.stderr
    r = CliRunner().invoke(cli, ["-q", "convert", str(schools_file), str(tmp_path / "b.geojson")])
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""
    assert (tmp_path / "b.geojson").exists()
    r = CliRunner().invoke(cli, ["-q", "convert", str(schools_file), str(tmp_path / "b.geojson")])
    assert r.exit_code == 2 and "output exists" in r.stderr  # -q keeps errors
