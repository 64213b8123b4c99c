"""QGIS's own OGC API - Features provider (``OAPIF``; PyQGIS of Debian's ``python3-qgis``, headless)
reading a real ``cityplan serve`` - the planners' desktop client, not a lenient stand-in.

PyQGIS lives in the system Python, not in the venv: the QGIS part runs as ``/usr/bin/python3 -``
with ``QT_QPA_PLATFORM=offscreen`` and a temporary HOME (QGIS profile and authentication
database). It loads each collection as ``QgsVectorLayer("url='…/ogc' typename='ID'", …, "OAPIF")``
(QGIS reads the landing page, the OpenAPI document it links as ``service-desc``, the collection
and a first page of items), and prints what QGIS reports. Every public collection must load with
the GeoPackage's feature count (``featureCount()``, and the features counted one by one for as
many collections as fit in ~45,000 features); a restricted collection loads with a QGIS ``Basic``
authentication configuration (and with the ``username``/``password`` URI keys) and not without,
nor with a wrong password.

Skipped only where ``/usr/bin/python3 -c "import qgis.core"`` fails outside CI; in CI it fails
(``scripts/ensure-system-deps.sh`` installs ``python3-qgis`` and ``qgis-providers``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pyogrio
import pytest

from server_process import PASSWORD, cityplan, start

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
#: features QGIS downloads one by one in all (smallest collections first); the rest are counted by QGIS
#: from ``numberMatched`` only
ITERATE_BUDGET = 45_000

#: run by the system Python; argv[1] is a JSON file: url, master password, credentials, runs
QGIS_SCRIPT = r"""
import json, os, sys, time
from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsVectorLayer

cfg = json.load(open(sys.argv[1], encoding="utf-8"))
app = QgsApplication([], False)
app.initQgis()
log = []
QgsApplication.messageLog().messageReceived.connect(lambda msg, tag, level: log.append(tag + ": " + msg))
am = QgsApplication.authManager()
print("AUTHDB " + am.authenticationDatabasePath(), flush=True)
if not am.setMasterPassword(cfg["master"], True):
    raise SystemExit("cannot set the master password of the QGIS authentication database")
authcfg = {}
for key, (user, password) in cfg["credentials"].items():
    c = QgsAuthMethodConfig("Basic")
    c.setName("cityplan " + key)
    c.setConfig("username", user)
    c.setConfig("password", password)
    ok = am.storeAuthenticationConfig(c)
    if not (ok[0] if isinstance(ok, tuple) else ok) or not c.id():
        raise SystemExit("cannot store the Basic authentication configuration " + key)
    authcfg[key] = c.id()
for run in cfg["runs"]:
    uri = "url='%s' typename='%s'" % (cfg["url"], run["id"])
    if run.get("authcfg"):
        uri += " authcfg='%s'" % authcfg[run["authcfg"]]
    if run.get("userpass"):
        uri += " username='%s' password='%s'" % tuple(cfg["credentials"][run["userpass"]])
    t0 = time.monotonic()
    del log[:]
    layer = QgsVectorLayer(uri, run["id"], "OAPIF")
    out = dict(run, valid=layer.isValid())
    if layer.isValid():
        out["featureCount"] = layer.featureCount()
        out["fields"] = layer.fields().names()
        if run.get("iterate") or out["featureCount"] < 0:
            ids = set()
            n = 0
            for f in layer.getFeatures():
                n += 1
                ids.add(f.id())
            out["iterated"], out["distinct"] = n, len(ids)
            e = layer.extent()
            out["extent"] = [e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum()]
    else:  # (layer.error() crashes QGIS 3.22 for an invalid OAPIF layer: the provider's log instead)
        QgsApplication.processEvents()
        out["log"] = log[-3:]
    out["seconds"] = round(time.monotonic() - t0, 2)
    print("RESULT " + json.dumps(out, ensure_ascii=False), flush=True)
    layer = None
print("DONE", flush=True)
# QGIS 3.22 can crash in its teardown (exitQgis / interpreter exit) after a layer failed to load: the
# results are out, so leave without it
os._exit(0)
"""


def _pyqgis_error() -> str | None:
    """Why PyQGIS cannot be used (None when it can)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} is missing"
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, text=True, env=_clean_env(),
                       timeout=120, check=False)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["import qgis.core failed"])[-1]


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without the venv's Python settings (the system Python runs PyQGIS)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, **extra}


