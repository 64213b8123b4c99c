#!/usr/bin/env bash
# Install the Debian packages the tests drive for real, when missing (idempotent):
# headless Chromium (browser tests), PostgreSQL 15 + PostGIS 3 (PostGIS one-map tests) and PyQGIS
# with QGIS's data providers (the OGC API - Features provider of QGIS, tests/test_ogc_qgis.py).
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || \
   [ ! -f /usr/share/postgresql/15/extension/postgis.control ]; then
  need+=(postgresql-15-postgis-3)
fi
[ -f /usr/lib/python3/dist-packages/qgis/core/__init__.py ] || need+=(python3-qgis)
[ -f /usr/lib/qgis/plugins/libprovider_wfs.so ] || need+=(qgis-providers)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-system-deps: missing ${need[*]}; install them as root: apt-get install ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || echo "ensure-system-deps: apt-get update failed; trying the cached lists" >&2
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
echo "ensure-system-deps: installed ${need[*]}"
