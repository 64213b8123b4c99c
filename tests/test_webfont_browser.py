"""No □ on a machine without a CJK font: Chromium sees only DejaVu Sans (a fontconfig of its own),
so every Chinese character a page shows must come from the pages' web font slices; the review
page says its verdict and severities in Chinese with English beside; the browser's own print of
the map leaves out the navigation, buttons and search."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from browser import CHROMIUM_ARGS, chromium_path
from cityplan.server import webfont
from conftest import PROPOSALS
from server_process import PASSWORD, login, serve_copy, token

PAGES = ["/", "/map", "/review", "/tasks", "/districts/230103"]
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# every visible text node holding CJK: its element's font stack starts with the web font, each of its
# characters lies in a loaded face of it, and document.fonts.check says the text needs nothing more
CHECK = """async () => {
  await document.fonts.ready;
  const faces = [...document.fonts].filter(f => f.family.replace(/"/g, "") === "cityplan CJK");
  const loaded = faces.filter(f => f.status === "loaded").map(f => f.unicodeRange.split(",").map(s => {
    const [a, b] = s.trim().replace(/^U\\+/i, "").split("-"); return [parseInt(a, 16), parseInt(b || a, 16)]; }));
  const inLoaded = cp => loaded.some(rs => rs.some(([a, b]) => cp >= a && cp <= b));
  const cjk = /[\\u2e80-\\u9fff\\uf900-\\ufaff\\uff00-\\uffef]/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const bad = [], chars = new Set(); let nodes = 0;
  while (walker.nextNode()) {
    const t = walker.currentNode.textContent, el = walker.currentNode.parentElement;
    if (!cjk.test(t) || !el || !el.getClientRects().length) continue;
    nodes++;
    if (!getComputedStyle(el).fontFamily.startsWith('"cityplan CJK"')) bad.push(["font stack", t.slice(0, 40)]);
    for (const ch of t) {
      if (!ch.trim()) continue;
      chars.add(ch);
      if (!inLoaded(ch.codePointAt(0))) bad.push(["no loaded face", ch, t.slice(0, 40)]);
    }
    if (!document.fonts.check('16px "cityplan CJK"', t)) bad.push(["fonts.check", t.slice(0, 40)]);
  }
  return {nodes, chars: chars.size, faces: faces.length, bad: bad.slice(0, 10)};
}"""


@pytest.fixture(scope="module")
def served(onemap, tmp_path_factory):
    s = serve_copy(onemap, tmp_path_factory.mktemp("webfont"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def review_id(served) -> str:
    c = login(served.url, "rev")
    form = {"csrf_token": token(c.get("/review").text), "project": "松花江桥", "applicant": "示例单位",
            "project_type": "bridge"}
    red = PROPOSALS / "river_crossing.geojson"
    r = c.post("/review", data=form, files={"file": (red.name, red.read_bytes(), "application/geo+json")})
    assert r.status_code == 303, r.text[:500]
    return r.headers["location"].rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def no_cjk_fonts(tmp_path_factory) -> dict[str, str]:
    """The environment of a Chromium whose fontconfig holds DejaVu Sans only (no CJK font at all)."""
    folder = tmp_path_factory.mktemp("fontconfig")
    (folder / "fonts").mkdir()
    (folder / "fonts" / DEJAVU.name).symlink_to(DEJAVU)
    conf = folder / "fonts.conf"
    conf.write_text(f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                    f"<dir>{folder / 'fonts'}</dir><cachedir>{folder / 'cache'}</cachedir></fontconfig>")
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}


def test_no_page_needs_a_system_cjk_font(served, review_id, no_cjk_fonts):
    fetched: list[tuple[str, int]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, env=no_cjk_fonts)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
            page.set_default_timeout(240_000)  # the first request of a slice cuts it (about 2 s each)
            page.on("response", lambda r: fetched.append((r.url, int(r.headers.get("content-length") or 0)))
                    if "/static/fonts/" in r.url and r.status == 200 else None)
            page.goto(served.url + "/login")
            page.fill("input[name=username]", "rev")
            page.fill("input[name=password]", PASSWORD)
            page.click("#cp-login")
            page.wait_for_url(served.url + "/")
            for path in [*PAGES, f"/review/{review_id}"]:
                page.goto(served.url + path, wait_until="domcontentloaded")
                if path in ("/map", "/districts/230103") or path.startswith("/review/"):
                    page.wait_for_function("window.cityplan && cityplan.ready")
                got = page.evaluate(CHECK)
                assert got["nodes"] > 5 and not got["bad"], (path, got)
            # the review page: codes in words, Chinese first, English beside
            assert page.text_content("#cp-verdict").strip() == "不通过 fail"
            severities = {s.strip() for s in page.locator("#cp-findings td.cp-severity").all_text_contents()}
            assert "禁止 forbidden" in severities and severities <= {"禁止 forbidden", "需审批 needs approval", "提示 note"}
            headers = page.locator("#cp-findings th").all_text_contents()
            assert "严重程度 Severity" in headers and not any(re.fullmatch(r"[a-z]+_[a-z_]+", h) for h in headers)
            # the browser's own print of the map: no navigation, buttons or search; the page's title on top
            page.goto(served.url + "/map")
            page.wait_for_function("window.cityplan && cityplan.ready")
            page.emulate_media(media="print")
            shown = page.evaluate("""() => Object.fromEntries(['.cp-top', 'button', '.cp-search', '.cp-print-head']
                .map(s => [s, [...document.querySelectorAll(s)].map(e => getComputedStyle(e).display)]))""")
            assert shown[".cp-print-head"] == ["block"] and shown[".cp-top"] == ["none"]
            assert shown["button"] and set(shown["button"]) == {"none"} and set(shown[".cp-search"]) <= {"none"}
        finally:
            browser.close()
    # the slices are immutable for a year; what these pages fetched
    r = httpx.get(fetched[0][0])
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    sizes = dict(fetched)  # each slice once (then from the browser's cache)
    logging.getLogger(__name__).info("web font: %d slices, %d bytes for %d pages", len(sizes), sum(sizes.values()),
                                     len(PAGES) + 1)
    assert sum(sizes.values()) < 4_000_000 and len(sizes) < len(webfont.slices()) / 3  # only the slices needed
