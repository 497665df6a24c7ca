"""The examples in labelnb.prelabel's docstrings run (as tests/test_doctests.py does for
the other packages)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "labelnb.prelabel",
    "labelnb.prelabel.lf",
    "labelnb.prelabel.label_model",
    "labelnb.prelabel.apply",
    "labelnb.prelabel.local",
    "labelnb.prelabel.tiers",
    "labelnb.prelabel.llm",
    "labelnb.prelabel.llm.prompt",
    "labelnb.prelabel.llm.parse",
    "labelnb.prelabel.llm.confidence",
    "labelnb.prelabel.llm.cost",
    "labelnb.prelabel.llm.cache",
    "labelnb.prelabel.llm.providers",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    if name == "labelnb.prelabel.local":
        pytest.importorskip("spacy")
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0, f"{res.failed} doctest(s) failed in {name}"
    assert res.attempted > 0, f"{name} has no runnable example"
