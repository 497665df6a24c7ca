"""nbval settings for the example notebooks (``pytest --nbval-lax notebooks``).

nbval reads ``--nbval-sanitize-with`` when it starts each notebook's kernel; this
hook gives it ``nbval_sanitize.cfg`` (the patterns for ids, times, addresses and temp
folders) unless the command line names another file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def pytest_configure(config: pytest.Config) -> None:
    option = config.option
    if hasattr(option, "nbval_sanitize_with") and option.nbval_sanitize_with is None:
        option.nbval_sanitize_with = str(SANITIZE)
