/* server.js - the one map served by `cityplan serve`: layers fetched for the current view.
 * Builds on cityplan.js (the canvas renderer, legend, layer control, search, measure); adds
 * only the fetching. Page data comes from a data-page attribute (no inline script: the CSP
 * allows scripts from this server only). Everything is put into the page with textContent.
 */
(function () {
  "use strict";
  var cp = window.cityplan;
  cp.fetches = 0;       // completed view fetches (tests and benchmarks wait on it)
  cp.pending = 0;       // fetches in flight
  cp.fetchErrors = [];

  function emptyPayload(m) {
    var d = {};
    Object.keys(m).forEach(function (k) { d[k] = m[k]; });
    d.geoms = [];
    d.rows = [];
    d.ill = null;
    d.kind = m.kind || "polygon";
    return d;
  }

  function viewKey(map) {
    return map.getZoom() + ":" + map.getBounds().toBBoxString();
  }

  cp.serverMap = function (div, cfg) {
    var map = L.map(div, { preferCanvas: true, zoomSnap: 1 });
    (cfg.tiles || []).forEach(function (t) {
      L.tileLayer(t.url, { attribution: t.attr, subdomains: t.subdomains, maxZoom: t.maxZoom }).addTo(map);
    });
    var dynamic = {};
    (cfg.static || []).forEach(function (p) { cp.addLayer(map, p); });
    (cfg.layers || []).forEach(function (m) {
      cp.addLayer(map, emptyPayload(m));
      dynamic[m.id] = { loaded: null, ctrl: null, seq: 0 };
    });
    var ext = cfg.extent;
    var ids = (cfg.static || []).concat(cfg.layers || []);
    var groups = (cfg.groups || []).map(function (g) {
      return { title: g.title, layers: ids.filter(function (d) { return d.group === g.id; }).map(function (d) { return d.id; }) };
    });
    cp.init(map, {
      title: cfg.title, groups: groups, attributions: cfg.attributions || [],
      bounds: cfg.fit || ext, panel: cfg.panel || null, extraLegend: cfg.extraLegend || [],
    });
    var swapping = false;
    // the control shows each layer's size, not what is in view
    var box = map._cpControl && map._cpControl.getContainer();
    (cfg.layers || []).forEach(function (m) {
      var cb = box && box.querySelector('input[data-layer="' + CSS.escape(m.id) + '"]');
      if (cb && cb.nextSibling) cb.nextSibling.textContent = " " + m.title + " (" + m.count + ")";
    });

    function swap(id, data) {
      var e = cp.layers[id], old = e.layer, on = map.hasLayer(old);
      var layer = new cp.CompactLayer(data);
      layer.options.pane = "overlayPane";
      data.show = e.data.show;
      swapping = true;
      if (on) map.removeLayer(old);
      e.layer = layer;
      e.data = data;
      if (on) map.addLayer(layer);
      swapping = false;
      cp.refresh(map);
    }

    // layers with at most BATCH_MAX features come in one /api/view request; bigger ones alone
    var BATCH_MAX = 5000;
    var batch = { ctrl: null, seq: 0 };

    function viewQuery() {
      var b = map.getBounds().pad(0.2), z = map.getZoom();
      var bbox = [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -85), Math.min(b.getEast(), 180), Math.min(b.getNorth(), 85)]
        .map(function (v) { return v.toFixed(6); }).join(",");
      return "bbox=" + bbox + "&zoom=" + z;
    }

    function request(st, url, ids, key, unpack) {
      if (st.ctrl) st.ctrl.abort();  // the view moved on: the older answer is not wanted
      var ctrl = new AbortController(), seq = ++st.seq;
      st.ctrl = ctrl;
      cp.pending++;
      fetch(url, { credentials: "same-origin", signal: ctrl.signal, headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error(ids.join(",") + ": HTTP " + r.status);
          return r.json();
        })
        .then(function (data) {
          if (seq !== st.seq) return;
          unpack(data).forEach(function (d) {
            swap(d.id, d);
            dynamic[d.id].loaded = key;
          });
          cp.fetches++;
        })
        .catch(function (err) {
          if (err.name !== "AbortError") cp.fetchErrors.push(String(err));
        })
        .finally(function () { cp.pending--; if (st.ctrl === ctrl) st.ctrl = null; });
    }

    function refreshAll() {
      var key = viewKey(map), q = viewQuery(), small = [];
      Object.keys(dynamic).forEach(function (id) {
        var e = cp.layers[id], st = dynamic[id];
        if (!e || !map.hasLayer(e.layer) || st.loaded === key) return;  // hidden layers are never fetched
        if ((e.data.count || 0) <= BATCH_MAX) { small.push(id); return; }
        request(st, "/api/layers/" + encodeURIComponent(id) + "?" + q, [id], key, function (d) { return [d]; });
      });
      if (small.length) {
        request(batch, "/api/view?layers=" + small.map(encodeURIComponent).join(",") + "&" + q, small, key,
          function (d) { return d.layers; });
      }
    }
    var timer = null;
    function schedule() {
      if (timer) clearTimeout(timer);
      timer = setTimeout(refreshAll, 150);  // once the map has settled
    }
    map.on("moveend", schedule);
    map.on("layeradd", function (ev) {
      if (swapping) return;
      Object.keys(dynamic).forEach(function (id) {
        if (cp.layers[id].layer === ev.layer) dynamic[id].loaded = null;
      });
      schedule();
    });
    refreshAll();
    cp.map = map;
    return map;
  };

  function start() {
    var div = document.getElementById("cp-map");
    if (!div || !div.dataset.page) return;
    var page = JSON.parse(div.dataset.page);
    if (page.map) cp.serverMap(div, page.map);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
