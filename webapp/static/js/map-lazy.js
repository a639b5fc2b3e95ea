// Lazy maps (templates/gis/_map.html, lazy=True): a map box marked
// data-map-lazy="leaflet.css leaflet.js map.js" fetches Leaflet and map.js only
// when it scrolls into view, so a page that scrolls to its map (the
// handler's phone page over 4G) is interactive before ~150 KB of map code
// arrive. Watching starts after the page's load event. Where map.js is on the
// page already, the box is drawn as soon as it is seen.
(function () {
  "use strict";
  var loading = null;

  function fetchAsset(url, isCss) {
    return new Promise(function (resolve, reject) {
      var el;
      if (isCss) {
        el = document.createElement("link");
        el.rel = "stylesheet";
        el.href = url;
      } else {
        el = document.createElement("script");
        el.src = url;
        el.async = false;
      }
      el.onload = resolve;
      el.onerror = reject;
      document.head.appendChild(el);
    });
  }

  function assets(box) {
    if (window.nrscMap) return Promise.resolve();
    if (!loading) {
      var urls = (box.getAttribute("data-map-lazy") || "").split(" ");
      // The stylesheet before drawing; map.js after Leaflet.
      loading = Promise.all([fetchAsset(urls[0], true),
        fetchAsset(urls[1], false).then(function () { return fetchAsset(urls[2], false); })]);
      loading.catch(function () { loading = null; });  // a lost connection: the next look tries again
    }
    return loading;
  }

  function show(box) {
    assets(box).then(function () { window.nrscMap.draw(box); }, function () {});
  }

  var observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) {
        observer.unobserve(entry.target);
        show(entry.target);
      }
    });
  }, { rootMargin: "0px" }) : null;

  function watch(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-map-lazy]"), function (box) {
      if (box.getAttribute("data-ready")) return;
      if (observer) observer.observe(box); else show(box);
    });
  }
  // Only after the load event: the map's assets never hold up the page itself.
  if (document.readyState === "complete") watch();
  else window.addEventListener("load", function () { watch(); });
  document.addEventListener("htmx:afterSettle", function (evt) { watch(evt.target); });
})();
