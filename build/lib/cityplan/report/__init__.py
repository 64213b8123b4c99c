"""District office report: tables, print-quality static maps, HTML and XLSX in one command."""

from cityplan.report.district import (
    DistrictReport,
    SharedInputs,
    build_district_report,
    prepare_inputs,
)

__all__ = ["DistrictReport", "SharedInputs", "build_district_report", "prepare_inputs"]
