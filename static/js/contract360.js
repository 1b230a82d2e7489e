/* Contract 360's position chart: cumulative revenue and billings per month (Chart.js, vendored),
   the gap between them shaded green where revenue runs ahead (contract asset, unbilled) and
   amber where billing does (contract liability, deferred). The figures come from the page's
   json_script; the table under the chart holds the same ones. */
(function () {
  "use strict";

  function draw() {
    var canvas = document.getElementById("position-chart");
    var source = document.getElementById("position-chart-data");
    if (!canvas || !source || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var style = getComputedStyle(document.body);
    var quiet = style.getPropertyValue("--body-quiet-color").trim() || "#666";
    var hairline = style.getPropertyValue("--hairline-color").trim() || "#e5e5e5";
    var grouped = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    var axis = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
    var numbers = function (values) { return values.map(Number); };

    canvas.chart = new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          {
            label: "Billed to date",
            data: numbers(data.billed),
            borderColor: "#1f4e79",
            backgroundColor: "#1f4e79",
            borderWidth: 2.5,
            pointRadius: 2.5,
            stepped: false,
            fill: false
          },
          {
            label: "Recognized to date",
            data: numbers(data.revenue),
            borderColor: "#2f855a",
            backgroundColor: "#2f855a",
            borderWidth: 2.5,
            pointRadius: 2.5,
            // Shade the gap to the billings line: above it an asset, below it a liability.
            fill: { target: 0, above: "rgba(47, 133, 90, 0.18)", below: "rgba(183, 121, 31, 0.22)" }
          }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { color: quiet, maxRotation: 0, autoSkipPadding: 12 }, grid: { display: false } },
          y: {
            beginAtZero: true,
            ticks: { color: quiet, callback: function (value) { return axis.format(value); } },
            grid: { color: hairline },
            title: { display: true, text: data.currency, color: quiet }
          }
        },
        plugins: {
          legend: { position: "top", align: "end", labels: { color: quiet, usePointStyle: true, pointStyle: "circle", boxWidth: 6, boxHeight: 6 } },
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + grouped.format(item.parsed.y) + " " + data.currency;
              },
              footer: function (items) {
                var index = items[0].dataIndex;
                var gap = Number(data.revenue[index]) - Number(data.billed[index]);
                var side = gap > 0 ? "Contract asset" : gap < 0 ? "Contract liability" : "No position";
                return side + ": " + grouped.format(Math.abs(gap)) + " " + data.currency;
              }
            }
          }
        }
      }
    });
    canvas.dataset.rendered = "true";
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
