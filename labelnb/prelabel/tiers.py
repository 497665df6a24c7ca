"""Tiered routing of machine labels (LLM, model and labeling-function predictions).

Each item's newest prediction is routed by its confidence ``s`` (the prediction's
score, else the mean of its regions' scores) against the project's thresholds
(:class:`MachineTiers`):

* **auto** (``s >= high``): the label is accepted automatically. It is stored as an
  annotation by the model (``source`` = the prediction's, ``author`` =
  ``model_version``, ``meta.tier = "auto_accepted"`` with the confidence, the
  thresholds and the prediction id), and the item's open annotate tasks are
  cancelled.
* **verify** (``low <= s < high``): one human verifies it. The machine label is
  stored the same way (``meta.tier = "verify"``), the open annotate tasks are
  cancelled, and a review task is queued on it: a reviewer approves it, corrects it
  (the correction becomes the item's label) or rejects it. A rejected one goes to
  the full pipeline on the next :func:`route_machine_labels` run.
* **consensus** (``s < low``, or no score): the full consensus pipeline. The item gets
  ``consensus_overlap`` blind annotate tasks (the prediction stays a
  pre-annotation), and ``project.consensus()`` decides it as any other item.

Items a human already works on (an annotation, or a leased task) are left alone. Every
decision is logged as a ``machine_label_routed`` event with its reason; running the
routing again only acts on what changed: items with their first prediction, rejected
verifications (to consensus), and items waiting for consensus that no human has
started whose newest prediction now reaches the verify or auto tier (their consensus
tasks are cancelled and the new prediction is routed; a better model lifts them out
of the human queue). Other routed items keep their routing; their row repeats the
original reason and says why a newer prediction was not routed.

The thresholds are per project: :func:`set_project_tiers` stores them in the
project's settings (key ``machine_tiers``); a ``tiers=`` argument overrides them.

>>> t = MachineTiers(high=0.9, low=0.6)
>>> [t.tier(s) for s in (0.95, 0.9, 0.75, 0.2, None)]
['auto', 'auto', 'verify', 'consensus', 'consensus']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from labelnb.errors import ValidationError
from labelnb.types import Annotation, Region

if TYPE_CHECKING:
    from labelnb.project import Project

__all__ = ["COLUMNS", "MachineTiers", "SETTINGS_KEY", "project_tiers", "route_machine_labels",
           "set_project_tiers"]

Tier = Literal["auto", "verify", "consensus"]
SETTINGS_KEY = "machine_tiers"
ROUTED = "machine_label_routed"
ESCALATED = "machine_label_escalated"
COLUMNS = ["item_id", "tier", "score", "action", "status", "annotation_id", "model_version",
           "reason"]


@dataclass(frozen=True, slots=True)
class MachineTiers:
    """Thresholds of the three tiers (see the module docstring)."""

    high: float = 0.95
    low: float = 0.70
    consensus_overlap: int = 3

    def __post_init__(self) -> None:
        for name in ("high", "low"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise ValidationError(f"MachineTiers: field {name!r} is {v!r}; it must lie in "
                                      "[0, 1]")
        if self.low > self.high:
            raise ValidationError(f"MachineTiers: 'low' ({self.low}) is above 'high' "
                                  f"({self.high}); give low <= high")
        if not isinstance(self.consensus_overlap, int) or self.consensus_overlap < 1:
            raise ValidationError("MachineTiers: field 'consensus_overlap' must be an int >= 1, "
                                  f"got {self.consensus_overlap!r}")

    def tier(self, score: float | None) -> Tier:
        if score is None or score != score:  # NaN: no score
            return "consensus"
        if score >= self.high:
            return "auto"
        if score >= self.low:
            return "verify"
        return "consensus"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> MachineTiers:
        if not data:
            return cls()
        unknown = set(data) - {"high", "low", "consensus_overlap"}
        if unknown:
            raise ValidationError(f"machine tiers: unknown fields {sorted(unknown)}; known: "
                                  "high, low, consensus_overlap")
        return cls(**dict(data))


def project_tiers(project: Project) -> MachineTiers:
    """The project's thresholds (defaults where none are stored)."""
    return MachineTiers.from_json(project.settings.get(SETTINGS_KEY))


def set_project_tiers(project: Project, tiers: MachineTiers) -> None:
    """Store the thresholds in the project's settings (and log the change)."""
    if not isinstance(tiers, MachineTiers):
        raise ValidationError(f"set_project_tiers: give a MachineTiers, got {tiers!r}")
    project.configure(**{SETTINGS_KEY: tiers.to_json()})


