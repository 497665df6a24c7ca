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
