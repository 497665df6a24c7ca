"""The served dashboard in a real Chromium: the Bokeh plots render, the annotator
table shows the names and kappas, and nothing is fetched from outside the server."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

import labelnb
from labelnb.dashboard import data as dd

SCREENSHOT = Path(__file__).parent / "screenshots" / "dashboard.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
N_PLOTS = 6  # queue, throughput, kappa, per-class, confusion, accuracy over time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_dashboard_renders_in_chromium(choice_project: labelnb.Project) -> None:
    pytest.importorskip("panel")
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not on PATH in CI; scripts/ensure_chromium.sh installs it")
        pytest.skip("no chromium on PATH")
    from labelnb.dashboard import serve
    from labelnb.dashboard.app import _fmt

    s = dd.summarize(dd.load(choice_project))
    kappas = s.annotators.set_index("annotator")["mean_kappa"]
    port = free_port()
    server = serve(choice_project.store.url, "pets", port=port, show=False, threaded=True,
                   address="127.0.0.1", refresh_s=1.0)
    requests: list[str] = []
    failed: list[str] = []
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.on("request", lambda r: requests.append(r.url))
                page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
                url = f"http://127.0.0.1:{port}/dashboard"
                for _ in range(50):  # the server thread may still be starting
                    try:
                        page.goto(url, wait_until="load", timeout=10_000)
                        break
                    except sync_api.Error:
                        time.sleep(0.2)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if (page.locator("canvas").count() >= N_PLOTS
                            and page.get_by_text("cy", exact=True).count() > 0):
                        break
                    page.wait_for_timeout(250)
                page.wait_for_timeout(1000)  # let the last plots paint
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
                assert page.locator("canvas").count() >= N_PLOTS
                for name in ("ana", "bob", "cy"):
                    assert page.get_by_text(name, exact=True).count() > 0, name
                for name in ("ana", "bob", "cy"):
                    text = _fmt(kappas[name])
                    assert page.get_by_text(text, exact=True).count() > 0, (name, text)
                assert page.get_by_text("pets: labeling quality").count() == 1
                assert page.get_by_text("Disagreements (lowest agreement first)").count() == 1
                # the page refreshes itself: a new annotator shows up without a reload
                choice_project.add_items(["t10"])
                q = choice_project.queue("dee")
                q.claim()
                q.submit(labelnb.Choice("cat"))
                page.get_by_text("dee", exact=True).first.wait_for(timeout=20_000)
            finally:
                browser.close()
    finally:
        server.stop()
    hosts = {urlparse(u).hostname for u in requests if urlparse(u).scheme in ("http", "https",
                                                                             "ws", "wss")}
    assert hosts == {"127.0.0.1"}, f"requests outside the server: {sorted(hosts)}"
    assert not failed, failed
    assert SCREENSHOT.stat().st_size > 10_000
