"""The tiered consensus workflow, wired into the queue.

Each item is labeled by ``overlap`` blind annotators (default 3 when consensus is
used). Once all of them are in, :func:`run_consensus` decides the item's tier with
:func:`labelnb.metrics.tiers.decide`:

* **unanimous**: the label is accepted (a ``consensus`` annotation is stored);
* **majority**: the majority's label is accepted and a review task is queued on it
  (a reviewer may approve it, correct it, or reject it, which sends it to an expert);
* **none**: an adjudication task goes to an expert (role ``lead`` or the ``expert``
  qualification) through ``project.adjudication_queue(name)``; their annotation is
  the final label (tier ``adjudicated``), or a reviewer's correction of it (status
  ``corrected``).

An item labeled by one annotator only (overlap 1) has nothing to agree on: tier
``single``, its label (or a reviewer's correction of it) accepted as it is, confidence
``None``, no consensus annotation stored (``consensus_id`` is that annotation's id, as
it is the expert's for an adjudicated item; adaptive redundancy's ``model_agreed``
stays as it was).

A gold question (:mod:`labelnb.team.gold`) has a known answer: that is its final label
(tier ``gold``, nothing stored or queued); its annotators' votes only grade them.

Raw annotations are never touched: the consensus is a new annotation with
``source="consensus"`` whose ``meta`` records the tier, the confidence and the ids it
was built from. Running it again is idempotent.

``confidence`` is the share of annotators in the largest agreeing group (with
``method="dawid_skene"``, the posterior of the chosen label), rounded to 6 decimals
for every tier (``2/3`` reads ``0.666667``, for tier ``none`` as for ``majority``);
``1.0`` for an adjudicated item and ``None`` while an item waits for annotators.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from labelnb.errors import ValidationError
from labelnb.metrics import DawidSkene, DegenerateWarning
from labelnb.metrics.tiers import Agreement, Decision, Tier, decide, fuse
from labelnb.queue import queries as q
from labelnb.types import Annotation, Choice, Region

if TYPE_CHECKING:
    from labelnb.project import Project

Method = Literal["majority", "dawid_skene"]
COLUMNS = ["item_id", "tier", "labels", "regions", "confidence", "n_annotations",
           "consensus_id", "status"]


def latest_human(df: pd.DataFrame, stages: dict[int, str]) -> pd.DataFrame:
    """Per item and author, the newest annotate-stage human annotation (a rework after
    a rejection replaces the rejected one)."""
    if df.empty:
        return df
    st = df["task_id"].map(lambda t: stages.get(int(t)) if pd.notna(t) else None)
    raw = df[(df["source"] == "human") & (st == "annotate")]
    return raw.sort_values("submitted_at").groupby(["item_id", "author"], sort=False).tail(1)


def run_consensus(project: Project, *, method: Method = "majority",
                  agreement: Agreement | None = None, queue_tasks: bool = True,
                  item_ids: list[int] | None = None) -> pd.DataFrame:
    """Decide every item's tier and final label; queue reviews and adjudications."""
    if method not in ("majority", "dawid_skene"):
        raise ValidationError(f"consensus(): method {method!r}; expected 'majority' or "
                              "'dawid_skene'")
    kind = project.schema.kind
    if method == "dawid_skene" and kind not in ("choice",):
        raise ValidationError(f"consensus(): method 'dawid_skene' needs a 'choice' project; "
                              f"this one is {kind!r} (use method='majority')")
    ag = agreement or Agreement(**project.settings.get("agreement", {}))
    anns = project.annotations()
    if item_ids is not None:
        anns = anns[anns["item_id"].isin(item_ids)]
    tasks = project.tasks()
    stages = dict(zip(tasks["id"].astype(int), tasks["stage"], strict=True)) if len(tasks) \
        else {}
    overlap = (tasks[tasks["stage"] == "annotate"].groupby("item_id").size()
               if len(tasks) else pd.Series(dtype=int))
    adjudicating = set(tasks.loc[tasks["stage"] == "adjudicate", "item_id"].astype(int)) \
        if len(tasks) else set()
    raw = latest_human(anns, stages)
    # a rejected label is back with its author: it counts once reworked (the item is
    # "in rework" meanwhile, not gone)
    in_rework = set(raw.loc[raw["status"] == "reject", "item_id"].astype(int)) if len(raw) \
        else set()
    if len(raw):
        raw = raw[raw["status"] != "reject"]
    by_id = anns.set_index("id") if len(anns) else anns
    ds_labels: dict[int, tuple[str, float]] = {}
    if method == "dawid_skene" and len(raw):
        long = pd.DataFrame({"item": raw["item_id"], "annotator": raw["author"],
                             "label": [labels[0] if labels else None for labels in raw["labels"]]
                             }).dropna()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateWarning)
            # labels of an older schema version (a class since removed) still vote
            names = list(project.schema.names)
            removed = sorted(set(map(str, long["label"])) - set(names))
            model = DawidSkene(classes=names + removed).fit(long)
        probas = model.probas_.max(axis=1)
        for item, lab in zip(model.labels_.index, model.labels_, strict=True):
            ds_labels[int(item)] = (str(lab), float(probas[item]))

    gold = _gold_truth(project)
    rows: list[dict[str, Any]] = []
    #: item -> the stored annotation that carries its final label (a correction's chain
    #: end, an adjudication, a single label), for those who export it
    carriers: dict[int, str] = {}
    now = datetime.now(UTC)
    items = sorted((set(raw["item_id"].astype(int)) if len(raw) else set()) | in_rework)
    for item in items:
        mine = raw[raw["item_id"] == item]
        if item in gold:  # a gold question: its answer is known; the votes grade annotators
            rows.append({"item_id": item, "tier": "gold",
                         "labels": [r.label for r in gold[item]], "regions": gold[item],
                         "confidence": 1.0, "n_annotations": len(mine), "consensus_id": None,
                         "status": "accepted"})
            continue
        n_needed = int(overlap.get(item, 1))
        regions = [[Region.from_json(r) for r in regs] for regs in mine["regions"]]
        adj = _adjudication(anns, item, stages)
        if adj is not None:
            # a reviewer's correction of the expert's label is the final one
            fixed = _correction(anns, str(adj["id"]))
            final_ann = adj if fixed is None else fixed
            rows.append(_row(item, "adjudicated", final_ann, 1.0, len(mine),
                             str(final_ann["id"]),
                             "adjudicated" if fixed is None else "corrected"))
            carriers[item] = str(final_ann["id"])
            continue
        if len(mine) < n_needed or not len(mine):
            rows.append(_row(item, "pending", None, None, len(mine), None,
                             "in rework" if item in in_rework else "waiting"))
            continue
        one = str(mine["id"].iloc[0]) if len(mine) == 1 else None
        # a model-agreed label a reviewer corrected later is the correction's, not the
        # model's: the item is a single label again
        if one is not None and (_single(anns, item, one) or _correction(anns, one) is not None):
            # one annotator (overlap 1): nothing to agree on, so no consensus is made; the
            # label stands (or a reviewer's correction of it)
            ann = mine.iloc[0]
            fixed = _correction(anns, str(ann["id"]))
            final_ann = ann if fixed is None else fixed  # consensus_id: the one carrying it
            rows.append(_row(item, "single", final_ann, None, 1, str(final_ann["id"]),
                             "accepted" if fixed is None else "corrected"))
            carriers[item] = str(final_ann["id"])
            continue
        d = decide(regions, kind, ag)
        if item in ds_labels:
            d = _weighted(d, regions, *ds_labels[item])
        if d.tier == "none":
            if queue_tasks and item not in adjudicating:
                _queue_adjudication(project, item, now, reason="no majority")
                adjudicating.add(item)
            rows.append(_row(item, "none", None, d.confidence, len(mine), None,
                             "adjudicating"))
            continue
        group = [regions[i] for i in d.group]
        final: list[Region] = fuse(group, kind, ag)
        confidence = d.confidence
        if item in ds_labels:
            final = [Choice(ds_labels[item][0])]
        based_on = sorted(str(x) for x in mine["id"].iloc[list(d.group)])
        cons = _existing_consensus(anns, item, based_on)
        if cons is None and queue_tasks:
            cons = _store_consensus(project, item, final, d.tier, confidence, based_on, method,
                                    now)
            older = anns.loc[(anns["item_id"] == item) & (anns["source"] == "consensus"), "id"]
            if len(older):  # replaced: their open reviews would decide an old question
                with project.store.write() as conn:
                    q.cancel_open_reviews(conn, project.id, [str(x) for x in older])
            if d.tier == "majority":
                project.request_review(str(cons["id"]))
        tier = d.tier
        if cons is not None and isinstance(cons.get("meta"), dict):
            tier = cons["meta"].get("tier", tier)  # e.g. model_agreed (adaptive redundancy)
        status = "accepted" if tier in ("unanimous", "model_agreed") else "in review"
        cid = None if cons is None else str(cons["id"])
        if cons is not None:
            fixed = _correction(anns, cid)
            verdict = _review_status(by_id, cid)
            carriers[item] = str(cons["id"]) if fixed is None else str(fixed["id"])
            if fixed is not None:
                final = [Region.from_json(r) for r in fixed["regions"]]
                status = "corrected"
            elif verdict == "approve":
                status = "accepted"
            elif verdict == "reject":
                status = "adjudicating"
                if queue_tasks and item not in adjudicating:
                    _queue_adjudication(project, item, now, reason="consensus rejected")
                    adjudicating.add(item)
        rows.append({"item_id": item, "tier": tier, "labels": [r.label for r in final],
                     "regions": final, "confidence": _confidence(confidence),
                     "n_annotations": len(mine), "consensus_id": cid, "status": status})
    out = pd.DataFrame(rows, columns=COLUMNS)
    out.attrs["carriers"] = carriers
    return out


