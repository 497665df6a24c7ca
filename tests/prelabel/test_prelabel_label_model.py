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
    """With independent LFs, abstentions missing at random and no pseudo-counts the
    label model is Dawid-Skene: the posteriors agree with labelnb.metrics.DawidSkene
    fitted on the long-format votes."""
    L, _ = synthetic(3, 1500, 3, INDEPENDENT)
    lm = LabelModel(n_classes=3, dependencies=None, abstains="random", smoothing=0.0,
                    anchor=0.0, tol=1e-10, n_iter=500).fit(L)
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
    # the copies never disagree in training: the tuple (0, 1) is unseen -> missing; what
    # is left is the evidence of the two other LFs' abstentions
    silent = m.priors_.to_numpy() * m.tables_[0]["-"].to_numpy() * m.tables_[1]["-"].to_numpy()
    assert p[2] == pytest.approx(silent / silent.sum())
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
    with pytest.raises(ValidationError, match="abstains='never'"):
        LabelModel(n_classes=2, abstains="never").fit(np.zeros((3, 2), dtype=int))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="anchor must be >= 0"):
        LabelModel(n_classes=2, anchor=-1).fit(np.zeros((3, 2), dtype=int))
    with pytest.raises(ValidationError, match="class_balance"):
        LabelModel(n_classes=2, class_balance=[0.5, 0.6]).fit(np.zeros((3, 2), dtype=int))
    with pytest.raises(ValidationError, match="call fit"):
        LabelModel().predict_proba(np.zeros((1, 1), dtype=int))
    with pytest.raises(ValidationError, match="must hold ints"):
        LabelModel(n_classes=2).fit(np.zeros((2, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert find_near_duplicates(np.array([[0, 1]] * 30), min_overlap=10) == []


# --- one-sided LFs: keyword LFs that only ever vote for one class --------------------

def one_sided(seed: int, n: int, k: int, specs: list[tuple[int, float, float]]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Gold ``y`` and a label matrix of one-sided LFs: LF ``(c, hit, false_alarm)``
    votes ``c`` with probability ``hit`` on items of class ``c`` and ``false_alarm`` on
    the others, and abstains otherwise (``false_alarm=0``: never wrong)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    cols = [np.where(rng.random(n) < np.where(y == c, hit, fa), c, -1) for c, hit, fa in specs]
    return np.stack(cols, axis=1), y


REVIEWS = ["great film", "dull plot", "awful acting", "great cast", "dull and awful",
           "great fun", "awful ending", "a great story"]


def test_one_sided_keyword_lfs_on_eight_reviews() -> None:
    """great -> pos, dull -> neg, awful -> neg: each review gets the class its keyword
    says (with abstentions missing at random every item came out "neg" with
    probability 1 and the "great" LF had accuracy 0)."""
    L = np.array([[0 if "great" in t else -1, 1 if "dull" in t else -1,
                   1 if "awful" in t else -1] for t in REVIEWS])
    m = LabelModel(classes=["pos", "neg"], lf_names=["great", "dull", "awful"]).fit(L)
    keyword = [0 if "great" in t else 1 for t in REVIEWS]
    assert m.labels_.tolist() == keyword
    assert (m.probas_[np.arange(8), keyword] > 0.75).all()
    assert (m.accuracies_ > 0.8).all()
    table = m.tables_[0]  # the "great" LF: it fires far more often on pos than on neg
    assert list(table.columns) == ["pos", "-"]
    assert table.loc["pos", "pos"] > 2 * table.loc["neg", "pos"]
    # the classic model (abstentions missing at random) cannot use them
    old = LabelModel(classes=["pos", "neg"], abstains="random").fit(L)
    assert len(set(old.labels_.tolist())) == 1


NEVER_WRONG = [(0, 0.3, 0.0), (0, 0.2, 0.0), (1, 0.3, 0.0), (1, 0.25, 0.0),
               (0, 0.4, 0.15), (1, 0.4, 0.15), (0, 0.5, 0.3), (1, 0.5, 0.3)]
NEVER_WRONG_3 = [(0, 0.3, 0.0), (1, 0.3, 0.0), (2, 0.3, 0.0), (0, 0.4, 0.1), (1, 0.4, 0.1),
                 (2, 0.4, 0.1), (0, 0.3, 0.2), (1, 0.5, 0.2)]
NOISY = [(0, 0.5, 0.1), (0, 0.4, 0.2), (1, 0.5, 0.1), (1, 0.3, 0.15), (1, 0.6, 0.3)]


@pytest.mark.parametrize("n", [200, 1000])
@pytest.mark.parametrize(("k", "specs"), [(2, NEVER_WRONG), (3, NEVER_WRONG_3), (2, NOISY)],
                         ids=["never-wrong", "never-wrong-3-classes", "noisy"])
def test_one_sided_lfs_match_or_beat_majority_vote(n: int, k: int,
                                                   specs: list[tuple[int, float, float]]
                                                   ) -> None:
    lm, mv = [], []
    for seed in range(6):
        L, y = one_sided(seed, n, k, specs)
        lm.append(covered_accuracy(LabelModel(n_classes=k).fit_predict(L), y, L))
        mv.append(covered_accuracy(majority_vote(L, k, seed=seed), y, L))
    assert np.mean(lm) >= np.mean(mv)
    if n == 1000 and specs is not NOISY:
        assert np.mean(lm) > np.mean(mv) + 0.02


def test_one_sided_lfs_learn_firing_rates() -> None:
    """On many items the tables recover each LF's class-conditional firing rates, and
    never-wrong LFs come out (nearly) never wrong."""
    L, y = one_sided(7, 20_000, 2, NEVER_WRONG)
    m = LabelModel(n_classes=2).fit(L)
    assert m.groups_ == [(f"lf_{j}",) for j in range(len(NEVER_WRONG))]
    covered = (L != -1).any(axis=1)
    for j, (c, _, _) in enumerate(NEVER_WRONG):
        t = m.tables_[j]
        assert list(t.columns) == [c, "-"]
        for cls in (0, 1):  # P(vote | class) among the items some LF labels
            rows = covered & (y == cls)
            assert t.loc[cls, c] == pytest.approx((L[rows, j] == c).mean(), abs=0.03)
    assert m.accuracies_.iloc[:4].min() > 0.97
    assert covered_accuracy(m.predict(L), y, L) > covered_accuracy(
        majority_vote(L, 2, seed=0), y, L) + 0.03


def test_one_sided_lfs_of_one_class_are_not_near_duplicates() -> None:
    """Two one-sided LFs for the same class agree whenever both fire; that alone does
    not make them copies. An exact copy still is one."""
    L, _ = one_sided(8, 3000, 2, NEVER_WRONG[:4])
    assert find_near_duplicates(L) == []
    assert find_near_duplicates(np.column_stack([L, L[:, 0]])) == [(0, 4)]
    m = LabelModel(n_classes=2).fit(np.column_stack([L, L[:, 0]]))
    assert ("lf_0", "lf_4") in m.groups_


def test_uncovered_rows_keep_the_prior_and_unseen_outputs_are_missing() -> None:
    L, _ = one_sided(9, 2000, 2, NEVER_WRONG[:4])
    m = LabelModel(n_classes=2).fit(L)
    uncovered = ~(L != -1).any(axis=1)
    assert uncovered.any()
    assert m.probas_[uncovered] == pytest.approx(np.tile(m.priors_.to_numpy(),
                                                         (int(uncovered.sum()), 1)))
    # lf_0 never voted 1 in training: that output counts as missing, like the others'
    # abstentions would not
    p = m.predict_proba(np.array([[1, -1, -1, -1], [-1, -1, 1, -1]]))
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1)


def test_score_takes_class_names_or_indices_and_checks_them() -> None:
    """Gold given as class names scored 0.0 (compared with indices); now they are mapped,
    and a wrong length, an unknown name or an index out of range is refused."""
    L = np.array([[0, -1], [1, 1], [0, 0], [0, -1], [1, -1]])
    m = LabelModel(classes=["pos", "neg"]).fit(L)
    by_index = m.score(L, [0, 1, 0, 0, 1])
    assert by_index == m.score(L, ["pos", "neg", "pos", "pos", "neg"]) == 1.0
    assert m.score(L, np.array([0.0, 1.0, 0.0, 0.0, 1.0])) == by_index  # float indices
    for bad, msg in ((["pos", "x", "pos", "pos", "neg"], r"holds \['x'\]"),
                     ([0, 1, 0], "for the 5 rows"),
                     ([0, 2, 0, 0, 1], r"indices \[2\], outside 0..1")):
        with pytest.raises(ValidationError, match=msg):
            m.score(L, bad)
    with pytest.warns(DegenerateWarning, match="no row of L"):
        assert np.isnan(m.score(np.full((2, 2), -1), [0, 1]))
