"""The examples in the docstrings run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

# every module's examples run; these must have at least one
MODULES = [
    "labelnb.types",
    "labelnb.schema",
    "labelnb.project",
    "labelnb.queue.routing",
    "labelnb.queue.queue",
    "labelnb.metrics.tiers",
    "labelnb.metrics.redundancy",
]


def _all_modules() -> list[str]:
    import pkgutil

    import labelnb

    return sorted(m.name for m in pkgutil.walk_packages(labelnb.__path__, "labelnb.")
                  if m.name != "labelnb.__main__")  # importing it runs the CLI


@pytest.mark.parametrize("name", _all_modules())
def test_docstring_examples(name: str) -> None:
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0, f"{res.failed} doctest(s) failed in {name}"
    if name in MODULES and name != "labelnb.queue.queue":
        assert res.attempted > 0, f"{name} has no runnable example"
