/* Shared by the public map and the staff app: labels, status badges, the base map. */
"use strict";

var Shelters = (function () {
  var labels = JSON.parse(document.getElementById("labels").textContent);
  var lang = document.body.dataset.lang || "ja";
  var SYMBOLS = {vacant: "○", slightlyCrowded: "△", crowded: "▲", full: "✕",
                 unknown: "？", closed: "―"};
  var SHORT = {
    ja: {vacant: "空", slightlyCrowded: "やや", crowded: "混雑", full: "満",
         unknown: "開設", closed: "停止"},
    en: {vacant: "Vacant", slightlyCrowded: "Busy", crowded: "Crowded", full: "Full",
         unknown: "Open", closed: "Closed"}
  };
  var KAGA_CENTER = [36.29, 136.35];

  function stateOf(p) {
    if (p.status !== "open") { return "closed"; }
    return p.crowdingLevel || "unknown";
  }

  function stateText(state) {
    if (state !== "unknown") { return labels[state]; }
    return lang === "ja" ? labels.open + "（" + labels.unknown + "）"
                         : labels.open + " (" + labels.unknown.toLowerCase() + ")";
  }

  function fillBadge(el, state) {
    el.className = "badge state-" + state;
    el.textContent = "";
    var symbol = document.createElement("span");
    symbol.setAttribute("aria-hidden", "true");
    symbol.className = "symbol";
    symbol.textContent = SYMBOLS[state];
    el.appendChild(symbol);
    el.appendChild(document.createTextNode(" " + stateText(state)));
  }

  function markerIcon(state) {
    if (state === "closed") {  // many closed sites: a small dashed dot with a dash
      return L.divIcon({className: "marker compact state-closed",
                        html: "<span aria-hidden=\"true\">" + SYMBOLS[state] + "</span>",
                        iconSize: [18, 18], iconAnchor: [9, 9]});
    }
    return L.divIcon({
      className: "marker state-" + state,
      html: "<span aria-hidden=\"true\">" + SYMBOLS[state] + "</span> " + SHORT[lang][state],
      iconSize: null, iconAnchor: [16, 14]
    });
  }

  function formatTime(iso) {
    if (!iso) { return ""; }
    var date = new Date(iso);
    return date.toLocaleString(lang === "ja" ? "ja-JP" : "en-GB", {
      month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit"});
  }

  function distanceKm(a, b) {
    var rad = Math.PI / 180, dLat = (b[0] - a[0]) * rad, dLon = (b[1] - a[1]) * rad;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) + Math.cos(a[0] * rad) *
      Math.cos(b[0] * rad) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 12742 * Math.asin(Math.sqrt(h));
  }

  function baseMap(id, fitOutline) {
    var map = L.map(id, {zoomControl: true}).setView(KAGA_CENTER, 11);
    var url = document.body.dataset.tileUrl;
    if (url) {
      L.tileLayer(url, {maxZoom: 18, attribution: document.body.dataset.tileAttribution})
        .addTo(map);
    }
    fetch("/shelters/outline.geojson").then(function (r) { return r.json(); })
      .then(function (outline) {
        var layer = L.geoJSON(outline, {interactive: false,
          style: {color: "#333", weight: 2, fill: false, dashArray: "6 4"}}).addTo(map);
        if (fitOutline) { map.fitBounds(layer.getBounds()); }
      })
      .catch(function () { /* the map works without the outline */ });
    return map;
  }

  function setStatus(text) {
    var line = document.getElementById("status-line");
    if (line) { line.textContent = text; }
  }

  return {labels: labels, lang: lang, stateOf: stateOf, stateText: stateText,
          fillBadge: fillBadge, markerIcon: markerIcon, formatTime: formatTime,
          distanceKm: distanceKm, baseMap: baseMap, setStatus: setStatus};
}());

document.querySelectorAll(".legend .badge").forEach(function (el) {
  Shelters.fillBadge(el, el.dataset.state);
});
