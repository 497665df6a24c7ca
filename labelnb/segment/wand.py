"""The classical magic wand: colour flood fill from the clicked seeds, cut by watershed.

No weights and no GPU: numpy and scipy only. It is the default ``segment_fn`` of
:class:`~labelnb.widgets.MaskAnnotator` and the no-weights fallback of the SAM
backends (see :mod:`labelnb.segment.protocol` for the hook).

Algorithm, for one call with positive points :math:`P^+`, negative points :math:`P^-`
and an optional box :math:`B`:

1. The image (cropped to :math:`B`) is downscaled so that its longer side is at most
   ``max_side`` and smoothed by a Gaussian of ``sigma`` pixels.
2. The seed colour :math:`c_p` of each positive point is the median colour of the
   ``(2r+1)²`` window around it, and the colour distance is
   :math:`d_p(x) = \\lVert I(x) - c_p \\rVert_2 / (255 \\sqrt{C})` in [0, 1].
3. For each tolerance :math:`t`, the region :math:`R_t` is the union over
   :math:`p \\in P^+` of the connected component of :math:`\\{x : d_p(x) \\le t\\}` that
   holds :math:`p` (region growing, Adams & Bischof 1994), holes filled.
4. If a negative point falls in :math:`R_t`, :math:`R_t` is cut by a marker watershed
   on the gradient magnitude (``scipy.ndimage.watershed_ift``; Beucher & Meyer 1993)
   with the positive points as one marker and the negative points as the other; the
   positive side is kept.
5. The result is brought back to full resolution (where it was downscaled) and the
   pixels on a band along its boundary are decided again on the unsmoothed
   full-resolution colours, so that edges and corners stay sharp.
6. Score :math:`s = \\tfrac12 e + \\tfrac12 q`, where :math:`e` is the mean gradient
   magnitude on the mask's boundary relative to the best candidate's and :math:`q`
   the stability, the mean IoU with the masks at the neighbouring tolerances (the
   stability score of SAM, Kirillov et al. 2023). With a box, :math:`s` is scaled by
   the share of the box border the mask leaves free. Near-duplicates
   (IoU > ``dedupe_iou``) are dropped; the best ``max_candidates`` are returned, best
   first.

With only a box, its centre is the positive point.

>>> import numpy as np
>>> img = np.full((60, 80, 3), 30, np.uint8)
>>> img[10:40, 20:60] = (200, 180, 40)            # a yellow block on dark grey
>>> wand = ClassicalWand()
>>> masks, scores = wand(img, np.array([[30.5, 20.5]]), np.array([1]), None)
>>> best = masks[0]
>>> int(best.sum()), bool(best[10:40, 20:60].all())
(1200, True)
>>> bool(scores[0] >= scores[-1])
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from labelnb.errors import ValidationError
from labelnb.media import to_uint8
from labelnb.segment.protocol import check_prompts

_EMPTY_SCORES = np.zeros(0, np.float64)


def _ndi() -> Any:
    from scipy import ndimage  # scipy comes with scikit-learn, a core dependency

    return ndimage


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return float(np.count_nonzero(a & b)) / union if union else 1.0


def _resize_nearest(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize by pixel centres (exact and cheap)."""
    h, w = mask.shape
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.intp), w - 1)
    out: np.ndarray = mask[rows[:, None], cols[None, :]]
    return out


