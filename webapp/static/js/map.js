// The one map module of every page (alert, manual alert, order, phone, camera,
// coverage and assessment heat maps). A map is an element with data-map whose
// data-map-src names a JSON block built by webapp/gis/maps.py: district
// outline, townships with names, GIS parcels by layer colour with a legend and
// labels, cameras with their viewing direction, points, and tiles under it when
// a tile server is configured. Names from data go in as text (textContent),
// never as HTML; the attribution is plain text. Options are data attributes:
//   data-map-pick="latInputId,lonInputId"   click to pick a place (manual alert)
//   data-map-camera-select="css selector"  a camera click picks it in that select
//   data-map-live-url=".../__CODE__"       a camera click opens its live page
//   data-map-status-url="..."              camera status colours refreshed every 10 s
//   data-map-scroll="off"                  no scroll-wheel zoom (pages that scroll)
(function () {
  "use strict";
  if (!window.L) return;
  var STATUS_COLOURS = { online: "#1e9e3c", offline: "#c62828", stuck: "#e69500", frozen: "#e69500", unknown: "#777" };
  var PARCEL_LABEL_ZOOM = 14;

  function textEl(value, className) {
    var el = document.createElement("span");
    if (className) el.className = className;
    el.textContent = value == null ? "" : String(value);
    return el;
  }
  function label(latlng, text, className) {
    return L.marker(latlng, { interactive: false, keyboard: false,
      icon: L.divIcon({ className: className, html: textEl(text), iconSize: null }) });
  }

  // Plain-text attribution (Leaflet's own prefix is HTML with a flag).
  var TextAttribution = L.Control.extend({
    options: { position: "bottomright", text: "" },
    onAdd: function () {
      var div = L.DomUtil.create("div", "leaflet-control-attribution map-attribution");
      div.textContent = this.options.text;
      return div;
    }
  });
  var Legend = L.Control.extend({
    options: { position: "topright", items: [] },
    onAdd: function () {
      var div = L.DomUtil.create("div", "map-legend");
      this.options.items.forEach(function (item) {
        var row = document.createElement("div");
        var swatch = document.createElement("span");
        swatch.className = "map-swatch";
        swatch.style.backgroundColor = item.colour;
        swatch.style.borderColor = item.colour;
        row.appendChild(swatch);
        row.appendChild(textEl(item.name));
        div.appendChild(row);
      });
      return div;
    }
  });

  // A wedge from the camera along its view direction, past the event point.
  function viewCone(cam, target) {
    var lenM = target ? Math.max(500, L.latLng(cam.lat, cam.lon).distanceTo(L.latLng(target.lat, target.lon)) * 1.3) : 3000;
    var pts = [[cam.lat, cam.lon]];
    var half = Math.max(1.5, Math.min((cam.hfov || 20) / 2, 60));
    for (var a = cam.azimuth - half; a <= cam.azimuth + half + 0.01; a += half / 4) {
      var rad = a * Math.PI / 180;
      pts.push([cam.lat + (lenM * Math.cos(rad)) / 110574,
                cam.lon + (lenM * Math.sin(rad)) / (111320 * Math.cos(cam.lat * Math.PI / 180))]);
    }
    return L.polygon(pts, { color: "#1565c0", weight: 1, fillOpacity: 0.12, interactive: false });
  }

  function setView(map, data) {
    var points = (data.points || []).map(function (p) { return [p.lat, p.lon]; });
    var cameras = (data.cameras || []).map(function (c) { return [c.lat, c.lon]; });
    var cells = data.cells || [];
    var o = data.overlay;
    if (o && o.bounds) {
      map.fitBounds([[o.bounds[0], o.bounds[1]], [o.bounds[2], o.bounds[3]]]);
    } else if (cells.length) {
      map.fitBounds(L.latLngBounds(cells.map(function (c) { return [c.lat, c.lon]; })).pad(0.3), { maxZoom: 14 });
    } else if (points.length && data.fit !== "district") {
      if (points.length > 1 || cameras.length) map.fitBounds(L.latLngBounds(points.concat(cameras)).pad(0.2), { maxZoom: 16 });
      else map.setView(points[0], 15);
    } else if (cameras.length && data.fit !== "district") {
      map.fitBounds(L.latLngBounds(cameras), { padding: [20, 20], maxZoom: 15 });
    } else if (data.district) {
      map.fitBounds(L.geoJSON(data.district).getBounds());
    } else {
      map.setView([37.3, 106.2], 10);
    }
  }

  function draw(el) {
    if (el.getAttribute("data-ready") || !window.L) return null;
    var src = document.getElementById(el.getAttribute("data-map-src"));
    var data;
    try { data = JSON.parse(src ? src.textContent : "{}"); } catch (e) { data = {}; }
    var map = L.map(el, { attributionControl: false, scrollWheelZoom: el.getAttribute("data-map-scroll") !== "off" });
    var tiles = data.tiles || {};
    if (tiles.url) L.tileLayer(tiles.url, { maxZoom: 19 }).addTo(map);
    map.addControl(new TextAttribution({ text: ["Leaflet", tiles.url ? tiles.attribution : ""].filter(Boolean).join(" | ") }));
    L.control.scale({ imperial: false }).addTo(map);
    // The view first: layers sized in metres and permanent labels need it.
    setView(map, data);

    if (data.district) {
      L.geoJSON(data.district, { interactive: false,
        style: { color: "#4a6b2a", weight: 2.5, fill: !tiles.url, fillColor: "#f1f4ea", fillOpacity: 0.6 } }).addTo(map);
    }
    (data.townships || []).forEach(function (t) {
      var layer = L.geoJSON(t.geometry, { interactive: false,
        style: { color: "#78909c", weight: 1.5, dashArray: "6 4", fill: false } }).addTo(map);
      var at = t.label || layer.getBounds().getCenter();
      label(at, t.name, "township-label").addTo(map);
    });

    var parcelLabels = L.layerGroup();
    (data.parcels || []).forEach(function (p) {
      var layer = L.geoJSON(p.geometry, { style: { color: p.colour || "#555", weight: 1, fillOpacity: 0.2 } })
        .bindTooltip(textEl(p.layer_name + " " + (p.name || p.code))).addTo(map);
      if (p.label) label(p.label, p.name || p.code, "parcel-label").addTo(parcelLabels);
    });
    function toggleParcelLabels() {
      if (map.getZoom() >= PARCEL_LABEL_ZOOM) parcelLabels.addTo(map); else parcelLabels.remove();
    }
    map.on("zoomend", toggleParcelLabels);
    if ((data.legend || []).length) map.addControl(new Legend({ items: data.legend }));

    var event = (data.points || []).filter(function (p) { return p.kind === "event"; })[0] || null;
    var markers = {};
    var camSelect = el.getAttribute("data-map-camera-select");
    var liveUrl = el.getAttribute("data-map-live-url");
    (data.cameras || []).forEach(function (c) {
      if (c.azimuth !== null && c.azimuth !== undefined) viewCone(c, event).addTo(map);
      var colour = c.status ? (STATUS_COLOURS[c.status] || "#777") : "#0d3b66";
      var m = L.circleMarker([c.lat, c.lon], { radius: c.kind === "tower" ? 7 : 5, weight: 2, color: colour, fillOpacity: 0.8 })
        .bindTooltip(textEl(c.code + " " + (c.name || ""))).addTo(map);
      m.on("click", function (evt) {
        L.DomEvent.stopPropagation(evt);
        var select = camSelect && document.querySelector(camSelect);
        if (select) select.value = c.code;
        else if (liveUrl) window.location = liveUrl.replace("__CODE__", encodeURIComponent(c.code));
      });
      markers[c.code] = m;
    });

    // The 95% uncertainty ellipse of a detected position (GeoJSON Feature).
    if (data.uncertainty) {
      L.geoJSON(data.uncertainty, { interactive: false,
        style: { color: "#c62828", weight: 1, dashArray: "4 3", fillOpacity: 0.08 } }).addTo(map);
    }

    var pointFit = [];
    (data.points || []).forEach(function (p) {
      var isEvent = p.kind === "event";
      var colour = isEvent ? "#c62828" : "#1565c0";
      var m = L.circleMarker([p.lat, p.lon], { radius: isEvent ? 8 : 6, color: colour, fillColor: colour,
        fillOpacity: 0.8, dashArray: p.estimated ? "4" : null }).addTo(map);
      if (p.label) m.bindTooltip(textEl(p.label), { permanent: !isEvent, direction: "right" });
      pointFit.push([p.lat, p.lon]);
    });
    if (event && pointFit.length > 1) {
      pointFit.slice(1).forEach(function (ll) { L.polyline([[event.lat, event.lon], ll], { color: "#6b7785", dashArray: "4 4", weight: 1.5, interactive: false }).addTo(map); });
    }

    var cells = data.cells || [];
    var max = cells.reduce(function (m, c) { return Math.max(m, c.count); }, 1);
    var overlay = data.overlay;
    toggleParcelLabels();

    cells.forEach(function (c) {
      var w = c.count / max;
      // Radius in metres and opacity grow with the count, so dense cells read as hot.
      L.circle([c.lat, c.lon], { radius: 250 + 650 * Math.sqrt(w), stroke: false,
        fillColor: w > 0.66 ? "#b71c1c" : (w > 0.33 ? "#ef6c00" : "#fbc02d"), fillOpacity: 0.35 + 0.45 * w })
        .bindTooltip(textEl(c.township + " · " + c.count)).addTo(map);
    });

    if (overlay && overlay.url) {
      var image = L.imageOverlay(overlay.url, [[overlay.bounds[0], overlay.bounds[1]], [overlay.bounds[2], overlay.bounds[3]]],
        { opacity: 0.8, interactive: false }).addTo(map);
      // One camera's own viewshed, or all of them again.
      document.querySelectorAll("[data-viewshed]").forEach(function (a) {
        a.addEventListener("click", function (evt) {
          evt.preventDefault();
          var code = a.getAttribute("data-viewshed");
          image.setUrl(overlay.url + (code ? "&camera=" + encodeURIComponent(code) : ""));
        });
      });
    }

    var pick = el.getAttribute("data-map-pick");
    if (pick) {
      var ids = pick.split(",");
      var lat = document.getElementById(ids[0]), lon = document.getElementById(ids[1]);
      var marker = null;
      var place = function (latlng) { if (marker) marker.setLatLng(latlng); else marker = L.marker(latlng).addTo(map); };
      if (lat && lon && lat.value && lon.value) { place([+lat.value, +lon.value]); map.setView([+lat.value, +lon.value], 13); }
      map.on("click", function (evt) {
        if (!lat || !lon) return;
        lat.value = evt.latlng.lat.toFixed(6);
        lon.value = evt.latlng.lng.toFixed(6);
        place(evt.latlng);
      });
    }

    var statusUrl = el.getAttribute("data-map-status-url");
    if (statusUrl) {
      setInterval(function () {
        fetch(statusUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
          d.cameras.forEach(function (c) { if (markers[c.code]) markers[c.code].setStyle({ color: STATUS_COLOURS[c.status] || "#777" }); });
        }).catch(function () {});
      }, 10000);
    }
    el.setAttribute("data-ready", "1");
    window.nrscMaps[el.id || "map"] = map;
    return map;
  }

  function drawAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-map]"), draw);
  }
  window.nrscMaps = window.nrscMaps || {};
  window.nrscMap = { draw: draw, drawAll: drawAll };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { drawAll(); });
  else drawAll();
  // Maps that arrive in an htmx swap.
  document.addEventListener("htmx:afterSettle", function (evt) { drawAll(evt.target); });
})();
