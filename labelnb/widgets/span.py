"""``SpanAnnotator``: label character spans in a text (named entities, NER).

Selecting, stacking, undo/redo and the keyboard run in the browser
(``static/span.js``); only committed spans come back, as Span JSON in Python code
points (``text[start:end]``). The browser counts UTF-16 units; it converts in one
place (``static/lib/utf16.js``, ``OffsetMap``), and this module checks every span
it receives against the text.

>>> text = "Zoë 👩‍💻 met Ada in Zürich."
>>> w = SpanAnnotator(text=text, labels=["PER", "LOC"], tokens="words",
...                   annotations=[Span(0, 3, "PER")],
...                   suggestions=[Span(12, 15, "PER", score=0.9)])
>>> w.annotations
[Span(start=0, end=3, label='PER', score=None, attributes={})]
>>> [text[s:e] for s, e in w.tokens]
['Zoë', '👩\u200d💻', 'met', 'Ada', 'in', 'Zürich', '.']
>>> w.annotations = [*w.annotations, Span(19, 25, "LOC")]
>>> [s.text_in(text) for s in w.annotations]
['Zoë', 'Zürich']
>>> w.load("A new text.")
>>> w.annotations, w.suggestions
([], [])
"""

from __future__ import annotations

import operator
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import traitlets

from labelnb.errors import ValidationError
from labelnb.schema import LabelClass, Schema
from labelnb.types import Region, Span
from labelnb.widgets._base import AnnotatorBase, make_schema, with_defaults
from labelnb.widgets._esm import css_source, esm_source
from labelnb.widgets._keymap import default_keys

#: a tokenizer: a name, or ``text -> [(start, end), ...]`` in code points
Tokenizer = Literal["whitespace", "words"] | Callable[[str], Iterable[tuple[int, int]]]
Mode = Literal["annotate", "verify"]


