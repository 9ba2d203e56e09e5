// Upload: files dropped or chosen go to the REST API, one request per file (or per set of XML with their
// images), each with its own progress bar and, when the server answers, the API's own report per file.
// Where files go: ALTO/PAGE XML with the loose images they name to import/; a zip to import/ when it holds
// XML (an export), else to pages/ (its images become pages); every other file to pages/.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("files");
  const result = document.getElementById("upload-result");
  const list = document.getElementById("uploads");
  const IMAGE = /\.(jpe?g|png|tiff?)$/i;

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

  const isJunk = (name) => name.includes("__MACOSX/") || /(^|\/)\._/.test(name);

  // Whether a zip holds layout XML, read from its central directory at the end of the file (only that part
  // is read). A zip64 archive (over 4 GiB or 65,535 members) is taken for an export; something that is not
  // a zip at all goes to pages/, whose answer says why it is refused.
  async function zipHoldsXml(file) {
    const tailSize = Math.min(file.size, 65557);
    const tail = new DataView(await file.slice(file.size - tailSize).arrayBuffer());
    let end = -1;
    for (let at = tailSize - 22; at >= 0; at -= 1) {
      if (tail.getUint32(at, true) === 0x06054b50) { end = at; break; }
    }
    if (end < 0) return false;
    const entries = tail.getUint16(end + 10, true);
    const size = tail.getUint32(end + 12, true);
    const offset = tail.getUint32(end + 16, true);
    if (entries === 0xffff || offset === 0xffffffff) return true;
    const directory = new DataView(await file.slice(offset, offset + size).arrayBuffer());
    const decoder = new TextDecoder();
    let at = 0;
    for (let n = 0; n < entries && at + 46 <= directory.byteLength; n += 1) {
      if (directory.getUint32(at, true) !== 0x02014b50) break;
      const nameLength = directory.getUint16(at + 28, true);
      const skip = nameLength + directory.getUint16(at + 30, true) + directory.getUint16(at + 32, true);
      const name = decoder.decode(new Uint8Array(directory.buffer, at + 46, nameLength));
      if (name.toLowerCase().endsWith(".xml") && !isJunk(name)) return true;
      at += 46 + skip;
    }
    return false;
  }

  // The image file names the XML files name (ALTO's sourceImageInformation/fileName, PAGE's
  // Page/@imageFilename), and their own stems with any image extension, as the import pairs them: only these
  // loose images go to the import with them; the others become pages through pages/.
  async function namedImages(layouts) {
    const names = new Set();
    for (const layout of layouts) {
      const stem = layout.name.replace(/\.xml$/i, "").toLowerCase();
      ["jpg", "jpeg", "png", "tif", "tiff"].forEach((extension) => names.add(`${stem}.${extension}`));
      const doc = new DOMParser().parseFromString(await layout.text(), "application/xml");
      Array.from(doc.getElementsByTagNameNS("*", "fileName")).forEach((node) => names.add(baseName(node.textContent)));
      Array.from(doc.getElementsByTagNameNS("*", "Page")).forEach((node) => {
        if (node.getAttribute("imageFilename")) names.add(baseName(node.getAttribute("imageFilename")));
      });
    }
    return names;
  }

  const baseName = (path) => path.trim().split(/[\\/]/).pop().toLowerCase();

  // The requests to make: [{files, url, kind}] with kind "import" or "pages".
  async function plan(files) {
    const batches = [];
    const layouts = files.filter((file) => file.name.toLowerCase().endsWith(".xml"));
    const zips = files.filter((file) => file.name.toLowerCase().endsWith(".zip"));
    let loose = files.filter((file) => !layouts.includes(file) && !zips.includes(file));
    if (layouts.length) {
      const named = await namedImages(layouts);
      const images = loose.filter((file) => IMAGE.test(file.name) && named.has(file.name.toLowerCase()));
      batches.push({files: layouts.concat(images), kind: "import"});
      loose = loose.filter((file) => !images.includes(file));
    }
    for (const zip of zips) batches.push({files: [zip], kind: (await zipHoldsXml(zip)) ? "import" : "pages"});
    loose.forEach((file) => batches.push({files: [file], kind: "pages"}));
    return batches;
  }

  async function send() {
    const files = Array.from(input.files);
    if (!files.length) {
      inkloop.announce(result, "Choose or drop at least one file.", "error");
      return;
    }
    const group = form.elements.group.value.trim();
    const batches = await plan(files);
    inkloop.announce(result, `Uploading ${files.length} file${files.length === 1 ? "" : "s"} in ${batches.length} upload${batches.length === 1 ? "" : "s"}…`);
    form.reset();
    // One at a time: the server stores each import in one transaction, and the progress stays readable.
    let failed = 0;
    for (const batch of batches) {
      if (!(await upload(batch, group))) failed += 1;
    }
    inkloop.announce(result, failed ? `Done; ${failed} of ${batches.length} upload${batches.length === 1 ? "" : "s"} refused (see below).`
      : `Done: ${batches.length} upload${batches.length === 1 ? "" : "s"} stored.`, failed ? "error" : "info");
  }

  function upload(batch, group) {
    const item = document.createElement("li");
    const title = document.createElement("p");
    const names = batch.files.map((file) => file.name);
    title.textContent = `${batch.kind === "import" ? "Import" : "Upload"}: ${names.slice(0, 5).join(", ")}${names.length > 5 ? ` and ${names.length - 5} more` : ""}`;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Progress of ${names[0]}${names.length > 1 ? ` and ${names.length - 1} more` : ""}`);
    const outcome = document.createElement("p");
    outcome.className = "outcome";
    outcome.textContent = "Sending…";
    item.append(title, bar, outcome);
    list.append(item);

    const body = new FormData();
    batch.files.forEach((file) => body.append("files", file, file.name));
    if (group) body.append("group", group);
    return new Promise((resolve) => {
      // XMLHttpRequest rather than fetch: only it reports upload progress.
      const request = new XMLHttpRequest();
      request.open("POST", batch.kind === "import" ? form.dataset.importUrl : form.dataset.pagesUrl);
      request.setRequestHeader("Accept", "application/json");
      request.setRequestHeader("X-CSRFToken", inkloop.csrfToken());
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) bar.value = Math.round(100 * event.loaded / event.total);
      });
      request.upload.addEventListener("load", () => {
        bar.value = 100;
        outcome.textContent = batch.kind === "import" ? "Sent; importing…" : "Sent; storing…";
      });
      request.addEventListener("load", () => {
        let data = {};
        try { data = JSON.parse(request.responseText); } catch (error) { data = {detail: `The server answered ${request.status}.`}; }
        const ok = request.status >= 200 && request.status < 300;
        if (batch.kind === "import" && data.files) {
          outcome.textContent = data.detail;
          outcome.dataset.kind = ok ? "info" : "error";
          item.append(importReport(data));
        } else if (ok) {
          outcome.textContent = `Stored ${data.length} page${data.length === 1 ? "" : "s"}.`;
          item.append(pagesReport(data));
        } else {
          outcome.textContent = `Refused: ${data.detail || `the server answered ${request.status}.`}`;
          outcome.dataset.kind = "error";
        }
        resolve(ok);
      });
      request.addEventListener("error", () => {
        outcome.textContent = "Refused: the server could not be reached. Check your connection and try again.";
        outcome.dataset.kind = "error";
        resolve(false);
      });
      request.send(body);
    });
  }

  function table(headers, rows) {
    const element = document.createElement("table");
    element.className = "report";
    const head = element.createTHead().insertRow();
    headers.forEach((text) => {
      const cell = document.createElement("th");
      cell.scope = "col";
      cell.textContent = text;
      head.append(cell);
    });
    const tbody = element.createTBody();
    rows.forEach(({cells, status}) => {
      const row = tbody.insertRow();
      cells.forEach((value, index) => {
        const cell = row.insertCell();
        if (index === 1 && status) cell.className = `status-${status}`;
        if (value instanceof Node) cell.append(value); else cell.textContent = value;
      });
    });
    return element;
  }

  function notes(label, items) {
    const fragment = document.createElement("div");
    if (!items.length) return fragment;
    fragment.textContent = `${label}: ` + items.map((note) => `${note.line || "a line without id"} (${note.reason})`).join("; ");
    return fragment;
  }

  function importReport(data) {
    return table(["File", "Status", "Lines", "Why"], data.files.map((file) => {
      const why = document.createElement("div");
      why.append(document.createTextNode(file.detail || ""));
      why.append(notes(`${file.lines_clipped} clipped`, file.clipped_lines), notes(`${file.lines_skipped} skipped`, file.skipped_lines));
      return {cells: [file.file, file.status, String(file.lines_created), why], status: file.status};
    }));
  }

  function pagesReport(pages) {
    return table(["Page", "Status", "Lines", "Why"], pages.map((page) => ({
      cells: [page.original_name, page.created ? "created" : "existing", String(page.line_count ?? 0),
        page.created ? "" : "This image is already a page of the project; it was not stored twice."],
      status: page.created ? "created" : "unchanged",
    })));
  }
})();
