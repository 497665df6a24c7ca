// labelnb BoxAnnotator front-end: a plain ES module for anywidget (no bundler; the
// ./lib imports are inlined by labelnb/widgets/_esm.py). Boxes live in display pixels
// (the pixels of the downscaled image Python sends); Python maps them back to original
// pixels. Only committed changes are synced.

import { History } from "./lib/history.js";
import { Keymap, keymapOr, hotkeyLabel } from "./lib/keymap.js";
import { normalizeBox, clamp } from "./lib/geometry.js";
import { makeViewport } from "./lib/viewport.js";
import { h, makeSession, helpOverlay, makeHeader, makeToolbar, renderLabelBar, renderSessionText, renderActionBar, classesOf } from "./lib/ui.js";

/** @typedef {{type?: string, x0: number, y0: number, x1: number, y1: number, label: string, score?: number, attributes?: Record<string, any>}} DBox */

const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
const MIN_DRAG = 2; // screen pixels: a smaller drag is a click, not a box

/** the keymap's actions and default keys (Python: BoxAnnotator.ACTIONS, keymap=...) */
export const ACTIONS = {
  submit: { keys: "Enter", help: "submit and go to the next item" },
  skip: { keys: "s", help: "skip this item" },
  undo: { keys: "Ctrl+Z", help: "undo" },
  redo: { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], help: "redo" },
  delete: { keys: ["Delete", "Backspace"], help: "delete the selected box" },
  autofit: { keys: "f", help: "auto-fit the selected box to the object's edges" },
  accept_all: { keys: "y", help: "accept all suggestions (click one to accept it)" },
  next_box: { keys: "Tab", help: "select the next box" },
  zoom_in: { keys: ["+", "="], help: "zoom in (or the mouse wheel)" },
  zoom_out: { keys: "-", help: "zoom out" },
  fit_view: { keys: "0", help: "fit the image to the view" },
  help: { keys: "?", help: "show / hide this help" },
  release: { keys: "Escape", help: "deselect; again: leave the widget (release the keys)" },
};

/** @param {DBox[]} boxes @returns {DBox[]} */
function clone(boxes) {
  return boxes.map((b) => ({ ...b }));
}

/** @typedef {{boxes: DBox[], accepted: number[]}} BoxState the undoable state: the
 * boxes, and which suggestions (indices into ``_suggestions``) were accepted */

/** the suggestions still open (not accepted), with their indices
 * @param {DBox[]} suggestions @param {number[]} accepted @returns {[DBox, number][]} */
export function openSuggestions(suggestions, accepted) {
  return suggestions.map((s, i) => /** @type {[DBox, number]} */ ([s, i])).filter(([, i]) => !accepted.includes(i));
}

/** ``state`` with the suggestions ``which`` accepted as boxes (each once, without the
 * model's score, with its attributes), or null when none is left to accept. The
 * suggestions themselves stay as they are: undo gives an accepted one back as a
 * suggestion.
 * @param {BoxState} state @param {DBox[]} suggestions @param {number[]} which @returns {BoxState | null} */
export function acceptSuggestions(state, suggestions, which) {
  const add = which.filter((i, k) => suggestions[i] && !state.accepted.includes(i) && which.indexOf(i) === k);
  if (!add.length) return null;
  const boxes = [...clone(state.boxes), ...add.map((i) => {
    const s = suggestions[i];
    /** @type {DBox} */ const b = { type: "box", x0: s.x0, y0: s.y0, x1: s.x1, y1: s.y1, label: s.label };
    if (s.attributes && Object.keys(s.attributes).length) b.attributes = { ...s.attributes };
    return b;
  })];
  return { boxes, accepted: [...state.accepted, ...add] };
}

/** the index of the box an auto-fit reply fits, or -1: the box it was asked for must
 * still be at that index with the corners it was sent with (``msg.from``), else the
 * reply is about a box that was since moved, deleted or undone
 * @param {DBox[]} boxes @param {any} msg @returns {number} */
