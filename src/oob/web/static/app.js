// oob dashboard: live updates of the runs page and a run page over server-sent events, and
// local times.
// No framework and no build step: the server renders every section; this file swaps them in.
"use strict";

const FOCUSABLE = "a[href], button, summary, input, textarea, select, [tabindex]";

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

function keyOf(el) {
  // What names an element across renderings: its id, else where it is and what it says.
  // Links, an action's summary and its submit button have no id.
  if (el.id) return `#${el.id}`;
  const action = el.closest("[data-action]");
  return [
    action ? action.dataset.action : "",
    el.tagName,
    el.getAttribute("name") || "",
    el.getAttribute("href") || "",
    el.textContent.trim(),
  ].join("|");
}

function swap(el, html) {
  // Replace a section with its new rendering, keeping what the reader was doing in it: an
  // action opened, text typed, a field marked invalid, the focus. The first update after
  // loading resends every section, often just as someone opens an action.
  const opened = new Set(
    [...el.querySelectorAll("details[open][data-action]")].map((d) => d.dataset.action),
  );
  const fields = [...el.querySelectorAll("input[id]:not([type=hidden]), textarea[id], select[id]")]
    .filter((field) => field.value || field.hasAttribute("aria-invalid"))
    .map((field) => ({
      id: field.id,
      value: field.value,
      invalid: field.getAttribute("aria-invalid"),
      describedby: field.getAttribute("aria-describedby"),
    }));
  const focused = el.contains(document.activeElement) ? keyOf(document.activeElement) : "";
  // A region scrolled by its reader (the history table on a phone) stays where it was.
  const scrolled = [...el.querySelectorAll(".scroll")].map((r) => [r.scrollLeft, r.scrollTop]);
  el.innerHTML = html;
  [...el.querySelectorAll(".scroll")].forEach((region, i) => {
    if (scrolled[i]) [region.scrollLeft, region.scrollTop] = scrolled[i];
  });
  for (const details of el.querySelectorAll("details[data-action]")) {
    if (opened.has(details.dataset.action)) details.open = true;
  }
  for (const kept of fields) {
    const field = document.getElementById(kept.id);
    if (!field || !el.contains(field)) continue;
    if (kept.value) field.value = kept.value;
    if (kept.invalid) field.setAttribute("aria-invalid", kept.invalid);
    if (kept.describedby) field.setAttribute("aria-describedby", kept.describedby);
  }
  if (focused) {
    const again = [...el.querySelectorAll(FOCUSABLE)].find((x) => keyOf(x) === focused);
    if (again) {
      again.focus();
    } else {
      // What had the focus is gone (an action no longer offered): keep it in this section.
      el.tabIndex = -1;
      el.focus();
    }
  }
  localTimes(el);
}

function stateLine() {
  // The state and the step as a screen reader should hear them: not the ETA, which changes
  // every minute.
  const state = document.querySelector("#state [data-state]");
  const step = document.querySelector("#state [data-step]");
  const parts = [state ? state.textContent.trim() : ""];
  if (step) parts.push(`step: ${step.textContent.trim()}`);
  return parts.filter(Boolean).join(", ");
}

function eventIds() {
  return new Set([...document.querySelectorAll("#events [data-event]")].map((e) => e.dataset.event));
}

function follow(run) {
  // `run`: the element that names the page's stream (the run page's, or the runs page's).
  const status = document.getElementById("live-status");
  const announce = document.getElementById("announce");
  const say = (el, text) => {
    if (el.textContent !== text) el.textContent = text;
  };
  const source = new EventSource(run.dataset.stream);
  source.addEventListener("sections", (message) => {
    const sections = JSON.parse(message.data);
    const before = stateLine();
    const known = eventIds();
    for (const [id, html] of Object.entries(sections)) {
      const el = document.getElementById(id);
      if (el) swap(el, html);
    }
    // Only what matters is announced: a new state or step, and the important new entries.
    const news = [];
    const now = stateLine();
    if (now !== before) news.push(`Now: ${now}.`);
    for (const entry of document.querySelectorAll("#events [data-announce]")) {
      if (!known.has(entry.dataset.event)) news.push(entry.querySelector(".summary").textContent.trim());
    }
    if (news.length) announce.textContent = news.join(" ");
    say(status, "Live");
    run.dataset.updates = String(Number(run.dataset.updates || 0) + 1);
  });
  source.addEventListener("end", () => {
    source.close();
    say(status, "The run has ended.");
    run.dataset.active = "no";
  });
  source.onerror = () => {
    say(status, "Reconnecting…");
  };
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  // After a form is sent the page comes back with what happened: take the reader to it.
  const told = document.querySelector("[data-focus]");
  if (told) told.focus();
  const live = document.querySelector("[data-stream]");
  if (live && live.dataset.active === "yes") follow(live);
});
