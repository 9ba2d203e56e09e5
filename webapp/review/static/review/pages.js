// The page grid: selection and bulk actions, all through the REST API (pages DELETE, preannotate/,
// send-to-label-studio/, export/).
// The API's own message is shown for every refusal.
"use strict";

(function () {
  const grid = document.getElementById("grid");
  const announcer = document.getElementById("grid-announcer");
  const selectAll = document.getElementById("select-all");
  if (!grid || !selectAll) return;
  const picks = () => Array.from(grid.querySelectorAll("input.pick"));
  const selected = () => picks().filter((box) => box.checked).map((box) => box.value);
  const pagesUrl = grid.dataset.pagesUrl;
  const confirmBox = document.getElementById("delete-confirm");

  function refresh() {
    const count = selected().length;
    document.getElementById("selected-count").textContent = `${count} selected`;
    const needSelection = "[data-bulk=delete], [data-bulk=export], [data-bulk=preannotate-selected], [data-bulk=send]";
    grid.querySelectorAll(needSelection).forEach((button) => {
      button.disabled = count === 0;
    });
    selectAll.checked = count > 0 && count === picks().length;
    selectAll.indeterminate = count > 0 && count < picks().length;
  }

  selectAll.addEventListener("change", () => {
    picks().forEach((box) => { box.checked = selectAll.checked; });
    refresh();
  });
  grid.addEventListener("change", (event) => { if (event.target.classList.contains("pick")) refresh(); });

  grid.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-bulk]");
    if (!button) return;
    const ids = selected();
    const action = button.dataset.bulk;
    if (action === "export") {
      // A plain navigation: the browser downloads the zip with the session cookie.
      window.location.assign(`${grid.dataset.exportUrl}?format=${button.dataset.format}&pages=${ids.join(",")}`);
      return;
    }
    if (action === "delete") {
      // Asked in the page, not with confirm(): the question names the pages and stays readable.
      const names = ids.map((id) => grid.querySelector(`[data-page="${id}"] .name`).textContent);
      confirmBox.querySelector("p").textContent =
        `Delete ${ids.length} page${ids.length === 1 ? "" : "s"} with all their lines? ${names.join(", ")}`;
      confirmBox.hidden = false;
      confirmBox.querySelector('[data-bulk="delete-confirmed"]').focus();
      return;
    }
    if (action === "delete-cancel") {
      confirmBox.hidden = true;
      return;
    }
    button.setAttribute("aria-busy", "true");
    try {
      if (action === "delete-confirmed") {
        confirmBox.hidden = true;
        await deletePages(ids);
      }
      if (action === "preannotate") await preannotate();
      if (action === "preannotate-selected") await preannotate(ids);
      if (action === "send") await sendToLabelStudio(ids);
    } finally {
      button.removeAttribute("aria-busy");
    }
  });

  async function deletePages(ids) {
    const failed = [];
    let deleted = 0;
    for (const id of ids) {
      const answer = await inkloop.request("DELETE", `${pagesUrl}${id}/`);
      if (answer.ok) {
        grid.querySelector(`[data-page="${id}"]`).remove();
        deleted += 1;
      } else {
        failed.push(`page ${id}: ${answer.body.detail || answer.status}`);
      }
    }
    refresh();
    const message = `Deleted ${deleted} page${deleted === 1 ? "" : "s"}.` + (failed.length ? ` Not deleted: ${failed.join("; ")}` : "");
    inkloop.announce(announcer, message, failed.length ? "error" : "info");
  }

  // Without ids: every page nobody verified. The API names the selected pages it leaves alone, and why.
  async function preannotate(ids) {
    const body = ids ? {page_ids: ids.map(Number)} : undefined;
    const answer = await inkloop.request("POST", grid.dataset.preannotateUrl, body);
    inkloop.announce(announcer, answer.ok ? `${answer.body.detail} The grid shows the new lines once it has run; reload to see them.`
      : `Not queued: ${answer.body.detail || answer.status}`, answer.ok ? "info" : "error");
  }

  async function sendToLabelStudio(ids) {
    const answer = await inkloop.request("POST", grid.dataset.sendUrl, {page_ids: ids.map(Number)});
    inkloop.announce(announcer, answer.ok ? answer.body.detail : `Not sent: ${answer.body.detail || answer.status}`,
      answer.ok ? "info" : "error");
  }

  refresh();
})();
