"""Schema of ``run.yaml`` of the city profile: what the main job (`cityplan run`) shows for this city.

The generic pipeline knows no city; the city's showcase (which task and district maps to write,
which presets to run, where the sample proposals and progress workbooks are) is data.
"""

from __future__ import annotations

import os
from typing import Literal

from cityplan.schema._base import StrictModel, load_document


class RunTiles(StrictModel):
    """The office's own XYZ tile server for the main job's maps."""

    url: str
    attribution: str | None = None
    max_zoom: int | None = None


class RunSpec(StrictModel):
    """The main job's choices for one city."""

    version: int = 1
    task_maps: tuple[str, ...] = ()
    district_maps: tuple[str, ...] = ()
    coverage_presets: tuple[str, ...] = ()
    proposals: str | None = None          # folder (relative to the project root) of sample red lines
    progress_examples: str | None = None  # folder of sample progress workbooks to import
    history_charts: tuple[str, ...] = ()  # task ids whose burn-up chart the job writes
    basemap: Literal["none", "osm", "tianditu", "gaode"] = "none"  # offline maps: no public tiles by default
    tiles: RunTiles | None = None         # an intranet tile server; overrides basemap


def load_run_spec(path: str | os.PathLike[str]) -> RunSpec:
    """Load and validate ``run.yaml`` of the city profile (one-line SchemaError on any problem)."""
    return load_document(path, RunSpec, what="main-job file")
