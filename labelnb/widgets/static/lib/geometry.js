// Plane geometry in display pixels (pure; no DOM).

/** @typedef {[number, number]} Pt */

/** @param {number} v @param {number} lo @param {number} hi */
export function clamp(v, lo, hi) { return Math.min(Math.max(v, lo), hi); }

/** a box with x0 <= x1 and y0 <= y1 @template {{x0: number, y0: number, x1: number, y1: number}} B @param {B} b @returns {B} */
export function normalizeBox(b) {
  return { ...b, x0: Math.min(b.x0, b.x1), x1: Math.max(b.x0, b.x1),
           y0: Math.min(b.y0, b.y1), y1: Math.max(b.y0, b.y1) };
}

/** snap a display coordinate to the grid of original pixels (g display px per original px) @param {number} v @param {number} g */
export function snap(v, g) { return g > 0 ? Math.round(v / g) * g : v; }

/** @param {Pt} p @param {Pt} a @param {Pt} b @returns {{dist: number, t: number}} */
export function distToSegment(p, a, b) {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? clamp(((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2, 0, 1) : 0;
  const x = a[0] + t * dx, y = a[1] + t * dy;
  return { dist: Math.hypot(p[0] - x, p[1] - y), t };
}

/** the closed polygon's edge nearest to p: edge i runs from pts[i] to pts[i+1 mod n] @param {Pt} p @param {Pt[]} pts */
export function nearestEdge(p, pts) {
  let best = { index: -1, dist: Infinity, t: 0 };
  for (let i = 0; i < pts.length; i++) {
    const r = distToSegment(p, pts[i], pts[(i + 1) % pts.length]);
    if (r.dist < best.dist) best = { index: i, dist: r.dist, t: r.t };
  }
  return best;
}

/** index of the vertex within tol of p, or -1 @param {Pt} p @param {Pt[]} pts @param {number} tol */
export function nearestVertex(p, pts, tol) {
  let best = -1, bd = tol;
  pts.forEach((q, i) => { const d = Math.hypot(p[0] - q[0], p[1] - q[1]); if (d <= bd) { bd = d; best = i; } });
  return best;
}

/** even-odd rule @param {Pt} p @param {Pt[]} pts */
export function pointInPolygon(p, pts) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i], [xj, yj] = pts[j];
    if ((yi > p[1]) !== (yj > p[1]) && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** signed-area magnitude (shoelace) @param {Pt[]} pts */
export function polygonArea(pts) {
  let a = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x0, y0] = pts[i], [x1, y1] = pts[(i + 1) % pts.length];
    a += x0 * y1 - x1 * y0;
  }
  return Math.abs(a) / 2;
}

/** insert a vertex on edge i (between pts[i] and pts[i+1]) at p; returns a new array @param {Pt[]} pts @param {number} i @param {Pt} p */
export function splitEdge(pts, i, p) {
  return [...pts.slice(0, i + 1), p, ...pts.slice(i + 1)];
}

// --- the zoom/pan view: z >= 1; (ox, oy) is the image pixel at the canvas' top-left ---

/** @typedef {{z: number, ox: number, oy: number}} View */

/** @param {View} v @param {number} w @param {number} h @param {number} [maxZ] @returns {View} */
export function clampView(v, w, h, maxZ = 40) {
  const z = clamp(v.z, 1, maxZ);
  return { z, ox: clamp(v.ox, 0, w - w / z), oy: clamp(v.oy, 0, h - h / z) };
}

/** zoom by f keeping canvas point (cx, cy) fixed @param {View} v @param {number} f @param {number} cx @param {number} cy @param {number} w @param {number} h @returns {View} */
export function zoomView(v, f, cx, cy, w, h) {
  const px = cx / v.z + v.ox, py = cy / v.z + v.oy;
  const z = clamp(v.z * f, 1, 40);
  return clampView({ z, ox: px - cx / z, oy: py - cy / z }, w, h);
}

/** canvas pixel -> image pixel under a view @param {View} v @param {number} cx @param {number} cy @returns {Pt} */
export function viewToImage(v, cx, cy) { return [cx / v.z + v.ox, cy / v.z + v.oy]; }

/** the CSS filter for brightness/contrast (percent, 100 = unchanged) @param {number} brightness @param {number} contrast */
export function imageFilter(brightness, contrast) {
  const b = clamp(Math.round(brightness), 10, 400), c = clamp(Math.round(contrast), 10, 400);
  return b === 100 && c === 100 ? "none" : `brightness(${b}%) contrast(${c}%)`;
}

// --- polygons as vertex lists (the polygon widget) ---------------------------------------

