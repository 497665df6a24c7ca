// The SpanAnnotator's pure helpers (static/span.js): stacking levels, segments,
// token snapping, trimming, caret stops and the undoable state transitions. Offsets
// are Python code points throughout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OffsetMap } from "../../labelnb/widgets/static/lib/utf16.js";
import {
  ACTIONS, assignLevels, segmentize, snapToTokens, trimSpace, graphemeStops, wordStops, nextStop,
  ops, tabOrder, tint, compareSpans, sameState,
} from "../../labelnb/widgets/static/span.js";

/** @param {number} start @param {number} end @param {string} [label] */
const sp = (start, end, label = "A") => ({ start, end, label });

test("nested spans stack: the outer one on level 0, the inner one below it", () => {
  const items = [sp(4, 6, "IN"), sp(0, 10, "OUT")];
  assert.deepEqual(assignLevels(items), [1, 0]);
});

test("crossing spans never share a level; disjoint and touching ones do", () => {
  const items = [sp(0, 5), sp(3, 8), sp(5, 9), sp(9, 12), sp(20, 22)];
  const lv = assignLevels(items);
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const overlap = items[i].start < items[j].end && items[j].start < items[i].end;
      if (overlap) assert.notEqual(lv[i], lv[j], `${i} and ${j} overlap`);
    }
  }
  assert.equal(lv[0], 0);
  assert.equal(lv[2], 0); // [5, 9) touches [0, 5) without overlapping
  assert.equal(lv[3], 0);
  assert.equal(Math.max(...lv), 1); // the deepest overlap is 2, so 2 levels suffice
});

test("levels are as few as the deepest overlap (random intervals)", () => {
  let seed = 3;
  const rand = (/** @type {number} */ n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (let trial = 0; trial < 100; trial++) {
    const items = Array.from({ length: 1 + rand(30) }, () => { const s = rand(50); return sp(s, s + 1 + rand(10)); });
    const lv = assignLevels(items);
    let deepest = 0;
    for (let x = 0; x < 61; x++) deepest = Math.max(deepest, items.filter((it) => it.start <= x && x < it.end).length);
    assert.equal(Math.max(...lv) + 1, deepest);
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++) {
        if (items[i].start < items[j].end && items[j].start < items[i].end) assert.notEqual(lv[i], lv[j]);
      }
    }
  }
});

test("segments tile the text and list their covering spans", () => {
  const items = [sp(2, 6), sp(4, 9), sp(4, 6)];
  const segs = segmentize(12, items);
  assert.deepEqual(segs.map((s) => [s.start, s.end]), [[0, 2], [2, 4], [4, 6], [6, 9], [9, 12]]);
  assert.deepEqual(segs.map((s) => s.cover.slice().sort()), [[], [0], [0, 1, 2], [1], []]);
  assert.deepEqual(segmentize(0, []), []);
  assert.deepEqual(segmentize(5, []).map((s) => [s.start, s.end, s.cover.length]), [[0, 5, 0]]);
});

test("snapping widens a selection to whole tokens and drops the space around it", () => {
  // "Ada  Lovelace, 🙂 x" -> tokens Ada [0,3) Lovelace [5,13) , [13,14) 🙂 [15,16) x [17,18)
  const tokens = [0, 3, 5, 13, 13, 14, 15, 16, 17, 18];
  assert.deepEqual(snapToTokens(1, 2, tokens), [0, 3]);
  assert.deepEqual(snapToTokens(2, 7, tokens), [0, 13]);
  assert.deepEqual(snapToTokens(6, 13, tokens), [5, 13]); // the comma is not touched
  assert.deepEqual(snapToTokens(6, 14, tokens), [5, 14]);
  assert.deepEqual(snapToTokens(15, 16, tokens), [15, 16]);
  assert.deepEqual(snapToTokens(4, 9, tokens), [5, 13]); // the space before "Lovelace" falls away
  assert.deepEqual(snapToTokens(12, 15, tokens), [5, 14]); // "e, ": the space falls away
  assert.deepEqual(snapToTokens(12, 16, tokens), [5, 16]); // "e, " and the emoji
  assert.equal(snapToTokens(3, 5, tokens), null); // only the spaces between tokens
  assert.equal(snapToTokens(18, 18, tokens), null);
  assert.equal(snapToTokens(0, 1, []), null);
});

test("trimming drops white space, CRLF included, in code points", () => {
  const text = " 😀 Zürich\r\n";
  const m = new OffsetMap(text);
  assert.deepEqual(trimSpace(m, 0, m.length), [1, 9]);
  assert.equal([...text].slice(1, 9).join(""), "😀 Zürich");
  assert.equal(trimSpace(m, 9, 11), null);
  assert.equal(trimSpace(new OffsetMap("\u00a0a\u00a0"), 0, 3)?.join(), "1,2"); // NBSP is space
});

