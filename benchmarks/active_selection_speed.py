"""Selection speed: pick 1,000 items from 1M × 384 float32 embeddings.

The pool: ``--n`` float32 embeddings of ``--dim`` dimensions (standard normal, seeded)
and class probabilities for ``--classes`` classes (Dirichlet), plus ``--labeled``
already-labeled embeddings. Timed: labelnb's default strategy,
``UncertaintyDiversitySampling(random_state=0).query(proba, --pick, embeddings=E,
labeled_embeddings=L)`` — the 10% random reserve, a margin shortlist of 2 × 900 items,
then k-center greedy within it with the labeled items and the reserve as existing
centres. Peak memory is what the query allocates on top of its inputs
(``tracemalloc``, which numpy reports its buffers to), and the process's peak resident
size (``ru_maxrss``, inputs included).

``--full-k-center`` also times k-center greedy and k-means++ seeding over the *whole*
pool (``DiversitySampling``), each pick reading all 1M rows: the worst case of the
chunked implementation.

In the same run, on a smaller pool (``--peer-n``, default 10,000 × 384, ``--peer-pick``
100 picks, 100 labeled; small-text's loop recomputes every distance at every pick),
labelnb's ``k_center_greedy`` against small-text's ``greedy_coreset`` (euclidean),
where small-text installs: both are the exact greedy, so they must pick the same
items; the table shows both times.

Usage::

    .venv/bin/python benchmarks/active_selection_speed.py                  # ~1 min
    .venv/bin/python benchmarks/active_selection_speed.py --full-k-center  # + ~10 min
    .venv/bin/python benchmarks/active_selection_speed.py --n 100000       # quick
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from labelnb.active import (
    DiversitySampling,
    UncertaintyDiversitySampling,
    k_center_greedy,
)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_pool(n: int, dim: int, classes: int, labeled: int, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    E = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 65_536):
        E[s:s + 65_536] = rng.standard_normal((min(65_536, n - s), dim), dtype=np.float32)
    P = rng.dirichlet(np.full(classes, 0.3), size=n).astype(np.float32)
    L = rng.standard_normal((labeled, dim), dtype=np.float32)
    return E, P, L


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, peak MB allocated during the call)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, dt, peak / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--pick", type=int, default=1000)
    ap.add_argument("--labeled", type=int, default=5000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--full-k-center", action="store_true",
                    help="also k-center greedy and k-means++ over the whole pool")
    ap.add_argument("--peer-n", type=int, default=10_000)
    ap.add_argument("--peer-pick", type=int, default=100)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args(argv)

    t = time.perf_counter()
    E, P, L = make_pool(args.n, args.dim, args.classes, args.labeled)
    print(f"pool: {args.n:,} × {args.dim} float32 embeddings ({E.nbytes / 2**30:.2f} GiB), "
          f"{args.classes}-class probabilities, {args.labeled:,} labeled; made in "
          f"{time.perf_counter() - t:.1f} s; {os.cpu_count()} CPUs", file=sys.stderr)
    rows: list[tuple[str, str, float, float]] = []

    b, dt, peak = timed(lambda: UncertaintyDiversitySampling(random_state=0).query(
        P, args.pick, embeddings=E, labeled_embeddings=L))
    assert len(b) == args.pick and len(set(b.indices.tolist())) == args.pick
    rows.append(("labelnb default (UncertaintyDiversitySampling)",
                 f"{args.pick:,} of {args.n:,}", dt, peak))
    print(f"default: {dt:.2f} s, {peak:.0f} MB", file=sys.stderr)
    rss = _rss_mb()  # before any peer library is imported

    if args.full_k_center:
        for method in ("k_center", "kmeans++"):
            b, dt, peak = timed(lambda m=method: DiversitySampling(
                m, random_state=0).query(None, args.pick, embeddings=E,  # type: ignore[arg-type]
                                         labeled_embeddings=L))
            rows.append((f"labelnb DiversitySampling({method!r}) over the whole pool",
                         f"{args.pick:,} of {args.n:,}", dt, peak))
            rss = _rss_mb()
            print(f"{method}: {dt:.2f} s, {peak:.0f} MB", file=sys.stderr)

    peer_note = ""
    if not args.no_peer:
        m = args.peer_n
        Xs = np.concatenate([E[:m], L[:100]]).astype(np.float32)  # unlabeled first, labeled last
        unl, lab = np.arange(m), np.arange(m, m + 100)
        ours, dt, peak = timed(lambda: k_center_greedy(Xs[:m], args.peer_pick,
                                                       existing=Xs[m:]))
        rows.append(("labelnb k_center_greedy", f"{args.peer_pick:,} of {m:,}", dt, peak))
        try:
            from small_text.query_strategies.coresets import greedy_coreset

            theirs, dt2, peak2 = timed(lambda: greedy_coreset(
                Xs, unl, lab, args.peer_pick, distance_metric="euclidean", normalized=True))
            rows.append(("small-text greedy_coreset (euclidean)", f"{args.peer_pick:,} of {m:,}",
                         dt2, peak2))
            same = np.asarray(theirs).tolist() == ours.tolist()
            peer_note = (f"small-text and labelnb picked {'the same' if same else 'DIFFERENT'} "
                         f"{args.peer_pick} items in the same order; labelnb {dt2 / dt:.0f}× "
                         "faster.")
        except ImportError as e:
            peer_note = f"small-text not installed ({e}); pip install small-text"

    print(f"\nSelection speed; {os.cpu_count()} CPUs; process peak RSS {rss:,.0f} MB "
          f"(inputs included: embeddings {E.nbytes / 2**20:,.0f} MB).\n")
    print("| strategy | picks | time s | peak extra MB (tracemalloc) |")
    print("|---|---|---:|---:|")
    for name, what, dt, peak in rows:
        print(f"| {name} | {what} | {dt:.2f} | {peak:,.0f} |")
    if peer_note:
        print(f"\n{peer_note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
