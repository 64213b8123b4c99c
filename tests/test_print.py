"""Print layouts and the 审查意见 PDF: exact paper sizes, true scale, Chinese glyphs, licences."""

from __future__ import annotations

import geopandas as gpd
import matplotlib.pyplot as plt
import pytest
from matplotlib.backends.backend_pdf import PdfPages
from PIL import Image
from pyproj import CRS
from shapely.geometry import box
from tests.cli_invoke import invoke
from tests.pdf_read import base_fonts, media_boxes, unicode_chars

from cityplan._errors import CityplanError
from cityplan.fonts import cjk_font, shipped_font_file
from cityplan.report import static
from cityplan.report.layout import (
    PageSpec,
    auto_scale,
    ground_per_paper_cm,
    parse_scale,
    source_lines,
)
from conftest import PROPOSALS

PT_PER_MM = 72 / 25.4
GK = CRS.from_epsg(4551)
SAMPLES = PROPOSALS


def _page(spec: PageSpec, *, source=None, illustrative=False, bounds=(548000, 5070000, 549000, 5071000)):
    fig, ax = static.new_map("哈尔滨 测试图 Test map", crs=GK, page=spec)
    g = gpd.GeoDataFrame(geometry=[box(*bounds)], crs=4551)
    h = static.plot_layer(ax, g, {"label": static.label("地块", "Site")}, illustrative=illustrative, source=source)
    n = static.finish(ax, [h])
    return fig, ax, n


def test_shipped_cjk_font_is_used():
    assert shipped_font_file() is not None, "pip install mplfonts (the CJK font dependency)"
    assert cjk_font() == "Noto Sans CJK SC"
    assert static.label("区界", "District boundary") == "区界 District boundary"


@pytest.mark.parametrize(("paper", "orientation", "mm"), [("A4", "portrait", (210, 297)), ("A4", "landscape", (297, 210)),
                                                         ("A3", "portrait", (297, 420)), ("A3", "landscape", (420, 297))])
def test_pdf_page_is_exactly_the_paper(tmp_path, paper, orientation, mm):
    fig, _, _ = _page(PageSpec(paper=paper, orientation=orientation, dpi=100))
    pdf = tmp_path / "p.pdf"
    with PdfPages(pdf) as pages:
        static.save(fig, tmp_path / "p.png", pages)
    (box_,) = media_boxes(pdf)
    assert box_[:2] == (0.0, 0.0)
    assert box_[2] == pytest.approx(mm[0] * PT_PER_MM, abs=0.01)
    assert box_[3] == pytest.approx(mm[1] * PT_PER_MM, abs=0.01)
    w, h = Image.open(tmp_path / "p.png").size  # PNG at the page's dpi, not cropped
    assert abs(w - mm[0] / 25.4 * 100) < 1 and abs(h - mm[1] / 25.4 * 100) < 1
    chars = unicode_chars(pdf)
    assert set("哈尔滨测试图比例尺坐标系图例") <= chars  # Chinese glyphs are in the PDF's fonts
    assert any("NotoSansCJK" in f for f in base_fonts(pdf))


@pytest.mark.parametrize("n", [500, 2000, 25000])
def test_one_cm_on_paper_is_n_over_100_metres(n):
    fig, ax, got = _page(PageSpec(paper="A3", orientation="landscape", scale=n, dpi=100))
    assert got == n
    gx, gy = ground_per_paper_cm(ax)
    assert gx == pytest.approx(n / 100, rel=1e-9) and gy == pytest.approx(n / 100, rel=1e-9)
    # independently: the frame's size on paper (inches from the figure) times N is its ground span
    pos = ax.get_position()
    w_cm = pos.width * fig.get_size_inches()[0] * 2.54
    x0, x1 = ax.get_xlim()
    assert (x1 - x0) / w_cm == pytest.approx(n / 100, rel=1e-9)
    plt.close(fig)


def test_auto_scale_fits_the_data_with_the_smallest_nice_scale():
    fig, ax, n = _page(PageSpec(paper="A4", dpi=100), bounds=(548000, 5070000, 552000, 5071000))
    x0, x1 = ax.get_xlim()
    assert x0 <= 548000 and x1 >= 552000 and n == 25000  # 4 km in 190 mm needs 1:21,053 -> 1:25,000
    assert auto_scale(4000, 1000, 190, 222, pad=1.0) == 25000 and auto_scale(100, 100, 190, 222) == 1000
    plt.close(fig)


def test_title_block_credits_sources_and_flags_restricted_and_illustrative():
    row = {"layer": "districts", "attribution": "© OpenStreetMap contributors; Aliyun DataV",
           "licence": "ODbL-1.0 (OSM parts); DataV parts not openly licensed", "redistribute": False}
    fig, ax, _ = _page(PageSpec(dpi=100), source=row, illustrative=True)
    text = next(t.get_text() for t in fig.axes[1].texts if t.get_gid() == "sources")
    flat = text.replace("\n", "")
    assert "Aliyun DataV" in flat and "not openly licensed" in flat and "不得再分发" in flat
    assert "示意" in flat
    assert source_lines(ax.cityplan_page) == [
        "© OpenStreetMap contributors, Aliyun DataV (ODbL-1.0 (OSM parts); DataV parts not openly licensed)"
        " [不得再分发 not for redistribution: internal use only]"]
    plt.close(fig)


@pytest.mark.parametrize(("text", "value"), [("1:2000", 2000), ("2000", 2000), ("1：25,000", 25000), ("auto", None)])
def test_parse_scale(text, value):
    assert parse_scale(text) == value


@pytest.mark.parametrize(("kw", "match"), [({"paper": "A5"}, "--paper 'A5'"), ({"orientation": "up"}, "--orientation"),
                                           ({"dpi": 10}, "--dpi 10"), ({"scale": 5}, "--scale")])
def test_page_spec_errors(kw, match):
    with pytest.raises(CityplanError, match=match):
        PageSpec(**kw)
    with pytest.raises(CityplanError, match="--scale 'big'"):
        parse_scale("big")


def test_review_cli_writes_the_opinion_pdf(onemap, tmp_path):
    out = tmp_path / "rev"
    r = invoke("review", SAMPLES / "footbridge.geojson", "--onemap", onemap, "--out", out, "--project", "松花江人行景观桥",
               "--applicant", "示例建设单位", "--dpi", "100")
    assert r.exit_code == 1, r.output  # needs approval
    pdf = out / "review_opinion.pdf"
    boxes = media_boxes(pdf)
    assert len(boxes) >= 2
    for b in boxes:
        assert b[2:] == pytest.approx((210 * PT_PER_MM, 297 * PT_PER_MM), abs=0.01)
    chars = unicode_chars(pdf)
    assert set("建设项目一张图审查意见书松花江人行景观桥示例单位需审批审查人盖章比例尺") <= chars
    md = (out / "review.md").read_text(encoding="utf-8")
    assert "亩" in md and "Not checked" in md and "永久基本农田" in md
    assert "needs approval" in r.output.lower() or "需审批" in r.output
