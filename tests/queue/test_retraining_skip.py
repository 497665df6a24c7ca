"""A skipped retraining task is closed as seen, never left open (on SQLite and
PostgreSQL, and under team security).

Calibration queues one read-and-acknowledge task per recent mistake, reserved for the
annotator who made it. Given back to the pool on ``skip()``, such a task waited forever:
the claim never offers an annotator a task they skipped, and nobody else may take it
(under team security the skip even unreserved it, and other annotators were shown the
mistake). A skip now closes it as seen without an acknowledgement."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

import labelnb
from labelnb import Choice, Schema
from labelnb.errors import LeaseExpired


def _flagged(url: str, *, names: tuple[str, str, str] = ("ana", "bo", "cy"),
             **settings: Any) -> tuple[labelnb.Project, list[str]]:
    """Six texts, three annotators; the third is wrong on three of them, and calibration
    queues her three retraining tasks. Returns the project and her mistakes' ids."""
    p = labelnb.Project.create(url, "c", Schema("choice", ["cat", "dog"]), overlap=3,
                               **settings)
    ids = p.add_items([f"t{i}" for i in range(6)])
    truth = {i: ("cat" if k % 2 else "dog") for k, i in enumerate(ids)}
    flip = {"cat": "dog", "dog": "cat"}
    for who in names:
        q = p.queue(who)
        for t in q:
            wrong = who == names[2] and t.item_id in ids[:3]
            q.submit(Choice(flip[truth[t.item_id]] if wrong else truth[t.item_id]))
    p.consensus()
    cal = p.calibrate(min_items=1, threshold=0.9).set_index("annotator")
    assert cal.loc[names[2], "flagged"] and cal.loc[names[2], "retraining_tasks"] == 3
    anns = p.annotations(annotator=names[2])
    mistakes = sorted(anns.loc[anns["item_id"].isin(ids[:3]), "id"])
    return p, mistakes


def _retrain_tasks(p: labelnb.Project) -> Any:
    tasks = p.tasks()
    return tasks[tasks["stage"] == "retrain"].set_index("id")


def test_a_skipped_retraining_task_is_closed_as_seen(db_url: str) -> None:
    p, mistakes = _flagged(db_url)
    rq = p.retraining_queue("cy")
    t = rq.claim()
    assert t is not None and t.stage == "retrain"
    rq.skip("seen it, no comment")
    assert rq.current is None
    rows = _retrain_tasks(p)
    assert rows.loc[t.id, "status"] == "done"  # not open, waiting for nobody
    assert rows.loc[t.id, "reserved_for"] == "cy"  # the record of whose it was
    ev = p.events()
    [skip] = ev[ev["kind"] == "retraining_skipped"].to_dict("records")
    assert skip["actor"] == "cy" and skip["task_id"] == t.id
    assert skip["payload"] == {"annotation_id": t.target_annotation_id,
                               "reason": "seen it, no comment"}
    leases = p.leases()
    assert leases.loc[leases["token"] == t.token, "outcome"].tolist() == ["skipped"]
    # the queue moves on to the other two mistakes, then is done
    seen = [str(t.target_annotation_id)]
    while (u := rq.claim()) is not None:
        assert u.id != t.id
        seen.append(str(u.target_annotation_id))
        rq.acknowledge()
    assert sorted(seen) == mistakes
    assert set(_retrain_tasks(p)["status"]) == {"done"}
    assert (p.events()["kind"] == "retraining_acknowledged").sum() == 2
    # nobody else is shown cy's mistake, and calibration does not queue it again
    assert p.retraining_queue("ana").claim() is None
    cal = p.calibrate(min_items=1, threshold=0.9).set_index("annotator")
    assert cal.loc["cy", "flagged"] and cal.loc["cy", "retraining_tasks"] == 0
    assert len(_retrain_tasks(p)) == 3
    p.close()


def test_skipping_every_retraining_task_empties_the_queue(db_url: str) -> None:
    p, _ = _flagged(db_url)
    rq = p.retraining_queue("cy")
    skipped = 0
    while rq.claim() is not None:
        rq.skip()
        skipped += 1
        assert skipped <= 3, "a skipped retraining task came back"
    assert skipped == 3
    assert set(_retrain_tasks(p)["status"]) == {"done"}
    assert (p.events()["kind"] == "retraining_skipped").sum() == 3
    p.close()


def test_a_released_retraining_task_comes_back_to_its_owner(db_url: str) -> None:
    """release() is 'not now': the task stays open, and its owner's (unlike skip)."""
    p, _ = _flagged(db_url)
    rq = p.retraining_queue("cy")
    t = rq.claim()
    assert t is not None
    rq.release()
    assert _retrain_tasks(p).loc[t.id, "status"] == "open"
    assert p.retraining_queue("ana").claim() is None
    again = rq.claim()
    assert again is not None and again.id == t.id
    p.close()


def test_a_retraining_skip_after_the_lease_ran_out_still_closes_it(db_url: str) -> None:
    p, _ = _flagged(db_url, lease_ttl_s=0.3)
    rq = p.retraining_queue("cy")
    t = rq.claim()
    assert t is not None
    time.sleep(0.5)
    rq.skip()
    assert _retrain_tasks(p).loc[t.id, "status"] == "done"
    ev = p.events()
    [payload] = ev.loc[ev["kind"] == "retraining_skipped", "payload"].tolist()
    assert payload["lease"] == "expired"
    # an old Task, from before a re-claim, closes nothing
    u = rq.claim()
    assert u is not None
    time.sleep(0.5)
    v = rq.claim()  # an expired lease is taken back first: the same task, a new lease
    assert v is not None and v.id == u.id and v.token != u.token
    with pytest.raises(LeaseExpired):
        rq.skip(task=u)
    assert _retrain_tasks(p).loc[v.id, "status"] == "leased"
    assert rq.current == v
    p.close()