class SpanAnnotator(AnnotatorBase):
    """Label spans of a text with the classes of a ``spans`` schema.

    Mouse: select text to make a span with the current class; click a span to select
    it (click again to cycle through spans stacked at that place). Keys (while the
    widget has the focus): the class hotkeys pick the class, and label the selection
    or relabel the selected span; arrows move a caret, Shift+arrows select,
    Ctrl+arrows jump by token, Space makes a span of the selection; Tab / Shift+Tab
    walk through spans and suggestions; Delete removes; ``a`` / ``x`` accept or reject
    the selected suggestion, Shift+A / Shift+X all of them; Ctrl+Z / Ctrl+Shift+Z (or
    Ctrl+Y) undo and redo; ``?`` shows every key; Esc releases the focus. ``keymap``
    rebinds actions (see :attr:`ACTIONS`), e.g. ``keymap={"accept": "y"}``.

    ``tokens`` enables snapping a selection out to whole tokens: ``"whitespace"``
    (runs of non-space), ``"words"`` (runs of letters and digits; every other
    character alone; combining marks, emoji sequences and flags stay whole) or a
    callable ``text -> [(start, end), ...]`` in code points (e.g. from spaCy:
    ``lambda t: [(x.idx, x.idx + len(x)) for x in nlp(t)]``). ``snap`` turns the
    snapping off (it is on when ``tokens`` is given); without tokens a selection is
    trimmed of surrounding white space.

    ``suggestions`` (pre-annotations, e.g. a model's) are drawn dashed, to be accepted
    or rejected. With ``mode="verify"`` the widget shows one suggestion at a time
    (Prodigy style): ``a`` accepts it, ``x`` rejects it, a class hotkey accepts it with
    that class, and the next one comes up.

    Read or set :attr:`annotations` (a list of :class:`~labelnb.types.Span`, offsets
    in Python code points).
    """

    _esm = esm_source("span.js")
    DEFAULT_KEYS = default_keys("span.js")
    _css = css_source("span.css")
    _spans = traitlets.List(traitlets.Dict()).tag(sync=True)  # committed, code points
    _suggestions = traitlets.List(traitlets.Dict()).tag(sync=True)  # still pending
    _tokens = traitlets.List(traitlets.Int()).tag(sync=True)  # flat [s0, e0, s1, e1, ...]
    mode = traitlets.Enum(("annotate", "verify"), "annotate").tag(sync=True)
    snap = traitlets.Bool(False).tag(sync=True)

    #: the keymap's actions; their default keys are ``ACTIONS`` in ``static/span.js``
    ACTIONS: ClassVar[tuple[str, ...]] = (
        "left", "right", "select_left", "select_right", "word_left", "word_right",
        "select_word_left", "select_word_right", "create", "next", "previous", "delete",
        "accept", "reject", "accept_all", "reject_all", "undo", "redo", "help", "release",
        "submit", "skip",
    )

    def __init__(self, text: str | None = None, *,
                 labels: Sequence[LabelClass | str | Mapping[str, Any]] | None = None,
                 schema: Schema | None = None, annotations: Iterable[Span] = (),
                 suggestions: Iterable[Region] = (),
                 keymap: Mapping[str, str | Sequence[str]] | None = None,
                 tokens: Tokenizer | None = None, snap: bool | None = None,
                 mode: Mode = "annotate", max_display: int = 960) -> None:
        if tokens is not None and tokens not in ("whitespace", "words") and not callable(tokens):
            raise ValidationError(f"SpanAnnotator: field 'tokens' must be None, 'whitespace', "
                                  f"'words' or a function text -> [(start, end), ...], got "
                                  f"{tokens!r}")
        if mode not in ("annotate", "verify"):
            raise ValidationError(f"SpanAnnotator: field 'mode' must be 'annotate' or 'verify', "
                                  f"got {mode!r}")
        super().__init__(make_schema("spans", labels, schema, ("spans",)), max_display,
                         keymap=keymap)
        self.tokenizer: Tokenizer | None = tokens
        self.text = ""
        self.mode = mode
        self.snap = tokens is not None if snap is None else bool(snap)
        if text is not None:
            self.load(text, annotations=annotations, suggestions=suggestions)

    def load(self, text: str, *, annotations: Iterable[Span] = (),
             suggestions: Iterable[Region] = ()) -> None:
        """Show another text (clears the spans unless ``annotations`` are given).

        Suggestions with a label the schema does not have (e.g. from a model trained
        on an older schema) are left out; other bad suggestions raise.
        """
        if not isinstance(text, str):
            raise ValidationError(f"SpanAnnotator: field 'text' must be a str, got "
                                  f"{type(text).__name__}")
        spans = self._check_spans(annotations, text, "annotation")
        sugg = self._check_spans([r for r in suggestions if not (
            isinstance(r, Span) and r.label not in self.schema)], text, "suggestion",
            schema=False)
        toks = tokenize(text, self.tokenizer) if self.tokenizer is not None else []
        with self.hold_sync():  # one message: the browser sees the text and its spans at once
            self.text = text
            self._set_media(text=text)
            self._tokens = [x for pair in toks for x in pair]
            self._spans = [s.to_json() for s in spans]
            self._suggestions = [s.to_json() for s in sugg]

    def _clear_regions(self) -> None:
        self.text = ""
        self._tokens = []
        self._spans = []
        self._suggestions = []

    # --- the committed spans --------------------------------------------------------------
    @property
    def annotations(self) -> list[Span]:
        """The committed spans in document order (code points, end exclusive)."""
        return self.spans_from_json(self._spans, "span")

    @annotations.setter
    def annotations(self, spans: Iterable[Span]) -> None:
        self._spans = [s.to_json() for s in self._check_spans(spans, self.text, "annotation")]

    @property
    def suggestions(self) -> list[Span]:
        """The pre-annotations not yet accepted or rejected."""
        return self.spans_from_json(self._suggestions, "suggestion", schema=False)

    @suggestions.setter
    def suggestions(self, regions: Iterable[Region]) -> None:
        keep = [r for r in regions if not (isinstance(r, Span) and r.label not in self.schema)]
        self._suggestions = [s.to_json() for s in
                             self._check_spans(keep, self.text, "suggestion", schema=False)]

    @property
    def tokens(self) -> list[tuple[int, int]]:
        """The current text's tokens as ``(start, end)`` code points (empty without
        ``tokens=``)."""
        t = self._tokens
        return [(t[i], t[i + 1]) for i in range(0, len(t) - 1, 2)]

    def _check_spans(self, spans: Iterable[Any], text: str, what: str, *,
                     schema: bool = True) -> list[Span]:
        if isinstance(spans, Span | str | Mapping):
            raise ValidationError(f"SpanAnnotator: give the {what}s as a list of Span, got "
                                  f"one {type(spans).__name__}")
        out: list[Span] = []
        seen: dict[tuple[int, int, str], int] = {}
        for i, s in enumerate(spans):
            where = f"SpanAnnotator {what} {i}"
            if not isinstance(s, Span):
                raise ValidationError(f"{where}: expected a labelnb.Span(start, end, label), got "
                                      f"{type(s).__name__}")
            s = with_defaults(self.schema, s)
            if schema:
                self.schema.check_region(s, where, text=text)
            else:
                try:
                    s.validate_against(text)
                except ValidationError as e:
                    raise ValidationError(f"{where}: {e}") from None
            key = (s.start, s.end, s.label)
            if key in seen:
                if what == "suggestion":
                    continue  # a model may repeat itself; one suggestion is enough
                raise ValidationError(f"{where}: repeats {what} {seen[key]} ({s.label!r} "
                                      f"[{s.start}:{s.end}]); give each span once")
            seen[key] = i
            out.append(s)
        return sorted(out, key=_order)

    def spans_from_json(self, items: Iterable[Any], what: str = "span", *,
                        schema: bool = True) -> list[Span]:
        """Span JSON (as the browser sends it) as checked :class:`Span` objects."""
        if not isinstance(items, list | tuple):
            raise ValidationError(f"SpanAnnotator: the {what}s must be a list, got "
                                  f"{type(items).__name__}")
        out = []
        for i, d in enumerate(items):
            where = f"SpanAnnotator {what} {i}"
            if not isinstance(d, Mapping):
                raise ValidationError(f"{where}: expected a JSON object, got {d!r}")
            if d.get("type", "span") != "span":
                raise ValidationError(f"{where}: field 'type' is {d.get('type')!r}; a spans "
                                      "project takes 'span' regions")
            try:
                s = with_defaults(self.schema, Span._from_json(d))  # the browser sets none
            except ValidationError as e:
                raise ValidationError(f"{where}: {e}") from None
            if schema:
                self.schema.check_region(s, where, text=self.text)
            else:
                try:
                    s.validate_against(self.text)
                except ValidationError as e:
                    raise ValidationError(f"{where}: {e}") from None
            out.append(s)
        return sorted(out, key=_order)

    def regions_from_msg(self, msg: Mapping[str, Any]) -> list[Region]:
        """The regions of a bound ``submit`` message (checked against the text)."""
        regions = msg.get("regions", [])
        if not isinstance(regions, list):
            raise ValidationError("submit: field 'regions' must be a list")
        return list(self.spans_from_json(regions))


