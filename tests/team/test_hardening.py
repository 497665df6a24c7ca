"""Team security v5: holes a member or a lead could use with their own credentials,
each shown closed through plain SQL (what any code holding them could run).

1. the review sample (and the claim's gold draw) does not depend on anything the client
   controls: not the annotation id it sends, nor the session's seed of random();
2. a removed (or deactivated) member can no longer use a lease, and removing them hands
   their leases and the rework reserved for them back to the team;
3. skipping a retraining task through the generic return keeps it private;
4. with ``hide_predictions``, a member cannot read the model's label or confidence off
   their own task (``focus_label``, ``difficulty``, ``priority``);
5. a lead's rights are those of the projects they lead, not of every project;
6. removing a member in one schema leaves the groups they need in another.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

import labelnb
from labelnb.types import Choice

pytestmark = pytest.mark.postgres

CAT = json.dumps([{"type": "choice", "label": "cat"}])
SUBMIT = ("SELECT labelnb_submit(%s, %s, %s, %s::jsonb, now(), 1.0, NULL, '{}'::jsonb, "
          "NULL, 1)")


def _url(team: Any, schema: str, user: str | None = None) -> str:
    """The URL of another schema of the team's database, as the owner or ``user``."""
    base = team.url() if user is None else team.url_of(user)
    return str(base).replace(f"%3D{team.schema}", f"%3D{schema}")


def _claim(conn: psycopg.Connection[Any], project_id: int, stage: str = "annotate"
           ) -> tuple[int, str] | None:
    tok = uuid.uuid4().hex
    row = conn.execute("SELECT o_id FROM labelnb_claim(%s, %s, %s)",
                       (project_id, stage, tok)).fetchone()
    return None if row is None else (int(row[0]), tok)


# --- 1. the review sample -------------------------------------------------------------------
def _id_v4_never_reviews(frac: float) -> str:
    """An annotation id that v4's sample (a hash of the id) never sent to review."""
    while True:
        i = uuid.uuid4().hex
        if int(hashlib.sha256(i.encode()).hexdigest()[:8], 16) / 4294967295.0 >= frac:
            return i


def _seed_drawing_high(conn: psycopg.Connection[Any], frac: float) -> float:
    """A seed after which the session's next random() is at least ``frac``."""
    for k in range(1, 1000):
        seed = k / 1000
        conn.execute("SELECT setseed(%s)", (seed,))
        if conn.execute("SELECT random()").fetchone()[0] >= frac:
            return seed
    raise AssertionError("no seed found")


def test_review_sample_ignores_what_the_caller_controls(new_team: Any) -> None:
    """Neither the annotation id (v4 hashed it) nor the session's random() (which the
    caller seeds with setseed) decides the sample."""
    n = 20
    team = new_team(overlap=1, review_fraction=0.9, items=n, members={"ana": "annotator"})
    a = team.sql("ana")
    seed = _seed_drawing_high(a, 0.9)
    for _ in range(n):
        claimed = _claim(a, team.owner.id)
        assert claimed is not None
        tid, tok = claimed
        a.execute("SELECT setseed(%s)", (seed,))
        assert a.execute(SUBMIT, (tid, tok, _id_v4_never_reviews(0.9), CAT)).fetchone() == (
            True,)
    reviews = team.sql().execute("SELECT count(*) FROM tasks WHERE stage = 'review'"
                                 ).fetchone()[0]
    # 18 expected; under 10 has a probability below 1e-6 (v4 gave these ids none,
    # and a draw by random() none either)
    assert reviews >= 10


