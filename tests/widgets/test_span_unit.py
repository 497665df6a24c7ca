"""SpanAnnotator without a browser: the spans' round trip, validation, tokens and
snapping (Python's tokens through span.js's snapping, under node), the session."""

from __future__ import annotations

import doctest
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import labelnb
from labelnb.errors import SchemaError, ValidationError
from labelnb.types import Box, Span
from labelnb.widgets import span as span_module
from labelnb.widgets.span import SpanAnnotator, tokenize

ROOT = Path(__file__).resolve().parents[2]
SPAN_JS = ROOT / "labelnb" / "widgets" / "static" / "span.js"
# emoji (surrogate pairs in the browser), a ZWJ sequence, CJK, a combining mark, CRLF
TEXT = "Zoë 👩\u200d💻 met Ada\r\nin 東京 and Zu\u0308rich 🇨🇭."


def test_docstring_examples() -> None:
    res = doctest.testmod(span_module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 8


def _at(sub: str, text: str = TEXT) -> tuple[int, int]:
    i = text.index(sub)
    return i, i + len(sub)


# --- the committed spans -----------------------------------------------------------------
def test_annotations_round_trip_in_code_points() -> None:
    spans = [Span(*_at("Zu\u0308rich"), "LOC"), Span(*_at("Zoë"), "PER"),
             Span(*_at("東京"), "LOC", attributes={}), Span(*_at("Ada\r\nin"), "PER")]
    w = SpanAnnotator(text=TEXT, labels=["PER", "LOC"], annotations=spans)
    got = w.annotations
    assert got == sorted(spans, key=lambda s: (s.start, -s.end, s.label))  # document order
    assert [s.text_in(TEXT) for s in got] == ["Zoë", "Ada\r\nin", "東京", "Zu\u0308rich"]
    # what the browser holds and sends back is plain Span JSON in code points
    assert w._spans[0] == {"type": "span", "label": "PER", "start": 0, "end": 3}
    w._spans = [{"type": "span", "start": 4, "end": 7, "label": "PER"}]  # the 3 code points 👩‍💻
    assert w.annotations == [Span(4, 7, "PER")]
    assert w.annotations[0].text_in(TEXT) == "👩\u200d💻"
    w.annotations = []
    assert w.annotations == [] and w._spans == []


def test_nested_and_overlapping_spans_are_kept() -> None:
    text = "University of Zürich"
    spans = [Span(0, 20, "ORG"), Span(14, 20, "LOC"), Span(11, 16, "ORG"), Span(0, 20, "LOC")]
    w = SpanAnnotator(text=text, labels=["ORG", "LOC"], annotations=spans)
    assert len(w.annotations) == 4
    assert w.annotations[:2] == [Span(0, 20, "LOC"), Span(0, 20, "ORG")]


def test_load_replaces_the_item_and_computes_tokens() -> None:
    w = SpanAnnotator(text="a b", labels=["X"], annotations=[Span(0, 1, "X")], tokens="whitespace")
    key = w.item_key
    w.load("new text here", suggestions=[Span(4, 8, "X", score=0.5)])
    assert w.item_key != key
    assert w.annotations == [] and w.text == "new text here"
    assert w._item["text"] == "new text here"
    assert w.suggestions == [Span(4, 8, "X", score=0.5)]
    assert w.tokens == [(0, 3), (4, 8), (9, 13)]
    assert w._tokens == [0, 3, 4, 8, 9, 13]


def test_suggestions_drop_unknown_labels_and_repeats() -> None:
    w = SpanAnnotator(text=TEXT, labels=["PER"], suggestions=[
        Span(0, 3, "PER", score=0.9), Span(0, 3, "PER", score=0.9), Span(4, 7, "GONE")])
    assert w.suggestions == [Span(0, 3, "PER", score=0.9)]
    assert w._suggestions == [{"type": "span", "label": "PER", "score": 0.9, "start": 0, "end": 3}]
    with pytest.raises(ValidationError, match=r"suggestion 0: expected a labelnb.Span"):
        w.suggestions = [Box(0, 0, 1, 1, "PER")]


# --- bad input: errors that name the item, the field and the fix ---------------------------
def test_validation_errors_name_the_field() -> None:
    w = SpanAnnotator(text="short", labels=["PER", "LOC"])
    with pytest.raises(SchemaError, match=r"annotation 1: label 'ORG' is not in the schema "
                                          r"\(PER, LOC\)"):
        w.annotations = [Span(0, 1, "PER"), Span(0, 2, "ORG")]
    with pytest.raises(SchemaError, match=r"annotation 0: .*field 'end' lies outside the text "
                                          r"\(5 code points\)"):
        w.annotations = [Span(3, 9, "PER")]
    with pytest.raises(ValidationError, match=r"annotation 0: expected a labelnb.Span"):
        w.annotations = [Box(0, 0, 1, 1, "PER")]  # type: ignore[list-item]
    with pytest.raises(ValidationError, match=r"annotation 1: repeats annotation 0"):
        w.annotations = [Span(0, 2, "PER"), Span(0, 2, "PER")]
    with pytest.raises(ValidationError, match=r"as a list of Span, got one Span"):
        w.annotations = Span(0, 2, "PER")  # type: ignore[assignment]
    with pytest.raises(ValidationError, match=r"suggestion 0: .*field 'end' lies outside"):
        w.load("abc", suggestions=[Span(0, 9, "PER")])
    with pytest.raises(ValidationError, match=r"field 'text' must be a str, got bytes"):
        w.load(b"abc")  # type: ignore[arg-type]
    assert w.text == "short"  # a failed load changes nothing
    with pytest.raises(ValidationError, match=r"field 'tokens' must be None, 'whitespace'"):
        SpanAnnotator(text="a", labels=["X"], tokens="spacy")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"field 'mode' must be 'annotate' or 'verify'"):
        SpanAnnotator(text="a", labels=["X"], mode="review")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"the schema's kind is 'boxes'"):
        SpanAnnotator(text="a", schema=labelnb.Schema("boxes", ["X"]))
    with pytest.raises(ValidationError, match=r"keymap action 'acept' does not exist"):
        SpanAnnotator(text="a", labels=["X"], keymap={"acept": "y"})


