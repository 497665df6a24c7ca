"""labelnb.active: uncertainty and diversity scores, batch strategies, the
active-learning loop and the circular-validation guard.

* :mod:`~labelnb.active.uncertainty` — entropy, margin, least confidence; detection
  (per image) and NER (per token, span, document) aggregation;
* :mod:`~labelnb.active.diversity` — k-center greedy and k-means++ seeding, chunked;
* :mod:`~labelnb.active.strategies` — sklearn-style strategies with ``query`` and
  ``scores_``; the default is uncertainty shortlist then diversity (opt-in:
  :class:`DiverseMiniBatchSampling`, weighted k-means on the shortlist), and every
  batch keeps a 10% random reserve;
* :mod:`~labelnb.active.adapters` — sklearn, torch, callables and Label Studio ML
  backends behind one interface;
* :mod:`~labelnb.active.loop` — :class:`ActiveLoop`;
* :mod:`~labelnb.active.guard` — evaluation sets stay human-only.

Nothing here is imported by ``import labelnb``; torch is imported only by
:class:`TorchAdapter`.
"""

from labelnb.active.adapters import (
    CallableAdapter,
    LabelStudioMLBackend,
    ModelAdapter,
    Predictions,
    SklearnAdapter,
    TorchAdapter,
    as_adapter,
)
from labelnb.active.diversity import k_center_greedy, kmeans_pp_seeding
from labelnb.active.guard import (
    CircularValidationError,
    check_evaluation_set,
    check_human_only,
    evaluation_items,
    mark_evaluation,
)
from labelnb.active.loop import ActiveLoop, RetrainJob, jobs_dispatcher, selections
from labelnb.active.strategies import (
    MIN_BATCH_SIZE,
    Batch,
    DiverseMiniBatchSampling,
    DiversitySampling,
    RandomSampling,
    SmallBatchWarning,
    Strategy,
    UncertaintyDiversitySampling,
    UncertaintySampling,
    default_strategy,
)
from labelnb.active.uncertainty import (
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

__all__ = [
    "ActiveLoop", "CallableAdapter", "CircularValidationError", "LabelStudioMLBackend",
    "ModelAdapter", "Predictions", "RetrainJob", "SklearnAdapter", "TorchAdapter",
    "as_adapter", "check_evaluation_set", "check_human_only", "evaluation_items",
    "jobs_dispatcher", "mark_evaluation", "selections",
    "MIN_BATCH_SIZE", "Batch", "DiverseMiniBatchSampling", "DiversitySampling",
    "RandomSampling", "SmallBatchWarning", "Strategy", "UncertaintyDiversitySampling",
    "UncertaintySampling", "default_strategy",
    "detection_uncertainty", "document_uncertainty", "entropy", "k_center_greedy",
    "kmeans_pp_seeding", "least_confidence", "margin", "regions_uncertainty",
    "span_uncertainty", "spans_from_bio", "token_uncertainty", "uncertainty",
]
