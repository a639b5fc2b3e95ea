// Small page behaviours shared by every page; features add their own files.
document.addEventListener("htmx:responseError", function (evt) {
  var box = document.createElement("div");
  box.className = "flash error";
  box.setAttribute("role", "alert");
  var text = evt.detail.xhr.responseText || "";
  try { text = JSON.parse(text).message || text; } catch (e) { /* HTML error page */ }
  box.textContent = (evt.detail.xhr.status + " ") + (text.length < 300 ? text : "");
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
