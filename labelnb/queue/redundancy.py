"""Adaptive redundancy, wired into the queue (policy in
:mod:`labelnb.metrics.redundancy`).

:func:`escalate` looks at every item that has its one human label and no decision yet:
accepted items get a ``consensus`` annotation (tier ``model_agreed``, with the reason);
escalated items get ``policy.extra`` more annotate tasks (more overlap slots) with the
item's routing (language, qualification, focus label, difficulty, deadline and base
priority of its first task; the priority computed by the routing policy as for a new
item), and an ``escalated`` event records why. Escalated items are then decided by
``project.consensus()`` like any item with overlap. What a run writes is one
transaction under the project's lock that checks each item again first: two runs that
overlap escalate or accept an item once.

Left alone (no row, nothing stored): gold questions (their answer is known, see
:mod:`labelnb.team.gold`; extra tasks would put them in everyone's pool), items whose
label a reviewer corrected (the correction is the final label, tier ``single``: the
model never outranks a reviewer) and items whose label still waits for its review (the
reviewer's verdict comes first; run ``escalate()`` again once it is in).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from labelnb.errors import ValidationError
from labelnb.metrics.redundancy import AdaptiveRedundancy
from labelnb.queue import queries as q
from labelnb.queue.consensus import routed_task, task_routing
from labelnb.team.gold import Gold
from labelnb.types import Annotation, Region

if TYPE_CHECKING:

    from labelnb.project import Project

COLUMNS = ["item_id", "decision", "reason", "confidence"]


def escalate(project: Project, policy: AdaptiveRedundancy | None = None, *,
             model_version: str | None = None) -> pd.DataFrame:
    pol = policy or AdaptiveRedundancy()
    kind = project.schema.kind
    tasks = project.tasks()
    anns = project.annotations()
    if tasks.empty or anns.empty:
        return pd.DataFrame(columns=COLUMNS)
    annotate = tasks[tasks["stage"] == "annotate"]
    slots = annotate.groupby("item_id").size()
    done = annotate[annotate["status"] == "done"].groupby("item_id").size()
    decided = set(anns.loc[anns["source"] == "consensus", "item_id"].astype(int))
    human = anns[(anns["source"] == "human") & anns["task_id"].isin(annotate["id"])]
    gold = set(Gold(project).truth())
    corrected = _corrected(anns)
    in_review = _in_review(tasks)
    preds = project.predictions()
    if model_version is not None:
        known = sorted(set(preds["model_version"])) if len(preds) else []
        if model_version not in known:  # a typo would escalate every item
            raise ValidationError(
                f"escalate(): field 'model_version' is {model_version!r}, which has no "
                f"predictions in project {project.name!r}; known: {known or 'none'}. Fix: "
                "give one of them, or add_predictions() first")
        preds = preds[preds["model_version"] == model_version]
    now = datetime.now(UTC)
    rows = []
    accepted: list[Annotation] = []
    escalated: list[tuple[int, int, str]] = []  # (item, extra slots, reason)
    # each item's newest human label and newest prediction, found once (a mask over the
    # whole frames per item made a run quadratic: 8,000 items took 15 s)
    newest_label = _last_by_item(human, "submitted_at")
    newest_pred = _last_by_item(preds, "id")
    for item_key, n in zip(slots.index, slots, strict=True):
        item = int(item_key)
        if n != 1 or int(done.get(item, 0)) != 1 or item in decided or item in gold:
            continue
        ann = newest_label.get(item)
        if ann is None:
            continue
        if str(ann["id"]) in corrected or str(ann["id"]) in in_review:
            continue
        regs = [Region.from_json(r) for r in ann["regions"]]
        last = newest_pred.get(item)
        model = conf = None
        if last is not None:
            model = [Region.from_json(r) for r in last["regions"]]
            scores = [r.score for r in model if r.score is not None]
            conf = (float(last["score"]) if pd.notna(last["score"])
                    else (sum(scores) / len(scores) if scores else None))
        d = pol.decide(regs, model, conf, kind)
        rows.append({"item_id": item, "decision": "accept" if d.accept else "escalate",
                     "reason": d.reason, "confidence": conf})
        if d.accept:
            accepted.append(Annotation(
                item_id=item, regions=tuple(regs), author="consensus", source="consensus",
                created_at=now, schema_version=project.schema_version,
                meta={"tier": "model_agreed", "confidence": conf, "reason": d.reason,
                      "based_on": [str(ann["id"])], "method": "adaptive"}))
        else:
            escalated.append((item, d.extra, d.reason))
    if accepted or escalated:
        _apply(project, accepted, escalated, pol.extra, now)
    return pd.DataFrame(rows, columns=COLUMNS)


def _apply(project: Project, accepted: list[Annotation],
           escalated: list[tuple[int, int, str]], extra: int, now: datetime) -> None:
    """Write the decisions in one transaction under the project's lock (a second
    ``escalate()`` waits for it, then finds what this one wrote): each item is checked
    again first, and one that meanwhile got a consensus annotation or more than its one
    annotate slot (another run decided it) is left as it is. An escalated item's new
    slots keep its routing (language, qualification, focus label, difficulty, deadline,
    base priority; the priority computed as for a new item)."""
    items = sorted({a.item_id for a in accepted} | {i for i, _, _ in escalated})
    # read before the write: nothing but the write transaction's own connection is used
    # inside it (an in-memory SQLite database has only the one)
    routing = task_routing(project, [i for i, _, _ in escalated])
    fields = {item: routed_task(project, r) for item, r in routing.items()}
    with project.atomic(), project._write() as conn:
        q.lock_project(conn, project.id)
        slots: dict[int, int] = {}
        for t in q.annotate_slots(conn, project.id, items):
            slots[int(t.item_id)] = slots.get(int(t.item_id), 0) + 1
        settled = set(q.consensus_ids_by_item(conn, project.id, items))
        fresh = {i for i in items if slots.get(i, 0) == 1 and i not in settled}
        keep = [a for a in accepted if a.item_id in fresh]
        if keep:
            project.add_annotations(keep, event=("model_agreed", "redundancy",
                                                 {"items": [a.item_id for a in keep][:100]}))
        go = [(item, n, reason) for item, n, reason in escalated if item in fresh]
        q.insert_tasks(conn, [dict(project_id=project.id, item_id=item, stage="annotate",
                                   slot=s, status="open", created_at=now, attempts=0,
                                   **fields.get(item, {"priority": 1.0, "base_priority": 1.0}))
                              for item, n, _ in go for s in range(1, 1 + n)])
        q.insert_events(conn, [dict(project_id=project.id, kind="escalated",
                                    actor="redundancy", item_id=item, task_id=None,
                                    payload={"reason": reason, "extra": extra},
                                    created_at=now) for item, _, reason in go])


def _last_by_item(df: pd.DataFrame, order: str) -> dict[int, dict[str, Any]]:
    """Each item's last row of ``df`` by ``order`` (of equal values, the last in the
    frame's order), as a record."""
    if df.empty:
        return {}
    last = df.sort_values(order, kind="stable").groupby("item_id", sort=False).tail(1)
    return {int(r["item_id"]): {str(k): v for k, v in r.items()}
            for r in last.to_dict("records")}


def _corrected(anns: pd.DataFrame) -> set[str]:
    """Ids of the annotations a reviewer corrected (a rejected correction does not
    count): their chain of corrections ends in the final label, which
    ``project.consensus()`` reports (tier ``single``, status ``corrected``)."""
    if "corrects" not in anns.columns:
        return set()
    fixes = anns[anns["corrects"].notna() & (anns["status"] != "reject")]
    return {str(x) for x in fixes["corrects"]}


def _in_review(tasks: pd.DataFrame) -> set[str]:
    """Ids of the annotations whose review task is not done yet."""
    if "target_annotation_id" not in tasks.columns:
        return set()
    open_ = tasks[(tasks["stage"] == "review") & tasks["status"].isin(("open", "leased"))
                  & tasks["target_annotation_id"].notna()]
    return {str(x) for x in open_["target_annotation_id"]}


__all__ = ["COLUMNS", "escalate"]
