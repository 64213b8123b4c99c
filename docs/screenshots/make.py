"""Regenerate the map and report screenshots in docs/screenshots/ (headless Chromium, network blocked).

    .venv/bin/python docs/screenshots/make.py [--onemap harbin.gpkg]

Writes onemap.png, district_nangang.png, coverage_park.png (the maps as the offline main job
writes them: no public tiles) and report_tables.png (the district report's tables with their
bilingual headers). Needs the built one map (``cityplan build``) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/browser.py: Debian's Chromium, every request leaving the machine aborted

from tests.browser import launch, open_offline  # noqa: E402

READY = "window.cityplan && window.cityplan.ready === true"


def _cjk(page) -> None:
    """Use the CJK font a pip dependency ships (as the printed maps do): a bare Chromium may have none."""
    from cityplan.fonts import shipped_font_file

    font = shipped_font_file()
    if font is not None:
        page.add_style_tag(content=f'@font-face {{ font-family: "Noto Sans CJK SC"; src: url("{font.as_uri()}"); font-weight: 100 900; }}'
                                   ' body, th, td, .leaflet-container { font-family: Arial, "Noto Sans CJK SC", sans-serif !important; } th { font-weight: normal !important; }')
        page.evaluate("document.fonts.ready")


def _shoot(browser, html: Path, png: Path, *, size=(1280, 860)) -> None:
    with open_offline(browser, html) as (page, _log):
        _cjk(page)
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.wait_for_function(READY, timeout=120_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(png))
    sys.stderr.write(f"wrote {png}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onemap", default=None, help="one map (default: $CITYPLAN_ONEMAP or the map ./cityplan.toml names)")
    args = ap.parse_args()

    from cityplan.coverage import run_coverage
    from cityplan.maps import district_map, onemap_map, save_map
    from cityplan.maps.coverage_map import coverage_map
    from cityplan.onemap import OneMap
    from cityplan.report import prepare_inputs
    from cityplan.report.district import district_tables, report_html

    om = OneMap.coerce(args.onemap)
    with tempfile.TemporaryDirectory() as tmp, launch() as browser:
        t = Path(tmp)
        maps = {
            "onemap": onemap_map(om, basemap="none", offline=True),
            "district_nangang": district_map("南岗区", om, basemap="none", offline=True,
                                             coverage=run_coverage(om, preset="park-service-radius")),
            "coverage_park": coverage_map(run_coverage(om, preset="park-service-radius"), om, offline=True),
        }
        for name, res in maps.items():
            _shoot(browser, save_map(res, t / f"{name}.html"), HERE / f"{name}.png")
        shared = prepare_inputs(om, presets=["park-service-radius"])
        rep = district_tables("南岗区", shared)
        html = t / "report.html"
        html.write_text(report_html(rep, shared, [], "district_map.html"), encoding="utf-8")
        with open_offline(browser, html) as (page, _log):
            _cjk(page)
            page.set_viewport_size({"width": 1500, "height": 900})
            page.wait_for_timeout(2000)
            page.locator("table").first.screenshot(path=str(HERE / "report_tables.png"))
        sys.stderr.write(f"wrote {HERE / 'report_tables.png'}\n")


if __name__ == "__main__":
    main()