/** a flat [x1, y1, x2, y2, ...] list as points @param {number[]} flat @returns {Pt[]} */
export function toPoints(flat) {
  /** @type {Pt[]} */ const out = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

/** points as a flat [x1, y1, x2, y2, ...] list @param {Pt[]} pts @returns {number[]} */
export function toFlat(pts) { return pts.flatMap((p) => [p[0], p[1]]); }

/** a copy without vertex i; a polygon keeps at least 3 vertices @param {Pt[]} pts @param {number} i @returns {Pt[]} */
export function removeVertex(pts, i) {
  if (pts.length <= 3 || i < 0 || i >= pts.length) return pts.slice();
  return [...pts.slice(0, i), ...pts.slice(i + 1)];
}

/** move by (dx, dy), clamped so that every vertex stays inside the w x h image @param {Pt[]} pts @param {number} dx @param {number} dy @param {number} w @param {number} h @returns {Pt[]} */
export function translatePolygon(pts, dx, dy, w, h) {
  if (!pts.length) return [];
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const mx = clamp(dx, -Math.min(...xs), w - Math.max(...xs));
  const my = clamp(dy, -Math.min(...ys), h - Math.max(...ys));
  return pts.map((p) => /** @type {Pt} */ ([p[0] + mx, p[1] + my]));
}

/**
 * What lies under p among closed polygons: a vertex (within tol), an edge (within tol)
 * or the inside. The polygon `first` (the selected one) is tried first, then the others
 * from the top (last drawn) down.
 * @param {Pt} p @param {Pt[][]} polys @param {number} tol @param {number} [first]
 * @returns {{kind: "vertex" | "edge" | "inside" | "none", poly: number, index: number}}
 */
export function hitPolygons(p, polys, tol, first = -1) {
  const order = [];
  if (first >= 0 && first < polys.length) order.push(first);
  for (let i = polys.length - 1; i >= 0; i--) if (i !== first) order.push(i);
  for (const i of order) {
    const v = nearestVertex(p, polys[i], tol);
    if (v >= 0) return { kind: "vertex", poly: i, index: v };
  }
  for (const i of order) {
    const e = nearestEdge(p, polys[i]);
    if (e.index >= 0 && e.dist <= tol) return { kind: "edge", poly: i, index: e.index };
  }
  for (const i of order) if (pointInPolygon(p, polys[i])) return { kind: "inside", poly: i, index: -1 };
  return { kind: "none", poly: -1, index: -1 };
}

// --- raster masks: Uint8Array bitmaps, row-major, 1 = object (the mask widget) ----------
// Pixel (i, j) covers [i, i+1) x [j, j+1); it is painted when its centre is.

/** row-major run lengths, background first (a bitmap starting with 1 begins with a 0 run) @param {ArrayLike<number>} bitmap @returns {number[]} */
export function encodeRuns(bitmap) {
  /** @type {number[]} */ const runs = [];
  let cur = 0, n = 0;
  for (let i = 0; i < bitmap.length; i++) {
    const v = bitmap[i] ? 1 : 0;
    if (v !== cur) { runs.push(n); n = 0; cur = v; }
    n++;
  }
  runs.push(n);
  return runs;
}

/** the bitmap of n pixels that run lengths describe @param {ArrayLike<number>} runs @param {number} n @returns {Uint8Array} */
export function decodeRuns(runs, n) {
  const out = new Uint8Array(n);
  let pos = 0;
  for (let k = 0; k < runs.length; k++) {
    const end = pos + runs[k];
    if (end > n) throw new Error(`runs cover more than ${n} pixels`);
    if (k % 2) out.fill(1, pos, end);
    pos = end;
  }
  if (pos !== n) throw new Error(`runs cover ${pos} pixels, not ${n}`);
  return out;
}

/** the number of painted pixels @param {ArrayLike<number>} runs */
export function runsArea(runs) {
  let a = 0;
  for (let k = 1; k < runs.length; k += 2) a += runs[k];
  return a;
}

/**
 * Paint (value 1) or erase (0) the capsule of radius r around the segment a-b: every
 * pixel whose centre lies within r of it. Returns the touched rectangle [x0, y0, x1, y1)
 * or null.
 * @param {Uint8Array} bitmap @param {number} w @param {number} h @param {Pt} a @param {Pt} b @param {number} r @param {number} value
 * @returns {[number, number, number, number] | null}
 */
export function paintSegment(bitmap, w, h, a, b, r, value) {
  const x0 = Math.max(0, Math.floor(Math.min(a[0], b[0]) - r)), x1 = Math.min(w, Math.ceil(Math.max(a[0], b[0]) + r));
  const y0 = Math.max(0, Math.floor(Math.min(a[1], b[1]) - r)), y1 = Math.min(h, Math.ceil(Math.max(a[1], b[1]) + r));
  if (x0 >= x1 || y0 >= y1) return null;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      if (distToSegment([x + 0.5, y + 0.5], a, b).dist <= r) bitmap[y * w + x] = value;
    }
  }
  return [x0, y0, x1, y1];
}

/** fill (value 1) or clear (0) a polygon's inside by pixel centres (even-odd rule) @param {Uint8Array} bitmap @param {number} w @param {number} h @param {Pt[]} pts @param {number} value */
export function fillPolygon(bitmap, w, h, pts, value) {
  if (pts.length < 3) return;
  const ys = pts.map((p) => p[1]);
  const ya = Math.max(0, Math.floor(Math.min(...ys))), yb = Math.min(h, Math.ceil(Math.max(...ys)));
  for (let y = ya; y < yb; y++) {
    const cy = y + 0.5;
    /** @type {number[]} */ const xs = [];
    for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
      const [xi, yi] = pts[i], [xj, yj] = pts[j];
      if ((yi > cy) !== (yj > cy)) xs.push(xi + ((cy - yi) * (xj - xi)) / (yj - yi));
    }
    xs.sort((p, q) => p - q);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const xa = Math.max(0, Math.ceil(xs[k] - 0.5)), xb = Math.min(w, Math.ceil(xs[k + 1] - 0.5));
      if (xb > xa) bitmap.fill(value, y * w + xa, y * w + xb);
    }
  }
}

/** whether pixel (x, y) of a w x h bitmap is painted (false outside) @param {ArrayLike<number>} bitmap @param {number} w @param {number} h @param {number} x @param {number} y */
export function bitmapAt(bitmap, w, h, x, y) {
  const i = Math.floor(x), j = Math.floor(y);
  return i >= 0 && j >= 0 && i < w && j < h && !!bitmap[j * w + i];
}

/** the painted pixels' bounding rectangle [x0, y0, x1, y1), or null when empty @param {ArrayLike<number>} bitmap @param {number} w @param {number} h @returns {[number, number, number, number] | null} */
export function bitmapBounds(bitmap, w, h) {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (bitmap[y * w + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}