def test_gold_draw_ignores_the_sessions_seed(new_team: Any) -> None:
    """The claim's gold draw: a member who seeds random() cannot dodge gold questions."""
    n = 10
    team = new_team(overlap=1, items=n, members={"ana": "annotator"})
    gold = set(team.owner.gold.add([f"g{i}" for i in range(n)], [Choice("cat")] * n))
    team.owner.configure(gold_rate=0.9)
    a = team.sql("ana")
    seed = _seed_drawing_high(a, 0.9)
    served = 0
    for _ in range(n):
        a.execute("SELECT setseed(%s)", (seed,))
        tok = uuid.uuid4().hex
        row = a.execute("SELECT o_id, o_item_id FROM labelnb_claim(%s, 'annotate', %s)",
                        (team.owner.id, tok)).fetchone()
        assert row is not None
        served += int(row[1]) in gold
        a.execute(SUBMIT, (row[0], tok, uuid.uuid4().hex, CAT))
    assert served >= 3  # 9 expected; a draw by random() would serve none


# --- 2. removed members ---------------------------------------------------------------------
def _forced_retrain(team: Any, who: str, *, leased: bool = True) -> tuple[int, str]:
    """The owner gives ``who`` a retraining task (leased to them, or open and reserved)."""
    tok = uuid.uuid4().hex
    item = int(team.owner.items()["id"].iloc[0])
    (tid,) = team.sql().execute(
        "INSERT INTO tasks (project_id, item_id, stage, slot, status, priority, assignee, "
        "reserved_for, lease_token, claimed_at, lease_expires_at, attempts, created_at) "
        "VALUES (%s, %s, 'retrain', 0, %s, 0, %s, %s, %s, now(), now() + interval '1 hour', "
        "1, now()) RETURNING id",
        (team.owner.id, item, "leased" if leased else "open",
         team.name(who) if leased else None, team.name(who), tok if leased else None)
    ).fetchone()
    return int(tid), tok


LEASE_CALLS = {
    "heartbeat": "SELECT labelnb_heartbeat(%s, %s)",
    "release": "SELECT labelnb_return(%s, %s, 'released', NULL)",
    "skip": "SELECT labelnb_return(%s, %s, 'skipped', NULL)",
    "submit": SUBMIT.replace("%s, %s, %s", "%s, %s, 'removed-member'", 1).replace(
        "%s::jsonb", "'[]'::jsonb", 1),
    "acknowledge": "SELECT labelnb_acknowledge(%s, %s)",
    "skip_retraining": "SELECT labelnb_skip_retraining(%s, %s, NULL)",
}


@pytest.mark.parametrize("call", sorted(LEASE_CALLS))
def test_a_deactivated_member_cannot_use_a_lease(new_team: Any, call: str) -> None:
    team = new_team(overlap=1, items=2, members={"ana": "annotator"})
    a = team.sql("ana")
    if call in ("acknowledge", "skip_retraining"):
        tid, tok = _forced_retrain(team, "ana")
    else:
        claimed = _claim(a, team.owner.id)
        assert claimed is not None
        tid, tok = claimed
    # deactivated directly by the owner: the lease is still on the task row
    team.owner.annotators.update(team.name("ana"), active=False)
    with pytest.raises(pg_errors.InsufficientPrivilege, match="not an active member"):
        a.execute(LEASE_CALLS[call], (tid, tok))
    row = team.sql().execute("SELECT status, lease_token FROM tasks WHERE id = %s",
                             (tid,)).fetchone()
    assert row == ("leased", tok)
    assert team.sql().execute("SELECT count(*) FROM annotations").fetchone() == (0,)


