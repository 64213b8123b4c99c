"""Printing leaves the process's matplotlib alone: no backend chosen on import, no rcParams
changed by a page, a chart or an opinion (issue #24: plotting settings scoped to the figure)."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import pandas as pd
from pyproj import CRS


def test_importing_the_presenters_chooses_no_backend() -> None:
    code = ("import matplotlib; before = matplotlib.rcParams._get_backend_or_none(); "
            "import cityplan.report.static, cityplan.report.layout, cityplan.review.opinion, cityplan.progress.history; "
            "assert matplotlib.rcParams._get_backend_or_none() == before, matplotlib.rcParams._get_backend_or_none(); "
            "import sys; assert 'matplotlib.pyplot' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_a_page_and_a_chart_leave_rcparams_as_they_were(tmp_path) -> None:
    from cityplan.progress.history import burnup_chart
    from cityplan.report.layout import PageSpec, new_page, save_page

    with matplotlib.rc_context({"font.sans-serif": ["DejaVu Sans"], "axes.unicode_minus": True}):
        before = {k: matplotlib.rcParams[k] for k in ("font.sans-serif", "font.family", "axes.unicode_minus")}
        fig, _ax = new_page("标题 Title", crs=CRS.from_epsg(32651), spec=PageSpec(dpi=50))
        save_page(fig, png=tmp_path / "page.png")
        hist = pd.DataFrame({"date": ["2023-03-01", "2023-06-01"], "metric": ["count", "count"],
                             "achieved": [1.0, 3.0], "reference": [5.0, 5.0], "unit": ["所", "所"],
                             "adcode": ["", ""]})
        written = burnup_chart(hist, tmp_path / "chart", title="进度 progress")
        after = {k: matplotlib.rcParams[k] for k in before}
    assert after == before
    assert (tmp_path / "page.png").stat().st_size > 1000 and all(p.exists() for p in written)
