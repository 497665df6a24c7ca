"""Segmenter output as labelnb regions: an RLE mask, or a simplified polygon.

The polygon is the outer boundary of the mask's largest part, traced along pixel
edges ("crack following": the vertices are pixel corners, so before simplification
its area equals the part's pixel count with holes filled), then simplified with
Ramer-Douglas-Peucker at ``tolerance`` pixels. Pure numpy and scipy.

>>> m = np.zeros((6, 8), bool); m[1:4, 2:7] = True
>>> poly = mask_to_polygon(m, "coin")
>>> poly.points
(2.0, 1.0, 7.0, 1.0, 7.0, 4.0, 2.0, 4.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelnb.errors import ValidationError
from labelnb.types import Mask, Polygon

# direction index -> (dx, dy) along pixel edges: right, down, left, up
_DIRS = ((1, 0), (0, 1), (-1, 0), (0, -1))


def _largest_part(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n == 0:
        raise ValidationError("the mask is empty: there is no outline to trace")
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, np.arange(1, n + 1))
    part = labels == (int(np.argmax(sizes)) + 1)
    return np.asarray(ndimage.binary_fill_holes(part), dtype=bool)


def trace_outline(mask: np.ndarray) -> np.ndarray:
    """The outer boundary of the mask's largest part as ``(N, 2)`` pixel corners
    ``(x, y)``, clockwise in image coordinates (y down), without repeated points."""
    part = _largest_part(np.asarray(mask, dtype=bool))
    h, w = part.shape
    pad = np.zeros((h + 2, w + 2), bool)
    pad[1:-1, 1:-1] = part

    def filled(x: int, y: int) -> bool:  # pixel (x, y) in unpadded coordinates
        return bool(pad[y + 1, x + 1])

    ys, xs = np.nonzero(part)
    start_y = int(ys.min())
    start_x = int(xs[ys == start_y].min())
    # walk along pixel edges with the part on the right-hand side (clockwise, y down)
    x, y, d = start_x, start_y, 0
    pts: list[tuple[int, int]] = [(x, y)]
    for _ in range(4 * (h + 2) * (w + 2)):
        dx, dy = _DIRS[d]
        x, y = x + dx, y + dy
        if (x, y) == (start_x, start_y):
            break
        # the two pixels ahead of corner (x, y) in direction d: left-ahead and right-ahead
        if d == 0:
            left, right = filled(x, y - 1), filled(x, y)
        elif d == 1:
            left, right = filled(x, y), filled(x - 1, y)
        elif d == 2:
            left, right = filled(x - 1, y), filled(x - 1, y - 1)
        else:
            left, right = filled(x - 1, y - 1), filled(x, y - 1)
        if left:
            nd = (d + 3) % 4  # turn left
        elif right:
            nd = d  # straight on
        else:
            nd = (d + 1) % 4  # turn right
        if nd != d:
            pts.append((x, y))
        d = nd
    return np.asarray(pts, dtype=np.float64)


def simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Ramer-Douglas-Peucker on a closed ring (keeps at least 3 points)."""
    if tolerance <= 0 or len(points) <= 3:
        return points
    # split the ring at the point farthest from the first, simplify both halves
    far = int(np.argmax(np.hypot(*(points - points[0]).T)))

    def rdp(seg: np.ndarray) -> list[int]:
        a, b = seg[0], seg[-1]
        ab = b - a
        n = float(np.hypot(*ab))
        rel = seg - a
        d = (np.abs(ab[0] * rel[:, 1] - ab[1] * rel[:, 0]) / n if n > 0
             else np.hypot(rel[:, 0], rel[:, 1]))
        i = int(np.argmax(d))
        if d[i] > tolerance and 0 < i < len(seg) - 1:
            left, right = rdp(seg[: i + 1]), rdp(seg[i:])
            return left[:-1] + [j + i for j in right]
        return [0, len(seg) - 1]

    ring = np.vstack([points, points[:1]])
    first = rdp(ring[: far + 1])
    second = [j + far for j in rdp(ring[far:])]
    keep = sorted(set(first[:-1] + second[:-1]))
    out = points[keep]
    return out if len(out) >= 3 else points[np.linspace(0, len(points) - 1, 3).astype(int)]


def mask_to_polygon(mask: np.ndarray | Mask, label: str | None = None, *,
                    tolerance: float = 0.0, **kw: Any) -> Polygon:
    """The outline of a mask (array or :class:`~labelnb.types.Mask`) as a Polygon."""
    if isinstance(mask, Mask):
        label = mask.label if label is None else label
        kw.setdefault("score", mask.score)
        arr = mask.to_array()
    else:
        arr = np.asarray(mask, dtype=bool)
    if label is None:
        raise ValidationError("mask_to_polygon: give the polygon's label")
    pts = simplify(trace_outline(arr), tolerance)
    return Polygon(tuple(float(v) for v in pts.reshape(-1)), label, **kw)


def masks_to_regions(masks: np.ndarray, scores: np.ndarray, label: str, *,
                     polygon: bool = False, tolerance: float = 1.0) -> list[Mask | Polygon]:
    """Candidate masks ``(K, H, W)`` with scores as Masks (COCO RLE) or, with
    ``polygon=True``, simplified Polygons; empty candidates are dropped."""
    out: list[Mask | Polygon] = []
    for m, s in zip(np.asarray(masks, bool), np.asarray(scores, float), strict=True):
        if not m.any():
            continue
        score = float(min(max(s, 0.0), 1.0))
        out.append(mask_to_polygon(m, label, tolerance=tolerance, score=score) if polygon
                   else Mask.from_array(m, label, score=score))
    return out
