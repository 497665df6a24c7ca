r"""Uncertainty scores: how unsure a model is about each pool item (higher = more unsure).

Classification, on a probability matrix :math:`P` (``n_items × n_classes``, rows sum
to 1), with :math:`p_{(1)} \ge p_{(2)}` the two largest entries of a row:

* **least confidence** (Culotta & McCallum, 2005, "Reducing labeling effort for
  structured prediction tasks", AAAI): :math:`u = 1 - p_{(1)}`;
* **margin** (Scheffer, Decomain & Wrobel, 2001, "Active hidden Markov models for
  information extraction", IDA): :math:`u = 1 - (p_{(1)} - p_{(2)})`;
* **entropy** (Shannon; see Settles, 2009, "Active Learning Literature Survey",
  UW-Madison TR 1648, §3.1): :math:`u = -\sum_k p_k \ln p_k` (nats, :math:`0 \ln 0 = 0`);
  ``normalize=True`` divides by :math:`\ln K`, so it lies in [0, 1].

Detection (:func:`detection_uncertainty`), per image: every detected box gets an
uncertainty from its confidence :math:`s` (the binary forms of the measures above:
entropy :math:`-s\ln s-(1-s)\ln(1-s)`, least confidence :math:`1-s`, margin
:math:`1-|2s-1|`), or from its class-probability row if the detector gives one; the
image's score aggregates them by ``max``, ``mean`` or ``sum`` (Brust, Käding &
Denzler, 2019, "Active Learning for Deep Object Detection", VISAPP; Haussmann et al.,
2020, "Scalable Active Learning for Object Detection", IEEE IV). ``max`` asks "is any
box doubtful", ``mean`` "how doubtful is a typical box", ``sum`` also grows with the
number of boxes (it favours crowded images). An image without detections scores
``empty`` (default 0).

NER (:func:`token_uncertainty`, :func:`span_uncertainty`, :func:`document_uncertainty`):
each token's tag distribution gets a classification measure; a predicted entity span
(token ``[start, end)``) scores the ``mean`` (or ``max``) of its tokens; a document the
``mean`` (Settles & Craven, 2008, "An Analysis of Active Learning Strategies for
Sequence Labeling Tasks", EMNLP: "token entropy", normalised by length), ``max`` or
``sum`` of its tokens, or, with ``level="span"``, of its predicted spans.

>>> import numpy as np
>>> P = np.array([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]])
>>> least_confidence(P).round(3).tolist()
[0.5, 0.1]
>>> margin(P).round(3).tolist()
[0.8, 0.15]
>>> entropy(P).round(3).tolist()
[1.03, 0.394]
>>> detection_uncertainty([[0.9, 0.5], [], [0.99]], per_box="least_confidence",
...                       aggregate="max").round(3).tolist()
[0.5, 0.0, 0.01]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from labelnb.errors import ValidationError
from labelnb.types import Choice, Region

Measure = Literal["entropy", "margin", "least_confidence"]
MEASURES: tuple[str, ...] = get_args(Measure)
Aggregate = Literal["max", "mean", "sum"]
AGGREGATES: tuple[str, ...] = get_args(Aggregate)
FloatArray = npt.NDArray[np.float64]

_CHUNK = 65_536  # rows per chunk: temporaries stay a few MB for any pool size
_SUM_TOL = 1e-3


def check_proba(proba: npt.ArrayLike, *, what: str = "proba", min_classes: int = 1
                ) -> npt.NDArray[np.floating[Any]]:
    """``proba`` as a float array of shape ``(n_items, n_classes)`` whose rows are
    probability distributions; raises :class:`~labelnb.errors.ValidationError` naming
    the first bad row otherwise."""
    p = np.asarray(proba)
    if p.dtype.kind not in "fiu":
        raise ValidationError(f"{what}: dtype {p.dtype} is not numeric; give class "
                              "probabilities (e.g. model.predict_proba(X))")
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    if p.ndim != 2:
        raise ValidationError(f"{what}: shape {p.shape}; give a 2-D (n_items, n_classes) "
                              "matrix of class probabilities")
    if p.shape[1] < min_classes:
        raise ValidationError(f"{what}: {p.shape[1]} classes; this measure needs at least "
                              f"{min_classes}")
    for s in range(0, p.shape[0], _CHUNK):
        c = p[s:s + _CHUNK]
        bad = ~np.isfinite(c).all(axis=1) | (c < -1e-9).any(axis=1)
        sums = c.sum(axis=1, dtype=np.float64)
        bad |= np.abs(sums - 1.0) > _SUM_TOL
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"{what}: row {s + i} is {np.round(c[i], 4).tolist()!r:.120} (sum "
                f"{float(sums[i]):.4g}); every row must be class probabilities that sum to 1 "
                "(apply a softmax to logits first)")
    return p


def _rowwise(proba: npt.ArrayLike, fn: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
             what: str, min_classes: int) -> FloatArray:
    p = check_proba(proba, what=what, min_classes=min_classes)
    out = np.empty(p.shape[0], dtype=np.float64)
    for s in range(0, p.shape[0], _CHUNK):
        out[s:s + _CHUNK] = fn(p[s:s + _CHUNK].astype(np.float64, copy=False))
    return out


def least_confidence(proba: npt.ArrayLike) -> FloatArray:
    """:math:`1 - \\max_k p_k` per row."""
    return _rowwise(proba, lambda c: 1.0 - c.max(axis=1), "least_confidence(proba)", 1)


def _margin_chunk(c: npt.NDArray[Any]) -> npt.NDArray[Any]:
    top2 = -np.partition(-c, 1, axis=1)[:, :2]
    return np.asarray(1.0 - (top2[:, 0] - top2[:, 1]))


def margin(proba: npt.ArrayLike) -> FloatArray:
    """:math:`1 - (p_{(1)} - p_{(2)})` per row (needs two or more classes)."""
    return _rowwise(proba, _margin_chunk, "margin(proba)", 2)


def entropy(proba: npt.ArrayLike, *, normalize: bool = False) -> FloatArray:
    """:math:`-\\sum_k p_k \\ln p_k` per row; divided by :math:`\\ln K` if ``normalize``."""
    def fn(c: npt.NDArray[Any]) -> npt.NDArray[Any]:
        c = np.clip(c, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(c > 0, c * np.log(np.where(c > 0, c, 1.0)), 0.0)
        return np.asarray(np.maximum(-terms.sum(axis=1), 0.0))

    out = _rowwise(proba, fn, "entropy(proba)", 1)
    if normalize:
        k = np.asarray(proba).shape[1]
        out = out / np.log(k) if k > 1 else np.zeros_like(out)
    return out


_MEASURE_FNS: dict[str, Callable[[npt.ArrayLike], FloatArray]] = {
    "entropy": entropy, "margin": margin, "least_confidence": least_confidence,
}


def check_measure(measure: str) -> Measure:
    if measure not in MEASURES:
        raise ValidationError(f"uncertainty measure {measure!r}; expected one of "
                              f"{list(MEASURES)}")
    return measure  # type: ignore[return-value]


def check_aggregate(aggregate: str, allowed: Sequence[str] = AGGREGATES) -> Aggregate:
    if aggregate not in allowed:
        raise ValidationError(f"aggregate {aggregate!r}; expected one of {list(allowed)}")
    return aggregate  # type: ignore[return-value]


def uncertainty(proba: npt.ArrayLike, measure: Measure = "entropy") -> FloatArray:
    """The ``measure`` (``entropy``, ``margin``, ``least_confidence``) of each row."""
    return _MEASURE_FNS[check_measure(measure)](proba)


def _binary(scores: FloatArray, measure: Measure) -> FloatArray:
    s = np.clip(scores, 0.0, 1.0)
    if measure == "least_confidence":
        return 1.0 - s
    if measure == "margin":
        return 1.0 - np.abs(2.0 * s - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(s > 0, s * np.log(np.where(s > 0, s, 1.0)), 0.0)
              + np.where(s < 1, (1 - s) * np.log(np.where(s < 1, 1 - s, 1.0)), 0.0))
    return np.asarray(h, dtype=np.float64)


def _aggregate(values: FloatArray, aggregate: Aggregate, empty: float) -> float:
    if values.size == 0:
        return float(empty)
    if aggregate == "max":
        return float(values.max())
    if aggregate == "mean":
        return float(values.mean())
    return float(values.sum())


def box_uncertainty(scores: npt.ArrayLike, per_box: Measure = "entropy") -> FloatArray:
    """The uncertainty of each detection of one image: from its confidence (1-D
    ``scores`` in [0, 1], the binary form of ``per_box``) or from its class
    probabilities (2-D, one row per box)."""
    measure = check_measure(per_box)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 2:
        return uncertainty(s, measure) if s.shape[0] else np.zeros(0)
    if s.ndim != 1:
        raise ValidationError(f"detection scores of shape {s.shape}; give one confidence per "
                              "box (1-D) or one class-probability row per box (2-D)")
    if s.size and (not np.isfinite(s).all() or s.min() < 0 or s.max() > 1):
        raise ValidationError(f"detection scores {s.round(4).tolist()!r:.120} must lie in "
                              "[0, 1]; pass confidences, not logits")
    return _binary(s, measure)


def detection_uncertainty(images: Sequence[npt.ArrayLike], *, per_box: Measure = "entropy",
                          aggregate: Aggregate = "max", empty: float = 0.0) -> FloatArray:
    """One score per image from the confidences of its detections (see the module
    docstring). ``images[i]`` is image ``i``'s box confidences (1-D) or class
    probabilities (2-D)."""
    agg = check_aggregate(aggregate)
    out = np.empty(len(images), dtype=np.float64)
    for i, boxes in enumerate(images):
        try:
            u = box_uncertainty(boxes, per_box)
        except ValidationError as e:
            raise ValidationError(f"image {i}: {e}") from None
        out[i] = _aggregate(u, agg, empty)
    return out


def regions_uncertainty(regions: Sequence[Sequence[Region]], *,
                        per_region: Measure = "entropy", aggregate: Aggregate = "max",
                        empty: float = 0.0) -> FloatArray:
    """One score per item from the ``score`` of its predicted regions (what a model
    backend returns without a full probability matrix).

    A :class:`~labelnb.types.Choice` carries the probability of the class it names, so
    an item's choices score ``1 - max(score)`` (least confidence). Other regions (boxes,
    spans, polygons, masks) are detections: :func:`detection_uncertainty` with
    ``per_region`` and ``aggregate``. Regions without a score are left out; an item
    with none scores ``empty``."""
    agg = check_aggregate(aggregate)
    out = np.empty(len(regions), dtype=np.float64)
    for i, regs in enumerate(regions):
        choices = [r.score for r in regs if isinstance(r, Choice) and r.score is not None]
        others = [r.score for r in regs if not isinstance(r, Choice) and r.score is not None]
        if choices and not others:
            out[i] = 1.0 - max(choices)
        else:
            out[i] = _aggregate(box_uncertainty(np.asarray(others, dtype=np.float64),
                                                per_region), agg, empty)
    return out


# --- NER ---------------------------------------------------------------------------


def token_uncertainty(token_proba: npt.ArrayLike, measure: Measure = "entropy") -> FloatArray:
    """The uncertainty of each token of one document from its tag distribution
    (``n_tokens × n_tags``)."""
    return uncertainty(token_proba, measure)


def span_uncertainty(token_scores: npt.ArrayLike, spans: Sequence[tuple[int, int]], *,
                     aggregate: Aggregate = "mean") -> FloatArray:
    """One score per span ``(start, end)`` (token indices, end exclusive): the
    ``aggregate`` of its tokens' uncertainties."""
    agg = check_aggregate(aggregate)
    t = np.asarray(token_scores, dtype=np.float64)
    out = np.empty(len(spans), dtype=np.float64)
    for i, (a, b) in enumerate(spans):
        if not 0 <= a < b <= t.shape[0]:
            raise ValidationError(f"span {i} ({a}, {b}): token offsets must satisfy "
                                  f"0 <= start < end <= {t.shape[0]} (the document's tokens)")
        out[i] = _aggregate(t[a:b], agg, 0.0)
    return out


