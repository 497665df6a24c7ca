"""``ReviewAnnotator``: approve, reject with feedback, or correct an annotation.

The widget shows an item (image or text) with the annotation under review drawn over
it, for every kind: boxes and polygons on a canvas, masks as a coloured overlay (the
RLE is decoded here with pycocotools and sent as a PNG at display size), spans
highlighted in the text, choices as the chosen classes. With overlap the reviewer
flips between the annotators' versions (``[`` and ``]``); the first version is the one
under review, and approve / reject always concern it.

* ``a`` approves; ``r`` opens a text box for the feedback (Enter sends it);
* ``c`` corrects: the kind's own annotator widget (``widget_class(kind)``) opens
  inside the review, preloaded with the version on screen; its Enter saves the
  correction (a new annotation that points to the corrected one), its S cancels;
* in ``mode="acknowledge"`` (the calibration retraining queue) an annotator's mistake
  is shown beside the consensus label, and ``k`` acknowledges it (bound, ``s`` skips
  it: the retraining task is closed as seen, not acknowledged, and does not come back).

Each version is checked against the schema it was made under (its
``schema_version``), so a label renamed or removed since is shown (and noted), not
refused. An item that cannot be shown at all (a missing image, a deleted annotation)
shows the error, and the reviewer skips it.

Standalone, read the decision from :attr:`ReviewAnnotator.decision`; bound to a
project (:func:`review`, ``project.review(reviewer=...)``) every decision goes to the
review queue and the next task is shown.

>>> import numpy as np
>>> from labelnb.types import Annotation, Box
>>> ann = Annotation(item_id=1, regions=(Box(10, 10, 60, 40, "cat"),), author="ana")
>>> w = ReviewAnnotator(np.zeros((100, 200, 3), np.uint8), annotation=ann,
...                     labels=["cat", "dog"])
>>> w._versions[0]["author"], w._versions[0]["regions"][0]["x1"]
('ana', 60.0)
>>> w.decision is None
True
>>> # what the browser sets when the reviewer presses r, types and presses Enter:
>>> w._decision = {"decision": "reject", "feedback": "the box misses the tail"}
>>> w.decision.decision, w.decision.feedback
('reject', 'the box misses the tail')
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, cast, get_args

import anywidget
import numpy as np
import pandas as pd
import traitlets

from labelnb.errors import (
    AnnotationNotFound,
    LabelnbError,
    LeaseExpired,
    SchemaError,
    ValidationError,
)
from labelnb.queue import queries as q
from labelnb.schema import KINDS, Kind, LabelClass, Schema
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Region, Span
from labelnb.widgets._base import AnnotatorBase, DisplayMedia, make_schema
from labelnb.widgets._esm import css_source, esm_source
from labelnb.widgets._geometry import DisplayScale
from labelnb.widgets._keymap import default_keys
from labelnb.widgets._media import ImageLike
from labelnb.widgets.session import SESSION_SET, QueueSession, check_options, widget_class

if TYPE_CHECKING:
    from labelnb.project import Project
    from labelnb.queue.queue import Task

log = logging.getLogger("labelnb")

DecisionKind = Literal["approve", "reject", "correct", "acknowledge"]
DECISIONS: tuple[str, ...] = get_args(DecisionKind)
Mode = Literal["review", "acknowledge"]
MAX_FEEDBACK = 10_000  # characters
_OVERLAY_ALPHA = 110  # of 255: the mask overlay lets the image show through
#: the colour of a label the schema does not know (as the browser draws it: rgb() in
#: static/polygon.js, colorOf in static/lib/ui.js)
UNKNOWN_COLOR = "#e15759"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Decision:
    """What the reviewer decided about the annotation under review.

    ``regions`` holds a correction's regions (original pixels / code points);
    ``version`` is the version on screen when deciding (0: the one under review).
    """

    decision: DecisionKind
    feedback: str | None = None
    regions: tuple[Region, ...] | None = None
    version: int = 0


@dataclass(frozen=True, slots=True)
class Version:
    """One annotator's version of the item, as the review shows it."""

    regions: tuple[Region, ...]
    author: str = "unknown"
    note: str = ""
    annotation_id: str | None = None
    #: the schema it was made under (its ``schema_version``), which it is checked
    #: against; None: the widget's schema
    schema: Schema | None = None

    @classmethod
    def of(cls, value: Annotation | Version | Iterable[Region], note: str = "") -> Version:
        """A version from an :class:`~labelnb.types.Annotation` or plain regions."""
        if isinstance(value, Version):
            return value
        if isinstance(value, Annotation):
            return cls(tuple(value.regions), value.author, note, value.id)
        if isinstance(value, Region):
            return cls((value,), note=note)
        regions = tuple(value)
        for i, r in enumerate(regions):
            if not isinstance(r, Region):
                raise ValidationError(f"ReviewAnnotator: region {i} of the annotation is a "
                                      f"{type(r).__name__}; give Box / Polygon / Mask / Span / "
                                      "Choice objects or an Annotation")
        return cls(regions, note=note)


