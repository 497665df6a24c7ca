"""Uncertainty scores on known probability matrices; the expected values are computed
here from the definitions, row by row, in plain Python."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labelnb.active.uncertainty import (
    box_uncertainty,
    detection_uncertainty,
    document_uncertainty,
    entropy,
    least_confidence,
    margin,
    regions_uncertainty,
    span_uncertainty,
    spans_from_bio,
    token_uncertainty,
    uncertainty,
)
from labelnb.errors import ValidationError
from labelnb.types import Box, Choice, Span

P = [[1.0, 0.0, 0.0],
     [0.5, 0.5, 0.0],
     [1 / 3, 1 / 3, 1 / 3],
     [0.7, 0.2, 0.1],
     [0.05, 0.15, 0.8]]


def _entropy(row: list[float]) -> float:
    return -sum(p * math.log(p) for p in row if p > 0)


def _margin(row: list[float]) -> float:
    a, b = sorted(row, reverse=True)[:2]
    return 1 - (a - b)


def test_classification_measures_match_their_definitions() -> None:
    assert entropy(P).tolist() == pytest.approx([_entropy(r) for r in P], abs=1e-12)
    assert margin(P).tolist() == pytest.approx([_margin(r) for r in P], abs=1e-12)
    assert least_confidence(P).tolist() == pytest.approx([1 - max(r) for r in P], abs=1e-12)
    assert entropy(P, normalize=True).tolist() == pytest.approx(
        [_entropy(r) / math.log(3) for r in P], abs=1e-12)
    # the extremes: a one-hot row is certain, the uniform row maximally uncertain
    assert entropy(P)[0] == 0.0 and entropy(P, normalize=True)[2] == pytest.approx(1.0)
    assert margin(P)[1] == pytest.approx(1.0) and least_confidence(P)[0] == 0.0


def test_measures_rank_rows_differently() -> None:
    # margin and entropy disagree on these two rows: a classic case
    rows = [[0.5, 0.49, 0.01], [0.4, 0.3, 0.3]]
    assert np.argmax(margin(rows)) == 0
    assert np.argmax(entropy(rows)) == 1
    assert uncertainty(rows, "margin").tolist() == margin(rows).tolist()


def test_chunked_float32_pool_equals_float64() -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(7), size=70_000)  # more than one chunk
    for fn in (entropy, margin, least_confidence):
        assert np.allclose(fn(p.astype(np.float32)), fn(p), atol=1e-5)


@pytest.mark.parametrize("bad, fix", [
    ([[0.5, 0.6]], "sum to 1"),
    ([[1.2, -0.2]], "sum to 1"),
    ([[np.nan, 1.0]], "row 0"),
    ([0.2, 0.8], "2-D"),
    ([["a", "b"]], "not numeric"),
])
def test_bad_probabilities_are_refused_with_the_row(bad: object, fix: str) -> None:
    with pytest.raises(ValidationError, match=fix):
        entropy(bad)  # type: ignore[arg-type]


def test_margin_needs_two_classes() -> None:
    with pytest.raises(ValidationError, match="at least 2"):
        margin([[1.0]])
    with pytest.raises(ValidationError, match="expected one of"):
        uncertainty(P, "variance")  # type: ignore[arg-type]


def _binary_entropy(s: float) -> float:
    return -sum(p * math.log(p) for p in (s, 1 - s) if p > 0)


def test_detection_per_image_aggregation() -> None:
    images = [[0.9, 0.5, 0.2], [0.99], [], [0.6, 0.6]]
    per_box = [[_binary_entropy(s) for s in im] for im in images]
    want = {
        "max": [max(u) if u else 0.0 for u in per_box],
        "mean": [sum(u) / len(u) if u else 0.0 for u in per_box],
        "sum": [sum(u) for u in per_box],
    }
    for agg, expected in want.items():
        got = detection_uncertainty(images, aggregate=agg)  # type: ignore[arg-type]
        assert got.tolist() == pytest.approx(expected, abs=1e-12), agg
    lc = detection_uncertainty(images, per_box="least_confidence", aggregate="mean")
    assert lc.tolist() == pytest.approx([(0.1 + 0.5 + 0.8) / 3, 0.01, 0.0, 0.4])
    mg = box_uncertainty([0.9, 0.5], "margin")
    assert mg.tolist() == pytest.approx([1 - abs(0.9 - 0.1), 1.0])
    assert detection_uncertainty([[]], empty=1.0).tolist() == [1.0]
    # class-probability rows per box use the classification measure
    two = detection_uncertainty([np.array(P[:2])], per_box="least_confidence",
                                aggregate="max")
    assert two.tolist() == pytest.approx([0.5])


def test_detection_scores_must_be_probabilities() -> None:
    with pytest.raises(ValidationError, match="image 1"):
        detection_uncertainty([[0.5], [3.2]])


def test_regions_uncertainty_reads_region_scores() -> None:
    regions = [
        [Choice("cat", score=0.8)],
        [Box(0, 0, 1, 1, "car", score=0.5), Box(0, 0, 2, 2, "car", score=0.99)],
        [Span(0, 3, "PER", score=0.9)],
        [Box(0, 0, 1, 1, "car")],  # no score: counts as no detection
    ]
    got = regions_uncertainty(regions, aggregate="max")
    assert got.tolist() == pytest.approx([1 - 0.8, _binary_entropy(0.5),
                                          _binary_entropy(0.9), 0.0])


def test_bio_decoding() -> None:
    assert spans_from_bio(["O", "B-PER", "I-PER", "I-PER", "O", "B-LOC"]) == [
        (1, 4, "PER"), (5, 6, "LOC")]
    assert spans_from_bio(["I-ORG", "I-ORG", "I-PER", "B-PER", "I-PER"]) == [
        (0, 2, "ORG"), (2, 3, "PER"), (3, 5, "PER")]
    assert spans_from_bio([]) == []
    with pytest.raises(ValidationError, match="tag 1"):
        spans_from_bio(["O", "PER"])


TAGS = ["O", "B-PER", "I-PER"]
DOC = [[0.9, 0.05, 0.05],   # O
       [0.2, 0.7, 0.1],     # B-PER
       [0.3, 0.2, 0.5],     # I-PER
       [0.6, 0.3, 0.1]]     # O


def test_ner_tokens_spans_documents() -> None:
    tok = token_uncertainty(DOC, "entropy")
    assert tok.tolist() == pytest.approx([_entropy(r) for r in DOC])
    span = span_uncertainty(tok, [(1, 3)], aggregate="mean")
    assert span.tolist() == pytest.approx([(_entropy(DOC[1]) + _entropy(DOC[2])) / 2])
    assert span_uncertainty(tok, [(1, 3)], aggregate="max").tolist() == pytest.approx(
        [max(_entropy(DOC[1]), _entropy(DOC[2]))])
    docs = [DOC, DOC[:1]]
    assert document_uncertainty(docs, aggregate="mean").tolist() == pytest.approx(
        [sum(_entropy(r) for r in DOC) / 4, _entropy(DOC[0])])
    assert document_uncertainty(docs, aggregate="sum").tolist() == pytest.approx(
        [sum(_entropy(r) for r in DOC), _entropy(DOC[0])])
    # span level: one predicted PER span (tokens 1-2); the one-token doc predicts no
    # entity and scores its most uncertain token
    by_span = document_uncertainty(docs, level="span", tags=TAGS, measure="least_confidence")
    assert by_span.tolist() == pytest.approx([(0.3 + 0.5) / 2, 0.1])
    assert document_uncertainty([np.zeros((0, 3))]).tolist() == [0.0]


def test_ner_errors_name_the_document() -> None:
    with pytest.raises(ValidationError, match="needs tags"):
        document_uncertainty([DOC], level="span")
    with pytest.raises(ValidationError, match="document 1"):
        document_uncertainty([DOC, [[0.5, 0.6, 0.1]]])
    with pytest.raises(ValidationError, match="span 0"):
        span_uncertainty([0.1, 0.2], [(1, 5)])
