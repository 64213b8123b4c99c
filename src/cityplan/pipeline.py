"""The main job on the sample data: build, progress, maps, coverage, review of the sample proposals."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityplan.paths import default_onemap, project_root

logger = logging.getLogger(__name__)

HEADLINE_PRESETS = ("ice-30min", "park-service-radius")


@dataclass
class RunResult:
    """What the main job produced."""

    onemap: Path
    built: Any = None
    progress: Any = None
    outputs: list[Path] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    reviews: dict[str, Any] = field(default_factory=dict)


def run_all(*, data: str | os.PathLike[str] | None = None, overwrite: bool = False,
            out: str | os.PathLike[str] | None = None, step: Callable[[str], None] | None = None) -> RunResult:
    """Build the one map (if missing or ``overwrite``), then progress, maps, coverage and reviews.

    Outputs go to ``out`` (default ``out/``) and ``maps/build/``; existing ones are replaced only
    with ``overwrite``.
    """
    from cityplan.build import build_onemap
    from cityplan.coverage import run_coverage, write_coverage
    from cityplan.maps import district_map, onemap_map, save_map, task_map
    from cityplan.review import review_file
    from cityplan.tasks import compute_progress

    note = step or (lambda _s: None)
    gpkg = default_onemap()
    res = RunResult(onemap=gpkg)
    if overwrite or not gpkg.exists():
        note("build")
        res.built = build_onemap(data=data, out=gpkg, overwrite=True)
    note("progress")
    res.progress = compute_progress(gpkg, by="district")
    note("maps")
    maps_dir = project_root() / "maps" / "build"
    for name, make in (("onemap-offline", lambda: onemap_map(gpkg, offline=True)),
                       ("task-2.3.3", lambda: task_map("2.3.3", gpkg, offline=True)),
                       ("district-南岗区", lambda: district_map("南岗区", gpkg, offline=True))):
        res.outputs.append(save_map(make(), maps_dir / f"{name}.html", overwrite=overwrite))
    root = Path(out) if out else project_root() / "out"
    for preset in HEADLINE_PRESETS:
        note(f"coverage {preset}")
        cov = run_coverage(gpkg, preset=preset)
        res.coverage[preset] = cov
        res.outputs += write_coverage(cov, root / f"coverage-{preset}", overwrite=overwrite, onemap=gpkg)
    for p in sorted((project_root() / "examples" / "proposals").glob("*.geojson")):
        note(f"review {p.stem}")
        res.reviews[p.stem] = review_file(p, onemap=gpkg)
    return res
