"""Connected as annotator A, the database refuses: reading B's annotation of an item A
has not submitted, updating or deleting any annotation, reading gold answers,
submitting on B's lease, approving A's own work, escalating A's own role.

Each refusal is shown twice: through plain psycopg as A (what any code holding A's
credentials could try; the database raises, or row-level security returns nothing),
and through labelnb's API as A (the database's error arrives as PermissionDenied with
the database error as its cause).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

import labelnb
from labelnb.errors import PermissionDenied
from labelnb.types import Choice

pytestmark = pytest.mark.postgres


def _db_refused(e: BaseException) -> None:
    """The refusal came from the database (a psycopg error in the chain)."""
    seen = []
    while e is not None:
        seen.append(e)
        if isinstance(e, pg_errors.InsufficientPrivilege):
            return
        e = e.__cause__ or getattr(e, "orig", None)  # type: ignore[assignment]
    raise AssertionError(f"not refused by the database: {seen!r}")


def _submit_as(team: Any, short: str, label: str = "cat") -> tuple[Any, str]:
    p = team.open(short)
    q = p.queue()
    t = q.claim()
    assert t is not None
    return t, q.submit(Choice(label))


# --- 1. blind annotation ------------------------------------------------------------------
def test_cannot_read_others_annotations_before_submitting(team: Any) -> None:
    b_task, b_ann = _submit_as(team, "bob", "dog")
    item = b_task.item.id
    a = team.sql("ana")
    # row-level security: the row is simply not there for ana
    assert a.execute("SELECT * FROM annotations WHERE id = %s", (b_ann,)).fetchall() == []
    assert a.execute("SELECT count(*) FROM annotations WHERE item_id = %s",
                     (item,)).fetchone() == (0,)
    assert team.sql().execute("SELECT count(*) FROM annotations WHERE id = %s",
                              (b_ann,)).fetchone() == (1,)  # the owner sees it
    pa = team.open("ana")
    assert pa.annotations().empty
    assert pa.annotations(item_id=item).empty
    # others' tasks (bob's, and the review of his work) and leases are hidden too
    assert a.execute("SELECT count(*) FROM tasks WHERE assignee IS DISTINCT FROM "
                     "session_user").fetchone() == (0,)
    assert a.execute("SELECT count(*) FROM leases").fetchone() == (0,)
    # once ana has submitted her own annotation of that item, she may compare (the
    # queue gives her the item's other slot next: same priority, lowest id first)
    qa = pa.queue()
    t = qa.claim()
    assert t is not None and t.item.id == item
    owner = team.owner
    mine = qa.submit(Choice("cat"))
    seen = set(pa.annotations(item_id=item)["id"])
    assert seen == {b_ann, mine}
    assert owner.annotations(item_id=item).shape[0] == 2


def test_predictions_hidden_until_submitted(new_team: Any) -> None:
    team = new_team(overlap=2, items=1)
    owner = team.owner
    (item,) = [int(i) for i in owner.items()["id"]]
    owner.add_predictions("m1", {item: [Choice("cat")]})
    a = team.sql("ana")
    assert a.execute("SELECT count(*) FROM predictions").fetchone() == (1,)  # not hidden yet
    owner.configure(hide_predictions=True)
    assert a.execute("SELECT count(*) FROM predictions").fetchone() == (0,)
    assert team.open("ana").prediction_regions(item) == []
    _submit_as(team, "ana")
    assert a.execute("SELECT count(*) FROM predictions").fetchone() == (1,)


def test_reviewer_sees_the_item_under_review(team: Any) -> None:
    _, b_ann = _submit_as(team, "bob")
    r = team.sql("rita")
    assert r.execute("SELECT count(*) FROM annotations").fetchone() == (0,)
    pr = team.open("rita")
    rq = pr.review_queue()
    t = rq.claim()
    assert t is not None and t.target_annotation_id == b_ann
    assert set(pr.annotations(item_id=t.item.id)["id"]) == {b_ann}
    rq.approve()


# --- 2. no UPDATE or DELETE of annotations ------------------------------------------------
def test_cannot_update_or_delete_any_annotation(team: Any) -> None:
    _, a_ann = _submit_as(team, "ana")
    _, b_ann = _submit_as(team, "bob")
    a = team.sql("ana")
    for stmt, args in (
        ("UPDATE annotations SET regions = '[]' WHERE id = %s", (a_ann,)),  # her own
        ("UPDATE annotations SET author = 'x' WHERE id = %s", (b_ann,)),
        ("DELETE FROM annotations WHERE id = %s", (a_ann,)),
        ("DELETE FROM annotations", ()),
        ("TRUNCATE annotations", ()),
        ("INSERT INTO annotations (id, project_id, item_id, author, source, schema_version, "
         "regions, created_at, submitted_at, meta) VALUES ('forged', 1, 1, 'bob', 'human', 1, "
         "'[]', now(), now(), '{}')", ()),
    ):
        with pytest.raises(pg_errors.InsufficientPrivilege):
            a.execute(stmt, args)
    # nor may a lead: no UPDATE or DELETE privilege at all
    lead = team.sql("lena")
    with pytest.raises(pg_errors.InsufficientPrivilege):
        lead.execute("UPDATE annotations SET regions = '[]' WHERE id = %s", (a_ann,))
    with pytest.raises(pg_errors.InsufficientPrivilege):
        lead.execute("DELETE FROM annotations WHERE id = %s", (a_ann,))
    # and the owner's own statements meet the append-only trigger
    owner = team.sql()
    with pytest.raises(pg_errors.InsufficientPrivilege, match="append-only"):
        owner.execute("UPDATE annotations SET regions = '[]' WHERE id = %s", (a_ann,))
    with pytest.raises(pg_errors.InsufficientPrivilege, match="append-only"):
        owner.execute("DELETE FROM annotations WHERE id = %s", (b_ann,))
    assert owner.execute("SELECT count(*) FROM annotations").fetchone() == (2,)


def test_events_are_append_only_and_name_the_database_user(team: Any) -> None:
    task, _ = _submit_as(team, "ana")
    owner = team.sql()
    rows = owner.execute("SELECT kind, actor, db_user FROM events WHERE task_id = %s "
                         "ORDER BY id", (task.id,)).fetchall()
    assert rows == [("claim", team.name("ana"), team.name("ana")),
                    ("submit", team.name("ana"), team.name("ana"))]
    a = team.sql("ana")
    for stmt in ("SELECT * FROM events", "UPDATE events SET actor = 'x'", "DELETE FROM events",
                 "INSERT INTO events (kind, actor, payload, created_at) VALUES "
                 "('submit', 'bob', '{}', now())"):
        with pytest.raises(pg_errors.InsufficientPrivilege):
            a.execute(stmt)
    with pytest.raises(pg_errors.InsufficientPrivilege):
        team.sql("lena").execute("UPDATE events SET actor = 'x'")
    for stmt in ("UPDATE events SET actor = 'x'", "DELETE FROM events", "TRUNCATE events"):
        with pytest.raises(pg_errors.InsufficientPrivilege, match="append-only"):
            owner.execute(stmt)
    # a lead's own insert is stamped with the real user, whatever the client claims
    team.sql("lena").execute("INSERT INTO events (kind, actor, payload, created_at, db_user) "
                             "VALUES ('note', 'lena', '{}', now(), 'somebody_else')")
    assert owner.execute("SELECT db_user FROM events WHERE kind = 'note'").fetchone() == (
        team.name("lena"),)


# --- 3. gold answers ----------------------------------------------------------------------
def test_cannot_read_gold_answers(team: Any) -> None:
    team.owner.gold.add(["the gold item"], [Choice("dog")])
    for who in ("ana", "rita"):
        with pytest.raises(pg_errors.InsufficientPrivilege):
            team.sql(who).execute("SELECT * FROM gold_answers")
    with pytest.raises(PermissionDenied, match="the database refused: permission denied for "
                       "table gold_answers") as e:
        team.open("ana").gold.answers()
    _db_refused(e.value)
    # the Python API says PermissionDenied (docs/security.md), not a raw driver error
    ana = team.open("ana")
    with pytest.raises(PermissionDenied, match="permission denied for table events"):
        ana.events()
    with pytest.raises(PermissionDenied, match="the database refused"):
        ana.configure(overlap=3)
    # the lead may
    assert list(team.open("lena").gold.answers()["labels"]) == [["dog"]]


def test_gold_is_served_like_any_task_and_scored(new_team: Any) -> None:
    team = new_team(overlap=1, items=3)
    owner = team.owner
    (gold_id,) = owner.gold.add(["the gold item"], [Choice("dog")])
    owner.configure(gold_rate=1.0)
    pa = team.open("ana")
    qa = pa.queue()
    t = qa.claim()
    assert t is not None and t.item.id == gold_id
    assert t.stage == "annotate" and t.slot == 0 and t.author is None
    assert t.item.meta == {} and t.target_annotation_id is None
    qa.submit(Choice("cat"))  # wrong
    t2 = qa.claim()
    assert t2 is not None and t2.item.id != gold_id  # each gold item once per annotator
    qa.submit(Choice("cat"))
    pb = team.open("bob")
    qb = pb.queue()
    tb = qb.claim()
    assert tb is not None and tb.item.id == gold_id
    qb.submit(Choice("dog"))  # right
    score = team.open("lena").gold.score().set_index("annotator")
    assert score.loc[team.name("ana"), "accuracy"] == 0.0
    assert score.loc[team.name("bob"), "accuracy"] == 1.0
    cal = owner.calibrate(min_items=1).set_index("annotator")
    assert cal.loc[team.name("bob"), "gold_n"] == 1
    assert cal.loc[team.name("bob"), "gold_accuracy"] == 1.0
    assert cal.loc[team.name("ana"), "gold_accuracy"] == 0.0


def test_a_gold_task_reads_like_a_regular_task_to_its_member(new_team: Any) -> None:
    """What a member reads of their own tasks does not tell a gold task from a regular
    one: the gold task, made at the claim, carries its item's created_at as a regular
    task (made with its item) does, not its claimed_at."""
    team = new_team(overlap=1, items=3, members={"ana": "annotator"})
    owner = team.owner
    (gold_id,) = owner.gold.add(["the gold item"], [Choice("dog")])
    owner.configure(gold_rate=1.0)
    qa = team.open("ana").queue()
    t = qa.claim()
    assert t is not None and t.item.id == gold_id
    qa.submit(Choice("cat"))
    t = qa.claim()  # gold used up: a regular task
    assert t is not None and t.item.id != gold_id
    a = team.sql("ana")  # ana's own login, no labelnb in the way
    rows = {int(r[0]): r[1:] for r in a.execute(
        "SELECT t.item_id, t.created_at, t.claimed_at, t.attempts, t.slot, i.created_at "
        "FROM tasks AS t JOIN items AS i ON i.id = t.item_id").fetchall()}
    assert set(rows) == {gold_id, t.item.id}
    for item, (created, claimed, attempts, slot, item_created) in rows.items():
        assert created == item_created and created < claimed, item
        assert (attempts, slot) == (1, 0), item


# --- 4. someone else's lease --------------------------------------------------------------
def test_cannot_submit_on_another_users_lease(team: Any) -> None:
    pb = team.open("bob")
    qb = pb.queue()
    bt = qb.claim()
    assert bt is not None
    a = team.sql("ana")
    with pytest.raises(pg_errors.InsufficientPrivilege, match="another database user"):
        a.execute("SELECT labelnb_submit(%s, %s, 'forged', '[{\"type\": \"choice\", "
                  "\"label\": \"cat\"}]', now(), 1.0, NULL, '{}', NULL, 1)",
                  (bt.id, bt.token))
    for stmt in ("SELECT labelnb_heartbeat(%s, %s)",
                 "SELECT labelnb_return(%s, %s, 'released', NULL)"):
        with pytest.raises(pg_errors.InsufficientPrivilege):
            a.execute(stmt, (bt.id, bt.token))
    with pytest.raises(pg_errors.InsufficientPrivilege):
        a.execute("UPDATE tasks SET status = 'done' WHERE id = %s", (bt.id,))
    # through labelnb: ana holding bob's Task object
    qa = team.open("ana").queue()
    with pytest.raises(PermissionDenied, match="another database user") as e:
        qa.submit(Choice("cat"), task=bt)
    _db_refused(e.value)
    # bob's lease is untouched and still his
    assert qb.submit(Choice("dog"))


# --- 5. own work ----------------------------------------------------------------------------
def _force_review_lease(team: Any, annotation_id: str, to: str) -> tuple[int, str]:
    """The owner hands the review task of ``annotation_id`` to ``to`` (the queue never
    would): the database must still refuse the review."""
    owner = team.sql()
    tid, = owner.execute("SELECT id FROM tasks WHERE stage = 'review' AND "
                         "target_annotation_id = %s", (annotation_id,)).fetchone()
    owner.execute("UPDATE tasks SET status = 'leased', assignee = %s, lease_token = 'forced', "
                  "claimed_at = now(), lease_expires_at = now() + interval '1 hour' "
                  "WHERE id = %s", (team.name(to), tid))
    return tid, "forced"


def test_cannot_approve_own_work(team: Any) -> None:
    _, a_ann = _submit_as(team, "ana")
    a = team.sql("ana")
    with pytest.raises(pg_errors.InsufficientPrivilege):  # not a reviewer at all
        a.execute("SELECT * FROM labelnb_claim(1, 'review', 'x')")
    with pytest.raises(PermissionDenied):
        team.open("ana").review_queue()
    tid, token = _force_review_lease(team, a_ann, "ana")
    with pytest.raises(pg_errors.InsufficientPrivilege):
        a.execute("SELECT labelnb_review(%s, %s, 'approve', NULL, NULL, NULL, NULL, NULL, "
                  "NULL)", (tid, token))
    with pytest.raises(pg_errors.InsufficientPrivilege):
        a.execute("INSERT INTO reviews (project_id, annotation_id, reviewer, decision, "
                  "created_at) VALUES (1, %s, %s, 'approve', now())", (a_ann, team.name("ana")))
    # a reviewer's own annotation: the queue never routes it to her, and the database
    # refuses it even when the lease is hers
    pr = team.open("rita")
    rq = pr.queue()
    assert rq.claim() is not None
    r_ann = rq.submit(Choice("dog"))
    rqr = pr.review_queue()
    while (t := rqr.claim()) is not None:
        assert t.target_annotation_id != r_ann
        rqr.release()
        break
    tid, token = _force_review_lease(team, r_ann, "rita")
    with pytest.raises(pg_errors.InsufficientPrivilege, match="own annotation"):
        team.sql("rita").execute(
            "SELECT labelnb_review(%s, %s, 'approve', NULL, NULL, NULL, NULL, NULL, NULL)",
            (tid, token))
    from labelnb.queue.queue import Item, Task

    forced = Task(id=tid, item=Item(1, "text", None, "x", None, None), stage="review",
                  token=token, expires_at=labelnb.queue.queue._now(),
                  claimed_at=labelnb.queue.queue._now(), annotator=team.name("rita"),
                  target_annotation_id=r_ann, author=team.name("rita"))
    with pytest.raises(PermissionDenied, match="own annotation") as e:
        rqr.approve(task=forced)
    _db_refused(e.value)
    assert team.sql().execute("SELECT count(*) FROM reviews").fetchone() == (0,)


# --- 6. own role ----------------------------------------------------------------------------
def test_cannot_escalate_own_role(team: Any) -> None:
    ana = team.name("ana")
    a = team.sql("ana")
    g = team.groups
    attempts = [
        f'GRANT "{g["lead"]}" TO "{ana}"',
        f'GRANT "{g["reviewer"]}" TO "{ana}"',
        f'ALTER ROLE "{ana}" CREATEROLE',
        f'ALTER ROLE "{ana}" SUPERUSER',
        f'ALTER ROLE "{ana}" BYPASSRLS',
        f'SET ROLE "{g["lead"]}"',
        "CREATE ROLE sneaky LOGIN",
        f"UPDATE annotators SET role = 'lead' WHERE name = '{ana}'",
        "INSERT INTO annotators (project_id, name, role, skills, qualifications, languages, "
        "kinds, created_at, updated_at) VALUES (1, 'x', 'lead', '{}', '[]', '[]', '[]', "
        "now(), now())",
        f"SELECT labelnb_team_set_role(1, '{ana}', 'lead')",
        f"SELECT labelnb_team_add(1, '{ana}', 'lead', NULL)",
        "SELECT labelnb_check_lease(1, 'x', 'y')",
        "ALTER TABLE annotations DISABLE ROW LEVEL SECURITY",
        "DROP TRIGGER labelnb_append_only ON events",
    ]
    for stmt in attempts:
        with pytest.raises(pg_errors.InsufficientPrivilege):
            a.execute(stmt)
    with pytest.raises(PermissionDenied) as e:
        team.open("ana").annotators.update(ana, role="lead")
    _db_refused(e.value)
    assert a.execute("SELECT role FROM annotators").fetchall() == [("annotator",)]
    assert not a.execute("SELECT pg_has_role(session_user, %s, 'USAGE')",
                         (g["lead"],)).fetchone()[0]


# --- the same code path for everyone else ------------------------------------------------------
def test_same_code_path_for_b_the_reviewer_and_the_admin(team: Any) -> None:
    pb, pr, pl = team.open("bob"), team.open("rita"), team.open("lena")
    for p in (pb, pr, pl):
        assert p.security is not None and p.security.definer
    qb, ql = pb.queue(), pl.queue()
    tb = qb.claim()
    assert tb is not None
    qb.heartbeat()
    b_ann = qb.submit(Choice("cat"), client_id="b-1")
    assert qb.submit(Choice("cat"), client_id="b-1") == b_ann  # idempotent retry
    tl = ql.claim()
    assert tl is not None
    l_ann = ql.submit(Choice("dog"))
    # the reviewer: reject bob's work (back to bob), correct lena's
    rq = pr.review_queue()
    decided = {}
    while (t := rq.claim()) is not None:
        if t.target_annotation_id == b_ann:
            rq.reject("look again")
            decided["b"] = "reject"
        elif t.target_annotation_id == l_ann:
            decided["l"] = rq.correct(Choice("cat"), "it is a cat")
        else:
            rq.release()
            break
    assert decided["b"] == "reject" and decided["l"]
    # bob gets his item back, with the feedback, and resubmits
    again = qb.claim()
    assert again is not None and again.target_annotation_id == b_ann
    assert [f["feedback"] for f in qb.feedback()] == ["look again"]
    qb.submit(Choice("dog"))
    # the admin reviews too (never her own)
    lq = pl.review_queue()
    t = lq.claim()
    assert t is not None and t.author != team.name("lena")
    lq.approve("ok")
    # skip and release
    ts = qb.claim()
    assert ts is not None
    qb.skip("unclear")
    assert qb.claim() is None or qb.current is not None
    # every action is in the audit log under the database user that did it
    log = labelnb.team.audit_log(team.owner)
    kinds = set(zip(log["kind"], log["db_user"], strict=True))
    assert ("review_reject", team.name("rita")) in kinds
    assert ("review_correct", team.name("rita")) in kinds
    assert ("review_approve", team.name("lena")) in kinds
    assert ("skip", team.name("bob")) in kinds
    assert all(log.loc[log["kind"].isin(["claim", "submit"]), "actor"]
               == log.loc[log["kind"].isin(["claim", "submit"]), "db_user"])


def test_maintenance_path_is_admin_only_and_audited(team: Any) -> None:
    t, a_ann = _submit_as(team, "ana")
    with pytest.raises(pg_errors.InsufficientPrivilege):
        team.sql("ana").execute("SELECT labelnb_maintenance_delete_annotation(%s, 'x')",
                                (a_ann,))
    with pytest.raises(PermissionDenied):
        labelnb.team.delete_annotation(team.open("rita"), a_ann, reason="x")
    lead = team.open("lena")
    with pytest.raises(labelnb.errors.ValidationError, match="reason"):
        labelnb.team.delete_annotation(lead, a_ann, reason=" ")
    labelnb.team.delete_annotation(lead, a_ann, reason="consent withdrawn")
    assert a_ann not in set(team.owner.annotations()["id"])
    # the annotate slot it filled is open again (it stayed done: the item waited for ever)
    slot = team.owner.tasks().set_index("id").loc[t.id]
    assert slot["status"] == "open" and slot["assignee"] is None
    ev = labelnb.team.audit_log(team.owner, kind="maintenance_delete")
    assert list(ev["db_user"]) == [team.name("lena")]
    assert ev["payload"].iloc[0]["reason"] == "consent withdrawn"
    # reviewed work is history that others refer to: refused
    _, b_ann = _submit_as(team, "bob")
    rq = team.open("rita").review_queue()
    t = rq.claim()  # ana's review went with her annotation: bob's is the only one left
    assert t is not None and t.target_annotation_id == b_ann
    rq.approve()
    with pytest.raises(labelnb.errors.ValidationError, match="reviewed or corrected"):
        labelnb.team.delete_annotation(lead, b_ann, reason="x")
    assert b_ann in set(team.owner.annotations()["id"])


def test_outsiders_and_removed_members_are_refused(team: Any) -> None:
    outsider = team.name("eve")
    team.sql().execute(f'CREATE ROLE "{outsider}" LOGIN')
    try:
        with pytest.raises(PermissionDenied, match="team add"):
            labelnb.open(team.url("eve"), "pets")
    finally:
        team.sql().execute(f'DROP ROLE "{outsider}"')
    # deactivated in the project (still in the group): the database refuses the queue
    team.owner.annotators.update(team.name("ana"), active=False)
    with pytest.raises(pg_errors.InsufficientPrivilege, match="not an active member"):
        team.sql("ana").execute("SELECT * FROM labelnb_claim(1, 'annotate', 'x')")
    # removed from the team's only project: out of the group, the schema is invisible
    labelnb.team.remove_member(team.owner, team.name("bob"))
    with pytest.raises(PermissionDenied, match="no schema"):
        labelnb.open(team.url("bob"), "pets")
    with pytest.raises(pg_errors.UndefinedTable):
        team.sql("bob").execute("SELECT count(*) FROM annotations")


def test_a_queue_is_the_login_s_own(team: Any) -> None:
    pa = team.open("ana")
    with pytest.raises(PermissionDenied, match="own login"):
        pa.queue(team.name("bob"))
    with pytest.raises(labelnb.errors.ValidationError, match="routing"):
        pa.queue(routing=labelnb.queue.NoRouting())
    assert pa.queue().annotator == team.name("ana")


def test_team_add_never_takes_over_a_role(team: Any) -> None:
    with pytest.raises(PermissionDenied, match="not a login of this labelnb team"):
        labelnb.team.add_member(team.owner, "postgres", "annotator")
    with pytest.raises(PermissionDenied):  # a member cannot add anyone
        labelnb.team.add_member(team.open("ana"), team.name("mallory"), "lead")
    m = labelnb.team.add_member(team.open("lena"), team.name("carl"), "annotator")
    assert m.created and m.password and m.password not in repr(m)
    again = labelnb.team.add_member(team.owner, team.name("carl"), "reviewer")
    assert not again.created and again.password is None
    with psycopg.connect(team.sql("carl").info.dsn, autocommit=True) as c:
        assert c.execute("SELECT pg_has_role(session_user, %s, 'USAGE')",
                         (team.groups["reviewer"],)).fetchone() == (True,)


def test_role_change_is_audited_and_takes_effect(team: Any) -> None:
    ana = team.name("ana")
    labelnb.team.set_role(team.open("lena"), ana, "reviewer")
    pa = team.open("ana")
    assert pa.review_queue().claim() is None  # allowed now (nothing to review yet)
    ev = labelnb.team.audit_log(team.owner, kind="role_changed")
    assert ev["payload"].iloc[-1] == {"name": ana, "from": "annotator", "to": "reviewer"}
    assert list(ev["db_user"]) == [team.name("lena")]
    labelnb.team.set_role(team.owner, ana, "annotator")
    with pytest.raises(pg_errors.InsufficientPrivilege):
        team.sql("ana").execute("SELECT * FROM labelnb_claim(1, 'review', 'x')")


def test_routing_runs_in_the_database(new_team: Any) -> None:
    team = new_team(overlap=1, items=0)
    owner = team.owner
    owner.add_items(["needs a vet"], media="text", required_skill="vet")
    owner.add_items(["anyone"], media="text")
    qa = team.open("ana").queue()
    t = qa.claim()
    assert t is not None and t.item.text == "anyone"
    qa.submit(Choice("cat"))
    assert qa.claim() is None  # the vet task is not for ana
    owner.annotators.update(team.name("bob"), qualifications=["vet"])
    qb = team.open("bob").queue()
    t = qb.claim()
    assert t is not None and t.item.text == "needs a vet"
    assert qb.peek() == []


def test_a_lead_manages_the_project_directly(team: Any) -> None:
    """Leads write management data directly (items, settings, gold, consensus,
    calibration), under the admin group's grants; their queue still goes through the
    definer functions."""
    pl = team.open("lena")
    assert pl.security is not None and pl.security.role == "admin"
    new = pl.add_items(["added by the lead"], media="text")
    pl.configure(review_fraction=0.0, gold_rate=0.0)
    pl.gold.add(["gold by the lead"], [Choice("cat")], by=team.name("lena"))
    for who in ("ana", "bob"):
        q = team.open(who).queue()
        t = q.claim()
        assert t is not None
        q.submit(Choice("cat"))
    final = pl.consensus()
    assert not final.empty
    cal = pl.calibrate(min_items=1, retrain=False)
    assert set(cal["annotator"]) == {team.name("ana"), team.name("bob")}
    pl.set_difficulty({new[0]: 0.5})
    assert "consensus" in set(pl.annotations()["source"])
    # and still no UPDATE or DELETE of history for the lead
    with pytest.raises(pg_errors.InsufficientPrivilege):
        team.sql("lena").execute("DELETE FROM reviews")
    with pytest.raises(pg_errors.InsufficientPrivilege):
        team.sql("lena").execute("UPDATE leases SET outcome = 'x'")


def test_the_notebook_widgets_work_as_the_login(team: Any) -> None:
    """``project.annotate()`` and ``project.review()`` in a member's notebook: the
    annotator is the connected login, no name needed."""
    pa = team.open("ana")
    w = pa.annotate()
    assert w.session.queue.annotator == team.name("ana")
    assert w.session.task is not None
    log = labelnb.team.audit_log(team.owner, kind="claim")
    assert list(log["db_user"]) == [team.name("ana")]
    assert team.open("rita").review() is not None
