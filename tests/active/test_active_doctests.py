"""The docstring examples of labelnb.active run (as tests/test_doctests.py does for the
other modules)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "labelnb.active.uncertainty",
    "labelnb.active.diversity",
    "labelnb.active.strategies",
    "labelnb.active.adapters",
    "labelnb.active.loop",
    "labelnb.active.guard",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0, f"{res.failed} doctest(s) failed in {name}"
    assert res.attempted > 0, f"{name} has no runnable example"