def _order(s: Span) -> tuple[int, int, str]:
    return (s.start, -s.end, s.label)


# --- tokens -------------------------------------------------------------------------------
_RI = range(0x1F1E6, 0x1F200)  # regional indicators: two make a flag


def _extends(ch: str, prev: str) -> bool:
    """Whether ``ch`` belongs to the grapheme of the character before it (a
    simplification of UAX #29 that keeps accents, emoji sequences and flags whole)."""
    o = ord(ch)
    return (unicodedata.category(ch) in ("Mn", "Mc", "Me")
            or o in (0x200C, 0x200D, 0xFE0E, 0xFE0F) or 0x1F3FB <= o <= 0x1F3FF
            or 0xE0020 <= o <= 0xE007F  # emoji tag sequences (subdivision flags)
            or prev == "\u200d")


def _solo(ch: str) -> bool:
    """Letters of scripts written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar):
    one token each."""
    o = ord(ch)
    return (0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF
            or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF or 0x0E00 <= o <= 0x0EFF
            or 0x1000 <= o <= 0x109F or 0x1780 <= o <= 0x17FF)


def _words(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = -1  # the open run of word characters
    kind = ""  # kind of the current grapheme: "w" word, "p" other, "s" space
    ri_open = False  # the last grapheme is one regional indicator, waiting for a pair
    for i, ch in enumerate(text):
        if i > 0 and kind != "s" and (_extends(ch, text[i - 1])
                                      or (ri_open and ord(ch) in _RI)):
            ri_open = False
            if kind == "p":
                out[-1] = (out[-1][0], i + 1)
            continue
        ri_open = ord(ch) in _RI
        if (ch.isalnum() or ch == "_") and not _solo(ch):
            if kind != "w":
                start = i
            kind = "w"
            continue
        if kind == "w":
            out.append((start, i))
        if ch.isspace():
            kind = "s"
        else:
            kind = "p"
            out.append((i, i + 1))
    if kind == "w":
        out.append((start, len(text)))
    return out


def _whitespace(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = -1
    for i, ch in enumerate(text):
        if ch.isspace():
            if start >= 0:
                out.append((start, i))
                start = -1
        elif start < 0:
            start = i
    if start >= 0:
        out.append((start, len(text)))
    return out


def tokenize(text: str, tokens: Tokenizer) -> list[tuple[int, int]]:
    """Token offsets ``(start, end)`` in code points, sorted and not overlapping.

    >>> t = "e\\u0301te\\u0301, 🇫🇷!"  # accents as combining marks; a flag is two code points
    >>> tokenize(t, "words")
    [(0, 5), (5, 6), (7, 9), (9, 10)]
    >>> tokenize("a  bc\\r\\nd", "whitespace")
    [(0, 1), (3, 5), (7, 8)]
    """
    if tokens == "whitespace":
        return _whitespace(text)
    if tokens == "words":
        return _words(text)
    if not callable(tokens):
        raise ValidationError(f"SpanAnnotator: field 'tokens' must be 'whitespace', 'words' or "
                              f"a function, got {tokens!r}")
    out: list[tuple[int, int]] = []
    got = tokens(text)
    if got is None or isinstance(got, str | bytes):
        raise ValidationError(f"SpanAnnotator: the tokenizer returned {got!r:.40}; it must "
                              "return a list of (start, end) code point offsets")
    for i, tok in enumerate(got):
        where = f"SpanAnnotator: tokens[{i}]"
        try:
            if isinstance(tok, str | bytes):
                raise TypeError
            s, e = tok
        except (TypeError, ValueError):
            raise ValidationError(f"{where} is {tok!r}; the tokenizer must return (start, end) "
                                  "pairs of code point offsets") from None
        try:
            if isinstance(s, bool) or isinstance(e, bool):
                raise TypeError
            s, e = operator.index(s), operator.index(e)
        except TypeError:
            raise ValidationError(f"{where} is {tok!r}; start and end must be ints") from None
        if not 0 <= s < e <= len(text):
            raise ValidationError(f"{where} is {tok!r}; it must satisfy 0 <= start < end <= "
                                  f"{len(text)} (the text's length in code points)")
        if out and s < out[-1][1]:
            raise ValidationError(f"{where} is {tok!r}; tokens must be sorted and must not "
                                  f"overlap (the previous one ends at {out[-1][1]})")
        out.append((s, e))
    return out
