"""Routing policies: which open task an annotator gets next.

The queue calls a policy object; routing is not spread through the queue. A policy
turns an annotator's profile into SQL filters and an ordering (so the claim stays
one indexed statement), and computes a task's stored priority when it is created or
re-prioritised.

:class:`DefaultRouting` does

* **skill routing** from the annotator profile: a task that requires a qualification
  goes only to annotators holding it; a task in a language goes only to annotators
  who speak it; a task whose ``focus_label`` is a class the annotator is measurably
  weak on (accuracy below ``min_label_accuracy``) goes to someone else; a project
  kind the annotator is not certified for is refused when certification is required;
* **difficulty routing**: tasks at or above ``hard_threshold`` go only to annotators
  whose accuracy is at least ``expert_accuracy`` (in a team without experts, to the
  best-calibrated annotators; while no accuracy is known, to anyone);
* **priority** from difficulty, deadline and availability (tasks needing a scarce
  skill come first), stored on the task so the claim walks an index.

>>> p = DefaultRouting(hard_threshold=0.8)
>>> p.priority(difficulty=0.9, deadline=None, skill_supply=None) > p.priority(
...     difficulty=0.1, deadline=None, skill_supply=None)
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import ColumnElement, Table, false, or_, true

from labelnb.errors import ValidationError


@dataclass(frozen=True, slots=True)
class AnnotatorProfile:
    """What routing knows about one annotator."""

    name: str
    role: str = "annotator"
    skills: dict[str, float] = field(default_factory=dict)  # accuracy per label class
    qualifications: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    accuracy: float | None = None
    active: bool = True
    team_best_accuracy: float | None = None  # the best known accuracy among active annotators

    @property
    def can_review(self) -> bool:
        return self.role in ("reviewer", "lead") or "senior" in self.qualifications


@runtime_checkable
class RoutingPolicy(Protocol):
    """What the queue asks of a routing policy."""

    def filters(self, profile: AnnotatorProfile, tasks: Table,
                project_kind: str) -> list[ColumnElement[bool]]:
        """Conditions on ``tasks`` columns only (another table is refused at claim)."""
        ...

    def priority(self, *, difficulty: float | None, deadline: datetime | None,
                 skill_supply: int | None, base: float = 0.0) -> float: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class NoRouting:
    """First come, first served: priority then id. No filters."""

    def filters(self, profile: AnnotatorProfile, tasks: Table,
                project_kind: str) -> list[ColumnElement[bool]]:
        return []

    def priority(self, *, difficulty: float | None, deadline: datetime | None,
                 skill_supply: int | None, base: float = 0.0) -> float:
        return base

    def to_json(self) -> dict[str, Any]:
        return {"policy": "none"}


@dataclass(frozen=True, slots=True)
class DefaultRouting:
    """Skill, difficulty and priority routing (see the module docstring)."""

    hard_threshold: float = 0.7
    expert_accuracy: float = 0.85
    min_label_accuracy: float = 0.6
    require_certified_kind: bool = False
    difficulty_weight: float = 1.0
    deadline_weight: float = 2.0
    deadline_horizon_h: float = 24.0
    scarcity_weight: float = 1.0

    def filters(self, profile: AnnotatorProfile, tasks: Table,
                project_kind: str) -> list[ColumnElement[bool]]:
        t = tasks.c
        out: list[ColumnElement[bool]] = []
        quals = list(profile.qualifications)
        out.append(or_(t.required_skill.is_(None),
                       t.required_skill.in_(quals) if quals else false()))
        langs = list(profile.languages)
        out.append(or_(t.language.is_(None), t.language.in_(langs) if langs else false()))
        weak = sorted(k for k, acc in profile.skills.items() if acc < self.min_label_accuracy)
        if weak:
            out.append(or_(t.focus_label.is_(None), t.focus_label.not_in(weak)))
        # hard tasks go to the best annotators: those at expert accuracy, or, in a team
        # without experts, the best there is; with no accuracy known yet, to anyone
        best = profile.team_best_accuracy
        if best is not None:
            bar = min(self.expert_accuracy, best)
            if profile.accuracy is None or profile.accuracy < bar:
                out.append(or_(t.difficulty.is_(None), t.difficulty < self.hard_threshold))
        if self.require_certified_kind and project_kind not in profile.kinds:
            out.append(false())
        return [f for f in out if f is not true()]

    def priority(self, *, difficulty: float | None, deadline: datetime | None,
                 skill_supply: int | None, base: float = 0.0) -> float:
        p = base
        if difficulty is not None:
            p += self.difficulty_weight * float(difficulty)
        if deadline is not None:
            dl = deadline if deadline.tzinfo else deadline.replace(tzinfo=UTC)
            hours = (dl - datetime.now(UTC)).total_seconds() / 3600.0
            # 1 when due now (or overdue), decaying over the horizon
            p += self.deadline_weight * math.exp(-max(hours, 0.0) / self.deadline_horizon_h)
        if skill_supply is not None:
            p += self.scarcity_weight / (1.0 + max(skill_supply, 0))
        return round(p, 6)

    def to_json(self) -> dict[str, Any]:
        return {"policy": "default", **asdict(self)}


def policy_from_json(data: dict[str, Any] | None) -> RoutingPolicy:
    """Rebuild the policy stored in a project's settings."""
    if not data:
        return DefaultRouting()
    d = dict(data)
    kind = d.pop("policy", "default")
    if kind == "none":
        return NoRouting()
    if kind == "default":
        return DefaultRouting(**d)
    raise ValidationError(
        f"project settings: field 'routing' names policy {kind!r}; expected 'default' or "
        "'none' (a custom policy is passed to project.queue(..., routing=...))"
    )


def is_hard(difficulty: float | None, policy: RoutingPolicy) -> bool:
    return (difficulty is not None and isinstance(policy, DefaultRouting)
            and difficulty >= policy.hard_threshold)


__all__ = ["AnnotatorProfile", "DefaultRouting", "NoRouting", "RoutingPolicy",
           "policy_from_json"]

