"""Use cases shared by the CLI and the web (`cityplan.services`): one reviews ledger for both shells,
the 审查意见 from the stored report, and the progress ownership rule.

The web runs in-process (Starlette's TestClient over :func:`cityplan.server.create_app`, reviews
in a thread of this process), the CLI through click's runner, both over one copy of the session's
GeoPackage.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from cityplan.cli.main import cli
from cityplan.onemap import OneMap
from cityplan.progress import load_context
from cityplan.progress.events import EVENTS_TABLE
from cityplan.progress.template import HEADERS
from cityplan.server import create_app
from cityplan.services import progress as progress_service
from cityplan.services import reviews as review_service
from cli_invoke import invoke
from conftest import PROPOSALS

PASSWORD = "correct-horse-battery"
NANGANG, DAOLI = "230103", "230102"
RED = PROPOSALS / "river_crossing.geojson"


@pytest.fixture(scope="module")
def location(onemap: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the session's one map with a reviewer, a viewer and two district offices."""
    p = tmp_path_factory.mktemp("services") / "harbin.gpkg"
    shutil.copy(onemap, p)
    for name, role, district in (("rev", "reviewer", None), ("view", "viewer", None), ("nangang", "district", NANGANG),
                                 ("daoli", "district", DAOLI)):
        args = ["users", "add", name, "--role", role, "--password-stdin", "--onemap", str(p)]
        r = CliRunner().invoke(cli, [*args, *(["--district", district] if district else [])], input=PASSWORD + "\n")
        assert r.exit_code == 0, r.output
    return str(p)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-data")


@pytest.fixture(scope="module")
def app(location: str, data_dir: Path):
    application = create_app(location, data_dir=data_dir, warm=False, review_workers=0)
    with TestClient(application) as _:
        yield application


