"""``labelnb dashboard DB``: usage errors, and a real server in a subprocess whose
page loads its JavaScript from itself (no CDN)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import labelnb
from labelnb.cli import main


def test_dashboard_command_is_listed_and_checks_the_db(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "dashboard" in capsys.readouterr().out
    assert main(["dashboard", str(tmp_path / "nope.db"), "--no-show"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()
    db = tmp_path / "two.db"
    labelnb.Project.create(db, "a", labelnb.Schema("choice", ["x"])).close()
    labelnb.Project.create(db, "b", labelnb.Schema("choice", ["x"])).close()
    assert main(["dashboard", str(db), "--no-show"]) == 2
    assert "pick one with --name" in capsys.readouterr().err
    assert main(["dashboard", str(db), "--name", "zzz", "--no-show"]) == 2
    assert "zzz" in capsys.readouterr().err


@pytest.mark.timeout(90)
def test_dashboard_command_serves_without_cdn(choice_project: labelnb.Project) -> None:
    pytest.importorskip("panel")
    db = choice_project.store.url.removeprefix("sqlite:///")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "labelnb", "dashboard", db, "--port",
                             str(port), "--no-show"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        page = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/dashboard",
                                            timeout=20) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(0.3)
        assert page, proc.stdout.read() if proc.poll() is not None and proc.stdout else ""
        srcs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
        assert srcs and all(not s.startswith(("http://", "https://", "//"))
                            or s.startswith(f"http://localhost:{port}/") for s in srcs), srcs
        assert "cdn." not in page
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "serving the dashboard of 'pets'" in out
