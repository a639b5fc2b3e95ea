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
