/* serving studio: a run's metric charts and log tail (polled while the run is active) and
   a sweep's parallel-coordinates chart. Data comes from /studio/data/... (same origin,
   session cookie); plotly.js is served by this server. */
(function () {
  "use strict";
  var POLL_MS = 3000, MAX_LOG_CHARS = 200000;
  var root = document.getElementById("run-root");
  var charts = {};

  // plotly reads its text as HTML-like markup (<a href>, <b>, entities): names logged by
  // a run's script are shown as they are, never as markup.
  function plain(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { var e = new Error(url + ": HTTP " + r.status); e.status = r.status; throw e; }
        return r.json();
      });
  }

  function drawSeries(name, series) {
    var box = charts[name];
    if (!box) {
      box = document.createElement("div");
      box.className = "chart";
      box.setAttribute("data-metric", name);
      document.getElementById("charts").appendChild(box);
      charts[name] = box;
    }
    var x = [], y = [];
    series.points.forEach(function (p) { x.push(p[0]); y.push(p[1]); });
    var trace = { x: x, y: y, mode: y.length > 1 ? "lines" : "markers", name: plain(name), line: { width: 1.5 } };
    var layout = { title: { text: plain(name) + " (" + series.count + " points)", font: { size: 13 } },
      margin: { l: 50, r: 12, t: 36, b: 36 }, xaxis: { title: { text: "step" } } };
    Plotly.react(box, [trace], layout, { displaylogo: false, responsive: true });
  }

  function drawValues(values) {
    var names = Object.keys(values);
    var box = document.getElementById("values");
    if (!names.length) { box.innerHTML = ""; return; }
    var table = document.createElement("table");
    table.id = "metric-values";
    names.forEach(function (n) {
      var tr = table.insertRow(), th = document.createElement("th"), td = tr.insertCell();
      th.textContent = n; tr.insertBefore(th, td);
      td.textContent = typeof values[n] === "string" ? values[n] : JSON.stringify(values[n]);
    });
    box.innerHTML = ""; box.appendChild(table);
  }

  function loadMetrics() {
    return getJSON(root.getAttribute("data-metrics") + "?max_points=1000").then(function (data) {
      var names = Object.keys(data.series).sort();
      var empty = document.getElementById("charts-empty");
      if (empty) { empty.textContent = names.length ? "" : "no numeric metrics"; if (names.length) { empty.remove(); } }
      names.forEach(function (n) { drawSeries(n, data.series[n]); });
      drawValues(data.values);
    });
  }

  var logOffset = 0, logEnded = false;
  function loadLog() {
    return getJSON(root.getAttribute("data-log") + "?offset=" + logOffset).then(function (data) {
      var pre = document.getElementById("log");
      if (data.text) {
        var text = pre.textContent + data.text;
        pre.textContent = text.length > MAX_LOG_CHARS ? text.slice(-MAX_LOG_CHARS) : text;
        pre.scrollTop = pre.scrollHeight;
      }
      logOffset = data.next_offset;
      logEnded = data.ended;
      if (data.next_offset < data.size) { return loadLog(); }
    });
  }

  var stopped = false;
  function poll() {
    Promise.all([loadMetrics(), loadLog()]).catch(function (e) {
      console.log(e);
      stopped = e.status === 401 || e.status === 403 || e.status === 404;  // signed out, gone
    }).then(function () {
      if (stopped || root.getAttribute("data-active") !== "true") { return; }
      if (logEnded) { window.location.reload(); return; }
      setTimeout(poll, POLL_MS);
    });
  }

  function parcoords() {
    var data = document.getElementById("parcoords-data");
    if (!data) { return; }
    var d = JSON.parse(data.textContent);
    var rows = d.rows.filter(function (r) { return r.best_primary_metric !== null; });
    if (!rows.length) { return; }
    var dims = d.names.map(function (n) {
      var vals = rows.map(function (r) { return r.parameters[n]; });
      if (vals.every(function (v) { return typeof v === "number"; })) { return { label: plain(n), values: vals }; }
      var cats = Array.from(new Set(vals.map(String)));
      return { label: plain(n), values: vals.map(function (v) { return cats.indexOf(String(v)); }),
        tickvals: cats.map(function (_c, i) { return i; }), ticktext: cats.map(plain) };
    });
    var metric = rows.map(function (r) { return r.best_primary_metric; });
    dims.push({ label: plain(d.metric), values: metric });
    Plotly.newPlot("parcoords", [{ type: "parcoords", dimensions: dims,
      line: { color: metric, colorscale: "Viridis", showscale: true } }],
      { margin: { l: 60, r: 60, t: 40, b: 20 } }, { displaylogo: false, responsive: true });
  }

  if (root) {
    logOffset = parseInt(root.getAttribute("data-log-start") || "0", 10);
    poll();
    parcoords();
  }
}());
