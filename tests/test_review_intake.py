"""Issue #23 parts 1 and 2: the review's intake (project, applicant, project type, CRS) on the CLI and
the web desk, the CRS as read (and how it is known), and a 审查意见 PDF that tells the truth: its
text read back from the PDF file itself (fonts' ToUnicode maps), its map page checked as drawn."""

from __future__ import annotations

import json
import re
import shutil
import zlib
from pathlib import Path

import ezdxf
import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba
from matplotlib.text import Text

from cityplan.review import review_file
from cityplan.review.opinion import SEVERITY_COLOUR, map_page, write_opinion
from cityplan.review.report import to_html, to_markdown
from cli_invoke import invoke
from conftest import HARBIN_DATA, PROPOSALS, REPO

FOOTBRIDGE = PROPOSALS / "footbridge.geojson"
PROJECT, APPLICANT = "松花江人行景观桥", "示例建设单位"
#: a 60 m site in central Harbin, in CGCS2000 3-degree GK zone 42 (CM 126E) metres
E0, N0 = 552_760.0, 5_064_970.0
ISO_LOCAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
MICROSECONDS = re.compile(r"\d\d:\d\d:\d\d[.,]\d")
#: an absolute path of a machine (POSIX folders, a Windows drive)
ABS_PATH = re.compile(r"(?:^|[\s:'\"(=])/(?:tmp|work|home|root|usr|var|opt|srv|mnt|data)\b|[A-Za-z]:\\\\")


# ------------------------------------------------------------------ the PDF's text, from its bytes
_OBJ = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)


def _stream(body: bytes) -> bytes:
    m = _STREAM.search(body)
    if m is None:
        return b""
    try:
        return zlib.decompress(m.group(1))
    except zlib.error:
        return m.group(1)


def _utf16(h: bytes) -> str:
    try:
        return bytes.fromhex(h.decode()).decode("utf-16-be")
    except (ValueError, UnicodeDecodeError):
        return ""


def _cmap(data: bytes) -> dict[int, str]:
    out: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            out[int(src, 16)] = _utf16(dst)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for lo, hi, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(\[[^\]]*\]|<[0-9A-Fa-f]+>)", block):
            first = int(lo, 16)
            if dst.startswith(b"["):
                for k, d in enumerate(re.findall(rb"<([0-9A-Fa-f]+)>", dst)):
                    out[first + k] = _utf16(d)
                continue
            base = _utf16(dst[1:-1])
            for k in range(int(hi, 16) - first + 1):
                out[first + k] = base[:-1] + chr(ord(base[-1]) + k) if base else ""
    return out


def _literal(data: bytes, i: int) -> tuple[bytes, int]:
    """The PDF literal string whose ``(`` is just before ``i``: its bytes and the index after ``)``."""
    out, depth = bytearray(), 1
    escapes = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}
    while i < len(data):
        c = data[i]
        if c == 0x5C:  # backslash
            n = data[i + 1]
            if n in escapes:
                out.append(escapes[n])
                i += 2
            elif 0x30 <= n <= 0x37:  # octal
                j = i + 1
                while j < len(data) and j < i + 4 and 0x30 <= data[j] <= 0x37:
                    j += 1
                out.append(int(data[i + 1:j], 8) & 0xFF)
                i = j
            else:
                out.append(n)
                i += 2
            continue
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out), i + 1
        out.append(c)
        i += 1
    return bytes(out), i


