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

``min_items`` (default 5) is how many graded items say something: below it an
annotator is neither flagged nor is their profile changed (the returned row still
reports what was measured), and a label class graded fewer than ``min_items`` times
keeps the skill the profile had for it (or none). One slip on the only item of a class
would otherwise bar the annotator from every task whose ``focus_label`` is that class.

A vote is not graded against a final label its own author made (an expert who
adjudicated, or a reviewer who corrected, an item they had labeled: the claim no longer
hands them such tasks, but older data may hold some). A retraining task still open
whose annotation agrees with the item's label now (the label changed since it was
queued: a majority rejected and adjudicated the other way, a correction) is cancelled,
with an event ``retraining_cancelled``; a leased one is left to its reader.

Gold questions (:mod:`labelnb.team.gold`) count here too: for a gold item the known
answer is the truth, in place of consensus, and each annotator's *first* answer is
graded, as :meth:`labelnb.team.gold.Gold.score` grades it (a rework after a review
would be graded on what the reviewer taught; the queue does not sample gold answers
for review either). Each annotator's gold record is reported beside (``gold_n``,
``gold_accuracy``). Under team security reading the answers is for admins, so
calibration is an admin's job there.
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
    """Rolling accuracy against consensus per annotator and label class; updates the
    profiles of annotators with at least ``min_items`` graded items (a class's skill
    once it has ``min_items`` of its own), flags those below ``threshold`` and queues
    their retraining tasks; cancels retraining tasks whose mistake is none any more."""
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
    # item -> the stored annotation that carries its final label (an adjudication, a
    # reviewer's correction, the consensus itself)
    carriers: dict[int, str] = dict(final.attrs.get("carriers", {}))
    # a consensus that a reviewer rejected (now with an expert) is no reference, nor is
    # one of a single label (overlap 1): it would grade its annotator against themselves
    final = final[final["tier"].isin(["unanimous", "majority", "adjudicated"])
                  & (final["status"] != "adjudicating")
                  & ((final["n_annotations"] >= 2) | (final["tier"] == "adjudicated"))]
    truth: dict[int, list[Region]] = dict(zip(final["item_id"].astype(int), final["regions"],
                                              strict=True))
    from labelnb.team.gold import Gold, first_answers

    gold_truth = Gold(project).truth()
    truth.update(gold_truth)  # a known answer beats any consensus
    anns = project.annotations(source="human")
    tasks = project.tasks()
    if anns.empty or not truth:
        return pd.DataFrame(columns=COLUMNS)
    stages = dict(zip(tasks["id"].astype(int), tasks["stage"], strict=True))
    now = datetime.now(UTC)
    _cancel_stale_retraining(project, tasks, anns, truth, kind, ag, now)
    # each annotator's own newest label of an item, as consensus counts it: a rejected
    # label that was reworked is scored once, by its rework (a label still rejected,
    # waiting for its rework, is not scored)
    from labelnb.queue.consensus import latest_human

    raw = latest_human(anns, stages)
    raw = raw[raw["item_id"].isin(truth) & ~raw["item_id"].isin(gold_truth)
              & (raw["status"] != "reject")]
    # a vote is not graded against a final label its own author made (an expert who
    # adjudicated, or a reviewer who corrected, an item they had labeled themselves)
    author_of = dict(zip(anns["id"].astype(str), anns["author"], strict=True))
    made_final = {item: author_of.get(cid) for item, cid in carriers.items()}
    own = raw["item_id"].map(lambda i: made_final.get(int(i)))
    raw = raw[own.isna() | (own != raw["author"])]
    # a gold question grades the first answer, as Gold.score does (a rework after a
    # review's feedback would be graded on what the reviewer taught)
    gold_raw = first_answers(project, gold_truth, anns=anns, stages=stages)
    parts = [f for f in (raw, gold_raw) if len(f)]
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    raw = pd.concat(parts).sort_values("submitted_at")
    # a cancelled retraining task (its answer agreed with a changed label) does not keep
    # the same mistake from being queued again if the label changes back
    retraining = set(tasks.loc[(tasks["stage"] == "retrain") & (tasks["status"] != "cancelled"),
                               "target_annotation_id"].dropna())
    rows = []
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
        profile = project.annotators.ensure(name)
        if n >= min_items:
            # too few graded items say nothing yet: routing keeps what it knew (a class
            # seen fewer than min_items times keeps its skill, or has none)
            skills = dict(profile.skills)
            skills.update({lab: round(sum(v) / len(v), 4) for lab, v in per.items()
                           if len(v) >= min_items})
            project.annotators.update(name, accuracy=round(acc, 4),
                                      skills=dict(sorted(skills.items())))
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


def _cancel_stale_retraining(project: Project, tasks: pd.DataFrame, anns: pd.DataFrame,
                             truth: dict[int, list[Region]], kind: str, ag: Agreement,
                             now: datetime) -> list[int]:
    """Cancel the open retraining tasks whose mistake is none any more: the item's label
    changed since they were queued (a majority rejected and adjudicated the other way, a
    correction) and the annotation they show now agrees with it. One event
    ``retraining_cancelled`` per task. Returns the cancelled task ids."""
    if tasks.empty:
        return []
    open_rt = tasks[(tasks["stage"] == "retrain") & (tasks["status"] == "open")]
    if open_rt.empty:
        return []
    by_id = dict(zip(anns["id"].astype(str), anns["regions"], strict=True))
    stale: dict[int, tuple[int, str, str]] = {}
    for tid, item, target, who in zip(open_rt["id"], open_rt["item_id"],
                                      open_rt["target_annotation_id"],
                                      open_rt["reserved_for"], strict=True):
        regs = by_id.get(str(target))
        ref = truth.get(int(item))
        if regs is None or ref is None:
            continue  # no settled label now: the task stays until there is one
        if agree([Region.from_json(x) for x in regs], ref, kind, ag):
            stale[int(tid)] = (int(item), str(target), str(who))
    if not stale:
        return []
    with project.store.write() as conn:
        done = q.cancel_retraining(conn, project.id, list(stale))
        for tid in done:
            item, target, who = stale[tid]
            q.insert_event(conn, project_id=project.id, kind="retraining_cancelled",
                           actor="calibration", now=now, item_id=item, task_id=tid,
                           payload={"annotator": who, "annotation_id": target,
                                    "why": "the annotation agrees with the item's label "
                                           "now (the label changed since it was queued)"})
    return done


__all__ = ["COLUMNS", "calibrate"]
