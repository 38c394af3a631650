// The waiting-room board: the called tickets, live over server-sent events
// (live.js keeps the stream open and says when it is down). While it is
// down the board keeps showing the last calls.
(function () {
  "use strict";
  var board = document.querySelector(".board");
  if (!board) return;
  var calls = document.getElementById("calls");
  var id = board.getAttribute("data-department");
  var url = "/api/v1/display/departments/" + encodeURIComponent(id) + "/events";
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
  }
  window.FairslotLive.connect(url, { board: show }, document.getElementById("status"), board.getAttribute("data-offline"));
})();
