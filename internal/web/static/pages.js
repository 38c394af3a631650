// fairslot pages: what needs a script, and nothing else.
// - Forms marked data-pow (booking, entering a draw) are sent with fetch so
//   that the front door's proof-of-work challenge can be solved (pow.js) and
//   sent in headers; the patient sees only a short wait.
// - The login code step's countdown to when a new code may be asked for.
// - The queue ticket's print buttons (58 and 80 mm paper).
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.hasAttribute("data-pow") || !window.FairslotPoW) return;
    ev.preventDefault();
    var button = form.querySelector("button");
    var label = button ? button.textContent : "";
    if (button) { button.disabled = true; button.textContent = form.getAttribute("data-wait") || label; }
    var body = new URLSearchParams(new FormData(form));
    window.FairslotPoW.fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (resp) {
      if (resp.redirected) { window.location.assign(resp.url); return; }
      return resp.text().then(function (html) {
        // An error page: show it in place of this one.
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.title = doc.title;
        document.body.replaceWith(document.adoptNode(doc.body));
      });
    }).catch(function () {
      if (button) { button.disabled = false; button.textContent = label; }
      form.removeAttribute("data-pow");
      form.submit(); // the network failed: let the browser try and show its own error
    });
  });
  // The login code step: "a new code in n s", counted down, the resend
  // button off until then (the server refuses an early one all the same).
  var wait = document.querySelector("[data-countdown]");
  if (wait) {
    var left = parseInt(wait.getAttribute("data-countdown"), 10);
    var format = wait.getAttribute("data-format");
    var resend = document.getElementById("resend");
    var tick = function () {
      if (!(left > 0)) {
        wait.hidden = true;
        if (resend) resend.disabled = false;
        return;
      }
      wait.textContent = format.replace("{n}", left);
      if (resend) resend.disabled = true;
      left--;
      setTimeout(tick, 1000);
    };
    tick();
  }
  // The ticket prints on the receipt printer's paper width its button
  // names (data-paper: 58 or 80 mm; app.css has a named @page for each).
  Array.prototype.forEach.call(document.querySelectorAll("[data-paper]"), function (b) {
    b.addEventListener("click", function () {
      document.body.setAttribute("data-paper", b.getAttribute("data-paper"));
      window.print();
    });
  });
})();
