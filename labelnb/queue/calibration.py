"""Annotator calibration against consensus.

:func:`calibrate` scores each annotator's recent annotations (a rolling window) against
the final labels of items that reached consensus (unanimous, majority or adjudicated),
overall and per label class, and writes the result into their profile (``accuracy``
and ``skills``), which the routing policy reads: an annotator below the expert bar
stops getting the hard tasks, and one weak on a class stops getting items whose
``focus_label`` is that class.

Below ``threshold`` (default 0.90) an annotator is flagged (an audit event) and, with
``retrain=True``, gets a retraining queue: one read-and-acknowledge task per recent
mistake (``project.retraining_queue(name)``; ``claim()`` shows the item and the
mistaken annotation, ``project.consensus()`` has the agreed label, and
``acknowledge()`` closes it). ``skip()`` closes one too, as seen without an
acknowledgement (event ``retraining_skipped``): a retraining task is its annotator's
alone, so it is never given back to the pool, and its mistake is not queued again.

Gold questions (:mod:`labelnb.team.gold`) count here too: for a gold item the known
answer is the truth, in place of consensus, and each annotator's gold record is
reported beside (``gold_n``, ``gold_accuracy``). Under team security reading the
answers is for admins, so calibration is an admin's job there.
"""

from __future__ import annotations

import numbers
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from labelnb.errors import ValidationError
from labelnb.metrics.tiers import Agreement, agree
from labelnb.queue import queries as q
from labelnb.types import Region

if TYPE_CHECKING:
    from labelnb.project import Project

COLUMNS = ["annotator", "n", "accuracy", "per_label", "flagged", "retraining_tasks", "gold_n",
           "gold_accuracy"]


def calibrate(project: Project, *, threshold: float = 0.90, window: int = 200,
              min_items: int = 5, retrain: bool = True,
              agreement: Agreement | None = None) -> pd.DataFrame:
    """Rolling accuracy against consensus per annotator and label class; updates
    profiles, flags those below ``threshold`` and queues their retraining tasks."""
    if (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
            or not 0.0 < threshold <= 1.0):
        raise ValidationError(f"calibrate(): field 'threshold' is {threshold!r}; give the "
                              "accuracy below which an annotator is flagged, in (0, 1]")
    for name, v in (("window", window), ("min_items", min_items)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValidationError(f"calibrate(): field {name!r} is {v!r}; give a whole "
                                  "number >= 1")
    with project.store.write() as conn:
        healed = q.close_skipped_retraining(conn, project.id, datetime.now(UTC))
        if healed:
            q.insert_event(conn, project_id=project.id, kind="retraining_skipped",
                           actor="calibration", now=datetime.now(UTC),
                           payload={"tasks": healed, "why": "skipped before a skip closed "
                                    "a retraining task"})
    kind = project.schema.kind
    ag = agreement or Agreement(**project.settings.get("agreement", {}))
    final = project.consensus(queue_tasks=False)
    # a consensus that a reviewer rejected (now with an expert) is no reference, nor is
    # one of a single label (overlap 1): it would grade its annotator against themselves
    final = final[final["tier"].isin(["unanimous", "majority", "adjudicated"])
                  & (final["status"] != "adjudicating")
                  & ((final["n_annotations"] >= 2) | (final["tier"] == "adjudicated"))]
    truth: dict[int, list[Region]] = dict(zip(final["item_id"].astype(int), final["regions"],
                                              strict=True))
    from labelnb.team.gold import Gold

    gold_truth = Gold(project).truth()
    truth.update(gold_truth)  # a known answer beats any consensus
    anns = project.annotations(source="human")
    tasks = project.tasks()
    if anns.empty or not truth:
        return pd.DataFrame(columns=COLUMNS)
    stages = dict(zip(tasks["id"].astype(int), tasks["stage"], strict=True))
    # each annotator's own newest label of an item, as consensus counts it: a rejected
    # label that was reworked is scored once, by its rework (a label still rejected,
    # waiting for its rework, is not scored)
    from labelnb.queue.consensus import latest_human

    raw = latest_human(anns, stages)
    raw = raw[raw["item_id"].isin(truth) & (raw["status"] != "reject")]
    raw = raw.sort_values("submitted_at")
    retraining = set(tasks.loc[tasks["stage"] == "retrain", "target_annotation_id"].dropna())
    rows = []
    now = datetime.now(UTC)
    for author, mine in raw.groupby("author", sort=True):
        recent = mine.tail(window)
        scored = []
        for _, r in recent.iterrows():
            gold = truth[int(r["item_id"])]
            regs = [Region.from_json(x) for x in r["regions"]]
            scored.append((r, agree(regs, gold, kind, ag), [g.label for g in gold]))
        n = len(scored)
        acc = sum(ok for _, ok, _ in scored) / n
        on_gold = [ok for r, ok, _ in scored if int(r["item_id"]) in gold_truth]
        per: dict[str, list[bool]] = {}
        for _, ok, labels in scored:
            for lab in set(labels):
                per.setdefault(lab, []).append(ok)
        per_label = {lab: round(sum(v) / len(v), 4) for lab, v in sorted(per.items())}
        flagged = n >= min_items and acc < threshold
        name = str(author)
        project.annotators.ensure(name)
        project.annotators.update(name, accuracy=round(acc, 4), skills=per_label)
        queued = 0
        if flagged:
            mistakes = [r for r, ok, _ in scored if not ok and r["id"] not in retraining]
            with project.store.write() as conn:
                q.insert_event(conn, project_id=project.id, kind="calibration_flag",
                               actor="calibration", now=now,
                               payload={"annotator": name, "accuracy": round(acc, 4),
                                        "threshold": threshold, "n": n})
                if retrain and mistakes:
                    q.insert_tasks(conn, [dict(
                        project_id=project.id, item_id=int(r["item_id"]), stage="retrain",
                        slot=0, status="open", priority=0.0, base_priority=0.0,
                        reserved_for=name, target_annotation_id=str(r["id"]),
                        created_at=now, attempts=0) for r in mistakes])
                    queued = len(mistakes)
                    q.insert_event(conn, project_id=project.id, kind="retraining_queued",
                                   actor="calibration", now=now,
                                   payload={"annotator": name, "tasks": queued})
        rows.append({"annotator": name, "n": n, "accuracy": round(acc, 4),
                     "per_label": per_label, "flagged": flagged, "retraining_tasks": queued,
                     "gold_n": len(on_gold),
                     "gold_accuracy": (round(sum(on_gold) / len(on_gold), 4) if on_gold
                                       else None)})
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["COLUMNS", "calibrate"]
