"""What labelnb.active needs from a project, in one place.

Everything goes through the public :class:`~labelnb.project.Project` API: this
package holds no SQL and opens no transaction of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from labelnb.project import Project

#: annotation sources that are machine-made (``consensus`` aggregates human labels)
MACHINE_SOURCES: tuple[str, ...] = ("model", "llm", "labeling_function")
HUMAN_SOURCES: tuple[str, ...] = ("human", "consensus")


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
    # corrected by a correction that was not itself rejected (a rejected correction is
    # recorded only: the work it corrected stands, as in project.consensus())
    fixes = df[df["corrects"].notna() & (df["status"] != "reject")] if "corrects" in df \
        else df.iloc[:0]
    d = d[(d["status"] != "reject") & ~d["id"].isin(set(fixes["corrects"]))]
    return d.drop_duplicates("item_id", keep="last").set_index("item_id", drop=False)


def log_event(project: Project, kind: str, payload: Mapping[str, Any], *,
              actor: str = "system", item_id: int | None = None) -> None:
    """Append one event to the project's audit log (``project.events()``)."""
    project.log_event(kind, payload, actor=actor, item_id=item_id)


def raise_priority(project: Project, item_ids: Sequence[int], priority: float) -> int:
    """Give the unfinished tasks of ``item_ids`` the base priority ``priority``."""
    return project.set_priority(item_ids, priority)


def events(project: Project, kind: str) -> list[dict[str, Any]]:
    """The payloads (with ``actor`` and ``created_at``) of the events of ``kind``, oldest
    first."""
    ev = project.events()
    if ev.empty:
        return []
    ev = ev[ev["kind"] == kind]
    return [{**dict(p or {}), "_actor": a, "_at": t}
            for p, a, t in zip(ev["payload"], ev["actor"], ev["created_at"], strict=True)]
