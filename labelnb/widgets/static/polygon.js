// labelnb PolygonAnnotator and MaskAnnotator front-end: one plain ES module for
// anywidget (no bundler; the ./lib imports are inlined by labelnb/widgets/_esm.py).
// The model's `_kind` picks the tool: "polygons" (vertices) or "masks" (brush, eraser,
// magic wand). Both share the shell: the image canvas, zoom/pan, brightness/contrast,
// class bar, keymap and help overlay, undo/redo, suggestions and the session's submit.
//
// Everything here is in display pixels (the pixels of the downscaled image Python
// sends); Python maps committed polygons and masks back to original pixels. Masks are
// row-major bitmaps kept as run lengths (background first) and cross to Python as
// uint32 buffers, never base64.

import { History } from "./lib/history.js";
import { Keymap, keymapOr, hotkeyLabel } from "./lib/keymap.js";
import { nearestVertex, splitEdge, toPoints, toFlat, removeVertex, translatePolygon, hitPolygons, pointInPolygon, encodeRuns, decodeRuns, runsArea, paintSegment, bitmapAt, bitmapBounds } from "./lib/geometry.js";
import { makeViewport } from "./lib/viewport.js";
import { h, newId, makeSession, helpOverlay, makeHeader, makeToolbar, renderLabelBar, renderSessionText, renderActionBar, classesOf } from "./lib/ui.js";

/** @typedef {[number, number]} Pt */
/** @typedef {{type: string, points: number[], label: string, score?: number, attributes?: any}} DPoly */
/** @typedef {{id: string, label: string, runs: number[], wand?: [number, number], attributes?: any, score?: number}} DObj */

const SHARED = {
  skip: { keys: "s", help: "skip this item" },
  undo: { keys: "Ctrl+Z", help: "undo" },
  redo: { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], help: "redo" },
  accept_all: { keys: "y", help: "accept all suggestions" },
  zoom_in: { keys: ["+", "="], help: "zoom in (or the mouse wheel)" },
  zoom_out: { keys: "-", help: "zoom out" },
  fit_view: { keys: "0", help: "fit the image to the view" },
  help: { keys: "?", help: "show / hide this help" },
};

/** the keymap of PolygonAnnotator (Python: PolygonAnnotator.ACTIONS, keymap=...) */
export const POLYGON_ACTIONS = {
  submit: { keys: "Enter", help: "accept the wand's polygon, or close the polygon being drawn; else submit and go to the next item" },
  ...SHARED,
  delete: { keys: ["Delete", "Backspace"], help: "delete the selected vertex, else the selected polygon (while drawing: the last vertex)" },
  next: { keys: "Tab", help: "next wand candidate; else select the next polygon" },
  wand: { keys: "w", help: "magic wand on / off: click = positive point, Shift+click or right-click = negative point, drag = box" },
  release: { keys: "Escape", help: "clear the wand's points / cancel the polygon being drawn / deselect; again: leave the widget (release the keys)" },
};

/** the keymap of MaskAnnotator (Python: MaskAnnotator.ACTIONS, keymap=...) */
export const MASK_ACTIONS = {
  submit: { keys: "Enter", help: "accept the wand's mask; else submit and go to the next item" },
  ...SHARED,
  delete: { keys: ["Delete", "Backspace"], help: "delete the selected object" },
  next: { keys: "Tab", help: "next wand candidate; else select the next object" },
  new_object: { keys: "n", help: "new object: the next brush stroke starts one" },
  brush: { keys: "b", help: "brush: paint the selected object" },
  eraser: { keys: "e", help: "eraser: erase from the selected object (from all when none is selected)" },
  wand: { keys: "w", help: "magic wand: click = positive point, Shift+click or right-click = negative point, drag = box" },
  smaller: { keys: "[", help: "smaller brush / eraser" },
  larger: { keys: "]", help: "larger brush / eraser" },
  release: { keys: "Escape", help: "clear the wand's points / deselect; again: leave the widget (release the keys)" },
};

const CANDIDATE_COLOR = "#00d5ff";

/** "#rrggbb" or "#rgb" (the schema allows both) -> [r, g, b]; anything else is the
 * unknown-class red @param {string} c @returns {[number, number, number]} */
export function rgb(c) {
  const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c || "");
  const hex = !m ? "e15759" : m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
  const v = parseInt(hex, 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** a suggestion accepted as a polygon: its points, label and attributes (the model's
 * score stays with the suggestion: the polygon is a person's now)
 * @param {DPoly} g @returns {DPoly} */
export function acceptedPolygon(g) {
  /** @type {DPoly} */ const p = { type: "polygon", points: [...g.points], label: g.label };
  if (g.attributes && Object.keys(g.attributes).length) p.attributes = { ...g.attributes };
  return p;
}

/** a suggestion accepted as a mask object: its id (Python keeps its full-resolution
 * pixels under it), label, run lengths and attributes (not the model's score)
 * @param {any} g @returns {DObj} */
export function acceptedObject(g) {
  /** @type {DObj} */ const o = { id: g.id, label: g.label, runs: runsFrom(g.runs) };
  if (g.attributes && Object.keys(g.attributes).length) o.attributes = { ...g.attributes };
  return o;
}

/** the objects after a brush / eraser stroke: a target of the stroke that had display
 * pixels before it (or that it created) and has none now is dropped; any other object
 * stays, even one with no display pixel (a thin or small mask may cover none at display
 * size, and still be there at full size)
 * @param {DObj[]} objs @param {{id: string, hadPixels: boolean}[]} targets @returns {DObj[]} */
export function dropErased(objs, targets) {
  const emptied = new Set(targets.filter((t) => t.hadPixels).map((t) => t.id));
  return objs.filter((o) => !(emptied.has(o.id) && runsArea(o.runs) === 0));
}

/** a cheap signature of run lengths, to know when a cached layer is stale @param {number[]} runs */
function runsSig(runs) {
  let x = 2166136261;
  for (const v of runs) { x ^= v; x = Math.imul(x, 16777619); }
  return runs.length + ":" + (x >>> 0);
}

/** run lengths from what the model holds: an array, or a DataView / typed array (uint32 LE) @param {any} v @returns {number[]} */
export function runsFrom(v) {
  if (Array.isArray(v)) return v.slice();
  if (v && ArrayBuffer.isView(v)) {
    const b = v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength);
    return Array.from(new Uint32Array(b));
  }
  if (v instanceof ArrayBuffer) return Array.from(new Uint32Array(v));
  return [];
}

/**
 * An offscreen canvas that shows one mask: a translucent fill and an opaque outline
 * (a hatched fill and a dashed outline for suggestions). `bitmap` is the truth; the
 * canvas is redrawn by rectangle.
 */
class Layer {
  /** @param {number} w @param {number} hgt @param {Uint8Array} bitmap @param {string} color @param {boolean} hatched */
  constructor(w, hgt, bitmap, color, hatched) {
    this.w = w; this.h = hgt; this.bitmap = bitmap; this.color = color; this.hatched = hatched;
    this.sig = "";
    /** @type {[number, number, number, number] | null | undefined} */ this._bounds = undefined;
    this.canvas = document.createElement("canvas");
    this.canvas.width = w; this.canvas.height = hgt;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext("2d"));
    this.paint([0, 0, w, hgt]);
  }
  /** redraw the pixels of a rectangle [x0, y0, x1, y1) (and its 1-pixel rim: outlines) @param {[number, number, number, number]} rect */
  paint(rect) {
    this._bounds = undefined;
    const { w, h: hgt, bitmap } = this;
    const x0 = Math.max(0, rect[0] - 1), y0 = Math.max(0, rect[1] - 1);
    const x1 = Math.min(w, rect[2] + 1), y1 = Math.min(hgt, rect[3] + 1);
    if (x1 <= x0 || y1 <= y0) return;
    const img = this.ctx.createImageData(x1 - x0, y1 - y0);
    const [r, g, b] = rgb(this.color);
    const d = img.data;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const i = y * w + x;
        if (!bitmap[i]) continue;
        const edge = x === 0 || y === 0 || x === w - 1 || y === hgt - 1 || !bitmap[i - 1] ||
          !bitmap[i + 1] || !bitmap[i - w] || !bitmap[i + w];
        const o = ((y - y0) * (x1 - x0) + (x - x0)) * 4;
        // suggestions: a dashed outline over a hatched fill; objects: a solid one
        const a = this.hatched ? (edge ? (((x + y) >> 2) % 2 ? 255 : 40) : (x + y) % 8 < 3 ? 150 : 0)
          : edge ? 255 : 110;
        d[o] = r; d[o + 1] = g; d[o + 2] = b; d[o + 3] = a;
      }
    }
    this.ctx.putImageData(img, x0, y0);
  }
  /** the painted pixels' bounding rectangle, or null (cached until the next paint) */
  bounds() {
    if (this._bounds === undefined) this._bounds = bitmapBounds(this.bitmap, this.w, this.h);
    return this._bounds;
  }
}