def spans_from_bio(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entity spans ``(start, end, label)`` (token indices, end exclusive) from BIO (or
    IOB2) tags; an ``I-X`` that does not continue an ``X`` starts a new span.

    >>> spans_from_bio(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "B-ORG"])
    [(0, 2, 'PER'), (3, 4, 'LOC'), (4, 5, 'LOC'), (5, 6, 'ORG')]
    """
    out: list[tuple[int, int, str]] = []
    start: int | None = None
    label = ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, lab = str(tag).partition("-")
        if prefix not in ("B", "I", "O") or (prefix != "O" and not lab):
            raise ValidationError(f"tag {i} is {tag!r}; expected 'O', 'B-<label>' or "
                                  "'I-<label>' (BIO / IOB2)")
        continues = prefix == "I" and start is not None and lab == label
        if start is not None and not continues:
            out.append((start, i, label))
            start = None
        if prefix in ("B", "I") and not continues:
            start, label = i, lab
    return out


def document_uncertainty(documents: Sequence[npt.ArrayLike], *, measure: Measure = "entropy",
                         aggregate: Aggregate = "mean", level: Literal["token", "span"]
                         = "token", tags: Sequence[str] | None = None,
                         span_aggregate: Aggregate = "mean") -> FloatArray:
    """One score per document from its tokens' tag distributions.

    ``documents[i]`` is document ``i``'s ``n_tokens × n_tags`` probability matrix.
    ``level="token"``: the ``aggregate`` of all token uncertainties. ``level="span"``:
    decode the most likely tag of each token (``tags`` names the columns, in BIO),
    score each predicted span by ``span_aggregate`` of its tokens, then take the
    ``aggregate`` over spans; a document without a predicted span scores the
    ``max`` of its token uncertainties (so a near-miss entity still counts).
    """
    agg = check_aggregate(aggregate)
    if level not in ("token", "span"):
        raise ValidationError(f"level {level!r}; expected 'token' or 'span'")
    if level == "span" and tags is None:
        raise ValidationError("document_uncertainty(level='span') needs tags=[...], the BIO "
                              "tag of each probability column")
    out = np.empty(len(documents), dtype=np.float64)
    for i, doc in enumerate(documents):
        p = np.asarray(doc, dtype=np.float64)
        if p.ndim != 2 or (tags is not None and p.shape[1] != len(tags)):
            raise ValidationError(f"document {i}: token probabilities of shape {p.shape}; give "
                                  "(n_tokens, n_tags)" + (f" with n_tags = {len(tags)}"
                                                          if tags is not None else ""))
        if p.shape[0] == 0:
            out[i] = 0.0
            continue
        try:
            u = token_uncertainty(p, measure)
        except ValidationError as e:
            raise ValidationError(f"document {i}: {e}") from None
        if level == "token":
            out[i] = _aggregate(u, agg, 0.0)
            continue
        assert tags is not None
        spans = spans_from_bio([tags[j] for j in p.argmax(axis=1)])
        if not spans:
            out[i] = float(u.max())
            continue
        su = span_uncertainty(u, [(a, b) for a, b, _ in spans], aggregate=span_aggregate)
        out[i] = _aggregate(su, agg, 0.0)
    return out


__all__ = ["AGGREGATES", "MEASURES", "Aggregate", "Measure", "box_uncertainty",
           "check_proba", "detection_uncertainty", "document_uncertainty", "entropy",
           "least_confidence", "margin", "regions_uncertainty", "span_uncertainty",
           "spans_from_bio", "token_uncertainty", "uncertainty"]
