"""Run the ``cityplan`` CLI in-process with click's ``CliRunner``, leaving no global state behind.

A subprocess costs ~1.5 s of imports per call; keep one only where the test is about the
process itself (entry point, exit 3 + log file, signals, concurrent processes, environment read
at import time). The command's group installs SIGTERM/SIGHUP handlers and reconfigures the root
logger (``basicConfig(force=True)`` onto the runner's captured stream): both are restored here.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

from click.testing import CliRunner, Result

from cityplan.cli.main import cli

_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


def invoke(*args: str | Path) -> Result:
    """``cityplan *args`` in this process; ``result.exit_code``, ``.stdout``, ``.stderr``, ``.output``."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved = {s: signal.getsignal(s) for s in _SIGNALS}
    try:
        return CliRunner().invoke(cli, [str(a) for a in args], prog_name="cityplan")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for s, h in saved.items():
            signal.signal(s, h)
