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

  function locate(form, fresh) {
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
      var d = (!isNaN(evLat) && !isNaN(evLon)) ? haversine(c.latitude, c.longitude, evLat, evLon) : NaN;
      var farM = parseFloat(form.getAttribute("data-far-m"));
      if (!isNaN(d) && !isNaN(farM)) showFarReason(form, d > farM);
      if (status) {
        var text = (status.getAttribute("data-found") || "") + " " + c.latitude.toFixed(5) + ", " + c.longitude.toFixed(5);
        if (!isNaN(d)) {
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
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: fresh ? 0 : 60000 });
  }

  // Farther than the limit from the event, the reason is asked for (and required);
  // nearer, the field is put away unless something was typed or the server asked.
  function showFarReason(form, far) {
    var box = form.querySelector("[data-far-reason]");
    var field = box && box.querySelector("textarea");
    if (!box || !field) return;
    field.required = far;
    box.hidden = !far && !field.value;
  }

  var geoForms = document.querySelectorAll("form[data-geolocate]");
  for (var g = 0; g < geoForms.length; g++) {
    (function (form) {
      var reason = form.querySelector("[data-far-reason] textarea");
      if (reason) showFarReason(form, reason.required);
      locate(form);
      var again = form.querySelector("[data-geo-retry]");
      if (again) again.addEventListener("click", function (e) { e.preventDefault(); locate(form, true); });
    })(geoForms[g]);
  }

  // ---- photo previews --------------------------------------------------------
  var photoInputs = document.querySelectorAll("input[type=file][data-preview]");
  for (var p = 0; p < photoInputs.length; p++) {
    photoInputs[p].addEventListener("change", function (e) {
      var box = document.getElementById(e.target.getAttribute("data-preview"));
      if (!box || !window.URL) return;
      box.innerHTML = "";
      var limits = e.target.form && e.target.form.querySelector("[data-photo-limits]");
      if (limits && e.target.files.length) {
        var chosen = document.createElement("span");
        chosen.className = "chosen";
        chosen.textContent = (limits.getAttribute("data-chosen") || "{n}").replace("{n}", e.target.files.length);
        box.appendChild(chosen);
      }
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
          if (data && data.code === "far_checkin_needs_reason") showFarReason(form, true);
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
      preparePhotos(form).then(function (body) {
        if (!body) { setBusy(form, false); return; }
        setBusy(form, true, form.getAttribute("data-sending") || "");
        send(form, body, 0);
      });
    });
  }

  // ---- photos made smaller before sending --------------------------------------
  // A 20–30 MB phone photo is resized (longest side 2560 px) and re-encoded as
  // JPEG on the phone. The original's EXIF block (capture time, GPS, camera) is
  // put back into the smaller file, its orientation set upright as the pixels
  // now are. Sizes are checked against the server's limits before anything is
  // sent; the server still checks every upload.
  var MAX_SIDE = 2560, QUALITY = 0.82, SMALL_ENOUGH = 1.5 * 1024 * 1024, EXIF_SCAN = 512 * 1024;

  function filesize(n) {
    var units = [["GB", 1073741824], ["MB", 1048576], ["KB", 1024]];
    for (var i = 0; i < units.length; i++) {
      if (n >= units[i][1]) return (n / units[i][1]).toFixed(1).replace(/\.0$/, "") + " " + units[i][0];
    }
    return n + " B";
  }

  function bytesOf(blob) {
    if (blob.arrayBuffer) return blob.arrayBuffer();
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () { resolve(r.result); };
      r.onerror = reject;
      r.readAsArrayBuffer(blob);
    });
  }

  // The APP1 "Exif" segment of a JPEG (marker to end), or null.
  function exifSegment(buf) {
    var b = new Uint8Array(buf);
    if (b.length < 4 || b[0] !== 0xFF || b[1] !== 0xD8) return null;
    var i = 2;
    while (i + 4 <= b.length) {
      if (b[i] !== 0xFF) return null;
      var marker = b[i + 1];
      if (marker === 0xFF) { i += 1; continue; }
      if (marker === 0x01 || (marker >= 0xD0 && marker <= 0xD8)) { i += 2; continue; }
      if (marker === 0xDA || marker === 0xD9) return null;
      var len = (b[i + 2] << 8) | b[i + 3];
      if (marker === 0xE1 && len >= 16 && b[i + 4] === 0x45 && b[i + 5] === 0x78 && b[i + 6] === 0x69 &&
          b[i + 7] === 0x66 && b[i + 8] === 0 && b[i + 9] === 0) {
        return i + 2 + len <= b.length ? b.slice(i, i + 2 + len) : null;
      }
      i += 2 + len;
    }
    return null;
  }

  // Orientation (tag 0x0112 in IFD0) set to 1: the canvas drew the pixels upright.
  function uprightExif(seg) {
    var t = 10, little = seg[t] === 0x49;
    function u16(o) { return little ? seg[o] | (seg[o + 1] << 8) : (seg[o] << 8) | seg[o + 1]; }
    function u32(o) {
      return (little ? (seg[o] | (seg[o + 1] << 8) | (seg[o + 2] << 16) | (seg[o + 3] << 24))
                     : ((seg[o] << 24) | (seg[o + 1] << 16) | (seg[o + 2] << 8) | seg[o + 3])) >>> 0;
    }
    var ifd = t + u32(t + 4);
    if (ifd + 2 > seg.length) return seg;
    var n = u16(ifd);
    for (var k = 0; k < n; k++) {
      var e = ifd + 2 + 12 * k;
      if (e + 12 > seg.length) break;
      if (u16(e) === 0x0112) {
        seg[e + 8] = little ? 1 : 0;
        seg[e + 9] = little ? 0 : 1;
      }
    }
    return seg;
  }

  function decode(file) {
    if (window.createImageBitmap) {
      return createImageBitmap(file, { imageOrientation: "from-image" }).catch(function () { return decodeByImg(file); });
    }
    return decodeByImg(file);
  }
  function decodeByImg(file) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file), img = new Image();
      img.onload = function () { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("decode")); };
      img.src = url;
    });
  }

  function compress(file) {
    if (!window.HTMLCanvasElement || !window.Blob || !/^image\//.test(file.type || "image/")) return Promise.resolve(file);
    var isJpeg = /jpe?g$/i.test(file.type || "") || /\.jpe?g$/i.test(file.name || "");
    return decode(file).then(function (img) {
      var w = img.width, h = img.height, scale = Math.min(1, MAX_SIDE / Math.max(w, h));
      if (scale === 1 && isJpeg && file.size <= SMALL_ENOUGH) { if (img.close) img.close(); return file; }
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(w * scale));
      canvas.height = Math.max(1, Math.round(h * scale));
      var ctx = canvas.getContext("2d");
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      if (img.close) img.close();
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", QUALITY); }).then(function (blob) {
        canvas.width = canvas.height = 0;     // free the pixels at once on small phones
        if (!blob || (scale === 1 && blob.size >= file.size)) return file;
        if (!isJpeg) return blob;
        return bytesOf(file.slice(0, EXIF_SCAN)).then(function (head) {
          var seg = exifSegment(head);
          if (!seg) return blob;
          return bytesOf(blob).then(function (body) {
            var b = new Uint8Array(body);
            return new Blob([b.subarray(0, 2), uprightExif(seg), b.subarray(2)], { type: "image/jpeg" });
          });
        });
      });
    }).then(function (out) {
      if (out === file) return file;
      var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
      try { return new File([out], name, { type: "image/jpeg", lastModified: file.lastModified }); }
      catch (e) { out.name = name; return out; }
    }, function () { return file; });   // not decodable here (e.g. HEIC): the server decides
  }

  // The form's body with its photos compressed, or null (and a message) when
  // a photo or the whole upload is still over the server's limits.
  function preparePhotos(form) {
    var body = new FormData(form);
    var inputs = form.querySelectorAll("input[type=file][data-compress]");
    var limits = form.querySelector("[data-photo-limits]");
    var chosen = 0;
    for (var i = 0; i < inputs.length; i++) chosen += inputs[i].files ? inputs[i].files.length : 0;
    if (!chosen) return Promise.resolve(body);
    var maxBytes = limits ? parseInt(limits.getAttribute("data-max-bytes"), 10) : 0;
    var maxTotal = limits ? parseInt(limits.getAttribute("data-max-total"), 10) : 0;
    setBusy(form, true, limits ? limits.getAttribute("data-compressing") : "");
    var chain = Promise.resolve(), total = 0, problem = null;
    Array.prototype.forEach.call(inputs, function (input) {
      var files = Array.prototype.slice.call(input.files || []);
      if (!files.length) return;
      body.delete(input.name);
      files.forEach(function (f) {
        chain = chain.then(function () { return compress(f); }).then(function (out) {
          total += out.size;
          if (!problem && maxBytes && out.size > maxBytes && limits) {
            problem = limits.getAttribute("data-too-big").replace("{name}", f.name).replace("{size}", filesize(out.size));
          }
          body.append(input.name, out, out.name || f.name);
        });
      });
    });
    return chain.then(function () {
      // Room for the other fields and the multipart framing.
      if (!problem && maxTotal && total > maxTotal - 65536 && limits) {
        problem = limits.getAttribute("data-total-too-big").replace("{size}", filesize(total));
      }
      if (problem) { showError(form, problem); return null; }
      return body;
    });
  }
})();