def test_removing_a_member_hands_their_work_back(new_team: Any) -> None:
    team = new_team(overlap=1, review_fraction=1.0, items=3)
    pa, pr = team.open("ana"), team.open("rita")
    qa, rq = pa.queue(), pr.review_queue()
    mine = []
    for _ in range(2):
        assert qa.claim() is not None
        mine.append(qa.submit(Choice("cat")))
    for _ in range(2):
        t = rq.claim()
        assert t is not None and t.target_annotation_id in mine
        rq.reject("look again")
    rework = qa.claim()  # one rework leased, the other open and reserved for ana
    assert rework is not None and rework.target_annotation_id in mine
    retrain, _ = _forced_retrain(team, "ana", leased=False)
    o = team.sql()
    reserved = o.execute("SELECT count(*) FROM tasks WHERE reserved_for = %s AND stage = "
                         "'annotate'", (team.name("ana"),)).fetchone()
    assert reserved == (2,)

    labelnb.team.remove_member(team.open("lena"), team.name("ana"))
    rows = o.execute("SELECT status, assignee, reserved_for, lease_token FROM tasks WHERE "
                     "stage = 'annotate' AND target_annotation_id IS NOT NULL").fetchall()
    assert rows == [("open", None, None, None)] * 2
    assert o.execute("SELECT status FROM tasks WHERE id = %s", (retrain,)).fetchone() == (
        "cancelled",)
    assert o.execute("SELECT annotator, outcome FROM leases WHERE token = %s",
                     (rework.token,)).fetchall() == [(team.name("ana"), "released")]
    (payload,) = o.execute("SELECT payload FROM events WHERE kind = 'team_member_removed'"
                           ).fetchone()
    assert payload == {"name": team.name("ana"), "leases_released": 1,
                       "tasks_unreserved": 1, "retraining_cancelled": 1}
    # the rework is the team's now: bob takes both (they come first, priority 10)
    qb = team.open("bob").queue()
    got = set()
    for _ in range(2):
        t = qb.claim()
        assert t is not None
        got.add(t.target_annotation_id)
        qb.submit(Choice("dog"))
    assert got == set(mine)


def test_removed_in_one_project_still_works_in_another(new_team: Any) -> None:
    team = new_team(overlap=1, items=2, members={"ana": "annotator"})
    other = labelnb.Project.create(team.url(), "other", labelnb.Schema("choice", ["x", "y"]))
    try:
        other.add_items(["o1"], media="text")
        labelnb.team.add_member(other, team.name("ana"), "annotator")
        a = team.sql("ana")
        here = _claim(a, team.owner.id)
        there = _claim(a, other.id)
        assert here is not None and there is not None
        labelnb.team.remove_member(team.owner, team.name("ana"))
        with pytest.raises(pg_errors.InsufficientPrivilege, match="not an active member"):
            a.execute("SELECT labelnb_heartbeat(%s, %s)", here)
        assert a.execute("SELECT labelnb_heartbeat(%s, %s)", there).fetchone()[0] is not None
        x = json.dumps([{"type": "choice", "label": "x"}])  # (v8 checks the schema's labels)
        assert a.execute(SUBMIT, (*there, "in-other", x)).fetchone() == (True,)
    finally:
        other.close()


# --- 3. a retraining task skipped through the generic return --------------------------------
def test_skipping_retraining_through_return_keeps_it_private(new_team: Any) -> None:
    team = new_team(overlap=1, items=1)
    tid, tok = _forced_retrain(team, "ana")
    a = team.sql("ana")
    assert a.execute("SELECT labelnb_return(%s, %s, 'skipped', 'seen it')",
                     (tid, tok)).fetchone() == (True,)
    o = team.sql()
    assert o.execute("SELECT status, reserved_for FROM tasks WHERE id = %s", (tid,)
                     ).fetchone() == ("done", team.name("ana"))
    (kind, payload) = o.execute("SELECT kind, payload FROM events WHERE task_id = %s "
                                "ORDER BY id DESC LIMIT 1", (tid,)).fetchone()
    assert kind == "retraining_skipped" and payload["reason"] == "seen it"
    assert _claim(team.sql("bob"), team.owner.id, "retrain") is None
    # a release keeps it reserved for its annotator, and only them
    tid2, tok2 = _forced_retrain(team, "ana")
    a.execute("SELECT labelnb_return(%s, %s, 'released', NULL)", (tid2, tok2))
    assert o.execute("SELECT status, reserved_for FROM tasks WHERE id = %s", (tid2,)
                     ).fetchone() == ("open", team.name("ana"))
    assert _claim(team.sql("bob"), team.owner.id, "retrain") is None


