// labelnb SpanAnnotator front-end (NER): a plain ES module for anywidget (no bundler).
//
// Spans live in Python code points (start, end exclusive). The DOM counts UTF-16
// units; every conversion goes through OffsetMap (lib/utf16.js). The text is drawn
// as text nodes this module builds itself (never innerHTML, never read back through
// innerText, which would turn CRLF into LF), and a DOM position becomes an offset
// through the table of those text nodes. Overlapping spans are drawn as stacked
// underlines (one layer per level), suggestions dashed. Only committed states reach
// Python (_spans, _suggestions); undo/redo runs here.

import { History } from "./lib/history.js";
import { Keymap, hotkeyLabel } from "./lib/keymap.js";
import { OffsetMap } from "./lib/utf16.js";
import { h, newId, makeSession, helpOverlay, makeHeader, makeToolbar, labelButton, renderSessionText, actionButton } from "./lib/ui.js";

/** @typedef {{start: number, end: number, label: string, score?: number, attributes?: Record<string, any>}} CSpan offsets in code points */
/** @typedef {{spans: CSpan[], suggestions: CSpan[], accepted?: number, rejected?: number}} State */
/** @typedef {{start: number, end: number, label: string, kind: "span" | "sugg"}} Item */
/** @typedef {{kind: "span" | "sugg", start: number, end: number, label: string}} Ref */
/** @typedef {{name: string, color: string, hotkey: string | null}} Label */

/** the keymap's actions and default keys (Python: SpanAnnotator.ACTIONS, keymap=...) */
export const ACTIONS = {
  left: { keys: "ArrowLeft", help: "move the caret one character left" },
  right: { keys: "ArrowRight", help: "move the caret one character right" },
  select_left: { keys: "Shift+ArrowLeft", help: "extend the selection one character left" },
  select_right: { keys: "Shift+ArrowRight", help: "extend the selection one character right" },
  word_left: { keys: "Ctrl+ArrowLeft", help: "move the caret to the previous token boundary" },
  word_right: { keys: "Ctrl+ArrowRight", help: "move the caret to the next token boundary" },
  select_word_left: { keys: "Ctrl+Shift+ArrowLeft", help: "extend the selection to the previous token boundary" },
  select_word_right: { keys: "Ctrl+Shift+ArrowRight", help: "extend the selection to the next token boundary" },
  create: { keys: "Space", help: "make a span of the selection, with the current class" },
  next: { keys: "Tab", help: "select the next span or suggestion" },
  previous: { keys: "Shift+Tab", help: "select the previous span or suggestion" },
  delete: { keys: ["Delete", "Backspace"], help: "delete the selected span (or reject the selected suggestion)" },
  accept: { keys: "a", help: "accept the selected suggestion" },
  reject: { keys: "x", help: "reject the selected suggestion" },
  accept_all: { keys: "Shift+A", help: "accept every suggestion" },
  reject_all: { keys: "Shift+X", help: "reject every suggestion" },
  undo: { keys: "Ctrl+Z", help: "undo" },
  redo: { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], help: "redo" },
  help: { keys: "?", help: "show or hide this help" },
  release: { keys: "Escape", help: "deselect; again: leave the widget (release the keys)" },
  submit: { keys: "Enter", help: "submit and go to the next item (in a session)" },
  skip: { keys: "s", help: "skip this item (in a session)" },
};

const LAYER = 4; // px between stacked underlines
const BAR = 3; // px: an underline's thickness

// --- pure helpers (no DOM; tested with node's test runner) ------------------------------

/** document order: start, then the longer (outer) span first, then the label
 * @param {{start: number, end: number, label: string}} a @param {{start: number, end: number, label: string}} b */
export function compareSpans(a, b) {
  return a.start - b.start || b.end - a.end || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0);
}

/** @param {{start: number, end: number, label: string}} a @param {{start: number, end: number, label: string}} b */
export function sameSpan(a, b) { return a.start === b.start && a.end === b.end && a.label === b.label; }

/**
 * Stacking levels for intervals: first fit in document order, which uses the fewest
 * levels (as many as the deepest overlap). Overlapping items never share a level.
 * @param {{start: number, end: number, label: string}[]} items @returns {number[]} level of each item
 */
export function assignLevels(items) {
  const order = items.map((_, i) => i).sort((i, j) => compareSpans(items[i], items[j]));
  /** @type {number[]} */ const ends = []; // per level: where its last item ends
  const levels = new Array(items.length).fill(0);
  for (const i of order) {
    let l = 0;
    while (l < ends.length && ends[l] > items[i].start) l++;
    levels[i] = l;
    ends[l] = items[i].end;
  }
  return levels;
}

/**
 * Cut [0, length) at every item boundary: each segment lists the items that cover it.
 * @param {number} length @param {{start: number, end: number}[]} items
 * @returns {{start: number, end: number, cover: number[]}[]}
 */
export function segmentize(length, items) {
  const cuts = new Set([0, length]);
  for (const it of items) { cuts.add(it.start); cuts.add(it.end); }
  const bounds = [...cuts].filter((x) => x >= 0 && x <= length).sort((a, b) => a - b);
  const byStart = items.map((_, i) => i).sort((i, j) => items[i].start - items[j].start);
  /** @type {number[]} */ let active = [];
  /** @type {{start: number, end: number, cover: number[]}[]} */ const segs = [];
  let k = 0;
  for (let b = 0; b + 1 < bounds.length; b++) {
    const s = bounds[b], e = bounds[b + 1];
    active = active.filter((i) => items[i].end > s);
    while (k < byStart.length && items[byStart[k]].start <= s) {
      if (items[byStart[k]].end > s) active.push(byStart[k]);
      k++;
    }
    segs.push({ start: s, end: e, cover: active.slice() });
  }
  return segs;
}

