"""Strategy objects: what they pick on known matrices, the random reserve, the batch-size
warning."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from labelnb.active import (
    MIN_BATCH_SIZE,
    DiversitySampling,
    RandomSampling,
    SmallBatchWarning,
    UncertaintyDiversitySampling,
    UncertaintySampling,
    k_center_greedy,
)
from labelnb.active.strategies import reserve_count
from labelnb.errors import ValidationError


def _pool(n: int = 2000, k: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.full(k, 0.5), size=n)


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallBatchWarning)
        yield


@pytest.mark.parametrize("measure", ["entropy", "margin", "least_confidence"])
def test_uncertainty_sampling_takes_the_top_scores(measure: str) -> None:
    P = _pool()
    s = UncertaintySampling(measure, random_fraction=0.0)  # type: ignore[arg-type]
    b = s.query(P, 300)
    # expected: the 300 rows of highest score by the measure's definition, here by hand
    if measure == "entropy":
        u = -(np.where(P > 0, P * np.log(np.where(P > 0, P, 1)), 0)).sum(1)
    elif measure == "margin":
        top = np.sort(P, axis=1)[:, ::-1]
        u = 1 - (top[:, 0] - top[:, 1])
    else:
        u = 1 - P.max(axis=1)
    assert np.allclose(s.scores_, u)
    want = np.argsort(-u, kind="stable")[:300]
    assert b.indices.tolist() == want.tolist()  # best first
    assert (b.reasons == "uncertainty").all() and not b.random_mask.any()
    assert np.allclose(b.scores, u[want])
    assert s.indices_.tolist() == b.indices.tolist() and s.batch_ is b


def test_scores_given_directly_and_ties_go_to_the_lower_index() -> None:
    scores = np.array([0.5, 0.9, 0.9, 0.1, 0.9] + [0.0] * 300)
    with _quiet():
        b = UncertaintySampling(random_fraction=0).query(scores, 2)
    assert b.indices.tolist() == [1, 2]


@pytest.mark.parametrize("n, frac, want", [(200, 0.1, 20), (500, 0.1, 50), (1000, 0.1, 100),
                                           (250, 0.1, 25), (205, 0.1, 21), (300, 0.0, 0),
                                           (300, 0.25, 75), (10, 0.1, 1), (4, 0.1, 0)])
def test_random_reserve_size(n: int, frac: float, want: int) -> None:
    assert reserve_count(n, frac) == want == math.floor(frac * n + 0.5)
    with _quiet():
        b = UncertaintySampling(random_fraction=frac, random_state=0).query(_pool(3000), n)
    assert int(b.random_mask.sum()) == want and len(b) == n
    assert len(set(b.indices.tolist())) == n


def test_random_reserve_is_drawn_from_the_whole_pool() -> None:
    # the uncertain half of the pool is rows 0..999; the reserve must not prefer it
    P = np.concatenate([np.full((1000, 2), 0.5), np.tile([0.99, 0.01], (1000, 1))])
    in_uncertain = []
    for seed in range(40):
        b = UncertaintySampling("margin", random_state=seed).query(P, 500)
        res = b.indices[b.random_mask]
        assert len(res) == 50
        in_uncertain.append(float(np.mean(res < 1000)))
        # everything else comes from the uncertain half
        assert (b.indices[~b.random_mask] < 1000).all()
    # uniform over the pool: on average half of the reserve lies in each half
    assert abs(np.mean(in_uncertain) - 0.5) < 0.05
    # and the reserve is spread through the batch, not appended at its end
    b = UncertaintySampling("margin", random_state=0).query(P, 500)
    pos = np.flatnonzero(b.random_mask)
    assert pos[0] < 25 and pos[-1] > 475


def test_batch_below_minimum_warns() -> None:
    P = _pool()
    assert MIN_BATCH_SIZE == 200
    with pytest.warns(SmallBatchWarning, match=r"batch size 199 is below the minimum of 200.*"
                      r"500-1000"):
        UncertaintySampling().query(P, 199)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at 200
        UncertaintySampling().query(P, 200)
        RandomSampling(random_state=0).query(len(P), 1000)
    with pytest.raises(ValidationError, match="batch size 0"):
        UncertaintySampling().query(P, 0)


def test_random_sampling_is_uniform_and_seeded() -> None:
    a = RandomSampling(random_state=1).query(5000, 500)
    assert a.random_mask.all() and len(set(a.indices.tolist())) == 500
    assert a.indices.tolist() == RandomSampling(random_state=1).query(5000, 500).indices.tolist()
    assert np.isnan(a.scores).all()


def test_diversity_sampling_uses_k_center_with_reserve_and_labeled_as_centres() -> None:
    rng = np.random.default_rng(0)
    E = rng.normal(size=(1500, 8))
    L = rng.normal(size=(30, 8))
    s = DiversitySampling("k_center", random_state=5)
    b = s.query(None, 200, embeddings=E, labeled_embeddings=L)
    res = b.indices[b.random_mask]
    rest = b.indices[~b.random_mask]
    assert len(res) == 20 and len(rest) == 180
    # rebuild by hand: k-center over the non-reserve items, with labeled + reserve as centres
    cand = np.setdiff1d(np.arange(1500), res)
    want = cand[k_center_greedy(E[cand], 180, existing=np.concatenate([L, E[np.sort(res)]]))]
    assert rest.tolist() == want.tolist()
    with pytest.raises(ValidationError, match="embeddings"):
        DiversitySampling().query(1500, 200)
    km = DiversitySampling("kmeans++", random_state=0).query(None, 200, embeddings=E)
    assert len(set(km.indices.tolist())) == 200 and (km.reasons[~km.random_mask] == "diversity"
                                                     ).all()


def test_default_shortlists_by_uncertainty_then_diversifies() -> None:
    rng = np.random.default_rng(2)
    P = _pool(4000, seed=2)
    E = rng.normal(size=(4000, 16)).astype(np.float32)
    s = UncertaintyDiversitySampling(shortlist_factor=3.0, random_state=0)
    b = s.query(P, 300, embeddings=E)
    picked = b.indices[~b.random_mask]
    assert len(picked) == 270 and (b.reasons[~b.random_mask] == "uncertainty_diversity").all()
    # every non-random pick lies in the 3 × 270 most uncertain items (margin), reserve excluded
    res = b.indices[b.random_mask]
    cand = np.setdiff1d(np.arange(4000), res)
    order = cand[np.argsort(-s.scores_[cand], kind="stable")]
    shortlist = set(order[:810].tolist())
    assert set(picked.tolist()) <= shortlist
    # not simply the top 270: diversity changed the choice
    assert set(picked.tolist()) != set(order[:270].tolist())
    # without embeddings it is uncertainty sampling
    b2 = UncertaintyDiversitySampling(random_state=0).query(P, 300)
    b3 = UncertaintySampling("margin", random_state=0).query(P, 300)
    assert b2.indices.tolist() == b3.indices.tolist()
    # shortlist_factor=1 is uncertainty sampling too, whatever the embeddings
    b4 = UncertaintyDiversitySampling(shortlist_factor=1, random_state=0).query(
        P, 300, embeddings=E)
    assert set(b4.indices.tolist()) == set(b3.indices.tolist())


def test_default_spreads_a_batch_over_near_duplicates() -> None:
    # 10 tight clusters of equally uncertain items: uncertainty alone takes the first
    # clusters whole, the default takes items from every cluster
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, size=(10, 4))
    E = np.repeat(centres, 100, axis=0) + rng.normal(0, 0.01, size=(1000, 4))
    scores = np.linspace(0.9, 0.8, 1000)  # cluster 0 most uncertain, then 1, ...
    plain = UncertaintySampling(random_fraction=0).query(scores, 200)
    mixed = UncertaintyDiversitySampling(random_fraction=0, shortlist_factor=5).query(
        scores, 200, embeddings=E)
    assert len(set((plain.indices // 100).tolist())) == 2
    assert len(set((mixed.indices // 100).tolist())) == 10


def test_batch_behaves_like_its_indices() -> None:
    b = RandomSampling(random_state=0).query(300, 200)
    assert len(b) == 200 and list(b) == b.indices.tolist()
    assert np.asarray(b).tolist() == b.indices.tolist()
    f = b.to_frame()
    assert list(f.columns) == ["index", "reason", "score"] and len(f) == 200
    assert "200 items" in repr(b)


def test_strategy_errors() -> None:
    P = _pool()
    with pytest.raises(ValidationError, match="random_fraction"):
        UncertaintySampling(random_fraction=1.5).query(P, 200)
    with pytest.raises(ValidationError, match="probabilities or uncertainty scores"):
        UncertaintySampling().query(2000, 200)
    with pytest.raises(ValidationError, match="embeddings have 10 rows"):
        UncertaintyDiversitySampling().query(P, 200, embeddings=np.zeros((10, 2)))
    with pytest.raises(ValidationError, match="shortlist_factor"):
        UncertaintyDiversitySampling(shortlist_factor=0.5).query(
            P, 200, embeddings=np.zeros((2000, 2)))
    with pytest.raises(ValidationError, match="item 1"):
        UncertaintySampling().query(np.array([0.1, np.nan] + [0.0] * 300), 200)
    with pytest.raises(ValidationError, match="expected 'k_center'"):
        DiversitySampling("ward").query(None, 200, embeddings=np.zeros((300, 2)))  # type: ignore[arg-type]
