"""ReviewAnnotator and the review session without a browser: what Python sends and
stores when the browser's messages arrive. The session tests run on SQLite and on the
real PostgreSQL (``db_url``)."""

from __future__ import annotations

import doctest
import io
import re
import time
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import pytest
from PIL import Image

import labelnb
from labelnb.errors import PermissionDenied, SchemaError, ValidationError
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Span
from labelnb.widgets import BoxAnnotator, ChoiceAnnotator, ReviewAnnotator, ReviewSession
from labelnb.widgets import review as review_mod

STATIC = Path(labelnb.__file__).parent / "widgets" / "static"
XSS = "<img src=x onerror=alert(1)>"


class Front:
    """Stands in for the browser: records what Python sends, sends what JS would."""

    def __init__(self, widget: Any) -> None:
        self.w = widget
        self.sent: list[tuple[dict[str, Any], Any]] = []
        widget.send = lambda content, buffers=None: self.sent.append((content, buffers))

    def msg(self, **content: Any) -> None:
        self.w._handle_custom_msg(content, [])

    @property
    def last(self) -> dict[str, Any]:
        """The last message but the prefetch pushes (they come from another thread)."""
        return [c for c, _ in self.sent if c.get("type") != "prefetch"][-1]


def _img(w: int = 1600, h: int = 1200, seed: int = 0) -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(arr)


def test_docstring_examples() -> None:
    res = doctest.testmod(review_mod, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


# --- standalone ------------------------------------------------------------------------------
def test_standalone_shows_versions_in_display_pixels_and_reads_the_decision() -> None:
    ana = Annotation(item_id=1, regions=(Box(100, 200, 400, 600, "cat"),), author="ana")
    cy = Annotation(item_id=1, regions=(Box(0, 0, 50, 50, "dog"),), author="cy")
    w = ReviewAnnotator(_img(), annotation=ana, versions=[cy], labels=["cat", "dog"],
                        max_display=800)
    assert w._kind == "boxes" and w._mode == "review"
    v0, v1 = w._versions
    assert (v0["author"], v0["note"], v0["annotation_id"]) == ("ana", "under review", ana.id)
    assert v0["regions"] == [{"type": "box", "label": "cat", "x0": 50.0, "y0": 100.0,
                              "x1": 200.0, "y1": 300.0}]
    assert v1["author"] == "cy" and v1["regions"][0]["x1"] == 25.0
    assert [v.author for v in w.versions] == ["ana", "cy"]
    assert w.decision is None
    w._decision = {"decision": "approve", "version": 1}  # what the browser sets on "a"
    assert w.decision == review_mod.Decision("approve", version=1)
    w._decision = {"decision": "reject", "feedback": f"  {XSS}\n"}
    assert w.decision is not None and w.decision.feedback == XSS  # kept as text, trimmed
    w._decision = {"decision": "reject", "feedback": "   "}
    with pytest.raises(ValidationError, match="needs feedback"):
        _ = w.decision
    w._decision = {"decision": "delete"}
    with pytest.raises(ValidationError, match="field 'decision' is 'delete'"):
        _ = w.decision
    w._decision = {}  # undo in the browser
    assert w.decision is None
    # a new item starts undecided
    w._decision = {"decision": "approve"}
    w.load(_img(seed=1), annotation=[Box(1, 1, 2, 2, "dog")])
    assert w.decision is None and w._versions[0]["author"] == "unknown"


def test_standalone_validates_the_annotation_against_the_item() -> None:
    with pytest.raises(SchemaError, match=r"version 0 \(ana\), region 0.*outside the image"):
        ReviewAnnotator(_img(200, 100), labels=["cat"],
                        annotation=Annotation(item_id=1, regions=(Box(0, 0, 300, 10, "cat"),),
                                              author="ana"))
    with pytest.raises(SchemaError, match="'cow' is not in the schema"):
        ReviewAnnotator(_img(200, 100), annotation=[Box(0, 0, 3, 3, "cow")], labels=["cat"])
    with pytest.raises(ValidationError, match="kind is unknown; pass kind="):
        ReviewAnnotator(_img(), annotation=[], labels=["cat"])
    assert ReviewAnnotator(_img(20, 10), annotation=[], labels=["cat"], kind="boxes")._versions
    with pytest.raises(ValidationError, match="needs the image"):
        ReviewAnnotator(text="x", annotation=[Box(0, 0, 1, 1, "cat")], labels=["cat"])
    with pytest.raises(ValidationError, match="mixes region types"):
        ReviewAnnotator(_img(), annotation=[Box(0, 0, 1, 1, "a"), Choice("a")], labels=["a"])
    with pytest.raises(ValidationError, match="field 'mode'"):
        ReviewAnnotator(_img(), annotation=[Box(0, 0, 1, 1, "a")], labels=["a"],
                        mode="grade")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="a span marks text, but this item is an image"):
        ReviewAnnotator(_img(), annotation=[Span(0, 3, "a")], labels=["a"])
    # a correction read back from the browser is checked like the versions shown
    w = ReviewAnnotator(_img(200, 100), annotation=[Box(0, 0, 5, 5, "cat")], labels=["cat"])
    w._decision = {"decision": "correct", "regions": [
        {"type": "box", "label": "zebra", "x0": 0, "y0": 0, "x1": 10, "y1": 10}]}
    with pytest.raises(SchemaError, match="correction, region 0.*'zebra' is not in the schema"):
        _ = w.decision
    w._decision = {"decision": "correct", "regions": [
        {"type": "box", "label": "cat", "x0": 0, "y0": 0, "x1": 5000, "y1": 10}]}
    with pytest.raises(SchemaError, match="outside the image"):
        _ = w.decision


