"""Regression tests for the annotation widgets without a browser: malformed regions, a
lease that runs out, close(), rework, reviews of annotations made under an older
schema, "none apply" answers, keymap clashes, and the CSS that every widget shares a
page with."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import labelnb
from labelnb.errors import ValidationError
from labelnb.types import Box, Choice
from labelnb.widgets import (
    BoxAnnotator,
    ChoiceAnnotator,
    MaskAnnotator,
    PolygonAnnotator,
    ReviewAnnotator,
    SpanAnnotator,
)
from labelnb.widgets._keymap import check_clashes, normalize_binding

STATIC = Path(labelnb.__file__).parent / "widgets" / "static"
WIDGETS = (BoxAnnotator, ChoiceAnnotator, SpanAnnotator, PolygonAnnotator, MaskAnnotator,
           ReviewAnnotator)


class Front:
    """Stands in for the browser: records what Python sends, sends what JS would."""

    def __init__(self, widget: Any) -> None:
        self.w = widget
        self.sent: list[dict[str, Any]] = []
        widget.send = lambda content, buffers=None: self.sent.append(content)

    def msg(self, **content: Any) -> None:
        self.w._handle_custom_msg(content, [])

    def acks(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == "ack"]


def _boxes_project(tmp_path: Path, n: int = 2, labels: tuple[str, ...] = ("cat", "dog"),
                   **settings: Any) -> labelnb.Project:
    paths = []
    for i in range(n):
        arr = np.zeros((120, 160, 3), np.uint8)
        arr[20:60, 40:100] = 200 - 20 * i
        paths.append(tmp_path / f"im{i}.png")
        Image.fromarray(arr).save(paths[-1])
    p = labelnb.Project.create(tmp_path / "p.db", "p", labelnb.Schema("boxes", list(labels)),
                               **settings)
    p.add_items([str(x) for x in paths])
    return p


def _expire(p: labelnb.Project, w: Any) -> None:
    """Let the open task's lease run out (the project's TTL stays long for the others)."""
    ttl = p.settings["lease_ttl_s"]
    p.configure(lease_ttl_s=0.05)
    w.session.queue.heartbeat()
    p.configure(lease_ttl_s=ttl)
    time.sleep(0.2)


API_WORDS = re.compile(r"heartbeat\(\)|claim\(\)|\blease\b|TTL")


# --- a malformed region is refused, never raised (the browser would say "saving…") --------
@pytest.mark.parametrize("bad", [None, "abc", [1, 2, 3, 4], 5])
def test_a_region_that_is_not_a_json_object_is_refused_with_a_reason(tmp_path: Path,
                                                                      bad: Any) -> None:
    p = _boxes_project(tmp_path, n=1)
    w = p.annotate("ana", prefetch=False)
    front = Front(w)
    front.msg(type="submit", key=w.item_key, client_id="c1", regions=[bad])
    (ack,) = front.acks()
    assert ack["client_id"] == "c1" and ack["annotation_id"] is None
    assert ack["error"] == (f"BoxAnnotator box 0: expected a JSON object with x0, y0, x1, y1 "
                            f"and label, got {type(bad).__name__} {bad!r}")
    assert p.annotations().empty and w.session.task is not None  # still on the item
    # auto-fit of such a "box" answers too (with the reason), instead of raising
    front.msg(type="autofit", key=w.item_key, index=0, box=bad if bad is not None else 7)
    reply = front.sent[-1]
    assert reply["type"] == "autofit" and reply["box"] is None
    assert "expected a JSON object" in reply["note"]


# --- a lease that runs out ---------------------------------------------------------------
def test_a_submit_after_the_lease_ran_out_is_saved_when_nobody_took_the_item(
        tmp_path: Path) -> None:
    p = _boxes_project(tmp_path)
    w = p.annotate("ana", prefetch=False, heartbeat_s=100)
    front = Front(w)
    item = w.session.task.item.id
    _expire(p, w)
    front.msg(type="submit", key=w.item_key, client_id="c1",
              regions=[{"x0": 10, "y0": 10, "x1": 50, "y1": 40, "label": "cat"}])
    (ack,) = front.acks()
    anns = p.annotations()
    assert len(anns) == 1 and ack["annotation_id"] == anns["id"].iloc[0]
    assert anns["item_id"].iloc[0] == item
    assert anns["regions"].iloc[0] == [{"type": "box", "label": "cat", "x0": 10.0, "y0": 10.0,
                                        "x1": 50.0, "y1": 40.0}]
    assert w.session.done == 1 and w.session.task.item.id != item  # the next item
    assert w._message == (f"Your time on item {item} ran out, but nobody else had taken it: "
                          "your work was saved.")
    # the browser's resend of the same submit stores nothing twice
    front.msg(type="submit", key="gone", client_id="c1", regions=[])
    assert front.acks()[-1]["annotation_id"] == ack["annotation_id"] and len(p.annotations()) == 1


def test_a_submit_after_someone_else_took_the_item_keeps_the_work_for_later(
        tmp_path: Path) -> None:
    p = _boxes_project(tmp_path)
    w = p.annotate("ana", prefetch=False, heartbeat_s=100)
    front = Front(w)
    item = w.session.task.item.id
    _expire(p, w)
    bob = p.queue("bob")
    taken = bob.claim()
    assert taken is not None and taken.item.id == item
    front.msg(type="submit", key=w.item_key, client_id="c1",
              regions=[{"x0": 10, "y0": 10, "x1": 50, "y1": 40, "label": "dog"}])
    (ack,) = front.acks()  # answered: the browser stops saying "saving…"
    assert ack["annotation_id"] is None and ack["error"].startswith(
        f"Your time on item {item} ran out before it was saved")
    assert not API_WORDS.search(w._message), w._message
    assert p.annotations().empty and w.session.task.item.id != item  # the next item
    # bob gives the item back; when it comes to ana again, her boxes are on screen
    bob.release()
    front.msg(type="skip", key=w.item_key)
    assert w.session.task is not None and w.session.task.item.id == item
    assert w.annotations == [Box(10, 10, 50, 40, "dog")]
    assert "your unsaved work on this item is back on screen" in w._message.lower()


def test_a_heartbeat_after_the_lease_ran_out_keeps_the_screen_when_the_task_comes_back(
        tmp_path: Path) -> None:
    p = _boxes_project(tmp_path)
    w = p.annotate("ana", prefetch=False, heartbeat_s=100)
    Front(w)
    task, key = w.session.task, w.item_key
    w.annotations = [Box(10, 10, 50, 40, "cat")]  # what the browser synced
    _expire(p, w)
    w._handle_custom_msg({"type": "heartbeat", "key": key}, [])
    assert w.item_key == key and w.annotations == [Box(10, 10, 50, 40, "cat")]  # untouched
    assert w.session.task.id == task.id and w.session.task.token != task.token  # new lease
    assert w._message.startswith(f"Your time on item {task.item.id} ran out, but nobody else")
    assert not API_WORDS.search(w._message), w._message
    # and the work is submitted under the new lease
    w._handle_custom_msg({"type": "submit", "key": key, "client_id": "c1", "regions": [
        {"x0": 10, "y0": 10, "x1": 50, "y1": 40, "label": "cat"}]}, [])
    assert len(p.annotations()) == 1


def test_a_heartbeat_after_someone_else_took_the_item_keeps_the_work_for_later(
        tmp_path: Path) -> None:
    p = _boxes_project(tmp_path)
    w = p.annotate("ana", prefetch=False, heartbeat_s=100)
    Front(w)
    item, key = w.session.task.item.id, w.item_key
    w.annotations = [Box(10, 10, 50, 40, "cat")]
    _expire(p, w)
    bob = p.queue("bob")
    assert bob.claim().item.id == item  # type: ignore[union-attr]
    w._handle_custom_msg({"type": "heartbeat", "key": key}, [])
    assert w.item_key != key and w.session.task.item.id != item and w.annotations == []
    assert w._message.startswith(f"Your time on item {item} ran out and it went back to the "
                                 "pool; your unsaved work on it is kept")
    bob.release()
    w._handle_custom_msg({"type": "skip", "key": w.item_key}, [])
    assert w.session.task.item.id == item and w.annotations == [Box(10, 10, 50, 40, "cat")]


# --- close() --------------------------------------------------------------------------------
def test_closing_a_bound_widget_gives_its_task_back(tmp_path: Path) -> None:
    p = _boxes_project(tmp_path, n=1)
    w = p.annotate("ana", prefetch=False)
    task = w.session.task
    w.close()
    assert p.tasks().set_index("id").loc[task.id, "status"] == "open"
    assert w.session.task is None and w._done
    again = p.queue("bob").claim()
    assert again is not None and again.id == task.id
    w.close()  # twice is harmless


def test_closing_a_bound_review_widget_gives_its_task_back(tmp_path: Path) -> None:
    p = _boxes_project(tmp_path, n=1, review_fraction=1.0)
    p.annotators.add("rev", role="reviewer")
    q = p.queue("ana")
    q.claim()
    q.submit([Box(10, 10, 50, 40, "cat")])
    w = p.review("rev", prefetch=False)
    assert w.session.task is not None
    w.close()
    p.annotators.add("rev2", role="reviewer")
    assert p.review_queue("rev2").claim() is not None  # free for another reviewer


# --- rework: the rejected annotation comes back to its author, on screen ---------------------
def _rejected(p: labelnb.Project, regions: list[Any]) -> None:
    p.annotators.add("rev", role="reviewer")
    q = p.queue("ana")
    q.claim()
    q.submit(regions)
    r = p.review_queue("rev")
    assert r.claim() is not None
    r.reject("the dog box misses the tail")


def test_a_rework_task_opens_with_the_rejected_regions(tmp_path: Path) -> None:
    p = _boxes_project(tmp_path, n=1, review_fraction=1.0)
    _rejected(p, [Box(10, 10, 50, 40, "dog"), Box(60, 60, 100, 100, "cat")])
    w = p.annotate("ana", prefetch=False)
    assert w.session.task.target_annotation_id
    assert w.annotations == [Box(10, 10, 50, 40, "dog"), Box(60, 60, 100, 100, "cat")]
    assert w._message == ("Rework: your rejected version is loaded; fix it and press Enter. "
                          "The reviewer said: the dog box misses the tail")
    # what is submitted corrects the rejected annotation
    Front(w).msg(type="submit", key=w.item_key, client_id="c1", regions=w._boxes[:1])
    mine = p.annotations(annotator="ana")
    assert len(mine) == 2 and mine["corrects"].iloc[-1] == mine["id"].iloc[0]


def test_a_rework_whose_label_was_removed_opens_empty_and_says_why(tmp_path: Path) -> None:
    p = _boxes_project(tmp_path, n=1, review_fraction=1.0)
    _rejected(p, [Box(10, 10, 50, 40, "dog")])
    p.set_schema(labelnb.Schema("boxes", ["cat", "canine"]))
    w = p.annotate("ana", prefetch=False)
    assert w.session.broken is None and w.annotations == []
    assert w._message.startswith("Rework: your rejected version could not be put back (")
    assert "'dog' is not in the schema" in w._message
    assert w._message.endswith("The reviewer said: the dog box misses the tail")


# --- "none apply" is an answer of a multi-choice (not of a choice) -------------------------
def test_a_multi_choice_submit_may_choose_no_class(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "m.db", "m",
                               labelnb.Schema("multi_choice", ["sports", "politics"]))
    p.add_items(["The weather is nice today.", "x"])
    w = p.annotate("ana", prefetch=False)
    front = Front(w)
    front.msg(type="submit", key=w.item_key, client_id="c1", labels=[])
    (ack,) = front.acks()
    assert ack.get("error") is None and ack["annotation_id"]
    assert p.annotations()["regions"].iloc[0] == [] and w.session.done == 1


def test_a_choice_submit_still_needs_a_class(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "c.db", "c", labelnb.Schema("choice", ["a", "b"]))
    p.add_items(["x"])
    w = p.annotate("ana", prefetch=False)
    front = Front(w)
    front.msg(type="submit", key=w.item_key, client_id="c1", labels=[])
    assert front.acks()[0]["error"] == "choose a class first (its number key), then Enter"


@pytest.mark.parametrize("kind, ok", [("multi_choice", True), ("choice", False)])
def test_a_review_correction_of_a_multi_choice_may_choose_no_class(kind: str, ok: bool) -> None:
    w = ReviewAnnotator(text="a text", annotation=[Choice("a")], kind=kind,  # type: ignore[arg-type]
                        labels=["a", "b"])
    w._start_correction(0)
    ed = w.editor
    assert ed is not None and w._correcting
    front = Front(ed)
    front.msg(type="submit", key=ed.item_key, client_id="c1", labels=[])
    if ok:
        assert w.decision is not None and w.decision.decision == "correct"
        assert w.decision.regions == ()
    else:
        assert w.decision is None and "choose a class first" in front.acks()[0]["error"]


# --- the review: an annotation made under an older schema; an item that cannot be shown ---
def _review_project(tmp_path: Path) -> labelnb.Project:
    p = _boxes_project(tmp_path, n=2, review_fraction=1.0)
    p.annotators.add("rev", role="reviewer")
    q = p.queue("ana")
    q.claim()
    q.submit([Box(10, 10, 50, 40, "dog")])
    return p


def test_a_review_of_an_annotation_made_under_an_older_schema_is_shown(tmp_path: Path
                                                                       ) -> None:
    p = _review_project(tmp_path)
    p.set_schema(labelnb.Schema("boxes", ["cat", "canine"]))  # 'dog' renamed
    w = p.review("rev", prefetch=False)
    s = w.session
    assert s.broken is None and s.skipped == 0 and not (p.events()["kind"] == "skip").any()
    (v,) = w.versions
    assert v.regions == (Box(10, 10, 50, 40, "dog"),) and v.schema is not None
    assert v.schema.version == 1 and "dog" in v.schema
    assert "made under schema version 1; 'dog' is not in the current schema" in v.note
    assert w._versions[0]["regions"][0]["label"] == "dog"
    Front(w).msg(type="decide", decision="reject", feedback="use the new class", key=w.item_key,
                 client_id="d1")
    assert p.reviews()["decision"].tolist() == ["reject"]


def test_a_review_item_that_cannot_be_shown_shows_the_error_and_waits_for_a_skip(
        tmp_path: Path) -> None:
    p = _review_project(tmp_path)
    Path(p.items()["uri"].iloc[0]).unlink()  # the image goes missing
    w = p.review("rev", prefetch=False)
    s = w.session
    task = s.task
    assert task is not None and s.broken and s.skipped == 0
    assert w._item["error"] == f"{s.broken}; press S to skip it" and w._versions == []
    assert w._message.endswith("press S to skip it.") and "could not be shown" in w._message
    assert not (p.events()["kind"] == "skip").any()  # nobody skipped it on their behalf
    front = Front(w)
    front.msg(type="decide", decision="approve", key=w.item_key, client_id="d1")
    assert "nothing can be decided about it; press S to skip it" in front.acks()[0]["error"]
    assert p.reviews().empty
    front.msg(type="skip", key=w.item_key)
    assert s.skipped == 1 and (p.events()["kind"] == "skip").sum() == 1


# --- keymaps: one key, one job ----------------------------------------------------------------
def test_keymap_docstring_examples() -> None:
    import doctest

    from labelnb.widgets import _keymap

    res = doctest.testmod(_keymap)
    assert res.failed == 0 and res.attempted > 0


def _img() -> np.ndarray:
    return np.zeros((60, 80, 3), np.uint8)


def test_a_keymap_override_that_takes_another_actions_key_is_refused() -> None:
    with pytest.raises(ValidationError) as e:
        BoxAnnotator(_img(), labels=["cat"], keymap={"submit": "s"})
    assert str(e.value) == (
        "BoxAnnotator: keymap['submit'] binds 's', which is also the default key of 'skip' "
        "('s'); one key cannot do both. Pick another key for 'submit', or give 'skip' another "
        "one too: keymap={'submit': 's', 'skip': ...} (an empty list unbinds an action)")
    with pytest.raises(ValidationError, match=r"keymap\['redo'\] binds 'ctrl\+z', which is also "
                                              r"the default key of 'undo'"):
        BoxAnnotator(_img(), labels=["cat"], keymap={"redo": ["Ctrl+Y", "ctrl+z"]})
    with pytest.raises(ValidationError, match=r"keymap\['skip'\] binds 'X', which is also "
                                              r"keymap\['submit'\] \('x'\)"):
        ChoiceAnnotator(text="t", labels=["a"], keymap={"submit": "x", "skip": "X"})
    # moving both is fine, and so is one key in two modes of the review (the feedback box)
    w = BoxAnnotator(_img(), labels=["cat"], keymap={"submit": "s", "skip": "Shift+S"})
    assert w._keymap == {"submit": ["s"], "skip": ["Shift+S"]}
    ReviewAnnotator(text="t", annotation=[Choice("a")], labels=["a"],
                    keymap={"send_feedback": "Ctrl+Enter", "acknowledge": "Ctrl+Enter"})


def test_a_keymap_override_that_takes_a_class_hotkey_is_refused() -> None:
    with pytest.raises(ValidationError) as e:
        BoxAnnotator(_img(), labels=["cat", "dog"], keymap={"autofit": "2"})
    assert str(e.value) == (
        "BoxAnnotator: keymap['autofit'] binds '2', which is the hotkey of class 'dog'; one key "
        "cannot do both. Pick another key for 'autofit', or give class 'dog' another hotkey in "
        "the schema")
    with pytest.raises(ValidationError, match="hotkey of class 'Per'"):
        SpanAnnotator(text="t", labels=[{"name": "Per", "hotkey": "P"}],
                      keymap={"accept": "Shift+P"})
    SpanAnnotator(text="t", labels=[{"name": "Per", "hotkey": "P"}], keymap={"accept": "p"})
    # the review view has no class keys
    ReviewAnnotator(text="t", annotation=[Choice("a")], labels=["a"], keymap={"approve": "1"})


@pytest.mark.parametrize("cls", WIDGETS, ids=lambda c: c.__name__)
def test_the_default_keys_are_the_es_modules_and_never_clash(cls: Any) -> None:
    assert set(cls.DEFAULT_KEYS) == set(cls.ACTIONS)
    groups = cls.KEY_GROUPS if cls.KEY_GROUPS is not None else (cls.ACTIONS,)
    for group in groups:
        keys = [normalize_binding(k) for a in group for k in cls.DEFAULT_KEYS[a]]
        assert len(keys) == len(set(keys)), (cls.__name__, keys)
    # an override of every action with its own default is no clash
    check_clashes(cls.__name__, {a: list(k) for a, k in cls.DEFAULT_KEYS.items()},
                  cls.DEFAULT_KEYS, groups, {})


# --- CSS: anywidget's style sheets are global in the page --------------------------------
ROOTS = {"box.css": "lnb-box", "choice.css": "lnb-choice", "span.css": "lnb-span",
         "polygon.css": "lnb-shapes", "review.css": "lnb-review"}


def _selectors(css: str) -> list[str]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"@keyframes[^{]*\{(?:[^{}]*\{[^}]*\})*[^}]*\}", "", css)
    return [s.strip() for block in re.findall(r"([^{}]+)\{[^}]*\}", css)
            for s in block.split(",") if s.strip()]


@pytest.mark.parametrize("name", sorted(ROOTS))
def test_each_widgets_css_reaches_only_its_own_root(name: str) -> None:
    root = ROOTS[name]
    for sel in _selectors((STATIC / name).read_text(encoding="utf-8")):
        assert re.match(rf"\.{root}(?![\w-])", sel), (name, sel)


def test_the_widgets_roots_are_distinct_and_no_other_widget_uses_them() -> None:
    assert len(set(ROOTS.values())) == len(ROOTS)
    for js in sorted(STATIC.glob("*.js")):
        src = js.read_text(encoding="utf-8")
        own = ROOTS[js.stem + ".css"]
        for other in set(ROOTS.values()) - {own}:
            assert not re.search(rf"[\"' .]{other}(?![\w-])", src), (js.name, other)
    # the span widget's segments and the review's marks are no other widget's root
    assert '"lnb-seg' not in (STATIC / "polygon.js").read_text(encoding="utf-8")


def test_the_review_css_never_reaches_into_the_editor_it_hosts() -> None:
    """The correction editor is a widget inside ``.lnb-review > .lnb-editor``: a review
    rule that matches at any depth would restyle (or, while correcting, hide) the
    editor's own header, actions, help or text."""
    for sel in _selectors((STATIC / "review.css").read_text(encoding="utf-8")):
        if sel in (".lnb-review", ".lnb-review:focus"):
            continue
        assert re.match(r"\.lnb-review(\.lnb-is-[\w-]+)? > \.lnb-(?!editor\b)[\w-]+", sel) or (
            re.fullmatch(r"\.lnb-review > \.lnb-editor(:empty)?", sel)), sel


