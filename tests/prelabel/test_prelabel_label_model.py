"""The label model against majority vote on synthetic LFs of known accuracy, against
labelnb's Dawid-Skene on the same votes, and with dependent LFs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from labelnb.errors import ValidationError
from labelnb.metrics import DawidSkene
from labelnb.metrics._common import DegenerateWarning
from labelnb.prelabel import LabelModel, find_near_duplicates, majority_vote


def synthetic(seed: int, n: int, k: int, specs: list[tuple[float, float]],
              copies: int = 0, copy_of: tuple[float, float] = (0.55, 0.9)
              ) -> tuple[np.ndarray, np.ndarray]:
    """Gold ``y`` and a label matrix of LFs with (accuracy, coverage) ``specs``; errors
    uniform over the other classes; ``copies`` LFs that repeat one LF's votes (each
    with its own abstentions)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)

    def votes(acc: float) -> np.ndarray:
        wrong = (y + rng.integers(1, k, n)) % k
        return np.where(rng.random(n) < acc, y, wrong)

    cols = [np.where(rng.random(n) < cov, votes(acc), -1) for acc, cov in specs]
    if copies:
        base = votes(copy_of[0])
        cols += [np.where(rng.random(n) < copy_of[1], base, -1) for _ in range(copies)]
    return np.stack(cols, axis=1), y


def covered_accuracy(pred: np.ndarray, y: np.ndarray, L: np.ndarray) -> float:
    ok = (L != -1).any(axis=1)
    return float((pred[ok] == y[ok]).mean())


INDEPENDENT = [(0.9, 0.5), (0.8, 0.6), (0.7, 0.7), (0.6, 0.8), (0.55, 0.8), (0.55, 0.9)]


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_least_as_accurate_as_majority_vote(seed: int, k: int) -> None:
    L, y = synthetic(seed, 4000, k, INDEPENDENT)
    lm = covered_accuracy(LabelModel(n_classes=k).fit_predict(L), y, L)
    mv = covered_accuracy(majority_vote(L, k, seed=seed), y, L)
    assert lm >= mv
    assert lm - mv > 0.02  # weighting by accuracy is worth more than noise here


def test_learns_the_accuracies() -> None:
    L, y = synthetic(5, 20_000, 3, INDEPENDENT)
    m = LabelModel(n_classes=3).fit(L)
    truth = [(L[L[:, j] != -1, j] == y[L[:, j] != -1]).mean() for j in range(L.shape[1])]
    assert np.abs(m.accuracies_.to_numpy() - truth).max() < 0.04
    assert m.priors_.to_numpy() == pytest.approx(np.bincount(y) / len(y), abs=0.03)
    assert m.groups_ == [(f"lf_{j}",) for j in range(6)] and m.dependencies_ == []
    assert all(np.allclose(t.sum(axis=1), 1.0) for t in m.tables_)
    assert m.loss_history_[-1] <= m.loss_history_[0]


def test_matches_dawid_skene_on_the_same_votes() -> None:
    """With independent LFs and no smoothing the label model is Dawid-Skene: the
    posteriors agree with labelnb.metrics.DawidSkene fitted on the long-format votes."""
    L, _ = synthetic(3, 1500, 3, INDEPENDENT)
    lm = LabelModel(n_classes=3, dependencies=None, smoothing=0.0, tol=1e-10,
                    n_iter=500).fit(L)
    rows, cols = np.nonzero(L != -1)
    long = pd.DataFrame({"item": rows, "annotator": cols, "label": L[rows, cols]})
    ds = DawidSkene(n_iter=500, tol=1e-10, classes=[0, 1, 2]).fit(long)
    covered = np.unique(rows)
    np.testing.assert_allclose(lm.probas_[covered], ds.probas_.loc[covered].to_numpy(),
                               atol=2e-3)


