"""Auto-fit: snap a rough box tight to the object inside it, by its edges.

The box is grown by a margin and the crop is smoothed. Edges are the pixels of
strongest gradient (Sobel magnitude in its top decile); the level halfway across
that edge band (between its lower and upper quartile) lies between object and
background, so it is the threshold that splits them (Otsu's threshold is the
fallback when the crop has no clear edge). The side the crop's border mostly falls
on is background. Of the object pixels, the
connected parts that sit mainly inside the rough box, or cover its centre, make up
the object, and their bounding box, in whole original pixels, is the fitted box.
When the object runs into the crop's border it has leaked into a background as
bright as itself: then its cores are taken off the edge band and a watershed on the
gradient floods the band from the cores and from the rest, so the border lands on
the strongest edge.

It runs on the original image (not the display copy), with numpy and scipy only.

>>> import numpy as np
>>> img = np.zeros((100, 120), np.uint8); img[30:60, 40:90] = 200
>>> fitted, note = autofit_box(img, Box(35, 24, 97, 66, "coin"))
>>> (fitted.x0, fitted.y0, fitted.x1, fitted.y1), note
((40.0, 30.0, 90.0, 60.0), '')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelnb.types import Box


def _gray(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        arr = image.astype(np.float64)
        if arr.ndim == 3:
            arr = arr[..., :3] @ np.array([0.299, 0.587, 0.114])[: arr.shape[2]]
        return arr
    return np.asarray(image.convert("L"), dtype=np.float64)


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of a sample of intensities (256 bins over its range)."""
    v = values.ravel()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(v, bins=256, range=(lo, hi))
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    return float(centers[best].mean())  # the middle of a flat optimum (an empty gap)


def autofit_box(image: Any, box: Box, *, margin: float = 0.15, min_margin: int = 4,
                sigma: float = 1.0) -> tuple[Box, str]:
    """The box fitted tight to the object's edges, and a note ('' when it fitted).

    ``image`` is a PIL image or an (h, w[, c]) array in original pixels; ``box`` is in
    the same pixels. When no object is found the box comes back unchanged, with the
    reason in the note (e.g. "the box lies outside the image").
    """
    from scipy import ndimage

    gray = _gray(image)
    h, w = gray.shape
    bw, bh = box.x1 - box.x0, box.y1 - box.y0
    if bw < 2 or bh < 2:
        return box, "the box is too small to fit"
    if box.x1 <= 0 or box.y1 <= 0 or box.x0 >= w or box.y0 >= h:
        return box, "the box lies outside the image"
    m = max(float(min_margin), margin * max(bw, bh))
    # clamped at both ends: a negative end would wrap around (slices count from the back)
    cx0, cy0 = min(w, max(0, int(box.x0 - m))), min(h, max(0, int(box.y0 - m)))
    cx1, cy1 = max(0, min(w, int(np.ceil(box.x1 + m)))), max(0, min(h, int(np.ceil(box.y1 + m))))
    if cx1 <= cx0 or cy1 <= cy0:
        return box, "the box lies outside the image"
    crop = ndimage.gaussian_filter(gray[cy0:cy1, cx0:cx1], sigma)
    if crop.size < 16 or float(crop.max() - crop.min()) < 1e-6:
        return box, "no object edges inside the box (the region is flat)"
    grad = np.hypot(ndimage.sobel(crop, axis=1), ndimage.sobel(crop, axis=0))
    strong = grad >= np.quantile(grad, 0.9)
    if strong.any() and grad.max() > 0:  # halfway across the edge band
        t = float(np.mean(np.percentile(crop[strong], [25, 75])))
    else:
        t = otsu_threshold(crop)
    if not (crop.min() < t < crop.max()):
        t = otsu_threshold(crop)
    border = np.concatenate([crop[:2].ravel(), crop[-2:].ravel(), crop[:, :2].ravel(),
                             crop[:, -2:].ravel()])
    fg = crop > t if float(np.mean(border > t)) < 0.5 else crop <= t
    fg = ndimage.binary_fill_holes(ndimage.binary_opening(fg, np.ones((3, 3), bool)))
    # the rough box and its central half, in crop coordinates
    rx0, ry0, rx1, ry1 = box.x0 - cx0, box.y0 - cy0, box.x1 - cx0, box.y1 - cy0
    inside = np.zeros_like(fg)
    inside[max(0, int(ry0)):int(np.ceil(ry1)), max(0, int(rx0)):int(np.ceil(rx1))] = True
    centre = np.zeros_like(fg)
    qx, qy = bw / 4, bh / 4
    centre[max(0, int(ry0 + qy)):int(np.ceil(ry1 - qy)),
           max(0, int(rx0 + qx)):int(np.ceil(rx1 - qx))] = True

    def pick(mask: np.ndarray) -> np.ndarray | None:
        """The parts of ``mask`` that sit mainly inside the rough box or cover its centre."""
        labels, n = ndimage.label(mask)
        if n == 0:
            return None
        idx = np.arange(1, n + 1)
        area = ndimage.sum_labels(np.ones_like(labels), labels, idx)
        area_in = ndimage.sum_labels(inside, labels, idx)
        hits_centre = ndimage.sum_labels(centre, labels, idx) > 0
        keep = idx[((area_in / np.maximum(area, 1)) >= 0.5) | hits_centre]
        keep = keep[area[keep - 1] >= max(4.0, 0.01 * bw * bh)]
        return np.isin(labels, keep) if keep.size else None

    obj = pick(fg)
    if obj is None:
        return box, "no object found inside the box"
    touches = obj[0].any() or obj[-1].any() or obj[:, 0].any() or obj[:, -1].any()
    if touches:
        # The object leaked into a background as bright as it. Take its cores off the
        # edge band, so the two stay apart, and flood the band from the cores and from
        # everything else (watershed on the gradient): the border lands on the
        # strongest edge, and takes back the object-side pixels of the ridge.
        core = pick(fg & ~strong)
        if core is not None:
            markers = np.where(core, 2, np.where(strong, 0, 1)).astype(np.int16)
            g8 = np.round(grad / max(float(grad.max()), 1e-9) * 255).astype(np.uint8)
            ws = ndimage.watershed_ift(g8, markers) == 2
            obj = ws | (ndimage.binary_dilation(ws) & fg)
    rows, cols = np.flatnonzero(obj.any(axis=1)), np.flatnonzero(obj.any(axis=0))
    fitted = Box(float(cx0 + cols[0]), float(cy0 + rows[0]), float(cx0 + cols[-1] + 1),
                 float(cy0 + rows[-1] + 1), box.label, score=box.score, attributes=box.attributes)
    return fitted, ""
