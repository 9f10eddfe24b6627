// The /twin page: run a scenario, poll for its result, draw map, curve and tables.
(function () {
  "use strict";
  var root = document.getElementById("twin");
  var T = JSON.parse(root.getAttribute("data-strings"));
  var form = document.getElementById("run-form");
  var button = document.getElementById("run");
  var statusLine = document.getElementById("status");
  var map = L.map("map", { preferCanvas: true, zoomSnap: 0.25 }).setView([36.29, 136.36], 11);
  var layers = L.layerGroup().addTo(map);
  var SVG = "http://www.w3.org/2000/svg";

  fetch("/twin/api/boundary").then(function (r) { return r.json(); }).then(function (g) {
    var b = L.geoJSON(g, { style: { color: "#555", weight: 1, fill: true, fillColor: "#fff", fillOpacity: 0.6 } }).addTo(map);
    map.fitBounds(b.getBounds(), { padding: [4, 4] });
  });

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function latlngs(coords) { return coords.map(function (c) { return [c[1], c[0]]; }); }

  function shelterState(s) {
    if (!s.usable) { return ["state_closed", "#9e9e9e"]; }
    if (s.fullAtMinutes !== null) { return ["state_full", "#c62828"]; }
    if (s.load !== null && s.load >= 0.8) { return ["state_ok", "#e07b00"]; }
    return ["state_ok", "#2e7d32"];
  }

  function drawMap(rep) {
    layers.clearLayers();
    var maxFlow = 1;
    rep.routes.forEach(function (r) { maxFlow = Math.max(maxFlow, r.flow); });
    rep.closedLinks.forEach(function (c) {
      L.polyline([[c[1], c[0]], [c[3], c[2]]], { color: "#c00000", weight: 2, dashArray: "4 3" }).addTo(layers);
    });
    rep.routes.forEach(function (r) {
      L.polyline(latlngs(r.coordinates), { color: "#1f5fbf", opacity: 0.7, weight: 1 + 6 * Math.sqrt(r.flow / maxFlow) }).addTo(layers);
    });
    rep.bottlenecks.forEach(function (r) {
      L.polyline(latlngs(r.coordinates), { color: "#e07b00", weight: 8, opacity: 0.9 })
        .bindTooltip(r.flow + " / ratio " + r.ratio).addTo(layers);
    });
    rep.unreachable.forEach(function (u) {
      L.marker([u.lat, u.lon], { icon: L.divIcon({ className: "unreachable-icon", html: "×", iconSize: [10, 10] }), keyboard: false })
        .bindTooltip(u.label + ": " + u.people + " (" + u.reason + ")").addTo(layers);
    });
    rep.shelters.forEach(function (s) {
      var st = shelterState(s);
      L.circleMarker([s.lat, s.lon], { radius: 7, color: "#1a1a1a", weight: 2, fillColor: st[1], fillOpacity: 0.95 })
        .bindTooltip(s.name + " — " + T[st[0]] + " " + s.arrivals + "/" + (s.capacity === null ? "∞" : s.capacity)).addTo(layers);
    });
    root.setAttribute("data-map-layers", String(layers.getLayers().length));
  }

  function drawCurve(rep) {
    var box = document.getElementById("curve");
    box.textContent = "";
    var w = 640, h = 300, l = 64, b = 40, r = 16, t = 12;
    var c = rep.curve, n = c.minutes.length, tmax = c.minutes[n - 1];
    function x(m) { return l + (w - l - r) * m / tmax; }
    function y(v) { return t + (h - t - b) * (1 - v); }
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", T.curve + ": " + Math.round(100 * c.evacuatedShare[n - 1]) + "% @ " + tmax + " " + T.minutes);
    function add(tag, attrs, text) {
      var e = document.createElementNS(SVG, tag);
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
      if (text) { e.textContent = text; }
      svg.appendChild(e);
      return e;
    }
    for (var p = 0; p <= 100; p += 25) {
      add("line", { x1: l, x2: w - r, y1: y(p / 100), y2: y(p / 100), stroke: "#ddd" });
      add("text", { x: l - 6, y: y(p / 100) + 7, "text-anchor": "end", "font-size": 20 }, p + "%");
    }
    var step = tmax > 120 ? 60 : 30;
    for (var m = 0; m <= tmax; m += step) {
      add("text", { x: x(m), y: h - 10, "text-anchor": m === 0 ? "start" : (m + step > tmax ? "end" : "middle"), "font-size": 20 }, m + T.minutes);
    }
    var band = [], line = [], dep = [];
    for (var i = 0; i < n; i++) { band.push(x(c.minutes[i]) + "," + y(c.high[i])); }
    for (var j = n - 1; j >= 0; j--) { band.push(x(c.minutes[j]) + "," + y(c.low[j])); }
    for (var k = 0; k < n; k++) {
      line.push(x(c.minutes[k]) + "," + y(c.evacuatedShare[k]));
      dep.push(x(c.minutes[k]) + "," + y(c.departedShare[k]));
    }
    add("polygon", { points: band.join(" "), fill: "#1f5fbf", opacity: 0.2 });
    add("polyline", { points: dep.join(" "), fill: "none", stroke: "#777", "stroke-dasharray": "5 4", "stroke-width": 1.5 });
    add("polyline", { points: line.join(" "), fill: "none", stroke: "#1f5fbf", "stroke-width": 2.5 });
    box.appendChild(svg);
  }

  function fill(rep) {
    var s = rep.summary;
    var syn = document.getElementById("synthetic");
    syn.hidden = !rep.synthetic;
    syn.textContent = rep.synthetic ? rep.syntheticNote[document.documentElement.lang === "en" ? "en" : "ja"] : "";
    var dl = document.getElementById("summary");
    dl.textContent = "";
    [["residents", s.residents], ["evacuated", s.evacuated],
     ["share", (100 * s.evacuatedShare).toFixed(1) + "% (" + (100 * s.evacuatedShareLow).toFixed(1) + "–" + (100 * s.evacuatedShareHigh).toFixed(1) + "%)"],
     ["by_horizon", (100 * s.evacuatedShareByHorizon).toFixed(1) + "% (" + s.horizonMinutes + " " + T.minutes + ")"],
     ["mean", s.meanMinutes], ["p95", s.p95Minutes], ["unreachable", s.unreachable],
     ["stranded", s.stranded], ["closed", s.closedLinks]].forEach(function (row) {
      dl.appendChild(el("dt", T[row[0]]));
      dl.appendChild(el("dd", row[1] === null ? "–" : row[1]));
    });
    var body = document.querySelector("#shelter-table tbody");
    body.textContent = "";
    rep.shelters.slice().sort(function (a, b) { return b.arrivals - a.arrivals; }).forEach(function (sh) {
      var tr = el("tr");
      var st = shelterState(sh);
      tr.appendChild(el("td", sh.name));
      tr.appendChild(el("td", sh.capacity === null ? T.unknown : sh.capacity));
      tr.appendChild(el("td", sh.arrivals));
      tr.appendChild(el("td", sh.turnedAway));
      tr.appendChild(el("td", T[st[0]], st[0] === "state_full" ? "full" : ""));
      body.appendChild(tr);
    });
    var run = rep.id.split(":").pop();
    var dls = document.getElementById("downloads");
    dls.textContent = "";
    [["csv_shelters", "shelters.csv"], ["csv_curve", "curve.csv"], ["geojson", "result.geojson"]].forEach(function (d) {
      var li = el("li"), a = el("a", T[d[0]]);
      a.href = "/twin/api/runs/" + run + "/" + d[1];
      a.setAttribute("download", d[1]);
      li.appendChild(a);
      dls.appendChild(li);
    });
    var notes = document.getElementById("notes");
    notes.textContent = "";
    rep.notes.forEach(function (n) { notes.appendChild(el("li", n)); });
    drawMap(rep);
    drawCurve(rep);
  }

  var previousRun = null;

  function showComparison(current) {
    if (!previousRun) { previousRun = current.id; return; }
    var a = previousRun.split(":").pop(), b = current.id.split(":").pop();
    previousRun = current.id;
    fetch("/twin/api/compare?a=" + a + "&b=" + b).then(function (r) { return r.json(); }).then(function (cmp) {
      document.getElementById("compare-a").textContent = "A: " + cmp.a;
      document.getElementById("compare-b").textContent = "B: " + cmp.b;
      var body = document.querySelector("#compare-table tbody");
      body.textContent = "";
      [["evacuatedShare", "share"], ["meanMinutes", "mean"], ["p95Minutes", "p95"],
       ["unreachable", "unreachable"], ["stranded", "stranded"], ["sheltersFull", "sheltersFull"]].forEach(function (k) {
        var row = cmp.summary[k[0]], tr = el("tr");
        tr.appendChild(el("td", T[k[1]]));
        [row.a, row.b, row.change].forEach(function (v) {
          var text = v === null ? "–" : (k[0] === "evacuatedShare" ? (100 * v).toFixed(1) + "%" : v);
          tr.appendChild(el("td", text));
        });
        body.appendChild(tr);
      });
      document.getElementById("compare-section").hidden = false;
    });
  }

  function poll(href) {
    fetch(href).then(function (r) { return r.json(); }).then(function (job) {
      if (job.status === "running") { setTimeout(function () { poll(href); }, 500); return; }
      button.disabled = false;
      if (job.status === "done") {
        statusLine.textContent = T.done + " (" + job.report.summary.seconds + " s)";
        root.setAttribute("data-run", job.report.id);
        fill(job.report);
        showComparison(job.report);
      } else {
        statusLine.textContent = T.failed + ": " + (job.detail || "");
      }
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    button.disabled = true;
    statusLine.textContent = T.running;
    fetch("/twin/api/runs", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ scenario: document.getElementById("scenario").value })
    }).then(function (r) {
      if (r.status === 401 || r.status === 403) { button.disabled = false; statusLine.textContent = T.forbidden; return null; }
      return r.json();
    }).then(function (job) { if (job) { poll(job.href); } });
  });
}());
