"""Reference boxes of the coins in ``skimage.data.coins()``, for the auto-fit checks.

Found by a different method from auto-fit: scikit-image's own coins recipe (a Sobel
elevation map flooded by watershed from dark/bright markers), then labelled regions.
"""

from __future__ import annotations

import numpy as np


def coin_boxes(min_area: int = 400) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    from scipy import ndimage
    from skimage import data, filters, measure, segmentation

    img = data.coins()
    elevation = filters.sobel(img)
    markers = np.zeros_like(img, dtype=np.int32)
    markers[img < 30] = 1
    markers[img > 150] = 2
    seg = segmentation.watershed(elevation, markers) == 2
    seg = ndimage.binary_fill_holes(seg)
    boxes = []
    for r in measure.regionprops(measure.label(seg)):
        if r.area >= min_area:
            y0, x0, y1, x1 = r.bbox
            boxes.append((x0, y0, x1, y1))
    return img, boxes


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def rough(box: tuple[int, int, int, int], rng: np.random.Generator, jitter: float,
          width: int, height: int) -> tuple[float, float, float, float]:
    """The box with each side moved by up to ``jitter`` of its size (as a hurried click)."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    d = rng.uniform(-jitter, jitter, 4) * np.array([bw, bh, bw, bh])
    r = (x0 + d[0], y0 + d[1], x1 + d[2], y1 + d[3])
    return (max(0.0, r[0]), max(0.0, r[1]), min(float(width), r[2]), min(float(height), r[3]))
