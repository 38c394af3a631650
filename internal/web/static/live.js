// Live parts of pages over server-sent events: the waiting-room boards
// (board.js), a patient's turn and a doctor's room (an element with
// data-live, whose HTML the server sends again as it changes).
// EventSource reconnects by itself after a stream ends, but not after a
// refusal (a full stream pool, a rate limit, a restarting server answer
// with a status, and it then closes for good): a new one is opened after a
// few seconds, later each time up to a minute. While it is down the page
// says so (the element's data-offline text in #live-status) and keeps
// showing what it last had. An "end" event (the login ended) stops it:
// the page's reload link then leads to the login.
(function () {
  "use strict";
  function connect(url, events, status, offline) {
    var wait = 5000;
    function open() {
      var src = new EventSource(url);
      Object.keys(events).forEach(function (name) {
        src.addEventListener(name, function (ev) {
          if (status) status.textContent = "";
          events[name](ev);
        });
      });
      src.addEventListener("end", function () {
        src.close();
        if (status) status.textContent = offline;
      });
      src.addEventListener("open", function () { if (status) status.textContent = ""; wait = 5000; });
      src.addEventListener("error", function () {
        if (status) status.textContent = offline;
        if (src.readyState === EventSource.CLOSED) {
          setTimeout(open, wait + Math.random() * 1000);
          wait = Math.min(wait * 2, 60000);
        }
      });
    }
    open();
  }
  window.FairslotLive = { connect: connect };
  var el = document.querySelector("[data-live]");
  if (!el) return;
  connect(el.getAttribute("data-live"), {
    live: function (ev) {
      // The server's own template output (html/template-escaped), never
      // anything a visitor typed unescaped.
      // Replaced only when it differs from what the page shows (both as
      // the browser serialises them): the first event repeats the page, and
      // replacing identical nodes would only lose focus and selection.
      var next = document.createElement("template");
      next.innerHTML = JSON.parse(ev.data).html;
      if (next.innerHTML !== el.innerHTML) el.innerHTML = next.innerHTML;
    }
  }, document.getElementById("live-status"), el.getAttribute("data-offline"));
})();
