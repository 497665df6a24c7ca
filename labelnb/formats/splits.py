"""Deterministic, group-aware, stratified train/val/test splits.

:func:`split_items` assigns whole groups (e.g. every frame of one video, every photo of
one patient) to one split, so nothing leaks between splits, and keeps each stratum's
share of every split close to the requested fractions.

How: each group takes the stratum most common among its items. Within a stratum, the
groups are shuffled (``numpy.random.default_rng(seed)``, after sorting by key: a named
group's order in the input does not matter, while a row without a group is keyed by
its position) and laid end to end on a circle of circumference 1,
each group an arc proportional to its item count, the whole circle turned by a random
offset; the fractions cut the circle into consecutive arcs (train, val, test), and a
group goes to the split under its midpoint. This is systematic sampling with a random
start: every split's expected share is exactly its fraction, in every stratum, and a
stratum's deviation is at most about one group per cut.

>>> import pandas as pd
>>> df = pd.DataFrame({"group": [i // 2 for i in range(20)], "label": ["a", "b"] * 10})
>>> s = split_items(df, {"train": 0.8, "val": 0.2}, seed=0, group_col="group",
...                 stratify_col="label")
>>> s.value_counts().to_dict()
{'train': 16, 'val': 4}
>>> int(s.groupby(df["group"]).nunique().max())  # no group is cut
1
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from labelnb.errors import FormatError


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(fractions, Mapping) or not fractions:
        raise FormatError(f"split: {fractions!r} is not a mapping of split name to fraction, "
                          "e.g. {'train': 0.8, 'val': 0.1, 'test': 0.1}")
    out: dict[str, float] = {}
    for k, v in fractions.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise FormatError(f"split[{k!r}] = {v!r} is not a number") from None
        if not isinstance(k, str) or not k or not math.isfinite(f) or f < 0:
            raise FormatError(f"split[{k!r}] = {v!r}: give a split name and a fraction >= 0")
        out[k] = f
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise FormatError(f"split fractions {out} sum to {total:g}; they must sum to 1")
    return out


#: the golden ratio's fractional part: k * it mod 1 spreads evenly over [0, 1)
_GOLDEN = 0.6180339887498949


def split_items(df: pd.DataFrame, fractions: Mapping[str, float], seed: int = 0,
                group_col: str | None = None, stratify_col: str | None = None) -> pd.Series:
    """The split name of each row of ``df`` (a Series on ``df``'s index).

    ``group_col``: rows sharing a (non-null) value go to the same split; a null value
    means the row is its own group. ``stratify_col``: the stratum of a row (e.g. its
    label); ``None`` for no stratification. The same ``df`` and ``seed`` give the same
    split; adding or removing rows (or groups) may move other rows, grouped or not,
    since every stratum's groups are shuffled and laid out together. To keep a test set
    fixed across exports, mark it (:func:`labelnb.active.mark_evaluation`) or export
    the same items; reordering rows moves only the rows without a group.
    """
    fr = check_fractions(fractions)
    names = list(fr)
    cuts = np.cumsum([fr[n] for n in names])
    cuts[-1] = 1.0
    for col in (group_col, stratify_col):
        if col is not None and col not in df.columns:
            raise FormatError(f"split_items: column {col!r} is not in the table (columns: "
                              f"{list(df.columns)})")
    n = len(df)
    if n == 0:
        return pd.Series([], index=df.index, dtype=object, name="split")
    pos = np.arange(n)
    if group_col is not None:
        raw = df[group_col].tolist()
        keys = [f"g:{v!r}" if not _isnull(v) else f"row:{i}" for i, v in zip(pos, raw,
                                                                              strict=True)]
    else:
        keys = [f"row:{i}" for i in pos]
    strata_raw = (["" if _isnull(v) else str(v) for v in df[stratify_col].tolist()]
                  if stratify_col is not None else [""] * n)
    members: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        members.setdefault(k, []).append(i)
    by_stratum: dict[str, list[str]] = {}
    for k in sorted(members):
        counts = Counter(strata_raw[i] for i in members[k])
        top = max(counts.values())
        stratum = min(s for s, c in counts.items() if c == top)
        by_stratum.setdefault(stratum, []).append(k)
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=object)
    # each stratum is laid on one turn of the circle of split fractions from its own
    # start, so it gets its share; the starts follow the golden-ratio sequence from one
    # random start, spread evenly, so that many small strata (one-item strata of rare
    # labels) fill the splits in their shares too (independent random starts left a
    # split empty: 20 one-item strata went 19/0/1)
    start = float(rng.random())
    for rank, stratum in enumerate(sorted(by_stratum)):
        groups = by_stratum[stratum]
        order = rng.permutation(len(groups))
        offset = (start + rank * _GOLDEN) % 1.0
        total = sum(len(members[g]) for g in groups)
        done = 0
        for j in order:
            g = groups[int(j)]
            size = len(members[g])
            mid = (offset + (done + size / 2.0) / total) % 1.0
            done += size
            split = names[min(int(np.searchsorted(cuts, mid, side="right")), len(names) - 1)]
            for i in members[g]:
                out[i] = split
    return pd.Series(out, index=df.index, name="split")


def _isnull(v: object) -> bool:
    try:
        return bool(pd.isna(v))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


__all__ = ["check_fractions", "split_items"]
