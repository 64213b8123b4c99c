"""The main job on the sample data: build, progress, maps, coverage, review of the sample proposals."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityplan.paths import project_root

logger = logging.getLogger(__name__)

@dataclass
class RunResult:
    """What the main job produced."""

    onemap: Path | str
    built: Any = None
    progress: Any = None
    outputs: list[Path] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    reviews: dict[str, Any] = field(default_factory=dict)
    imported: int = 0


def run_all(*, data: str | os.PathLike[str] | None = None, overwrite: bool = False,
            out: str | os.PathLike[str] | None = None, step: Callable[[str], None] | None = None,
            run_file: str | os.PathLike[str] | None = None) -> RunResult:
    """Build the one map (if missing or ``overwrite``), then progress, maps, coverage and reviews.

    Outputs go to ``out`` (default ``out/``) and ``maps/build/``; existing ones are replaced only
    with ``overwrite``.
    """
    from cityplan.build import build_onemap
    from cityplan.coverage import run_coverage, write_coverage
    from cityplan.maps import district_map, onemap_map, save_map, task_map
    from cityplan.maps.coverage_map import coverage_map
    from cityplan.onemap import OneMap, default_location
    from cityplan.review import review_file
    from cityplan.schema.run import load_run_spec
    from cityplan.store import open_store
    from cityplan.tasks import compute_progress

    note = step or (lambda _s: None)
    spec = load_run_spec(run_file or project_root() / "layers" / "run.yaml")
    location = default_location()
    res = RunResult(onemap=location)
    if overwrite or not open_store(location).exists():
        note("build")
        res.built = build_onemap(data=data, out=location, overwrite=True)
    om = OneMap.open(location)
    _check_data_dir(om, data)
    root = Path(out) if out else project_root() / "out"
    if spec.progress_examples:
        from cityplan.progress.examples import import_examples

        note("progress reports")
        res.imported = sum(r.recorded for r in import_examples(om, folder=project_root() / spec.progress_examples))
    note("progress")
    res.progress = compute_progress(om, by="district")
    if spec.history_charts:
        from cityplan.progress.context import load_context
        from cityplan.progress.history import burnup_chart, task_history

        ctx = load_context(om)
        for tid in spec.history_charts:
            item = ctx.register.get(tid)
            res.outputs += burnup_chart(task_history(ctx, tid), root / "progress" / f"history-{tid}",
                                        title=f"{tid} {item.title_zh}", title_en=f"{tid} {item.title_en}",
                                        overwrite=overwrite)
    note("maps")
    maps_dir = project_root() / "maps" / "build"
    bm = _basemap(spec)
    jobs = [("onemap-offline", lambda: onemap_map(om, offline=True, basemap=bm))]
    jobs += [(f"task-{t}", lambda t=t: task_map(t, om, offline=True, basemap=bm)) for t in spec.task_maps]
    jobs += [(f"district-{d}", lambda d=d: district_map(d, om, offline=True, basemap=bm)) for d in spec.district_maps]
    for name, make in jobs:
        res.outputs.append(save_map(make(), maps_dir / f"{name}.html", overwrite=overwrite))
    for preset in spec.coverage_presets:
        note(f"coverage {preset}")
        cov = run_coverage(om, preset=preset)
        res.coverage[preset] = cov
        folder = root / f"coverage-{preset}"
        res.outputs += write_coverage(cov, folder, overwrite=overwrite)
        res.outputs.append(save_map(coverage_map(cov, om, offline=True, basemap=bm), folder / "coverage_map.html",
                                    overwrite=True))
    if spec.proposals:
        for p in sorted((project_root() / spec.proposals).glob("*.geojson")):
            note(f"review {p.stem}")
            res.reviews[p.stem] = review_file(p, onemap=om)
    return res


def _basemap(spec):
    """The main job's tiles: the configured intranet server, else ``basemap`` (default none: offline maps
    never point at public tiles)."""
    from cityplan.maps.basemaps import custom_basemap

    if spec.tiles is not None:
        return custom_basemap(spec.tiles.url, attribution=spec.tiles.attribution, max_zoom=spec.tiles.max_zoom,
                              gcj02=spec.basemap == "gaode")
    return spec.basemap


def _check_data_dir(om, data) -> None:
    """Say which data the one map was built from when it differs from the data asked for now."""
    from cityplan.paths import data_dir

    try:
        wanted = str(data_dir(data).resolve())
    except Exception:  # noqa: BLE001 - no data folder: the built map is all there is
        return
    built = om.build_info.get("data_dir", "")
    if built and built != wanted:
        logger.warning("the one map %s was built from %s, not %s; using the built map "
                       "(pass --overwrite to rebuild from %s)", om.label, built, wanted, wanted)
