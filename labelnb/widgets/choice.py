"""``ChoiceAnnotator``: pick one class (or several) for an image or a text.

>>> w = ChoiceAnnotator(text="a <b>bold</b> claim", labels=["pos", "neg"])
>>> w.annotations
[]
>>> w.annotations = [Choice("neg")]
>>> w.annotations
[Choice(label='neg', score=None, attributes={})]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import traitlets

from labelnb.errors import ValidationError
from labelnb.schema import Kind, LabelClass, Schema
from labelnb.types import Choice, Region
from labelnb.widgets._base import AnnotatorBase, DisplayMedia, make_schema, with_defaults
from labelnb.widgets._esm import css_source, esm_source
from labelnb.widgets._keymap import default_keys
from labelnb.widgets._media import ImageLike


class ChoiceAnnotator(AnnotatorBase):
    """Classify an image or a text: a number key (the class hotkey) per class, Enter to
    commit. With ``multi=True`` the keys toggle classes. Ctrl+Z / Ctrl+Shift+Z undo and
    redo picks, ``?`` shows every key, Escape leaves the widget; ``keymap=`` rebinds
    the actions in :attr:`ACTIONS`. The text is shown as text, never as HTML. Read
    :attr:`annotations` for the committed choice(s)."""

    _esm = esm_source("choice.js")
    DEFAULT_KEYS = default_keys("choice.js")
    _css = css_source("choice.css")
    _multi = traitlets.Bool(False).tag(sync=True)
    _value = traitlets.List(traitlets.Unicode()).tag(sync=True)  # committed labels
    _suggested = traitlets.List(traitlets.Unicode()).tag(sync=True)

    ACTIONS = ("submit", "skip", "undo", "redo", "clear", "help", "release")

    def __init__(self, image: ImageLike | None = None, *, text: str | None = None,
                 labels: Sequence[LabelClass | str | Mapping[str, Any]] | None = None,
                 schema: Schema | None = None, multi: bool | None = None,
                 annotations: Iterable[Choice] = (), max_display: int = 640,
                 keymap: Mapping[str, str | Sequence[str]] | None = None) -> None:
        if schema is not None and multi is None:
            multi = schema.kind == "multi_choice"
        elif schema is not None and bool(multi) != (schema.kind == "multi_choice"):
            raise ValidationError(
                f"ChoiceAnnotator: multi={multi} but the schema is {schema.kind!r}; leave "
                "multi out (the schema decides) or give a "
                + ("'multi_choice'" if multi else "'choice'") + " schema")
        multi = bool(multi)
        kind: Kind = "multi_choice" if multi else "choice"
        super().__init__(make_schema(kind, labels, schema, ("choice", "multi_choice")),
                         max_display, keymap=keymap)
        self._multi = multi
        if image is not None or text is not None:
            self.load(image, text=text, annotations=annotations)

    def load(self, image: ImageLike | None = None, *, text: str | None = None,
             annotations: Iterable[Choice] = (), suggestions: Iterable[Region] = ()) -> None:
        """Show another image or text (clears the choice unless ``annotations`` given)."""
        if image is None and text is None:
            raise ValidationError("ChoiceAnnotator: give image=... or text=...")
        if text is not None and not isinstance(text, str):
            raise ValidationError(f"ChoiceAnnotator: field 'text' must be a str, got "
                                  f"{type(text).__name__}")
        # everything is checked before anything is shown: a bad choice leaves the last
        # item on screen as it was
        media = (image if image is None or isinstance(image, DisplayMedia)
                 else DisplayMedia(image, self.max_display))
        value = self._labels_of(annotations)
        suggested = [r.label for r in suggestions
                     if isinstance(r, Choice) and r.label in self.schema]
        with self.hold_sync():  # one message: the browser sees the item and its state at once
            self._set_media(image=media, text=text)
            self._value = value
            self._suggested = suggested

    def _clear_regions(self) -> None:
        self._value = []
        self._suggested = []

    @property
    def annotations(self) -> list[Choice]:
        """The committed choice (a list of one; several with ``multi=True``)."""
        return self.choices_from_labels(self._value)

    @annotations.setter
    def annotations(self, choices: Iterable[Choice]) -> None:
        self._value = self._labels_of(choices)

    def _labels_of(self, choices: Iterable[Choice]) -> list[str]:
        """The checked labels of ``choices`` (what ``_value`` holds)."""
        labels = []
        for i, c in enumerate(choices):
            if not isinstance(c, Choice):
                raise ValidationError(f"ChoiceAnnotator annotation {i}: expected a Choice, got "
                                      f"{type(c).__name__}")
            labels.append(c.label)
        return [c.label for c in self.choices_from_labels(labels)]

    def choices_from_labels(self, labels: Iterable[Any]) -> list[Choice]:
        out: list[Choice] = []
        for i, name in enumerate(labels):
            c = with_defaults(self.schema, Choice(str(name)))  # the browser sets no attributes
            self.schema.check_region(c, f"ChoiceAnnotator choice {i}")
            if c in out:
                continue
            out.append(c)
        if len(out) > 1 and not self._multi:
            raise ValidationError(f"ChoiceAnnotator: {len(out)} classes chosen "
                                  f"({[c.label for c in out]}) but multi=False")
        return out

    def regions_from_msg(self, msg: Mapping[str, Any]) -> list[Region]:
        labels = msg.get("labels", [])
        if not isinstance(labels, list):
            raise ValidationError("submit: field 'labels' must be a list")
        return list(self.choices_from_labels(labels))
