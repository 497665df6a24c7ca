// DOM and model plumbing shared by every annotator widget. User text only ever
// reaches the DOM through textContent.

/** @param {string} tag @param {string} cls @param {string} [text] @returns {HTMLElement} */
export function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
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
 * client_id until Python acks, so a retry stores one annotation.
 * @param {any} model @param {HTMLElement} messageEl
 */
export function makePending(model, messageEl) {
  /** @type {any} */ let pending = null;
  function clear() {
    if (pending && pending.timer) clearTimeout(pending.timer);
    pending = null;
  }
  /** @param {any} msg @param {number} [tries] */
  function send(msg, tries = 0) {
    if (pending) clearTimeout(pending.timer);
    model.send(msg);
    messageEl.textContent = "saving…";
    pending = { msg, timer: tries < 3 ? setTimeout(() => send(msg, tries + 1), 8000) : null };
  }
  /** @param {any} msg @returns {boolean} whether it acked the pending message */
  function ack(msg) {
    if (msg.type === "ack" && pending && pending.msg.client_id === msg.client_id) {
      clear();
      messageEl.textContent = "";
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

/** a toolbar button that runs ``fn`` and gives the keyboard back to ``root``
 * @param {string} text @param {() => void} fn @param {HTMLElement} root @param {string} [cls] */
export function actionButton(text, fn, root, cls = "") {
  const b = /** @type {HTMLButtonElement} */ (h("button", ("lnb-action " + cls).trim(), text));
  b.type = "button";
  b.addEventListener("click", () => { fn(); root.focus({ preventScroll: true }); });
  return b;
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
