// node --test tests/js/  — regressions in the widgets' pure helpers: accepted suggestions
// keep their attributes, an auto-fit reply about a box that changed meanwhile, a brush
// stroke that dropped objects it never touched, Enter while the magic wand is busy, and
// the Enter that ends an IME composition.
import { test } from "node:test";
import assert from "node:assert/strict";

import { acceptSuggestions, autofitTarget } from "../../labelnb/widgets/static/box.js";
import { acceptedPolygon, acceptedObject, dropErased, makeWand } from "../../labelnb/widgets/static/polygon.js";
import { isComposing } from "../../labelnb/widgets/static/lib/keymap.js";

test("box: an accepted suggestion keeps its attributes (not its score)", () => {
  const sugg = [{ type: "box", x0: 1, y0: 2, x1: 30, y1: 40, label: "cat", score: 0.8, attributes: { occluded: true } },
    { type: "box", x0: 5, y0: 5, x1: 9, y1: 9, label: "dog", attributes: {} }];
  const next = acceptSuggestions({ boxes: [], accepted: [] }, sugg, [0, 1]);
  assert.ok(next);
  assert.deepEqual(next.boxes[0], { type: "box", x0: 1, y0: 2, x1: 30, y1: 40, label: "cat", attributes: { occluded: true } });
  assert.deepEqual(next.boxes[1], { type: "box", x0: 5, y0: 5, x1: 9, y1: 9, label: "dog" }); // no empty attributes
  next.boxes[0].attributes.occluded = false; // a copy: the suggestion is not edited
  assert.equal(sugg[0].attributes.occluded, true);
});

test("box: an auto-fit reply applies only to the box it was asked for", () => {
  const a = { type: "box", x0: 10, y0: 10, x1: 50, y1: 40, label: "cat" };
  const b = { type: "box", x0: 60, y0: 60, x1: 90, y1: 80, label: "dog" };
  const reply = { type: "autofit", index: 0, from: { x0: 10, y0: 10, x1: 50, y1: 40 }, box: { x0: 12, y0: 11, x1: 48, y1: 39 } };
  assert.equal(autofitTarget([a, b], reply), 0);
  // box 0 was deleted meanwhile: box 1 now has index 0 and must not get the fit
  assert.equal(autofitTarget([b], reply), -1);
  // box 0 was moved (or undone) meanwhile
  assert.equal(autofitTarget([{ ...a, x0: 11 }, b], reply), -1);
  assert.equal(autofitTarget([], reply), -1);
  assert.equal(autofitTarget([a], { ...reply, box: null, note: "no edges" }), -1); // nothing to apply
  assert.equal(autofitTarget([a], { ...reply, from: undefined }), -1);
  assert.equal(autofitTarget([a], { ...reply, index: "0" }), -1);
});

test("polygon / mask: an accepted suggestion keeps its attributes (not its score)", () => {
  const g = { type: "polygon", points: [0, 0, 5, 0, 5, 5], label: "road", score: 0.4, attributes: { lanes: 2 } };
  const p = acceptedPolygon(g);
  assert.deepEqual(p, { type: "polygon", points: [0, 0, 5, 0, 5, 5], label: "road", attributes: { lanes: 2 } });
  p.points[0] = 99;
  assert.equal(g.points[0], 0);
  assert.deepEqual(acceptedPolygon({ type: "polygon", points: [0, 0, 1, 0, 1, 1], label: "x" }),
    { type: "polygon", points: [0, 0, 1, 0, 1, 1], label: "x" });
  const o = acceptedObject({ id: "s7", label: "cell", runs: [3, 2, 4], score: 0.9, attributes: { dividing: false } });
  assert.deepEqual(o, { id: "s7", label: "cell", runs: [3, 2, 4], attributes: { dividing: false } });
  assert.deepEqual(acceptedObject({ id: "s8", label: "cell", runs: [9] }), { id: "s8", label: "cell", runs: [9] });
});

test("mask: a stroke drops only the objects it emptied, never one with no display pixel", () => {
  const objs = [
    { id: "thin", label: "crack", runs: [100] }, // at full size a crack; no display pixel
    { id: "blob", label: "cell", runs: [10, 0] }, // the eraser took its last pixels
    { id: "kept", label: "cell", runs: [5, 3, 2] },
  ];
  // an eraser stroke with nothing selected targets every object
  const after = dropErased(objs, [{ id: "thin", hadPixels: false }, { id: "blob", hadPixels: true }, { id: "kept", hadPixels: true }]);
  assert.deepEqual(after.map((o) => o.id), ["thin", "kept"]);
  // a brush stroke on "kept" leaves the invisible object alone
  assert.deepEqual(dropErased(objs, [{ id: "kept", hadPixels: true }]).map((o) => o.id), ["thin", "blob", "kept"]);
});

/** the shell services the wand uses, recording what it sends */
function fakeShell() {
  const sent = [];
  return {
    sent,
    model: { send: (/** @type {any} */ m) => sent.push(m) },
    item: () => ({ key: "i1" }),
    root: { dataset: /** @type {Record<string, string>} */ ({}) },
    info: { textContent: "", style: { display: "" } },
    message: { textContent: "" },
    draw() {},
    pxRatio: () => 1,
  };
}

test("wand: Enter while it segments is held, and a candidate of older prompts is never accepted", () => {
  const s = fakeShell();
  const wand = makeWand(s, { parse: (/** @type {any} */ msg) => msg.polygons.map((/** @type {number[]} */ p) => ({ points: p })), drawCandidate() {} });
  wand.setOn(true);
  assert.equal(wand.holdEnter(), false); // idle: Enter is the tool's
  wand.down({ shiftKey: false, button: 0 }, [10, 10]);
  wand.up([10, 10]); // a click: a positive point, sent to Python
  assert.equal(s.sent.length, 1);
  assert.equal(wand.busy(), true);
  assert.equal(wand.holdEnter(), true); // no reply yet: Enter neither submits nor accepts
  assert.match(s.message.textContent, /segmenting/);
  wand.onMsg({ type: "wand", key: "i1", seq: s.sent[0].seq, polygons: [[0, 0, 5, 0, 5, 5]], scores: [0.9] }, []);
  assert.equal(wand.busy(), false);
  assert.equal(wand.holdEnter(), false);
  assert.deepEqual(wand.current()?.c.points, [0, 0, 5, 0, 5, 5]);
  // a second point: the first prompts' candidate is no answer to the new ones
  wand.down({ shiftKey: true, button: 0 }, [3, 3]);
  wand.up([3, 3]);
  assert.equal(wand.current(), null);
  assert.equal(wand.hasCandidates(), false);
  assert.equal(wand.holdEnter(), true);
  // the stale reply to the first request changes nothing
  wand.onMsg({ type: "wand", key: "i1", seq: s.sent[0].seq, polygons: [[1, 1, 2, 1, 2, 2]], scores: [0.5] }, []);
  assert.equal(wand.current(), null);
  wand.release(); // Escape clears the prompts: Enter is the tool's again
  assert.equal(wand.holdEnter(), false);
});

test("keys: the Enter that ends an IME composition is the IME's", () => {
  assert.equal(isComposing({ key: "Enter", isComposing: true, keyCode: 13 }), true);
  assert.equal(isComposing({ key: "Process", keyCode: 229 }), true); // Safari
  assert.equal(isComposing({ key: "Enter", isComposing: false, keyCode: 13 }), false);
  assert.equal(isComposing({ key: "Enter" }), false);
});