def test_python_normalizes_bindings_as_the_browser_does() -> None:
    """The clash check compares keys as ``static/lib/keymap.js`` does; a binding the two
    spelled differently would let a clash through (or refuse a keymap that works)."""
    import json
    import shutil
    import subprocess

    from labelnb.widgets._keymap import hotkey_binding

    node = shutil.which("node")
    assert node, "node is missing: scripts/ensure_chromium.sh installs Debian's nodejs"
    bindings = ["a", "A", "Shift+a", "shift+A", "?", "Shift+?", "ctrl+shift+z", "Cmd+Y",
                "Control+Alt+Delete", "Space", " ", "Esc", "Return", "plus", "+", "Ctrl++",
                "Ctrl+-", "Up", "arrowleft", "Option+x", "F5", "Shift+F5", "é", "Shift+1"]
    lib = (STATIC / "lib" / "keymap.js").as_uri()
    script = (f"import {{ normalizeBinding, eventBinding }} from {json.dumps(lib)};\n"
              f"const b = {json.dumps(bindings)};\n"
              f"const h = {json.dumps(['a', 'A', '?', '1', ' ', 'é'])};\n"
              "console.log(JSON.stringify([b.map(normalizeBinding), h.map((k) => "
              "eventBinding({ key: k, shiftKey: k !== k.toLowerCase() }))]));")
    r = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    js_bindings, js_hotkeys = json.loads(r.stdout)
    assert [normalize_binding(b) for b in bindings] == js_bindings
    assert [hotkey_binding(k) for k in ["a", "A", "?", "1", " ", "é"]] == js_hotkeys
