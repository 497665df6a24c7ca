"""Shared helpers of the metrics layer: the degenerate-input warning and input coercion.

The metrics layer is pure: it works on numpy arrays, pandas DataFrames and the types in
:mod:`labelnb.types`, and imports nothing from the queue or the project.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from labelnb.errors import ValidationError
from labelnb.types import Region

__all__ = ["DegenerateWarning", "LongLabels", "check_one_label_each",
           "degenerate", "is_long", "is_long_frame", "long_labels", "threshold_pairs"]

# Column names accepted for the long format (ours first, then crowd-kit's).
_ITEM = ("item", "item_id", "task")
_ANNOTATOR = ("annotator", "author", "worker")
_LABEL = ("label",)


class DegenerateWarning(UserWarning):
    """A metric was asked about data on which it is undefined or trivial (one class,
    one rater, no overlap, empty input). The function returns the value its docstring
    documents for that case and emits this warning instead of a silent NaN.

    Turn it into an error with ``warnings.simplefilter("error", DegenerateWarning)``.
    """


def threshold_pairs(score: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """One-to-one pairs of rows and columns whose ``score`` (IoU, Dice) is at least
    ``threshold`` (and above 0): as many as possible, then the largest total score.

    Maximising the total score first and applying the threshold after can give fewer
    pairs: with IoUs [[0.78, 0.5], [0.7, 0.44]] at 0.5 the best total (0.78 + 0.44)
    keeps one pair where two qualify.

    >>> threshold_pairs(np.array([[0.78, 0.5], [0.7, 0.44]]), 0.5)
    [(0, 1, 0.5), (1, 0, 0.7)]
    """
    from scipy.optimize import linear_sum_assignment

    if score.size == 0:
        return []
    ok = (score >= threshold) & (score > 0.0)
    # each qualifying pair is worth more than any total of scores in [0, 1] can add
    weight = np.where(ok, min(score.shape) + 1.0 + score, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(r, c, float(score[r, c])) for r, c in zip(rows.tolist(), cols.tolist(),
                                                      strict=True) if ok[r, c]]


def check_one_label_each(ll: LongLabels, where: str) -> None:
    """Refuse an annotator who labeled one item twice: agreement measures pair each
    value with the other coders' (two of one coder would be paired as two coders)."""
    pair = ll.item.astype(np.int64) * max(1, len(ll.annotators)) + ll.annotator
    if len(np.unique(pair)) != len(pair):
        _, first, counts = np.unique(pair, return_index=True, return_counts=True)
        i = int(first[counts > 1][0])

        def shown(v: Any) -> Any:  # a numpy scalar as the Python value it holds
            return v.item() if isinstance(v, np.generic) else v

        raise ValidationError(
            f"{where}: annotator {shown(ll.annotators[ll.annotator[i]])!r} rated item "
            f"{shown(ll.items[ll.item[i]])!r} more than once; keep one label per "
            "(item, annotator), e.g. frame.drop_duplicates(['item', 'annotator'], "
            "keep='last')")


def degenerate(message: str, stacklevel: int = 3) -> None:
    """Emit a :class:`DegenerateWarning` pointing at the caller's caller."""
    warnings.warn(message, DegenerateWarning, stacklevel=stacklevel)


def _pick(columns: pd.Index, names: Sequence[str], what: str) -> str:
    for n in names:
        if n in columns:
            return n
    raise ValidationError(
        f"long-format labels: no {what} column; expected one of {list(names)}, "
        f"got columns {list(columns)}"
    )


def _plain_label(v: Any) -> Any:
    return v.label if isinstance(v, Region) else v


class LongLabels:
    """Long-format labels factorised into integer codes.

    ``item``, ``annotator`` and ``label`` are int64 code arrays of equal length;
    ``items``, ``annotators`` and ``classes`` hold the original values in code order
    (classes sorted where they sort).
    """

    __slots__ = ("item", "annotator", "label", "items", "annotators", "classes")

    def __init__(self, item: np.ndarray, annotator: np.ndarray, label: np.ndarray,
                 items: pd.Index, annotators: pd.Index, classes: pd.Index) -> None:
        self.item = item
        self.annotator = annotator
        self.label = label
        self.items = items
        self.annotators = annotators
        self.classes = classes

    def __len__(self) -> int:
        return int(self.item.shape[0])


def _factorize(values: Any, sort: bool) -> tuple[np.ndarray, pd.Index]:
    try:
        codes, uniques = pd.factorize(values, sort=sort)
    except TypeError:  # unsortable mix of types
        codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


def _as_array(values: Any) -> np.ndarray:
    """One of the ``(items, annotators, labels)`` of the tuple form as an array. A list
    of strings with a missing value (``NaN``, ``None``) stays an object array: numpy
    would make it a string array, and the missing label a class ``'nan'``."""
    if isinstance(values, np.ndarray):
        return values
    arr = np.asarray(values)
    if arr.dtype.kind in "US":  # strings: keep the values as given, missing ones too
        arr = np.asarray(values, dtype=object)
    return arr


def is_long_frame(data: Any) -> bool:
    """Whether ``data`` is a long-format frame (item, annotator, label): a DataFrame with
    a ``label`` column, or with an item or annotator column (then :func:`long_labels`
    says the label column is missing, instead of the frame being read as a matrix)."""
    return isinstance(data, pd.DataFrame) and any(
        c in data.columns for c in _LABEL + _ITEM + _ANNOTATOR)


def is_long(data: Any) -> bool:
    """Whether ``data`` is long-format labels by the package's rule: a long frame
    (:func:`is_long_frame`) or a tuple (``(items, annotators, labels)``; a tuple of
    another shape is refused by :func:`long_labels`, not read as a matrix)."""
    return is_long_frame(data) or isinstance(data, tuple)


