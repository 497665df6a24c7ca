"""The circular-validation guard: evaluation labels must be human-made.

A model graded on labels that a model (or an LLM, or a labeling function) produced
is graded on its own answers: accuracy goes up while the model does not get better.
So an evaluation set is **human-only**:

* :func:`mark_evaluation` marks items as an evaluation set (an event in the
  project's audit log, so the marking is itself auditable);
* :func:`check_human_only` raises :class:`CircularValidationError` when the labels
  of an evaluation set (or of evaluation splits, e.g. ``"test"``) include
  machine-made ones (``source`` ``model``, ``llm`` or ``labeling_function``;
  ``consensus`` aggregates human labels and counts as human). It names the items and
  the fix. ``allow_machine=True`` with a ``reason`` overrides it, and the override is
  recorded in ``project.events()`` (kind ``circular_validation_override``: who, why,
  how many, which items);
* :func:`check_evaluation_set` applies it to the final labels of a project's marked
  evaluation items (what :class:`~labelnb.active.ActiveLoop` does before it reports
  accuracy).

It takes the labels in any of the shapes they travel in: ``project.annotations()``
(a DataFrame with ``item_id``, ``source``, optionally ``split``), Annotation
objects, ``{item_id: Annotation}``, the export pipeline's records, or
``(record, split)`` pairs as :func:`labelnb.formats.pipeline.transform` returns them.

>>> from labelnb.types import Annotation, Choice
>>> anns = [Annotation(item_id=1, regions=(Choice("cat"),), author="ana"),
...         Annotation(item_id=2, regions=(Choice("dog"),), author="resnet",
...                    source="model")]
>>> check_human_only(anns[:1])
>>> check_human_only([(anns[0], "test"), (anns[1], "train")], split="test")
>>> check_human_only(anns, what="test split")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
labelnb.errors.CircularValidationError: test split: 1 of 2 labels are machine-made
(item 2: model by 'resnet'); ...
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labelnb.active._project import (
    HUMAN_SOURCES,
    MACHINE_SOURCES,
    events,
    final_annotations,
    log_event,
)
from labelnb.errors import CircularValidationError, ValidationError
from labelnb.types import SOURCES, Annotation

if TYPE_CHECKING:
    from labelnb.project import Project

OVERRIDE_EVENT = "circular_validation_override"
EVALUATION_EVENT = "evaluation_set"
_SHOWN = 5



def _row(rec: Any, split: Any, n: int) -> tuple[int, str, str, Any]:
    """(item_id, source, author, split) of one record."""
    if isinstance(rec, Annotation):
        return rec.item_id, rec.source, rec.author, split
    ann = getattr(rec, "annotation", None)
    if isinstance(ann, Annotation):  # an export record
        return int(rec.item_id), ann.source, ann.author, split
    if isinstance(rec, Mapping) and "item_id" in rec and "source" in rec:
        return (int(rec["item_id"]), str(rec["source"]), str(rec.get("author", "")),
                rec.get("split", split))
    raise ValidationError(f"labels[{n}]: {type(rec).__name__} {rec!r:.80} is not a label; give "
                          "Annotations, export records, (record, split) pairs, dicts with "
                          "item_id and source, or project.annotations()")


def label_rows(records: Any) -> pd.DataFrame:
    """The labels as a DataFrame ``item_id, source, author, split``."""
    cols = ["item_id", "source", "author", "split"]
    if isinstance(records, pd.DataFrame):
        missing = [c for c in ("item_id", "source") if c not in records.columns]
        if missing:
            raise ValidationError(f"labels: the DataFrame has no {missing} column(s); give "
                                  "project.annotations() or a frame with item_id and source")
        out = pd.DataFrame({
            "item_id": records["item_id"].astype("int64"),
            "source": records["source"].astype(str),
            "author": records["author"].astype(str) if "author" in records else "",
            "split": records["split"] if "split" in records else None})
        return out.reset_index(drop=True)[cols]
    if isinstance(records, Mapping):
        rows = [_row(a, None, n) for n, a in enumerate(records.values())]
    else:
        rows = []
        for n, rec in enumerate(records):
            if isinstance(rec, tuple) and len(rec) == 2 and (rec[1] is None
                                                             or isinstance(rec[1], str)):
                rows.append(_row(rec[0], rec[1], n))
            else:
                rows.append(_row(rec, None, n))
    return pd.DataFrame(rows, columns=cols)


def machine_labels(records: Any, *, split: str | Collection[str] | None = None
                   ) -> pd.DataFrame:
    """The machine-made labels among ``records`` (in ``split`` if given)."""
    df = label_rows(records)
    df = _in_split(df, split)
    unknown = sorted(set(df["source"]) - set(SOURCES))
    if unknown:
        raise ValidationError(f"labels: source {unknown[0]!r} is not one of {list(SOURCES)}")
    return df[df["source"].isin(MACHINE_SOURCES)].reset_index(drop=True)


def _splits(split: str | Collection[str] | None) -> set[str] | None:
    if split is None:
        return None
    return {split} if isinstance(split, str) else {str(s) for s in split}


def _in_split(df: pd.DataFrame, split: str | Collection[str] | None) -> pd.DataFrame:
    want = _splits(split)
    if want is None:
        return df
    if df.empty:
        return df
    if df["split"].isna().all():
        raise ValidationError(f"labels: split={sorted(want)} was asked for, but the labels "
                              "carry no split; give (record, split) pairs or a 'split' "
                              "column, or leave split=None to check every label given")
    return df[df["split"].isin(want)]


def check_human_only(records: Any, *, split: str | Collection[str] | None = None,
                     allow_machine: bool = False, reason: str | None = None,
                     project: Project | None = None, actor: str = "system",
                     what: str | None = None,
                     override: tuple[str, str] = ("allow_machine", "reason"),
                     record: list[dict[str, Any]] | None = None) -> None:
    """Raise :class:`CircularValidationError` if ``records`` (in ``split``, if given)
    hold machine-made labels.

    ``allow_machine=True`` lets them through, once ``reason`` says why; the override
    is recorded in ``project``'s events (so a project is needed). With no
    machine-made labels nothing is recorded. ``what`` names the set in the message
    (default: the split, or "evaluation set"). ``record``: a list the override's event
    payload is appended to instead of being logged now (a caller that logs it once its
    own work succeeded: an export that fails records no override)."""
    df = _in_split(label_rows(records), split)
    bad = df[df["source"].isin(MACHINE_SOURCES)].sort_values("item_id", kind="stable")
    splits = _splits(split)
    name = what or (f"evaluation split {', '.join(sorted(splits))}" if splits
                    else "evaluation set")
    if bad.empty:
        return
    flag, why = override  # the caller's names for the override's two arguments
    shown = "; ".join(f"item {int(i)}: {s} by {a!r}" for i, s, a in
                      zip(bad["item_id"][:_SHOWN], bad["source"][:_SHOWN],
                          bad["author"][:_SHOWN], strict=True))
    more = f"; and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    if not allow_machine:
        raise CircularValidationError(
            f"{name}: {len(bad)} of {len(df)} labels are machine-made ({shown}{more}); "
            "evaluating on them grades the model on its own answers. Fix: have humans label "
            "these items (or correct the machine labels in review), export with "
            f"human_only=True, or override with {flag}=True, {why}='...' "
            "(recorded in project.events())")
    if not reason or not str(reason).strip():
        raise ValidationError(f"{name}: {flag}=True needs {why}='...': the override "
                              f"of {len(bad)} machine-made labels is recorded with its reason")
    if project is None:
        raise ValidationError(f"{name}: {flag}=True needs project=... so that the "
                              "override is recorded in its events")
    payload = {
        "what": name, "splits": sorted(splits) if splits else None, "reason": str(reason),
        "machine_labels": int(len(bad)), "labels": int(len(df)),
        "sources": {str(k): int(v) for k, v in Counter(bad["source"]).items()},
        "item_ids": [int(i) for i in bad["item_id"][:1000]]}
    if record is not None:
        record.append(payload)
        return
    log_event(project, OVERRIDE_EVENT, payload, actor=actor)


def merged_override(payloads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One override event for several checks of one operation (an export's evaluation
    splits and its marked items): the sets named, the machine labels counted once."""
    ids = sorted({int(i) for p in payloads for i in p.get("item_ids") or []})
    splits = sorted({str(x) for p in payloads for x in (p.get("splits") or [])})
    sources: Counter[str] = Counter()
    for p in payloads:
        sources.update({str(k): int(v) for k, v in (p.get("sources") or {}).items()})
    return {"what": "; ".join(dict.fromkeys(str(p["what"]) for p in payloads)),
            "splits": splits or None, "reason": str(payloads[0]["reason"]),
            "machine_labels": len(ids), "labels": max(int(p["labels"]) for p in payloads),
            "sources": dict(sources), "item_ids": ids[:1000]}


