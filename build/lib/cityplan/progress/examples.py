"""Sample progress workbooks a profile ships (``run.yaml``'s ``progress_examples``; ILLUSTRATIVE figures)."""

from __future__ import annotations

import os
from pathlib import Path

from cityplan._errors import SchemaError
from cityplan.onemap import OneMap
from cityplan.profile import load_profile
from cityplan.progress.context import load_context
from cityplan.progress.importer import ImportResult, import_progress

EXAMPLES_REPORTER = "示例 sample (illustrative)"


def examples_folder(city: str | os.PathLike[str]) -> Path:
    """The folder of sample workbooks the profile ``city`` ships (its ``run.yaml`` names it).

    Raises
    ------
    SchemaError
        The profile names no sample workbooks, or is not on disk.
    """
    from cityplan.schema.run import load_run_spec

    prof = load_profile(city)
    spec = load_run_spec(prof.file("run.yaml")) if prof.has("run.yaml") else None
    if prof.folder is None or spec is None or not spec.progress_examples:
        msg = f"{prof.label}: no sample progress workbooks (run.yaml: progress_examples); pass the folder"
        raise SchemaError(msg)
    return prof.folder / spec.progress_examples


def example_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The example workbooks of ``folder`` in reporting order (their names end in the report month)."""
    d = Path(folder)
    return sorted(d.glob("*.xlsx"), key=lambda p: (p.stem.rsplit("-", 2)[-2:], p.stem))


def import_examples(om: OneMap | str | os.PathLike[str] | None = None, *,
                    folder: str | os.PathLike[str] | None = None) -> list[ImportResult]:
    """Import every example workbook into the one map's ledger (idempotent: a second call records 0).

    ``folder`` defaults to the workbooks of the built-in profile the map was built with.

    Raises
    ------
    SchemaError
        A workbook is rejected (the examples no longer match the one map's sites).
    """
    ctx = load_context(om)
    out = []
    for f in example_files(folder if folder is not None else examples_folder(ctx.om.profile.id)):
        res = import_progress(ctx, f, reported_by=EXAMPLES_REPORTER)
        if not res.ok:
            first = res.problems.iloc[0]
            msg = (f"{f}: example workbook rejected ({len(res.problems)} problem(s), first: row {first.row} "
                   f"{first.column} {first.value!r}: {first.problem}); regenerate with "
                   "scripts/make_progress_examples.py")
            raise SchemaError(msg)
        out.append(res)
    return out
