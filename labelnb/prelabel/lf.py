r"""Labeling functions: heuristics that vote for a class of an item, or abstain.

A labeling function (LF) is a plain Python function of one item that returns a class
(its name from the schema, or its index) or :data:`ABSTAIN`. :func:`apply_lfs` runs a
list of them over items and returns the **label matrix** :math:`L` (``n_items ×
n_lfs``, ``int64``): :math:`L_{ij}` is the class index LF ``j`` gave item ``i``, or
``-1`` where it abstained. :class:`LFAnalysis` reports, per LF ``j`` (after Snorkel's
``LFAnalysis``; Ratner et al. 2017, *Snorkel: rapid training data creation with weak
supervision*, VLDB 11(3), https://doi.org/10.14778/3157794.3157797):

* **coverage**: the share of items it labels, :math:`\frac1n \sum_i [L_{ij} \ne -1]`;
* **overlaps**: the share of items it labels that at least one other LF labels too;
* **conflicts**: the share of items it labels that another LF labels *differently*;
* **empirical accuracy** against gold :math:`y`:
  :math:`\sum_i [L_{ij} = y_i] / \sum_i [L_{ij} \ne -1]` over items with a gold label.

All shares are over *all* items (as Snorkel reports them), so overlaps and conflicts
never exceed coverage.

>>> @labeling_function()
... def says_great(x):
...     return "pos" if "great" in x else ABSTAIN
>>> @labeling_function()
... def says_dull(x):
...     return "neg" if "dull" in x else ABSTAIN
>>> @labeling_function(name="long_is_neg")
... def long_text(x):
...     return "neg" if len(x) > 20 else ABSTAIN
>>> texts = ["great film", "dull plot", "great cast but a dull plot", "fine"]
>>> L = apply_lfs([says_great, says_dull, long_text], texts, classes=["pos", "neg"])
>>> L.tolist()
[[0, -1, -1], [-1, 1, -1], [0, 1, 1], [-1, -1, -1]]
>>> LFAnalysis(L, [says_great, says_dull, long_text], classes=["pos", "neg"]).lf_summary(
...     ["pos", "neg", "neg", "pos"])[["coverage", "overlaps", "conflicts", "emp_acc"]]
             coverage  overlaps  conflicts  emp_acc
says_great       0.50      0.25       0.25      0.5
says_dull        0.50      0.25       0.25      1.0
long_is_neg      0.25      0.25       0.25      1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, overload

import numpy as np
import pandas as pd

from labelnb.errors import LabelnbError, ValidationError

__all__ = [
    "ABSTAIN",
    "LFAnalysis",
    "LabelingFunction",
    "LabelingFunctionError",
    "apply_lfs",
    "labeling_function",
]

#: what a labeling function returns to say "no opinion" (``None`` works too)
ABSTAIN: Final = -1


class LabelingFunctionError(LabelnbError):
    """A labeling function raised, or returned something that is not a class."""


class LabelingFunction:
    """A named heuristic ``f(x) -> class | ABSTAIN`` (build one with
    :func:`labeling_function`).

    ``resources`` are passed to ``f`` as keyword arguments (keyword lists, a lexicon,
    a small model); ``pre`` are preprocessors applied to the item first, in order.
    """

    def __init__(self, name: str, f: Callable[..., Any], *,
                 resources: Mapping[str, Any] | None = None,
                 pre: Sequence[Callable[[Any], Any]] = ()) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError("labeling function: field 'name' must be a non-empty "
                                  f"string, got {name!r}")
        if not callable(f):
            raise ValidationError(f"labeling function {name!r}: {f!r} is not callable")
        self.name = name
        self.f = f
        self.resources = dict(resources or {})
        self.pre = tuple(pre)

    def __call__(self, x: Any) -> Any:
        for p in self.pre:
            x = p(x)
        return self.f(x, **self.resources)

    def __repr__(self) -> str:
        return f"LabelingFunction({self.name!r})"


@overload
def labeling_function(name: Callable[..., Any], *,
                      resources: Mapping[str, Any] | None = None,
                      pre: Sequence[Callable[[Any], Any]] = ()) -> LabelingFunction: ...


@overload
def labeling_function(name: str | None = None, *,
                      resources: Mapping[str, Any] | None = None,
                      pre: Sequence[Callable[[Any], Any]] = ()
                      ) -> Callable[[Callable[..., Any]], LabelingFunction]: ...


def labeling_function(name: str | Callable[..., Any] | None = None, *,
                      resources: Mapping[str, Any] | None = None,
                      pre: Sequence[Callable[[Any], Any]] = ()
                      ) -> LabelingFunction | Callable[[Callable[..., Any]], LabelingFunction]:
    """Decorator: turn ``f(x) -> class | ABSTAIN`` into a :class:`LabelingFunction`.

    ``name`` defaults to the function's ``__name__``. Works with and without
    parentheses (``@labeling_function`` / ``@labeling_function(name="kw_refund")``).

    >>> @labeling_function(resources={"words": {"refund", "broken"}})
    ... def complaint(x, words):
    ...     return "complaint" if words & set(x.split()) else ABSTAIN
    >>> complaint.name, complaint("it came broken"), complaint("thanks")
    ('complaint', 'complaint', -1)
    """
    if callable(name):
        return LabelingFunction(name.__name__, name, resources=resources, pre=pre)

    def wrap(f: Callable[..., Any]) -> LabelingFunction:
        return LabelingFunction(name or f.__name__, f, resources=resources, pre=pre)

    return wrap


def _rows(items: Any) -> Iterable[Any]:
    if isinstance(items, pd.DataFrame):
        return (row for _, row in items.iterrows())
    if isinstance(items, str):
        raise ValidationError("apply_lfs: field 'items' is one string; give a list of items")
    return items  # type: ignore[no-any-return]


def _code(v: Any, lf: LabelingFunction, n: int, index: Mapping[Any, int], k: int,
          item_desc: str) -> int:
    if v is None:
        return ABSTAIN
    if isinstance(v, bool):
        raise LabelingFunctionError(
            f"labeling function {lf.name!r} returned {v!r} for {item_desc}; return a class "
            f"name ({', '.join(map(str, index))}), a class index 0..{k - 1}, or ABSTAIN")
    if isinstance(v, str):
        if v in index:
            return index[v]
    elif isinstance(v, int | np.integer):
        iv = int(v)
        if iv == ABSTAIN:
            return ABSTAIN
        if 0 <= iv < k:
            return iv
    raise LabelingFunctionError(
        f"labeling function {lf.name!r} returned {v!r} for {item_desc}; it must return one "
        f"of the classes ({', '.join(map(str, index))}), a class index 0..{k - 1}, or "
        "ABSTAIN (-1)")


def lf_name(lf: Any) -> str:
    """The name an LF goes by: a :class:`LabelingFunction`'s ``name``, a plain
    function's ``__name__`` (as :func:`apply_lfs` names it), else the string itself."""
    if isinstance(lf, LabelingFunction):
        return lf.name
    if callable(lf) and isinstance(getattr(lf, "__name__", None), str):
        return str(lf.__name__)
    return str(lf)