def _gold_truth(project: Project) -> dict[int, list[Region]]:
    """The gold items' answers; none where the caller may not read them (team security:
    answers are for admins, and the items look ordinary to everyone else)."""
    from sqlalchemy.exc import SQLAlchemyError

    from labelnb.errors import PermissionDenied
    from labelnb.team.gold import Gold

    try:
        return Gold(project).truth()
    except (SQLAlchemyError, PermissionDenied):
        if project.security is None:
            raise
        return {}


def _confidence(value: float | None) -> float | None:
    """Every ``confidence`` the workflow reports or stores: rounded to 6 decimals
    (``None`` stays ``None``)."""
    return None if value is None else round(float(value), 6)


def _row(item: int, tier: str, ann: Any, confidence: float | None, n: int, cid: str | None,
         status: str) -> dict[str, Any]:
    regions = [] if ann is None else [Region.from_json(r) for r in ann["regions"]]
    return {"item_id": item, "tier": tier, "labels": [r.label for r in regions],
            "regions": regions, "confidence": _confidence(confidence), "n_annotations": n,
            "consensus_id": cid, "status": status}


def _single(anns: pd.DataFrame, item: int, ann_id: str) -> bool:
    """Whether an item's one annotation stands alone: no consensus was stored on it but
    the one adaptive redundancy stores when the model agrees (tier ``model_agreed``)."""
    cons = _existing_consensus(anns, item, [ann_id])
    meta = cons.get("meta") if cons is not None else None
    return not (isinstance(meta, dict) and meta.get("tier") == "model_agreed")


