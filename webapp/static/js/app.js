// Small page behaviours shared by every page; features add their own files.

// Durations in the page's language, from the words the server put in
// <meta name="nrsc-words"> (webapp/platform/formats.py writes the same on the
// server): 3天15小时, 8小时16分, 4分32秒; 剩余 …, 已超时 ….
window.nrscFormat = (function () {
  var words = { d: "{n} d", h: "{n} h", m: "{n} min", s: "{n} s", left: "{span} left",
                over: "overdue by {span}", sep: " " };
  var meta = document.querySelector("meta[name=nrsc-words]");
  if (meta) { try { words = JSON.parse(meta.getAttribute("content")); } catch (e) { /* keep English */ } }
  function word(unit, n) { return words[unit].replace("{n}", n); }
  function duration(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    var parts;
    if (d) parts = [word("d", d)].concat(h ? [word("h", h)] : []);
    else if (h) parts = [word("h", h)].concat(m ? [word("m", m)] : []);
    else if (m) parts = [word("m", m)].concat(s ? [word("s", s)] : []);
    else parts = [word("s", s)];
    return parts.join(words.sep);
  }
  function timeLeft(ms) {
    return words[ms >= 0 ? "left" : "over"].replace("{span}", duration(ms));
  }
  return { duration: duration, timeLeft: timeLeft };
})();


// An htmx form refused with 400/409/422 answers with its own form again, the
// messages next to the fields: swap it in place like a success (htmx 2 does
// not swap 4xx by default). Full error pages (<html>) are never swapped into
// a form; they fall through to the message box below.
var NRSC_SWAP_CODES = { 400: true, 409: true, 422: true };
document.addEventListener("htmx:beforeSwap", function (evt) {
  var xhr = evt.detail.xhr;
  if (!NRSC_SWAP_CODES[xhr.status]) return;
  var type = xhr.getResponseHeader("Content-Type") || "";
  var text = xhr.responseText || "";
  if (type.indexOf("text/html") !== 0 || /<html[\s>]/i.test(text.slice(0, 500))) return;
  evt.detail.shouldSwap = true;
  evt.detail.isError = false;
});

// Any other refused htmx request: the reason in a message box on top, taken
// from the JSON message or the error page's own message, never raw HTML.
document.addEventListener("htmx:responseError", function (evt) {
  var xhr = evt.detail.xhr;
  var text = xhr.responseText || "";
  var message = "";
  try { message = JSON.parse(text).message || ""; } catch (e) {
    try {
      var doc = new DOMParser().parseFromString(text, "text/html");
      var node = doc.querySelector("[data-error-message]") || doc.querySelector("main h1");
      message = node ? node.textContent.trim() : "";
    } catch (e2) { message = ""; }
  }
  var box = document.createElement("div");
  box.className = "flash error";
  box.setAttribute("role", "alert");
  box.textContent = message || String(xhr.status);
  var main = document.querySelector("main");
  if (main) main.prepend(box);
});

// Colours, offsets and detection boxes come from data attributes and are set
// through the CSSOM: the Content-Security-Policy forbids style="" attributes.
function nrscApplyDataStyles(root) {
  var scope = root && root.querySelectorAll ? root : document;
  scope.querySelectorAll("[data-bg]").forEach(function (el) { el.style.background = el.getAttribute("data-bg"); });
  scope.querySelectorAll("[data-indent]").forEach(function (el) {
    el.style.paddingLeft = parseFloat(el.getAttribute("data-indent")) + "em";
  });
  scope.querySelectorAll("[data-box]").forEach(function (el) {
    var b = el.getAttribute("data-box").split(",").map(parseFloat);
    el.style.left = b[0] + "%"; el.style.top = b[1] + "%"; el.style.width = b[2] + "%"; el.style.height = b[3] + "%";
  });
}
document.addEventListener("DOMContentLoaded", function () { nrscApplyDataStyles(document); });
document.addEventListener("htmx:load", function (evt) { nrscApplyDataStyles(evt.detail.elt.parentNode || document); });

// File pickers (templates/forms/_file_pick.html): the chosen file's name, or how many.
document.addEventListener("change", function (evt) {
  var input = evt.target;
  if (!input.matches || !input.matches(".file-pick input[type=file]")) return;
  var out = input.closest(".file-pick").nextElementSibling;
  if (!out || !out.classList.contains("file-chosen")) return;
  var files = input.files || [];
  out.textContent = files.length === 1 ? files[0].name
    : files.length ? (out.getAttribute("data-many") || "{n}").replace("{n}", files.length) : "";
});
