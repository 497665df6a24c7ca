"""``PolygonAnnotator``: click, close, edit, relabel and delete polygons on an image.

Drawing, vertex editing, zoom/pan and undo/redo run in the browser
(``static/polygon.js``, shared with :class:`~labelnb.widgets.mask.MaskAnnotator`);
only committed changes come back, as polygons in display pixels. This module maps
them to original pixels (``DisplayScale``'s factors; vertices rounded to 1/100 pixel
and clipped to the image).

The magic wand is shared with the mask widget (:class:`~labelnb.widgets._wand.WandAnnotator`):
the browser's clicks and box, in display pixels, go to ``segment_fn`` in original
pixels; each candidate mask comes back as its outline
(:func:`~labelnb.segment.convert.mask_to_polygon`, simplified to about a display
pixel so that its vertices stay few enough to edit), in display pixels.

>>> import numpy as np
>>> w = PolygonAnnotator(np.zeros((1200, 1600, 3), np.uint8), labels=["road", "car"],
...                      max_display=800)
>>> w.annotations = [Polygon((100, 100, 500, 120, 300, 400), "car")]
>>> w._polygons[0]["points"]            # what the browser draws: display pixels
[50.0, 50.0, 250.0, 60.0, 150.0, 200.0]
>>> w.annotations
[Polygon(points=(100.0, 100.0, 500.0, 120.0, 300.0, 400.0), label='car', score=None, attributes={})]
>>> img = np.zeros((1200, 1600, 3), np.uint8)
>>> img[200:600, 400:1000] = 220                     # a bright block
>>> w = PolygonAnnotator(img, labels=["block"], max_display=800)
>>> best = w.segment(points=[(300, 200)], labels=[1])[0]   # a click, in display pixels
>>> best.points, best.label           # 4 vertices, within a display pixel of the block
((401.0, 200.0, 999.0, 200.0, 1000.0, 599.0, 401.0, 600.0), 'block')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import traitlets

from labelnb.errors import ValidationError
from labelnb.schema import LabelClass, Schema
from labelnb.segment.convert import mask_to_polygon, simplify
from labelnb.segment.protocol import SegmentFn
from labelnb.types import Box, Polygon, Region
from labelnb.widgets._base import STATIC, make_schema, submitted_list
from labelnb.widgets._esm import esm_source
from labelnb.widgets._geometry import DisplayScale
from labelnb.widgets._keymap import default_keys
from labelnb.widgets._media import ImageLike
from labelnb.widgets._wand import WandAnnotator


def polygon_to_display(scale: DisplayScale, polygon: Polygon) -> dict[str, Any]:
    """A :class:`Polygon` in original pixels as display-pixel JSON for the browser.

    >>> s = DisplayScale.fit(1600, 1200, 800)
    >>> polygon_to_display(s, Polygon((0, 0, 10, 0, 10, 8), "a"))["points"]
    [0.0, 0.0, 5.0, 0.0, 5.0, 4.0]
    """
    out = polygon.to_json()
    out["points"] = scale.points_to_display(polygon.points)
    return out


def polygon_to_original(scale: DisplayScale, data: Mapping[str, Any], *,
                        where: str = "polygon") -> Polygon:
    """Display-pixel polygon JSON (as the browser sends it) as a :class:`Polygon` in
    original pixels: vertices rounded to 1/100 pixel, clipped to the image, repeated
    consecutive vertices dropped.

    >>> s = DisplayScale.fit(1600, 1200, 800)
    >>> polygon_to_original(s, {"points": [10, 10, 900, 10, 10, 30.004], "label": "a"})
    Polygon(points=(20.0, 20.0, 1600.0, 20.0, 20.0, 60.01), label='a', score=None, attributes={})
    """
    if not isinstance(data, Mapping):
        raise ValidationError(f"{where}: expected a JSON object, got {data!r}")
    pts = data.get("points")
    if not isinstance(pts, list | tuple):
        raise ValidationError(f"{where}: field 'points' must be a flat list x1, y1, x2, y2, "
                              f"..., got {pts!r}")
    try:
        vals = [float(v) for v in pts]
    except (TypeError, ValueError):
        raise ValidationError(f"{where}: field 'points' must hold numbers, got {pts!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise ValidationError(f"{where}: field 'points' must be finite, got {pts!r}")
    if len(vals) % 2:
        raise ValidationError(f"{where}: field 'points' has an odd number of values "
                              f"({len(vals)}); give a flat list x1, y1, x2, y2, ...")
    xy: list[tuple[float, float]] = []
    for i in range(0, len(vals), 2):
        x = round(min(max(vals[i] * scale.sx, 0.0), float(scale.width)), 2)
        y = round(min(max(vals[i + 1] * scale.sy, 0.0), float(scale.height)), 2)
        if not xy or xy[-1] != (x, y):
            xy.append((x, y))
    if len(xy) > 1 and xy[0] == xy[-1]:
        xy.pop()
    if len(xy) < 3:
        raise ValidationError(f"{where}: the polygon has {len(xy)} distinct vertices; a "
                              "polygon needs at least 3 (delete it or add vertices)")
    label = data.get("label")
    if not isinstance(label, str) or not label:
        raise ValidationError(f"{where}: field 'label' must be a class name, got {label!r}")
    return Polygon(tuple(v for p in xy for v in p), label, score=data.get("score"),
                   attributes=data.get("attributes") or {})


class PolygonAnnotator(WandAnnotator[Polygon]):
    """Draw polygons on an image.

    Mouse: click to place vertices; click the first vertex (or press Enter) to close
    the polygon. On the selected polygon, drag a vertex to move it, click an edge to
    insert a vertex there (edge split; Alt+click splits the edge of any polygon),
    Shift+click a vertex to delete it; drag the inside to move the whole polygon. A
    click on a dashed suggestion accepts it (``y`` accepts them all). Keys: the class
    hotkeys pick the class (and relabel the selection), Delete removes the selected
    vertex or polygon (while drawing: the last vertex), Tab selects the next polygon,
    Ctrl+Z / Ctrl+Shift+Z undo and redo, ``?`` shows every key, Escape cancels or
    releases the keyboard. Wheel zooms; Space+drag or middle-drag pans.

    **Magic wand** (``w`` turns it on and off, as do the "Wand (W)" and "Draw / edit"
    buttons): a click is a positive point, Shift+click or right-click a negative one, a
    drag a box; Python proposes candidate outlines (shown dashed), Tab cycles them, Enter
    accepts the shown one as a polygon of the current class (one undoable step; edit
    its vertices like any polygon's after ``w``), Escape clears the points.
    ``segment_fn(image, points, labels, box) -> (masks, scores)`` is the wand's
    segmenter (see :mod:`labelnb.segment.protocol`; the default is the classical wand,
    :class:`~labelnb.segment.wand.ClassicalWand`); at most ``max_candidates``
    candidates are shown. Each mask becomes the outline of its largest part, simplified
    to ``WAND_TOLERANCE`` display pixels (more where it would keep over
    ``WAND_MAX_VERTICES`` vertices).

    ``image`` is a path or URI, a PIL image, a numpy array or encoded bytes; it is
    shown downscaled to at most ``max_display`` pixels on its longer side. Read and set
    :attr:`annotations` as :class:`~labelnb.types.Polygon` in original pixels.
    ``keymap`` rebinds actions (see :attr:`ACTIONS`), e.g. ``{"submit": "Ctrl+Enter"}``.
    """

    ACTIONS: ClassVar[tuple[str, ...]] = (
        "submit", "skip", "undo", "redo", "delete", "accept_all", "next", "wand", "zoom_in",
        "zoom_out", "fit_view", "help", "release")
    #: the wand's outlines are simplified to this many display pixels (Douglas-Peucker) ...
    WAND_TOLERANCE: ClassVar[float] = 1.0
    #: ... or more, until they have at most this many vertices
    WAND_MAX_VERTICES: ClassVar[int] = 150

    DEFAULT_KEYS = default_keys("polygon.js", "POLYGON_ACTIONS")
    _esm = esm_source("polygon.js")
    _css = STATIC / "polygon.css"
    _kind = traitlets.Unicode("polygons").tag(sync=True)
    _polygons = traitlets.List(traitlets.Dict()).tag(sync=True)  # display pixels
    _suggestions = traitlets.List(traitlets.Dict()).tag(sync=True)  # display pixels

    def __init__(self, image: ImageLike | None = None, *,
                 labels: Sequence[LabelClass | str | Mapping[str, Any]] | None = None,
                 schema: Schema | None = None, annotations: Iterable[Polygon] = (),
                 suggestions: Iterable[Region] = (), max_display: int = 960,
                 keymap: Mapping[str, str | Sequence[str]] | None = None,
                 segment_fn: SegmentFn | None = None, max_candidates: int = 3) -> None:
        super().__init__(make_schema("polygons", labels, schema, ("polygons",)), max_display,
                         keymap)
        self._init_wand(segment_fn, max_candidates)
        if image is not None:
            self.load(image, annotations=annotations, suggestions=suggestions)

    _REGIONS_TRAIT = "_polygons"

    # --- the committed polygons, in original pixels ---------------------------------------
    @property
    def annotations(self) -> list[Polygon]:
        """The committed polygons in original pixels, checked against the image and schema."""
        return self.polygons_from_display(self._polygons)

    @annotations.setter
    def annotations(self, polygons: Iterable[Polygon]) -> None:
        self._polygons = self._annotations_json(polygons)

    def _annotations_json(self, polygons: Iterable[Polygon]) -> list[dict[str, Any]]:
        shown = [self._checked_to_display(p, Polygon, f"PolygonAnnotator annotation {i}",
                                          polygon_to_display)
                 for i, p in enumerate(polygons)]
        self._readable(shown, self.polygons_from_display, "vertices are rounded, so give "
                       "vertices that lie apart")
        return shown

    @property
    def suggestions(self) -> list[Polygon]:
        """Pre-annotations shown dashed; a click (or ``y`` for all) accepts them. Box
        suggestions are shown as 4-vertex polygons; other kinds and unknown classes are
        left out."""
        return self.polygons_from_display(self._suggestions, check_labels=False)

    @suggestions.setter
    def suggestions(self, regions: Iterable[Region]) -> None:
        self._suggestions = self._suggestions_json(regions)

    def _suggestions_json(self, regions: Iterable[Region]) -> list[dict[str, Any]]:
        out = []
        for r in regions:
            if isinstance(r, Box):
                r = Polygon((r.x0, r.y0, r.x1, r.y0, r.x1, r.y1, r.x0, r.y1), r.label,
                            score=r.score, attributes=r.attributes)
            if isinstance(r, Polygon) and r.label in self.schema:
                out.append(polygon_to_display(self._require_scale(), r))
        return out

    def polygons_from_display(self, items: Iterable[Mapping[str, Any]], *,
                              check_labels: bool = True) -> list[Polygon]:
        """Display-pixel polygon JSON (as the browser sends it) in original pixels."""
        return self._regions_from_display(
            items, "polygon", lambda scale, d, where: polygon_to_original(scale, d, where=where),
            check_labels)

    def regions_from_msg(self, msg: Mapping[str, Any]) -> list[Region]:
        """The regions of a bound ``submit`` message."""
        return list(self.polygons_from_display(submitted_list(msg, of="polygons")))

    # --- the magic wand ------------------------------------------------------------------
    def segment(self, points: Sequence[Sequence[float]] = (), labels: Sequence[int] = (),
                box: Sequence[float] | None = None) -> list[Polygon]:
        """Run the wand as the browser does: ``points`` / ``box`` in display pixels,
        ``labels`` 1 (positive) or 0 (negative). Returns the candidate outlines in
        original pixels, best first, labelled with the current class and scored."""
        cands, _ = self._wand_masks(points, labels, box)
        return [self.wand_polygon(m, s) for m, s in cands]

    def wand_polygon(self, mask: np.ndarray, score: float | None = None) -> Polygon:
        """The outline of a full-resolution mask (its largest part, holes filled) as a
        Polygon of the current class in original pixels, simplified to
        ``WAND_TOLERANCE`` display pixels, or more until it has at most
        ``WAND_MAX_VERTICES`` vertices."""
        scale = self._require_scale()
        # trace once (pixel corners, exact), then simplify: mask_to_polygon(tolerance=t)
        # is simplify(outline, t)
        outline = mask_to_polygon(mask, self.current_label, score=score)
        tol = self.WAND_TOLERANCE * max(scale.sx, scale.sy)
        xy = simplify(outline.xy, tol)
        while len(xy) > self.WAND_MAX_VERTICES:
            tol *= 1.5
            xy = simplify(outline.xy, tol)
        return Polygon(tuple(float(v) for v in xy.reshape(-1)), outline.label, score=score)

    def _wand_reply(self, cands: list[tuple[np.ndarray, float]]
                    ) -> tuple[dict[str, Any], list[bytes]]:
        scale = self._require_scale()
        polys = [polygon_to_display(scale, self.wand_polygon(m, s))["points"] for m, s in cands]
        return {"polygons": polys}, []