/** @param {{model: any, el: HTMLElement}} ctx */
function render({ model, el }) {
  const kind = model.get("_kind") === "masks" ? "masks" : "polygons";
  const DEFAULTS = kind === "masks" ? MASK_ACTIONS : POLYGON_ACTIONS;
  const HISTORY_LIMIT = kind === "masks" ? 100 : 500; // a mask state holds every bitmap's runs
  const root = h("div", "lnb-shapes " + (kind === "masks" ? "lnb-mask" : "lnb-polygon"));
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const { header, status, message, progress } = makeHeader(model);
  const { toolbar, labelBar, actions } = makeToolbar();
  const toolBar = h("div", "lnb-tools");
  const vp = makeViewport(model, root, draw);
  const { canvas, pxRatio } = vp;
  const stage = h("div", "lnb-stage");
  const info = h("div", "lnb-info");
  stage.append(canvas, info);
  const done = h("div", "lnb-done");
  const help = h("div", "lnb-help", kind === "masks"
    ? "b brush · e eraser · w wand (click +, Shift/right-click −, drag box; Tab cycles, Enter accepts) · [ ] size · Alt+click picks · ? shows every key"
    : "click: add vertices, click the first (or Enter) to close · drag a vertex · click an edge: split · Shift+click a vertex: delete · w wand (click +, Shift/right-click −, drag box; Tab cycles, Enter accepts) · ? shows every key");
  const footer = h("div", "lnb-footer");
  footer.append(help, vp.adjust.el);
  root.append(header, toolbar, toolBar, stage, done, footer);
  el.append(root);

  /** @type {Keymap} */ let keymap = new Keymap(DEFAULTS, {});
  /** @type {HTMLElement | null} */ let overlay = null;

  const session = makeSession(model, root, message);
  const { saveChanges, skip } = session;
  const { labels, colorOf } = classesOf(model);
  const item = () => model.get("_item") || {};
  const currentLabel = () => model.get("current_label") || (labels()[0] || {}).name;
  const W = () => canvas.width, H = () => canvas.height;

  function setKeymap() {
    keymap = keymapOr(keymap, DEFAULTS, model.get("_keymap") || {}, (why) => { message.textContent = why; });
  }

  // --- history: the tool's whole state is one undoable value --------------------------
  /** @type {History<any>} */ let history = new History(null);
  /** one undoable step: the tool's current state becomes the committed one */
  function commit() {
    history.push(tool.getState());
    tool.sync();
    draw();
  }
  function undo() {
    const s = history.undo();
    if (s) { tool.setState(s); tool.sync(); draw(); }
  }
  function redo() {
    const s = history.redo();
    if (s) { tool.setState(s); tool.sync(); draw(); }
  }

  /** the shell's services for the tools */
  const shell = { canvas, model, message, info, toolBar, root, W, H, pxRatio, colorOf, labels, item, currentLabel,
    commit, draw: () => draw(), saveChanges, history: () => history };
  const tool = kind === "masks" ? maskTool(shell) : polygonTool(shell);

  function draw() {
    const k = vp.paint();
    tool.draw(vp.ctx, k);
  }

  /** @param {PointerEvent} e */
  function onDown(e) {
    session.active();
    const p = vp.press(e);
    if (!p || (e.button !== 0 && e.button !== 2)) return;
    canvas.setPointerCapture(e.pointerId);
    tool.down(e, p);
  }
  /** @param {PointerEvent} e */
  function onMove(e) {
    const p = vp.toImage(e);
    if (!vp.panTo(p)) tool.move(e, p);
  }
  /** @param {PointerEvent} e */
  function onUp(e) {
    if (vp.endPan(e)) return;
    if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    tool.up(e, vp.toImage(e));
  }

  function submit() { // masks submit their bitmaps as buffers
    const { regions, buffers } = tool.payload();
    session.submit({ regions }, buffers || undefined);
  }

  function toggleHelp() {
    if (overlay) { overlay.remove(); overlay = null; return; }
    const hot = labels().filter((l) => l.hotkey).map((l) => /** @type {[string, string]} */ (
      [String(l.hotkey), "class " + l.name + " (relabels the selection)"]));
    overlay = helpOverlay(keymap.rows(), [...hot, ...tool.mouseHelp,
      ["wheel", "zoom (while the widget has the focus)"], ["Space+drag, middle-drag", "pan"]]);
    stage.append(overlay);
  }

  /** @param {KeyboardEvent} e */
  function onKey(e) {
    e.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the widget
    session.active();
    const key = e.key;
    const lab = hotkeyLabel(e, labels()); // class hotkeys first
    if (lab) { e.preventDefault(); setLabel(lab.name); return; }
    const action = keymap.actionFor(e);
    if (overlay && (action === "help" || key === "Escape")) { e.preventDefault(); toggleHelp(); return; }
    if (key === " ") { e.preventDefault(); vp.pressSpace(); return; }
    if (!action) return;
    e.preventDefault();
    if (tool.action(action, e) || vp.viewAction(action)) return;
    switch (action) {
      case "submit": submit(); return;
      case "skip": skip(); return;
      case "undo": undo(); return;
      case "redo": redo(); return;
      case "help": toggleHelp(); return;
      case "release": root.blur(); return;
      default: break;
    }
  }
  /** @param {string} name */
  function setLabel(name) {
    model.set("current_label", name);
    saveChanges();
    tool.relabel(name);
    renderLabels();
  }

  const renderLabels = () => renderLabelBar(labelBar, labels(), model.get("current_label"), setLabel, root);
  const renderActions = () => renderActionBar(model, actions, root, [["Fit", vp.fit], ["Undo", undo],
    ["Redo", redo], ["Delete", () => tool.action("delete", null)], ["?", toggleHelp]], { skip, submit });
  const renderText = () => renderSessionText(model, { root, status, message, done });

  function loadItem() {
    const it = item();
    if (!vp.load(it)) return;
    session.shown();
    history = new History(tool.fromModel(), HISTORY_LIMIT);
    tool.setState(history.state);
    vp.request(it);
    draw();
  }
  /** the committed state changed in Python (annotations set there, or a new item) */
  function onState() {
    if (item().key !== vp.key) return; // loadItem reads it
    if (tool.echo()) return; // our own commit coming back
    history = new History(tool.fromModel(), HISTORY_LIMIT);
    tool.setState(history.state);
    draw();
  }
  /** @param {any} msg @param {DataView[]} buffers */
  function onMsg(msg, buffers) {
    if (vp.handle(msg, buffers)) return;
    if (session.pending.ack(msg)) return;
    tool.onMsg(msg, buffers || []);
  }
  /** Python set other suggestions: none of them is accepted yet (an undo step that
   * names the old ones would be wrong now, so the history starts here) */
  function onSuggestions() {
    tool.resetAccepted();
    history = new History(tool.getState(), HISTORY_LIMIT);
    draw();
  }

  const onLabels = () => { renderLabels(); draw(); };
  const onContext = (/** @type {Event} */ e) => e.preventDefault(); // right-click: a negative wand point
  const onLeave = () => tool.leave();
  vp.onPointer(onDown, onMove, onUp);
  canvas.addEventListener("pointerleave", onLeave);
  canvas.addEventListener("contextmenu", onContext);
  root.addEventListener("keydown", onKey);
  session.start([["msg:custom", onMsg], [`change:${tool.trait}`, onState], ["change:_suggestions", onSuggestions],
    ["change:_item", loadItem], ["change:_labels", onLabels], ["change:current_label", renderLabels]],
    { progress, renderText, renderActions, setKeymap });
  renderLabels();
  tool.renderTools();
  loadItem();

  return () => {
    session.stop();
    vp.stop();
    root.remove();
  };
}

