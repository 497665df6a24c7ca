// OffsetMap (lib/utf16.js): the one place in the browser where UTF-16 units and
// Python code points are converted. Expected offsets are worked out by hand from the
// characters' UTF-16 lengths (a code point above U+FFFF is a surrogate pair).
import { test } from "node:test";
import assert from "node:assert/strict";
import { OffsetMap, cpToUnits, unitsToCp } from "../../labelnb/widgets/static/lib/utf16.js";

/** every code point offset -> UTF-16 offset @param {OffsetMap} m */
const table = (m) => Array.from({ length: m.length + 1 }, (_, i) => m.toUnits(i));

test("emoji: a surrogate pair is two units and one code point", () => {
  const m = new OffsetMap("a😀b");
  assert.equal(m.length, 3);
  assert.deepEqual(table(m), [0, 1, 3, 4]);
  assert.equal(m.toCodePoints(0), 0);
  assert.equal(m.toCodePoints(1), 1);
  assert.equal(m.toCodePoints(3), 2);
  assert.equal(m.toCodePoints(4), 3);
  // inside the pair: rounds down, or up on request (the end of a selection)
  assert.equal(m.toCodePoints(2), 1);
  assert.equal(m.toCodePoints(2, true), 2);
  assert.equal(m.toCodePoints(3, true), 2); // on a boundary, up changes nothing
});

test("ZWJ sequence and flag: every code point counted", () => {
  const family = "👩\u200d👩\u200d👧"; // 3 emoji (2 units each) + 2 ZWJ (1 unit each)
  const m = new OffsetMap(`x${family}y`);
  assert.equal(m.length, 7);
  assert.deepEqual(table(m), [0, 1, 3, 4, 6, 7, 9, 10]);
  const flag = new OffsetMap("🇫🇷!");
  assert.deepEqual(table(flag), [0, 2, 4, 5]);
  assert.equal(flag.toCodePoints(4), 2);
});

test("CJK: BMP ideographs are one unit, an extension-B ideograph two", () => {
  const m = new OffsetMap("東京𠮷野家");
  assert.equal(m.length, 5);
  assert.deepEqual(table(m), [0, 1, 2, 4, 5, 6]);
  assert.equal(m.toCodePoints(4), 3);
  assert.equal(m.toCodePoints(3), 2);
});

test("combining marks are code points of their own", () => {
  const m = new OffsetMap("Zoe\u0308 e\u0301");
  assert.equal(m.length, 7);
  assert.deepEqual(table(m), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test("CRLF: the CR is counted, nothing is normalised", () => {
  const text = "one\r\ntwo😀\r\nthree";
  const m = new OffsetMap(text);
  assert.equal(m.length, 16);
  assert.equal(m.toUnits(5), 5); // 't' after "\r\n"
  assert.equal(text.slice(m.toUnits(5), m.toUnits(8)), "two");
  assert.equal(text.slice(m.toUnits(8), m.toUnits(11)), "😀\r\n");
  assert.equal(m.toCodePoints(text.indexOf("three")), 11);
});

test("agrees with code point iteration on mixed text", () => {
  const alphabet = ["a", "é", "e\u0301", "東", "𠮷", "😀", "👩\u200d💻", "🇯🇵", "\r\n", " ", "\n", "\u0301"];
  let seed = 7;
  const rand = (/** @type {number} */ n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (let trial = 0; trial < 200; trial++) {
    let text = "";
    for (let i = rand(25); i > 0; i--) text += alphabet[rand(alphabet.length)];
    const cps = Array.from(text);
    const m = new OffsetMap(text);
    assert.equal(m.length, cps.length);
    for (let i = 0; i <= cps.length; i++) {
      const u = cps.slice(0, i).join("").length;
      assert.equal(m.toUnits(i), u);
      assert.equal(m.toCodePoints(u), i);
      assert.equal(m.toCodePoints(u, true), i);
    }
  }
});

test("out-of-range offsets raise", () => {
  const m = new OffsetMap("a😀");
  assert.throws(() => m.toUnits(3), RangeError);
  assert.throws(() => m.toUnits(-1), RangeError);
  assert.throws(() => m.toUnits(1.5), RangeError);
  assert.throws(() => m.toCodePoints(4), RangeError);
  assert.equal(new OffsetMap("").toUnits(0), 0);
});

test("the one-shot helpers", () => {
  assert.equal(cpToUnits("😀x", 1), 2);
  assert.equal(unitsToCp("😀x", 2), 1);
});
