"""``project.consensus()`` and ``project.escalate()`` on a grown project, against the
plain floor: reading the annotations and a pandas majority vote.

One SQLite project per size, ``choice`` with 4 classes and overlap 3 (every item gets
three labels from distinct annotators, each right with probability 0.8), written with
``add_annotations(fill_tasks=True)`` before the clock starts. Timed, best of
``--repeat`` where the call changes nothing:

* **floor**: ``project.annotations()`` and a pandas ``groupby`` majority per item (the
  least any consensus over the stored votes costs: read them, count them);
* **consensus(), first run**: decides every item and writes what it decides (the
  consensus annotations, their review tasks, the adjudications of items without a
  majority, the events) in chunks of 500 items per transaction;
* **consensus(), again**: the same call with nothing new to write (a lead re-reading
  the tiers);
* **escalate()**: adaptive redundancy on a separate overlap-1 project of the same size
  with a model's predictions (accepts where the model agrees, else adds slots).

Run from the repository root::

    .venv/bin/python benchmarks/consensus_run.py                  # 1,000 and 8,000 items
    .venv/bin/python benchmarks/consensus_run.py --sizes 2000     # quick
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

import labelnb  # noqa: E402
from labelnb import Annotation, Choice, Schema  # noqa: E402

CLASSES = ["cat", "dog", "fox", "owl"]


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _voted(root: Path, n: int, seed: int) -> labelnb.Project:
    rng = random.Random(seed)
    p = labelnb.Project.create(root / f"c{n}.db", "c", Schema("choice", CLASSES), overlap=3)
    ids = p.add_items([f"text {i}" for i in range(n)], progress=False)
    anns = []
    for i in ids:
        truth = rng.choice(CLASSES)
        for a in rng.sample(range(12), 3):
            label = truth if rng.random() < 0.8 else rng.choice(CLASSES)
            anns.append(Annotation(item_id=i, regions=(Choice(label),), author=f"w{a}"))
    p.add_annotations(anns, fill_tasks=True)
    return p


def _solo(root: Path, n: int, seed: int) -> labelnb.Project:
    rng = random.Random(seed)
    p = labelnb.Project.create(root / f"s{n}.db", "s", Schema("choice", CLASSES), overlap=1)
    ids = p.add_items([f"solo {i}" for i in range(n)], progress=False)
    labels = {i: rng.choice(CLASSES) for i in ids}
    p.add_annotations([Annotation(item_id=i, regions=(Choice(labels[i]),), author="w0")
                       for i in ids], fill_tasks=True)
    p.add_predictions("m1", [(i, [Choice(labels[i] if rng.random() < 0.8
                                         else rng.choice(CLASSES))], rng.uniform(0.5, 1.0))
                             for i in ids])
    return p


def floor(p: labelnb.Project) -> pd.Series:
    df = p.annotations()
    votes = pd.DataFrame({"item_id": df["item_id"], "label": df["labels"].str[0]})
    counts = votes.groupby(["item_id", "label"]).size().rename("n").reset_index()
    top = counts.sort_values("n", ascending=False).drop_duplicates("item_id")
    return top.set_index("item_id")["label"]


def run(n: int, repeat: int, seed: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        p = _voted(root, n, seed)
        t_floor = _best(lambda: floor(p), repeat)
        t = time.perf_counter()
        first = p.consensus()
        t_first = time.perf_counter() - t
        t_again = _best(p.consensus, repeat)
        again = p.consensus()
        assert list(first["tier"]) == list(again["tier"])  # nothing new: the same tiers
        majority = floor(p)
        decided = first[first["tier"].isin(("unanimous", "majority"))]
        agree = float((decided.set_index("item_id")["labels"].str[0]
                       == majority.reindex(decided["item_id"]).to_numpy()).mean())
        p.close()
        s = _solo(root, n, seed)
        t = time.perf_counter()
        esc = s.escalate()
        t_esc = time.perf_counter() - t
        s.close()
    tiers = first["tier"].value_counts().to_dict()
    return [
        {"items": n, "call": "floor: annotations() + pandas majority", "s": t_floor,
         "vs floor": 1.0, "note": f"{3 * n:,} votes"},
        {"items": n, "call": "consensus(), first run (decides and writes)", "s": t_first,
         "vs floor": t_first / t_floor,
         "note": ", ".join(f"{k} {v:,}" for k, v in sorted(tiers.items()))
         + f"; agrees with the floor's majority on {agree:.1%} of decided items"},
        {"items": n, "call": "consensus(), again (nothing to write)", "s": t_again,
         "vs floor": t_again / t_floor, "note": ""},
        {"items": n, "call": "escalate() (overlap 1, with predictions)", "s": t_esc,
         "vs floor": t_esc / t_floor,
         "note": ", ".join(f"{k} {v:,}" for k, v in
                           sorted(esc["decision"].value_counts().to_dict().items()))},
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,8000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        print(f"{n:,} items ...", file=sys.stderr)
        rows += run(n, args.repeat, args.seed)
    print("| items | call | seconds | vs floor | notes |")
    print("|---:|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['items']:,} | {r['call']} | {r['s']:.2f} | {r['vs floor']:.1f}x | "
              f"{r['note']} |")


if __name__ == "__main__":
    main()