def test_standalone_correct_opens_the_kinds_editor_and_reads_back_the_correction() -> None:
    ana = Annotation(item_id=1, regions=(Box(100, 100, 300, 200, "car"),), author="ana")
    cy = Annotation(item_id=1, regions=(Box(600, 400, 800, 600, "bus"),), author="cy")
    w = ReviewAnnotator(_img(), annotation=ana, versions=[cy], labels=["car", "bus"],
                        max_display=800)
    front = Front(w)
    front.msg(type="correct", key="stale", version=1)
    assert not w._correcting and w.editor is None  # about an item no longer shown
    front.msg(type="correct", key=w.item_key, version=1)
    ed = w.editor
    assert isinstance(ed, BoxAnnotator) and w._correcting and w._editor is ed
    assert ed._bound and "correcting cy's version" in ed._status
    assert ed.annotations == [Box(600, 400, 800, 600, "bus")]  # preloaded: the version shown
    assert ed.original is w.original and ed._image_bytes == w._image_bytes  # reused
    ed_front = Front(ed)
    # the editor's S cancels; c opens it again, on version 0 this time
    ed_front.msg(type="skip", key=ed.item_key)
    assert not w._correcting and w.decision is None
    front.msg(type="correct", key=w.item_key, version=0)
    assert w._correcting and ed.annotations == [Box(100, 100, 300, 200, "car")]
    # the editor's Enter: boxes in display pixels (half size)
    box = {"type": "box", "x0": 60, "y0": 50, "x1": 160.2, "y1": 100, "label": "bus"}
    ed_front.msg(type="submit", key=ed.item_key, client_id="k1", regions=[box])
    assert ed_front.last == {"type": "ack", "client_id": "k1", "annotation_id": ""}
    assert not w._correcting
    assert w.decision == review_mod.Decision(
        "correct", regions=(Box(120, 100, 320, 200, "bus"),), version=0)
    ed_front.msg(type="submit", key=ed.item_key, client_id="k1", regions=[])  # a retry
    assert ed_front.last["client_id"] == "k1" and w.decision is not None
    assert w.decision.regions == (Box(120, 100, 320, 200, "bus"),)
    w.close()
    assert ed.comm is None and w.comm is None  # the editor goes with the review