# --- 4. the model's label on the member's own task ------------------------------------------
def test_members_cannot_read_the_models_columns_of_tasks(new_team: Any) -> None:
    team = new_team(overlap=1, items=1)
    owner = team.owner
    owner.configure(hide_predictions=True)
    (item,) = [int(i) for i in owner.items()["id"]]
    owner.add_predictions("m1", {item: [Choice("dog", score=0.97)]})
    owner.difficulty_from_predictions()
    a = team.sql("ana")
    claimed = _claim(a, owner.id)
    assert claimed is not None
    for stmt in ("SELECT focus_label FROM tasks", "SELECT difficulty FROM tasks",
                 "SELECT priority FROM tasks", "SELECT * FROM tasks",
                 "SELECT id FROM tasks WHERE focus_label = 'dog'",
                 "SELECT id FROM tasks ORDER BY difficulty"):
        with pytest.raises(pg_errors.InsufficientPrivilege):
            a.execute(stmt)
    # the rest of her task is hers to read
    assert a.execute("SELECT id, item_id, stage, status, assignee, base_priority FROM tasks"
                     ).fetchall() == [(claimed[0], item, "annotate", "leased", team.name("ana"),
                                       0.0)]
    # the owner set them, and the lead (the project's admin) reads them
    assert team.sql("lena").execute("SELECT focus_label FROM tasks WHERE id = %s",
                                    (claimed[0],)).fetchone() == ("dog",)
    # and the queue works through labelnb as before
    a.execute("SELECT labelnb_return(%s, %s, 'released', NULL)", claimed)
    ana = team.open("ana")
    qa = ana.queue()
    t = qa.claim()
    assert t is not None and t.item.id == item
    # her tasks() reads her task, with the model's columns as None (it selected every
    # column, which the grant refuses)
    seen = ana.tasks()
    assert seen["item_id"].tolist() == [item]
    assert seen[["focus_label", "difficulty", "priority"]].isna().all().all()
    assert owner.tasks()["focus_label"].tolist() == ["dog"]
    qa.heartbeat()
    qa.submit(Choice("cat"))


# --- 5. a lead leads their projects, not every project --------------------------------------
@pytest.fixture
def two_projects(new_team: Any) -> Iterator[tuple[Any, labelnb.Project]]:
    """The team's project (lena leads it) and a second project "secret" in the same schema
    that she does not lead (she is an annotator there); bob labeled in both."""
    team = new_team(overlap=1, items=2, members={"lena": "lead", "bob": "annotator"})
    b = labelnb.Project.create(team.url(), "secret", labelnb.Schema("choice", ["x", "y"]))
    try:
        b.add_items(["b item"], media="text")
        b.gold.add(["b gold"], [Choice("y")])
        labelnb.team.add_member(b, team.name("bob"), "annotator")
        labelnb.team.add_member(b, team.name("lena"), "annotator")
        qb = labelnb.open(team.url("bob"), "secret").queue()
        team.opened.append(qb.project)
        assert qb.claim() is not None
        qb.submit(Choice("x"))
        yield team, b
    finally:
        b.close()


