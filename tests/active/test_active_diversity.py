"""k-center greedy against a brute-force implementation; k-means++ seeding properties."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from labelnb.active.diversity import k_center_greedy, kmeans_pp_seeding
from labelnb.errors import ValidationError


def brute_k_center(X: np.ndarray, n: int, start: int | None = None,
                   existing: np.ndarray | None = None) -> list[int]:
    """The textbook greedy: full distance matrix, max over points of min over centres."""
    X = np.asarray(X, dtype=np.float64)
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    chosen: list[int] = []
    if existing is not None:
        E = np.asarray(existing, dtype=np.float64)
        base = np.sqrt(((X[:, None, :] - E[None, :, :]) ** 2).sum(-1)).min(axis=1)
    else:
        assert start is not None
        chosen.append(start)
        base = np.full(len(X), np.inf)
    while len(chosen) < n:
        d = base.copy()
        if chosen:
            d = np.minimum(d, D[:, chosen].min(axis=1))
        d[chosen] = -1
        chosen.append(int(np.argmax(d)))
    return chosen


@pytest.mark.parametrize("seed", range(5))
def test_k_center_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 5))
    for start in (0, 17, 59):
        want = brute_k_center(X, 12, start=start)
        assert k_center_greedy(X, 12, start=start).tolist() == want
        # chunked in pieces that do not divide the pool, and in float32
        assert k_center_greedy(X, 12, start=start, chunk_size=7).tolist() == want
        assert k_center_greedy(X.astype(np.float32), 12, start=start).tolist() == want


@pytest.mark.parametrize("seed", range(3))
def test_k_center_with_existing_centres_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    X = rng.normal(size=(80, 4))
    E = rng.normal(size=(9, 4))
    want = brute_k_center(X, 10, existing=E)
    assert k_center_greedy(X, 10, existing=E).tolist() == want
    assert k_center_greedy(X, 10, existing=E, chunk_size=5).tolist() == want


def test_k_center_covers_clusters_and_handles_duplicates() -> None:
    centres = np.array([[0, 0], [100, 0], [0, 100], [100, 100]], dtype=float)
    X = np.repeat(centres, 25, axis=0) + np.random.default_rng(0).normal(size=(100, 2))
    picked = k_center_greedy(X, 4, start=0)
    assert sorted(set(picked // 25)) == [0, 1, 2, 3]  # one per cluster
    dup = np.zeros((5, 3))
    assert sorted(k_center_greedy(dup, 5, start=2).tolist()) == [0, 1, 2, 3, 4]
    assert k_center_greedy(X, 0).tolist() == []
    assert len(k_center_greedy(X, 500, start=0)) == 100  # capped at the pool


def test_k_center_random_start_is_seeded() -> None:
    X = np.random.default_rng(1).normal(size=(50, 3))
    a = k_center_greedy(X, 5, random_state=7)
    assert a.tolist() == k_center_greedy(X, 5, random_state=7).tolist()
    assert a.tolist() == brute_k_center(X, 5, start=int(a[0]))


def test_kmeans_pp_basic_properties() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    a = kmeans_pp_seeding(X, 30, random_state=3)
    assert len(set(a.tolist())) == 30 and a.min() >= 0 and a.max() < 200
    assert a.tolist() == kmeans_pp_seeding(X, 30, random_state=3).tolist()
    assert a.tolist() != kmeans_pp_seeding(X, 30, random_state=4).tolist()
    assert kmeans_pp_seeding(X, 30, random_state=3, chunk_size=11).tolist() == a.tolist()
    # more picks than distinct points: the rest uniformly among the unpicked
    dup = np.zeros((6, 2))
    assert sorted(kmeans_pp_seeding(dup, 6, random_state=0).tolist()) == list(range(6))


def test_kmeans_pp_never_picks_a_point_sitting_on_a_centre() -> None:
    # 3 distinct locations, each point duplicated 4 times: 3 picks land in 3 locations
    base = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    X = np.repeat(base, 4, axis=0)
    for seed in range(50):
        picks = kmeans_pp_seeding(X, 3, random_state=seed)
        assert sorted(set(picks // 4)) == [0, 1, 2], seed
    # an existing centre on location 0: two picks cover locations 1 and 2
    for seed in range(20):
        picks = kmeans_pp_seeding(X, 2, existing=base[:1], random_state=seed)
        assert sorted(set(picks // 4)) == [1, 2], seed


def test_kmeans_pp_second_pick_follows_d_squared() -> None:
    # points on a line; after a first pick at 0, the next is drawn with p ∝ d²
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    d2 = np.array([0.0, 1.0, 4.0, 9.0])
    expected = d2 / d2.sum()
    counts: Counter[int] = Counter()
    trials = 0
    for seed in range(6000):
        picks = kmeans_pp_seeding(X, 2, random_state=seed)
        if picks[0] == 0:
            counts[int(picks[1])] += 1
            trials += 1
    assert trials > 1000 and counts[0] == 0
    freq = np.array([counts[i] / trials for i in range(4)])
    # 4 standard errors of a binomial proportion
    se = np.sqrt(expected * (1 - expected) / trials)
    assert np.all(np.abs(freq - expected) <= 4 * se + 1e-12), (freq, expected)


def test_kmeans_pp_first_pick_uniform_then_spread() -> None:
    firsts = Counter(int(kmeans_pp_seeding(np.eye(4), 1, random_state=s)[0])
                     for s in range(2000))
    assert set(firsts) == {0, 1, 2, 3} and min(firsts.values()) > 400
    # two far clusters: the second pick lands in the other cluster almost always
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 0.1, (50, 2)), rng.normal(50, 0.1, (50, 2))])
    other = sum(int((p[0] < 50) != (p[1] < 50))
                for p in (kmeans_pp_seeding(X, 2, random_state=s) for s in range(200)))
    assert other >= 199


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValidationError, match="row 1"):
        k_center_greedy(np.array([[0.0], [np.nan]]), 1)
    with pytest.raises(ValidationError, match="n_items, n_dims"):
        k_center_greedy(np.zeros(5), 1)
    with pytest.raises(ValidationError, match="dimensions"):
        k_center_greedy(np.zeros((5, 2)), 1, existing=np.zeros((2, 3)))
    with pytest.raises(ValidationError, match="start"):
        k_center_greedy(np.zeros((5, 2)), 2, start=9)
    with pytest.raises(ValidationError, match="n = -1"):
        kmeans_pp_seeding(np.zeros((5, 2)), -1)


def test_exclude_equals_working_on_the_rest() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(90, 3))
    E = rng.normal(size=(5, 3))
    skip = np.array([3, 10, 11, 50, 89])
    keep = np.setdiff1d(np.arange(90), skip)
    got = k_center_greedy(X, 15, existing=E, exclude=skip)
    assert got.tolist() == keep[brute_k_center(X[keep], 15, existing=E)].tolist()
    got2 = k_center_greedy(X, 15, start=7, exclude=skip, chunk_size=13)
    assert got2.tolist() == keep[brute_k_center(X[keep], 15,
                                                start=int(np.flatnonzero(keep == 7)[0]))].tolist()
    assert len(k_center_greedy(X, 500, start=0, exclude=skip)) == 85
    for seed in range(20):
        picks = kmeans_pp_seeding(X, 30, exclude=skip, random_state=seed)
        assert not set(picks.tolist()) & set(skip.tolist()) and len(set(picks.tolist())) == 30
    with pytest.raises(ValidationError, match="exclude: row 90"):
        k_center_greedy(X, 2, exclude=[90])
