// DOM and model plumbing shared by every annotator widget. User text only ever
// reaches the DOM through textContent.

/** @param {string} tag @param {string} cls @param {string} [text] @returns {HTMLElement} */
export function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * A pointer's position in canvas pixels (the canvas element may be scaled by CSS).
 * @param {HTMLCanvasElement} canvas @param {{clientX: number, clientY: number}} e @returns {[number, number]}
 */
export function canvasPoint(canvas, e) {
  const r = canvas.getBoundingClientRect();
  return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
}

/** @returns {string} */
export function newId() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}

/**
 * ipywidgets throttles state updates, so a commit may reach the kernel late; the
 * root's data-synced is "1" once the kernel has processed the latest one.
 * @param {any} model @param {HTMLElement} root
 */
export function makeSaver(model, root) {
  let seq = 0, done = 0;
  return function saveChanges() {
    const mine = ++seq;
    root.dataset.synced = "0";
    model.save_changes({ iopub: { status: (/** @type {any} */ m) => {
      if (m.content.execution_state !== "idle" || mine <= done) return;
      done = mine;
      if (done === seq) root.dataset.synced = "1";
    } } });
  };
}

/**
 * Messages that must arrive once (submit, review decisions): resent with the same
 * client_id (and buffers) until Python acks, so a retry stores one annotation.
 * ``messageEl`` (if any) says "saving…" until then.
 * @param {any} model @param {HTMLElement | null} messageEl
 */
export function makePending(model, messageEl) {
  /** @type {any} */ let pending = null;
  function clear() {
    if (pending && pending.timer) clearTimeout(pending.timer);
    pending = null;
  }
  /** @param {any} msg @param {ArrayBuffer[]} [buffers] @param {number} [tries] */
  function send(msg, buffers = undefined, tries = 0) {
    if (pending) clearTimeout(pending.timer);
    model.send(msg, undefined, buffers);
    if (messageEl) messageEl.textContent = "saving…";
    pending = { msg, timer: tries < 3 ? setTimeout(() => send(msg, buffers, tries + 1), 8000) : null };
  }
  /** an ack ends the resending; one with ``error`` (not stored) shows why, as text
   * @param {any} msg @returns {boolean} whether it acked the pending message */
  function ack(msg) {
    if (msg.type === "ack" && pending && pending.msg.client_id === msg.client_id) {
      clear();
      if (messageEl) messageEl.textContent = msg.error ? String(msg.error) : "";
      return true;
    }
    return false;
  }
  return { send, ack, clear };
}

/**
 * Pull the item's display image from Python (bytes in a buffer, never base64) and
 * keep images Python pushed ahead of time (prefetch) by key, decoded.
 * onImage gets ``prefetched`` true when the image had been pushed ahead.
 * @param {any} model @param {(img: HTMLImageElement, key: string, prefetched: boolean) => void} onImage
 */
export function makeImageLoader(model, onImage) {
  /** @type {Map<string, HTMLImageElement>} */ const cache = new Map();
  /** @type {any} */ let timer = null;
  let want = "", wantAlias = "";
  /** ask for item ``key``'s image; ``alias`` names a copy pushed ahead (prefetch)
   * @param {string} key @param {string | null} [alias] @param {number} [tries] */
  function request(key, alias = null, tries = 0) {
    want = key; wantAlias = alias || "";
    if (timer) clearTimeout(timer);
    const hit = alias ? cache.get(alias) : undefined;
    if (hit && alias) { cache.delete(alias); want = ""; onImage(hit, key, true); return; }
    model.send({ type: "image", key });
    timer = tries < 5 ? setTimeout(() => { if (want === key) request(key, null, tries + 1); }, 10000) : null;
  }
  /** @param {any} msg @param {DataView[]} buffers @returns {boolean} handled */
  function handle(msg, buffers) {
    if ((msg.type !== "image" && msg.type !== "prefetch") || !buffers || !buffers.length) return false;
    const url = URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime }));
    const img = new Image();
    img.onload = () => {
      URL.revokeObjectURL(url);
      if (want && (msg.key === want || msg.key === wantAlias)) { // the shown item's image
        if (timer) clearTimeout(timer);
        const key = want;
        want = ""; wantAlias = "";
        onImage(img, key, msg.type === "prefetch");
      } else if (msg.type === "prefetch") {
        cache.set(msg.key, img);
        while (cache.size > 3) cache.delete(/** @type {string} */ (cache.keys().next().value));
      }
    };
    img.src = url;
    return true;
  }
  function stop() { if (timer) clearTimeout(timer); want = ""; }
  return { request, handle, stop };
}

/** heartbeats that keep a bound widget's lease alive while the annotator is active
 * @param {any} model @param {() => string} key @param {() => number} lastActivity */
