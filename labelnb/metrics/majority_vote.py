r"""Majority vote and soft labels over long-format categorical labels.

Majority vote picks, for each item :math:`i`, :math:`\hat y_i = \arg\max_k n_{ik}`,
where :math:`n_{ik}` counts the annotators who gave item ``i`` class ``k``; its
``probas_`` are the vote shares :math:`n_{ik} / \sum_k n_{ik}`. Soft labels
(Peterson et al., 2019, "Human uncertainty makes classification more robust", ICCV)
are those shares with optional additive (Laplace) smoothing
:math:`(n_{ik} + \lambda) / (\sum_k n_{ik} + K \lambda)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from labelnb.errors import ValidationError
from labelnb.metrics._common import LongLabels, check_one_label_each, degenerate, long_labels

__all__ = ["MajorityVote", "soft_labels"]

Tie = Literal["random", "first", "abstain"]


def _vote_counts(ll: LongLabels) -> np.ndarray:
    k = len(ll.classes)
    n = len(ll.items)
    return np.bincount(ll.item * k + ll.label, minlength=n * k).reshape(n, k).astype(np.float64)


def _index(values: pd.Index, name: str) -> pd.Index:
    idx: pd.Index = pd.Index(values)
    idx.name = name
    return idx


class MajorityVote:
    """The most frequent label of each item.

    Parameters
    ----------
    tie:
        How to break a tie between the top classes: ``"random"`` (uniformly among the
        tied classes, reproducible with ``seed``), ``"first"`` (the tied class that comes
        first in ``classes_``, which is sorted) or ``"abstain"`` (the label is ``None``).
    seed:
        Seed of the generator for ``tie="random"``.
    classes:
        The classes, in order; default: the sorted observed labels.

    Fitted attributes: ``labels_`` (Series item → label), ``probas_`` (DataFrame item ×
    class vote shares), ``tied_`` (Series item → bool), ``classes_``.

    Each annotator is one vote: an annotator with two labels of one item (a label
    exported twice, a rework next to the original) is refused with a
    :class:`~labelnb.errors.ValidationError` naming the item and the annotator, as
    :func:`~labelnb.metrics.fleiss_kappa` and
    :func:`~labelnb.metrics.krippendorff_alpha` refuse it; keep one label per (item,
    annotator), e.g. ``df.drop_duplicates(["item", "annotator"], keep="last")``.
    Missing labels (``None``, ``NaN``) are dropped, in a DataFrame as in a tuple.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"item": [1, 1, 1, 2, 2],
    ...                    "annotator": ["a", "b", "c", "a", "b"],
    ...                    "label": ["cat", "cat", "dog", "cat", "dog"]})
    >>> MajorityVote(tie="first").fit_predict(df).to_dict()
    {1: 'cat', 2: 'cat'}
    >>> MajorityVote(tie="abstain").fit_predict(df).to_dict()
    {1: 'cat', 2: None}
    """

    labels_: pd.Series
    probas_: pd.DataFrame
    tied_: pd.Series
    classes_: pd.Index

    def __init__(self, tie: Tie = "random", seed: int | None = None,
                 classes: Sequence[Any] | None = None) -> None:
        self.tie = tie
        self.seed = seed
        self.classes = classes

    def fit(self, data: Any) -> MajorityVote:
        """Count the votes of ``data``: the long form, a DataFrame with columns ``item``,
        ``annotator``, ``label`` or a **tuple** ``(items, annotators, labels)`` of three
        equal-length sequences. There is no matrix form: a list or an array is refused
        (a list of three sequences is still read as the tuple, with a ``FutureWarning``,
        since a 3-row matrix given as a list would be misread)."""
        if self.tie not in ("random", "first", "abstain"):
            raise ValidationError(
                f"MajorityVote: tie={self.tie!r}; expected 'random', 'first' or 'abstain'"
            )
        ll = long_labels(data, self.classes, where="MajorityVote")
        check_one_label_each(ll, "MajorityVote (one vote per annotator)")
        items = _index(ll.items, "item")
        self.classes_ = _index(ll.classes, "label")
        counts = _vote_counts(ll)
        if counts.shape[0] == 0:
            degenerate("MajorityVote: no labels; the result is empty")
        top = counts.max(axis=1, initial=0.0)
        is_top = counts == top[:, None]
        tied = is_top.sum(axis=1) > 1
        if counts.shape[1] == 0:
            pick = np.zeros(0, dtype=np.int64)
        elif self.tie == "random":
            rng = np.random.default_rng(self.seed)
            pick = np.argmax(is_top + rng.random(counts.shape) * 0.5, axis=1)
        else:
            pick = np.argmax(is_top, axis=1)
        if self.tie == "abstain":
            labels = np.asarray(self.classes_, dtype=object)[pick]
            labels[tied] = None
            self.labels_ = pd.Series(labels, index=items, name="label", dtype=object)
        else:
            self.labels_ = pd.Series(self.classes_.take(pick), index=items, name="label")
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = counts / counts.sum(axis=1, keepdims=True)
        self.probas_ = pd.DataFrame(shares, index=items, columns=self.classes_)
        self.tied_ = pd.Series(tied, index=items, name="tied")
        return self

    def fit_predict(self, data: Any) -> pd.Series:
        """Fit and return ``labels_``."""
        return self.fit(data).labels_

    def fit_predict_proba(self, data: Any) -> pd.DataFrame:
        """Fit and return ``probas_`` (the vote shares)."""
        return self.fit(data).probas_


def soft_labels(data: Any, smoothing: float = 0.0,
                classes: Sequence[Any] | None = None) -> pd.DataFrame:
    """Item × class distribution of the annotators' labels, with additive smoothing.

    ``smoothing`` is the pseudo-count :math:`\\lambda` added to every class (``0``: the
    plain vote shares). Rows sum to 1. Each annotator is one vote: two labels of one
    item by one annotator are refused, as in :class:`MajorityVote`. ``data`` is the
    long form, as for :meth:`MajorityVote.fit`: a DataFrame (item, annotator, label) or
    a tuple ``(items, annotators, labels)``; a list or an array is refused (a list of
    three sequences is read as the tuple, with a ``FutureWarning``).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"item": [1, 1, 1, 2], "annotator": ["a", "b", "c", "a"],
    ...                    "label": ["cat", "cat", "dog", "dog"]})
    >>> soft_labels(df).round(3).to_dict("index")
    {1: {'cat': 0.667, 'dog': 0.333}, 2: {'cat': 0.0, 'dog': 1.0}}
    >>> soft_labels(df, smoothing=1).round(3).loc[2].tolist()
    [0.333, 0.667]
    """
    if (isinstance(smoothing, bool) or not isinstance(smoothing, int | float | np.number)
            or smoothing < 0 or not np.isfinite(smoothing)):
        raise ValidationError(f"soft_labels: field 'smoothing' is {smoothing!r}; give the "
                              "pseudo-count added to every class, a number >= 0")
    ll = long_labels(data, classes, where="soft_labels")
    check_one_label_each(ll, "soft_labels (one vote per annotator)")
    counts = _vote_counts(ll) + smoothing
    if counts.shape[0] == 0:
        degenerate("soft_labels: no labels; the result is empty")
    dist = counts / counts.sum(axis=1, keepdims=True)
    return pd.DataFrame(dist, index=_index(ll.items, "item"),
                        columns=_index(ll.classes, "label"))