/**
 * Snap [start, end) to whole tokens: from the start of the first token it touches to
 * the end of the last (white space at either end of the selection falls away).
 * ``tokens`` is flat and sorted, [s0, e0, s1, e1, ...] (code points). Null when the
 * range touches no token (e.g. only white space between tokens).
 * @param {number} start @param {number} end @param {ArrayLike<number>} tokens
 * @returns {[number, number] | null}
 */
export function snapToTokens(start, end, tokens) {
  const n = tokens.length >> 1;
  let lo = 0, hi = n; // first token that ends after start
  while (lo < hi) { const m = (lo + hi) >> 1; if (tokens[2 * m + 1] > start) hi = m; else lo = m + 1; }
  if (lo >= n || tokens[2 * lo] >= end) return null;
  const first = lo;
  lo = first; hi = n; // first token that starts at or after end
  while (lo < hi) { const m = (lo + hi) >> 1; if (tokens[2 * m] >= end) hi = m; else lo = m + 1; }
  const last = lo - 1;
  return [tokens[2 * first], tokens[2 * last + 1]];
}

/**
 * [start, end) without white space at either end (code points); null if nothing is left.
 * @param {OffsetMap} map @param {number} start @param {number} end @returns {[number, number] | null}
 */
export function trimSpace(map, start, end) {
  const isSpace = (/** @type {number} */ cp) => /\s/u.test(String.fromCodePoint(/** @type {number} */ (map.text.codePointAt(map.toUnits(cp)))));
  while (start < end && isSpace(start)) start++;
  while (end > start && isSpace(end - 1)) end--;
  return start < end ? [start, end] : null;
}

/**
 * Where a caret may stop (code points): grapheme boundaries, so that the keyboard
 * never splits an accent from its letter or an emoji sequence.
 * @param {OffsetMap} map @returns {number[]}
 */
export function graphemeStops(map) {
  const Seg = /** @type {any} */ (Intl).Segmenter;
  if (typeof Seg !== "function") return Array.from({ length: map.length + 1 }, (_, i) => i);
  const stops = [];
  for (const s of new Seg(undefined, { granularity: "grapheme" }).segment(map.text)) {
    stops.push(map.toCodePoints(s.index));
  }
  stops.push(map.length);
  return stops;
}

/**
 * Token boundaries for Ctrl+arrows: the tokens from Python, or else runs of
 * non-space (found in UTF-16 units, converted through the map).
 * @param {OffsetMap} map @param {ArrayLike<number>} tokens @returns {number[]}
 */
export function wordStops(map, tokens) {
  /** @type {Set<number>} */ const stops = new Set([0, map.length]);
  if (tokens.length) {
    for (let i = 0; i < tokens.length; i++) stops.add(tokens[i]);
  } else {
    for (const m of map.text.matchAll(/\S+/gu)) {
      const u = /** @type {number} */ (m.index);
      stops.add(map.toCodePoints(u));
      stops.add(map.toCodePoints(u + m[0].length));
    }
  }
  return [...stops].sort((a, b) => a - b);
}

/** the nearest stop strictly before (dir < 0) or after (dir > 0) pos, else pos
 * @param {number[]} stops sorted @param {number} pos @param {number} dir */
export function nextStop(stops, pos, dir) {
  let lo = 0, hi = stops.length; // first stop > pos
  while (lo < hi) { const m = (lo + hi) >> 1; if (stops[m] > pos) hi = m; else lo = m + 1; }
  if (dir > 0) return lo < stops.length ? stops[lo] : pos;
  let j = lo - 1;
  while (j >= 0 && stops[j] >= pos) j--;
  return j >= 0 ? stops[j] : pos;
}

/** @param {State} s @returns {State} */
function copyState(s) {
  return { spans: s.spans.map((x) => ({ ...x })), suggestions: s.suggestions.map((x) => ({ ...x })),
           accepted: s.accepted || 0, rejected: s.rejected || 0 };
}
/** a span as a person made it: offsets, label, attributes; no model score
 * @param {CSpan} x @param {string} [label] @returns {CSpan} */
function humanSpan(x, label) {
  /** @type {CSpan} */ const out = { start: x.start, end: x.end, label: label || x.label };
  if (x.attributes && Object.keys(x.attributes).length) out.attributes = { ...x.attributes };
  return out;
}

/** The state transitions (pure: each returns a new, sorted state). A state also counts
 * the suggestions accepted and rejected, so that undo restores the counts too. */
