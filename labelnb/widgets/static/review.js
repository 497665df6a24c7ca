// labelnb ReviewAnnotator front-end: a plain ES module for anywidget (no bundler; the
// ./lib imports are inlined by labelnb/widgets/_esm.py). It shows an item with the
// annotation under review (and the other annotators' versions), and sends decisions.
// Corrections are made in the kind's own annotator widget, which Python creates and
// this module renders inside the review (anywidget's host.getWidget).
// User text (item text, label names, author names, feedback) reaches the DOM only as
// text: textContent, canvas fillText and setAttribute, never as HTML.

import { History } from "./lib/history.js";
import { Keymap, keymapOr, isComposing } from "./lib/keymap.js";
import { OffsetMap } from "./lib/utf16.js";
import { h, newId, makeSession, makeImageLoader, helpOverlay, makeHeader, adjustControls, renderSessionText, actionButton, canvasPoint, classesOf } from "./lib/ui.js";
import { zoomView, clampView, imageFilter } from "./lib/geometry.js";

/** @typedef {{type: string, label: string, [k: string]: any}} DRegion */
/** @typedef {{author: string, note: string, annotation_id: string | null, regions: DRegion[], overlay: boolean}} Version */

/** the keymap's actions and default keys (Python: ReviewAnnotator.ACTIONS, keymap=...) */
export const ACTIONS = {
  approve: { keys: "a", help: "approve the annotation under review" },
  reject: { keys: "r", help: "reject it: write feedback for the author" },
  correct: { keys: "c", help: "correct it yourself, from the version on screen (in the editor: Enter saves, S cancels)" },
  acknowledge: { keys: ["k", "Enter"], help: "acknowledge (retraining: I have read my mistake)" },
  skip: { keys: "s", help: "skip this item (retraining: it is closed as seen, not acknowledged)" },
  prev_version: { keys: "[", help: "previous annotator's version" },
  next_version: { keys: "]", help: "next annotator's version" },
  toggle_overlay: { keys: "h", help: "hide / show the annotation over the item" },
  undo: { keys: "Ctrl+Z", help: "undo the last decision not yet sent (standalone)" },
  redo: { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], help: "redo" },
  send_feedback: { keys: "Enter", help: "in the feedback box: send the rejection (Shift+Enter: new line)" },
  help: { keys: "?", help: "show / hide this help" },
  release: { keys: "Escape", help: "close the feedback box or the help; again: leave the widget" },
};
/** actions of the feedback box (send_feedback acts only there; release acts in both) */
const FORM_ACTIONS = ["send_feedback", "release"];

/** @param {Record<string, any>} all @param {(name: string) => boolean} keep */
function pick(all, keep) {
  return Object.fromEntries(Object.entries(all).filter(([k]) => keep(k)));
}

