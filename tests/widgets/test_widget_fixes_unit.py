"""Regression tests for the annotation widgets without a browser: malformed regions, a
lease that runs out, close(), rework, reviews of annotations made under an older
schema, "none apply" answers, keymap clashes, and the CSS that every widget shares a
page with."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import labelnb
from labelnb.errors import ValidationError
from labelnb.types import Box, Choice, Span
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


# --- an item that fails to show never takes the last item's work -------------------------------
def test_a_tokenizer_that_raises_shows_the_error_and_the_last_items_key_stores_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from labelnb.widgets.span import tokenize

    p = labelnb.Project.create(tmp_path / "ner.db", "ner", labelnb.Schema("spans", ["PER", "LOC"]))
    p.add_items(["Ada lives in London", "Bob lives in Paris"])

    def tok(text: str) -> list[tuple[int, int]]:
        if text.startswith("Bob"):
            raise KeyError("tokenizer blew up")  # not a LabelnbError: a user's code
        return tokenize(text, "whitespace")

    w = p.annotate("ana", widget_options={"tokens": tok}, prefetch=False)
    s = w.session
    front = Front(w)
    ada = w.item_key
    submit = {"type": "submit", "key": ada, "regions": [{"type": "span", "start": 0, "end": 3,
                                                        "label": "PER"}]}
    front.msg(**submit, client_id="c1")  # stores Ada's span, then Bob's item fails to show
    assert s.task is not None and s.task.item.text.startswith("Bob")
    assert s.broken and "KeyError" in s.broken and "tokenizer blew up" in s.broken
    assert w.item_key != ada and w._item["error"].endswith("press S to skip it")
    assert w.text == "" and w._spans == [] and w._tokens == []  # nothing of Ada's on screen
    assert "could not be shown" in w._message and "press S to skip it" in w._message
    # the browser still shows Ada's text for a moment: Enter again under her key
    front.msg(**{**submit, "client_id": "c2", "regions": [
        {"type": "span", "start": 4, "end": 9, "label": "LOC"}]})
    stored = p.annotations(annotator="ana")
    assert len(stored) == 1 and stored["item_id"].tolist() == [p.items()["id"].iloc[0]]
    front.msg(type="skip", key=w.item_key)
    assert s.skipped == 1 and s.task is None and w._done


def test_an_interrupted_load_leaves_the_review_on_the_error_not_the_last_annotation(
        tmp_path: Path) -> None:
    p = _boxes_project(tmp_path, n=2, review_fraction=1.0)
    p.annotators.add("rev", role="reviewer")
    q = p.queue("ana")
    anns = []
    while q.claim() is not None:
        anns.append(q.submit([Box(10, 10, 50, 40, "dog")]))
    w = p.review("rev", prefetch=False)
    s = w.session
    assert w._versions[0]["annotation_id"] == anns[0]
    front = Front(w)
    key = w.item_key
    real = p.load_image

    def interrupted(item_id: int) -> Any:
        raise KeyboardInterrupt  # Ctrl+C during a slow read of the next image

    p.load_image = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        front.msg(type="decide", decision="approve", key=key, client_id="d1")
    p.load_image = real  # type: ignore[method-assign]
    assert s.task is not None and s.task.target_annotation_id == anns[1]
    assert s.broken and "interrupted" in s.broken and w._versions == []
    assert w.item_key != key and "press S to skip it" in w._item["error"]
    # a reject sent under the old key (the browser still showed annotation 0) is no decision
    front.msg(type="decide", decision="reject", feedback="misses the car", key=key, client_id="d2")
    assert p.reviews()["annotation_id"].tolist() == [anns[0]]
    front.msg(type="skip", key=w.item_key)
    assert s.skipped == 1


def test_a_message_for_the_item_being_shown_is_not_current_until_it_is_on_screen(
        tmp_path: Path) -> None:
    p = _boxes_project(tmp_path, n=1)
    w = p.annotate("ana", prefetch=False)
    s = w.session
    assert s._current({"key": w.item_key})
    s._shown_key = None  # what next() sets while it claims and loads
    assert not s._current({"key": w.item_key})


# --- attributes: defaults fill what the widgets cannot set ---------------------------------------
def _attr_schema(kind: str, labels: list[str], **attr: Any) -> labelnb.Schema:
    from labelnb.schema import Attribute

    return labelnb.Schema(kind, labels, attributes=[Attribute("occluded", "bool", **attr)])


def test_a_required_attribute_is_filled_from_its_default_by_every_widget() -> None:
    from labelnb.types import Mask, Polygon

    img = np.zeros((100, 100, 3), np.uint8)
    box = BoxAnnotator(img, schema=_attr_schema("boxes", ["cat"], required=True, default=False),
                       suggestions=[Box(1, 1, 20, 20, "cat")])
    (b,) = box.regions_from_msg({"regions": [{"x0": 1, "y0": 1, "x1": 20, "y1": 20,
                                              "label": "cat"}]})
    assert b.attributes == {"occluded": False}
    assert box.suggestions[0].attributes == {"occluded": False}  # shown, no longer refused
    (b,) = box.regions_from_msg({"regions": [{"x0": 1, "y0": 1, "x1": 20, "y1": 20,
                                              "label": "cat", "attributes": {"occluded": True}}]})
    assert b.attributes == {"occluded": True}  # a value given is kept
    poly = PolygonAnnotator(img, schema=_attr_schema("polygons", ["road"], required=True,
                                                     default=True))
    (pg,) = poly.regions_from_msg({"regions": [{"points": [1, 1, 30, 1, 30, 30],
                                                "label": "road"}]})
    assert pg.attributes == {"occluded": True}
    poly.annotations = [Polygon((1, 1, 30, 1, 30, 30), "road")]
    assert poly.annotations[0].attributes == {"occluded": True}
    mask = MaskAnnotator(img, schema=_attr_schema("masks", ["cell"], required=True,
                                                  default=False))
    arr = np.zeros((100, 100), bool)
    arr[10:30, 10:30] = True
    mask.annotations = [Mask.from_array(arr, "cell")]
    assert mask.annotations[0].attributes == {"occluded": False}
    span = SpanAnnotator("Ada lives", schema=_attr_schema("spans", ["PER"], required=True,
                                                        default=False))
    (sp,) = span.regions_from_msg({"regions": [{"type": "span", "start": 0, "end": 3,
                                                "label": "PER"}]})
    assert sp.attributes == {"occluded": False}
    span.annotations = [Span(0, 3, "PER")]
    assert span.annotations[0].attributes == {"occluded": False}
    choice = ChoiceAnnotator(text="hi", schema=_attr_schema("choice", ["pos", "neg"],
                                                             required=True, default=False))
    assert choice.regions_from_msg({"labels": ["neg"]}) == [
        Choice("neg", attributes={"occluded": False})]


def test_a_bound_widget_submits_under_a_schema_with_a_required_attribute(tmp_path: Path
                                                                         ) -> None:
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(img)
    p = labelnb.Project.create(tmp_path / "p.db", "p", _attr_schema(
        "boxes", ["cat"], required=True, default=False))
    p.add_items([str(img)])
    w = p.annotate("ana", prefetch=False)
    front = Front(w)
    front.msg(type="submit", key=w.item_key, client_id="c1",
              regions=[{"type": "box", "x0": 2, "y0": 2, "x1": 30, "y1": 30, "label": "cat"}])
    assert front.acks()[0]["annotation_id"] and "error" not in front.acks()[0]
    (regions,) = p.annotations(annotator="ana")["regions"].tolist()
    assert regions[0]["attributes"] == {"occluded": False}


@pytest.mark.parametrize("cls", [BoxAnnotator, PolygonAnnotator, MaskAnnotator, SpanAnnotator,
                                 ChoiceAnnotator])
def test_a_required_attribute_without_a_default_is_refused_when_the_widget_is_made(cls: Any
                                                                                   ) -> None:
    kind = {BoxAnnotator: "boxes", PolygonAnnotator: "polygons", MaskAnnotator: "masks",
            SpanAnnotator: "spans", ChoiceAnnotator: "choice"}[cls]
    with pytest.raises(ValidationError, match=r"attribute 'occluded' of the schema is required "
                                              r"but has no default.*give it a default"):
        cls(schema=_attr_schema(kind, ["a"], required=True))
    with pytest.raises(ValidationError, match=r"the default of attribute 'occluded'.*'yes'.*"
                                              r"give a default that fits"):
        cls(schema=_attr_schema(kind, ["a"], default="yes"))
    cls(schema=_attr_schema(kind, ["a"]))  # optional, no default: fine


def test_a_label_level_required_attribute_without_a_default_is_named() -> None:
    from labelnb.schema import Attribute, LabelClass

    schema = labelnb.Schema("boxes", [LabelClass("car", attributes=(
        Attribute("plate", "text", required=True),))])
    with pytest.raises(ValidationError, match=r"attribute 'plate' of label 'car' is required"):
        BoxAnnotator(schema=schema)
    # the review only shows regions: it takes the schema (its editor would refuse it)
    ReviewAnnotator(np.zeros((50, 50, 3), np.uint8), schema=schema,
                    annotation=[Box(1, 1, 20, 20, "car", attributes={"plate": "AB"})])


# --- masks too small or thin to cover half a display pixel ---------------------------------------
def test_a_thin_or_small_mask_keeps_display_pixels_and_its_full_resolution() -> None:
    from labelnb.types import Mask
    from labelnb.widgets.mask import downscale_mask, runs_to_bitmap

    dot = np.zeros((3000, 4000), bool)
    dot[1001:1003, 2001:2003] = True  # 2x2 px
    crack = np.zeros((3000, 4000), bool)
    crack[500:2500, 101:102] = True  # 1 px wide
    w = MaskAnnotator(np.zeros((3000, 4000, 3), np.uint8), labels=["obj"],
                      annotations=[Mask.from_array(dot, "obj"), Mask.from_array(crack, "obj")])
    s = w._require_scale()
    shown = [runs_to_bitmap(o["runs"], s.display_height, s.display_width) for o in w._masks]
    assert shown[0].sum() == 1  # a dot, where the object is
    (y, x), = np.argwhere(shown[0])
    assert abs(y - 1002 / s.sy) <= 1 and abs(x - 2002 / s.sx) <= 1
    assert shown[1].sum() >= 400 and len(set(np.argwhere(shown[1])[:, 1])) == 1  # a line
    assert [m.area for m in w.annotations] == [4, 2000]  # full resolution kept
    big = np.zeros((400, 400), bool)
    big[100:300, 100:300] = True
    assert downscale_mask(big, 100, 100).sum() == 2500  # the >= 1/2 rule where it works
    assert not downscale_mask(np.zeros((400, 400), bool), 100, 100).any()


# --- the review's mask overlay under an older schema --------------------------------------------
def test_the_mask_overlay_of_a_version_uses_the_schema_it_was_made_under() -> None:
    from PIL import ImageColor

    from labelnb.types import Mask
    from labelnb.widgets.review import Version

    arr = np.zeros((40, 60), bool)
    arr[5:20, 5:30] = True
    old = labelnb.Schema("masks", ["cat", {"name": "old", "color": "#00ff00"}], version=1)
    cur = labelnb.Schema("masks", ["cat", "dog"], version=2)
    v = Version((Mask.from_array(arr, "old"),), "ana", "", "a1", old)
    w = ReviewAnnotator(np.zeros((40, 60, 3), np.uint8), annotation=v, schema=cur)
    front = Front(w)
    front.sent.clear()
    buffers: list[Any] = []
    w.send = lambda content, buffers_=None, **kw: (front.sent.append(content),  # type: ignore
                                                   buffers.append(kw.get("buffers", buffers_)))
    front.msg(type="overlay", key=w.item_key, version=0)
    assert front.sent[-1]["type"] == "overlay" and w._message == ""
    png = Image.open(io.BytesIO(buffers[-1][0])).convert("RGBA")
    assert png.getpixel((10, 10))[:3] == ImageColor.getrgb("#00ff00")
    # a label no schema knows: the unknown-class red, as the browser draws it
    assert w.mask_overlay([Mask.from_array(arr, "gone")]) == w.mask_overlay(
        [Mask.from_array(arr, "x")], labelnb.Schema("masks", [{"name": "x",
                                                               "color": "#e15759"}]))


def test_an_overlay_that_cannot_be_drawn_is_reported_not_raised(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from labelnb.types import Mask

    arr = np.zeros((40, 60), bool)
    arr[5:20, 5:30] = True
    w = ReviewAnnotator(np.zeros((40, 60, 3), np.uint8), labels=["cat"],
                        annotation=[Mask.from_array(arr, "cat")])
    front = Front(w)

    def broken(*a: Any, **k: Any) -> bytes:
        raise ValueError("no colour")

    monkeypatch.setattr(w, "mask_overlay", broken)
    front.msg(type="overlay", key=w.item_key, version=0)
    assert "cannot be drawn: no colour" in w._message and "version 0" in w._message
    assert not [m for m in front.sent if m.get("type") == "overlay"]


# --- load(): all or nothing --------------------------------------------------------------------
def test_a_failed_load_leaves_the_last_image_and_its_regions_as_they_were() -> None:
    big = np.zeros((400, 600, 3), np.uint8)
    w = BoxAnnotator(big, labels=["cat"], annotations=[Box(10, 10, 300, 200, "cat")],
                     suggestions=[Box(300, 200, 590, 390, "cat")])
    before = (w.item_key, w.scale, w._boxes, w._suggestions, w._image_bytes)
    with pytest.raises(ValidationError, match="suggestion 0.*outside the image"):
        w.load(np.zeros((100, 100, 3), np.uint8), annotations=[Box(10, 10, 50, 50, "cat")],
               suggestions=[Box(50, 50, 150, 150, "cat")])
    assert (w.item_key, w.scale, w._boxes, w._suggestions, w._image_bytes) == before
    assert w.suggestions == [Box(300, 200, 590, 390, "cat")]
    w.load(np.zeros((100, 100, 3), np.uint8))  # a load without suggestions clears them
    assert w._boxes == [] and w._suggestions == []


def test_a_failed_mask_load_keeps_the_full_resolution_of_the_shown_masks() -> None:
    from labelnb.types import Mask

    arr = np.zeros((120, 160), bool)
    arr[10:50, 20:90] = True
    w = MaskAnnotator(np.zeros((120, 160, 3), np.uint8), labels=["cell"], max_display=40,
                      annotations=[Mask.from_array(arr, "cell")])
    with pytest.raises(ValidationError, match="annotation 0.*size"):
        w.load(np.zeros((60, 80, 3), np.uint8), annotations=[Mask.from_array(arr, "cell")])
    assert w.annotations == [Mask.from_array(arr, "cell")]  # exact, not rescaled


def test_a_failed_choice_load_leaves_the_last_item() -> None:
    w = ChoiceAnnotator(text="first", labels=["pos", "neg"], annotations=[Choice("pos")])
    key = w.item_key
    with pytest.raises(ValidationError, match="label 'meh' is not in the schema"):
        w.load(text="second", annotations=[Choice("meh")])
    assert (w.item_key, w._item["text"], w._value) == (key, "first", ["pos"])


@pytest.mark.parametrize("make, trait", [
    (lambda: BoxAnnotator(np.zeros((50, 50, 3), np.uint8), labels=["a"],
                          annotations=[Box(1, 1, 20, 20, "a")], suggestions=[Box(2, 2, 9, 9, "a")]),
     "_boxes"),
    (lambda: SpanAnnotator("Ada", labels=["a"], tokens="words",
                           annotations=[Span(0, 3, "a")]), "_spans"),
    (lambda: ChoiceAnnotator(text="hi", labels=["a"], annotations=[Choice("a")]), "_value"),
])
def test_an_item_in_error_shows_none_of_the_last_items_regions(make: Any, trait: str) -> None:
    w = make()
    assert getattr(w, trait)
    w._show_error("item 7 could not be shown (gone)")
    assert getattr(w, trait) == [] and w.annotations == []
    assert getattr(w, "_suggestions", []) == [] and getattr(w, "_tokens", []) == []


def test_an_autofit_reply_names_the_box_it_was_asked_for() -> None:
    img = np.zeros((60, 80, 3), np.uint8)
    img[10:30, 20:50] = 255
    w = BoxAnnotator(img, labels=["a"])
    front = Front(w)
    box = {"x0": 15.5, "y0": 5, "x1": 55, "y1": 35, "label": "a", "type": "box"}
    front.msg(type="autofit", key=w.item_key, index=3, box=box)
    (reply,) = front.sent
    assert reply["index"] == 3 and reply["from"] == {"x0": 15.5, "y0": 5, "x1": 55, "y1": 35}
    assert reply["box"] is not None


def test_a_suggestion_accepted_as_is_counts_as_unchanged_with_attribute_defaults(
        tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "c.db", "c", _attr_schema(
        "choice", ["pos", "neg"], default=False))  # optional: a model's choice may lack it
    (item,) = p.add_items(["great film"])
    p.add_predictions("m1", {item: [Choice("pos", score=0.9)]})
    w = p.annotate("ana", prefetch=False)
    Front(w).msg(type="submit", key=w.item_key, client_id="c1", labels=["pos"])
    (meta,) = p.annotations(annotator="ana")["meta"].tolist()
    assert meta["prelabel"]["accepted_unchanged"] == 1
    assert meta["prelabel"]["outcome"] == "accepted"