export const ops = {
  /** @param {State} s @returns {State} */
  sorted(s) {
    const out = copyState(s);
    out.spans.sort(compareSpans);
    out.suggestions.sort(compareSpans);
    return out;
  },
  /** add a span unless the same one (offsets and label) is there @param {State} s @param {CSpan} span */
  add(s, span) {
    if (s.spans.some((x) => sameSpan(x, span))) return ops.sorted(s);
    return ops.sorted({ ...s, spans: [...s.spans, humanSpan(span)] });
  },
  /** @param {State} s @param {{start: number, end: number, label: string}} span */
  remove(s, span) { return ops.sorted({ ...s, spans: s.spans.filter((x) => !sameSpan(x, span)) }); },
  /** @param {State} s @param {{start: number, end: number, label: string}} span @param {string} label */
  relabel(s, span, label) {
    const found = s.spans.find((x) => sameSpan(x, span));
    if (!found) return ops.sorted(s);
    return ops.add({ ...s, spans: s.spans.filter((x) => x !== found) }, humanSpan(found, label));
  },
  /** accept a suggestion as a human span (no score), with its label or another
   * @param {State} s @param {{start: number, end: number, label: string}} sugg @param {string} [label] */
  accept(s, sugg, label) {
    const found = s.suggestions.find((x) => sameSpan(x, sugg));
    if (!found) return ops.sorted(s);
    const rest = { ...s, suggestions: s.suggestions.filter((x) => x !== found), accepted: (s.accepted || 0) + 1 };
    return ops.add(rest, humanSpan(found, label));
  },
  /** @param {State} s @param {{start: number, end: number, label: string}} sugg */
  reject(s, sugg) {
    const n = s.suggestions.length;
    const suggestions = s.suggestions.filter((x) => !sameSpan(x, sugg));
    return ops.sorted({ ...s, suggestions, rejected: (s.rejected || 0) + (n - suggestions.length) });
  },
  /** @param {State} s */
  acceptAll(s) { return s.suggestions.reduce((acc, x) => ops.accept(acc, x), ops.sorted(s)); },
  /** @param {State} s */
  rejectAll(s) { return ops.sorted({ ...s, suggestions: [], rejected: (s.rejected || 0) + s.suggestions.length }); },
};

/** whether two states hold the same spans and suggestions @param {State} a @param {State} b */
export function sameState(a, b) {
  return JSON.stringify(a.spans) === JSON.stringify(b.spans) && JSON.stringify(a.suggestions) === JSON.stringify(b.suggestions);
}

/** items (spans, then suggestions) in document order, for Tab @param {State} s @param {boolean} onlySuggestions @returns {Ref[]} */
export function tabOrder(s, onlySuggestions) {
  /** @type {Ref[]} */ const refs = onlySuggestions ? [] : s.spans.map((x) => ({ kind: "span", start: x.start, end: x.end, label: x.label }));
  for (const x of s.suggestions) refs.push({ kind: "sugg", start: x.start, end: x.end, label: x.label });
  return refs.sort((a, b) => compareSpans(a, b) || (a.kind === b.kind ? 0 : a.kind === "span" ? -1 : 1));
}

/** "#rgb" or "#rrggbb" with an alpha (0..1) as rgba() @param {string} hex @param {number} alpha */
export function tint(hex, alpha) {
  let m = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(hex);
  if (m) hex = "#" + m[1] + m[1] + m[2] + m[2] + m[3] + m[3];
  m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return `rgba(128, 128, 128, ${alpha})`;
  return `rgba(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)}, ${alpha})`;
}

const GREY = "#888888";

/** a colour from the schema (validated there as hex), or grey: nothing else reaches CSS
 * @param {any} c @returns {string} */
export function safeColor(c) { return typeof c === "string" && /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(c) ? c : GREY; }

/**
 * The CSS of a segment's look: one underline layer per covering item (a solid bar for a
 * span, a dashed one for a suggestion) at its level below the text, and a tint of the
 * innermost span. ``look`` is "p0#rrggbb;s1#rrggbb;t#rrggbb" (kind, level, colour; t:
 * the tint); ``depth`` is the number of levels.
 * @param {string} look @param {number} depth @returns {string}
 */
