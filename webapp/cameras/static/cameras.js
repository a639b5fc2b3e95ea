// Camera pages: the status map (refreshed every 10 s), the coverage overlay
// and the preset mask editor. No framework: Leaflet and the DOM.
(function () {
  "use strict";
  var COLORS = { online: "#1e9e3c", offline: "#c62828", stuck: "#e69500", frozen: "#e69500", unknown: "#777" };

  function initMap(el) {
    if (!window.L) { return; }
    var cams = JSON.parse(el.dataset.cameras || "[]");
    var map = L.map(el, { zoomControl: true });
    if (el.dataset.tiles) { L.tileLayer(el.dataset.tiles, { maxZoom: 18 }).addTo(map); }
    var markers = {};
    var bounds = [];
    cams.forEach(function (c) {
      var m = L.circleMarker([c.lat, c.lon], { radius: c.kind === "tower" ? 8 : 6, weight: 2,
        color: COLORS[c.status] || "#777", fillOpacity: 0.7 }).addTo(map);
      m.bindTooltip(c.code + " " + c.name);
      m.on("click", function () { window.location = el.dataset.liveUrl.replace("__CODE__", encodeURIComponent(c.code)); });
      markers[c.code] = m;
      bounds.push([c.lat, c.lon]);
    });
    if (el.dataset.overlay && el.dataset.bounds) {
      var b = JSON.parse(el.dataset.bounds); // south, west, north, east
      var box = [[b[0], b[1]], [b[2], b[3]]];
      var overlay = L.imageOverlay(el.dataset.overlay, box, { opacity: 0.8, interactive: false }).addTo(map);
      map.fitBounds(box);
      // One camera's own viewshed, or all of them again.
      document.querySelectorAll("[data-viewshed]").forEach(function (a) {
        a.addEventListener("click", function (ev) {
          ev.preventDefault();
          var code = a.dataset.viewshed;
          overlay.setUrl(el.dataset.overlay + (code ? "&camera=" + encodeURIComponent(code) : ""));
        });
      });
    } else if (bounds.length) {
      map.fitBounds(bounds, { padding: [20, 20] });
    } else {
      map.setView([37.3, 106.2], 10);
    }
    if (el.dataset.statusUrl) {
      setInterval(function () {
        fetch(el.dataset.statusUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
          d.cameras.forEach(function (c) { if (markers[c.code]) { markers[c.code].setStyle({ color: COLORS[c.status] || "#777" }); } });
        }).catch(function () {});
      }, 10000);
    }
    el.dataset.ready = "1";
  }

  function initMaskEditor(box) {
    var form = box.parentElement.querySelector("form.mask-form") || box.nextElementSibling;
    var input = form.querySelector("input[name=masks]");
    var canvas = box.querySelector("canvas");
    var polys = JSON.parse(input.value || "[]");
    var current = [];
    function draw() {
      var w = canvas.width = canvas.clientWidth, h = canvas.height = canvas.clientHeight;
      var ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, w, h);
      ctx.lineWidth = 2;
      polys.concat(current.length ? [current] : []).forEach(function (p, i) {
        ctx.beginPath();
        p.forEach(function (pt, j) { (j ? ctx.lineTo : ctx.moveTo).call(ctx, pt[0] * w, pt[1] * h); });
        var closed = i < polys.length;
        if (closed) { ctx.closePath(); ctx.fillStyle = "rgba(0,0,0,0.35)"; ctx.fill(); }
        ctx.strokeStyle = closed ? "#ffeb3b" : "#00e5ff";
        ctx.stroke();
      });
    }
    canvas.addEventListener("click", function (ev) {
      var r = canvas.getBoundingClientRect();
      current.push([Math.round((ev.clientX - r.left) / r.width * 10000) / 10000,
                    Math.round((ev.clientY - r.top) / r.height * 10000) / 10000]);
      draw();
    });
    form.querySelector(".mask-close").addEventListener("click", function () {
      if (current.length >= 3) { polys.push(current); }
      current = [];
      input.value = JSON.stringify(polys);
      draw();
    });
    form.querySelector(".mask-clear").addEventListener("click", function () {
      polys = []; current = []; input.value = "[]"; draw();
    });
    var img = box.querySelector("img");
    if (img.complete) { draw(); } else { img.addEventListener("load", draw); }
    window.addEventListener("resize", draw);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var map = document.getElementById("camera-map");
    if (map) { initMap(map); }
    document.querySelectorAll(".mask-editor").forEach(initMaskEditor);
  });
})();