def test_browser_json_is_checked() -> None:
    w = SpanAnnotator(text="Ada Lovelace", labels=["PER"])
    w._spans = [{"type": "span", "start": "0", "end": 3, "label": "PER"}]
    with pytest.raises(ValidationError, match=r"span 0: .*field 'start' must be an int"):
        _ = w.annotations
    w._spans = [{"type": "span", "start": 0, "label": "PER"}]
    with pytest.raises(ValidationError, match=r"span 0: span: missing field 'end'"):
        _ = w.annotations
    msg: dict[str, Any] = {"type": "submit", "regions": [
        {"type": "span", "start": 4, "end": 12, "label": "PER"}]}
    assert w.regions_from_msg(msg) == [Span(4, 12, "PER")]
    with pytest.raises(SchemaError, match=r"span 0: .*field 'end' lies outside the text"):
        w.regions_from_msg({"regions": [{"type": "span", "start": 4, "end": 13, "label": "PER"}]})
    with pytest.raises(ValidationError, match=r"field 'type' is 'box'"):
        w.regions_from_msg({"regions": [{"type": "box", "start": 0, "end": 1, "label": "PER"}]})
    with pytest.raises(ValidationError, match=r"field 'regions' must be a list"):
        w.regions_from_msg({"regions": "PER"})


def test_keymap_overrides_reach_the_browser() -> None:
    w = SpanAnnotator(text="a", labels=["X"], keymap={"accept": "y", "reject": ["n", "x"]})
    assert w._keymap == {"accept": ["y"], "reject": ["n", "x"]}
    assert "verify" == SpanAnnotator(text="a", labels=["X"], mode="verify").mode


# --- tokens ------------------------------------------------------------------------------
def test_word_tokens_keep_graphemes_whole() -> None:
    toks = [TEXT[s:e] for s, e in tokenize(TEXT, "words")]
    assert toks == ["Zoë", "👩\u200d💻", "met", "Ada", "in", "東", "京", "and", "Zu\u0308rich",
                    "🇨🇭", "."]
    skin = "👍🏽 ok!"
    assert [skin[s:e] for s, e in tokenize(skin, "words")] == ["👍🏽", "ok", "!"]
    assert tokenize("", "words") == [] and tokenize(" \r\n ", "whitespace") == []


def test_whitespace_tokens_and_crlf() -> None:
    text = "a\r\nbb  c\u00a0d"
    assert [text[s:e] for s, e in tokenize(text, "whitespace")] == ["a", "bb", "c", "d"]


def test_callable_tokens_are_checked() -> None:
    assert tokenize("ab cd", lambda t: [(np.int64(0), np.int64(2)), (3, 5)]) == [(0, 2), (3, 5)]
    with pytest.raises(ValidationError, match=r"tokens\[1\] is \(1, 3\); tokens must be sorted "
                                              r"and must not overlap"):
        tokenize("ab cd", lambda t: [(0, 2), (1, 3)])
    with pytest.raises(ValidationError, match=r"tokens\[0\] is \(0, 9\); it must satisfy "
                                              r"0 <= start < end <= 5"):
        tokenize("ab cd", lambda t: [(0, 9)])
    with pytest.raises(ValidationError, match=r"tokens\[0\] is 'ab'; the tokenizer must return"):
        tokenize("ab cd", lambda t: t.split())  # type: ignore[arg-type, return-value]
    with pytest.raises(ValidationError, match=r"tokens\[0\] is \(0.0, 2\); start and end must "
                                              r"be ints"):
        tokenize("ab cd", lambda t: [(0.0, 2)])  # type: ignore[list-item]


