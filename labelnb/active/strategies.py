r"""Batch selection strategies: which unlabeled items to label next.

Every strategy is an object in scikit-learn's style: ``__init__`` stores the
hyperparameters, :meth:`~Strategy.query` picks a batch and leaves its state in
attributes ending in ``_`` (``scores_``: the pool's uncertainty, ``batch_``,
``indices_``, ``random_mask_``). ``query(pool, n)`` takes the unlabeled pool as a
probability matrix (``n_items × n_classes``, e.g. ``model.predict_proba(X)``) or as
one uncertainty score per item (1-D, e.g. from
:func:`~labelnb.active.uncertainty.detection_uncertainty`), plus optional
``embeddings`` of the pool and of the already-labeled items.

* :class:`RandomSampling` — uniform; the baseline.
* :class:`UncertaintySampling` — the ``n`` most uncertain (entropy, margin, least
  confidence; see :mod:`labelnb.active.uncertainty`).
* :class:`DiversitySampling` — k-center greedy or k-means++ seeding on the embeddings
  (see :mod:`labelnb.active.diversity`).
* :class:`UncertaintyDiversitySampling` — **the default**: an uncertainty shortlist of
  ``shortlist_factor × n`` items, then k-center greedy within it, with the labeled
  items as existing centres (the margin-shortlist-then-diversify scheme of Citovsky et
  al., 2021, "Batch Active Learning at Scale", NeurIPS). Without embeddings it is
  uncertainty sampling.
* :class:`DiverseMiniBatchSampling` — opt-in: an uncertainty shortlist of
  ``shortlist_factor × n`` items (default 10×), then k-means with ``n`` clusters on
  their embeddings, weighted by uncertainty, and the item nearest each centre
  (Zhdanov, 2019, "Diverse mini-batch Active Learning"). Without embeddings it is
  uncertainty sampling.

**The random reserve.** Every strategy sets aside ``round(random_fraction × n)``
items (default 10%) drawn uniformly from the *whole* unlabeled pool before it picks
the rest. They are marked (``batch.reasons == "random"``, ``random_mask_``), so their
labels are an unbiased sample of the pool: accuracy measured on them is not inflated
or deflated by the selection.

**Batch size.** A cycle should label at least :data:`MIN_BATCH_SIZE` = 200 items;
500–1000 is recommended. Smaller batches retrain on a handful of labels, churn the
model between cycles, and leave the random reserve too small to measure anything, so
``query`` warns (:class:`SmallBatchWarning`) below 200. Simulations with small pools
may silence it: ``warnings.simplefilter("ignore", SmallBatchWarning)``.

>>> import numpy as np, warnings
>>> P = np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.99, 0.01], [0.7, 0.3]])
>>> s = UncertaintySampling("margin", random_fraction=0.0)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore", SmallBatchWarning)
...     batch = s.query(P, 2)
>>> batch.indices.tolist(), batch.reasons.tolist()
([1, 2], ['uncertainty', 'uncertainty'])
>>> s.scores_.round(2).tolist()
[0.2, 1.0, 0.8, 0.02, 0.6]
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from labelnb.active.diversity import as_embeddings, k_center_greedy, kmeans_pp_seeding
from labelnb.active.uncertainty import Measure, check_measure, uncertainty
from labelnb.errors import ValidationError

#: the smallest batch a cycle should label (``query`` warns below it)
MIN_BATCH_SIZE = 200
Reason = Literal["random", "uncertainty", "diversity", "uncertainty_diversity",
                 "diverse_minibatch", "cold_start"]
Diversity = Literal["k_center", "kmeans++"]
IntArray = npt.NDArray[np.int64]


class SmallBatchWarning(UserWarning):
    """A batch below :data:`MIN_BATCH_SIZE` items."""


@dataclass(frozen=True, slots=True, eq=False)
class Batch:
    """One selected batch: positions in the pool, why each was picked, and its score.

    ``indices`` index the arrays given to ``query`` (the unlabeled pool), in pick
    order; ``reasons`` say why (``"random"`` marks the random reserve); ``scores``
    are the items' uncertainties (NaN where none was computed). It behaves like its
    ``indices`` (``len``, iteration, ``np.asarray``).
    """

    indices: IntArray
    reasons: npt.NDArray[np.str_]
    scores: npt.NDArray[np.float64]

    @property
    def random_mask(self) -> npt.NDArray[np.bool_]:
        """True for the items of the random reserve."""
        return np.asarray(self.reasons == "random")

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __iter__(self) -> Any:
        return iter(self.indices.tolist())

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        return self.indices if dtype is None else self.indices.astype(dtype)

    def to_frame(self) -> pd.DataFrame:
        """One row per picked item: ``index``, ``reason``, ``score``."""
        return pd.DataFrame({"index": self.indices, "reason": self.reasons,
                             "score": self.scores})

    def __repr__(self) -> str:
        counts = pd.Series(self.reasons).value_counts().to_dict() if len(self) else {}
        return f"Batch({len(self)} items: {counts})"


def make_batch(indices: npt.ArrayLike, reasons: npt.ArrayLike | str,
               scores: npt.ArrayLike | None = None) -> Batch:
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if isinstance(reasons, str):
        rs = np.full(idx.shape[0], reasons, dtype="<U24")
    else:
        rs = np.asarray(reasons, dtype="<U24")
    sc = (np.full(idx.shape[0], np.nan) if scores is None
          else np.asarray(scores, dtype=np.float64).reshape(-1))
    return Batch(idx, rs, sc)


def check_batch_size(n: int, *, stacklevel: int = 3) -> int:
    """``n`` as an int >= 1; warns (:class:`SmallBatchWarning`) below 200."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValidationError(f"batch size {n!r}: give how many items to label this cycle, "
                              f"an int >= 1 (at least {MIN_BATCH_SIZE}; 500-1000 recommended)")
    if n < MIN_BATCH_SIZE:
        warnings.warn(
            f"batch size {n} is below the minimum of {MIN_BATCH_SIZE} items per cycle: a model "
            "retrained on so few new labels barely changes, and a 10% random reserve of "
            f"{max(0, round(n * 0.1))} items cannot measure accuracy. Label 500-1000 items per "
            "cycle (silence this in simulations with "
            "warnings.simplefilter('ignore', labelnb.active.SmallBatchWarning))",
            SmallBatchWarning, stacklevel=stacklevel)
    return int(n)