def test_calibration_closes_retraining_tasks_an_older_skip_left_open(db_url: str) -> None:
    """Databases from before the fix hold skipped retraining tasks that are open and
    claimable by nobody: the next calibration closes them."""
    p, _ = _flagged(db_url)
    rq = p.retraining_queue("cy")
    t = rq.claim()
    assert t is not None
    rq._return(t, "skipped", None)  # what skip() did before: back to the pool
    assert _retrain_tasks(p).loc[t.id, "status"] == "open"
    while rq.claim() is not None:
        rq.acknowledge()
    assert _retrain_tasks(p).loc[t.id, "status"] == "open"  # stuck
    p.calibrate(min_items=1, threshold=0.9)
    assert set(_retrain_tasks(p)["status"]) == {"done"}
    ev = p.events()
    [payload] = ev.loc[ev["kind"] == "retraining_skipped", "payload"].tolist()
    assert payload["tasks"] == [t.id]
    p.calibrate(min_items=1, threshold=0.9)  # nothing more to close
    assert (p.events()["kind"] == "retraining_skipped").sum() == 1
    p.close()


# --- team security: the skip goes through the database's functions ------------------------
@pytest.fixture
def team_url(pg_url: str) -> Iterator[tuple[str, str]]:
    """(the owner's URL of a fresh schema, a role prefix); the schema and the team's
    roles are dropped afterwards."""
    from labelnb import team as team_mod
    from labelnb.queue.store import Store

    schema, prefix = "t_" + uuid.uuid4().hex[:12], "lnbt" + uuid.uuid4().hex[:8]
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _schema_url(pg_url, schema), prefix
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        store = Store(pg_url, migrate=False)
        try:
            team_mod.drop_roles(store, prefix)
        finally:
            store.dispose()
        with psycopg.connect(admin, autocommit=True) as c:
            for (name,) in c.execute("SELECT rolname FROM pg_roles WHERE "
                                     "starts_with(rolname, %s)", (prefix + "_",)).fetchall():
                c.execute(f'DROP OWNED BY "{name}"')
                c.execute(f'DROP ROLE "{name}"')


def _schema_url(base: str, schema: str, user: str | None = None) -> str:
    u = make_url(base.replace("postgresql+psycopg://", "postgresql://"))
    if user is not None:
        u = u.set(username=user, password=None)
    s = u.render_as_string(hide_password=False)
    return f"{s}{'&' if '?' in s else '?'}options=-csearch_path%3D{schema}"


@pytest.mark.postgres
def test_team_member_skipping_retraining_closes_it(team_url: tuple[str, str]) -> None:
    """Under team security the database's return unreserved a skipped task: another
    annotator's retraining queue then served cy's mistake."""
    from labelnb import team as team_mod

    url, prefix = team_url
    owner = labelnb.Project.create(url, "c", Schema("choice", ["cat", "dog"]), overlap=3)
    team_mod.install(owner.store, prefix=prefix)
    names = (f"{prefix}_ana", f"{prefix}_bo", f"{prefix}_cy")
    for n in names:
        team_mod.add_member(owner, n, "annotator")
    owner.close()
    owner = _open_flagged(url, names)
    base = url.split("?", 1)[0]
    schema = url.rsplit("%3D", 1)[1]
    opened = []
    try:
        cy = labelnb.open(_schema_url(base, schema, names[2]), "c")
        ana = labelnb.open(_schema_url(base, schema, names[0]), "c")
        opened += [cy, ana]
        rq = cy.retraining_queue()
        t = rq.claim()
        assert t is not None and t.stage == "retrain"
        rq.skip("seen it")
        assert _retrain_tasks(owner).loc[t.id, "status"] == "done"
        assert ana.retraining_queue().claim() is None  # not shown cy's mistake
        ev = owner.events()
        skipped = ev[(ev["kind"] == "retraining_skipped") & (ev["task_id"] == t.id)]
        assert len(skipped) == 1 and skipped["actor"].iloc[0] == names[2]
        assert skipped["payload"].iloc[0]["reason"] == "seen it"
        assert not ((ev["kind"] == "retraining_acknowledged") & (ev["task_id"] == t.id)).any()
        seen = 0
        while rq.claim() is not None:
            rq.skip()
            seen += 1
            assert seen <= 2, "a skipped retraining task came back"
        assert seen == 2 and set(_retrain_tasks(owner)["status"]) == {"done"}
    finally:
        for o in opened:
            o.close()
        owner.close()


def _open_flagged(url: str, names: tuple[str, str, str]) -> labelnb.Project:
    """The owner's project after each member labeled (through their own login) and the
    owner ran consensus and calibration (the third member is flagged)."""
    base, schema = url.split("?", 1)[0], url.rsplit("%3D", 1)[1]
    owner = labelnb.open(url, "c")
    ids = owner.add_items([f"t{i}" for i in range(6)])
    truth = {i: ("cat" if k % 2 else "dog") for k, i in enumerate(ids)}
    flip = {"cat": "dog", "dog": "cat"}
    for who in names:
        pm = labelnb.open(_schema_url(base, schema, who), "c")
        try:
            q = pm.queue()
            for t in q:
                wrong = who == names[2] and t.item_id in ids[:3]
                q.submit(Choice(flip[truth[t.item_id]] if wrong else truth[t.item_id]))
        finally:
            pm.close()
    owner.consensus()
    cal = owner.calibrate(min_items=1, threshold=0.9).set_index("annotator")
    assert cal.loc[names[2], "retraining_tasks"] == 3
    return owner
