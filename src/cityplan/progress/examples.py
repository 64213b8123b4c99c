"""The sample progress workbooks of ``examples/progress/`` (ILLUSTRATIVE figures, not real reports)."""

from __future__ import annotations

import os
from pathlib import Path

from cityplan._errors import SchemaError
from cityplan.onemap import OneMap
from cityplan.paths import project_root
from cityplan.progress.context import load_context
from cityplan.progress.importer import ImportResult, import_progress

EXAMPLES_REPORTER = "示例 sample (illustrative)"


def example_files(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """The example workbooks in reporting order (their names end in the report month)."""
    d = Path(folder) if folder is not None else project_root() / "examples" / "progress"
    return sorted(d.glob("*.xlsx"), key=lambda p: (p.stem.rsplit("-", 2)[-2:], p.stem))


def import_examples(om: OneMap | str | os.PathLike[str] | None = None, *,
                    folder: str | os.PathLike[str] | None = None) -> list[ImportResult]:
    """Import every example workbook into the one map's ledger (idempotent: a second call records 0).

    Raises
    ------
    SchemaError
        A workbook is rejected (the examples no longer match the one map's sites).
    """
    ctx = load_context(om)
    out = []
    for f in example_files(folder):
        res = import_progress(ctx, f, reported_by=EXAMPLES_REPORTER)
        if not res.ok:
            first = res.problems.iloc[0]
            msg = (f"{f}: example workbook rejected ({len(res.problems)} problem(s), first: row {first.row} "
                   f"{first.column} {first.value!r}: {first.problem}); regenerate with "
                   "examples/progress/make_examples.py")
            raise SchemaError(msg)
        out.append(res)
    return out
