// Dashboard: "Retrain now" / cancel through the REST API, and the training panel refreshed in place.
"use strict";

(function () {
  const section = document.getElementById("training");
  if (!section) return;
  const live = document.getElementById("training-live");
  const announcer = document.getElementById("training-announcer");
  const ACTIVE_POLL_MS = 1000;  // a run reports every step; once a second keeps the numbers current
  const IDLE_POLL_MS = 10000;   // catches runs started elsewhere (the retrain policy, another person)
  let timer = null;
  let lastStatuses = statuses();
  let lastHtml = null;

  function statuses() {
    const result = {};
    live.querySelectorAll("tr[data-run]").forEach((row) => { result[row.dataset.run] = row.dataset.status; });
    return result;
  }

  function syncButtons() {
    const panel = live.querySelector(".training-live");
    section.querySelectorAll("button[data-cancel]").forEach((button) => {
      const active = panel.dataset["active" + button.dataset.cancel[0].toUpperCase() + button.dataset.cancel.slice(1)];
      if (button.hidden !== !active && document.activeElement === button && !active) {
        // The run this button would cancel ended: keep keyboard focus in the same group.
        section.querySelector(`button[data-retrain="${button.dataset.cancel}"]`).focus();
      }
      button.hidden = !active;
      button.dataset.run = active || "";
    });
  }

  function announceStatusChanges() {
    const now = statuses();
    for (const [run, status] of Object.entries(now)) {
      if (lastStatuses[run] !== status) {
        const row = live.querySelector(`tr[data-run="${run}"]`);
        inkloop.announce(announcer, `${row.querySelector("th").textContent}: ${row.querySelector(".run-status").textContent}.`);
      }
    }
    lastStatuses = now;
  }

  async function refresh() {
    window.clearTimeout(timer);
    const response = await fetch(section.dataset.liveUrl, {credentials: "same-origin"});
    if (response.ok && !response.redirected) {
      // Server-rendered, autoescaped HTML of our own fragment, not user data assembled here.
      const html = await response.text();
      if (html !== lastHtml) {
        live.innerHTML = html;
        lastHtml = html;
        syncButtons();
        announceStatusChanges();
      }
    }
    schedule();
  }

  function schedule() {
    const active = live.querySelector(".training-live").dataset.state === "active";
    timer = window.setTimeout(refresh, active ? ACTIVE_POLL_MS : IDLE_POLL_MS);
  }

  section.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    let result;
    if (button.dataset.retrain) {
      // aria-busy rather than disabled: disabling the focused button would drop keyboard focus.
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("aria-busy", "true");
      result = await inkloop.request("POST", section.dataset.runsUrl, {kind: button.dataset.retrain});
      button.removeAttribute("aria-busy");
      if (result.ok) {
        inkloop.announce(announcer, result.status === 201
          ? `Training of the ${button.dataset.retrain} requested.`
          : `A ${button.dataset.retrain} run is already active; it will train once more when it ends.`);
      }
    } else if (button.dataset.cancel && button.dataset.run) {
      result = await inkloop.request("POST", `${section.dataset.runsUrl}${button.dataset.run}/cancel/`);
      if (result.ok) inkloop.announce(announcer, `Cancelling the ${button.dataset.cancel} run.`);
    } else {
      return;
    }
    if (!result.ok) inkloop.announce(announcer, result.body.detail || "The request failed.", "error");
    refresh();
  });

  syncButtons();
  schedule();
})();
