"""PolygonAnnotator and MaskAnnotator in a real JupyterLab, driven by a real Chromium."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

W, H = 1600, 1200  # larger than the display size: the widget shows it downscaled

POLY_CELLS = [
    f"""import json
import numpy as np
from PIL import Image
from labelnb.widgets import PolygonAnnotator
yy, xx = np.mgrid[0:{H}, 0:{W}]
arr = np.stack([xx * 255 // {W}, yy * 255 // {H}, ((xx // 100 + yy // 100) % 2) * 120],
               axis=-1).astype(np.uint8)
w = PolygonAnnotator(Image.fromarray(arr), labels=["road", "car"], max_display=800)
w""",
    'print("POLY1:" + json.dumps([p.to_json() for p in w.annotations]))',
    'print("POLY2:" + json.dumps([p.to_json() for p in w.annotations]))',
]


class Canvas:
    """Fractions of the canvas <-> page pixels <-> original image pixels."""

    def __init__(self, page: Any, canvas: Any, width: int, height: int) -> None:
        self.page = page
        self.r = canvas.bounding_box()
        self.width, self.height = width, height

    def at(self, fx: float, fy: float) -> tuple[float, float]:
        return self.r["x"] + fx * self.r["width"], self.r["y"] + fy * self.r["height"]

    def orig(self, fx: float, fy: float) -> tuple[float, float]:
        """Where a click at that fraction lands in original pixels."""
        px, py = self.at(fx, fy)
        return ((px - self.r["x"]) * self.width / self.r["width"],
                (py - self.r["y"]) * self.height / self.r["height"])

    def click(self, fx: float, fy: float, **kw: Any) -> None:
        self.page.mouse.click(*self.at(fx, fy), **kw)

    def drag(self, f0: tuple[float, float], f1: tuple[float, float], steps: int = 8) -> None:
        self.page.mouse.move(*self.at(*f0))
        self.page.mouse.down()
        self.page.mouse.move(*self.at(*f1), steps=steps)
        self.page.mouse.up()


def cycle_wand_candidates(page: Any, widget: Any) -> int:
    """With the wand's reply shown: the status reads "candidate 1/n", Tab goes to the
    second and round to the best one again. Returns n."""
    n = int(widget.get_attribute("data-candidates") or 0)
    info = widget.locator(".lnb-info")
    assert info.inner_text().startswith(f"candidate 1/{n}")
    if n > 1:
        page.keyboard.press("Tab")
        info.filter(has_text=f"candidate 2/{n}").wait_for()
        for _ in range(n - 1):
            page.keyboard.press("Tab")
        info.filter(has_text=f"candidate 1/{n}").wait_for()
    return n


def _vertices(poly: dict[str, Any]) -> list[tuple[float, float]]:
    p = poly["points"]
    return [(p[i], p[i + 1]) for i in range(0, len(p), 2)]


def _close(got: list[tuple[float, float]], want: list[tuple[float, float]], tol: float = 1.5
           ) -> bool:
    return len(got) == len(want) and all(
        abs(a - c) <= tol and abs(b - d) <= tol for (a, b), (c, d) in zip(got, want, strict=True))


def test_polygon_click_close_drag_split_delete_undo(open_notebook: Any) -> None:
    nb = open_notebook("polygons.ipynb", POLY_CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-polygon[data-ready='1']")
    widget.wait_for(timeout=TIMEOUT_MS)
    c = Canvas(nb.page, widget.locator("canvas"), W, H)
    assert c.r["width"] < W  # really shown downscaled
    corners = [(0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6)]
    for f in corners:
        c.click(*f)
    widget.locator("[data-drawing='4']").or_(widget.and_(nb.page.locator("[data-drawing='4']"))
                                             ).first.wait_for()
    c.click(*corners[0])  # the first vertex again: closes the polygon
    nb.page.keyboard.press("2")  # the class hotkey of "car": relabels the selected polygon
    widget.locator(".lnb-label.lnb-active", has_text="car").wait_for()
    nb.run_cell(1)
    (p1,) = json.loads(nb.output_text(1, "POLY1:"))
    assert p1["label"] == "car"
    assert _close(_vertices(p1), [c.orig(*f) for f in corners]), (p1, nb.errors)

    c.drag((0.6, 0.6), (0.7, 0.75))  # drag vertex 2
    c.drag((0.4, 0.2), (0.4, 0.1))  # split the top edge and pull the new vertex up
    nb.page.keyboard.press("Control+z")  # undo the split ...
    nb.page.keyboard.press("Control+Shift+z")  # ... and redo it
    nb.page.keyboard.down("Shift")
    c.click(0.2, 0.6)  # Shift+click deletes vertex 3
    nb.page.keyboard.up("Shift")
    widget.screenshot(path=str(SCREENSHOTS / "polygon_annotator.png"))
    nb.run_cell(2)
    (p2,) = json.loads(nb.output_text(2, "POLY2:"))
    want = [c.orig(0.2, 0.2), c.orig(0.4, 0.1), c.orig(0.6, 0.2), c.orig(0.7, 0.75)]
    assert _close(_vertices(p2), want), (p2, want, nb.errors)
    assert all(v == round(v) for v in p2["points"])  # vertices on the original pixel grid


MASK_CELLS = [
    f"""import json
import numpy as np
from PIL import Image
from labelnb.widgets import MaskAnnotator
arr = np.full(({H}, {W}, 3), 90, np.uint8)
w = MaskAnnotator(Image.fromarray(arr), labels=["coin", "hole"], max_display=800)
w""",
    """(m,) = w.annotations
a = m.to_array()
h, w_ = a.shape
probes = [(0.35, 0.5), (0.45, 0.5), (0.55, 0.5), (0.45, 0.3)]  # fractions of the image
print("MASK:" + json.dumps({"label": m.label, "size": list(m.size), "area": m.area,
      "rle": isinstance(m.rle["counts"], str),
      "probe": [bool(a[int(fy * h), int(fx * w_)]) for fx, fy in probes]}))""",
]


def test_mask_brush_and_eraser_give_an_rle_mask(open_notebook: Any) -> None:
    nb = open_notebook("masks.ipynb", MASK_CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-mask[data-ready='1']")
    widget.wait_for(timeout=TIMEOUT_MS)
    c = Canvas(nb.page, widget.locator("canvas"), W, H)
    disp = 800 / c.r["width"]  # display pixels per CSS pixel
    c.click(0.05, 0.05, button="middle")  # focus without painting
    for _ in range(3):
        nb.page.keyboard.press("]")  # a larger brush: 8 -> 10 -> 13 -> 16 display px
    widget.locator(".lnb-size", has_text="size 16 px").wait_for()
    r = 16.0
    c.drag((0.3, 0.5), (0.6, 0.5), steps=20)  # one brush stroke: a new object
    nb.page.keyboard.press("2")  # relabel it "hole"
    nb.page.keyboard.press("e")  # the eraser ...
    widget.locator("[data-tool='eraser']").first.wait_for()
    c.drag((0.45, 0.4), (0.45, 0.6), steps=20)  # ... cuts the stroke in two
    widget.screenshot(path=str(SCREENSHOTS / "mask_brush.png"))
    length = 0.3 * c.r["width"] * disp  # stroke length in display pixels
    painted = 2 * r * length + math.pi * r * r
    erased = 2 * r * 2 * r  # the eraser's band across the stroke
    want = (painted - erased) * 4  # 4 original pixels per display pixel
    nb.run_cell(1)
    out = json.loads(nb.output_text(1, "MASK:"))
    assert out["label"] == "hole" and out["size"] == [H, W] and out["rle"], (out, nb.errors)
    assert abs(out["area"] - want) < 0.1 * want, (out["area"], want)
    assert out["probe"] == [True, False, True, False], out


COIN_SETUP = """import json
import numpy as np
from scipy import ndimage as ndi
from skimage import data, filters, measure
coins = data.coins()
fg = ndi.binary_fill_holes(ndi.binary_opening(coins > filters.threshold_otsu(coins),
                                              structure=np.ones((5, 5), bool)))
lab = measure.label(fg)
REF = lab == lab[127, 154]  # the reference: Otsu + connected components, another method
def iou(a, b):
    return float((a & b).sum() / (a | b).sum())
"""

WAND_CELLS = [
    COIN_SETUP + """from labelnb.widgets import MaskAnnotator
w = MaskAnnotator(coins, labels=["coin"])
w""",
    """(m,) = w.annotations
print("WAND:" + json.dumps({"iou": iou(m.to_array(), REF), "size": list(m.size),
      "n": len(w.annotations)}))""",
]


def test_wand_on_coins_gives_the_clicked_coin(open_notebook: Any) -> None:
    nb = open_notebook("wand.ipynb", WAND_CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-mask[data-ready='1']")
    widget.wait_for(timeout=TIMEOUT_MS)
    c = Canvas(nb.page, widget.locator("canvas"), 384, 303)
    c.click(0.02, 0.02, button="middle")  # focus
    nb.page.keyboard.press("w")
    widget.locator(".lnb-tool.lnb-active", has_text="Wand").wait_for()
    c.click(154.5 / 384, 127.5 / 303)  # a positive click on a coin
    nb.page.wait_for_function(
        "() => { const e = document.querySelector('.lnb-mask');"
        " return e.dataset.wandDone === e.dataset.wandSeq && +e.dataset.candidates > 0; }",
        timeout=TIMEOUT_MS)
    cycle_wand_candidates(nb.page, widget)
    widget.screenshot(path=str(SCREENSHOTS / "mask_wand.png"))
    nb.page.keyboard.press("Enter")  # accept: one undoable step
    nb.page.locator(".lnb-mask[data-objects='1']").wait_for()
    nb.page.keyboard.press("Control+z")
    nb.page.locator(".lnb-mask[data-objects='0']").wait_for()
    nb.page.keyboard.press("Control+Shift+z")
    nb.page.locator(".lnb-mask[data-objects='1']").wait_for()
    nb.page.keyboard.press("?")  # the help overlay lists the keys and the mouse
    overlay = widget.locator(".lnb-overlay")
    overlay.filter(has_text="negative point").wait_for()
    assert overlay.filter(has_text="magic wand").count() == 1
    nb.page.keyboard.press("Escape")  # closes the overlay
    overlay.wait_for(state="detached")
    nb.page.keyboard.press("Tab")  # selects the object (no wand candidates are left)
    widget.locator(".lnb-object.lnb-active").wait_for()
    nb.page.keyboard.press("Escape")  # deselects it
    widget.locator(".lnb-object.lnb-active").wait_for(state="detached")
    assert nb.page.evaluate("document.activeElement.classList.contains('lnb-mask')")
    nb.page.keyboard.press("Escape")  # releases the keyboard
    assert not nb.page.evaluate("document.activeElement.classList.contains('lnb-mask')")
    nb.run_cell(1)
    out = json.loads(nb.output_text(1, "WAND:"))
    assert out["size"] == [303, 384] and out["n"] == 1, (out, nb.errors)
    assert out["iou"] >= 0.8, out


BOUND_MASK_CELLS = [
    COIN_SETUP + """import os, tempfile
from PIL import Image
import labelnb
tmp = tempfile.mkdtemp()
paths = []
for i in range(2):
    paths.append(os.path.join(tmp, f"coins{i}.png"))
    Image.fromarray(coins if i == 0 else coins[:, ::-1]).save(paths[-1])  # two distinct items
project = labelnb.Project.create(os.path.join(tmp, "masks.db"), "masks",
                                 labelnb.Schema("masks", ["coin"]))
ids = project.add_items(paths)
SUGG = lab == lab[195, 101]  # a pre-annotation of another coin, at full resolution
project.add_predictions("m1", {ids[0]: [labelnb.Mask.from_array(SUGG, "coin", score=0.6)]})
w = project.annotate("ana")
w""",
    """(ann,) = project.annotation_objects(annotator="ana")
print("STORED:" + json.dumps({"types": [m.type for m in ann.regions],
      "sizes": [list(m.size) for m in ann.regions],
      "iou_ref": [iou(m.to_array(), REF) for m in ann.regions],
      "iou_sugg": [iou(m.to_array(), SUGG) for m in ann.regions],
      "scores": [m.score for m in ann.regions], "duration": ann.duration_s}))""",
]


def test_bound_masks_wand_submit_and_read_back_from_the_database(open_notebook: Any) -> None:
    nb = open_notebook("bound_masks.ipynb", BOUND_MASK_CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-mask[data-ready='1']")
    widget.wait_for(timeout=TIMEOUT_MS)
    widget.locator(".lnb-status", has_text="0 done").wait_for()
    c = Canvas(nb.page, widget.locator("canvas"), 384, 303)
    c.click(0.02, 0.02, button="middle")
    nb.page.keyboard.press("y")  # accept the (hatched) suggestion
    nb.page.locator(".lnb-mask[data-objects='1']").wait_for()
    nb.page.keyboard.press("w")
    c.click(154.5 / 384, 127.5 / 303)
    nb.page.wait_for_function(
        "() => { const e = document.querySelector('.lnb-mask');"
        " return e.dataset.wandDone === e.dataset.wandSeq && +e.dataset.candidates > 0; }",
        timeout=TIMEOUT_MS)
    nb.page.keyboard.press("Enter")  # accept the wand's mask
    nb.page.locator(".lnb-mask[data-objects='2']").wait_for()
    nb.page.keyboard.press("Enter")  # submit
    widget.locator(".lnb-status", has_text="1 done").wait_for()
    nb.page.locator(".lnb-mask[data-ready='1'][data-objects='0']").wait_for()  # the next item
    assert widget.locator(".lnb-object").count() == 0  # its object list starts empty
    widget.screenshot(path=str(SCREENSHOTS / "annotate_masks.png"))
    nb.run_cell(1)
    out = json.loads(nb.output_text(1, "STORED:"))
    assert out["types"] == ["mask", "mask"] and out["sizes"] == [[303, 384]] * 2, (out, nb.errors)
    assert out["iou_sugg"][0] == 1.0  # the accepted suggestion, pixel for pixel
    assert out["scores"] == [None, None]  # accepted by a person: no model score
    assert out["iou_ref"][1] >= 0.8 and out["duration"] > 0, out


BOUND_POLY_CELLS = [
    f"""import json, os, tempfile
import numpy as np
from PIL import Image
import labelnb
from labelnb import Polygon
tmp = tempfile.mkdtemp()
paths = []
for i in range(2):
    arr = np.full(({H}, {W}, 3), 60 + 50 * i, np.uint8)
    paths.append(os.path.join(tmp, f"img{{i}}.png"))
    Image.fromarray(arr).save(paths[-1])
project = labelnb.Project.create(os.path.join(tmp, "polys.db"), "polys",
                                 labelnb.Schema("polygons", ["road", "car"]))
ids = project.add_items(paths)
project.add_predictions("m1", {{ids[0]: [Polygon((1200, 100, 1500, 100, 1350, 400), "car",
                                                  score=0.8)]}})
w = project.annotate("ana", max_display=800)
w""",
    'print("ANN:" + json.dumps(project.annotations(annotator="ana")["regions"].tolist()))',
]


def test_bound_polygons_accept_suggestion_draw_submit(open_notebook: Any) -> None:
    nb = open_notebook("bound_polys.ipynb", BOUND_POLY_CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-polygon[data-ready='1']")
    widget.wait_for(timeout=TIMEOUT_MS)
    widget.locator(".lnb-status", has_text="0 done").wait_for()
    c = Canvas(nb.page, widget.locator("canvas"), W, H)
    c.click(1350 / W, 200 / H)  # a click inside the dashed suggestion accepts it
    nb.page.locator(".lnb-polygon[data-polygons='1']").wait_for()
    nb.page.keyboard.press("+")  # zoom in x1.25 around the centre: the view is undone
    tri = [(0.1, 0.5), (0.3, 0.5), (0.2, 0.8)]  # before Python sees the vertices
    for f in tri:
        c.click(*f)
    nb.page.keyboard.press("Enter")  # closes the polygon being drawn
    nb.page.locator(".lnb-polygon[data-polygons='2'][data-drawing='0']").wait_for()
    widget.screenshot(path=str(SCREENSHOTS / "annotate_polygons.png"))
    nb.page.keyboard.press("Enter")  # submits
    widget.locator(".lnb-status", has_text="1 done").wait_for()
    nb.run_cell(1)
    (regions,) = json.loads(nb.output_text(1, "ANN:"))
    assert regions[0] == {"type": "polygon", "label": "car",
                          "points": [1200.0, 100.0, 1500.0, 100.0, 1350.0, 400.0]}, nb.errors
    assert regions[1]["label"] == "road"
    # canvas fraction f shows image fraction 0.1 + 0.8 f
    assert _close(_vertices(regions[1]), [c.orig(0.1 + 0.8 * fx, 0.1 + 0.8 * fy)
                                          for fx, fy in tri]), regions[1]
