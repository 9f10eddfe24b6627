// The sensor registry map: markers from /sensors.geojson; popups are built from text
// nodes (never HTML from data). The list on the page holds the same information.
"use strict";
(function () {
  function line(label, value) {
    var p = document.createElement("p");
    var b = document.createElement("strong");
    b.textContent = label + ": ";
    p.appendChild(b);
    p.appendChild(document.createTextNode(value));
    return p;
  }
  function popup(el, props) {
    var box = document.createElement("div");
    var title = document.createElement("h3");
    title.textContent = props.device_id;
    box.appendChild(title);
    var purpose = el.dataset.lang === "en" ? (props.purpose_en || props.purpose)
                                            : (props.purpose || props.purpose_en);
    box.appendChild(line(el.dataset.labelPurpose, purpose || "—"));
    box.appendChild(line(el.dataset.labelItems, (props.data_items || []).join(", ")));
    box.appendChild(line(el.dataset.labelOperator, props.operator || "—"));
    box.appendChild(line(el.dataset.labelPersonal,
                         props.personal_data ? el.dataset.yes : el.dataset.no));
    var link = document.createElement("a");
    link.href = "#sensor-" + props.device_id;
    link.textContent = "↓";
    link.setAttribute("aria-label", props.device_id);
    box.appendChild(link);
    return box;
  }
  function start() {
    var el = document.getElementById("sensor-map");
    if (!el || typeof L === "undefined") { return; }
    var map = L.map(el).setView([36.30, 136.31], 12);
    if (el.dataset.tiles) {  // no tile server configured: markers alone
      L.tileLayer(el.dataset.tiles, { maxZoom: 18, attribution: el.dataset.attribution })
        .addTo(map);
    }
    fetch(el.dataset.source).then(function (r) { return r.json(); }).then(function (data) {
      var points = [];
      data.features.forEach(function (f) {
        if (!f.geometry) { return; }
        var c = f.geometry.coordinates;
        var marker = L.marker([c[1], c[0]], { title: f.properties.device_id,
                                              alt: f.properties.device_id });
        marker.bindPopup(popup(el, f.properties), {
          maxWidth: 230, autoPanPaddingTopLeft: [50, 10], autoPanPaddingBottomRight: [10, 10]
        });
        marker.addTo(map);
        points.push([c[1], c[0]]);
      });
      if (points.length > 1) { map.fitBounds(points, { padding: [24, 24] }); }
      el.dataset.markers = String(points.length);
    });
  }
  document.addEventListener("DOMContentLoaded", start);
})();
