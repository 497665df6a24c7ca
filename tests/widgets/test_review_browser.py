"""The review widget in a real JupyterLab, driven by a real Chromium (Playwright): a
reviewer approves, rejects with typed feedback, and corrects in the hosted editor; the
decisions are read back from the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# an onerror that would run if any of these strings reached the DOM as HTML
LABEL_XSS = '<img src=x onerror="window.__xss=1">'
FEEDBACK_XSS = '<img src=x onerror="window.__xss=2"> move the car box, and add a label'
W, H = 1600, 1200

SETUP = f"""import json, tempfile, os
import numpy as np
from PIL import Image
import labelnb
from labelnb import Box
tmp = tempfile.mkdtemp()
paths = []
for i in range({{n}}):
    yy, xx = np.mgrid[0:{H}, 0:{W}]
    arr = np.stack([xx * 200 // {W}, yy * 200 // {H}, np.full_like(xx, 60 + 80 * i)],
                   axis=-1).astype(np.uint8)
    arr[300:900, 400:1200] = (230, 220, 190)
    paths.append(os.path.join(tmp, f"img{{{{i}}}}.png"))
    Image.fromarray(arr).save(paths[-1])
project = labelnb.Project.create(os.path.join(tmp, "rev.db"), "rev",
                                 labelnb.Schema("boxes", ["car", {LABEL_XSS!r}]),
                                 review_fraction=1.0, overlap={{overlap}})
ids = project.add_items(paths)
project.annotators.add("bob", role="reviewer")
anns = []
for who in {{annotators}}:  # labelled with the Python API, not the widget
    q = project.queue(who)
    while (t := q.claim()) is not None:
        anns.append(q.submit([Box(400, 300, 1200, 900, "car"),
                              Box(100, 100, 300, 250, {LABEL_XSS!r})]))
"""


def _ready(nb: Any) -> Any:
    widget = nb.page.locator(".lnb-review")
    widget.first.wait_for(timeout=TIMEOUT_MS)
    nb.page.locator(".lnb-review[data-ready='1']").wait_for(timeout=TIMEOUT_MS)
    return widget


def _no_html_injection(nb: Any, widget: Any) -> None:
    assert widget.locator("img").count() == 0
    assert nb.page.evaluate("() => window.__xss === undefined"), nb.errors


def test_review_approve_and_reject_with_feedback(open_notebook: Any) -> None:
    cells = [
        SETUP.format(n=2, overlap=1, annotators=["ana"])
        + 'w = project.review("bob", max_display=800,\n'
        + '                   widget_options={"keymap": {"approve": "y"}})\nw',
        """rev = project.reviews().sort_values("id")
rev = rev[["annotation_id", "decision", "feedback", "reviewer"]].astype(object)
print("REV:" + json.dumps(rev.where(rev.notna(), None).to_dict("records")))
qa = project.queue("ana")
t = qa.claim()
print("REWORK:" + json.dumps({"anns": anns, "target": t.target_annotation_id,
                              "feedback": [f["feedback"] for f in qa.feedback()]}))""",
    ]
    nb = open_notebook("review.ipynb", cells)
    nb.run_all()
    widget = _ready(nb)
    widget.locator(".lnb-status", has_text="0 reviewed").wait_for()
    assert widget.locator(".lnb-caption .lnb-author").inner_text() == "ana"
    # label names are text: the legend shows the markup literally
    assert widget.locator(".lnb-legend .lnb-chip").nth(1).inner_text() == LABEL_XSS
    _no_html_injection(nb, widget)
    widget.screenshot(path=str(SCREENSHOTS / "review_boxes.png"))
    cells_before = nb.cell_count()
    widget.locator("canvas").click()  # focuses the widget
    assert nb.page.evaluate("document.activeElement.classList.contains('lnb-review')")
    nb.page.keyboard.press("?")
    widget.locator(".lnb-overlay", has_text="approve the annotation").wait_for()
    nb.page.keyboard.press("?")
    assert widget.locator(".lnb-overlay").count() == 0
    nb.page.keyboard.press("a")  # rebound: keymap={"approve": "y"}
    nb.page.wait_for_timeout(300)
    assert "0 reviewed" in widget.locator(".lnb-status").inner_text()
    nb.page.keyboard.press("y")  # approve the first
    widget.locator(".lnb-status", has_text="1 reviewed").wait_for()
    widget.locator(".lnb-last", has_text="approved").wait_for()
    nb.page.locator(".lnb-review[data-ready='1']").wait_for()  # the second image is shown
    nb.page.keyboard.press("r")  # reject: the feedback box opens and takes the keys
    textarea = widget.locator("textarea.lnb-feedback-text")
    textarea.wait_for(state="visible")
    assert nb.page.evaluate("document.activeElement.tagName") == "TEXTAREA"
    nb.page.keyboard.type(FEEDBACK_XSS)  # its "a"s type text, they do not approve
    assert textarea.input_value() == FEEDBACK_XSS
    nb.page.keyboard.press("Enter")
    widget.locator(".lnb-done", has_text="queue is empty").wait_for()
    # the feedback comes back as text, verbatim; nothing it contains became HTML
    last = widget.locator(".lnb-last")
    assert last.inner_text().endswith("rejected — feedback: " + FEEDBACK_XSS)
    _no_html_injection(nb, widget)
    assert nb.cell_count() == cells_before  # no key reached the notebook
    widget.screenshot(path=str(SCREENSHOTS / "review_done.png"))
    nb.run_cell(1)
    rev = json.loads(nb.output_text(1, "REV:").splitlines()[0])
    rework = json.loads(nb.output_text(1, "REWORK:"))
    assert [r["decision"] for r in rev] == ["approve", "reject"], (rev, nb.errors)
    assert [r["annotation_id"] for r in rev] == rework["anns"]
    assert rev[0]["feedback"] is None and rev[1]["feedback"] == FEEDBACK_XSS
    assert {r["reviewer"] for r in rev} == {"bob"}
    # the rejected annotation went back to its author, with the feedback
    assert rework["target"] == rework["anns"][1]
    assert rework["feedback"] == [FEEDBACK_XSS]


def test_review_versions_and_correct_in_the_hosted_editor(open_notebook: Any) -> None:
    cells = [
        SETUP.format(n=1, overlap=2, annotators=["ana", "cy"])
        + 'w = project.review("bob", max_display=800)\nw',
        """fix = project.annotations(annotator="bob")
print("FIX:" + json.dumps({"corrects": fix["corrects"].tolist(),
                           "regions": fix["regions"].tolist(),
                           "target": project.reviews()["annotation_id"].tolist(),
                           "decision": project.reviews()["decision"].tolist()}))""",
    ]
    nb = open_notebook("review_correct.ipynb", cells)
    nb.run_all()
    widget = _ready(nb)
    widget.locator(".lnb-status", has_text="0 reviewed").wait_for()
    # two annotators labelled the item: ] and [ switch between their versions
    bar = widget.locator(".lnb-versionbar")
    assert "version 1 of 2" in bar.inner_text()
    first = widget.locator(".lnb-caption .lnb-author").inner_text()
    widget.locator("canvas").click()
    nb.page.keyboard.press("]")
    widget.locator(".lnb-versionbar", has_text="version 2 of 2").wait_for()
    second = widget.locator(".lnb-caption .lnb-author").inner_text()
    assert {first, second} == {"ana", "cy"}
    nb.page.keyboard.press("[")
    widget.locator(".lnb-versionbar", has_text="version 1 of 2").wait_for()
    # c: the boxes editor opens inside the review, with the version's boxes, focused
    nb.page.keyboard.press("c")
    editor = widget.locator(".lnb-editor .lnb-box[data-ready='1']")
    editor.wait_for(timeout=TIMEOUT_MS)
    assert widget.locator(".lnb-panels").is_hidden()
    # the review's own actions and help hide while correcting; the editor's stay (the
    # review's rules reach only its own parts, not the widget it hosts)
    assert widget.locator(":scope > .lnb-actions").is_hidden()
    assert editor.locator(".lnb-actions").is_visible()
    assert editor.locator(".lnb-help").is_visible()
    assert editor.locator(".lnb-actions button", has_text="Submit").is_visible()
    nb.page.wait_for_function("() => document.activeElement.classList.contains('lnb-box')")
    canvas = editor.locator("canvas")
    r = canvas.bounding_box()
    x0, y0 = r["x"] + 0.80 * r["width"], r["y"] + 0.80 * r["height"]
    x1, y1 = r["x"] + 0.95 * r["width"], r["y"] + 0.95 * r["height"]
    nb.page.mouse.move(x0, y0)
    nb.page.mouse.down()
    nb.page.mouse.move(x1, y1, steps=8)
    nb.page.mouse.up()
    widget.screenshot(path=str(SCREENSHOTS / "review_correct.png"))
    nb.page.keyboard.press("Enter")  # the editor's Enter saves the correction
    widget.locator(".lnb-status", has_text="1 reviewed").wait_for()
    widget.locator(".lnb-last", has_text="corrected").wait_for()
    assert widget.locator(".lnb-editor .lnb-box").count() == 0  # the editor is gone
    nb.run_cell(1)
    out = json.loads(nb.output_text(1, "FIX:"))
    assert out["decision"] == ["correct"], (out, nb.errors)
    assert out["corrects"] == out["target"]  # points at the corrected annotation
    (regions,) = out["regions"]
    assert len(regions) == 3  # the version's two boxes and the new one
    new = regions[-1]
    want = (0.8 * W, 0.8 * H, 0.95 * W, 0.95 * H)
    got = (new["x0"], new["y0"], new["x1"], new["y1"])
    assert all(abs(g - e) <= 3 for g, e in zip(got, want, strict=True)), (got, want)
    assert regions[0]["label"] == "car" and regions[1]["label"] == LABEL_XSS


STANDALONE_CELLS = [
    """import json
import numpy as np
import labelnb
from labelnb import Annotation, Choice, Mask, Schema, Span
from labelnb.widgets import ReviewAnnotator
text = "👍🏽 Zoë met 東京 <b>friends</b>\\r\\nnaïve"
at = text.index("東京")
w1 = ReviewAnnotator(text=text, annotation=[Span(0, 2, "EMO"), Span(at, at + 2, "LOC")],
                     labels=["EMO", "LOC"])
w1""",
    """dense = np.zeros((300, 400), bool)
dense[100:200, 100:300] = True
w2 = ReviewAnnotator(np.full((300, 400, 3), 40, np.uint8),
                     annotation=[Mask.from_array(dense, "coin")],
                     schema=Schema("masks", [{"name": "coin", "color": "#ff0000"}]))
w2""",
    """w3 = ReviewAnnotator(text="a cat on a mat", mode="acknowledge", labels=["cat", "dog"],
                     annotation=Annotation(item_id=1, regions=(Choice("dog"),), author="ana"),
                     consensus=[Choice("cat")])
w3""",
    """print("DEC:" + json.dumps([None if x.decision is None else
                          [x.decision.decision, x.decision.feedback] for x in (w1, w2, w3)]))""",
]

PIXEL = """([i, x, y]) => {
    const c = document.querySelectorAll('.lnb-review')[i].querySelector('canvas');
    return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data);
}"""


def test_standalone_spans_mask_overlay_undo_and_acknowledge(open_notebook: Any) -> None:
    nb = open_notebook("review_standalone.ipynb", STANDALONE_CELLS)
    nb.run_all()
    nb.page.locator(".lnb-review[data-ready='1']").nth(2).wait_for(timeout=TIMEOUT_MS)
    w1, w2, w3 = (nb.page.locator(".lnb-review").nth(i) for i in range(3))
    # spans: UTF-16 in the browser, code points in Python; the marks cover the right text
    assert w1.locator("mark.lnb-mark").all_inner_texts() == ["👍🏽", "東京"]
    assert "<b>friends</b>" in w1.locator(".lnb-text").inner_text()
    assert w1.locator(".lnb-text b").count() == 0
    w1.screenshot(path=str(SCREENSHOTS / "review_spans.png"))
    # a standalone decision can be taken back (Ctrl+Z) and redone until it is read
    w1.locator(".lnb-text").click()
    nb.page.keyboard.press("a")
    nb.page.locator(".lnb-review[data-decision='approve']").wait_for()
    nb.page.keyboard.press("Control+z")
    nb.page.wait_for_function("() => document.querySelector('.lnb-review').dataset.decision"
                              " === ''")
    nb.page.keyboard.press("Control+Shift+z")
    nb.page.locator(".lnb-review[data-decision='approve']").wait_for()
    nb.page.keyboard.press("r")
    nb.page.keyboard.type("LOC should cover Zoë too")
    nb.page.keyboard.press("Enter")
    w1.locator(".lnb-feedback-shown", has_text="LOC should cover Zoë too").wait_for()
    # masks: the overlay PNG from Python is drawn in the label's colour, and h hides it
    nb.page.wait_for_function(f"() => ({PIXEL})([1, 200, 150])[0] > 120", timeout=TIMEOUT_MS)
    inside = nb.page.evaluate(PIXEL, [1, 200, 150])
    outside = nb.page.evaluate(PIXEL, [1, 20, 20])
    assert inside[0] > 120 and inside[1] < 60 and outside[:3] == [40, 40, 40], (inside, outside)
    w2.screenshot(path=str(SCREENSHOTS / "review_mask.png"))
    w2.locator("canvas").click()
    nb.page.keyboard.press("h")
    nb.page.wait_for_function(f"() => ({PIXEL})([1, 200, 150])[0] < 60")
    # acknowledge: the mistake beside the consensus; k acknowledges; Esc leaves
    assert w3.locator(".lnb-panel").count() == 2
    assert w3.locator(".lnb-caption").all_inner_texts() == ["ana · your label",
                                                           "consensus · consensus"]
    assert w3.locator(".lnb-chosen").all_inner_texts() == ["dog", "cat"]
    w3.screenshot(path=str(SCREENSHOTS / "review_acknowledge.png"))
    w3.locator(".lnb-text").first.click()
    nb.page.keyboard.press("k")
    w3.locator(".lnb-decision", has_text="Acknowledged").wait_for()
    nb.page.keyboard.press("Escape")
    assert nb.page.evaluate("!document.activeElement.classList.contains('lnb-review')")
    nb.run_cell(3)
    assert json.loads(nb.output_text(3, "DEC:")) == [
        ["reject", "LOC should cover Zoë too"], None, ["acknowledge", None]], nb.errors


ZOOM_CELLS = [
    """import numpy as np
from labelnb import Box
from labelnb.widgets import ReviewAnnotator
w = ReviewAnnotator(np.full((600, 800, 3), 90, np.uint8),
                    annotation=[Box(100, 100, 300, 200, "car")], labels=["car"])
w""",
]


def test_review_view_zooms_pans_and_fits(open_notebook: Any) -> None:
    nb = open_notebook("review_zoom.ipynb", ZOOM_CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-review[data-ready='1']")
    widget.wait_for()
    canvas = widget.locator("canvas").first
    canvas.click(position={"x": 50, "y": 50})  # focus (a click does not decide anything)
    box = canvas.bounding_box()
    nb.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    nb.page.mouse.wheel(0, -300)
    nb.page.wait_for_function("() => +document.querySelector('.lnb-review').dataset.zoom > 1")
    widget.locator("canvas").first.dblclick(position={"x": 20, "y": 20})
    nb.page.wait_for_function("() => +document.querySelector('.lnb-review').dataset.zoom === 1")
    widget.locator("input.lnb-brightness").fill("160")  # a browser-side filter
    widget.screenshot(path=str(SCREENSHOTS / "review_zoom.png"))