/** @param {{model: any, el: HTMLElement, host?: any}} ctx */
function render({ model, el, host }) {
  const root = h("div", "lnb-review");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.dataset.ready = "0";
  const { header, status, message, progress } = makeHeader(model);
  const last = h("div", "lnb-last");
  const versionBar = h("div", "lnb-versionbar");
  const panels = h("div", "lnb-panels");
  const legend = h("div", "lnb-legend");
  const decisionEl = h("div", "lnb-decision");
  const form = h("div", "lnb-feedback");
  const textarea = /** @type {HTMLTextAreaElement} */ (h("textarea", "lnb-feedback-text"));
  textarea.rows = 3;
  textarea.placeholder = "What should the author fix? (Enter sends, Shift+Enter: new line, Esc: back)";
  textarea.setAttribute("data-lm-suppress-shortcuts", "true");
  textarea.maxLength = 10000; // Python refuses longer feedback (MAX_FEEDBACK)
  const formButtons = h("div", "lnb-feedback-buttons");
  form.append(h("label", "lnb-feedback-title", "Feedback for the author"), textarea, formButtons);
  const actions = h("div", "lnb-actions");
  const editorBar = h("div", "lnb-editorbar");
  const editorEl = h("div", "lnb-editor");
  const done = h("div", "lnb-done");
  const hint = h("div", "lnb-help");
  const adjust = adjustControls((b, c) => { filter = imageFilter(b, c); drawPanels(); });
  root.append(header, last, versionBar, panels, legend, decisionEl, form, actions, editorBar,
              editorEl, done, hint, adjust.el);
  el.append(root);

  const { labels, colorOf } = classesOf(model);
  /** @returns {Version[]} */ const versions = () => model.get("_versions") || [];
  const item = () => model.get("_item") || {};
  const mode = () => model.get("_mode") || "review";
  const kind = () => model.get("_kind") || "";
  const bound = () => !!model.get("_bound");

  const MAIN = pick(ACTIONS, (k) => k !== "send_feedback");
  const FORM = pick(ACTIONS, (k) => FORM_ACTIONS.includes(k));
  /** @type {Keymap} */ let keymap = new Keymap(MAIN, {});
  /** @type {Keymap} */ let formKeys = new Keymap(FORM, {});
  function setKeymap() { // defaults here, overrides from Python's keymap=; a bad one is shown
    const overrides = model.get("_keymap") || {};
    const report = (/** @type {string} */ why) => { message.textContent = why; };
    keymap = keymapOr(keymap, MAIN, pick(overrides, (k) => k !== "send_feedback"), report);
    formKeys = keymapOr(formKeys, FORM, pick(overrides, (k) => FORM_ACTIONS.includes(k)), report);
  }
  setKeymap();
  const session = makeSession(model, root, message);
  const { saveChanges, pending, skip } = session;
  /** standalone decisions, undoable until read: {} is "undecided" @type {History<any>} */
  const history = new History({});

  /** @type {HTMLImageElement | null} */ let image = null;
  /** @type {Map<number, HTMLImageElement>} mask overlays of the shown item, by version */
  let overlays = new Map();
  /** @type {Set<number>} */ let overlayAsked = new Set();
  let cur = 0; // the version on screen
  /** zoom/pan shared by the panels: wheel zooms, drag pans, double-click fits */
  let view = { z: 1, ox: 0, oy: 0 };
  let filter = "none";
  let showOverlay = true;
  let itemKey = "";
  /** @type {HTMLElement | null} */ let helpBox = null;
  /** @type {AbortController | null} */ let editorCtl = null;

  const loader = makeImageLoader(model, (img, key) => {
    if (key !== item().key) return;
    image = img;
    drawPanels();
    root.dataset.ready = "1";
  });

  // --- drawing ---------------------------------------------------------------------
  /** the panels on screen: review shows one version; acknowledge shows the mistake
   * beside the consensus @returns {number[]} */
  function shownVersions() {
    const n = versions().length;
    if (!n) return [];
    if (mode() === "acknowledge") return n > 1 ? [0, 1] : [0];
    return [Math.min(cur, n - 1)];
  }

  function drawPanels() {
    panels.replaceChildren();
    const it = item();
    if (it.error) panels.append(h("div", "lnb-error", String(it.error))); // as text
    for (const i of shownVersions()) {
      const v = versions()[i];
      const panel = h("div", "lnb-panel");
      panel.dataset.version = String(i);
      const caption = h("div", "lnb-caption");
      caption.append(h("span", "lnb-author", v.author));
      if (v.note) caption.append(h("span", "lnb-note", " · " + v.note));
      panel.append(caption);
      if (it.has_image) panel.append(drawCanvas(v, i));
      if (typeof it.text === "string") panel.append(kind() === "spans" ? spanText(it.text, v) : plainText(it.text));
      if (kind() === "choice" || kind() === "multi_choice") panel.append(choiceChips(v));
      if (kind() === "spans") panel.append(spanList(it.text || "", v));
      panels.append(panel);
    }
    renderVersionBar();
  }

  /** wheel zoom (only while the widget has the focus), drag to pan, double-click to fit
   * @param {HTMLCanvasElement} canvas */
  function attachView(canvas) {
    canvas.addEventListener("wheel", (e) => {
      if (!root.contains(document.activeElement)) return;
      e.preventDefault();
      const [cx, cy] = canvasPoint(canvas, e);
      view = zoomView(view, e.deltaY < 0 ? 1.2 : 1 / 1.2, cx, cy, canvas.width, canvas.height);
      drawPanels();
    }, { passive: false });
    canvas.addEventListener("pointerdown", (e) => {
      root.focus({ preventScroll: true });
      // the panels are redrawn while panning: keep the geometry of the canvas pressed on
      const r = canvas.getBoundingClientRect(), w = canvas.width, hgt = canvas.height;
      const sx = r.width ? w / r.width : 1, sy = r.height ? hgt / r.height : 1;
      const v0 = { ...view };
      const move = (/** @type {PointerEvent} */ m) => {
        const dx = (m.clientX - e.clientX) * sx, dy = (m.clientY - e.clientY) * sy;
        view = clampView({ z: v0.z, ox: v0.ox - dx / v0.z, oy: v0.oy - dy / v0.z }, w, hgt);
        drawPanels();
      };
      const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    });
    canvas.addEventListener("dblclick", () => { view = { z: 1, ox: 0, oy: 0 }; drawPanels(); });
  }

  /** @param {Version} v @param {number} index */
  function drawCanvas(v, index) {
    const it = item();
    const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", "lnb-canvas"));
    canvas.width = it.display_width;
    canvas.height = it.display_height;
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    ctx.setTransform(view.z, 0, 0, view.z, -view.ox * view.z, -view.oy * view.z);
    ctx.filter = filter; // brightness / contrast, in the browser
    if (image) ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    else { ctx.fillStyle = "#ddd"; ctx.fillRect(0, 0, canvas.width, canvas.height); }
    ctx.filter = "none";
    attachView(canvas);
    root.dataset.zoom = String(view.z);
    if (!showOverlay) return canvas;
    if (v.overlay) {
      const ov = overlays.get(index);
      if (ov) ctx.drawImage(ov, 0, 0, canvas.width, canvas.height);
      else requestOverlay(index);
    }
    ctx.font = "12px sans-serif";
    for (const r of v.regions) {
      const c = colorOf(r.label);
      ctx.strokeStyle = c;
      ctx.lineWidth = 2;
      let tx = 0, ty = 0;
      if (r.type === "box") {
        ctx.strokeRect(r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
        tx = r.x0; ty = r.y0;
      } else if (r.type === "polygon") {
        const p = r.points;
        ctx.beginPath();
        for (let k = 0; k < p.length; k += 2) (k ? ctx.lineTo(p[k], p[k + 1]) : ctx.moveTo(p[k], p[k + 1]));
        ctx.closePath();
        ctx.globalAlpha = 0.2; ctx.fillStyle = c; ctx.fill(); ctx.globalAlpha = 1;
        ctx.stroke();
        tx = p[0]; ty = p[1];
      } else {
        continue; // masks come as the overlay; choices are listed below the image
      }
      const tw = ctx.measureText(r.label).width + 6;
      ty = ty >= 16 ? ty - 16 : ty;
      ctx.fillStyle = c;
      ctx.fillRect(tx, ty, tw, 16);
      ctx.fillStyle = "#fff";
      ctx.fillText(r.label, tx + 3, ty + 12); // canvas text: never HTML
    }
    return canvas;
  }

  /** @param {string} text */
  function plainText(text) { return h("div", "lnb-text", text); }

  /** the text with the version's spans highlighted: one <mark> per stretch of text
   * covered by the same spans, coloured by the innermost one @param {string} text @param {Version} v */
  function spanText(text, v) {
    const box = h("div", "lnb-text");
    const map = new OffsetMap(text);
    const spans = showOverlay ? v.regions.filter((r) => r.type === "span").map((r) => ({
      a: map.toUnits(r.start), b: map.toUnits(r.end), label: r.label })) : [];
    const cuts = new Set([0, text.length]);
    for (const s of spans) { cuts.add(s.a); cuts.add(s.b); }
    const pts = [...cuts].sort((x, y) => x - y);
    for (let k = 0; k + 1 < pts.length; k++) {
      const a = pts[k], b = pts[k + 1];
      const cover = spans.filter((s) => s.a <= a && s.b >= b);
      const piece = text.slice(a, b);
      if (!cover.length) { box.append(document.createTextNode(piece)); continue; }
      cover.sort((x, y) => (x.b - x.a) - (y.b - y.a));
      const m = h("mark", "lnb-mark", piece);
      m.style.setProperty("--lnb-color", colorOf(cover[0].label));
      m.dataset.depth = String(cover.length);
      m.setAttribute("title", cover.map((s) => s.label).join(", "));
      box.append(m);
    }
    return box;
  }

  /** @param {string} text @param {Version} v */
  function spanList(text, v) {
    const list = h("ul", "lnb-spanlist");
    const map = new OffsetMap(text);
    for (const r of v.regions) {
      if (r.type !== "span") continue;
      const li = h("li", "");
      const chip = h("span", "lnb-chip", r.label);
      chip.style.setProperty("--lnb-color", colorOf(r.label));
      li.append(chip, h("span", "lnb-quote", " “" + text.slice(map.toUnits(r.start), map.toUnits(r.end)) + "” "),
                h("small", "", `[${r.start}, ${r.end})`));
      list.append(li);
    }
    if (!list.childElementCount) list.append(h("li", "lnb-none", "no spans"));
    return list;
  }

  /** @param {Version} v */
  function choiceChips(v) {
    const box = h("div", "lnb-chosen");
    const chosen = v.regions.filter((r) => r.type === "choice");
    if (!chosen.length) box.append(h("span", "lnb-none", "no class chosen"));
    for (const r of chosen) {
      const chip = h("span", "lnb-chip", r.label);
      chip.style.setProperty("--lnb-color", colorOf(r.label));
      box.append(chip);
    }
    return box;
  }

  function renderVersionBar() {
    versionBar.replaceChildren();
    const n = versions().length;
    if (mode() === "acknowledge" || n < 2) return;
    const btn = (/** @type {string} */ text, /** @type {() => void} */ fn) =>
      actionButton(text, fn, root);
    const v = versions()[cur];
    const label = h("span", "lnb-version");
    label.append(`version ${cur + 1} of ${n}: `, h("b", "lnb-author", v.author));
    if (v.note) label.append(" (" + v.note + ")");
    versionBar.append(btn("◀ [", () => switchVersion(-1)), label, btn("] ▶", () => switchVersion(1)));
    if (cur !== 0) versionBar.append(h("span", "lnb-hint", " · approve / reject concern version 1"));
  }

  function renderLegend() {
    legend.replaceChildren();
    for (const l of labels()) {
      const chip = h("span", "lnb-chip", l.name);
      chip.style.setProperty("--lnb-color", l.color);
      legend.append(chip);
    }
  }

  function renderActions() {
    actions.replaceChildren();
    /** @param {string} action @param {string} text @param {() => void} fn */
    const btn = (action, text, fn) => {
      const keys = (keymap.actions[action] || { keys: [] }).keys;
      const b = h("button", "lnb-action lnb-do-" + action, text + (keys.length ? ` (${keys[0].toUpperCase()})` : ""));
      b.type = "button";
      b.addEventListener("click", () => { fn(); if (!form.classList.contains("lnb-open")) root.focus(); });
      actions.append(b);
    };
    if (mode() === "acknowledge") btn("acknowledge", "Acknowledge", acknowledge);
    else {
      btn("approve", "Approve", approve);
      btn("reject", "Reject…", openForm);
      btn("correct", "Correct", correct);
    }
    if (bound()) btn("skip", "Skip", skip);
    btn("help", "Keys", toggleHelp);
    formButtons.replaceChildren();
    const send = h("button", "lnb-action lnb-send", "Send rejection (Enter)");
    send.type = "button";
    send.addEventListener("click", sendFeedback);
    const cancel = h("button", "lnb-action", "Back (Esc)");
    cancel.type = "button";
    cancel.addEventListener("click", closeForm);
    formButtons.append(send, cancel);
    hint.textContent = mode() === "acknowledge"
      ? "k or Enter: acknowledge · " + (bound() ? "s: skip (closes it as seen, not acknowledged) · " : "") + "?: keys"
      : "a: approve · r: reject with feedback · c: correct · [ ]: versions · h: hide overlay · ?: keys";
  }

  function renderText() {
    renderSessionText(model, { root, status, message, done });
    last.textContent = model.get("_last") || "";
  }

  function renderDecision() {
    const d = model.get("_decision") || {};
    decisionEl.replaceChildren();
    root.dataset.decision = d.decision || "";
    if (!d.decision) return;
    const words = { approve: "Approved", reject: "Rejected", correct: "Corrected",
                    acknowledge: "Acknowledged" };
    decisionEl.append(h("b", "", /** @type {any} */ (words)[d.decision] || d.decision));
    if (d.feedback) decisionEl.append(" — feedback: ", h("span", "lnb-feedback-shown", d.feedback));
    if (d.decision === "correct") decisionEl.append(` (${(d.regions || []).length} regions)`);
    decisionEl.append(h("small", "", " · Ctrl+Z takes it back"));
  }

  // --- mask overlays: PNGs at display size, pulled from Python ------------------------
  /** @param {number} index */
  function requestOverlay(index) {
    if (overlayAsked.has(index)) return;
    overlayAsked.add(index);
    const key = item().key;
    model.send({ type: "overlay", key, version: index });
    setTimeout(() => { // ask once more if no answer came (a busy kernel)
      if (item().key === key && !overlays.has(index)) {
        overlayAsked.delete(index);
        if (shownVersions().includes(index)) requestOverlay(index);
      }
    }, 10000);
  }
  /** @param {any} msg @param {DataView[]} buffers */
  function onOverlay(msg, buffers) {
    if (msg.key !== item().key || !buffers || !buffers.length) return;
    const url = URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime }));
    const img = new Image();
    img.onload = () => {
      URL.revokeObjectURL(url);
      if (msg.key !== item().key) return;
      overlays.set(msg.version, img);
      drawPanels();
    };
    img.src = url;
  }

  // --- decisions ---------------------------------------------------------------------
  /** a bound decision was sent for this item and is not answered yet */
  let awaiting = false;
  function decidable() {
    if (model.get("_done") || model.get("_correcting") || !versions().length) return false;
    return !awaiting;
  }
  /** @param {any} d */
  function decide(d) {
    if (!decidable()) return;
    if (bound()) {
      awaiting = true; // one decision per item: a second key press waits for the answer
      pending.send({ type: "decide", key: item().key, client_id: newId(), ...d });
      return;
    }
    history.push(d);
    model.set("_decision", d);
    saveChanges();
    renderDecision();
  }
  function approve() { if (mode() === "review") decide({ decision: "approve", version: cur }); }
  function acknowledge() { if (mode() === "acknowledge") decide({ decision: "acknowledge", version: 0 }); }
  function openForm() {
    if (mode() !== "review" || !decidable()) return;
    form.classList.add("lnb-open");
    textarea.focus();
  }
  function closeForm() {
    form.classList.remove("lnb-open");
    root.focus({ preventScroll: true });
  }
  function sendFeedback() {
    const text = textarea.value;
    if (!text.trim()) {
      message.textContent = "write what the author should fix, then Enter";
      textarea.focus();
      return;
    }
    message.textContent = "";
    decide({ decision: "reject", feedback: text, version: cur });
    textarea.value = "";
    closeForm();
  }
  function correct() {
    if (mode() !== "review" || !decidable()) return;
    model.send({ type: "correct", key: item().key, version: cur });
  }
  function undo() {
    if (bound()) { message.textContent = "decisions sent to the queue are final"; return; }
    const prev = history.undo();
    if (prev === null) return;
    model.set("_decision", prev);
    saveChanges();
    renderDecision();
  }
  function redo() {
    if (bound()) return;
    const next = history.redo();
    if (next === null) return;
    model.set("_decision", next);
    saveChanges();
    renderDecision();
  }
  /** @param {number} step */
  function switchVersion(step) {
    const n = versions().length;
    if (n < 2 || mode() === "acknowledge") return;
    cur = (cur + step + n) % n;
    drawPanels();
  }
  function toggleHelp() {
    if (helpBox) { helpBox.remove(); helpBox = null; return; }
    helpBox = helpOverlay(keymap.rows(), formKeys.rows().filter(([, t]) => t.startsWith("in the feedback")));
    root.append(helpBox);
  }

  // --- keys --------------------------------------------------------------------------
  /** @param {KeyboardEvent} e */
  function onKey(e) {
    e.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the widget
    session.active();
    if (e.target === textarea) { onFormKey(e); return; }
    if (editorEl.contains(/** @type {Node} */ (e.target))) return; // the editor's own keys
    const action = keymap.actionFor(e);
    if (!action) return;
    e.preventDefault();
    if (helpBox && action !== "help" && action !== "release") { toggleHelp(); }
    switch (action) {
      case "approve": approve(); break;
      case "reject": openForm(); break;
      case "correct": correct(); break;
      case "acknowledge": acknowledge(); break;
      case "skip": skip(); break;
      case "prev_version": switchVersion(-1); break;
      case "next_version": switchVersion(1); break;
      case "toggle_overlay": showOverlay = !showOverlay; drawPanels(); break;
      case "undo": undo(); break;
      case "redo": redo(); break;
      case "help": toggleHelp(); break;
      case "release":
        if (helpBox) toggleHelp();
        else root.blur();
        break;
    }
  }
  /** @param {KeyboardEvent} e */
  function onFormKey(e) {
    if (isComposing(e)) return; // the Enter that ends an IME composition is not "send"
    const action = formKeys.actionFor(e);
    if (action === "send_feedback") { e.preventDefault(); sendFeedback(); }
    else if (action === "release") { e.preventDefault(); closeForm(); }
    // anything else is typing: the textarea keeps it (and its own undo)
  }

  // --- the correction editor (the kind's annotator widget, hosted here) -------------
  async function syncEditor() {
    const on = !!model.get("_correcting");
    root.classList.toggle("lnb-is-correcting", on);
    if (!on) {
      if (editorCtl) { editorCtl.abort(); editorCtl = null; }
      editorEl.replaceChildren();
      editorBar.replaceChildren();
      if (root.isConnected) root.focus({ preventScroll: true });
      return;
    }
    const ref = model.get("_editor");
    if (!ref || editorCtl) return;
    if (!host || typeof host.getWidget !== "function") {
      message.textContent = "this version of anywidget cannot show the editor inside the review; install anywidget >= 0.11";
      model.send({ type: "correct_cancel" });
      return;
    }
    const ctl = new AbortController();
    editorCtl = ctl;
    const cancel = h("button", "lnb-action", "Cancel correction");
    cancel.type = "button";
    cancel.addEventListener("click", () => model.send({ type: "correct_cancel" }));
    editorBar.append(h("span", "", "Correcting: Enter in the editor saves the correction. "), cancel);
    const slot = h("div", "lnb-editor-slot");
    editorEl.replaceChildren(slot);
    try {
      const child = await host.getWidget(ref);
      if (ctl.signal.aborted) return;
      await child.render({ el: slot, signal: ctl.signal });
      const focusable = /** @type {HTMLElement | null} */ (slot.querySelector("[tabindex]"));
      if (focusable && !ctl.signal.aborted) focusable.focus({ preventScroll: true });
    } catch (err) {
      if (!ctl.signal.aborted) message.textContent = "the editor could not be shown: " + err;
    }
  }

  // --- model events ------------------------------------------------------------------
  function loadItem() {
    const it = item();
    if (it.key === itemKey) { drawPanels(); return; }
    itemKey = it.key;
    view = { z: 1, ox: 0, oy: 0 };
    adjust.el.style.display = it.has_image ? "" : "none"; // no image: nothing to adjust
    session.shown();
    awaiting = false;
    image = null;
    overlays = new Map();
    overlayAsked = new Set();
    cur = 0;
    showOverlay = true;
    history.reset(model.get("_decision") || {});
    form.classList.remove("lnb-open");
    textarea.value = "";
    root.dataset.ready = "0";
    if (it.has_image) loader.request(it.key, it.alias || null);
    else root.dataset.ready = "1";
    drawPanels();
    renderDecision();
  }
  /** @param {any} msg @param {DataView[]} buffers */
  function onMsg(msg, buffers) {
    if (loader.handle(msg, buffers)) return;
    if (msg.type === "overlay") onOverlay(msg, buffers);
    else if (msg.type === "ack") {
      pending.ack(msg);
      if (msg.error) { awaiting = false; message.textContent = msg.error; } // refused: say why
    }
  }
  function onDecision() { // Python set it (a correction saved, or a new item): keep the history
    const d = model.get("_decision") || {};
    if (JSON.stringify(d) !== JSON.stringify(history.state)) history.push(d);
    renderDecision();
  }
  function onVersions() {
    if (cur >= versions().length) cur = 0;
    drawPanels();
  }
  const onDone = () => { renderText(); if (model.get("_done")) form.classList.remove("lnb-open"); };

  /** a click on the item focuses the widget, so its keys work at once @param {PointerEvent} e */
  const onPointer = (e) => {
    session.active();
    if (panels.contains(/** @type {Node} */ (e.target))) root.focus({ preventScroll: true });
  };
  root.addEventListener("keydown", onKey);
  root.addEventListener("pointerdown", onPointer);
  session.listen([["msg:custom", onMsg],
    ["change:_item", loadItem], ["change:_versions", onVersions], ["change:_labels", () => { renderLegend(); drawPanels(); }],
    ["change:_decision", onDecision], ["change:_status", renderText], ["change:_message", renderText],
    ["change:_last", renderText], ["change:_progress", progress.update], ["change:_done", onDone],
    ["change:_bound", () => { renderActions(); progress.update(); }], ["change:_mode", () => { renderActions(); drawPanels(); }],
    ["change:_correcting", syncEditor], ["change:_editor", syncEditor],
    ["change:_keymap", () => { setKeymap(); renderActions(); }]]);
  renderLegend();
  renderActions();
  renderText();
  loadItem();
  syncEditor();

  return () => {
    session.stop();
    loader.stop();
    if (editorCtl) editorCtl.abort();
    root.removeEventListener("keydown", onKey);
    root.removeEventListener("pointerdown", onPointer);
    root.remove();
  };
}

export default { render };
