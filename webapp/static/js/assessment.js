// Assessment charts: every .chart element carries its data in data-chart
// (JSON: labels, values); the same numbers are in the table beside it.
(function () {
  "use strict";
  function draw(el) {
    if (!window.echarts) { return; }
    var data;
    try { data = JSON.parse(el.getAttribute("data-chart") || "{}"); } catch (e) { return; }
    var kind = el.getAttribute("data-kind") || "bar";
    var chart = window.echarts.init(el);
    chart.setOption({
      grid: { left: 40, right: 10, top: 20, bottom: 80 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.labels || [], axisLabel: { rotate: kind === "bar" ? 40 : 0 } },
      yAxis: { type: "value", min: 0, max: 100 },
      series: [{ type: kind, data: data.values || [], label: { show: kind === "bar", position: "top" } }]
    });
    el.setAttribute("data-ready", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function init() { Array.prototype.forEach.call(document.querySelectorAll(".chart[data-chart]"), draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