// ====================================================================================
// The magic wand, shared by both tools
// ====================================================================================

/**
 * The magic wand's prompts and candidates. Clicks (positive; Shift+click or
 * right-click: negative) and a dragged box go to Python as `{"type": "wand", key, seq,
 * points, labels, box}` in display pixels; the reply echoes `key` and `seq` (an older
 * one, or one about another item, is stale and dropped) and holds the candidates, best
 * first, with their `scores`. One candidate is shown at a time: `next()` cycles, the
 * tool accepts `current()`, `release()` clears. The tool says how its candidates
 * arrive (`parse`: mask bitmaps in buffers, polygon outlines in the message) and are
 * drawn (`drawCandidate`).
 * @template C
 * @param {any} s the shell
 * @param {{parse: (msg: any, buffers: DataView[]) => C[], drawCandidate: (ctx: CanvasRenderingContext2D, c: C, k: number) => void}} hooks
 */
export function makeWand(s, hooks) {
  /** @type {[number, number, number][]} x, y, 1 (positive) or 0 (negative) */ let points = [];
  /** @type {[number, number, number, number] | null} */ let box = null;
  /** @type {C[]} */ let cands = [];
  /** @type {number[]} */ let scores = [];
  let cand = 0, req = 0, seq = 0, busy = false, lastMs = -1, on = false;
  /** @type {{start: Pt, end: Pt, neg: boolean, moved: boolean} | null} */ let drag = null;

  /** forget the prompts and candidates; a reply still on its way becomes stale */
  function clear() {
    points = []; box = null; cands = []; scores = []; cand = 0; busy = false; drag = null;
    seq += 1;
    s.root.dataset.candidates = "0";
    showInfo();
  }
  /** the wand is the current tool (on) or not (off: clears it) @param {boolean} v */
  function setOn(v) {
    on = v;
    if (!v) clear(); else showInfo();
  }
  function ask() {
    if (!points.length && !box) { clear(); s.draw(); return; }
    seq += 1;
    busy = true;
    // the candidates of the last prompts are not the answer to these: none is shown
    // (nor accepted by Enter) until the reply comes
    cands = []; scores = []; cand = 0;
    s.root.dataset.candidates = "0";
    s.model.send({ type: "wand", key: s.item().key, seq, points: points.map((p) => [p[0], p[1]]),
                   labels: points.map((p) => p[2]), box });
    s.root.dataset.wandSeq = String(seq);
    showInfo();
    s.draw();
  }
  /** a reply from Python (anything else, or a stale reply, is ignored) @param {any} msg @param {DataView[]} buffers */
  function onMsg(msg, buffers) {
    if (msg.type !== "wand" || msg.key !== s.item().key || msg.seq !== seq) return;
    busy = false;
    if (msg.error) {
      cands = []; scores = [];
      s.message.textContent = String(msg.error); // as text, never HTML
    } else {
      s.message.textContent = "";
      req = msg.req ?? 0;
      lastMs = typeof msg.ms === "number" ? msg.ms : -1;
      cands = hooks.parse(msg, buffers);
      scores = cands.map((_, i) => Number((msg.scores || [])[i] ?? 0));
      cand = 0;
    }
    s.root.dataset.candidates = String(cands.length);
    s.root.dataset.wandDone = String(seq);
    showInfo();
    s.draw();
  }
  /** the shown candidate, its index and its request number, or null */
  function current() {
    return cands[cand] === undefined ? null : { c: cands[cand], index: cand, req };
  }
  function next() {
    if (!cands.length) return false;
    cand = (cand + 1) % cands.length;
    showInfo();
    s.draw();
    return true;
  }
  /** Escape: clear the prompts and candidates, if there are any */
  function release() {
    if (!points.length && !box && !cands.length) return false;
    clear();
    s.draw();
    return true;
  }
  function showInfo() {
    const parts = [];
    if (on) {
      if (busy) parts.push("wand: segmenting…");
      else if (cands.length) {
        parts.push(`candidate ${cand + 1}/${cands.length} · score ${scores[cand].toFixed(2)}` +
          (lastMs >= 0 ? ` · ${Math.round(lastMs)} ms` : "") + " · Tab: next · Enter: accept");
      } else if (points.length || box) parts.push("wand: no mask here — add points or Esc");
      else parts.push("wand: click the object (Shift+click / right-click: not the object; drag: box)");
    }
    s.info.textContent = parts.join(" ");
    s.info.style.display = parts.length ? "block" : "none";
  }

  /** @param {PointerEvent} e @param {Pt} p */
  function down(e, p) { drag = { start: p, end: p, neg: e.shiftKey || e.button === 2, moved: false }; }
  /** @param {Pt} p @returns {boolean} whether a wand drag is under way */
  function move(p) {
    if (!drag) return false;
    drag.end = p;
    drag.moved = drag.moved || Math.hypot(p[0] - drag.start[0], p[1] - drag.start[1]) > 4 * s.pxRatio();
    s.draw();
    return true;
  }
  /** a click adds a point, a drag sets the box; then ask Python @param {Pt} p @returns {boolean} */
  function up(p) {
    if (!drag) return false;
    const d = drag;
    drag = null;
    if (d.moved) {
      const a = d.start;
      box = [Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[0], p[0]), Math.max(a[1], p[1])];
    } else {
      points = [...points, [d.start[0], d.start[1], d.neg ? 0 : 1]];
    }
    ask();
    return true;
  }

  /** the shown candidate, then (while the wand is on) the points and the box @param {CanvasRenderingContext2D} ctx @param {number} k */
  function draw(ctx, k) {
    if (cands[cand] !== undefined) hooks.drawCandidate(ctx, cands[cand], k);
    if (!on) return;
    for (const [x, y, lab] of points) {
      ctx.beginPath(); ctx.arc(x, y, 5 * k, 0, 2 * Math.PI);
      ctx.fillStyle = lab ? "#2ca02c" : "#d62728"; ctx.fill();
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5 * k; ctx.stroke();
      ctx.fillStyle = "#fff";
      ctx.fillRect(x - 3 * k, y - 0.75 * k, 6 * k, 1.5 * k);
      if (lab) ctx.fillRect(x - 0.75 * k, y - 3 * k, 1.5 * k, 6 * k);
    }
    const b = drag && drag.moved ? [drag.start[0], drag.start[1], drag.end[0], drag.end[1]] : box;
    if (b) {
      ctx.setLineDash([6 * k, 4 * k]); ctx.strokeStyle = CANDIDATE_COLOR; ctx.lineWidth = 2 * k;
      ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
      ctx.setLineDash([]);
    }
  }

  /** Enter while the wand waits for Python: do nothing (say so), rather than submit
   * the half-done item or accept a candidate of older prompts @returns {boolean} */
  function holdEnter() {
    if (!busy) return false;
    s.message.textContent = "wand: still segmenting; Enter accepts the candidate once it shows (Esc clears the points)";
    return true;
  }

  return {
    clear, setOn, onMsg, current, next, release, showInfo, down, move, up, draw, holdEnter,
    hasCandidates: () => cands.length > 0,
    busy: () => busy,
  };
}