test("the caret stops on grapheme boundaries: accents, emoji sequences, flags, CRLF", () => {
  const text = "e\u0301👩\u200d💻🇫🇷\r\nx";
  const stops = graphemeStops(new OffsetMap(text));
  // e+acute = 2 code points, woman+ZWJ+laptop = 3, the flag = 2, CR LF = 1 grapheme of 2
  assert.deepEqual(stops, [0, 2, 5, 7, 9, 10]);
  assert.equal(nextStop(stops, 2, 1), 5);
  assert.equal(nextStop(stops, 2, -1), 0);
  assert.equal(nextStop(stops, 10, 1), 10);
  assert.equal(nextStop(stops, 0, -1), 0);
  assert.equal(nextStop(stops, 3, -1), 2); // from inside a grapheme (a mouse caret)
});

test("Ctrl+arrow stops: the tokens from Python, else runs of non-space", () => {
  const m = new OffsetMap("😀 ab  c");
  assert.deepEqual(wordStops(m, []), [0, 1, 2, 4, 6, 7]);
  assert.deepEqual(wordStops(m, [2, 3, 3, 4]), [0, 2, 3, 4, 7]);
});

test("state transitions: add once, relabel, remove, accept and reject suggestions", () => {
  let s = { spans: [], suggestions: [{ ...sp(5, 9, "LOC"), score: 0.8 }, sp(0, 3, "PER")] };
  s = ops.add(s, sp(10, 12, "PER"));
  assert.equal(ops.add(s, sp(10, 12, "PER")).spans.length, 1); // no duplicates
  assert.equal(ops.add(s, sp(10, 12, "LOC")).spans.length, 2); // same offsets, other label
  s = ops.relabel(s, sp(10, 12, "PER"), "ORG");
  assert.deepEqual(s.spans, [sp(10, 12, "ORG")]);
  s = ops.accept(s, sp(5, 9, "LOC")); // as a human span: the score is gone
  assert.deepEqual(s.spans, [sp(5, 9, "LOC"), sp(10, 12, "ORG")]);
  assert.deepEqual(s.suggestions, [sp(0, 3, "PER")]);
  const relabelled = ops.accept(s, sp(0, 3, "PER"), "ORG");
  assert.deepEqual(relabelled.spans[0], sp(0, 3, "ORG"));
  assert.equal(relabelled.accepted, 2);
  const rejected = ops.reject(s, sp(0, 3, "PER"));
  assert.deepEqual(rejected.suggestions, []);
  assert.equal(rejected.rejected, 1);
  assert.equal(rejected.spans.length, 2);
  s = ops.remove(s, sp(5, 9, "LOC"));
  assert.deepEqual(s.spans, [sp(10, 12, "ORG")]);
  assert.ok(sameState(ops.accept(s, sp(99, 100)), s)); // accepting what is not there: no change
});

test("accept all and reject all", () => {
  const s = { spans: [sp(0, 2)], suggestions: [sp(0, 2), sp(3, 4, "B"), sp(1, 5, "C")] };
  const all = ops.acceptAll(s);
  assert.deepEqual(all.spans, [sp(0, 2), sp(1, 5, "C"), sp(3, 4, "B")]);
  assert.deepEqual(all.suggestions, []);
  assert.equal(all.accepted, 3);
  const none = ops.rejectAll(s);
  assert.deepEqual(none.spans, [sp(0, 2)]);
  assert.equal(none.rejected, 3);
  assert.deepEqual(s.suggestions.length, 3); // the input state is not mutated
});

test("Tab order: document order, spans before suggestions at the same place", () => {
  const s = { spans: [sp(5, 6), sp(0, 9)], suggestions: [sp(0, 9), sp(2, 3)] };
  assert.deepEqual(tabOrder(s, false).map((r) => `${r.kind}${r.start}`), ["span0", "sugg0", "sugg2", "span5"]);
  assert.deepEqual(tabOrder(s, true).map((r) => `${r.kind}${r.start}`), ["sugg0", "sugg2"]);
});

test("document order puts the outer span first", () => {
  assert.deepEqual([sp(3, 4), sp(0, 2), sp(0, 9)].sort(compareSpans), [sp(0, 9), sp(0, 2), sp(3, 4)]);
});

test("colours: hex to rgba, anything else grey", () => {
  assert.equal(tint("#4e79a7", 0.5), "rgba(78, 121, 167, 0.5)");
  assert.equal(tint("#fff", 1), "rgba(255, 255, 255, 1)");
  assert.equal(tint("red;}", 1), "rgba(128, 128, 128, 1)");
});

test("the keymap's defaults are valid bindings", async () => {
  const { Keymap } = await import("../../labelnb/widgets/static/lib/keymap.js");
  const km = new Keymap(ACTIONS);
  assert.equal(km.actionFor({ key: " " }), "create");
  assert.equal(km.actionFor({ key: "A", shiftKey: true }), "accept_all");
  assert.equal(km.actionFor({ key: "a" }), "accept");
  assert.equal(km.actionFor({ key: "Z", ctrlKey: true, shiftKey: true }), "redo");
  assert.equal(km.actionFor({ key: "ArrowRight", ctrlKey: true, shiftKey: true }), "select_word_right");
  assert.equal(km.actionFor({ key: "Tab", shiftKey: true }), "previous");
});
