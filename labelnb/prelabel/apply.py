"""Labeling functions over a project's items, and the label model's output as
predictions.

Each LF sees the project's :class:`~labelnb.queue.queue.Item` (``x.text``,
``x.uri``, ``x.meta``, ``x.width`` ...). The label model's probabilistic labels go to
the project as predictions with ``source="labeling_function"``: one
:class:`~labelnb.types.Choice` per item some LF labels, scored with its posterior
probability (so :mod:`~labelnb.prelabel.tiers` can route them).

>>> import labelnb, tempfile, os
>>> db = os.path.join(tempfile.mkdtemp(), "lf.db")
>>> p = labelnb.Project.create(db, "reviews", labelnb.Schema("choice", ["pos", "neg"]))
>>> _ = p.add_items(["great film", "dull plot", "fine"])
>>> @labeling_function()
... def great(x):
...     return "pos" if "great" in x.text else ABSTAIN
>>> @labeling_function()
... def dull(x):
...     return "neg" if "dull" in x.text else ABSTAIN
>>> L, ids = lf_matrix(p, [great, dull])
>>> L.tolist(), ids
([[0, -1], [-1, 1], [-1, -1]], [1, 2, 3])
>>> report = prelabel_with_lfs(p, [great, dull])
>>> report[["item_id", "labels"]].to_dict("records")
[{'item_id': 1, 'labels': ['pos']}, {'item_id': 2, 'labels': ['neg']}]
>>> p.predictions()["source"].unique().tolist()
['labeling_function']
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labelnb.errors import ValidationError
from labelnb.metrics._common import DegenerateWarning
from labelnb.prelabel.label_model import LabelModel
from labelnb.prelabel.lf import (
    ABSTAIN,
    LabelingFunction,
    apply_lfs,
    labeling_function,
    lf_name,
)
from labelnb.types import Choice

if TYPE_CHECKING:
    from labelnb.project import Project

__all__ = ["ABSTAIN", "labeling_function", "lf_matrix", "prelabel_with_lfs"]


def lf_matrix(project: Project, lfs: Sequence[LabelingFunction | Callable[..., Any]], *,
              item_ids: Sequence[int] | None = None) -> tuple[np.ndarray, list[int]]:
    """The label matrix of ``lfs`` over the project's items (all, or ``item_ids``),
    with the item ids of its rows."""
    if item_ids is None:
        df = project.items()
        item_ids = [int(i) for i in df["id"]] if len(df) else []
    ids = list(dict.fromkeys(int(i) for i in item_ids))  # each item once, in order
    items = [project.item(i) for i in ids]
    if not items:
        return np.zeros((0, len(lfs)), dtype=np.int64), []
    return apply_lfs(lfs, items, classes=project.schema.names, item_ids=ids), ids


def prelabel_with_lfs(project: Project, lfs: Sequence[LabelingFunction | Callable[..., Any]], *,
                      label_model: LabelModel | None = None,
                      model_version: str = "labeling_functions",
                      item_ids: Sequence[int] | None = None,
                      write: bool = True) -> pd.DataFrame:
    """Apply ``lfs``, fit ``label_model`` (default :class:`LabelModel` with the
    schema's classes) and add one prediction per item some LF labels
    (``source="labeling_function"``). Returns ``item_id``, ``labels``, ``score``,
    ``regions`` and the per-class ``probas``; ``.attrs["label_model"]`` holds the
    fitted model."""
    if project.schema.kind != "choice":
        raise ValidationError(f"prelabel_with_lfs: project {project.name!r} is "
                              f"{project.schema.kind!r}; labeling functions vote for one class "
                              "per item ('choice' projects)")
    names = project.schema.names
    L, ids = lf_matrix(project, lfs, item_ids=item_ids)
    model = copy.copy(label_model) if label_model is not None else LabelModel()
    # the caller's model is untouched; the copy counts classes in schema order, which is
    # how lf_matrix codes the votes
    if model.classes is not None:
        given = [str(c) for c in model.classes]
        if sorted(given) != sorted(names) or len(given) != len(names):
            raise ValidationError(f"prelabel_with_lfs: label_model classes {given} are not the "
                                  f"schema's ({', '.join(names)}); give those, or leave "
                                  "classes out")
        if model.class_balance is not None:  # given in the model's order: to schema order
            cb = list(model.class_balance)
            if len(cb) == len(given):
                model.class_balance = [cb[given.index(n)] for n in names]
    elif model.n_classes is not None and int(model.n_classes) != len(names):
        raise ValidationError(f"prelabel_with_lfs: label_model has n_classes="
                              f"{model.n_classes} but the schema has {len(names)} classes "
                              f"({', '.join(names)})")
    model.classes = names
    if model.lf_names is None:
        model.lf_names = [lf_name(f) for f in lfs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateWarning)
        model.fit(L)
    probas = model.probas_
    covered = (L != ABSTAIN).any(axis=1)
    rows: list[dict[str, Any]] = []
    entries = []
    for r, item in enumerate(ids):
        if not covered[r]:
            continue
        k = int(np.argmax(probas[r]))
        score = round(float(probas[r, k]), 6)
        region = Choice(names[k], score=score)
        entries.append((item, [region], score))
        rows.append({"item_id": item, "labels": [names[k]], "score": score,
                     "regions": [region], "probas": dict(zip(names, probas[r].round(6).tolist(),
                                                              strict=True))})
    if write and entries:
        project.add_predictions(model_version, entries, source="labeling_function")
    out = pd.DataFrame(rows, columns=["item_id", "labels", "score", "regions", "probas"])
    out.attrs["label_model"] = model
    return out