def _token(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def _client(app, name: str) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    form = {"username": name, "password": PASSWORD, "next": "/", "csrf_token": _token(c.get("/login").text)}
    r = c.post("/login", data=form)
    assert r.status_code == 303, r.text[:300]
    return c


def _ids_listed(html: str) -> list[str]:
    return re.findall(r'href="/review/([0-9a-f]{32})"', html)


# ---------------------------------------------------------------------------- reviews
def test_cli_stored_review_is_listed_and_reopened_by_the_web(app, location, data_dir):
    r = invoke("review", RED, "--onemap", location, "--type", "bridge", "--project", "松花江桥 CLI",
               "--applicant", "市政院", "--store", "--user", "li", "--data-dir", data_dir, "--format", "json")
    assert r.exit_code == 1, r.output  # the river crossing fails
    rid = re.search(r"stored review ([0-9a-f]{32})", r.stderr).group(1)
    printed = json.loads(r.stdout)
    # the row is in the one map's reviews table, with the intake and the build reviewed against
    om = OneMap.open(location)
    row = om.store.table_or_empty(review_service.REVIEWS_TABLE, where={"review_id": rid})
    assert len(row) == 1
    row = row.iloc[0]
    assert (row["user"], row["project"], row["applicant"], row["project_type"]) == ("li", "松花江桥 CLI", "市政院",
                                                                                   "bridge")
    assert row["verdict"] == printed["verdict"] == "fail" and row["build_id"] == om.build_info["build_id"]
    assert (data_dir / row["stored_file"]).read_bytes() == RED.read_bytes()
    assert (data_dir / "reports" / f"{rid}.html").exists()
    review_service._RECENT.clear()  # the web reads it from the store, as another process would
    web = _client(app, "view")
    page = web.get("/review")
    assert page.status_code == 200 and rid in _ids_listed(page.text) and "松花江桥 CLI" in page.text
    shown = web.get(f"/review/{rid}")
    assert shown.status_code == 200, shown.text[:300]
    assert 'id="cp-verdict"' in shown.text and "松花江桥 CLI" in shown.text and RED.name in shown.text
    got = web.get(f"/review/{rid}/report.json").json()
    assert got["report"]["verdict"] == "fail" and got["report"]["findings"] == printed["findings"]
    assert web.get(f"/review/{rid}/report.html").status_code == 200
    om.close()


def test_web_review_is_listed_by_the_cli(app, location):
    rev = _client(app, "rev")
    tok = _token(rev.get("/review").text)
    r = rev.post("/review", data={"csrf_token": tok, "project_type": "bridge", "project": "网上提交 web"},
                 files={"file": (RED.name, RED.read_bytes(), "application/geo+json")})
    assert r.status_code == 303, r.text[:400]
    rid = r.headers["location"].rsplit("/", 1)[1]
    listed = invoke("review", "list", "--onemap", location, "--format", "json")
    assert listed.exit_code == 0, listed.output
    rows = {x["review_id"]: x for x in json.loads(listed.stdout)}
    assert rid in rows and rows[rid]["user"] == "rev" and rows[rid]["project"] == "网上提交 web"
    assert rows[rid]["verdict"] == "fail"
    csv = invoke("review", "list", "--onemap", location, "--format", "csv")
    assert csv.exit_code == 0 and rid in csv.stdout
    table = invoke("review", "list", "--onemap", location)
    assert table.exit_code == 0 and rid[:8] in table.stdout
    shown = invoke("review", "show", rid, "--onemap", location, "--format", "json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["report"]["verdict"] == "fail"
    # an unknown id: a one-line user error naming the id and how to list them
    missing = invoke("review", "show", "f" * 32, "--onemap", location)
    assert missing.exit_code == 2 and "f" * 32 in missing.stderr and "cityplan review list" in missing.stderr


def _forbid_reviewing(monkeypatch) -> list[str]:
    calls: list[str] = []

    def refuse(*_a, **_k):
        calls.append("review")
        raise AssertionError("the opinion of a stored review ran the review again")

    import cityplan.review.check as check

    for mod, name in ((check, "review_file"), (check, "review_proposal"), (review_service, "review_file")):
        monkeypatch.setattr(mod, name, refuse)
    return calls


def test_opinion_is_made_from_the_stored_report_without_reviewing_again(app, location, tmp_path, monkeypatch):
    from pdf_read import media_boxes, unicode_chars

    om = OneMap.open(location)
    saved = review_service.submit_review(om, RED, user="li", intake={"project": "意见书 opinion",
                                                                     "applicant": "", "project_type": "bridge"})
    assert saved.row["verdict"] == "fail"
    calls = _forbid_reviewing(monkeypatch)
    review_service._RECENT.clear()
    # the CLI
    out = tmp_path / "opinion.pdf"
    r = invoke("review", "opinion", saved.review_id, "--onemap", location, "--out", out, "--dpi", "60")
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"%PDF")
    assert all(abs(b[2] - b[0] - 595.28) < 0.5 and abs(b[3] - b[1] - 841.89) < 0.5 for b in media_boxes(out))
    assert "审" in unicode_chars(out)
    again = invoke("review", "opinion", saved.review_id, "--onemap", location, "--out", out)
    assert again.exit_code == 2 and "--overwrite" in again.stderr  # an existing file is not replaced silently
    # the web (the review worker is a thread of this process here, so the patch reaches it too)
    pdf = _client(app, "view").get(f"/review/{saved.review_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:300]
    assert calls == []
    # the patch is live: reviewing now does call it (so the assertion above can fail)
    with pytest.raises(AssertionError, match="ran the review again"):
        review_service.submit_review(om, RED, user="li")
    assert calls == ["review"]
    om.close()


def test_report_from_document_matches_the_review(location):
    om = OneMap.open(location)
    rep, doc = review_service.run_review(om, RED, crs=None, facility_type=None, display=RED.name,
                                         intake={"project_type": "bridge"})
    back = review_service.report_from_document(json.loads(json.dumps(doc, default=str)), om)
    assert back.verdict == rep.verdict and back.verdict_reason == rep.verdict_reason
    assert [r.id for r in back.rules] == [r.id for r in rep.rules]
    assert [r.layers for r in back.rules] == [r.layers for r in rep.rules]  # from the profile's rules
    assert int(back.findings["hit"].sum()) == int(rep.findings["hit"].sum())
    assert len(back.overlaps) == len(rep.overlaps) and set(back.overlaps.severity) == set(rep.overlaps.severity)
    om.close()


# ---------------------------------------------------------------------------- progress ownership
def _district_figures(path: Path, *, adcode: str | None = None) -> Path:
    """A CSV of district figures (no site, so no district from a site) with or without adcode."""
    rows = [{"site_id": "", "task_id": "5.5.2", "metric": "through_programmes", "status": "", "achieved": i,
             "as_of": f"2023-02-{i + 1:02d}", "note": ""} for i in range(3)]
    df = pd.DataFrame(rows)
    if adcode is not None:
        df.insert(1, "adcode", adcode)
    df.rename(columns=HEADERS).to_csv(path, index=False)
    return path


def _events(location: str) -> pd.DataFrame:
    return OneMap.open(location).store.table_or_empty(EVENTS_TABLE)


def test_rows_without_adcode_get_the_offices_district_or_are_rejected(location, tmp_path):
    ctx = load_context(location)
    f = _district_figures(tmp_path / "no-adcode.csv")
    before = len(_events(location))
    # nobody's district: rejected, every row named, nothing recorded
    res = progress_service.import_district_progress(ctx, f, reported_by="someone")
    assert not res.ok and res.recorded == 0
    assert set(res.problems["column"]) == {"adcode"} and res.problems["row"].tolist() == [2, 3, 4]
    assert len(_events(location)) == before
    # the district office: every row gets its district
    res = progress_service.import_district_progress(ctx, f, reported_by="nangang", office=NANGANG)
    assert res.ok and res.recorded == 3 and res.adcode == NANGANG
    ev = _events(location)
    mine = ev[ev["source_sha256"] == res.sha256]
    assert len(mine) == 3 and set(mine["adcode"]) == {NANGANG} and set(mine["district"]) == {"南岗区"}
    assert not (ev["adcode"].fillna("").astype(str).str.strip() == "").any()
    # another district's rows, and another district as the office's target: refused
    other = _district_figures(tmp_path / "daoli.csv", adcode=DAOLI)
    with pytest.raises(progress_service.DistrictWriteRefusedError, match=DAOLI):
        progress_service.import_district_progress(ctx, other, reported_by="nangang", office=NANGANG)
    with pytest.raises(progress_service.DistrictWriteRefusedError):
        progress_service.import_district_progress(ctx, f, reported_by="nangang", office=NANGANG, district=DAOLI)


def test_cli_import_without_a_district_is_rejected_and_with_one_recorded(location, tmp_path):
    f = _district_figures(tmp_path / "cli.csv")
    f.write_text(f.read_text(encoding="utf-8").replace("2023-02-0", "2023-03-0"), encoding="utf-8")
    before = len(_events(location))
    r = invoke("progress", "import", f, "--reported-by", "t", "--onemap", location, "--format", "json")
    assert r.exit_code == 1 and "--district" in r.stdout and len(_events(location)) == before
    r = invoke("progress", "import", f, "--reported-by", "t", "--onemap", location, "--district", "道里")
    assert r.exit_code == 0, r.output
    ev = _events(location)
    assert len(ev) == before + 3 and set(ev.tail(3)["adcode"]) == {DAOLI}


def test_web_office_upload_without_adcode_is_stored_under_its_district(app, location, tmp_path):
    f = _district_figures(tmp_path / "web.csv")
    f.write_text(f.read_text(encoding="utf-8").replace("2023-02-0", "2023-04-0"), encoding="utf-8")
    office = _client(app, "nangang")
    tok = _token(office.get(f"/districts/{NANGANG}").text)
    before = len(_events(location))
    r = office.post(f"/districts/{NANGANG}/progress", data={"csrf_token": tok},
                    files={"file": (f.name, f.read_bytes(), "text/csv")})
    assert r.status_code == 200, r.text[:500]
    ev = _events(location)
    assert len(ev) == before + 3 and set(ev.tail(3)["adcode"]) == {NANGANG}
    # the same sheet for another district's URL: refused, nothing stored
    r = office.post(f"/districts/{DAOLI}/progress", data={"csrf_token": tok},
                    files={"file": (f.name, f.read_bytes(), "text/csv")})
    assert r.status_code == 403 and len(_events(location)) == before + 3


def test_site_status_is_one_event_not_a_sheet_row(app, location):
    ctx = load_context(location)
    sites = ctx.sites[ctx.sites["adcode"].astype(str) == NANGANG]
    sid = str(sites["site_id"].iloc[0])
    office = _client(app, "nangang")
    tok = _token(office.get(f"/districts/{NANGANG}").text)
    form = {"status": "started", "as_of": "2023-05-02", "achieved": "", "note": "services test", "csrf_token": tok}
    r = office.post(f"/districts/{NANGANG}/sites/{sid}/status", data=form)
    assert r.status_code == 303, r.text[:400]
    ev = _events(location)
    mine = ev[(ev["site_id"] == sid) & (ev["note"] == "services test")]
    assert len(mine) == 1
    e = mine.iloc[0]
    assert (e["status"], e["adcode"], e["reported_by"], e["source_file"]) == ("started", NANGANG, "nangang", "web form")
    assert int(e["source_row"]) == 0  # not a row of any sheet
    # wrong input: the problems, nothing recorded
    bad = office.post(f"/districts/{NANGANG}/sites/{sid}/status", data={**form, "status": "done", "note": "x"})
    assert bad.status_code == 422 and "未知状态 unknown status" in bad.text and "从以下选择" in bad.text  # 中文 English
    assert len(_events(location)) == len(ev)
    # service level: a site of another district is refused for the office
    other = str(ctx.sites[ctx.sites["adcode"].astype(str) == DAOLI]["site_id"].iloc[0])
    with pytest.raises(progress_service.DistrictWriteRefusedError):
        progress_service.record_site_status(ctx, adcode=NANGANG, site_id=other, status="started",
                                            reported_by="nangang", as_of="2023-05-02", office=NANGANG)


@pytest.mark.unit
def test_services_know_no_web_framework_and_no_server():
    """The use cases import neither starlette, click nor the server (so no desk <-> pool cycle)."""
    import ast

    import cityplan.services

    folder = Path(cityplan.services.__file__).parent
    for f in sorted(folder.glob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        bad = [m for m in names if m.split(".")[0] in ("starlette", "fastapi", "click") or m.startswith("cityplan.server")]
        assert not bad, (f.name, bad)
