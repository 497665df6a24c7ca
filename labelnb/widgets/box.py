"""``BoxAnnotator``: draw, move, resize, relabel and delete boxes on an image.

Drawing, dragging and undo/redo run in the browser (``static/box.js``); only committed
changes come back, as a list of Box JSON in display pixels, which
:class:`~labelnb.widgets._geometry.DisplayScale` maps to original pixels.

>>> import numpy as np
>>> w = BoxAnnotator(np.zeros((1200, 1600, 3), np.uint8), labels=["cat", "dog"],
...                  annotations=[Box(100, 50, 400, 300, "dog")])
>>> w.annotations
[Box(x0=100.0, y0=50.0, x1=400.0, y1=300.0, label='dog', score=None, attributes={})]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import traitlets

from labelnb.errors import ValidationError
from labelnb.schema import LabelClass, Schema
from labelnb.types import Box, Region
from labelnb.widgets._base import ImageAnnotator, make_schema, submitted_list
from labelnb.widgets._esm import css_source, esm_source
from labelnb.widgets._geometry import DisplayScale
from labelnb.widgets._keymap import default_keys
from labelnb.widgets._media import ImageLike


class BoxAnnotator(ImageAnnotator[Box]):
    """Draw boxes on an image.

    Mouse: drag on the image to draw a box with the current class; click a box to
    select it, drag it to move, drag a handle to resize; the wheel zooms, Space+drag
    or the middle button pans. Keys: the class hotkeys (``1``, ``2``, ...) pick the
    class (and relabel the selected box), Delete / Backspace deletes, ``f`` auto-fits
    the selected box to the object's edges (computed in Python on the original image,
    one undoable step), Ctrl+Z / Ctrl+Shift+Z undo and redo, ``?`` shows every key,
    Escape deselects and then leaves the widget. ``keymap={"autofit": "a"}`` rebinds
    an action (see :attr:`ACTIONS`); brightness and contrast sliders sit below.

    ``image`` is a path or URI, a PIL image, a numpy array or encoded bytes; it is
    shown downscaled to at most ``max_display`` pixels on its longer side. Read
    :attr:`annotations` for the boxes in original pixels (corners snapped to whole
    pixels).
    """

    _esm = esm_source("box.js")
    DEFAULT_KEYS = default_keys("box.js")
    _css = css_source("box.css")
    _boxes = traitlets.List(traitlets.Dict()).tag(sync=True)  # display pixels
    _suggestions = traitlets.List(traitlets.Dict()).tag(sync=True)  # display pixels

    ACTIONS = ("submit", "skip", "undo", "redo", "delete", "autofit", "accept_all", "next_box",
               "zoom_in", "zoom_out", "fit_view", "help", "release")

    def __init__(self, image: ImageLike | None = None, *,
                 labels: Sequence[LabelClass | str | Mapping[str, Any]] | None = None,
                 schema: Schema | None = None, annotations: Iterable[Box] = (),
                 suggestions: Iterable[Region] = (), max_display: int = 960,
                 keymap: Mapping[str, str | Sequence[str]] | None = None) -> None:
        super().__init__(make_schema("boxes", labels, schema, ("boxes",)), max_display,
                         keymap=keymap)
        if image is not None:
            self.load(image, annotations=annotations, suggestions=suggestions)

    _REGIONS_TRAIT = "_boxes"

    # --- the committed boxes, in original pixels ---------------------------------------
    @property
    def annotations(self) -> list[Box]:
        """The committed boxes in original pixels, checked against the image and schema."""
        return self.boxes_from_display(self._boxes)

    @annotations.setter
    def annotations(self, boxes: Iterable[Box]) -> None:
        self._boxes = self._annotations_json(boxes)

    def _annotations_json(self, boxes: Iterable[Box]) -> list[dict[str, Any]]:
        shown = [self._to_display(b, f"annotation {i}") for i, b in enumerate(boxes)]
        self._readable(shown, self.boxes_from_display, "boxes snap to whole pixels, so "
                       "give each at least a pixel of width and height")
        return shown

    @property
    def suggestions(self) -> list[Box]:
        """Pre-annotations shown dashed; a click (or ``y`` for all) accepts them as boxes.
        An accepted one stays listed here (the browser hides it), so that undo can
        give it back as a suggestion."""
        return self.boxes_from_display(self._suggestions, check_labels=False)

    @suggestions.setter
    def suggestions(self, regions: Iterable[Region]) -> None:
        self._suggestions = self._suggestions_json(regions)

    def _suggestions_json(self, regions: Iterable[Region]) -> list[dict[str, Any]]:
        return [self._to_display(r, f"suggestion {i}") for i, r in enumerate(regions)
                if isinstance(r, Box) and r.label in self.schema]

    def _to_display(self, b: Box, where: str) -> dict[str, Any]:
        return self._checked_to_display(b, Box, f"BoxAnnotator {where}",
                                        DisplayScale.box_to_display)

    def boxes_from_display(self, items: Iterable[Mapping[str, Any]], *,
                           check_labels: bool = True) -> list[Box]:
        """Display-pixel Box JSON (as the browser sends it) as boxes in original pixels."""
        return self._regions_from_display(
            items, "box", lambda scale, d, where: scale.box_to_original(d, where=where),
            check_labels)

    def regions_from_msg(self, msg: Mapping[str, Any]) -> list[Region]:
        """The regions of a bound ``submit`` message."""
        return list(self.boxes_from_display(submitted_list(msg)))

    # --- auto-fit ---------------------------------------------------------------------
    def handle_msg(self, content: Mapping[str, Any], buffers: Sequence[Any]) -> bool:
        if content.get("type") != "autofit":
            return False
        if content.get("key") != self.item_key or self.original is None:
            return True  # about an item no longer shown
        box = content.get("box")
        # the corners it was asked for, as sent: the browser applies the fit only to a
        # box that still has them (not to another one that took its index meanwhile)
        sent = ({k: box.get(k) for k in ("x0", "y0", "x1", "y1")}
                if isinstance(box, Mapping) else None)
        reply: dict[str, Any] = {"type": "autofit", "key": self.item_key,
                                 "index": content.get("index"), "from": sent}
        try:
            rough = self._require_scale().box_to_original(box or {}, where="auto-fit box")
            fitted, note = self.autofit(rough)
            reply.update(box=self._require_scale().box_to_display(fitted), note=note)
        except ValidationError as e:
            reply.update(box=None, note=str(e))
        self.send(reply)
        return True

    def autofit(self, box: Box) -> tuple[Box, str]:
        """``box`` (original pixels) fitted tight to the object's edges in the shown
        image, and a note saying why when it could not be fitted (then ``box`` is
        returned as it was). See :func:`labelnb.segment.autofit.autofit_box`."""
        from labelnb.segment.autofit import autofit_box

        if self.original is None:
            raise ValidationError("BoxAnnotator: no image is loaded; nothing to fit to")
        return autofit_box(self.original, box)