def _three_columns(data: tuple[Any, ...] | list[Any], where: str,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    what = type(data).__name__
    if len(data) != 3:
        raise ValidationError(
            f"{where}: a {what} of labels is read as (items, annotators, labels); got "
            f"{len(data)} elements. Give the three equal-length sequences, or a long "
            "DataFrame (item, annotator, label); a matrix goes in a list or an array, "
            "where the function takes one")
    cols = []
    for name, x in zip(("items", "annotators", "labels"), data, strict=True):
        try:
            col = _as_array(x)
            problem = None if col.ndim == 1 else f"has shape {col.shape}"
        except ValueError:
            problem = "is a ragged nested sequence"
        if problem is not None:
            raise ValidationError(
                f"{where}: a {what} of labels is read as (items, annotators, labels), each "
                f"1-D; {name} {problem}. Give three flat sequences; a matrix goes in a list "
                "or an array, where the function takes one") from None
        cols.append(col)
    return cols[0], cols[1], cols[2]


def long_labels(data: Any, classes: Sequence[Any] | None = None,
                where: str = "labels") -> LongLabels:
    """Coerce ``data`` to factorised long-format labels.

    ``data`` is a DataFrame with columns ``item``, ``annotator``, ``label`` (crowd-kit's
    ``task``/``worker`` and ``item_id``/``author`` are accepted too), or a tuple
    ``(items, annotators, labels)`` of equal-length 1-D sequences. Labels may be plain
    values or :class:`~labelnb.types.Choice` regions. Rows with a missing label are
    dropped. ``where`` names the caller in errors and warnings.

    The input rule of :mod:`labelnb.metrics`: the long form is a DataFrame or a
    *tuple*; a list, a list of lists or an array is the matrix form of a function
    (:func:`~labelnb.metrics.krippendorff_alpha`: coders x units,
    :func:`~labelnb.metrics.fleiss_kappa`: items x category counts). A tuple of another
    shape is refused, not read as a matrix. A *list* of three sequences reaches this
    function only from the aggregators, which have no matrix form and took such a list
    before the rule: it is read as the tuple, with a ``FutureWarning`` (a 3-row matrix
    given there would be misread).
    """
    order: list[Any] | None = None  # an ordered Categorical's own class order
    if isinstance(data, pd.DataFrame):
        cols = data.columns
        it = data[_pick(cols, _ITEM, "item")].to_numpy()
        an = data[_pick(cols, _ANNOTATOR, "annotator")].to_numpy()
        labels = data[_pick(cols, _LABEL, "label")]
        if isinstance(labels.dtype, pd.CategoricalDtype) and labels.cat.ordered:
            order = list(labels.cat.categories)
        # nullable and categorical columns as their values (Int64 with a missing value
        # became floats, a Categorical lost its order)
        lb = (labels.astype(object).to_numpy()
              if isinstance(labels.dtype, pd.api.extensions.ExtensionDtype)
              else labels.to_numpy())
        lb = np.array([None if v is pd.NA else v for v in lb], dtype=object) \
            if lb.dtype == object else lb
    elif isinstance(data, tuple):
        it, an, lb = _three_columns(data, where)
    elif isinstance(data, list) and len(data) == 3:
        it, an, lb = _three_columns(data, where)
        warnings.warn(
            f"{where}: read a list of three sequences as (items, annotators, labels); "
            "pass them as a tuple (items, annotators, labels) or a long DataFrame. "
            "Elsewhere in labelnb.metrics a list is a matrix (a 3-row matrix given here "
            "would be misread), and a later release will refuse the list",
            FutureWarning, stacklevel=3)
    else:
        shape = f" of shape {np.shape(data)}" if isinstance(data, np.ndarray) else ""
        raise ValidationError(
            f"{where}: labels must be a long DataFrame with columns item, annotator, "
            f"label, or a tuple (items, annotators, labels) of arrays; got "
            f"{type(data).__name__}{shape}. A list or array is a matrix, which this "
            "function does not take"
        )
    if not (len(it) == len(an) == len(lb)):
        raise ValidationError(
            f"{where}: items, annotators and labels differ in length ({len(it)}, {len(an)}, "
            f"{len(lb)}); give one item and one annotator per label"
        )
    if lb.dtype == object and any(isinstance(v, Region) for v in lb):  # any row, not the
        lb = np.array([_plain_label(v) for v in lb], dtype=object)      # first (maybe None)
    for name, col in (("item", it), ("annotator", an)):
        missing = np.flatnonzero(pd.isna(col))
        if len(missing):  # a missing id would factorise to -1 and index out of bounds
            raise ValidationError(
                f"row {int(missing[0])} (0-based position): field {name!r} is missing "
                f"({len(missing)} row(s) in all); give every label its {name}, or drop those "
                "rows")
    keep = ~pd.isna(lb)
    if not keep.all():
        it, an, lb = it[keep], an[keep], lb[keep]
    item, items = _factorize(it, sort=False)
    annot, annotators = _factorize(an, sort=False)
    if classes is None and order is not None:
        classes = [c for c in order]
    if classes is not None:
        cls = pd.Index(list(classes))
        if not cls.is_unique:
            raise ValidationError(f"classes {list(classes)!r} hold duplicates")
        label = np.asarray(cls.get_indexer(lb), dtype=np.int64)
        if (label < 0).any():
            bad = sorted({str(v) for v in lb[label < 0]})[:5]
            raise ValidationError(
                f"labels {bad} are not in classes {list(classes)!r}; add them to classes"
            )
    else:
        label, cls = _factorize(lb, sort=True)
    return LongLabels(item, annot, label, items, annotators, cls)