export function startHeartbeat(model, key, lastActivity) {
  return setInterval(() => {
    const every = model.get("_heartbeat_s") || 0;
    if (!every || !model.get("_bound") || model.get("_done")) return;
    if (Date.now() - lastActivity() < 30 * 60 * 1000) model.send({ type: "heartbeat", key: key() });
  }, Math.max(1000, (model.get("_heartbeat_s") || 60) * 1000));
}

/** the keyboard help overlay ("?"): a table built from keymap rows, as text
 * @param {[string, string][]} rows @param {[string, string][]} [extra] */
export function helpOverlay(rows, extra = []) {
  const box = h("div", "lnb-overlay");
  box.setAttribute("role", "dialog");
  box.append(h("div", "lnb-overlay-title", "Keyboard shortcuts (Esc or ? closes)"));
  const table = h("table", "lnb-keys");
  for (const [k, text] of [...rows, ...extra]) {
    const tr = h("tr", "");
    const td = h("td", "");
    td.append(h("kbd", "", k));
    tr.append(td, h("td", "", text));
    table.append(tr);
  }
  box.append(table);
  return box;
}

/** brightness / contrast sliders; calls onChange(brightness, contrast) in percent
 * @param {(b: number, c: number) => void} onChange */
export function adjustControls(onChange) {
  const wrap = h("span", "lnb-adjust");
  const mk = (/** @type {string} */ name) => {
    const lab = h("label", "", name + " ");
    const input = /** @type {HTMLInputElement} */ (h("input", "lnb-" + name.toLowerCase()));
    input.type = "range"; input.min = "20"; input.max = "300"; input.value = "100"; input.step = "5";
    lab.append(input);
    wrap.append(lab);
    return input;
  };
  const b = mk("Brightness"), c = mk("Contrast");
  const fire = () => onChange(Number(b.value), Number(c.value));
  b.addEventListener("input", fire);
  c.addEventListener("input", fire);
  return { el: wrap, reset() { b.value = "100"; c.value = "100"; fire(); } };
}

/** the bound session's progress bar (``_progress`` = {done, total}); returns the element
 * and a function that redraws it @param {any} model */
export function makeProgress(model) {
  const wrap = h("span", "lnb-progress");
  const bar = /** @type {HTMLProgressElement} */ (h("progress", ""));
  const label = h("span", "lnb-progress-label");
  wrap.append(bar, label);
  function update() {
    const p = model.get("_progress") || {};
    const total = Number(p.total) || 0, done = Number(p.done) || 0;
    wrap.style.display = !model.get("_bound") || total === 0 ? "none" : ""; // CSS beats [hidden]
    bar.max = Math.max(total, 1);
    bar.value = done;
    label.textContent = `${done} / ${total}`;
    wrap.dataset.done = String(done);
    wrap.dataset.total = String(total);
  }
  update();
  return { el: wrap, update };
}

/** the header every widget opens with: the session's status, a message line (errors,
 * "saving…") and the progress bar; ``between`` goes after the status
 * @param {any} model @param {HTMLElement[]} [between] */
export function makeHeader(model, between = []) {
  const header = h("div", "lnb-header");
  const status = h("span", "lnb-status");
  const message = h("span", "lnb-message");
  const progress = makeProgress(model);
  header.append(status, ...between, message, progress.el);
  return { header, status, message, progress };
}

/** the toolbar of the drawing widgets: the class bar, then the action buttons */
export function makeToolbar() {
  const toolbar = h("div", "lnb-toolbar");
  const labelBar = h("div", "lnb-labels");
  const actions = h("div", "lnb-actions");
  toolbar.append(labelBar, actions);
  return { toolbar, labelBar, actions };
}

/** a class's button: its colour, hotkey and name, as text
 * @param {{name: string, color: string, hotkey: string | null}} l @param {string} cls */
export function labelButton(l, cls) {
  const b = /** @type {HTMLButtonElement} */ (h("button", cls));
  b.type = "button";
  b.style.setProperty("--lnb-color", l.color);
  if (l.hotkey) b.append(h("kbd", "", l.hotkey));
  b.append(h("span", "", l.name));
  return b;
}

/** the class bar: a button per class, the current one marked; a click picks the class
 * and gives the keyboard back to ``root``
 * @param {HTMLElement} bar @param {{name: string, color: string, hotkey: string | null}[]} labels
 * @param {string} current @param {(name: string) => void} pick @param {HTMLElement} root */
export function renderLabelBar(bar, labels, current, pick, root) {
  bar.replaceChildren();
  for (const l of labels) {
    const b = labelButton(l, "lnb-label" + (l.name === current ? " lnb-active" : ""));
    b.addEventListener("click", () => { pick(l.name); root.focus(); });
    bar.append(b);
  }
}

/** a toolbar button that runs ``fn`` and gives the keyboard back to ``root``
 * @param {string} text @param {() => void} fn @param {HTMLElement} root @param {string} [cls] */
