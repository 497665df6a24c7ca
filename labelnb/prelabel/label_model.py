r"""The label model: Dawid-Skene over labeling-function outputs, abstaining included,
with dependent LFs modelled jointly.

Each LF is an annotator that never tires, and Dawid & Skene's model applies with one
change: **abstaining is one of an LF's outputs**, not a missing vote. The true class
:math:`y_i` of item ``i`` has prior :math:`\rho_k`; every *observer* :math:`g` (an LF,
or a group of dependent LFs, below) emits an output :math:`o_{ig}`, its vote or
"abstain", with class-conditional probabilities :math:`\theta^g_{kv} = P(o_{ig} = v
\mid y_i = k)`; observers are independent given :math:`y_i`. One LF's table is
:math:`K \times (K+1)` (its votes plus abstain; outputs it never produced are left
out), the Dawid-Skene confusion matrix with "abstain" as one more response, so how
often an LF fires may depend on the class. That is what makes **one-sided LFs** work:
a keyword LF that only ever votes "pos" says nothing through *what* it votes, but it
fires far more often on "pos" items than on the others, and the table learns those
two rates. (With abstentions missing at random, ``abstains="random"``, the classic
treatment, such an LF carries no information at all, and a set of them collapses to
one class.) Snorkel's label model likewise lets :math:`P(\lambda_j \ne
\text{abstain} \mid y)` depend on the class (Ratner et al. 2019).

**Fitting** is maximum a posteriori EM, started from majority-vote shares:

* **E-step**: :math:`T_{ik} \propto \rho_k \prod_{g} \theta^g_{k, o_{ig}}` (in logs,
  normalised per item), the posterior of item ``i``;
* **M-step**: :math:`\rho_k = \operatorname{mean}_i T_{ik}` (or ``class_balance``) and
  :math:`\theta^g_{kv} \propto \sum_{i:\, o_{ig} = v} T_{ik} + s\,\pi^g_v +
  \beta\,a^g_{kv}`,

until the negative mean log posterior improves by less than ``tol``. The
pseudo-counts are two Dirichlet priors on each row of a table, in the spirit of the
priors on confusion matrices in Bayesian classifier combination (Kim & Ghahramani
2012): :math:`s` = ``smoothing`` items spread as the observer's overall output
frequencies :math:`\pi^g` (with little data a row looks like the LF's average
behaviour, "this LF says little", rather than uniform: uniform pseudo-counts over a
table that is mostly "abstain" penalise the peaked rows real LFs have and make whole
classes vanish in small samples), and :math:`\beta` = ``anchor`` votes per row
:math:`k` on the outputs that vote for :math:`k` (:math:`a^g_{kv}`, the outputs'
shares of votes naming :math:`k`, normalised per row): a vote for a class is weak
evidence for it, which fixes which latent class is which. Both weigh as a few items,
so their effect fades as the data grow; ``smoothing=0, anchor=0,
abstains="random", dependencies=None`` is the classic maximum-likelihood
Dawid-Skene.

The model is fitted on the items some LF labels (the items it is asked to label);
an item no LF labels carries no vote, stays out of the fit and keeps the prior.
Leaving them in makes "the LFs are silent" a pattern a class can absorb, and with
many sparse LFs that runaway emptied whole classes. An output a table never saw (a
vote an LF never cast in training, or a new vote tuple of a group) counts as
missing at prediction time.

Where every LF abstains at random and n is small (a few hundred items), the extra
abstain parameters cost a point or two against ``abstains="random"``; from a few
thousand items the two agree (``benchmarks/label_model.py``).

**Dependent LFs.** Conditional independence is what makes naive models over-count
near-copies of one heuristic (three keyword lists that share most words outvote one
good LF). Here an observer is a *group* of LFs: LFs that depend on each other form
one group (the connected components of the dependency graph) and their outputs are
modelled jointly, :math:`o_{ig}` being the tuple of the group's outputs (abstentions
included) and :math:`\theta^g` a table over the tuples seen in training. A group of
copies therefore counts as one LF, and a group whose members disagree in a
class-specific way is modelled exactly. This is the clique factorisation of Ratner
et al.'s junction-tree view (their dependencies are cliques of the LF graph), fitted
with EM instead of matrix completion. ``dependencies`` says which LFs depend:

* ``"auto"`` (default) finds **near-duplicates** (:func:`find_near_duplicates`):
  pairs that both vote on at least ``min_overlap`` items and agree on at least
  ``dup_agreement`` of them beyond chance (two one-sided LFs for the same class
  always agree when both fire; they count only if they also fire together).
  Independent but very accurate LFs may be grouped too; that costs little (a group
  of two accurate LFs is still one accurate observer). Other dependencies are not
  identifiable from agreement alone: declare them;
* a list of pairs of LF names or column indices declares them;
* ``None`` or ``[]``: every LF on its own.

Dawid, A. P. & Skene, A. M. (1979). Maximum likelihood estimation of observer
error-rates using the EM algorithm. *JRSS C* 28(1), 20-28.
https://doi.org/10.2307/2346806. Kim, H.-C. & Ghahramani, Z. (2012). Bayesian
classifier combination. *AISTATS*, PMLR 22, 619-627.
https://proceedings.mlr.press/v22/kim12.html. Ratner, Hancock, Dunnmon, Sala, Pandey
& Ré (2019). Training complex models with multi-task weak supervision. *AAAI*.
https://arxiv.org/abs/1810.02840

Keyword LFs that each vote for one class only (``-1`` = abstain):

>>> reviews = ["great film", "dull plot", "awful acting", "great cast", "dull and awful",
...            "great fun", "awful ending", "a great story"]
>>> L = [[0 if "great" in r else -1, 1 if "dull" in r else -1, 1 if "awful" in r else -1]
...      for r in reviews]
>>> m = LabelModel(classes=["pos", "neg"], lf_names=["great", "dull", "awful"]).fit(L)
>>> [m.classes_[k] for k in m.labels_]
['pos', 'neg', 'neg', 'pos', 'neg', 'pos', 'neg', 'pos']
>>> m.tables_[0].round(2)          # "great" fires on most pos items, few neg ones
great   pos     -
true
pos    0.81  0.19
neg    0.25  0.75

LFs of known accuracy and coverage, abstaining at random:

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
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from labelnb.errors import ValidationError
from labelnb.metrics._common import DegenerateWarning
from labelnb.prelabel.lf import ABSTAIN, LabelingFunction, check_matrix, lf_name

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
    """Column pairs ``(j, k)`` that look like copies of one heuristic: both vote on at
    least ``min_overlap`` rows, agree on at least ``dup_agreement`` of them, and the
    agreement is not forced. Agreement is forced when both only ever vote for one and
    the same class on those rows (two keyword LFs for "pos" always agree when both fire,
    copies or not); such a pair counts only if the two also fire together, i.e. the
    Jaccard overlap of the rows they vote on is at least ``dup_agreement``. Otherwise
    the chance-corrected agreement (Cohen's kappa on the shared rows) must reach
    ``2 * dup_agreement - 1``, which is the plain agreement rule for two balanced
    classes.

    >>> find_near_duplicates([[0, 0, 1]] * 30 + [[1, 1, 1]] * 30, min_overlap=10)
    [(0, 1)]
    >>> one_sided = [[0, 0, -1]] * 30 + [[0, -1, 0]] * 30 + [[0, 0, 0]] * 30
    >>> find_near_duplicates(one_sided, min_overlap=10)   # fire together? no: not copies
    []
    """
    arr = check_matrix(L)
    votes = arr != ABSTAIN
    n_votes = votes.sum(axis=0)
    k = int(arr.max()) + 1 if arr.size and arr.max() >= 0 else 0
    pairs = []
    m = arr.shape[1]
    for j in range(m - 1):  # column j against all later columns at once
        both = votes[:, j:j + 1] & votes[:, j + 1:]
        n_both = both.sum(axis=0)
        agree = (both & (arr[:, j:j + 1] == arr[:, j + 1:])).sum(axis=0)
        denom = np.maximum(n_both, 1)
        chance = np.zeros(n_both.shape)  # expected agreement from each side's vote shares
        for c in range(k):
            share_j = (both & (arr[:, j:j + 1] == c)).sum(axis=0) / denom
            share_k = (both & (arr[:, j + 1:] == c)).sum(axis=0) / denom
            chance += share_j * share_k
        p_o = agree / denom
        forced = chance >= 1 - 1e-9
        kappa = np.where(forced, 0.0, (p_o - chance) / np.where(forced, 1.0, 1 - chance))
        jaccard = n_both / np.maximum(n_votes[j] + n_votes[j + 1:] - n_both, 1)
        dup = ((n_both >= min_overlap) & (p_o >= dup_agreement)
               & ((~forced & (kappa >= 2 * dup_agreement - 1)) | (jaccard >= dup_agreement)))
        for off in np.nonzero(dup)[0]:
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
    abstains:
        ``"informative"`` (default): abstaining is one of an LF's outputs and its rate
        may depend on the class (what makes one-sided LFs work); ``"random"``:
        abstentions are missing at random (classic Dawid-Skene; an LF that only ever
        votes for one class carries no information then).
    lf_names:
        Names of the columns of ``L`` (LFs work too); default ``lf_0 ...``.
    smoothing:
        Pseudo-items per row of every table, spread in proportion to the observer's
        overall output frequencies (a Dirichlet prior centred on "the LF behaves the
        same whatever the class").
    anchor:
        Pseudo-votes per row ``k`` on the outputs that vote for ``k`` (a Dirichlet
        prior that a vote for ``k`` is evidence for ``k``; it keeps classes from
        swapping or vanishing in small samples).
    class_balance:
        Fixed class priors instead of learned ones.
    n_iter, tol:
        Most EM rounds; stop when the loss improves by less than ``tol``.
    dup_agreement, min_overlap:
        The near-duplicate rule of ``dependencies="auto"``
        (:func:`find_near_duplicates`).

    Fitted attributes
    -----------------
    ``probas_`` (``n × K`` posteriors of the training rows; the prior on rows no LF
    labels), ``labels_`` (their most probable class), ``priors_`` (Series class →
    prior among the rows some LF labels), ``accuracies_`` (Series LF → expected
    accuracy on the rows it labels, under the posterior), ``groups_`` (tuples of LF
    names modelled jointly), ``dependencies_`` (the LF pairs used), ``tables_`` (one
    DataFrame per group: true class × output, each row summing to 1; columns are
    class names, ``"-"`` for abstain, and for a group its members' outputs joined by
    ``","``), ``loss_history_``, ``n_iter_``, ``classes_``, ``lf_names_``.
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
                 abstains: Literal["informative", "random"] = "informative",
                 lf_names: Sequence[str | LabelingFunction | Callable[..., Any]] | None = None,
                 smoothing: float = 3.0, anchor: float = 3.0,
                 class_balance: Sequence[float] | None = None,
                 n_iter: int = 300, tol: float = 1e-7, dup_agreement: float = 0.95,
                 min_overlap: int = 20) -> None:
        self.n_classes = n_classes
        self.classes = classes
        self.dependencies = dependencies
        self.abstains = abstains
        self.lf_names = lf_names
        self.smoothing = smoothing
        self.anchor = anchor
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

    def _observations(self, L: np.ndarray, group: tuple[int, ...],
                      vocab: dict[tuple[int, ...], int] | None
                      ) -> tuple[np.ndarray, dict[tuple[int, ...], int]]:
        """Per row, the index of the group's output (tuple of votes, ``-1`` = abstain)
        in ``vocab``, or -1: missing (an output training never saw; with
        ``abstains="random"`` also "all abstain"). ``vocab=None`` builds it from ``L``:
        the outputs seen, in sorted order."""
        sub = L[:, list(group)]
        if not len(sub):
            return np.zeros(0, dtype=np.int64), {} if vocab is None else vocab
        uniq, inv = np.unique(sub, axis=0, return_inverse=True)  # loop over distinct rows only
        keys = [tuple(int(v) for v in row) for row in uniq]
        if vocab is None:
            silent = (ABSTAIN,) * len(group)
            # abstain (-1) sorts first; list it after the votes
            keys_sorted = sorted(keys, key=lambda t: tuple(v if v >= 0 else 1 << 30 for v in t))
            vocab = {}
            for key in keys_sorted:
                if key != silent or self.abstains == "informative":
                    vocab[key] = len(vocab)
        lookup = np.array([vocab.get(key, -1) for key in keys], dtype=np.int64)
        return lookup[np.asarray(inv).reshape(-1)], vocab

    def _design(self, L: np.ndarray, vocabs: list[dict[tuple[int, ...], int]] | None
                ) -> tuple[sparse.csr_matrix, list[dict[tuple[int, ...], int]], np.ndarray]:
        """W: rows × (all groups' output values), one-hot; the vocabularies; the column
        offset of each group."""
        out_vocabs: list[dict[tuple[int, ...], int]] = []
        rows_l, cols_l = [], []
        offsets = [0]
        for gi, group in enumerate(self._groups):
            obs, voc = self._observations(L, group, None if vocabs is None else vocabs[gi])
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

    def _pseudo_counts(self, w: sparse.csr_matrix) -> np.ndarray:
        """The Dirichlet pseudo-counts of every table cell, (values × K): ``smoothing``
        items per row spread as the group's output frequencies, plus ``anchor`` votes
        per row ``k`` spread over the outputs that vote for ``k``."""
        k = self._k_
        freq = np.asarray(w.sum(axis=0)).reshape(-1)
        pseudo = np.zeros((w.shape[1], k))
        for voc, a, b in zip(self._vocabs, self._offsets_[:-1], self._offsets_[1:],
                             strict=True):
            if a == b:
                continue
            f = freq[a:b]
            share = f / f.sum() if f.sum() > 0 else np.full(b - a, 1.0 / (b - a))
            pseudo[a:b] += float(self.smoothing) * share[:, None]
            names = np.zeros((b - a, k))  # share of each output's votes that name class c
            for key, col in voc.items():
                cast = [v for v in key if v != ABSTAIN]
                if cast:
                    names[col] = np.bincount(cast, minlength=k) / len(cast)
            weight = names * f[:, None]
            tot = weight.sum(axis=0)
            pseudo[a:b] += float(self.anchor) * np.where(tot > 0, weight / np.maximum(tot, 1e-300),
                                                         0.0)
        return pseudo

    # --- EM -----------------------------------------------------------------------------
    def _m_step(self, w_t: sparse.csc_matrix, t: np.ndarray) -> np.ndarray:
        """log θ as one (values × K) array, normalised within each group: the MAP
        estimate under the Dirichlet pseudo-counts."""
        counts = np.asarray(w_t @ t) + self._pseudo  # (V, K)
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
        if not self.anchor >= 0:
            raise ValidationError(f"LabelModel: anchor must be >= 0, got {self.anchor!r}")
        if self.abstains not in ("informative", "random"):
            raise ValidationError(f"LabelModel: abstains={self.abstains!r}; expected "
                                  "'informative' or 'random'")
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
        names = ([lf_name(x) for x in self.lf_names]
                 if self.lf_names is not None else [f"lf_{j}" for j in range(m)])
        if len(names) != m:
            raise ValidationError(f"LabelModel: {len(names)} lf_names for {m} columns of L")
        self.lf_names_ = names
        self.classes_ = list(self.classes) if self.classes is not None else list(range(k))
        fixed = None
        if self.class_balance is not None:
            cb = np.asarray(self.class_balance, dtype=float)
            if cb.shape != (k,) or (cb <= 0).any() or not np.isclose(cb.sum(), 1.0):
                raise ValidationError(f"LabelModel: class_balance must be {k} positive "
                                      f"numbers summing to 1, got {self.class_balance!r}")
            fixed = cb
        pairs = self._pairs(arr, names)
        self._groups = _components(m, pairs)
        self.dependencies_ = [(names[a], names[b]) for a, b in pairs]
        self.groups_ = [tuple(names[j] for j in g) for g in self._groups]

        votes = np.zeros((n, k))
        for j in range(m):
            ok = arr[:, j] != ABSTAIN
            np.add.at(votes, (np.nonzero(ok)[0], arr[ok, j]), 1.0)
        covered = votes.sum(axis=1) > 0
        if not covered.any():
            warnings.warn("LabelModel.fit: every LF abstains on every item; the posteriors "
                          "are the priors", DegenerateWarning, stacklevel=2)
        # the model is fitted on the rows some LF labels (the rows it labels); the others
        # carry no vote and keep the prior
        fit_rows = arr[covered]
        w, self._vocabs, self._offsets_ = self._design(fit_rows, None)
        w_t = w.T.tocsc()
        self._pseudo = self._pseudo_counts(w)
        t = votes[covered] / votes[covered].sum(axis=1, keepdims=True)  # majority-vote shares

        def prior(t: np.ndarray) -> np.ndarray:
            if fixed is not None:
                return fixed
            return np.maximum(t.mean(axis=0), 1e-12) if len(t) else np.full(k, 1.0 / k)

        log_theta = self._m_step(w_t, t)
        pri = prior(t)
        self.loss_history_ = []
        self.n_iter_ = 0
        prev = np.inf
        n_fit = max(int(covered.sum()), 1)
        for _ in range(self.n_iter):
            t, total = self._e_step(w, log_theta, np.log(pri))
            self.n_iter_ += 1
            # the MAP objective EM climbs: log-likelihood plus the Dirichlet log-density
            loss = -(total + float((self._pseudo * log_theta).sum())) / n_fit
            self.loss_history_.append(loss)
            log_theta = self._m_step(w_t, t)
            pri = prior(t)
            if prev - loss < self.tol:
                break
            prev = loss
        self._log_theta = log_theta
        self._prior = pri
        self.priors_ = pd.Series(pri, index=pd.Index(self.classes_), name="prior")
        self.probas_ = self._posterior(arr)
        self.labels_ = np.asarray(self.probas_.argmax(axis=1))
        acc = []
        for j in range(m):
            ok = arr[:, j] != ABSTAIN
            acc.append(float(self.probas_[ok, arr[ok, j]].mean()) if ok.any() else float("nan"))
        self.accuracies_ = pd.Series(acc, index=pd.Index(names), name="accuracy")
        self.tables_ = []
        for g, voc, a, b in zip(self._groups, self._vocabs, self._offsets_[:-1],
                                self._offsets_[1:], strict=True):
            cols = [",".join("-" if v == ABSTAIN else str(self.classes_[v]) for v in key)
                    if len(g) > 1 else ("-" if key[0] == ABSTAIN else self.classes_[key[0]])
                    for key in voc]
            self.tables_.append(pd.DataFrame(
                np.exp(log_theta[a:b]).T, index=pd.Index(self.classes_, name="true"),
                columns=pd.Index(cols, dtype=object, name="+".join(names[j] for j in g))))
        return self

    def _posterior(self, arr: np.ndarray) -> np.ndarray:
        """Posteriors of the rows of ``arr``; the prior where no LF voted."""
        out = np.tile(self._prior, (arr.shape[0], 1))
        covered = (arr != ABSTAIN).any(axis=1)
        if covered.any():
            w, _, _ = self._design(arr[covered], self._vocabs)
            out[covered], _ = self._e_step(w, self._log_theta, np.log(self._prior))
        return out

    def _fitted(self) -> None:
        if not hasattr(self, "_log_theta"):
            raise ValidationError("LabelModel: call fit(L) first")

    def predict_proba(self, L: Any) -> np.ndarray:
        """Posteriors (``n × K``) of new rows (same LF columns as in ``fit``); the
        prior where no LF voted. An output training never saw (a vote tuple of a
        dependent group, or a class an LF never voted for) counts as missing."""
        self._fitted()
        arr = check_matrix(L, self._k_)
        if arr.shape[1] != len(self.lf_names_):
            raise ValidationError(f"LabelModel.predict_proba: L has {arr.shape[1]} columns; the "
                                  f"model was fitted on {len(self.lf_names_)} LFs")
        return self._posterior(arr)

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
        """Accuracy against the gold labels ``Y`` (class indices, or the class names of
        ``classes_``) on the rows some LF labels; ``nan`` with a DegenerateWarning when
        none is."""
        pred = self.predict(L)
        y = np.asarray(Y)
        if y.shape != pred.shape:
            raise ValidationError(f"LabelModel.score: field 'Y' holds {y.shape} gold labels "
                                  f"for the {len(pred)} rows of L; give one per row")
        k = len(self.classes_)
        if y.dtype.kind == "f" and len(y) and np.isfinite(y).all() and (y == np.round(y)).all():
            y = y.astype(np.int64)  # indices stored as floats
        if y.dtype.kind not in "iu":  # class names: their indices
            index = {c: i for i, c in enumerate(self.classes_)}
            unknown = sorted({str(v) for v in y.tolist() if v not in index})
            if unknown:
                raise ValidationError(f"LabelModel.score: field 'Y' holds {unknown[:5]}, "
                                      f"not among the classes {self.classes_!r}; give class "
                                      "names or indices 0..k-1")
            y = np.asarray([index[v] for v in y.tolist()], dtype=np.int64)
        elif len(y) and (y.min() < 0 or y.max() >= k):
            bad = sorted({int(v) for v in y.tolist() if not 0 <= v < k})[:5]
            raise ValidationError(f"LabelModel.score: field 'Y' holds indices {bad}, outside "
                                  f"0..{k - 1}; give one class index per row")
        ok = pred != -1
        if not ok.any():
            warnings.warn("LabelModel.score: no row of L is labeled by any LF; returning nan",
                          DegenerateWarning, stacklevel=2)
            return float("nan")
        return float((pred[ok] == y[ok]).mean())
