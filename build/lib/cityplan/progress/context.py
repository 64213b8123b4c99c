"""Everything the progress commands read from the one map, read once."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from cityplan.onemap import OneMap
from cityplan.progress.asof import (
    DEFAULT_STALE_DAYS,
    chapter_summary,
    parse_date,
    progress_table,
    site_status,
)
from cityplan.progress.events import read_events
from cityplan.progress.quotas import read_quotas
from cityplan.progress.sites import nonspatial_targets, site_table
from cityplan.tasks.link import LinkResult, link_plan_sites, load_plan_layers
from cityplan.tasks.register import Register, load_register


@dataclass
class ProgressContext:
    """The one map, register, linked sites, quotas and the ledger."""

    om: OneMap
    register: Register
    link: LinkResult
    sites: pd.DataFrame          # site_table: site_id, layer, name, task_id, adcode, district, ...
    districts: gpd.GeoDataFrame
    quotas: pd.DataFrame
    events: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def primary(self) -> pd.Series:
        """site_id -> the metric its reports give."""
        return self.sites.set_index("site_id")["metric"]

    @property
    def nonspatial(self) -> pd.DataFrame:
        """Targets reported as district figures (no plan site measures them)."""
        return nonspatial_targets(self.register, self.link)

    def reload_events(self) -> pd.DataFrame:
        """Read the ledger again (after an import)."""
        self.events = read_events(self.om.store)
        return self.events

    def table(self, *, as_of: dt.date | str | None = None, by: str | None = None,
              stale_days: int = DEFAULT_STALE_DAYS) -> pd.DataFrame:
        """:func:`cityplan.progress.asof.progress_table` on this context."""
        return progress_table(self.register, self.link, self.events, quotas=self.quotas, primary=self.primary,
                              as_of=as_of, by=by, stale_days=stale_days)

    def site_status(self, *, as_of: dt.date | str | None = None,
                    stale_days: int = DEFAULT_STALE_DAYS) -> pd.DataFrame:
        """The sites with their status and achieved quantity on a date."""
        st = site_status(self.sites.site_id, self.events, parse_date(as_of), stale_days=stale_days)
        return self.sites.merge(st, on="site_id", how="left")


def load_context(onemap: OneMap | str | os.PathLike[str] | None = None, *,
                 tasks: str | os.PathLike[str] | None = None,
                 quotas: str | os.PathLike[str] | None = None) -> ProgressContext:
    """Open (or take) the one map and read what progress needs.

    The register and quotas are the map's profile's, unless ``tasks``/``quotas`` name other files.
    """
    om = OneMap.coerce(onemap)
    register = load_register(tasks if tasks is not None else om.profile)
    layers = load_plan_layers(om)
    districts = om.layer_for("districts")
    link = link_plan_sites(register, layers, districts)
    return ProgressContext(om=om, register=register, link=link, sites=site_table(register, link, layers),
                           districts=districts, quotas=read_quotas(quotas if quotas is not None else om.profile,
                                                              register=register, districts=districts),
                           events=read_events(om.store))


@dataclass
class Progress:
    """Everything `cityplan progress` reports."""

    table: pd.DataFrame
    chapters: pd.DataFrame
    link: LinkResult
    build_info: dict[str, str]
    as_of: dt.date = field(default_factory=dt.date.today)
    events: int = 0
    context: ProgressContext | None = None


def compute_progress(
    onemap: OneMap | str | os.PathLike[str] | None = None, *, tasks: str | os.PathLike[str] | None = None,
    by: str | None = None, as_of: dt.date | str | None = None, stale_days: int = DEFAULT_STALE_DAYS,
    quotas: str | os.PathLike[str] | None = None,
) -> Progress:
    """Link the one map's plan sites to the register and tabulate progress from the ledger.

    Parameters
    ----------
    onemap : OneMap, path-like or URL, optional
        The one map (default: :func:`cityplan.paths.default_location`).
    tasks : path-like, optional
        Task register file (default: the map's profile's).
    by : {None, "district"}
        Split rows by district.
    as_of : date or ``YYYY-MM-DD``, optional
        Progress on this date (default today).
    stale_days : int
        Reported sites whose status has not moved for longer are overdue.
    quotas : path-like, optional
        District quotas file (default: the map's profile's).
    """
    ctx = load_context(onemap, tasks=tasks, quotas=quotas)
    day = parse_date(as_of)
    table = ctx.table(as_of=day, by=by, stale_days=stale_days)
    return Progress(table=table, chapters=chapter_summary(ctx.register, table), link=ctx.link,
                    build_info=dict(ctx.om.build_info), as_of=day, events=len(ctx.events), context=ctx)
