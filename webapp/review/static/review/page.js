// Page view: a click (or Enter/Space) on a line box moves to that line's text field; saving goes
// through the REST API with the version the page was rendered at.
"use strict";

(function () {
  const announcer = document.getElementById("page-announcer");

  function focusLine(lineId) {
    const input = document.getElementById(`text-${lineId}`);
    if (!input) return;
    input.scrollIntoView({block: "center"});
    input.focus();
    input.select();
  }

  document.querySelectorAll("rect.box").forEach((box) => {
    box.addEventListener("click", () => focusLine(box.dataset.line));
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        focusLine(box.dataset.line);
      }
    });
  });

  document.querySelectorAll("form.line-form").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = form.elements.text.value;
      const result = await inkloop.request("PATCH", form.dataset.apiUrl, {version: Number(form.dataset.version), text});
      const number = form.dataset.name;
      if (result.ok) {
        form.dataset.version = result.body.version;
        form.closest("li").className = "human";
        form.querySelector(".source-note")?.remove();
        document.querySelector(`rect.box[data-line="${form.dataset.line}"]`).classList.replace("model", "human");
        inkloop.announce(announcer, `${number}: saved.`);
      } else if (result.status === 409) {
        form.dataset.version = result.body.current.version;
        inkloop.announce(announcer, `${number}: someone changed it meanwhile to “${result.body.current.text}”. Nothing was overwritten; save again to replace it with your text.`, "error");
      } else {
        inkloop.announce(announcer, `${number}: not saved. ${result.body.detail || ""}`, "error");
      }
    });
  });

  if (location.hash.startsWith("#line-")) focusLine(location.hash.slice(6));
})();
