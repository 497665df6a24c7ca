r"""Diversity: pick items that cover the embedding space.

**k-center greedy** (the core-set selection of Sener & Savarese, 2018, "Active
Learning for Convolutional Neural Networks: A Core-Set Approach", ICLR; the greedy
2-approximation of Gonzalez, 1985): keep each point's distance to its nearest chosen
centre, :math:`d(x) = \min_{c \in C} \lVert x - c \rVert`, and repeatedly add the
point farthest from every centre, :math:`\arg\max_x d(x)`. Points already labeled
(``existing``) count as centres from the start, so the batch fills the gaps they leave.

**k-means++ seeding** (Arthur & Vassilvitskii, 2007, "k-means++: The Advantages of
Careful Seeding", SODA; as a batch-selection rule in BADGE, Ash et al., 2020, ICLR):
the first centre is drawn uniformly (or, with ``existing`` centres, like every other),
each next one with probability :math:`d(x)^2 / \sum_y d(y)^2`. Points at distance 0
(duplicates of a centre) are never drawn while any point is farther.

Both keep only the vector :math:`d(x)^2` (float32 for float32 input) and update it
with one centre at a time, ``chunk_size`` rows per step, from
:math:`\lVert x\rVert^2 - 2\,x\cdot c + \lVert c\rVert^2`; nothing of size
``N × N`` (or ``N × batch``) is ever built. A pool of 1M × 384 float32 embeddings
(1.5 GB) needs about 8 MB more; each pick reads the pool once (see
``benchmarks/active_selection_speed.py`` for times).

>>> import numpy as np
>>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.1]])
>>> k_center_greedy(X, 3, start=0).tolist()
[0, 4, 2]
>>> k_center_greedy(X, 2, existing=X[[0]]).tolist()  # item 0 is labeled already
[4, 2]
>>> sorted(kmeans_pp_seeding(X, 3, random_state=0).tolist()) != [0, 1, 2]
True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from labelnb.errors import ValidationError

IntArray = npt.NDArray[np.int64]
_CHUNK = 65_536


def as_embeddings(X: npt.ArrayLike, *, what: str = "embeddings") -> npt.NDArray[np.floating]:
    """``X`` as a 2-D float array (float32 stays float32, integers become float64),
    checked for finiteness chunk by chunk (no copy of a float array)."""
    a = np.asarray(X)
    if a.dtype.kind not in "fiu":
        raise ValidationError(f"{what}: dtype {a.dtype} is not numeric; give an "
                              "(n_items, n_dims) float array")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    if a.ndim != 2:
        raise ValidationError(f"{what}: shape {a.shape}; give an (n_items, n_dims) array")
    for s in range(0, a.shape[0], _CHUNK):
        if not np.isfinite(a[s:s + _CHUNK]).all():
            bad = s + int(np.flatnonzero(~np.isfinite(a[s:s + _CHUNK]).all(axis=1))[0])
            raise ValidationError(f"{what}: row {bad} holds NaN or inf; fix or drop that item")
    return a


def _sq_norms(X: npt.NDArray[np.floating], chunk: int) -> npt.NDArray[np.floating]:
    out = np.empty(X.shape[0], dtype=X.dtype)
    for s in range(0, X.shape[0], chunk):
        c = X[s:s + chunk]
        out[s:s + chunk] = np.einsum("ij,ij->i", c, c)
    return out


class _MinDist:
    """The squared distance of every row of ``X`` to its nearest centre so far."""

    def __init__(self, X: npt.NDArray[np.floating], chunk: int) -> None:
        self.X = X
        self.chunk = chunk
        self.sqn = _sq_norms(X, chunk)
        self.d2 = np.full(X.shape[0], np.inf, dtype=X.dtype)

    def add(self, c: npt.NDArray[np.floating]) -> None:
        """Take one more centre ``c`` (1-D) into account."""
        c = np.ascontiguousarray(c, dtype=self.X.dtype)
        cc = self.X.dtype.type(c @ c)
        two = self.X.dtype.type(2.0)
        for s in range(0, self.X.shape[0], self.chunk):
            e = min(s + self.chunk, self.X.shape[0])
            d = self.X[s:e] @ c
            d *= -two
            d += self.sqn[s:e]
            d += cc
            np.maximum(d, 0, out=d)
            np.minimum(self.d2[s:e], d, out=self.d2[s:e])

    def add_many(self, C: npt.NDArray[np.floating]) -> None:
        """Take many centres into account (blocked: ``chunk`` rows × 1024 centres)."""
        C = np.ascontiguousarray(C, dtype=self.X.dtype)
        if C.shape[0] == 0:
            return
        if C.ndim != 2 or C.shape[1] != self.X.shape[1]:
            raise ValidationError(f"existing centres of shape {C.shape}; they must have the "
                                  f"pool's {self.X.shape[1]} dimensions")
        csq = _sq_norms(C, self.chunk)
        two = self.X.dtype.type(2.0)
        rows = max(1, min(self.chunk, 8192))
        for j in range(0, C.shape[0], 1024):
            Cj, cj = C[j:j + 1024], csq[j:j + 1024]
            for s in range(0, self.X.shape[0], rows):
                e = min(s + rows, self.X.shape[0])
                d = self.X[s:e] @ Cj.T
                d *= -two
                d += self.sqn[s:e, None]
                d += cj[None, :]
                m = d.min(axis=1)
                np.maximum(m, 0, out=m)
                np.minimum(self.d2[s:e], m, out=self.d2[s:e])


def _check(X: npt.ArrayLike, n: int, chunk_size: int) -> tuple[npt.NDArray[np.floating], int]:
    a = as_embeddings(X)
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValidationError(f"n = {n!r}: give how many items to pick, an int >= 0")
    if chunk_size < 1:
        raise ValidationError(f"chunk_size = {chunk_size}; it must be >= 1")
    return a, min(int(n), a.shape[0])


def _existing(existing: npt.ArrayLike | None, dims: int) -> npt.NDArray[np.floating] | None:
    if existing is None:
        return None
    e = as_embeddings(existing, what="existing")
    if e.shape[0] and e.shape[1] != dims:
        raise ValidationError(f"existing: {e.shape[1]} dimensions, but the pool has {dims}; "
                              "embed both with the same model")
    return e


def _excluded(exclude: npt.ArrayLike | None, size: int) -> npt.NDArray[np.int64]:
    if exclude is None:
        return np.empty(0, dtype=np.int64)
    ex = np.unique(np.asarray(exclude, dtype=np.int64).reshape(-1))
    if ex.size and (ex[0] < 0 or ex[-1] >= size):
        raise ValidationError(f"exclude: row {int(ex[0] if ex[0] < 0 else ex[-1])} is not a row "
                              f"of X (0..{size - 1})")
    return ex


def k_center_greedy(X: npt.ArrayLike, n: int, *, existing: npt.ArrayLike | None = None,
                    start: int | None = None, exclude: npt.ArrayLike | None = None,
                    random_state: int | np.random.Generator | None = None,
                    chunk_size: int = _CHUNK) -> IntArray:
    """Pick ``n`` rows of ``X`` by k-center greedy (see the module docstring).

    ``existing``: embeddings of already-labeled items (centres from the start).
    ``start``: the first pick when there are no existing centres (default: a uniform
    random row, from ``random_state``); with existing centres the first pick is the row
    farthest from them, so giving ``start`` too raises, as does a ``start`` in
    ``exclude``. ``exclude``: rows never to pick (cheaper than copying the others out of
    a big pool). Ties go to the lowest index. Returns the row indices in pick order."""
    a, n = _check(X, n, chunk_size)
    ex = _existing(existing, a.shape[1])
    skip = _excluded(exclude, a.shape[0])
    if start is not None:
        if ex is not None and ex.shape[0]:
            raise ValidationError(
                f"k_center_greedy: start = {start!r} and {ex.shape[0]} existing centres were "
                "both given; with existing centres the first pick is the row farthest from "
                "them, so start would be ignored: pass start=None, or existing=None to begin "
                f"at row {start!r}")
        if skip.size and int(start) in set(skip.tolist()):
            raise ValidationError(
                f"k_center_greedy: start = {start!r} is a row in exclude, which must never be "
                "picked; give a start outside exclude, or start=None for a random allowed row")
    n = min(n, a.shape[0] - skip.size)
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    md = _MinDist(a, chunk_size)
    first = 0
    if ex is not None and ex.shape[0]:
        md.add_many(ex)
    else:
        if start is None:
            allowed = np.setdiff1d(np.arange(a.shape[0]), skip, assume_unique=True)
            start = int(allowed[np.random.default_rng(random_state).integers(allowed.size)])
        if not 0 <= int(start) < a.shape[0]:
            raise ValidationError(f"start = {start}: it must be a row of X (0..{a.shape[0] - 1})")
        out[0] = int(start)
        md.add(a[out[0]])
        md.d2[out[0]] = -1  # chosen: never again
        first = 1
    md.d2[skip] = -1
    for k in range(first, n):
        i = int(np.argmax(md.d2))
        out[k] = i
        md.add(a[i])
        md.d2[i] = -1
    return out


def kmeans_pp_seeding(X: npt.ArrayLike, n: int, *, existing: npt.ArrayLike | None = None,
                      exclude: npt.ArrayLike | None = None,
                      random_state: int | np.random.Generator | None = None,
                      chunk_size: int = _CHUNK) -> IntArray:
    """Pick ``n`` rows of ``X`` by k-means++ seeding (see the module docstring).

    ``existing``: embeddings of already-labeled items, treated as centres chosen
    before. ``exclude``: rows never to pick. When every remaining point sits on a
    centre (all distances 0), the rest are drawn uniformly among the unpicked. Returns
    the row indices in pick order."""
    a, n = _check(X, n, chunk_size)
    ex = _existing(existing, a.shape[1])
    skip = _excluded(exclude, a.shape[0])
    n = min(n, a.shape[0] - skip.size)
    rng = np.random.default_rng(random_state)
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    md = _MinDist(a, chunk_size)
    picked = np.zeros(a.shape[0], dtype=bool)
    picked[skip] = True
    k = 0
    if ex is not None and ex.shape[0]:
        md.add_many(ex)
    else:
        allowed = np.flatnonzero(~picked)
        out[0] = int(allowed[rng.integers(allowed.size)])
        picked[out[0]] = True
        md.add(a[out[0]])
        k = 1
    while k < n:
        w = np.where(picked, 0.0, md.d2.astype(np.float64))
        cum = np.cumsum(w)
        total = cum[-1]
        if total > 0 and np.isfinite(total):
            i = int(np.searchsorted(cum, rng.random() * total, side="right"))
            i = min(i, a.shape[0] - 1)
            while w[i] == 0:  # float edge: land on a point with weight
                i -= 1
        else:
            i = int(rng.choice(np.flatnonzero(~picked)))
        out[k] = i
        picked[i] = True
        md.add(a[i])
        k += 1
    return out


__all__ = ["as_embeddings", "k_center_greedy", "kmeans_pp_seeding"]
