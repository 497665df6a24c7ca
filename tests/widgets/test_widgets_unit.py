"""The widgets without a browser: coordinate mapping, validation, the session."""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import labelnb
from labelnb.errors import LabelnbError, SchemaError, ValidationError
from labelnb.types import Box, Choice
from labelnb.widgets import BoxAnnotator, ChoiceAnnotator, Session, annotate
from labelnb.widgets._geometry import DisplayScale

STATIC = Path(labelnb.__file__).parent / "widgets" / "static"


@pytest.mark.parametrize("name", ["labelnb.widgets._geometry", "labelnb.widgets.box",
                                  "labelnb.widgets.choice"])
def test_docstring_examples(name: str) -> None:
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


# --- coordinate mapping -------------------------------------------------------------------
def test_fit_downscales_only() -> None:
    assert DisplayScale.fit(1600, 1200, 800).to_json() == {
        "width": 1600, "height": 1200, "display_width": 800, "display_height": 600}
    s = DisplayScale.fit(300, 200, 800)
    assert (s.display_width, s.display_height, s.sx, s.sy) == (300, 200, 1.0, 1.0)
    tall = DisplayScale.fit(1000, 4000, 960)
    assert (tall.display_width, tall.display_height) == (240, 960)


def test_box_to_original_snaps_clips_and_orders() -> None:
    s = DisplayScale.fit(1600, 1200, 800)
    b = s.box_to_original({"x0": 400.3, "y0": 700, "x1": -5, "y1": 10.2, "label": "cat"})
    assert b == Box(0, 20, 801, 1200, "cat")  # sorted, clipped to the image, whole pixels


def test_box_to_original_rejects_garbage() -> None:
    s = DisplayScale.fit(100, 100, 50)
    with pytest.raises(ValidationError, match="missing field 'y1'"):
        s.box_to_original({"x0": 1, "y0": 1, "x1": 2, "label": "a"})
    with pytest.raises(ValidationError, match="numbers"):
        s.box_to_original({"x0": "a", "y0": 1, "x1": 2, "y1": 3, "label": "a"})
    with pytest.raises(ValidationError, match="finite"):
        s.box_to_original({"x0": float("nan"), "y0": 1, "x1": 2, "y1": 3, "label": "a"})


@given(w=st.integers(1, 5000), h=st.integers(1, 5000), m=st.integers(16, 2000),
       data=st.data())
def test_integer_boxes_round_trip_through_display(w: int, h: int, m: int, data: Any) -> None:
    s = DisplayScale.fit(w, h, m)
    x0 = data.draw(st.integers(0, w))
    x1 = data.draw(st.integers(x0, w))
    y0 = data.draw(st.integers(0, h))
    y1 = data.draw(st.integers(y0, h))
    b = Box(x0, y0, x1, y1, "a")
    assert s.box_to_original(s.box_to_display(b)) == b


# --- BoxAnnotator ---------------------------------------------------------------------------
def _img(w: int = 1600, h: int = 1200) -> Image.Image:
    return Image.fromarray(np.zeros((h, w, 3), np.uint8))


def test_box_annotator_maps_browser_boxes_to_original_pixels() -> None:
    w = BoxAnnotator(_img(), labels=["cat", "dog"], max_display=800)
    assert w._item["display_width"] == 800
    w._boxes = [{"type": "box", "x0": 10, "y0": 20, "x1": 110.2, "y1": 70, "label": "dog"}]
    assert w.annotations == [Box(20, 40, 220, 140, "dog")]


