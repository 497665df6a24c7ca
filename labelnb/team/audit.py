"""The audit log: who did what, when, as which database user.

Every write of the queue leaves a row in ``events``; under team security on
PostgreSQL that includes every claim, submit, skip, release and review (written by the
definer functions), every role change and membership change, and every maintenance
action. Each row records ``db_user``, the database's ``session_user``, stamped by a
trigger whatever the client sent; another trigger refuses UPDATE, DELETE and TRUNCATE,
and no member has those privileges anyway.

>>> import labelnb, tempfile, os
>>> db = os.path.join(tempfile.mkdtemp(), "audit.db")
>>> p = labelnb.Project.create(db, "a", labelnb.Schema("choice", ["x"]))
>>> list(audit_log(p)["kind"])
['project_created']

``labelnb audit DB --name P [--user U] [--item N] [--since T] [--until T]`` prints the
same table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from labelnb.errors import ValidationError
from labelnb.queue import queries as q

if TYPE_CHECKING:
    from labelnb.project import Project

COLUMNS = ["id", "created_at", "kind", "actor", "db_user", "item_id", "task_id", "payload"]


def _when(v: datetime | str | None, field: str) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            raise ValidationError(f"audit: field {field!r} is {v!r}; give an ISO time such as "
                                  "2026-11-30 or 2026-11-30T14:00+01:00") from None
    return v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)


def audit_log(project: Project, *, user: str | None = None, item: int | None = None,
              since: datetime | str | None = None, until: datetime | str | None = None,
              kind: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Events of the project (and team-wide ones), oldest first: filter by ``user``
    (actor or database user), ``item`` id, time range ``[since, until)`` (a naive time
    is UTC), ``kind``; ``limit`` keeps the newest rows."""
    if limit is not None and limit < 1:
        raise ValidationError(f"audit: field 'limit' is {limit}; give 1 or more")
    stmt = q.select_audit(project.id, user=user, item_id=item, since=_when(since, "since"),
                          until=_when(until, "until"), kind=kind, limit=limit)
    df = project._frame(stmt)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    return df[COLUMNS]


__all__ = ["COLUMNS", "audit_log"]