def test_dependent_lfs_are_grouped_and_do_not_outvote() -> None:
    """Three copies of a weak LF outvote two good LFs under majority vote and under
    independent Dawid-Skene; grouped, they count as one."""
    accs = []
    for seed in range(3):
        L, y = synthetic(seed, 5000, 3, [(0.8, 0.6), (0.75, 0.6)], copies=3)
        auto = LabelModel(n_classes=3).fit(L)
        assert auto.groups_ == [("lf_0",), ("lf_1",), ("lf_2", "lf_3", "lf_4")]
        assert ("lf_2", "lf_3") in auto.dependencies_
        assert auto.accuracies_["lf_2"] == pytest.approx(0.55, abs=0.04)
        ind = LabelModel(n_classes=3, dependencies=None).fit(L)
        mv = majority_vote(L, 3, seed=seed)
        a, i, m = (covered_accuracy(p, y, L) for p in (auto.predict(L), ind.predict(L), mv))
        assert a > m + 0.1 and a > i + 0.1
        accs.append(a)
    assert min(accs) > 0.7


def test_declared_dependencies_by_name() -> None:
    L, y = synthetic(4, 3000, 2, [(0.8, 0.6), (0.75, 0.6)], copies=2)
    names = ["good_a", "good_b", "kw_v1", "kw_v2"]
    m = LabelModel(n_classes=2, lf_names=names, dependencies=[("kw_v1", "kw_v2")]).fit(L)
    assert m.groups_ == [("good_a",), ("good_b",), ("kw_v1", "kw_v2")]
    assert m.tables_[2].columns.name == "kw_v1+kw_v2"
    assert "0,-" in list(m.tables_[2].columns) or "-,0" in list(m.tables_[2].columns)
    with pytest.raises(ValidationError, match="names LF 'nope'"):
        LabelModel(n_classes=2, lf_names=names, dependencies=[("nope", "kw_v1")]).fit(L)
    with pytest.raises(ValidationError, match="two different LFs"):
        LabelModel(n_classes=2, dependencies=[(1, 1)]).fit(L)


def test_predict_on_new_rows() -> None:
    L, y = synthetic(6, 3000, 2, [(0.85, 0.7), (0.7, 0.7)], copies=2)
    m = LabelModel(n_classes=2, classes=["neg", "pos"]).fit(L)
    new = np.array([[1, -1, -1, -1], [-1, -1, -1, -1], [-1, -1, 0, 1]])
    p = m.predict_proba(new)
    assert p.shape == (3, 2) and np.allclose(p.sum(axis=1), 1)
    assert p[1] == pytest.approx(m.priors_.to_numpy())  # no vote: the prior
    # the copies never disagree in training: the tuple (0, 1) is unseen -> missing
    assert p[2] == pytest.approx(m.priors_.to_numpy())
    assert m.predict(new).tolist()[:2] == [1, -1]
    assert m.predict(new, abstain_uncovered=False)[1] == int(np.argmax(m.priors_))
    assert m.score(L, y) >= covered_accuracy(majority_vote(L, 2, seed=0), y, L)
    with pytest.raises(ValidationError, match="fitted on 4 LFs"):
        m.predict_proba(new[:, :3])


def test_degenerate_and_bad_input() -> None:
    with pytest.warns(DegenerateWarning, match="every LF abstains"):
        m = LabelModel(n_classes=2, class_balance=[0.3, 0.7]).fit(np.full((5, 2), -1))
    assert m.probas_[0] == pytest.approx([0.3, 0.7])
    with pytest.raises(ValidationError, match="at least 2"):
        LabelModel().fit(np.zeros((3, 2), dtype=int))
    with pytest.raises(ValidationError, match="class_balance"):
        LabelModel(n_classes=2, class_balance=[0.5, 0.6]).fit(np.zeros((3, 2), dtype=int))
    with pytest.raises(ValidationError, match="call fit"):
        LabelModel().predict_proba(np.zeros((1, 1), dtype=int))
    with pytest.raises(ValidationError, match="must hold ints"):
        LabelModel(n_classes=2).fit(np.zeros((2, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert find_near_duplicates(np.array([[0, 1]] * 30), min_overlap=10) == []