def infer_kind(regions: Sequence[Region]) -> Kind:
    """The schema kind of a list of regions (``choice`` for one Choice, ``multi_choice``
    for several)."""
    types = {type(r) for r in regions}
    if not types:
        raise ValidationError("ReviewAnnotator: the annotation has no regions, so its kind is "
                              "unknown; pass kind='boxes' (or another kind) or schema=...")
    if len(types) > 1:
        if types == {Mask, Polygon}:
            return "masks"
        raise ValidationError("ReviewAnnotator: the annotation mixes region types "
                              f"{sorted(t.__name__ for t in types)}; give one kind")
    t = types.pop()
    kinds: dict[type[Region], Kind] = {Box: "boxes", Polygon: "polygons", Mask: "masks",
                                       Span: "spans"}
    if t is Choice:
        return "multi_choice" if len(regions) > 1 else "choice"
    return kinds[t]


class _EditorHooks:
    """The session hooks of the correction editor: its submit saves the correction,
    its skip cancels, its heartbeats keep the review lease alive."""

    def __init__(self, review: ReviewAnnotator) -> None:
        self.review = review

    def on_submit(self, msg: Mapping[str, Any]) -> None:
        self.review._on_editor_submit(msg)

    def on_skip(self, msg: Mapping[str, Any]) -> None:
        self.review._cancel_correction()

    def on_heartbeat(self, msg: Mapping[str, Any]) -> None:
        if self.review._session is not None:
            self.review._session.on_heartbeat({"key": self.review.item_key})


