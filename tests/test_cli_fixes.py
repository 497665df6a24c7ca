"""Regression tests for the command line: migrate on a typo or another application's
database, dashboard options, ``--`` before items, the demo rerun and its hint, team
commands on SQLite and the CLI wording of --skills errors."""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import labelnb
from labelnb import Schema
from labelnb.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def init(capsys: pytest.CaptureFixture[str], db: str, labels: str = "a,b") -> None:
    code, _, err = run(capsys, "init", db, "--name", "p", "--kind", "choice", "--labels",
                       labels)
    assert code == 0, err


# --- 5. migrate -----------------------------------------------------------------------------
def test_migrate_a_sqlite_url_typo_creates_nothing(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite:///typo.db", f"sqlite:///{tmp_path}/typo2.db"):
        code, _, err = run(capsys, "migrate", url)
        assert code == 2 and "does not exist" in err, err
    assert list(tmp_path.iterdir()) == []  # no new, empty database "migrated"


def test_migrate_refuses_another_applications_sqlite_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE invoices (x)")
    code, _, err = run(capsys, "migrate", str(db))
    assert code == 2 and "holds no labelnb tables" in err and "labelnb init" in err
    with sqlite3.connect(db) as c:
        names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert names == ["invoices"]
        assert c.execute("PRAGMA journal_mode").fetchone() == ("delete",)


@pytest.mark.postgres
def test_migrate_refuses_another_applications_postgresql_schema(
        pg_schema: str, capsys: pytest.CaptureFixture[str]) -> None:
    import psycopg

    with psycopg.connect(pg_schema, autocommit=True) as c:
        c.execute("CREATE TABLE invoices (x int)")
    code, _, err = run(capsys, "migrate", pg_schema)
    assert code == 2 and "holds no labelnb tables" in err and "labelnb init" in err
    with psycopg.connect(pg_schema, autocommit=True) as c:
        rows = c.execute("SELECT table_name FROM information_schema.tables "
                         "WHERE table_schema = current_schema()").fetchall()
    assert rows == [("invoices",)]


# --- 7. dashboard ---------------------------------------------------------------------------
def test_dashboard_checks_port_and_project_first(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("panel")
    import labelnb.dashboard

    served: list[Any] = []
    monkeypatch.setattr(labelnb.dashboard, "serve", lambda *a, **k: served.append((a, k)))
    db = str(tmp_path / "l.db")
    init(capsys, db)
    for port in ("99999", "-1", "http"):
        code, out, err = run(capsys, "dashboard", db, "--port", port)
        assert code == 2 and "0..65535" in err and "Traceback" not in err, err
    code, out, err = run(capsys, "dashboard", db, "--name", "nope", "--no-show")
    assert code == 2 and "project 'nope' is not in" in err
    assert "serving" not in out  # nothing is announced for a project that is not there
    assert served == []
    code, out, err = run(capsys, "dashboard", db, "--port", "0", "--no-show")
    assert code == 0, err
    assert "serving the dashboard of 'p'" in out
    assert served and served[0][0] == (db, "p") and served[0][1]["port"] == 0


# --- 8. `--` before items -------------------------------------------------------------------
def test_add_takes_everything_after_double_dash_as_items(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    init(capsys, db)
    code, out, err = run(capsys, "add", db, "--text", "--", "-5 stars", "ok")
    assert code == 0, err
    code, out, err = run(capsys, "add", db, "--name", "p", "--text", "fine", "--", "--text",
                         "-x")
    assert code == 0, err
    project = labelnb.open(db, name="p")
    try:
        assert list(project.items()["text"]) == ["-5 stars", "ok", "fine", "--text", "-x"]
    finally:
        project.close()
    # an option-like word before `--` is still refused
    code, _, err = run(capsys, "add", db, "--text", "-5", "--", "x")
    assert code == 2 and "unrecognized arguments: -5" in err


# --- 9, 10. the demo ------------------------------------------------------------------------
def test_demo_rerun_keeps_the_users_changes_and_quotes_its_hint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("skimage")
    from labelnb import demo

    folder = tmp_path / "demo dir ü $HOME"
    code, out, err = run(capsys, "demo", "--no-browser", "--dir", str(folder))
    assert code == 0, err
    db = folder / "labels.db"
    (hint,) = [ln for ln in out.splitlines() if ln.startswith("look at it:")]
    # the command can be pasted into a shell as printed
    assert shlex.split(hint.removeprefix("look at it:")) == ["labelnb", "status", str(db)]

    images = labelnb.open(db, name="images")
    labels = [*demo.IMAGE_LABELS, "dog"]
    images.set_schema(Schema("boxes", labels))
    images.configure(overlap=3)
    version = images.schema_version
    images.close()
    ner = labelnb.open(db, name="ner")
    ner.set_schema(Schema("spans", ["PER", "ORG"]))
    ner.close()

    code, _, err = run(capsys, "demo", "--no-browser", "--dir", str(folder))
    assert code == 0, err
    images = labelnb.open(db, name="images")
    try:  # a rerun reuses the project as the user left it
        assert images.schema.names == labels and images.schema_version == version
        assert images.settings["overlap"] == 3
    finally:
        images.close()
    ner = labelnb.open(db, name="ner")
    try:
        assert ner.schema.names == ["PER", "ORG"]
    finally:
        ner.close()


# --- 11. team commands on SQLite; --skills errors in CLI words ------------------------------
def test_team_on_sqlite_says_postgresql(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    init(capsys, db)
    for action in ("list", "remove ana"):
        code, _, err = run(capsys, "team", *action.split(), "--db", db, "--project", "p")
        assert code == 2 and "team security needs PostgreSQL" in err, err
        assert "team init" not in err  # team init would refuse SQLite too


def test_skills_errors_use_cli_options(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    init(capsys, db, "cat,dog")
    code, _, err = run(capsys, "annotators", db, "add", "ana", "--skills", "cow=0.9")
    assert code == 2 and "skills ['cow'] name no label" in err
    assert "--skills cat=0.9" in err and "--qualifications" in err
    assert "skills={" not in err and "qualifications=[" not in err
    code, _, err = run(capsys, "annotators", db, "add", "ana", "--skills", "cat=1.5")
    assert code == 2 and "--skills cat=1.5 must be an accuracy in [0, 1]" in err
    assert "skills[" not in err
