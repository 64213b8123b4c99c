"""Run the ``cityplan`` CLI in-process with click's ``CliRunner``, leaving no global state behind.

A subprocess costs ~1.5 s of imports per call; keep one only where the test is about the
process itself (entry point, exit 3 + log file, signals, concurrent processes, environment read
at import time). The command's group installs SIGTERM/SIGHUP handlers and reconfigures the root
logger (``basicConfig(force=True)`` onto the runner's captured stream): both are restored here.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from pathlib import Path

from click.testing import CliRunner, Result

from cityplan.cli.main import cli

_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """``cityplan *args`` in this process; ``result.exit_code``, ``.stdout``, ``.stderr``, ``.output``.
    ``env``: environment variables set for the call only."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved = {s: signal.getsignal(s) for s in _SIGNALS}
    try:
        return CliRunner(env=env).invoke(cli, [str(a) for a in args], prog_name="cityplan")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for s, h in saved.items():
            signal.signal(s, h)


def run(*args: str | Path, cwd: str | Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """:func:`invoke` shaped like ``subprocess.run([python, -m, cityplan, *args], capture_output=True,
    text=True)`` (``returncode``, ``stdout``, ``stderr``): the drop-in for tests whose subprocess
    was only a way to run the command. ``cwd`` and ``env`` apply for the call only."""
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        r = invoke(*args, env=env)
    finally:
        os.chdir(old)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception  # escaped the command's own handling: let the test show it
    return subprocess.CompletedProcess(["cityplan", *map(str, args)], r.exit_code, r.stdout, r.stderr)

