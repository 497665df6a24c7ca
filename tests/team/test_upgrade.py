"""Upgrading an installed team security: a database set up by an earlier labelnb (v4,
rendered in ``data/team_sql_v4.sql``) runs ``labelnb team init`` again, and gets the
current block without losing members, leases or history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

import labelnb
from labelnb.team import sql as team_sql
from labelnb.types import Choice

pytestmark = pytest.mark.postgres

V4 = Path(__file__).with_name("data") / "team_sql_v4.sql"
MARK = "\n-- labelnb statement --\n"


def _install_v4(team: Any) -> None:
    """What ``labelnb team init`` of labelnb with team SQL v4 ran, as the owner."""
    text = V4.read_text().replace("xschemax4", team.schema).replace("xprefixx4", team.prefix)
    statements = text.split(MARK)[1:]  # the first part is the file's comment
    with psycopg.connect(team.url()) as c:  # one transaction, like labelnb.team.install
        for stmt in statements:
            c.execute(stmt)


def _version(conn: psycopg.Connection[Any]) -> int:
    return int(conn.execute("SELECT labelnb_team_info() ->> 'version'").fetchone()[0])


def test_team_init_upgrades_a_v4_database(new_team: Any) -> None:
    team = new_team(install=False, overlap=1, items=3)
    owner = team.owner
    _install_v4(team)
    for short, role in (("ana", "annotator"), ("bob", "annotator"), ("lena", "lead")):
        labelnb.team.add_member(owner, team.name(short), role)  # v4's labelnb_team_add
    (first, *_) = [int(i) for i in owner.items()["id"]]
    owner.set_difficulty({first: 0.4}, focus_label={first: "dog"})
    a = team.sql("ana")
    assert _version(a) == 4
    # v4: a member read the task's model-derived columns
    assert a.execute("SELECT count(focus_label) FROM tasks").fetchone() == (0,)
    # ana holds a v4 lease over the upgrade
    tok = "lease-over-the-upgrade"
    (tid,) = a.execute("SELECT o_id FROM labelnb_claim(%s, 'annotate', %s)",
                       (owner.id, tok)).fetchone()
    assert team.sql().execute(
        "SELECT to_regprocedure('labelnb_require_admin()') IS NOT NULL").fetchone() == (True,)

    # a database from PostgreSQL <= 14 (or pg_upgrade'd from one): PUBLIC may create there
    team.sql().execute(f'GRANT CREATE ON SCHEMA "{team.schema}" TO PUBLIC')
    sec = labelnb.team.install(owner.store, prefix=team.prefix)  # `labelnb team init`
    assert sec.version == team_sql.TEAM_SQL_VERSION == 8
    assert _version(a) == 8
    # v8 revoked it: a member cannot plant an operator for the definer functions to run
    with pytest.raises(pg_errors.InsufficientPrivilege):
        a.execute(f'CREATE FUNCTION "{team.schema}".planted() RETURNS int '
                  "LANGUAGE sql AS 'SELECT 1'")
    o = team.sql()
    # v4's group-only admin check is gone (not left beside the new one)
    assert o.execute("SELECT to_regprocedure('labelnb_require_admin()') IS NULL, "
                     "to_regprocedure('labelnb_require_admin(bigint)') IS NOT NULL"
                     ).fetchone() == (True, True)
    # the lease survived and still works
    assert a.execute("SELECT labelnb_heartbeat(%s, %s)", (tid, tok)).fetchone()[0] is not None
    assert a.execute("SELECT labelnb_submit(%s, %s, 'after-upgrade', "
                     "'[{\"type\": \"choice\", \"label\": \"cat\"}]', now(), 1.0, NULL, '{}', "
                     "NULL, 1)", (tid, tok)).fetchone() == (True,)
    # the current grants replaced v4's: the hidden columns are refused, the rest readable
    with pytest.raises(pg_errors.InsufficientPrivilege):
        a.execute("SELECT focus_label FROM tasks")
    assert a.execute("SELECT count(*) FROM tasks WHERE status = 'done'").fetchone() == (1,)
    # one admin and one member policy per table, as a fresh install has them
    n = o.execute("SELECT count(*) FROM pg_policies WHERE schemaname = current_schema()"
                  ).fetchone()[0]
    assert n == len(team_sql.TABLES) + 9
    # the whole queue works through labelnb after the upgrade, for member and lead
    pb = team.open("bob")
    qb = pb.queue()
    assert qb.claim() is not None
    qb.submit(Choice("dog"))
    pl = team.open("lena")
    assert pl.security is not None and pl.security.version == 8
    labelnb.team.set_role(pl, team.name("bob"), "reviewer")
    # the claim is the current one: a gold task carries its item's created_at (v4 and
    # v5 gave it the claim's time, which told the member it was gold)
    (gold_id,) = owner.gold.add(["gold after the upgrade"], [Choice("dog")])
    owner.configure(gold_rate=1.0)
    (gid,) = a.execute("SELECT o_item_id FROM labelnb_claim(%s, 'annotate', 'gold-tok')",
                       (owner.id,)).fetchone()
    assert gid == gold_id
    assert a.execute("SELECT t.created_at = i.created_at, t.created_at < t.claimed_at "
                     "FROM tasks AS t JOIN items AS i ON i.id = t.item_id "
                     "WHERE t.item_id = %s", (gold_id,)).fetchone() == (True, True)
    # running it again is a no-op
    labelnb.team.install(owner.store, prefix=team.prefix)
    assert _version(a) == 8
    assert labelnb.team.audit_log(owner, kind="team_init").shape[0] == 2