class ReviewAnnotator(AnnotatorBase):
    """Review an annotation: approve (``a``), reject with feedback (``r``), correct
    (``c``); ``[`` / ``]`` switch between annotators' versions; ``h`` hides the overlay;
    ``?`` shows the keys. In ``mode="acknowledge"``, ``k`` acknowledges a mistake shown
    beside the consensus label.

    ``image`` (a path, PIL image, array or bytes) or ``text`` is the item.
    ``annotation`` is the :class:`~labelnb.types.Annotation` (or its regions) under
    review; ``versions`` are other annotators' annotations of the same item;
    ``consensus`` is the agreed label (acknowledge mode). ``labels`` / ``schema`` give
    the classes; the kind is taken from the annotation unless ``kind`` is given.
    Read :attr:`decision` (None until the reviewer decides; Ctrl+Z takes it back).
    """

    DEFAULT_KEYS = default_keys("review.js")
    _esm = esm_source("review.js")
    _css = css_source("review.css")
    ACTIONS: ClassVar[tuple[str, ...]] = (
        "approve", "reject", "correct", "acknowledge", "skip", "prev_version", "next_version",
        "toggle_overlay", "undo", "redo", "send_feedback", "help", "release")
    #: the feedback box has its own keys (Enter sends there; elsewhere it acknowledges)
    KEY_GROUPS = (tuple(a for a in ACTIONS if a != "send_feedback"), ("send_feedback", "release"))
    CLASS_HOTKEYS = False  # the review view has no class keys (its editor has)
    MAKES_REGIONS = False  # it shows regions; its editor (which makes them) checks

    _mode = traitlets.Unicode("review").tag(sync=True)
    _kind = traitlets.Unicode("").tag(sync=True)
    _versions = traitlets.List(traitlets.Dict()).tag(sync=True)
    _decision = traitlets.Dict().tag(sync=True)  # {} while undecided (standalone)
    _last = traitlets.Unicode("").tag(sync=True)  # the last decision sent, as text
    _correcting = traitlets.Bool(False).tag(sync=True)
    _editor = anywidget.WidgetTrait().tag(sync=True)

    def __init__(self, image: ImageLike | None = None, *, text: str | None = None,
                 annotation: Annotation | Version | Iterable[Region] | None = None,
                 versions: Iterable[Annotation | Version] = (),
                 consensus: Annotation | Version | Iterable[Region] | None = None,
                 labels: Sequence[LabelClass | str | Mapping[str, Any]] | None = None,
                 schema: Schema | None = None, kind: Kind | None = None,
                 mode: Mode = "review", max_display: int = 960,
                 keymap: Mapping[str, str | Sequence[str]] | None = None) -> None:
        if mode not in get_args(Mode):
            raise ValidationError(f"ReviewAnnotator: field 'mode' is {mode!r}; expected "
                                  "'review' or 'acknowledge'")
        first = Version.of(annotation) if annotation is not None else None
        if schema is None and kind is None:
            kind = infer_kind(first.regions if first is not None else ())
        if kind is not None and kind not in KINDS:
            raise ValidationError(f"ReviewAnnotator: field 'kind' is {kind!r}; expected one "
                                  f"of {list(KINDS)}")
        super().__init__(make_schema(kind or "boxes", labels, schema, KINDS), max_display,
                         keymap=keymap)
        self._mode = mode
        self._kind = self.schema.kind
        self._overlays: dict[tuple[str, int], bytes] = {}
        self._shown: list[Version] = []
        self._text: str | None = None
        self._media: DisplayMedia | None = None
        self._editor_widget: Any = None
        self._correct_version = 0
        self._acked: dict[str, str] = {}  # correction client_id -> annotation id
        if first is not None:
            self.load(image, text=text, annotation=first, versions=versions,
                      consensus=consensus)

    def close(self) -> None:
        """Close the widget and its correction editor."""
        editor = getattr(self, "_editor_widget", None)  # None if __init__ failed early
        if editor is not None:
            editor.close()
        super().close()

    # --- showing an item ---------------------------------------------------------------
    def load(self, image: ImageLike | DisplayMedia | None = None, *, text: str | None = None,
             annotation: Annotation | Version | Iterable[Region],
             versions: Iterable[Annotation | Version] = (),
             consensus: Annotation | Version | Iterable[Region] | None = None) -> None:
        """Show another item and the annotation under review (clears the decision)."""
        if image is None and text is None:
            raise ValidationError("ReviewAnnotator: give the item as image=... or text=...")
        if text is not None and not isinstance(text, str):
            raise ValidationError(f"ReviewAnnotator: field 'text' must be a str, got "
                                  f"{type(text).__name__}")
        if image is None and self.schema.media == ("image",):
            raise ValidationError(f"ReviewAnnotator: a {self.schema.kind!r} annotation needs "
                                  "the image: pass image=...")
        first = Version.of(annotation)
        shown = [first if first.note else replace(first, note="under review")]
        if self._mode == "acknowledge":
            if consensus is None:
                raise ValidationError("ReviewAnnotator(mode='acknowledge'): give the agreed "
                                      "label as consensus=... (an Annotation or regions)")
            cons = Version.of(consensus, note="consensus")
            if cons.author == "unknown":
                cons = replace(cons, author="consensus", note=cons.note or "consensus")
            shown = [replace(shown[0], note="your label"), cons]
        else:
            shown += [Version.of(v) for v in versions]
        media = (image if isinstance(image, DisplayMedia) or image is None
                 else DisplayMedia(image, self.max_display))
        scale = media.scale if media is not None else None
        shown_json = [self._version_json(v, i, scale, text) for i, v in enumerate(shown)]
        with self.hold_sync():  # one message: the item, its versions and a fresh state
            self._set_media(image=media, text=text)
            self._media = media
            self._text = text
            self._overlays = {}
            self._shown = shown
            self._versions = shown_json
            self._decision = {}
            self._correcting = False

    def show_error(self, error: str) -> None:
        """Show an item that could not be shown (a missing image, an annotation that
        does not fit its schema): no versions, ``error`` as text. Nothing can be
        decided about it; bound, the reviewer skips it (S)."""
        with self.hold_sync():
            self._show_error(error)
            self._media = None
            self._text = None
            self._overlays = {}
            self._shown = []
            self._versions = []
            self._decision = {}
            self._correcting = False

    def _version_json(self, v: Version, index: int, scale: DisplayScale | None,
                      text: str | None) -> dict[str, Any]:
        """Check a version against its schema (the one it was made under) and the
        item; its regions for display."""
        out = []
        for i, r in enumerate(v.regions):
            where = f"ReviewAnnotator version {index} ({v.author}), region {i}"
            self._check(r, where, scale, text, v.schema)
            out.append(self._region_to_display(r, scale))
        return {"author": v.author, "note": v.note, "annotation_id": v.annotation_id,
                "regions": out, "overlay": any(isinstance(r, Mask) for r in v.regions)}

    def _check(self, r: Region, where: str, scale: DisplayScale | None,
               text: str | None, schema: Schema | None = None) -> None:
        """``r`` against ``schema`` (default: the widget's) and the item shown (a span
        needs the item's text, a box or polygon its image)."""
        if isinstance(r, Span) and text is None:
            raise ValidationError(f"{where}: a span marks text, but this item is an image; "
                                  "review spans on a text item (text=...)")
        if isinstance(r, Box | Polygon | Mask) and scale is None:
            raise ValidationError(f"{where}: a {type(r).__name__.lower()} marks an image, but "
                                  "this item is a text; review it with image=...")
        width, height = (scale.width, scale.height) if scale is not None else (None, None)
        (schema or self.schema).check_region(r, where, width=width, height=height, text=text)

    @staticmethod
    def _region_to_display(r: Region, scale: DisplayScale | None) -> dict[str, Any]:
        """A region as the browser draws it: display pixels for image regions (a mask
        is only named here; its pixels come as an overlay PNG), code points for spans."""
        if isinstance(r, Box):
            assert scale is not None
            return dict(scale.box_to_display(r))
        if isinstance(r, Polygon):
            assert scale is not None
            return {"type": "polygon", "label": r.label,
                    "points": scale.points_to_display(r.points)}
        if isinstance(r, Mask):
            return {"type": "mask", "label": r.label, "area": r.area}
        return r.to_json()  # Span (code points; the browser converts) or Choice

    @property
    def versions(self) -> list[Version]:
        """The versions shown: the one under review first (acknowledge mode: the
        mistake, then the consensus)."""
        return list(self._shown)

    # --- the decision ------------------------------------------------------------------
    @property
    def decision(self) -> Decision | None:
        """The reviewer's decision (standalone), or None while undecided."""
        d = dict(self._decision)
        if not d:
            return None
        kind = d.get("decision")
        if kind not in DECISIONS:
            raise ValidationError(f"ReviewAnnotator: field 'decision' is {kind!r}; expected "
                                  f"one of {list(DECISIONS)}")
        feedback = d.get("feedback")
        if feedback is not None and not isinstance(feedback, str):
            raise ValidationError("ReviewAnnotator: field 'feedback' must be text")
        if kind == "reject" and not (feedback or "").strip():
            raise ValidationError("ReviewAnnotator: a rejection needs feedback (field "
                                  "'feedback' is empty); tell the author what to fix")
        regions = None
        if kind == "correct":
            regions = tuple(Region.from_json(r) for r in d.get("regions") or [])
            scale = self._media.scale if self._media is not None else None
            for i, r in enumerate(regions):
                self._check(r, f"ReviewAnnotator correction, region {i}", scale, self._text)
        version = d.get("version", 0)
        return Decision(cast("DecisionKind", kind), feedback.strip() if feedback else None,
                        regions, int(version) if isinstance(version, int) else 0)

    # --- browser messages --------------------------------------------------------------
    def handle_msg(self, content: Mapping[str, Any], buffers: Sequence[Any]) -> bool:
        kind = content.get("type")
        if kind == "overlay":
            self._send_overlay(str(content.get("key", "")), content.get("version"))
        elif kind == "decide":
            if self._session is not None and hasattr(self._session, "on_decide"):
                self._session.on_decide(content)
        elif kind == "correct":
            if content.get("key") == self.item_key:
                self._start_correction(content.get("version"))
        elif kind == "correct_cancel":
            self._cancel_correction()
        else:
            return False
        return True

    def _send_overlay(self, key: str, version: Any) -> None:
        if key != self.item_key or not isinstance(version, int):
            return  # a request about an item no longer shown
        if not 0 <= version < len(self._shown) or self.scale is None:
            return
        data = self._overlays.get((key, version))
        if data is None:
            shown = self._shown[version]
            try:
                data = self.mask_overlay(shown.regions, shown.schema)
            except Exception as e:  # a message handler: say why instead of raising
                log.warning("labelnb: no mask overlay for version %s", version, exc_info=True)
                self._message = (f"the masks of version {version} ({shown.author}) cannot be "
                                 f"drawn: {e}")
                return
            self._overlays[(key, version)] = data
        self.send({"type": "overlay", "key": key, "version": version, "mime": "image/png"},
                  buffers=[data])

    def mask_overlay(self, regions: Iterable[Region], schema: Schema | None = None) -> bytes:
        """The masks among ``regions`` as one RGBA PNG at display size: each mask in
        its label's colour in ``schema`` (the one the version was made under; default:
        the widget's), a label that schema does not know in the unknown-class red,
        later masks over earlier ones, transparent elsewhere."""
        from PIL import Image, ImageColor

        schema = schema or self.schema

        if self.scale is None:
            raise ValidationError("ReviewAnnotator: no image is loaded; masks need one")
        s = self.scale
        index = np.zeros((s.height, s.width), np.uint8)  # 0: no mask, k: palette[k - 1]
        palette: list[tuple[int, int, int]] = []
        for r in regions:
            if not isinstance(r, Mask):
                continue
            if r.size != (s.height, s.width):
                raise SchemaError(f"mask {r.label!r}: field 'rle' has size {list(r.size)} "
                                  f"(h, w) but the image is {s.height}x{s.width}; encode the "
                                  "mask at image size")
            name = schema[r.label].color if r.label in schema else None
            color = ImageColor.getrgb(name or UNKNOWN_COLOR)[:3]
            if color not in palette:
                if len(palette) == 255:
                    raise ValidationError("ReviewAnnotator: more than 255 mask colours")
                palette.append(color)
            index[r.to_array()] = palette.index(color) + 1  # pycocotools decodes the RLE
        small = np.asarray(Image.fromarray(index).resize(
            (s.display_width, s.display_height), Image.Resampling.NEAREST))
        lut = np.zeros((256, 4), np.uint8)
        for k, c in enumerate(palette, start=1):
            lut[k] = (*c, _OVERLAY_ALPHA)
        buf = io.BytesIO()
        Image.fromarray(lut[small], "RGBA").save(buf, format="PNG")
        return buf.getvalue()

    # --- correcting: the kind's annotator widget, inside the review --------------------
    @property
    def editor(self) -> Any:
        """The annotator widget used to correct (made on first use), or None."""
        return self._editor_widget

    def _start_correction(self, version: Any) -> None:
        v = version if isinstance(version, int) and 0 <= version < len(self._shown) else 0
        if self._mode != "review" or not self._shown:  # nothing shown (an item in error)
            return
        try:
            ed = self._editor_widget
            if ed is None:
                cls = widget_class(self.schema.kind)
                ed = cls(schema=self.schema, max_display=self.max_display)
                ed._bind(_EditorHooks(self), self._heartbeat_s)
                self._editor_widget = ed
            regions = list(self._shown[v].regions)
            if self._media is not None:  # the display copy made for the review, reused
                ed.load(self._media, annotations=regions)
            else:
                ed.load(text=self._text or "", annotations=regions)
        except LabelnbError as e:
            self._message = f"cannot correct here: {e}"
            return
        shown = self._shown[v]
        ed._status = (f"correcting {shown.author}'s version · Enter saves the correction · "
                      "S cancels")
        ed._message = ""
        ed._done = False
        self._correct_version = v
        with self.hold_sync():
            self._editor = ed
            self._correcting = True
            self._message = ""

    def _cancel_correction(self) -> None:
        self._correcting = False

    def _on_editor_submit(self, msg: Mapping[str, Any]) -> None:
        ed = self._editor_widget
        client_id = str(msg.get("client_id") or "")
        if client_id and client_id in self._acked:  # a retry of a saved correction
            ed._ack(client_id, self._acked[client_id])
            return
        if ed is None or not client_id or not self._correcting or msg.get("key") != ed.item_key:
            return
        try:
            regions: list[Region] = list(ed.regions_from_msg(msg))
            # one class is the answer of a choice; a multi-choice may be "none apply"
            if self.schema.kind == "choice" and not regions:
                raise ValidationError("choose a class first (its number key), then Enter")
        except LabelnbError as e:
            ed._refuse(client_id, str(e))
            return
        if self._session is not None and hasattr(self._session, "on_correct"):
            ann_id = self._session.on_correct(regions, client_id=client_id,
                                              version=self._correct_version)
            if ann_id is None:  # refused: the session said why
                return
        else:
            ann_id = ""
            self._decision = {"decision": "correct", "version": self._correct_version,
                              "regions": [r.to_json() for r in regions]}
            self._correcting = False
        self._acked[client_id] = ann_id
        ed._ack(client_id, ann_id)


