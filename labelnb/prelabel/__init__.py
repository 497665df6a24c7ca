"""Programmatic labeling and pre-labels: labeling functions with a label model, LLM
pre-labeling, local (offline) pre-labelers, and tiered routing of machine labels.

* :mod:`~labelnb.prelabel.lf`: ``@labeling_function``, :func:`apply_lfs` (the label
  matrix), :class:`LFAnalysis`;
* :mod:`~labelnb.prelabel.label_model`: :class:`LabelModel` (Dawid-Skene over LF votes,
  dependent LFs modelled jointly) and the :func:`majority_vote` baseline;
* :mod:`~labelnb.prelabel.apply`: LFs over a project, the label model's output as
  predictions;
* :mod:`~labelnb.prelabel.llm`: prompts from the schema, OpenAI-compatible and
  Anthropic providers, caching, confidence, cost (import it for LLM work);
* :mod:`~labelnb.prelabel.local`: zero-shot from sentence embeddings, spaCy NER,
  scikit-learn on the current labels;
* :mod:`~labelnb.prelabel.tiers`: machine labels accepted, verified or sent to
  consensus by confidence.

Heavy dependencies (spaCy, sentence-transformers) load only when used.

>>> from labelnb.prelabel import labeling_function, ABSTAIN, apply_lfs
>>> @labeling_function()
... def has_refund(x):
...     return "complaint" if "refund" in x else ABSTAIN
>>> apply_lfs([has_refund], ["refund now", "thanks"], classes=["complaint", "other"]).tolist()
[[0], [-1]]
"""

from labelnb.prelabel.apply import lf_matrix, prelabel_with_lfs
from labelnb.prelabel.label_model import LabelModel, find_near_duplicates, majority_vote
from labelnb.prelabel.lf import (
    ABSTAIN,
    LabelingFunction,
    LabelingFunctionError,
    LFAnalysis,
    apply_lfs,
    labeling_function,
)
from labelnb.prelabel.local import EmbeddingZeroShot, SklearnTextClassifier, SpacyNER
from labelnb.prelabel.tiers import (
    MachineTiers,
    project_tiers,
    route_machine_labels,
    set_project_tiers,
)

__all__ = [
    "ABSTAIN",
    "EmbeddingZeroShot",
    "LFAnalysis",
    "LabelModel",
    "LabelingFunction",
    "LabelingFunctionError",
    "MachineTiers",
    "SklearnTextClassifier",
    "SpacyNER",
    "apply_lfs",
    "find_near_duplicates",
    "labeling_function",
    "lf_matrix",
    "majority_vote",
    "prelabel_with_lfs",
    "project_tiers",
    "route_machine_labels",
    "set_project_tiers",
]
