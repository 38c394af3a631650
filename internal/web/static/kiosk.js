// The kiosk: scan a booking's QR code with the camera where the browser can
// (BarcodeDetector); a USB scanner types the code into the field anyway.
(function () {
  "use strict";
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
