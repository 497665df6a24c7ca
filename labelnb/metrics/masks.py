r"""IoU and Dice of segmentation masks, computed on COCO RLE (never densified).

.. math::

    \mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|}, \qquad
    \mathrm{Dice}(A, B) = \frac{2\,|A \cap B|}{|A| + |B|}

Areas and intersections come from :mod:`pycocotools.mask` (``area``, ``merge``,
``iou``), which work on the run-length encoding directly. Dice (1945), *Ecology*
26(3); Jaccard (1912), *New Phytologist* 11(2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from labelnb.errors import ValidationError
from labelnb.metrics._common import degenerate
from labelnb.types import Mask

__all__ = ["mask_dice", "mask_iou", "mask_iou_matrix", "rle_of"]

MaskLike = Mask | Mapping[str, Any]


def rle_of(m: MaskLike) -> dict[str, Any]:
    """The pycocotools RLE (``counts`` as bytes) of a :class:`Mask` or an RLE dict."""
    rle = m.rle if isinstance(m, Mask) else m
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise ValidationError(f"expected a Mask or a COCO RLE dict, got {m!r}")
    counts = rle["counts"]
    if isinstance(counts, list):
        h, w = int(rle["size"][0]), int(rle["size"][1])
        out: dict[str, Any] = mask_utils.frPyObjects(
            {"size": [h, w], "counts": counts}, h, w)
        return out
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def _pair(a: MaskLike, b: MaskLike, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ra, rb = rle_of(a), rle_of(b)
    if ra["size"] != rb["size"]:
        raise ValidationError(
            f"{name}: masks of different sizes {ra['size']} and {rb['size']} (h x w); "
            "encode both at the image's size"
        )
    return ra, rb


def _areas(ra: dict[str, Any], rb: dict[str, Any]) -> tuple[int, int, int]:
    inter = mask_utils.merge([ra, rb], intersect=True)
    return (int(mask_utils.area(ra)), int(mask_utils.area(rb)), int(mask_utils.area(inter)))


def mask_iou(a: MaskLike, b: MaskLike) -> float:
    """IoU of two masks of the same size (Mask or COCO RLE dict).

    Both empty: ``1.0`` with a :class:`~labelnb.metrics.DegenerateWarning`.

    >>> import numpy as np
    >>> x = np.zeros((4, 4), bool); x[:2, :2] = True
    >>> y = np.zeros((4, 4), bool); y[:2, :3] = True
    >>> round(mask_iou(Mask.from_array(x, "a"), Mask.from_array(y, "a")), 4)
    0.6667
    """
    ra, rb = _pair(a, b, "mask_iou")
    area_a, area_b, inter = _areas(ra, rb)
    union = area_a + area_b - inter
    if union == 0:
        degenerate("mask_iou: both masks are empty; returning 1.0")
        return 1.0
    return inter / union


def mask_dice(a: MaskLike, b: MaskLike) -> float:
    """Dice coefficient of two masks of the same size (Mask or COCO RLE dict).

    Both empty: ``1.0`` with a :class:`~labelnb.metrics.DegenerateWarning`.

    >>> import numpy as np
    >>> x = np.zeros((4, 4), bool); x[:2, :2] = True
    >>> y = np.zeros((4, 4), bool); y[:2, :3] = True
    >>> mask_dice(Mask.from_array(x, "a"), Mask.from_array(y, "a"))
    0.8
    """
    ra, rb = _pair(a, b, "mask_dice")
    area_a, area_b, inter = _areas(ra, rb)
    if area_a + area_b == 0:
        degenerate("mask_dice: both masks are empty; returning 1.0")
        return 1.0
    return 2.0 * inter / (area_a + area_b)


def mask_iou_matrix(a: Sequence[MaskLike], b: Sequence[MaskLike]) -> np.ndarray:
    """The ``len(a) × len(b)`` IoU matrix (``pycocotools.mask.iou``); two empty masks
    have IoU 0 here, as in pycocotools."""
    ra = [rle_of(m) for m in a]
    rb = [rle_of(m) for m in b]
    if not ra or not rb:
        return np.zeros((len(ra), len(rb)))
    sizes = {tuple(r["size"]) for r in ra + rb}
    if len(sizes) > 1:
        raise ValidationError(f"mask_iou_matrix: masks of different sizes {sorted(sizes)}")
    out = np.asarray(mask_utils.iou(ra, rb, [0] * len(rb)), dtype=np.float64)
    return out.reshape(len(ra), len(rb))
