// Models page: the curve's axis toggle, and promoting (rolling back to) a version through the REST API,
// asking for confirmation when the API objects that the version did not beat the promoted one.
// Run page: the run's progress refreshed in place until it ends.
"use strict";

(function () {
  const MESSAGE_KEY = "inkloop-models-message";

  function setupCurveToggle() {
    document.querySelectorAll("[data-curve-axis]").forEach((button) => {
      button.addEventListener("click", () => {
        document.querySelectorAll("[data-curve-axis]").forEach((other) => {
          other.setAttribute("aria-pressed", String(other === button));
        });
        document.querySelectorAll("[data-curve]").forEach((figure) => {
          figure.hidden = figure.dataset.curve !== button.dataset.curveAxis;
        });
      });
    });
  }

  // Resolves to true when the person chose "Promote anyway".
  function confirmForce(dialog, reason) {
    dialog.querySelector("#force-reason").textContent = reason;
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "force"), {once: true});
      dialog.showModal();
    });
  }

  function setupPromote() {
    const announcer = document.getElementById("models-announcer");
    const dialog = document.getElementById("force-dialog");
    if (!announcer) return;
    const left = window.sessionStorage.getItem(MESSAGE_KEY);
    if (left) {
      window.sessionStorage.removeItem(MESSAGE_KEY);
      inkloop.announce(announcer, left);
    }
    document.querySelectorAll("button[data-promote]").forEach((button) => {
      button.addEventListener("click", async () => {
        if (button.getAttribute("aria-busy") === "true") return;
        button.setAttribute("aria-busy", "true");
        let result = await inkloop.request("POST", button.dataset.promote, {force: false});
        let forced = false;
        if (result.status === 409 && dialog) {
          // The API's own objection ("recognizer-v3 did not beat recognizer-v2: val CER ..."), shown as said.
          if (await confirmForce(dialog, result.body.detail || "Its figures say it did not beat the promoted model.")) {
            forced = true;
            result = await inkloop.request("POST", button.dataset.promote, {force: true});
          } else {
            button.removeAttribute("aria-busy");
            button.focus();
            inkloop.announce(announcer, `${button.dataset.label} was not promoted.`);
            return;
          }
        }
        button.removeAttribute("aria-busy");
        if (result.ok) {
          window.sessionStorage.setItem(MESSAGE_KEY, `${button.dataset.label} is now the promoted model` +
            (forced ? " (recorded as forced)." : "."));
          window.location.reload();
        } else {
          inkloop.announce(announcer, result.body.detail || "The request failed.", "error");
        }
      });
    });
  }

  function setupRunPolling() {
    const section = document.getElementById("run");
    if (!section) return;
    const live = document.getElementById("run-live");
    const announcer = document.getElementById("run-announcer");
    const POLL_MS = 1000;  // a run reports every step; once a second keeps the numbers current

    async function refresh() {
      try {
        const response = await fetch(section.dataset.liveUrl, {credentials: "same-origin"});
        if (response.ok && !response.redirected) {
          // Server-rendered, autoescaped HTML of our own fragment, not user data assembled here.
          live.innerHTML = await response.text();
        }
      } catch (error) {
        // A dropped request is retried at the next poll.
      }
      const state = live.querySelector(".run-live").dataset.state;
      if (state === "active") {
        window.setTimeout(refresh, POLL_MS);
      } else {
        inkloop.announce(announcer, live.querySelector(".run-outcome").textContent);
      }
    }

    if (live.querySelector(".run-live").dataset.state === "active") window.setTimeout(refresh, POLL_MS);
  }

  setupCurveToggle();
  setupPromote();
  setupRunPolling();
})();
