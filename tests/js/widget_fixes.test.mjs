// node --test tests/js/  — regressions in the widgets' pure helpers: accepted box
// suggestions in the undo history, the smallest box a drag makes, a span widget's style
// scope, 3-digit colours, and keymaps that give one key two jobs.
import { test } from "node:test";
import assert from "node:assert/strict";

import { History } from "../../labelnb/widgets/static/lib/history.js";
import { Keymap, keymapOr } from "../../labelnb/widgets/static/lib/keymap.js";
import { ACTIONS as BOX_ACTIONS, acceptSuggestions, openSuggestions, minBoxSize } from "../../labelnb/widgets/static/box.js";
import { rgb } from "../../labelnb/widgets/static/polygon.js";

const SUGG = [
  { type: "box", x0: 10, y0: 10, x1: 50, y1: 40, label: "cat", score: 0.9 },
  { type: "box", x0: 60, y0: 60, x1: 90, y1: 80, label: "dog", score: 0.4 },
];

test("box: undo after accepting a suggestion gives the suggestion back", () => {
  const start = { boxes: [], accepted: [] };
  const history = new History(start);
  const one = acceptSuggestions(start, SUGG, [0]);
  assert.ok(one);
  assert.deepEqual(one.boxes, [{ type: "box", x0: 10, y0: 10, x1: 50, y1: 40, label: "cat" }]); // no score: a human box now
  assert.deepEqual(openSuggestions(SUGG, one.accepted).map(([, i]) => i), [1]);
  history.push(one);
  const all = acceptSuggestions(one, SUGG, [0, 1]); // "y": only the one still open is added
  assert.ok(all);
  assert.equal(all.boxes.length, 2);
  assert.deepEqual(openSuggestions(SUGG, all.accepted), []);
  history.push(all);
  const back = history.undo();
  assert.ok(back);
  assert.deepEqual(openSuggestions(SUGG, back.accepted).map(([, i]) => i), [1]);
  const first = history.undo();
  assert.ok(first);
  assert.deepEqual(first.boxes, []);
  assert.deepEqual(openSuggestions(SUGG, first.accepted).map(([s]) => s.label), ["cat", "dog"]);
  assert.deepEqual(SUGG.length, 2); // the suggestions themselves were never edited
  assert.equal(acceptSuggestions(all, SUGG, [0, 1]), null); // nothing left to accept
  assert.equal(acceptSuggestions(start, SUGG, [7]), null);
});

test("box: the smallest box is two screen pixels at the current zoom, and one original pixel", () => {
  // an 8000 px wide image shown 960 wide: 0.12 display px per original pixel
  const orig = 960 / 8000;
  assert.equal(minBoxSize(1, orig), 2); // not zoomed: a drag under 2 screen px is a click
  assert.equal(minBoxSize(1 / 8, orig), 0.25); // zoomed 8x: a small object can be boxed
  assert.equal(minBoxSize(1 / 64, orig), orig); // never under one original pixel
  assert.equal(minBoxSize(1 / 64, 1), 1);
});

test("span: two widgets of one page get different style scopes (the module is imported per widget)", async () => {
  const made = [];
  globalThis.document = /** @type {any} */ ({ createElement: () => ({ textContent: "" }) });
  try {
    for (const copy of ["a", "b"]) {
      // anywidget imports the widget's module afresh for every model: so does this
      const mod = await import(`../../labelnb/widgets/static/span.js?copy=${copy}`);
      const classes = [];
      const root = { classList: { add: (/** @type {string} */ c) => classes.push(c) }, append() {} };
      mod.makeLooks(root);
      made.push(classes[0]);
    }
  } finally {
    delete (/** @type {any} */ (globalThis)).document;
  }
  assert.equal(made.length, 2);
  assert.match(made[0], /^lnb-s-[\w-]+$/);
  assert.notEqual(made[0], made[1]);
});

test("polygon: 3-digit colours (which the schema allows) are their 6-digit selves", () => {
  assert.deepEqual(rgb("#f00"), [255, 0, 0]);
  assert.deepEqual(rgb("#0A8"), [0, 170, 136]);
  assert.deepEqual(rgb("#1f77b4"), [31, 119, 180]);
  assert.deepEqual(rgb("#12"), [225, 87, 89]); // not a colour: the unknown-class red
  assert.deepEqual(rgb(""), [225, 87, 89]);
});

test("keymap: an override that gives one key two jobs is refused, naming both actions", () => {
  assert.throws(() => new Keymap(BOX_ACTIONS, { submit: "s" }),
    /keymap: "s" is bound to both "submit" and "skip"/);
  assert.throws(() => new Keymap(BOX_ACTIONS, { skip: "Enter" }),
    /"Enter" is bound to both "submit" and "skip"/);
  const moved = new Keymap(BOX_ACTIONS, { submit: "s", skip: "Shift+S" });
  assert.equal(moved.actionFor({ key: "s" }), "submit");
  assert.equal(moved.actionFor({ key: "S", shiftKey: true }), "skip");
  /** @type {string[]} */ const said = [];
  const fallback = new Keymap(BOX_ACTIONS, {});
  assert.equal(keymapOr(fallback, BOX_ACTIONS, { delete: "Tab" }, (why) => said.push(why)), fallback);
  assert.match(said[0], /"Tab" is bound to both "delete" and "next_box"/);
});