def test_a_lead_reads_only_the_projects_she_leads(two_projects: Any) -> None:
    team, b = two_projects
    lena = team.sql("lena")
    # (as an annotator of B she sees its project, schema and items, like any member)
    for table in ("gold_answers", "annotations", "events", "tasks", "reviews"):
        assert lena.execute(f"SELECT count(*) FROM {table} WHERE project_id = %s",
                            (b.id,)).fetchone() == (0,), table
    assert lena.execute("SELECT count(*) FROM projects WHERE id = %s", (b.id,)).fetchone() == (
        1,)  # her membership as an annotator shows her the project
    assert lena.execute("SELECT project_id FROM annotators WHERE project_id = %s",
                        (b.id,)).fetchall() == [(b.id,)]  # her own row there, only
    assert lena.execute("SELECT count(*) FROM leases AS l JOIN tasks AS t ON t.id = l.task_id "
                        "WHERE t.project_id = %s", (b.id,)).fetchone() == (0,)
    # her own project, all of it (gold answers too)
    team.owner.gold.add(["a gold"], [Choice("cat")])
    assert lena.execute("SELECT count(*) FROM gold_answers WHERE project_id = %s",
                        (team.owner.id,)).fetchone() == (1,)
    assert lena.execute("SELECT count(*) FROM annotators WHERE project_id = %s",
                        (team.owner.id,)).fetchone() == (2,)


def test_a_lead_manages_only_the_projects_she_leads(two_projects: Any) -> None:
    team, b = two_projects
    lena = team.sql("lena")
    bob, me = team.name("bob"), team.name("lena")
    b_ann = team.sql().execute("SELECT id FROM annotations WHERE project_id = %s",
                               (b.id,)).fetchone()[0]
    for stmt, args in (
        ("SELECT labelnb_team_add(%s, session_user, 'lead', NULL)", (b.id,)),
        ("SELECT labelnb_team_add(%s, %s, 'lead', 'SCRAM-SHA-256$4096:c2FsdA==$aaaa:bbbb')",
         (b.id, team.name("mallory"))),
        ("SELECT labelnb_team_set_role(%s, %s, 'lead')", (b.id, me)),
        ("SELECT labelnb_team_remove(%s, %s)", (b.id, bob)),
        ("SELECT labelnb_maintenance_delete_annotation(%s, 'x')", (b_ann,)),
        ("INSERT INTO items (project_id, media, text, content_hash, meta, created_at) "
         "VALUES (%s, 'text', 'x', 'h', '{}', now())", (b.id,)),
        ("INSERT INTO gold_answers (project_id, item_id, regions, created_at) "
         "SELECT project_id, id, '[]', now() FROM items WHERE project_id = %s", (b.id,)),
        ("INSERT INTO annotators (project_id, name, role, skills, qualifications, languages, "
         "kinds, created_at, updated_at) VALUES (%s, %s, 'lead', '{}', '[]', '[]', '[]', "
         "now(), now())", (b.id, team.name("zed"))),
        ("UPDATE annotators SET project_id = %s WHERE name = %s AND project_id = %s",
         (b.id, me, team.owner.id)),
        ("INSERT INTO events (project_id, kind, actor, payload, created_at) "
         "VALUES (%s, 'note', 'x', '{}', now())", (b.id,)),
    ):
        with pytest.raises(pg_errors.InsufficientPrivilege):
            lena.execute(stmt, args)
    assert lena.execute("UPDATE projects SET settings = '{}' WHERE id = %s",
                        (b.id,)).rowcount == 0
    assert lena.execute("UPDATE tasks SET status = 'cancelled' WHERE project_id = %s",
                        (b.id,)).rowcount == 0
    # adjudication in B is an expert's (or B's lead's), not any lead's
    with pytest.raises(pg_errors.InsufficientPrivilege, match="may not adjudicate"):
        lena.execute("SELECT * FROM labelnb_claim(%s, 'adjudicate', 'x')", (b.id,))
    o = team.sql()
    assert o.execute("SELECT role, active FROM annotators WHERE project_id = %s ORDER BY name",
                     (b.id,)).fetchall() == [("annotator", True), ("annotator", True)]
    assert o.execute("SELECT count(*) FROM annotations WHERE id = %s", (b_ann,)).fetchone() == (
        1,)
    # made a lead of B by the owner, she manages B too
    labelnb.team.set_role(b, me, "lead")
    assert lena.execute("SELECT count(*) FROM gold_answers WHERE project_id = %s",
                        (b.id,)).fetchone() == (1,)
    lena.execute("SELECT labelnb_team_set_role(%s, %s, 'reviewer')", (b.id, bob))
    # and her own project, as before
    m = labelnb.team.add_member(team.open("lena"), team.name("carl"), "annotator")
    assert m.created


