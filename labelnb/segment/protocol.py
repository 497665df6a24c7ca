"""The segmenter hook of the magic wand: ``segment_fn(image, points, labels, box)``.

Any callable of this shape plugs into :class:`~labelnb.widgets.MaskAnnotator` and
:class:`~labelnb.widgets.PolygonAnnotator` (``segment_fn=``; the polygon widget keeps
each mask's outline): the classical wand (:class:`~labelnb.segment.wand.ClassicalWand`,
the default) and SAM (:class:`~labelnb.segment.sam.TorchSam`, best wrapped in
:class:`~labelnb.segment.cache.CachedSegmenter` so each image is embedded once).
Everything is in the pixels of the original image:

* ``image``: ``(H, W, 3)`` uint8 RGB, EXIF orientation applied;
* ``points``: ``(N, 2)`` float, ``(x, y)`` of each click (continuous coordinates:
  the centre of pixel (0, 0) is ``(0.5, 0.5)``);
* ``labels``: ``(N,)`` int, 1 for a positive click (on the object), 0 for a
  negative one (not the object);
* ``box``: ``[x0, y0, x1, y1]`` float or ``None``.

It returns ``(masks, scores)``: ``masks`` is ``(K, H, W)`` bool, ``scores`` is
``(K,)`` float in ``[0, 1]``, higher is better. ``K`` may be 0 (nothing found).

>>> import numpy as np
>>> def everything(image, points, labels, box):
...     h, w = image.shape[:2]
...     return np.ones((1, h, w), bool), np.array([0.5])
>>> masks, scores = check_segment_output(
...     *everything(np.zeros((4, 6, 3), np.uint8), np.zeros((1, 2)), np.ones(1, int), None),
...     height=4, width=6)
>>> masks.shape, scores.tolist()
((1, 4, 6), [0.5])

:func:`check_prompts` checks the prompts the same way for every segmenter here:

>>> pts, labs, box = check_prompts([[2.5, 1.5]], [1], None, height=4, width=6)
>>> pts.tolist(), labs.tolist(), box
([[2.5, 1.5]], [1], None)
>>> try:
...     check_prompts([[7.0, 1.0]], [1], None, height=4, width=6, where="TorchSam")
... except ValidationError as e:
...     print(str(e).split(";")[0])
TorchSam: point 0 (7, 1) lies outside the 6x4 image
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from labelnb.errors import ValidationError


@runtime_checkable
class SegmentFn(Protocol):
    """``segment_fn(image, points, labels, box) -> (masks, scores)`` (see the module)."""

    def __call__(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray,
                 box: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]: ...


def check_segment_output(masks: Any, scores: Any, *, height: int, width: int,
                         where: str = "segment_fn") -> tuple[np.ndarray, np.ndarray]:
    """``(masks, scores)`` as ``(K, H, W)`` bool and ``(K,)`` float64, or a clear error.

    A single ``(H, W)`` mask is accepted as ``K = 1``; scores are clipped to [0, 1]
    (a logit or an IoU estimate slightly above 1 is not an error).
    """
    m = np.asarray(masks)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.shape[1:] != (height, width):
        raise ValidationError(
            f"{where}: returned masks of shape {tuple(np.shape(masks))}; expected (K, {height}, "
            f"{width}): one mask per candidate at the size of the original image")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape != (m.shape[0],):
        raise ValidationError(
            f"{where}: returned {s.size} scores for {m.shape[0]} masks; give one score per "
            "mask")
    if not np.all(np.isfinite(s)):
        raise ValidationError(f"{where}: returned scores that are not finite: {s.tolist()}")
    if m.dtype != np.bool_ and m.size and not np.isin(m, (0, 1)).all():
        # logits or probabilities: as bool every nonzero pixel would be in the mask
        raise ValidationError(
            f"{where}: returned {m.dtype} masks with values from {float(np.nanmin(m)):g} to "
            f"{float(np.nanmax(m)):g}; return boolean masks (e.g. logits > 0, or "
            "probabilities > 0.5)")
    return m.astype(bool, copy=False), np.clip(s, 0.0, 1.0)


def check_prompts(points: Any, labels: Any, box: Any, *, height: int, width: int,
                  where: str = "segment_fn"
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The prompts of a ``segment_fn`` call checked against a ``height`` x ``width``
    image: ``(points (N, 2) float64, labels (N,) int64, box (4,) float64 or None)``, or a
    :class:`~labelnb.errors.ValidationError` naming the bad prompt and the fix.

    ``points`` is ``None``, empty, or ``(N, 2)`` finite ``(x, y)`` inside the image
    (``0 <= x <= width``, ``0 <= y <= height``: continuous pixel coordinates); ``labels``
    one 1 (positive) or 0 (negative) per point; ``box`` ``None`` or four finite numbers
    ``[x0, y0, x1, y1]`` (it may reach over the border).
    """
    try:
        pts = np.asarray([] if points is None else points, dtype=np.float64)
        labs = np.asarray([] if labels is None else labels, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{where}: points must be numbers [[x, y], ...] and labels 1 or 0 "
                              f"per point; got points={points!r:.80}, labels={labels!r:.80}"
                              ) from None
    if pts.size == 0:
        pts = np.zeros((0, 2), np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValidationError(f"{where}: points has shape {tuple(pts.shape)}; give an (N, 2) "
                              "array of (x, y) clicks, e.g. np.array([[x, y]])")
    labs = labs.reshape(-1)
    if labs.shape[0] != pts.shape[0]:
        raise ValidationError(f"{where}: {pts.shape[0]} points but {labs.shape[0]} labels; give "
                              "one label (1 or 0) per point")
    for i, v in enumerate(labs.tolist()):
        if v not in (0, 1):
            raise ValidationError(f"{where}: label {i} is {v:g}; give 1 for a positive click "
                                  "(on the object) or 0 for a negative one (not the object)")
    for i, (x, y) in enumerate(pts.tolist()):
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ValidationError(f"{where}: point {i} ({x:g}, {y:g}) is not a finite number; "
                                  "give clicks in image pixels (x across, y down)")
        if not (0 <= x <= width and 0 <= y <= height):
            raise ValidationError(
                f"{where}: point {i} ({x:g}, {y:g}) lies outside the {width}x{height} image; "
                "give clicks in image pixels (x across, y down)")
    bx = None
    if box is not None:
        try:
            bx = np.asarray(box, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            bx = None
        if bx is None or bx.shape != (4,) or not np.all(np.isfinite(bx)):
            raise ValidationError(f"{where}: box must be [x0, y0, x1, y1], got {box!r}; give "
                                  "four finite numbers in image pixels, or None")
    return pts, labs.astype(np.int64), bx