@given(st.lists(st.sampled_from(["a", "Z", "1", " ", "\r\n", "\n", ",", "\u00e9", "e\u0301", "東",
                                 "😀", "👩\u200d💻", "🇨🇭", "👍🏽", "_", "\t", "\u0301"]),
                max_size=30).map("".join))
def test_tokens_are_sorted_disjoint_and_cover_every_non_space(text: str) -> None:
    for kind in ("words", "whitespace"):
        toks = tokenize(text, kind)  # type: ignore[arg-type]
        covered = set()
        last = 0
        for s, e in toks:
            assert last <= s < e <= len(text)
            assert not text[s:e].isspace() and text[s:e] == text[s:e].strip()
            covered.update(range(s, e))
            last = e
        assert covered == {i for i, ch in enumerate(text) if not ch.isspace()}
        # a token never starts with a combining mark or a ZWJ (graphemes stay whole),
        # unless the mark follows white space or starts the text
        assert all(text[s] not in "\u0301\u200d" or s == 0 or text[s - 1].isspace()
                   for s, _ in toks)


def _node_snap(text: str, tokens: list[int], selections: list[tuple[int, int]]) -> Any:
    node = shutil.which("node")
    assert node, "node is missing: scripts/ensure_chromium.sh installs Debian's nodejs"
    script = (f"import {{ snapToTokens }} from {json.dumps(SPAN_JS.as_uri())};\n"
              f"const toks = {json.dumps(tokens)};\n"
              f"const sels = {json.dumps(selections)};\n"
              "console.log(JSON.stringify(sels.map(([s, e]) => snapToTokens(s, e, toks))));\n")
    r = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_token_snapping_uses_python_offsets() -> None:
    """Python computes the tokens; span.js snaps a selection to them: the snapped
    offsets slice whole tokens out of the Python string."""
    w = SpanAnnotator(text=TEXT, labels=["PER"], tokens="words")
    assert w.snap is True
    sel = [(TEXT.index("👩") + 1, TEXT.index("met") + 1),  # inside the ZWJ sequence .. "m"
           (TEXT.index("ich"), TEXT.index("ich") + 1),  # the middle of "Zürich"
           (TEXT.index("東"), TEXT.index("京")),  # CJK: one ideograph is one token
           (TEXT.index("\r"), TEXT.index("\n") + 1)]  # the CRLF alone
    got = _node_snap(TEXT, w._tokens, sel)
    assert [TEXT[s:e] if s is not None else None for s, e in
            [tuple(g) if g else (None, None) for g in got]] == [
        "👩\u200d💻 met", "Zu\u0308rich", "東", None]
    assert SpanAnnotator(text="a", labels=["X"], tokens="words", snap=False).snap is False
    assert SpanAnnotator(text="a", labels=["X"]).snap is False


# --- the session ---------------------------------------------------------------------------
def test_session_shows_text_and_stores_code_point_offsets(tmp_path: Path) -> None:
    project = labelnb.Project.create(tmp_path / "ner.db", "ner",
                                     labelnb.Schema("spans", ["PER", "LOC"]))
    ids = project.add_items([TEXT, "Bob lives in Paris"])
    project.add_predictions("m1", {ids[0]: [Span(*_at("Ada"), "PER", score=0.7)]})
    w = project.annotate("ana", widget_options={"mode": "verify", "tokens": "words"})
    assert isinstance(w, SpanAnnotator) and w.mode == "verify"
    assert w.text == TEXT  # CRLF kept as is
    assert w.suggestions == [Span(*_at("Ada"), "PER", score=0.7)]
    assert w.tokens and w.tokens[0] == (0, 3)
    regions = [{"type": "span", "start": s, "end": e, "label": lab}
               for (s, e), lab in ((_at("👩\u200d💻"), "PER"), (_at("Zu\u0308rich"), "LOC"))]
    w._on_front_msg(w, {"type": "submit", "key": w.item_key, "client_id": "c1",
                        "regions": regions, "duration_s": 2.5}, [])
    assert w.text == "Bob lives in Paris" and w.session.done == 1
    ann = project.annotations(annotator="ana")
    (stored,) = ann["regions"].tolist()
    assert [TEXT[r["start"]:r["end"]] for r in stored] == ["👩\u200d💻", "Zu\u0308rich"]
    # a span outside the text is refused with a message, and nothing is stored
    w._on_front_msg(w, {"type": "submit", "key": w.item_key, "client_id": "c2",
                        "regions": [{"type": "span", "start": 10, "end": 99, "label": "PER"}]}, [])
    assert "field 'end' lies outside the text" in w._message
    assert len(project.annotations(annotator="ana")) == 1


def test_a_tokenizer_returning_nothing_is_named() -> None:
    with pytest.raises(ValidationError, match="the tokenizer returned None; it must return"):
        SpanAnnotator("ab", labels=["X"], tokens=lambda s: None)  # type: ignore[arg-type,return-value]
