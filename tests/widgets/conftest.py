"""A real JupyterLab and a real Chromium (Playwright) for the widget tests.

The session starts one JupyterLab server (no token, temp root, its own settings and
workspaces dirs) and one headless Chromium (Debian's; Playwright's download is not
used). Each test writes its notebook into the root and opens it in a fresh workspace.
The machinery lives in harness.py, which the browser benchmarks share.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from harness import (  # noqa: E402
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    Lab,
    NotebookPage,
    find_chromium,
    start_lab,
)
from harness import open_notebook as _open_notebook  # noqa: E402

SCREENSHOTS = Path(__file__).parent / "screenshots"
__all__ = ["SCREENSHOTS", "TIMEOUT_MS", "NotebookPage"]


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    try:
        with start_lab(tmp_path_factory.mktemp("lab"), tmp_path_factory.mktemp("labcfg")) as lb:
            yield lb
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright import sync_api as pw_sync  # [dev]: the browser tests are not optional

    try:
        exe = find_chromium()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    with pw_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed browser test leaves a screenshot of each page it opened:
    screenshots/FAILED_<test>_<n>.png (kept as a test artifact, ignored by git)."""
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.when != "call" or not rep.failed:
        return
    for n, page in enumerate(getattr(item, "_lnb_pages", [])):
        try:
            page.screenshot(path=str(SCREENSHOTS / f"FAILED_{item.name}_{n}.png"),
                            full_page=True)
        except Exception:  # noqa: BLE001 - a closed page must not hide the real failure
            pass


@pytest.fixture
def open_notebook(request: pytest.FixtureRequest, browser: Any, lab: Lab) -> Iterator[Any]:
    pages: list[Any] = []
    request.node._lnb_pages = pages

    def _open(name: str, cells: list[str]) -> NotebookPage:
        return _open_notebook(browser, lab, name, cells, pages)

    yield _open
    for p in pages:
        p.close()