def apply_lfs(lfs: Sequence[LabelingFunction | Callable[..., Any]], items: Any, *,
              classes: Sequence[str], item_ids: Sequence[Any] | None = None) -> np.ndarray:
    """The label matrix ``L`` (``n_items × n_lfs``, ``int64``, ``-1`` = abstain).

    ``items`` is any iterable (texts, dicts, :class:`~labelnb.queue.queue.Item`) or a
    DataFrame (each LF sees one row as a Series). An LF may return a class name from
    ``classes``, a class index, ``ABSTAIN`` (``-1``) or ``None``. ``item_ids`` only
    name items in error messages. Plain functions are wrapped as LFs named after them.
    """
    fns = [lf if isinstance(lf, LabelingFunction) else labeling_function(lf) for lf in lfs]
    if not fns:
        raise ValidationError("apply_lfs: no labeling functions given")
    names = [lf.name for lf in fns]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValidationError(f"apply_lfs: labeling function names must be unique; repeated: "
                              f"{dup}. Fix: @labeling_function(name=...)")
    classes = list(classes)
    if not classes:
        raise ValidationError("apply_lfs: field 'classes' is empty; give the schema's classes")
    index = {c: i for i, c in enumerate(classes)}
    rows: list[list[int]] = []
    for n, x in enumerate(_rows(items)):
        desc = f"item #{n}" + (f" (id {item_ids[n]})" if item_ids is not None else "")
        row = []
        for lf in fns:
            try:
                v = lf(x)
            except Exception as e:
                raise LabelingFunctionError(
                    f"labeling function {lf.name!r} raised {type(e).__name__}: {e} on {desc}; "
                    "fix the function, or return ABSTAIN for such items") from e
            row.append(_code(v, lf, n, index, len(classes), desc))
        rows.append(row)
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), len(fns))