_DENSE = np.zeros((120, 160), bool)
_DENSE[10:50, 20:90] = True


@pytest.mark.parametrize(("module", "item", "regions"), [
    ("polygon", {"image": np.zeros((120, 160, 3), np.uint8)},
     [Polygon((10, 10, 100, 10, 50, 80), "a")]),
    ("mask", {"image": np.zeros((120, 160, 3), np.uint8)}, [Mask.from_array(_DENSE, "a")]),
    ("span", {"text": "hello 👍 world"}, [Span(6, 7, "a"), Span(6, 13, "b")]),
])
def test_correct_preloads_every_kinds_editor(module: str, item: dict[str, Any],
                                             regions: list[Any]) -> None:
    pytest.importorskip(f"labelnb.widgets.{module}")
    w = ReviewAnnotator(annotation=regions, labels=["a", "b"], **item)
    Front(w).msg(type="correct", key=w.item_key, version=0)
    assert w._correcting and w._message == ""
    assert type(w.editor).__module__ == f"labelnb.widgets.{module}"
    assert sorted(map(repr, w.editor.annotations)) == sorted(map(repr, regions))
    assert w.editor._bound


def test_correct_without_an_editor_for_the_kind_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(labelnb.widgets.session.WIDGETS, "polygons", "labelnb.nowhere:Nope")
    w = ReviewAnnotator(_img(), annotation=[Polygon((0, 0, 10, 0, 10, 10), "a")], labels=["a"])
    Front(w).msg(type="correct", key=w.item_key, version=0)
    assert not w._correcting and "cannot correct here" in w._message and "polygons" in w._message


def test_polygons_are_scaled_to_display_pixels() -> None:
    w = ReviewAnnotator(_img(), annotation=[Polygon((100, 100, 900, 100, 500, 700), "a")],
                        labels=["a"], max_display=800)
    assert w._kind == "polygons"
    assert w._versions[0]["regions"] == [{"type": "polygon", "label": "a",
                                          "points": [50.0, 50.0, 450.0, 50.0, 250.0, 350.0]}]


def test_mask_overlay_is_a_png_at_display_size_in_the_label_colour() -> None:
    dense = np.zeros((1200, 1600), bool)
    dense[200:600, 400:1200] = True
    schema = labelnb.Schema("masks", [{"name": "coin", "color": "#ff0000"}, "bg"])
    w = ReviewAnnotator(_img(), annotation=[Mask.from_array(dense, "coin")], schema=schema,
                        max_display=800)
    v = w._versions[0]
    assert v["overlay"] and v["regions"] == [{"type": "mask", "label": "coin",
                                              "area": 400 * 800}]
    assert "counts" not in str(v)  # the RLE stays in Python
    front = Front(w)
    front.msg(type="overlay", key="stale", version=0)
    front.msg(type="overlay", key=w.item_key, version=7)
    assert front.sent == []
    front.msg(type="overlay", key=w.item_key, version=0)
    (content, buffers), = front.sent
    assert content == {"type": "overlay", "key": w.item_key, "version": 0, "mime": "image/png"}
    png = Image.open(io.BytesIO(buffers[0]))
    assert png.size == (800, 600) and png.mode == "RGBA"
    arr = np.asarray(png)
    assert tuple(arr[200, 400]) == (255, 0, 0, 110)  # inside the mask (display px)
    assert arr[50, 50, 3] == 0 and arr[400, 700, 3] == 0  # outside: transparent
    assert (arr[..., 3] > 0).sum() == 400 * 200
    with pytest.raises(SchemaError, match="encode the mask at image size"):
        ReviewAnnotator(_img(), annotation=[Mask.from_array(np.ones((10, 10)), "coin")],
                        schema=schema)


