// labelnb ChoiceAnnotator front-end: a plain ES module for anywidget (no bundler).
// A class hotkey picks (or, with multi, toggles) a class; Enter commits it.
// Item text and label names reach the DOM only through textContent.

/** @typedef {{name: string, color: string, hotkey: string | null}} Label */

import { History } from "./lib/history.js";
import { Keymap, keymapOr, hotkeyLabel } from "./lib/keymap.js";
import { h, makeSession, makeHeader, labelButton, helpOverlay, renderSessionText, actionButton } from "./lib/ui.js";

/** the keymap's actions and default keys (Python: ChoiceAnnotator.ACTIONS, keymap=...) */
export const ACTIONS = {
  submit: { keys: "Enter", help: "commit the choice (bound: submit and go to the next item)" },
  skip: { keys: "s", help: "skip this item" },
  undo: { keys: "Ctrl+Z", help: "undo the last pick" },
  redo: { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], help: "redo" },
  clear: { keys: "Backspace", help: "clear the picked classes" },
  help: { keys: "?", help: "show / hide this help" },
  release: { keys: "Escape", help: "leave the widget (release the keys)" },
};

/** @param {{model: any, el: HTMLElement}} ctx */
function render({ model, el }) {
  const root = h("div", "lnb-choice");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const { header, status, message, progress } = makeHeader(model);
  const stage = h("div", "lnb-stage");
  const img = /** @type {HTMLImageElement} */ (h("img", "lnb-image"));
  img.alt = "";
  const text = h("div", "lnb-text");
  stage.append(img, text);
  const buttons = h("div", "lnb-options");
  const actions = h("div", "lnb-actions");
  const done = h("div", "lnb-done");
  const help = h("div", "lnb-help");
  root.append(header, stage, buttons, actions, done, help);
  el.append(root);

  /** @type {string[]} */ let picked = [];
  let itemKey = "";
  /** @type {string | null} */ let objectUrl = null;

  // no "saving…" line: the buttons show the committed pick
  const session = makeSession(model, root, null);
  const { saveChanges, skip } = session;
  const picks = new History(/** @type {string[]} */ ([]));
  /** @type {Keymap} */ let keymap = new Keymap(ACTIONS, {});
  /** @type {HTMLElement | null} */ let overlay = null;
  function setKeymap() {
    keymap = keymapOr(keymap, ACTIONS, model.get("_keymap") || {}, (why) => { message.textContent = why; });
  }
  function toggleHelp() {
    if (overlay) { overlay.remove(); overlay = null; return; }
    const hot = labels().filter((l) => l.hotkey).map((l) => /** @type {[string, string]} */ (
      [String(l.hotkey), (multi() ? "toggle " : "pick ") + l.name]));
    overlay = helpOverlay(keymap.rows(), hot);
    root.append(overlay);
  }
  /** @returns {Label[]} */ const labels = () => model.get("_labels") || [];
  const item = () => model.get("_item") || {};
  const multi = () => !!model.get("_multi");

  function renderOptions() {
    buttons.replaceChildren();
    const committed = model.get("_value") || [];
    const suggested = model.get("_suggested") || [];
    for (const l of labels()) {
      let cls = "lnb-option";
      if (picked.includes(l.name)) cls += " lnb-picked";
      if (committed.includes(l.name)) cls += " lnb-committed";
      if (suggested.includes(l.name)) cls += " lnb-suggested";
      const b = labelButton(l, cls);
      b.dataset.label = l.name;
      if (suggested.includes(l.name)) b.append(h("small", "", " suggested"));
      b.addEventListener("click", () => { session.active(); pick(l.name); root.focus(); });
      buttons.append(b);
    }
    help.textContent = (multi() ? "keys toggle classes" : "a key picks a class") +
      " · Enter: commit" + (model.get("_bound") ? " and next · S: skip" : "") + " · ? shows every key";
  }
  function renderActions() {
    actions.replaceChildren();
    if (!model.get("_bound")) {
      actions.append(actionButton("Commit (Enter)", commit, root));
      return;
    }
    actions.append(actionButton("Skip (S)", skip, root), actionButton("Submit (Enter)", commit, root));
  }
  const renderText = () => renderSessionText(model, { root, status, message, done });

  /** @param {string} name */
  function pick(name) {
    if (multi()) picked = picked.includes(name) ? picked.filter((n) => n !== name) : [...picked, name];
    else picked = [name];
    picks.push(picked);
    renderOptions();
  }
  /** @param {string[] | null} state */
  function restore(state) {
    if (state === null) return;
    picked = state;
    renderOptions();
  }
  function commit() {
    if (model.get("_done")) return;
    model.set("_value", [...picked]);
    saveChanges();
    renderOptions();
    session.submit({ labels: [...picked] });
  }

  /** @param {KeyboardEvent} e */
  function onKey(e) {
    e.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the widget
    session.active();
    const lab = hotkeyLabel(e, labels());
    if (lab) { e.preventDefault(); pick(lab.name); return; }
    const action = keymap.actionFor(e);
    if (overlay && (action === "help" || e.key === "Escape")) { e.preventDefault(); toggleHelp(); return; }
    if (action) e.preventDefault();
    switch (action) {
      case "submit": commit(); return;
      case "skip": skip(); return;
      case "undo": restore(picks.undo()); return;
      case "redo": restore(picks.redo()); return;
      case "clear": picked = []; picks.push(picked); renderOptions(); return;
      case "help": toggleHelp(); return;
      case "release": root.blur(); return;
      default: break;
    }
  }

  function loadItem() {
    const it = item();
    if (it.key === itemKey) return;
    itemKey = it.key;
    session.shown();
    const suggested = model.get("_suggested") || [];
    const committed = model.get("_value") || [];
    picked = committed.length ? [...committed] : multi() ? [...suggested] : suggested.slice(0, 1);
    picks.reset(picked);
    text.textContent = typeof it.text === "string" ? it.text : "";
    text.style.display = typeof it.text === "string" ? "" : "none";
    img.style.display = it.has_image ? "" : "none";
    img.removeAttribute("src");
    if (objectUrl) { URL.revokeObjectURL(objectUrl); objectUrl = null; }
    if (it.has_image) {
      img.width = it.display_width;
      img.height = it.display_height;
      requestImage(it.key, 0);
    }
    renderOptions();
  }
  /** @type {any} */ let imageTimer = null;
  /** ask Python for the image bytes; ask again if no answer came (e.g. a busy kernel) */
  function requestImage(/** @type {string} */ key, /** @type {number} */ tries) {
    if (imageTimer) clearTimeout(imageTimer);
    model.send({ type: "image", key });
    imageTimer = tries < 5 ? setTimeout(() => {
      if (!objectUrl && item().key === key) requestImage(key, tries + 1);
    }, 10000) : null;
  }
  /** @param {any} msg @param {DataView[]} buffers */
  function onMsg(msg, buffers) {
    if (msg.type === "image" && msg.key === item().key && buffers && buffers.length) {
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime }));
      img.src = objectUrl;
      if (imageTimer) clearTimeout(imageTimer);
    } else {
      session.pending.ack(msg);
    }
  }

  function onValue() { // standalone: a choice set from Python replaces the pick
    if (!model.get("_bound")) picked = [...(model.get("_value") || [])];
    renderOptions();
  }
  root.addEventListener("keydown", onKey);
  session.start([["msg:custom", onMsg], ["change:_item", loadItem], ["change:_labels", renderOptions],
    ["change:_value", onValue], ["change:_suggested", renderOptions], ["change:_multi", renderOptions]],
    { progress, renderText, renderActions, setKeymap });
  loadItem();

  return () => {
    session.stop();
    if (imageTimer) clearTimeout(imageTimer);
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    root.remove();
  };
}

export default { render };