def mark_evaluation(project: Project, item_ids: Iterable[int], *, name: str = "evaluation",
                    actor: str = "system") -> None:
    """Mark ``item_ids`` as the evaluation set ``name`` (human-only from now on).

    Marking again under the same name replaces the set (the old marking stays in
    the log)."""
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        raise ValidationError(f"mark_evaluation({name!r}): no item ids given")
    have = set(project.items()["id"].astype(int)) if ids else set()
    missing = [i for i in ids if i not in have]
    if missing:
        raise ValidationError(f"mark_evaluation({name!r}): items {missing[:10]} are not in "
                              f"project {project.name!r}; add them first")
    log_event(project, EVALUATION_EVENT, {"name": str(name), "item_ids": ids,
                                          "human_only": True}, actor=actor)


def evaluation_sets(project: Project) -> dict[str, list[int]]:
    """The project's marked evaluation sets, by name."""
    out: dict[str, list[int]] = {}
    for e in events(project, EVALUATION_EVENT):
        out[str(e.get("name"))] = [int(i) for i in e.get("item_ids", [])]
    return out


def evaluation_items(project: Project, name: str | None = None) -> set[int]:
    """The items of the evaluation set ``name`` (all sets if None)."""
    sets = evaluation_sets(project)
    if name is not None:
        if name not in sets:
            raise ValidationError(f"project {project.name!r} has no evaluation set {name!r} "
                                  f"(it has {sorted(sets)}); mark one with mark_evaluation")
        return set(sets[name])
    return {i for ids in sets.values() for i in ids}


