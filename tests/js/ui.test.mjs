// node --test tests/js/  — the widgets' DOM-free plumbing (lib/ui.js) with a fake model.
import { test } from "node:test";
import assert from "node:assert/strict";

import { canvasPoint, classesOf, listen, makeSession } from "../../labelnb/widgets/static/lib/ui.js";

/** a stand-in for anywidget's model: traits, events, and the messages sent @param {Record<string, any>} traits */
function fakeModel(traits) {
  /** @type {Map<string, Function[]>} */ const on = new Map();
  /** @type {any[][]} */ const sent = [];
  return {
    sent, on,
    get: (/** @type {string} */ k) => traits[k],
    send: (/** @type {any[]} */ ...a) => { sent.push(a); },
    save_changes() {},
    on(/** @type {string} */ ev, /** @type {Function} */ fn) { on.set(ev, [...(on.get(ev) || []), fn]); },
    off(/** @type {string} */ ev, /** @type {Function} */ fn) { on.set(ev, (on.get(ev) || []).filter((f) => f !== fn)); },
    fire(/** @type {string} */ ev) { for (const fn of on.get(ev) || []) fn(); },
  };
}

test("canvasPoint: CSS pixels of a scaled canvas element as canvas pixels", () => {
  const canvas = /** @type {any} */ ({ width: 800, height: 600,
    getBoundingClientRect: () => ({ left: 10, top: 20, width: 400, height: 300 }) });
  assert.deepEqual(canvasPoint(canvas, { clientX: 110, clientY: 170 }), [200, 300]);
});

test("classesOf: the classes, and a class's colour (red when the name is unknown)", () => {
  const { labels, colorOf } = classesOf(fakeModel({ _labels: [{ name: "cat", color: "#00ff00", hotkey: "1" }] }));
  assert.equal(labels().length, 1);
  assert.equal(colorOf("cat"), "#00ff00");
  assert.equal(colorOf("dog"), "#e15759");
  assert.deepEqual(classesOf(fakeModel({})).labels(), []);
});

test("listen: handlers are called until the returned function stops them, in order per event", () => {
  const model = fakeModel({});
  /** @type {string[]} */ const calls = [];
  const off = listen(model, [["change:a", () => calls.push("a1")], ["change:b", () => calls.push("b")],
    ["change:a", () => calls.push("a2")]]);
  model.fire("change:a");
  model.fire("change:b");
  off();
  model.fire("change:a");
  assert.deepEqual(calls, ["a1", "a2", "b"]);
});

test("makeSession: a bound submit and skip name the shown item; standalone, or once done, nothing goes", () => {
  const traits = { _bound: true, _done: false, _item: { key: "i7" }, _heartbeat_s: 0 };
  const model = fakeModel(traits);
  const root = /** @type {any} */ ({ dataset: {} });
  const message = /** @type {any} */ ({ textContent: "" });
  const session = makeSession(model, root, message);
  /** @type {string[]} */ const calls = [];
  session.start([["change:x", () => calls.push("x")]], { progress: { update: () => calls.push("progress") },
    renderText: () => calls.push("text"), renderActions: () => calls.push("actions"),
    setKeymap: () => calls.push("keymap") });
  assert.deepEqual(calls, ["keymap", "actions", "text"]); // drawn once
  model.fire("change:_bound");
  assert.deepEqual(calls.slice(3), ["actions", "progress"]);
  try {
    session.shown();
    session.submit({ regions: [1] }, [new ArrayBuffer(4)]);
    const [msg, callbacks, buffers] = model.sent[0];
    assert.equal(msg.type, "submit");
    assert.equal(msg.key, "i7");
    assert.deepEqual(msg.regions, [1]);
    assert.equal(typeof msg.client_id, "string");
    assert.ok(msg.duration_s >= 0);
    assert.equal(callbacks, undefined);
    assert.equal(buffers.length, 1);
    assert.equal(message.textContent, "saving…");
    assert.ok(session.pending.ack({ type: "ack", client_id: msg.client_id }));
    assert.equal(message.textContent, "");
    session.skip();
    assert.deepEqual(model.sent[1][0], { type: "skip", key: "i7" });
    traits._done = true;
    session.submit({ regions: [] });
    session.skip();
    traits._done = false; traits._bound = false;
    session.submit({ regions: [] });
    session.skip();
    assert.equal(model.sent.length, 2);
  } finally {
    session.stop();
  }
  model.fire("change:x"); // stop() also stops listening
  assert.equal(calls.filter((c) => c === "x").length, 0);
});
