"""The examples in the docstrings run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "labelnb.types",
    "labelnb.schema",
    "labelnb.project",
    "labelnb.queue.routing",
    "labelnb.queue.queue",
    "labelnb.metrics.tiers",
    "labelnb.metrics.redundancy",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0, f"{res.failed} doctest(s) failed in {name}"
    if name != "labelnb.queue.queue":
        assert res.attempted > 0, f"{name} has no runnable example"
