"""DiverseMiniBatchSampling (DMBAL, Zhdanov 2019): an uncertainty shortlist, weighted
k-means on it, the item nearest each centre."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import labelnb.active as active
from labelnb.active import (
    DiverseMiniBatchSampling,
    SmallBatchWarning,
    UncertaintyDiversitySampling,
    UncertaintySampling,
    default_strategy,
)
from labelnb.active.strategies import reserve_count
from labelnb.errors import ValidationError


def _pool(n: int = 3000, k: int = 5, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(k, 0.5), size=n), rng.normal(size=(n, d))


def _margin(P: np.ndarray) -> np.ndarray:
    top = np.sort(P, axis=1)[:, ::-1]
    return 1 - (top[:, 0] - top[:, 1])


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallBatchWarning)
        yield


def test_exported_opt_in_and_not_the_default() -> None:
    assert "DiverseMiniBatchSampling" in active.__all__
    assert type(default_strategy()) is UncertaintyDiversitySampling
    s = DiverseMiniBatchSampling(random_state=3)
    assert s.shortlist_factor == 10.0 and s.measure == "margin" and s.random_fraction == 0.1
    assert repr(s) == ("DiverseMiniBatchSampling(measure='margin', shortlist_factor=10.0, "
                       "random_fraction=0.1, random_state=3)")


@pytest.mark.parametrize("n", [1, 9, 10, 57, 250])
def test_batch_size_exact_and_indices_distinct(n: int) -> None:
    P, E = _pool()
    with _quiet():
        b = DiverseMiniBatchSampling(random_state=0).query(P, n, embeddings=E)
    assert len(b) == n
    assert np.unique(b.indices).shape[0] == n
    assert ((b.indices >= 0) & (b.indices < P.shape[0])).all()
    picked = b.reasons[~b.random_mask]
    assert set(picked.tolist()) <= {"diverse_minibatch"}
    assert np.allclose(b.scores, _margin(P)[b.indices])


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.0])
def test_random_reserve_is_kept(fraction: float) -> None:
    P, E = _pool()
    n = 200
    s = DiverseMiniBatchSampling(random_fraction=fraction, random_state=5)
    b = s.query(P, n, embeddings=E)
    assert int(b.random_mask.sum()) == reserve_count(n, fraction)
    assert s.random_mask_.tolist() == b.random_mask.tolist()
    if fraction == 0.1:
        assert int(b.random_mask.sum()) == 20
    # the reserve is drawn first and the same way as by every other strategy
    u = UncertaintySampling(random_fraction=fraction, random_state=5).query(P, n)
    assert sorted(b.indices[b.random_mask].tolist()) == sorted(u.indices[u.random_mask].tolist())


@pytest.mark.parametrize("factor", [1.0, 2.5, 10.0])
def test_picks_come_from_the_uncertainty_shortlist(factor: float) -> None:
    P, E = _pool()
    n = 200
    b = DiverseMiniBatchSampling(shortlist_factor=factor, random_state=1).query(
        P, n, embeddings=E)
    reserve = b.indices[b.random_mask]
    picks = b.indices[~b.random_mask]
    k = n - reserve.shape[0]
    u = _margin(P)
    u[reserve] = -np.inf  # the reserve is not a candidate
    shortlist = np.argsort(-u, kind="stable")[:math.ceil(factor * k)]
    assert set(picks.tolist()) <= set(shortlist.tolist())
    if factor == 1.0:
        assert sorted(picks.tolist()) == sorted(shortlist.tolist())
    else:  # a wider shortlist: not simply the top k
        assert sorted(picks.tolist()) != sorted(shortlist[:k].tolist())


def test_without_embeddings_it_is_uncertainty_sampling() -> None:
    P, _ = _pool()
    for fraction in (0.1, 0.0):
        d = DiverseMiniBatchSampling(random_fraction=fraction, random_state=2).query(P, 300)
        u = UncertaintySampling(random_fraction=fraction, random_state=2).query(P, 300)
        assert d.indices.tolist() == u.indices.tolist()
        assert d.reasons.tolist() == u.reasons.tolist()


def test_two_blobs_with_equal_uncertainty_are_both_covered() -> None:
    rng = np.random.default_rng(0)
    # 90 items in blob A (indices 0-89), 10 far away in blob B (90-99); every item
    # equally uncertain, so uncertainty alone takes the lowest indices: all in A
    E = np.concatenate([rng.normal(0.0, 0.1, size=(90, 2)),
                        rng.normal(10.0, 0.1, size=(10, 2))])
    P = np.full((100, 2), 0.5)
    in_b = np.arange(100) >= 90
    with _quiet():
        u = UncertaintySampling(random_fraction=0.0).query(P, 10)
        assert not in_b[u.indices].any()
        for seed in range(5):
            b = DiverseMiniBatchSampling(random_fraction=0.0, random_state=seed).query(
                P, 10, embeddings=E)
            assert len(b) == 10 and np.unique(b.indices).shape[0] == 10
            assert in_b[b.indices].any() and (~in_b[b.indices]).any()


def test_duplicate_embeddings_still_give_distinct_picks() -> None:
    # 3 distinct points for 20 clusters: centres collide, the picks must not
    P, _ = _pool(n=400)
    E = np.repeat(np.eye(3), [200, 150, 50], axis=0)
    with _quiet():
        b = DiverseMiniBatchSampling(random_fraction=0.0, random_state=0).query(
            P, 20, embeddings=E)
    assert len(b) == 20 and np.unique(b.indices).shape[0] == 20
    assert len({tuple(r) for r in E[b.indices]}) == 3  # every distinct point is used


def test_kmeans_is_weighted_by_uncertainty(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.cluster import KMeans

    seen: dict[str, Any] = {}
    fit = KMeans.fit

    def spy(self: Any, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        seen.update(X=np.array(X), w=np.array(sample_weight), k=self.n_clusters,
                    n_init=self.n_init, init=self.init)
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(KMeans, "fit", spy)
    P, E = _pool()
    b = DiverseMiniBatchSampling(random_fraction=0.0, random_state=0).query(
        P, 200, embeddings=E)
    short = np.argsort(-_margin(P), kind="stable")[:2000]
    assert seen["k"] == 200 and seen["n_init"] == 1 and seen["init"] == "k-means++"
    assert np.allclose(seen["X"], E[short])
    assert np.allclose(seen["w"], _margin(P)[short] + 1e-6)
    assert set(b.indices.tolist()) <= set(short.tolist())


def test_negative_scores_given_directly_are_shifted_not_rejected() -> None:
    rng = np.random.default_rng(4)
    scores = -rng.random(500)  # e.g. log-probabilities: higher = more uncertain
    E = rng.normal(size=(500, 4))
    with _quiet():
        b = DiverseMiniBatchSampling(random_fraction=0.0, random_state=0).query(
            scores, 20, embeddings=E)
    assert len(b) == 20 and np.unique(b.indices).shape[0] == 20
    assert set(b.indices.tolist()) <= set(np.argsort(-scores)[:200].tolist())


@pytest.mark.parametrize("bad", [0, 0.5, -1.0, float("nan"), float("inf"), True, "10", None])
def test_bad_shortlist_factor_is_a_clear_error(bad: Any) -> None:
    P, E = _pool(n=500)
    for emb in (E, None):
        with _quiet(), pytest.raises(ValidationError, match="shortlist_factor") as e:
            DiverseMiniBatchSampling(shortlist_factor=bad).query(P, 20, embeddings=emb)
        assert ">= 1" in str(e.value)


def test_bad_measure_and_pool_size_only_are_clear_errors() -> None:
    P, E = _pool(n=500)
    with _quiet(), pytest.raises(ValidationError):
        DiverseMiniBatchSampling("bogus").query(P, 20, embeddings=E)  # type: ignore[arg-type]
    with _quiet(), pytest.raises(ValidationError, match="probabilities"):
        DiverseMiniBatchSampling().query(500, 20, embeddings=E)


def test_deterministic_with_a_fixed_random_state() -> None:
    P, E = _pool()
    runs = [DiverseMiniBatchSampling(random_state=11).query(P, 200, embeddings=E)
            for _ in range(2)]
    assert runs[0].indices.tolist() == runs[1].indices.tolist()
    assert runs[0].reasons.tolist() == runs[1].reasons.tolist()
    g = [DiverseMiniBatchSampling(random_state=np.random.default_rng(11)).query(
        P, 200, embeddings=E) for _ in range(2)]
    assert g[0].indices.tolist() == g[1].indices.tolist() == runs[0].indices.tolist()


def test_labeled_embeddings_play_no_part() -> None:
    P, E = _pool()
    a = DiverseMiniBatchSampling(random_state=0).query(P, 200, embeddings=E)
    b = DiverseMiniBatchSampling(random_state=0).query(
        P, 200, embeddings=E, labeled_embeddings=np.zeros((30, E.shape[1])))
    assert a.indices.tolist() == b.indices.tolist()