def _rng(random_state: int | np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng(random_state)


def _check_fraction(f: float) -> float:
    if not isinstance(f, int | float) or isinstance(f, bool) or not 0.0 <= float(f) <= 1.0:
        raise ValidationError(f"random_fraction = {f!r}: give the share of each batch drawn "
                              "uniformly from the pool, in [0, 1] (default 0.1)")
    return float(f)


def reserve_count(n: int, random_fraction: float) -> int:
    """How many of a batch of ``n`` the random reserve takes: ``round(f × n)``, half
    up."""
    return min(int(n), int(math.floor(_check_fraction(random_fraction) * n + 0.5)))


def _pool_size(pool: Any, embeddings: npt.NDArray[Any] | None) -> int:
    if pool is None:
        if embeddings is None:
            raise ValidationError("query(): give the pool (probabilities, uncertainty scores "
                                  "or its size) or its embeddings")
        return int(embeddings.shape[0])
    if isinstance(pool, int | np.integer) and not isinstance(pool, bool):
        return int(pool)
    return int(np.shape(pool)[0])


def _scores(pool: Any, measure: Measure) -> npt.NDArray[np.float64]:
    """Uncertainty per item: a probability matrix is scored with ``measure``; a 1-D
    array is taken as scores already."""
    a = np.asarray(pool)
    if a.ndim == 1:
        s = a.astype(np.float64)
        if not np.isfinite(s).all():
            i = int(np.flatnonzero(~np.isfinite(s))[0])
            raise ValidationError(f"uncertainty scores: item {i} is {s[i]}; scores must be "
                                  "finite")
        return s
    if a.ndim == 2:
        return uncertainty(a, measure)
    raise ValidationError(f"pool of shape {a.shape}: give class probabilities (n_items, "
                          "n_classes) or one uncertainty score per item (n_items,)")



def _uncertainty(strategy: Any, pool: Any, measure: Measure) -> npt.NDArray[np.float64]:
    """The pool's uncertainty scores for an uncertainty-based strategy (which needs the
    probabilities or scores, not only the pool's size)."""
    if pool is None or isinstance(pool, int | np.integer):
        raise ValidationError(f"{type(strategy).__name__}.query(): give the pool's class "
                              "probabilities or uncertainty scores, not only its size")
    return _scores(pool, check_measure(measure))

def _top(scores: npt.NDArray[np.float64], candidates: IntArray, k: int) -> IntArray:
    """The ``k`` candidates of highest score, best first (ties: lower index first)."""
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k >= candidates.shape[0]:
        order = np.lexsort((candidates, -scores[candidates]))
        return candidates[order]
    s = scores[candidates]
    part = np.argpartition(-s, k - 1)[:k]
    # the k-th value may be tied with others outside ``part``: take ties by index
    kth = s[part].min()
    above = candidates[s > kth]
    tied = np.sort(candidates[s == kth])[:k - above.shape[0]]
    chosen = np.concatenate([above, tied])
    order = np.lexsort((chosen, -scores[chosen]))
    return chosen[order]


class Strategy:
    """Base class: the random reserve, the batch-size check and the fitted attributes."""

    random_fraction: float
    random_state: int | np.random.Generator | None
    reason: str = "uncertainty"
    scores_: npt.NDArray[np.float64] | None
    batch_: Batch
    indices_: IntArray
    random_mask_: npt.NDArray[np.bool_]

    def query(self, pool: Any, n: int, *, embeddings: npt.ArrayLike | None = None,
              labeled_embeddings: npt.ArrayLike | None = None) -> Batch:
        """Pick ``n`` items of the unlabeled ``pool`` (see the module docstring).

        ``embeddings`` (``n_items × d``) are the pool's; ``labeled_embeddings`` those of
        the items labeled already. Returns the :class:`Batch`; also sets ``scores_``,
        ``batch_``, ``indices_`` and ``random_mask_``."""
        n = check_batch_size(n)
        emb = as_embeddings(embeddings) if embeddings is not None else None
        size = _pool_size(pool, emb)
        if emb is not None and emb.shape[0] != size:
            raise ValidationError(f"embeddings have {emb.shape[0]} rows but the pool has {size} "
                                  "items; give one embedding per pool item, in pool order")
        lab = (as_embeddings(labeled_embeddings, what="labeled_embeddings")
               if labeled_embeddings is not None else None)
        rng = _rng(self.random_state)
        n = min(n, size)
        r = reserve_count(n, self.random_fraction)
        reserve = np.sort(rng.choice(size, size=r, replace=False)).astype(np.int64) if r else \
            np.empty(0, dtype=np.int64)
        rest = np.setdiff1d(np.arange(size, dtype=np.int64), reserve, assume_unique=True)
        scores = self._score(pool, size)
        picked, reasons = self._pick(scores, rest, n - r, emb, lab, reserve, rng)
        # the reserve goes first in the batch, interleaved evenly with the rest, so that a
        # partly labeled batch still holds its share of random items
        order = _interleave(picked.shape[0], reserve.shape[0])
        idx = np.concatenate([picked, reserve])[order]
        why = np.concatenate([reasons, np.full(reserve.shape[0], "random", dtype="<U24")])[order]
        sc = scores[idx] if scores is not None else None
        batch = make_batch(idx, why, sc)
        self.scores_ = scores
        self.batch_ = batch
        self.indices_ = batch.indices
        self.random_mask_ = batch.random_mask
        return batch

    def _score(self, pool: Any, size: int) -> npt.NDArray[np.float64] | None:
        return None

    def _pick(self, scores: npt.NDArray[np.float64] | None, candidates: IntArray, k: int,
              emb: npt.NDArray[Any] | None, labeled: npt.NDArray[Any] | None,
              reserve: IntArray, rng: np.random.Generator
              ) -> tuple[IntArray, npt.NDArray[np.str_]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"


def _interleave(n_picked: int, n_reserve: int) -> IntArray:
    """An order of ``[picked..., reserve...]`` that spreads the reserve evenly."""
    total = n_picked + n_reserve
    if n_reserve == 0 or n_picked == 0:
        return np.arange(total, dtype=np.int64)
    key = np.concatenate([(np.arange(n_picked) + 0.5) * total / n_picked,
                          (np.arange(n_reserve) + 0.5) * total / n_reserve])
    return np.argsort(key, kind="stable").astype(np.int64)


class RandomSampling(Strategy):
    """Uniform random sampling, the baseline every other strategy must beat.

    >>> RandomSampling(random_state=0).query(1000, 200).reasons[:3].tolist()
    ['random', 'random', 'random']
    """

    reason = "random"

    def __init__(self, random_state: int | np.random.Generator | None = None) -> None:
        self.random_state = random_state
        self.random_fraction = 1.0  # the whole batch is the random reserve

    def _pick(self, scores: npt.NDArray[np.float64] | None, candidates: IntArray, k: int,
              emb: npt.NDArray[Any] | None, labeled: npt.NDArray[Any] | None,
              reserve: IntArray, rng: np.random.Generator
              ) -> tuple[IntArray, npt.NDArray[np.str_]]:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype="<U24")


class UncertaintySampling(Strategy):
    """The ``n`` items the model is least sure about, by ``measure``
    (``"entropy"``, ``"margin"``, ``"least_confidence"``), after the random reserve.

    Parameters
    ----------
    measure:
        Scores a probability matrix; 1-D pools are taken as scores already.
    random_fraction:
        Share of each batch drawn uniformly from the whole pool (default 0.1).
    random_state:
        Seed (or generator) for the random reserve.
    """

    reason = "uncertainty"

    def __init__(self, measure: Measure = "margin", *, random_fraction: float = 0.1,
                 random_state: int | np.random.Generator | None = None) -> None:
        self.measure = measure
        self.random_fraction = random_fraction
        self.random_state = random_state

    def _score(self, pool: Any, size: int) -> npt.NDArray[np.float64] | None:
        return _uncertainty(self, pool, self.measure)

    def _pick(self, scores: npt.NDArray[np.float64] | None, candidates: IntArray, k: int,
              emb: npt.NDArray[Any] | None, labeled: npt.NDArray[Any] | None,
              reserve: IntArray, rng: np.random.Generator
              ) -> tuple[IntArray, npt.NDArray[np.str_]]:
        assert scores is not None
        top = _top(scores, candidates, k)
        return top, np.full(top.shape[0], self.reason, dtype="<U24")


class DiversitySampling(Strategy):
    """Items that cover the embedding space: k-center greedy (``"k_center"``) or
    k-means++ seeding (``"kmeans++"``), with the labeled items (and the random
    reserve) as existing centres. Needs ``embeddings``; ``pool`` may be None."""

    reason = "diversity"

    def __init__(self, method: Diversity = "k_center", *, random_fraction: float = 0.1,
                 random_state: int | np.random.Generator | None = None,
                 chunk_size: int = 65_536) -> None:
        self.method = method
        self.random_fraction = random_fraction
        self.random_state = random_state
        self.chunk_size = chunk_size

    def _pick(self, scores: npt.NDArray[np.float64] | None, candidates: IntArray, k: int,
              emb: npt.NDArray[Any] | None, labeled: npt.NDArray[Any] | None,
              reserve: IntArray, rng: np.random.Generator
              ) -> tuple[IntArray, npt.NDArray[np.str_]]:
        if emb is None:
            raise ValidationError(f"{type(self).__name__}.query(): diversity needs "
                                  "embeddings=... (one row per pool item)")
        sel = _diverse(self.method, emb, candidates, k, labeled, reserve, rng, self.chunk_size)
        return sel, np.full(sel.shape[0], self.reason, dtype="<U24")


def _diverse(method: str, emb: npt.NDArray[Any], candidates: IntArray, k: int,
             labeled: npt.NDArray[Any] | None, reserve: IntArray, rng: np.random.Generator,
             chunk_size: int) -> IntArray:
    if method not in ("k_center", "kmeans++"):
        raise ValidationError(f"diversity method {method!r}; expected 'k_center' or "
                              "'kmeans++'")
    if k == 0:
        return np.empty(0, dtype=np.int64)
    parts = [emb[reserve]] if reserve.shape[0] else []
    if labeled is not None and labeled.shape[0]:
        if labeled.shape[1] != emb.shape[1]:
            raise ValidationError(f"labeled_embeddings have {labeled.shape[1]} dimensions, the "
                                  f"pool's {emb.shape[1]}; embed both with the same model")
        parts.insert(0, labeled)
    existing = np.concatenate(parts).astype(emb.dtype, copy=False) if parts else None
    if 2 * candidates.shape[0] >= emb.shape[0]:
        # most of the pool: work on it in place, excluding the rest (no 1.5 GB copy)
        sub, others = emb, np.setdiff1d(np.arange(emb.shape[0]), candidates, assume_unique=True)
        to_pool: IntArray | None = None
    else:
        sub, others, to_pool = emb[candidates], None, candidates
    if method == "k_center":
        start = None
        if existing is None:
            start = int(candidates[rng.integers(candidates.shape[0])]) if to_pool is None \
                else int(rng.integers(sub.shape[0]))
        local = k_center_greedy(sub, k, existing=existing, start=start, exclude=others,
                                chunk_size=chunk_size)
    else:
        local = kmeans_pp_seeding(sub, k, existing=existing, exclude=others, random_state=rng,
                                  chunk_size=chunk_size)
    return local if to_pool is None else to_pool[local]


class UncertaintyDiversitySampling(UncertaintySampling):
    """The default: an uncertainty shortlist, then diversity within it.

    The ``shortlist_factor × n`` most uncertain items (by ``measure``) are the
    candidates; ``diversity`` (k-center greedy by default) picks ``n`` of them that
    lie far from each other, from the labeled items and from the random reserve. So
    the batch is uncertain *and* not ``n`` near-copies of one confusing example.
    Without ``embeddings`` it is :class:`UncertaintySampling`.

    Parameters
    ----------
    measure:
        ``"margin"`` (default), ``"entropy"`` or ``"least_confidence"``.
    shortlist_factor:
        How many candidates per pick (default 2; 1 means pure uncertainty). 2 was
        chosen on held-out seeds of ``benchmarks/active_learning.py`` (digits: 2 and 3
        are within noise there; larger batches leave diversity more to do).
    diversity:
        ``"k_center"`` (default) or ``"kmeans++"``.
    random_fraction, random_state:
        As for every strategy (default 10% reserve).

    >>> import numpy as np, warnings
    >>> rng = np.random.default_rng(0)
    >>> P = rng.dirichlet(np.ones(10), size=5000)
    >>> E = rng.normal(size=(5000, 16)).astype(np.float32)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", SmallBatchWarning)
    ...     b = UncertaintyDiversitySampling(random_state=0).query(P, 100, embeddings=E)
    >>> len(b), int(b.random_mask.sum())
    (100, 10)
    """

    reason = "uncertainty_diversity"

    def __init__(self, measure: Measure = "margin", *, shortlist_factor: float = 2.0,
                 diversity: Diversity = "k_center", random_fraction: float = 0.1,
                 random_state: int | np.random.Generator | None = None,
                 chunk_size: int = 65_536) -> None:
        self.measure = measure
        self.shortlist_factor = shortlist_factor
        self.diversity = diversity
        self.random_fraction = random_fraction
        self.random_state = random_state
        self.chunk_size = chunk_size

    def _pick(self, scores: npt.NDArray[np.float64] | None, candidates: IntArray, k: int,
              emb: npt.NDArray[Any] | None, labeled: npt.NDArray[Any] | None,
              reserve: IntArray, rng: np.random.Generator
              ) -> tuple[IntArray, npt.NDArray[np.str_]]:
        assert scores is not None
        f = _check_shortlist_factor(self.shortlist_factor)
        if emb is None or k == 0:
            top = _top(scores, candidates, k)
            return top, np.full(top.shape[0], "uncertainty", dtype="<U24")
        short = _top(scores, candidates, min(candidates.shape[0], int(math.ceil(f * k))))
        sel = self._diversify(short, scores, k, emb, labeled, reserve, rng)
        return sel, np.full(sel.shape[0], self.reason, dtype="<U24")

    def _diversify(self, short: IntArray, scores: npt.NDArray[np.float64], k: int,
                   emb: npt.NDArray[Any], labeled: npt.NDArray[Any] | None,
                   reserve: IntArray, rng: np.random.Generator) -> IntArray:
        """``k`` of the shortlisted items (pool indices)."""
        return _diverse(self.diversity, emb, short, k, labeled, reserve, rng, self.chunk_size)


def _check_shortlist_factor(f: Any) -> float:
    """``f`` as a finite float >= 1, or a :class:`ValidationError` that says so."""
    if isinstance(f, bool) or not isinstance(f, int | float | np.integer | np.floating) \
            or not math.isfinite(float(f)) or float(f) < 1:
        raise ValidationError(f"shortlist_factor = {f!r}: give how many candidates to "
                              "shortlist per pick, a finite number >= 1 (default 10; "
                              "1 = pure uncertainty sampling)")
    return float(f)


class DiverseMiniBatchSampling(UncertaintyDiversitySampling):
    """Opt-in: diverse mini-batch active learning (DMBAL; Zhdanov, 2019, "Diverse
    mini-batch Active Learning").

    The ``shortlist_factor × k`` most uncertain candidates (by ``measure``; ``k`` is
    the batch less its random reserve) are clustered into ``k`` clusters with
    k-means (scikit-learn's :class:`~sklearn.cluster.KMeans`, k-means++ start, one
    run), each item weighted by its uncertainty, so the centres lean towards the
    uncertain regions. The batch is the shortlisted item nearest each centre, heaviest
    cluster first; when two centres share a nearest item the later one takes its
    nearest item not picked yet, so the ``k`` picks are distinct. The labeled items
    (``labeled_embeddings``) play no part. Without ``embeddings`` it is
    :class:`UncertaintySampling`. Not the default (see ``default_strategy``): on
    digits (``benchmarks/active_learning.py``) it needed fewer labels than the default,
    at the cost of a k-means fit on ``shortlist_factor × n`` rows per query: picking
    1,000 of 50,000 random 384-d embeddings took about 40 s on 2 shared cores, against
    0.2 s for the default.

    Parameters
    ----------
    measure:
        ``"margin"`` (default), ``"entropy"`` or ``"least_confidence"``.
    shortlist_factor:
        How many candidates per pick (default 10; 1 means pure uncertainty
        sampling).
    random_fraction, random_state:
        As for every strategy (default 10% reserve); ``random_state`` also seeds
        k-means.

    Notes
    -----
    The k-means weights are the shortlisted items' uncertainty plus ``1e-6`` (shifted
    up first if uncertainty scores given as a 1-D pool go below 0), so no item
    weighs 0.

    >>> import numpy as np, warnings
    >>> rng = np.random.default_rng(0)
    >>> P = rng.dirichlet(np.ones(10), size=5000)
    >>> E = rng.normal(size=(5000, 16)).astype(np.float32)
    >>> s = DiverseMiniBatchSampling(random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", SmallBatchWarning)
    ...     b = s.query(P, 100, embeddings=E)
    >>> len(b), len(set(b.indices.tolist())), int(b.random_mask.sum())
    (100, 100, 10)
    >>> sorted(set(b.reasons.tolist()))
    ['diverse_minibatch', 'random']
    """

    reason = "diverse_minibatch"

    def __init__(self, measure: Measure = "margin", *, shortlist_factor: float = 10.0,
                 random_fraction: float = 0.1,
                 random_state: int | np.random.Generator | None = None) -> None:
        self.measure = measure
        self.shortlist_factor = shortlist_factor
        self.random_fraction = random_fraction
        self.random_state = random_state

    def _diversify(self, short: IntArray, scores: npt.NDArray[np.float64], k: int,
                   emb: npt.NDArray[Any], labeled: npt.NDArray[Any] | None,
                   reserve: IntArray, rng: np.random.Generator) -> IntArray:
        if short.shape[0] <= k:  # nothing to choose between: every shortlisted item
            return short
        return short[_weighted_kmeans_picks(emb[short], scores[short], k, rng)]


def _weighted_kmeans_picks(X: npt.NDArray[Any], s: npt.NDArray[np.float64], k: int,
                           rng: np.random.Generator) -> IntArray:
    """``k`` distinct rows of ``X``: the row nearest each centre of a k-means fit
    weighted by ``s``, heaviest cluster first."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    w = s - min(float(s.min()), 0.0) + 1e-6
    km = KMeans(n_clusters=k, n_init=1, init="k-means++",
                random_state=int(rng.integers(2**31 - 1)))
    with warnings.catch_warnings():
        # fewer distinct points than k (duplicate embeddings): centres coincide, and the
        # picks below still come out distinct
        warnings.simplefilter("ignore", ConvergenceWarning)
        km.fit(X, sample_weight=w)
    dist = np.ascontiguousarray(km.transform(X).T)  # (k centres, m rows)
    mass = np.bincount(km.labels_, weights=w, minlength=k)
    out = np.empty(k, dtype=np.int64)
    for n, c in enumerate(np.argsort(-mass, kind="stable")):
        j = int(np.argmin(dist[c]))  # taken rows are at +inf, and k <= m leaves one free
        out[n] = j
        dist[:, j] = np.inf
    return out


def default_strategy(random_state: int | np.random.Generator | None = None) -> Strategy:
    """labelnb's default: :class:`UncertaintyDiversitySampling` with its defaults."""
    return UncertaintyDiversitySampling(random_state=random_state)


__all__ = ["MIN_BATCH_SIZE", "Batch", "DiverseMiniBatchSampling", "DiversitySampling",
           "RandomSampling", "SmallBatchWarning", "Strategy", "UncertaintyDiversitySampling",
           "UncertaintySampling", "check_batch_size", "default_strategy", "reserve_count"]
