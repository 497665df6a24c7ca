import { test } from "node:test";
import assert from "node:assert/strict";
import { Keymap, eventBinding, normalizeBinding, keymapOr, hotkeyLabel } from "../../labelnb/widgets/static/lib/keymap.js";

const ACTIONS = {
  undo: { keys: "Ctrl+Z", help: "undo" },
  redo: { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], help: "redo" },
  help: { keys: "?", help: "help" },
  delete: { keys: ["Delete", "Backspace"], help: "delete" },
  skip: { keys: "s", help: "skip" },
  pan: { keys: "Space", help: "pan" },
};
const ev = (key, mods = {}) => ({ key, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...mods });

test("bindings are normalised whatever their spelling", () => {
  assert.equal(normalizeBinding("ctrl+shift+z"), "Ctrl+Shift+z");
  assert.equal(normalizeBinding("Shift+Ctrl+Z"), "Ctrl+Shift+z");
  assert.equal(normalizeBinding("cmd+y"), "Ctrl+y");
  assert.equal(normalizeBinding("Esc"), "Escape");
  assert.equal(normalizeBinding("Ctrl++"), "Ctrl++");
  assert.equal(normalizeBinding("Shift+?"), "?"); // "?" already implies Shift
  assert.equal(normalizeBinding("space"), " ");
});

test("events map to actions; Cmd is Ctrl; the shifted letter is the same key", () => {
  const km = new Keymap(ACTIONS);
  assert.equal(km.actionFor(ev("z", { ctrlKey: true })), "undo");
  assert.equal(km.actionFor(ev("z", { metaKey: true })), "undo");
  assert.equal(km.actionFor(ev("Z", { ctrlKey: true, shiftKey: true })), "redo");
  assert.equal(km.actionFor(ev("y", { ctrlKey: true })), "redo");
  assert.equal(km.actionFor(ev("?", { shiftKey: true })), "help");
  assert.equal(km.actionFor(ev("Backspace")), "delete");
  assert.equal(km.actionFor(ev(" ")), "pan");
  assert.equal(km.actionFor(ev("s")), "skip");
  assert.equal(km.actionFor(ev("S", { shiftKey: true })), null); // Shift+S is not s
  assert.equal(km.actionFor(ev("z")), null);
  assert.equal(eventBinding(ev("A", { shiftKey: true, altKey: true })), "Alt+Shift+a");
});

test("overrides replace an action's keys; an empty list unbinds it", () => {
  const km = new Keymap(ACTIONS, { skip: "k", undo: ["Ctrl+U", "u"], help: [] });
  assert.equal(km.actionFor(ev("k")), "skip");
  assert.equal(km.actionFor(ev("s")), null);
  assert.equal(km.actionFor(ev("u")), "undo");
  assert.equal(km.actionFor(ev("z", { ctrlKey: true })), null);
  assert.equal(km.actionFor(ev("?")), null);
  assert.ok(!km.rows().some(([, text]) => text === "help"));
});

test("an unknown action in the overrides is an error naming the known ones", () => {
  assert.throws(() => new Keymap(ACTIONS, { nope: "x" }), /unknown action "nope"; known: undo, redo/);
});

test("help rows show every bound action with its keys", () => {
  const rows = new Keymap(ACTIONS).rows();
  assert.deepEqual(rows.find(([, t]) => t === "redo"), ["Ctrl+Shift+z / Ctrl+y", "redo"]);
  assert.deepEqual(rows.find(([, t]) => t === "pan"), ["Space", "pan"]);
});

test("keymapOr: Python's overrides, or the keymap in use and the reason when they do not parse", () => {
  const before = new Keymap(ACTIONS);
  /** @type {string[]} */ const why = [];
  const next = keymapOr(before, ACTIONS, { skip: "k" }, (w) => why.push(w));
  assert.notEqual(next, before);
  assert.equal(next.actionFor(ev("k")), "skip");
  assert.deepEqual(why, []);
  assert.equal(keymapOr(before, ACTIONS, { skip: "Ctrl+Shift" }, (w) => why.push(w)), before);
  assert.equal(keymapOr(before, ACTIONS, { nope: "x" }, (w) => why.push(w)), before);
  assert.equal(why.length, 2);
  assert.match(why[0], /^keymap: binding "Ctrl\+Shift" has no key$/); // the message, no "Error: "
  assert.match(why[1], /unknown action "nope"/);
});

test("hotkeyLabel: a plain key is a class's hotkey; with Ctrl, Cmd or Alt it is not", () => {
  const labels = [{ name: "cat", hotkey: "1" }, { name: "dog", hotkey: "2" }, { name: "bird", hotkey: null }];
  assert.equal(hotkeyLabel(ev("2"), labels), labels[1]);
  assert.equal(hotkeyLabel(ev("2", { shiftKey: true }), labels), labels[1]);
  assert.equal(hotkeyLabel(ev("3"), labels), undefined);
  for (const mod of ["ctrlKey", "metaKey", "altKey"]) assert.equal(hotkeyLabel(ev("1", { [mod]: true }), labels), undefined);
});
