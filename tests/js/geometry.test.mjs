// node --test tests/js/  — the pure geometry of the widgets (display pixels).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  clamp, snap, normalizeBox, distToSegment, nearestEdge, nearestVertex, pointInPolygon, polygonArea,
  splitEdge, clampView, zoomView, viewToImage, imageFilter, toPoints, toFlat, removeVertex,
  translatePolygon, hitPolygons, encodeRuns, decodeRuns, runsArea, paintSegment, fillPolygon,
  bitmapAt, bitmapBounds,
} from "../../labelnb/widgets/static/lib/geometry.js";

/** @type {[number, number][]} */
const SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10]];

test("clamp, snap and normalizeBox", () => {
  assert.equal(clamp(5, 0, 3), 3);
  assert.equal(clamp(-1, 0, 3), 0);
  assert.equal(snap(7.4, 2), 8);
  assert.equal(snap(7.4, 0), 7.4);
  assert.deepEqual(normalizeBox({ x0: 5, y0: 9, x1: 1, y1: 2, label: "a" }),
    { x0: 1, y0: 2, x1: 5, y1: 9, label: "a" });
});

test("distance to a segment, and its parameter", () => {
  assert.deepEqual(distToSegment([5, 3], [0, 0], [10, 0]), { dist: 3, t: 0.5 });
  assert.equal(distToSegment([-4, 3], [0, 0], [10, 0]).dist, 5); // beyond an end: to the end point
  assert.equal(distToSegment([1, 1], [2, 2], [2, 2]).dist, Math.SQRT2); // a degenerate segment
});

test("nearest edge of a closed polygon, including the closing edge", () => {
  assert.deepEqual(nearestEdge([5, -1], SQUARE), { index: 0, dist: 1, t: 0.5 });
  const closing = nearestEdge([-2, 4], SQUARE); // edge 3 runs from (0, 10) back to (0, 0)
  assert.equal(closing.index, 3);
  assert.equal(closing.dist, 2);
  assert.equal(nearestEdge([1, 1], []).index, -1);
});

test("nearest vertex within a tolerance, the closest one winning", () => {
  assert.equal(nearestVertex([9, 1], SQUARE, 2), 1);
  assert.equal(nearestVertex([5, 5], SQUARE, 2), -1);
  assert.equal(nearestVertex([0.4, 0], [[0, 0], [1, 0]], 1), 0);
  assert.equal(nearestVertex([0.6, 0], [[0, 0], [1, 0]], 1), 1);
});

test("point in polygon (even-odd), with a concave polygon", () => {
  assert.ok(pointInPolygon([5, 5], SQUARE));
  assert.ok(!pointInPolygon([15, 5], SQUARE));
  /** @type {[number, number][]} */
  const ell = [[0, 0], [10, 0], [10, 4], [4, 4], [4, 10], [0, 10]];
  assert.ok(pointInPolygon([2, 8], ell));
  assert.ok(!pointInPolygon([8, 8], ell)); // in the notch
});

test("polygon area (shoelace), either winding", () => {
  assert.equal(polygonArea(SQUARE), 100);
  assert.equal(polygonArea([...SQUARE].reverse()), 100);
  assert.equal(polygonArea([[0, 0], [4, 0], [0, 3]]), 6);
});

test("edge split inserts after the edge's first vertex and leaves the input alone", () => {
  const out = splitEdge(SQUARE, 1, [10, 5]);
  assert.deepEqual(out, [[0, 0], [10, 0], [10, 5], [10, 10], [0, 10]]);
  assert.equal(SQUARE.length, 4);
  assert.deepEqual(splitEdge(SQUARE, 3, [0, 5]).at(-1), [0, 5]); // the closing edge: appended
  assert.equal(polygonArea(splitEdge(SQUARE, 0, [5, 0])), 100); // a point on the edge: same shape
});

test("the zoom/pan view keeps the point under the cursor and stays inside the image", () => {
  const v = zoomView({ z: 1, ox: 0, oy: 0 }, 2, 40, 30, 100, 80);
  assert.deepEqual(v, { z: 2, ox: 20, oy: 15 });
  assert.deepEqual(viewToImage(v, 40, 30), [40, 30]); // the same image point under the cursor
  assert.deepEqual(zoomView(v, 0.1, 0, 0, 100, 80), { z: 1, ox: 0, oy: 0 }); // never below 1
  assert.deepEqual(clampView({ z: 4, ox: 90, oy: -5 }, 100, 80), { z: 4, ox: 75, oy: 0 });
  assert.equal(clampView({ z: 100, ox: 0, oy: 0 }, 100, 80).z, 40);
});

test("brightness/contrast filter", () => {
  assert.equal(imageFilter(100, 100), "none");
  assert.equal(imageFilter(150, 80), "brightness(150%) contrast(80%)");
  assert.equal(imageFilter(1000, 1), "brightness(400%) contrast(10%)");
});

