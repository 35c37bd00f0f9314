// oob dashboard: live updates of a run page over server-sent events, and local times.
// No framework and no build step: the server renders every section; this file swaps them in.
"use strict";

function localTimes(root) {
  // Stored times are UTC; show them in the reader's time zone, keeping UTC in the tooltip.
  for (const el of root.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    el.title = el.textContent;
    // The audit log keeps seconds: several events often share a minute.
    const timeStyle = el.closest(".events") ? "medium" : "short";
    el.textContent = at.toLocaleString([], {dateStyle: "medium", timeStyle});
  }
}

function swap(el, html) {
  // Replace a section with its new rendering, keeping what the reader was doing in it: an
  // action opened, text typed, the focus. The first update after loading resends every
  // section, often just as someone opens an action.
  const opened = new Set(
    [...el.querySelectorAll("details[open][data-action]")].map((d) => d.dataset.action),
  );
  const typed = new Map(
    [...el.querySelectorAll("input[id]:not([type=hidden]), textarea[id]")]
      .filter((field) => field.value)
      .map((field) => [field.id, field.value]),
  );
  const focused = el.contains(document.activeElement) ? document.activeElement.id : "";
  el.innerHTML = html;
  for (const details of el.querySelectorAll("details[data-action]")) {
    if (opened.has(details.dataset.action)) details.open = true;
  }
  for (const [id, value] of typed) {
    const field = document.getElementById(id);
    if (field && el.contains(field) && !field.value) field.value = value;
  }
  if (focused) document.getElementById(focused)?.focus();
  localTimes(el);
}

function follow(run) {
  const status = document.getElementById("live-status");
  const source = new EventSource(run.dataset.stream);
  source.addEventListener("sections", (message) => {
    const sections = JSON.parse(message.data);
    for (const [id, html] of Object.entries(sections)) {
      const el = document.getElementById(id);
      if (el) swap(el, html);
    }
    status.textContent = "Live";
    run.dataset.updates = String(Number(run.dataset.updates || 0) + 1);
  });
  source.addEventListener("end", () => {
    source.close();
    status.textContent = "The run has ended.";
    run.dataset.active = "no";
  });
  source.onerror = () => {
    status.textContent = "Reconnecting…";
  };
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const run = document.getElementById("run");
  if (run && run.dataset.active === "yes") follow(run);
});
