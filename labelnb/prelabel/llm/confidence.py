r"""Confidence of a model's labels: from token log probabilities, or from agreement.

**Log probabilities** (OpenAI's ``logprobs``): the answer's tokens come with their
log probabilities :math:`\ell_t`. The confidence of a label is the probability the
model gave to the tokens that spell it, :math:`\exp \sum_{t \in T(v)} \ell_t`, where
:math:`T(v)` are the tokens that overlap the label value's characters in the answer
(located through the tokens' UTF-8 bytes). A class decided on its first token gets
that token's probability; later tokens are then near 1. When no value can be located
(an empty list of entities), the answer's geometric-mean token probability
:math:`\exp(\frac1n \sum_t \ell_t)` stands in.

**Agreement** (any provider): the item is labelled twice, by a second model or by a
second wording of the prompt (``variant=1``), and the confidence is the share of the
two runs that agree with the kept (first) answer: 1 when they agree, ½ when they do
not; for spans and boxes, :math:`\frac12 (1 + F_1)` with :math:`F_1` the agreement of
the two region sets (exact spans; boxes at IoU ≥ 0.5), and each region scores 1 if
the other run has it, else ½.

>>> toks = [TokenLogprob('{"', -0.01), TokenLogprob('label', 0.0), TokenLogprob('":"', 0.0),
...         TokenLogprob('pos', math.log(0.8)), TokenLogprob('"}', 0.0)]
>>> round(span_probability('{"label":"pos"}', toks, 10, 13), 3)
0.8
>>> from labelnb.types import Choice
>>> agreement([Choice("pos")], [Choice("neg")], "choice")
0.5
"""

from __future__ import annotations

import builtins
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from labelnb.metrics._common import DegenerateWarning
from labelnb.metrics.boxes import box_agreement, box_iou
from labelnb.metrics.spans import span_f1
from labelnb.types import Box, Region, Span

__all__ = ["TokenLogprob", "agreement", "mean_token_probability", "region_agreement",
           "span_probability"]


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One answer token with its log probability (``bytes`` as OpenAI sends them)."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None

    def raw(self) -> builtins.bytes:
        return bytes(self.bytes) if self.bytes is not None else self.token.encode("utf-8")


def span_probability(answer: str, tokens: Sequence[TokenLogprob], start: int, end: int
                     ) -> float | None:
    """``exp`` of the summed log probabilities of the tokens overlapping
    ``answer[start:end]``; None when the tokens do not spell ``answer``."""
    data = answer.encode("utf-8")
    if b"".join(t.raw() for t in tokens) != data:
        return None
    b0 = len(answer[:start].encode("utf-8"))
    b1 = len(answer[:end].encode("utf-8"))
    pos = 0
    total = 0.0
    hit = False
    for t in tokens:
        n = len(t.raw())
        if pos < b1 and pos + n > b0:
            total += t.logprob
            hit = True
        pos += n
    return math.exp(total) if hit else None


def mean_token_probability(tokens: Sequence[TokenLogprob]) -> float | None:
    """The geometric mean of the tokens' probabilities."""
    if not tokens:
        return None
    return math.exp(sum(t.logprob for t in tokens) / len(tokens))


def _region_sets(a: Sequence[Region], b: Sequence[Region], kind: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateWarning)
        if kind in ("choice", "multi_choice"):
            return 1.0 if sorted(r.label for r in a) == sorted(r.label for r in b) else 0.0
        if kind == "spans":
            sa = [r for r in a if isinstance(r, Span)]
            sb = [r for r in b if isinstance(r, Span)]
            if not sa and not sb:
                return 1.0
            return float(span_f1(sa, sb, mode="exact").f1)
        ba = [r for r in a if isinstance(r, Box)]
        bb = [r for r in b if isinstance(r, Box)]
        if not ba and not bb:
            return 1.0
        if not ba or not bb:
            return 0.0
        res = box_agreement(ba, bb, iou_threshold=0.5)
        return 2.0 * res.matched / (len(ba) + len(bb))


#: the confidence of an answer nothing backs up: a second run with none of its regions
#: (agreement with F1 = 0), a second run that could not be read, or an answer that lost
#: regions to rejection (an unknown class, a quote not in the text) is scored at most this
NO_AGREEMENT = 0.5


def agreement(a: Sequence[Region], b: Sequence[Region], kind: str) -> float:
    """The confidence of run ``a`` given a second run ``b``: ``(1 + F1) / 2``."""
    return 0.5 * (1.0 + _region_sets(a, b, kind))


def region_agreement(a: Sequence[Region], b: Sequence[Region], kind: str) -> list[float]:
    """Per region of ``a``: 1 if run ``b`` has it too (same label; same span; a box at
    IoU ≥ 0.5), else ½."""
    out = []
    for r in a:
        if kind in ("choice", "multi_choice"):
            ok = any(x.label == r.label for x in b)
        elif isinstance(r, Span):
            ok = any(isinstance(x, Span) and (x.start, x.end, x.label) == (r.start, r.end,
                                                                         r.label) for x in b)
        elif isinstance(r, Box):
            same = [x for x in b if isinstance(x, Box) and x.label == r.label]
            ok = bool(same) and bool((box_iou([r], same) >= 0.5).any())
        else:
            ok = False
        out.append(1.0 if ok else 0.5)
    return out