test("flat lists and vertex lists round-trip", () => {
  assert.deepEqual(toPoints([1, 2, 3, 4, 5, 6]), [[1, 2], [3, 4], [5, 6]]);
  assert.deepEqual(toFlat(toPoints([1, 2, 3, 4, 5, 6])), [1, 2, 3, 4, 5, 6]);
});

test("removing a vertex keeps a triangle a triangle", () => {
  assert.deepEqual(removeVertex(SQUARE, 2), [[0, 0], [10, 0], [0, 10]]);
  assert.deepEqual(removeVertex(removeVertex(SQUARE, 2), 0), [[0, 0], [10, 0], [0, 10]]);
  assert.deepEqual(removeVertex(SQUARE, 9), SQUARE);
});

test("moving a polygon is clamped to the image", () => {
  assert.deepEqual(translatePolygon(SQUARE, 5, 5, 100, 100)[0], [5, 5]);
  const moved = translatePolygon(SQUARE, 95, -3, 100, 100);
  assert.deepEqual(moved[2], [100, 10]); // right edge at the border, not past it
  assert.deepEqual(moved[0], [90, 0]);
});

test("hit-testing polygons: vertex, then edge, then inside; the selected one first", () => {
  /** @type {[number, number][][]} */
  const polys = [SQUARE, [[5, 5], [20, 5], [20, 20], [5, 20]]];
  assert.deepEqual(hitPolygons([10.5, 0.5], polys, 1), { kind: "vertex", poly: 0, index: 1 });
  assert.deepEqual(hitPolygons([12, 5.5], polys, 1), { kind: "edge", poly: 1, index: 0 });
  // the overlap: the top polygon (last drawn) wins, unless another is selected
  assert.deepEqual(hitPolygons([7, 7], polys, 1), { kind: "inside", poly: 1, index: -1 });
  assert.deepEqual(hitPolygons([7, 7], polys, 1, 0), { kind: "inside", poly: 0, index: -1 });
  assert.deepEqual(hitPolygons([50, 50], polys, 1).kind, "none");
});

test("run lengths: background first, round trip, area", () => {
  const bm = Uint8Array.from([1, 1, 0, 0, 0, 1]);
  assert.deepEqual(encodeRuns(bm), [0, 2, 3, 1]);
  assert.deepEqual(encodeRuns(new Uint8Array(4)), [4]);
  assert.deepEqual(Array.from(decodeRuns([0, 2, 3, 1], 6)), Array.from(bm));
  assert.equal(runsArea([0, 2, 3, 1]), 3);
  assert.throws(() => decodeRuns([2, 2], 6), /cover 4 pixels, not 6/);
  assert.throws(() => decodeRuns([5, 5], 6), /more than 6/);
});

test("the brush paints pixels whose centres lie within the radius; the eraser clears them", () => {
  const w = 40, h = 30, bm = new Uint8Array(w * h);
  const rect = paintSegment(bm, w, h, [20, 15], [20, 15], 5, 1);
  assert.deepEqual(rect, [15, 10, 25, 20]);
  const area = runsArea(encodeRuns(bm));
  assert.ok(Math.abs(area - Math.PI * 25) < 8, `disk area ${area}`);
  assert.ok(bitmapAt(bm, w, h, 20, 15) && !bitmapAt(bm, w, h, 26, 15));
  // a stroke is a capsule: about 2 r L + pi r^2
  const bm2 = new Uint8Array(w * h);
  paintSegment(bm2, w, h, [5, 15], [35, 15], 3, 1);
  const a2 = runsArea(encodeRuns(bm2));
  assert.ok(Math.abs(a2 - (6 * 30 + Math.PI * 9)) < 12, `capsule area ${a2}`);
  paintSegment(bm2, w, h, [20, 0], [20, 30], 2, 0); // erase a vertical band
  assert.ok(!bitmapAt(bm2, w, h, 20, 15) && bitmapAt(bm2, w, h, 10, 15));
  assert.equal(paintSegment(bm2, w, h, [-50, -50], [-40, -40], 2, 1), null); // off the image
});

test("polygon fill by pixel centres, bounds and out-of-image lookups", () => {
  const w = 20, h = 20, bm = new Uint8Array(w * h);
  fillPolygon(bm, w, h, [[2, 3], [12, 3], [12, 8], [2, 8]], 1);
  assert.equal(runsArea(encodeRuns(bm)), 50);
  assert.deepEqual(bitmapBounds(bm, w, h), [2, 3, 12, 8]);
  fillPolygon(bm, w, h, [[0, 0], [20, 0], [20, 20], [0, 20]], 0);
  assert.equal(bitmapBounds(bm, w, h), null);
  assert.equal(bitmapAt(bm, w, h, -1, 5), false);
  fillPolygon(bm, w, h, [[-5, -5], [5, -5], [5, 5], [-5, 5]], 1); // clipped to the image
  assert.equal(runsArea(encodeRuns(bm)), 25);
});