def test_box_annotator_validates() -> None:
    w = BoxAnnotator(_img(200, 100), labels=["cat"])
    with pytest.raises(SchemaError, match="outside the image"):
        w.annotations = [Box(0, 0, 300, 10, "cat")]
    with pytest.raises(SchemaError, match="not in the schema"):
        w.annotations = [Box(0, 0, 30, 10, "cow")]
    w._boxes = [{"x0": 0, "y0": 0, "x1": 5, "y1": 5, "label": "cow"}]
    with pytest.raises(SchemaError, match="'cow' is not in the schema"):
        _ = w.annotations
    with pytest.raises(ValidationError, match="no image"):
        BoxAnnotator(labels=["cat"]).annotations = [Box(0, 0, 1, 1, "cat")]
    with pytest.raises(ValidationError, match="not both"):
        BoxAnnotator(labels=["a"], schema=labelnb.Schema("boxes", ["a"]))
    with pytest.raises(ValidationError, match="kind"):
        BoxAnnotator(schema=labelnb.Schema("choice", ["a"]))
    # a box thinner than a pixel was accepted, then .annotations (and submits) failed
    wide = BoxAnnotator(_img(1000, 100), labels=["cat"], max_display=333)
    with pytest.raises(ValidationError, match=r"no area .*boxes snap to whole pixels"):
        wide.annotations = [Box(5.2, 5, 5.4, 9, "cat")]
    assert wide.annotations == []  # nothing half-set
    wide.annotations = [Box(5, 5, 9, 9, "cat")]
    assert wide.annotations == [Box(5, 5, 9, 9, "cat")]


@pytest.mark.parametrize("kind", ["pil", "array", "float", "gray", "bytes", "path"])
def test_image_inputs(kind: str, tmp_path: Path) -> None:
    arr = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    image: Any = {"pil": Image.fromarray(arr), "array": arr, "float": arr / 255.0,
                  "gray": arr[:, :, 0], "bytes": buf.getvalue(), "path": tmp_path / "x.png"
                  }[kind]
    (tmp_path / "x.png").write_bytes(buf.getvalue())
    w = BoxAnnotator(image, labels=["a"])
    assert (w._item["width"], w._item["height"]) == (40, 30)
    with pytest.raises(ValidationError, match="give a path"):
        BoxAnnotator(12, labels=["a"])


