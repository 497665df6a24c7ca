"""The examples in ``docs/*.md`` run (doctest), one test per page.

Each page's ``>>>`` examples (inside ``pycon`` fences) make their own project in a
temporary folder; a page must hold at least one example.
"""

from __future__ import annotations

import doctest
import warnings
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def test_pages_exist() -> None:
    names = {p.name for p in PAGES}
    for page in ("index.md", "queue.md", "widgets.md", "metrics.md", "formats.md",
                 "segment.md", "jobs.md", "dashboard.md", "active.md", "prelabel.md"):
        assert page in names, f"docs/{page} is missing"


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_doc_page(path: Path) -> None:
    with warnings.catch_warnings():  # a page's warning filters stay on that page
        res = doctest.testfile(str(path), module_relative=False,
                               optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples failed in {path.name}"
    assert res.attempted > 0, f"{path.name} has no runnable example"