# --- bound to a project: the review session ---------------------------------------------
class ReviewSession(QueueSession):
    """The state machine behind :func:`review` (one reviewer, one review queue).

    It claims a review task, shows the item with the annotation under review and the
    other annotators' versions, keeps the lease alive by heartbeat, stores each
    decision through the queue (approve, reject with feedback, correct) and shows the
    next task, until the queue is empty. The queue never hands a reviewer their own
    work. With ``mode="acknowledge"`` it walks an annotator through their retraining
    queue instead (``project.retraining_queue``): their mistake beside the consensus
    label, closed with ``k``.
    """

    widget: ReviewAnnotator

    def __init__(self, project: Project, reviewer: str, *, mode: Mode = "review",
                 max_display: int = 960, heartbeat_s: float | None = None,
                 widget_options: Mapping[str, Any] | None = None, prefetch: bool = True) -> None:
        if mode not in get_args(Mode):
            raise ValidationError(f"review(): field 'mode' is {mode!r}; expected 'review' or "
                                  "'acknowledge'")
        self.project = project
        self.reviewer = reviewer
        self.mode: Mode = mode
        check_options("review()", widget_options or {}, ReviewAnnotator, what="widget option",
                      exclude=SESSION_SET | {"mode", "annotation", "versions", "consensus", "kind"})
        # (mode is the session's own argument; the rest it sets for each task)
        self.queue = (project.review_queue(reviewer) if mode == "review"
                      else project.retraining_queue(reviewer))
        self.widget = ReviewAnnotator(schema=project.schema, mode=mode, max_display=max_display,
                                      **(widget_options or {}))
        self._bind(heartbeat_s, prefetch)
        self.counts: dict[str, int] = {d: 0 for d in DECISIONS}
        self._decided: dict[str, str] = {}  # client_id -> reviewed annotation id
        #: why the item on screen could not be shown (then it can only be skipped)
        self.broken: str | None = None
        self._schemas: dict[int, Schema] = {}  # schema version -> schema (older ones)
        self.next()

    @property
    def done(self) -> int:
        """Decisions made in this session."""
        return sum(self.counts.values())

    # --- state transitions -------------------------------------------------------------
    def next(self, message: str = "") -> None:
        """Claim the next task and show it, or say that the queue is empty. A task that
        cannot be shown (a missing image, a deleted annotation, one that does not fit
        the schema it was made under) shows the error instead, and the reviewer skips
        it (S); nothing else can be decided about it. (It is never skipped for them:
        every reviewer would skip it in turn, and nobody would learn why.)"""
        notes = [message] if message else []
        w = self.widget
        self.broken = None
        self._shown_key = None  # the last item may stay on screen until this one shows
        self.task = self._claim()
        if self.task is None:
            left = self._left()
            self._update_progress()
            w._message = " ".join(notes)
            w._correcting = False
            w._done = True
            what = "review" if self.mode == "review" else "acknowledge"
            w._status = f"{self._summary()} · the queue is empty, nothing left to {what}"
            if left:
                w._status += (f" ({left} open task{'s' if left != 1 else ''} cannot go to "
                              f"{self.reviewer!r}: their own work, items they labeled "
                              "themselves (nobody reviews a consensus they voted on), or "
                              "reserved)")
            return
        def show(task: Task) -> str:
            self._show(task)
            return ""

        self.broken, interrupted = self._show_task(self.task, show, w.show_error, notes)
        if interrupted is not None:
            w._message = " ".join(notes)
            w._done = False
            w._status = f"{self._summary()} · item {self.task.item.id}"
            raise interrupted
        left = self._left()
        self._update_progress()
        w._message = " ".join(notes)
        w._done = False
        w._status = (f"{self._summary()} · {left} left · item {self.task.item.id} by "
                     f"{self._author(self.task)}")

    def _summary(self) -> str:
        if self.mode == "acknowledge":
            return f"{self.counts['acknowledge']} acknowledged"
        c = self.counts
        return (f"{self.done} reviewed ({c['approve']} approved, {c['reject']} rejected, "
                f"{c['correct']} corrected)")

    def _left(self) -> int:
        """Open tasks of this queue's stages (some may be for other reviewers)."""
        with self.project.store.read() as conn:
            counts = q.task_status_counts(conn, self.project.id, datetime.now(UTC))
        return sum(n for k, n in counts.items()
                   if k.split(":")[0] in self.queue.stages
                   and k.split(":")[1] in ("open", "expired"))

    def _show(self, task: Task) -> None:
        item = task.item
        rows = cast("list[dict[str, Any]]",
                    self.project.annotations(item_id=item.id).to_dict("records"))
        target_id = task.target_annotation_id
        by_id = {str(r["id"]): r for r in rows}
        if target_id is None or target_id not in by_id:
            raise AnnotationNotFound(f"task {task.id}: annotation {target_id!r} under review is "
                                     f"not in project {self.project.name!r}")
        target = by_id[target_id]
        first = self._version(target, "under review")
        media = self._media(item.id) if item.media == "image" else None
        if self.mode == "acknowledge":
            cons = self._consensus(item.id)
            self.widget.load(media, text=item.text, annotation=first, consensus=cons)
        else:
            others = [self._version(r, self._note(r)) for r in rows
                      if str(r["id"]) != target_id and r["source"] in ("human", "consensus")]
            self.widget.load(media, text=item.text, annotation=first, versions=others)
        if media is not None:
            self._start_prefetch(item.id)

    def _version(self, row: Mapping[str, Any], note: str) -> Version:
        """A stored annotation as a version, with the schema it was made under: a
        label renamed or removed since is shown as it was, and noted."""
        regions = tuple(Region.from_json(r) for r in row["regions"])
        schema = self._schema_of(row.get("schema_version"))
        if schema is not None:
            gone = sorted({r.label for r in regions if r.label not in self.project.schema})
            if gone:
                names = ", ".join(repr(g) for g in gone)
                note = ", ".join(n for n in (note, (
                    f"made under schema version {schema.version}; {names} "
                    f"{'is' if len(gone) == 1 else 'are'} not in the current schema")) if n)
        return Version(regions, str(row["author"]), note, str(row["id"]), schema)

    def _schema_of(self, version: Any) -> Schema | None:
        """The schema of ``version`` when it is not the current one, else None."""
        if version is None or pd.isna(version):  # no version recorded
            return None
        v = int(version)
        if v == self.project.schema_version:
            return None
        if v not in self._schemas:
            self._schemas[v] = self.project.schema_at(v)
        return self._schemas[v]

    @staticmethod
    def _note(row: Mapping[str, Any]) -> str:
        notes = []
        if row["source"] == "consensus":
            meta = row.get("meta")
            tier = meta.get("tier", "agreed") if isinstance(meta, dict) else "agreed"
            notes.append(f"consensus ({tier})")
        if row.get("corrects"):
            notes.append("a correction")
        status = row.get("status")
        if status and status != "submitted":
            notes.append({"approve": "approved", "reject": "rejected", "correct": "corrected",
                          "corrected": "corrected"}.get(str(status), str(status)))
        return ", ".join(notes)

    def _consensus(self, item_id: int) -> Version:
        from labelnb.queue.consensus import run_consensus

        final = run_consensus(self.project, queue_tasks=False, item_ids=[item_id])
        final = final[final["item_id"] == item_id]
        if final.empty or not list(final["regions"].iloc[0]):
            raise ValidationError(f"item {item_id}: it has no consensus label yet; run "
                                  "project.consensus() before the retraining queue")
        row = final.iloc[0]
        return Version(tuple(row["regions"]), "consensus", f"consensus ({row['tier']})",
                       row["consensus_id"] if isinstance(row["consensus_id"], str) else None)

    def _author(self, task: Task) -> str:
        """Whose work the task is about (a retraining task names no author)."""
        shown = self.widget.versions
        return task.author or (shown[0].author if shown else "unknown")

    # --- the hooks the widget calls ----------------------------------------------------
    def on_decide(self, msg: Mapping[str, Any]) -> None:
        """``{"type": "decide", "decision", "feedback"?, "key", "client_id"}``."""
        w = self.widget
        client_id = str(msg.get("client_id") or "")
        if client_id and client_id in self._decided:  # a retry: already stored
            w._ack(client_id, self._decided[client_id])
            return
        if not client_id or not self._current(msg):
            return
        assert self.task is not None
        task = self.task
        decision = msg.get("decision")
        feedback = msg.get("feedback")
        try:
            if self.broken:
                raise ValidationError(f"{self.broken}: nothing can be decided about it; press "
                                      "S to skip it")
            if feedback is not None and not isinstance(feedback, str):
                raise ValidationError(f"item {task.item.id}: field 'feedback' must be text")
            if feedback is not None and len(feedback) > MAX_FEEDBACK:
                raise ValidationError(f"item {task.item.id}: field 'feedback' has "
                                      f"{len(feedback)} characters; keep it under "
                                      f"{MAX_FEEDBACK}")
            text = feedback.strip() if feedback else None
            ok = (self.mode == "acknowledge" and decision == "acknowledge") or (
                self.mode == "review" and decision in ("approve", "reject"))
            if not ok:
                allowed = "acknowledge" if self.mode == "acknowledge" else "approve or reject"
                raise ValidationError(f"item {task.item.id}: decision {decision!r} does not "
                                      f"fit mode {self.mode!r}; send {allowed}")
            self._again_if_expired(lambda: self._decide(str(decision), text))
        except _ExpiredElsewhere as e:
            w._refuse(client_id, e.why)
            self.next(e.why)
            return
        except LabelnbError as e:
            w._refuse(client_id, str(e))
            return
        target = task.target_annotation_id or ""
        self._decided[client_id] = target
        self.counts[str(decision)] += 1
        w._ack(client_id, target)
        past = {"approve": "approved", "reject": "rejected", "acknowledge": "acknowledged"}
        last = f"item {task.item.id} ({self._author(task)}): {past[str(decision)]}"
        w._last = last + (f" — feedback: {text}" if text else "")
        self.next()

    def _decide(self, decision: str, text: str | None) -> None:
        if decision == "acknowledge":
            self.queue.acknowledge()
        elif decision == "approve":
            self.queue.approve(text)
        else:
            self.queue.reject(text or "")

    def _again_if_expired(self, act: Callable[[], _T]) -> _T:
        """``act()``; if the lease ran out first and nobody else had taken the task, it
        is claimed again and ``act()`` runs under the new lease. Else
        :class:`_ExpiredElsewhere` says so in plain words (the next task is claimed)."""
        try:
            return act()
        except LeaseExpired:
            old, same = self._reclaim()
            if not same:
                raise _ExpiredElsewhere(
                    f"Your time on item {old.item.id} ran out before your decision was "
                    "saved, and the item went back to the pool: your decision was not "
                    "saved.") from None
        return act()

    def on_correct(self, regions: list[Region], *, client_id: str, version: int) -> str | None:
        """Store the editor's regions as a correction of the annotation under review;
        returns the new annotation's id, or None (the widget shows why)."""
        w = self.widget
        if self.task is None or self.mode != "review":
            return None
        task = self.task
        try:
            ann_id = self._again_if_expired(lambda: self.queue.correct(regions))
        except _ExpiredElsewhere as e:
            if w.editor is not None:
                w.editor._refuse(client_id, e.why)
            self.next(e.why)
            return None
        except LabelnbError as e:
            if w.editor is not None:
                w.editor._refuse(client_id, str(e))
            return None
        self._decided[client_id] = ann_id
        self.counts["correct"] += 1
        w._last = (f"item {task.item.id} ({self._author(task)}): corrected"
                   + (f" from {w.versions[version].author}'s version" if version else ""))
        self.next()
        return ann_id

    def on_submit(self, msg: Mapping[str, Any]) -> None:
        """The review view submits nothing (corrections come through the editor)."""

    def on_skip(self, msg: Mapping[str, Any]) -> None:
        """Skip the task: a review task goes back to the pool for other reviewers; a
        retraining task (acknowledge mode) is closed as seen, without an
        acknowledgement, and does not come back (see :meth:`Queue.skip`)."""
        if not self._current(msg):
            return
        assert self.task is not None
        task = self.task
        try:
            if self.broken:
                self.queue.skip(reason=self.broken)
            else:
                self.queue.skip()
        except LeaseExpired:
            log.info("labelnb: the skipped task's lease had already expired")
        self.skipped += 1
        if self.mode == "acknowledge":
            self.widget._last = (f"item {task.item.id}: skipped; it is closed as seen, not "
                                 "acknowledged, and does not come back")
        else:
            self.widget._last = f"item {task.item.id}: skipped; other reviewers may take it"
        self.next()

    def close(self) -> None:
        """Give the open task back (undecided) and stop."""
        self._release()
        self.widget._correcting = False
        self.widget._done = True
        self.widget._status = f"{self._summary()} · closed"


class _ExpiredElsewhere(LabelnbError):
    """The lease ran out and the task did not come back: ``why`` in plain words."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def review(project: Project, reviewer: str, **kw: Any) -> ReviewAnnotator:
    """A :class:`ReviewAnnotator` bound to ``project``'s review queue for ``reviewer``.

    Keyword arguments go to :class:`ReviewSession` (``mode="acknowledge"`` for the
    retraining queue, ``max_display``, ``heartbeat_s``, ``widget_options`` such as
    ``{"keymap": {"approve": "y"}}``). The session is ``widget.session``.
    """
    check_options("review()", kw, ReviewSession.__init__, what="argument")
    return ReviewSession(project, reviewer, **kw).widget


__all__ = ["DECISIONS", "Decision", "ReviewAnnotator", "ReviewSession", "Version",
           "infer_kind", "review"]
