/* Draw the dashboard's charts with Chart.js (static/vendor/chartjs), from the figures each block
   prints as JSON beside its canvases (json_script). The tables under the charts hold the same
   figures, so nothing is lost without JavaScript. */
(function () {
  "use strict";
  // One colour per series position: billings/revenue, deferred/unbilled, the MRR movements.
  var PALETTE = {
    billings: ["#1f5f99", "#d97706"],
    balances: ["#b7791f", "#2f855a"],
    mrr: ["#2f855a", "#68d391", "#f6ad55", "#c53030", "#1f4e79"],
    aging: ["#1f5f99"]
  };
  var AGING_COLOURS = ["#2f855a", "#d69e2e", "#dd6b20", "#c53030", "#742a2a"];

  function dataset(block, series, index) {
    var colour = (PALETTE[block] || PALETTE.billings)[index % 5] || "#1f5f99";
    var line = series.type === "line";
    var set = {
      type: series.type,
      label: series.label,
      data: series.data.map(Number),
      backgroundColor: line ? colour : colour + "cc",
      borderColor: colour,
      borderWidth: line ? 2 : 0,
      pointRadius: line ? 2 : 0,
      order: line ? 0 : 1
    };
    if (series.stack) { set.stack = series.stack; }
    if (block === "aging") { set.backgroundColor = AGING_COLOURS; }
    return set;
  }

  function draw(canvas) {
    var block = canvas.dataset.block;
    var source = document.getElementById("chart-data-" + block);
    if (!source || !window.Chart) { return; }
    var chart = JSON.parse(source.textContent)[Number(canvas.dataset.index)];
    var style = getComputedStyle(document.documentElement);
    var quiet = style.getPropertyValue("--body-quiet-color").trim() || "#666";
    var grid = style.getPropertyValue("--hairline-color").trim() || "#e5e5e5";
    var stacked = chart.series.some(function (s) { return s.stack; });
    var money = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: chart.series.map(function (s, i) { return dataset(block, s, i); })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: block !== "aging", labels: { color: quiet, boxWidth: 12 } },
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + money.format(item.parsed.y) + " " + chart.currency;
              }
            }
          }
        },
        scales: {
          x: { stacked: stacked, ticks: { color: quiet }, grid: { display: false } },
          y: {
            stacked: stacked,
            ticks: { color: quiet, callback: function (v) { return money.format(v); } },
            grid: { color: grid }
          }
        }
      }
    });
    canvas.dataset.drawn = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-block]").forEach(draw);
  });
})();
