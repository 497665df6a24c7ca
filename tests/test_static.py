"""The house rules that tools check: mypy --strict and ruff stay clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_strict() -> None:
    res = _run(sys.executable, "-m", "mypy")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_ruff() -> None:
    res = _run(str(BIN / "ruff"), "check", "labelnb", "tests", "benchmarks", "gpu_jobs")
    assert res.returncode == 0, res.stdout[-4000:]