def _adjudication(anns: pd.DataFrame, item: int, stages: dict[int, str]) -> Any:
    """The item's newest adjudication, unless a reviewer rejected it (then the expert's
    rework is awaited and the item is adjudicating again)."""
    mine = anns[anns["item_id"] == item]
    if mine.empty:
        return None
    st = mine["task_id"].map(lambda t: stages.get(int(t)) if pd.notna(t) else None)
    adj = mine[st == "adjudicate"]
    if adj.empty:
        return None
    newest = adj.sort_values("submitted_at").iloc[-1]
    return None if newest.get("status") == "reject" else newest


def _existing_consensus(anns: pd.DataFrame, item: int, based_on: list[str]) -> Any:
    mine = anns[(anns["item_id"] == item) & (anns["source"] == "consensus")]
    for _, r in mine.iterrows():
        meta = r["meta"] or {}
        if sorted(meta.get("based_on", [])) == based_on:
            return r
    return None


def _weighted(votes: Decision, regions: list[list[Region]], label: str,
              posterior: float) -> Decision:
    """The decision of ``method="dawid_skene"``: the group is the annotators who chose
    Dawid-Skene's label; ``unanimous`` when that is everyone, ``majority`` when its
    posterior is above one half (a weighted majority, reviewed as a majority is), else
    ``none``; the confidence is the posterior. If nobody chose it (the model's prior
    outweighed this item's votes), the votes' own decision stands."""
    group = tuple(i for i, regs in enumerate(regions) if [r.label for r in regs] == [label])
    if not group:
        return votes
    n = len(regions)
    tier: Tier = ("unanimous" if len(group) == n else "majority" if posterior > 0.5
                  else "none")
    return Decision(tier=tier, group=group, confidence=posterior, n=n)


def _correction(anns: pd.DataFrame, cid: str | None) -> Any:
    """The end of ``cid``'s chain of corrections (a correction may be corrected in turn;
    a rejected correction does not count), or None when nothing corrects it."""
    if cid is None or anns.empty:
        return None
    found, seen = None, {cid}
    while True:
        fixes = anns[(anns["corrects"] == cid) & (anns.get("status") != "reject")]
        if fixes.empty:
            return found
        found = fixes.sort_values("submitted_at").iloc[-1]
        cid = str(found["id"])
        if cid in seen:  # a cycle cannot be stored, but a loop must not hang on one
            return found
        seen.add(cid)


def _review_status(by_id: pd.DataFrame, cid: str | None) -> str | None:
    if cid is None or by_id.empty or cid not in by_id.index:
        return None
    return str(by_id.loc[cid, "status"])


def _store_consensus(project: Project, item: int, regions: list[Region], tier: str,
                     confidence: float, based_on: list[str], method: str,
                     now: datetime) -> dict[str, Any]:
    ann = Annotation(item_id=item, regions=tuple(regions), author="consensus",
                     source="consensus", created_at=now, schema_version=project.schema_version,
                     meta={"tier": tier, "confidence": _confidence(confidence),
                           "based_on": based_on, "method": method})
    project.add_annotations([ann], event=("consensus_stored", "consensus", {
        "tier": tier, "confidence": _confidence(confidence), "method": method,
        "based_on": based_on}))
    return {"id": ann.id}


def _queue_adjudication(project: Project, item: int, now: datetime, reason: str) -> None:
    with project.store.write() as conn:
        q.insert_tasks(conn, [dict(project_id=project.id, item_id=item, stage="adjudicate",
                                   slot=0, status="open", priority=5.0, base_priority=5.0,
                                   created_at=now, attempts=0)])
        q.insert_event(conn, project_id=project.id, kind="adjudication_queued",
                       actor="consensus", now=now, item_id=item, payload={"reason": reason})


__all__ = ["COLUMNS", "latest_human", "run_consensus"]
