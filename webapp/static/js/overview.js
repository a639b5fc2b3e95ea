// Leaders' overview: ECharts from data-chart (JSON) and a Leaflet heat layer
// from the #heat-data JSON block; no inline script or style under the CSP.
// The same numbers are in the tables beside each chart.
(function () {
  "use strict";
  function parse(text) { try { return JSON.parse(text || "{}"); } catch (e) { return null; } }

  function stacked(data) {
    return {
      grid: { left: 40, right: 10, top: 40, bottom: 40 },
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      xAxis: { type: "category", data: (data.labels || []).map(function (l) { return l.slice(5); }) },
      yAxis: { type: "value", minInterval: 1 },
      series: (data.series || []).map(function (s) {
        return { type: "bar", stack: "all", name: s.name, data: s.values };
      })
    };
  }
  function rates(data) {
    return {
      grid: { left: 40, right: 10, top: 20, bottom: 90 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.labels || [], axisLabel: { rotate: 30 } },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: [{ type: "bar", data: data.values || [], label: { show: true, position: "top" } }]
    };
  }
  function draw(el) {
    if (!window.echarts) { return; }
    var data = parse(el.getAttribute("data-chart"));
    if (!data) { return; }
    var chart = window.echarts.init(el);
    chart.setOption(el.getAttribute("data-kind") === "rate" ? rates(data) : stacked(data));
    el.setAttribute("data-ready", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function textEl(value) {
    var el = document.createElement("span");
    el.textContent = value == null ? "" : String(value);
    return el;
  }
  function heatMap() {
    var el = document.getElementById("heat-map");
    var dataEl = document.getElementById("heat-data");
    if (!el || !dataEl || !window.L) { return; }
    var data = parse(dataEl.textContent) || {};
    var map = L.map(el, { attributionControl: false });
    if (data.tile_url) { L.tileLayer(data.tile_url, { maxZoom: 19 }).addTo(map); }
    var bounds = null;
    (data.townships || []).forEach(function (t) {
      var layer = L.geoJSON(t.geometry, { interactive: false,
        style: { color: "#78909c", weight: 1.5, dashArray: "6 4", fill: false } }).addTo(map);
      bounds = bounds ? bounds.extend(layer.getBounds()) : layer.getBounds();
      L.marker(layer.getBounds().getCenter(), { interactive: false,
        icon: L.divIcon({ className: "township-label", html: textEl(t.name) }) }).addTo(map);
    });
    var cells = data.cells || [];
    var max = cells.reduce(function (m, c) { return Math.max(m, c.count); }, 1);
    // The view first: circles sized in metres need the map's projection.
    if (cells.length) {
      map.fitBounds(L.latLngBounds(cells.map(function (c) { return [c.lat, c.lon]; })).pad(0.3), { maxZoom: 14 });
    } else if (bounds) { map.fitBounds(bounds); }
    else { map.setView([37.3, 106.2], 10); }
    var group = L.featureGroup().addTo(map);
    cells.forEach(function (c) {
      var w = c.count / max;
      // Radius in metres grows with the count; opacity too, so dense cells read as hot.
      L.circle([c.lat, c.lon], { radius: 250 + 650 * Math.sqrt(w), stroke: false,
        fillColor: w > 0.66 ? "#b71c1c" : (w > 0.33 ? "#ef6c00" : "#fbc02d"), fillOpacity: 0.35 + 0.45 * w })
        .bindTooltip(textEl(c.township + " · " + c.count)).addTo(group);
    });
    el.setAttribute("data-ready", "1");
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".ov-chart[data-chart]"), draw);
    heatMap();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