def check_evaluation_set(project: Project, *, name: str | None = None,
                         item_ids: Iterable[int] | None = None, allow_machine: bool = False,
                         reason: str | None = None, actor: str = "system") -> pd.DataFrame:
    """The final labels (``"latest"`` policy, every source) of the evaluation items,
    checked by :func:`check_human_only`; returns them (one row per labeled item).

    ``item_ids`` (default: the marked set ``name``, or every marked set) picks the
    items."""
    ids = set(int(i) for i in item_ids) if item_ids is not None else evaluation_items(
        project, name)
    final = final_annotations(project.annotations(), item_ids=ids)
    check_human_only(final, allow_machine=allow_machine, reason=reason, project=project,
                     actor=actor, what=f"evaluation set {name!r}" if name else None)
    return final


def overrides(project: Project) -> pd.DataFrame:
    """Every recorded override of the guard: when, who, why, how many labels."""
    rows = events(project, OVERRIDE_EVENT)
    return pd.DataFrame([{"created_at": r["_at"], "actor": r["_actor"], "what": r.get("what"),
                          "reason": r.get("reason"), "machine_labels": r.get("machine_labels"),
                          "item_ids": r.get("item_ids")} for r in rows],
                        columns=["created_at", "actor", "what", "reason", "machine_labels",
                                 "item_ids"])


__all__ = ["HUMAN_SOURCES", "MACHINE_SOURCES", "CircularValidationError", "check_evaluation_set",
           "check_human_only", "evaluation_items", "evaluation_sets", "label_rows",
           "machine_labels", "mark_evaluation", "merged_override", "overrides"]
