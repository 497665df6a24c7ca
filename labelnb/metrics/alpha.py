r"""Krippendorff's alpha for any number of coders, missing data and four levels.

.. math::

    \alpha = 1 - \frac{D_o}{D_e}
           = 1 - (n - 1)\,\frac{\sum_{c,k} o_{ck}\, \delta^2_{ck}}
                              {\sum_{c,k} n_c\, n_k\, \delta^2_{ck}}

The coincidence matrix :math:`o_{ck} = \sum_u \frac{n_{uck}}{m_u - 1}` sums, over
the units :math:`u` with :math:`m_u \ge 2` values, the number :math:`n_{uck}` of
ordered pairs of values ``(c, k)`` given by different coders to that unit
(:math:`n_{uc} n_{uk}` for :math:`c \ne k`, :math:`n_{uc}(n_{uc} - 1)` for
:math:`c = k`); :math:`n_c = \sum_k o_{ck}` and :math:`n = \sum_c n_c`. The
difference functions are

* nominal: :math:`\delta^2_{ck} = [c \ne k]`
* ordinal: :math:`\delta^2_{ck} = \big(\sum_{g=c}^{k} n_g - \frac{n_c + n_k}{2}\big)^2`
  (values ranked in sorted order, or in the order of ``value_domain``)
* interval: :math:`\delta^2_{ck} = (c - k)^2`
* ratio: :math:`\delta^2_{ck} = \big(\frac{c - k}{c + k}\big)^2` (``0`` when ``c + k = 0``)

Krippendorff, K. (2011). *Computing Krippendorff's Alpha-Reliability*. Annenberg
School for Communication, University of Pennsylvania.
https://repository.upenn.edu/asc_papers/43

Units with fewer than two values are not pairable and drop out. When no unit is
pairable, or every pairable value is the same (:math:`D_e = 0`), alpha is undefined:
the function returns ``nan`` and emits a :class:`~labelnb.metrics.DegenerateWarning`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from labelnb.errors import ValidationError
from labelnb.metrics._common import (
    check_one_label_each,
    degenerate,
    is_long,
    is_long_frame,
    long_labels,
)

__all__ = ["krippendorff_alpha"]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
_LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _units_values(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """(unit index, value) of every non-missing value."""
    if is_long(data):  # a long frame, or a tuple (items, annotators, labels)
        ll = long_labels(data, where="krippendorff_alpha")
        try:
            check_one_label_each(ll, "krippendorff_alpha")
        except ValidationError as e:
            if not isinstance(data, tuple):
                raise
            raise ValidationError(f"{e} (a tuple is read as (items, annotators, labels); "
                                  "give a coders x units matrix as a list or an array)"
                                  ) from None
        return ll.item, np.asarray(ll.classes)[ll.label]
    if isinstance(data, pd.DataFrame):
        arr = data.to_numpy()
    elif isinstance(data, np.ndarray):
        arr = data
    else:  # a list: as objects, or numpy would make nan the string 'nan' among strings
        arr = np.array(data, dtype=object)
    if arr.ndim != 2:
        raise ValidationError(
            "krippendorff_alpha: reliability_data must be a 2-D list or array (coders x "
            "units), a long DataFrame (item, annotator, label) or a tuple (items, "
            f"annotators, labels); got shape {arr.shape}"
        )
    missing = np.asarray(pd.isna(arr), dtype=bool)
    _, unit = np.nonzero(~missing)
    return unit.astype(np.int64), arr[~missing]


def _categorical_order(data: Any) -> list[Any] | None:
    """The categories of an ordered Categorical label column (long frame) or of an
    all-Categorical matrix frame sharing one ordered dtype; None otherwise."""
    if not isinstance(data, pd.DataFrame):
        return None
    cols = ([c for c in ("label",) if c in data.columns]
            if is_long_frame(data) else list(data.columns))
    dtypes = {data[c].dtype for c in cols}
    if len(dtypes) == 1:
        (dt,) = dtypes
        if isinstance(dt, pd.CategoricalDtype) and dt.ordered:
            return list(dt.categories)
    return None


def _deltas(level: str, values: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    if level == "nominal":
        return 1.0 - np.eye(len(values))
    if level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        i = np.arange(len(values))
        lo, hi = np.minimum.outer(i, i), np.maximum.outer(i, i)
        between = cum[hi + 1] - cum[lo]
        return np.asarray((between - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2)
    try:
        v = values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            f"krippendorff_alpha: level={level!r} needs numeric values, got "
            f"{values[:5].tolist()!r}"
        ) from None
    if not np.isfinite(v).all():
        raise ValidationError(f"krippendorff_alpha: level={level!r} needs finite values, got "
                              f"{v[~np.isfinite(v)][:3].tolist()!r}; remove or mark them missing")
    diff = v[:, None] - v[None, :]
    if level == "interval":
        return np.asarray(diff**2)
    tot = v[:, None] + v[None, :]
    ratio = np.divide(diff, tot, out=np.zeros_like(diff), where=tot != 0)
    return np.asarray(ratio**2)


def krippendorff_alpha(reliability_data: Any, level: Level = "nominal",
                       value_domain: Sequence[Any] | None = None) -> float:
    """Krippendorff's alpha (see the module docstring for the formula).

    ``reliability_data`` is either form of the package's input rule:

    * the long form: a DataFrame with columns ``item``, ``annotator``, ``label``, or a
      **tuple** ``(items, annotators, labels)`` of three equal-length 1-D sequences;
    * the matrix form: a **list** of lists, a numpy array or a DataFrame without those
      columns, read as coders × units (one row per coder, one column per unit, missing
      values as ``nan``/``None``), as the ``krippendorff`` package takes it.

    So a tuple of three rows is the long form, never a 3-coder matrix; give a matrix
    as a list or an array. ``value_domain`` fixes the order of ordinal values (default:
    an ordered Categorical's own order, else sorted).

    Krippendorff's (2011) example, 4 coders × 12 units with missing values:

    >>> nan = float("nan")
    >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    ...         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    ...         [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    ...         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    >>> round(krippendorff_alpha(data, "nominal"), 3)
    0.743
    >>> round(krippendorff_alpha(data, "interval"), 3)
    0.849

    The same kind of data in the long form, as a tuple (items, annotators, labels):

    >>> long = ([1, 1, 2, 2, 3, 3], ["a", "b"] * 3, [1, 1, 2, 1, 2, 2])
    >>> round(krippendorff_alpha(long), 4)
    0.4444
    """
    if level not in _LEVELS:
        raise ValidationError(
            f"krippendorff_alpha: level={level!r}; expected one of {list(_LEVELS)}"
        )
    unit, vals = _units_values(reliability_data)
    if value_domain is None:  # an ordered Categorical ranks its values itself
        value_domain = _categorical_order(reliability_data)
    if value_domain is not None:
        domain = pd.Index(list(value_domain))
        if not domain.is_unique:
            raise ValidationError(f"krippendorff_alpha: value_domain {list(value_domain)!r} "
                                  "holds a value twice; give each value once, in order")
        code = np.asarray(domain.get_indexer(vals), dtype=np.int64)
        if (code < 0).any():
            bad = sorted({str(v) for v in vals[code < 0]})[:5]
            raise ValidationError(
                f"krippendorff_alpha: values {bad} are not in value_domain; add them"
            )
    else:
        try:
            c, u = pd.factorize(vals, sort=True)
        except TypeError:
            raise ValidationError(
                "krippendorff_alpha: values of mixed types cannot be ordered; give "
                "value_domain"
            ) from None
        code, domain = np.asarray(c, dtype=np.int64), pd.Index(u)
    n_units = int(unit.max()) + 1 if unit.size else 0
    n_vals = len(domain)
    if n_units == 0 or n_vals == 0:
        degenerate("krippendorff_alpha: no values at all; returning nan")
        return float("nan")
    _, unit = np.unique(unit, return_inverse=True)
    n_units = int(unit.max()) + 1
    counts = np.bincount(unit * n_vals + code, minlength=n_units * n_vals).reshape(
        n_units, n_vals).astype(np.float64)
    m_u = counts.sum(axis=1)
    pairable = m_u >= 2
    counts, m_u = counts[pairable], m_u[pairable]
    if counts.shape[0] == 0:
        degenerate("krippendorff_alpha: no unit has two or more values (one coder, or no "
                   "overlap); returning nan")
        return float("nan")
    scaled = counts / (m_u - 1.0)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = float(n_c.sum())
    delta = _deltas(level, np.asarray(domain), n_c)
    d_e = float((np.outer(n_c, n_c) * delta).sum())
    if d_e == 0.0:
        degenerate("krippendorff_alpha: all pairable values are equal, so expected "
                   "disagreement is zero and alpha is undefined; returning nan")
        return float("nan")
    d_o = float((coincidence * delta).sum())
    return 1.0 - (n - 1.0) * d_o / d_e
