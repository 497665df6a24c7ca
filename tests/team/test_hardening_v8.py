"""Team security v8: what a review of v7 found, each shown closed on the real PostgreSQL.

1. nobody but the owner may create objects in the schema: an operator a member planted
   there would run as the owner inside the definer functions (``team init`` revokes
   CREATE, and refuses a schema where another role keeps it);
2. a skip made after the lease ran out is recorded, as on the client-side path;
3. rejecting a correction reopens nothing, and rejecting a consensus replaced since
   queues no adjudication, as on the client-side path;
4. the definer functions refuse regions that do not fit the project's schema (and a
   schema version that is not the project's), which would break every reader;
5. a lead changes the role of an annotator who has no database login.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

import labelnb
from labelnb import Annotation
from labelnb.errors import PermissionDenied, ValidationError
from labelnb.team import roles
from labelnb.team import sql as team_sql
from labelnb.types import Choice

pytestmark = pytest.mark.postgres

SUBMIT = ("SELECT labelnb_submit(%s, %s, %s, %s::jsonb, now(), 1.0, NULL, '{}'::jsonb, "
          "NULL, %s)")
CORRECT = ("SELECT labelnb_review(%s, %s, 'correct', NULL, %s, %s::jsonb, now(), 1.0, %s)")


def _claim(conn: psycopg.Connection[Any], project_id: int, stage: str = "annotate"
           ) -> tuple[int, str]:
    tok = uuid.uuid4().hex
    row = conn.execute("SELECT o_id FROM labelnb_claim(%s, %s, %s)",
                       (project_id, stage, tok)).fetchone()
    assert row is not None, f"nothing to claim in stage {stage}"
    return int(row[0]), tok


def _expire(team: Any, task_id: int) -> None:
    """The lease of the task ran out a minute ago (the owner moves its end)."""
    team.sql().execute("UPDATE tasks SET lease_expires_at = now() - interval '1 minute' "
                       "WHERE id = %s", (task_id,))


# --- 1. CREATE on the schema ----------------------------------------------------------------
PLANT = """
CREATE FUNCTION "{s}".lnb_eq(varchar, text) RETURNS boolean LANGUAGE sql AS
  $$ SELECT $1::text = $2 $$;