def test_spans_keep_code_point_offsets_and_text_is_text() -> None:
    text = f"👍🏽 Zoë met 東京 {XSS}\r\nnaïve"
    start = text.index("東京")
    spans = [Span(start, start + 2, "LOC"), Span(0, 2, "EMO"), Span(start, len(text), "X")]
    w = ReviewAnnotator(text=text, annotation=spans, labels=["LOC", "EMO", "X"])
    assert w._kind == "spans" and w._item["text"] == text and not w._item["has_image"]
    got = [(r["start"], r["end"]) for r in w._versions[0]["regions"]]
    assert got == [(start, start + 2), (0, 2), (start, len(text))]
    assert text[got[0][0]:got[0][1]] == "東京"
    with pytest.raises(SchemaError, match="region 0"):
        ReviewAnnotator(text="short", annotation=[Span(2, 40, "LOC")], labels=["LOC"])


def test_choice_on_text_and_image() -> None:
    w = ReviewAnnotator(text=XSS, annotation=[Choice("neg")], labels=["pos", "neg"])
    assert w._kind == "choice" and w._versions[0]["regions"] == [{"type": "choice",
                                                                 "label": "neg"}]
    m = ReviewAnnotator(_img(40, 30), annotation=[Choice("a"), Choice("b")], labels=["a", "b"])
    assert m._kind == "multi_choice" and m._item["has_image"]
    front = Front(w)
    front.msg(type="correct", key=w.item_key, version=0)
    ed = w.editor
    assert isinstance(ed, ChoiceAnnotator) and ed._value == ["neg"] and ed._item["text"] == XSS
    ed_front = Front(ed)
    ed_front.msg(type="submit", key=ed.item_key, client_id="c", labels=[])
    assert "choose a class" in ed._message and w._correcting
    ed_front.msg(type="submit", key=ed.item_key, client_id="c2", labels=["pos"])
    assert w.decision is not None and w.decision.regions == (Choice("pos"),)


def test_acknowledge_mode_shows_the_mistake_beside_the_consensus() -> None:
    mine = Annotation(item_id=3, regions=(Choice("dog"),), author="ana")
    with pytest.raises(ValidationError, match="consensus="):
        ReviewAnnotator(text="a cat", annotation=mine, labels=["cat", "dog"], mode="acknowledge")
    w = ReviewAnnotator(text="a cat", annotation=mine, consensus=[Choice("cat")],
                        labels=["cat", "dog"], mode="acknowledge")
    assert [(v["author"], v["note"]) for v in w._versions] == [("ana", "your label"),
                                                               ("consensus", "consensus")]
    Front(w).msg(type="correct", key=w.item_key, version=0)
    assert not w._correcting  # nothing to correct when acknowledging
    w._decision = {"decision": "acknowledge"}
    assert w.decision is not None and w.decision.decision == "acknowledge"


# --- the house rules ------------------------------------------------------------------------
def _js_actions() -> list[str]:
    src = (STATIC / "review.js").read_text()
    block = src[src.index("export const ACTIONS = {"):]
    block = block[:block.index("\n};")]
    return re.findall(r"^  (\w+): \{", block, re.M)


def test_keymap_actions_match_the_js_defaults_and_are_checked() -> None:
    assert _js_actions() == list(ReviewAnnotator.ACTIONS)
    w = ReviewAnnotator(_img(20, 10), annotation=[Box(0, 0, 1, 1, "a")], labels=["a"],
                        keymap={"approve": "y", "reject": ["x", "Ctrl+R"], "undo": []})
    assert w._keymap == {"approve": ["y"], "reject": ["x", "Ctrl+R"], "undo": []}
    with pytest.raises(ValidationError, match="keymap action 'accept' does not exist"):
        ReviewAnnotator(_img(20, 10), annotation=[Box(0, 0, 1, 1, "a")], labels=["a"],
                        keymap={"accept": "y"})