def _score(row: Any) -> float | None:
    s = row["score"]
    if s is not None and not pd.isna(s):
        return float(s)
    scores = [float(r["score"]) for r in row["regions"] if r.get("score") is not None]
    return sum(scores) / len(scores) if scores else None


def _fmt(s: float | None) -> str:
    """A confidence for a reason string: never rounded across a tier threshold
    (0.9497 reads 0.9497, not 0.950, beside "< 0.95")."""
    if s is None:
        return "none"
    short = f"{s:.3f}"
    return short if float(short) == round(s, 6) else f"{round(s, 6):g}"


def _check_filters(project: Project, preds: pd.DataFrame, model_version: str | None,
                   source: str | None, item_ids: Sequence[int] | None) -> None:
    """A filter that names nothing in the project is a typo, not an empty answer."""
    from labelnb.errors import ItemNotFound

    if source is not None and source not in ("model", "llm", "labeling_function"):
        raise ValidationError(f"route_machine_labels: source {source!r}; expected 'model', "
                              "'llm' or 'labeling_function'")
    if model_version is not None:
        have = sorted(set(preds["model_version"])) if len(preds) else []
        if model_version not in have:
            raise ValidationError(f"route_machine_labels: no predictions of model_version "
                                  f"{model_version!r}; the project has {have or 'none'}")
    if item_ids is not None:
        ids = {int(i) for i in item_ids}
        known = set(project.items()["id"].astype(int)) if ids else set()
        if missing := sorted(ids - known):
            raise ItemNotFound(f"route_machine_labels: items {missing[:10]} are not in project "
                               f"{project.name!r}; list ids with project.items()")


