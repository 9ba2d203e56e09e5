// Page editor: zoom and pan over the page image, draw, move and resize line boxes, drag, add and remove polygon
// and baseline points, edit text in place, reading order, merge, split, delete and undo (merges and splits
// included). Every write goes through the REST API (webapp/api/lines.py) with the version the browser read; a
// 409 shows the other person's version, which stays unless the person here chooses to apply their edit on top.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("editor-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const svg = document.getElementById("editor-svg");
  const boxes = document.getElementById("editor-boxes");
  const handles = document.getElementById("editor-handles");
  const drawing = document.getElementById("editor-drawing");
  const list = document.getElementById("line-list");
  const announcer = document.getElementById("page-announcer");
  const undoButton = document.getElementById("undo");
  const drawButton = document.getElementById("draw-mode");
  const zoomLevel = document.getElementById("zoom-level");
  const conflictPanel = document.getElementById("conflict");
  const W = data.width, H = data.height;

  let lines = data.lines;          // as the API last answered, in reading order
  let selected = null;             // id of the selected line
  let drawMode = false;
  const undoStack = [];            // {label, run: async () => bool}
  const view = {zoom: 1, cx: W / 2, cy: H / 2};

  const lineUrl = (id) => data.line_url.replace(/\/0\/$/, `/${id}/`);
  const byId = (id) => lines.find((line) => line.id === id);
  const number = (id) => lines.findIndex((line) => line.id === id) + 1;
  const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
  const say = (message, kind) => inkloop.announce(announcer, message, kind);

  // ------------------------------------------------------------------ view: zoom and pan

  function applyView() {
    const w = W / view.zoom, h = H / view.zoom;
    view.cx = clamp(view.cx, Math.min(w / 2, W / 2), Math.max(W - w / 2, W / 2));
    view.cy = clamp(view.cy, Math.min(h / 2, H / 2), Math.max(H - h / 2, H / 2));
    svg.setAttribute("viewBox", `${view.cx - w / 2} ${view.cy - h / 2} ${w} ${h}`);
    zoomLevel.textContent = `${Math.round(view.zoom * 100)} %`;
    renderHandles();
  }

  function zoomBy(factor, around) {
    const zoom = clamp(view.zoom * factor, 1, 16);
    if (around) {  // keep the page point under the cursor where it is
      const ratio = view.zoom / zoom;
      view.cx = around.x - (around.x - view.cx) * ratio;
      view.cy = around.y - (around.y - view.cy) * ratio;
    } else if (selected && byId(selected)) {  // the buttons zoom onto the selected line
      const [x0, y0, x1, y1] = byId(selected).bbox;
      view.cx = (x0 + x1) / 2;
      view.cy = (y0 + y1) / 2;
    }
    view.zoom = zoom;
    applyView();
  }

  function toPage(event) {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    return {x: clamp(point.x, 0, W), y: clamp(point.y, 0, H)};
  }

  // Page units per screen pixel, so handles keep their size on screen at every zoom.
  const unit = () => 1 / (svg.getScreenCTM()?.a || 1);

  document.getElementById("zoom-in").addEventListener("click", () => zoomBy(1.5));
  document.getElementById("zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
  document.getElementById("zoom-fit").addEventListener("click", () => { view.zoom = 1; applyView(); });
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomBy(event.deltaY < 0 ? 1.25 : 0.8, toPage(event));
  }, {passive: false});
  svg.addEventListener("keydown", (event) => {
    const step = 60 * unit();
    const moves = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step]};
    if (event.target === svg && moves[event.key]) {
      event.preventDefault();
      view.cx += moves[event.key][0];
      view.cy += moves[event.key][1];
      applyView();
    }
  });

  // ------------------------------------------------------------------ rendering

  function svgElement(name, attributes) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    return element;
  }

  function renderBoxes() {
    boxes.replaceChildren(...lines.flatMap((line, index) => {
      const [x0, y0, x1, y1] = line.bbox;
      const rect = svgElement("rect", {
        class: `box ${line.verified ? "human" : "model"}${line.id === selected ? " selected" : ""}`,
        "data-line": line.id, tabindex: "0", role: "button", "aria-label": `Edit line ${index + 1}`,
        x: x0, y: y0, width: x1 - x0, height: y1 - y0});
      const shapes = [rect];
      if (line.polygon) shapes.unshift(svgElement("polygon", {class: "outline", points: line.polygon.join(" ")}));
      if (line.baseline) shapes.unshift(svgElement("polyline", {class: "baseline", points: line.baseline.join(" ")}));
      return shapes;
    }));
    renderHandles();
  }

  function renderHandles() {
    const line = selected && byId(selected);
    if (!line) { handles.replaceChildren(); return; }
    const size = 12 * unit();
    const [x0, y0, x1, y1] = line.bbox;
    const xm = (x0 + x1) / 2, ym = (y0 + y1) / 2;
    const spots = {nw: [x0, y0], n: [xm, y0], ne: [x1, y0], e: [x1, ym], se: [x1, y1], s: [xm, y1], sw: [x0, y1],
                   w: [x0, ym]};
    // Segments of the polygon (closed) and the baseline, wide enough to hit, where a double-click or Alt-click
    // adds a point; under the handles and points, so those stay where they can be grabbed.
    const shapes = [];
    for (const kind of ["polygon", "baseline"]) {
      const points = line[kind] || [];
      const segments = kind === "polygon" && points.length > 2 ? points.length : points.length - 1;
      for (let index = 0; index < segments; index += 1) {
        const [ax, ay] = points[index], [bx, by] = points[(index + 1) % points.length];
        shapes.push(svgElement("line", {class: `segment ${kind}`, "data-segment": kind, "data-index": index,
                                        x1: ax, y1: ay, x2: bx, y2: by, "stroke-width": size}));
      }
    }
    shapes.push(...Object.entries(spots).map(([name, [x, y]]) => svgElement("rect", {
      class: `handle handle-${name}`, "data-handle": name, x: x - size / 2, y: y - size / 2, width: size,
      height: size})));
    for (const kind of ["polygon", "baseline"]) {
      (line[kind] || []).forEach(([x, y], index) => shapes.push(svgElement("circle", {
        class: `point ${kind}`, "data-kind": kind, "data-index": index, cx: x, cy: y, r: size / 2})));
    }
    handles.replaceChildren(...shapes);
  }

  function listItem(line) {
    let item = document.getElementById(`line-${line.id}`);
    if (item) return item;
    item = document.createElement("li");
    item.id = `line-${line.id}`;
    item.innerHTML = `<form class="line-form">
        <label></label>
        <input name="text" autocomplete="off" spellcheck="false" dir="auto">
        <button type="submit">Save</button>
        <span class="line-actions">
          <button type="button" data-action="up"><span aria-hidden="true">↑</span><span class="visually-hidden"></span></button>
          <button type="button" data-action="down"><span aria-hidden="true">↓</span><span class="visually-hidden"></span></button>
          <button type="button" data-action="merge">Merge with next</button>
          <button type="button" data-action="split">Split at cursor</button>
          <button type="button" data-action="delete">Delete</button>
        </span></form>`;
    const form = item.querySelector("form");
    const input = form.elements.text;
    input.id = `text-${line.id}`;
    item.querySelector("label").htmlFor = input.id;
    input.value = line.text;
    input.addEventListener("input", () => { input.dataset.dirty = "true"; });
    input.addEventListener("focus", () => select(line.id, {scroll: false}));
    form.addEventListener("submit", (event) => { event.preventDefault(); saveText(line.id); });
    form.querySelectorAll("[data-action]").forEach((button) => button.addEventListener("click", () => {
      ({up: () => move(line.id, -1), down: () => move(line.id, 1), merge: () => mergeWithNext(line.id),
        split: () => split(line.id), delete: () => remove(line.id)})[button.dataset.action]();
    }));
    return item;
  }

  // Keyed by line id, so a field someone is typing in keeps its text and focus; `fresh` lists the lines whose
  // field must show the stored text (just saved, or replaced by someone else's version).
  function renderList(fresh = []) {
    const items = lines.map((line, index) => {
      const item = listItem(line);
      const name = `Line ${index + 1}`;
      item.className = `${line.verified ? "human" : "model"}${line.id === selected ? " selected" : ""}`;
      item.querySelector("label").textContent = name + (line.verified ? "" : " (model)");
      item.querySelector('[data-action="up"] .visually-hidden').textContent = `Move ${name} up`;
      item.querySelector('[data-action="down"] .visually-hidden').textContent = `Move ${name} down`;
      item.querySelector('[data-action="up"]').disabled = index === 0;
      item.querySelector('[data-action="down"]').disabled = index === lines.length - 1;
      item.querySelector('[data-action="merge"]').disabled = index === lines.length - 1;
      const input = item.querySelector("input");
      if (fresh.includes(line.id) || !input.dataset.dirty) {
        input.value = line.text;
        delete input.dataset.dirty;
      }
      return item;
    });
    const focused = document.activeElement;
    items.forEach((item, index) => { if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null); });
    while (list.children.length > items.length) list.lastElementChild.remove();
    if (focused && focused !== document.activeElement && document.contains(focused)) focused.focus();
    document.getElementById("no-lines").hidden = lines.length > 0;
  }

  function render(fresh = []) {
    renderBoxes();
    renderList(fresh);
  }

  function select(id, {scroll = true} = {}) {
    if (selected === id) return;
    selected = id;
    render();
    if (scroll) document.getElementById(`line-${id}`)?.scrollIntoView({block: "nearest"});
  }

  function focusText(id) {
    const input = document.getElementById(`text-${id}`);
    if (!input) return;
    input.scrollIntoView({block: "center"});
    input.focus();
    input.select();
  }

  function replaceLine(updated) {
    lines = lines.map((line) => (line.id === updated.id ? updated : line));
  }

  // ------------------------------------------------------------------ undo

  function pushUndo(label, run) {
    undoStack.push({label, run});
    updateUndo();
  }

  function updateUndo() {
    const last = undoStack[undoStack.length - 1];
    undoButton.disabled = !last;
    undoButton.textContent = last ? `Undo: ${last.label}` : "Undo";
  }

  async function undo() {
    const last = undoStack.pop();
    updateUndo();
    if (last && await last.run()) say(`Undone: ${last.label}.`);
  }
  undoButton.addEventListener("click", undo);

  // ------------------------------------------------------------------ conflicts

  let retry = null;

  function describe(line) {
    const parts = [`“${line.text}”`, `box [${line.bbox.join(", ")}]`, `version ${line.version}`];
    if (line.verified_by) parts.push(`by ${line.verified_by}`);
    return parts.join(", ");
  }

  function showConflict(current, mine, again) {
    const existing = byId(current.id);
    if (existing) replaceLine(current);
    render([current.id]);
    document.getElementById("conflict-theirs").textContent = describe(current);
    document.getElementById("conflict-mine").textContent = mine;
    conflictPanel.hidden = false;
    retry = again;
    say(`Line ${number(current.id)}: someone changed it meanwhile; nothing was overwritten. Choose which version to keep.`,
      "error");
    document.getElementById("conflict-keep").focus();
  }

  function closeConflict() {
    conflictPanel.hidden = true;
    retry = null;
  }

  document.getElementById("conflict-keep").addEventListener("click", () => {
    const line = lines.find((candidate) => candidate.id === selected);
    closeConflict();
    say("Kept their version.");
    if (line) focusText(line.id);
  });
  document.getElementById("conflict-apply").addEventListener("click", () => {
    const again = retry;
    closeConflict();
    if (again) again();
  });

  function failed(result, what) {
    say(`${what}: not saved. ${result.body.detail || ""}`, "error");
    render();
  }

  // ------------------------------------------------------------------ writes, all through the API

  // PATCH `changes` onto the line at the version this page holds; `undoable` records the way back.
  async function patchLine(id, changes, {label, undoable = true} = {}) {
    const line = byId(id);
    if (!line) { say("That line is no longer on this page.", "error"); return false; }
    const before = Object.fromEntries(Object.keys(changes).map((key) => [key, line[key]]));
    const result = await inkloop.request("PATCH", lineUrl(id), {version: line.version, ...changes});
    const name = `Line ${number(id)}`;
    if (result.ok) {
      replaceLine(result.body);
      render([id]);
      if (undoable) pushUndo(`${label} of ${name}`, () => patchLine(id, before, {undoable: false}));
      say(`${name}: ${label} saved.`);
      return true;
    }
    if (result.status === 409) {
      showConflict(result.body.current, `${label}: ${JSON.stringify(changes)}`,
        () => patchLine(id, changes, {label, undoable}));
    } else {
      failed(result, name);
    }
    return false;
  }

  function saveText(id) {
    const text = document.getElementById(`text-${id}`).value;
    return patchLine(id, {text}, {label: "text"});
  }

  async function create(bbox, {text = "", polygon = null, baseline = null, at = null, undoable = true} = {}) {
    const result = await inkloop.request("POST", data.lines_url, {bbox, text, polygon, baseline});
    if (!result.ok) { failed(result, "New line"); return null; }
    lines = [...lines, result.body];
    selected = result.body.id;
    render();
    if (at !== null && at < lines.length - 1) {
      const ids = lines.map((line) => line.id).filter((lineId) => lineId !== result.body.id);
      ids.splice(at, 0, result.body.id);
      await reorder(ids, {undoable: false});
    }
    const created = result.body.id;
    if (undoable) pushUndo(`new line ${number(created)}`, () => remove(created, {undoable: false}));
    return created;
  }

  async function remove(id, {undoable = true} = {}) {
    const line = byId(id);
    if (!line) return false;
    const name = `Line ${number(id)}`, at = number(id) - 1;
    const result = await inkloop.request("DELETE", `${lineUrl(id)}?version=${line.version}`);
    if (result.ok) {
      lines = lines.filter((other) => other.id !== id);
      if (selected === id) selected = null;
      render();
      if (undoable) {
        pushUndo(`deletion of ${name}`, async () => Boolean(await create(line.bbox, {
          text: line.text, polygon: line.polygon, baseline: line.baseline, at, undoable: false})));
      }
      say(`${name} deleted.`);
      return true;
    }
    if (result.status === 409) showConflict(result.body.current, "delete the line", () => remove(id, {undoable}));
    else failed(result, name);
    return false;
  }

  async function reorder(ids, {undoable = true, label = "reading order"} = {}) {
    const previous = lines.map((line) => line.id);
    const result = await inkloop.request("POST", data.order_url, {
      lines: ids.map((id) => ({id, version: byId(id).version}))});
    if (result.ok) {
      lines = result.body;
      render();
      if (undoable) pushUndo(label, () => reorder(previous, {undoable: false}));
      return true;
    }
    if (result.status === 409) {
      lines = result.body.current;
      render(lines.map((line) => line.id));
      const stale = result.body.current.find((line) => result.body.stale_ids.includes(line.id));
      showConflict(stale, `move lines to the order ${ids.map(number).join(", ")}`, () => reorder(ids, {undoable}));
    } else {
      failed(result, "Reading order");
    }
    return false;
  }

  async function move(id, step) {
    const ids = lines.map((line) => line.id);
    const from = ids.indexOf(id), to = from + step;
    if (to < 0 || to >= ids.length) return;
    [ids[from], ids[to]] = [ids[to], ids[from]];
    const name = `Line ${from + 1}`;
    if (await reorder(ids, {label: `move of ${name}`})) {
      say(`${name} is now line ${to + 1}.`);
      document.querySelector(`#line-${id} [data-action="${step < 0 ? "up" : "down"}"]:not(:disabled)`)?.focus();
    }
  }

  async function reload() {
    const result = await inkloop.request("GET", data.lines_url);
    if (result.ok) { lines = result.body; render(lines.map((line) => line.id)); }
  }

  const shape = (line) => ({bbox: line.bbox, text: line.text, polygon: line.polygon, baseline: line.baseline});
  const sameShape = (a, b) => JSON.stringify(shape(a)) === JSON.stringify(shape(b));

  async function mergeWithNext(id) {
    const index = number(id) - 1, line = lines[index], other = lines[index + 1];
    if (!other) return;
    const result = await inkloop.request("POST", `${lineUrl(id)}merge/`, {
      version: line.version, other: {id: other.id, version: other.version}});
    if (result.ok) {
      await reload();
      const label = `merge of Lines ${index + 1} and ${index + 2}`;
      pushUndo(label, () => unmerge(result.body.id, shape(line), shape(other), index + 1, label));
      say(`Lines ${index + 1} and ${index + 2} merged into line ${index + 1}.`);
      focusText(result.body.id);
    } else if (result.status === 409) {
      showConflict(result.body.current, "merge the two lines", () => mergeWithNext(id));
    } else {
      failed(result, `Line ${index + 1}`);
    }
  }

  // Undo of a merge: the merged line gets back its own box, text, polygon and baseline (a versioned PATCH: a
  // 409 shows the other person's version, and applying the undo on top of it tries again), then the line the
  // merge removed is made again at its place.
  async function unmerge(id, before, removed, at, label) {
    const line = byId(id);
    if (!line) { say("That line is no longer on this page.", "error"); return false; }
    const result = await inkloop.request("PATCH", lineUrl(id), {version: line.version, ...before});
    if (result.status === 409) {
      showConflict(result.body.current, `undo the ${label}: back to “${before.text}” and “${removed.text}”`,
        async () => { if (await unmerge(id, before, removed, at, label)) say(`Undone: ${label}.`); });
      return false;
    }
    if (!result.ok) { failed(result, `Line ${number(id)}`); return false; }
    replaceLine(result.body);
    render([id]);
    return Boolean(await create(removed.bbox, {text: removed.text, polygon: removed.polygon,
                                               baseline: removed.baseline, at, undoable: false}));
  }

  async function split(id) {
    const line = byId(id), input = document.getElementById(`text-${id}`);
    const at = input.selectionStart ?? 0, text = input.value;
    const before = text.slice(0, at).trim(), after = text.slice(at).trim();
    const name = `Line ${number(id)}`;
    if (!before || !after) {
      say(`${name}: put the cursor in its text where the line should be cut, then split.`, "error");
      input.focus();
      return;
    }
    const [x0, , x1] = line.bbox;
    const x = clamp(Math.round(x0 + (x1 - x0) * at / text.length), x0 + 1, x1 - 1);
    const result = await inkloop.request("POST", `${lineUrl(id)}split/`, {
      version: line.version, x, text_before: before, text_after: after});
    if (result.ok) {
      const known = new Set(lines.map((other) => other.id));
      lines = result.body;
      render(lines.map((other) => other.id));
      const added = lines.find((other) => !known.has(other.id));
      const label = `split of ${name}`;
      if (added) pushUndo(label, () => unsplit(id, added.id, shape(line), label));
      say(`${name} split in two.`);
    } else if (result.status === 409) {
      showConflict(result.body.current, `split “${before}” | “${after}”`, () => split(id));
    } else {
      failed(result, name);
    }
  }

  // Undo of a split: the two parts merged back (versioned, as any merge), then the line's own text, polygon and
  // baseline as they were before the split, which a merge cannot know (the split dropped the polygon).
  async function unsplit(id, rightId, before, label) {
    const line = byId(id), right = byId(rightId);
    if (!line || !right) { say("A part of that split line is no longer on this page.", "error"); return false; }
    const result = await inkloop.request("POST", `${lineUrl(id)}merge/`, {
      version: line.version, other: {id: rightId, version: right.version}});
    if (result.status === 409) {
      showConflict(result.body.current, `undo the ${label}: merge its two parts back into “${before.text}”`,
        async () => { if (await unsplit(id, rightId, before, label)) say(`Undone: ${label}.`); });
      return false;
    }
    if (!result.ok) { failed(result, `Line ${number(id)}`); return false; }
    await reload();
    const merged = byId(result.body.id);
    if (!merged || sameShape(merged, before)) return true;
    return patchLine(merged.id, before, {label: "shape before the split", undoable: false});
  }

  // Points: a polygon keeps at least 3, a baseline at least 2; each change is one versioned PATCH, undoable.
  const MIN_POINTS = {polygon: 3, baseline: 2};

  function insertPoint(kind, index, at) {
    const line = byId(selected);
    if (!line || !line[kind]) return;
    const points = line[kind].map((point) => [...point]);
    const [ax, ay] = points[index], [bx, by] = points[(index + 1) % points.length];
    const length = (bx - ax) ** 2 + (by - ay) ** 2;
    const t = length ? clamp(((at.x - ax) * (bx - ax) + (at.y - ay) * (by - ay)) / length, 0, 1) : 0;
    points.splice(index + 1, 0, [Math.round(ax + t * (bx - ax)), Math.round(ay + t * (by - ay))]);
    return patchLine(line.id, {[kind]: points}, {label: `new ${kind} point`});
  }

  function removePoint(kind, index) {
    const line = byId(selected);
    if (!line || !line[kind]) return;
    if (line[kind].length <= MIN_POINTS[kind]) {
      say(`Line ${number(line.id)}: a ${kind} keeps at least ${MIN_POINTS[kind]} points; drag this one instead.`,
        "error");
      return;
    }
    return patchLine(line.id, {[kind]: line[kind].filter((_, other) => other !== index)},
      {label: `removal of a ${kind} point`});
  }

  // A point or segment under the pointer (a double-click's own target is the svg, which captures the pointer).
  function pointEdit(element, at) {
    if (element?.dataset.segment) insertPoint(element.dataset.segment, Number(element.dataset.index), at);
    else if (element?.dataset.kind) removePoint(element.dataset.kind, Number(element.dataset.index));
    else return false;
    return true;
  }

  // ------------------------------------------------------------------ pointer: select, move, resize, points, draw, pan

  let drag = null;

  function setDrawMode(on) {
    drawMode = on;
    drawButton.setAttribute("aria-pressed", String(on));
    svg.classList.toggle("drawing-mode", on);
  }
  drawButton.addEventListener("click", () => setDrawMode(!drawMode));

  function resized(bbox, handle, dx, dy) {
    let [x0, y0, x1, y1] = bbox;
    if (handle.includes("w")) x0 = clamp(x0 + dx, 0, x1 - 1);
    if (handle.includes("e")) x1 = clamp(x1 + dx, x0 + 1, W);
    if (handle.includes("n")) y0 = clamp(y0 + dy, 0, y1 - 1);
    if (handle.includes("s")) y1 = clamp(y1 + dy, y0 + 1, H);
    return [x0, y0, x1, y1].map(Math.round);
  }

  // A resized box carries its outline and baseline with it, scaled from the old box to the new one, so the
  // polygon never reaches outside the box it belongs to (exports and line crops read both).
  function resizedLine(line, handle, dx, dy) {
    const bbox = resized(line.bbox, handle, dx, dy);
    const [x0, y0, x1, y1] = line.bbox;
    const sx = (bbox[2] - bbox[0]) / Math.max(1, x1 - x0), sy = (bbox[3] - bbox[1]) / Math.max(1, y1 - y0);
    const scale = (points) => points && points.map(([x, y]) => [Math.round(bbox[0] + (x - x0) * sx),
                                                               Math.round(bbox[1] + (y - y0) * sy)]);
    return {bbox, polygon: scale(line.polygon), baseline: scale(line.baseline)};
  }

  function moved(line, dx, dy) {
    const [x0, y0, x1, y1] = line.bbox;
    dx = Math.round(clamp(dx, -x0, W - x1));
    dy = Math.round(clamp(dy, -y0, H - y1));
    const shift = (points) => points && points.map(([x, y]) => [x + dx, y + dy]);
    return {bbox: [x0 + dx, y0 + dy, x1 + dx, y1 + dy], polygon: shift(line.polygon), baseline: shift(line.baseline)};
  }

  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const start = toPage(event);
    const target = event.target;
    if (event.altKey && !drawMode && pointEdit(target, start)) { event.preventDefault(); return; }
    if (drawMode) {
      drag = {kind: "draw", start};
    } else if (target.dataset.handle) {
      drag = {kind: "resize", handle: target.dataset.handle, start, line: byId(selected),
              screen: [event.clientX, event.clientY]};
    } else if (target.dataset.kind) {
      drag = {kind: "point", points: target.dataset.kind, index: Number(target.dataset.index), start,
              line: byId(selected), screen: [event.clientX, event.clientY]};
    } else if (target.dataset.line) {
      const id = Number(target.dataset.line);
      select(id);
      drag = {kind: "move", start, line: byId(id), screen: [event.clientX, event.clientY]};
    } else {
      drag = {kind: "pan", screen: [event.clientX, event.clientY], center: [view.cx, view.cy], scale: unit()};
    }
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  });

  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const point = toPage(event);
    if (drag.kind === "pan") {
      view.cx = drag.center[0] - (event.clientX - drag.screen[0]) * drag.scale;
      view.cy = drag.center[1] - (event.clientY - drag.screen[1]) * drag.scale;
      applyView();
      return;
    }
    const dx = point.x - drag.start.x, dy = point.y - drag.start.y;
    // A click that wobbles a pixel (one of a double-click, too) is still a click, not a move.
    if (drag.screen && !drag.changes
        && Math.hypot(event.clientX - drag.screen[0], event.clientY - drag.screen[1]) < 4) return;
    if (drag.kind === "draw") {
      const x = Math.min(point.x, drag.start.x), y = Math.min(point.y, drag.start.y);
      Object.entries({x, y, width: Math.abs(dx), height: Math.abs(dy)}).forEach(([k, v]) => drawing.setAttribute(k, v));
      drawing.hidden = false;
      return;
    }
    let preview;
    if (drag.kind === "resize") preview = resizedLine(drag.line, drag.handle, dx, dy);
    else if (drag.kind === "move") preview = moved(drag.line, dx, dy);
    else {
      const points = drag.line[drag.points].map((p) => [...p]);
      points[drag.index] = [Math.round(point.x), Math.round(point.y)];
      preview = {[drag.points]: points};
    }
    drag.changes = preview;
    lines = lines.map((line) => (line.id === drag.line.id ? {...drag.line, ...preview} : line));
    renderBoxes();
  });

  svg.addEventListener("pointerup", async (event) => {
    const current = drag;
    drag = null;
    if (!current) return;
    if (current.kind === "draw") {
      drawing.hidden = true;
      setDrawMode(false);
      const point = toPage(event);
      const bbox = [Math.min(point.x, current.start.x), Math.min(point.y, current.start.y),
                    Math.max(point.x, current.start.x), Math.max(point.y, current.start.y)].map(Math.round);
      if (bbox[2] - bbox[0] < 4 || bbox[3] - bbox[1] < 4) { say("Drag to draw the new line's box.", "error"); return; }
      const id = await create(bbox);
      if (id) { say(`Line ${number(id)} added: type its text and press Enter.`); focusText(id); }
      return;
    }
    if (current.kind === "pan") return;
    if (!current.changes) {
      if (current.kind === "move") focusText(current.line.id);  // a click: edit its text
      return;
    }
    lines = lines.map((line) => (line.id === current.line.id ? current.line : line));  // the stored state
    const label = {resize: "box", move: "position", point: current.points}[current.kind];
    await patchLine(current.line.id, current.changes, {label});
  });

  svg.addEventListener("dblclick", (event) => {
    if (drawMode || event.altKey) return;
    if (pointEdit(document.elementFromPoint(event.clientX, event.clientY), toPage(event))) event.preventDefault();
  });

  boxes.addEventListener("keydown", (event) => {
    const id = Number(event.target.dataset.line);
    if (!id) return;
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(id); focusText(id); }
    if (event.key === "Delete") { event.preventDefault(); remove(id); }
  });

  // ------------------------------------------------------------------ keyboard shortcuts outside text fields

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.altKey || event.metaKey) return;
    if (event.ctrlKey) {
      if (event.key === "z") { event.preventDefault(); undo(); }
      return;
    }
    const actions = {
      "+": () => zoomBy(1.5), "=": () => zoomBy(1.5), "-": () => zoomBy(1 / 1.5),
      "0": () => { view.zoom = 1; applyView(); }, d: () => setDrawMode(!drawMode),
      "[": () => document.getElementById("page-previous")?.click(),
      "]": () => document.getElementById("page-next")?.click(),
      Escape: () => { setDrawMode(false); closeConflict(); },
    };
    if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
  });

  render();
  applyView();
  if (location.hash.startsWith("#line-")) {
    const id = Number(location.hash.slice(6));
    if (byId(id)) { select(id); focusText(id); }
  }
})();
