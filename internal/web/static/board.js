// The waiting-room board: the called tickets and those to get ready, live
// over server-sent events (live.js keeps the stream open and says when it
// is down; while it is down the board keeps showing the last calls).
// Each new call or recall is announced once: the sentence shown in #say,
// built from the page's data-say in the page's language, is the sentence
// spoken (speechSynthesis where the browser has it, the page's lang as the
// utterance's), or a short chime where it has not. The calls announced are
// kept for the tab (sessionStorage), so a reconnect or a reload announces
// only what it has not announced yet, and a board opened fresh announces
// nothing already on it.
(function () {
  "use strict";
  var board = document.querySelector(".board");
  if (!board) return;
  var calls = document.getElementById("calls");
  var next = document.getElementById("next");
  var say = document.getElementById("say");
  var id = board.getAttribute("data-department");
  var url = "/api/v1/display/departments/" + encodeURIComponent(id) + "/events";
  var lang = document.documentElement.lang;
  var store = "fairslot-board-" + id;
  var seen = null;
  try { seen = JSON.parse(sessionStorage.getItem(store)); } catch (e) { seen = null; }

  function sentence(c) {
    return board.getAttribute("data-say").replace("{ticket}", c.ticket).replace("{name}", c.name).replace("{room}", c.room);
  }
  function key(c) { return c.ticket + "|" + c.called_at + "|" + (c.recalls || 0); }

  var audio = null;
  function chime() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return;
    audio = audio || new AC();
    [880, 660].forEach(function (f, i) {
      var o = audio.createOscillator(), g = audio.createGain();
      var t = audio.currentTime + i * 0.35;
      o.frequency.value = f;
      g.gain.setValueAtTime(0.3, t);
      g.gain.exponentialRampToValueAtTime(0.001, t + 0.3);
      o.connect(g).connect(audio.destination);
      o.start(t);
      o.stop(t + 0.3);
    });
  }
  function speak(text) {
    if (!("speechSynthesis" in window) || typeof window.SpeechSynthesisUtterance !== "function") {
      chime();
      return;
    }
    var u = new SpeechSynthesisUtterance(text);
    u.lang = lang;
    var base = lang.toLowerCase().split("-")[0];
    var voices = window.speechSynthesis.getVoices() || [];
    for (var i = 0; i < voices.length; i++) {
      if (voices[i].lang.toLowerCase().replace("_", "-").split("-")[0] === base) { u.voice = voices[i]; break; }
    }
    window.speechSynthesis.speak(u);
  }
  // A click anywhere (the sound button) lets the browser make sound: most
  // refuse it to a page no one has touched.
  var sound = document.getElementById("sound");
  if (sound) sound.addEventListener("click", function () {
    if ("speechSynthesis" in window) window.speechSynthesis.resume();
    var AC = window.AudioContext || window.webkitAudioContext;
    if (AC) { audio = audio || new AC(); audio.resume(); }
    sound.hidden = true;
  });

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function show(ev) {
    var data = JSON.parse(ev.data);
    var now = data.calls || [], rows = document.createDocumentFragment();
    now.forEach(function (c) {
      var tr = document.createElement("tr");
      var td = cell(tr, c.ticket, "ticket");
      if (c.recalls) {
        var tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = board.getAttribute("data-recall");
        td.appendChild(document.createTextNode(" "));
        td.appendChild(tag);
      }
      cell(tr, c.name);
      cell(tr, c.room);
      rows.appendChild(tr);
    });
    calls.replaceChildren(rows);
    rows = document.createDocumentFragment();
    (data.next || []).forEach(function (c) {
      var tr = document.createElement("tr");
      cell(tr, c.room);
      cell(tr, c.ticket, "ticket");
      cell(tr, c.name);
      rows.appendChild(tr);
    });
    next.replaceChildren(rows);
    say.textContent = now.length ? sentence(now[0]) : "";
    // Announce the calls not announced yet, the oldest first, so the last
    // one spoken is the one #say shows.
    var fresh = now.filter(function (c) { return seen && seen.indexOf(key(c)) < 0; }).reverse();
    seen = now.map(key);
    try { sessionStorage.setItem(store, JSON.stringify(seen)); } catch (e) { /* private mode: announce per page */ }
    fresh.forEach(function (c) { speak(sentence(c)); });
  }
  window.FairslotLive.connect(url, { board: show }, document.getElementById("status"), board.getAttribute("data-offline"));
})();
