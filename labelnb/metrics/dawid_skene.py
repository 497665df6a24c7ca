r"""Dawid-Skene and one-coin Dawid-Skene: EM over annotators' confusion matrices.

Each annotator :math:`a` has a confusion matrix :math:`\pi^a_{kl} = P(\text{says } l
\mid \text{true } k)`; the classes have priors :math:`\rho_k`. With :math:`y_{ia}` the
label annotator ``a`` gave item ``i``, EM alternates

* **E-step**: :math:`T_{ik} \propto \rho_k \prod_{a} \pi^a_{k, y_{ia}}` (in logs,
  normalised per item with log-sum-exp), the posterior of item ``i``'s true class;
* **M-step**: :math:`\rho_k = \frac{1}{I}\sum_i T_{ik}` and
  :math:`\pi^a_{kl} \propto \lambda + \sum_{i: y_{ia} = l} T_{ik}`
  (``smoothing`` :math:`\lambda`, default 0; entries are floored at ``1e-10`` as
  crowd-kit does, so a log never sees 0; a class in ``classes`` that no annotator
  used keeps prior 0, since nothing in the data identifies it),

starting from the majority-vote shares. EM has converged when, in one round, both

* the negative mean log-likelihood per label,
  :math:`-\frac{1}{N}\sum_i \log \sum_k \rho_k \prod_a \pi^a_{k, y_{ia}}`, which EM never
  increases, improves by less than ``tol`` (default ``1e-5``), and
* the posteriors moved by less than ``proba_tol`` (default ``1e-7``): the mean over the
  items of each item's largest change, :math:`\frac{1}{I}\sum_i \max_k
  |T^{(r)}_{ik} - T^{(r-1)}_{ik}|`.

The loss alone stops too early: EM can crawl along a plateau where the loss improves
by less than ``1e-5`` a round while a posterior still moves by ``1e-2`` a round and
ends up ``0.8`` away. The posterior criterion is a mean over items rather than the
largest change of any item, so it does not grow stricter with the data: among
hundreds of thousands of items a few sit near a decision boundary, and the largest
change stays above ``1e-6`` for a hundred rounds and more (200,000 items: 111 rounds;
2,000,000: 240) while the labels settled within ten. EM stops after ``n_iter`` rounds
(default 1000) at the latest; stopping there unconverged emits a
:class:`~labelnb.metrics.DegenerateWarning` (``tol=0`` or ``proba_tol=0`` runs
exactly ``n_iter`` rounds, and emits none). Like any rule
on the change between rounds, it can be fooled by EM passing slowly near a saddle
point (the changes shrink, then grow again): a smaller ``proba_tol`` guards against
that.

Dawid, A. P. & Skene, A. M. (1979). Maximum likelihood estimation of observer
error-rates using the EM algorithm. *Journal of the Royal Statistical Society C*
28(1), 20-28. https://doi.org/10.2307/2346806

**One-coin** (:class:`OneCoinDawidSkene`): every annotator has one accuracy
:math:`s_a`, :math:`\pi^a_{kk} = s_a`, :math:`\pi^a_{kl} = \frac{1 - s_a}{K - 1}`
(:math:`l \ne k`); the M-step sets :math:`s_a` to the annotator's expected accuracy
:math:`\frac{1}{N_a}\sum_{i} T_{i, y_{ia}}`. Zhang, Chen, Zhou & Jordan (2016),
Spectral methods meet EM, *JMLR* 17.

Implementation: labels are factorised once into integer codes and held as one sparse
item × (annotator, observed class) matrix :math:`W`. The E-step is one sparse product
:math:`W \log \Pi` (``(A K) × K``) and the M-step one product :math:`W^\top T`; there
is no Python loop over labels, items or annotators.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from labelnb.errors import ValidationError
from labelnb.metrics._common import LongLabels, degenerate, long_labels

__all__ = ["DawidSkene", "OneCoinDawidSkene"]

_EPS = 1e-10


def _label_matrix(ll: LongLabels, n_items: int, n_annot: int, k: int) -> sparse.csr_matrix:
    """W: items x (annotator, observed class), one entry per label."""
    ones = np.ones(len(ll), dtype=np.float64)
    cols = ll.annotator * k + ll.label
    n_cols = n_annot * k
    if len(ll) > 1 and bool(np.all(ll.item[1:] >= ll.item[:-1])):
        # rows already grouped by item (the usual layout): build CSR directly
        indptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(ll.item, minlength=n_items), out=indptr[1:])
        return sparse.csr_matrix((ones, cols, indptr), shape=(n_items, n_cols))
    return sparse.csr_matrix((ones, (ll.item, cols)), shape=(n_items, n_cols))


def _posterior_change(new: np.ndarray, old: np.ndarray) -> float:
    """Mean over items of the largest absolute change of an item's posterior, between
    the (I, K) arrays ``old`` and ``new``. Works in place in ``old`` (no I x K
    temporaries) and on the (K, I) layout the E-step returns, so the max over the
    classes is K - 1 elementwise passes."""
    if old.shape[0] == 0 or old.shape[1] == 0:
        return 0.0
    diff = old.T
    np.subtract(diff, new.T, out=diff)
    np.abs(diff, out=diff)
    return float(diff.max(axis=0).mean())


class DawidSkene:
    """Dawid-Skene aggregation of categorical labels (see the module docstring).

    Parameters
    ----------
    n_iter:
        Most EM rounds (default 1000). Running out before convergence emits a
        :class:`~labelnb.metrics.DegenerateWarning` (unless ``tol`` or ``proba_tol`` is
        0, which asks for ``n_iter`` rounds).
    tol:
        Converged when the loss (negative mean log-likelihood per label) improves by
        less than this in a round, and the posteriors moved by less than ``proba_tol``.
    smoothing:
        Pseudo-count added to every confusion-matrix cell in the M-step (``0``: plain
        maximum likelihood).
    classes:
        The classes, in order; default: the sorted observed labels.
    proba_tol:
        Converged when, besides the loss criterion, the posteriors moved by less than
        this in a round: the mean over items of the largest change of an item's
        posterior (see the module docstring).

    ``data`` is the long form: a DataFrame with columns ``item``, ``annotator``,
    ``label`` (crowd-kit's ``task``/``worker`` work too) or a **tuple** ``(items,
    annotators, labels)``. There is no matrix form: a list or an array is refused (a list
    of three sequences is still read as the tuple, with a ``FutureWarning``).

    Repeated labels: an annotator who labeled one item several times gives several
    independent readings, each a factor of the likelihood, as in Dawid & Skene's own
    data (anaesthetist 1 rated every patient three times). Unlike
    :class:`~labelnb.metrics.MajorityVote`, which counts one vote per annotator and
    refuses them, they are kept: a label stored twice by accident (a re-import) counts
    twice, so drop those first, e.g. ``df.drop_duplicates(["item", "annotator"],
    keep="last")``.

    Fitted attributes
    -----------------
    ``labels_`` (Series item → most probable class; ties go to the first class),
    ``probas_`` (DataFrame item × class posteriors), ``priors_`` (Series class → prior),
    ``errors_`` (array annotator × true class × observed class; rows sum to 1),
    ``annotators_`` and ``classes_`` (the axes of ``errors_``), ``loss_history_``
    (the loss after each E-step), ``n_iter_`` (EM rounds run), ``converged_`` (whether
    both criteria were met before ``n_iter`` ran out).

    >>> import pandas as pd
    >>> df = pd.DataFrame({
    ...     "item":      [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4],
    ...     "annotator": ["a", "b", "c"] * 4,
    ...     "label":     ["x", "x", "y", "y", "y", "y", "x", "x", "y", "y", "y", "x"]})
    >>> ds = DawidSkene(n_iter=50).fit(df)
    >>> ds.labels_.tolist()
    ['x', 'y', 'x', 'y']
    >>> ds.errors_.shape
    (3, 2, 2)
    >>> bool(ds.loss_history_[-1] <= ds.loss_history_[0])
    True
    """

    labels_: pd.Series
    probas_: pd.DataFrame
    priors_: pd.Series
    errors_: np.ndarray
    annotators_: pd.Index
    classes_: pd.Index
    loss_history_: list[float]
    n_iter_: int
    converged_: bool

    def __init__(self, n_iter: int = 1000, tol: float = 1e-5, smoothing: float = 0.0,
                 classes: Sequence[Any] | None = None, proba_tol: float = 1e-7) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing
        self.classes = classes
        self.proba_tol = proba_tol

    # -- the two steps, on codes -------------------------------------------------------

    def _m_step(self, ll: LongLabels, w_t: sparse.csc_matrix, t: np.ndarray,
                n_annot: int, k: int) -> np.ndarray:
        """Confusion matrices (A, K_true, K_obs) from posteriors ``t`` (I, K)."""
        counts = np.asarray(w_t @ t).reshape(n_annot, k, k)  # (A, obs, true)
        counts = counts.transpose(0, 2, 1) + self.smoothing
        errors = np.maximum(counts, _EPS)
        errors /= errors.sum(axis=2, keepdims=True)
        return np.asarray(errors)

    @staticmethod
    def _e_step(w: sparse.csr_matrix, errors: np.ndarray,
                priors: np.ndarray) -> tuple[np.ndarray, float]:
        """Posteriors (I, K) and the total log-likelihood.

        The work runs on a (K, I) array: reductions over the K classes are then K - 1
        elementwise passes over long rows instead of many 4-wide row reductions."""
        n_annot, k, _ = errors.shape
        with np.errstate(divide="ignore"):
            log_prior = np.log(priors)
        log_pi = np.log(errors).transpose(0, 2, 1).reshape(n_annot * k, k)  # (A*obs, true)
        loglik = np.ascontiguousarray(np.asarray(w @ log_pi).T)  # (K, I)
        loglik += log_prior[:, None]
        top = loglik.max(axis=0)
        np.subtract(loglik, top, out=loglik)
        np.exp(loglik, out=loglik)
        z = loglik.sum(axis=0)
        loglik /= z
        total = float(np.log(z).sum() + top.sum())
        return loglik.T, total

    # -- fitting -----------------------------------------------------------------------

    def _check(self) -> None:
        if not (isinstance(self.n_iter, int) and self.n_iter >= 1):
            raise ValidationError(f"{type(self).__name__}: n_iter must be an int >= 1, "
                                  f"got {self.n_iter!r}")
        if not (self.tol >= 0):
            raise ValidationError(f"{type(self).__name__}: tol must be >= 0, got {self.tol!r}")
        if not (self.proba_tol >= 0):
            raise ValidationError(f"{type(self).__name__}: proba_tol must be >= 0, got "
                                  f"{self.proba_tol!r}")
        if not (self.smoothing >= 0):
            raise ValidationError(f"{type(self).__name__}: smoothing must be >= 0, got "
                                  f"{self.smoothing!r}")

    def fit(self, data: Any) -> DawidSkene:
        """Run EM on ``data``: a long DataFrame with columns ``item``, ``annotator``,
        ``label`` (crowd-kit's ``task``/``worker`` work too), or a tuple ``(items,
        annotators, labels)``."""
        self._check()
        name = type(self).__name__
        ll = long_labels(data, self.classes, where=name)
        n_items, n_annot, k = len(ll.items), len(ll.annotators), len(ll.classes)
        items = pd.Index(ll.items, name="item")
        self.classes_ = pd.Index(ll.classes, name="label")
        self.annotators_ = pd.Index(ll.annotators, name="annotator")
        self.loss_history_ = []
        self.n_iter_ = 0
        self.converged_ = False
        if len(ll) == 0 or k == 0:
            degenerate(f"{type(self).__name__}: no labels; the result is empty")
            self.errors_ = np.zeros((n_annot, k, k))
            self.priors_ = pd.Series(np.zeros(k), index=self.classes_, name="prior")
            self.probas_ = pd.DataFrame(np.zeros((n_items, k)), index=items,
                                        columns=self.classes_)
            self.labels_ = pd.Series(self.classes_.take(np.zeros(0, dtype=np.int64)),
                                     index=items, name="label")
            return self
        if k == 1:
            degenerate(f"{type(self).__name__}: only one class; every item gets it")
        w = _label_matrix(ll, n_items, n_annot, k)
        # W^T as a CSC view: the product walks the items in order and scatters into a
        # small (A K) x K result that stays in cache (5x faster than a CSR copy of W^T)
        w_t = w.T
        votes = np.bincount(ll.item * k + ll.label, minlength=n_items * k).reshape(
            n_items, k).astype(np.float64)
        t = votes / votes.sum(axis=1, keepdims=True)
        seen = votes.sum(axis=0) > 0  # a class nobody used keeps prior 0
        errors = self._m_step(ll, w_t, t, n_annot, k)
        priors = np.where(seen, np.maximum(t.mean(axis=0), _EPS), 0.0)
        prev = np.inf
        gain = change = np.inf
        for _ in range(self.n_iter):
            new, total = self._e_step(w, errors, priors)
            change = _posterior_change(new, t)  # (overwrites the old t)
            t = new
            self.n_iter_ += 1
            errors = self._m_step(ll, w_t, t, n_annot, k)
            priors = np.where(seen, np.maximum(t.mean(axis=0), _EPS), 0.0)
            loss = -total / len(ll)
            self.loss_history_.append(loss)
            gain = prev - loss
            if gain < self.tol and change < self.proba_tol:
                self.converged_ = True
                break
            prev = loss
        if not self.converged_ and self.tol > 0 and self.proba_tol > 0:
            degenerate(
                f"{name}: EM did not converge in n_iter={self.n_iter} rounds (last round: "
                f"loss improved by {gain:.1e}, tol={self.tol:g}; posteriors moved by "
                f"{change:.1e}, proba_tol={self.proba_tol:g}); the posteriors may still "
                "change: raise n_iter")
        self.errors_ = errors
        self.priors_ = pd.Series(t.mean(axis=0), index=self.classes_, name="prior")
        self.probas_ = pd.DataFrame(t, index=items, columns=self.classes_)
        self.labels_ = pd.Series(self.classes_.take(np.argmax(t, axis=1)), index=items,
                                 name="label")
        return self

    def fit_predict(self, data: Any) -> pd.Series:
        """Fit and return ``labels_``."""
        return self.fit(data).labels_

    def fit_predict_proba(self, data: Any) -> pd.DataFrame:
        """Fit and return ``probas_``."""
        return self.fit(data).probas_

    def confusion(self, annotator: Any) -> pd.DataFrame:
        """One annotator's fitted confusion matrix (rows: true class, columns: observed)."""
        pos = self.annotators_.get_indexer(pd.Index([annotator]))[0]
        if pos < 0:
            raise ValidationError(f"{type(self).__name__}: annotator {annotator!r} was not "
                                  "in the fitted data")
        return pd.DataFrame(self.errors_[pos], index=self.classes_.rename("true"),
                            columns=self.classes_.rename("observed"))


