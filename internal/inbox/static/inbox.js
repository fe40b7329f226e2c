// Live updates for the cxloop inbox: the server sends an event when a Case
// changes; the page fetches itself again (as the signed-in person) and
// swaps in the parts that changed. Without JavaScript the pages work the
// same, only without live updates.
(function () {
  "use strict";
  var live = document.body.getAttribute("data-live");
  if (!live || !window.EventSource || !window.fetch) { return; }
  var url = live === "list" ? "/events" : "/events?case=" + encodeURIComponent(live);
  var timer = null;

  function busy(root) {
    // Do not replace a form the person is filling in.
    var el = document.activeElement;
    if (el && root.contains(el) && (el.tagName === "TEXTAREA" || el.tagName === "INPUT" || el.tagName === "SELECT")) { return true; }
    var fields = root.querySelectorAll("textarea");
    for (var i = 0; i < fields.length; i++) { if (fields[i].value !== fields[i].defaultValue) { return true; } }
    return false;
  }

  function swap(doc, selector) {
    var now = document.querySelector(selector), next = doc.querySelector(selector);
    if (!now || !next) { return false; }
    now.replaceWith(next);
    return true;
  }

  function refresh() {
    timer = null;
    fetch(window.location.pathname + window.location.search, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var note = document.getElementById("live-note");
        if (live === "list") {
          swap(doc, "#main");
        } else {
          swap(doc, "#live");
          var work = document.querySelector("section.work");
          if (work && busy(work)) {
            if (note) { note.textContent = "This Case changed: reload the page to see what you may do now."; }
          } else {
            swap(doc, "section.work");
          }
        }
        if (note && live === "list") { note.textContent = ""; }
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { /* the next event tries again */ });
  }

  var es = new EventSource(url, { withCredentials: true });
  es.addEventListener("case", function () {
    if (timer === null) { timer = window.setTimeout(refresh, 300); }
  });
})();
