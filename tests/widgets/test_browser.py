"""The widgets in a real JupyterLab, driven by a real Chromium (Playwright)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

W, H = 1600, 1200  # larger than the display size: the widget shows it downscaled

BOX_CELLS = [
    f"""import json
import numpy as np
from PIL import Image
from labelnb.widgets import BoxAnnotator
yy, xx = np.mgrid[0:{H}, 0:{W}]
arr = np.stack([xx * 255 // {W}, yy * 255 // {H}, ((xx // 100 + yy // 100) % 2) * 120],
               axis=-1).astype(np.uint8)
w = BoxAnnotator(Image.fromarray(arr), labels=["cat", "dog", "bird"], max_display=800)
w""",
    'print("BOXES:" + json.dumps([b.to_json() for b in w.annotations]))',
]


def _drag(page: Any, canvas: Any, f0: tuple[float, float], f1: tuple[float, float]
          ) -> tuple[float, float, float, float]:
    """Drag on the canvas between two fractions of its size; returns the expected box in
    original pixels (from where the mouse really went)."""
    r = canvas.bounding_box()
    x0, y0 = r["x"] + f0[0] * r["width"], r["y"] + f0[1] * r["height"]
    x1, y1 = r["x"] + f1[0] * r["width"], r["y"] + f1[1] * r["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=8)
    page.mouse.up()
    sx, sy = W / r["width"], H / r["height"]
    return ((x0 - r["x"]) * sx, (y0 - r["y"]) * sy, (x1 - r["x"]) * sx, (y1 - r["y"]) * sy)


def _ready_box_widget(nb: Any) -> Any:
    nb.run_all()
    widget = nb.page.locator(".lnb-box[data-ready='1']")
    widget.wait_for(timeout=TIMEOUT_MS)
    return widget


def test_box_drag_and_hotkey_give_original_pixels(open_notebook: Any) -> None:
    nb = open_notebook("boxes.ipynb", BOX_CELLS)
    widget = _ready_box_widget(nb)
    canvas = widget.locator("canvas")
    r = canvas.bounding_box()
    assert r["width"] < W  # really shown downscaled
    expected = _drag(nb.page, canvas, (0.2, 0.25), (0.6, 0.7))
    nb.page.keyboard.press("2")  # the class hotkey of "dog": relabels the new box
    widget.locator(".lnb-label.lnb-active", has_text="dog").wait_for()
    # resize: drag the selected box's bottom-right handle further out
    r = canvas.bounding_box()
    cx, cy = r["x"] + 0.6 * r["width"], r["y"] + 0.7 * r["height"]
    nb.page.mouse.move(cx, cy)
    nb.page.mouse.down()
    nb.page.mouse.move(cx + 40, cy + 30, steps=5)
    nb.page.mouse.up()
    sx, sy = W / r["width"], H / r["height"]
    expected = (expected[0], expected[1], expected[2] + 40 * sx, expected[3] + 30 * sy)
    # a second box, then undo and redo it: only the committed state reaches Python
    _drag(nb.page, canvas, (0.7, 0.1), (0.9, 0.3))
    nb.page.keyboard.press("Control+z")
    nb.page.keyboard.press("Control+Shift+z")
    r = canvas.bounding_box()
    nb.page.mouse.click(r["x"] + 0.8 * r["width"], r["y"] + 0.2 * r["height"])  # select it
    nb.page.keyboard.press("Delete")  # and delete it
    widget.screenshot(path=str(SCREENSHOTS / "box_annotator.png"))
    nb.run_cell(1)
    boxes = json.loads(nb.output_text(1, "BOXES:"))
    assert len(boxes) == 1, boxes
    b = boxes[0]
    assert b["label"] == "dog"
    for got, want in zip((b["x0"], b["y0"], b["x1"], b["y1"]), expected, strict=True):
        assert abs(got - want) <= 1.0, (b, expected)
        assert got == int(got)  # snapped to whole pixels


def test_keys_inside_widget_do_not_reach_notebook(open_notebook: Any) -> None:
    nb = open_notebook("keys.ipynb", BOX_CELLS)
    widget = _ready_box_widget(nb)
    before = nb.cell_count()
    widget.locator("canvas").click(position={"x": 5, "y": 5})  # focuses the widget
    assert nb.page.evaluate("document.activeElement.classList.contains('lnb-box')")
    for key in ("a", "b", "Enter", "a", "b", "z"):
        nb.page.keyboard.press(key)
    nb.page.wait_for_timeout(300)  # give any (wrongly) triggered command time to act
    assert nb.cell_count() == before
    assert nb.page.evaluate("document.activeElement.classList.contains('lnb-box')")
    # zoom in around the centre (+: x1.25), then draw: the view is undone before Python
    nb.page.keyboard.press("+")
    _drag(nb.page, widget.locator("canvas"), (0.25, 0.25), (0.75, 0.75))
    nb.run_cell(1)
    out = json.loads(nb.output_text(1, "BOXES:"))
    assert len(out) == 1, (out, nb.errors)
    (b,) = out
    # canvas fraction f shows image fraction 0.1 + 0.8 f
    want = (0.3 * W, 0.3 * H, 0.7 * W, 0.7 * H)
    got = (b["x0"], b["y0"], b["x1"], b["y1"])
    assert all(abs(g - e) <= 2.0 for g, e in zip(got, want, strict=True)), (got, want)
    before = nb.cell_count()
    # control: the same key with the notebook itself focused does insert a cell
    nb.page.evaluate("""() => { const nbw = window.jupyterapp.shell.currentWidget.content;
                                nbw.mode = 'command'; nbw.node.focus(); }""")
    nb.page.keyboard.press("b")
    nb.page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell')"
                              f".length === {before + 1}")


CHOICE_CELLS = [
    """import json, tempfile, os
import labelnb
db = os.path.join(tempfile.mkdtemp(), "reviews.db")
project = labelnb.Project.create(db, "reviews", labelnb.Schema("choice", ["pos", "neg", "meh"]))
ids = project.add_items(["a <b>great</b> film", "dull plot"])
project.add_predictions("m1", {ids[1]: [labelnb.Choice("meh", score=0.7)]})
w = project.annotate("ana")
w""",
    'print("CHOICE:" + json.dumps(project.annotations(annotator="ana")["labels"].tolist()))',
]


def test_bound_choice_submit(open_notebook: Any) -> None:
    nb = open_notebook("choice.ipynb", CHOICE_CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-choice")
    widget.locator(".lnb-status", has_text="0 done").wait_for()
    # item text is shown as text: the <b> tag is visible, not rendered
    text = widget.locator(".lnb-text")
    assert text.inner_text() == "a <b>great</b> film"
    assert text.locator("b").count() == 0
    widget.locator(".lnb-text").click()
    nb.page.keyboard.press("2")
    widget.locator(".lnb-option.lnb-picked", has_text="neg").wait_for()
    widget.screenshot(path=str(SCREENSHOTS / "choice_annotator.png"))
    widget.locator(".lnb-progress[data-done='0'][data-total='2']").wait_for()
    nb.page.keyboard.press("3")  # pick, undo the pick, redo it, then the final pick
    nb.page.keyboard.press("Control+z")
    widget.locator(".lnb-option.lnb-picked", has_text="neg").wait_for()
    nb.page.keyboard.press("Control+Shift+z")
    widget.locator(".lnb-option.lnb-picked", has_text="meh").wait_for()
    nb.page.keyboard.press("2")
    nb.page.keyboard.press("Enter")
    widget.locator(".lnb-status", has_text="1 done").wait_for()
    widget.locator(".lnb-progress[data-done='1'][data-total='2']").wait_for()
    # the next item's pre-annotation is shown as the suggested, preselected class
    widget.locator(".lnb-text", has_text="dull plot").wait_for()
    widget.locator(".lnb-option.lnb-picked.lnb-suggested", has_text="meh").wait_for()
    nb.run_cell(1)
    assert json.loads(nb.output_text(1, "CHOICE:")) == [["neg"]]


BOUND_BOX_CELLS = [
    f"""import json, tempfile, os
import numpy as np
from PIL import Image
import labelnb
from labelnb import Box
tmp = tempfile.mkdtemp()
paths = []
for i in range(2):
    yy, xx = np.mgrid[0:{H}, 0:{W}]
    arr = np.stack([xx * 200 // {W}, yy * 200 // {H}, np.full_like(xx, 90 + 60 * i)],
                   axis=-1).astype(np.uint8)
    arr[320:880, 420:1180] = (235, 225, 200)
    paths.append(os.path.join(tmp, f"img{{i}}.png"))
    Image.fromarray(arr).save(paths[-1])
project = labelnb.Project.create(os.path.join(tmp, "boxes.db"), "boxes",
                                 labelnb.Schema("boxes", ["car", "bus"]))
ids = project.add_items(paths)
project.add_predictions("m1", {{ids[0]: [Box(400, 300, 1200, 900, "bus", score=0.8)]}})
w = project.annotate("ana", max_display=800)
w""",
    'print("ANN:" + json.dumps(project.annotations(annotator="ana")["regions"].tolist()))',
]


def test_bound_boxes_accept_suggestion_submit_and_skip(open_notebook: Any) -> None:
    nb = open_notebook("bound_boxes.ipynb", BOUND_BOX_CELLS)
    widget = _ready_box_widget(nb)
    widget.locator(".lnb-status", has_text="0 done").wait_for()
    widget.screenshot(path=str(SCREENSHOTS / "annotate_boxes.png"))
    canvas = widget.locator("canvas")
    canvas.click(position={"x": 5, "y": 5})  # focus (a click draws nothing)
    nb.page.keyboard.press("y")  # accept the suggestion
    expected = _drag(nb.page, canvas, (0.05, 0.05), (0.15, 0.2))
    nb.page.keyboard.press("Enter")
    widget.locator(".lnb-status", has_text="1 done").wait_for()
    nb.page.locator(".lnb-box[data-ready='1']").wait_for()  # the next image is shown
    nb.page.keyboard.press("s")  # skip the second item: the queue is empty
    widget.locator(".lnb-done", has_text="queue is empty").wait_for()
    widget.screenshot(path=str(SCREENSHOTS / "annotate_done.png"))
    nb.run_cell(1)
    (regions,) = json.loads(nb.output_text(1, "ANN:"))
    # an accepted suggestion is a human box now: no model score
    assert regions[0] == {"type": "box", "label": "bus", "x0": 400.0,
                          "y0": 300.0, "x1": 1200.0, "y1": 900.0}
    got = [regions[1][k] for k in ("x0", "y0", "x1", "y1")]
    assert regions[1]["label"] == "car"
    assert all(abs(g - e) <= 1.0 for g, e in zip(got, expected, strict=True)), (got, expected)


def test_autofit_undo_help_overlay_and_prefetch(open_notebook: Any) -> None:
    nb = open_notebook("autofit.ipynb", BOUND_BOX_CELLS)
    widget = _ready_box_widget(nb)
    widget.locator(".lnb-status", has_text="0 done").wait_for()
    # the first image was pulled; the second is pushed ahead while this one is open
    assert widget.get_attribute("data-prefetched") == "0"
    canvas = widget.locator("canvas")
    canvas.click(position={"x": 5, "y": 5})
    # "?" shows every key; Escape closes the overlay (and keeps the focus)
    nb.page.keyboard.press("?")
    overlay = widget.locator(".lnb-overlay")
    overlay.wait_for()
    assert "auto-fit" in overlay.inner_text()
    nb.page.keyboard.press("Escape")
    overlay.wait_for(state="detached")
    assert nb.page.evaluate("document.activeElement.classList.contains('lnb-box')")
    # a rough box around the bright rectangle (original 420..1180 x 320..880) ...
    _drag(nb.page, canvas, (370 / W, 260 / H), (1240 / W, 930 / H))
    nb.page.keyboard.press("f")  # ... auto-fitted in Python on the original image
    nb.page.wait_for_function("() => document.querySelector('.lnb-box').dataset.synced === '1'"
                              " && !document.querySelector('.lnb-box .lnb-message').textContent")
    nb.page.keyboard.press("Control+z")  # one undo step gives the rough box back
    nb.page.keyboard.press("Control+Shift+z")  # and redo the fit
    nb.page.wait_for_timeout(200)
    # brightness is a browser-side filter: Python's boxes do not change
    widget.locator("input.lnb-brightness").fill("180")
    widget.screenshot(path=str(SCREENSHOTS / "autofit.png"))
    nb.page.wait_for_function("() => document.querySelector('.lnb-box').dataset.synced === '1'")
    canvas.click(position={"x": 5, "y": 5})
    nb.page.keyboard.press("Enter")
    widget.locator(".lnb-status", has_text="1 done").wait_for()
    nb.page.locator(".lnb-box[data-ready='1']").wait_for()
    assert widget.get_attribute("data-prefetched") == "1"  # painted from the pushed copy
    nb.run_cell(1)
    (regions,) = json.loads(nb.output_text(1, "ANN:"))
    (fitted,) = regions
    assert [fitted[k] for k in ("x0", "y0", "x1", "y1")] == [420.0, 320.0, 1180.0, 880.0]


SUGGESTION_CELLS = [
    f"""import json
import numpy as np
from PIL import Image
from labelnb import Box
from labelnb.widgets import BoxAnnotator
w = BoxAnnotator(Image.fromarray(np.full(({H}, {W}, 3), 90, np.uint8)), labels=["cat", "dog"],
                 max_display=800, suggestions=[Box(0, 0, 400, 300, "cat", score=0.9)])
w""",
    'print("STATE:" + json.dumps([[b.to_json() for b in w.annotations], len(w.suggestions)]))',
]


def test_undo_gives_an_accepted_suggestion_back_and_zoom_allows_tiny_boxes(open_notebook: Any
                                                                           ) -> None:
    nb = open_notebook("box_suggestion_undo.ipynb", SUGGESTION_CELLS)
    widget = _ready_box_widget(nb)
    canvas = widget.locator("canvas")

    def state() -> Any:
        nb.run_cell(1)
        return json.loads(nb.output_text(1, "STATE:"))

    suggested = {"type": "box", "label": "cat", "x0": 0.0, "y0": 0.0, "x1": 400.0, "y1": 300.0}
    r = canvas.bounding_box()

    def focus() -> None:  # a click away from the suggestion draws nothing
        canvas.click(position={"x": r["width"] - 5, "y": r["height"] - 5})

    focus()
    nb.page.keyboard.press("y")  # accept the suggestion
    assert state() == [[suggested], 1]
    focus()
    nb.page.keyboard.press("Control+z")  # undo: the box goes, the suggestion comes back
    assert state() == [[], 1]
    canvas.click(position={"x": r["width"] / 8, "y": r["height"] / 8})  # click: accept it
    assert state() == [[suggested], 1], nb.errors
    focus()
    # zoomed in, a drag of a few screen pixels makes a box of a few original pixels (a
    # drag that small used to be taken for a click, so small objects could not be boxed)
    for _ in range(8):
        nb.page.keyboard.press("+")
    nb.page.wait_for_function("() => +document.querySelector('.lnb-box').dataset.zoom > 5")
    r = canvas.bounding_box()
    x, y = r["x"] + 0.5 * r["width"], r["y"] + 0.5 * r["height"]  # the centre: no box there
    nb.page.mouse.move(x, y)
    nb.page.mouse.down()
    nb.page.mouse.move(x + 8, y + 8, steps=4)
    nb.page.mouse.up()
    boxes, _ = state()
    assert len(boxes) == 2, (boxes, nb.errors)
    tiny = boxes[1]
    assert 1 <= tiny["x1"] - tiny["x0"] <= 6 and 1 <= tiny["y1"] - tiny["y0"] <= 6, tiny


MISSING_CELLS = [
    """import os, tempfile
import numpy as np
from PIL import Image
import labelnb
tmp = tempfile.mkdtemp()
paths = [os.path.join(tmp, f"{i}.png") for i in range(2)]
for i, p in enumerate(paths):
    Image.fromarray(np.full((300, 400, 3), 60 * (i + 1), np.uint8)).save(p)
project = labelnb.Project.create(os.path.join(tmp, "m.db"), "m", labelnb.Schema("boxes", ["car"]))
project.add_items(paths)
os.remove(paths[0])  # the first image goes missing
w = project.annotate("ana")
w""",
]


def test_a_missing_image_shows_its_error_and_the_annotator_skips_it(open_notebook: Any
                                                                    ) -> None:
    nb = open_notebook("missing.ipynb", MISSING_CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-box")
    widget.locator(".lnb-message", has_text="could not be shown").wait_for()
    assert "press S to skip it" in widget.locator(".lnb-message").inner_text()
    widget.locator("canvas").click(position={"x": 5, "y": 5})
    nb.page.keyboard.press("Enter")  # cannot be submitted
    widget.locator(".lnb-message", has_text="cannot be submitted").wait_for()
    nb.page.keyboard.press("s")
    nb.page.locator(".lnb-box[data-ready='1']").wait_for()  # the next image is shown
    widget.locator(".lnb-status", has_text="item 2").wait_for()
