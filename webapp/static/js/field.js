// Field and office work-order pages: countdowns, check-in geolocation, photo
// previews, and form submission that survives a flaky mobile connection.
(function () {
  "use strict";

  // ---- countdowns ----------------------------------------------------------
  // The server renders data-now (its clock) so countdowns agree with the
  // server even when the phone's clock is wrong.
  var skew = 0;
  var clockEl = document.querySelector("[data-server-now]");
  if (clockEl) {
    var serverNow = Date.parse(clockEl.getAttribute("data-server-now"));
    if (!isNaN(serverNow)) skew = serverNow - Date.now();
  }

  function tick() {
    var now = Date.now() + skew;
    var els = document.querySelectorAll("[data-due]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) continue;
      var left = due - now;
      el.textContent = window.nrscFormat.timeLeft(left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("warning", left >= 0 && left < 15 * 60 * 1000);
    }
  }
  if (document.querySelector("[data-due]")) { tick(); setInterval(tick, 1000); }

  // ---- check-in geolocation --------------------------------------------------
  function haversine(lat1, lon1, lat2, lon2) {
    var r = 6371008.8, rad = Math.PI / 180;
    var dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    var a = Math.sin(dlat / 2) * Math.sin(dlat / 2) +
      Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
    return 2 * r * Math.asin(Math.sqrt(a));
  }

  function locate(form) {
    var status = form.querySelector("[data-geo-status]");
    if (!navigator.geolocation) {
      if (status) status.textContent = status.getAttribute("data-unsupported") || "";
      return;
    }
    if (status) status.textContent = status.getAttribute("data-waiting") || "";
    navigator.geolocation.getCurrentPosition(function (pos) {
      var c = pos.coords;
      form.querySelector("[name=lat]").value = c.latitude.toFixed(6);
      form.querySelector("[name=lon]").value = c.longitude.toFixed(6);
      var acc = form.querySelector("[name=accuracy]");
      if (acc) acc.value = Math.round(c.accuracy || 0);
      var evLat = parseFloat(form.getAttribute("data-event-lat"));
      var evLon = parseFloat(form.getAttribute("data-event-lon"));
      if (status) {
        var text = (status.getAttribute("data-found") || "") + " " + c.latitude.toFixed(5) + ", " + c.longitude.toFixed(5);
        if (!isNaN(evLat) && !isNaN(evLon)) {
          var d = haversine(c.latitude, c.longitude, evLat, evLon);
          text += " · " + (status.getAttribute("data-distance") || "") + " " +
            (d >= 1000 ? (d / 1000).toFixed(2) + " km" : Math.round(d) + " m");
        }
        status.textContent = text;
        status.classList.add("ok");
      }
    }, function (err) {
      if (status) {
        status.textContent = (status.getAttribute("data-failed") || "") + " (" + err.message + ")";
        status.classList.remove("ok");
      }
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  }

  var geoForms = document.querySelectorAll("form[data-geolocate]");
  for (var g = 0; g < geoForms.length; g++) {
    (function (form) {
      locate(form);
      var again = form.querySelector("[data-geo-retry]");
      if (again) again.addEventListener("click", function (e) { e.preventDefault(); locate(form); });
    })(geoForms[g]);
  }

  // ---- photo previews --------------------------------------------------------
  var photoInputs = document.querySelectorAll("input[type=file][data-preview]");
  for (var p = 0; p < photoInputs.length; p++) {
    photoInputs[p].addEventListener("change", function (e) {
      var box = document.getElementById(e.target.getAttribute("data-preview"));
      if (!box || !window.URL) return;
      box.innerHTML = "";
      for (var k = 0; k < e.target.files.length; k++) {
        var img = document.createElement("img");
        img.src = URL.createObjectURL(e.target.files[k]);
        img.alt = e.target.files[k].name;
        box.appendChild(img);
      }
    });
  }

  // ---- submission with retry ---------------------------------------------------
  // Forms marked data-retry are sent with fetch. A network failure is retried
  // with the same body, so the same client_key: the server keeps one copy.
  // Errors are shown in the form, which keeps everything typed and chosen.
  var DELAYS = [1000, 2000, 4000, 8000, 15000, 30000];

  function showError(form, message, list) {
    var box = form.querySelector("[data-form-error]");
    if (!box) return;
    box.hidden = false;
    box.textContent = message;
    if (list && list.length) {
      var ul = document.createElement("ul");
      for (var i = 0; i < list.length; i++) {
        var li = document.createElement("li");
        li.textContent = list[i];
        ul.appendChild(li);
      }
      box.appendChild(ul);
    }
  }

  function setBusy(form, busy, text) {
    var btns = form.querySelectorAll("button[type=submit]");
    for (var i = 0; i < btns.length; i++) btns[i].disabled = busy;
    var st = form.querySelector("[data-send-status]");
    if (st) { st.textContent = text || ""; st.hidden = !text; }
  }

  function send(form, body, attempt) {
    var csrf = document.querySelector("meta[name=csrf-token]");
    var headers = { "X-Field-Fetch": "1", "Accept": "application/json" };
    if (csrf) headers["X-CSRFToken"] = csrf.getAttribute("content");
    return fetch(form.action, { method: "POST", body: body, credentials: "same-origin", headers: headers })
      .then(function (resp) {
        return resp.text().then(function (text) {
          var data = null;
          try { data = JSON.parse(text); } catch (e) { data = null; }
          if (resp.ok && data && data.redirect) { window.location.assign(data.redirect); return; }
          setBusy(form, false);
          if (data && resp.status === 409 && data.version !== undefined) {
            var v = form.querySelector("[name=version]");
            if (v) v.value = data.version;
          }
          var changes = data && data.changes ? data.changes.map(function (c) { return c.text || c; }) : [];
          var errs = data && data.errors ? Object.keys(data.errors).map(function (k) { return data.errors[k]; }) : [];
          showError(form, (data && data.message) || (resp.status + " " + resp.statusText), changes.concat(errs));
        });
      }, function () {
        // Network failure: nothing came back; send the very same body again.
        if (attempt >= DELAYS.length) {
          setBusy(form, false);
          showError(form, form.getAttribute("data-offline") || "Network error");
          return;
        }
        setBusy(form, true, (form.getAttribute("data-retrying") || "Retrying") + " (" + (attempt + 1) + ")");
        return new Promise(function (resolve) { setTimeout(resolve, DELAYS[attempt]); })
          .then(function () { return send(form, body, attempt + 1); });
      });
  }

  var retryForms = document.querySelectorAll("form[data-retry]");
  for (var r = 0; r < retryForms.length; r++) {
    retryForms[r].addEventListener("submit", function (e) {
      var form = e.target;
      if (!window.fetch || !window.FormData) return; // plain post still works
      e.preventDefault();
      var box = form.querySelector("[data-form-error]");
      if (box) { box.hidden = true; box.textContent = ""; }
      setBusy(form, true, form.getAttribute("data-sending") || "");
      send(form, new FormData(form), 0);
    });
  }
})();

