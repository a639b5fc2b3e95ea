// Camera pages: the preset mask editor (the maps are static/js/map.js).
(function () {
  "use strict";
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
    document.querySelectorAll(".mask-editor").forEach(initMaskEditor);
  });
})();
