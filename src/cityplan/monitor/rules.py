"""The profile's supervision settings (``monitor.yaml``) and the rules that colour an indicator.

Levels: ``red``, ``yellow``, ``green``, and ``grey`` for "not checked" (no quota, no figure, no
standard) - missing data is never green. Every level comes with its reason in words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cityplan.monitor.pace import Pace
from cityplan.profile import Profile
from cityplan.progress.events import EARLIEST, YEAR_END
from cityplan.progress.history import ChartPace
from cityplan.schema.monitor import MONITOR_FILE, MonitorSettings, PaceModel, load_monitor_settings

logger = logging.getLogger(__name__)

RED, YELLOW, GREEN, GREY = "red", "yellow", "green", "grey"
#: worst first
LEVEL_ORDER = {RED: 0, YELLOW: 1, GREEN: 2, GREY: 3}
LEVEL_TEXT = {RED: "红 red", YELLOW: "黄 yellow", GREEN: "绿 green", GREY: "未检查 not checked"}


@dataclass(frozen=True)
class Rules:
    """Settings of one profile, with the assumptions made where the profile is silent."""

    settings: MonitorSettings
    source: str
    assumptions: tuple[str, ...] = field(default=())

    def pace(self, task_id: str) -> Pace:
        """The pace of ``task_id`` (the task's own, else the default)."""
        m = self.settings.pace.tasks.get(task_id, self.settings.pace.default)
        d = self.settings.pace.default
        return Pace.from_model(m, start=d.start or EARLIEST, deadline=d.deadline or YEAR_END)

    def behind(self, gap_points: float, *, past_deadline: bool, achieved: bool) -> tuple[str, str]:
        """Level and reason of a target ``gap_points`` behind its pace (negative: ahead)."""
        t = self.settings.thresholds
        if achieved:
            return GREEN, "已完成 achieved"
        if past_deadline and t.red_past_deadline:
            return RED, f"逾期未完成 past the deadline, not achieved ({gap_points:.0f} points short)"
        if gap_points > t.red_behind_points:
            return RED, f"落后进度 {gap_points:.0f} 个百分点 behind the pace by {gap_points:.0f} points " \
                        f"(> {t.red_behind_points:g})"
        if gap_points > t.yellow_behind_points:
            return YELLOW, f"落后进度 {gap_points:.0f} 个百分点 behind the pace by {gap_points:.0f} points " \
                           f"(> {t.yellow_behind_points:g})"
        if gap_points > 0:
            return GREEN, f"基本符合进度 within {t.yellow_behind_points:g} points of the pace ({gap_points:.0f} behind)"
        return GREEN, "符合或超前进度 on or ahead of the pace"

    def freshness(self, days: int, *, ever: bool) -> tuple[str, str]:
        """Level and reason of a district whose last report is ``days`` old (``ever`` False: none yet)."""
        f = self.settings.freshness
        what = (f"{days} 天未报送 no report for {days} days" if ever
                else f"从未报送 never reported ({days} days since the plan start)")
        if days > f.red_days:
            return RED, f"{what} (> {f.red_days})"
        if days > f.yellow_days:
            return YELLOW, f"{what} (> {f.yellow_days})"
        return GREEN, f"按时报送 reported {days} days ago (limit {f.yellow_days})" if ever else \
            f"{what} (limit {f.yellow_days})"

    def coverage(self, share: float, minimum: float) -> tuple[str, str]:
        """Level and reason of a coverage ``share`` against its standard ``minimum`` (both 0..1)."""
        gap = (minimum - share) * 100
        if gap <= 0:
            return GREEN, f"达到标准 meets the standard ({share:.0%} ≥ {minimum:.0%})"
        if gap > self.settings.coverage.red_below_points:
            return RED, f"低于标准 {gap:.0f} 个百分点 below the standard by {gap:.0f} points " \
                        f"({share:.0%} < {minimum:.0%})"
        return YELLOW, f"低于标准 below the standard ({share:.0%} < {minimum:.0%})"


def chart_pace(profile: Profile, task_id: str) -> ChartPace:
    """The pace and thresholds of ``task_id`` for a burn-up chart (:func:`cityplan.progress.history.burnup_chart`)."""
    rules = load_rules(profile)
    p = rules.pace(task_id)
    t = rules.settings.thresholds
    return ChartPace(share=p.share, label=p.describe(), start=p.start, deadline=p.deadline,
                     yellow_points=t.yellow_behind_points, red_points=t.red_behind_points)


def load_rules(profile: Profile) -> Rules:
    """The profile's ``monitor.yaml``, or the defaults (each printed as an assumption)."""
    if profile.has(MONITOR_FILE):
        s = load_monitor_settings(profile.file(MONITOR_FILE))  # type: ignore[arg-type]
        src = f"{profile.label}/{MONITOR_FILE}"
        notes = []
        if s.pace.default.start is None or s.pace.default.deadline is None:
            notes.append(f"pace start/deadline not given: assumed {EARLIEST} → {YEAR_END} (the plan year)")
        return Rules(settings=s, source=src, assumptions=tuple(notes))
    s = MonitorSettings(pace={"default": PaceModel()})  # type: ignore[arg-type]
    t, f, c = s.thresholds, s.freshness, s.coverage
    notes = (
        f"{profile.label}: no {MONITOR_FILE}; defaults assumed (假设 assumption):",
        f"pace linear {EARLIEST} → {YEAR_END} for every task",
        f"yellow when behind the pace by more than {t.yellow_behind_points:g} points, red by more than "
        f"{t.red_behind_points:g} or past the deadline",
        f"reporting: yellow after {f.yellow_days} days without a report, red after {f.red_days}",
        f"coverage: below the preset's target yellow, by more than {c.red_below_points:g} points red",
    )
    return Rules(settings=s, source="defaults 默认", assumptions=notes)
