r"""The label model: Dawid-Skene over labeling-function votes, with dependent LFs
modelled jointly.

Each LF is an annotator that never tires: Dawid & Skene's model applies as is. The
true class :math:`y_i` of item ``i`` has prior :math:`\rho_k`; every *observer*
:math:`g` emits an observation :math:`o_{ig}` with class-conditional probabilities
:math:`\theta^g_{kv} = P(o_{ig} = v \mid y_i = k)`, and observers are independent
given :math:`y_i`. EM alternates

* **E-step**: :math:`T_{ik} \propto \rho_k \prod_{g:\,o_{ig}\ \mathrm{observed}}
  \theta^g_{k, o_{ig}}` (in logs, normalised per item), the posterior of item ``i``;
* **M-step**: :math:`\rho_k = \frac1n \sum_i T_{ik}` and
  :math:`\theta^g_{kv} \propto \lambda + \sum_{i:\, o_{ig} = v} T_{ik}`
  (``smoothing`` :math:`\lambda`, a Dirichlet pseudo-count),

starting from majority-vote shares, until the negative mean log-likelihood improves
by less than ``tol``. Abstentions are missing observations (LFs abstain at random
with respect to the class); an item no LF labels keeps the prior.

**Dependent LFs.** Conditional independence is what makes naive models over-count
near-copies of one heuristic (three keyword lists that share most words outvote one
good LF). Here an observer is a *group* of LFs: LFs that depend on each other form
one group (the connected components of the dependency graph) and their votes are
modelled jointly, :math:`o_{ig}` being the tuple of the group's votes (abstentions
included) and :math:`\theta^g` a table over the tuples seen in training. A group of
copies therefore counts as one LF, and a group whose members disagree in a
class-specific way is modelled exactly. This is the clique factorisation of Ratner
et al.'s junction-tree view (their dependencies are cliques of the LF graph), fitted
with EM instead of matrix completion. ``dependencies`` says which LFs depend:

* ``"auto"`` (default) finds **near-duplicates**: pairs that both vote on at least
  ``min_overlap`` items and agree on at least ``dup_agreement`` of them. Independent
  but very accurate LFs may be grouped too; that costs little (a group of two
  accurate LFs is still one accurate observer). Other dependencies are not
  identifiable from agreement alone: declare them;
* a list of pairs of LF names or column indices declares them;
* ``None`` or ``[]``: classic Dawid-Skene, every LF on its own.

Dawid, A. P. & Skene, A. M. (1979). Maximum likelihood estimation of observer
error-rates using the EM algorithm. *JRSS C* 28(1), 20-28.
https://doi.org/10.2307/2346806. Ratner, Hancock, Dunnmon, Sala, Pandey & Ré (2019).
Training complex models with multi-task weak supervision. *AAAI*.
https://arxiv.org/abs/1810.02840

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 2, 20_000)            # the hidden truth
>>> def lf(acc, cov):                          # an LF of known accuracy and coverage
...     vote = np.where(rng.random(y.size) < acc, y, 1 - y)
...     return np.where(rng.random(y.size) < cov, vote, -1)
>>> L = np.stack([lf(0.9, 0.8), lf(0.85, 0.7), lf(0.6, 0.9), lf(0.55, 0.9)], axis=1)
>>> m = LabelModel().fit(L)
>>> np.round(m.accuracies_, 2).tolist()
[0.9, 0.86, 0.6, 0.55]
>>> bool((m.predict(L) == y).mean() > (majority_vote(L, 2, seed=0) == y).mean())
True
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from labelnb.errors import ValidationError
from labelnb.metrics._common import DegenerateWarning
from labelnb.prelabel.lf import ABSTAIN, LabelingFunction, check_matrix

__all__ = ["LabelModel", "find_near_duplicates", "majority_vote"]


def majority_vote(L: Any, n_classes: int, *, seed: int | None = None) -> np.ndarray:
    """The most voted class of each row of ``L``; ties broken at random (``seed``);
    ``-1`` where every LF abstains. The baseline the label model is measured against.

    >>> majority_vote([[0, 0, 1], [-1, 1, -1], [-1, -1, -1]], 2).tolist()
    [0, 1, -1]
    """
    arr = check_matrix(L, n_classes)
    counts = np.zeros((arr.shape[0], n_classes))
    for j in range(arr.shape[1]):
        v = arr[:, j]
        ok = v != ABSTAIN
        counts[np.nonzero(ok)[0], v[ok]] += 1
    rng = np.random.default_rng(seed)
    noise = rng.random(counts.shape) * 1e-3  # random tie-break among the top classes
    out = np.argmax(counts + noise * (counts == counts.max(axis=1, keepdims=True)), axis=1)
    return np.where(counts.sum(axis=1) > 0, out, -1)


def find_near_duplicates(L: Any, *, dup_agreement: float = 0.95, min_overlap: int = 20
                         ) -> list[tuple[int, int]]:
    """Column pairs ``(j, k)`` that both vote on at least ``min_overlap`` rows and agree
    on at least ``dup_agreement`` of them.

    >>> find_near_duplicates([[0, 0, 1]] * 30 + [[1, 1, 1]] * 30, min_overlap=10)
    [(0, 1)]
    """
    arr = check_matrix(L)
    votes = arr != ABSTAIN
    pairs = []
    m = arr.shape[1]
    for j in range(m - 1):  # column j against all later columns at once
        both = votes[:, j:j + 1] & votes[:, j + 1:]
        n_both = both.sum(axis=0)
        agree = (both & (arr[:, j:j + 1] == arr[:, j + 1:])).sum(axis=0)
        for off in np.nonzero((n_both >= min_overlap)
                              & (agree >= dup_agreement * np.maximum(n_both, 1)))[0]:
            pairs.append((j, j + 1 + int(off)))
    return pairs


def _components(m: int, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, ...]]:
    parent = list(range(m))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for j in range(m):
        groups.setdefault(root(j), []).append(j)
    return [tuple(g) for g in sorted(groups.values())]


class LabelModel:
    """Probabilistic labels from a label matrix (see the module docstring).

    Parameters
    ----------
    n_classes:
        K; default: ``len(classes)`` if given, else ``L.max() + 1``.
    classes:
        Class names (for ``labels_`` and the tables); default ``0 .. K-1``.
    dependencies:
        ``"auto"`` (near-duplicates), a list of LF pairs (names or indices), or
        ``None`` for independent LFs.
    lf_names:
        Names of the columns of ``L`` (LFs work too); default ``lf_0 ...``.
    smoothing:
        Dirichlet pseudo-count on every table cell.
    class_balance:
        Fixed class priors instead of learned ones.
    n_iter, tol:
        Most EM rounds; stop when the loss improves by less than ``tol``.
    dup_agreement, min_overlap:
        The near-duplicate rule of ``dependencies="auto"``.

    Fitted attributes
    -----------------
    ``probas_`` (``n × K`` posteriors of the training rows), ``labels_`` (their most
    probable class), ``priors_`` (Series class → prior), ``accuracies_`` (Series LF →
    expected accuracy on the rows it labels, under the posterior), ``groups_`` (tuples
    of LF names modelled jointly), ``dependencies_`` (the LF pairs used),
    ``tables_`` (one DataFrame per group: true class × observed vote or vote tuple),
    ``loss_history_``, ``n_iter_``, ``classes_``, ``lf_names_``.
    """

    probas_: np.ndarray
    labels_: np.ndarray
    priors_: pd.Series
    accuracies_: pd.Series
    groups_: list[tuple[str, ...]]
    dependencies_: list[tuple[str, str]]
    tables_: list[pd.DataFrame]
    loss_history_: list[float]
    n_iter_: int
    classes_: list[Any]
    lf_names_: list[str]

    def __init__(self, n_classes: int | None = None, *, classes: Sequence[Any] | None = None,
                 dependencies: str | Sequence[tuple[int | str, int | str]] | None = "auto",
                 lf_names: Sequence[str | LabelingFunction] | None = None,
                 smoothing: float = 0.5, class_balance: Sequence[float] | None = None,
                 n_iter: int = 300, tol: float = 1e-7, dup_agreement: float = 0.95,
                 min_overlap: int = 20) -> None:
        self.n_classes = n_classes
        self.classes = classes
        self.dependencies = dependencies
        self.lf_names = lf_names
        self.smoothing = smoothing
        self.class_balance = class_balance
        self.n_iter = n_iter
        self.tol = tol
        self.dup_agreement = dup_agreement
        self.min_overlap = min_overlap

    # --- set-up ---------------------------------------------------------------------------
    def _k(self, L: np.ndarray) -> int:
        if self.n_classes is not None:
            k = int(self.n_classes)
        elif self.classes is not None:
            k = len(self.classes)
        else:
            k = int(L.max()) + 1 if L.size and L.max() >= 0 else 0
        if k < 2:
            raise ValidationError(f"LabelModel: {k} classes; a label model needs at least 2 "
                                  "(pass n_classes=... or classes=[...])")
        if self.classes is not None and len(self.classes) != k:
            raise ValidationError(f"LabelModel: n_classes={k} but {len(self.classes)} class "
                                  "names")
        return k

    def _pairs(self, L: np.ndarray, names: list[str]) -> list[tuple[int, int]]:
        deps = self.dependencies
        if deps is None:
            return []
        if isinstance(deps, str):
            if deps != "auto":
                raise ValidationError(f"LabelModel: dependencies={deps!r}; expected 'auto', a "
                                      "list of LF pairs, or None")
            return find_near_duplicates(L, dup_agreement=self.dup_agreement,
                                        min_overlap=self.min_overlap)
        pos = {n: j for j, n in enumerate(names)}
        out = []
        for pair in deps:
            idx = []
            for p in pair:
                if isinstance(p, str):
                    if p not in pos:
                        raise ValidationError(f"LabelModel: dependency {pair!r} names LF {p!r}, "
                                              f"which is not among {names}")
                    idx.append(pos[p])
                elif isinstance(p, int | np.integer) and 0 <= int(p) < len(names):
                    idx.append(int(p))
                else:
                    raise ValidationError(f"LabelModel: dependency {pair!r}: {p!r} is not an LF "
                                          f"name or a column index 0..{len(names) - 1}")
            if len(idx) != 2 or idx[0] == idx[1]:
                raise ValidationError(f"LabelModel: dependency {pair!r} must name two different "
                                      "LFs")
            out.append((min(idx), max(idx)))
        return sorted(set(out))

    @staticmethod
    def _observations(L: np.ndarray, group: tuple[int, ...],
                      vocab: dict[tuple[int, ...], int] | None
                      ) -> tuple[np.ndarray, dict[tuple[int, ...], int]]:
        """Per row, the index of the group's vote (tuple) in ``vocab``, or -1 (all
        abstain, or a tuple not seen in training)."""
        sub = L[:, list(group)]
        if len(group) == 1:
            if vocab is None:
                vocab = {(c,): c for c in range(int(L.max()) + 1 if L.size else 0)}
            obs = np.where(sub[:, 0] == ABSTAIN, -1, sub[:, 0])
            if vocab is not None:
                obs = np.where(obs < len(vocab), obs, -1)
            return obs.astype(np.int64), vocab
        uniq, inv = np.unique(sub, axis=0, return_inverse=True)  # loop over distinct rows only
        keys = [tuple(int(v) for v in row) for row in uniq]
        voc: dict[tuple[int, ...], int] = {} if vocab is None else vocab
        if vocab is None:
            for key in keys:
                if any(v != ABSTAIN for v in key):
                    voc[key] = len(voc)
        lookup = np.array([voc.get(key, -1) for key in keys] or [-1], dtype=np.int64)
        obs = lookup[np.asarray(inv).reshape(-1)] if len(sub) else np.zeros(0, dtype=np.int64)
        return obs, voc

    def _design(self, L: np.ndarray, vocabs: list[dict[tuple[int, ...], int]] | None
                ) -> tuple[sparse.csr_matrix, list[dict[tuple[int, ...], int]], np.ndarray]:
        """W: rows × (all groups' observation values), one-hot; the vocabularies; the
        column offset of each group."""
        fit = vocabs is None
        out_vocabs: list[dict[tuple[int, ...], int]] = []
        rows_l, cols_l = [], []
        offsets = [0]
        for gi, group in enumerate(self._groups):
            voc_in = None if fit else vocabs[gi]  # type: ignore[index]
            if len(group) == 1 and fit:
                voc_in = {(c,): c for c in range(self._k_)}
            obs, voc = self._observations(L, group, voc_in)
            out_vocabs.append(voc)
            ok = np.nonzero(obs >= 0)[0]
            rows_l.append(ok)
            cols_l.append(obs[ok] + offsets[-1])
            offsets.append(offsets[-1] + len(voc))
        rows = np.concatenate(rows_l) if rows_l else np.zeros(0, dtype=np.int64)
        cols = np.concatenate(cols_l) if cols_l else np.zeros(0, dtype=np.int64)
        w = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)),
                              shape=(L.shape[0], offsets[-1]))
        return w, out_vocabs, np.asarray(offsets)

    # --- EM -----------------------------------------------------------------------------
    def _m_step(self, w_t: sparse.csc_matrix, t: np.ndarray) -> np.ndarray:
        """log θ as one (values × K) array, normalised within each group."""
        counts = np.asarray(w_t @ t) + float(self.smoothing)  # (V, K)
        counts = np.maximum(counts, 1e-12)
        for a, b in zip(self._offsets_[:-1], self._offsets_[1:], strict=True):
            counts[a:b] /= counts[a:b].sum(axis=0, keepdims=True)
        return np.asarray(np.log(counts))

    @staticmethod
    def _e_step(w: sparse.csr_matrix, log_theta: np.ndarray, log_prior: np.ndarray
                ) -> tuple[np.ndarray, float]:
        ll = np.asarray(w @ log_theta) + log_prior[None, :]
        top = ll.max(axis=1, keepdims=True)
        p = np.exp(ll - top)
        z = p.sum(axis=1, keepdims=True)
        return p / z, float((np.log(z) + top).sum())

    def _check(self) -> None:
        if not (isinstance(self.n_iter, int) and self.n_iter >= 1):
            raise ValidationError(f"LabelModel: n_iter must be an int >= 1, got {self.n_iter!r}")
        if not self.smoothing >= 0:
            raise ValidationError(f"LabelModel: smoothing must be >= 0, got {self.smoothing!r}")
        if not 0.5 <= self.dup_agreement <= 1.0:
            raise ValidationError("LabelModel: dup_agreement must lie in [0.5, 1], got "
                                  f"{self.dup_agreement!r}")

    def fit(self, L: Any) -> LabelModel:
        """Learn priors and LF tables from the label matrix ``L`` (``-1`` = abstain)."""
        self._check()
        arr = check_matrix(L, self.n_classes or (len(self.classes) if self.classes else None))
        n, m = arr.shape
        if m == 0:
            raise ValidationError("LabelModel.fit: L has no columns (no labeling functions)")
        k = self._k_ = self._k(arr)
        names = ([x.name if isinstance(x, LabelingFunction) else str(x) for x in self.lf_names]
                 if self.lf_names is not None else [f"lf_{j}" for j in range(m)])
        if len(names) != m:
            raise ValidationError(f"LabelModel: {len(names)} lf_names for {m} columns of L")
        self.lf_names_ = names
        self.classes_ = list(self.classes) if self.classes is not None else list(range(k))
        pairs = self._pairs(arr, names)
        self._groups = _components(m, pairs)
        self.dependencies_ = [(names[a], names[b]) for a, b in pairs]
        self.groups_ = [tuple(names[j] for j in g) for g in self._groups]
        w, self._vocabs, self._offsets_ = self._design(arr, None)
        w_t = w.T.tocsc()

        votes = np.zeros((n, k))
        for j in range(m):
            ok = arr[:, j] != ABSTAIN
            np.add.at(votes, (np.nonzero(ok)[0], arr[ok, j]), 1.0)
        covered = votes.sum(axis=1) > 0
        if not covered.any():
            warnings.warn("LabelModel.fit: every LF abstains on every item; the posteriors "
                          "are the priors", DegenerateWarning, stacklevel=2)
        t = np.where(covered[:, None], votes / np.maximum(votes.sum(axis=1, keepdims=True), 1),
                     1.0 / k)
        fixed = None
        if self.class_balance is not None:
            cb = np.asarray(self.class_balance, dtype=float)
            if cb.shape != (k,) or (cb <= 0).any() or not np.isclose(cb.sum(), 1.0):
                raise ValidationError(f"LabelModel: class_balance must be {k} positive "
                                      f"numbers summing to 1, got {self.class_balance!r}")
            fixed = cb

        def prior(t: np.ndarray) -> np.ndarray:
            return fixed if fixed is not None else np.maximum(t.mean(axis=0), 1e-12)

        log_theta = self._m_step(w_t, t)
        pri = prior(t)
        self.loss_history_ = []
        self.n_iter_ = 0
        prev = np.inf
        for _ in range(self.n_iter):
            t, total = self._e_step(w, log_theta, np.log(pri))
            self.n_iter_ += 1
            log_theta = self._m_step(w_t, t)
            pri = prior(t)
            loss = -total / max(n, 1)
            self.loss_history_.append(loss)
            if prev - loss < self.tol:
                break
            prev = loss
        self._log_theta = log_theta
        self._prior = pri
        self.priors_ = pd.Series(pri, index=pd.Index(self.classes_), name="prior")
        self.probas_ = self._posterior(w)
        self.labels_ = np.asarray(self.probas_.argmax(axis=1))
        acc = []
        for j in range(m):
            ok = arr[:, j] != ABSTAIN
            acc.append(float(self.probas_[ok, arr[ok, j]].mean()) if ok.any() else float("nan"))
        self.accuracies_ = pd.Series(acc, index=pd.Index(names), name="accuracy")
        self.tables_ = []
        for g, voc, a, b in zip(self._groups, self._vocabs, self._offsets_[:-1],
                                self._offsets_[1:], strict=True):
            cols = ([self.classes_[key[0]] for key in voc] if len(g) == 1 else
                    [",".join("-" if v == ABSTAIN else str(self.classes_[v]) for v in key)
                     for key in voc])  # a group's columns: its votes joined, "-" = abstain
            self.tables_.append(pd.DataFrame(
                np.exp(log_theta[a:b]).T, index=pd.Index(self.classes_, name="true"),
                columns=pd.Index(cols, dtype=object, name="+".join(names[j] for j in g))))
        return self

    def _posterior(self, w: sparse.csr_matrix) -> np.ndarray:
        t, _ = self._e_step(w, self._log_theta, np.log(self._prior))
        return t

    def _fitted(self) -> None:
        if not hasattr(self, "_log_theta"):
            raise ValidationError("LabelModel: call fit(L) first")

    def predict_proba(self, L: Any) -> np.ndarray:
        """Posteriors (``n × K``) of new rows (same LF columns as in ``fit``). A vote
        tuple of a dependent group that training never saw counts as missing."""
        self._fitted()
        arr = check_matrix(L, self._k_)
        if arr.shape[1] != len(self.lf_names_):
            raise ValidationError(f"LabelModel.predict_proba: L has {arr.shape[1]} columns; the "
                                  f"model was fitted on {len(self.lf_names_)} LFs")
        w, _, _ = self._design(arr, self._vocabs)
        return self._posterior(w)

    def predict(self, L: Any, *, abstain_uncovered: bool = True) -> np.ndarray:
        """The most probable class index per row; ``-1`` where no LF voted (unless
        ``abstain_uncovered=False``: then the most probable class under the prior)."""
        arr = check_matrix(L)
        out = np.asarray(self.predict_proba(arr).argmax(axis=1))
        if abstain_uncovered:
            out = np.where((arr != ABSTAIN).any(axis=1), out, -1)
        return out

    def fit_predict_proba(self, L: Any) -> np.ndarray:
        return self.fit(L).probas_

    def fit_predict(self, L: Any) -> np.ndarray:
        self.fit(L)
        return self.predict(L)

    def score(self, L: Any, Y: Any) -> float:
        """Accuracy against gold class indices ``Y`` on the rows some LF labels."""
        pred = self.predict(L)
        y = np.asarray(Y)
        ok = pred != -1
        return float((pred[ok] == y[ok]).mean()) if ok.any() else float("nan")
