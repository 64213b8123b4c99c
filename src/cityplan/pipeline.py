"""The main job on the sample data: build, progress, maps, coverage, review of the sample proposals."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityplan._errors import LayerNotFoundError

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


def run_all(*, city: str | os.PathLike[str] | None = None, data: str | os.PathLike[str] | None = None,
            onemap: str | os.PathLike[str] | None = None, overwrite: bool = False,
            out: str | os.PathLike[str] | None = None, step: Callable[[str], None] | None = None) -> RunResult:
    """Build the one map of ``city`` (if missing or ``overwrite``), then progress, maps, coverage, reviews.

    What is shown (task and district maps, presets, sample proposals and progress workbooks) is
    the profile's ``run.yaml``. The map is ``onemap``, else the one ``cityplan.toml`` names, else
    ``<city id>.gpkg`` in the current folder. Outputs go to ``out`` (default ``out/``; maps in
    ``out/maps``); existing ones are replaced only with ``overwrite``.
    """
    from cityplan.build import build_onemap
    from cityplan.coverage import run_coverage, write_coverage
    from cityplan.maps import district_map, onemap_map, save_map, task_map
    from cityplan.maps.coverage_map import coverage_map
    from cityplan.onemap import OneMap
    from cityplan.paths import find_project_file, output_dir
    from cityplan.profile import load_profile
    from cityplan.progress.context import compute_progress
    from cityplan.review import review_file
    from cityplan.schema.run import RunSpec, load_run_spec
    from cityplan.store import open_store

    note = step or (lambda _s: None)
    project = find_project_file()
    if city is None and project is not None:
        city = project.city_location
    location = _location(onemap, project, city)
    res = RunResult(onemap=location)
    if overwrite or not open_store(location).exists():
        if city is None:
            msg = "cityplan run: name the city to build (--city harbin, or --city DIR of `cityplan city new`)"
            raise LayerNotFoundError(msg)
        note("build")
        res.built = build_onemap(city=city, data=data, out=location, overwrite=True)
    om = OneMap.open(location)
    _check_data_dir(om, data)
    profile = om.profile
    source = load_profile(city) if city is not None else None  # sample files live beside the profile
    spec = load_run_spec(profile.file("run.yaml")) if profile.has("run.yaml") else RunSpec()
    folder = source.folder if source is not None else None
    root = output_dir(out)
    if spec.progress_examples and folder is not None:
        from cityplan.progress.examples import import_examples

        note("progress reports")
        res.imported = sum(r.recorded for r in import_examples(om, folder=folder / spec.progress_examples))
    elif spec.progress_examples:
        logger.warning("run.yaml names sample progress workbooks, but no profile folder holds them "
                       "(pass --city); none imported")
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
    maps_dir = root / "maps"
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
        folder_out = root / f"coverage-{preset}"
        res.outputs += write_coverage(cov, folder_out, overwrite=overwrite)
        res.outputs.append(save_map(coverage_map(cov, om, offline=True, basemap=bm),
                                    folder_out / "coverage_map.html", overwrite=True))
    from cityplan.progress.report import attach_standards, coverage_lookup

    # standards (targets with check:) with the coverage figure that checks them (the runs above, else once)
    res.progress.table = attach_standards(res.progress.table, coverage_lookup(om, res.coverage),
                                          profile.settings.languages)
    if spec.proposals and folder is not None:
        for p in sorted((folder / spec.proposals).glob("*.geojson")):
            note(f"review {p.stem}")
            res.reviews[p.stem] = review_file(p, onemap=om)
    return res


def _location(onemap: str | os.PathLike[str] | None, project: Any, city: Any) -> str | Path:
    """The map the main job uses: given, ``$CITYPLAN_ONEMAP``, ``cityplan.toml``'s, else ``<city>.gpkg``."""
    from cityplan.paths import ONEMAP_ENV, default_location
    from cityplan.profile import load_profile

    if onemap is not None:
        return onemap if "://" in os.fspath(onemap) else Path(onemap)
    if os.environ.get(ONEMAP_ENV) or (project is not None and project.onemap):
        return default_location()
    if city is None:
        return default_location()  # raises: says how to name a map
    return Path(f"{load_profile(city).id}.gpkg")


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
