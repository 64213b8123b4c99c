/* The supervision page's map: plan sites completed by a date, with a slider from the first
   completion to the as-of date. Data from /supervision/sites.json; text only through textContent. */
(function () {
  "use strict";
  var DAY = 86400000;

  function iso(t) { return new Date(t).toISOString().slice(0, 10); }

  function draw(div, d) {
    var map = L.map(div, { preferCanvas: true, zoomSnap: 1 });
    var markers = d.sites.map(function (s) {
      var m = L.circleMarker([s.lat, s.lon], {
        radius: 5, color: "#1a9641", weight: s.illustrative ? 1 : 2, dashArray: s.illustrative ? "2 2" : null,
        fillOpacity: s.illustrative ? 0.2 : 0.7
      });
      var tip = document.createElement("span");
      tip.textContent = s.name + " (" + s.task_id + ", " + s.district + ") 完成 completed " +
        s.periods.map(function (p) { return p[0] + (p[1] ? "–" + p[1] : ""); }).join(", ") +
        (s.illustrative ? " · 示意 illustrative place" : "");
      m.bindTooltip(tip);
      m.periods = s.periods;
      return m;
    });
    var group = L.featureGroup(markers).addTo(map);
    if (markers.length) { map.fitBounds(group.getBounds().pad(0.1)); } else { map.setView([0, 0], 2); }
    var slider = document.getElementById("cp-sites-slider");
    var label = document.getElementById("cp-sites-day");
    var count = document.getElementById("cp-sites-count");
    var t0 = Date.parse(d.start + "T00:00:00Z");
    var t1 = Date.parse(d.as_of + "T00:00:00Z");
    slider.min = "0";
    slider.max = String(Math.max(0, Math.round((t1 - t0) / DAY)));
    slider.value = slider.max;
    function update() {
      var day = iso(t0 + Number(slider.value) * DAY);
      var shown = 0;
      markers.forEach(function (m) {
        var on = m.periods.some(function (p) { return p[0] <= day && (p[1] === null || day < p[1]); });
        if (on) { shown += 1; if (!group.hasLayer(m)) group.addLayer(m); }
        else if (group.hasLayer(m)) { group.removeLayer(m); }
      });
      label.textContent = day;
      count.textContent = String(shown);
      div.setAttribute("data-shown", String(shown));
    }
    slider.addEventListener("input", update);
    update();
  }

  function start() {
    var div = document.getElementById("cp-sites-map");
    if (!div || !window.L) return;
    fetch(div.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) { draw(div, d); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