class ClassicalWand:
    """The classical magic wand (see the module for the algorithm).

    Parameters
    ----------
    tolerances:
        colour distances (fractions of the full colour range) of the candidates; one
        candidate per tolerance before duplicates are dropped.
    sigma:
        Gaussian smoothing (working-image pixels) before the flood fill.
    seed_radius:
        ``r``: the seed colour is the median of a ``(2r+1)²`` window.
    max_side:
        the flood fill runs on a copy at most this large; the boundary is then refined
        at full resolution.
    max_candidates, dedupe_iou:
        how many candidates to return at most, and the IoU above which two are the same.
    fill_holes:
        fill holes in each candidate (objects with inner texture stay whole).
    """

    def __init__(self, tolerances: Sequence[float] = (0.06, 0.1, 0.14, 0.2, 0.28),
                 sigma: float = 1.5, seed_radius: int = 3, max_side: int = 1024,
                 max_candidates: int = 4, dedupe_iou: float = 0.97,
                 fill_holes: bool = True) -> None:
        self.tolerances = tuple(float(t) for t in tolerances)
        self.sigma = float(sigma)
        self.seed_radius = int(seed_radius)
        self.max_side = int(max_side)
        self.max_candidates = int(max_candidates)
        self.dedupe_iou = float(dedupe_iou)
        self.fill_holes = bool(fill_holes)
        if not self.tolerances or not all(0 < t <= 1 for t in self.tolerances):
            raise ValidationError(f"ClassicalWand: field 'tolerances' must hold values in "
                                  f"(0, 1], got {list(tolerances)!r}")
        if self.max_side < 16 or self.max_candidates < 1:
            raise ValidationError("ClassicalWand: 'max_side' must be >= 16 and "
                                  "'max_candidates' >= 1")

    def __repr__(self) -> str:
        return (f"ClassicalWand(tolerances={list(self.tolerances)}, sigma={self.sigma}, "
                f"max_side={self.max_side})")

    # --- the hook ----------------------------------------------------------------------
    def __call__(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray,
                 box: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(masks (K, H, W) bool, scores (K,))``, best first (see the module)."""
        img = np.asarray(image)
        if img.ndim == 2:
            img = img[:, :, None]
        if img.ndim != 3 or img.shape[0] < 1 or img.shape[1] < 1:
            raise ValidationError(f"ClassicalWand: image must be (H, W, 3) uint8, got shape "
                                  f"{img.shape}")
        img = to_uint8(img[:, :, :3])  # floats in [0, 1], 16-bit: to 8 bits by their range
        H, W = img.shape[:2]
        pts, labs, bx = check_prompts(points, labels, box, height=H, width=W,
                                      where="ClassicalWand")
        if bx is not None:
            x0, x1 = sorted((int(math.floor(bx[0])), int(math.ceil(bx[2]))))
            y0, y1 = sorted((int(math.floor(bx[1])), int(math.ceil(bx[3]))))
            x0, x1 = max(0, x0), min(W, x1)
            y0, y1 = max(0, y0), min(H, y1)
            if x1 - x0 < 2 or y1 - y0 < 2:
                return np.zeros((0, H, W), bool), _EMPTY_SCORES
            crop = (y0, y1, x0, x1)
        else:
            crop = (0, H, 0, W)
        pos = pts[labs == 1]
        neg = pts[labs != 1]
        if not len(pos):
            if box is None:
                return np.zeros((0, H, W), bool), _EMPTY_SCORES
            pos = np.array([[(crop[2] + crop[3]) / 2, (crop[0] + crop[1]) / 2]])
        masks, scores = self._segment(img, pos, neg, crop, box is not None)
        full = np.zeros((len(masks), H, W), bool)
        y0, y1, x0, x1 = crop
        for i, m in enumerate(masks):
            full[i, y0:y1, x0:x1] = m
        return full, np.asarray(scores, np.float64)

    # --- the work, inside the crop ------------------------------------------------------
    def _segment(self, img: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                 crop: tuple[int, int, int, int], boxed: bool
                 ) -> tuple[list[np.ndarray], list[float]]:
        ndi = _ndi()
        y0, y1, x0, x1 = crop
        region = img[y0:y1, x0:x1].astype(np.float32)
        ch, cw = region.shape[:2]
        f = min(1.0, self.max_side / max(ch, cw))
        wh, ww = max(1, round(ch * f)), max(1, round(cw * f))
        if f < 1.0:
            from PIL import Image

            work = np.stack([np.asarray(Image.fromarray(region[:, :, c]).resize(
                (ww, wh), Image.Resampling.BOX)) for c in range(region.shape[2])], axis=-1)
        else:
            work = region
        sm = ndi.gaussian_filter(work, sigma=(self.sigma, self.sigma, 0))
        norm = 255.0 * math.sqrt(sm.shape[2])
        grad = np.sqrt(sum(ndi.sobel(sm[..., c], 0) ** 2 + ndi.sobel(sm[..., c], 1) ** 2
                           for c in range(sm.shape[2])))

        def to_work(p: np.ndarray) -> np.ndarray:
            xy = (p - np.array([x0, y0])) * np.array([ww / cw, wh / ch])
            out: np.ndarray = np.clip(np.floor(xy), 0, [ww - 1, wh - 1]).astype(np.intp)
            return out

        wpos, wneg = to_work(pos), to_work(neg) if len(neg) else np.zeros((0, 2), np.intp)
        r = self.seed_radius
        dists = []
        for x, y in wpos:
            patch = sm[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1].reshape(-1, sm.shape[2])
            c = np.median(patch, axis=0)
            dists.append(np.sqrt(((sm - c) ** 2).sum(-1)) / norm)

        cands: list[np.ndarray] = []
        for t in self.tolerances:
            m = np.zeros((wh, ww), bool)
            for (x, y), d in zip(wpos, dists, strict=True):
                lab, _ = ndi.label(d <= t)
                if lab[y, x]:
                    m |= lab == lab[y, x]
            if self.fill_holes:
                m = ndi.binary_fill_holes(m)
            if len(wneg) and m[wneg[:, 1], wneg[:, 0]].any():
                m = self._cut(m, grad, wpos, wneg)
            cands.append(m)

        # scores on the working image
        n = len(cands)
        edges = []
        for m in cands:
            ring = ndi.binary_dilation(m, iterations=2) & ~ndi.binary_erosion(m, iterations=2)
            edges.append(float(grad[ring].mean()) if ring.any() and m.any() else 0.0)
        best_edge = max(edges) or 1.0
        scores = []
        for i, m in enumerate(cands):
            if not m.any():
                scores.append(-1.0)
                continue
            nb = [cands[j] for j in (i - 1, i + 1) if 0 <= j < n]
            stab = float(np.mean([_iou(m, o) for o in nb])) if nb else 1.0
            s = 0.5 * edges[i] / best_edge + 0.5 * stab
            if boxed:
                border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
                s *= 1.0 - float(border.mean())
            scores.append(s)

        order = sorted(range(n), key=lambda i: -scores[i])
        out: list[np.ndarray] = []
        kept: list[float] = []
        for i in order:
            if scores[i] < 0 or len(out) >= self.max_candidates:
                continue
            m = self._refine(cands[i], region, self.tolerances[i], wpos, sm)
            if any(_iou(m, o) > self.dedupe_iou for o in out):
                continue
            out.append(m)
            kept.append(float(np.clip(scores[i], 0.0, 1.0)))
        return out, kept

    def _cut(self, m: np.ndarray, grad: np.ndarray, wpos: np.ndarray, wneg: np.ndarray
             ) -> np.ndarray:
        """Split the region between the positive and the negative seeds (watershed)."""
        ndi = _ndi()
        g = grad / (float(grad.max()) or 1.0)
        cost = np.where(m, np.round(g * 60000), 65535).astype(np.uint16)
        markers = np.zeros(m.shape, np.int16)
        markers[wneg[:, 1], wneg[:, 0]] = 2
        markers[wpos[:, 1], wpos[:, 0]] = 1  # a click that is both counts as positive
        ws = ndi.watershed_ift(cost, markers)
        keep = m & (ws == 1)
        lab, _ = ndi.label(keep)
        ids = {int(lab[y, x]) for x, y in wpos if lab[y, x]}
        out: np.ndarray = np.isin(lab, list(ids)) if ids else np.zeros_like(m)
        return out

    def _refine(self, m: np.ndarray, region: np.ndarray, t: float, wpos: np.ndarray,
                sm: np.ndarray) -> np.ndarray:
        """Full-resolution boundary: upsample, then re-decide a band along the boundary
        on the unsmoothed colours."""
        ndi = _ndi()
        ch, cw = region.shape[:2]
        wh, ww = m.shape
        up = _resize_nearest(m, ch, cw)
        k = int(math.ceil(max(ch / wh, cw / ww))) + 1
        if not up.any():
            return up
        ys, xs = np.nonzero(ndi.binary_dilation(up, iterations=1) | up)
        ya, yb = max(ys.min() - k, 0), min(ys.max() + k + 1, ch)
        xa, xb = max(xs.min() - k, 0), min(xs.max() + k + 1, cw)
        sub = up[ya:yb, xa:xb]
        grown = ndi.binary_dilation(sub, iterations=k)
        band = grown & ~ndi.binary_erosion(sub, iterations=k)
        # growth is limited to 2 working pixels (8-connected): enough for the corners the
        # smoothing rounded off, not enough to cross a watershed cut or leak away
        allowed = _resize_nearest(ndi.binary_dilation(m, structure=np.ones((3, 3), bool),
                                                      iterations=2), ch, cw)[ya:yb, xa:xb]
        pix = region[ya:yb, xa:xb]
        norm = 255.0 * math.sqrt(region.shape[2])
        r = self.seed_radius
        close = np.zeros(sub.shape, bool)
        for x, y in wpos:  # the same seed colours as on the working image
            patch = sm[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1].reshape(-1, sm.shape[2])
            c = np.median(patch, axis=0)
            close |= np.sqrt(((pix - c) ** 2).sum(-1)) / norm <= t
        res = sub.copy()
        res[band] = close[band] & allowed[band]
        if self.fill_holes:
            res = ndi.binary_fill_holes(res)
        out = np.zeros_like(up)
        out[ya:yb, xa:xb] = res
        return out