def test_static_files_follow_the_house_rules() -> None:
    src = (STATIC / "review.js").read_text()
    assert "innerHTML" not in src and "insertAdjacentHTML" not in src
    assert "outerHTML" not in src and "document.write" not in src
    assert "data-lm-suppress-shortcuts" in src and "stopPropagation" in src
    assert "export default" in src and "return () =>" in src
    for lib in ("history", "keymap", "utf16", "ui"):
        assert f'from "./lib/{lib}.js";' in src  # shared modules, not copies
    inlined = ReviewAnnotator._esm
    assert isinstance(inlined, str) and 'from "./lib/' not in inlined
    assert "class History" in inlined and "class OffsetMap" in inlined
    assert ".lnb-overlay" in str(ReviewAnnotator._css)  # the shared help-overlay CSS
    base = set(anywidget.AnyWidget.class_trait_names())
    own = set(ReviewAnnotator.class_trait_names()) - base
    assert {"_versions", "_decision", "_editor"} <= own
    assert not own & {"keys", "comm", "layout", "log"}


# --- bound to a project ----------------------------------------------------------------------
def _boxes_project(db_url: str, tmp_path: Path, n: int = 3, **kw: Any) -> labelnb.Project:
    paths = []
    for i in range(n):
        paths.append(tmp_path / f"img{i}.png")
        _img(160, 120, seed=i).save(paths[-1])
    p = labelnb.Project.create(db_url, "rev", labelnb.Schema("boxes", ["car", "bus"]),
                               review_fraction=1.0, **kw)
    p.add_items([str(x) for x in paths])
    p.annotators.add("bob", role="reviewer")
    return p


def _label_all(p: labelnb.Project, who: str, label: str = "car", limit: int = 99
               ) -> list[str]:
    q = p.queue(who)
    ids = []
    while len(ids) < limit and (t := q.claim()) is not None:
        ids.append(q.submit([Box(10, 10, 50 + t.item_id, 40, label)]))
    return ids


def test_review_session_approve_reject_correct(db_url: str, tmp_path: Path) -> None:
    p = _boxes_project(db_url, tmp_path)
    anns = _label_all(p, "ana")
    w = p.review("bob", max_display=80)
    assert isinstance(w, ReviewAnnotator) and isinstance(w.session, ReviewSession)
    s: ReviewSession = w.session
    front = Front(w)
    assert w._bound and not w._done and s.task is not None
    assert s.task.target_annotation_id == anns[0] and s.task.author == "ana"
    assert w._versions[0]["author"] == "ana" and w._versions[0]["annotation_id"] == anns[0]
    assert "0 reviewed" in w._status and "2 left" in w._status and "by ana" in w._status
    assert w._progress == {"done": 0, "total": 3} and s.progress() == (0, 3)
    key0 = w.item_key
    # approve
    front.msg(type="decide", decision="approve", key=key0, client_id="d1")
    assert front.last == {"type": "ack", "client_id": "d1", "annotation_id": anns[0]}
    assert s.counts["approve"] == 1 and w.item_key != key0
    assert "item" in w._last and "approved" in w._last
    # the browser resends the same decision (no ack seen): stored once
    front.msg(type="decide", decision="approve", key=key0, client_id="d1")
    assert len(p.reviews()) == 1 and s.task is not None
    assert s.task.target_annotation_id == anns[1]
    # a stale message (an item no longer shown) and a refused one change nothing
    front.msg(type="decide", decision="reject", feedback="x", key=key0, client_id="d0")
    front.msg(type="decide", decision="reject", feedback="  ", key=w.item_key, client_id="d2")
    assert front.last["client_id"] == "d2" and "feedback" in front.last["error"]
    assert len(p.reviews()) == 1 and "feedback" in w._message
    # reject with feedback: shown back as text, stored as text, back to the author
    feedback = f"{XSS} the box misses the car's bumper"
    front.msg(type="decide", decision="reject", feedback=feedback, key=w.item_key,
              client_id="d3")
    assert w._last.endswith("rejected — feedback: " + feedback)
    # correct: the editor opens preloaded with ana's box; its Enter stores a correction
    assert s.task is not None and s.task.target_annotation_id == anns[2]
    front.msg(type="correct", key=w.item_key, version=0)
    ed = w.editor
    assert isinstance(ed, BoxAnnotator) and w._correcting and ed._heartbeat_s == w._heartbeat_s
    (orig,) = ed.annotations
    ed_front = Front(ed)
    ed_front.msg(type="heartbeat", key=ed.item_key)  # the editor keeps the lease alive too
    ed_front.msg(type="submit", key=ed.item_key, client_id="e1",
                 regions=[{"type": "box", "x0": 2, "y0": 2, "x1": 30, "y1": 20, "label": "bus"}])
    fix_id = ed_front.last["annotation_id"]
    assert ed_front.last["client_id"] == "e1" and fix_id
    ed_front.msg(type="submit", key="gone", client_id="e1", regions=[])  # a retry
    assert ed_front.last["annotation_id"] == fix_id
    # the queue is empty now, and the widget says so
    assert w._done and s.task is None and not w._correcting
    assert "queue is empty" in w._status and "3 reviewed" in w._status
    assert w._progress == {"done": 3, "total": 3}
    assert s.counts == {"approve": 1, "reject": 1, "correct": 1, "acknowledge": 0}
    # what the database holds
    rev = p.reviews().sort_values("id")
    assert rev["decision"].tolist() == ["approve", "reject", "correct"]
    assert rev["reviewer"].tolist() == ["bob"] * 3
    assert rev["annotation_id"].tolist() == anns
    assert rev["feedback"].iloc[1] == feedback
    assert rev["correction_id"].iloc[2] == fix_id
    (fix,) = p.annotation_objects(annotator="bob")
    assert fix.id == fix_id and fix.corrects == anns[2] and fix.source == "human"
    assert fix.regions == (Box(4, 4, 60, 40, "bus"),) and orig.label == "car"
    # the rejection reached the author: their task is open again, with the feedback
    qa = p.queue("ana")
    rework = qa.claim()
    assert rework is not None and rework.stage == "annotate"
    assert rework.target_annotation_id == anns[1]
    assert [f["feedback"] for f in qa.feedback()] == [feedback]


