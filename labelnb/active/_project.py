"""What labelnb.active needs from a project, in one place.

Reading goes through the public :class:`~labelnb.project.Project` API. Two writes
have no public method yet and go through the queue's statements module (the one place
SQL lives): appending an event to the audit log, and raising the priority of tasks
that already exist. Should ``Project`` grow ``log_event`` / ``set_priority``, these
two functions become one-line calls to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from labelnb.project import Project

#: annotation sources that are machine-made (``consensus`` aggregates human labels)
MACHINE_SOURCES: tuple[str, ...] = ("model", "llm", "labeling_function")
HUMAN_SOURCES: tuple[str, ...] = ("human", "consensus")
_NOT_FINAL = ("reject", "correct", "corrected")


def final_annotations(df: pd.DataFrame, *, item_ids: Iterable[int] | None = None,
                      sources: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per item: its newest annotation that was neither rejected nor corrected
    (the ``"latest"`` policy of the export pipeline), among ``sources`` if given.

    ``df`` is :meth:`Project.annotations` (ordered by submission)."""
    if df.empty:
        return df
    d = df
    if item_ids is not None:
        d = d[d["item_id"].isin(set(int(i) for i in item_ids))]
    if sources is not None:
        d = d[d["source"].isin(list(sources))]
    d = d[~d["status"].isin(_NOT_FINAL)]
    return d.drop_duplicates("item_id", keep="last").set_index("item_id", drop=False)


def log_event(project: Project, kind: str, payload: Mapping[str, Any], *,
              actor: str = "system", item_id: int | None = None) -> None:
    """Append one event to the project's audit log (``project.events()``)."""
    from labelnb.queue import queries as q

    with project.store.write() as conn:
        q.insert_event(conn, project_id=project.id, kind=kind, actor=actor,
                       now=datetime.now(UTC), item_id=item_id, payload=dict(payload))


def raise_priority(project: Project, item_ids: Sequence[int], priority: float) -> int:
    """Give the unfinished tasks of ``item_ids`` the base priority ``priority``; their
    stored priority becomes the routing policy's priority for it (difficulty and
    deadline are added back by the next ``project.reprioritize()``). Returns how many
    tasks changed."""
    from labelnb.queue import queries as q

    if not item_ids:
        return 0
    prio = project.routing.priority(difficulty=None, deadline=None, skill_supply=None,
                                    base=float(priority))
    with project.store.write() as conn:
        return q.set_task_fields(conn, project.id, [int(i) for i in item_ids],
                                 base_priority=float(priority), priority=prio)


def events(project: Project, kind: str) -> list[dict[str, Any]]:
    """The payloads (with ``actor`` and ``created_at``) of the events of ``kind``, oldest
    first."""
    ev = project.events()
    if ev.empty:
        return []
    ev = ev[ev["kind"] == kind]
    return [{**dict(p or {}), "_actor": a, "_at": t}
            for p, a, t in zip(ev["payload"], ev["actor"], ev["created_at"], strict=True)]