export function lookCss(look, depth) {
  const images = [], sizes = [], positions = [];
  for (const part of look.split(";")) {
    if (!part) continue;
    if (part[0] === "t") {
      const c = tint(part.slice(1), 0.18);
      images.push(`linear-gradient(${c}, ${c})`);
      sizes.push(`100% calc(100% - ${depth * LAYER}px)`);
      positions.push("0 0");
      continue;
    }
    const m = /^([ps])(\d+)(#[0-9a-fA-F]+)$/.exec(part);
    if (!m) continue;
    const level = Number(m[2]), c = safeColor(m[3]);
    images.push(m[1] === "s" ? `repeating-linear-gradient(90deg, ${c} 0 5px, transparent 5px 8px)` : `linear-gradient(${c}, ${c})`);
    sizes.push(`100% ${BAR}px`);
    positions.push(`0 calc(100% - ${(depth - 1 - level) * LAYER + (LAYER - BAR)}px)`);
  }
  return `background-image: ${images.join(", ")}; background-size: ${sizes.join(", ")}; background-position: ${positions.join(", ")};`;
}

/**
 * Segment looks as classes of a style sheet this widget owns (hundreds of segments
 * share a few looks: one rule each, instead of a style per element). The rules are
 * scoped by a class unique to this view: anywidget imports this module afresh for
 * every widget, so a module-level counter would give every widget the same scope,
 * and one widget's look classes would restyle another's segments.
 * @param {HTMLElement} root
 */
export function makeLooks(root) {
  const scope = "lnb-s-" + newId();
  root.classList.add(scope);
  const style = document.createElement("style");
  root.append(style);
  /** @type {Map<string, string>} */ let byKey = new Map();
  /** @type {string[]} */ let rules = [];
  let dirty = false;
  return {
    /** @param {string} look @param {number} depth */
    classFor(look, depth) {
      const key = depth + "|" + look;
      let cls = byKey.get(key);
      if (!cls) {
        cls = `lnb-l${byKey.size}`;
        byKey.set(key, cls);
        rules.push(`.${scope} .${cls} { ${lookCss(look, depth)} }`);
        dirty = true;
      }
      return cls;
    },
    flush() { if (dirty) { style.textContent = rules.join("\n"); dirty = false; } },
    reset() { byKey = new Map(); rules = []; dirty = true; },
  };
}

// --- the widget ----------------------------------------------------------------------------

/** @param {{model: any, el: HTMLElement}} ctx */
function render({ model, el }) {
  const root = h("div", "lnb-span");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.dataset.ready = "0";
  const counts = h("span", "lnb-counts");
  const { header, status, message, progress } = makeHeader(model, [counts]);
  const { toolbar, labelBar: palette, actions } = makeToolbar();
  const verifyBar = h("div", "lnb-verify");
  const scroller = h("div", "lnb-scroll");
  const textEl = h("div", "lnb-text");
  const caretEl = h("div", "lnb-caret");
  scroller.append(textEl, caretEl);
  const done = h("div", "lnb-done");
  const footer = h("div", "lnb-help");
  root.append(header, toolbar, verifyBar, scroller, done, footer);
  el.append(root);

  const looks = makeLooks(root);
  const session = makeSession(model, root, message);
  const { saveChanges, skip } = session;
  /** @type {Keymap} */ let keymap = new Keymap(ACTIONS, {});
  function setKeymap() {
    try {
      keymap = new Keymap(ACTIONS, model.get("_keymap") || {});
    } catch (err) { // Python checks the actions; a bad key string is shown, not thrown
      message.textContent = String(err);
    }
    const k = (/** @type {string} */ a) => (keymap.actions[a] && keymap.actions[a].keys.length ? keymap.actions[a].keys.map((x) => (x === " " ? "Space" : x)).join("/") : "–");
    footer.textContent = `select text: new span · click: select (again: the next one stacked there) · class key: label · ` +
      `${k("next")}: next · ${k("delete")}: delete · ${k("accept")} / ${k("reject")}: accept / reject suggestion · ` +
      `${k("help")}: all keys · ${k("release")}: release`;
    renderPalette();
  }

  /** @returns {Label[]} */ const labels = () => model.get("_labels") || [];
  const item = () => model.get("_item") || {};
  const verify = () => model.get("mode") === "verify";
  /** @param {string} name */
  const colorOf = (name) => safeColor((labels().find((l) => l.name === name) || { color: GREY }).color);

  let text = "";
  let map = new OffsetMap("");
  /** @type {number[]} */ let tokens = [];
  /** @type {number[] | null} */ let gStops = null;
  /** @type {number[] | null} */ let wStops = null;
  const history = new History(/** @type {State} */ ({ spans: [], suggestions: [] }));
  /** @type {State} */ let state = history.state;
  /** @type {Ref | null} */ let sel = null;
  let caret = 0, anchor = 0; // keyboard caret and selection anchor (code points)
  /** @type {Text[]} */ let nodes = []; // the text's nodes in document order
  /** @type {number[]} */ let bases = []; // UTF-16 offset where each node starts
  /** @type {WeakMap<Element, Item[]>} */ let segItems = new WeakMap();
  /** @type {Map<string, HTMLElement[]>} */ let itemEls = new Map();
  /** @type {HTMLElement | null} */ let overlay = null;
  /** @type {{start: number, end: number, pos: number} | null} */ let lastClick = null;
  let itemKey = "";
  let syncing = false; // our own model.set calls echo as change events: ignore them

  /** @param {{kind: string, start: number, end: number, label: string}} r */
  const refKey = (r) => `${r.kind}:${r.start}:${r.end}:${r.label}`;
  /** @param {Ref | null} r */
  function exists(r) {
    if (!r) return false;
    return (r.kind === "span" ? state.spans : state.suggestions).some((x) => sameSpan(x, r));
  }

  // --- DOM position <-> UTF-16 offset (then code points, via the map) -------------------
  /** the UTF-16 offset of a DOM boundary point: text units in our text nodes before it
   * @param {Node} node @param {number} offset */
  function unitAt(node, offset) {
    if (!nodes.length) return 0;
    const r = document.createRange();
    r.setStart(node, offset);
    let lo = 0, hi = nodes.length; // first node whose start lies after the point
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (r.comparePoint(nodes[m], 0) > 0) hi = m; else lo = m + 1;
    }
    const i = lo - 1;
    if (i < 0) return 0;
    if (node === nodes[i]) return bases[i] + Math.min(offset, nodes[i].length);
    return bases[i] + nodes[i].length; // the point lies after node i's text
  }
  /** the text node and offset of a UTF-16 offset @param {number} unit @returns {[Text, number] | null} */
  function domAt(unit) {
    if (!nodes.length) return null;
    let lo = 0, hi = nodes.length - 1; // last node starting at or before unit
    while (lo < hi) { const m = (lo + hi + 1) >> 1; if (bases[m] <= unit) lo = m; else hi = m - 1; }
    return [nodes[lo], Math.min(unit - bases[lo], nodes[lo].length)];
  }

  // --- drawing -----------------------------------------------------------------------
  /** @returns {Item[]} spans, then the suggestions on show (in verify mode only the current one) */
  function visibleItems() {
    /** @type {Item[]} */ const items = state.spans.map((s) => ({ start: s.start, end: s.end, label: s.label, kind: "span" }));
    for (const s of state.suggestions) {
      if (verify() && !(sel && sel.kind === "sugg" && sameSpan(sel, s))) continue;
      items.push({ start: s.start, end: s.end, label: s.label, kind: "sugg" });
    }
    return items;
  }

  function draw() {
    const items = visibleItems();
    const levels = assignLevels(items);
    const depth = items.length ? Math.max(...levels) + 1 : 0;
    /** @type {Map<string, string>} */ const colors = new Map(labels().map((l) => [l.name, safeColor(l.color)]));
    const segs = segmentize(map.length, items);
    const frag = document.createDocumentFragment();
    nodes = []; bases = [];
    segItems = new WeakMap();
    itemEls = new Map();
    for (const seg of segs) {
      const u0 = map.toUnits(seg.start);
      const t = document.createTextNode(text.slice(u0, map.toUnits(seg.end)));
      nodes.push(t); bases.push(u0);
      if (!seg.cover.length) { frag.append(t); continue; }
      const e = document.createElement("span");
      e.className = "lnb-seg";
      const cover = seg.cover.length > 1 ? seg.cover.slice().sort((a, b) => levels[a] - levels[b]) : seg.cover;
      /** @type {string[]} */ const tags = [];
      let inner = -1; // the innermost (shortest) span: its colour tints the background
      let look = "", hasSugg = false;
      for (const i of cover) {
        const it = items[i];
        if (it.kind === "sugg") hasSugg = true;
        look += `${it.kind === "sugg" ? "s" : "p"}${levels[i]}${colors.get(it.label) || GREY};`;
        if (it.kind === "span" && (inner < 0 || it.end - it.start < items[inner].end - items[inner].start)) inner = i;
        if (it.end === seg.end) tags.push(it.kind === "sugg" ? it.label + "?" : it.label);
        const k = refKey(it);
        const list = itemEls.get(k);
        if (list) list.push(e); else itemEls.set(k, [e]);
      }
      if (inner >= 0) look += `t${colors.get(items[inner].label) || GREY}`;
      e.className = "lnb-seg " + looks.classFor(look, depth) + (hasSugg ? " lnb-has-sugg" : "");
      if (tags.length) e.dataset.tags = tags.join(" "); // shown by CSS attr(): text, never HTML
      segItems.set(e, cover.map((i) => items[i]));
      e.append(t);
      frag.append(e);
    }
    if (!nodes.length) { const t = document.createTextNode(""); nodes.push(t); bases.push(0); frag.append(t); }
    looks.flush();
    textEl.replaceChildren(frag);
    textEl.style.setProperty("--lnb-depth", String(depth));
    markSelected();
    renderCounts();
    renderVerify();
    showKeyboardSelection();
  }

  function markSelected() {
    for (const e of textEl.querySelectorAll(".lnb-selected")) e.classList.remove("lnb-selected");
    if (!sel) return;
    const els = itemEls.get(refKey(sel)) || [];
    for (const e of els) e.classList.add("lnb-selected");
  }
  function scrollToSelected() {
    if (!sel) return;
    const els = itemEls.get(refKey(sel));
    if (els && els.length) els[0].scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function renderCounts() {
    const n = state.spans.length, m = state.suggestions.length;
    counts.textContent = `${n} span${n === 1 ? "" : "s"}` + (m ? ` · ${m} suggestion${m === 1 ? "" : "s"}` : "");
    root.dataset.spans = String(n);
    root.dataset.suggestions = String(m);
  }

  function renderVerify() {
    verifyBar.replaceChildren();
    root.classList.toggle("lnb-verify-mode", verify());
    if (!verify()) return;
    const total = state.suggestions.length;
    if (!total) {
      const a = state.accepted || 0, r = state.rejected || 0;
      verifyBar.append(h("span", "lnb-verify-done", (a + r ? `All suggestions reviewed (${a} accepted, ${r} rejected)`
        : "No suggestions to verify here; select text to add spans") + (model.get("_bound") ? " · Enter submits" : "")));
      return;
    }
    const cur = sel && sel.kind === "sugg" ? state.suggestions.findIndex((x) => sameSpan(x, /** @type {Ref} */ (sel))) : -1;
    if (cur < 0) return;
    const s = state.suggestions[cur];
    verifyBar.append(h("span", "lnb-verify-count", `${cur + 1} / ${total}`));
    const quote = h("span", "lnb-verify-text", text.slice(map.toUnits(s.start), map.toUnits(s.end)));
    const lab = h("span", "lnb-verify-label", s.label);
    lab.style.setProperty("--lnb-color", colorOf(s.label));
    verifyBar.append(quote, h("span", "", "→"), lab);
    if (typeof s.score === "number") verifyBar.append(h("span", "lnb-verify-score", s.score.toFixed(2)));
    const keys = (/** @type {string} */ a) => (keymap.actions[a] ? keymap.actions[a].keys.join(" / ") : "");
    verifyBar.append(h("span", "lnb-verify-keys", `${keys("accept")}: accept · ${keys("reject")}: reject · class key: accept as that class`));
  }

  // --- the keyboard caret and selection ---------------------------------------------
  function placeCaret() {
    if (document.activeElement !== root) return; // shown only with the focus (no layout otherwise)
    const at = domAt(map.toUnits(Math.min(caret, map.length)));
    if (!at) { caretEl.style.display = "none"; return; }
    const r = document.createRange();
    r.setStart(at[0], at[1]);
    r.collapse(true);
    let rect = r.getClientRects()[0] || r.getBoundingClientRect();
    if (!rect || (!rect.height && at[1] === 0 && at[0].length === 0)) rect = textEl.getBoundingClientRect();
    const box = scroller.getBoundingClientRect();
    caretEl.style.display = "";
    caretEl.style.left = `${rect.left - box.left + scroller.scrollLeft}px`;
    caretEl.style.top = `${rect.top - box.top + scroller.scrollTop}px`;
    caretEl.style.height = `${Math.max(rect.height, 14)}px`;
  }
  /** show the keyboard selection as the document's selection (one native highlight) */
  function showKeyboardSelection() {
    placeCaret();
    const ds = document.getSelection();
    if (!ds) return;
    if (anchor === caret) {
      if (ds.rangeCount && textEl.contains(ds.anchorNode)) ds.removeAllRanges();
      return;
    }
    const a = domAt(map.toUnits(anchor)), b = domAt(map.toUnits(caret));
    if (a && b) ds.setBaseAndExtent(a[0], a[1], b[0], b[1]);
  }
  /** @param {number} pos @param {boolean} extend */
  function moveCaret(pos, extend) {
    caret = Math.max(0, Math.min(pos, map.length));
    if (!extend) anchor = caret;
    showKeyboardSelection();
    if (caretEl.style.display !== "none") caretEl.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
  /** @param {number} dir @param {boolean} extend @param {"char" | "word"} unit */
  function step(dir, extend, unit) {
    if (!extend && anchor !== caret) { // collapse the selection towards dir
      moveCaret(dir < 0 ? Math.min(anchor, caret) : Math.max(anchor, caret), false);
      return;
    }
    let stops;
    if (unit === "char") stops = gStops || (gStops = graphemeStops(map));
    else stops = wStops || (wStops = wordStops(map, tokens));
    moveCaret(nextStop(stops, caret, dir), extend);
  }

  /** a span from a selection [start, end) in code points: snapped to tokens, or trimmed
   * @param {number} start @param {number} end @returns {[number, number] | null} */
  function finalRange(start, end) {
    if (end <= start) return null;
    if (model.get("snap") && tokens.length) return snapToTokens(start, end, tokens);
    return trimSpace(map, start, end);
  }

  // --- edits (each one undoable step) -------------------------------------------------
  /** @param {State} next @param {Ref | null} nextSel */
  function commit(next, nextSel) {
    history.push(next);
    state = history.state;
    sel = nextSel && exists(nextSel) ? nextSel : null;
    if (verify()) ensureVerifySelection();
    sync();
    draw();
    scrollToSelected();
  }
  function sync() {
    syncing = true;
    try {
      model.set("_spans", state.spans);
      model.set("_suggestions", state.suggestions);
    } finally {
      syncing = false;
    }
    saveChanges();
  }
  /** in verify mode the current suggestion is always selected, while there is one */
  function ensureVerifySelection(/** @type {number} */ near = 0) {
    if (sel && sel.kind === "sugg" && exists(sel)) return;
    const s = state.suggestions[Math.min(near, state.suggestions.length - 1)];
    sel = s ? { kind: "sugg", start: s.start, end: s.end, label: s.label } : null;
  }
  /** @param {number} start @param {number} end @param {string} label */
  function createSpan(start, end, label) {
    const r = finalRange(start, end);
    if (!r) return false;
    const span = { start: r[0], end: r[1], label };
    anchor = caret = r[1];
    if (state.spans.some((x) => sameSpan(x, span))) { // already there: select it
      sel = { kind: "span", ...span };
      markSelected(); showKeyboardSelection(); renderVerify();
      return true;
    }
    commit(ops.add(state, span), { kind: "span", ...span });
    return true;
  }
  function currentLabel() { return model.get("current_label") || (labels()[0] || {}).name; }
  /** @param {Ref} s @param {string} [label] */
  function acceptOne(s, label) {
    const idx = state.suggestions.findIndex((x) => sameSpan(x, s));
    const next = ops.accept(state, s, label);
    const span = { kind: /** @type {"span"} */ ("span"), start: s.start, end: s.end, label: label || s.label };
    if (verify()) { sel = null; commitVerify(next, idx); } else commit(next, span);
  }
  /** @param {Ref} s */
  function rejectOne(s) {
    const idx = state.suggestions.findIndex((x) => sameSpan(x, s));
    if (verify()) { sel = null; commitVerify(ops.reject(state, s), idx); } else commit(ops.reject(state, s), null);
  }
  /** verify mode: after a decision the next suggestion comes up @param {State} next @param {number} idx */
  function commitVerify(next, idx) {
    history.push(next);
    state = history.state;
    sel = null;
    ensureVerifySelection(Math.max(0, idx));
    sync();
    draw();
    scrollToSelected();
  }
  /** @param {string} name */
  function setLabel(name) {
    if (model.get("current_label") !== name) { model.set("current_label", name); saveChanges(); }
    renderPalette();
  }
  /** a class hotkey (or a palette click): label the selection, relabel the selected span,
   * accept the selected suggestion with this class, or just pick the class @param {string} name */
  function onLabel(name) {
    setLabel(name);
    if (model.get("_done")) return;
    if (anchor !== caret) { createSpan(Math.min(anchor, caret), Math.max(anchor, caret), name); return; }
    if (sel && sel.kind === "span" && exists(sel)) {
      if (sel.label !== name) commit(ops.relabel(state, sel, name), { ...sel, label: name });
      return;
    }
    if (sel && sel.kind === "sugg" && exists(sel)) acceptOne(sel, name);
  }
  /** @param {State | null} restored @param {State} before */
  function afterHistory(restored, before) {
    if (!restored) return;
    state = restored;
    // select what came back (e.g. the suggestion an undo un-accepted)
    const back = state.suggestions.find((x) => !before.suggestions.some((y) => sameSpan(x, y)));
    const backSpan = state.spans.find((x) => !before.spans.some((y) => sameSpan(x, y)));
    if (back && (verify() || !backSpan)) sel = { kind: "sugg", start: back.start, end: back.end, label: back.label };
    else if (backSpan) sel = { kind: "span", start: backSpan.start, end: backSpan.end, label: backSpan.label };
    else if (!exists(sel)) sel = null;
    if (verify()) ensureVerifySelection();
    sync();
    draw();
    scrollToSelected();
  }
  const undo = () => { const before = state; afterHistory(history.undo(), before); };
  const redo = () => { const before = state; afterHistory(history.redo(), before); };

  /** @param {number} dir */
  function cycle(dir) {
    const order = tabOrder(state, verify());
    if (!order.length) return false;
    const i = sel ? order.findIndex((r) => r.kind === /** @type {Ref} */ (sel).kind && sameSpan(r, /** @type {Ref} */ (sel))) : -1;
    sel = order[i < 0 ? (dir > 0 ? 0 : order.length - 1) : (i + dir + order.length) % order.length];
    anchor = caret;
    if (verify()) draw(); else { markSelected(); showKeyboardSelection(); }
    renderVerify();
    scrollToSelected();
    return true;
  }
  function deleteSelected() {
    if (!sel || !exists(sel)) return;
    if (sel.kind === "span") commit(ops.remove(state, sel), null);
    else rejectOne(sel);
  }
  function submit() {
    session.submit({ regions: state.spans.map((s) => ({ type: "span", ...s })),
                     suggestions_accepted: state.accepted || 0, suggestions_rejected: state.rejected || 0 });
  }
  function toggleHelp() {
    if (overlay) { overlay.remove(); overlay = null; root.classList.remove("lnb-help-open"); return; }
    root.classList.add("lnb-help-open");
    const extra = /** @type {[string, string][]} */ (labels().filter((l) => l.hotkey).map((l) => [/** @type {string} */ (l.hotkey), `class ${l.name}`]));
    overlay = helpOverlay(keymap.rows(), [...extra, ["mouse", "select text: a new span; click a span: select it (again: the next one there)"]]);
    root.append(overlay);
  }

  /** @type {Record<string, () => boolean | void>} action -> handler; false: not handled (the key keeps its default) */
  const handlers = {
    left: () => step(-1, false, "char"),
    right: () => step(1, false, "char"),
    select_left: () => step(-1, true, "char"),
    select_right: () => step(1, true, "char"),
    word_left: () => step(-1, false, "word"),
    word_right: () => step(1, false, "word"),
    select_word_left: () => step(-1, true, "word"),
    select_word_right: () => step(1, true, "word"),
    create: () => { if (anchor !== caret) createSpan(Math.min(anchor, caret), Math.max(anchor, caret), currentLabel()); },
    next: () => cycle(1),
    previous: () => cycle(-1),
    delete: deleteSelected,
    accept: () => { if (sel && sel.kind === "sugg" && exists(sel)) acceptOne(sel); },
    reject: () => { if (sel && sel.kind === "sugg" && exists(sel)) rejectOne(sel); },
    accept_all: () => { if (state.suggestions.length) commit(ops.acceptAll(state), null); },
    reject_all: () => { if (state.suggestions.length) commit(ops.rejectAll(state), null); },
    undo, redo,
    help: toggleHelp,
    release: () => {
      if ((sel && !verify()) || anchor !== caret) {
        sel = null; anchor = caret;
        markSelected(); showKeyboardSelection();
      } else {
        root.blur();
      }
    },
    submit: () => { submit(); },
    skip: () => { if (!model.get("_bound")) return false; skip(); },
  };

  /** @param {KeyboardEvent} e */
  function onKey(e) {
    e.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the widget
    session.active();
    if (overlay) {
      if (e.key === "Escape" || e.key === "?") { e.preventDefault(); toggleHelp(); }
      return;
    }
    const action = keymap.actionFor(e);
    if (model.get("_done") && action !== "help" && action !== "release") return;
    // class hotkeys (from the schema) come first, as in every labelnb widget
    const lab = hotkeyLabel(e, labels());
    if (lab) { e.preventDefault(); onLabel(lab.name); return; }
    if (action && handlers[action] && handlers[action]() !== false) e.preventDefault();
  }

  // --- the mouse ---------------------------------------------------------------------
  let dragging = false;
  /** @param {MouseEvent} e */
  function onMouseDown(e) {
    if (e.button !== 0 || model.get("_done")) return;
    dragging = true;
    document.addEventListener("mouseup", onMouseUp, true);
  }
  /** @param {MouseEvent} e */
  function onMouseUp(e) {
    document.removeEventListener("mouseup", onMouseUp, true);
    if (!dragging) return;
    dragging = false;
    session.active();
    const ds = document.getSelection();
    if (!ds || !ds.rangeCount) return;
    const r = ds.getRangeAt(0);
    if (!r.intersectsNode(textEl)) return;
    const u0 = unitAt(r.startContainer, r.startOffset), u1 = unitAt(r.endContainer, r.endOffset);
    if (u1 > u0) { // a selection: a new span with the current class
      const s = map.toCodePoints(u0), t = map.toCodePoints(u1, true);
      ds.removeAllRanges();
      anchor = caret = t;
      if (!createSpan(s, t, currentLabel())) moveCaret(t, false);
      lastClick = null;
      root.focus({ preventScroll: true });
      return;
    }
    // a click: the caret goes there; on a span, select it (again: the next one there)
    const pos = map.toCodePoints(u0);
    anchor = caret = pos;
    const target = e.target instanceof Element ? e.target.closest(".lnb-seg") : null;
    const here = target && textEl.contains(target) ? (segItems.get(target) || []) : [];
    const list = here.slice().sort((a, b) => (a.end - a.start) - (b.end - b.start) || compareSpans(a, b));
    if (list.length) {
      const i = sel ? list.findIndex((x) => x.kind === /** @type {Ref} */ (sel).kind && sameSpan(x, /** @type {Ref} */ (sel))) : -1;
      const same = lastClick && i >= 0;
      const pick = list[same ? (i + 1) % list.length : 0];
      sel = { kind: pick.kind, start: pick.start, end: pick.end, label: pick.label };
    } else {
      sel = verify() ? sel : null;
    }
    lastClick = { start: u0, end: u0, pos };
    if (verify()) draw(); else { markSelected(); showKeyboardSelection(); }
    renderVerify();
    root.focus({ preventScroll: true });
  }

  // --- the palette and actions ---------------------------------------------------------
  function renderPalette() {
    palette.replaceChildren();
    const cur = currentLabel();
    for (const l of labels()) {
      const b = labelButton(l, "lnb-label" + (l.name === cur ? " lnb-active" : ""));
      b.dataset.label = l.name;
      b.addEventListener("mousedown", (e) => e.preventDefault()); // keep the text selection
      b.addEventListener("click", () => { onLabel(l.name); root.focus({ preventScroll: true }); });
      palette.append(b);
    }
  }
  function renderActions() {
    actions.replaceChildren();
    /** @param {string} label @param {() => void} fn @param {string} cls */
    const btn = (label, fn, cls = "") => {
      const b = actionButton(label, fn, root, cls);
      actions.append(b);
      return b;
    };
    btn("Undo", undo, "lnb-undo");
    btn("Redo", redo, "lnb-redo");
    btn("Accept all", () => { handlers.accept_all(); }, "lnb-accept-all");
    btn("Reject all", () => { handlers.reject_all(); }, "lnb-reject-all");
    if (tokens.length) {
      const lab = h("label", "lnb-snap");
      const box = /** @type {HTMLInputElement} */ (h("input", ""));
      box.type = "checkbox";
      box.checked = !!model.get("snap");
      box.addEventListener("change", () => { model.set("snap", box.checked); saveChanges(); root.focus({ preventScroll: true }); });
      lab.append(box, document.createTextNode(" snap to tokens"));
      actions.append(lab);
    }
    btn("?", toggleHelp, "lnb-help-button");
    if (model.get("_bound")) {
      btn("Skip (S)", skip, "lnb-skip");
      btn("Submit (Enter)", submit, "lnb-submit");
    }
  }
  const renderText = () => renderSessionText(model, { root, status, message, done });

  // --- model events --------------------------------------------------------------------
  /** @returns {State} */
  const modelState = () => ops.sorted({ spans: model.get("_spans") || [], suggestions: model.get("_suggestions") || [] });
  function loadItem() {
    const it = item();
    if (it.key === itemKey) return;
    itemKey = it.key;
    root.dataset.ready = "0";
    text = typeof it.text === "string" ? it.text : "";
    map = new OffsetMap(text);
    tokens = (model.get("_tokens") || []).slice();
    gStops = wStops = null;
    looks.reset();
    history.reset(modelState());
    state = history.state;
    sel = null; caret = anchor = 0; lastClick = null;
    session.shown();
    if (verify()) ensureVerifySelection();
    if (overlay) toggleHelp();
    renderActions();
    draw();
    scroller.scrollTop = 0;
    scrollToSelected();
    root.dataset.key = String(it.key || "");
    root.dataset.ready = "1";
  }
  function onState() { // Python set the spans: a new starting point (no undo across it)
    if (syncing) return;
    const incoming = modelState();
    if (sameState(incoming, state)) return;
    history.reset(incoming);
    state = history.state;
    if (!exists(sel)) sel = null;
    if (verify()) ensureVerifySelection();
    draw();
  }
  function onTokens() { tokens = (model.get("_tokens") || []).slice(); wStops = null; renderActions(); }
  function onMode() {
    if (verify()) ensureVerifySelection();
    draw();
  }
  /** @param {any} msg */
  function onMsg(msg) { session.pending.ack(msg); }
  function onFocus() { root.classList.add("lnb-focused"); placeCaret(); }
  function onBlur() { root.classList.remove("lnb-focused"); }

  root.addEventListener("keydown", onKey);
  root.addEventListener("focus", onFocus);
  root.addEventListener("blur", onBlur);
  textEl.addEventListener("mousedown", onMouseDown);
  session.start([["msg:custom", onMsg], ["change:_item", loadItem], ["change:_spans", onState],
    ["change:_suggestions", onState], ["change:_tokens", onTokens], ["change:mode", onMode],
    ["change:_labels", () => { renderPalette(); draw(); }], ["change:current_label", renderPalette],
    ["change:snap", renderActions]], { progress, renderText, renderActions, setKeymap });
  loadItem();

  return () => {
    session.stop();
    document.removeEventListener("mouseup", onMouseUp, true);
    root.remove();
  };
}

export default { render };
