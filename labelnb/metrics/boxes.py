r"""Box IoU and box-set agreement by Hungarian matching.

.. math::

    \mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|}

on continuous pixel boxes ``x0, y0, x1, y1``. Two annotators' boxes for one image are
matched one-to-one by maximising the total IoU (Hungarian algorithm,
:func:`scipy.optimize.linear_sum_assignment`; Kuhn (1955), *Naval Research Logistics
Quarterly* 2); a matched pair counts when its IoU reaches ``iou_threshold`` (and, by
default, its labels are equal). Unmatched boxes of ``a`` are *missed*, unmatched boxes
of ``b`` are *extra* (read ``a`` as the reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labelnb.errors import ValidationError
from labelnb.metrics._common import degenerate, threshold_pairs
from labelnb.types import Box

__all__ = ["BoxAgreement", "box_agreement", "box_iou"]


def _coords(boxes: Sequence[Box]) -> np.ndarray:
    if not all(isinstance(b, Box) for b in boxes):
        raise ValidationError("boxes must be labelnb.types.Box instances")
    if not boxes:
        return np.zeros((0, 4))
    return np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], dtype=np.float64)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every row of ``a`` (n × 4 corners) with every row of ``b`` (m × 4).

    Two zero-area boxes have IoU 0 (no area to share)."""
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return np.asarray(out)


def box_iou(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """The ``len(a) × len(b)`` IoU matrix (labels are ignored).

    Two zero-area boxes (``x0 == x1`` or ``y0 == y1``) have IoU 0, even two identical
    ones: there is no area to share (the union is 0, and 0/0 is taken as 0).

    >>> iou = box_iou([Box(0, 0, 2, 2, "x")], [Box(1, 0, 3, 2, "x"), Box(5, 5, 6, 6, "x")])
    >>> iou.round(4).tolist()
    [[0.3333, 0.0]]
    """
    return iou_matrix(_coords(a), _coords(b))


@dataclass(frozen=True, slots=True)
class BoxAgreement:
    """The result of :func:`box_agreement`.

    ``pairs`` holds ``(index in a, index in b, iou)`` of each counted match; ``mean_iou``
    is the mean IoU over them; ``precision = matched / len(b)``, ``recall = matched /
    len(a)`` and ``f1`` their harmonic mean.
    """

    mean_iou: float
    matched: int
    missed: int
    extra: int
    pairs: tuple[tuple[int, int, float], ...]
    precision: float
    recall: float
    f1: float


def box_agreement(boxes_a: Sequence[Box], boxes_b: Sequence[Box], iou_threshold: float = 0.5,
                  match_labels: bool = True) -> BoxAgreement:
    """Match two annotators' boxes one-to-one (Hungarian: the most pairs at
    ``iou_threshold``, then the most IoU) and score the match.

    With ``match_labels=True`` (default) only boxes with equal labels can match; with
    ``False`` labels are ignored. A pair counts when its IoU is ``>= iou_threshold``.
    A zero-area box has IoU 0 with every box, an identical zero-area one included (see
    :func:`box_iou`), so it never matches: it is counted as missed (or extra).

    Degenerate cases (with a :class:`~labelnb.metrics.DegenerateWarning`): both lists
    empty gives ``mean_iou = precision = recall = f1 = 1.0`` (nothing to disagree on);
    no counted pair gives ``mean_iou = 0.0`` (and precision/recall/f1 ``0.0``).

    >>> r = box_agreement([Box(0, 0, 10, 10, "cat"), Box(20, 20, 30, 30, "dog")],
    ...                   [Box(1, 0, 11, 10, "cat"), Box(50, 50, 60, 60, "dog")])
    >>> r.matched, r.missed, r.extra, round(r.mean_iou, 4)
    (1, 1, 1, 0.8182)
    >>> r.pairs
    ((0, 0, 0.8181818181818182),)
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValidationError(f"box_agreement: iou_threshold must lie in [0, 1], got "
                              f"{iou_threshold!r}")
    a, b = list(boxes_a), list(boxes_b)
    if not a and not b:
        degenerate("box_agreement: both box lists are empty; returning perfect agreement "
                   "(1.0)")
        return BoxAgreement(1.0, 0, 0, 0, (), 1.0, 1.0, 1.0)
    iou = box_iou(a, b)
    if match_labels and iou.size:
        la = np.array([x.label for x in a], dtype=object)
        lb = np.array([x.label for x in b], dtype=object)
        iou = np.where(la[:, None] == lb[None, :], iou, 0.0)
    pairs = threshold_pairs(iou, iou_threshold)  # most counted pairs, then most IoU
    matched = len(pairs)
    if matched == 0:
        degenerate("box_agreement: no pair of boxes reaches the IoU threshold; "
                   "mean_iou is 0.0")
        mean_iou = 0.0
    else:
        mean_iou = float(np.mean([p[2] for p in pairs]))
    precision = matched / len(b) if b else 0.0
    recall = matched / len(a) if a else 0.0
    f1 = 2 * matched / (len(a) + len(b))
    return BoxAgreement(mean_iou, matched, len(a) - matched, len(b) - matched, tuple(pairs),
                        precision, recall, f1)
