"""SQL injection through every user-supplied string of the public API is inert: label
names, project names, annotator names (also as database roles under team security),
item text and review feedback are stored and read back verbatim, with no SQL error
and no extra rows, on SQLite and PostgreSQL, with and without team security."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import labelnb
from labelnb.errors import SchemaError
from labelnb.schema import check_new_label_names
from labelnb.types import Choice

PAYLOADS = [
    "'; DROP TABLE annotations; --",
    "Robert'); DROP TABLE items;--",
    "' OR '1'='1",
    '" OR "1"="1',
    "x' UNION SELECT id, regions FROM gold_answers --",
    "$$; DELETE FROM events; $$",
    "'); SELECT pg_sleep(5); --",
    "%s", "%(me)s", ":me", ":pid", "?", "\\", "\\'", "''", "--", "/*", "*/",
    "@admin@", "@schema@", "{}", "[]", "null", "🐱'; --", "a\nb\r\n;\t--",
]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                      blacklist_characters="\x00"), min_size=1, max_size=24
               ).filter(str.strip)  # blank texts and names are refused before any SQL
STRINGS = st.one_of(st.sampled_from(PAYLOADS), TEXT)
_n = itertools.count()
FUZZ = settings(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _schema(label: str) -> labelnb.Schema:
    try:
        schema = labelnb.Schema("choice", [label, "zz-other"])
        check_new_label_names(schema)  # (a label exports cannot carry is refused up front)
        return schema
    except SchemaError:
        assume(False)
        raise


def _check_tables_intact(store: Any) -> None:
    names = set(store.table_names())
    assert {"projects", "items", "tasks", "annotations", "reviews", "events",
            "annotators"} <= names


@FUZZ
@given(label=STRINGS, text=STRINGS, who=STRINGS, feedback=STRINGS, pname=STRINGS)
def test_user_strings_are_inert(db_url: str, label: str, text: str, who: str, feedback: str,
                                pname: str) -> None:
    assume(who.strip() and feedback.strip() and pname.strip())
    assume(who != "consensus")  # labelnb's own author name, refused for annotators
    name = f"{pname} #{next(_n)}"
    p = labelnb.Project.create(db_url, name, _schema(label), review_fraction=1.0)
    try:
        assert labelnb.open(db_url, name).name == name
        (iid,) = p.add_items([text], media="text")
        q = p.queue(who)
        t = q.claim()
        assert t is not None and t.item.text == text and t.annotator == who
        aid = q.submit(Choice(label), client_id=f"{who}:{label}")
        reviewer = who + " (reviewer)"
        p.annotators.add(reviewer, role="reviewer")
        rq = p.review_queue(reviewer)
        assert rq.claim() is not None
        rq.reject(feedback)
        anns = p.annotations()
        assert list(anns["id"]) == [aid]
        assert anns["author"].iloc[0] == who and anns["labels"].iloc[0] == [label]
        assert anns["client_id"].iloc[0] == f"{who}:{label}"
        revs = p.reviews()
        assert list(revs["feedback"]) == [feedback] and list(revs["reviewer"]) == [reviewer]
        items = p.items()
        assert list(items["id"]) == [iid] and list(items["text"]) == [text]
        assert set(p.annotators.table()["name"]) == {who, reviewer}
        assert p.schema.names == [label, "zz-other"]
        assert [f["feedback"] for f in q.feedback()] == [feedback]
        _check_tables_intact(p.store)
    finally:
        p.close()


@pytest.mark.postgres
@FUZZ
@given(who=TEXT, label=STRINGS, text=STRINGS, feedback=STRINGS)
def test_user_strings_are_inert_under_team_security(new_team: Any, who: str, label: str,
                                                    text: str, feedback: str) -> None:
    """Annotator names become database roles, submitted and reviewed through the
    definer functions."""
    team = getattr(new_team, "fuzz_team", None)
    if team is None:  # one team (schema, groups) for all examples; a project per example
        team = new_team.fuzz_team = new_team(members={}, items=0)
    n = next(_n)
    role = f"{team.prefix}_{who}"
    assume(len(role.encode()) <= 63 and feedback.strip())
    assume(role != team.name(f"r{n}"))
    pname = f"p{n}"
    owner = labelnb.Project.create(team.url(), pname, _schema(label), review_fraction=1.0)
    try:
        (iid,) = owner.add_items([text], media="text")
        m = labelnb.team.add_member(owner, role, "annotator")
        assert m.name == role
        labelnb.team.add_member(owner, team.name(f"r{n}"), "reviewer")
        pa = labelnb.open(team.url_of(role), pname)
        assert pa.security is not None and pa.security.user == role
        qa = pa.queue()
        t = qa.claim()
        assert t is not None and t.item.text == text
        aid = qa.submit(Choice(label))
        pr = labelnb.open(team.url_of(team.name(f"r{n}")), pname)
        rq = pr.review_queue()
        assert rq.claim() is not None
        rq.reject(feedback)
        anns = owner.annotations()
        assert list(anns["id"]) == [aid] and anns["author"].iloc[0] == role
        assert anns["labels"].iloc[0] == [label]
        assert list(owner.reviews()["feedback"]) == [feedback]
        assert [f["feedback"] for f in qa.feedback()] == [feedback]
        log = labelnb.team.audit_log(owner, user=role)
        assert set(log["db_user"]) == {role} and {"claim", "submit"} <= set(log["kind"])
        assert list(owner.items()["text"]) == [text] and list(owner.items()["id"]) == [iid]
        _check_tables_intact(owner.store)
        pa.close()
        pr.close()
    finally:
        owner.close()
