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

A vote that a reviewer corrected counts as its correction (the end of its chain of
corrections, as for a single label): the consensus is decided on the corrected labels
and ``based_on`` names the corrections (the raw vote stays as it was: calibration
grades it).

Raw annotations are never touched: the consensus is a new annotation with
``source="consensus"`` whose ``meta`` records the tier, the confidence and the ids it
was built from. Running it again is idempotent: an item keeps its newest consensus
while the votes it rests on stand; when they change, a new consensus replaces it (an
older one is never brought back), and the open reviews of the ones it replaces are
cancelled (event ``reviews_cancelled``), as they are when the item loses its majority.
A stored majority consensus that never got its review task gets one. What a run
writes is committed 500 items per transaction, each under the project's lock (see
:func:`run_consensus`); an item whose consensus cannot be stored (it fails validation:
a majority for a class :meth:`~labelnb.project.Project.set_schema` has since removed) is
reported with status ``not stored`` and a warning, and the others are written.

An adjudication is queued the one way a reviewer's rejection of a consensus queues one
(:func:`~labelnb.queue.queries.queue_adjudication`): with the item's language,
qualification and deadline, at the priority routing gives them from base 5, and only if
the item has none open or leased (checked under the item's row lock).

``confidence`` is the share of annotators in the largest agreeing group (with
``method="dawid_skene"``, the posterior of the chosen label), rounded to 6 decimals
for every tier (``2/3`` reads ``0.666667``, for tier ``none`` as for ``majority``);
``1.0`` for an adjudicated item and ``None`` while an item waits for annotators.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd

from labelnb.errors import ItemNotFound, ValidationError
from labelnb.metrics import DawidSkene, DegenerateWarning
from labelnb.metrics.tiers import Agreement, Decision, Tier, decide, fuse
from labelnb.queue import queries as q
from labelnb.types import Annotation, Choice, Region

if TYPE_CHECKING:
    from sqlalchemy import Connection

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
    """Decide every item's tier and final label; queue reviews and adjudications.

    The decisions are made from one read of the project; what they write (consensus
    annotations, the reviews they replace or need, adjudication tasks, events) is
    written :data:`APPLY_CHUNK` items per transaction, each under the project's lock,
    which checks each item again first, so two runs that overlap write each thing once
    (and annotators' claims get the database in between). An item whose consensus
    cannot be stored (a label the schema has since dropped) is skipped: status ``not
    stored`` and a warning that names it and why; the other items are written."""
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
    #: annotations with a review task that is or was live (open, leased, done): a
    #: majority consensus without one still needs its review
    reviewed = (set(tasks.loc[(tasks["stage"] == "review")
                              & tasks["status"].isin(("open", "leased", "done"))
                              & tasks["target_annotation_id"].notna(),
                              "target_annotation_id"].astype(str))
                if len(tasks) and "target_annotation_id" in tasks.columns else set())
    raw = latest_human(anns, stages)
    # a rejected label is back with its author: it counts once reworked (the item is
    # "in rework" meanwhile, not gone)
    in_rework = set(raw.loc[raw["status"] == "reject", "item_id"].astype(int)) if len(raw) \
        else set()
    if len(raw):
        raw = raw[raw["status"] != "reject"]
    # a vote a reviewer corrected counts as its correction (the end of its chain)
    raw = corrected_votes(anns, raw)
    #: each annotation's review verdict (approve, reject) or None
    verdicts = (dict(zip(anns["id"].astype(str), anns["status"], strict=True))
                if len(anns) and "status" in anns.columns else {})
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
    #: what this run writes, applied in one transaction at the end (see _apply)
    plans: list[_Plan] = []
    now = datetime.now(UTC)
    items = sorted((set(raw["item_id"].astype(int)) if len(raw) else set()) | in_rework)
    # each item's rows as plain records, split once: pandas masks per item and helper
    # cost about 6 ms an item (3,000 items took 20 s)
    raw_of = _records_by_item(raw, ("id", "item_id", "regions", "basis"))
    anns_of = _records_by_item(anns, ("id", "item_id", "task_id", "source", "status",
                                      "submitted_at", "corrects", "meta", "regions"))
    for item in items:
        mine = raw_of.get(item, [])
        item_anns = anns_of.get(item, [])  # a correction is of its target's item
        if item in gold:  # a gold question: its answer is known; the votes grade annotators
            rows.append({"item_id": item, "tier": "gold",
                         "labels": [r.label for r in gold[item]], "regions": gold[item],
                         "confidence": 1.0, "n_annotations": len(mine), "consensus_id": None,
                         "status": "accepted"})
            continue
        n_needed = int(overlap.get(item, 1))
        regions = [[Region.from_json(r) for r in vote["regions"]] for vote in mine]
        adj = _adjudication(item_anns, stages)
        if adj is not None:
            # a reviewer's correction of the expert's label is the final one
            fixed = _correction(item_anns, str(adj["id"]))
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
        one = str(mine[0]["id"]) if len(mine) == 1 else None
        # a model-agreed label a reviewer corrected later is the correction's, not the
        # model's: the item is a single label again
        if one is not None and (_single(item_anns, one)
                                or _correction(item_anns, one) is not None):
            # one annotator (overlap 1): nothing to agree on, so no consensus is made; the
            # label stands (or a reviewer's correction of it)
            ann = next(a for a in item_anns if str(a["id"]) == one)
            fixed = _correction(item_anns, one)
            final_ann = ann if fixed is None else fixed  # consensus_id: the one carrying it
            rows.append(_row(item, "single", final_ann, None, 1, str(final_ann["id"]),
                             "accepted" if fixed is None else "corrected"))
            carriers[item] = str(final_ann["id"])
            continue
        d = decide(regions, kind, ag)
        if item in ds_labels:
            d = _weighted(d, regions, *ds_labels[item])
        stored = _consensus_ids(item_anns)
        if d.tier == "none":
            # the votes changed since a consensus was stored (a rework, a correction): no
            # stored consensus stands, and their open reviews would decide an old question
            need_adj = item not in adjudicating
            if queue_tasks and (need_adj or stored):
                plans.append(_Plan(item, "none", seen=stored, reason="no majority",
                                   adjudicate=need_adj))
                adjudicating.add(item)
            rows.append(_row(item, "none", None, d.confidence, len(mine), None,
                             "adjudicating"))
            continue
        group = [regions[i] for i in d.group]
        final: list[Region] = fuse(group, kind, ag)
        confidence = d.confidence
        if item in ds_labels:
            final = [Choice(ds_labels[item][0])]
        # what the decision rests on: the votes, each as corrected by a reviewer
        based_on = sorted(str(mine[i]["basis"]) for i in d.group)
        cons = _existing_consensus(item_anns, based_on)
        if cons is None and queue_tasks:
            new = _consensus_annotation(project, item, final, d.tier, confidence, based_on,
                                        method, now)
            plans.append(_Plan(item, "store", seen=stored, annotation=new,
                               review=d.tier == "majority"))
            cons = {"id": new.id}
        tier = d.tier
        if cons is not None and isinstance(cons.get("meta"), dict):
            tier = cons["meta"].get("tier", tier)  # e.g. model_agreed (adaptive redundancy)
        status = "accepted" if tier in ("unanimous", "model_agreed") else "in review"
        cid = None if cons is None else str(cons["id"])
        if cons is not None:
            fixed = _correction(item_anns, cid)
            verdict = None if cid is None else verdicts.get(cid)
            carriers[item] = str(cons["id"]) if fixed is None else str(fixed["id"])
            if fixed is not None:
                final = [Region.from_json(r) for r in fixed["regions"]]
                status = "corrected"
            elif verdict == "approve":
                status = "accepted"
            elif verdict == "reject":
                status = "adjudicating"
                if queue_tasks and item not in adjudicating:
                    plans.append(_Plan(item, "adjudicate", reason="consensus rejected"))
                    adjudicating.add(item)
            elif (queue_tasks and tier == "majority" and cid in verdicts
                  and cid not in reviewed):
                # stored, but its review never queued (or cancelled while the item had
                # no majority): a majority is accepted only once reviewed
                plans.append(_Plan(item, "review", seen=stored, cid=cid))
        rows.append({"item_id": item, "tier": tier, "labels": [r.label for r in final],
                     "regions": final, "confidence": _confidence(confidence),
                     "n_annotations": len(mine), "consensus_id": cid, "status": status})
    if plans:
        adopted, skipped = _apply(project, plans, now)
        for r in rows:
            item = r["item_id"]
            if item in adopted and r["consensus_id"] is not None:
                # another run stored the item's consensus meanwhile: report the stored one
                r["consensus_id"] = adopted[item]
                if carriers.get(item) is not None:
                    carriers[item] = adopted[item]
            elif item in skipped:
                r["consensus_id"], r["status"] = None, "not stored"
                carriers.pop(item, None)
        if skipped:
            _warn_skipped(skipped)
    out = pd.DataFrame(rows, columns=COLUMNS)
    out.attrs["carriers"] = carriers
    return out


def _warn_skipped(skipped: dict[int, str]) -> None:
    """One warning for the items whose consensus a run could not store (status ``not
    stored`` in its frame), naming each (the first ten) and why."""
    shown = "; ".join(f"item {item}: {why}" for item, why in sorted(skipped.items())[:10])
    more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    warnings.warn(f"consensus(): {len(skipped)} item(s) decided but not stored (status "
                  f"'not stored'; the other items were stored): {shown}{more}. Fix the "
                  "schema or the votes and run consensus() again", UserWarning, stacklevel=4)


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


Record = dict[str, Any]  # one row of project.annotations() (or of its votes)


def _records_by_item(df: pd.DataFrame, columns: tuple[str, ...]) -> dict[int, list[Record]]:
    """``df``'s rows as records of ``columns`` (those it has), split by ``item_id``,
    each item's in ``df``'s order."""
    out: dict[int, list[Record]] = {}
    if df.empty:
        return out
    for rec in df[[c for c in columns if c in df.columns]].to_dict("records"):
        out.setdefault(int(rec["item_id"]), []).append(cast(Record, rec))
    return out


def _single(anns: list[Record], ann_id: str) -> bool:
    """Whether an item's one annotation stands alone (``anns``: the item's): no
    consensus was stored on it but the one adaptive redundancy stores when the model
    agrees (tier ``model_agreed``)."""
    cons = _existing_consensus(anns, [ann_id])
    meta = cons.get("meta") if cons is not None else None
    return not (isinstance(meta, dict) and meta.get("tier") == "model_agreed")


def _newest(anns: list[Record]) -> Record:
    """The last submitted (of equal times, the last in ``anns``' order)."""
    return sorted(anns, key=lambda a: a["submitted_at"])[-1]


def _adjudication(mine: list[Record], stages: dict[int, str]) -> Record | None:
    """The item's newest adjudication (``mine``: the item's annotations), unless a
    reviewer rejected it (then the expert's rework is awaited and the item is
    adjudicating again)."""
    adj = [a for a in mine
           if pd.notna(a["task_id"]) and stages.get(int(a["task_id"])) == "adjudicate"]
    if not adj:
        return None
    newest = _newest(adj)
    return None if newest.get("status") == "reject" else newest


def _existing_consensus(anns: list[Record], based_on: list[str]) -> Record | None:
    """The item's newest consensus (``anns``: the item's annotations) if it rests on
    ``based_on``, else None: an older one that a newer consensus replaced (another
    method, other votes) is not brought back (its review was cancelled when it was
    replaced)."""
    mine = [a for a in anns if a["source"] == "consensus"]
    if not mine:
        return None
    newest = mine[-1]  # annotations() orders by submitted_at, created_at, id
    meta = newest["meta"] if isinstance(newest["meta"], dict) else {}
    return newest if sorted(meta.get("based_on", [])) == based_on else None


def _consensus_ids(anns: list[Record]) -> list[str]:
    """The ids of the item's consensus annotations (``anns``: the item's), oldest
    first."""
    return [str(a["id"]) for a in anns if a["source"] == "consensus"]


def corrected_votes(anns: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """``raw`` (one vote per item and author, :func:`latest_human`) with each vote a
    reviewer corrected replaced by the end of its chain of corrections (its regions and
    labels), and a column ``basis``: the id of the annotation the vote now stands for
    (the correction, or the vote itself). ``id`` stays the vote's own. A correction made
    by one of the item's own voters does not count: a reviewer who also labeled the
    item would otherwise outvote the others by correcting their votes to their own
    (:func:`vote_bases` walks every vote's chain at once)."""
    raw = raw.copy()
    raw["basis"] = [str(x) for x in raw["id"]] if len(raw) else pd.Series(dtype=object)
    if raw.empty or "corrects" not in anns.columns:
        return raw
    fixes = anns[anns["corrects"].notna()]
    if "status" in fixes.columns:
        fixes = fixes[fixes["status"] != "reject"]  # a rejected correction does not count
    if fixes.empty:
        return raw
    fixes = fixes.assign(corrects=fixes["corrects"].astype(str)).sort_values(
        "submitted_at", kind="stable")
    basis = vote_bases(fixes, raw)
    changed = basis != raw["basis"].to_numpy(dtype=object)
    if not changed.any():
        return raw
    by_id = fixes.set_index(fixes["id"].astype(str))
    regions, labels = list(raw["regions"]), list(raw["labels"])
    for n in np.flatnonzero(changed):
        fixed = by_id.loc[basis[n]]
        regions[n], labels[n] = fixed["regions"], fixed["labels"]
    return raw.assign(basis=list(basis), regions=regions, labels=labels)


def vote_bases(fixes: pd.DataFrame, votes: pd.DataFrame) -> np.ndarray:
    """For each vote (rows with ``id``, ``item_id``, ``author``: one per item and
    author, every voter of each item among them), the id of the end of its chain of
    corrections, or its own id (the ``basis`` of :func:`corrected_votes`), for all
    votes at once. ``fixes``: the corrections that count (not rejected), in submission
    order, ``corrects`` as text; at each step the newest correction
    of the current annotation whose author did not vote on the item is taken."""
    basis = votes["id"].astype(str).to_numpy(dtype=object).copy()
    if fixes.empty or votes.empty:
        return basis
    fx = pd.DataFrame({"corrects": fixes["corrects"].to_numpy(dtype=object),
                       "fix": fixes["id"].astype(str).to_numpy(dtype=object),
                       "author": fixes["author"].astype(str).to_numpy(dtype=object),
                       "order": np.arange(len(fixes))})
    voters = pd.DataFrame({"item_id": votes["item_id"].to_numpy(),
                           "author": votes["author"].astype(str).to_numpy(dtype=object),
                           "_voter": True}).drop_duplicates(["item_id", "author"])
    cur = pd.DataFrame({"pos": np.arange(len(votes)), "item_id": votes["item_id"].to_numpy(),
                        "corrects": basis})
    for _ in range(len(fx)):  # a chain is at most as long as there are corrections
        step = cur.merge(fx, on="corrects")
        if step.empty:
            break
        step = step.merge(voters, on=["item_id", "author"], how="left")
        step = step[step["_voter"].isna()]  # one of the item's own voters: no count
        step = step.sort_values("order", kind="stable").drop_duplicates("pos", keep="last")
        if step.empty:
            break
        basis[step["pos"].to_numpy()] = step["fix"].to_numpy(dtype=object)
        cur = pd.DataFrame({"pos": step["pos"].to_numpy(), "item_id": step["item_id"].to_numpy(),
                            "corrects": step["fix"].to_numpy(dtype=object)})
    return basis


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


def _correction(anns: list[Record], cid: str | None) -> Record | None:
    """The end of ``cid``'s chain of corrections (``anns``: the item's annotations; a
    correction may be corrected in turn; a rejected correction does not count), or
    None when nothing corrects it."""
    if cid is None:
        return None
    found, seen = None, {cid}
    while True:
        fixes = [a for a in anns if a.get("corrects") == cid and a.get("status") != "reject"]
        if not fixes:
            return found
        found = _newest(fixes)
        cid = str(found["id"])
        if cid in seen:  # a cycle cannot be stored, but a loop must not hang on one
            return found
        seen.add(cid)


def _consensus_annotation(project: Project, item: int, regions: list[Region], tier: str,
                          confidence: float, based_on: list[str], method: str,
                          now: datetime) -> Annotation:
    return Annotation(item_id=item, regions=tuple(regions), author="consensus",
                      source="consensus", created_at=now,
                      schema_version=project.schema_version,
                      meta={"tier": tier, "confidence": _confidence(confidence),
                            "based_on": based_on, "method": method})


@dataclass(slots=True)
class _Plan:
    """One item's write, decided from the run's read and checked again under the lock.

    ``store``: store ``annotation`` (replacing the item's consensus annotations
    ``seen``, whose open reviews are cancelled) and queue its review if ``review``;
    ``none``: the item has no majority: cancel the open reviews of its consensus
    annotations and queue an adjudication if ``adjudicate``; ``adjudicate``: queue an
    adjudication (``reason``); ``review``: queue the review of consensus ``cid``."""

    item: int
    action: Literal["store", "none", "adjudicate", "review"]
    seen: list[str] = field(default_factory=list)
    annotation: Annotation | None = None
    review: bool = False
    reason: str = ""
    adjudicate: bool = True
    cid: str | None = None


#: items a consensus run writes per transaction: each transaction holds SQLite's write lock
#: (and the project's lock) for its chunk only, so annotators' claims and submits get
#: their turn in between (one transaction of 65,000 items held it past their busy timeout)
APPLY_CHUNK = 500


def _apply(project: Project, plans: list[_Plan], now: datetime
           ) -> tuple[dict[int, str], dict[int, str]]:
    """Write ``plans``, :data:`APPLY_CHUNK` items per transaction, each under the
    project's lock (a second ``consensus()`` waits for it, then finds what this one
    wrote). Each item is checked again first: an item whose consensus annotations
    changed since the read was decided by another run (nothing is written for it; the
    item maps to its newest consensus in what is returned); an adjudication is queued
    only if none is open or leased (:func:`~labelnb.queue.queries.queue_adjudication`,
    under the item's row lock, as a reviewer's rejection queues one); a review only if
    the consensus has none. A consensus annotation that cannot be stored (it fails
    validation: a label the schema has since dropped, say) is skipped with everything
    else of its item, and the rest of the run goes on.

    Returns the adopted consensus ids, and the items skipped with the reason."""
    adopted: dict[int, str] = {}
    skipped: dict[int, str] = {}
    by_item: dict[int, list[_Plan]] = {}
    for plan in plans:
        by_item.setdefault(plan.item, []).append(plan)
    items = sorted(by_item)
    # read before the writes: nothing but the write transaction's own connection is used
    # inside one (an in-memory SQLite database has only the one)
    adj_fields = adjudication_fields(project, sorted({
        p.item for p in plans if p.action == "adjudicate" or (p.action == "none"
                                                              and p.adjudicate)}))
    for i in range(0, len(items), APPLY_CHUNK):
        chunk = items[i:i + APPLY_CHUNK]
        with project.atomic(), project._write() as conn:
            q.lock_project(conn, project.id)
            stored = q.consensus_ids_by_item(conn, project.id, chunk)
            todo: list[tuple[_Plan, list[str]]] = []
            for item in chunk:
                ids = stored.get(item, [])
                for plan in by_item[item]:
                    if plan.action in ("store", "none") and ids != plan.seen:
                        # decided by another run since the read: nothing to write
                        if plan.action == "store":
                            adopted[item] = ids[-1]  # append-only: ids holds more than seen
                        continue
                    todo.append((plan, ids))
            _store(project, [p for p, _ in todo if p.action == "store"], skipped)
            reviews: list[tuple[int, str]] = []  # (item, consensus id): reviews to queue
            for plan, ids in todo:
                if plan.item not in skipped:  # (its consensus could not be stored)
                    _apply_one(project, conn, plan, ids, now, adj_fields, reviews)
            _queue_reviews(project, conn, reviews, now)
    return adopted, skipped


def _stored_event(ann: Annotation) -> tuple[str, str, dict[str, Any]]:
    """The audit event of a stored consensus annotation (one per item)."""
    return ("consensus_stored", "consensus",
            {k: ann.meta[k] for k in ("tier", "confidence", "method", "based_on")})


def _store(project: Project, plans: list[_Plan], skipped: dict[int, str]) -> None:
    """Store the chunk's new consensus annotations in one
    :meth:`~labelnb.Project.add_annotations` (validated first, in a savepoint of its
    own), with an event per item; if one of them cannot be stored (a label the schema
    has since dropped, say), item by item, skipping only those that fail, with the
    reason."""
    anns = [p.annotation for p in plans if p.annotation is not None]
    if not anns:
        return
    try:
        project.add_annotations(anns, event=_stored_event)
    except (ValidationError, ItemNotFound):
        for ann in anns:
            try:
                project.add_annotations([ann], event=_stored_event)
            except (ValidationError, ItemNotFound) as e:
                skipped[ann.item_id] = str(e)


def _apply_one(project: Project, conn: Connection, plan: _Plan, ids: list[str],
               now: datetime, adj_fields: dict[int, dict[str, Any]],
               reviews: list[tuple[int, str]]) -> None:
    """Write one plan of :func:`_apply` (``ids``: its item's consensus annotations as
    stored now; a ``store`` plan's annotation is stored already, see :func:`_store`);
    the reviews to queue are added to ``reviews``."""
    if plan.action == "store":
        ann = plan.annotation
        assert ann is not None
        _cancel_reviews(conn, project.id, plan.item, ids, now,
                        reason=f"replaced by consensus {ann.id}")
        if plan.review:
            reviews.append((plan.item, ann.id))
    elif plan.action == "review":
        assert plan.cid is not None
        if ids[-1:] == [plan.cid] and not q.has_live_review(conn, project.id, plan.cid):
            reviews.append((plan.item, plan.cid))
    else:
        if plan.action == "none":
            _cancel_reviews(conn, project.id, plan.item, ids, now, reason="no majority")
        if plan.action == "adjudicate" or plan.adjudicate:
            q.queue_adjudication(conn, project_id=project.id, item_id=plan.item,
                                 actor="consensus", now=now, reason=plan.reason,
                                 fields=adj_fields[plan.item])


def _cancel_reviews(conn: Connection, project_id: int, item: int, ann_ids: list[str],
                    now: datetime, *, reason: str) -> None:
    """Cancel the open review tasks of these consensus annotations of ``item`` and log
    which (event ``reviews_cancelled``). A leased one is left to its reviewer."""
    # (one UPDATE ... RETURNING: the event names exactly what was cancelled)
    task_ids = q.cancel_open_reviews(conn, project_id, ann_ids)
    if not task_ids:
        return
    q.insert_event(conn, project_id=project_id, kind="reviews_cancelled", actor="consensus",
                   now=now, item_id=item, payload={"reason": reason, "task_ids": task_ids,
                                                   "annotation_ids": ann_ids})


def _queue_reviews(project: Project, conn: Connection, reviews: list[tuple[int, str]],
                   now: datetime) -> None:
    """What ``project.request_review(cid)`` writes for each ``(item, cid)``, in the
    caller's transaction (one statement for the tasks, one for the events)."""
    if not reviews:
        return
    project._queue_reviews(conn, [Annotation(item_id=item, author="consensus", id=cid)
                                  for item, cid in reviews], now)
    q.insert_events(conn, [dict(project_id=project.id, kind="review_requested",
                                actor="consensus", item_id=item, task_id=None,
                                payload={"annotation_id": cid, "author": "consensus"},
                                created_at=now) for item, cid in reviews])


def task_routing(project: Project, items: list[int]) -> dict[int, dict[str, Any]]:
    """Each item's routing fields (:data:`~labelnb.queue.queries.ROUTING_FIELDS`), from
    its first annotate task: what a task queued later for the item (an escalation's
    slot, an adjudication) keeps, so it reaches the same annotators (language,
    qualification, difficulty) by the same deadline."""
    if not items:
        return {}
    with project.store.read() as conn:
        return q.annotate_routing(conn, project.id, items)


def routed_task(project: Project, routing: dict[str, Any], *, base: float | None = None,
                supply: dict[str, int] | None = None) -> dict[str, Any]:
    """A task row's routing fields and ``priority`` (computed as
    :meth:`Project.add_items` does) from an item's routing (:func:`task_routing`);
    ``base`` replaces the base priority. ``supply``: a cache of each qualification's
    supply (active annotators who hold it), for a caller routing many tasks."""
    fields = {f: routing.get(f) for f in q.ROUTING_FIELDS}
    given = float(base if base is not None else fields["base_priority"] or 0.0)
    fields["base_priority"] = given
    skill = fields["required_skill"]
    n: int | None = None
    if skill:
        if supply is None:
            n = project.annotators.skill_supply(skill)
        else:
            if skill not in supply:
                supply[skill] = project.annotators.skill_supply(skill)
            n = supply[skill]
    fields["priority"] = project.routing.priority(
        difficulty=fields["difficulty"], deadline=fields["deadline"], skill_supply=n,
        base=given)
    return fields


def adjudication_fields(project: Project, items: list[int]) -> dict[int, dict[str, Any]]:
    """Each item's adjudication task routing, what
    :func:`~labelnb.queue.queries.queue_adjudication` takes: the item's language,
    qualification and deadline (:data:`~labelnb.queue.queries.ADJUDICATION_ROUTING`, from
    its first annotate task) and the priority the routing policy gives them, from base
    priority 5. Read outside the transaction that queues the task (it reads the project's
    annotators)."""
    routing = task_routing(project, items)
    supply: dict[str, int] = {}
    return {item: routed_task(project, {f: routing.get(item, {}).get(f)
                                        for f in q.ADJUDICATION_ROUTING},
                              base=q.ADJUDICATION_BASE_PRIORITY, supply=supply)
            for item in items}


__all__ = ["COLUMNS", "adjudication_fields", "corrected_votes", "latest_human", "run_consensus",
           "vote_bases"]