export function actionButton(text, fn, root, cls = "") {
  const b = /** @type {HTMLButtonElement} */ (h("button", ("lnb-action " + cls).trim(), text));
  b.type = "button";
  b.addEventListener("click", () => { fn(); root.focus({ preventScroll: true }); });
  return b;
}

/** the action buttons ([text, fn] each), then Skip and Submit while bound to a session
 * @param {any} model @param {HTMLElement} bar @param {HTMLElement} root @param {[string, () => void][]} buttons
 * @param {{skip: () => void, submit: () => void}} session */
export function renderActionBar(model, bar, root, buttons, { skip, submit }) {
  /** @type {[string, () => void][]} */
  const all = model.get("_bound") ? [...buttons, ["Skip (S)", skip], ["Submit (Enter)", submit]] : buttons;
  bar.replaceChildren(...all.map(([text, fn]) => actionButton(text, fn, root)));
}

/** the schema's classes (``_labels``) and a class's colour by name (red if unknown) @param {any} model */
export function classesOf(model) {
  /** @returns {{name: string, color: string, hotkey: string | null}[]} */
  const labels = () => model.get("_labels") || [];
  /** @param {string} name */
  const colorOf = (name) => (labels().find((l) => l.name === name) || { color: "#e15759" }).color;
  return { labels, colorOf };
}

/** the session's status line, message and "all done" panel, as text
 * @param {any} model @param {{root: HTMLElement, status: HTMLElement, message: HTMLElement, done: HTMLElement}} els */
export function renderSessionText(model, { root, status, message, done }) {
  status.textContent = model.get("_status") || "";
  message.textContent = model.get("_message") || "";
  const isDone = !!model.get("_done");
  root.classList.toggle("lnb-is-done", isDone);
  done.textContent = isDone ? "All done: " + (model.get("_status") || "the queue is empty") : "";
}

/**
 * A widget's side of its session (see labelnb/widgets/session.py) and of its model:
 * state saves that mark when the kernel has them, messages resent until acked,
 * heartbeats while the annotator is active, the clock of the shown item, and the model
 * events the widget listens to. Standalone (not bound), submit and skip do nothing.
 * @param {any} model @param {HTMLElement} root @param {HTMLElement | null} messageEl
 */
export function makeSession(model, root, messageEl) {
  const saveChanges = makeSaver(model, root);
  const pending = makePending(model, messageEl);
  const key = () => (model.get("_item") || {}).key;
  let lastActivity = Date.now();
  let shownAt = performance.now();
  const hb = startHeartbeat(model, key, () => lastActivity);
  const live = () => model.get("_bound") && !model.get("_done");
  /** @type {(() => void)[]} */ const unlisten = [];
  return {
    saveChanges, pending,
    /** listen to model events until stop() @param {[string, (...a: any[]) => void][]} handlers */
    listen(handlers) { unlisten.push(listen(model, handlers)); },
    /**
     * Listen to ``handlers`` until stop(), and to the events of the parts every widget
     * has (the header's status, message and progress; the actions, which change when
     * bound; the keymap), which are drawn once here.
     * @param {[string, (...a: any[]) => void][]} handlers
     * @param {{progress: {update: () => void}, renderText: () => void, renderActions: () => void, setKeymap: () => void}} parts
     */
    start(handlers, { progress, renderText, renderActions, setKeymap }) {
      unlisten.push(listen(model, [...handlers,
        ["change:_status", renderText], ["change:_message", renderText], ["change:_done", renderText],
        ["change:_bound", renderActions], ["change:_keymap", setKeymap],
        ["change:_progress", progress.update], ["change:_bound", progress.update]]));
      setKeymap();
      renderActions();
      renderText();
    },
    /** the annotator did something (a key, a click): keep the lease */
    active() { lastActivity = Date.now(); },
    /** a new item is on screen: an unanswered message about the last one is dropped */
    shown() { pending.clear(); shownAt = performance.now(); },
    /** submit the shown item: ``fields`` (what was annotated), a fresh client_id and the
     * seconds it was on screen @param {Record<string, any>} fields @param {ArrayBuffer[]} [buffers] */
    submit(fields, buffers) {
      if (!live()) return;
      pending.send({ type: "submit", key: key(), client_id: newId(), ...fields,
                     duration_s: (performance.now() - shownAt) / 1000 }, buffers);
    },
    skip() { if (live()) model.send({ type: "skip", key: key() }); },
    stop() {
      clearInterval(hb);
      pending.clear();
      for (const off of unlisten) off();
    },
  };
}

/** listen to model events; returns the function that stops listening
 * @param {any} model @param {[string, (...a: any[]) => void][]} handlers */
export function listen(model, handlers) {
  for (const [ev, fn] of handlers) model.on(ev, fn);
  return () => { for (const [ev, fn] of handlers) model.off(ev, fn); };
}
