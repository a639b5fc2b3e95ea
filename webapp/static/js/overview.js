// Leaders' overview: ECharts from data-chart (JSON); the heat map is drawn by
// static/js/map.js. No inline script or style under the CSP.
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

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".ov-chart[data-chart]"), draw);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