def pdf_lines(path: Path) -> list[str]:
    """The text of every text object (one drawn line each) of a matplotlib PDF, page by page,
    decoded through its fonts' ToUnicode CMaps - what a PDF reader's text layer holds."""
    data = Path(path).read_bytes()
    objs = {int(n): body for n, body in _OBJ.findall(data)}
    fonts: dict[bytes, dict[int, str]] = {}
    for body in objs.values():
        m = re.search(rb"/Font\s+(\d+)\s+0\s+R", body)
        if m and b"/ProcSet" in body:  # a page's resources: its font names
            for name, ref in re.findall(rb"/(\w+)\s+(\d+)\s+0\s+R", objs.get(int(m.group(1)), b"")):
                tu = re.search(rb"/ToUnicode\s+(\d+)\s+0\s+R", objs.get(int(ref), b""))
                fonts[name] = _cmap(_stream(objs[int(tu.group(1))])) if tu else {}
    assert fonts, f"{path}: no fonts with ToUnicode maps"
    pages = sorted((n, b) for n, b in objs.items() if re.search(rb"/Type\s*/Page\b(?!s)", b))
    lines: list[str] = []
    for _, body in pages:
        content = _stream(objs[int(re.search(rb"/Contents\s+(\d+)\s+0\s+R", body).group(1))])
        font: dict[int, str] = {}
        name = b""
        cur: list[str] = []
        i = 0
        while i < len(content):
            c = content[i]
            if c == 0x28:  # ( a string
                s, i = _literal(content, i + 1)
                cur.append("".join(font.get(b, "") for b in s))
                continue
            if c == 0x2F:  # /Name
                m = re.match(rb"/(\w+)", content[i:])
                name, i = m.group(1), i + len(m.group(0))
                continue
            op = content[i:i + 2]
            if op in (b"Tf", b"BT", b"ET") and (i == 0 or content[i - 1] in b" \n\r\t]"):
                if op == b"Tf" and name in fonts:
                    font = fonts[name]
                elif op == b"BT":
                    cur = []
                elif op == b"ET" and "".join(cur).strip():
                    lines.append("".join(cur).strip())
                i += 2
                continue
            i += 1
    return lines


def test_pdf_lines_reads_what_matplotlib_wrote(tmp_path):
    """The reader above is itself checked: a PDF with known lines, Chinese and Latin mixed."""
    from matplotlib.backends.backend_pdf import PdfPages

    from cityplan.fonts import font_families

    plt.rcParams["font.sans-serif"] = font_families()
    fig = plt.figure(figsize=(4, 3))
    fig.text(0.1, 0.8, "项目名称 Project: 松花江人行景观桥")
    fig.text(0.1, 0.5, "EPSG:4530 (a) \\ b")
    with PdfPages(tmp_path / "t.pdf") as pdf:
        pdf.savefig(fig)
    plt.close(fig)
    assert pdf_lines(tmp_path / "t.pdf") == ["项目名称 Project: 松花江人行景观桥", "EPSG:4530 (a) \\ b"]


# ------------------------------------------------------------------ files of the offices
def _ring(d: float = 60.0) -> list[tuple[float, float]]:
    return [(E0, N0), (E0 + d, N0), (E0 + d, N0 + d), (E0, N0 + d)]


