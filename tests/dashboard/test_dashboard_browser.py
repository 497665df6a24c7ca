"""The served dashboard in a real Chromium: the Bokeh plots render, the annotator
table shows the names and kappas, and nothing is fetched from outside the server."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

import labelnb
from labelnb.dashboard import data as dd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "widgets"))
from harness import BOKEH_LIVE_JS as _LIVE_JS  # noqa: E402
from harness import CHROMIUM_ARGS, find_chromium  # noqa: E402
from harness import _free_port as free_port  # noqa: E402

SCREENSHOTS = Path(__file__).parent / "screenshots"
SCREENSHOT = SCREENSHOTS / "dashboard.png"


def _wait(cond: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not get there in time")
        time.sleep(0.1)


def _drawn(page: Any) -> list[tuple[str, int]]:
    """(glyph type, rows) of every glyph with data on the page's live Bokeh plots."""
    return sorted((g, n) for g, n, _, _ in page.evaluate(_GLYPHS_JS) if n > 0)


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_dashboard_renders_in_chromium(choice_project: labelnb.Project) -> None:
    pytest.importorskip("panel")  # the [dashboard] extra
    from labelnb.dashboard.app import _fmt

    s = dd.summarize(dd.load(choice_project))
    kappas = s.annotators.set_index("annotator")["mean_kappa"]
    requests: list[str] = []
    failed: list[str] = []
    with served_page(choice_project, "pets", refresh_s=1.0, requests=requests,
                     failed=failed) as page:
        # the Overview tab: the queue table with its bars, the throughput and
        # accuracy-over-time charts
        _wait(lambda: len(_drawn(page)) >= 3
              and page.get_by_text("cy", exact=True).count() > 0)
        bar = page.locator("table.lnb-queue .lnb-queue-bar span")
        assert bar.count() == 1 and bar.get_attribute("title") == "done: 30 (100.0%)"
        page.wait_for_timeout(500)  # let the last plots paint
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        glyphs = _drawn(page)
        assert {"Quad", "Line"} <= {g for g, _ in glyphs}, glyphs
        # the accuracy curves: one line per annotator, with points
        assert sum(1 for g, n in glyphs if g == "Line" and n > 1) >= 3
        for name in ("ana", "bob", "cy"):
            assert page.get_by_text(name, exact=True).count() > 0, name
        for name in ("ana", "bob", "cy"):
            text = _fmt(kappas[name])
            assert page.get_by_text(text, exact=True).count() > 0, (name, text)
        assert page.get_by_text("pets: labeling quality").count() == 1
        # the Agreement tab, drawn when shown: two 3 x 3 heat maps with their
        # numbers, and one bar per label
        page.get_by_text("Agreement", exact=True).click()
        _wait(lambda: sum(1 for g, n in _drawn(page) if g == "Rect" and n == 9) == 2)
        glyphs = _drawn(page)
        assert sum(1 for g, n in glyphs if g == "Text" and n == 9) == 2, glyphs
        assert ("VBar", 3) in glyphs, glyphs
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / "dashboard_agreement.png"),
                        full_page=True)
        # the Disagreements tab: the table and the lowest-agreement item
        page.get_by_text("Disagreements", exact=True).click()
        page.get_by_text("Disagreements (lowest agreement first)").wait_for(
            timeout=20_000)
        page.get_by_text("ana: dog; bob: cat; cy: bird").first.wait_for(
            timeout=20_000)
        page.get_by_text("Overview", exact=True).click()
        # the page refreshes itself: a new annotator shows up without a reload
        choice_project.add_items(["t10"])
        q = choice_project.queue("dee")
        q.claim()
        q.submit(labelnb.Choice("cat"))
        page.get_by_text("dee", exact=True).first.wait_for(timeout=20_000)
    hosts = {urlparse(u).hostname for u in requests if urlparse(u).scheme in ("http", "https",
                                                                             "ws", "wss")}
    outside = sorted(u for u in requests if urlparse(u).hostname not in (None, "127.0.0.1")
                     and urlparse(u).scheme in ("http", "https", "ws", "wss"))
    assert hosts == {"127.0.0.1"}, f"requests outside the server: {outside}"
    assert not failed, failed
    assert SCREENSHOT.stat().st_size > 10_000


@contextmanager
def served_page(project: labelnb.Project, name: str, *, refresh_s: float | None = None,
                requests: list[str] | None = None, failed: list[str] | None = None
                ) -> Iterator[Any]:
    """The served dashboard of ``project`` open in a fresh Chromium page; ``requests`` /
    ``failed`` collect every request the page makes / every one that failed."""
    from playwright import sync_api  # [dev]: the browser tests are not optional

    from labelnb.dashboard import serve

    try:
        chromium = find_chromium()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    port = free_port()
    server = serve(project.store.url, name, port=port, show=False, threaded=True,
                   address="127.0.0.1", refresh_s=refresh_s)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                if requests is not None:
                    page.on("request", lambda r: requests.append(r.url))
                if failed is not None:
                    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
                url = f"http://127.0.0.1:{port}/dashboard"
                for _ in range(50):  # the server thread may still be starting
                    try:
                        page.goto(url, wait_until="load", timeout=10_000)
                        break
                    except sync_api.Error:
                        time.sleep(0.2)
                yield page
            finally:
                browser.close()
    finally:
        server.stop()


