// labelnb BoxAnnotator front-end: a plain ES module for anywidget (no bundler).
// Boxes live in display pixels (the pixels of the downscaled image Python sends);
// Python maps them back to original pixels. Only committed changes are synced.

/** @typedef {{type?: string, x0: number, y0: number, x1: number, y1: number, label: string, score?: number}} DBox */
/** @typedef {{name: string, color: string, hotkey: string | null}} Label */

const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
const MIN_SIZE = 2; // display pixels: a smaller drag is a click, not a box

/** @returns {string} */
function newId() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}

/** @param {DBox[]} boxes @returns {DBox[]} */
function clone(boxes) {
  return boxes.map((b) => ({ ...b }));
}

/** @param {DBox} b @returns {DBox} */
function normalize(b) {
  return { ...b, x0: Math.min(b.x0, b.x1), x1: Math.max(b.x0, b.x1),
           y0: Math.min(b.y0, b.y1), y1: Math.max(b.y0, b.y1) };
}

/** @param {string} tag @param {string} cls @param {string} [text] */
function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; // user text only ever as text
  return e;
}

/** @param {{model: any, el: HTMLElement}} ctx */
function render({ model, el }) {
  const root = h("div", "lnb-box");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const header = h("div", "lnb-header");
  const status = h("span", "lnb-status");
  const message = h("span", "lnb-message");
  header.append(status, message);
  const toolbar = h("div", "lnb-toolbar");
  const labelBar = h("div", "lnb-labels");
  const actions = h("div", "lnb-actions");
  toolbar.append(labelBar, actions);
  const stage = h("div", "lnb-stage");
  const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", "lnb-canvas"));
  stage.append(canvas);
  const done = h("div", "lnb-done");
  const help = h("div", "lnb-help",
    "drag: draw · click: select · drag box/handle: move/resize · keys: class · " +
    "Del: delete · arrows: nudge · Ctrl+Z / Ctrl+Shift+Z: undo/redo · y: accept suggestions · " +
    "wheel or +/-: zoom · Space+drag or middle-drag: pan");
  root.append(header, toolbar, stage, done, help);
  el.append(root);
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));

  /** @type {DBox[]} */ let boxes = clone(model.get("_boxes") || []);
  /** @type {DBox[]} */ let committed = clone(boxes);
  /** @type {DBox[][]} */ let past = [];
  /** @type {DBox[][]} */ let future = [];
  let selected = -1;
  /** @type {HTMLImageElement | null} */ let image = null;
  /** @type {any} */ let drag = null;
  /** @type {any} */ let pending = null;
  let shownAt = performance.now();
  let lastActivity = Date.now();
  /** the view: zoom z >= 1; (ox, oy) is the display-image pixel at the canvas' top-left */
  let view = { z: 1, ox: 0, oy: 0 };
  let spaceDown = false;
  /** @type {any} */ let imageTimer = null;

  // ipywidgets throttles state updates, so a commit may reach the kernel late; the
  // element's data-synced is "1" once the kernel has processed the latest one.
  let syncSeq = 0, syncedSeq = 0;
  function saveChanges() {
    const mine = ++syncSeq;
    root.dataset.synced = "0";
    model.save_changes({ iopub: { status: (/** @type {any} */ m) => {
      if (m.content.execution_state !== "idle" || mine <= syncedSeq) return;
      syncedSeq = mine;
      if (syncedSeq === syncSeq) root.dataset.synced = "1";
    } } });
  }
  /** @returns {Label[]} */ const labels = () => model.get("_labels") || [];
  /** @param {string} name */
  const colorOf = (name) => (labels().find((l) => l.name === name) || { color: "#e15759" }).color;
  const item = () => model.get("_item") || {};

  // --- the one conversion on this side: pointer position -> display image pixels ---
  // (CSS pixels of the scaled canvas element, then the zoom/pan view)
  /** @param {PointerEvent | MouseEvent} e */
  function toImage(e) {
    const r = canvas.getBoundingClientRect();
    const cx = ((e.clientX - r.left) * canvas.width) / r.width;
    const cy = ((e.clientY - r.top) * canvas.height) / r.height;
    const it = item();
    // snap to the ORIGINAL pixel grid (g = display pixels per original pixel), so that
    // what is drawn is what Python stores (whole original pixels)
    const gx = it.width ? canvas.width / it.width : 1, gy = it.height ? canvas.height / it.height : 1;
    const x = Math.round((cx / view.z + view.ox) / gx) * gx;
    const y = Math.round((cy / view.z + view.oy) / gy) * gy;
    return { x: Math.min(Math.max(x, 0), canvas.width), y: Math.min(Math.max(y, 0), canvas.height),
             cx, cy };
  }
  /** display-image pixels per CSS pixel, to keep lines and handles a constant on-screen size */
  function pxRatio() {
    const r = canvas.getBoundingClientRect();
    return (r.width > 0 ? canvas.width / r.width : 1) / view.z;
  }
  /** @param {number} z @param {number} ox @param {number} oy */
  function setView(z, ox, oy) {
    z = Math.min(Math.max(z, 1), 20);
    ox = Math.min(Math.max(ox, 0), canvas.width - canvas.width / z);
    oy = Math.min(Math.max(oy, 0), canvas.height - canvas.height / z);
    view = { z, ox, oy };
    draw();
  }
  /** zoom by factor f keeping the canvas point (cx, cy) fixed */
  function zoomAt(/** @type {number} */ f, /** @type {number} */ cx, /** @type {number} */ cy) {
    const px = cx / view.z + view.ox, py = cy / view.z + view.oy;
    const z = Math.min(Math.max(view.z * f, 1), 20);
    setView(z, px - cx / z, py - cy / z);
  }

  function sync() {
    committed = clone(boxes);
    model.set("_boxes", clone(boxes));
    saveChanges();
  }
  function commit() {
    past.push(committed);
    if (past.length > 200) past.shift();
    future = [];
    sync();
    draw();
  }
  function undo() {
    if (!past.length) return;
    future.push(committed);
    boxes = /** @type {DBox[]} */ (past.pop());
    selected = -1;
    sync();
    draw();
  }
  function redo() {
    if (!future.length) return;
    past.push(committed);
    boxes = /** @type {DBox[]} */ (future.pop());
    selected = -1;
    sync();
    draw();
  }

  /** @param {DBox} b @returns {Record<string, [number, number]>} */
  function handlePoints(b) {
    const mx = (b.x0 + b.x1) / 2, my = (b.y0 + b.y1) / 2;
    return { nw: [b.x0, b.y0], n: [mx, b.y0], ne: [b.x1, b.y0], e: [b.x1, my],
             se: [b.x1, b.y1], s: [mx, b.y1], sw: [b.x0, b.y1], w: [b.x0, my] };
  }

  function draw() {
    const it = item();
    const w = canvas.width, hgt = canvas.height;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    ctx.setTransform(view.z, 0, 0, view.z, -view.ox * view.z, -view.oy * view.z);
    if (image) ctx.drawImage(image, 0, 0, w, hgt);
    else { ctx.fillStyle = "#ddd"; ctx.fillRect(0, 0, w, hgt); }
    const k = pxRatio();
    ctx.font = `${Math.round(12 * k)}px sans-serif`;
    ctx.setLineDash([6 * k, 4 * k]);
    ctx.lineWidth = 1.5 * k;
    for (const s of model.get("_suggestions") || []) {
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
    root.classList.toggle("lnb-has-image", !!it.has_image);
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
    const sugg = model.get("_suggestions") || [];
    for (let i = sugg.length - 1; i >= 0; i--) {
      const s = sugg[i];
      if (p.x >= s.x0 && p.x <= s.x1 && p.y >= s.y0 && p.y <= s.y1) return { kind: "suggestion", idx: i };
    }
    return { kind: "draw" };
  }

  function acceptSuggestions(/** @type {number[]} */ which) {
    const sugg = model.get("_suggestions") || [];
    const keep = [];
    sugg.forEach((/** @type {DBox} */ s, /** @type {number} */ i) => {
      if (which.includes(i)) boxes.push({ type: "box", x0: s.x0, y0: s.y0, x1: s.x1, y1: s.y1, label: s.label });
      else keep.push(s);
    });
    model.set("_suggestions", keep);
    selected = boxes.length - 1;
    commit();
  }

  /** @param {PointerEvent} e */
  function onDown(e) {
    if (model.get("_done")) return;
    root.focus({ preventScroll: true });
    e.preventDefault();
    lastActivity = Date.now();
    const p = toImage(e);
    if (e.button === 1 || (e.button === 0 && spaceDown)) { // pan
      canvas.setPointerCapture(e.pointerId);
      drag = { kind: "pan", cx: p.cx, cy: p.cy, view: { ...view } };
      return;
    }
    if (e.button !== 0) return;
    const hitRes = hit(p);
    if (hitRes.kind === "suggestion") { acceptSuggestions([hitRes.idx]); return; }
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
    const p = toImage(e);
    if (!drag) {
      const r = hit(p);
      canvas.style.cursor = r.kind === "resize" ? "nwse-resize" : r.kind === "move" ? "move"
        : r.kind === "suggestion" ? "pointer" : "crosshair";
      return;
    }
    if (drag.kind === "pan") {
      setView(drag.view.z, drag.view.ox - (p.cx - drag.cx) / drag.view.z,
              drag.view.oy - (p.cy - drag.cy) / drag.view.z);
      return;
    }
    const b = boxes[drag.idx];
    if (drag.kind === "draw") {
      b.x0 = drag.start.x; b.y0 = drag.start.y; b.x1 = p.x; b.y1 = p.y;
    } else if (drag.kind === "move") {
      const o = drag.orig;
      let dx = p.x - drag.start.x, dy = p.y - drag.start.y;
      dx = Math.min(Math.max(dx, -o.x0), canvas.width - o.x1);
      dy = Math.min(Math.max(dy, -o.y0), canvas.height - o.y1);
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
    if (!drag) return;
    onMove(e);
    const d = drag;
    drag = null;
    if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    if (d.kind === "pan") return;
    boxes[d.idx] = normalize(boxes[d.idx]);
    const b = boxes[d.idx];
    if (d.kind === "draw") {
      if (b.x1 - b.x0 < MIN_SIZE || b.y1 - b.y0 < MIN_SIZE) {
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

  function submit() {
    if (!model.get("_bound") || model.get("_done")) return;
    const msg = { type: "submit", key: item().key, client_id: newId(), regions: clone(boxes),
                  duration_s: (performance.now() - shownAt) / 1000 };
    sendPending(msg, 0);
  }
  /** retried with the same client_id until Python acks, so a retry stores one annotation */
  function sendPending(/** @type {any} */ msg, /** @type {number} */ tries) {
    if (pending) clearTimeout(pending.timer);
    model.send(msg);
    message.textContent = "saving…";
    pending = { msg, timer: tries < 3 ? setTimeout(() => sendPending(msg, tries + 1), 8000) : null };
  }
  function clearPending() {
    if (pending && pending.timer) clearTimeout(pending.timer);
    pending = null;
  }

  /** @param {KeyboardEvent} e */
  function onKey(e) {
    e.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the widget
    lastActivity = Date.now();
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key;
    if (mod && (key === "z" || key === "Z")) { e.preventDefault(); if (e.shiftKey) redo(); else undo(); return; }
    if (mod && (key === "y" || key === "Y")) { e.preventDefault(); redo(); return; }
    if (mod || e.altKey) return;
    if (key === "Delete" || key === "Backspace") {
      e.preventDefault();
      if (selected >= 0) { boxes.splice(selected, 1); selected = -1; commit(); }
      return;
    }
    if (key === "Escape") { selected = -1; draw(); return; }
    if (key === " ") { e.preventDefault(); spaceDown = true; return; }
    if (key === "+" || key === "=") { zoomAt(1.25, canvas.width / 2, canvas.height / 2); return; }
    if (key === "-") { zoomAt(0.8, canvas.width / 2, canvas.height / 2); return; }
    if (key.startsWith("Arrow") && selected >= 0 && boxes[selected]) { // nudge by a pixel
      e.preventDefault();
      const step = (e.shiftKey ? 10 : 1) * pxRatio();
      const dx = key === "ArrowLeft" ? -step : key === "ArrowRight" ? step : 0;
      const dy = key === "ArrowUp" ? -step : key === "ArrowDown" ? step : 0;
      const b = boxes[selected];
      const mx = Math.min(Math.max(dx, -b.x0), canvas.width - b.x1);
      const my = Math.min(Math.max(dy, -b.y0), canvas.height - b.y1);
      boxes[selected] = { ...b, x0: b.x0 + mx, x1: b.x1 + mx, y0: b.y0 + my, y1: b.y1 + my };
      commit();
      return;
    }
    if (key === "Enter") { e.preventDefault(); submit(); return; }
    const lab = labels().find((l) => l.hotkey === key);
    if (lab) {
      e.preventDefault();
      setLabel(lab.name);
      return;
    }
    if (key === "y") { e.preventDefault(); acceptSuggestions((model.get("_suggestions") || []).map((/** @type {any} */ _s, /** @type {number} */ i) => i)); return; }
    if ((key === "s" || key === "S") && model.get("_bound")) {
      e.preventDefault();
      model.send({ type: "skip", key: item().key });
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

  function renderLabels() {
    labelBar.replaceChildren();
    const cur = model.get("current_label");
    for (const l of labels()) {
      const b = h("button", "lnb-label" + (l.name === cur ? " lnb-active" : ""));
      b.type = "button";
      b.style.setProperty("--lnb-color", l.color);
      if (l.hotkey) b.append(h("kbd", "", l.hotkey));
      b.append(h("span", "", l.name));
      b.addEventListener("click", () => { setLabel(l.name); root.focus(); });
      labelBar.append(b);
    }
  }
  function renderActions() {
    actions.replaceChildren();
    /** @param {string} text @param {() => void} fn */
    const btn = (text, fn) => {
      const b = h("button", "lnb-action", text);
      b.type = "button";
      b.addEventListener("click", () => { fn(); root.focus(); });
      actions.append(b);
    };
    btn("Fit", () => setView(1, 0, 0));
    btn("Undo", undo);
    btn("Redo", redo);
    btn("Delete", () => { if (selected >= 0) { boxes.splice(selected, 1); selected = -1; commit(); } });
    if (model.get("_bound")) {
      btn("Skip (S)", () => model.send({ type: "skip", key: item().key }));
      btn("Submit (Enter)", submit);
    }
  }
  function renderText() {
    status.textContent = model.get("_status") || "";
    message.textContent = model.get("_message") || "";
    const isDone = !!model.get("_done");
    root.classList.toggle("lnb-is-done", isDone);
    done.textContent = isDone ? "All done: " + (model.get("_status") || "the queue is empty") : "";
  }

  let imageKey = "";
  function loadItem() {
    const it = item();
    if (it.key === imageKey) return;
    imageKey = it.key;
    image = null;
    clearPending();
    past = []; future = []; selected = -1; drag = null;
    view = { z: 1, ox: 0, oy: 0 };
    shownAt = performance.now();
    root.dataset.ready = "0";
    if (it.has_image) {
      canvas.width = it.display_width;
      canvas.height = it.display_height;
      requestImage(it.key, 0);
    }
    draw();
  }
  /** ask Python for the image bytes; ask again if no answer came (e.g. a busy kernel) */
  function requestImage(/** @type {string} */ key, /** @type {number} */ tries) {
    if (imageTimer) clearTimeout(imageTimer);
    model.send({ type: "image", key });
    imageTimer = tries < 5 ? setTimeout(() => {
      if (!image && item().key === key) requestImage(key, tries + 1);
    }, 10000) : null;
  }
  /** @param {any} msg @param {DataView[]} buffers */
  function onMsg(msg, buffers) {
    if (msg.type === "image" && msg.key === item().key && buffers && buffers.length) {
      const url = URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime }));
      const img = new Image();
      img.onload = () => {
        URL.revokeObjectURL(url);
        if (msg.key !== item().key) return;
        if (imageTimer) clearTimeout(imageTimer);
        image = img;
        draw();
        root.dataset.ready = "1";
      };
      img.src = url;
    } else if (msg.type === "ack" && pending && pending.msg.client_id === msg.client_id) {
      clearPending();
      message.textContent = "";
    }
  }
  function onBoxes() {
    const incoming = model.get("_boxes") || [];
    if (JSON.stringify(incoming) === JSON.stringify(committed)) return;
    boxes = clone(incoming); committed = clone(incoming); selected = -1;
    draw();
  }

  const hb = setInterval(() => {
    const every = model.get("_heartbeat_s") || 0;
    if (!every || !model.get("_bound") || model.get("_done")) return;
    if (Date.now() - lastActivity < 30 * 60 * 1000) model.send({ type: "heartbeat", key: item().key });
  }, Math.max(1000, (model.get("_heartbeat_s") || 60) * 1000));

  const onLabels = () => { renderLabels(); draw(); };
  /** @param {WheelEvent} e zoom with the wheel, only while the widget has the focus */
  const onWheel = (e) => {
    if (document.activeElement !== root) return;
    e.preventDefault();
    const p = toImage(e);
    zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, p.cx, p.cy);
  };
  /** @param {KeyboardEvent} e */
  const onKeyUp = (e) => { if (e.key === " ") spaceDown = false; };
  const onBlur = () => { spaceDown = false; };
  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerup", onUp);
  canvas.addEventListener("pointercancel", onUp);
  root.addEventListener("keydown", onKey);
  root.addEventListener("keyup", onKeyUp);
  root.addEventListener("blur", onBlur);
  canvas.addEventListener("wheel", onWheel, { passive: false });
  model.on("msg:custom", onMsg);
  model.on("change:_boxes", onBoxes);
  model.on("change:_suggestions", draw);
  model.on("change:_item", loadItem);
  model.on("change:_labels", onLabels);
  model.on("change:current_label", renderLabels);
  model.on("change:_status", renderText);
  model.on("change:_message", renderText);
  model.on("change:_done", renderText);
  model.on("change:_bound", renderActions);
  renderLabels();
  renderActions();
  renderText();
  loadItem();

  return () => {
    clearInterval(hb);
    clearPending();
    if (imageTimer) clearTimeout(imageTimer);
    model.off("msg:custom", onMsg);
    model.off("change:_boxes", onBoxes);
    model.off("change:_suggestions", draw);
    model.off("change:_item", loadItem);
    model.off("change:_labels", onLabels);
    model.off("change:current_label", renderLabels);
    model.off("change:_status", renderText);
    model.off("change:_message", renderText);
    model.off("change:_done", renderText);
    model.off("change:_bound", renderActions);
    root.remove();
  };
}

export default { render };