def test_a_reviewer_never_gets_their_own_work(db_url: str, tmp_path: Path) -> None:
    p = _boxes_project(db_url, tmp_path, n=3)
    p.annotators.add("ana", role="reviewer")
    mine = _label_all(p, "ana", limit=2)
    (bobs,) = _label_all(p, "bob")
    w = p.review("ana")
    s = w.session
    assert s.task is not None and s.task.target_annotation_id == bobs
    assert s.task.author == "bob"
    Front(w).msg(type="decide", decision="approve", key=w.item_key, client_id="x")
    assert w._done and "2 open tasks cannot go to 'ana'" in w._status
    # bob gets ana's two
    w2 = p.review("bob")
    got = []
    front = Front(w2)
    while not w2._done:
        got.append(w2.session.task.target_annotation_id)
        front.msg(type="decide", decision="approve", key=w2.item_key, client_id=f"b{len(got)}")
    assert sorted(got) == sorted(mine)
    p.annotators.add("cy")
    with pytest.raises(PermissionDenied, match=r"update\('cy', role='reviewer'\)"):
        p.review("cy")


def test_overlap_versions_switch_between_annotators(db_url: str, tmp_path: Path) -> None:
    p = _boxes_project(db_url, tmp_path, n=1, overlap=2)
    (a,) = _label_all(p, "ana", "car")
    (c,) = _label_all(p, "cy", "bus")
    w = p.review("bob")
    s = w.session
    target = s.task.target_annotation_id
    other = c if target == a else a
    assert [v["annotation_id"] for v in w._versions] == [target, other]
    assert {v["author"] for v in w._versions} == {"ana", "cy"}
    assert w._versions[0]["note"] == "under review"
    # correct from the other annotator's version: the editor starts from it
    Front(w).msg(type="correct", key=w.item_key, version=1)
    assert [b.label for b in w.editor.annotations] == [w.versions[1].regions[0].label]
    Front(w.editor).msg(type="skip", key=w.editor.item_key)
    assert not w._correcting and s.task is not None