# every glyph renderer on the page: [glyph, rows, line colour, data]
_GLYPHS_JS = """() => {""" + _LIVE_JS + """
  const out = [];
  for (const m of live) {
    if (m.constructor.__name__ !== "GlyphRenderer") continue;
    const g = m.glyph, src = m.data_source, data = {};
    for (const col of ["left", "right", "top", "bottom", "label"])
      if (src.data[col] !== undefined) data[col] = Array.from(src.data[col]);
    out.push([g.constructor.__name__, src.get_length(),
              g.line_color && g.line_color.value !== undefined ? g.line_color.value : null,
              data]);
  }
  return out;
}"""
_LEGEND_JS = """() => {""" + _LIVE_JS + """
  const out = [];
  for (const m of live)
    if (m.constructor.__name__ === "LegendItem" && m.label && m.label.value !== undefined)
      out.push(m.label.value);
  return out;
}"""


def _quads(page: Any) -> list[tuple[str, list[float]]]:
    """(line colour, [left, bottom, right, top]) of each drawn box."""
    out = []
    for glyph, rows, color, data in page.evaluate(_GLYPHS_JS):
        if glyph == "Quad" and "label" in data:  # (the throughput histogram has none)
            for i in range(rows):
                out.append((color, [data[k][i] for k in ("left", "bottom", "right", "top")]))
    return sorted(out)


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_disagreement_browser_draws_each_annotators_boxes(
        geometry_project: labelnb.Project) -> None:
    """The box project's disagreement browser, in Chromium: the lowest-agreement item
    is drawn with each annotator's box in their own colour (y flipped into the plot's
    upward axis, image height 60), with a legend; choosing another item redraws."""
    pytest.importorskip("panel")
    from labelnb.dashboard.app import Dashboard

    p = geometry_project
    a, b, c = p.ids  # type: ignore[attr-defined]
    colors = Dashboard(p, refresh_s=None).colors
    with served_page(p, "geo") as page:
        page.get_by_text("Disagreements", exact=True).click()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_quads(page)) < 3:
            page.wait_for_timeout(250)
        page.wait_for_timeout(500)
        assert _quads(page) == sorted([
            (colors["ana"], [0.0, 40.0, 20.0, 60.0]),
            (colors["bob"], [30.0, 40.0, 50.0, 60.0]),
            (colors["cy"], [60.0, 1.0, 79.0, 30.0])])
        assert {"ana", "bob", "cy"} <= set(page.evaluate(_LEGEND_JS))
        assert page.get_by_text("(other boxes #2)", exact=True).count() == 1
        assert page.get_by_text(f"item {c}", exact=True).count() == 1
        page.screenshot(path=str(SCREENSHOTS / "disagreement_boxes.png"), full_page=True)
        # the next item: ana and bob agree, cy's box is elsewhere
        pick = page.locator("select", has=page.locator("option", has_text="agreement 0.67"))
        pick.select_option(label=f"item {b} (agreement 0.67)")
        page.get_by_text(f"item {b}", exact=True).wait_for(timeout=20_000)
        deadline = time.monotonic() + 20
        want = sorted([(colors["ana"], [10.0, 30.0, 30.0, 50.0]),
                       (colors["bob"], [11.0, 29.0, 31.0, 49.0]),
                       (colors["cy"], [50.0, 10.0, 70.0, 30.0])])
        while time.monotonic() < deadline and _quads(page) != want:
            page.wait_for_timeout(250)
        assert _quads(page) == want
    assert (SCREENSHOTS / "disagreement_boxes.png").stat().st_size > 10_000


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_disagreement_browser_shows_spans_as_text(span_project: labelnb.Project) -> None:
    """The span project's text contains markup-like characters: in the page they are
    text (no <b> element appears), and each annotator's spans are highlighted."""
    pytest.importorskip("panel")
    with served_page(span_project, "ner") as page:
        page.get_by_text("Disagreements", exact=True).click()
        marks = page.locator("mark.lnb-span")
        marks.first.wait_for(timeout=60_000)
        assert marks.count() == 3  # ana: PER + ORG, bob: ORG
        assert sorted(marks.all_inner_texts()) == ["ACME", "Ann", "Ann"]
        assert page.get_by_text("<b>", exact=False).count() >= 1  # shown, not parsed
        assert page.locator("table.lnb-disagreement b:not(.lnb-annotator)").count() == 0
        page.screenshot(path=str(SCREENSHOTS / "disagreement_spans.png"), full_page=True)
