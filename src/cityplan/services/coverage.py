"""Coverage answers of every preset, computed once per build in the background (a use case shared by
the district dashboards of the web and any long-running caller).

Each result's headline is the existing scenario (real facilities only); the planned rows are in
its ``by_scenario`` (:meth:`cityplan.coverage.CoverageResult.scenario_rows`)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from cityplan.coverage import load_presets, run_coverage

logger = logging.getLogger(__name__)


class CoverageCache:
    """Runs every coverage preset once (one background thread); results by preset id."""

    def __init__(self, om: Any) -> None:
        self.om = om
        self.results: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self._build = ""
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.presets = list(load_presets(om.profile))

    def start(self) -> None:
        """Start computing (no-op when running or done for this build)."""
        stamp = self.om.build_stamp
        with self._lock:
            if self._build == stamp and (self._thread is not None):
                return
            self._build = stamp
            self.results, self.errors = {}, {}
            self._thread = threading.Thread(target=self._run, args=(stamp,), name="cityplan-coverage", daemon=True)
            self._thread.start()

    def _run(self, stamp: str) -> None:
        for pid in self.presets:
            try:
                res = run_coverage(self.om, preset=pid)
            except Exception as exc:  # noqa: BLE001 - shown on the dashboard, never fatal
                logger.warning("coverage %s failed: %s", pid, exc)
                self.errors[pid] = str(exc)
                continue
            if self._build != stamp:
                return
            self.results[pid] = res

    def lookup(self, preset: str) -> Any:
        """The result of ``preset``, or a text saying why there is none yet (computing, failed,
        not a preset of this city): what :func:`cityplan.progress.report.attach_standards` shows."""
        if preset in self.results:
            return self.results[preset]
        if preset in self.errors:
            return f"not computed: {self.errors[preset]}"
        return "computing… (reload the page)" if preset in self.presets else f"no coverage preset {preset!r}"

    @property
    def done(self) -> bool:
        """True when every preset has a result or an error."""
        return len(self.results) + len(self.errors) >= len(self.presets)