def check_matrix(L: Any, n_classes: int | None = None, where: str = "L") -> np.ndarray:
    """``L`` as a 2-D int64 array of class indices and ``-1``; raise on anything else."""
    arr = np.asarray(L)
    if arr.ndim != 2:
        raise ValidationError(f"{where}: the label matrix must be 2-D (n_items × n_lfs), got "
                              f"shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValidationError(f"{where}: the label matrix must hold ints (class indices, -1 "
                              f"for abstain), got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < -1:
        raise ValidationError(f"{where}: value {int(arr.min())} is not a class index; use -1 "
                              "for abstain")
    if n_classes is not None and arr.size and arr.max() >= n_classes:
        raise ValidationError(f"{where}: value {int(arr.max())} is not a class index for "
                              f"{n_classes} classes (0..{n_classes - 1})")
    return arr


def _gold(Y: Any, classes: Sequence[str] | None, n: int) -> np.ndarray:
    """Gold labels as class indices (``-1``: unknown)."""
    vals = list(Y)
    if len(vals) != n:
        raise ValidationError(f"gold labels: got {len(vals)} for {n} items; give one per row "
                              "of L (None or -1 where unknown)")
    index = {c: i for i, c in enumerate(classes or ())}
    out = np.full(n, -1, dtype=np.int64)
    for i, v in enumerate(vals):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, str):
            if v not in index:
                raise ValidationError(f"gold label {v!r} of item #{i} is not a class "
                                      f"({', '.join(index) or 'pass classes=...'})")
            out[i] = index[v]
        elif isinstance(v, int | np.integer) and not isinstance(v, bool):
            out[i] = int(v)
        else:
            raise ValidationError(f"gold label {v!r} of item #{i}: give a class name or index")
    return out


class LFAnalysis:
    """Coverage, overlaps, conflicts and empirical accuracy of the LFs of a label
    matrix (see the module docstring for the definitions).

    ``lfs`` (LFs or names) name the columns; ``classes`` name the class indices.
    """

    def __init__(self, L: Any,
                 lfs: Sequence[LabelingFunction | Callable[..., Any] | str] | None = None, *,
                 classes: Sequence[str] | None = None) -> None:
        self.L = check_matrix(L, len(classes) if classes is not None else None)
        m = self.L.shape[1]
        if lfs is None:
            self.names = [f"lf_{j}" for j in range(m)]
        else:
            self.names = [lf_name(lf) for lf in lfs]
            if len(self.names) != m:
                raise ValidationError(f"LFAnalysis: {len(self.names)} LF names for {m} columns "
                                      "of L")
        self.classes = list(classes) if classes is not None else None

    # --- whole-matrix shares ----------------------------------------------------------
    @property
    def _votes(self) -> np.ndarray:
        votes: np.ndarray = self.L != ABSTAIN
        return votes

    def _n_distinct(self) -> np.ndarray:
        """Distinct non-abstain labels per item."""
        L = self.L
        if L.size == 0:
            return np.zeros(L.shape[0], dtype=np.int64)
        s = np.sort(np.where(L == ABSTAIN, np.iinfo(np.int64).max, L), axis=1)
        valid = s != np.iinfo(np.int64).max
        new = np.ones_like(valid)
        new[:, 1:] = s[:, 1:] != s[:, :-1]
        return np.asarray((new & valid).sum(axis=1))

    def label_coverage(self) -> float:
        """The share of items at least one LF labels."""
        return float(self._votes.any(axis=1).mean()) if len(self.L) else 0.0

    def label_overlap(self) -> float:
        """The share of items at least two LFs label."""
        return float((self._votes.sum(axis=1) >= 2).mean()) if len(self.L) else 0.0

    def label_conflict(self) -> float:
        """The share of items that LFs give two or more different classes."""
        return float((self._n_distinct() >= 2).mean()) if len(self.L) else 0.0

    # --- per LF -------------------------------------------------------------------------
    def lf_coverages(self) -> np.ndarray:
        n = max(len(self.L), 1)
        return np.asarray(self._votes.sum(axis=0) / n)

    def lf_overlaps(self) -> np.ndarray:
        v = self._votes
        n = max(len(self.L), 1)
        others = v.sum(axis=1, keepdims=True) - v
        return np.asarray((v & (others > 0)).sum(axis=0) / n)

    def lf_conflicts(self) -> np.ndarray:
        """An LF conflicts on an item when the item's labels hold a class other than
        the LF's own."""
        v = self._votes
        n = max(len(self.L), 1)
        distinct = self._n_distinct()[:, None]
        return np.asarray((v & (distinct >= 2)).sum(axis=0) / n)

    def lf_polarities(self) -> list[list[Any]]:
        """The classes each LF ever outputs (names where ``classes`` was given)."""
        out = []
        for j in range(self.L.shape[1]):
            codes = sorted(int(c) for c in np.unique(self.L[:, j]) if c != ABSTAIN)
            out.append([self.classes[c] for c in codes] if self.classes else codes)
        return out

    def lf_empirical_accuracies(self, Y: Any) -> np.ndarray:
        """Accuracy of each LF on the items it labels that have a gold label (NaN for an
        LF that labels none of them)."""
        y = _gold(Y, self.classes, len(self.L))
        known = (y != -1)[:, None] & self._votes
        correct = (known & (self.L == y[:, None])).sum(axis=0)
        total = known.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(total > 0, correct / np.maximum(total, 1), np.nan))

    def lf_summary(self, Y: Any = None, *, label_model: Any = None) -> pd.DataFrame:
        """One row per LF: ``j``, ``polarity``, ``coverage``, ``overlaps``,
        ``conflicts``; with gold ``Y`` also ``correct``, ``incorrect`` and ``emp_acc``;
        with a fitted :class:`~labelnb.prelabel.label_model.LabelModel` also its
        ``learned_acc``."""
        df = pd.DataFrame({
            "j": np.arange(self.L.shape[1]),
            "polarity": self.lf_polarities(),
            "coverage": self.lf_coverages(),
            "overlaps": self.lf_overlaps(),
            "conflicts": self.lf_conflicts(),
        }, index=pd.Index(self.names, name=None))
        if Y is not None:
            y = _gold(Y, self.classes, len(self.L))
            known = (y != -1)[:, None] & self._votes
            correct = (known & (self.L == y[:, None])).sum(axis=0)
            df["correct"] = correct
            df["incorrect"] = known.sum(axis=0) - correct
            df["emp_acc"] = self.lf_empirical_accuracies(Y)
        if label_model is not None:
            df["learned_acc"] = np.asarray(label_model.accuracies_, dtype=float)
        return df