def write_jzd(path: Path, *, prefix: bool) -> Path:
    """A 界址点 TXT (GBK) with one parcel; eastings zone-prefixed (42...) or not (header 带号=42)."""
    pre = 42_000_000.0 if prefix else 0.0
    pts = _ring()
    lines = ["[属性描述]", "格式版本号=1.01版本", "坐标系=2000国家大地坐标系", "几度分带=3", "投影类型=高斯克吕格",
             "计量单位=米", "带号=42", "精度=0.01", "[地块坐标]", "5,0.3600,D001,报批地块,面,,商业用地,0501,@"]
    lines += [f"J{i + 1},1,{n:.3f},{e + pre:.3f}" for i, (e, n) in enumerate(pts)]
    lines.append(f"J1,1,{pts[0][1]:.3f},{pts[0][0] + pre:.3f}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


def write_dxf(path: Path) -> Path:
    """A DXF with the red line as a closed polyline in EPSG:4551 metres (a DXF names no CRS)."""
    doc = ezdxf.new()
    doc.layers.add("红线")
    doc.modelspace().add_lwpolyline(_ring(), close=True, dxfattribs={"layer": "红线"})
    doc.saveas(path)
    return path


def _review(onemap: Path, src: Path, out: Path, *args: str) -> tuple[dict, list[str]]:
    """``cityplan review SRC --out OUT --format json ARGS``: the JSON printed and the PDF's lines."""
    r = invoke("review", src, "--onemap", onemap, "--out", out, "--format", "json", "--dpi", "72", *args)
    assert r.exit_code in (0, 1), r.output
    doc = json.loads(r.stdout[: r.stdout.rindex("}") + 1])
    assert json.loads((out / "review.json").read_text(encoding="utf-8")) == doc
    return doc, pdf_lines(out / "review_opinion.pdf")


def _crs_line(lines: list[str]) -> str:
    """The value printed beside 坐标系 CRS as read (the line after its label, wrapped lines joined)."""
    i = lines.index("坐标系 CRS as read")
    return " ".join(lines[i + 1:lines.index("审查时间 Reviewed")])


# ------------------------------------------------------------------ (a) CLI intake, footbridge
def test_cli_intake_flows_into_json_md_html_and_pdf(onemap, tmp_path):
    doc, lines = _review(onemap, FOOTBRIDGE, tmp_path / "rev", "--type", "bridge", "--project", PROJECT,
                         "--applicant", APPLICANT)
    assert doc["intake"] == {"project": PROJECT, "applicant": APPLICANT, "project_type": "bridge",
                             "project_type_label": "桥梁 bridge", "crs_declared": ""}
    # the verdict the library gives for a bridge (incomplete: the 控规 layer is missing; approvals needed)
    assert doc["verdict"] == review_file(FOOTBRIDGE, onemap=onemap, project_type="bridge").verdict == "incomplete"
    assert {f["project_type"] for f in doc["findings"]} == {"bridge"}
    # GeoJSON is WGS 84 by its specification: known from the file
    assert doc["input_crs"]["crs"] == "EPSG:4326" and doc["input_crs"]["epsg"] == 4326
    assert doc["input_crs"]["how"] == "file" and doc["input_crs"]["name"] == "WGS 84"
    text = "\n".join(lines)
    assert lines[lines.index("项目名称 Project") + 1] == PROJECT
    assert lines[lines.index("申请单位 Applicant") + 1] == APPLICANT
    assert lines[lines.index("项目类型 Project type") + 1] == "桥梁 bridge"
    assert "未填写" not in text
    crs = _crs_line(lines)
    assert crs.startswith("EPSG:4326 WGS 84") and "文件声明 file" in crs
    md = (tmp_path / "rev" / "review.md").read_text(encoding="utf-8")
    html = (tmp_path / "rev" / "review.html").read_text(encoding="utf-8")
    for t in (md, html):
        assert PROJECT in t and APPLICANT in t and "桥梁 bridge" in t and "EPSG:4326 WGS 84" in t
    # the map page is titled with the project
    assert any(ln.startswith(f"{PROJECT} 审查图") for ln in lines)


# ------------------------------------------------------------------ (b) CRS as read
def test_jzd_zone_prefix_is_detected_as_epsg_4530(onemap, tmp_path):
    src = write_jzd(tmp_path / "报批地块.txt", prefix=True)
    doc, lines = _review(onemap, src, tmp_path / "rev", "--type", "building", "--project", "报批地块")
    assert doc["input_crs"]["crs"] == "EPSG:4530" and doc["input_crs"]["how"] == "detected"
    assert "zone prefix 42" in doc["input_crs"]["basis"]
    crs = _crs_line(lines)
    assert crs.startswith("EPSG:4530 CGCS2000 / 3-degree Gauss-Kruger zone 42") and "detected" in crs
    assert "EPSG:4326" not in crs
    # the 界址点坐标表: the file's own points (prefix dropped: EPSG:4551 is the same zone), numbered, closed
    i = next(k for k, ln in enumerate(lines) if ln.startswith("界址点坐标表"))
    table = lines[i:]
    k = table.index("点号 No.")
    assert table[1].startswith("EPSG:4551 (CGCS2000 / 3-degree Gauss-Kruger CM 126E): X = 北坐标 northing")
    head = " ".join(table[2:k])
    assert head.startswith("1. 报批地块 - 外环 outer ring 1: 4 点 points;")
    assert "3,600.00 m² = 0.3600 ha = 5.4000 亩" in head
    rows = [table[k + 3 + 3 * j:k + 6 + 3 * j] for j in range(5)]
    want = [(n, f"{y:,.3f}", f"{x:,.3f}") for n, (x, y) in zip(["J1", "J2", "J3", "J4", "J1"], [*_ring(), _ring()[0]],
                                                                  strict=True)]
    assert [tuple(r) for r in rows] == want


def test_jzd_header_zone_is_known_from_the_file(onemap, tmp_path):
    src = write_jzd(tmp_path / "无带号.txt", prefix=False)
    rep = review_file(src, onemap=onemap, project_type="building")
    assert rep.input_crs["crs"] == "EPSG:4551" and rep.input_crs["how"] == "file"
    assert "带号=42" in rep.input_crs["basis"]


def test_dxf_declared_crs_is_named_as_declared(onemap, tmp_path):
    src = write_dxf(tmp_path / "总图.dxf")
    doc, lines = _review(onemap, src, tmp_path / "rev", "--crs", "EPSG:4551", "--type", "building")
    assert doc["input_crs"] == {"crs": "EPSG:4551", "epsg": 4551, "name": "CGCS2000 / 3-degree Gauss-Kruger CM 126E",
                                "how": "declared", "basis": "declared by the user (EPSG:4551)"}
    assert doc["intake"]["crs_declared"] == "EPSG:4551"
    crs = _crs_line(lines)
    assert crs.startswith("EPSG:4551 CGCS2000 / 3-degree Gauss-Kruger CM 126E") and "用户声明 declared" in crs
    assert "EPSG:4326" not in crs


def test_gcj02_declared_is_named(onemap):
    rep = review_file(PROPOSALS / "clean_site.geojson", onemap=onemap, crs="gcj02")
    assert rep.input_crs["crs"] == "gcj02" and rep.input_crs["how"] == "declared" and rep.input_crs["epsg"] is None
    assert "GCJ-02" in to_markdown(rep)


# ------------------------------------------------------------------ (c) no path, (d) local times
def test_no_path_of_the_machine_and_times_in_beijing(onemap, tmp_path):
    doc, lines = _review(onemap, FOOTBRIDGE, tmp_path / "rev", "--type", "bridge", "--project", PROJECT)
    text = "\n".join(lines)
    dv = doc["data_version"]
    places = [str(onemap.parent), str(tmp_path), str(HARBIN_DATA), str(PROPOSALS), str(REPO), str(Path.home())]
    for where, t in (("pdf", text), ("data_version", json.dumps(dv, ensure_ascii=False))):
        for p in places:
            assert p not in t, (where, p)
        assert not ABS_PATH.search(t), (where, ABS_PATH.search(t))
    assert "data_dir" not in dv and dv["proposal"] == "footbridge.geojson" and dv["onemap"] == onemap.name
    assert len(dv["onemap_build_id"]) == 32 and len(dv["catalog_sha256"]) == len(dv["rules_sha256"]) == 64
    # the PDF's data version: build id and hashes
    assert any(dv["onemap_build_id"] in ln for ln in lines) and any(dv["rules_sha256"] in ln for ln in lines)
    # times: ISO with +08:00 to the second in JSON / Markdown / HTML, 北京时间 in the PDF; no microseconds
    assert ISO_LOCAL.match(doc["reviewed_at"]) and ISO_LOCAL.match(dv["onemap_built_at"])
    assert doc["timezone"] == "Asia/Shanghai"
    md = (tmp_path / "rev" / "review.md").read_text(encoding="utf-8")
    html = (tmp_path / "rev" / "review.html").read_text(encoding="utf-8")
    assert doc["reviewed_at"] in md and doc["reviewed_at"] in html and dv["onemap_built_at"] in md
    for t in (text, md, html, json.dumps(doc)):
        assert not MICROSECONDS.search(t)
        assert "+00:00" not in t and not re.search(r"\d\d:\d\dZ\b", t)
    reviewed = lines[lines.index("审查时间 Reviewed") + 1]
    stamp = doc["reviewed_at"]
    assert reviewed == f"{stamp[:10]} {stamp[11:16]} 北京时间 (UTC+8)"
    assert any(ln.startswith("构建时间 Built: ") and ln.endswith("北京时间 (UTC+8)") for ln in lines)
    assert sum(f"{stamp[:10]} {stamp[11:16]} 北京时间 (UTC+8)" in ln for ln in lines) >= 3  # field and footers


# ------------------------------------------------------------------ the map page, as drawn
def test_map_page_forbidden_on_top_labelled_and_everything_inside_the_frame(onemap):
    from cityplan.report.layout import MARGIN_MM, PageSpec

    rep = review_file(PROPOSALS / "river_crossing.geojson", onemap=onemap)
    assert rep.verdict == "fail" and {"forbidden", "needs_approval", "note"} <= set(rep.overlaps.severity)
    fig = map_page(rep, onemap, spec=PageSpec(dpi=72), project=PROJECT)
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        # the decisive overlap is drawn above every weaker one, and named on the map
        z = {sev: [c.get_zorder() for c in ax.collections if c.get_zorder() >= 7 and len(c.get_facecolor())
                   and tuple(c.get_facecolor()[0][:3]) == pytest.approx(to_rgba(col)[:3])]
             for sev, col in SEVERITY_COLOUR.items()}
        assert z["forbidden"] and z["needs_approval"] and z["note"]
        assert min(z["forbidden"]) > max(z["needs_approval"]) > max(z["note"])
        labels = [t.get_text() for t in ax.texts if t.get_gid() == "overlap_label"]
        assert any("forbidden: blue-line" in t for t in labels) and any("green-line" in t for t in labels)
        # every text and the legend inside the outer 图框; the legend in its cell above the sources
        renderer = fig.canvas.get_renderer()
        pw, ph = fig.get_size_inches() * fig.dpi
        mm = fig.dpi / 25.4
        inner = (MARGIN_MM / 2 * mm, MARGIN_MM / 2 * mm, pw - MARGIN_MM / 2 * mm, ph - MARGIN_MM / 2 * mm)

        def inside(e, box, pad=0.5):
            return e.x0 >= box[0] - pad and e.y0 >= box[1] - pad and e.x1 <= box[2] + pad and e.y1 <= box[3] + pad

        blk = fig.axes[-1]
        leg = blk.get_legend()
        assert leg is not None and len(leg.get_texts()) >= 6
        frame = blk.get_window_extent(renderer)
        sources_top = blk.transData.transform((0, 17.0))[1]
        le = leg.get_window_extent(renderer)
        assert inside(le, (frame.x0, sources_top, frame.x1, frame.y1)), (le, frame, sources_top)
        for t in fig.findobj(Text):
            if not t.get_visible() or not t.get_text().strip() or (t.get_clip_on() and t.get_clip_box() is not None):
                continue
            assert inside(t.get_window_extent(renderer), inner), t.get_text()[:60]
    finally:
        plt.close(fig)


def test_findings_and_rules_ordered_by_severity(onemap, tmp_path):
    rep = review_file(PROPOSALS / "river_crossing.geojson", onemap=onemap, project="过江通道")
    out = write_opinion(rep, tmp_path / "o.pdf", onemap=onemap, dpi=72)
    lines = pdf_lines(out)
    numbered = [re.search(r"\[([^\]]+)\]", ln) for ln in lines if re.match(r"^\d+\. ", ln)]
    results = [m.group(1) for m in numbered if m]
    rank = {"不符合 conflict": 0, "需审批 approval needed": 2, "提示 note": 3}
    first_other = next(i for i, r in enumerate(results) if r not in rank)
    assert results[0] == "不符合 conflict" and first_other > 0
    order = [rank[r] for r in results[:first_other]]
    assert order == sorted(order)
    md = to_markdown(rep)
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and "True" in ln]
    sev = [("forbidden" in ln) for ln in table]
    assert sev and sev == sorted(sev, reverse=True)  # forbidden hits first
    assert "过江通道" in to_html(rep)


