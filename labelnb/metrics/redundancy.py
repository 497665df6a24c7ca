"""Adaptive redundancy: spend extra labels only where they are needed.

Each item starts with one human label and a model prediction with its confidence. If
the model is confident (``confidence >= threshold``) and agrees with the annotator,
the label is accepted with no redundancy; otherwise the item is escalated to
``extra`` more annotators (then decided by the usual consensus tiers). Every
decision records why.

>>> policy = AdaptiveRedundancy(threshold=0.9)
>>> from labelnb.types import Choice
>>> policy.decide([Choice("cat")], [Choice("cat")], 0.97, "choice")
RedundancyDecision(accept=True, extra=0, reason='model confident (0.97) and agrees')
>>> policy.decide([Choice("cat")], [Choice("dog")], 0.97, "choice").reason
'model disagrees (0.97)'
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

from labelnb.errors import ValidationError
from labelnb.metrics.tiers import Agreement, agree
from labelnb.types import Region


@dataclass(frozen=True, slots=True)
class RedundancyDecision:
    accept: bool
    extra: int
    reason: str


@dataclass(frozen=True, slots=True)
class AdaptiveRedundancy:
    """The policy: accept when the model is at least ``threshold`` confident and agrees
    (per-modality agreement from ``agreement``); else ask ``extra`` more annotators."""

    threshold: float = 0.9
    extra: int = 2
    agreement: Agreement = Agreement()

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0.0 < t <= 1.0:
            raise ValidationError(f"AdaptiveRedundancy: field 'threshold' is {t!r}; give "
                                  "the model confidence that accepts, a number in (0, 1]")
        e = self.extra
        if isinstance(e, bool) or not isinstance(e, numbers.Integral) or e < 1:
            raise ValidationError(f"AdaptiveRedundancy: field 'extra' is {e!r}; give how many "
                                  "more annotators an escalated item gets, a whole number >= 1")

    def decide(self, human: Sequence[Region], model: Sequence[Region] | None,
               confidence: float | None, kind: str) -> RedundancyDecision:
        if model is None or confidence is None or math.isnan(confidence):
            return RedundancyDecision(False, self.extra, "no model prediction"
                                      if model is None else "model confidence unknown")
        c = round(float(confidence), 4)
        if not agree(human, model, kind, self.agreement):
            return RedundancyDecision(False, self.extra, f"model disagrees ({c})")
        if confidence < self.threshold:
            return RedundancyDecision(False, self.extra,
                                      f"model unsure ({c} < {self.threshold})")
        return RedundancyDecision(True, 0, f"model confident ({c}) and agrees")


__all__ = ["AdaptiveRedundancy", "RedundancyDecision"]