CREATE OPERATOR "{s}".= (LEFTARG = varchar, RIGHTARG = text, FUNCTION = "{s}".lnb_eq)
"""


def _creators(team: Any) -> list[str]:
    with team.sql() as c:
        return [str(r[0]) for r in c.execute(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END "
            "FROM pg_namespace AS n, aclexplode(n.nspacl) AS a "
            "WHERE n.nspname = %s AND a.privilege_type = 'CREATE' ORDER BY 1",
            (team.schema,)).fetchall()]


def test_install_revokes_create_on_the_schema(new_team: Any) -> None:
    team = new_team(install=False, overlap=1, items=2)
    # what PostgreSQL <= 14 (and a pg_upgrade'd cluster) does for `public`
    team.sql().execute(f'GRANT CREATE ON SCHEMA "{team.schema}" TO PUBLIC')
    assert "PUBLIC" in _creators(team)
    labelnb.team.install(team.owner.store, prefix=team.prefix)
    labelnb.team.add_member(team.owner, team.name("ana"), "annotator")
    assert _creators(team) == [team.sql().execute("SELECT current_user").fetchone()[0]]
    a = team.sql("ana")
    with pytest.raises(pg_errors.InsufficientPrivilege):
        a.execute(PLANT.format(s=team.schema))
    # granted to a group since, it is revoked by the next `labelnb team init`
    team.sql().execute(
        f'GRANT CREATE ON SCHEMA "{team.schema}" TO "{team.groups["annotator"]}"')
    labelnb.team.install(team.owner.store, prefix=team.prefix)
    with pytest.raises(pg_errors.InsufficientPrivilege):
        a.execute(PLANT.format(s=team.schema))
    assert team.groups["annotator"] not in _creators(team)


def test_install_refuses_a_schema_another_role_may_create_in(new_team: Any) -> None:
    team = new_team(install=False)
    eve = team.name("eve")
    o = team.sql()
    o.execute(f'CREATE ROLE "{eve}" LOGIN')
    o.execute(f'GRANT CREATE ON SCHEMA "{team.schema}" TO "{eve}"')
    with pytest.raises(PermissionDenied) as e:
        labelnb.team.install(team.owner.store, prefix=team.prefix)
    msg = str(e.value)
    assert repr(eve) in msg and f'REVOKE CREATE ON SCHEMA "{team.schema}" FROM "{eve}"' in msg
    assert "team init again" in msg
    # nothing was installed (one transaction)
    assert o.execute("SELECT to_regprocedure('labelnb_team_info()')").fetchone() == (None,)
    o.execute(f'REVOKE CREATE ON SCHEMA "{team.schema}" FROM "{eve}"')
    sec = labelnb.team.install(team.owner.store, prefix=team.prefix)
    assert sec.version == 8


def test_the_definer_functions_pin_pg_catalog_first(team: Any) -> None:
    rows = team.sql().execute(
        "SELECT p.proname, p.proconfig FROM pg_proc AS p JOIN pg_namespace AS n "
        "ON n.oid = p.pronamespace WHERE n.nspname = %s AND p.prosecdef",
        (team.schema,)).fetchall()
    # every definer function but the two triggers' (which run as the one who writes)
    definers = {f.split("(")[0] for f in (
        *team_sql.MEMBER_FUNCTIONS, *team_sql.REVIEW_FUNCTIONS, *team_sql.ADMIN_FUNCTIONS,
        *team_sql.POLICY_FUNCTIONS, *team_sql.INTERNAL_FUNCTIONS)} - {
        "labelnb_events_stamp", "labelnb_append_only"}
    assert {n for n, _ in rows} == definers
    bad = [n for n, cfg in rows if cfg != [f"search_path=pg_catalog, {team.schema}, pg_temp"]]
    assert bad == []


# --- 2. a late skip -------------------------------------------------------------------------
def _late_skips(sql: psycopg.Connection[Any], qa: Any, qb: Any, a: str) -> dict[str, Any]:
    """Two late skips by ``a`` (queue ``qa``): one of a lease nobody took over, one of a
    lease that queue ``qb`` took over; what the database kept of them."""
    out: dict[str, Any] = {}
    t = qa.claim()
    assert t is not None
    sql.execute("UPDATE tasks SET lease_expires_at = now() - interval '1 minute' "
                "WHERE id = %s", (t.id,))
    qa.skip("not for me")  # the lease ran out first: recorded all the same
    out["freed"] = sql.execute("SELECT status, assignee FROM tasks WHERE id = %s",
                               (t.id,)).fetchone()
    t2 = qa.claim()  # the other item: the skipped one is not offered again
    assert t2 is not None and t2.item_id != t.item_id
    sql.execute("UPDATE tasks SET lease_expires_at = now() - interval '1 minute' "
                "WHERE id = %s", (t2.id,))
    tb = qb.claim()  # b takes the expired lease over
    assert tb is not None and tb.id == t2.id
    qa.skip()
    out["taken_over"] = sql.execute("SELECT status, assignee FROM tasks WHERE id = %s",
                                    (t2.id,)).fetchone()
    out["leases"] = [(who == a, outcome) for who, outcome in sql.execute(
        "SELECT annotator, outcome FROM leases WHERE task_id IN (%s, %s) ORDER BY id",
        (t.id, t2.id)).fetchall()]
    out["events"] = [p for (p,) in sql.execute(
        "SELECT payload FROM events WHERE kind = 'skip' AND actor = %s ORDER BY id",
        (a,)).fetchall()]
    assert qa.claim() is None  # both items skipped by a
    return out


def test_a_late_skip_is_recorded_as_on_the_client_path(new_team: Any) -> None:
    want = {"freed": ("open", None),
            "leases": [(True, "skipped"), (True, "skipped")],
            "events": [{"reason": "not for me", "lease": "expired"}, {"lease": "expired"}]}
    # the client-side path: the owner's queues
    client = new_team(install=False, overlap=1, items=2)
    got = _late_skips(client.sql(), client.owner.queue("zed"), client.owner.queue("yan"),
                      "zed")
    assert got == {**want, "taken_over": ("leased", "yan")}
    # team security: labelnb_return
    team = new_team(overlap=1, items=2)
    got = _late_skips(team.sql(), team.open("ana").queue(), team.open("bob").queue(),
                      team.name("ana"))
    assert got == {**want, "taken_over": ("leased", team.name("bob"))}


def test_a_stale_lease_is_not_skipped_behind_a_newer_one(new_team: Any) -> None:
    team = new_team(overlap=1, items=1)
    a = team.sql("ana")
    tid, old = _claim(a, team.owner.id)
    _expire(team, tid)
    tid2, new = _claim(a, team.owner.id)  # ana takes her own expired lease again
    assert tid2 == tid
    # the old lease's row says expired; ana holds the task with the new one
    assert a.execute("SELECT labelnb_return(%s, %s, 'skipped', NULL)",
                     (tid, old)).fetchone() == (False,)
    assert team.sql().execute("SELECT outcome FROM leases WHERE token = %s",
                              (old,)).fetchone() == ("expired",)
    assert a.execute("SELECT labelnb_return(%s, %s, 'skipped', NULL)",
                     (tid, new)).fetchone() == (True,)
    # a release after the lease's end stays refused (stale), as on the client path
    tid3, tok3 = _claim(team.sql("bob"), team.owner.id)
    _expire(team, tid3)
    assert team.sql("bob").execute("SELECT labelnb_return(%s, %s, 'released', NULL)",
                                   (tid3, tok3)).fetchone() == (False,)


def test_a_late_skip_closes_a_retraining_task(new_team: Any) -> None:
    team = new_team(overlap=1, items=1)
    tok = uuid.uuid4().hex
    item = int(team.owner.items()["id"].iloc[0])
    (tid,) = team.sql().execute(
        "INSERT INTO tasks (project_id, item_id, stage, slot, status, priority, assignee, "
        "reserved_for, lease_token, claimed_at, lease_expires_at, attempts, created_at) "
        "VALUES (%s, %s, 'retrain', 0, 'leased', 0, %s, %s, %s, now() - interval '1 hour', "
        "now() - interval '1 minute', 1, now()) RETURNING id",
        (team.owner.id, item, team.name("ana"), team.name("ana"), tok)).fetchone()
    assert team.sql("ana").execute("SELECT labelnb_skip_retraining(%s, %s, 'seen')",
                                   (tid, tok)).fetchone() == (True,)
    o = team.sql()
    assert o.execute("SELECT status FROM tasks WHERE id = %s", (tid,)).fetchone() == ("done",)
    (payload,) = o.execute("SELECT payload FROM events WHERE task_id = %s AND "
                           "kind = 'retraining_skipped'", (tid,)).fetchone()
    assert payload == {"annotation_id": None, "reason": "seen", "lease": "expired"}


# --- 3. rejections that reopen nothing -----------------------------------------------------
def test_rejecting_a_correction_reopens_no_review_task(new_team: Any) -> None:
    team = new_team(overlap=1, items=1, review_fraction=1.0)
    ana = team.open("ana").queue()
    rita = team.open("rita").review_queue()
    lena = team.open("lena").review_queue()
    assert ana.claim() is not None
    a0 = ana.submit(Choice("cat"))
    assert rita.claim() is not None
    fix = rita.correct(Choice("dog"), feedback="a dog")
    team.owner.request_review(fix)
    t = lena.claim()
    assert t is not None and t.target_annotation_id == fix
    lena.reject("no, it is a cat")
    tasks = team.owner.tasks()
    assert set(tasks["status"]) == {"done"}  # the review task of the correction stays done
    assert tasks["reserved_for"].isna().all()
    assert rita.claim() is None and ana.claim() is None
    assert team.owner.reviews()["decision"].tolist() == ["correct", "reject"]
    assert a0 in set(team.owner.annotations()["id"])


def test_rejecting_a_replaced_consensus_queues_no_adjudication(new_team: Any) -> None:
    team = new_team(overlap=1, items=1)
    item = int(team.owner.items()["id"].iloc[0])
    now = datetime.now(UTC)
    old, new = (Annotation(item_id=item, regions=(Choice(label),), author="consensus",
                           source="consensus", created_at=now,
                           schema_version=team.owner.schema_version)
                for label in ("cat", "dog"))
    team.owner.add_annotations([old])
    team.owner.add_annotations([new])  # the item's labels changed: a newer consensus
    rita = team.open("rita").review_queue()
    o = team.sql()
    adjudications = "SELECT count(*) FROM tasks WHERE stage = 'adjudicate'"
    team.owner.request_review(old.id)
    assert rita.claim() is not None
    rita.reject("stale anyway")
    assert o.execute(adjudications).fetchone() == (0,)  # recorded only
    team.owner.request_review(new.id)
    assert rita.claim() is not None
    rita.reject("wrong")
    assert o.execute(adjudications).fetchone() == (1,)  # the current one goes to an expert


# --- 4. regions that do not fit the schema --------------------------------------------------
BAD_REGIONS = [
    ({"type": "choice"}, "field 'regions' is a JSON object, not a JSON array"),
    ([{"type": "choice", "labl": "cat"}], "field 'label' is missing"),
    ([{"type": "choice", "label": "horse"}], "field 'label' is \"horse\"; not in the schema "
                                             "(cat, dog)"),
    (["cat"], "region 0: a JSON string, not an object"),
    ([{"type": "box", "label": "cat", "x0": 0, "y0": 0, "x1": 1, "y1": 1}],
     "field 'type' is \"box\"; a choice project takes choice"),
    ([{"label": "cat"}], "field 'type' is missing"),
    ([{"type": "choice", "label": "cat"}, {"type": "choice", "label": "cat", "score": 7}],
     "region 1: field 'score' is 7, not a number in [0, 1]"),
    ([{"type": "choice", "label": "cat", "attributes": [1]}], "field 'attributes' is [1]"),
]


@pytest.mark.parametrize(("regions", "says"), BAD_REGIONS,
                         ids=[s.split(":")[0][:30] for _, s in BAD_REGIONS])
def test_submit_refuses_regions_outside_the_schema(new_team: Any, regions: Any,
                                                   says: str) -> None:
    team = new_team(overlap=1, items=1)
    a = team.sql("ana")
    tid, tok = _claim(a, team.owner.id)
    with pytest.raises(pg_errors.InvalidParameterValue, match=f"task {tid} ") as e:
        a.execute(SUBMIT, (tid, tok, uuid.uuid4().hex, json.dumps(regions), 1))
    assert says in str(e.value)
    # labelnb turns it into a ValidationError that names the fix; the lease is kept
    with pytest.raises(ValidationError, match="Fix: "), roles.refusals():
        a.execute(SUBMIT, (tid, tok, uuid.uuid4().hex, json.dumps(regions), 1))
    assert a.execute(SUBMIT, (tid, tok, uuid.uuid4().hex,
                              json.dumps([{"type": "choice", "label": "cat"}]), 1)
                     ).fetchone() == (True,)
    assert team.open("lena").annotations()["regions"].tolist() == [
        [{"type": "choice", "label": "cat"}]]


def test_submit_refuses_another_schema_version_and_the_lead_still_reads(
        new_team: Any) -> None:
    team = new_team(overlap=1, items=3, review_fraction=1.0)
    a = team.sql("ana")
    tid, tok = _claim(a, team.owner.id)
    with pytest.raises(pg_errors.InvalidParameterValue,
                       match="field 'schema_version' is 42, but project .* is at schema "
                             "version 1"):
        a.execute(SUBMIT, (tid, tok, uuid.uuid4().hex,
                           json.dumps([{"type": "choice", "label": "cat"}]), 42))
    # through labelnb, the same work goes in
    pa = team.open("ana")
    ana = pa.queue()
    assert ana.claim() is not None
    ana.submit(Choice("dog"))
    lead = team.open("lena")
    assert len(lead.annotations()) == 1
    assert lead.consensus(queue_tasks=False).shape[0] >= 1
    # a handle that has not re-read a schema changed meanwhile is told how to catch up
    assert ana.claim() is not None
    team.owner.set_schema(labelnb.Schema("choice", ["cat", "dog", "bird"]))
    with pytest.raises(ValidationError, match=r"is 1, but .* version 2\. Fix: .*reload"):
        ana.submit(Choice("cat"))
    pa.reload()
    ana.submit(Choice("bird"))
    assert sorted(lead.annotations()["schema_version"]) == [1, 2]


def test_a_correction_refuses_regions_outside_the_schema(new_team: Any) -> None:
    team = new_team(overlap=1, items=1, review_fraction=1.0)
    ana = team.open("ana").queue()
    assert ana.claim() is not None
    ana.submit(Choice("cat"))
    r = team.sql("rita")
    tid, tok = _claim(r, team.owner.id, "review")
    bad = json.dumps([{"type": "choice", "labl": "dog"}])
    with pytest.raises(pg_errors.InvalidParameterValue, match="field 'label' is missing"):
        r.execute(CORRECT, (tid, tok, uuid.uuid4().hex, bad, 1))
    with pytest.raises(pg_errors.InvalidParameterValue, match="field 'schema_version'"):
        r.execute(CORRECT, (tid, tok, uuid.uuid4().hex,
                            json.dumps([{"type": "choice", "label": "dog"}]), 7))
    good = json.dumps([{"type": "choice", "label": "dog"}])
    assert r.execute(CORRECT, (tid, tok, uuid.uuid4().hex, good, 1)).fetchone() == (True,)
    assert sorted(team.owner.annotations()["author"]) == sorted([team.name("ana"),
                                                                 team.name("rita")])


def test_regions_of_every_kind_are_checked_by_their_fields(new_team: Any) -> None:
    team = new_team(kind="spans", labels=("PER", "ORG"), overlap=1, items=1)
    a = team.sql("ana")
    tid, tok = _claim(a, team.owner.id)
    for regions, says in (
            ([{"type": "span", "label": "PER", "start": 0}], "field 'end' is missing"),
            ([{"type": "span", "label": "PER", "start": 0, "end": 1.5}],
             "field 'end' is 1.5, not a JSON integer")):
        with pytest.raises(pg_errors.InvalidParameterValue, match="Span|span") as e:
            a.execute(SUBMIT, (tid, tok, uuid.uuid4().hex, json.dumps(regions), 1))
        assert says in str(e.value)
    ok = [{"type": "span", "label": "ORG", "start": 0, "end": 4}]
    assert a.execute(SUBMIT, (tid, tok, uuid.uuid4().hex, json.dumps(ok), 1)
                     ).fetchone() == (True,)


# --- 5. annotators without a login -----------------------------------------------------------
def test_a_lead_changes_the_role_of_an_annotator_without_a_login(team: Any) -> None:
    ghost = team.name("ghost")  # a name in annotators only (no database role)
    team.owner.annotators.ensure(ghost)
    lead = team.open("lena")
    lead.annotators.update(ghost, role="reviewer")
    assert team.owner.annotators.ensure(ghost).role == "reviewer"
    labelnb.team.set_role(team.owner, ghost, "annotator")
    labelnb.team.remove_member(team.owner, ghost)
    assert team.sql().execute("SELECT count(*) FROM pg_roles WHERE rolname = %s",
                              (ghost,)).fetchone() == (0,)
    events = labelnb.team.audit_log(team.owner, kind="role_changed")
    assert events.shape[0] == 2
