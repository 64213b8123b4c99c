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
  cp.timings = {};      // performance.now() (ms since navigation) when the map started, each layer last got
                        // data, and ("painted:ID") the frame after its first features were drawn

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
    cp.timings.map = performance.now();
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
    // the one map page (map.html.j2) keeps its view in the URL and has print and bookmarks; a map
    // inside another page (review, district, task) does not touch the page's URL
    var fullPage = document.body.classList.contains("cp-fullmap");
    cp.remoteSearch = function (q) {
      return getJson("/api/search?limit=12&q=" + encodeURIComponent(q)).then(function (d) { return d.hits; });
    };
    cp.tableSource = function (m, id, q) { return getJson(attributesUrl(m, id, q, "json", [])); };
    cp.exportUrl = function (m, id, q, fmt, selected) { return attributesUrl(m, id, q, fmt, selected); };
    var pendingOpen = null;
    cp.openByFid = function (m, id, fid) {
      var e = cp.layers[id];
      if (!e) return;
      if (!m.hasLayer(e.layer)) { m.addLayer(e.layer); cp.refresh(m); }
      pendingOpen = { layer: id, fid: fid };
      if (!dynamic[id]) openPending(id);  // a static layer: its data are here already
    };
    function openPending(id) {
      if (!pendingOpen || pendingOpen.layer !== id) return;
      var d = cp.layers[id].data, idx = d.fids ? d.fids.indexOf(pendingOpen.fid) : pendingOpen.fid;
      if (idx < 0 || idx >= d.geoms.length) return;
      pendingOpen = null;
      cp.openFeature(map, id, idx, null, { autoPan: false });
      cp.opened = (cp.opened || 0) + 1;
    }
    // the fit extent a page passes (e.g. a district) wins over the map's; ?fit=W,S,E,N in the URL over both
    var fitParam = new URLSearchParams(window.location.search).get("fit"), fit = cfg.fit || ext;
    if (fitParam) {
      var f = fitParam.split(",").map(Number);
      if (f.length === 4 && f.every(isFinite)) fit = [[f[1], f[0]], [f[3], f[2]]];
    }
    cp.init(map, {
      title: cfg.title, groups: groups, attributions: cfg.attributions || [],
      bounds: fit, panel: cfg.panel || null, extraLegend: cfg.extraLegend || [],
      buttons: fullPage ? [printButton, bookmarks] : [],
      keepHash: fullPage,
    });
    var swapping = false, refreshing = 0;
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
      e.count = Math.max(e.count || 0, data.geoms.length);
      cp.timings[id] = performance.now();
      openPending(id);
      if (!cp.timings["painted:" + id] && data.geoms.length) {  // the first frame drawn with its features
        window.requestAnimationFrame(function () {
          window.requestAnimationFrame(function () { cp.timings["painted:" + id] = cp.timings["painted:" + id] || performance.now(); });
        });
      }
      // the layer control and legend are refreshed once per frame, not once per layer swapped
      if (!refreshing) refreshing = window.requestAnimationFrame(function () { refreshing = 0; cp.refresh(map); });
    }

    // The view is fetched as data tiles (Web-Mercator tiles at zoom - 2, as the server caches them,
    // so every client panning over the same place shares the answers): per tile, the shown layers
    // with at most BATCH_MAX features come in one /api/view request, bigger ones alone. A layer is
    // redrawn once all its tiles are in, features on several tiles counted once (by fid).
    var BATCH_MAX = 5000, LEVELS = 2;
    var batch = { ctrl: null, seq: 0 };

    function viewTiles() {
      var b = map.getBounds().pad(0.2), z = map.getZoom(), tz = Math.max(0, z - LEVELS), n = Math.pow(2, tz);
      function cell(lon, lat) {
        lat = Math.max(-85.0511287798, Math.min(85.0511287798, lat));
        var s = Math.sin(lat * Math.PI / 180);
        var x = (lon + 180) / 360, y = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
        return [Math.min(Math.max(Math.floor(x * n), 0), n - 1), Math.min(Math.max(Math.floor(y * n), 0), n - 1)];
      }
      var a = cell(Math.max(b.getWest(), -180), b.getNorth()), c = cell(Math.min(b.getEast(), 180), b.getSouth());
      var out = [];
      for (var tx = a[0]; tx <= c[0]; tx++) for (var ty = a[1]; ty <= c[1]; ty++) out.push("tile=" + tx + "," + ty + "&zoom=" + z);
      return out;
    }

    function merge(parts) {
      var d = {}, seen = {}, anyIll = parts.some(function (p) { return p.ill; });
      Object.keys(parts[0]).forEach(function (k) { d[k] = parts[0][k]; });
      d.geoms = []; d.rows = []; d.fids = []; d.ill = anyIll ? [] : null;
      d.dense = parts.some(function (p) { return p.dense || p.aggregate; });
      if (d.dense) { d.fields = []; d.labels = []; }
      parts.forEach(function (p) {
        var agg = !p.fids || !p.fids.length;
        p.geoms.forEach(function (g, i) {
          if (!agg) {
            if (seen[p.fids[i]]) return;
            seen[p.fids[i]] = true;
            d.fids.push(p.fids[i]);
          }
          d.geoms.push(g);
          d.rows.push(d.dense ? [] : p.rows[i]);
          if (anyIll) d.ill.push(p.ill ? p.ill[i] : (p.illustrative ? 1 : 0));
        });
      });
      return d;
    }

    function request(st, urls, ids, key, unpack) {
      var want = key + "|" + ids.join(",");
      if (st.ctrl && st.want === want) return;  // already on its way
      if (st.ctrl) st.ctrl.abort();  // the view moved on: the older answers are not wanted
      var ctrl = new AbortController(), seq = ++st.seq;
      st.ctrl = ctrl;
      st.want = want;
      cp.pending++;
      Promise.all(urls.map(function (url) {
        return fetch(url, { credentials: "same-origin", signal: ctrl.signal, headers: { Accept: "application/json" } })
          .then(function (r) {
            if (!r.ok) throw new Error(ids.join(",") + ": HTTP " + r.status);
            return r.json();
          })
          .then(unpack);
      }))
        .then(function (tiles) {
          if (seq !== st.seq) return;
          ids.forEach(function (id, j) {
            swap(id, merge(tiles.map(function (t) { return t[j]; })));
            dynamic[id].loaded = key;
          });
          cp.fetches++;
        })
        .catch(function (err) {
          if (err.name !== "AbortError") cp.fetchErrors.push(String(err));
        })
        .finally(function () { cp.pending--; if (st.ctrl === ctrl) st.ctrl = null; });
    }

    function refreshAll() {
      var key = viewKey(map), tiles = viewTiles(), small = [];
      Object.keys(dynamic).forEach(function (id) {
        var e = cp.layers[id], st = dynamic[id];
        if (!e || !map.hasLayer(e.layer) || st.loaded === key) return;  // hidden layers are never fetched
        if ((e.data.count || 0) <= BATCH_MAX) { small.push(id); return; }
        request(st, tiles.map(function (q) { return "/api/layers/" + encodeURIComponent(id) + "?" + q; }), [id], key,
          function (d) { return [d]; });
      });
      if (small.length) {
        var names = small.map(encodeURIComponent).join(",");
        request(batch, tiles.map(function (q) { return "/api/view?layers=" + names + "&" + q; }), small, key,
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
    cp.timings.ready = performance.now();
    refreshAll();
    cp.map = map;
    return map;
  };

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (d) {
        if (!r.ok) throw new Error(d.error || "HTTP " + r.status);
        return d;
      });
    });
  }
  function bboxOf(map) {
    var b = map.getBounds();
    return [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -90), Math.min(b.getEast(), 180), Math.min(b.getNorth(), 90)]
      .map(function (v) { return v.toFixed(6); }).join(",");
  }
  // the attribute table's (and its exports') URL: the same selection for both
  function attributesUrl(map, id, q, fmt, selected) {
    var p = new URLSearchParams();
    p.set("format", fmt);
    if (selected && selected.length) p.set("fids", selected.join(","));
    else {
      if (q.scope === "view") p.set("bbox", bboxOf(map));
      Object.keys(q.filters).forEach(function (c) { if (q.filters[c]) p.set("f." + c, q.filters[c]); });
    }
    if (q.sort) { p.set("sort", q.sort); if (q.desc) p.set("desc", "1"); }
    return "/api/attributes/" + encodeURIComponent(id) + "?" + p.toString();
  }
  function shownLayers(map) {
    return cp.order.filter(function (id) { return map.hasLayer(cp.layers[id].layer); });
  }
  // the print URL of the view (GET /map/print.pdf, made by the server)
  cp.printUrl = function (map, paper, orient) {
    var p = new URLSearchParams();
    p.set("paper", paper || "A3");
    p.set("orient", orient || "landscape");
    p.set("bbox", bboxOf(map));
    p.set("layers", shownLayers(map).join(","));
    p.set("title", document.title || "");
    return "/map/print.pdf?" + p.toString();
  };
  function printButton(map) {
    cp.button(map, "topleft", "print", "打印 Print (PDF of this view)", function () {
      window.open(cp.printUrl(map), "_blank", "noopener");
    });
  }
  // named views of the user, kept in the map (GET/POST /api/bookmarks)
  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(), Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (d) { if (!r.ok) throw new Error(d.error || "HTTP " + r.status); return d; }); });
  }
  function bookmarks(map) {
    var C = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        var box = cp.el("div", "cp-box cp-bookmarks");
        L.DomEvent.disableClickPropagation(box);
        var head = cp.el("button", "cp-head cp-toggle", "书签 Bookmarks"), body = cp.el("div", "cp-body");
        head.type = "button";
        box.appendChild(head);
        box.appendChild(body);
        var folded = true;
        function fold() { body.style.display = folded ? "none" : ""; box.classList.toggle("cp-folded", folded); }
        head.addEventListener("click", function () { folded = !folded; fold(); if (!folded) load(); });
        fold();
        var pick = cp.el("select"), name = cp.el("input"), save = cp.el("button", null, "保存 Save"), del = cp.el("button", null, "删除 Delete");
        var msg = cp.el("div", "cp-note");
        name.placeholder = "名称 name";
        name.maxLength = 80;
        save.type = del.type = "button";
        [pick, name, save, del, msg].forEach(function (x) { body.appendChild(x); });
        var items = [];
        function load() {
          return getJson("/api/bookmarks").then(function (d) {
            items = d.bookmarks;
            pick.textContent = "";
            var first = cp.el("option", null, "— " + items.length + " —");
            first.value = "";
            pick.appendChild(first);
            items.forEach(function (b, i) { var o = cp.el("option", null, b.name); o.value = String(i); pick.appendChild(o); });
          }).catch(function (e) { msg.textContent = String(e); });
        }
        pick.addEventListener("change", function () {
          var b = items[Number(pick.value)];
          if (!b || pick.value === "") return;
          name.value = b.name;
          window.location.hash = "map=" + b.view + "&layers=" + b.layers.map(encodeURIComponent).join(",");
        });
        save.addEventListener("click", function () {
          var c = map.getCenter();
          post("/api/bookmarks", { name: name.value, view: map.getZoom() + "/" + c.lat.toFixed(5) + "/" + c.lng.toFixed(5), layers: shownLayers(map) })
            .then(function (d) { msg.textContent = "已保存 saved: " + d.bookmark.name; return load(); })
            .catch(function (e) { msg.textContent = String(e); });
        });
        del.addEventListener("click", function () {
          post("/api/bookmarks/delete", { name: name.value })
            .then(function () { msg.textContent = "已删除 deleted"; return load(); })
            .catch(function (e) { msg.textContent = String(e); });
        });
        return box;
      },
    });
    new C().addTo(map);
  }

  function start() {
    var div = document.getElementById("cp-map");
    if (!div || !div.dataset.page) return;
    var page = JSON.parse(div.dataset.page);
    if (page.map) cp.serverMap(div, page.map);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