def route_machine_labels(project: Project, *, model_version: str | None = None,
                         source: str | None = None, tiers: MachineTiers | None = None,
                         item_ids: Sequence[int] | None = None,
                         dry_run: bool = False) -> pd.DataFrame:
    """Route each item's newest prediction (of ``model_version`` / ``source``, if
    given) into its tier; returns one row per item with a prediction (``COLUMNS``):
    the ``tier``, the ``action`` taken now (``accepted``, ``review_queued``,
    ``consensus_queued``, ``escalated``, ``skipped`` or ``none``), the item's
    ``status`` and the ``reason``. ``dry_run`` decides without writing."""
    t = tiers or project_tiers(project)
    preds = project.predictions()
    _check_filters(project, preds, model_version, source, item_ids)
    if model_version is not None and len(preds):
        preds = preds[preds["model_version"] == model_version]
    if source is not None and len(preds):
        preds = preds[preds["source"] == source]
    if item_ids is not None and len(preds):
        preds = preds[preds["item_id"].isin([int(i) for i in item_ids])]
    if preds.empty:
        return pd.DataFrame(columns=COLUMNS)
    latest = preds.sort_values("id").groupby("item_id", sort=True).tail(1)
    anns = project.annotations()
    tasks = project.tasks()
    events = project.events()
    routed: dict[int, dict[str, Any]] = {}
    escalated: set[int] = set()
    if len(events):
        for kind, item, payload in zip(events["kind"], events["item_id"], events["payload"],
                                       strict=True):
            if kind == ROUTED and item is not None and not pd.isna(item):
                routed[int(item)] = dict(payload or {})
            elif kind == ESCALATED and item is not None and not pd.isna(item):
                escalated.add(int(item))
    status_of = dict(zip(anns["id"], anns["status"], strict=True)) if len(anns) else {}
    human_items = (set(anns.loc[anns["source"] == "human", "item_id"].astype(int))
                   if len(anns) else set())
    annotate = tasks[tasks["stage"] == "annotate"] if len(tasks) else tasks
    leased_items = (set(tasks.loc[tasks["status"] == "leased", "item_id"].astype(int))
                    if len(tasks) else set())
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    new_anns: list[Annotation] = []
    cancel: list[int] = []
    reopen: list[int] = []
    review_for: list[Annotation] = []
    new_tasks: list[dict[str, Any]] = []
    new_events: list[tuple[str, int, dict[str, Any]]] = []

    def extra_slots(item: int, reopened: bool) -> list[dict[str, Any]]:
        mine = annotate[annotate["item_id"] == item] if len(annotate) else annotate
        live = mine if reopened else mine[mine["status"] != "cancelled"]
        need = t.consensus_overlap - len(live)
        start = int(mine["slot"].max()) + 1 if len(mine) else 0
        return [dict(project_id=project.id, item_id=item, stage="annotate", slot=start + s,
                     status="open", priority=1.0, base_priority=1.0, created_at=now,
                     attempts=0) for s in range(max(0, need))]

    for _, p in latest.iterrows():
        item = int(p["item_id"])
        mv = str(p["model_version"])
        score = _score(p)
        tier = t.tier(score)
        base = {"item_id": item, "tier": tier, "score": score, "model_version": mv,
                "annotation_id": None}
        rerouted_from: dict[str, Any] | None = None
        if item in routed:
            prev = routed[item]
            newer = prev.get("prediction_id") not in (None, int(p["id"]))
            busy = item in human_items or item in leased_items
            if (newer and prev.get("tier") == "consensus" and tier != "consensus"
                    and not busy and item not in escalated):
                rerouted_from = prev  # routed below as a first prediction is
        if item in routed and rerouted_from is None:
            aid = prev.get("annotation_id")
            st = status_of.get(aid) if aid else None
            base.update(tier=prev.get("tier", tier), score=prev.get("score", score),
                        model_version=prev.get("model_version", mv), annotation_id=aid)
            if prev.get("tier") == "verify" and st == "reject" and item not in escalated:
                reopen.append(item)
                new_tasks += extra_slots(item, reopened=True)
                new_events.append((ESCALATED, item, {"annotation_id": aid,
                                                     "reason": "verification rejected"}))
                rows.append({**base, "tier": "consensus", "action": "escalated",
                             "status": "in consensus",
                             "reason": "a reviewer rejected the machine label: full consensus "
                                       f"({t.consensus_overlap} annotators)"})
                continue
            status = {"approve": "accepted (verified)", "correct": "corrected",
                      "corrected": "corrected", "reject": "in consensus"}.get(
                str(st), "accepted" if prev.get("tier") == "auto" else
                "verifying" if prev.get("tier") == "verify" else "in consensus")
            reason = f"already routed: {prev.get('reason') or prev.get('tier', '?')}"
            if newer:
                why = ("a human already works on it" if busy else
                       "a reviewer rejected its machine label" if item in escalated else
                       f"it is {tier} too" if prev.get("tier") == "consensus" else
                       "only items waiting for consensus are routed again")
                reason += (f"; the newer prediction {int(p['id'])} ({mv}, confidence "
                           f"{_fmt(score)}) is not routed: {why}")
            rows.append({**base, "action": "none", "status": status, "reason": reason})
            continue
        if item in human_items or item in leased_items:
            rows.append({**base, "action": "skipped", "status": "human at work",
                         "reason": "a human already annotates this item; its label decides"})
            continue
        regions = tuple(Region.from_json(r) for r in p["regions"])
        payload = {"tier": tier, "score": score, "model_version": mv,
                   "prediction_id": int(p["id"]), "thresholds": t.to_json()}
        if rerouted_from is not None:
            payload["rerouted_from"] = rerouted_from.get("prediction_id")
        if tier in ("auto", "verify"):
            ann = Annotation(item_id=item, regions=regions, author=mv, source=p["source"],
                             created_at=now, schema_version=project.schema_version,
                             model_version=mv,
                             meta={"tier": "auto_accepted" if tier == "auto" else "verify",
                                   "confidence": score, "prediction_id": int(p["id"]),
                                   "thresholds": t.to_json()})
            new_anns.append(ann)
            cancel.append(item)
            payload["annotation_id"] = ann.id
            if tier == "auto":
                reason = (f"confidence {_fmt(score)} >= high {t.high}: accepted "
                          "automatically")
                rows.append({**base, "annotation_id": ann.id, "action": "accepted",
                             "status": "accepted", "reason": reason})
            else:
                review_for.append(ann)
                reason = (f"confidence {_fmt(score)} in [{t.low}, {t.high}): one human "
                          "verifies")
                rows.append({**base, "annotation_id": ann.id, "action": "review_queued",
                             "status": "verifying", "reason": reason})
        else:
            new_tasks += extra_slots(item, reopened=False)
            reason = (f"confidence {_fmt(score)} < low {t.low}" if score is not None
                      else "no confidence") + f": full consensus ({t.consensus_overlap} " \
                                              "annotators)"
            rows.append({**base, "action": "consensus_queued", "status": "in consensus",
                         "reason": reason})
        if rerouted_from is not None:
            rows[-1]["reason"] = (f"a newer prediction, from consensus: "
                                  f"{rows[-1]['reason']}")
        payload["reason"] = rows[-1]["reason"]
        new_events.append((ROUTED, item, payload))

    if not dry_run and (new_anns or new_tasks or new_events):
        with project.atomic():
            if new_anns:
                project.add_annotations(new_anns, event=("machine_labels_accepted", "tiers", {
                    "items": [a.item_id for a in new_anns][:100]}))
            project.route_tasks(cancel=cancel, reopen=reopen, new_tasks=new_tasks,
                                review=review_for, events=new_events, actor="tiers")
    return pd.DataFrame(rows, columns=COLUMNS)