class OneCoinDawidSkene(DawidSkene):
    """One-coin Dawid-Skene: one accuracy per annotator (see the module docstring).

    Same parameters and fitted attributes as :class:`DawidSkene`, plus ``skills_``
    (Series annotator → accuracy); ``errors_`` holds the implied confusion matrices.

    >>> import pandas as pd
    >>> df = pd.DataFrame({
    ...     "item":      [1, 1, 1, 2, 2, 2, 3, 3, 3],
    ...     "annotator": ["a", "b", "c"] * 3,
    ...     "label":     ["x", "x", "y", "y", "y", "y", "x", "x", "x"]})
    >>> m = OneCoinDawidSkene().fit(df)
    >>> m.labels_.tolist()
    ['x', 'y', 'x']
    >>> bool(m.skills_["c"] < m.skills_["a"])
    True
    """

    skills_: pd.Series

    def _m_step(self, ll: LongLabels, w_t: sparse.csc_matrix, t: np.ndarray,
                n_annot: int, k: int) -> np.ndarray:
        hit = t[ll.item, ll.label]
        n_a = np.bincount(ll.annotator, minlength=n_annot).astype(np.float64)
        skill = (np.bincount(ll.annotator, weights=hit, minlength=n_annot) + self.smoothing) \
            / (n_a + k * self.smoothing)
        skill = np.clip(skill, _EPS, 1.0 - _EPS) if k > 1 else np.ones(n_annot)
        off = (1.0 - skill) / max(k - 1, 1)
        errors = np.repeat(np.maximum(off, _EPS)[:, None, None], k, axis=1).repeat(k, axis=2)
        idx = np.arange(k)
        errors[:, idx, idx] = skill[:, None]
        return errors

    def fit(self, data: Any) -> OneCoinDawidSkene:
        """Run EM on ``data`` (as :meth:`DawidSkene.fit`)."""
        super().fit(data)
        skill = self.errors_[:, 0, 0] if self.errors_.shape[1] else \
            np.zeros(len(self.annotators_))
        self.skills_ = pd.Series(skill, index=self.annotators_, name="skill")
        return self
