/* cityplan.js - compact canvas layers and map chrome for cityplan maps.
 * Needs only Leaflet 1.9. Written for cityplan; no external code.
 * Everything user-supplied is put into the page with textContent, never innerHTML.
 */
(function () {
  "use strict";
  var cp = (window.cityplan = window.cityplan || {});
  cp.layers = {};
  cp.order = [];
  cp.errors = cp.errors || [];
  cp.measuring = false;
  // the chrome's own texts in the city's languages (cp.init's opts.texts: key -> text); the
  // bilingual default otherwise
  cp.texts = cp.texts || {};
  function tr(key, text) {
    return Object.prototype.hasOwnProperty.call(cp.texts, key) ? cp.texts[key] : text;
  }
  var TILE = 256;
  var MAXLAT = 85.0511287798;

  window.addEventListener("error", function (e) {
    cp.errors.push(String(e.message || e));
  });

  // ------------------------------------------------------------ decoding
  function mercY(lat) {
    lat = Math.max(Math.min(lat, MAXLAT), -MAXLAT);
    var s = Math.sin((lat * Math.PI) / 180);
    return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
  }
  function mercX(lng) {
    return (lng + 180) / 360;
  }
  function unY(y) {
    return (360 / Math.PI) * Math.atan(Math.exp((0.5 - y) * 2 * Math.PI)) - 90;
  }
  // polyline-encoded, delta-coded integers of normalised Web Mercator x, y (units of 2^-28)
  // -> flat [x0, y0, x1, y1, ...]; the projection was done in Python, none per vertex here
  var MERC = Math.pow(2, 28);
  function decode(str) {
    // at least two characters per vertex, so str.length bounds the number of values
    var out = new Float64Array(str.length), x = 0, y = 0, i = 0, n = str.length, k = 0;
    while (i < n) {
      for (var c = 0; c < 2; c++) {
        var b, shift = 1, result = 0;
        do {
          b = str.charCodeAt(i++) - 63;
          result += (b & 31) * shift;
          shift *= 32;
        } while (b >= 32);
        var v = result % 2 ? -(result + 1) / 2 : result / 2;
        if (c === 0) x += v;
        else y += v;
      }
      out[k++] = x / MERC;
      out[k++] = y / MERC;
    }
    return out.subarray(0, k);
  }
  cp.decode = decode;

  function prepare(data) {
    var feats = [], kind = data.kind;
    var g = data.geoms;
    for (var i = 0; i < g.length; i++) {
      var parts = [], bb = [Infinity, Infinity, -Infinity, -Infinity];
      var raw = kind === "point" ? [[g[i]]] : kind === "line" ? g[i].map(function (s) { return [s]; }) : g[i];
      for (var p = 0; p < raw.length; p++) {
        var rings = [];
        for (var r = 0; r < raw[p].length; r++) {
          var ring = decode(raw[p][r]);
          for (var j = 0; j < ring.length; j += 2) {
            if (ring[j] < bb[0]) bb[0] = ring[j];
            if (ring[j] > bb[2]) bb[2] = ring[j];
            if (ring[j + 1] < bb[1]) bb[1] = ring[j + 1];
            if (ring[j + 1] > bb[3]) bb[3] = ring[j + 1];
          }
          rings.push(ring);
        }
        parts.push(rings);
      }
      feats.push({ parts: parts, bbox: bb, ill: data.ill ? !!data.ill[i] : !!data.illustrative });
    }
    return feats;
  }

  function buildGrid(feats) {
    var bb = [Infinity, Infinity, -Infinity, -Infinity];
    feats.forEach(function (f) {
      bb[0] = Math.min(bb[0], f.bbox[0]); bb[1] = Math.min(bb[1], f.bbox[1]);
      bb[2] = Math.max(bb[2], f.bbox[2]); bb[3] = Math.max(bb[3], f.bbox[3]);
    });
    var n = 64, w = (bb[2] - bb[0]) / n || 1e-9, h = (bb[3] - bb[1]) / n || 1e-9, cells = {};
    feats.forEach(function (f, idx) {
      var x0 = Math.max(0, Math.floor((f.bbox[0] - bb[0]) / w)), x1 = Math.min(n - 1, Math.floor((f.bbox[2] - bb[0]) / w));
      var y0 = Math.max(0, Math.floor((f.bbox[1] - bb[1]) / h)), y1 = Math.min(n - 1, Math.floor((f.bbox[3] - bb[1]) / h));
      for (var x = x0; x <= x1; x++) for (var y = y0; y <= y1; y++) (cells[x + ":" + y] = cells[x + ":" + y] || []).push(idx);
    });
    return { bb: bb, w: w, h: h, n: n, cells: cells };
  }

  function pointInRings(x, y, rings) {
    var inside = false;
    for (var r = 0; r < rings.length; r++) {
      var c = rings[r];
      for (var i = 0, j = c.length - 2; i < c.length; j = i, i += 2) {
        if (c[i + 1] > y !== c[j + 1] > y && x < ((c[j] - c[i]) * (y - c[i + 1])) / (c[j + 1] - c[i + 1]) + c[i]) inside = !inside;
      }
    }
    return inside;
  }
  function segDist2(px, py, ax, ay, bx, by) {
    var dx = bx - ax, dy = by - ay, t = dx || dy ? ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy) : 0;
    t = Math.max(0, Math.min(1, t));
    var ex = ax + t * dx - px, ey = ay + t * dy - py;
    return ex * ex + ey * ey;
  }

  // ------------------------------------------------------------ the layer
  var CompactLayer = L.Renderer.extend({
    options: { padding: 0.1 },
    initialize: function (data, feats) {
      L.Renderer.prototype.initialize.call(this, {});
      this.data = data;
      this.feats = feats || prepare(data);
      this.grid = buildGrid(this.feats);
      this.highlight = -1;
    },
    _initContainer: function () {
      this._container = document.createElement("canvas");
      this._ctx = this._container.getContext("2d");
      this._container.style.pointerEvents = "none";
    },
    _destroyContainer: function () {
      L.DomUtil.remove(this._container);
      delete this._ctx;
      delete this._container;
    },
    _update: function () {
      if (this._map._animatingZoom && this._bounds) return;
      L.Renderer.prototype._update.call(this);
      var b = this._bounds, c = this._container, size = b.getSize(), m = L.Browser.retina ? 2 : 1;
      L.DomUtil.setPosition(c, b.min);
      c.width = m * size.x;
      c.height = m * size.y;
      c.style.width = size.x + "px";
      c.style.height = size.y + "px";
      this._ctx.setTransform(m, 0, 0, m, -m * b.min.x, -m * b.min.y);
      this._draw();
    },
    _updatePaths: function () {},
    _draw: function () {
      var ctx = this._ctx, map = this._map, d = this.data, st = d.style, kind = d.kind;
      if (!ctx || !map) return;
      var scale = TILE * Math.pow(2, map.getZoom()), o = map.getPixelOrigin(), b = this._bounds;
      ctx.save();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, this._container.width, this._container.height);
      ctx.restore();
      var vx0 = (b.min.x + o.x) / scale, vy0 = (b.min.y + o.y) / scale, vx1 = (b.max.x + o.x) / scale, vy1 = (b.max.y + o.y) / scale;
      var self = this;
      if (d.colors) {
        // choropleth: one fill per feature
        self.feats.forEach(function (f, idx) {
          if (f.bbox[2] < vx0 || f.bbox[0] > vx1 || f.bbox[3] < vy0 || f.bbox[1] > vy1) return;
          ctx.beginPath();
          self._trace(ctx, f, scale, o);
          ctx.globalAlpha = st.fillOpacity || 0.6;
          ctx.fillStyle = d.colors[idx];
          ctx.fill("evenodd");
          ctx.globalAlpha = 1;
          ctx.setLineDash([]);
          ctx.lineWidth = st.weight || 1;
          ctx.strokeStyle = st.color;
          ctx.stroke();
        });
      }
      // features of one style go out in batches: one huge path is slow to fill (Skia tessellation)
      var BATCH = 200, minPx = 1.5 / scale;
      [false, true].forEach(function (ill) {
        if (d.colors) return;
        var n = 0;
        var dash = ill || st.dash ? (st.dash || "6 4").split(" ").map(Number) : [];
        var fillOn = kind !== "line" && st.fill !== false;
        var alpha = ill ? (st.fillOpacity || 0.35) * 0.6 : st.fillOpacity || 0.35;
        function flush() {
          if (!n) return;
          ctx.setLineDash(dash);
          if (fillOn) {
            ctx.globalAlpha = alpha;
            ctx.fillStyle = st.fill || st.color;
            ctx.fill("evenodd");
            ctx.globalAlpha = 1;
          }
          ctx.lineWidth = st.weight || 1;
          ctx.strokeStyle = st.color;
          ctx.stroke();
          ctx.beginPath();
          n = 0;
        }
        ctx.beginPath();
        var feats = self.feats;
        for (var idx = 0; idx < feats.length; idx++) {
          var f = feats[idx];
          if (f.ill !== ill || f.bbox[2] < vx0 || f.bbox[0] > vx1 || f.bbox[3] < vy0 || f.bbox[1] > vy1) continue;
          if (kind !== "point" && f.bbox[2] - f.bbox[0] < minPx && f.bbox[3] - f.bbox[1] < minPx) {
            // under 1.5 px: its bounding box is all the eye can see
            ctx.rect(f.bbox[0] * scale - o.x, f.bbox[1] * scale - o.y, Math.max(1, (f.bbox[2] - f.bbox[0]) * scale),
              Math.max(1, (f.bbox[3] - f.bbox[1]) * scale));
          } else {
            self._trace(ctx, f, scale, o);
          }
          if (++n >= BATCH) flush();
        }
        flush();
      });
      if (this.highlight >= 0) {
        ctx.beginPath();
        this._trace(ctx, this.feats[this.highlight], scale, o);
        ctx.setLineDash([]);
        ctx.lineWidth = (st.weight || 1) + 3;
        ctx.strokeStyle = "#00e5ff";
        ctx.stroke();
      }
    },
    _trace: function (ctx, f, scale, o) {
      var kind = this.data.kind, r = this.data.style.radius || 4;
      for (var p = 0; p < f.parts.length; p++) {
        for (var q = 0; q < f.parts[p].length; q++) {
          var c = f.parts[p][q];
          if (kind === "point") {
            var px = c[0] * scale - o.x, py = c[1] * scale - o.y;
            ctx.moveTo(px + r, py);
            ctx.arc(px, py, r, 0, 2 * Math.PI);
            continue;
          }
          var lx = c[0] * scale - o.x, ly = c[1] * scale - o.y, last = c.length - 2;
          ctx.moveTo(lx, ly);
          for (var i = 2; i < c.length; i += 2) {
            var x = c[i] * scale - o.x, y = c[i + 1] * scale - o.y;
            // skip vertices within half a pixel of the last one drawn (keep the last vertex)
            if (i !== last && Math.abs(x - lx) + Math.abs(y - ly) < 0.5) continue;
            ctx.lineTo(x, y);
            lx = x;
            ly = y;
          }
          if (kind === "polygon") ctx.closePath();
        }
      }
    },
    hit: function (latlng) {
      var map = this._map, scale = TILE * Math.pow(2, map.getZoom());
      var x = mercX(latlng.lng), y = mercY(latlng.lat), g = this.grid, kind = this.data.kind;
      var cx = Math.floor((x - g.bb[0]) / g.w), cy = Math.floor((y - g.bb[1]) / g.h);
      var tol = ((this.data.style.radius || 4) + (this.data.style.weight || 1) + 3) / scale;
      var found = -1, seen = {};
      for (var dx = -1; dx <= 1; dx++) for (var dy = -1; dy <= 1; dy++) {
        var cell = g.cells[cx + dx + ":" + (cy + dy)];
        if (!cell) continue;
        for (var k = 0; k < cell.length; k++) {
          var idx = cell[k];
          if (seen[idx]) continue;
          seen[idx] = 1;
          var f = this.feats[idx];
          if (x < f.bbox[0] - tol || x > f.bbox[2] + tol || y < f.bbox[1] - tol || y > f.bbox[3] + tol) continue;
          if (this._hitOne(f, x, y, tol, kind) && idx > found) found = idx;
        }
      }
      return found;
    },
    _hitOne: function (f, x, y, tol, kind) {
      for (var p = 0; p < f.parts.length; p++) {
        if (kind === "polygon" && this.data.style.fill !== false && pointInRings(x, y, f.parts[p])) return true;
        for (var q = 0; q < f.parts[p].length; q++) {
          var c = f.parts[p][q];
          if (kind === "point") {
            if ((c[0] - x) * (c[0] - x) + (c[1] - y) * (c[1] - y) <= tol * tol) return true;
            continue;
          }
          for (var i = 2; i < c.length; i += 2) if (segDist2(x, y, c[i - 2], c[i - 1], c[i], c[i + 1]) <= tol * tol) return true;
        }
      }
      return false;
    },
    featureBounds: function (idx) {
      var bb = this.feats[idx].bbox;
      return L.latLngBounds([unY(bb[3]), bb[0] * 360 - 180], [unY(bb[1]), bb[2] * 360 - 180]);
    },
    setHighlight: function (idx) {
      this.highlight = idx;
      if (this._map) this._draw();
    },
  });
  cp.CompactLayer = CompactLayer;

  // ------------------------------------------------------------ popups
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  cp.el = el;
  function fmt(v) {
    if (v === null || v === undefined || v === "") return "";
    if (typeof v === "number") return Math.abs(v) >= 1000 ? v.toLocaleString("en-US", { maximumFractionDigits: 0 }) : String(Math.round(v * 1000) / 1000);
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }
  cp.featureName = function (d, idx) {
    var i = d.fields.indexOf("name");
    var v = i >= 0 ? d.rows[idx][i] : null;
    return v === null || v === undefined || v === "" ? d.title + " #" + (idx + 1) : String(v);
  };
  cp.popupContent = function (d, idx) {
    var box = el("div", "cp-popup");
    box.appendChild(el("div", "cp-title", cp.featureName(d, idx)));
    box.appendChild(el("div", "cp-layer", d.title));
    var ill = d.ill ? !!d.ill[idx] : !!d.illustrative;
    if (ill) box.appendChild(el("div", "cp-ill", tr("illustrative_site", "示意 illustrative - not a real site") + (d.note ? ": " + d.note : "")));
    var t = el("table", "cp-attrs");
    d.fields.forEach(function (f, i) {
      var v = d.rows[idx][i];
      if (f === "name" || v === null || v === undefined || v === "") return;
      var tr = el("tr");
      tr.appendChild(el("th", null, d.labels[i]));
      tr.appendChild(el("td", null, fmt(v)));
      t.appendChild(tr);
    });
    box.appendChild(t);
    box.appendChild(el("div", "cp-src", d.source));
    return box;
  };

  // ------------------------------------------------------------ map-level wiring
  cp.addLayer = function (map, data) {
    var layer = new CompactLayer(data);
    layer.options.pane = "overlayPane";
    cp.layers[data.id] = { layer: layer, data: data, count: data.geoms.length, map: map };
    cp.order.push(data.id);
    return layer;
  };

  function topHit(map, latlng) {
    for (var i = cp.order.length - 1; i >= 0; i--) {
      var e = cp.layers[cp.order[i]];
      if (e.map !== map || !map.hasLayer(e.layer)) continue;
      var idx = e.layer.hit(latlng);
      if (idx >= 0) return { entry: e, idx: idx };
    }
    return null;
  }
  cp.openFeature = function (map, id, idx, latlng) {
    var e = cp.layers[id];
    if (!map.hasLayer(e.layer)) {
      map.addLayer(e.layer);
      cp.refresh(map);
    }
    Object.keys(cp.layers).forEach(function (k) { if (cp.layers[k].layer.highlight >= 0) cp.layers[k].layer.setHighlight(-1); });
    e.layer.setHighlight(idx);
    L.popup({ maxWidth: 360 }).setLatLng(latlng || e.layer.featureBounds(idx).getCenter()).setContent(cp.popupContent(e.data, idx)).openOn(map);
  };

  cp.init = function (map, opts) {
    opts = opts || {};
    if (opts.texts) cp.texts = opts.texts;
    var tip = L.tooltip({ sticky: true, direction: "top", offset: [0, -8] });
    var pending = null;
    map.on("click", function (ev) {
      if (cp.measuring) return;
      var h = topHit(map, ev.latlng);
      if (h) cp.openFeature(map, h.entry.data.id, h.idx, ev.latlng);
    });
    map.on("mousemove", function (ev) {
      if (pending) return;
      pending = window.requestAnimationFrame(function () {
        pending = null;
        var h = cp.measuring ? null : topHit(map, ev.latlng);
        map.getContainer().style.cursor = h ? "pointer" : "";
        if (h) {
          tip.setLatLng(ev.latlng).setContent(el("span", null, cp.featureName(h.entry.data, h.idx)));
          if (!map.hasLayer(tip)) tip.addTo(map);
        } else if (map.hasLayer(tip)) {
          map.removeLayer(tip);
        }
      });
    });
    map.on("popupclose", function () {
      Object.keys(cp.layers).forEach(function (k) { if (cp.layers[k].layer.highlight >= 0) cp.layers[k].layer.setHighlight(-1); });
    });
    if (opts.bounds) map.fitBounds(opts.bounds, { animate: false });  // refined by cp.fitClear below
    // layers join the map only now, after the view is set, so each is drawn once
    cp.order.forEach(function (id) {
      var e = cp.layers[id];
      if (e.map === map && e.data.show) map.addLayer(e.layer);
    });
    (opts.attributions || []).forEach(function (a) { map.attributionControl.addAttribution(a); });
    L.control.scale({ imperial: false, maxWidth: 160 }).addTo(map);
    cp.layerControl(map, opts.groups || [], opts.title);
    cp.legend(map, opts.extraLegend || []);
    cp.search(map);
    cp.fullscreen(map);
    cp.measure(map);
    if (opts.minimap) cp.minimap(map, opts.minimap, opts.minimapTiles);
    if (opts.panel) cp.panel(map, opts.panel);
    cp.watchTiles(map);
    cp.fitClear(map, opts.bounds);
    cp.ready = true;
  };

  // ------------------------------------------------------------ open on the data, clear of the controls
  cp.fitClear = function (map, bounds) {
    if (!bounds) return;
    var c = map.getContainer(), W = c.clientWidth, H = c.clientHeight;
    function width(corner) {
      var w = 0;
      c.querySelectorAll(".leaflet-" + corner + " > .leaflet-control").forEach(function (e) { w = Math.max(w, e.offsetWidth); });
      return w ? w + 10 : 0;
    }
    var left = Math.max(width("top.leaflet-left"), width("bottom.leaflet-left"));
    var right = Math.max(width("top.leaflet-right"), width("bottom.leaflet-right"));
    if (left + right > W * 0.6) {  // a small window: keep at least 40 % of it for the data
      var k = (W * 0.6) / (left + right);
      left *= k;
      right *= k;
    }
    map.fitBounds(bounds, { animate: false, paddingTopLeft: [left, 10], paddingBottomRight: [right, 10] });
  };

  // ------------------------------------------------------------ basemap tiles that do not load
  cp.tileFailures = 0;
  cp.tilesLoaded = 0;
  cp.tilesUnavailable = false;
  cp.watchTiles = function (map) {
    var tiles = [];
    map.eachLayer(function (l) { if (l instanceof L.TileLayer) tiles.push(l); });
    if (!tiles.length) {
      map.getContainer().classList.add("cp-no-tiles");
      return;
    }
    function fallback() {
      if (cp.tilesUnavailable) return;
      cp.tilesUnavailable = true;
      [map, cp.minimapMap].forEach(function (m) {
        if (!m) return;
        m.getContainer().classList.add("cp-no-tiles");
        var pane = m.getPane("tilePane");
        if (pane) pane.style.display = "none";
      });
      var n = el("div", "cp-notice", tr("tiles_unavailable", "底图瓦片无法加载 basemap tiles unavailable — neutral background shown"));
      n.setAttribute("role", "status");
      map.getContainer().appendChild(n);
    }
    tiles.forEach(function (t) {
      t.on("tileload", function () { cp.tilesLoaded++; });
      t.on("tileerror", function () {
        cp.tileFailures++;
        if (cp.tilesLoaded === 0 && cp.tileFailures >= 2) fallback();
      });
      t.on("load", function () { if (cp.tilesLoaded === 0 && cp.tileFailures > 0) fallback(); });
    });
  };

  // ------------------------------------------------------------ layer control (grouped)
  cp.layerControl = function (map, groups, title) {
    var C = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        var box = el("div", "cp-box cp-layers leaflet-bar");
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        var head = el("div", "cp-head", title || tr("layers", "Layers 图层"));
        var body = el("div", "cp-body");
        head.addEventListener("click", function () { body.style.display = body.style.display === "none" ? "" : "none"; });
        box.appendChild(head);
        groups.forEach(function (g) {
          var ids = g.layers.filter(function (id) { return cp.layers[id]; });
          if (!ids.length) return;
          body.appendChild(el("div", "cp-group", g.title));
          ids.forEach(function (id) {
            var e = cp.layers[id], lab = el("label", "cp-item"), cb = el("input");
            cb.type = "checkbox";
            cb.checked = map.hasLayer(e.layer);
            cb.dataset.layer = id;
            cb.addEventListener("change", function () {
              if (cb.checked) map.addLayer(e.layer);
              else map.removeLayer(e.layer);
              cp.refresh(map);
            });
            lab.appendChild(cb);
            lab.appendChild(el("span", null, " " + e.data.title + " (" + e.count + ")"));
            body.appendChild(lab);
          });
        });
        box.appendChild(body);
        return box;
      },
    });
    map._cpControl = new C().addTo(map);
  };

  cp.refresh = function (map) {
    var c = map._cpControl && map._cpControl.getContainer();
    if (c) c.querySelectorAll("input[data-layer]").forEach(function (cb) { cb.checked = map.hasLayer(cp.layers[cb.dataset.layer].layer); });
    if (map._cpLegend) map._cpLegend.update();
  };

  // ------------------------------------------------------------ legend
  function swatch(d) {
    var s = el("span", "cp-swatch cp-" + d.kind), st = d.style;
    var dashed = d.illustrative || st.dash;
    if (d.kind === "point") {
      s.style.background = st.color;
    } else if (d.kind === "line") {
      s.style.borderTop = (st.weight || 2) + "px " + (dashed ? "dashed " : "solid ") + st.color;
    } else {
      s.style.border = "2px " + (dashed ? "dashed " : "solid ") + st.color;
      if (st.fill !== false) s.style.background = st.fill || st.color;
    }
    return s;
  }
  cp.legend = function (map, extra) {
    var C = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd: function () {
        this._box = el("div", "cp-box cp-legend");
        L.DomEvent.disableScrollPropagation(this._box);
        this.update();
        return this._box;
      },
      update: function () {
        var box = this._box;
        box.textContent = "";
        var head = el("div", "cp-head", tr("legend", "Legend 图例")), self = this;
        head.title = tr("fold", "click to fold 点击折叠");
        head.addEventListener("click", function () { self._folded = !self._folded; self.update(); });
        box.appendChild(head);
        if (this._folded) return;
        cp.order.forEach(function (id) {
          var e = cp.layers[id];
          if (e.map !== map || !map.hasLayer(e.layer)) return;
          var row = el("div", "cp-legend-row");
          row.dataset.layer = id;
          row.appendChild(swatch(e.data));
          var label = e.data.title;
          var anyIll = e.data.illustrative || (e.data.ill && e.data.ill.some(function (v) { return v; }));
          row.appendChild(el("span", null, " " + label));
          if (anyIll) row.appendChild(el("span", "cp-ill-tag", tr("illustrative_tag", " 示意 illustrative")));
          box.appendChild(row);
        });
        (extra || []).forEach(function (x) {
          box.appendChild(el("div", "cp-group", x.title));
          (x.stops || []).forEach(function (s) {
            var row = el("div", "cp-legend-row"), sw = el("span", "cp-swatch cp-polygon");
            sw.style.background = s[1];
            row.appendChild(sw);
            row.appendChild(el("span", null, " " + s[0]));
            box.appendChild(row);
          });
        });
      },
    });
    map._cpLegend = new C().addTo(map);
  };

  // ------------------------------------------------------------ search over feature names
  cp.search = function (map) {
    var C = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        var box = el("div", "cp-box cp-search");
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        var input = el("input");
        input.type = "search";
        input.placeholder = tr("search", "Search 搜索…");
        var list = el("div", "cp-results");
        box.appendChild(input);
        box.appendChild(list);
        input.addEventListener("input", function () {
          var q = input.value.trim().toLowerCase();
          list.textContent = "";
          if (!q) return;
          var n = 0;
          // layers on the map first (top-most first), then the hidden ones
          var ids = cp.order.slice().reverse();
          ids.sort(function (a, b) { return map.hasLayer(cp.layers[b].layer) - map.hasLayer(cp.layers[a].layer); });
          ids.some(function (id) {
            var e = cp.layers[id];
            if (e.map !== map) return false;
            for (var i = 0; i < e.count && n < 12; i++) {
              var name = cp.featureName(e.data, i);
              if (name.toLowerCase().indexOf(q) < 0) continue;
              n++;
              var item = el("div", "cp-result", name);
              item.appendChild(el("span", "cp-result-layer", " - " + e.data.title));
              item.addEventListener("click", (function (lid, idx) {
                return function () {
                  var lyr = cp.layers[lid].layer;
                  map.fitBounds(lyr.featureBounds(idx), { maxZoom: 16 });
                  cp.openFeature(map, lid, idx);
                };
              })(id, i));
              list.appendChild(item);
            }
            return n >= 12;
          });
          if (!n) list.appendChild(el("div", "cp-result cp-none", tr("no_match", "no match 无结果")));
        });
        return box;
      },
    });
    new C().addTo(map);
  };

  var ICONS = {
    fullscreen: "M3 9V3h6M15 3h6v6M21 15v6h-6M9 21H3v-6",
    measure: "M2 16L16 2l6 6L8 22zM6 12l2 2M9 9l2 2M12 6l2 2",
  };
  function icon(name) {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), path = document.createElementNS(ns, "path");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "18");
    svg.setAttribute("height", "18");
    path.setAttribute("d", ICONS[name]);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "#333");
    path.setAttribute("stroke-width", "2");
    svg.appendChild(path);
    return svg;
  }
  function button(map, pos, name, title, onClick) {
    var C = L.Control.extend({
      options: { position: pos },
      onAdd: function () {
        var bar = el("div", "leaflet-bar cp-button cp-" + name), a = el("a");
        a.appendChild(icon(name));
        a.href = "#";
        a.title = title;
        a.setAttribute("role", "button");
        L.DomEvent.on(a, "click", function (ev) {
          L.DomEvent.stop(ev);
          onClick(a);
        });
        L.DomEvent.disableClickPropagation(bar);
        bar.appendChild(a);
        return bar;
      },
    });
    return new C().addTo(map);
  }

  // ------------------------------------------------------------ fullscreen
  cp.fullscreen = function (map) {
    var c = map.getContainer();
    button(map, "topleft", "fullscreen", tr("fullscreen", "Fullscreen 全屏"), function () {
      if (document.fullscreenElement) document.exitFullscreen();
      else if (c.requestFullscreen) c.requestFullscreen().catch(function () { c.classList.toggle("cp-is-fullscreen"); });
      else c.classList.toggle("cp-is-fullscreen");
      setTimeout(function () { map.invalidateSize(); }, 200);
    });
  };

  // ------------------------------------------------------------ measure (geodesic, Leaflet's map.distance)
  cp.measure = function (map) {
    var pts = [], line = null, label = null;
    function reset() {
      pts = [];
      if (line) map.removeLayer(line);
      if (label) map.removeLayer(label);
      line = label = null;
    }
    function onClick(ev) {
      pts.push(ev.latlng);
      if (!line) line = L.polyline(pts, { color: "#ff00aa", weight: 3, dashArray: "4 4", interactive: false }).addTo(map);
      line.setLatLngs(pts);
      var d = 0;
      for (var i = 1; i < pts.length; i++) d += map.distance(pts[i - 1], pts[i]);
      var text = d >= 1000 ? (d / 1000).toFixed(2) + " km" : Math.round(d) + " m";
      if (!label) label = L.tooltip({ permanent: true, direction: "right" }).setLatLng(ev.latlng).setContent(text).addTo(map);
      else label.setLatLng(ev.latlng).setContent(text);
      cp.lastMeasure = d;
    }
    button(map, "topleft", "measure", tr("measure", "Measure distance 测距 (click points, click the button again to stop)"), function (a) {
      cp.measuring = !cp.measuring;
      a.classList.toggle("cp-active", cp.measuring);
      if (cp.measuring) map.on("click", onClick);
      else {
        map.off("click", onClick);
        reset();
      }
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && cp.measuring) reset();
    });
  };

  // ------------------------------------------------------------ minimap
  cp.minimap = function (map, ids, tiles) {
    var C = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        var div = el("div", "cp-minimap");
        L.DomEvent.disableClickPropagation(div);
        return div;
      },
    });
    var ctl = new C().addTo(map);
    var mini = L.map(ctl.getContainer(), {
      attributionControl: false, zoomControl: false, dragging: false, scrollWheelZoom: false,
      doubleClickZoom: false, boxZoom: false, keyboard: false, touchZoom: false,
    });
    if (tiles) {
      var mt = L.tileLayer(tiles.url, { subdomains: tiles.subdomains, maxZoom: tiles.maxZoom || 18 }).addTo(mini);
      mt.on("tileerror", function () { if (cp.tilesUnavailable) mini.getPane("tilePane").style.display = "none"; });
    }
    ids.forEach(function (id) {
      var e = cp.layers[id];
      if (e) mini.addLayer(new CompactLayer(e.data, e.layer.feats));
    });
    var box = L.rectangle(map.getBounds(), { color: "#ff5500", weight: 1, fillOpacity: 0.1, interactive: false }).addTo(mini);
    function sync() {
      mini.setView(map.getCenter(), Math.max(map.getZoom() - 4, 0), { animate: false });
      box.setBounds(map.getBounds());
    }
    map.on("moveend", sync);
    setTimeout(sync, 0);
    cp.minimapMap = mini;
  };

  // ------------------------------------------------------------ side panel (task targets, progress)
  cp.panel = function (map, p) {
    var C = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        var box = el("div", "cp-box cp-panel");
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        box.appendChild(el("div", "cp-panel-title", p.title));
        if (p.subtitle) box.appendChild(el("div", "cp-panel-sub", p.subtitle));
        (p.sections || []).forEach(function (s) {
          box.appendChild(el("div", "cp-group", s.title));
          var t = el("table", "cp-attrs"), tr = el("tr");
          s.columns.forEach(function (c) { tr.appendChild(el("th", null, c)); });
          t.appendChild(tr);
          s.rows.forEach(function (r) {
            var row = el("tr");
            r.forEach(function (v) { row.appendChild(el("td", null, fmt(v))); });
            t.appendChild(row);
          });
          box.appendChild(t);
        });
        (p.notes || []).forEach(function (n) { box.appendChild(el("div", "cp-note", n)); });
        return box;
      },
    });
    new C().addTo(map);
  };
})();
