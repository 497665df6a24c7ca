"""PolygonAnnotator's magic wand in a real JupyterLab, driven by a real Chromium.

A click on a coin of ``skimage.data.coins()`` (shown downscaled) goes to the default
classical wand in the kernel; its outline comes back dashed; Enter accepts it as one
polygon (one undo step), which is then edited like any other polygon.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_polygon_mask_browser import COIN_SETUP, Canvas, cycle_wand_candidates

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT_MS = 60_000
CW, CH = 384, 303  # coins(), in original pixels
CLICK = (154.5, 127.5)  # inside a coin, original pixels

WAND_DONE = ("() => { const e = document.querySelector('.lnb-polygon');"
             " return e.dataset.wandDone === e.dataset.wandSeq && +e.dataset.candidates > 0; }")

CELLS = [
    COIN_SETUP + """from labelnb.widgets import PolygonAnnotator
from labelnb.widgets.mask import polygon_to_mask
ys, xs = np.nonzero(REF)
REF_BOX = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)  # the coin's box, pixel corners
def box_iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))
def report():
    return json.dumps([{"label": p.label, "points": list(p.points), "score": p.score,
        "box_iou": box_iou((p.bbox.x0, p.bbox.y0, p.bbox.x1, p.bbox.y1), REF_BOX),
        "iou": iou(polygon_to_mask(p, *coins.shape).to_array(), REF),
        "inside": bool(polygon_to_mask(p, *coins.shape).to_array()[127, 154])}
        for p in w.annotations])
w = PolygonAnnotator(coins, labels=["coin", "hole"], max_display=300)
w""",
    'print("ACCEPTED:" + report())',
    'print("EDITED:" + report())',
    'print("UNDONE:" + report())',
]


def test_wand_click_enter_gives_the_coins_polygon_and_undo_removes_it(open_notebook: Any
                                                                      ) -> None:
    nb = open_notebook("polygon_wand.ipynb", CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-polygon[data-ready='1']")
    widget.wait_for(timeout=TIMEOUT_MS)
    c = Canvas(nb.page, widget.locator("canvas"), CW, CH)
    assert c.r["width"] < CW  # really shown downscaled: the wand maps display -> original
    c.click(0.02, 0.02, button="middle")  # focus without drawing
    nb.page.keyboard.press("w")
    widget.locator(".lnb-tool.lnb-active", has_text="Wand (W)").wait_for()
    info = widget.locator(".lnb-info")
    info.filter(has_text="wand: click the object").wait_for()
    c.click(CLICK[0] / CW, CLICK[1] / CH)  # a positive click inside the coin
    nb.page.wait_for_function(WAND_DONE, timeout=TIMEOUT_MS)
    cycle_wand_candidates(nb.page, widget)  # Tab cycles, round to the best one again
    widget.screenshot(path=str(SCREENSHOTS / "polygon_wand.png"))
    assert widget.get_attribute("data-polygons") == "0"  # a candidate is not a polygon yet
    nb.page.keyboard.press("Enter")  # accept: one polygon of the current class
    nb.page.locator(".lnb-polygon[data-polygons='1'][data-candidates='0']").wait_for()
    nb.run_cell(1)
    accepted = json.loads(nb.output_text(1, "ACCEPTED:"))
    assert len(accepted) == 1, (accepted, nb.errors)
    (poly,) = accepted
    assert poly["label"] == "coin" and poly["score"] is None  # accepted by a person
    assert poly["inside"] and poly["box_iou"] >= 0.8 and poly["iou"] >= 0.8, poly
    assert 8 <= len(poly["points"]) // 2 <= 150  # editable, not one vertex per pixel

    # the accepted polygon is an ordinary one: back to drawing, drag its first vertex
    c = Canvas(nb.page, widget.locator("canvas"), CW, CH)  # running a cell scrolls the page
    c.click(0.02, 0.02, button="middle")  # ... and takes the focus: take it back
    nb.page.keyboard.press("w")  # wand off
    widget.locator(".lnb-tool.lnb-active", has_text="Draw").wait_for()
    x0, y0 = poly["points"][0], poly["points"][1]
    to = (x0 / CW + 0.05, y0 / CH - 0.05)
    c.drag((x0 / CW, y0 / CH), to)
    nb.run_cell(2)
    (edited,) = json.loads(nb.output_text(2, "EDITED:"))
    want = c.orig(*to)
    got = edited["points"][:2]
    assert abs(got[0] - want[0]) <= 1.5 and abs(got[1] - want[1]) <= 1.5, (got, want)
    assert edited["points"][2:] == poly["points"][2:]

    c = Canvas(nb.page, widget.locator("canvas"), CW, CH)
    c.click(0.02, 0.02, button="middle")
    nb.page.keyboard.press("Control+z")  # undo the drag ...
    nb.page.keyboard.press("Control+z")  # ... and the wand's polygon: one step
    nb.page.locator(".lnb-polygon[data-polygons='0']").wait_for()
    nb.page.keyboard.press("?")  # the help overlay lists the wand's key and clicks
    overlay = widget.locator(".lnb-overlay")
    overlay.filter(has_text="negative point").wait_for()
    assert overlay.filter(has_text="magic wand").count() == 1
    nb.page.keyboard.press("Escape")  # closes the overlay
    overlay.wait_for(state="detached")
    nb.run_cell(3)
    assert json.loads(nb.output_text(3, "UNDONE:")) == [], nb.errors


def test_wand_escape_clears_and_a_stale_reply_is_ignored(open_notebook: Any) -> None:
    cells = [CELLS[0] + """
import time
_fn = w.segment_fn
def slow(image, points, labels, box):  # a slow segmenter: the reply comes after Escape
    time.sleep(1.5)
    return _fn(image, points, labels, box)
w.segment_fn = slow
w""", 'print("N:" + str(len(w.annotations)))']
    nb = open_notebook("polygon_wand_stale.ipynb", cells)
    nb.run_all()
    widget = nb.page.locator(".lnb-polygon[data-ready='1']")
    widget.wait_for(timeout=TIMEOUT_MS)
    c = Canvas(nb.page, widget.locator("canvas"), CW, CH)
    c.click(0.02, 0.02, button="middle")
    nb.page.keyboard.press("w")
    c.click(CLICK[0] / CW, CLICK[1] / CH)
    info = widget.locator(".lnb-info")
    info.filter(has_text="wand: segmenting").wait_for()
    nb.page.keyboard.press("Escape")  # clears the point while Python is still segmenting
    info.filter(has_text="wand: click the object").wait_for()
    nb.page.wait_for_timeout(3000)  # the reply arrives, stale: no candidate is shown
    assert widget.get_attribute("data-candidates") == "0"
    assert info.inner_text().startswith("wand: click the object")
    nb.page.keyboard.press("Enter")  # nothing to accept (and not bound: no submit)
    nb.page.wait_for_timeout(300)
    assert widget.get_attribute("data-polygons") == "0"
    c.click(CLICK[0] / CW, CLICK[1] / CH)  # asked again: this reply is current
    nb.page.wait_for_function(WAND_DONE, timeout=TIMEOUT_MS)
    nb.page.keyboard.press("Escape")  # clears the candidates
    nb.page.locator(".lnb-polygon[data-candidates='0']").wait_for()
    nb.page.keyboard.press("Enter")
    nb.page.wait_for_timeout(300)
    nb.run_cell(1)
    assert nb.output_text(1, "N:").strip() == "0", nb.errors
