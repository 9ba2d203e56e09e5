// The line review queue, keyboard first.
//
// Accepting is optimistic: Enter sends the PATCH and moves on at once, so a fast reviewer never
// waits for the server; the card shows the answer when it comes (saved, conflict, error).
// Empty text is the exception: the server refuses to verify it, so Enter waits for its answer and
// stays on the card to show why. A box with no text goes through "Not a text line" (Alt+N), which
// removes the card once the server has deleted the line.
// Cards for the next lines (with their crop images) are loaded before the reviewer reaches them.
"use strict";

(function () {
  const list = document.getElementById("queue");
  const template = document.getElementById("card-template");
  const announcer = document.getElementById("queue-announcer");
  const endNotice = document.getElementById("queue-end");
  const acceptedCount = document.getElementById("accepted-count");
  const discardedCount = document.getElementById("discarded-count");
  const threshold = parseFloat(list.dataset.threshold);
  const PREFETCH_AHEAD = 10;  // lines loaded beyond the current one; a batch is 20

  const items = [];
  const undoStack = [];
  let current = -1;
  let loading = null;
  let exhausted = false;
  let accepted = 0;
  let discarded = 0;

  function setState(item, state, message) {
    item.state = state;
    item.card.dataset.state = state;
    item.card.querySelector(".state").textContent = message;
  }

  function renderSuggestion(target, text, confidences) {
    // Built node by node with textContent: line text is user data and is never parsed as HTML.
    target.textContent = "";
    const chars = Array.from(text);
    const aligned = confidences.length === chars.length;
    let uncertain = 0;
    chars.forEach((char, index) => {
      if (aligned && confidences[index] < threshold) {
        const mark = document.createElement("mark");
        mark.className = "low";
        mark.textContent = char;
        target.appendChild(mark);
        uncertain += 1;
      } else {
        target.appendChild(document.createTextNode(char));
      }
    });
    return uncertain;
  }

  function addCard(data) {
    // A batch asked for around a line removed meanwhile can repeat lines already shown.
    if (items.some((item) => item.data.id === data.id)) return;
    const card = template.content.firstElementChild.cloneNode(true);
    const inputId = `line-input-${data.id}`;
    card.dataset.line = data.id;
    card.querySelector(".crop").src = data.crop_url;
    const uncertain = renderSuggestion(card.querySelector(".suggestion"), data.text, data.char_confidences);
    const label = card.querySelector("label");
    label.htmlFor = inputId;
    label.id = `line-label-${data.id}`;
    card.querySelector(".not-a-line").setAttribute("aria-describedby", label.id);
    // The confidence is calibrated: the probability that the model read the whole line exactly.
    const confidence = data.confidence === null ? "" : `, ${Math.round(data.confidence * 100)} % likely read exactly`;
    label.textContent = `Line ${data.order + 1} of ${data.page_name}${confidence}, ${uncertain} uncertain character${uncertain === 1 ? "" : "s"}`;
    const input = card.querySelector("input");
    input.id = inputId;
    input.value = data.text;
    const pageLink = card.querySelector(".page-link");
    pageLink.href = data.page_url;
    pageLink.textContent = "Open page";
    if (data.ls_url) {
      const link = document.createElement("a");
      link.href = data.ls_url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = "Fix boxes in Label Studio";
      const slot = card.querySelector(".ls");
      slot.append(" · ", link);
    }
    const item = {data, card, input, state: "waiting", saving: null};
    items.push(item);
    setState(item, "waiting", "Waiting for review");
    // Looked up when it happens: cards before this one may have been removed since.
    input.addEventListener("focus", () => select(items.indexOf(item), false));
    list.appendChild(card);
  }

  function loadMore() {
    if (loading || exhausted) return loading;
    const last = items.length ? items[items.length - 1].data.id : "";
    loading = inkloop.request("GET", `${list.dataset.linesUrl}?after=${last}`).then((result) => {
      loading = null;
      if (!result.ok) {
        inkloop.announce(announcer, result.body.detail || "Could not load more lines.", "error");
        return;
      }
      result.body.lines.forEach(addCard);
      if (result.body.lines.length === 0) exhausted = true;
    });
    return loading;
  }

  function select(index, focus = true) {
    if (index === current && !focus) return;
    if (current >= 0 && items[current]) items[current].card.removeAttribute("aria-current");
    current = index;
    const item = items[index];
    item.card.setAttribute("aria-current", "true");
    if (focus) {
      item.input.focus();
    }
    item.card.scrollIntoView({block: "center"});
    if (items.length - index <= PREFETCH_AHEAD) loadMore();
  }

  async function move(step) {
    const target = current + step;
    if (target < 0) return;
    if (target >= items.length) {
      await loadMore();
      if (target >= items.length) {
        endNotice.hidden = false;
        return;
      }
    }
    select(target);
  }

  // Resolves to whether the line is saved with the text in its box.
  function accept(item) {
    const text = item.input.value;
    // Nothing new to send: already saving, or already accepted with this very text.
    if (item.state === "saving" || (item.state === "accepted" && item.acceptedText === text)) return item.saving;
    const counted = item.state === "accepted";
    setState(item, "saving", "Saving…");
    item.saving = inkloop.request("PATCH", item.data.api_url, {version: item.data.version, text}).then((result) => {
      if (result.ok) {
        item.data.version = result.body.version;
        item.acceptedText = text;
        if (!counted) accepted += 1;
        acceptedCount.textContent = accepted;
        setState(item, "accepted", "Accepted");
      } else if (result.status === 409) {
        // Never overwrite: show their text; the reviewer decides, and a second Enter saves on top of it.
        item.data.version = result.body.current.version;
        setState(item, "conflict", `Conflict: someone changed this line meanwhile to “${result.body.current.text}”. Your text is still in the box; press Enter on it again to save it over theirs.`);
        inkloop.announce(announcer, `Conflict on line ${item.data.order + 1} of ${item.data.page_name}: someone else changed it. Nothing was overwritten.`, "error");
      } else {
        setState(item, "error", `Not saved: ${result.body.detail || "the server refused it"}`);
        inkloop.announce(announcer, `Line ${item.data.order + 1} was not saved: ${result.body.detail || "error"}`, "error");
      }
      return result.ok;
    });
    undoStack.push(item);
    return item.saving;
  }

  async function discard(item) {
    if (item.state === "saving") await item.saving;
    // Let a batch already asked for arrive first: its cursor may be this very line.
    if (loading) await loading;
    setState(item, "saving", "Removing…");
    const where = `line ${item.data.order + 1} of ${item.data.page_name}`;
    const result = await inkloop.request("POST", item.data.not_a_line_url, {version: item.data.version});
    if (result.status === 409) {
      item.data.version = result.body.current.version;
      setState(item, "conflict", `Conflict: someone changed this line meanwhile to “${result.body.current.text}”. Nothing was removed.`);
      inkloop.announce(announcer, `Conflict on ${where}: someone else changed it. Nothing was removed.`, "error");
      return;
    }
    if (!result.ok) {
      setState(item, "error", `Not removed: ${result.body.detail || "the server refused it"}`);
      inkloop.announce(announcer, `${where} was not removed: ${result.body.detail || "error"}`, "error");
      return;
    }
    discarded += 1;
    discardedCount.textContent = discarded;
    const index = items.indexOf(item);
    items.splice(index, 1);
    item.card.remove();
    undoStack.splice(0, undoStack.length, ...undoStack.filter((other) => other !== item));
    inkloop.announce(announcer, `Removed ${where}: not a text line.`);
    // The card that took its place is the one to review next.
    const wasCurrent = index === current;
    if (index < current) current -= 1;
    if (!wasCurrent) return;
    current = -1;
    if (index >= items.length) await loadMore();
    if (index < items.length) {
      select(index);
    } else {
      endNotice.hidden = false;
      if (items.length) select(items.length - 1);
    }
  }

  async function undo() {
    const item = undoStack.pop();
    if (!item) {
      inkloop.announce(announcer, "Nothing to undo.");
      return;
    }
    if (!(await item.saving) || item.state !== "accepted") {
      inkloop.announce(announcer, "The last accept was not saved, so there is nothing to undo.");
      return;
    }
    const result = await inkloop.request("POST", item.data.undo_url, {version: item.data.version});
    if (result.ok) {
      item.data.version = result.body.line.version;
      item.input.value = result.body.line.text;
      item.acceptedText = null;
      accepted -= 1;
      acceptedCount.textContent = accepted;
      setState(item, "waiting", "Accept undone; waiting for review");
      inkloop.announce(announcer, `Undone: line ${item.data.order + 1} of ${item.data.page_name} is back in the queue.`);
      select(items.indexOf(item));
    } else {
      inkloop.announce(announcer, `Could not undo: ${result.body.detail}`, "error");
    }
  }

  const KEYS = {Enter: "accept", ArrowDown: "down", ArrowUp: "up", Escape: "skip"};
  const ALT_KEYS = {KeyZ: "undo", KeyN: "discard"};

  async function perform(action) {
    const item = items[current];
    if (!item) return;  // the last card was removed and nothing followed it
    if (action === "accept") {
      const saved = accept(item);
      if (item.input.value.trim() === "" && !(await saved)) return;  // refused: stay on it, its card says why
      return move(1);
    }
    if (action === "discard") return discard(item);
    if (action === "skip") {
      if (item.state === "waiting") setState(item, "skipped", "Skipped");
      return move(1);
    }
    if (action === "down") return move(1);
    if (action === "up") return move(-1);
    return undo();
  }

  // Keys are performed strictly in order: one pressed while the next lines are still loading acts
  // on the line it was meant for once that line is there, instead of on the line still focused.
  let pending = Promise.resolve();
  function enqueue(step) {
    pending = pending.then(step).catch((error) => {
      inkloop.announce(announcer, `Something went wrong: ${error.message}`, "error");
    });
  }

  list.addEventListener("keydown", (event) => {
    if (current < 0) return;
    // Enter or Space on a card's button presses that button, not the line's accept.
    if (event.target.closest("button") && (event.key === "Enter" || event.key === " ")) return;
    const action = event.altKey ? ALT_KEYS[event.code] : KEYS[event.key];
    if (!action) return;
    event.preventDefault();
    enqueue(() => perform(action));
  });

  list.addEventListener("click", (event) => {
    const button = event.target.closest("button.not-a-line");
    const item = button && items.find((candidate) => candidate.card.contains(button));
    if (!item) return;
    enqueue(() => {
      if (items.indexOf(item) !== current) select(items.indexOf(item), false);
      return discard(item);
    });
  });

  loadMore().then(() => {
    if (items.length) {
      select(0);
    } else {
      endNotice.hidden = false;
    }
  });
})();
