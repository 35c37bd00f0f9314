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

function follow(run) {
  const status = document.getElementById("live-status");
  const source = new EventSource(run.dataset.stream);
  source.addEventListener("sections", (message) => {
    const sections = JSON.parse(message.data);
    for (const [id, html] of Object.entries(sections)) {
      const el = document.getElementById(id);
      // A form someone is filling in stays put unless the actions on offer changed.
      if (el) {
        el.innerHTML = html;
        localTimes(el);
      }
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
