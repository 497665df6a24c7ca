r"""Precision, recall and F1 of text spans, per label and micro/macro averaged.

.. math::

    P = \frac{TP}{TP + FP}, \quad R = \frac{TP}{TP + FN}, \quad
    F_1 = \frac{2PR}{P + R}

``mode="exact"``: a predicted span is a true positive when a gold span has the same
``start``, ``end`` and label (the CoNLL-2003 criterion; Tjong Kim Sang & De Meulder,
2003). ``mode="overlap"``: when it shares at least one code point with a gold span of
the same label; gold and predicted spans are paired one-to-one (Hungarian matching,
most pairs first, then most shared characters), so one long prediction cannot claim
two gold spans. Micro averages pool the counts over labels; macro averages are the
unweighted means of the per-label scores over every label in gold or pred.

A label with no predicted span has an undefined precision (0/0), one with no gold span
an undefined recall; as scikit-learn's ``precision_recall_fscore_support`` with
``zero_division=0``, such a score is ``0.0`` in ``per_label`` and counts as ``0.0`` in
the macro average, and a :class:`~labelnb.metrics.DegenerateWarning` names the labels.
So ``span_f1([Span(0, 3, "A")], [Span(0, 3, "A"), Span(5, 7, "B")])`` has recall 1.0
but ``macro_recall`` 0.5 (``B`` has no gold span). Their F1,
:math:`2TP / (2TP + FP + FN)`, is defined (``0.0``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from labelnb.errors import ValidationError
from labelnb.metrics._common import degenerate
from labelnb.types import Span

__all__ = ["SpanScores", "span_f1"]

SpanDocs = Sequence[Span] | Sequence[Sequence[Span]]


@dataclass(frozen=True, slots=True)
class SpanScores:
    """The result of :func:`span_f1`.

    ``per_label`` is a DataFrame indexed by label with columns ``precision``,
    ``recall``, ``f1``, ``tp``, ``fp``, ``fn`` and ``support`` (gold spans).
    """

    precision: float
    recall: float
    f1: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_label: pd.DataFrame


def _docs(x: SpanDocs, name: str) -> list[list[Span]]:
    items: list[Any] = list(x)
    if all(isinstance(s, Span) for s in items):
        return [list(items)]
    docs: list[list[Span]] = []
    for d in items:
        if isinstance(d, Span):
            raise ValidationError(f"span_f1: {name} mixes spans and documents")
        doc = list(d)
        if not all(isinstance(s, Span) for s in doc):
            raise ValidationError(f"span_f1: {name} must hold labelnb.types.Span objects")
        docs.append(doc)
    return docs


def _overlap_tp(gold: list[Span], pred: list[Span]) -> int:
    if not gold or not pred:
        return 0
    gs = np.array([[s.start, s.end] for s in gold])
    ps = np.array([[s.start, s.end] for s in pred])
    shared = np.clip(np.minimum(gs[:, None, 1], ps[None, :, 1])
                     - np.maximum(gs[:, None, 0], ps[None, :, 0]), 0, None)
    hit = shared > 0
    # most pairs first, then most shared characters (scaled below 1 per pair)
    score = hit + shared / (shared.max() + 1.0) * 1e-3
    r, c = linear_sum_assignment(score, maximize=True)
    return int(hit[r, c].sum())


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def span_f1(gold: SpanDocs, pred: SpanDocs,
            mode: Literal["exact", "overlap"] = "exact") -> SpanScores:
    """Span precision/recall/F1 of ``pred`` against ``gold``.

    ``gold`` and ``pred`` are lists of :class:`~labelnb.types.Span` for one text, or
    lists of such lists (one per document, paired by position).

    Degenerate cases (with a :class:`~labelnb.metrics.DegenerateWarning`): no spans on
    either side gives ``1.0`` everywhere; no predicted (or no gold) span makes precision
    (or recall) ``0.0``. A label with no predicted span (or no gold span) has an
    undefined precision (or recall), ``0.0`` in ``per_label`` and in the macro averages
    as with scikit-learn's ``zero_division=0``; the warning names those labels. (The
    macro means keep every label so that a label only one side used counts against
    the score; the micro ``precision``, ``recall`` and ``f1``, which the package's own
    agreement checks use, pool the counts and are unaffected.)

    >>> gold = [Span(0, 5, "ORG"), Span(11, 16, "LOC")]
    >>> pred = [Span(0, 5, "ORG"), Span(10, 16, "LOC"), Span(20, 22, "PER")]
    >>> r = span_f1(gold, pred)
    >>> round(r.precision, 4), r.recall, round(r.f1, 4)
    (0.3333, 0.5, 0.4)
    >>> span_f1(gold, pred, mode="overlap").recall
    1.0
    """
    if mode not in ("exact", "overlap"):
        raise ValidationError(f"span_f1: mode={mode!r}; expected 'exact' or 'overlap'")
    gdocs, pdocs = _docs(gold, "gold"), _docs(pred, "pred")
    if len(gdocs) != len(pdocs):
        raise ValidationError(
            f"span_f1: gold has {len(gdocs)} documents and pred {len(pdocs)}; pair them"
        )
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for g, pd_ in zip(gdocs, pdocs, strict=True):
        n_gold.update(s.label for s in g)
        n_pred.update(s.label for s in pd_)
        if mode == "exact":
            gk = Counter((s.start, s.end, s.label) for s in g)
            pk = Counter((s.start, s.end, s.label) for s in pd_)
            for key, cnt in (gk & pk).items():
                tp[key[2]] += cnt
        else:
            by_g: dict[str, list[Span]] = defaultdict(list)
            by_p: dict[str, list[Span]] = defaultdict(list)
            for s in g:
                by_g[s.label].append(s)
            for s in pd_:
                by_p[s.label].append(s)
            for lab in by_g.keys() & by_p.keys():
                tp[lab] += _overlap_tp(by_g[lab], by_p[lab])
    labels = sorted(n_gold.keys() | n_pred.keys())
    rows = []
    for lab in labels:
        t, fp, fn = tp[lab], n_pred[lab] - tp[lab], n_gold[lab] - tp[lab]
        p_, r_ = _ratio(t, t + fp), _ratio(t, t + fn)
        rows.append({"label": lab, "precision": p_, "recall": r_, "f1": _f1(p_, r_),
                     "tp": t, "fp": fp, "fn": fn, "support": n_gold[lab]})
    per_label = pd.DataFrame(rows, columns=["label", "precision", "recall", "f1", "tp", "fp",
                                            "fn", "support"]).set_index("label")
    total_tp, total_g, total_p = sum(tp.values()), sum(n_gold.values()), sum(n_pred.values())
    if total_g == 0 and total_p == 0:
        degenerate("span_f1: no spans in gold or pred; returning 1.0")
        return SpanScores(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, per_label)
    no_pred = [lab for lab in labels if n_pred[lab] == 0]
    no_gold = [lab for lab in labels if n_gold[lab] == 0]
    if total_p == 0:
        degenerate("span_f1: no predicted spans; precision is 0.0 (every label's is "
                   "undefined, 0/0, and macro_precision is 0.0 too)")
    elif no_pred:
        degenerate(f"span_f1: no predicted spans of label(s) {no_pred}: their precision is "
                   "undefined (0/0), 0.0 in per_label and counted as 0.0 in macro_precision")
    if total_g == 0:
        degenerate("span_f1: no gold spans; recall is 0.0 (every label's is undefined, "
                   "0/0, and macro_recall is 0.0 too)")
    elif no_gold:
        degenerate(f"span_f1: no gold spans of label(s) {no_gold}: their recall is "
                   "undefined (0/0), 0.0 in per_label and counted as 0.0 in macro_recall")
    p = _ratio(total_tp, total_p)
    r = _ratio(total_tp, total_g)
    return SpanScores(p, r, _f1(p, r), float(per_label["precision"].mean()),
                      float(per_label["recall"].mean()), float(per_label["f1"].mean()),
                      per_label)
