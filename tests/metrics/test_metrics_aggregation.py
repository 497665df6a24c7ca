"""MajorityVote, soft labels and (one-coin) Dawid-Skene, the latter against crowd-kit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene as CKDawidSkene
from crowdkit.aggregation import OneCoinDawidSkene as CKOneCoin

from labelnb.errors import ValidationError
from labelnb.metrics import (
    DawidSkene,
    DegenerateWarning,
    MajorityVote,
    OneCoinDawidSkene,
    soft_labels,
)
from labelnb.types import Choice


def synthetic_crowd(seed: int, n_items: int = 1500, n_annot: int = 40, k: int = 4,
                    per_item: int = 5, one_coin: bool = False
                    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Labels drawn from per-annotator confusion matrices (accuracy 0.3-0.95)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(k, n_items, p=rng.dirichlet(np.full(k, 5.0)))
    acc = rng.uniform(0.3, 0.95, n_annot)
    conf = np.empty((n_annot, k, k))
    for a in range(n_annot):
        if one_coin:
            m = np.full((k, k), (1 - acc[a]) / (k - 1))
            np.fill_diagonal(m, acc[a])
        else:
            m = rng.dirichlet(np.ones(k), size=k) * (1 - acc[a])
            m[np.arange(k), np.arange(k)] += acc[a]
        conf[a] = m
    items = np.repeat(np.arange(n_items), per_item)
    annot = np.concatenate([rng.choice(n_annot, per_item, replace=False)
                            for _ in range(n_items)])
    cum = conf[annot, truth[items]].cumsum(axis=1)
    label = (rng.random(len(items))[:, None] > cum).sum(axis=1)
    df = pd.DataFrame({"item": items, "annotator": annot, "label": label})
    return df, truth, conf


pytestmark = pytest.mark.filterwarnings("ignore:::crowdkit")


def _ck(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={"item": "task", "annotator": "worker"})


# -- majority vote ----------------------------------------------------------------------

TIES = pd.DataFrame({"item": [1, 1, 2, 2, 2, 3, 3], "annotator": list("ababcab"),
                     "label": ["b", "a", "c", "c", "a", "a", "a"]})


def test_majority_vote_first_and_abstain() -> None:
    mv = MajorityVote(tie="first").fit(TIES)
    assert mv.labels_.to_dict() == {1: "a", 2: "c", 3: "a"}
    assert mv.tied_.to_dict() == {1: True, 2: False, 3: False}
    assert list(mv.classes_) == ["a", "b", "c"]
    assert mv.probas_.loc[2].tolist() == pytest.approx([1 / 3, 0, 2 / 3])
    ab = MajorityVote(tie="abstain").fit_predict(TIES)
    assert ab[1] is None and ab[2] == "c"


def test_majority_vote_random_ties_are_seeded_and_fair() -> None:
    df = pd.DataFrame({"item": np.repeat(np.arange(2000), 2),
                       "annotator": np.tile(["a", "b"], 2000),
                       "label": np.tile(["x", "y"], 2000)})
    one = MajorityVote(seed=7).fit_predict(df)
    assert one.equals(MajorityVote(seed=7).fit_predict(df))
    share = (one == "x").mean()
    assert 0.45 < share < 0.55
    assert MajorityVote(tie="random", seed=1).fit_predict(TIES)[2] == "c"


def test_majority_vote_inputs() -> None:
    arrays = (TIES["item"].to_numpy(), TIES["annotator"].to_numpy(), TIES["label"].to_numpy())
    assert MajorityVote(tie="first").fit_predict(arrays).to_dict() == {1: "a", 2: "c", 3: "a"}
    choices = TIES.assign(label=[Choice(v) for v in TIES["label"]])
    assert MajorityVote(tie="first").fit_predict(choices)[2] == "c"
    mv = MajorityVote(tie="first", classes=["c", "b", "a"]).fit(TIES)
    assert mv.labels_[1] == "b"  # "first" follows the given class order
    with pytest.raises(ValidationError, match="not in classes"):
        MajorityVote(classes=["a"]).fit(TIES)
    with pytest.raises(ValidationError):
        MajorityVote(tie="coin").fit(TIES)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="column"):
        MajorityVote().fit(pd.DataFrame({"x": [1]}))
    with pytest.warns(DegenerateWarning):
        assert MajorityVote().fit_predict(TIES.iloc[:0]).empty


def test_soft_labels() -> None:
    s = soft_labels(TIES)
    assert s.loc[1].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert np.allclose(s.sum(axis=1), 1.0)
    sm = soft_labels(TIES, smoothing=1.0)
    assert sm.loc[3].tolist() == pytest.approx([3 / 5, 1 / 5, 1 / 5])
    with pytest.raises(ValidationError):
        soft_labels(TIES, smoothing=-1)


# -- Dawid-Skene --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_dawid_skene_agrees_with_crowdkit(seed: int) -> None:
    df, truth, _ = synthetic_crowd(seed)
    ours = DawidSkene().fit(df)
    # both run to convergence (crowd-kit's defaults stop earlier: seed 1 after 30 rounds,
    # its priors 1.3e-3 from its own converged values)
    ref = CKDawidSkene(n_iter=1000, tol=1e-12).fit(_ck(df))
    a = ours.labels_.sort_index().to_numpy()
    b = ref.labels_.sort_index().to_numpy()
    assert (a == b).mean() >= 0.99
    assert abs((a == truth).mean() - (b == truth).mean()) <= 0.01
    assert np.allclose(ours.priors_.to_numpy(), ref.priors_.reindex(ours.classes_).to_numpy(),
                       atol=1e-3)
    ck_probas = ref.probas_.reindex(index=ours.probas_.index, columns=ours.classes_)
    assert np.abs(ours.probas_.to_numpy() - ck_probas.to_numpy()).mean() < 1e-3


def test_dawid_skene_same_rounds_same_estimates_as_crowdkit() -> None:
    df, _, _ = synthetic_crowd(9, n_items=800, n_annot=20)
    ref = CKDawidSkene(n_iter=100).fit(_ck(df))
    ours = DawidSkene(n_iter=len(ref.loss_history_), tol=0.0).fit(df)
    ck_probas = ref.probas_.reindex(index=ours.probas_.index, columns=ours.classes_)
    assert np.allclose(ours.probas_.to_numpy(), ck_probas.to_numpy(), atol=1e-6)
    for pos, annotator in enumerate(ours.annotators_):
        ck_err = ref.errors_.loc[annotator].T.reindex(index=ours.classes_,
                                                       columns=ours.classes_).fillna(0.0)
        assert np.allclose(ours.errors_[pos], ck_err.to_numpy(), atol=1e-6)


def test_dawid_skene_row_order_does_not_matter() -> None:
    df, _, _ = synthetic_crowd(8, n_items=500, n_annot=12)
    grouped = DawidSkene().fit(df)
    shuffled = DawidSkene().fit(df.sample(frac=1.0, random_state=0))
    assert np.allclose(grouped.probas_.sort_index().to_numpy(),
                       shuffled.probas_.sort_index().to_numpy())
    assert grouped.loss_history_ == pytest.approx(shuffled.loss_history_)


def test_dawid_skene_fitted_state() -> None:
    df, truth, conf = synthetic_crowd(11, n_items=4000, n_annot=20, per_item=6)
    ds = DawidSkene(tol=1e-8).fit(df)
    assert ds.errors_.shape == (20, 4, 4)
    assert np.allclose(ds.errors_.sum(axis=2), 1.0)
    assert np.allclose(ds.probas_.sum(axis=1), 1.0)
    assert ds.priors_.sum() == pytest.approx(1.0)
    hist = np.array(ds.loss_history_)
    assert ds.n_iter_ == len(hist) and np.all(np.diff(hist) <= 1e-9)  # EM never worsens
    # the estimated confusion matrices approach the true ones
    est = ds.errors_[np.argsort(ds.annotators_.to_numpy())]
    assert np.abs(est - conf).mean() < 0.03
    assert (ds.labels_.sort_index().to_numpy() == truth).mean() > 0.9
    conf0 = ds.confusion(ds.annotators_[0])
    assert conf0.shape == (4, 4) and conf0.index.name == "true"
    with pytest.raises(ValidationError):
        ds.confusion("nobody")
    assert ds.fit_predict(df).equals(ds.labels_)
    assert ds.fit_predict_proba(df).shape == (4000, 4)


def test_dawid_skene_beats_majority_vote_with_spammers() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    truth = rng.integers(0, 3, n)
    rows = []
    for a in range(7):
        good = a < 2
        lab = np.where(rng.random(n) < (0.9 if good else 0.34), truth, rng.integers(0, 3, n))
        rows.append(pd.DataFrame({"item": np.arange(n), "annotator": a, "label": lab}))
    df = pd.concat(rows)
    ds = DawidSkene().fit_predict(df).sort_index().to_numpy()
    mv = MajorityVote(seed=0).fit_predict(df).sort_index().to_numpy()
    assert (ds == truth).mean() > (mv == truth).mean() + 0.03  # about 0.97 vs 0.92


def test_dawid_skene_inputs_and_degenerate() -> None:
    df, _, _ = synthetic_crowd(2, n_items=200, n_annot=10)
    base = DawidSkene().fit_predict(df)
    assert DawidSkene().fit_predict(_ck(df)).equals(base)
    arrays = tuple(df[c].to_numpy() for c in ("item", "annotator", "label"))
    assert DawidSkene().fit_predict(arrays).equals(base)
    named = df.assign(label=df["label"].map(dict(enumerate("wxyz"))))
    assert (DawidSkene().fit_predict(named).to_numpy() ==
            base.map(dict(enumerate("wxyz"))).to_numpy()).all()
    wide = DawidSkene(classes=[0, 1, 2, 3, 4]).fit(df)
    assert wide.errors_.shape == (10, 5, 5) and wide.priors_[4] == 0.0
    with pytest.warns(DegenerateWarning, match="no labels"):
        empty = DawidSkene().fit(df.iloc[:0])
    assert empty.labels_.empty and empty.probas_.empty
    with pytest.warns(DegenerateWarning, match="one class"):
        one = DawidSkene().fit(df.assign(label=1))
    assert (one.labels_ == 1).all()
    for bad in (DawidSkene(n_iter=0), DawidSkene(tol=-1), DawidSkene(smoothing=-1)):
        with pytest.raises(ValidationError):
            bad.fit(df)


def test_dawid_skene_smoothing_keeps_unseen_cells_off_the_floor() -> None:
    df, _, _ = synthetic_crowd(4, n_items=300, n_annot=10)
    ds = DawidSkene(smoothing=1.0).fit(df)
    assert ds.errors_.min() > 1e-4


@pytest.mark.parametrize("seed", range(2))
def test_one_coin_agrees_with_crowdkit(seed: int) -> None:
    df, truth, _ = synthetic_crowd(seed, n_items=400, n_annot=15, one_coin=True)
    ours = OneCoinDawidSkene().fit(df)
    ref = CKOneCoin(n_iter=100).fit(_ck(df))
    a = ours.labels_.sort_index().to_numpy()
    b = ref.labels_.sort_index().to_numpy()
    assert (a == b).mean() >= 0.99
    # crowd-kit stops earlier (its ELBO counts the prior once per label, not per item);
    # run for the same number of rounds, the estimates are the same
    same = OneCoinDawidSkene(n_iter=len(ref.loss_history_), tol=0.0).fit(df)
    skills = ref.skills_.reindex(same.annotators_).to_numpy()
    assert np.allclose(same.skills_.to_numpy(), skills, atol=1e-6)
    assert np.allclose(ours.errors_.sum(axis=2), 1.0)
    assert (a == truth).mean() > 0.85


def test_one_coin_one_class() -> None:
    with pytest.warns(DegenerateWarning):
        m = OneCoinDawidSkene().fit(TIES.assign(label="a"))
    assert (m.labels_ == "a").all() and (m.skills_ == 1.0).all()


@pytest.mark.parametrize("column", ["item", "annotator"])
@pytest.mark.parametrize("model", [MajorityVote, DawidSkene])
def test_a_missing_item_or_annotator_is_refused_by_row(column: str, model: Any) -> None:
    """A missing id used to factorise to -1: DawidSkene then built a sparse matrix with
    a negative index (wrong labels, then the process aborted in free())."""
    d = pd.DataFrame({"item": [1, 1, 2], "annotator": ["a", "b", "c"], "label": ["x", "y", "y"]})
    d[column] = d[column].astype(object)
    d.loc[2, column] = None
    with pytest.raises(ValidationError,
                       match=rf"row 2 \(0-based position\): field '{column}' is missing"):
        model().fit(d)
