// The console's behaviour: ECharts charts from a JSON data block, table sort and search.
// No inline scripts (CSP default-src 'self'): pages carry data in <script type="application/json">.
(function () {
  "use strict";

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) return;
    var c = window.echarts.init(el, null, { renderer: "canvas" });
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
  }

  function drawTrend(trend) {
    chart("chart-trend", {
      tooltip: { trigger: "axis" }, legend: { data: ["评价数", "差评", "好评率"] },
      xAxis: { type: "category", data: trend.labels },
      yAxis: [{ type: "value", name: "件" }, { type: "value", name: "%", min: function (v) { return Math.max(0, Math.floor(v.min - 1)); }, max: 100 }],
      series: [
        { name: "评价数", type: "bar", data: trend.counted },
        { name: "差评", type: "bar", data: trend.bad },
        { name: "好评率", type: "line", yAxisIndex: 1, data: trend.good_rate }
      ]
    });
  }

  function drawCharts() {
    var d = data("chart-data");
    if (!d) return;
    if (d.trend) drawTrend(d.trend);
    if (d.channels) {
      chart("chart-channels", {
        tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: ["35%", "65%"], data: d.channels }]
      });
    }
    if (d.reasons) {
      chart("chart-reasons", {
        tooltip: { trigger: "axis" }, grid: { left: 10, right: 20, containLabel: true },
        xAxis: { type: "value" },
        yAxis: { type: "category", data: d.reasons.names, inverse: true },
        series: [{ type: "bar", data: d.reasons.counts }]
      });
    }
  }

  var WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
  var HOURS = [];
  for (var h = 0; h < 24; h++) HOURS.push(h + "时");

  function heatmap(id, cells, color) {
    var max = cells.reduce(function (m, c) { return Math.max(m, c[2]); }, 1);
    chart(id, {
      tooltip: { position: "top" },
      grid: { left: 50, right: 10, top: 10, bottom: 70 },
      xAxis: { type: "category", data: HOURS, splitArea: { show: true } },
      yAxis: { type: "category", data: WEEKDAYS, splitArea: { show: true } },
      visualMap: { min: 0, max: max, calculable: true, orient: "horizontal", left: "center", bottom: 0,
                   inRange: { color: ["#f5f7fa", color] } },
      series: [{ type: "heatmap", data: cells }]
    });
  }

  // Fragments swapped in by htmx carry their data in an attribute, not a <script> block (htmx,
  // allowScriptTags off, drops those it swaps in).
  function drawFragments() {
    var trend = document.getElementById("trend");
    if (trend && !trend.dataset.drawn) {
      trend.dataset.drawn = "1";
      drawTrend(JSON.parse(trend.dataset.trend));
    }
    drawHeatmaps();
  }

  function drawHeatmaps() {
    var el = document.getElementById("heatmaps");
    if (!el || el.dataset.drawn) return;
    el.dataset.drawn = "1";
    var d = JSON.parse(el.dataset.heatmap);
    heatmap("chart-heat-ratings", d.ratings, "#0b5cad");
    heatmap("chart-heat-bad", d.bad, "#b42318");
  }

  function sortable(table) {
    var headers = table.querySelectorAll("th[data-sort]");
    headers.forEach(function (th, index) {
      var button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", function () {
        var column = Array.prototype.indexOf.call(th.parentNode.children, th);
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var numeric = th.dataset.sort === "number";
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.value || a.cells[column].textContent.trim();
          var y = b.cells[column].dataset.value || b.cells[column].textContent.trim();
          var r = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y, "zh-CN");
          return ascending ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  function searchable(input) {
    var table = document.getElementById(input.dataset.search);
    if (!table) return;
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) < 0;
      });
    });
  }

  function periodPicker(form) {
    var kind = form.querySelector("[name=kind]");
    if (!kind) return;
    function show() {
      form.querySelectorAll("[data-kind]").forEach(function (el) {
        el.hidden = el.dataset.kind.split(" ").indexOf(kind.value) < 0;
      });
    }
    kind.addEventListener("change", show);
    show();
  }

  // A fragment htmx swapped in (the dashboard's heatmaps) draws its own charts.
  document.addEventListener("htmx:afterSettle", drawFragments);

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    document.querySelectorAll("table[data-sortable]").forEach(sortable);
    document.querySelectorAll("input[data-search]").forEach(searchable);
    document.querySelectorAll("form[data-period]").forEach(periodPicker);
  });
})();

// The department import: a chosen CSV file read into the form's text area (nothing uploaded
// until the person previews it).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[type=file][data-load-into]").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var target = document.getElementById(input.dataset.loadInto);
      if (!file || !target) return;
      var reader = new FileReader();
      reader.onload = function () { target.value = reader.result; };
      reader.readAsText(file, "utf-8");
    });
  });
});

// The printable QR page's button.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
});

// The department import from Excel: the chosen .xlsx read into a hidden field (a data: URL),
// read by the service when the person previews; choosing a CSV file instead clears it.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[type=file][data-load-xlsx-into]").forEach(function (input) {
    var target = document.getElementById(input.dataset.loadXlsxInto);
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!target) return;
      target.value = "";
      if (!file) return;
      var reader = new FileReader();
      reader.onload = function () { target.value = reader.result; };
      reader.readAsDataURL(file);
    });
  });
  document.querySelectorAll("input[type=file][data-load-into]").forEach(function (input) {
    input.addEventListener("change", function () {
      document.querySelectorAll("input[type=file][data-load-xlsx-into]").forEach(function (x) {
        var target = document.getElementById(x.dataset.loadXlsxInto);
        if (target) target.value = "";
        x.value = "";
      });
    });
  });
});