def test_heartbeat_extends_the_lease_and_a_lost_lease_moves_on(db_url: str,
                                                               tmp_path: Path) -> None:
    p = _boxes_project(db_url, tmp_path, n=2, lease_ttl_s=30)
    _label_all(p, "ana")
    w = p.review("bob", heartbeat_s=7)
    assert w._heartbeat_s == 7
    s = w.session
    front = Front(w)
    before = s.queue.current.expires_at
    time.sleep(0.05)
    front.msg(type="heartbeat", key=w.item_key)
    assert s.queue.current.expires_at > before
    # the lease runs out while the reviewer is away; someone else takes the task
    p.configure(lease_ttl_s=0.05)
    s.queue.heartbeat()
    time.sleep(0.2)
    p.annotators.add("dee", role="reviewer")
    taken = p.review_queue("dee").claim()
    assert taken is not None and taken.id == s.task.id
    front.msg(type="decide", decision="approve", key=w.item_key, client_id="late")
    assert "ran out" in w._message and front.last["error"]
    assert p.reviews().empty and s.counts["approve"] == 0


def test_the_next_image_is_prefetched(tmp_path: Path) -> None:
    p = _boxes_project(str(tmp_path / "p.db"), tmp_path, n=2)
    _label_all(p, "ana")
    w = p.review("bob", max_display=80)
    s = w.session
    first = s.task.item.id
    s._wait_prefetch()
    (nxt,) = s._prefetched
    assert nxt != first and w._item["alias"] is None
    Front(w).msg(type="decide", decision="approve", key=w.item_key, client_id="p1")
    assert s.task.item.id == nxt and w._item["alias"] == f"item-{nxt}"  # the pushed copy
    assert not p.review("bob", prefetch=False).session._prefetched


def test_skip_gives_the_task_back(db_url: str, tmp_path: Path) -> None:
    p = _boxes_project(db_url, tmp_path, n=2)
    _label_all(p, "ana")
    w = p.review("bob")
    first = w.session.task.id
    Front(w).msg(type="skip", key=w.item_key)
    assert w.session.skipped == 1 and w.session.task.id != first
    w.session.close()
    assert w._done and "closed" in w._status
    assert p.review_queue("bob").claim() is not None  # released, not lost


def test_acknowledge_mode_walks_the_retraining_queue(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "cal", labelnb.Schema("choice", ["cat", "dog"]),
                               overlap=3)
    p.add_items([f"text {i}" for i in range(5)])
    for who, label in (("ana", "dog"), ("bob", "cat"), ("cy", "cat")):
        q = p.queue(who)
        while q.claim() is not None:
            q.submit(Choice(label))
    cal = p.calibrate(min_items=1)
    assert cal.set_index("annotator").loc["ana", "retraining_tasks"] == 5
    w = p.review("ana", mode="acknowledge")
    assert w._mode == "acknowledge" and w.session.queue.stages == ("retrain",)
    front = Front(w)
    seen = 0
    while not w._done:
        mistake, cons = w.versions
        assert mistake.author == "ana" and mistake.regions == (Choice("dog"),)
        assert cons.regions == (Choice("cat"),) and "majority" in cons.note
        front.msg(type="decide", decision="approve", key=w.item_key, client_id=f"no{seen}")
        assert "does not fit mode 'acknowledge'" in w._message
        if seen == 4:
            # a skip closes a retraining task as seen, not acknowledged (the queue never
            # hands ana's mistake to anyone else), and says so
            item = w.session.task.item.id
            front.msg(type="skip", key=w.item_key)
            assert w.session.skipped == 1
            assert w._last == (f"item {item}: skipped; it is closed as seen, not "
                               "acknowledged, and does not come back")
        else:
            front.msg(type="decide", decision="acknowledge", key=w.item_key,
                      client_id=f"k{seen}")
        seen += 1
    assert seen == 5 and "4 acknowledged" in w._status
    ev = p.events()
    assert (ev["kind"] == "retraining_acknowledged").sum() == 4
    assert (ev["kind"] == "retraining_skipped").sum() == 1
    assert p.retraining_queue("ana").claim() is None  # the skipped one does not come back
