r"""Cohen's and Fleiss' kappa: chance-corrected agreement on categorical labels.

Cohen's kappa (two raters, optionally weighted):

.. math::

    \kappa = 1 - \frac{\sum_{ij} w_{ij} O_{ij}}{\sum_{ij} w_{ij} E_{ij}}

where :math:`O` is the observed confusion matrix of the two raters, :math:`E` the one
expected by chance (outer product of the two marginals, scaled to the same total) and
:math:`w_{ij}` is ``0`` on the diagonal and ``1`` off it (unweighted), ``|i - j|``
(linear) or ``(i - j)^2`` (quadratic), with ``i, j`` the positions of the labels in
``labels`` (sorted by default). Cohen (1960), *Educational and Psychological
Measurement* 20(1); Cohen (1968), *Psychological Bulletin* 70(4).

Fleiss' kappa (any number of raters per item):

.. math::

    P_i = \frac{\sum_j n_{ij}(n_{ij} - 1)}{n_i (n_i - 1)}, \quad
    \bar P = \frac{1}{N} \sum_i P_i, \quad
    p_j = \frac{\sum_i n_{ij}}{\sum_i n_i}, \quad
    \bar P_e = \sum_j p_j^2, \quad
    \kappa = \frac{\bar P - \bar P_e}{1 - \bar P_e}

with :math:`n_{ij}` the number of raters who gave item ``i`` category ``j`` and
:math:`n_i = \sum_j n_{ij}`. Fleiss (1971), *Psychological Bulletin* 76(5). With
equal :math:`n_i` this is exactly Fleiss' statistic. **Unequal counts**: each item's
agreement :math:`P_i` uses its own :math:`n_i` (the proportion of agreeing ordered
pairs among that item's raters), :math:`\bar P` is their unweighted mean over the
:math:`N` items that have at least two ratings (every item counts once, however many
raters it had), and the category proportions :math:`p_j` pool all ratings of those
items (so an item with more raters weighs more in :math:`p_j`). Items with fewer than
two ratings carry no pair and are left out. Other unequal-count estimators exist
(e.g. weighting :math:`P_i` by :math:`n_i`); Krippendorff's alpha
(:func:`~labelnb.metrics.krippendorff_alpha`, nominal level) is the pairable-values
alternative that also corrects for small samples.

Degenerate inputs (no pairable item; every rating in one category) have no defined
kappa: the functions return ``nan`` and emit a
:class:`~labelnb.metrics.DegenerateWarning`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from labelnb.errors import ValidationError
from labelnb.metrics._common import check_one_label_each, degenerate, is_long, long_labels

__all__ = ["cohen_kappa", "fleiss_kappa"]

Weights = Literal["linear", "quadratic"] | None


def _weight_matrix(k: int, weights: Weights) -> np.ndarray:
    idx = np.arange(k, dtype=np.float64)
    diff = idx[:, None] - idx[None, :]
    if weights is None:
        return np.asarray(diff != 0, dtype=np.float64)
    if weights == "linear":
        return np.abs(diff)
    if weights == "quadratic":
        return diff**2
    raise ValidationError(
        f"cohen_kappa: weights={weights!r}; expected None, 'linear' or 'quadratic'"
    )


def cohen_kappa(a: Sequence[Any] | np.ndarray | pd.Series, b: Sequence[Any] | np.ndarray |
                pd.Series, weights: Weights = None,
                labels: Sequence[Any] | None = None) -> float:
    """Cohen's kappa between two raters' labels for the same items.

    ``a[i]`` and ``b[i]`` are the two labels of item ``i``. Pairs where either label is
    missing (``None``/``NaN``) are dropped. ``labels`` fixes the categories and, for the
    weighted kappas, their order; pairs with a label outside it are dropped (as
    scikit-learn does). By default the categories are the sorted union of both raters'
    labels. Equals :func:`sklearn.metrics.cohen_kappa_score`.

    Returns ``nan`` with a :class:`~labelnb.metrics.DegenerateWarning` when no pair is
    left or when the chance disagreement is zero (both raters used one same category
    throughout).

    >>> cohen_kappa(["a", "a", "b", "b"], ["a", "a", "b", "a"])
    0.5
    >>> round(cohen_kappa([1, 2, 3, 3], [1, 2, 3, 2], weights="quadratic"), 4)
    0.8
    """
    x = np.asarray(a, dtype=object)
    y = np.asarray(b, dtype=object)
    if x.shape != y.shape or x.ndim != 1:
        raise ValidationError(
            f"cohen_kappa: a and b must be 1-D and of equal length, got {x.shape} and {y.shape}"
        )
    keep = ~(pd.isna(x) | pd.isna(y))
    x, y = x[keep], y[keep]
    if labels is None:
        cats = pd.Index(pd.unique(np.concatenate([x, y])))
        try:
            cats = cats.sort_values()
        except TypeError:
            pass
    else:
        cats = pd.Index(list(labels))
        if not cats.is_unique:
            dup = sorted({str(v) for v in cats[cats.duplicated()]})
            raise ValidationError(f"cohen_kappa: field 'labels' repeats {dup}; give each "
                                  "category once")
    ix = cats.get_indexer(x)
    iy = cats.get_indexer(y)
    ok = (ix >= 0) & (iy >= 0)
    ix, iy = ix[ok], iy[ok]
    k = len(cats)
    if ix.size == 0 or k == 0:
        degenerate("cohen_kappa: no pair of labels to compare; returning nan")
        return float("nan")
    observed = np.bincount(ix * k + iy, minlength=k * k).reshape(k, k).astype(np.float64)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    w = _weight_matrix(k, weights)
    den = float((w * expected).sum())
    if den == 0.0:
        degenerate("cohen_kappa: every label falls in one category, so chance "
                   "disagreement is zero and kappa is undefined; returning nan")
        return float("nan")
    return float(1.0 - (w * observed).sum() / den)


def _count_matrix(data: Any, classes: Sequence[Any] | None) -> np.ndarray:
    if is_long(data):  # a long frame, or a tuple (items, annotators, labels)
        ll = long_labels(data, classes, where="fleiss_kappa")
        check_one_label_each(ll, "fleiss_kappa")
        k = len(ll.classes)
        n_items = len(ll.items)
        return np.bincount(ll.item * k + ll.label, minlength=n_items * k).reshape(
            n_items, k).astype(np.float64)
    try:
        counts = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            "fleiss_kappa: give a long DataFrame (item, annotator, label), a tuple (items, "
            "annotators, labels), or an items x categories matrix of rater counts (a list "
            "or an array); this matrix holds values that are not counts"
        ) from None
    if counts.ndim != 2:
        raise ValidationError(
            "fleiss_kappa: give a long DataFrame (item, annotator, label), a tuple (items, "
            "annotators, labels), or an items x categories count matrix (a list or an "
            f"array); got an array of shape {counts.shape}"
        )
    if (counts < 0).any() or not np.isfinite(counts).all() or (counts != np.round(counts)).any():
        raise ValidationError(
            "fleiss_kappa: the count matrix must hold non-negative whole numbers of raters"
        )
    return counts


def fleiss_kappa(data: Any, classes: Sequence[Any] | None = None) -> float:
    """Fleiss' kappa for any number of raters per item (see the module docstring for
    the formula and the unequal-count generalisation).

    ``data`` is either form of the package's input rule:

    * the long form: a DataFrame with columns ``item``, ``annotator``, ``label``, or a
      **tuple** ``(items, annotators, labels)`` of three equal-length 1-D sequences;
    * the matrix form: a **list** of lists, a numpy array or a DataFrame without those
      columns, read as an items × categories matrix of rater counts.

    So a tuple of three rows is the long form, never a 3-item count matrix; give counts
    as a list or an array. With equal counts it equals
    ``statsmodels.stats.inter_rater.fleiss_kappa``.

    Returns ``nan`` with a :class:`~labelnb.metrics.DegenerateWarning` when no item has
    two ratings, or when all ratings fall in one category.

    >>> counts = [[3, 0], [0, 3], [2, 1], [1, 2]]
    >>> round(fleiss_kappa(counts), 4)
    0.3333
    >>> import pandas as pd
    >>> df = pd.DataFrame({"item": [1, 1, 1, 2, 2], "annotator": ["a", "b", "c", "a", "b"],
    ...                    "label": ["x", "x", "y", "y", "y"]})
    >>> round(fleiss_kappa(df), 4)
    0.3056
    """
    counts = _count_matrix(data, classes)
    n_i = counts.sum(axis=1)
    counts = counts[n_i >= 2]
    n_i = n_i[n_i >= 2]
    if counts.shape[0] == 0:
        degenerate("fleiss_kappa: no item has two or more ratings (one rater, or no "
                   "overlap); returning nan")
        return float("nan")
    p_i = ((counts * (counts - 1)).sum(axis=1)) / (n_i * (n_i - 1))
    p_bar = float(p_i.mean())
    p_j = counts.sum(axis=0) / n_i.sum()
    p_e = float((p_j**2).sum())
    if p_e >= 1.0 - 1e-15:
        degenerate("fleiss_kappa: every rating falls in one category, so chance agreement "
                   "is 1 and kappa is undefined; returning nan")
        return float("nan")
    return (p_bar - p_e) / (1.0 - p_e)
