"""Agreement, geometry, aggregation and consensus on plain arrays and DataFrames.

A pure layer: the functions and estimators here take numpy arrays, pandas DataFrames
(long format: one row per ``item``, ``annotator``, ``label``) and the types in
:mod:`labelnb.types`; nothing here touches the queue or a project.

One input rule throughout: the long form is a DataFrame (``item``, ``annotator``,
``label``) or a *tuple* ``(items, annotators, labels)``; a list, a list of lists or an
array is the function's matrix form (coders × units for :func:`krippendorff_alpha`,
items × category counts for :func:`fleiss_kappa`; the aggregators have none).

* agreement: :func:`cohen_kappa`, :func:`fleiss_kappa`, :func:`krippendorff_alpha`
* geometry: :func:`box_iou`, :func:`box_agreement`, :func:`mask_iou`,
  :func:`mask_dice`, :func:`mask_iou_matrix`, :func:`span_f1`
* aggregation (scikit-learn style, ``fit(data) -> self``): :class:`MajorityVote`,
  :class:`DawidSkene`, :class:`OneCoinDawidSkene`, :func:`soft_labels`
* consensus: :class:`BoxConsensus`, :class:`MaskConsensus`, :class:`SpanConsensus`

Degenerate inputs (one class, one rater, no overlap, empty) return the value each
docstring names and emit a :class:`DegenerateWarning`, never a silent NaN.

>>> from labelnb.metrics import cohen_kappa
>>> round(cohen_kappa(["cat", "dog", "dog"], ["cat", "dog", "cat"]), 3)
0.4
"""

from labelnb.metrics._common import DegenerateWarning
from labelnb.metrics.alpha import krippendorff_alpha
from labelnb.metrics.boxes import BoxAgreement, box_agreement, box_iou
from labelnb.metrics.consensus import BoxConsensus, MaskConsensus, SpanConsensus
from labelnb.metrics.dawid_skene import DawidSkene, OneCoinDawidSkene
from labelnb.metrics.kappa import cohen_kappa, fleiss_kappa
from labelnb.metrics.majority_vote import MajorityVote, soft_labels
from labelnb.metrics.masks import mask_dice, mask_iou, mask_iou_matrix
from labelnb.metrics.spans import SpanScores, span_f1

__all__ = [
    "BoxAgreement",
    "BoxConsensus",
    "DawidSkene",
    "DegenerateWarning",
    "MajorityVote",
    "MaskConsensus",
    "OneCoinDawidSkene",
    "SpanConsensus",
    "SpanScores",
    "box_agreement",
    "box_iou",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "mask_dice",
    "mask_iou",
    "mask_iou_matrix",
    "soft_labels",
    "span_f1",
]
