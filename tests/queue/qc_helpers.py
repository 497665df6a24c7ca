"""Small readers of a project's tasks and events, shared by the quality-control tests."""

from __future__ import annotations

import pandas as pd

import labelnb


def stage_tasks(p: labelnb.Project, stage: str, status: str | None = None) -> pd.DataFrame:
    """The project's tasks of ``stage`` (and ``status``, if given)."""
    t = p.tasks()
    t = t[t["stage"] == stage]
    return t if status is None else t[t["status"] == status]


def events_of(p: labelnb.Project, kind: str) -> pd.DataFrame:
    """The project's audit events of ``kind``, oldest first."""
    ev = p.events()
    return ev[ev["kind"] == kind].reset_index(drop=True)