export function autofitTarget(boxes, msg) {
  const i = msg && msg.index, b = Number.isInteger(i) ? boxes[i] : undefined, f = msg && msg.from;
  if (!b || !f || !msg.box) return -1;
  return b.x0 === f.x0 && b.y0 === f.y0 && b.x1 === f.x1 && b.y1 === f.y1 ? i : -1;
}

/**
 * The smallest box a drag makes, in display pixels (the pixels of the image copy the
 * browser shows): a drag under MIN_DRAG screen pixels is a click, and a box needs at
 * least one pixel of the original image. ``screenPx`` is display pixels per screen
 * pixel (it shrinks as one zooms in); ``originalPx`` display pixels per original pixel.
 * @param {number} screenPx @param {number} originalPx
 */
export function minBoxSize(screenPx, originalPx) {
  return Math.max(MIN_DRAG * screenPx, originalPx);
}

/** @param {{model: any, el: HTMLElement}} ctx */
function render({ model, el }) {
  const root = h("div", "lnb-box");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const { header, status, message, progress } = makeHeader(model);
  const { toolbar, labelBar, actions } = makeToolbar();
  const vp = makeViewport(model, root, draw, () => { root.dataset.paintedAt = String(performance.now()); });
  const { canvas, ctx, pxRatio } = vp;
  const stage = h("div", "lnb-stage");
  stage.append(canvas);
  const done = h("div", "lnb-done");
  const help = h("div", "lnb-help", "drag: draw · click: select · drag box/handle: move/resize · " +
    "Space+drag or middle-drag: pan · ? shows every key");
  const footer = h("div", "lnb-footer");
  footer.append(help, vp.adjust.el);
  root.append(header, toolbar, stage, done, footer);
  el.append(root);

  /** @type {Keymap} */ let keymap = new Keymap(ACTIONS, {});
  /** @type {HTMLElement | null} */ let overlay = null;
  /** @type {DBox[]} */ let boxes = clone(model.get("_boxes") || []);
  /** @type {number[]} suggestions accepted (part of the undoable state) */ let accepted = [];
  /** @type {History<BoxState>} */ const history = new History({ boxes: clone(boxes), accepted: [] });
  /** @returns {DBox[]} */ const suggestions = () => model.get("_suggestions") || [];
  let selected = -1;
  /** @type {any} */ let drag = null;

  const session = makeSession(model, root, message);
  const { saveChanges, skip } = session;
  const { labels, colorOf } = classesOf(model);
  const item = () => model.get("_item") || {};

  function setKeymap() {
    keymap = keymapOr(keymap, ACTIONS, model.get("_keymap") || {}, (why) => { message.textContent = why; });
  }

  function sync() {
    model.set("_boxes", clone(boxes));
    saveChanges();
  }
  /** one undoable step */
  function commit() {
    history.push({ boxes: clone(boxes), accepted: [...accepted] });
    sync();
    draw();
  }
  /** @param {BoxState | null} s */
  function restore(s) {
    if (!s) return;
    boxes = s.boxes; accepted = s.accepted; selected = -1;
    drag = null; // a drag under way would move a box that is no longer there
    sync(); draw();
  }
  const undo = () => restore(history.undo());
  const redo = () => restore(history.redo());

  /** @param {DBox} b @returns {Record<string, [number, number]>} */
  function handlePoints(b) {
    const mx = (b.x0 + b.x1) / 2, my = (b.y0 + b.y1) / 2;
    return { nw: [b.x0, b.y0], n: [mx, b.y0], ne: [b.x1, b.y0], e: [b.x1, my],
             se: [b.x1, b.y1], s: [mx, b.y1], sw: [b.x0, b.y1], w: [b.x0, my] };
  }

  function draw() {
    const k = vp.paint();
    ctx.setLineDash([6 * k, 4 * k]);
    ctx.lineWidth = 1.5 * k;
    for (const [s] of openSuggestions(suggestions(), accepted)) {
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 3 * k;
      ctx.strokeRect(s.x0, s.y0, s.x1 - s.x0, s.y1 - s.y0);
      ctx.strokeStyle = colorOf(s.label);
      ctx.lineWidth = 1.5 * k;
      ctx.strokeRect(s.x0, s.y0, s.x1 - s.x0, s.y1 - s.y0);
      const tag = s.label + "?" + (typeof s.score === "number" ? " " + s.score.toFixed(2) : "");
      ctx.globalAlpha = 0.75;
      ctx.fillStyle = "#222";
      ctx.fillRect(s.x0, s.y1, ctx.measureText(tag).width + 6 * k, 16 * k);
      ctx.globalAlpha = 1;
      ctx.fillStyle = "#fff";
      ctx.fillText(tag, s.x0 + 3 * k, s.y1 + 12 * k);
    }
    ctx.setLineDash([]);
    boxes.forEach((b, i) => {
      const c = colorOf(b.label);
      ctx.strokeStyle = c;
      ctx.lineWidth = (i === selected ? 3 : 2) * k;
      ctx.strokeRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
      if (i === selected) {
        ctx.globalAlpha = 0.15; ctx.fillStyle = c;
        ctx.fillRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
        ctx.globalAlpha = 1;
        ctx.fillStyle = "#fff";
        for (const [hx, hy] of Object.values(handlePoints(b))) {
          ctx.fillRect(hx - 4 * k, hy - 4 * k, 8 * k, 8 * k);
          ctx.strokeRect(hx - 4 * k, hy - 4 * k, 8 * k, 8 * k);
        }
      }
      const tw = ctx.measureText(b.label).width + 6 * k;
      const ty = b.y0 >= 16 * k ? b.y0 - 16 * k : b.y0;
      ctx.fillStyle = c;
      ctx.fillRect(b.x0, ty, tw, 16 * k);
      ctx.fillStyle = "#fff";
      ctx.fillText(b.label, b.x0 + 3 * k, ty + 12 * k); // canvas text: never HTML
    });
    root.dataset.zoom = String(vp.view.z);
  }

  /** @param {{x: number, y: number}} p */
  function hit(p) {
    const tol = 6 * pxRatio();
    if (selected >= 0 && boxes[selected]) {
      const hp = handlePoints(boxes[selected]);
      for (const name of HANDLES) {
        const [hx, hy] = hp[name];
        if (Math.abs(p.x - hx) <= tol && Math.abs(p.y - hy) <= tol) return { kind: "resize", idx: selected, handle: name };
      }
    }
    for (let i = boxes.length - 1; i >= 0; i--) {
      const b = boxes[i];
      if (p.x >= b.x0 && p.x <= b.x1 && p.y >= b.y0 && p.y <= b.y1) return { kind: "move", idx: i };
    }
    const open = openSuggestions(suggestions(), accepted);
    for (let k = open.length - 1; k >= 0; k--) {
      const [s, i] = open[k];
      if (p.x >= s.x0 && p.x <= s.x1 && p.y >= s.y0 && p.y <= s.y1) return { kind: "suggestion", idx: i };
    }
    return { kind: "draw" };
  }

  /** accept suggestions as boxes: one undoable step @param {number[]} which */
  function accept(which) {
    const next = acceptSuggestions({ boxes, accepted }, suggestions(), which);
    if (!next) return;
    boxes = next.boxes; accepted = next.accepted;
    selected = boxes.length - 1;
    commit();
  }

  /** @param {PointerEvent} e */
  function onDown(e) {
    session.active();
    const p = vp.press(e);
    if (!p || e.button !== 0) return;
    const hitRes = hit(p);
    if (hitRes.kind === "suggestion") { accept([hitRes.idx]); return; }
    canvas.setPointerCapture(e.pointerId);
    if (hitRes.kind === "draw") {
      const label = model.get("current_label") || (labels()[0] || {}).name;
      boxes.push({ type: "box", x0: p.x, y0: p.y, x1: p.x, y1: p.y, label });
      selected = boxes.length - 1;
      drag = { kind: "draw", idx: selected, start: p };
    } else {
      selected = hitRes.idx;
      drag = { ...hitRes, start: p, orig: { ...boxes[hitRes.idx] }, moved: false };
    }
    draw();
  }
  /** @param {PointerEvent} e */
  function onMove(e) {
    const p = vp.toImage(e);
    if (vp.panTo(p)) return;
    if (!drag) {
      const r = hit(p);
      canvas.style.cursor = r.kind === "resize" ? "nwse-resize" : r.kind === "move" ? "move"
        : r.kind === "suggestion" ? "pointer" : "crosshair";
      return;
    }
    const b = boxes[drag.idx];
    if (drag.kind === "draw") {
      b.x0 = drag.start.x; b.y0 = drag.start.y; b.x1 = p.x; b.y1 = p.y;
    } else if (drag.kind === "move") {
      const o = drag.orig;
      let dx = p.x - drag.start.x, dy = p.y - drag.start.y;
      dx = clamp(dx, -o.x0, canvas.width - o.x1);
      dy = clamp(dy, -o.y0, canvas.height - o.y1);
      b.x0 = o.x0 + dx; b.x1 = o.x1 + dx; b.y0 = o.y0 + dy; b.y1 = o.y1 + dy;
      drag.moved = drag.moved || dx !== 0 || dy !== 0;
    } else if (drag.kind === "resize") {
      const o = drag.orig, hn = drag.handle;
      b.x0 = hn.includes("w") ? p.x : o.x0; b.x1 = hn.includes("e") ? p.x : o.x1;
      b.y0 = hn.includes("n") ? p.y : o.y0; b.y1 = hn.includes("s") ? p.y : o.y1;
      drag.moved = true;
    }
    draw();
  }
  /** @param {PointerEvent} e */
  function onUp(e) {
    if (vp.endPan(e) || !drag) return;
    onMove(e);
    const d = drag;
    drag = null;
    if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    boxes[d.idx] = normalizeBox(boxes[d.idx]);
    const b = boxes[d.idx];
    if (d.kind === "draw") {
      const it = item();
      const min = minBoxSize(pxRatio(), it.width ? (it.display_width || it.width) / it.width : 1);
      if (b.x1 - b.x0 < min || b.y1 - b.y0 < min) {
        boxes.splice(d.idx, 1);
        selected = -1;
        draw();
        return;
      }
      commit();
    } else if (d.moved) {
      commit();
    } else {
      draw();
    }
  }

  const submit = () => session.submit({ regions: clone(boxes) });
  function deleteSelected() {
    if (selected >= 0 && boxes[selected]) { boxes.splice(selected, 1); selected = -1; drag = null; commit(); }
  }
  /** ask Python to fit the selected box to the object's edges (one undoable step) */
  function autofit() {
    if (selected < 0 || !boxes[selected]) { message.textContent = "select a box to auto-fit"; return; }
    model.send({ type: "autofit", key: item().key, index: selected, box: { ...boxes[selected] } });
    message.textContent = "fitting…";
  }
  function toggleHelp() {
    if (overlay) { overlay.remove(); overlay = null; return; }
    const hot = labels().filter((l) => l.hotkey).map((l) => /** @type {[string, string]} */ ([String(l.hotkey), "class " + l.name + " (relabels the selected box)"]));
    overlay = helpOverlay(keymap.rows(), [...hot, ["Arrows / Shift+Arrows", "nudge the selected box by 1 / 10 px"],
      ["Space+drag, middle-drag", "pan"]]);
    root.append(overlay);
  }

  /** @param {KeyboardEvent} e */
  function onKey(e) {
    e.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the widget
    session.active();
    const key = e.key;
    const plain = !(e.ctrlKey || e.metaKey || e.altKey);
    const lab = hotkeyLabel(e, labels()); // class hotkeys (from the schema) come first
    if (lab) { e.preventDefault(); setLabel(lab.name); return; }
    const action = keymap.actionFor(e);
    if (overlay && (action === "help" || key === "Escape")) { e.preventDefault(); toggleHelp(); return; }
    if (action) e.preventDefault();
    if (vp.viewAction(action)) return;
    switch (action) {
      case "submit": submit(); return;
      case "skip": skip(); return;
      case "undo": undo(); return;
      case "redo": redo(); return;
      case "delete": deleteSelected(); return;
      case "autofit": autofit(); return;
      case "accept_all":
        accept(suggestions().map((_s, i) => i));
        return;
      case "next_box":
        if (boxes.length) { selected = (selected + 1) % boxes.length; draw(); }
        return;
      case "help": toggleHelp(); return;
      case "release":
        if (selected >= 0) { selected = -1; draw(); } else root.blur();
        return;
      default: break;
    }
    if (key === " ") { e.preventDefault(); vp.pressSpace(); return; }
    if (plain && key.startsWith("Arrow") && selected >= 0 && boxes[selected]) { // nudge by a pixel
      e.preventDefault();
      const step = (e.shiftKey ? 10 : 1) * pxRatio();
      const dx = key === "ArrowLeft" ? -step : key === "ArrowRight" ? step : 0;
      const dy = key === "ArrowUp" ? -step : key === "ArrowDown" ? step : 0;
      const b = boxes[selected];
      const mx = clamp(dx, -b.x0, canvas.width - b.x1);
      const my = clamp(dy, -b.y0, canvas.height - b.y1);
      boxes[selected] = { ...b, x0: b.x0 + mx, x1: b.x1 + mx, y0: b.y0 + my, y1: b.y1 + my };
      commit();
    }
  }
  function setLabel(/** @type {string} */ name) {
    model.set("current_label", name);
    saveChanges();
    if (selected >= 0 && boxes[selected] && boxes[selected].label !== name) {
      boxes[selected] = { ...boxes[selected], label: name };
      commit();
    }
    renderLabels();
  }

  const renderLabels = () => renderLabelBar(labelBar, labels(), model.get("current_label"), setLabel, root);
  const renderActions = () => renderActionBar(model, actions, root, [["Fit", vp.fit], ["Undo", undo],
    ["Redo", redo], ["Delete", deleteSelected], ["Auto-fit (F)", autofit], ["?", toggleHelp]], { skip, submit });
  const renderText = () => renderSessionText(model, { root, status, message, done });

  function loadItem() {
    const it = item();
    if (!vp.load(it)) return;
    session.shown();
    selected = -1; drag = null;
    accepted = [];
    history.reset({ boxes: clone(boxes), accepted: [] });
    vp.request(it);
    draw();
  }
  /** @param {any} msg @param {DataView[]} buffers */
  function onMsg(msg, buffers) {
    if (vp.handle(msg, buffers)) return;
    if (session.pending.ack(msg)) return;
    if (msg.type === "autofit" && msg.key === item().key) {
      const i = autofitTarget(boxes, msg);
      if (i >= 0 && !drag) {
        boxes[i] = { ...boxes[i], x0: msg.box.x0, y0: msg.box.y0, x1: msg.box.x1, y1: msg.box.y1 };
        selected = i;
        commit();
        message.textContent = msg.note || "";
      } else {
        message.textContent = msg.box ? "auto-fit dropped: the box changed meanwhile; press F again" : msg.note || "";
      }
    }
  }
  function onBoxes() {
    const incoming = model.get("_boxes") || [];
    if (JSON.stringify(incoming) === JSON.stringify(history.state.boxes)) return;
    boxes = clone(incoming); selected = -1; drag = null;
    history.reset({ boxes: clone(boxes), accepted: [...accepted] });
    draw();
  }
  /** Python set other suggestions: none of them is accepted yet (an undo step that
   * names the old ones' indices would be wrong now, so the history starts here) */
  function onSuggestions() {
    accepted = [];
    history.reset({ boxes: clone(boxes), accepted: [] });
    draw();
  }

  const onLabels = () => { renderLabels(); draw(); };
  vp.onPointer(onDown, onMove, onUp);
  root.addEventListener("keydown", onKey);
  session.start([["msg:custom", onMsg], ["change:_boxes", onBoxes], ["change:_suggestions", onSuggestions],
    ["change:_item", loadItem], ["change:_labels", onLabels], ["change:current_label", renderLabels]],
    { progress, renderText, renderActions, setKeymap });
  renderLabels();
  loadItem();

  return () => {
    session.stop();
    vp.stop();
    root.remove();
  };
}

export default { render };
