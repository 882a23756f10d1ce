// The panel's only script (the Content-Security-Policy allows no inline script).
// 1. Live line states on the overview via server-sent events (EventSource reconnects by itself).
// 2. Confirmation for forms marked data-confirm.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var list = document.getElementById("lines");
  var note = document.getElementById("live-note");
  if (list && window.EventSource) {
    var source = new EventSource(list.dataset.events);
    if (note) { note.textContent = note.dataset.connecting; }
    source.addEventListener("open", function () { if (note) { note.textContent = note.dataset.live; } });
    source.addEventListener("error", function () { if (note) { note.textContent = note.dataset.lost; } });
    source.addEventListener("lines", function (event) {
      var lines = JSON.parse(event.data);
      var empty = document.getElementById("lines-empty");
      if (empty && lines.length) { empty.remove(); }
      list.replaceChildren.apply(list, lines.map(render));
    });
  }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
});

function render(line) {
  var li = document.createElement("li");
  li.className = "line line-" + line.state;
  li.dataset.line = line.line;
  var dot = document.createElement("span");
  dot.className = "dot";
  dot.setAttribute("aria-hidden", "true");
  var name = document.createElement("strong");
  name.textContent = line.line;
  var state = document.createElement("span");
  state.className = "state";
  state.textContent = line.label;
  var detail = document.createElement("small");
  detail.className = "detail";
  detail.textContent = line.detail || "";
  li.append(dot, " ", name, " ", state, " ", detail);
  return li;
}
