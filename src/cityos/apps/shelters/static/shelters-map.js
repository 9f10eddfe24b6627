/* The public shelter map: markers and a list from the GeoJSON feed, live updates over
   Server-Sent Events, filters, sorting by distance. */
"use strict";

(function () {
  var t = Shelters.labels;
  var features = {};
  var markers = {};
  var origin = null;
  var map = Shelters.baseMap("map");
  var list = document.getElementById("list");
  var hazard = document.getElementById("hazard");
  var openOnly = document.getElementById("open-only");
  var etag = null;

  function visible(p) {
    if (openOnly.checked && p.status !== "open") { return false; }
    if (hazard.value && (p.hazardTypes || []).indexOf(hazard.value) < 0) { return false; }
    return true;
  }

  function latLon(f) { return [f.geometry.coordinates[1], f.geometry.coordinates[0]]; }

  function line(text, cls) {
    var p = document.createElement("p");
    p.textContent = text;
    if (cls) { p.className = cls; }
    return p;
  }

  function peopleText(p) {
    var parts = [];
    if (p.status === "open" && p.peopleOccupancy !== undefined) {
      parts.push(t.evacuees + " " + p.peopleOccupancy);
    }
    parts.push(p.peopleCapacity !== undefined ? t.capacity + " " + p.peopleCapacity
                                              : t.capacity_unknown);
    return parts.join(" / ");
  }

  function item(f, distance) {
    var p = f.properties, state = Shelters.stateOf(p);
    var li = document.createElement("li");
    li.className = "shelter";
    li.dataset.id = f.id;
    li.dataset.state = state;
    var heading = document.createElement("h3");
    var link = document.createElement("button");
    link.type = "button";
    link.className = "name";
    link.textContent = p.name;
    link.addEventListener("click", function () { focusMarker(f.id); });
    heading.appendChild(link);
    li.appendChild(heading);
    var badge = document.createElement("span");
    Shelters.fillBadge(badge, state);
    var stateLine = document.createElement("p");
    stateLine.className = "state-line";
    // A screen reader announces the state with the name when the button takes the focus.
    stateLine.id = "state-" + f.id.replace(/[^A-Za-z0-9_-]/g, "_");
    link.setAttribute("aria-describedby", stateLine.id);
    stateLine.appendChild(badge);
    if (p.crowdingLevelSource === "staff") {
      stateLine.appendChild(document.createTextNode(" (" + t.by_staff + ")"));
    }
    li.appendChild(stateLine);
    var kind = t[p.category] || p.category;
    if (distance !== null) { kind += " · " + t.distance + " " + distance.toFixed(1) + " km"; }
    li.appendChild(line(kind, "meta"));
    li.appendChild(line(peopleText(p), "people"));
    if (p.address) { li.appendChild(line(p.address, "address")); }
    if ((p.hazardTypes || []).length) {
      li.appendChild(line(t.hazard + ": " + p.hazardTypes.map(function (h) {
        return t[h] || h; }).join("、"), "hazards"));
    }
    var updated = document.createElement("p");
    updated.className = "updated";
    var time = document.createElement("time");
    time.dateTime = p.modifiedAt || "";
    time.textContent = Shelters.formatTime(p.modifiedAt);
    updated.appendChild(document.createTextNode(t.updated + " "));
    updated.appendChild(time);
    li.appendChild(updated);
    return li;
  }

  function focusMarker(id) {
    var marker = markers[id];
    if (marker) {
      map.setView(marker.getLatLng(), Math.max(map.getZoom(), 14));
      marker.openPopup();
    }
  }

  function popupContent(f) {
    var div = document.createElement("div");
    var name = document.createElement("strong");
    name.textContent = f.properties.name;
    div.appendChild(name);
    var badge = document.createElement("span");
    Shelters.fillBadge(badge, Shelters.stateOf(f.properties));
    div.appendChild(document.createElement("br"));
    div.appendChild(badge);
    div.appendChild(line(peopleText(f.properties)));
    div.appendChild(line(t.updated + " " + Shelters.formatTime(f.properties.modifiedAt)));
    return div;
  }

  function placeMarker(f) {
    var state = Shelters.stateOf(f.properties), marker = markers[f.id];
    if (!marker) {
      marker = L.marker(latLon(f), {keyboard: false, title: f.properties.name,
                                    alt: f.properties.name});
      markers[f.id] = marker;
    }
    marker.setLatLng(latLon(f));
    marker.setIcon(Shelters.markerIcon(state));
    marker.setZIndexOffset(state === "closed" ? 0 : 1000);
    marker.bindPopup(popupContent(f));
    if (visible(f.properties)) { marker.addTo(map); } else { marker.remove(); }
  }

  function render() {
    var shown = Object.keys(features).map(function (id) { return features[id]; })
      .filter(function (f) { return visible(f.properties); })
      .map(function (f) {
        return {f: f, d: origin ? Shelters.distanceKm(origin, latLon(f)) : null}; });
    shown.sort(function (a, b) {
      if (a.d !== null && b.d !== null && a.d !== b.d) { return a.d - b.d; }
      return a.f.properties.name.localeCompare(b.f.properties.name, "ja");
    });
    var fragment = document.createDocumentFragment();
    shown.forEach(function (s) { fragment.appendChild(item(s.f, s.d)); });
    list.replaceChildren(fragment);
    document.getElementById("count").textContent = "（" + shown.length + " " + t.count_shown + "）";
    Object.keys(features).forEach(function (id) { placeMarker(features[id]); });
  }

  function loadFeed() {
    var headers = etag ? {"If-None-Match": etag} : {};
    return fetch("/shelters/feed.geojson", {headers: headers}).then(function (r) {
      if (r.status === 304) { return null; }
      etag = r.headers.get("ETag");
      return r.json();
    }).then(function (doc) {
      if (!doc) { return; }
      var first = Object.keys(features).length === 0;
      features = {};
      doc.features.forEach(function (f) { features[f.id] = f; });
      render();
      if (first && doc.features.length) {
        map.fitBounds(L.latLngBounds(doc.features.map(latLon)), {padding: [20, 20]});
      }
    });
  }

  function listen() {
    if (!window.EventSource) { setInterval(loadFeed, 10000); return; }
    var source = new EventSource("/shelters/events");
    source.addEventListener("hello", function () {
      Shelters.setStatus(t.live);
      loadFeed();
    });
    source.addEventListener("shelter", function (e) {
      var f = JSON.parse(e.data);
      features[f.id] = f;
      render();
    });
    source.addEventListener("removed", function (e) {
      var id = JSON.parse(e.data).id;
      delete features[id];
      if (markers[id]) { markers[id].remove(); delete markers[id]; }
      render();
    });
    source.onerror = function () { Shelters.setStatus(t.offline); };
  }

  hazard.addEventListener("change", render);
  openOnly.addEventListener("change", render);
  document.getElementById("district").addEventListener("change", function (e) {
    if (!e.target.value) { origin = null; render(); return; }
    origin = e.target.value.split(",").map(Number);
    map.setView(origin, 13);
    render();
  });
  document.getElementById("locate").addEventListener("click", function () {
    if (!navigator.geolocation) { Shelters.setStatus(t.location_denied); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      origin = [pos.coords.latitude, pos.coords.longitude];
      map.setView(origin, 13);
      render();
    }, function () { Shelters.setStatus(t.location_denied); }, {timeout: 10000});
  });
  document.getElementById("print").addEventListener("click", function () { window.print(); });
  loadFeed().then(listen);
}());