// ====================================================================================
// Polygons
// ====================================================================================

/** @param {any} s */
function polygonTool(s) {
  const { model } = s;
  /** @type {DPoly[]} */ let polys = [];
  /** @type {number[]} suggestion indices accepted (part of the undoable state) */ let accepted = [];
  let committedSig = "";
  let selected = -1, selVertex = -1;
  /** @type {Pt[] | null} the polygon being drawn */ let drawing = null;
  /** @type {Pt | null} */ let hover = null;
  /** @type {any} */ let drag = null;
  /** "draw" (draw and edit polygons) or "wand" */ let mode = "draw";
  // the wand's candidates: outlines in display pixels, drawn dashed in the class colour
  /** @type {ReturnType<typeof makeWand<{points: number[]}>>} */
  const wand = makeWand(s, {
    parse: (msg) => (Array.isArray(msg.polygons) ? msg.polygons : [])
      .map((/** @type {any} */ q) => ({ points: (Array.isArray(q) ? q : []).map(Number) })),
    drawCandidate(ctx, c, k) {
      const col = s.colorOf(s.currentLabel());
      path(ctx, toPoints(c.points));
      ctx.globalAlpha = 0.12; ctx.fillStyle = col; ctx.fill(); ctx.globalAlpha = 1;
      ctx.setLineDash([6 * k, 4 * k]);
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 3.5 * k; ctx.stroke();
      ctx.strokeStyle = col; ctx.lineWidth = 2 * k; ctx.stroke();
      ctx.setLineDash([]);
    },
  });

  const sugg = () => /** @type {DPoly[]} */ (model.get("_suggestions") || []);
  const pts = (/** @type {DPoly} */ p) => toPoints(p.points);
  const sig = () => JSON.stringify(polys.map((p) => [p.points, p.label]));
  const tol = () => 7 * s.pxRatio();

  function getState() { return { polys, accepted }; }
  /** @param {any} st */
  function setState(st) {
    polys = (st && st.polys) || []; accepted = (st && st.accepted) || [];
    if (selected >= polys.length) { selected = -1; selVertex = -1; }
    drag = null;
  }
  function fromModel() {
    drawing = null; selected = -1; selVertex = -1;
    wand.clear();
    const ps = /** @type {DPoly[]} */ (model.get("_polygons") || []).map((p) => ({ ...p, points: [...p.points] }));
    committedSig = JSON.stringify(ps.map((p) => [p.points, p.label]));
    return { polys: ps, accepted: [] };
  }
  function sync() {
    committedSig = sig();
    model.set("_polygons", polys.map((p) => ({ ...p, points: [...p.points] })));
    s.saveChanges();
  }
  function echo() {
    const incoming = /** @type {DPoly[]} */ (model.get("_polygons") || []);
    return JSON.stringify(incoming.map((p) => [p.points, p.label])) === committedSig;
  }

  function closeDrawing() {
    if (!drawing || drawing.length < 3) return false;
    polys = [...polys, { type: "polygon", points: toFlat(drawing), label: s.currentLabel() }];
    selected = polys.length - 1; selVertex = -1;
    drawing = null;
    s.commit();
    return true;
  }
  /** @param {number[]} which suggestion indices */
  function acceptSuggestions(which) {
    const add = which.filter((i) => !accepted.includes(i) && sugg()[i]);
    if (!add.length) return;
    for (const i of add) polys = [...polys, acceptedPolygon(sugg()[i])];
    accepted = [...accepted, ...add];
    selected = polys.length - 1; selVertex = -1;
    s.commit();
  }
  /** the wand's shown candidate as a polygon of the current class: one undoable step */
  function acceptCandidate() {
    const cur = wand.current();
    if (!cur) return false;
    polys = [...polys, { type: "polygon", points: [...cur.c.points], label: s.currentLabel() }];
    selected = polys.length - 1; selVertex = -1;
    wand.clear();
    s.commit();
    return true;
  }
  /** @param {string} m "draw" or "wand" */
  function setMode(m) {
    mode = m;
    drawing = null; drag = null; selVertex = -1;
    wand.setOn(m === "wand");
    s.canvas.style.cursor = "crosshair";
    renderTools();
    s.draw();
  }
  function renderTools() {
    const bar = s.toolBar;
    bar.replaceChildren();
    for (const [m, text] of [["draw", "Draw / edit"], ["wand", "Wand (W)"]]) {
      const b = h("button", "lnb-tool" + (mode === m ? " lnb-active" : ""), text);
      b.type = "button";
      b.dataset.tool = m;
      b.addEventListener("click", () => { setMode(m); s.root.focus(); });
      bar.append(b);
    }
    s.root.dataset.tool = mode;
  }
  /** @param {number} i @param {Pt[]} p */
  function setPts(i, p) { polys = polys.map((q, j) => (j === i ? { ...q, points: toFlat(p) } : q)); }

  /** @param {PointerEvent} e @param {{x: number, y: number}} q */
  function down(e, q) {
    /** @type {Pt} */ const p = [q.x, q.y];
    if (mode === "wand") {
      if (e.altKey && e.button === 0) { // select the polygon under the pointer
        const hit = hitPolygons(p, polys.map(pts), tol(), selected);
        selected = hit.kind === "none" ? -1 : hit.poly; selVertex = -1;
        s.draw();
        return;
      }
      wand.down(e, p);
      return;
    }
    if (e.button !== 0) return;
    if (drawing) {
      if (drawing.length >= 3 && nearestVertex(p, [drawing[0]], tol()) === 0) { closeDrawing(); return; }
      drawing.push(p);
      s.draw();
      return;
    }
    const hit = (e.ctrlKey || e.metaKey) ? { kind: "none", poly: -1, index: -1 }
      : hitPolygons(p, polys.map(pts), tol(), selected);
    if (hit.kind === "vertex") {
      const v = pts(polys[hit.poly]);
      if (e.shiftKey) { // delete the vertex (a triangle loses the whole polygon)
        if (v.length > 3) setPts(hit.poly, removeVertex(v, hit.index));
        else polys = polys.filter((_, j) => j !== hit.poly);
        selected = v.length > 3 ? hit.poly : -1; selVertex = -1;
        s.commit();
        return;
      }
      selected = hit.poly; selVertex = hit.index;
      drag = { kind: "vertex", poly: hit.poly, index: hit.index, from: v[hit.index], moved: false };
    } else if (hit.kind === "edge" && (hit.poly === selected || e.altKey)) { // edge split
      setPts(hit.poly, splitEdge(pts(polys[hit.poly]), hit.index, p));
      selected = hit.poly; selVertex = hit.index + 1;
      drag = { kind: "vertex", poly: hit.poly, index: hit.index + 1, from: p, moved: true };
    } else if (hit.kind === "edge" || hit.kind === "inside") {
      selected = hit.poly; selVertex = -1;
      drag = { kind: "move", poly: hit.poly, start: p, orig: pts(polys[hit.poly]), moved: false };
    } else {
      const si = sugg().findIndex((g, i) => !accepted.includes(i) && pointInPolygon(p, toPoints(g.points)));
      if (si >= 0 && !(e.ctrlKey || e.metaKey)) { acceptSuggestions([si]); return; }
      selected = -1; selVertex = -1;
      drawing = [p];
      hover = p;
    }
    s.draw();
  }
  /** @param {PointerEvent} e @param {{x: number, y: number}} q */
  function move(e, q) {
    /** @type {Pt} */ const p = [q.x, q.y];
    if (mode === "wand") { s.canvas.style.cursor = "crosshair"; wand.move(p); return; }
    if (!drag) {
      hover = p;
      if (drawing) { s.draw(); return; }
      const hit = hitPolygons(p, polys.map(pts), tol(), selected);
      s.canvas.style.cursor = hit.kind === "vertex" ? "move" : hit.kind === "edge" && hit.poly === selected
        ? "copy" : hit.kind !== "none" ? "pointer" : "crosshair";
      return;
    }
    if (drag.kind === "vertex") {
      const v = pts(polys[drag.poly]);
      v[drag.index] = p;
      setPts(drag.poly, v);
      drag.moved = drag.moved || p[0] !== drag.from[0] || p[1] !== drag.from[1];
    } else if (drag.kind === "move") {
      setPts(drag.poly, translatePolygon(drag.orig, p[0] - drag.start[0], p[1] - drag.start[1], s.W(), s.H()));
      drag.moved = drag.moved || p[0] !== drag.start[0] || p[1] !== drag.start[1];
    }
    s.draw();
  }
  /** @param {PointerEvent} e @param {{x: number, y: number}} q */
  function up(e, q) {
    if (wand.up([q.x, q.y])) return;
    if (!drag) return;
    move(e, q);
    const d = drag;
    drag = null;
    if (d.moved) s.commit(); else s.draw();
  }

  /** @param {string} action @param {KeyboardEvent | null} _e */
  function action(action, _e) {
    switch (action) {
      case "submit":
        if (wand.holdEnter()) return true;
        if (wand.hasCandidates()) return acceptCandidate();
        return drawing ? (closeDrawing(), true) : false;
      case "delete":
        if (drawing) { drawing.pop(); if (!drawing.length) drawing = null; s.draw(); return true; }
        if (selected < 0 || !polys[selected]) return true;
        if (selVertex >= 0 && pts(polys[selected]).length > 3) {
          setPts(selected, removeVertex(pts(polys[selected]), selVertex));
          selVertex = -1;
        } else {
          polys = polys.filter((_, j) => j !== selected);
          selected = -1; selVertex = -1;
        }
        s.commit();
        return true;
      case "next":
        if (wand.next()) return true;
        if (polys.length) { selected = (selected + 1) % polys.length; selVertex = -1; s.draw(); }
        return true;
      case "accept_all": acceptSuggestions(sugg().map((_, i) => i)); return true;
      case "wand": setMode(mode === "wand" ? "draw" : "wand"); return true;
      case "release":
        if (wand.release()) return true;
        if (drawing) { drawing = null; s.draw(); return true; }
        if (selVertex >= 0) { selVertex = -1; s.draw(); return true; }
        if (selected >= 0) { selected = -1; s.draw(); return true; }
        return false;
      default: return false;
    }
  }
  /** @param {string} name */
  function relabel(name) {
    if (selected >= 0 && polys[selected] && polys[selected].label !== name) {
      polys = polys.map((q, j) => (j === selected ? { ...q, label: name } : q));
      s.commit();
    } else if (wand.hasCandidates()) s.draw(); // the candidate is drawn in the current class's colour
  }

  /** @param {CanvasRenderingContext2D} ctx @param {Pt[]} v */
  function path(ctx, v) {
    ctx.beginPath();
    v.forEach((p, i) => (i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
    ctx.closePath();
  }
  /** @param {CanvasRenderingContext2D} ctx @param {string} text @param {Pt[]} v @param {string} color @param {number} k */
  function tag(ctx, text, v, color, k) {
    const x = Math.min(...v.map((p) => p[0])), y = Math.min(...v.map((p) => p[1]));
    const ty = y >= 16 * k ? y - 16 * k : y;
    ctx.fillStyle = color;
    ctx.fillRect(x, ty, ctx.measureText(text).width + 6 * k, 16 * k);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + 3 * k, ty + 12 * k); // canvas text: never HTML
  }
  /** @param {CanvasRenderingContext2D} ctx @param {number} k */
  function draw(ctx, k) {
    sugg().forEach((g, i) => {
      if (accepted.includes(i)) return;
      const v = toPoints(g.points), c = s.colorOf(g.label);
      ctx.setLineDash([6 * k, 4 * k]);
      path(ctx, v);
      ctx.globalAlpha = 0.1; ctx.fillStyle = c; ctx.fill(); ctx.globalAlpha = 1;
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 3 * k; ctx.stroke();
      ctx.strokeStyle = c; ctx.lineWidth = 1.5 * k; ctx.stroke();
      ctx.setLineDash([]);
      tag(ctx, g.label + "?" + (typeof g.score === "number" ? " " + g.score.toFixed(2) : ""), v, "#444", k);
    });
    polys.forEach((q, i) => {
      const v = pts(q), c = s.colorOf(q.label), sel = i === selected;
      path(ctx, v);
      ctx.globalAlpha = sel ? 0.3 : 0.18; ctx.fillStyle = c; ctx.fill(); ctx.globalAlpha = 1;
      ctx.strokeStyle = c; ctx.lineWidth = (sel ? 2.5 : 1.8) * k; ctx.stroke();
      if (sel) {
        v.forEach((p, j) => {
          const r = (j === selVertex ? 5 : 3.5) * k;
          ctx.fillStyle = j === selVertex ? c : "#fff";
          ctx.fillRect(p[0] - r, p[1] - r, 2 * r, 2 * r);
          ctx.strokeRect(p[0] - r, p[1] - r, 2 * r, 2 * r);
        });
      }
      tag(ctx, q.label, v, c, k);
    });
    if (drawing) {
      const c = s.colorOf(s.currentLabel());
      ctx.strokeStyle = c; ctx.lineWidth = 2 * k;
      ctx.beginPath();
      drawing.forEach((p, i) => (i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
      if (hover) ctx.lineTo(hover[0], hover[1]);
      ctx.stroke();
      drawing.forEach((p, i) => {
        const r = (i === 0 && drawing && drawing.length >= 3 ? 6 : 3.5) * k;
        ctx.fillStyle = i === 0 ? c : "#fff";
        ctx.fillRect(p[0] - r, p[1] - r, 2 * r, 2 * r);
        ctx.strokeRect(p[0] - r, p[1] - r, 2 * r, 2 * r);
      });
    }
    wand.draw(ctx, k); // its candidate, points and box
    s.root.dataset.polygons = String(polys.length);
    s.root.dataset.drawing = drawing ? String(drawing.length) : "0";
  }

  function payload() { return { regions: polys.map((p) => ({ ...p, points: [...p.points] })), buffers: null }; }

  return {
    trait: "_polygons", getState, setState, fromModel, sync, echo, down, move, up, action, relabel, draw, payload,
    resetAccepted() { accepted = []; },
    leave() { hover = null; if (drawing) s.draw(); },
    onMsg: wand.onMsg,
    renderTools,
    mouseHelp: /** @type {[string, string][]} */ ([
      ["click", "place a vertex; click the first vertex (or Enter) to close"],
      ["Ctrl+click", "place a vertex even on top of another polygon"],
      ["drag a vertex", "move it"],
      ["click an edge of the selected polygon, Alt+click any edge", "insert a vertex (edge split)"],
      ["Shift+click a vertex", "delete it"],
      ["drag inside a polygon", "move the polygon"],
      ["click a dashed suggestion", "accept it"],
      ["wand: click", "a positive point (on the object)"],
      ["wand: Shift+click, right-click", "a negative point (not the object)"],
      ["wand: drag", "a box around the object"],
      ["wand: Alt+click", "select the polygon under the pointer"],
    ]),
  };
}

// ====================================================================================
// Masks: brush, eraser, magic wand
// ====================================================================================

/** @param {any} s */
function maskTool(s) {
  const { model } = s;
  /** @type {DObj[]} */ let objs = [];
  /** @type {string[]} suggestion ids accepted (part of the undoable state) */ let accepted = [];
  let committedSig = "";
  let selected = -1;
  let mode = "brush";
  let radius = 8;
  /** @type {Map<string, Layer>} */ const layers = new Map();
  /** @type {any} */ let stroke = null;
  /** @type {Pt | null} */ let hover = null;
  const n = () => s.W() * s.H();
  // the wand's candidates: display bitmaps (run lengths in buffers), drawn as a layer
  /** @type {ReturnType<typeof makeWand<{runs: number[], layer: Layer | null}>>} */
  const wand = makeWand(s, {
    parse: (_msg, buffers) => buffers.map((b) => ({ runs: runsFrom(b), layer: null })),
    drawCandidate(ctx, c, _k) {
      if (!c.layer) {
        let bm;
        try { bm = decodeRuns(c.runs, n()); } catch (err) { bm = new Uint8Array(n()); }
        c.layer = new Layer(s.W(), s.H(), bm, CANDIDATE_COLOR, false);
      }
      ctx.drawImage(c.layer.canvas, 0, 0);
    },
  });
  const sugg = () => /** @type {any[]} */ (model.get("_suggestions") || []);
  const sigOf = (/** @type {DObj[]} */ os) => os.map((o) => o.id + "|" + o.label + "|" + runsSig(o.runs)).join(";");

  /** the layer of an object (or suggestion), rebuilt when its runs or colour changed
   * @param {string} key @param {number[]} runs @param {string} color @param {boolean} hatched @returns {Layer} */
  function layerOf(key, runs, color, hatched) {
    const sg = runsSig(runs);
    let l = layers.get(key);
    if (!l || l.sig !== sg || l.w !== s.W() || l.h !== s.H()) {
      let bm;
      try { bm = decodeRuns(runs, n()); } catch (err) { bm = new Uint8Array(n()); }
      l = new Layer(s.W(), s.H(), bm, color, hatched);
      l.sig = sg;
      layers.set(key, l);
    } else if (l.color !== color) {
      l.color = color;
      l.paint([0, 0, l.w, l.h]);
    }
    return l;
  }

  function getState() { return { objs, accepted }; }
  /** @param {any} st */
  function setState(st) {
    objs = (st && st.objs) || []; accepted = (st && st.accepted) || [];
    if (selected >= objs.length) selected = -1;
    stroke = null;
    renderObjects();
  }
  function fromModel() {
    selected = -1; stroke = null;
    wand.clear();
    layers.clear();
    const os = /** @type {any[]} */ (model.get("_masks") || []).map((o) => ({ ...o, runs: runsFrom(o.runs) }));
    committedSig = sigOf(os);
    return { objs: os, accepted: [] };
  }
  function sync() {
    committedSig = sigOf(objs);
    model.set("_masks", objs.map((o) => ({ ...o, runs: new Uint32Array(o.runs) })));
    s.saveChanges();
    renderObjects();
  }
  function echo() {
    const incoming = /** @type {any[]} */ (model.get("_masks") || []).map((o) => ({ ...o, runs: runsFrom(o.runs) }));
    return sigOf(incoming) === committedSig;
  }

  // --- brush and eraser ----------------------------------------------------------------
  /** @param {Pt} a @param {Pt} b */
  function paint(a, b) {
    if (!stroke) return;
    for (const t of stroke.targets) {
      const l = t.layer;
      const rect = paintSegment(l.bitmap, l.w, l.h, a, b, radius, stroke.value);
      if (rect) { l.paint(rect); t.touched = true; }
    }
  }
  function endStroke() {
    if (!stroke) return;
    const st = stroke;
    stroke = null;
    let changed = false;
    for (const t of st.targets) {
      if (!t.touched) continue;
      const runs = encodeRuns(t.layer.bitmap);
      t.layer.sig = runsSig(runs);
      const i = objs.findIndex((o) => o.id === t.id);
      // an object from the wand keeps its reference: Python keeps the candidate's
      // full-resolution pixels wherever the brush did not change the display pixels
      if (i >= 0) { objs = objs.map((o, j) => (j === i ? { ...o, runs } : o)); changed = true; }
    }
    const sel = selected >= 0 ? objs[selected] : null;
    objs = dropErased(objs, st.targets);
    selected = sel ? objs.indexOf(sel) : -1;
    if (changed || st.created) s.commit(); else s.draw();
  }

  // --- the wand (makeWand): accepting its candidate -------------------------------------
  function acceptCandidate() {
    const cur = wand.current();
    if (!cur) return false;
    // the reference [request, index] lets Python keep the candidate's full resolution
    objs = [...objs, { id: newId(), label: s.currentLabel(), runs: cur.c.runs.slice(), wand: [cur.req, cur.index] }];
    selected = objs.length - 1;
    wand.clear();
    s.commit();
    return true;
  }

  // --- pointer -------------------------------------------------------------------------
  /** the topmost object with a pixel at p @param {Pt} p */
  function objectAt(p) {
    for (let i = objs.length - 1; i >= 0; i--) {
      const l = layerOf(objs[i].id, objs[i].runs, s.colorOf(objs[i].label), false);
      if (bitmapAt(l.bitmap, l.w, l.h, p[0], p[1])) return i;
    }
    return -1;
  }
  /** @param {Pt} p */
  function suggestionAt(p) {
    const all = sugg();
    for (let i = all.length - 1; i >= 0; i--) {
      const g = all[i];
      if (accepted.includes(g.id)) continue;
      const l = layerOf("s:" + g.id, runsFrom(g.runs), s.colorOf(g.label), true);
      if (bitmapAt(l.bitmap, l.w, l.h, p[0], p[1])) return i;
    }
    return -1;
  }
  /** @param {number[]} which suggestion indices */
  function acceptSuggestions(which) {
    const all = sugg();
    const add = which.map((i) => all[i]).filter((g) => g && !accepted.includes(g.id));
    if (!add.length) return;
    for (const g of add) objs = [...objs, acceptedObject(g)];
    accepted = [...accepted, ...add.map((g) => g.id)];
    selected = objs.length - 1;
    s.commit();
  }

  /** @param {PointerEvent} e @param {{x: number, y: number}} q */
  function down(e, q) {
    /** @type {Pt} */ const p = [q.x, q.y];
    if (e.altKey && e.button === 0) { // pick the object (or accept the suggestion) under the pointer
      const i = objectAt(p);
      if (i >= 0) { selected = i; renderObjects(); s.draw(); return; }
      const si = suggestionAt(p);
      if (si >= 0) { acceptSuggestions([si]); return; }
      selected = -1; renderObjects(); s.draw();
      return;
    }
    if (mode === "wand") { wand.down(e, p); return; }
    if (e.button !== 0) return;
    /** @type {any[]} */ const targets = [];
    let created = false;
    if (mode === "brush") {
      if (selected < 0 || !objs[selected]) {
        objs = [...objs, { id: newId(), label: s.currentLabel(), runs: [n()] }];
        selected = objs.length - 1;
        created = true;
      }
      const o = objs[selected];
      targets.push({ id: o.id, layer: layerOf(o.id, o.runs, s.colorOf(o.label), false), touched: false,
        hadPixels: created || runsArea(o.runs) > 0 });
    } else {
      const idx = selected >= 0 && objs[selected] ? [selected] : objs.map((_, i) => i);
      for (const i of idx) {
        targets.push({ id: objs[i].id, layer: layerOf(objs[i].id, objs[i].runs, s.colorOf(objs[i].label), false), touched: false,
          hadPixels: runsArea(objs[i].runs) > 0 });
      }
    }
    stroke = { targets, value: mode === "brush" ? 1 : 0, last: p, created };
    paint(p, p);
    s.draw();
  }
  /** @param {PointerEvent} e @param {{x: number, y: number}} q */
  function move(e, q) {
    /** @type {Pt} */ const p = [q.x, q.y];
    hover = p;
    if (stroke) { paint(stroke.last, p); stroke.last = p; s.draw(); return; }
    if (wand.move(p)) return;
    s.canvas.style.cursor = mode === "wand" ? "crosshair" : "none";
    s.draw();
  }
  /** @param {PointerEvent} e @param {{x: number, y: number}} q */
  function up(e, q) {
    if (stroke) { move(e, q); endStroke(); return; }
    wand.up([q.x, q.y]);
  }

  /** @param {string} m */
  function setMode(m) {
    mode = m;
    wand.setOn(m === "wand");
    s.root.dataset.tool = m;
    renderTools();
    s.draw();
  }
  /** @param {string} action @param {KeyboardEvent | null} _e */
  function action(action, _e) {
    switch (action) {
      case "submit":
        if (wand.holdEnter()) return true;
        return wand.hasCandidates() ? acceptCandidate() : false;
      case "next":
        if (wand.next()) return true;
        if (objs.length) { selected = (selected + 1) % objs.length; renderObjects(); s.draw(); }
        return true;
      case "delete":
        if (selected >= 0 && objs[selected]) {
          objs = objs.filter((_, j) => j !== selected);
          selected = -1;
          s.commit();
        }
        return true;
      case "new_object": selected = -1; renderObjects(); s.draw(); return true;
      case "accept_all": acceptSuggestions(sugg().map((_, i) => i)); return true;
      case "brush": case "eraser": case "wand": setMode(action); return true;
      case "smaller": radius = Math.max(1, Math.round(radius / 1.25)); renderTools(); s.draw(); return true;
      case "larger": radius = Math.min(200, Math.max(radius + 1, Math.round(radius * 1.25))); renderTools(); s.draw(); return true;
      case "release":
        if (wand.release()) return true;
        if (selected >= 0) { selected = -1; renderObjects(); s.draw(); return true; }
        return false;
      default: return false;
    }
  }
  /** @param {string} name */
  function relabel(name) {
    if (selected >= 0 && objs[selected] && objs[selected].label !== name) {
      objs = objs.map((o, j) => (j === selected ? { ...o, label: name } : o));
      s.commit();
    }
  }

  /** @param {CanvasRenderingContext2D} ctx @param {number} k */
  function draw(ctx, k) {
    ctx.imageSmoothingEnabled = false;
    for (const g of sugg()) {
      if (accepted.includes(g.id)) continue;
      ctx.drawImage(layerOf("s:" + g.id, runsFrom(g.runs), s.colorOf(g.label), true).canvas, 0, 0);
    }
    objs.forEach((o, i) => {
      const l = layerOf(o.id, o.runs, s.colorOf(o.label), false);
      ctx.globalAlpha = selected < 0 || i === selected ? 1 : 0.6;
      ctx.drawImage(l.canvas, 0, 0);
      ctx.globalAlpha = 1;
    });
    if (selected >= 0 && objs[selected] && !stroke) {
      const l = layerOf(objs[selected].id, objs[selected].runs, s.colorOf(objs[selected].label), false);
      const bb = l.bounds();
      if (bb) {
        ctx.setLineDash([4 * k, 3 * k]);
        ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5 * k;
        ctx.strokeRect(bb[0], bb[1], bb[2] - bb[0], bb[3] - bb[1]);
        ctx.setLineDash([]);
        const text = objs[selected].label;
        ctx.fillStyle = s.colorOf(text);
        const ty = bb[1] >= 16 * k ? bb[1] - 16 * k : bb[1];
        ctx.fillRect(bb[0], ty, ctx.measureText(text).width + 6 * k, 16 * k);
        ctx.fillStyle = "#fff";
        ctx.fillText(text, bb[0] + 3 * k, ty + 12 * k);
      }
    }
    wand.draw(ctx, k); // its candidate, points and box
    if (mode !== "wand" && hover && !s.model.get("_done")) { // the brush / eraser outline
      ctx.beginPath(); ctx.arc(hover[0], hover[1], radius, 0, 2 * Math.PI);
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 2.5 * k; ctx.stroke();
      ctx.strokeStyle = mode === "eraser" ? "#333" : s.colorOf(selected >= 0 && objs[selected] ? objs[selected].label : s.currentLabel());
      ctx.lineWidth = 1.2 * k;
      if (mode === "eraser") ctx.setLineDash([3 * k, 3 * k]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    s.root.dataset.objects = String(objs.length);
  }

  /** @type {HTMLElement} */ const objectBar = h("div", "lnb-objects");
  function renderObjects() {
    objectBar.replaceChildren();
    objs.forEach((o, i) => {
      const b = h("button", "lnb-object" + (i === selected ? " lnb-active" : ""));
      b.type = "button";
      b.style.setProperty("--lnb-color", s.colorOf(o.label));
      b.append(h("span", "", `${i + 1} ${o.label}`)); // label names as text, never HTML
      b.title = `${runsArea(o.runs)} px (display)`;
      b.addEventListener("click", () => { selected = i === selected ? -1 : i; renderObjects(); s.draw(); s.root.focus(); });
      objectBar.append(b);
    });
  }
  function renderTools() {
    const bar = s.toolBar;
    bar.replaceChildren();
    for (const [m, text] of [["brush", "Brush (B)"], ["eraser", "Eraser (E)"], ["wand", "Wand (W)"]]) {
      const b = h("button", "lnb-tool" + (mode === m ? " lnb-active" : ""), text);
      b.type = "button";
      b.dataset.tool = m;
      b.addEventListener("click", () => { setMode(m); s.root.focus(); });
      bar.append(b);
    }
    const size = h("span", "lnb-size", `size ${radius} px`);
    for (const [text, act] of [["−", "smaller"], ["+", "larger"]]) {
      const b = h("button", "lnb-tool", text);
      b.type = "button";
      b.addEventListener("click", () => { action(act, null); s.root.focus(); });
      size.append(b);
    }
    bar.append(size, objectBar);
    renderObjects();
    s.root.dataset.tool = mode;
  }

  function payload() {
    return {
      regions: objs.map((o) => {
        /** @type {any} */ const r = { id: o.id, label: o.label };
        if (o.wand) r.wand = o.wand;
        if (o.attributes) r.attributes = o.attributes;
        return r;
      }),
      buffers: objs.map((o) => new Uint32Array(o.runs).buffer),
    };
  }

  return {
    trait: "_masks", getState, setState, fromModel, sync, echo, down, move, up, action, relabel, draw, payload,
    resetAccepted() { accepted = []; },
    onMsg: wand.onMsg, renderTools,
    leave() { hover = null; s.draw(); },
    mouseHelp: /** @type {[string, string][]} */ ([
      ["brush / eraser: drag", "paint / erase (the selected object; a brush stroke with none selected starts one)"],
      ["wand: click", "a positive point (on the object)"],
      ["wand: Shift+click, right-click", "a negative point (not the object)"],
      ["wand: drag", "a box around the object"],
      ["Alt+click", "select the object under the pointer, or accept the hatched suggestion there"],
    ]),
  };
}

export default { render };
