"""The supervision page: in Chromium, the matrix's colours and figures equal
``cityplan monitor --format json`` for the same date; a district office sees its district first;
the "what changed" page names the five park changes of a rebuild."""

from __future__ import annotations

import json
import shutil

import httpx
import pandas as pd
import pytest

from browser import launch, log_in, served_page
from cli_invoke import run
from server_process import add_accounts, login, start


def _completed_by(loc, day: str) -> int:
    """Sites whose latest report on or before ``day`` says completed (straight from the ledger table)."""
    from cityplan.onemap import OneMap

    ev = OneMap.open(loc).store.read("cityplan_progress_events")
    ev = ev[(ev.site_id != "") & (ev.as_of <= day)].sort_values(["as_of", "recorded_at", "source_row"], kind="stable")
    return int((ev.drop_duplicates("site_id", keep="last").status == "completed").sum())


def test_supervision_matrix_equals_cli(onemap, tmp_path):
    from cityplan.progress.examples import import_examples

    loc = tmp_path / "harbin.gpkg"
    shutil.copy(onemap, loc)
    import_examples(str(loc))
    add_accounts(str(loc))
    r = run("monitor", "--onemap", str(loc), "--as-of", "2023-12-15", "--all", "--format", "json")
    assert r.returncode == 1, r.stderr
    cli = pd.DataFrame(json.loads(r.stdout))
    cli["key"] = [f"{t} {i}" if k == "target" else i for k, t, i in zip(cli.kind, cli.task_id, cli.indicator,
                                                                        strict=True)]
    want = {(k, a): (lv, v) for k, a, lv, v in zip(cli.key, cli.adcode, cli.level, cli.value_pct, strict=True)}
    served = start(str(loc), tmp_path)
    try:
        with launch() as browser:
            ctx, page, errors, outside = served_page(browser, served.url)
            log_in(page, served.url, "admin")
            page.goto(f"{served.url}/supervision?as_of=2023-12-15")
            assert page.text_content("#cp-asof-date") == "2023-12-15"
            cells = page.eval_on_selector_all("#cp-matrix td.cp-lv", """tds => tds.map(td => [
                td.dataset.key, td.dataset.adcode, td.dataset.level, td.dataset.value,
                getComputedStyle(td).backgroundColor, td.querySelector('a').getAttribute('href')])""")
            assert len(cells) == len(want)
            colour = {"red": "rgb(215, 25, 28)", "yellow": "rgb(253, 174, 97)", "green": "rgb(26, 150, 65)",
                      "grey": "rgb(221, 221, 221)"}
            for key, adcode, level, value, bg, href in cells:
                lv, v = want[(key, adcode)]
                assert level == lv and bg == colour[lv], (key, adcode)
                assert (value == "" and pd.isna(v)) or float(value) == pytest.approx(v, abs=0.05), (key, adcode)
                assert href.startswith(("/tasks/", "/districts"))
            red = page.locator('#cp-matrix td[data-key="2.3.3 floor_area"][data-adcode="230103"]')
            assert red.get_attribute("data-level") == "red" and red.text_content().strip() == "16% / 96%"
            assert "behind the pace by 80 points" in red.get_attribute("title")
            assert int(page.text_content("#cp-count-red")) == int((cli.level == "red").sum())
            # the map slider: sites completed by the day, counted here from the ledger directly
            page.wait_for_selector("#cp-sites-map[data-shown]")
            assert int(page.text_content("#cp-sites-count")) == _completed_by(loc, "2023-12-15") > 0
            page.eval_on_selector("#cp-sites-slider", """s => { s.value = String(Number(s.max) - 168);
                s.dispatchEvent(new Event('input')); }""")
            day = page.text_content("#cp-sites-day")
            assert day == "2023-06-30"
            assert int(page.text_content("#cp-sites-count")) == _completed_by(loc, day) < _completed_by(loc, "2023-12-15")
            # worst district first for the city; a district office sees its own first
            log_in(page, served.url, "nangang")
            page.goto(f"{served.url}/supervision?as_of=2023-12-15")
            assert page.get_attribute("#cp-matrix tr[data-adcode]", "data-adcode") == "230103"
            # its warnings link to the burn-up chart with the pace, the thresholds and a legend
            with page.expect_navigation():
                page.click('#cp-warnings a.cp-chart-link[href*="chart=2.3.3"]')
            page.wait_for_function("() => { const i = document.getElementById('cp-chart-img');"
                                   " return i && i.complete && i.naturalWidth > 0; }")
            svg = page.request.get(page.eval_on_selector("#cp-chart-img", "i => i.src")).text()
            assert "linear 2023-01-01" in svg and "&gt; 25 points behind" in svg and "district quota" in svg
            ctx.close()
        assert not errors and not outside
    finally:
        served.stop()


def test_what_changed_page(synthetic_onemap, tmp_path):
    from test_build_diff import _two_builds

    out = tmp_path / "map.gpkg"
    _two_builds(synthetic_onemap, tmp_path, str(out))
    add_accounts(str(out), {"view": ("viewer", None)})
    served = start(str(out), tmp_path)
    try:
        c = login(served.url, "view")
        page = c.get("/supervision")
        assert page.status_code == 200 and "what changed since" in page.text
        html = c.get("/supervision/diff").text
        for ref in ("way/9001", "way/9002", "way/9003", "way/9005", "way/549"):
            assert ref in html
        assert "<td>200</td>" in html and "park-service-radius" in html
        kept = json.loads(run("diff", "--list", "--onemap", str(out), "--format", "json").stdout)
        old = c.get(f"/supervision/builds/{kept[1]['build_id'][:8]}")
        assert old.status_code == 200 and "read-only" in old.text
        assert c.get("/supervision/builds/ffffffffffff").status_code == 404
        # bad input: a one-line message, never a 500; unknown task: 404; anonymous: the login page
        bad = c.get("/supervision", params={"as_of": "<b>2023-13-45"})
        assert bad.status_code == 200 and "is not a date" in bad.text and "<b>2023" not in bad.text
        assert c.get("/supervision/chart.svg", params={"task": "9.9.9"}).status_code == 404
        anon = httpx.get(f"{served.url}/supervision", follow_redirects=False)
        assert anon.status_code == 303 and anon.headers["location"].startswith("/login")
        assert httpx.get(f"{served.url}/supervision/sites.json").status_code == 401
    finally:
        served.stop()