# --- 6. groups shared by several schemas ----------------------------------------------------
def test_removal_in_one_schema_keeps_the_group_needed_in_another(new_team: Any,
                                                                  pg_url: str) -> None:
    """Group roles are cluster-wide; two schemas that share a prefix share them."""
    team = new_team(overlap=1, items=1, members={"bob": "annotator"})
    other = "t_" + uuid.uuid4().hex[:12]
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{other}"')
    py = None
    try:
        py = labelnb.Project.create(_url(team, other), "y",
                                    labelnb.Schema("choice", ["a", "b"]))
        py.add_items(["y1"], media="text")
        labelnb.team.install(py.store, prefix=team.prefix)  # the same groups
        labelnb.team.add_member(py, team.name("bob"), "annotator")
        group = team.groups["annotator"]

        def in_group() -> bool:
            return bool(team.sql().execute("SELECT pg_has_role(%s, %s, 'USAGE')",
                                           (team.name("bob"), group)).fetchone()[0])

        labelnb.team.remove_member(team.owner, team.name("bob"))  # in the first schema
        assert in_group()
        with psycopg.connect(_url(team, other, team.name("bob")),
                             autocommit=True) as by:
            assert by.execute("SELECT o_id FROM labelnb_claim(%s, 'annotate', 'tok')",
                              (py.id,)).fetchone() is not None
        # removed in both: out of the group
        labelnb.team.remove_member(py, team.name("bob"))
        assert not in_group()
    finally:
        if py is not None:
            py.close()
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')


# --- session 13: rework under team security (labelnb_review, labelnb_return) ------------------
def test_a_second_rejection_of_reworked_work_is_recorded_only_in_the_database(
        new_team: Any) -> None:
    team = new_team(overlap=1, items=1, review_fraction=1.0)
    pa, pr = team.open("ana"), team.open("rita")
    ana, rita = pa.queue(), pr.review_queue()
    assert ana.claim() is not None
    a0 = ana.submit(Choice("cat"))
    team.owner.request_review(a0)  # a second review of the same work
    assert rita.claim() is not None
    rita.reject("wrong")
    t = ana.claim()
    assert t is not None and t.target_annotation_id == a0
    ana.release()  # a released rework stays ana's (labelnb_return)
    assert team.sql().execute("SELECT status, assignee, reserved_for FROM tasks WHERE id = %s",
                              (t.id,)).fetchone() == ("open", team.name("ana"),
                                                      team.name("ana"))
    assert ana.claim() is not None
    a1 = ana.submit(Choice("dog"))
    while (r := rita.claim()) is not None and r.target_annotation_id != a0:
        rita.approve()
    assert r is not None
    rita.reject("wrong too")  # stale: ana reworked it since
    assert ana.claim() is None
    anns = team.owner.annotations()
    assert sorted(anns["id"]) == sorted([a0, a1])


def test_a_released_gold_task_stays_out_of_the_pool_in_the_database(new_team: Any) -> None:
    team = new_team(overlap=1, items=2)
    (g,) = team.owner.gold.add(["gold q"], [Choice("cat")])
    team.owner.configure(gold_rate=1.0)
    ana = team.open("ana").queue()
    t = ana.claim()
    assert t is not None and t.item_id == g
    ana.release()  # labelnb_return
    team.owner.configure(gold_rate=0.0)
    bob = team.open("bob").queue()
    served = []
    while (x := bob.claim()) is not None:
        served.append(x.item_id)
        bob.submit(Choice("dog"))
    assert g not in served and len(served) == 2
    assert team.sql().execute("SELECT status, assignee FROM tasks WHERE item_id = %s",
                              (g,)).fetchall() == [("cancelled", team.name("ana"))]
