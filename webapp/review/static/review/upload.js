// Upload: files dropped or chosen go to the REST API; layout XML goes to the import endpoint with
// the images beside it. The API's reason for a refusal is shown as it is worded there.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("files");
  const result = document.getElementById("upload-result");

  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    input.files = event.dataTransfer.files;
    send();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });

  async function send() {
    const files = Array.from(input.files);
    if (!files.length) {
      inkloop.announce(result, "Choose or drop at least one file.", "error");
      return;
    }
    const body = new FormData();
    files.forEach((file) => body.append("files", file, file.name));
    const hasLayout = files.some((file) => file.name.toLowerCase().endsWith(".xml"));
    if (form.elements.group.value && !hasLayout) body.append("group", form.elements.group.value);
    inkloop.announce(result, `Uploading ${files.length} file${files.length === 1 ? "" : "s"}…`);
    const answer = await inkloop.request("POST", hasLayout ? form.dataset.importUrl : form.dataset.pagesUrl, body);
    if (answer.ok) {
      const pages = Array.isArray(answer.body) ? answer.body.length : (answer.body.pages || []).length;
      inkloop.announce(result, `Stored ${pages} page${pages === 1 ? "" : "s"}.`);
      form.reset();
    } else {
      inkloop.announce(result, `Not uploaded: ${answer.body.detail || "the server refused the files."}`, "error");
    }
  }
})();
