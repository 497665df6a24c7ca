"""Credentials: a password never shows in repr(project), error messages, logs or the
command line's output; libpq's own sources (PG* variables, ~/.pgpass,
pg_service.conf) work; SQLite files are created 0600."""

from __future__ import annotations

import logging
import os
import stat
import traceback
from pathlib import Path
from typing import Any

import pytest

import labelnb
from labelnb.cli import main
from labelnb.errors import DatabaseUnreachable, StoreError
from labelnb.queue.store import Store
from labelnb.team.credentials import pgpass_line, redact, safe_url, write_pgpass
from labelnb.types import Choice

SECRET = "Sup3r-s3cret_pw"


def _everything(e: BaseException) -> str:
    return "".join(traceback.format_exception(e)) + repr(e) + str(e)


def test_redact() -> None:
    assert redact(f"postgresql://ana:{SECRET}@db:5432/x") == "postgresql://ana:***@db:5432/x"
    assert redact(f"host=db password={SECRET} user=ana") == "host=db password=*** user=ana"
    assert redact(f"password='{SECRET} x'") == "password=***"
    assert redact("postgresql://ana@db/x and sqlite:///tmp/a.db") == (
        "postgresql://ana@db/x and sqlite:///tmp/a.db")
    assert SECRET not in safe_url(f"postgresql+psycopg://ana:{SECRET}@db/x?sslmode=require")


def test_sqlite_file_is_private(tmp_path: Path) -> None:
    db = tmp_path / "labels.db"
    p = labelnb.Project.create(db, "p", labelnb.Schema("choice", ["a"]))
    p.add_items(["x"])
    q = p.queue("ana")
    q.claim()
    q.submit(Choice("a"))
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if f.exists():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    p.close()


def test_failed_connection_hides_the_password(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(DatabaseUnreachable) as e:
            Store(f"postgresql://ana:{SECRET}@127.0.0.1:1/nowhere?connect_timeout=2")
        assert SECRET not in _everything(e.value)
        with pytest.raises(StoreError) as e2:
            Store(f"postgresql://ana:{SECRET}@127.0.0.1:notaport/x")
        assert SECRET not in _everything(e2.value)
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_cli_errors_hide_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", f"postgresql://ana:{SECRET}@127.0.0.1:1/x?connect_timeout=2"]) == 2
    out = capsys.readouterr()
    assert "error:" in out.err and SECRET not in out.err + out.out


@pytest.mark.postgres
def test_password_in_url_never_shows(team: Any, caplog: pytest.LogCaptureFixture,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # the test server trusts local connections, so any password is accepted: what
    # matters is where labelnb shows it
    url = team.url("ana").replace("_ana@", f"_ana:{SECRET}@")
    assert SECRET in url
    with caplog.at_level(logging.DEBUG):
        p = labelnb.open(url, "pets")
        q = p.queue()
        q.claim()
        q.submit(Choice("cat"))
        shown = [repr(p), str(p), repr(p.store), p.store.url, str(p.store.engine.url),
                 repr(q), repr(p.security), repr(p.annotators.table()), p.events.__doc__ or ""]
        with pytest.raises(labelnb.errors.PermissionDenied) as e:
            p.queue("someone else")
        shown.append(_everything(e.value))
        p.close()
    assert not [s for s in shown if SECRET in s]
    assert not any(SECRET in r.getMessage() for r in caplog.records)
    # the command line, pointed at the same URL
    assert main(["status", url.replace("_ana:", "_ana:"), "--name", "pets"]) in (0, 2)
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err


@pytest.mark.postgres
def test_pgpass_is_what_libpq_reads(team: Any, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("other:5432:*:x:y\n")
    os.chmod(pgpass, 0o644)  # too open: libpq would ignore it; write_pgpass tightens it
    who = team.name("ana")
    write_pgpass(pgpass, host="127.0.0.1", port=5432, dbname="test", user=who,
                 password="first")
    write_pgpass(pgpass, host="127.0.0.1", port=5432, dbname="test", user=who,
                 password=SECRET)  # replaces, does not append a second line
    assert stat.S_IMODE(pgpass.stat().st_mode) == 0o600
    lines = pgpass.read_text().splitlines()
    assert lines == ["other:5432:*:x:y", pgpass_line("127.0.0.1", 5432, "test", who, SECRET)]
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    store = Store(team.url("ana"))  # no password in the URL
    fairy = store.engine.raw_connection()
    try:
        assert fairy.driver_connection.info.password == SECRET  # libpq took it from the file
    finally:
        fairy.close()
    assert SECRET not in repr(store) + store.url
    store.dispose()


@pytest.mark.postgres
def test_pg_environment_and_service_file(team: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.engine import make_url

    base = make_url(team.base.replace("postgresql+psycopg://", "postgresql://"))
    host, db = base.host or "127.0.0.1", base.database or "test"
    # everything from PG* variables: postgresql:// alone
    monkeypatch.setenv("PGHOST", host)
    monkeypatch.setenv("PGDATABASE", db)
    monkeypatch.setenv("PGUSER", team.name("ana"))
    monkeypatch.setenv("PGOPTIONS", f"-csearch_path={team.schema}")
    p = labelnb.open("postgresql://", "pets")
    assert p.security is not None and p.security.user == team.name("ana")
    p.close()
    for var in ("PGHOST", "PGDATABASE", "PGUSER", "PGOPTIONS"):
        monkeypatch.delenv(var)
    # a service in pg_service.conf
    conf = tmp_path / "pg_service.conf"
    conf.write_text(f"[labelnb_test]\nhost={host}\ndbname={db}\nuser={team.name('bob')}\n"
                    f"options=-csearch_path={team.schema}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(conf))
    p = labelnb.open("postgresql:///?service=labelnb_test", "pets")
    assert p.security is not None and p.security.user == team.name("bob")
    assert p.queue().claim() is not None
    p.close()


@pytest.mark.postgres
def test_team_add_writes_pgpass_once(team: Any, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    pgpass = tmp_path / "home" / ".pgpass"
    with caplog.at_level(logging.DEBUG):
        m = labelnb.team.add_member(team.owner, team.name("dora"), "annotator",
                                    pgpass=str(pgpass))
    assert m.created and m.password is None  # written, not returned
    assert stat.S_IMODE(pgpass.stat().st_mode) == 0o600
    (line,) = pgpass.read_text().splitlines()
    password = line.rsplit(":", 1)[1]
    assert not any(password in r.getMessage() for r in caplog.records)
    # the server got a SCRAM verifier, never the password itself
    verifier = team.sql().execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                                  (team.name("dora"),)).fetchone()[0]
    assert verifier.startswith("SCRAM-SHA-256$") and password not in verifier
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    store = Store(team.url("dora"))
    fairy = store.engine.raw_connection()
    try:
        assert fairy.driver_connection.info.password == password
    finally:
        fairy.close()
        store.dispose()
