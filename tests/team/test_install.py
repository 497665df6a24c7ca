"""``labelnb team init`` (``labelnb.team.install``): who may run it, running it again,
and what a member meets when the schema is behind."""

from __future__ import annotations

from typing import Any

import pytest

import labelnb
from labelnb.errors import PermissionDenied, StoreError, ValidationError
from labelnb.queue.migrate import head_revision
from labelnb.team import sql as team_sql
from labelnb.types import Choice

pytestmark = pytest.mark.postgres


def test_install_again_is_safe(team: Any) -> None:
    q = team.open("ana").queue()
    assert q.claim() is not None
    sec = labelnb.team.install(team.owner.store, prefix=team.prefix)
    assert sec.version == team_sql.TEAM_SQL_VERSION and sec.role == "owner"
    # the member's lease and rights survived the re-install
    q.submit(Choice("cat"))
    assert team.sql("ana").execute(
        "SELECT count(*) FROM pg_policies WHERE schemaname = current_schema() "
        "AND tablename = 'annotations'").fetchone() == (2,)
    assert labelnb.team.audit_log(team.owner, kind="team_init").shape[0] == 2


def test_only_the_owner_installs(team: Any) -> None:
    lead = team.open("lena")
    with pytest.raises(PermissionDenied, match="does not own the labelnb tables"):
        labelnb.team.install(lead.store, prefix=team.prefix)
    with pytest.raises(ValidationError, match="prefix"):
        labelnb.team.install(team.owner.store, prefix="Bad-Prefix")


def test_member_meets_a_schema_that_is_behind(team: Any) -> None:
    team.sql().execute("UPDATE alembic_version SET version_num = '0001'")
    try:
        with pytest.raises(PermissionDenied, match="labelnb migrate"):
            labelnb.open(team.url("ana"), "pets")
    finally:
        team.sql().execute("UPDATE alembic_version SET version_num = %s", (head_revision(),))


def test_team_needs_an_installed_schema(new_team: Any) -> None:
    t = new_team(install=False)
    with pytest.raises(StoreError, match="team init"):
        labelnb.team.add_member(t.owner, t.name("ana"))
    assert t.owner.security is None


def test_installs_of_several_schemas_at_once_all_land(new_team: Any) -> None:
    """Teams of one database installed at the same moment: each install grants CONNECT
    on the database, and PostgreSQL refuses the second of two concurrent updates of the
    database's row ("tuple concurrently updated"); install runs its block again."""
    import threading

    teams = [new_team(install=False, items=0) for _ in range(6)]
    barrier = threading.Barrier(len(teams))
    errors: list[BaseException] = []

    def go(t: Any) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                labelnb.team.install(t.owner.store, prefix=t.prefix)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=go, args=(t,)) for t in teams]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert all(t.owner.security is not None and t.owner.security.version ==
               team_sql.TEAM_SQL_VERSION for t in teams)
