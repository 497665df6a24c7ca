"""Label model: labelnb.prelabel.LabelModel against majority vote and Snorkel's
LabelModel on synthetic labeling functions of known accuracy.

Each scenario draws ``--items`` items with hidden classes and a set of LFs, each with
its own accuracy and coverage (a wrong vote is uniform over the other classes; an LF
abstains at random). "copies" scenarios add LFs that repeat one weak LF's votes (each
with its own abstentions): correlated LFs. "one-sided" scenarios have keyword-style
LFs that only ever vote for one class ``c``: they fire with one probability on items
of class ``c`` and another (0 for "never wrong" LFs) on the others, and abstain
otherwise, so whether they fire depends on the class. Accuracy is measured on the
items at least one LF labels, averaged over ``--seeds`` seeds; majority vote breaks
ties at random.
labelnb runs with its defaults (``dependencies="auto"``, ``abstains="informative"``),
with independent LFs (``dependencies=None``) and with abstentions missing at random
(``abstains="random"``, the classic Dawid-Skene treatment); Snorkel 0.10's
``LabelModel`` (matrix completion, then ``predict(tie_break_policy="random")``) runs
where ``snorkel`` is installed.

Prints one Markdown table. Usage::

    .venv/bin/python benchmarks/label_model.py                # 10,000 items, 5 seeds
    .venv/bin/python benchmarks/label_model.py --items 2000 --seeds 2   # quick
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labelnb.prelabel import LabelModel, majority_vote


@dataclass(frozen=True)
class Scenario:
    name: str
    k: int
    lfs: tuple[tuple[float, float], ...]  # (accuracy, coverage)
    copies: int = 0
    copy_of: tuple[float, float] = (0.55, 0.9)
    priors: tuple[float, ...] | None = None
    one_sided: tuple[tuple[int, float, float], ...] = ()  # (class, P(fire | c), P(fire | not c))


SCENARIOS = [
    Scenario("6 independent LFs, acc 0.55-0.9, 2 classes", 2,
             ((0.9, 0.5), (0.8, 0.6), (0.7, 0.7), (0.6, 0.8), (0.55, 0.8), (0.55, 0.9))),
    Scenario("6 independent LFs, acc 0.55-0.9, 3 classes", 3,
             ((0.9, 0.5), (0.8, 0.6), (0.7, 0.7), (0.6, 0.8), (0.55, 0.8), (0.55, 0.9))),
    Scenario("10 sparse LFs (coverage 0.1-0.3), 2 classes", 2,
             tuple((a, c) for a, c in zip(np.linspace(0.6, 0.9, 10).round(3),
                                          np.linspace(0.1, 0.3, 10).round(3), strict=True))),
    Scenario("imbalanced classes (80/20), 5 LFs, 2 classes", 2,
             ((0.85, 0.6), (0.75, 0.7), (0.65, 0.8), (0.6, 0.8), (0.6, 0.9)),
             priors=(0.8, 0.2)),
    Scenario("2 good LFs + 3 copies of a weak one (correlated), 3 classes", 3,
             ((0.8, 0.6), (0.75, 0.6)), copies=3),
    Scenario("4 LFs + 2 copies of a weak one (correlated), 2 classes", 2,
             ((0.85, 0.5), (0.7, 0.6), (0.65, 0.7), (0.6, 0.7)), copies=2,
             copy_of=(0.6, 0.9)),
    Scenario("8 one-sided LFs (4 never wrong), 2 classes", 2, (),
             one_sided=((0, 0.3, 0.0), (0, 0.2, 0.0), (1, 0.3, 0.0), (1, 0.25, 0.0),
                        (0, 0.4, 0.15), (1, 0.4, 0.15), (0, 0.5, 0.3), (1, 0.5, 0.3))),
    Scenario("8 one-sided LFs (3 never wrong), 3 classes", 3, (),
             one_sided=((0, 0.3, 0.0), (1, 0.3, 0.0), (2, 0.3, 0.0), (0, 0.4, 0.1),
                        (1, 0.4, 0.1), (2, 0.4, 0.1), (0, 0.3, 0.2), (1, 0.5, 0.2))),
    Scenario("5 noisy one-sided LFs, 2 classes", 2, (),
             one_sided=((0, 0.5, 0.1), (0, 0.4, 0.2), (1, 0.5, 0.1), (1, 0.3, 0.15),
                        (1, 0.6, 0.3))),
]


def draw(s: Scenario, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(s.k, n, p=s.priors) if s.priors else rng.integers(0, s.k, n)

    def votes(acc: float) -> np.ndarray:
        wrong = (y + rng.integers(1, s.k, n)) % s.k
        return np.where(rng.random(n) < acc, y, wrong)

    cols = [np.where(rng.random(n) < cov, votes(acc), -1) for acc, cov in s.lfs]
    if s.copies:
        base = votes(s.copy_of[0])
        cols += [np.where(rng.random(n) < s.copy_of[1], base, -1) for _ in range(s.copies)]
    cols += [np.where(rng.random(n) < np.where(y == c, hit, false_alarm), c, -1)
             for c, hit, false_alarm in s.one_sided]
    return np.stack(cols, axis=1), y


def covered_acc(pred: np.ndarray, y: np.ndarray, L: np.ndarray) -> float:
    ok = (L != -1).any(axis=1)
    return float((pred[ok] == y[ok]).mean())


def snorkel_predictor() -> Callable[[np.ndarray, int, int], np.ndarray] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from snorkel.labeling.model import LabelModel as SnorkelLabelModel
    except ImportError:
        return None
    logging.getLogger("snorkel").setLevel(logging.ERROR)

    def predict(L: np.ndarray, k: int, seed: int) -> np.ndarray:
        m = SnorkelLabelModel(cardinality=k, verbose=False)
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(L_train=L, n_epochs=500, lr=0.01, seed=seed, progress_bar=False)
            return np.asarray(m.predict(L, tie_break_policy="random"))

    return predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    snorkel = snorkel_predictor()
    if snorkel is not None:
        import snorkel as snorkel_pkg

        snorkel_name = f"Snorkel {snorkel_pkg.__version__}"
    else:
        snorkel_name = "Snorkel (not installed)"
    print(f"{args.items:,} items, {args.seeds} seeds; accuracy on items some LF labels "
          "(mean over seeds)\n")
    print(f"| scenario | majority vote | labelnb LabelModel | labelnb, independent LFs | "
          f"labelnb, abstains at random | {snorkel_name} | labelnb / MV | labelnb fit (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for s in SCENARIOS:
        mv, lm, ind, rnd, sn, ms = [], [], [], [], [], []
        for seed in range(args.seeds):
            L, y = draw(s, args.items, seed)
            mv.append(covered_acc(majority_vote(L, s.k, seed=seed), y, L))
            t0 = time.perf_counter()
            pred = LabelModel(n_classes=s.k).fit(L).predict(L)
            ms.append((time.perf_counter() - t0) * 1000)
            lm.append(covered_acc(pred, y, L))
            ind.append(covered_acc(LabelModel(n_classes=s.k, dependencies=None).fit(L)
                                   .predict(L), y, L))
            rnd.append(covered_acc(LabelModel(n_classes=s.k, abstains="random").fit(L)
                                   .predict(L), y, L))
            if snorkel is not None:
                sn.append(covered_acc(snorkel(L, s.k, seed), y, L))
        sn_txt = f"{np.mean(sn):.4f}" if sn else "-"
        print(f"| {s.name} | {np.mean(mv):.4f} | {np.mean(lm):.4f} | {np.mean(ind):.4f} | "
              f"{np.mean(rnd):.4f} | {sn_txt} | {np.mean(lm) / np.mean(mv):.3f}x | "
              f"{np.median(ms):.0f} |", flush=True)


if __name__ == "__main__":
    main()
