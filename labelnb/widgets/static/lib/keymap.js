// Configurable keymaps (pure; no DOM). A binding is a string such as "Ctrl+Shift+Z",
// "Delete", "?" or "a". Ctrl and Cmd (Meta) are the same modifier. Shift is part of a
// binding only for letters and named keys: "?" already implies Shift.

const MOD_ORDER = ["Ctrl", "Alt", "Shift"];
const ALIASES = /** @type {Record<string, string>} */ ({
  cmd: "Ctrl", meta: "Ctrl", control: "Ctrl", ctrl: "Ctrl", alt: "Alt", option: "Alt",
  shift: "Shift", esc: "Escape", escape: "Escape", del: "Delete", delete: "Delete",
  space: " ", spacebar: " ", enter: "Enter", return: "Enter", backspace: "Backspace",
  tab: "Tab", up: "ArrowUp", down: "ArrowDown", left: "ArrowLeft", right: "ArrowRight",
  arrowup: "ArrowUp", arrowdown: "ArrowDown", arrowleft: "ArrowLeft", arrowright: "ArrowRight",
  plus: "+", minus: "-",
});

/** @param {string} key */
function canonicalKey(key) {
  if (key.length === 1) return key.toLowerCase();
  const a = ALIASES[key.toLowerCase()];
  return a || key;
}

/** a binding in canonical form ("ctrl+shift+z" -> "Ctrl+Shift+z") @param {string} binding */
export function normalizeBinding(binding) {
  const raw = binding.trim();
  if (raw === "+" || raw.length === 1) return canonicalKey(raw);
  const parts = raw.endsWith("++") ? [...raw.slice(0, -2).split("+"), "+"] : raw.split("+");
  const mods = new Set();
  let key = "";
  for (const p of parts) {
    const m = ALIASES[p.trim().toLowerCase()];
    if (m && MOD_ORDER.includes(m)) mods.add(m);
    else key = canonicalKey(p.trim() || " ");
  }
  if (!key) throw new Error(`keymap: binding ${JSON.stringify(binding)} has no key`);
  if (key.length === 1 && !/[a-z]/.test(key)) mods.delete("Shift"); // "?" implies Shift
  return [...MOD_ORDER.filter((m) => mods.has(m)), key].join("+");
}

/** the canonical binding of a keyboard event @param {{key: string, ctrlKey?: boolean, metaKey?: boolean, altKey?: boolean, shiftKey?: boolean}} e */
export function eventBinding(e) {
  const key = canonicalKey(e.key === "Spacebar" ? " " : e.key);
  const mods = [];
  if (e.ctrlKey || e.metaKey) mods.push("Ctrl");
  if (e.altKey) mods.push("Alt");
  if (e.shiftKey && !(key.length === 1 && !/[a-z]/.test(key))) mods.push("Shift");
  return [...mods, key].join("+");
}

/** whether a key event is part of an input method's composition (e.g. the Enter that
 * picks a candidate in a Japanese, Chinese or Korean IME): it belongs to the IME, so
 * no action may run on it (Safari reports such keys only by keyCode 229)
 * @param {{isComposing?: boolean, keyCode?: number}} e */
export function isComposing(e) {
  return !!e.isComposing || e.keyCode === 229;
}

/** @typedef {{keys: string | string[], help: string}} ActionSpec */

export class Keymap {
  /**
   * @param {Record<string, ActionSpec>} defaults action -> default keys and help text
   * @param {Record<string, string | string[]>} [overrides] action -> keys (from Python's ``keymap=``)
   */
  constructor(defaults, overrides = {}) {
    /** @type {Map<string, string>} binding -> action */ this.byKey = new Map();
    /** @type {Record<string, {keys: string[], help: string}>} */ this.actions = {};
    for (const name of Object.keys(overrides)) {
      if (!(name in defaults)) {
        throw new Error(`keymap: unknown action ${JSON.stringify(name)}; known: ${Object.keys(defaults).join(", ")}`);
      }
    }
    for (const [name, spec] of Object.entries(defaults)) {
      const given = name in overrides ? overrides[name] : spec.keys;
      const keys = (Array.isArray(given) ? given : [given]).filter((k) => k !== "").map(normalizeBinding);
      this.actions[name] = { keys, help: spec.help };
      for (const k of keys) {
        const other = this.byKey.get(k);
        if (other !== undefined && other !== name) { // one key, two jobs: the later one would never run
          const shown = JSON.stringify(k === " " ? "Space" : k);
          throw new Error(`keymap: ${shown} is bound to both ${JSON.stringify(other)} and ${JSON.stringify(name)}; give one of them another key (an empty list unbinds an action)`);
        }
        this.byKey.set(k, name);
      }
    }
  }
  /** the action bound to a keyboard event, or null @param {any} e */
  actionFor(e) { return this.byKey.get(eventBinding(e)) || null; }
  /** whether a plain key (e.g. a class hotkey) is taken by an action @param {string} key */
  has(key) { return this.byKey.has(normalizeBinding(key)); }
  /** rows for the help overlay: [keys as shown, help] @returns {[string, string][]} */
  rows() {
    return Object.values(this.actions).filter((a) => a.keys.length)
      .map((a) => [a.keys.map((k) => (k === " " ? "Space" : k)).join(" / "), a.help]);
  }
}

/**
 * The keymap of ``defaults`` with Python's ``keymap=`` overrides; when they do not
 * parse, ``report`` gets the reason and ``fallback`` (the keymap in use) stays.
 * @param {Keymap} fallback @param {Record<string, ActionSpec>} defaults
 * @param {Record<string, string | string[]>} overrides @param {(why: string) => void} report
 */
export function keymapOr(fallback, defaults, overrides, report) {
  try {
    return new Keymap(defaults, overrides);
  } catch (err) {
    report(String(/** @type {any} */ (err).message || err));
    return fallback;
  }
}

/** the class whose hotkey a key event is: plain keys only (with Ctrl, Cmd or Alt a key
 * is an action) @template {{hotkey: string | null}} L @param {{key: string, ctrlKey?: boolean, metaKey?: boolean, altKey?: boolean}} e @param {L[]} labels @returns {L | undefined} */
export function hotkeyLabel(e, labels) {
  return e.ctrlKey || e.metaKey || e.altKey ? undefined : labels.find((l) => l.hotkey === e.key);
}
