// The waiting-room board: the called tickets, live over server-sent events.
// EventSource reconnects by itself; while it is down the board says so and
// keeps showing the last calls.
(function () {
  "use strict";
  var board = document.querySelector(".board");
  if (!board) return;
  var calls = document.getElementById("calls");
  var status = document.getElementById("status");
  var id = board.getAttribute("data-department");
  var src = new EventSource("/api/v1/display/departments/" + encodeURIComponent(id) + "/events");
  src.addEventListener("board", function (ev) {
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
  });
  src.addEventListener("open", function () { status.textContent = ""; });
  src.addEventListener("error", function () { status.textContent = board.getAttribute("data-offline"); });
})();