# ------------------------------------------------------------------ (e) the web desk in Chromium
@pytest.fixture(scope="module")
def desk(tmp_path_factory, onemap):
    from server_process import add_accounts, start

    work = tmp_path_factory.mktemp("desk")
    loc = str(work / "harbin.gpkg")
    shutil.copy(onemap, loc)
    add_accounts(loc, {"rev": ("reviewer", None)})  # in-process; the CLI's `users add` is tested in test_abroad
    s = start(loc, work)
    yield s
    s.stop()


def test_web_review_intake_matches_the_cli(desk, onemap, tmp_path):
    from browser import launch, served_page
    from server_process import PASSWORD, login, token

    cli = review_file(FOOTBRIDGE, onemap=onemap, project_type="bridge")
    with launch() as browser:
        ctx, page, errors, outside = served_page(browser, desk.url, height=900)
        page.goto(f"{desk.url}/login")
        page.fill("input[name=username]", "rev")
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.click("#cp-login")
        page.goto(f"{desk.url}/review")
        # the fields: Chinese first, English beside; the type a required choice of the stored codes
        form = page.locator("#cp-review-form")
        for label in ("项目名称 Project", "申请单位 Applicant", "项目类型 Project type", "坐标系 CRS"):
            assert label in form.inner_text()
        assert page.get_attribute("#cp-project-type", "required") is not None
        codes = page.eval_on_selector_all("#cp-project-type option", "os => os.map(o => o.value)")
        assert codes == ["", "bridge", "pipeline", "road", "building", "park_facility", "sports", "school", "other"]
        assert page.text_content("#cp-project-type option[value=bridge]").strip() == "桥梁 bridge"
        crs = page.eval_on_selector_all("#cp-crs option", "os => os.map(o => o.value)")
        assert {"", "EPSG:4326", "EPSG:4490", "gcj02", "bd09", "EPSG:4530", "EPSG:4551", "EPSG:4495", "epsg"} <= set(crs)
        page.fill("#cp-project", PROJECT)
        page.fill("#cp-applicant", APPLICANT)
        page.set_input_files("#cp-review-form input[type=file]", str(FOOTBRIDGE))
        # without a project type the browser does not send the form
        page.click("#cp-review-submit")
        page.wait_for_timeout(500)
        assert page.url.endswith("/review") and not page.evaluate("document.querySelector('#cp-project-type').validity.valid")
        page.select_option("#cp-project-type", "bridge")
        with page.expect_navigation(timeout=180_000):
            page.click("#cp-review-submit")
        assert "/review/" in page.url, page.content()[:2000]
        review_url = page.url
        assert page.get_attribute("#cp-verdict", "data-code") == cli.verdict == "incomplete"
        assert page.text_content("#cp-project").strip() == PROJECT
        assert page.text_content("#cp-applicant").strip() == APPLICANT
        assert page.text_content("#cp-project-type").strip() == "桥梁 bridge"
        assert page.text_content("#cp-crs").strip().startswith("EPSG:4326 WGS 84")
        assert "北京时间 (UTC+8)" in page.inner_text(".cp-small")
        # the list of reviews names the project
        page.goto(f"{desk.url}/review")
        assert PROJECT in page.inner_text("#cp-reviews") and "桥梁 bridge" in page.inner_text("#cp-reviews")
        ctx.close()
    assert not errors and not outside
    rev = login(desk.url, "rev")
    rid = review_url.rsplit("/", 1)[1]
    stored = rev.get(f"/review/{rid}/report.json").json()
    assert stored["project"] == PROJECT and stored["applicant"] == APPLICANT and stored["project_type"] == "bridge"
    assert stored["report"]["intake"]["project"] == PROJECT and stored["report"]["verdict"] == cli.verdict
    assert [f["severity"] for f in stored["report"]["findings"]] == cli.findings.severity.tolist()
    pdf = rev.get(f"/review/{rid}/report.pdf", timeout=300)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:300]
    saved = tmp_path / "opinion.pdf"
    saved.write_bytes(pdf.content)
    lines = pdf_lines(saved)
    assert lines[lines.index("项目名称 Project") + 1] == PROJECT
    assert lines[lines.index("项目类型 Project type") + 1] == "桥梁 bridge"
    assert any(ln.startswith("审查结论 Verdict: 不完整 INCOMPLETE") for ln in lines)
    assert _crs_line(lines).startswith("EPSG:4326 WGS 84")
    assert not ABS_PATH.search("\n".join(lines)) and str(desk.data_dir) not in "\n".join(lines)
    # the server refuses a review without a project type (the form's required choice, server side)
    tok = token(rev.get("/review").text)
    r = rev.post("/review", data={"csrf_token": tok, "project": "x"},
                 files={"file": ("f.geojson", FOOTBRIDGE.read_bytes())})
    assert r.status_code == 400 and 'id="cp-error">项目类型 Project type: choose one' in r.text
    # and a CRS the form does not offer
    r = rev.post("/review", data={"csrf_token": tok, "project_type": "bridge", "crs": "epsg", "crs_epsg": "4530x"},
                 files={"file": ("f.geojson", FOOTBRIDGE.read_bytes())})
    assert r.status_code == 400 and "is not an EPSG code" in r.text
    # a DXF carries no CRS: the desk asks for the 坐标系, then names it as declared
    dxf = write_dxf(tmp_path / "总图.dxf").read_bytes()
    r = rev.post("/review", data={"csrf_token": tok, "project_type": "building"}, files={"file": ("总图.dxf", dxf)})
    assert r.status_code == 422 and "请选择坐标系" in r.text and "--crs EPSG:4551" in r.text
    r = rev.post("/review", data={"csrf_token": tok, "project_type": "building", "crs": "EPSG:4551",
                                  "project": "DXF 地块"}, files={"file": ("总图.dxf", dxf)})
    assert r.status_code == 303, r.text[:500]
    page = rev.get(r.headers["location"]).text
    assert "EPSG:4551 CGCS2000 / 3-degree Gauss-Kruger CM 126E - 用户声明 declared" in page and "DXF 地块" in page
