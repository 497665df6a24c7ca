"""SpanAnnotator in a real JupyterLab, driven by a real Chromium (Playwright) with the
mouse and the keyboard. Offsets are checked against Python slicing of the same text
(emoji, a ZWJ sequence, CJK, a combining mark and CRLF), item by item."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# 😀 and the ZWJ sequence are surrogate pairs in the browser; "Zu\u0308rich" has a
# combining mark; the line break is CRLF, which the DOM must not turn into LF
TEXT = "Zoë 😀 met Ada Lovelace\r\nin 東京 and Zu\u0308rich 👩\u200d💻 today."
XSS = '<img src=x onerror="window.__xss = 1">'

# code point range [s, e) of the idx-th SpanAnnotator's text -> where the mouse goes.
# The test converts code points to UTF-16 itself (Array.from), not through the widget.
RECT_JS = """([idx, s, e]) => {
  const root = document.querySelectorAll('.lnb-span .lnb-text')[idx];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = []; let n, acc = 0;
  while ((n = walker.nextNode())) { nodes.push([n, acc]); acc += n.length; }
  const text = nodes.map(([t]) => t.data).join('');
  const cps = Array.from(text);
  const u = (cp) => cps.slice(0, cp).join('').length;
  const at = (unit) => {
    for (let i = nodes.length - 1; i >= 0; i--) {
      if (nodes[i][1] <= unit) return [nodes[i][0], unit - nodes[i][1]];
    }
  };
  const r = document.createRange();
  r.setStart(...at(u(s))); r.setEnd(...at(u(e)));
  const rects = [...r.getClientRects()].filter((x) => x.width > 0.5);
  const a = rects[0], b = rects[rects.length - 1];
  return { x0: a.left + 1, y0: a.top + a.height / 2, x1: b.right - 1, y1: b.top + b.height / 2,
           text };
}"""


def _span(sub: str, text: str = TEXT) -> tuple[int, int]:
    i = text.index(sub)
    return i, i + len(sub)


def _cells(setup: str) -> list[str]:
    """A notebook: the widget (``SPAN(sub)`` gives a substring's code point offsets), and
    a cell that prints its spans and suggestions."""
    return [f"import json\nfrom labelnb import Span\nfrom labelnb.widgets.span import "
            f"SpanAnnotator\nTEXT = json.loads({json.dumps(json.dumps(TEXT))})\n"
            "def SPAN(sub):\n    i = TEXT.index(sub)\n    return i, i + len(sub)\n"
            f"{setup}",
            'print("SPANS:" + json.dumps([[s.start, s.end, s.label] for s in w.annotations]) + '
            '"|" + json.dumps([[s.start, s.end, s.label] for s in w.suggestions]))']


def _read(nb: Any) -> tuple[list[list[Any]], list[list[Any]]]:
    nb.run_cell(1)
    spans, sugg = nb.output_text(1, "SPANS:").split("|")
    return json.loads(spans), json.loads(sugg)


def _widget(nb: Any) -> Any:
    nb.run_all()
    w = nb.page.locator(".lnb-span[data-ready='1']").first
    w.wait_for(timeout=TIMEOUT_MS)
    w.scroll_into_view_if_needed()
    return w


def _drag(nb: Any, s: int, e: int, idx: int = 0) -> None:
    r = nb.page.evaluate(RECT_JS, [idx, s, e])
    nb.page.mouse.move(r["x0"], r["y0"])
    nb.page.mouse.down()
    nb.page.mouse.move((r["x0"] + r["x1"]) / 2, (r["y0"] + r["y1"]) / 2, steps=3)
    nb.page.mouse.move(r["x1"], r["y1"], steps=3)
    nb.page.mouse.up()


def _click_before(nb: Any, cp: int, idx: int = 0) -> None:
    r = nb.page.evaluate(RECT_JS, [idx, cp, cp + 1])
    nb.page.mouse.click(r["x0"], r["y0"])


def _count(widget: Any, what: str, n: int) -> None:
    widget.page.locator(f".lnb-span[data-{what}='{n}']").wait_for(timeout=10_000)


@contextlib.contextmanager
def _shots(nb: Any, widget_name: str) -> Iterator[None]:
    """A screenshot of the page on failure (kept as a test artifact), of the widget on
    success."""
    try:
        yield
    except BaseException:
        nb.page.screenshot(path=str(SCREENSHOTS / f"FAILED_{widget_name}.png"))
        print("page errors:", nb.errors)
        raise
    nb.page.locator(".lnb-span").first.screenshot(path=str(SCREENSHOTS / f"{widget_name}.png"))
    (SCREENSHOTS / f"FAILED_{widget_name}.png").unlink(missing_ok=True)


def test_mouse_and_keyboard_spans_over_emoji_cjk_and_crlf(open_notebook: Any) -> None:
    nb = open_notebook("span_select.ipynb", _cells(
        'w = SpanAnnotator(text=TEXT, labels=["PER", "LOC", "ORG"])\nw'))
    widget = _widget(nb)
    with _shots(nb, "span_annotator"):
        # the DOM holds the text exactly (CRLF included): our own text nodes
        assert nb.page.evaluate(RECT_JS, [0, 0, 1])["text"] == TEXT
        before = nb.cell_count()
        _drag(nb, *_span("😀 met"))  # mouse: a new span with the current class (PER)
        _count(widget, "spans", 1)
        nb.page.keyboard.press("2")  # relabel the new (selected) span: LOC
        widget.locator(".lnb-label.lnb-active", has_text="LOC").wait_for()
        _drag(nb, *_span("Ada Lovelace\r\nin"))  # across the CRLF, now with LOC ...
        _count(widget, "spans", 2)
        nb.page.keyboard.press("1")  # ... relabelled PER
        # keyboard: a caret before 東, Shift+arrows select, a class key labels
        _click_before(nb, TEXT.index("東"))
        nb.page.keyboard.press("Shift+ArrowRight")
        nb.page.keyboard.press("Shift+ArrowRight")
        assert nb.page.evaluate("document.getSelection().toString()") == "東京"
        nb.page.keyboard.press("2")
        _count(widget, "spans", 3)
        # the ZWJ sequence is one grapheme: one Shift+ArrowRight selects its 3 code points
        _click_before(nb, TEXT.index("👩"))
        nb.page.keyboard.press("Shift+ArrowRight")
        nb.page.keyboard.press("Space")  # make it a span with the current class (LOC) ...
        _count(widget, "spans", 4)
        nb.page.keyboard.press("3")  # ... relabelled ORG
        # undo twice (the relabel and the span), redo twice
        nb.page.keyboard.press("Control+z")
        nb.page.keyboard.press("Control+z")
        _count(widget, "spans", 3)
        nb.page.keyboard.press("Control+Shift+z")
        nb.page.keyboard.press("Control+y")
        _count(widget, "spans", 4)
        # keys inside the widget do not reach the notebook (no new cell, no run)
        for key in ("b", "Enter", "z", "m"):
            nb.page.keyboard.press(key)
        nb.page.wait_for_timeout(300)
        assert nb.cell_count() == before
        assert nb.page.evaluate("document.activeElement.classList.contains('lnb-span')")
        nb.page.keyboard.press("?")
        widget.locator(".lnb-overlay", has_text="Shift+ArrowRight").wait_for()
        nb.page.keyboard.press("Escape")  # closes the help
        assert widget.locator(".lnb-overlay").count() == 0
        nb.page.keyboard.press("Escape")  # deselects
        nb.page.keyboard.press("Escape")  # releases the focus
        assert not nb.page.evaluate("document.activeElement.classList.contains('lnb-span')")
        nb.page.keyboard.press("2")  # without the focus a class key does nothing here
        spans, _ = _read(nb)
    want = [[*_span("😀 met"), "LOC"], [*_span("Ada Lovelace\r\nin"), "PER"],
            [*_span("東京"), "LOC"], [*_span("👩\u200d💻"), "ORG"]]
    assert spans == want, (spans, want, nb.errors)
    assert [TEXT[s:e] for s, e, _ in spans] == ["😀 met", "Ada Lovelace\r\nin", "東京",
                                               "👩\u200d💻"]


SNAP_TEXT = "The University of Zu\u0308rich 🇨🇭 hired Ada."


def test_snapping_stacking_click_cycling_and_delete(open_notebook: Any) -> None:
    nb = open_notebook("span_stack.ipynb", [
        "import json\nfrom labelnb.widgets.span import SpanAnnotator\n"
        f"TEXT = json.loads({json.dumps(json.dumps(SNAP_TEXT))})\n"
        'w = SpanAnnotator(text=TEXT, labels=["ORG", "LOC", "PER"], tokens="words")\nw',
        'print("SPANS:" + json.dumps([[s.start, s.end, s.label] for s in w.annotations]) + "|[]")'])
    widget = _widget(nb)
    with _shots(nb, "span_stacked"):
        u, z = SNAP_TEXT.index("University"), SNAP_TEXT.index("rich")
        _drag(nb, u + 3, z + 2)  # from inside "University" to inside "Zürich": snapped
        _count(widget, "spans", 1)
        _drag(nb, z, z + 2)  # inside "Zürich" only: the whole token, nested in the ORG
        _count(widget, "spans", 2)
        nb.page.keyboard.press("2")  # LOC
        # drawn stacked: the Zürich segment carries two underline layers and both tags
        zseg = widget.locator(".lnb-seg", has_text="Zu\u0308rich")
        assert zseg.get_attribute("data-tags") in ("LOC ORG", "ORG LOC")
        layers = zseg.evaluate("e => getComputedStyle(e).backgroundImage.split('gradient(')"
                               ".length - 1")
        assert layers == 3, layers  # two bars (ORG, LOC) and the tint
        # a click selects the innermost span there; a second click the next one stacked
        r = nb.page.evaluate(RECT_JS, [0, z, z + 1])
        nb.page.mouse.click(r["x0"] + 2, r["y0"])
        sel = widget.locator(".lnb-selected")
        assert sel.all_inner_texts() == ["Zu\u0308rich"]
        nb.page.mouse.click(r["x0"] + 2, r["y0"])
        assert "".join(sel.all_inner_texts()) == "University of Zu\u0308rich"
        nb.page.keyboard.press("Delete")  # deletes the ORG
        _count(widget, "spans", 1)
        nb.page.keyboard.press("Control+z")
        _count(widget, "spans", 2)
        nb.page.keyboard.press("Tab")  # the next span after the restored ORG: the LOC
        assert sel.all_inner_texts() == ["Zu\u0308rich"]
        spans, _ = _read(nb)
    uz = [SNAP_TEXT.index("University"), SNAP_TEXT.index(" 🇨🇭")]
    assert spans == [[*uz, "ORG"], [*_span("Zu\u0308rich", SNAP_TEXT), "LOC"]], spans
    assert SNAP_TEXT[uz[0]:uz[1]] == "University of Zu\u0308rich"


def test_accept_suggestions_one_by_one_and_all(open_notebook: Any) -> None:
    nb = open_notebook("span_suggest.ipynb", _cells(
        'w = SpanAnnotator(text=TEXT, labels=["PER", "LOC", "ORG"], suggestions=['
        'Span(*SPAN("Ada Lovelace"), "PER", score=0.9), Span(*SPAN("東京"), "ORG", score=0.4), '
        'Span(*SPAN("😀"), "ORG", score=0.2), Span(*SPAN("Zu\\u0308rich"), "LOC", score=0.8)])\nw'))
    widget = _widget(nb)
    with _shots(nb, "span_suggestions"):
        _count(widget, "suggestions", 4)
        widget.locator(".lnb-counts").click()  # focus the widget
        nb.page.keyboard.press("Tab")  # the first suggestion in document order: 😀
        nb.page.keyboard.press("Tab")  # then Ada Lovelace
        assert "".join(widget.locator(".lnb-selected").all_inner_texts()) == "Ada Lovelace"
        nb.page.keyboard.press("a")  # accepted as is
        _count(widget, "spans", 1)
        # a click selects the 東京 suggestion; a class key accepts it with that class
        r = nb.page.evaluate(RECT_JS, [0, TEXT.index("東"), TEXT.index("東") + 1])
        nb.page.mouse.click(r["x0"] + 2, r["y0"])
        nb.page.keyboard.press("2")
        _count(widget, "spans", 2)
        _count(widget, "suggestions", 2)
        nb.page.keyboard.press("Shift+X")  # reject the rest
        _count(widget, "suggestions", 0)
        spans, sugg = _read(nb)
    assert spans == [[*_span("Ada Lovelace"), "PER"], [*_span("東京"), "LOC"]], spans
    assert sugg == []


def test_verify_mode_one_suggestion_at_a_time(open_notebook: Any) -> None:
    nb = open_notebook("span_verify.ipynb", _cells(
        'w = SpanAnnotator(text=TEXT, labels=["PER", "LOC"], mode="verify", suggestions=['
        'Span(*SPAN("😀"), "PER", score=0.3), Span(*SPAN("Ada Lovelace"), "PER", score=0.9), '
        'Span(*SPAN("Zu\\u0308rich"), "LOC", score=0.7)])\nw'))
    widget = _widget(nb)
    bar = widget.locator(".lnb-verify")
    quote = bar.locator(".lnb-verify-text")
    with _shots(nb, "span_verify"):
        bar.click()  # focus the widget
        bar.locator(".lnb-verify-count", has_text="1 / 3").wait_for()
        assert quote.inner_text() == "😀"
        assert widget.locator(".lnb-has-sugg").count() == 1  # only the current one is drawn
        nb.page.keyboard.press("x")  # reject 😀
        bar.locator(".lnb-verify-count", has_text="1 / 2").wait_for()
        assert quote.inner_text() == "Ada Lovelace"
        nb.page.keyboard.press("a")  # accept Ada Lovelace
        bar.locator(".lnb-verify-count", has_text="1 / 1").wait_for()
        assert quote.inner_text() == "Zu\u0308rich"
        nb.page.keyboard.press("Control+z")  # undo brings Ada Lovelace back as the current one
        bar.locator(".lnb-verify-count", has_text="1 / 2").wait_for()
        assert quote.inner_text() == "Ada Lovelace"
        nb.page.keyboard.press("a")
        nb.page.keyboard.press("1")  # a class key accepts Zürich as PER
        bar.locator(".lnb-verify-done", has_text="2 accepted, 1 rejected").wait_for()
        spans, sugg = _read(nb)
    assert spans == [[*_span("Ada Lovelace"), "PER"], [*_span("Zu\u0308rich"), "PER"]], spans
    assert sugg == []


def test_text_and_label_names_reach_the_dom_only_as_text(open_notebook: Any) -> None:
    text = f"before {XSS} after"
    nb = open_notebook("span_xss.ipynb", [
        "import json\nfrom labelnb import Span\nfrom labelnb.widgets.span import SpanAnnotator\n"
        f"TEXT = json.loads({json.dumps(json.dumps(text))})\n"
        f"XSS = json.loads({json.dumps(json.dumps(XSS))})\n"
        'w = SpanAnnotator(text=TEXT, labels=[XSS, "PER"], mode="verify", '
        'annotations=[Span(0, 6, XSS)], suggestions=[Span(7, 7 + len(XSS), XSS)])\nw',
        'print("SPANS:" + json.dumps([[s.start, s.end, s.label] for s in w.annotations]) + "|[]")'])
    widget = _widget(nb)
    with _shots(nb, "span_xss"):
        assert nb.page.evaluate(RECT_JS, [0, 0, 1])["text"] == text
        assert widget.locator(".lnb-text").evaluate("e => e.textContent") == text
        assert widget.locator("img").count() == 0
        assert widget.locator(".lnb-label").first.inner_text().endswith(XSS)
        assert widget.locator(".lnb-verify-label").inner_text() == XSS
        tags = widget.locator(".lnb-seg[data-tags]").evaluate_all(
            "es => es.map((e) => getComputedStyle(e, '::after').content)")
        assert json.dumps(XSS) in tags and json.dumps(XSS + "?") in tags, tags
        widget.locator(".lnb-verify").click()
        nb.page.keyboard.press("?")
        widget.locator(".lnb-overlay", has_text=f"class {XSS}").wait_for()
        nb.page.keyboard.press("Escape")
        nb.page.keyboard.press("a")  # accept the suggestion labelled with the payload
        widget.locator(".lnb-verify-done").wait_for()
        assert nb.page.locator("img[src='x']").count() == 0
        assert nb.page.evaluate("window.__xss") is None
        spans, _ = _read(nb)
    assert spans == [[0, 6, XSS], [7, 7 + len(XSS), XSS]]


SESSION_CELLS = [
    f"""import json, os, tempfile
import labelnb
from labelnb import Span
TEXT = json.loads({json.dumps(json.dumps(TEXT))})
db = os.path.join(tempfile.mkdtemp(), "ner.db")
project = labelnb.Project.create(db, "ner", labelnb.Schema("spans", ["PER", "LOC"]))
ids = project.add_items([TEXT, "Bob lives in Paris."])
i = TEXT.index("Zu\\u0308rich")
project.add_predictions("m1", {{ids[0]: [Span(i, i + 7, "LOC", score=0.8)]}})
w = project.annotate("ana")
w""",
    """import sqlite3
with sqlite3.connect(db) as con:
    rows = con.execute("SELECT regions FROM annotations").fetchall()
print("DB:" + json.dumps([json.loads(r[0]) for r in rows]))""",
]


def test_session_submit_stores_code_point_offsets(open_notebook: Any) -> None:
    nb = open_notebook("span_session.ipynb", SESSION_CELLS)
    widget = _widget(nb)
    with _shots(nb, "span_session"):
        widget.locator(".lnb-status", has_text="0 done").wait_for()
        _count(widget, "suggestions", 1)
        widget.locator(".lnb-counts").click()
        nb.page.keyboard.press("Tab")
        nb.page.keyboard.press("a")  # accept the pre-annotation
        _drag(nb, *_span("😀 met"))  # and one of our own, over the emoji
        _count(widget, "spans", 2)
        _drag(nb, *_span("Lovelace\r\nin 東京"))
        nb.page.keyboard.press("2")  # LOC
        _count(widget, "spans", 3)
        widget.screenshot(path=str(SCREENSHOTS / "annotate_spans.png"))
        nb.page.keyboard.press("Enter")  # submit: the next item comes
        widget.locator(".lnb-status", has_text="1 done").wait_for()
        widget.locator(".lnb-text", has_text="Bob lives in Paris.").wait_for()
        nb.page.keyboard.press("s")  # skip it: the queue is empty
        widget.locator(".lnb-done", has_text="queue is empty").wait_for()
        nb.run_cell(1)
        (regions,) = json.loads(nb.output_text(1, "DB:"))
    got = [(r["start"], r["end"], r["label"]) for r in regions]
    want = [(*_span("😀 met"), "PER"), (*_span("Lovelace\r\nin 東京"), "LOC"),
            (*_span("Zu\u0308rich"), "LOC")]
    assert sorted(got) == sorted(want), (got, want)
    assert {TEXT[s:e] for s, e, _ in got} == {"😀 met", "Lovelace\r\nin 東京", "Zu\u0308rich"}
    assert all("score" not in r for r in regions)  # an accepted suggestion is a human span