def test_exif_orientation_applied() -> None:
    im = Image.fromarray(np.zeros((30, 40, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif)
    w = BoxAnnotator(buf.getvalue(), labels=["a"])
    assert (w._item["width"], w._item["height"]) == (30, 40)


def test_image_is_pulled_as_bytes_in_a_buffer() -> None:
    w = BoxAnnotator(_img(), labels=["a"], max_display=400)
    sent: list[tuple[Any, Any]] = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    w._handle_custom_msg({"type": "image", "key": "stale"}, [])
    assert sent == []
    w._handle_custom_msg({"type": "image", "key": w.item_key}, [])
    (content, buffers), = sent
    assert content["mime"] == "image/jpeg" and content["key"] == w.item_key
    assert Image.open(io.BytesIO(buffers[0])).size == (400, 300)
    rgba = BoxAnnotator(Image.new("RGBA", (10, 10)), labels=["a"])
    assert rgba._image_bytes is not None and rgba._image_bytes[1] == "image/png"


def test_suggestions_are_display_boxes_of_known_labels() -> None:
    w = BoxAnnotator(_img(), labels=["a"], max_display=800,
                     suggestions=[Box(100, 100, 200, 200, "a", score=0.9),
                                  Box(0, 0, 1, 1, "zzz"), Choice("a")])
    assert w._suggestions == [{"type": "box", "label": "a", "score": 0.9, "x0": 50.0,
                               "y0": 50.0, "x1": 100.0, "y1": 100.0}]
    assert w.suggestions == [Box(100, 100, 200, 200, "a", score=0.9)]


def test_static_files_follow_the_house_rules() -> None:
    for js in ("box.js", "choice.js"):
        src = (STATIC / js).read_text()
        assert "innerHTML" not in src and "insertAdjacentHTML" not in src
        assert "data-lm-suppress-shortcuts" in src and "stopPropagation" in src
        assert "export default" in src and "return () =>" in src  # cleanup
    base = set(anywidget.AnyWidget.class_trait_names())
    for cls in (BoxAnnotator, ChoiceAnnotator):
        own = set(cls.class_trait_names()) - base  # the traits labelnb adds
        assert own and not own & {"keys", "comm", "layout", "log"}
        assert "_boxes" in own or "_value" in own


# --- ChoiceAnnotator -------------------------------------------------------------------------
def test_choice_annotator() -> None:
    w = ChoiceAnnotator(text="<img src=x onerror=alert(1)>", labels=["pos", "neg"])
    assert w._item["text"] == "<img src=x onerror=alert(1)>"  # shown with textContent
    w._value = ["neg"]
    assert w.annotations == [Choice("neg")]
    w._value = ["neg", "pos"]
    with pytest.raises(ValidationError, match="multi=False"):
        _ = w.annotations
    m = ChoiceAnnotator(image=_img(40, 30), labels=["a", "b"], multi=True)
    m.annotations = [Choice("a"), Choice("b")]
    assert m._value == ["a", "b"] and m._item["has_image"]
    with pytest.raises(SchemaError):
        m.annotations = [Choice("c")]
    with pytest.raises(ValidationError, match="image=... or text"):
        ChoiceAnnotator(labels=["a"]).load()
    assert ChoiceAnnotator(schema=labelnb.Schema("multi_choice", ["a"]))._multi
    # multi= against the schema's kind: refused (it took several classes for 'choice')
    with pytest.raises(ValidationError, match="multi=True but the schema is 'choice'"):
        ChoiceAnnotator(text="x", schema=labelnb.Schema("choice", ["a", "b"]), multi=True)
    assert ChoiceAnnotator(text="x", schema=labelnb.Schema("choice", ["a"]), multi=False)


# --- annotate(): the session state machine, with fake front-end messages -----------------------
class Front:
    """Stands in for the browser: records what Python sends, sends what JS would."""

    def __init__(self, widget: Any) -> None:
        self.w = widget
        self.sent: list[dict[str, Any]] = []
        widget.send = lambda content, buffers=None: self.sent.append(content)

    def msg(self, **content: Any) -> None:
        self.w._handle_custom_msg(content, [])


def _choice_project(tmp_path: Path, n: int = 2) -> labelnb.Project:
    p = labelnb.Project.create(tmp_path / "p.db", "p", labelnb.Schema("choice", ["pos", "neg"]))
    p.add_items([f"text {i}" for i in range(n)])
    return p


def test_annotate_submits_claims_next_and_finishes(tmp_path: Path) -> None:
    p = _choice_project(tmp_path)
    w = p.annotate("ana")
    assert isinstance(w, ChoiceAnnotator) and w._bound and isinstance(w.session, Session)
    s: Session = w.session
    front = Front(w)
    assert w._item["text"] == "text 0" and w._status.startswith("0 done")
    key0 = w.item_key
    front.msg(type="submit", key=key0, client_id="c1", labels=["neg"], duration_s=1.5)
    assert front.sent[-1]["type"] == "ack" and front.sent[-1]["client_id"] == "c1"
    assert s.done == 1 and w._item["text"] == "text 1" and w.item_key != key0
    # the browser retries the same submit (no ack seen): stored once, acked again
    front.msg(type="submit", key=key0, client_id="c1", labels=["neg"])
    assert s.done == 1 and front.sent[-1]["type"] == "ack"
    # a stale message about an item no longer shown is ignored
    front.msg(type="skip", key=key0)
    assert w._item["text"] == "text 1"
    front.msg(type="heartbeat", key=w.item_key)
    assert s.queue.current is not None
    front.msg(type="submit", key=w.item_key, client_id="c2", labels=["pos"])
    assert w._done and "queue is empty" in w._status and s.task is None
    df = p.annotations(annotator="ana")
    assert df["labels"].tolist() == [["neg"], ["pos"]]
    assert df["client_id"].tolist() == ["c1", "c2"]
    assert df["duration_s"].iloc[0] == pytest.approx(1.5)


def test_annotate_skip_and_bad_submit(tmp_path: Path) -> None:
    p = _choice_project(tmp_path)
    w = annotate(p, "bob")
    front = Front(w)
    front.msg(type="submit", key=w.item_key, client_id="x", labels=[])
    assert "choose a class" in w._message and w.session.done == 0
    # a refused submit is acked with the reason: the browser stops resending it (its
    # message line stayed at "saving…", the same reason twice changing no trait)
    assert front.sent[-1] == {"type": "ack", "client_id": "x", "annotation_id": None,
                              "error": w._message}
    front.msg(type="submit", key=w.item_key, client_id="y", labels=["cow"])
    assert "not in the schema" in w._message and front.sent[-1]["error"] == w._message
    front.msg(type="skip", key=w.item_key)
    assert w.session.skipped == 1 and w._item["text"] == "text 1" and w._message == ""
    w.session.close()
    assert w._done and p.annotations().empty


def test_annotate_boxes_with_suggestions(tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    _img(1600, 1200).save(img)
    p = labelnb.Project.create(tmp_path / "b.db", "b", labelnb.Schema("boxes", ["car", "bus"]))
    (item,) = p.add_items([str(img)])
    p.add_predictions("m1", {item: [Box(100, 100, 300, 200, "bus")]})
    w = p.annotate("ana", max_display=800)
    assert isinstance(w, BoxAnnotator)
    assert w.suggestions == [Box(100, 100, 300, 200, "bus")]
    front = Front(w)
    front.msg(type="submit", key=w.item_key, client_id="k",
              regions=[{"type": "box", "x0": 50, "y0": 50, "x1": 150.2, "y1": 100, "label": "bus"}])
    assert w._done
    (ann,) = p.annotation_objects(annotator="ana")
    assert ann.regions == (Box(100, 100, 300, 200, "bus"),)


def test_every_schema_kind_has_a_widget_and_unknown_kinds_are_refused() -> None:
    import typing

    from labelnb.schema import Kind
    from labelnb.widgets.session import WIDGETS, widget_class

    assert set(typing.get_args(Kind)) == set(WIDGETS)
    with pytest.raises(LabelnbError, match="no annotation widget for kind 'video'"):
        widget_class("video", "p")


def test_lost_lease_moves_on(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "p.db", "p", labelnb.Schema("choice", ["a", "b"]),
                               lease_ttl_s=0.05)
    p.add_items(["one", "two"])
    w = p.annotate("ana")
    front = Front(w)
    import time

    time.sleep(0.2)
    # the expired lease goes back to the pool; others take both items
    assert p.queue("bob").claim() is not None and p.queue("cy").claim() is not None
    front.msg(type="submit", key=w.item_key, client_id="z", labels=["a"])
    # nothing is stored, and the browser's submit is answered (in plain words), so that
    # it stops saying "saving…"
    assert "ran out" in w._message and w.session.done == 0 and p.annotations().empty
    (ack,) = [m for m in front.sent if m.get("type") == "ack"]
    assert ack["client_id"] == "z" and ack["annotation_id"] is None
    assert ack["error"].startswith("Your time on item 1 ran out")


def test_item_that_cannot_be_shown_shows_the_error_and_can_only_be_skipped(tmp_path: Path
                                                                         ) -> None:
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(np.full((10, 20, 3), i, np.uint8)).save(paths[-1])  # distinct
    p = labelnb.Project.create(tmp_path / "b.db", "b", labelnb.Schema("boxes", ["car"]))
    ids = p.add_items([str(x) for x in paths])
    paths[0].unlink()
    w = p.annotate("ana", prefetch=False)
    s: Session = w.session
    assert s.task is not None and s.task.item.id == ids[0]
    assert f"item {ids[0]} could not be shown" in w._message and "press S" in w._message
    assert w._item["has_image"] is False and "could not be shown" in w._item["error"]
    front = Front(w)
    front.msg(type="submit", key=w.item_key, client_id="c", regions=[])
    assert "cannot be submitted" in w._message and p.annotations().empty
    front.msg(type="skip", key=w.item_key)
    assert s.task is not None and s.task.item.id == ids[1] and s.skipped == 1
    assert w._item["width"] == 20 and s.broken is None
    ev = p.events()
    assert any("could not be shown" in str(x) for x in ev[ev["kind"] == "skip"]["payload"]), ev


def test_keymap_overrides_are_checked_against_the_widgets_actions() -> None:
    w = BoxAnnotator(_img(), labels=["a"], keymap={"autofit": "a", "redo": ["Ctrl+Y"]})
    assert w._keymap == {"autofit": ["a"], "redo": ["Ctrl+Y"]}
    with pytest.raises(ValidationError, match="keymap action 'fly' does not exist; the "
                                              "actions are submit, skip"):
        BoxAnnotator(_img(), labels=["a"], keymap={"fly": "f"})
    with pytest.raises(ValidationError, match=r"keymap\['undo'\] must be a key"):
        BoxAnnotator(_img(), labels=["a"], keymap={"undo": ["", 3]})


def test_autofit_message_fits_on_the_original_image_and_answers_in_display_pixels() -> None:
    arr = np.zeros((1200, 1600, 3), np.uint8)
    arr[300:900, 400:1000] = 230
    w = BoxAnnotator(arr, labels=["a"], max_display=800)  # display = original / 2
    front = Front(w)
    front.msg(type="autofit", key=w.item_key, index=0,
              box={"x0": 180, "y0": 130, "x1": 520, "y1": 470, "label": "a"})
    (reply,) = front.sent
    assert reply["type"] == "autofit" and reply["index"] == 0 and reply["note"] == ""
    b = reply["box"]
    assert (b["x0"], b["y0"], b["x1"], b["y1"]) == (200, 150, 500, 450)
    front.msg(type="autofit", key="stale", index=0, box={})
    assert len(front.sent) == 1  # a message about an item no longer shown is ignored
    front.msg(type="autofit", key=w.item_key, index=0, box={"x0": "x"})
    assert front.sent[-1]["box"] is None and "corners must be numbers" in front.sent[-1]["note"]


def test_session_pushes_the_next_image_ahead_and_shows_it_from_the_copy(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(np.full((300, 400, 3), 40 * i, np.uint8)).save(paths[-1])
    p = labelnb.Project.create(tmp_path / "b.db", "b", labelnb.Schema("boxes", ["car"]))
    ids = p.add_items([str(x) for x in paths])
    sent: list[dict[str, Any]] = []
    orig_send = BoxAnnotator.send
    BoxAnnotator.send = lambda self, content, buffers=None: sent.append(  # type: ignore
        {**content, "nbytes": sum(len(b) for b in buffers or [])})
    try:
        w = p.annotate("ana")
        s: Session = w.session
        s._wait_prefetch()
        pre = [m for m in sent if m["type"] == "prefetch"]
        assert [m["key"] for m in pre] == [f"item-{ids[1]}"] and pre[0]["nbytes"] > 0
        assert w._item["alias"] is None  # the first image was not pushed ahead
        w._handle_custom_msg({"type": "submit", "key": w.item_key, "client_id": "c1",
                              "regions": []}, [])
        assert s.task is not None and s.task.item.id == ids[1]
        assert w._item["alias"] == f"item-{ids[1]}"  # shown from the pushed copy
        s._wait_prefetch()
        assert [m["key"] for m in sent if m["type"] == "prefetch"][-1] == f"item-{ids[2]}"
        # no prefetch: nothing is pushed
        s.close()
        sent.clear()
        w2 = p.annotate("bob", prefetch=False)
        w2.session._wait_prefetch()
        assert not [m for m in sent if m["type"] == "prefetch"]
    finally:
        BoxAnnotator.send = orig_send  # type: ignore[method-assign]


def test_rework_shows_the_reviewers_feedback_to_the_author(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "r.db", "r", labelnb.Schema("choice", ["pos", "neg"]),
                               review_fraction=1.0)
    p.add_items(["a <b>film</b>"])
    p.annotators.add("bob", role="reviewer")
    ana = p.queue("ana")
    ana.claim()
    ana.submit([Choice("pos")])
    bob = p.review_queue("bob")
    assert bob.claim() is not None
    bob.reject(feedback="<img src=x onerror=alert(1)> it is negative")
    w = p.annotate("ana")
    assert w.session.task is not None and w.session.task.target_annotation_id
    assert w._message == ("Rework: your rejected version is loaded; fix it and press Enter. "
                          "The reviewer said: <img src=x onerror=alert(1)> it is "
                          "negative")  # shown through textContent
    assert w.annotations == [Choice("pos")]  # the rejected version, for its author to fix


def test_submit_records_whether_the_pre_annotation_was_accepted_or_changed(tmp_path: Path
                                                                            ) -> None:
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        _img(400, 300).save(paths[-1])
        Image.fromarray(np.full((300, 400, 3), 30 * i, np.uint8)).save(paths[-1])
    p = labelnb.Project.create(tmp_path / "pre.db", "pre", labelnb.Schema("boxes", ["car", "bus"]))
    ids = p.add_items([str(x) for x in paths])
    # a detector's fractional box, accepted as it is, counts as accepted (it comes back
    # snapped to whole pixels)
    p.add_predictions("det-v1", {ids[0]: [Box(10.4, 9.6, 100.2, 80.3, "bus", score=0.9)],
                                 ids[1]: [Box(10, 10, 100, 80, "car", score=0.6)]})
    w = p.annotate("ana", prefetch=False)
    disp = w.scale.box_to_display
    for regions in ([disp(Box(10, 10, 100, 80, "bus"))],  # accepted as it was (snapped)
                    [disp(Box(12, 10, 100, 80, "car")), disp(Box(200, 100, 250, 150, "bus"))],
                    [disp(Box(5, 5, 50, 50, "car"))]):  # no suggestion on this item
        w._handle_custom_msg({"type": "submit", "key": w.item_key, "client_id": w.item_key,
                              "regions": regions}, [])
    anns = {a.item_id: a for a in p.annotation_objects(annotator="ana")}
    assert anns[ids[0]].meta["prelabel"] == {
        "model_version": None, "suggested": 1, "accepted_unchanged": 1, "changed_or_new": 0,
        "not_used": 0, "outcome": "accepted"}
    pre = anns[ids[1]].meta["prelabel"]
    assert (pre["accepted_unchanged"], pre["changed_or_new"], pre["not_used"],
            pre["outcome"]) == (0, 2, 1, "changed")
    assert "prelabel" not in anns[ids[2]].meta


def test_a_short_lease_gets_heartbeats_that_keep_it(tmp_path: Path) -> None:
    """The heartbeat had a 5 s floor: a 3 s lease always ran out while the page was open."""
    p = labelnb.Project.create(tmp_path / "s.db", "s", labelnb.Schema("choice", ["a"]),
                               lease_ttl_s=3)
    p.add_items(["x"])
    assert annotate(p, "ana")._heartbeat_s == pytest.approx(1.0)
    p.configure(lease_ttl_s=600)
    assert annotate(p, "bo")._heartbeat_s == pytest.approx(60.0)



def test_a_choice_task_with_a_prediction_is_shown_and_submitted(tmp_path: Path) -> None:
    """The choice widget has no suggestions view: showing a predicted item broke on it."""
    p = _choice_project(tmp_path, 1)
    [iid] = p.items()["id"].tolist()
    p.add_predictions("m1", {iid: [labelnb.Choice("neg", score=0.8)]})
    w = p.annotate("ana", model_version="m1")
    front = Front(w)
    front.msg(type="submit", key=w.item_key, client_id="c1", labels=["neg"])
    assert front.sent[-1]["type"] == "ack" and front.sent[-1].get("error") is None
    meta = p.annotations()["meta"][0]["prelabel"]
    assert meta["outcome"] == "accepted" and meta["accepted_unchanged"] == 1
