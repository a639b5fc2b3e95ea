// Small page behaviours shared by every page; features add their own files.

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
