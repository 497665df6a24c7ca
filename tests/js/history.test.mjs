// node --test tests/js/  (run by tests/widgets/test_js.py)
import { test } from "node:test";
import assert from "node:assert/strict";
import { History } from "../../labelnb/widgets/static/lib/history.js";

test("undo and redo walk the whole history", () => {
  const h = new History([]);
  h.push([1]); h.push([1, 2]); h.push([1, 2, 3]);
  assert.deepEqual(h.undo(), [1, 2]);
  assert.deepEqual(h.undo(), [1]);
  assert.deepEqual(h.redo(), [1, 2]);
  assert.deepEqual(h.state, [1, 2]);
  assert.equal(h.canRedo, true);
});

test("a new step after undo drops the redo branch", () => {
  const h = new History({ n: 0 });
  h.push({ n: 1 }); h.push({ n: 2 });
  h.undo();
  h.push({ n: 9 });
  assert.equal(h.canRedo, false);
  assert.equal(h.redo(), null);
  assert.deepEqual(h.undo(), { n: 1 });
  assert.deepEqual(h.undo(), { n: 0 });
  assert.equal(h.undo(), null);
});

test("states are copies: mutating what you pushed or got back changes nothing", () => {
  const boxes = [{ x0: 1 }];
  const h = new History([]);
  h.push(boxes);
  boxes[0].x0 = 99;
  const got = h.state;
  assert.equal(got[0].x0, 1);
  got[0].x0 = 42;
  assert.equal(h.state[0].x0, 1);
});

test("the limit keeps the newest steps", () => {
  const h = new History(0, 3);
  for (let i = 1; i <= 10; i++) h.push(i);
  const seen = [];
  let s;
  while ((s = h.undo()) !== null) seen.push(s);
  assert.deepEqual(seen, [9, 8, 7]);
});

test("reset forgets the history", () => {
  const h = new History(1);
  h.push(2);
  h.reset(5);
  assert.equal(h.canUndo, false);
  assert.equal(h.state, 5);
});
