"""Expensive session fixtures made once per test run, even when pytest-xdist runs several workers.

The documented xdist pattern: the first worker that needs a value makes it under a file lock in
a folder all workers of this run share (``getbasetemp().parent``, which is the controller's own
base temp folder) and writes it down; the others wait on the lock and read it. Without xdist
(``-n 0``, ``-p no:xdist``) the value is simply made in a folder of this session.

Values must be picklable. A value that needs cleaning up once every worker is done (a running
PostgreSQL cluster) registers a cleanup with :func:`at_end_of_run`; the controller runs them at
the end of the run (``pytest_sessionfinish`` in conftest.py), or this process at exit without xdist.
"""

from __future__ import annotations

import atexit
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from filelock import FileLock

T = TypeVar("T")

#: cleanup records: ``{"kind": ..., **args}`` lines in this file of the shared folder
CLEANUPS = "cleanups.jsonl"


def worker() -> str | None:
    """The xdist worker id (``gw0``...), None when not running under xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The folder the workers of this run share (None without xdist)."""
    if worker() is None:
        return None
    root = tmp_path_factory.getbasetemp().parent / "run-once"
    root.mkdir(exist_ok=True)
    return root


def once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], T]) -> T:
    """``make(folder)`` once per test run, its (pickled) value for every worker."""
    root = shared_root(tmp_path_factory)
    if root is None:
        return make(tmp_path_factory.mktemp(name))
    folder, done = root / name, root / f"{name}.pickle"
    with FileLock(str(root / f"{name}.lock")):
        if done.is_file():
            return pickle.loads(done.read_bytes())
        shutil.rmtree(folder, ignore_errors=True)  # a worker that failed making it
        folder.mkdir()
        value = make(folder)
        done.write_bytes(pickle.dumps(value))
        return value


def at_end_of_run(tmp_path_factory: pytest.TempPathFactory, kind: str, cleanup: Callable[[], None],
                  **args: str | int) -> None:
    """Run ``cleanup`` when the whole run ends: recorded for the controller under xdist (which
    calls :func:`run_cleanups`, finding the ``kind`` handler), else at this process's exit."""
    root = shared_root(tmp_path_factory)
    if root is None:
        atexit.register(cleanup)
        return
    with FileLock(str(root / f"{CLEANUPS}.lock")), (root / CLEANUPS).open("a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": kind, **args}) + "\n")


def run_cleanups(basetemp: Path, handlers: dict[str, Callable[..., None]]) -> None:
    """In the xdist controller, after every worker ended: run the recorded cleanups."""
    file = basetemp / "run-once" / CLEANUPS
    if not file.is_file():
        return
    for line in file.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        handlers[rec.pop("kind")](**rec)
    file.unlink()
