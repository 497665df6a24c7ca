"""The command line of team security: a lead sets up a team with ``labelnb team init``
and ``labelnb team add``; the annotator then works in a notebook under their own
login; ``labelnb audit`` lists what happened."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

import labelnb
from labelnb.cli import main
from labelnb.types import Choice

pytestmark = pytest.mark.postgres


def test_three_commands(new_team: Any, capsys: pytest.CaptureFixture[str]) -> None:
    team = new_team(install=False, overlap=1)
    db = team.url()
    # 0. a mistyped project: refused before anything (cluster-wide roles) is installed
    assert main(["team", "init", "--db", db, "--project", "pest", "--prefix",
                 team.prefix]) == 2
    err = capsys.readouterr().err
    assert "project 'pest' is not in" in err and "nothing was installed" in err
    assert labelnb.open(db, "pets").security is None
    # 1. the lead turns team security on
    assert main(["team", "init", "--db", db, "--project", "pets", "--prefix", team.prefix,
                 "--gold-rate", "0.05", "--hide-predictions"]) == 0
    out = capsys.readouterr().out
    assert f"{team.prefix}_admin" in out and "next: labelnb team add" in out
    p = labelnb.open(db, "pets")
    assert p.settings["gold_rate"] == 0.05 and p.settings["hide_predictions"] is True
    # 2. ... and adds a member; the password is shown once, with the pgpass line
    ana = team.name("ana")
    assert main(["team", "add", ana, "--role", "annotator", "--db", db, "--project",
                 "pets"]) == 0
    out = capsys.readouterr().out
    (pw_line,) = [ln for ln in out.splitlines() if ln.startswith("password")]
    password = pw_line.rsplit(" ", 1)[1]
    assert out.count(password) == 2  # the password line and the pgpass line
    assert f"{ana}@" in out
    # again: no new password
    assert main(["team", "add", ana, "--db", db, "--project", "pets"]) == 0
    assert "password unchanged" in capsys.readouterr().out
    # 3. the annotator, in a notebook, connects as herself
    pa = labelnb.open(team.url("ana"), "pets")
    q = pa.queue()
    assert q.claim() is not None
    q.submit(Choice("cat"))
    pa.close()
    # the lead lists the team and reads the audit log
    assert main(["team", "list", "--db", db, "--project", "pets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"name": ana, "role": "annotator", "active": True, "login": True,
                     "groups": [f"{team.prefix}_annotator"]}]
    assert main(["audit", db, "--name", "pets", "--user", ana]) == 0
    out = capsys.readouterr().out
    assert "claim" in out and "submit" in out and ana in out
    assert main(["audit", db, "--name", "pets", "--kind", "team_member_added", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert [e["payload"]["name"] for e in ev] == [ana, ana]
    assert main(["audit", db, "--name", "pets", "--since", "2000-01-01", "--until",
                 "2001-01-01"]) == 0
    assert "no events match" in capsys.readouterr().out
    p.close()


def test_pgpass_role_remove_and_errors(team: Any, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    db = team.url()
    pgpass = tmp_path / "pgpass"
    dora = team.name("dora")
    assert main(["team", "add", dora, "--role", "reviewer", "--db", db, "--project", "pets",
                 "--pgpass", str(pgpass)]) == 0
    out = capsys.readouterr().out
    password = pgpass.read_text().strip().rsplit(":", 1)[1]
    assert password not in out and "not shown" in out
    assert stat.S_IMODE(pgpass.stat().st_mode) == 0o600
    assert main(["team", "role", dora, "lead", "--db", db, "--project", "pets"]) == 0
    assert main(["team", "remove", dora, "--db", db, "--project", "pets"]) == 0
    capsys.readouterr()
    assert main(["audit", db, "--name", "pets", "--kind", "role_changed"]) == 0
    assert dora in capsys.readouterr().out
    # a member cannot run the lead's commands: the database says no
    assert main(["team", "add", team.name("x"), "--db", team.url("ana"), "--project",
                 "pets"]) == 2
    err = capsys.readouterr().err
    assert "permission denied for function labelnb_team_add" in err and "only leads" in err
    assert main(["team", "add", "x", "--db", db]) == 2
    assert "--project" in capsys.readouterr().err
    assert main(["team", "list", "--project", "pets"]) == 2  # no --db, no LABELNB_DB
    assert "--db" in capsys.readouterr().err


def test_team_init_needs_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "labels.db"
    labelnb.Project.create(db, "p", labelnb.Schema("choice", ["a"])).close()
    assert main(["team", "init", "--db", str(db), "--project", "p"]) == 2
    assert "needs PostgreSQL" in capsys.readouterr().err