def run_qgis(url: str, runs: list[dict], credentials: dict[str, list[str]], home: Path) -> dict[str, dict]:
    """Run the QGIS script over ``runs``; the results by run name."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "run").mkdir(mode=0o700, exist_ok=True)
    cfg = home / "cfg.json"
    cfg.write_text(json.dumps({"url": url, "master": "test-master-password", "credentials": credentials,
                               "runs": runs}), encoding="utf-8")
    env = _clean_env(HOME=str(home), XDG_RUNTIME_DIR=str(home / "run"), QT_QPA_PLATFORM="offscreen")
    t0 = time.monotonic()
    r = subprocess.run([SYSTEM_PYTHON, "-", str(cfg)], input=QGIS_SCRIPT, capture_output=True, text=True, env=env,
                       timeout=900, check=False)
    assert r.returncode == 0 and "\nDONE\n" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    authdb = next(line[7:] for line in r.stdout.splitlines() if line.startswith("AUTHDB "))
    assert Path(authdb).resolve().is_relative_to(home.resolve()), authdb  # the temporary profile, not ~
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            out[res["name"]] = res
    out["_seconds"] = {"seconds": round(time.monotonic() - t0, 1)}
    return out


@pytest.fixture(scope="module")
def qgis_server(tmp_path_factory, onemap):
    """``cityplan serve`` over a copy of the session's map, with accounts ``planner`` and ``other``."""
    why = _pyqgis_error()
    if why is not None:
        msg = (f"PyQGIS is not usable ({why}): apt-get install python3-qgis qgis-providers "
               "(scripts/ensure-system-deps.sh)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    work = tmp_path_factory.mktemp("serve-qgis")
    loc = str(work / "harbin.gpkg")
    shutil.copy(onemap, loc)
    for name in ("planner", "other"):
        r = cityplan("users", "add", name, "--role", "viewer", "--password-stdin", "--onemap", loc,
                     stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    s = start(loc, work)
    yield s, work
    s.stop()


def _counts(location: str) -> dict[str, tuple[int, list[str]]]:
    """Feature count and field names of each layer, read straight from the GeoPackage."""
    out = {}
    for name, _geom in pyogrio.list_layers(location):
        info = pyogrio.read_info(location, layer=str(name))
        out[str(name)] = (int(info["features"]), [str(f) for f in info["fields"]])
    return out


def test_qgis_loads_every_public_collection(qgis_server):
    served, work = qgis_server
    ogc = served.url + "/ogc"
    colls = httpx.get(ogc + "/collections", timeout=120).json()["collections"]
    counts = _counts(served.location)
    public = sorted((c["id"] for c in colls if not c.get("restricted")), key=lambda cid: counts[cid][0])
    assert len(public) >= 30 and "districts_datav" not in public
    runs, budget = [], ITERATE_BUDGET
    for cid in public:
        iterate = counts[cid][0] <= budget
        budget -= counts[cid][0] if iterate else 0
        runs.append({"name": cid, "id": cid, "iterate": iterate})
    res = run_qgis(ogc, runs, {}, work / "qgis-public")
    log.info("QGIS OAPIF over %s: %s s in all", ogc, res["_seconds"]["seconds"])
    for run in runs:
        r = res[run["name"]]
        want, fields = counts[run["id"]]
        log.info("  %s: valid=%s featureCount=%s iterated=%s gpkg=%s %s s", run["id"], r["valid"],
                 r.get("featureCount"), r.get("iterated", "-"), want, r["seconds"])
        assert r["valid"], r
        assert r["featureCount"] == want, r
        assert set(fields) <= set(r["fields"]), (run["id"], sorted(set(fields) - set(r["fields"])))
        if run["iterate"]:
            assert r["iterated"] == r["distinct"] == want, r
            bbox = next(c for c in colls if c["id"] == run["id"])["extent"]["spatial"]["bbox"][0]
            assert all(abs(a - b) < 1e-6 for a, b in zip(r["extent"], bbox, strict=True)), (r["extent"], bbox)
    assert sum(counts[r["id"]][0] for r in runs if r["iterate"]) > 20_000


def test_qgis_restricted_collection_needs_credentials(qgis_server):
    served, work = qgis_server
    ogc = served.url + "/ogc"
    counts = _counts(served.location)
    anonymous = httpx.get(ogc + "/collections/districts_datav/items", timeout=60)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic realm=")
    credentials = {"planner": ["planner", PASSWORD], "wrong": ["other", "not the password"]}
    runs = []
    for cid in ("districts_datav", "districts"):
        runs += [{"name": f"{cid} anonymous", "id": cid},
                 {"name": f"{cid} wrong password", "id": cid, "authcfg": "wrong"},
                 {"name": f"{cid} authcfg", "id": cid, "authcfg": "planner", "iterate": True},
                 {"name": f"{cid} username/password", "id": cid, "userpass": "planner", "iterate": True}]
    res = run_qgis(ogc, runs, credentials, work / "qgis-restricted")
    log.info("QGIS OAPIF, restricted collections: %s s in all", res["_seconds"]["seconds"])
    for run in runs:
        r = res[run["name"]]
        log.info("  %s: valid=%s featureCount=%s iterated=%s %s s %s", run["name"], r["valid"],
                 r.get("featureCount", "-"), r.get("iterated", "-"), r["seconds"], r.get("log", ""))
        if run.get("iterate"):
            want = counts[run["id"]][0]
            assert r["valid"] and r["featureCount"] == r["iterated"] == want, r
        else:
            assert not r["valid"], r
            assert r.get("featureCount", 0) <= 0
