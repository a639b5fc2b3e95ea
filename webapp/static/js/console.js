// Duty console: live queue keyboard, alarm sound for urgent alerts, review
// countdowns (the maps are static/js/map.js).
(function () {
  "use strict";

  // ---- clock: the server's now, so countdowns agree with the server -------
  var skewMs = 0;
  function syncClock(root) {
    var table = (root || document).querySelector("[data-now]");
    if (table) skewMs = Date.parse(table.getAttribute("data-now")) - Date.now();
  }
  function serverNow() { return Date.now() + skewMs; }

  function tickCountdowns() {
    var now = serverNow();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = Date.parse(el.getAttribute("data-due")) - now;
      el.textContent = window.nrscFormat.timeLeft(left);
      el.classList.toggle("overdue", left <= 0);
    });
  }

  // ---- alarm: WebAudio beeps while an urgent alert is unacknowledged -----
  var audio = null;
  var soundWanted = window.localStorage && localStorage.getItem("nrsc.sound") !== "off";
  window.nrscConsole = { alarming: false, beeps: 0 };

  function ensureAudio() {
    if (!soundWanted) return null;
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!audio) audio = new Ctx();
    if (audio.state === "suspended") audio.resume();
    return audio;
  }
  function beep() {
    var ctx = ensureAudio();
    if (!ctx || ctx.state !== "running") return;
    var osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.35);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.35);
    window.nrscConsole.beeps += 1;
  }
  function alarmTick() {
    var table = document.querySelector("table.queue[data-alarm]");
    var alarming = !!(table && table.getAttribute("data-alarm"));
    window.nrscConsole.alarming = alarming;
    document.body.classList.toggle("alarming", alarming);
    if (alarming) beep();
  }
  function updateSoundButton() {
    var button = document.getElementById("sound-toggle");
    if (!button) return;
    var on = soundWanted && audio && audio.state === "running";
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.classList.toggle("on", !!on);
    button.textContent = on ? button.dataset.on || "🔔" : button.dataset.off || button.textContent;
  }
  // Browsers start audio only after a gesture: any key or click unlocks it.
  function unlock() { ensureAudio(); updateSoundButton(); }
  document.addEventListener("keydown", unlock, { once: true });
  document.addEventListener("click", unlock, { once: true });

  // ---- queue selection and keys -------------------------------------------
  var selectedId = null;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue tr.alert-row")); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) { selectedId = null; return; }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    selectedId = row.getAttribute("data-id");
    row.scrollIntoView({ block: "nearest" });
  }
  function current() {
    var all = rows();
    return all.find(function (r) { return r.getAttribute("data-id") === selectedId; }) || null;
  }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var i = all.indexOf(current());
    select(all[Math.max(0, Math.min(all.length - 1, i < 0 ? 0 : i + step))]);
  }
  function restoreSelection() {
    var row = current();
    if (row) select(row); else select(rows()[0] || null);
  }
  function toggleHelp(show) {
    var overlay = document.getElementById("help-overlay");
    if (!overlay) return;
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
    if (!overlay.hidden) document.getElementById("help-close").focus();
  }
  function typing(target) {
    return target && (/^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName) || target.isContentEditable);
  }
  function onKey(evt) {
    if (evt.ctrlKey || evt.metaKey || evt.altKey) return;
    if (evt.key === "Escape") { toggleHelp(false); return; }
    if (typing(evt.target)) return;
    if (evt.key === "?") { toggleHelp(); evt.preventDefault(); return; }
    if (!document.getElementById("queue")) return;
    var row = current();
    switch (evt.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter":
        if (row && evt.target.tagName !== "BUTTON" && evt.target.tagName !== "A") window.location = row.getAttribute("data-href");
        else return;
        break;
      case "c":
        if (!row) return;
        var claim = row.querySelector("form.claim-form");
        if (claim) claim.submit(); else window.location = row.getAttribute("data-href");
        break;
      case "f": if (row) window.location = row.getAttribute("data-href") + "#false-alarm"; break;
      case "d": if (row) window.location = row.getAttribute("data-href") + "#duplicate"; break;
      case "a":
        var ack = row && row.querySelector("form.ack-form");
        if (!ack) return;
        ack.requestSubmit();
        break;
      default: return;
    }
    evt.preventDefault();
  }

  function focusFromHash() {
    var target = { "#false-alarm": "#false-alarm select[name=reason]", "#duplicate": "#duplicate input[name=duplicate_of]" }[location.hash];
    var el = target && document.querySelector(target);
    if (el) el.focus();
  }

  // ---- wiring -----------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    syncClock();
    tickCountdowns();
    setInterval(tickCountdowns, 1000);
    setInterval(alarmTick, 1200);
    alarmTick();
    restoreSelection();
    document.addEventListener("keydown", onKey);
    var help = document.getElementById("help-toggle");
    if (help) help.addEventListener("click", function () { toggleHelp(); });
    var close = document.getElementById("help-close");
    if (close) close.addEventListener("click", function () { toggleHelp(false); });
    var sound = document.getElementById("sound-toggle");
    if (sound) {
      sound.dataset.off = sound.textContent;
      sound.addEventListener("click", function () {
        soundWanted = !(audio && audio.state === "running" && soundWanted);
        if (window.localStorage) localStorage.setItem("nrsc.sound", soundWanted ? "on" : "off");
        if (soundWanted) ensureAudio(); else if (audio) audio.suspend();
        setTimeout(updateSoundButton, 50);
      });
    }
    // Status chips: choose the status in the filter form, whose change
    // event reloads the queue (and the 2 s polling keeps the choice).
    document.addEventListener("click", function (evt) {
      var chip = evt.target.closest && evt.target.closest("#queue-counts a[data-status]");
      var select = document.querySelector("#queue-filters select[name=status]");
      if (!chip || !select || evt.ctrlKey || evt.metaKey || evt.shiftKey) return;
      evt.preventDefault();
      select.value = chip.getAttribute("data-status");
      var page = document.querySelector("#queue-filters input[name=page]");
      if (page) page.remove();
      select.dispatchEvent(new Event("change", { bubbles: true }));
    });
    document.body.addEventListener("htmx:afterSwap", function (evt) {
      if (evt.detail.target && evt.detail.target.id === "queue") {
        syncClock(evt.detail.target);
        tickCountdowns();
        restoreSelection();
        alarmTick();
      }
    });
    focusFromHash();
  });
})();
