"""Coverage: who lives within N metres / minutes of a facility, per district, and where the gaps are."""

from cityplan.coverage.presets import Preset, Within, get_preset, load_presets, parse_within
from cityplan.coverage.roles import PresetUnavailableError, preset_availability, resolve_facilities
from cityplan.coverage.run import CoverageResult, run_coverage
from cityplan.coverage.write import write_coverage

__all__ = ["CoverageResult", "Preset", "PresetUnavailableError", "Within", "get_preset", "load_presets",
           "parse_within", "preset_availability", "resolve_facilities", "run_coverage", "write_coverage"]
