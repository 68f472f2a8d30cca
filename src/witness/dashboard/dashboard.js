(function () {
  "use strict";
  var live = document.getElementById("live"), body = document.body;
  var got = Date.now(), n = 0;
  function fmt(s) {
    s = Math.max(0, Math.round(s));
    if (s < 120) return s + "s";
    if (s < 7200) return Math.floor(s / 60) + "m";
    if (s < 172800) return Math.floor(s / 3600) + "h";
    return Math.floor(s / 86400) + "d";
  }
  function tick() {
    var dt = (Date.now() - got) / 1000;
    live.querySelectorAll("[data-age]").forEach(function (e) {
      e.textContent = fmt(parseFloat(e.getAttribute("data-age")) + dt);
    });
    live.querySelectorAll("[data-elapsed]").forEach(function (e) {
      e.textContent = fmt(parseFloat(e.getAttribute("data-elapsed")) + dt);
    });
    live.querySelectorAll("[data-budget]").forEach(function (e) {
      var b = parseFloat(e.getAttribute("data-budget")), el = live.querySelector("[data-elapsed]");
      if (b > 0 && el) {
        var p = Math.min(100, (parseFloat(el.getAttribute("data-elapsed")) + dt) / b * 100);
        e.style.width = p.toFixed(1) + "%";
        if (p >= 100) e.parentNode.classList.add("over");
      }
    });
  }
  var src = body.getAttribute("data-live");
  if (src && window.EventSource) {
    var es = new EventSource(src);
    es.addEventListener("update", function (e) {
      live.innerHTML = e.data;
      got = Date.now();
      n += 1;
      body.setAttribute("data-updates", String(n));
      body.classList.remove("stale");
    });
    es.addEventListener("gone", function () { es.close(); body.classList.add("stale"); });
    es.onerror = function () { body.classList.add("stale"); };
    es.onopen = function () { body.classList.remove("stale"); };
  }
  setInterval(tick, 1000);
})();
