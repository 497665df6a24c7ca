"""Labels to accuracy: how many labels each selection strategy needs on digits.

scikit-learn's bundled digits (1,797 8×8 images, pixels scaled to [0, 1]), logistic
regression (``LogisticRegression(max_iter=2000)``), for each of ``--seeds`` seeds: a
stratified 30% test split; the other 70% (1,257 images) is the unlabeled pool. The
target is 95% of the accuracy of the same model trained on the whole pool. Every
strategy starts from the same ``--init`` random labels (per seed), then repeats:
fit on the labels so far, score the test split, and, below the target, label
``--batch`` more items picked by the strategy. "labels" is the count at the first
fit that reaches the target (capped at ``--max-labels``; a miss prints as ``>cap``).

Strategies, all in the same run:

* labelnb: ``random`` (RandomSampling), ``entropy`` and ``margin``
  (UncertaintySampling with ``random_fraction=0``: the plain strategies), and the
  ``default`` (UncertaintyDiversitySampling: margin shortlist of 2× the batch, k-center
  greedy on the pixel vectors within it, labeled items as existing centres, and the
  10% random reserve that every labelnb batch carries), and the opt-in ``dmbal``
  (DiverseMiniBatchSampling: margin shortlist of 10× the batch, k-means with one
  cluster per pick on the pixel vectors, weighted by uncertainty, the item nearest
  each centre; the same 10% random reserve).
* modAL (``modAL-python``), where it installs: ``margin_sampling``,
  ``entropy_sampling`` and ``uncertainty_batch_sampling`` (ranked batch-mode).
* small-text, where it installs: ``BreakingTies`` (margin), ``PredictionEntropy`` and
  ``GreedyCoreset`` (euclidean).

The issue's rule of at least 200 labels per cycle would swamp a 1,257-image pool (the
target falls at about 100-150 labels), so this benchmark labels ``--batch`` (default
10) per cycle and silences labelnb's :class:`SmallBatchWarning`; the output says so.

Usage::

    .venv/bin/python benchmarks/active_learning.py                 # 5 seeds, ~2-4 min
    .venv/bin/python benchmarks/active_learning.py --seeds 1 --no-peers   # quick
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from labelnb.active import (
    DiverseMiniBatchSampling,
    RandomSampling,
    SmallBatchWarning,
    UncertaintyDiversitySampling,
    UncertaintySampling,
)

# select(model, X_pool, labeled_idx, unlabeled_idx, n, rng) -> indices into X_pool
Selector = Callable[[Any, np.ndarray, np.ndarray, np.ndarray, int, np.random.Generator],
                    np.ndarray]


def _model() -> LogisticRegression:
    return LogisticRegression(max_iter=2000)


def _labelnb(make: Callable[[np.random.Generator], Any], use_embeddings: bool) -> Selector:
    def select(model: Any, X: np.ndarray, lab: np.ndarray, unl: np.ndarray, n: int,
               rng: np.random.Generator) -> np.ndarray:
        strategy = make(rng)
        proba = model.predict_proba(X[unl])
        if use_embeddings:
            b = strategy.query(proba, n, embeddings=X[unl], labeled_embeddings=X[lab])
        else:
            b = strategy.query(proba, n)
        return unl[np.asarray(b)]
    return select


def labelnb_selectors() -> dict[str, Selector]:
    return {
        "labelnb random": _labelnb(lambda r: RandomSampling(random_state=r), False),
        "labelnb entropy": _labelnb(
            lambda r: UncertaintySampling("entropy", random_fraction=0.0, random_state=r), False),
        "labelnb margin": _labelnb(
            lambda r: UncertaintySampling("margin", random_fraction=0.0, random_state=r), False),
        "labelnb default": _labelnb(
            lambda r: UncertaintyDiversitySampling(random_state=r), True),
        "labelnb dmbal": _labelnb(
            lambda r: DiverseMiniBatchSampling(random_state=r), True),
    }


def peer_selectors() -> tuple[dict[str, Selector], list[str]]:
    out: dict[str, Selector] = {}
    notes: list[str] = []
    try:
        from modAL.batch import uncertainty_batch_sampling
        from modAL.uncertainty import entropy_sampling, margin_sampling

        class _Learner:  # what modAL reads of its ActiveLearner: the model, the labeled X
            on_transformed = False

            def __init__(self, model: Any, X_training: np.ndarray) -> None:
                self.model, self.X_training = model, X_training

            def predict_proba(self, X: np.ndarray, **kw: Any) -> np.ndarray:
                return np.asarray(self.model.predict_proba(X))

        def modal(fn: Callable[..., Any]) -> Selector:
            def select(model: Any, X: np.ndarray, lab: np.ndarray, unl: np.ndarray, n: int,
                       rng: np.random.Generator) -> np.ndarray:
                res = fn(_Learner(model, X[lab]), X[unl], n_instances=n)
                idx = res[0] if isinstance(res, tuple) else res
                return unl[np.asarray(idx, dtype=np.int64)]
            return select

        out["modAL margin_sampling"] = modal(margin_sampling)
        out["modAL entropy_sampling"] = modal(entropy_sampling)
        out["modAL uncertainty_batch_sampling"] = modal(uncertainty_batch_sampling)
    except ImportError as e:
        notes.append(f"modAL not installed ({e}); pip install modAL-python")
    try:
        from small_text import BreakingTies, GreedyCoreset, PredictionEntropy

        class _Clf:  # small-text asks its classifier for predict_proba(dataset)
            def __init__(self, model: Any) -> None:
                self.model = model

            def predict_proba(self, data: np.ndarray) -> np.ndarray:
                return np.asarray(self.model.predict_proba(data))

        def st(make: Callable[[], Any], embed: bool) -> Selector:
            def select(model: Any, X: np.ndarray, lab: np.ndarray, unl: np.ndarray, n: int,
                       rng: np.random.Generator) -> np.ndarray:
                q = make()
                kw = {"embeddings": X, "pbar": None} if embed else {}
                idx = q.query(_Clf(model), X, unl, lab, np.zeros(len(lab), dtype=int), n=n,
                              **kw)
                return np.asarray(idx, dtype=np.int64)
            return select

        out["small-text BreakingTies"] = st(BreakingTies, False)
        out["small-text PredictionEntropy"] = st(PredictionEntropy, False)
        out["small-text GreedyCoreset"] = st(
            lambda: GreedyCoreset(distance_metric="euclidean", normalize=False), True)
    except ImportError as e:
        notes.append(f"small-text not installed ({e}); pip install small-text")
    return out, notes


def labels_to_target(select: Selector, X: np.ndarray, y: np.ndarray, Xt: np.ndarray,
                     yt: np.ndarray, init: np.ndarray, target: float, batch: int,
                     cap: int, seed: int) -> int | None:
    rng = np.random.default_rng(seed)
    labeled = np.zeros(X.shape[0], dtype=bool)
    labeled[init] = True
    while True:
        lab = np.flatnonzero(labeled)
        model = _model().fit(X[lab], y[lab])
        if model.score(Xt, yt) >= target:
            return int(lab.shape[0])
        if lab.shape[0] >= cap or labeled.all():
            return None
        unl = np.flatnonzero(~labeled)
        n = min(batch, unl.shape[0], cap - lab.shape[0])
        pick = np.asarray(select(model, X, lab, unl, n, rng), dtype=np.int64)
        if pick.shape[0] != n or labeled[pick].any() or np.unique(pick).shape[0] != n:
            raise RuntimeError(f"a selector returned {pick.tolist()!r:.200} for n={n}: not n "
                               "distinct unlabeled items")
        labeled[pick] = True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--init", type=int, default=10)
    ap.add_argument("--max-labels", type=int, default=600)
    ap.add_argument("--no-peers", action="store_true", help="labelnb's strategies only")
    ap.add_argument("--only", default="", help="comma-separated substrings of strategy names")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", SmallBatchWarning)
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.filterwarnings("ignore", message="Default distance metric")  # small-text's notice

    sel = labelnb_selectors()
    notes: list[str] = []
    if not args.no_peers:
        peers, notes = peer_selectors()
        sel.update(peers)
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        sel = {n: f for n, f in sel.items() if any(k in n for k in keys) or n.endswith("random")}

    digits = load_digits()
    X_all = (digits.data / 16.0).astype(np.float64)
    y_all = digits.target
    results: dict[str, list[int | None]] = {name: [] for name in sel}
    fulls: list[float] = []
    t0 = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:
        X, Xt, y, yt = train_test_split(X_all, y_all, test_size=0.3, random_state=seed,
                                        stratify=y_all)
        full = _model().fit(X, y).score(Xt, yt)
        fulls.append(full)
        target = 0.95 * full
        init = np.random.default_rng(1000 + seed).choice(X.shape[0], args.init, replace=False)
        for name, f in sel.items():
            t = time.perf_counter()
            n = labels_to_target(f, X, y, Xt, yt, init, target, args.batch, args.max_labels,
                                 seed)
            results[name].append(n)
            print(f"seed {seed} {name:34s} {n if n is not None else '>cap':>5} labels "
                  f"({time.perf_counter() - t:.1f} s)", file=sys.stderr)

    def mean(v: list[int | None]) -> float:
        return float(np.mean([x if x is not None else args.max_labels for x in v]))

    base = mean(results["labelnb random"])
    print(f"\nDigits, logistic regression, {args.seeds} seeds ({seeds.start}-{seeds.stop - 1}), "
          f"30% test split, pool "
          f"{X.shape[0]}; full-pool accuracy {np.mean(fulls):.4f} (target 95% of it per seed); "
          f"{args.init} random initial labels, then {args.batch} labels per cycle "
          f"(below labelnb's 200-per-cycle minimum: the pool is small; SmallBatchWarning "
          f"silenced); a miss counts as {args.max_labels}. {time.perf_counter() - t0:.0f} s.\n")
    print("| strategy | labels to target (mean ± sd) | per seed | vs random |")
    print("|---|---:|---|---:|")
    for name, v in results.items():
        vals = [x if x is not None else args.max_labels for x in v]
        per = ", ".join(str(x) if x is not None else f">{args.max_labels}" for x in v)
        ratio = mean(v) / base
        print(f"| {name} | {np.mean(vals):.0f} ± {np.std(vals):.0f} | {per} | "
              f"{ratio:.2f}× ({(ratio - 1) * 100:+.0f}%) |")
    d = mean(results["labelnb default"]) / base if "labelnb default" in results else None
    if d is not None:
        print(f"\nTarget: labelnb default needs >= 50% fewer labels than random: "
              f"{(1 - d) * 100:.0f}% fewer -> {'pass' if d <= 0.5 else 'FAIL'}")
    for note in notes:
        print(f"\nnote: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
