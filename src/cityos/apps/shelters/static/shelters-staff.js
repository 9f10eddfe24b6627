/* The staff app: open/close with one tap, evacuee count with +/− or typed, crowding
   override, notes, temporary shelters. Writes send X-Requested-With (CSRF protection). */
"use strict";

(function () {
  var t = Shelters.labels;
  var list = document.getElementById("staff-list");
  var template = document.getElementById("card-template");
  var search = document.getElementById("search");
  var shelters = [];
  var uid = 0;

  function send(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Requested-With": "cityos"},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.detail || data.title || r.status); }
        return data;
      });
    });
  }

  function stateOf(s) {
    return Shelters.stateOf({status: s.status, crowdingLevel: s.crowding_level});
  }

  function label(card, selector, input) {
    var id = "f" + (++uid);
    input.id = id;
    card.querySelector(selector).htmlFor = id;
  }

  function fill(card, s) {
    card.dataset.id = s.id;
    card.querySelector(".card-name").textContent = s.name;
    Shelters.fillBadge(card.querySelector(".badge"), stateOf(s));
    card.querySelector(".card-updated").textContent =
      s.modified_at ? t.updated + " " + Shelters.formatTime(s.modified_at) : "";
    var toggle = card.querySelector(".toggle");
    toggle.textContent = s.status === "open" ? t.do_close : t.do_open;
    toggle.classList.toggle("danger", s.status === "open");
    card.querySelector(".count").value = s.occupancy === null ? "" : s.occupancy;
    card.querySelector(".capacity").value = s.capacity === null ? "" : s.capacity;
    card.querySelector(".crowding").value =
      s.crowding_source === "staff" && s.crowding_level ? s.crowding_level : "auto";
    card.querySelector(".notes").value = s.notes || "";
    var names = card.querySelector(".assign-names");
    if (names) {
      names.value = (s.responsible_staff || []).map(function (subject) {
        return subject.replace(/^operator:/, "");
      }).join(", ");
    }
  }

  function save(card, body) {
    var name = card.querySelector(".card-name").textContent;
    return send("PATCH", "/shelters/api/shelters/" + encodeURIComponent(card.dataset.id), body)
      .then(function (s) {
        fill(card, s);
        Shelters.setStatus(name + ": " + t.saved);
      })
      .catch(function (error) { Shelters.setStatus(name + ": " + t.error + " (" + error.message + ")"); });
  }

  function number(input) {
    return input.value === "" ? null : Number(input.value);
  }

  function card(s) {
    var node = template.content.firstElementChild.cloneNode(true);
    label(node, ".count-label", node.querySelector(".count"));
    label(node, ".capacity-label", node.querySelector(".capacity"));
    label(node, ".crowding-label", node.querySelector(".crowding"));
    label(node, ".notes-label", node.querySelector(".notes"));
    fill(node, s);
    node.querySelector(".toggle").addEventListener("click", function () {
      var open = node.querySelector(".toggle").textContent === t.do_open;
      save(node, {status: open ? "open" : "closed"});
    });
    function step(delta) {
      var input = node.querySelector(".count");
      var value = Math.max(0, (number(input) || 0) + delta);
      input.value = value;
      save(node, {occupancy: value});
    }
    node.querySelector(".minus").addEventListener("click", function () { step(-1); });
    node.querySelector(".plus").addEventListener("click", function () { step(1); });
    node.querySelector(".save").addEventListener("click", function () {
      var body = {crowding: node.querySelector(".crowding").value,
                  notes: node.querySelector(".notes").value};
      var count = number(node.querySelector(".count"));
      var capacity = number(node.querySelector(".capacity"));
      if (count !== null) { body.occupancy = count; }
      if (capacity !== null) { body.capacity = capacity; }
      save(node, body);
    });
    var names = node.querySelector(".assign-names");
    if (names) {  // administrators: who is responsible for this shelter
      label(node, ".assign-label", names);
      node.querySelector(".assign-save").addEventListener("click", function () {
        var list = names.value.split(/[\s,、，]+/).filter(Boolean);
        var url = "/shelters/api/shelters/" + encodeURIComponent(node.dataset.id) + "/staff";
        var name = node.querySelector(".card-name").textContent;
        send("PUT", url, {responsibleStaff: list}).then(function (s) {
          fill(node, s);
          Shelters.setStatus(name + ": " + t.saved);
        }).catch(function (error) {
          Shelters.setStatus(name + ": " + t.error + " (" + error.message + ")");
        });
      });
    }
    return node;
  }

  function render() {
    var needle = search.value.trim();
    var fragment = document.createDocumentFragment();
    shelters.filter(function (s) { return !needle || s.name.indexOf(needle) >= 0; })
      .forEach(function (s) { fragment.appendChild(card(s)); });
    list.replaceChildren(fragment);
    if (!shelters.length) { Shelters.setStatus(t.none_assigned); }
  }

  function load() {
    return fetch("/shelters/api/staff/shelters", {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (data) { shelters = data; render(); });
  }

  search.addEventListener("input", render);

  // Temporary shelters: by address (town point) or by tapping the map.
  var addMap = Shelters.baseMap("add-map", true);
  var pin = null;
  function place(lat, lon) {
    document.getElementById("add-lat").value = lat.toFixed(6);
    document.getElementById("add-lon").value = lon.toFixed(6);
    if (pin) { pin.setLatLng([lat, lon]); } else { pin = L.marker([lat, lon]).addTo(addMap); }
    addMap.setView([lat, lon], Math.max(addMap.getZoom(), 14));
  }
  addMap.on("click", function (e) { place(e.latlng.lat, e.latlng.lng); });
  document.getElementById("find-address").addEventListener("click", function () {
    var address = document.getElementById("add-address").value;
    fetch("/shelters/api/geocode?address=" + encodeURIComponent(address),
          {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error(r.status)); })
      .then(function (town) { place(town.lat, town.lon); Shelters.setStatus(town.town); })
      .catch(function () { Shelters.setStatus(t.error); });
  });
  document.getElementById("add-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target;
    function value(id) { return document.getElementById(id).value; }
    send("POST", "/shelters/api/shelters", {
      name: value("add-name"), kind: value("add-kind"), address: value("add-address"),
      lat: value("add-lat"), lon: value("add-lon"),
      capacity: value("add-capacity") === "" ? null : value("add-capacity")
    }).then(function (s) {
      Shelters.setStatus(s.name + ": " + t.saved);
      form.reset();
      return load();
    }).catch(function (error) { Shelters.setStatus(t.error + " (" + error.message + ")"); });
  });
  load();
}());
