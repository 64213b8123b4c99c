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
      c.style.opacity = cp.opacity[this.data.id] === undefined ? "" : String(cp.opacity[this.data.id]);
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
      // lines coloured by their own colour column (metro lines by line): one stroke per feature
      var ci = d.colorField ? d.fields.indexOf(d.colorField) : -1;
      if (ci >= 0 && kind === "line") {
        self.feats.forEach(function (f, idx) {
          if (f.bbox[2] < vx0 || f.bbox[0] > vx1 || f.bbox[3] < vy0 || f.bbox[1] > vy1) return;
          var c = d.rows[idx] && d.rows[idx][ci];
          ctx.beginPath();
          self._trace(ctx, f, scale, o);
          ctx.setLineDash(f.ill || st.dash ? (st.dash || "6 4").split(" ").map(Number) : []);
          ctx.lineWidth = st.weight || 1;
          ctx.strokeStyle = cp.safeColour(c) || st.color;
          ctx.stroke();
        });
      }
      // features of one style go out in batches: one huge path is slow to fill (Skia tessellation)
      var BATCH = 200, minPx = 1.5 / scale;
      [false, true].forEach(function (ill) {
        if (d.colors || (ci >= 0 && kind === "line")) return;
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
      var sel = cp.selection[d.id];
      if (sel && sel.size) {
        ctx.beginPath();
        for (var si = 0; si < this.feats.length; si++) if (sel.has(cp.fidOf(d, si))) this._trace(ctx, this.feats[si], scale, o);
        ctx.setLineDash([]);
        ctx.lineWidth = (st.weight || 1) + 3;
        ctx.strokeStyle = "#ff00aa";
        ctx.stroke();
      }
      if (this.highlight >= 0 && this.feats[this.highlight]) {
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
  // a feature's name: the layer's name column and English name column (payload nameField/enField,
  // found from the data), "太阳岛 Sun Island"; the layer title and number when it has none
  function cell(d, idx, field) {
    var i = field ? d.fields.indexOf(field) : -1;
    var v = i >= 0 && d.rows[idx] ? d.rows[idx][i] : null;
    return v === null || v === undefined ? "" : String(v).trim();
  }
  cp.featureName = function (d, idx) {
    var a = cell(d, idx, d.nameField === undefined ? "name" : d.nameField), b = cell(d, idx, d.enField);
    if (a && b && cp.normalise(a) !== cp.normalise(b)) return a + " " + b;
    return a || b || d.title + " #" + ((d.fids ? d.fids[idx] : idx) + 1);
  };
  cp.fidOf = function (d, idx) { return d.fids && d.fids.length ? d.fids[idx] : idx; };
  cp.selection = {};  // layer id -> Set of fids selected (attribute table)
  cp.opacity = {};    // layer id -> 0..1
  cp.safeColour = function (c) { return typeof c === "string" && /^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/.test(c) ? c : null; };
  cp.popupContent = function (d, idx) {
    var box = el("div", "cp-popup");
    box.appendChild(el("div", "cp-title", cp.featureName(d, idx)));
    box.appendChild(el("div", "cp-layer", d.title));
    var ill = d.ill ? !!d.ill[idx] : !!d.illustrative;
    if (ill) box.appendChild(el("div", "cp-ill", tr("illustrative_site", "示意 illustrative - not a real site") + (d.note ? ": " + d.note : "")));
    var t = el("table", "cp-attrs");
    d.fields.forEach(function (f, i) {
      var v = d.rows[idx][i];
      if (f === (d.nameField || "name") || v === null || v === undefined || v === "") return;
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
  cp.openFeature = function (map, id, idx, latlng, popupOpts) {
    var e = cp.layers[id];
    if (!map.hasLayer(e.layer)) {
      map.addLayer(e.layer);
      cp.refresh(map);
    }
    Object.keys(cp.layers).forEach(function (k) { if (cp.layers[k].layer.highlight >= 0) cp.layers[k].layer.setHighlight(-1); });
    e.layer.setHighlight(idx);
    L.popup(L.extend({ maxWidth: 360 }, popupOpts || {})).setLatLng(latlng || e.layer.featureBounds(idx).getCenter()).setContent(cp.popupContent(e.data, idx)).openOn(map);
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
    // the view in the URL: a map that is the page (the one map, a saved HTML map), not one in a page
    var keep = opts.keepHash !== false;
    var state = keep ? cp.readHash() : {};
    if (state.layers) cp.order.forEach(function (id) { cp.layers[id].data.show = state.layers.indexOf(id) >= 0; });
    (state.opacity || []).forEach(function (p) { if (cp.layers[p[0]]) cp.opacity[p[0]] = p[1]; });
    if (state.view) map.setView([state.view[1], state.view[2]], state.view[0], { animate: false });
    else if (opts.bounds) map.fitBounds(opts.bounds, { animate: false });  // refined by cp.fitClear below
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
    cp.measureArea(map);
    cp.locate(map);
    (opts.buttons || []).forEach(function (b) { b(map); });
    if (opts.minimap && !cp.small(map)) cp.minimap(map, opts.minimap, opts.minimapTiles);
    if (opts.panel) cp.panel(map, opts.panel);
    cp.watchTiles(map);
    if (!state.view) cp.fitClear(map, opts.bounds);
    if (keep) cp.keepHash(map);
    cp.ready = true;
  };

  // ------------------------------------------------------------ open on the data, clear of the controls
  // A corner's stack of controls taller than a third of the map keeps the data clear of its width
  // (a column of buttons); a shorter one (a folded box, the credits line) of its height only.
  cp.fitClear = function (map, bounds) {
    if (!bounds) return;
    var c = map.getContainer(), W = c.clientWidth, H = c.clientHeight;
    function corner(v, h) {
      var w = 0, ht = 0;
      c.querySelectorAll(".leaflet-" + v + ".leaflet-" + h + " > .leaflet-control").forEach(function (e) {
        w = Math.max(w, e.offsetWidth);
        ht += e.offsetHeight + 10;
      });
      return { w: w ? w + 10 : 0, h: ht, tall: ht > H / 3 };
    }
    var tl = corner("top", "left"), tr = corner("top", "right"), bl = corner("bottom", "left"), br = corner("bottom", "right");
    var left = Math.max(tl.tall ? tl.w : 0, bl.tall ? bl.w : 0), right = Math.max(tr.tall ? tr.w : 0, br.tall ? br.w : 0);
    var top = Math.max(tl.tall ? 0 : tl.h, tr.tall ? 0 : tr.h, 10), bottom = Math.max(bl.tall ? 0 : bl.h, br.tall ? 0 : br.h, 10);
    var most = cp.small(map) ? 0.25 : 0.6;  // a phone: the data may pass under the (narrow) buttons
    if (left + right > W * most) {  // keep at least 40 % (a phone: 75 %) of the width for the data
      var k = (W * most) / (left + right);
      left *= k;
      right *= k;
    }
    if (top + bottom > H * 0.6) {
      var kk = (H * 0.6) / (top + bottom);
      top *= kk;
      bottom *= kk;
    }
    cp.fitPadding = [left, top, right, bottom];
    map.fitBounds(bounds, { animate: false, paddingTopLeft: [left, top], paddingBottomRight: [right, bottom] });
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
        var head = el("button", "cp-head cp-toggle", tr("layers", "图层 Layers"));
        head.type = "button";
        head.title = title || "";
        var body = el("div", "cp-body");
        function fold(folded) {
          body.style.display = folded ? "none" : "";
          head.setAttribute("aria-expanded", folded ? "false" : "true");
          box.classList.toggle("cp-folded", folded);
        }
        head.addEventListener("click", function () { fold(body.style.display !== "none"); });
        fold(cp.small(map));
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
            var row = el("div", "cp-layer-row");
            row.appendChild(lab);
            var op = el("input", "cp-opacity");
            op.type = "range"; op.min = "0"; op.max = "100"; op.step = "10";
            op.value = String(Math.round(100 * (cp.opacity[id] === undefined ? 1 : cp.opacity[id])));
            op.title = tr("opacity", "透明度 opacity");
            op.setAttribute("aria-label", tr("opacity", "透明度 opacity") + " " + e.data.title);
            op.dataset.opacity = id;
            op.addEventListener("input", function () { cp.setOpacity(map, id, Number(op.value) / 100); });
            row.appendChild(op);
            var tb = el("button", "cp-table-btn", tr("table_button", "表"));
            tb.type = "button";
            tb.title = tr("attribute_table", "属性表 attribute table");
            tb.dataset.table = id;
            tb.addEventListener("click", function () { cp.attributeTable(map, id); });
            row.appendChild(tb);
            body.appendChild(row);
          });
        });
        box.appendChild(body);
        return box;
      },
    });
    map._cpControl = new C().addTo(map);
  };

  // a phone, or a map in a small box (the district dashboard's side map): controls start folded
  cp.small = function (map) {
    var c = map && map.getContainer();
    return window.innerWidth < 600 || window.innerHeight < 500 || !!(c && (c.clientWidth < 800 || c.clientHeight < 450));
  };
  cp.setOpacity = function (map, id, v) {
    cp.opacity[id] = v;
    var e = cp.layers[id], c = e && e.layer._container;
    if (c) c.style.opacity = String(v);
    if (cp.onViewChange) cp.onViewChange(map);
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
        var head = el("button", "cp-head cp-toggle", tr("legend", "图例 Legend")), self = this;
        head.type = "button";
        head.title = tr("fold", "点击折叠 click to fold");
        if (this._folded === undefined) this._folded = cp.small(map);
        head.setAttribute("aria-expanded", this._folded ? "false" : "true");
        head.addEventListener("click", function () { self._folded = !self._folded; self.update(); });
        box.appendChild(head);
        box.classList.toggle("cp-folded", !!this._folded);
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
          // a layer coloured per feature (metro lines by line): one row per colour, named by its features
          var ci = e.data.colorField ? e.data.fields.indexOf(e.data.colorField) : -1;
          if (ci >= 0) {
            var seen = {};
            e.data.rows.forEach(function (r, i) {
              var c = cp.safeColour(r[ci]);
              if (!c) return;
              var nm = cp.featureName(e.data, i);
              seen[c] = seen[c] || [];
              if (seen[c].indexOf(nm) < 0) seen[c].push(nm);
            });
            Object.keys(seen).forEach(function (c) {
              var sub = el("div", "cp-legend-row cp-legend-sub"), sw = swatch(e.data);
              sw.style.borderTopColor = c;
              sw.style.borderColor = c;
              if (e.data.kind !== "line") sw.style.background = c;
              sub.dataset.colour = c;
              sub.appendChild(sw);
              sub.appendChild(el("span", null, " " + seen[c].join(" · ")));
              box.appendChild(sub);
            });
          }
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

  // ------------------------------------------------------------ search (names zh/en, ids, addresses)
  // The same normalisation and ranking as cityplan.services.search (the server's /api/search):
  // real features before illustrative ones, then exact < prefix < word start < substring, then
  // the kind of column (name, English name, pinyin, id, address), layer order, shorter names.
  var NAME_COLUMNS = ["name", "name_zh", "name:zh", "line", "title", "label"];
  var EN_COLUMNS = ["name_en", "name:en", "line_en", "title_en"];
  var PINYIN_COLUMNS = ["name_pinyin", "name:zh_pinyin", "pinyin"];
  var ID_COLUMNS = ["ref", "osm_ref", "adcode", "division_code", "site_id", "task_id", "code", "id"];
  var ADDRESS_COLUMNS = ["address", "addr", "addr:full", "addr:street", "addr_street"];
  cp.normalise = function (t) {
    if (t === null || t === undefined) return "";
    return String(t).normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "");
  };
  function wordStarts(t) {
    var w = String(t).normalize("NFKC").toLowerCase().split(/[\s\-_/·,.()（）]+/).filter(function (x) { return x; });
    var out = [];
    for (var i = 1; i < w.length; i++) out.push(cp.normalise(w.slice(i).join("")));
    return out;
  }
  cp.matchRank = function (q, key, raw, isId) {
    if (!q || !key) return null;
    if (key === q) return 0;
    if (key.indexOf(q) === 0) return 1;
    if (key.indexOf(q) < 0) return null;
    if (!isId && wordStarts(raw).some(function (s) { return s.indexOf(q) === 0; })) return 2;
    return 3;
  };
  function searchColumns(d) {
    var f = d.fields, out = [];
    var name = d.nameField !== undefined ? d.nameField : NAME_COLUMNS.filter(function (c) { return f.indexOf(c) >= 0; })[0];
    var en = d.enField !== undefined ? d.enField : EN_COLUMNS.filter(function (c) { return f.indexOf(c) >= 0; })[0];
    if (name && f.indexOf(name) >= 0) out.push([name, 0]);
    if (en && f.indexOf(en) >= 0) out.push([en, 1]);
    PINYIN_COLUMNS.forEach(function (c) { if (f.indexOf(c) >= 0) out.push([c, 2]); });
    ID_COLUMNS.forEach(function (c) { if (f.indexOf(c) >= 0 && c !== name) out.push([c, 3]); });
    ADDRESS_COLUMNS.forEach(function (c) { if (f.indexOf(c) >= 0) out.push([c, 4]); });
    return out;
  }
  // every layer's features (the embedded data), best first: [{layer, idx, label, title, ill, rank}]
  cp.localSearch = function (map, query, limit) {
    var q = cp.normalise(query), hits = [];
    if (!q) return hits;
    cp.order.forEach(function (id, order) {
      var e = cp.layers[id];
      if (e.map !== map) return;
      var d = e.data, cols = searchColumns(d);
      for (var i = 0; i < d.rows.length; i++) {
        var best = null;
        cols.forEach(function (ck) {
          var raw = d.rows[i][d.fields.indexOf(ck[0])];
          if (raw === null || raw === undefined || raw === "") return;
          var how = cp.matchRank(q, cp.normalise(raw), String(raw), ck[1] === 3);
          if (how === null) return;
          var label = cp.featureName(d, i);
          var ill = d.ill ? !!d.ill[i] : !!d.illustrative;
          var rank = [ill ? 1 : 0, how, ck[1], order, label.length];
          if (!best || cmp(rank, best.rank) < 0) best = { layer: id, idx: i, fid: cp.fidOf(d, i), label: label, title: d.title, illustrative: ill, rank: rank };
        });
        // pinyin the payload carries (tai yang dao; initials tyd, from the start only)
        var py = !cols.some(function (ck) { return ck[1] === 2; }) && d.pinyin && d.pinyin[i];
        if (py) [[py[0], 2], [py[1], 5]].forEach(function (pk) {
          var how = cp.matchRank(q, cp.normalise(pk[0]), pk[0], pk[1] === 5);
          if (how === null || (pk[1] === 5 && how > 1)) return;
          var label = cp.featureName(d, i), ill = d.ill ? !!d.ill[i] : !!d.illustrative;
          var rank = [ill ? 1 : 0, how, pk[1], order, label.length];
          if (!best || cmp(rank, best.rank) < 0) best = { layer: id, idx: i, fid: cp.fidOf(d, i), label: label, title: d.title, illustrative: ill, rank: rank };
        });
        if (best) hits.push(best);
      }
    });
    // the layers' own titles ("太阳岛 Sun Island"): a hit is the layer (fid -1), zoomed to as a whole
    cp.order.forEach(function (id, order) {
      var e = cp.layers[id];
      if (e.map !== map || !e.layer.feats.length) return;
      var t = e.data.title, zh = (t.match(/[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/g) || []).join("");
      var rest = t.replace(/[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/g, " ");
      var hows = [t, zh, rest].map(function (k) { return cp.matchRank(q, cp.normalise(k), t, false); })
        .filter(function (h) { return h !== null; });
      if (!hows.length) return;
      var g = e.layer.grid.bb;
      hits.push({ layer: id, idx: -1, fid: -1, label: t, title: t, illustrative: !!e.data.illustrative,
        bounds: [g[0] * 360 - 180, unY(g[3]), g[2] * 360 - 180, unY(g[1])],
        rank: [e.data.illustrative ? 1 : 0, Math.min.apply(null, hows), Math.min.apply(null, hows) === 0 ? 0 : 6, order, t.length] });
    });
    function cmp(a, b) {
      for (var k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k] - b[k];
      return 0;
    }
    hits.sort(function (a, b) { return cmp(a.rank, b.rank) || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0); });
    return hits.slice(0, limit || 20);
  };

  // select a hit: zoom to it and open it (the served map waits for the view's data: cp.goTo there)
  cp.goTo = function (map, hit) {
    var e = cp.layers[hit.layer];
    if (!e) return;
    if (hit.bounds) {
      map.fitBounds([[hit.bounds[1], hit.bounds[0]], [hit.bounds[3], hit.bounds[2]]], { maxZoom: 16, animate: false });
    } else {
      map.fitBounds(e.layer.featureBounds(hit.idx), { maxZoom: 16, animate: false });
    }
    if (hit.fid < 0) {  // a layer: shown, the whole of it in view
      if (!map.hasLayer(e.layer)) { map.addLayer(e.layer); cp.refresh(map); }
    } else if (cp.openByFid) cp.openByFid(map, hit.layer, hit.fid);
    else cp.openFeature(map, hit.layer, hit.idx, null, { autoPan: false });
    cp.lastGoTo = hit;
  };

  cp.search = function (map) {
    var C = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        var box = el("div", "cp-box cp-search");
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        var input = el("input");
        input.type = "search";
        input.placeholder = tr("search", "搜索 Search…");
        input.setAttribute("aria-label", tr("search", "搜索 Search"));
        input.setAttribute("role", "combobox");
        input.setAttribute("aria-autocomplete", "list");
        var list = el("div", "cp-results");
        list.setAttribute("role", "listbox");
        box.appendChild(input);
        box.appendChild(list);
        var hits = [], active = -1, seq = 0, timer = null, wantFirst = false;
        function mark(i) {
          active = i;
          list.querySelectorAll(".cp-result").forEach(function (r, k) {
            r.classList.toggle("cp-active", k === active);
            r.setAttribute("aria-selected", k === active ? "true" : "false");
            if (k === active) r.scrollIntoView({ block: "nearest" });
          });
        }
        function choose(i) {
          if (i < 0 || i >= hits.length) return;
          cp.goTo(map, hits[i]);
          list.textContent = "";
          hits = [];
        }
        function show(found) {
          list.textContent = "";
          hits = found;
          active = -1;
          found.forEach(function (h, i) {
            var item = el("div", "cp-result", h.label);
            item.setAttribute("role", "option");
            item.appendChild(el("span", "cp-result-layer", " - " + h.title));
            if (h.illustrative) item.appendChild(el("span", "cp-ill-tag", tr("illustrative_tag", " 示意 illustrative")));
            item.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
            list.appendChild(item);
          });
          if (!found.length) list.appendChild(el("div", "cp-result cp-none", tr("no_match", "无结果 no match")));
          cp.searchShown = (cp.searchShown || 0) + 1;
          if (wantFirst) { wantFirst = false; choose(0); }
        }
        function run() {
          var q = input.value.trim(), my = ++seq;
          if (!q) { list.textContent = ""; hits = []; return; }
          if (cp.remoteSearch) {
            cp.remoteSearch(q).then(function (found) { if (my === seq) show(found); })
              .catch(function (err) { cp.fetchErrors && cp.fetchErrors.push(String(err)); });
          } else {
            show(cp.localSearch(map, q, 12));
          }
        }
        input.addEventListener("input", function () {
          if (timer) clearTimeout(timer);
          wantFirst = false;
          timer = setTimeout(function () { timer = null; run(); }, cp.remoteSearch ? 120 : 0);
        });
        input.addEventListener("keydown", function (ev) {
          if (ev.key === "ArrowDown") { ev.preventDefault(); if (hits.length) mark(Math.min(active + 1, hits.length - 1)); }
          else if (ev.key === "ArrowUp") { ev.preventDefault(); if (hits.length) mark(Math.max(active - 1, 0)); }
          else if (ev.key === "Enter") {
            ev.preventDefault();
            if (hits.length && !timer) choose(active >= 0 ? active : 0);
            else { wantFirst = true; if (timer) clearTimeout(timer); timer = null; run(); }  // typed faster than the answers
          }
          else if (ev.key === "Escape") { input.value = ""; list.textContent = ""; hits = []; input.blur(); }
        });
        return box;
      },
    });
    new C().addTo(map);
  };

  var ICONS = {
    fullscreen: "M3 9V3h6M15 3h6v6M21 15v6h-6M9 21H3v-6",
    measure: "M2 16L16 2l6 6L8 22zM6 12l2 2M9 9l2 2M12 6l2 2",
    area: "M4 4h16v16H4zM4 12h4M12 4v4M20 12h-4M12 20v-4",
    locate: "M12 2v4M12 18v4M2 12h4M18 12h4M12 8a4 4 0 1 0 0.01 0z",
    print: "M6 9V2h12v7M6 18H3v-7h18v7h-3M6 14h12v8H6z",
    bookmark: "M6 2h12v20l-6-5-6 5z",
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
  cp.button = function (map, pos, name, title, onClick) { return button(map, pos, name, title, onClick); };
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


  // ------------------------------------------------------------ the view in the URL (#map=z/lat/lon&layers=a,b)
  cp.readHash = function () {
    var out = {}, h = (window.location.hash || "").replace(/^#/, "");
    h.split("&").forEach(function (kv) {
      var i = kv.indexOf("="), k = i < 0 ? kv : kv.slice(0, i), v = i < 0 ? "" : decodeURIComponent(kv.slice(i + 1));
      if (k === "map") {
        var p = v.split("/").map(Number);
        if (p.length === 3 && p.every(isFinite) && p[0] >= 0 && p[0] <= 22 && Math.abs(p[1]) <= 90 && Math.abs(p[2]) <= 180) out.view = p;
      } else if (k === "layers") {
        out.layers = v ? v.split(",") : [];
      } else if (k === "opacity") {
        out.opacity = v.split(",").map(function (x) { var j = x.lastIndexOf(":"); return [x.slice(0, j), Math.max(0, Math.min(1, Number(x.slice(j + 1)) / 100))]; })
          .filter(function (x) { return x[0] && isFinite(x[1]); });
      }
    });
    return out;
  };
  cp.viewHash = function (map) {
    var c = map.getCenter(), z = map.getZoom();
    var shown = cp.order.filter(function (id) { return cp.layers[id].map === map && map.hasLayer(cp.layers[id].layer); });
    var h = "map=" + z + "/" + c.lat.toFixed(5) + "/" + c.lng.toFixed(5) + "&layers=" + shown.map(encodeURIComponent).join(",");
    var op = Object.keys(cp.opacity).filter(function (id) { return cp.opacity[id] < 1; });
    if (op.length) h += "&opacity=" + op.map(function (id) { return encodeURIComponent(id) + ":" + Math.round(cp.opacity[id] * 100); }).join(",");
    return h;
  };
  cp.keepHash = function (map) {
    var timer = null;
    function write() {
      timer = null;
      if (!cp.swapping) window.history.replaceState(null, "", "#" + cp.viewHash(map));
    }
    cp.onViewChange = function () { if (!timer) timer = setTimeout(write, 100); };
    map.on("moveend layeradd layerremove", cp.onViewChange);
    window.addEventListener("hashchange", function () {
      var st = cp.readHash();
      if (st.view) map.setView([st.view[1], st.view[2]], st.view[0]);
      if (st.layers) cp.order.forEach(function (id) {
        var e = cp.layers[id], want = st.layers.indexOf(id) >= 0;
        if (e.map !== map) return;
        if (want && !map.hasLayer(e.layer)) map.addLayer(e.layer);
        if (!want && map.hasLayer(e.layer)) map.removeLayer(e.layer);
      });
      cp.refresh(map);
    });
    write();
  };

  // ------------------------------------------------------------ area (geodesic, on the sphere of radius 6378137 m)
  // the spherical-excess formula of a ring of lon/lat points (as Leaflet.draw's geodesicArea)
  cp.geodesicArea = function (latlngs) {
    var R = 6378137, n = latlngs.length, a = 0, rad = Math.PI / 180;
    if (n < 3) return 0;
    for (var i = 0; i < n; i++) {
      var p1 = latlngs[i], p2 = latlngs[(i + 1) % n];
      a += (p2.lng - p1.lng) * rad * (2 + Math.sin(p1.lat * rad) + Math.sin(p2.lat * rad));
    }
    return Math.abs((a * R * R) / 2);
  };
  cp.measureArea = function (map) {
    var pts = [], poly = null, label = null;
    function reset() {
      pts = [];
      if (poly) map.removeLayer(poly);
      if (label) map.removeLayer(label);
      poly = label = null;
    }
    function onClick(ev) {
      pts.push(ev.latlng);
      if (!poly) poly = L.polygon(pts, { color: "#ff00aa", weight: 2, dashArray: "4 4", fillOpacity: 0.15, interactive: false }).addTo(map);
      poly.setLatLngs(pts);
      var a = cp.geodesicArea(pts);
      var text = a >= 1e6 ? (a / 1e6).toFixed(3) + " km²" : a >= 1e4 ? (a / 1e4).toFixed(2) + " ha 公顷" : Math.round(a) + " m²";
      if (!label) label = L.tooltip({ permanent: true, direction: "right" }).setLatLng(ev.latlng).setContent(text).addTo(map);
      else label.setLatLng(ev.latlng).setContent(text);
      cp.lastArea = a;
    }
    button(map, "topleft", "area", tr("measure_area", "测面积 Measure area (geodesic; click corners, click the button again to stop)"), function (a) {
      var on = !a.classList.contains("cp-active");
      if (on && cp.measuring) return;  // one measurement at a time
      cp.measuring = on;
      a.classList.toggle("cp-active", on);
      if (on) map.on("click", onClick);
      else {
        map.off("click", onClick);
        reset();
      }
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") reset();
    });
  };

  // ------------------------------------------------------------ where am I (phones: browser geolocation)
  cp.locate = function (map) {
    if (!navigator.geolocation || !(cp.small(map) || "ontouchstart" in window)) return;
    var mark = null;
    button(map, "topleft", "locate", tr("locate", "定位 My location"), function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        var ll = [pos.coords.latitude, pos.coords.longitude];
        if (mark) map.removeLayer(mark);
        mark = L.circle(ll, { radius: Math.max(pos.coords.accuracy || 0, 10), color: "#1a73e8", weight: 2, interactive: false }).addTo(map);
        map.setView(ll, Math.max(map.getZoom(), 16));
      }, function (err) {
        var n = el("div", "cp-notice", tr("locate_failed", "无法定位 location unavailable") + ": " + err.message);
        map.getContainer().appendChild(n);
        setTimeout(function () { L.DomUtil.remove(n); }, 4000);
      }, { enableHighAccuracy: true, timeout: 10000 });
    });
  };

  // ------------------------------------------------------------ attribute table
  // rows of a layer (in view or all), sortable and filterable by column; a click selects a feature
  // (shown on the map), a double click zooms to it. cp.tableSource (the served map) answers from the
  // server, which also exports the same selection; the offline map filters its embedded rows.
  cp.localTable = function (map, id, q) {
    var e = cp.layers[id], d = e.data, b = map.getBounds(), rows = [], bounds = [];
    var x0 = (b.getWest() + 180) / 360, x1 = (b.getEast() + 180) / 360, y0 = mercY(b.getNorth()), y1 = mercY(b.getSouth());
    for (var i = 0; i < d.rows.length; i++) {
      var f = e.layer.feats[i];
      if (q.scope === "view" && (f.bbox[2] < x0 || f.bbox[0] > x1 || f.bbox[3] < y0 || f.bbox[1] > y1)) continue;
      var ok = Object.keys(q.filters).every(function (c) {
        var want = cp.normalise(q.filters[c]), j = d.fields.indexOf(c);
        return !want || (j >= 0 && cp.normalise(d.rows[i][j]).indexOf(want) >= 0);
      });
      if (!ok) continue;
      rows.push([cp.fidOf(d, i)].concat(d.rows[i]));
      var fb = e.layer.featureBounds(i);
      bounds.push([fb.getWest(), fb.getSouth(), fb.getEast(), fb.getNorth()]);
    }
    if (q.sort) {
      var k = d.fields.indexOf(q.sort) + 1, idx = rows.map(function (_, n) { return n; });
      idx.sort(function (a, c) {
        var u = rows[a][k], v = rows[c][k];
        if (u === null || u === undefined) return 1;
        if (v === null || v === undefined) return -1;
        var r = typeof u === "number" && typeof v === "number" ? u - v : String(u).localeCompare(String(v));
        return q.desc ? -r : r;
      });
      rows = idx.map(function (n) { return rows[n]; });
      bounds = idx.map(function (n) { return bounds[n]; });
    }
    return Promise.resolve({ layer: id, title: d.title, fields: d.fields, labels: d.labels, rows: rows, bounds: bounds,
      total: rows.length, truncated: false });
  };

  cp.attributeTable = function (map, id) {
    var c = map.getContainer(), old = c.querySelector(".cp-table");
    if (old) L.DomUtil.remove(old);
    var e = cp.layers[id];
    if (!e) return;
    var q = { scope: "view", filters: {}, sort: null, desc: false }, seq = 0, last = null;
    var box = el("div", "cp-box cp-table");
    box.dataset.layer = id;
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    var bar = el("div", "cp-table-bar");
    bar.appendChild(el("span", "cp-head", tr("attribute_table", "属性表 Attribute table") + ": " + e.data.title));
    var scope = el("select");
    [["view", tr("in_view", "视图内 in view")], ["all", tr("all_features", "全部 all")]].forEach(function (o) {
      var opt = el("option", null, o[1]);
      opt.value = o[0];
      scope.appendChild(opt);
    });
    scope.addEventListener("change", function () { q.scope = scope.value; load(); });
    bar.appendChild(scope);
    var count = el("span", "cp-table-count");
    bar.appendChild(count);
    var exports = el("span", "cp-table-export");
    bar.appendChild(exports);
    var clear = el("button", null, tr("clear_selection", "清除选择 clear selection"));
    clear.type = "button";
    clear.addEventListener("click", function () { cp.selection[id] = new Set(); redraw(); render(last); });
    bar.appendChild(clear);
    var close = el("button", "cp-table-close", "×");
    close.type = "button";
    close.title = tr("close", "关闭 close");
    close.addEventListener("click", function () { L.DomUtil.remove(box); map.off("moveend", onMove); });
    bar.appendChild(close);
    box.appendChild(bar);
    var wrap = el("div", "cp-table-wrap"), table = el("table", "cp-attr-table");
    wrap.appendChild(table);
    box.appendChild(wrap);
    c.appendChild(box);
    cp.selection[id] = cp.selection[id] || new Set();
    function redraw() { var l = cp.layers[id].layer; if (l._map) l._draw(); }
    function exportLinks() {
      exports.textContent = "";
      if (!cp.exportUrl) return;
      ["csv", "xlsx", "geojson", "gpkg"].forEach(function (fmt) {
        var a = el("a", "cp-export", fmt.toUpperCase());
        a.href = cp.exportUrl(map, id, q, fmt, Array.from(cp.selection[id]));
        a.dataset.format = fmt;
        a.setAttribute("download", "");
        exports.appendChild(a);
      });
    }
    var filterTimer = null;
    function render(res) {
      if (!res) return;
      last = res;
      table.textContent = "";
      var head = el("tr"), filt = el("tr");
      res.fields.forEach(function (f, i) {
        var th = el("th"), b = el("button", "cp-sort", (res.labels[i] || f) + (q.sort === f ? (q.desc ? " ▼" : " ▲") : ""));
        b.type = "button";
        b.dataset.field = f;
        b.addEventListener("click", function () {
          q.desc = q.sort === f ? !q.desc : false;
          q.sort = f;
          load();
        });
        th.appendChild(b);
        head.appendChild(th);
        var fth = el("th"), inp = el("input");
        inp.type = "search";
        inp.dataset.field = f;
        inp.placeholder = tr("filter", "筛选 filter");
        inp.value = q.filters[f] || "";
        inp.addEventListener("input", function () {
          q.filters[f] = inp.value;
          if (filterTimer) clearTimeout(filterTimer);
          filterTimer = setTimeout(load, 250);
        });
        fth.appendChild(inp);
        filt.appendChild(fth);
      });
      table.appendChild(head);
      table.appendChild(filt);
      var sel = cp.selection[id], shown = Math.min(res.rows.length, 1000);
      for (var r = 0; r < shown; r++) {
        var row = res.rows[r], tr_ = el("tr");
        tr_.dataset.fid = String(row[0]);
        if (sel.has(row[0])) tr_.className = "cp-selected";
        for (var k = 1; k < row.length; k++) tr_.appendChild(el("td", null, fmt(row[k])));
        tr_.addEventListener("click", (function (fid, t) {
          return function () {
            if (sel.has(fid)) sel.delete(fid); else sel.add(fid);
            t.classList.toggle("cp-selected", sel.has(fid));
            redraw();
            exportLinks();
            count.textContent = countText(res);
          };
        })(row[0], tr_));
        tr_.addEventListener("dblclick", (function (b) {
          return function () { if (b) map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { maxZoom: 17 }); };
        })(res.bounds && res.bounds[r]));
        table.appendChild(tr_);
      }
      count.textContent = countText(res);
      exportLinks();
      cp.tableShown = (cp.tableShown || 0) + 1;
    }
    function countText(res) {
      return " " + res.total + " " + tr("rows", "行 rows") + (res.truncated ? " (" + tr("first", "前") + " " + res.rows.length + ")" : "") +
        (cp.selection[id].size ? " · " + cp.selection[id].size + " " + tr("selected", "已选 selected") : "");
    }
    function load() {
      var my = ++seq, src = cp.tableSource || cp.localTable;
      src(map, id, q).then(function (res) {
        if (my !== seq) return;
        // keep the filter box being typed in
        var focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.field : null;
        render(res);
        if (focused) { var f = table.querySelector('input[data-field="' + CSS.escape(focused) + '"]'); if (f) { f.focus(); f.setSelectionRange(f.value.length, f.value.length); } }
      }).catch(function (err) { count.textContent = " " + String(err); });
    }
    function onMove() { if (q.scope === "view") load(); }
    map.on("moveend", onMove);
    load();
    return box;
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
