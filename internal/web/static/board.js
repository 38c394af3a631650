// The waiting-room board: the called tickets, live over server-sent events.
// EventSource reconnects by itself after a stream ends, but not after a
// refusal (a full stream pool, a rate limit, a restarting server answer
// with a status, and it then closes for good): the board opens a new one
// after a few seconds, later each time up to a minute. While it is down the
// board says so and keeps showing the last calls.
(function () {
  "use strict";
  var board = document.querySelector(".board");
  if (!board) return;
  var calls = document.getElementById("calls");
  var status = document.getElementById("status");
  var id = board.getAttribute("data-department");
  var url = "/api/v1/display/departments/" + encodeURIComponent(id) + "/events";
  var wait = 5000;
  function connect() {
    var src = new EventSource(url);
    src.addEventListener("board", show);
    src.addEventListener("open", function () { status.textContent = ""; wait = 5000; });
    src.addEventListener("error", function () {
      status.textContent = board.getAttribute("data-offline");
      if (src.readyState === EventSource.CLOSED) {
        setTimeout(connect, wait + Math.random() * 1000);
        wait = Math.min(wait * 2, 60000);
      }
    });
  }
  function show(ev) {
    var data = JSON.parse(ev.data);
    var rows = document.createDocumentFragment();
    (data.calls || []).forEach(function (c) {
      var tr = document.createElement("tr");
      [c.ticket, c.name, c.room].forEach(function (v, i) {
        var td = document.createElement("td");
        if (i === 0) td.className = "ticket";
        td.textContent = v;
        tr.appendChild(td);
      });
      rows.appendChild(tr);
    });
    calls.replaceChildren(rows);
    status.textContent = "";
  }
  connect();
})();
