// The kiosk (internal/web/kiosk.go).
// - Scan a booking's QR code with the camera where the browser can
//   (BarcodeDetector); a USB scanner types the code into the field anyway.
// - A scanner or an ID card reader types a value and Enter: in a field
//   marked data-next, Enter moves on to the named field instead of sending
//   the form half filled.
// - A kiosk's page (body[data-idle]) left without a touch or a key for that
//   many seconds goes back to the start screen, replacing itself so that
//   the back button does not bring it back; a page the browser restores
//   from its history is loaded afresh.
(function () {
  "use strict";
  document.querySelectorAll("[data-next]").forEach(function (el) {
    el.addEventListener("keydown", function (e) {
      var next = document.getElementById(el.getAttribute("data-next"));
      if (e.key === "Enter" && next) {
        e.preventDefault();
        next.focus();
      }
    });
  });
  var idle = Number(document.body.getAttribute("data-idle"));
  if (idle > 0) {
    var timer = 0;
    var reset = function () {
      clearTimeout(timer);
      timer = setTimeout(function () { location.replace("/kiosk"); }, idle * 1000);
    };
    ["pointerdown", "keydown", "input", "touchstart", "wheel"].forEach(function (t) {
      document.addEventListener(t, reset, { capture: true, passive: true });
    });
    window.addEventListener("pageshow", function (e) { if (e.persisted) location.reload(); });
    reset();
  }
  var scan = document.getElementById("scan");
  var video = document.getElementById("camera");
  var code = document.getElementById("code");
  if (!scan || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  scan.hidden = false;
  scan.addEventListener("click", function () {
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      video.srcObject = stream;
      video.hidden = false;
      video.play();
      var stop = function () { stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; };
      (function look() {
        detector.detect(video).then(function (found) {
          var v = found.length && found[0].rawValue;
          if (v && /^[A-Za-z0-9]{8}$/.test(v)) {
            code.value = v.toUpperCase();
            stop();
            document.getElementById("id_last4").focus();
          } else {
            setTimeout(look, 200);
          }
        }, function () { setTimeout(look, 500); });
      })();
    });
  });
})();
