"""Dawid-Skene: labelnb.metrics.DawidSkene against crowdkit.aggregation.DawidSkene.

Both fit the same synthetic crowd (seeded): ``--classes`` classes, ``--annotators``
annotators, each item labelled by ``--per-item`` distinct annotators, each annotator
drawing labels from their own confusion matrix (accuracy uniform in 0.3-0.95, errors
spread by a Dirichlet). Both get the same long DataFrame (task, worker, label) and run
EM with n_iter=100, tol=1e-5; the time covers ``fit`` only (factorising the frame
included). Each fit runs in its own fresh child process, so its peak resident memory
(``ru_maxrss``) is its own; "data MB" is the child's peak before the fit (interpreter,
libraries and the generated frame), the fit's own share is the difference.

Prints one Markdown table. Usage::

    .venv/bin/python benchmarks/dawid_skene.py                 # 1M and 10M labels
    .venv/bin/python benchmarks/dawid_skene.py --sizes 100000  # quick
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd


def crowd(n_labels: int, n_annot: int, k: int, per_item: int,
          seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """The synthetic crowd: a long frame (task, worker, label) and the true labels."""
    rng = np.random.default_rng(seed)
    n_items = n_labels // per_item
    truth = rng.choice(k, n_items, p=rng.dirichlet(np.full(k, 5.0)))
    acc = rng.uniform(0.3, 0.95, n_annot)
    conf = rng.dirichlet(np.ones(k), size=(n_annot, k)) * (1 - acc)[:, None, None]
    conf[:, np.arange(k), np.arange(k)] += acc[:, None]
    cum = conf.cumsum(axis=2)
    # per_item distinct annotators per item: a random start and a random stride
    start = rng.integers(0, n_annot, n_items)
    stride = rng.integers(1, max(2, n_annot // per_item), n_items)
    annot = (start[:, None] + stride[:, None] * np.arange(per_item)[None, :]) % n_annot
    annot = annot.ravel()
    item = np.repeat(np.arange(n_items), per_item)
    label = np.empty(item.shape[0], dtype=np.int64)
    for lo in range(0, item.shape[0], 1 << 20):  # in chunks: no n x k temporary
        sl = slice(lo, lo + (1 << 20))
        u = rng.random((label[sl].shape[0],))
        label[sl] = (u[:, None] > cum[annot[sl], truth[item[sl]]]).sum(axis=1)
    df = pd.DataFrame({"task": item, "worker": annot, "label": label})
    return df, truth


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(impl: str, args: dict[str, Any], out: Any) -> None:
    warnings.simplefilter("ignore")
    df, truth = crowd(args["n"], args["annotators"], args["classes"], args["per_item"])
    base = _maxrss_mb()
    if impl == "labelnb":
        from labelnb.metrics import DawidSkene

        model: Any = DawidSkene(n_iter=args.get("n_iter", 100), tol=args.get("tol", 1e-5))
    else:
        from crowdkit.aggregation import DawidSkene as CK

        model = CK(n_iter=100, tol=1e-5)
    t0 = time.perf_counter()
    model.fit(df)
    secs = time.perf_counter() - t0
    labels = model.labels_.sort_index()
    pred = labels.to_numpy().astype(np.int64)
    out.send({"secs": secs, "acc": float((pred == truth[labels.index.to_numpy()]).mean()),
              "iters": len(model.loss_history_), "data_mb": base, "peak_mb": _maxrss_mb(),
              "labels": pred.tobytes()})
    out.close()


def run(impl: str, args: dict[str, Any]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(impl, args, send))
    p.start()
    send.close()
    res: dict[str, Any] = recv.recv()
    p.join()
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,10000000",
                    help="comma-separated numbers of labels (default 1M,10M)")
    ap.add_argument("--annotators", type=int, default=200)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--per-item", type=int, default=5)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--ours-only", default="",
                    help="sizes to run with labelnb alone (no crowd-kit), e.g. 100000000 for "
                         "the 100M-labels-within-24-GB check")
    ns = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    print(f"# Dawid-Skene, {ns.classes} classes, {ns.annotators} annotators, "
          f"{ns.per_item} labels per item; n_iter=100, tol=1e-5", file=sys.stderr)
    for n in (int(float(s)) for s in ns.sizes.split(",")):
        args = {"n": n, "annotators": ns.annotators, "classes": ns.classes,
                "per_item": ns.per_item}
        ours = run("labelnb", args)
        print(f"  {n:,}: labelnb {ours['secs']:.2f} s ({ours['iters']} it)", file=sys.stderr)
        theirs = run("crowdkit", args)
        print(f"  {n:,}: crowd-kit {theirs['secs']:.2f} s ({theirs['iters']} it)",
              file=sys.stderr)
        # ours again, for exactly crowd-kit's number of EM rounds (tol=0)
        same = run("labelnb", {**args, "n_iter": theirs["iters"], "tol": 0.0})
        same.pop("labels")
        agree = float((np.frombuffer(ours.pop("labels"), dtype=np.int64)
                       == np.frombuffer(theirs.pop("labels"), dtype=np.int64)).mean())
        rows.append({"labels": n, "ours": ours, "crowdkit": theirs, "agreement": agree,
                     "ours_same_iters": same})
    print("| labels | ours s (iters) | crowd-kit s (iters) | speed-up | ours s at crowd-kit's "
          "iters (speed-up) | accuracy ours / crowd-kit | same label | peak MB ours / "
          "crowd-kit (before fit) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, c, s = r["ours"], r["crowdkit"], r["ours_same_iters"]
        print(f"| {r['labels']:,} | {o['secs']:.2f} ({o['iters']}) | {c['secs']:.2f} "
              f"({c['iters']}) | {c['secs'] / o['secs']:.1f}x | {s['secs']:.2f} "
              f"({c['secs'] / s['secs']:.1f}x) | {o['acc']:.4f} / {c['acc']:.4f} | "
              f"{r['agreement']:.2%} | {o['peak_mb']:,.0f} / {c['peak_mb']:,.0f} "
              f"({o['data_mb']:,.0f}) |")
    solo = [int(float(x)) for x in ns.ours_only.split(",") if x]
    if solo:
        print("\n| labels (labelnb only) | seconds (iters) | accuracy | peak MB (input) | "
              "target |")
        print("|---:|---:|---:|---:|---|")
    for n in solo:
        o = run("labelnb", {"n": n, "annotators": ns.annotators, "classes": ns.classes,
                            "per_item": ns.per_item})
        ok = "pass" if o["peak_mb"] < 24 * 1024 else "FAIL"
        print(f"| {n:,} | {o['secs']:.2f} ({o['iters']}) | {o['acc']:.4f} | "
              f"{o['peak_mb']:,.0f} ({o['data_mb']:,.0f}) | < 24 GB: {ok} |")
    if ns.json:
        with open(ns.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
