"""What every annotator widget shares: labels, the pulled image, the session hooks.

The browser asks for the display image with a ``{"type": "image", "key": ...}``
message and gets the bytes back in a buffer (never base64, never a trait that is
re-sent on every change). A bound widget (see :func:`labelnb.widgets.annotate`)
forwards ``submit`` / ``skip`` / ``heartbeat`` messages to its session.
:class:`ImageAnnotator` adds what the widgets that draw regions on an image share.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import anywidget
import traitlets

from labelnb.errors import LabelnbError, ValidationError
from labelnb.schema import Kind, LabelClass, Schema
from labelnb.types import Region
from labelnb.widgets._geometry import DisplayScale
from labelnb.widgets._keymap import check_clashes
from labelnb.widgets._media import ImageLike, as_pil, encode_display

STATIC = Path(__file__).parent / "static"
_keys = itertools.count(1)
log = logging.getLogger("labelnb")
R = TypeVar("R", bound=Region)
#: what an image widget's ``annotations`` take: Box; Polygon; Mask or Polygon
A = TypeVar("A")


class DisplayMedia:
    """An image ready to show: the full-resolution image, its display scale and the
    encoded display copy (made ahead of time by the session's prefetch)."""

    __slots__ = ("alias", "data", "image", "mime", "scale")

    def __init__(self, image: ImageLike, max_display: int, alias: str | None = None) -> None:
        #: the name the browser keeps a pushed copy under (see ``send_prefetch``)
        self.alias = alias
        self.image = as_pil(image)
        w, h = self.image.size
        self.scale = DisplayScale.fit(w, h, max_display)
        self.data, self.mime = encode_display(self.image, self.scale.display_width,
                                              self.scale.display_height)


class SessionHooks(Protocol):
    """What a bound widget calls (implemented by :class:`~labelnb.widgets.session.Session`)."""

    def on_submit(self, msg: Mapping[str, Any]) -> None: ...
    def on_skip(self, msg: Mapping[str, Any]) -> None: ...
    def on_heartbeat(self, msg: Mapping[str, Any]) -> None: ...


def make_schema(kind: Kind, labels: Sequence[LabelClass | str | Mapping[str, Any]] | None,
                schema: Schema | None, allowed: Iterable[str]) -> Schema:
    if schema is not None and labels is not None:
        raise ValidationError("give labels=[...] or schema=..., not both")
    if schema is None:
        if labels is None:
            raise ValidationError("give the classes: labels=['cat', 'dog'] or schema=Schema(...)")
        return Schema(kind, labels)
    if not isinstance(schema, Schema):
        raise ValidationError(f"field 'schema' must be a labelnb.Schema, got "
                              f"{type(schema).__name__}")
    if schema.kind not in allowed:
        raise ValidationError(f"this widget annotates {' / '.join(allowed)}, but the schema's "
                              f"kind is {schema.kind!r}")
    return schema


def with_defaults(schema: Schema, region: R) -> R:
    """``region`` with the attributes its label has in ``schema`` but it lacks filled
    in from their ``default`` (attributes whose default is None are left out). A label
    the schema does not know, or attributes that are not a dict, are left for the
    schema's check to name.

    >>> from labelnb.schema import Attribute
    >>> from labelnb.types import Box
    >>> s = Schema("boxes", ["cat"], attributes=[Attribute("occluded", "bool", default=False)])
    >>> with_defaults(s, Box(0, 0, 5, 5, "cat")).attributes
    {'occluded': False}
    >>> with_defaults(s, Box(0, 0, 5, 5, "cat", attributes={"occluded": True})).attributes
    {'occluded': True}
    """
    if region.label not in schema or not isinstance(region.attributes, Mapping):
        return region
    attrs = {a.name: a for a in (*schema.attributes, *schema[region.label].attributes)}
    missing = {name: a.default for name, a in attrs.items()
               if a.default is not None and name not in region.attributes}
    if not missing:
        return region
    return dataclasses.replace(  # type: ignore[type-var]
        region, attributes={**missing, **region.attributes})


def check_attribute_defaults(widget: str, schema: Schema) -> None:
    """Refuse a schema whose regions this widget could never submit: the widgets have
    no attribute editor, so an attribute is filled from its ``default`` or not at all.
    A required attribute without a default (or a default that does not fit the
    attribute) would make every submit fail."""
    scopes = [("the schema", schema.attributes)] + [
        (f"label {c.name!r}", c.attributes) for c in schema.labels]
    for where, attributes in scopes:
        for a in attributes:
            if a.default is None:
                if a.required:
                    raise ValidationError(
                        f"{widget}: attribute {a.name!r} of {where} is required but has no "
                        "default, and the annotation widgets cannot set attributes, so every "
                        "submit would be refused; give it a default (Attribute("
                        f"{a.name!r}, {a.type!r}, required=True, default=...)) or make it "
                        "optional (required=False)")
                continue
            try:
                a.check(a.default, f"the default of attribute {a.name!r} of {where}")
            except LabelnbError as e:
                raise ValidationError(
                    f"{widget}: {e}; the widgets give every region the default, so every "
                    "submit would be refused: give a default that fits the attribute") from None


def submitted_list(msg: Mapping[str, Any], field: str = "regions", of: str = "") -> list[Any]:
    """The list ``field`` of a bound ``submit`` message (``of`` names its items).

    >>> submitted_list({"labels": "cat"}, "labels")
    Traceback (most recent call last):
    labelnb.errors.ValidationError: submit: field 'labels' must be a list
    """
    items = msg.get(field, [])
    if not isinstance(items, list):
        raise ValidationError(f"submit: field {field!r} must be a list"
                              + (f" of {of}" if of else ""))
    return items


class AnnotatorBase(anywidget.AnyWidget):
    """Base of the annotator widgets (not used directly)."""

    _labels = traitlets.List(traitlets.Dict()).tag(sync=True)
    _item = traitlets.Dict().tag(sync=True)  # {"key", "has_image", "width", "height", ...}
    _status = traitlets.Unicode("").tag(sync=True)
    _message = traitlets.Unicode("").tag(sync=True)
    _bound = traitlets.Bool(False).tag(sync=True)
    _done = traitlets.Bool(False).tag(sync=True)
    _heartbeat_s = traitlets.Float(0.0).tag(sync=True)
    _progress = traitlets.Dict().tag(sync=True)  # bound: {"done": n, "total": n}
    current_label = traitlets.Unicode("").tag(sync=True)
    _keymap = traitlets.Dict().tag(sync=True)  # action -> key(s), overriding the defaults

    #: the keymap's actions (their default keys live in the widget's ES module)
    ACTIONS: ClassVar[tuple[str, ...]] = ()
    #: the default keys, as the ES module gives them (``_keymap.default_keys``)
    DEFAULT_KEYS: ClassVar[Mapping[str, Sequence[str]]] = {}
    #: the actions whose keys are in force together (None: all of ACTIONS); a key may
    #: serve two actions of different groups (e.g. Enter in a form and outside it)
    KEY_GROUPS: ClassVar[tuple[tuple[str, ...], ...] | None] = None
    #: whether the class hotkeys act in the widget (beside the actions' keys)
    CLASS_HOTKEYS: ClassVar[bool] = True
    #: whether the widget makes regions (then its schema's attributes need defaults)
    MAKES_REGIONS: ClassVar[bool] = True

    def __init__(self, schema: Schema, max_display: int = 960,
                 keymap: Mapping[str, str | Sequence[str]] | None = None, **kw: Any) -> None:
        if self.MAKES_REGIONS:
            check_attribute_defaults(type(self).__name__, schema)
        super().__init__(**kw)
        self._keymap = self.check_keymap(keymap or {}, schema)
        self.schema = schema
        self.max_display = int(max_display)
        self.scale: DisplayScale | None = None
        self._image_bytes: tuple[bytes, str] | None = None
        #: the shown image at full resolution (EXIF orientation applied), or None
        self.original: Any = None
        self._session: SessionHooks | None = None
        #: the :class:`~labelnb.widgets.session.Session` of a bound widget, else None
        self.session: Any = None
        self._labels = [{"name": c.name, "color": c.color, "hotkey": c.hotkey}
                        for c in schema.labels]
        self.current_label = schema.labels[0].name
        self.on_msg(self._on_front_msg)

    @classmethod
    def check_keymap(cls, keymap: Mapping[str, str | Sequence[str]],
                     schema: Schema | None = None) -> dict[str, list[str]]:
        """``{action: key or [keys]}`` checked against the widget's actions, their
        other keys and (with ``schema``) the class hotkeys: a key given two jobs is
        refused, naming both.

        An empty list unbinds an action. Keys are written like ``"Ctrl+Shift+Z"``,
        ``"Delete"``, ``"?"`` or ``"a"``.
        """
        if not isinstance(keymap, Mapping):
            raise ValidationError(f"{cls.__name__}: field 'keymap' must be a dict "
                                  f"{{action: key or [keys]}}, got {type(keymap).__name__}")
        out: dict[str, list[str]] = {}
        for action, keys in keymap.items():
            if action not in cls.ACTIONS:
                raise ValidationError(
                    f"{cls.__name__}: keymap action {action!r} does not exist; the actions "
                    f"are {', '.join(cls.ACTIONS)}")
            seq = [keys] if isinstance(keys, str) else list(keys)
            if not all(isinstance(k, str) and k.strip() for k in seq):
                raise ValidationError(f"{cls.__name__}: keymap[{action!r}] must be a key such "
                                      f"as 'Ctrl+Z' or a list of keys, got {keys!r}")
            out[action] = [str(k) for k in seq]
        hotkeys = ({c.name: c.hotkey for c in schema.labels if c.hotkey}
                   if schema is not None and cls.CLASS_HOTKEYS else {})
        check_clashes(cls.__name__, out, cls.DEFAULT_KEYS,
                      cls.KEY_GROUPS if cls.KEY_GROUPS is not None else (cls.ACTIONS,), hotkeys)
        return out

    def close(self) -> None:
        """Close the widget. A widget bound to a queue gives its open task back first
        (its lease would otherwise keep the item from everyone until it ran out)."""
        session = getattr(self, "session", None)  # None if __init__ failed early
        try:
            if session is not None and self.comm is not None and hasattr(session, "close"):
                session.close()
        except LabelnbError as e:  # the widget closes all the same; the lease runs out
            log.warning("labelnb: the open task was not given back on close (%s)", e)
        finally:
            super().close()

    # --- media -----------------------------------------------------------------------
    def _set_media(self, image: ImageLike | DisplayMedia | None = None,
                   text: str | None = None) -> None:
        """Show a new item: encode the display copy once; the browser pulls it.

        A :class:`DisplayMedia` with an ``alias`` was pushed to the browser ahead of
        time (:meth:`send_prefetch`); the browser then paints it without asking.
        """
        key = f"i{next(_keys)}"
        if image is not None:
            media = image if isinstance(image, DisplayMedia) else DisplayMedia(image,
                                                                               self.max_display)
            self.original = media.image
            self.scale = media.scale
            self._image_bytes = (media.data, media.mime)
            self._item = {"key": key, "has_image": True, **self.scale.to_json(),
                          "text": text if text is not None else None, "alias": media.alias}
        else:
            self.scale = None
            self.original = None
            self._image_bytes = None
            self._item = {"key": key, "has_image": False, "text": text}

    def _show_error(self, error: str) -> None:
        """Show an item that could not be loaded: no image, the error as text, and none
        of the last item's regions (nothing of it may be submitted for this one)."""
        with self.hold_sync():
            self.scale = None
            self.original = None
            self._image_bytes = None
            self._clear_regions()
            self._item = {"key": f"i{next(_keys)}", "has_image": False, "text": None,
                          "error": error}

    def _clear_regions(self) -> None:
        """Forget the shown item's regions and suggestions (a widget that has any)."""

    @property
    def item_key(self) -> str:
        return str(self._item.get("key", ""))

    def _require_scale(self) -> DisplayScale:
        if self.scale is None:
            raise ValidationError(f"{type(self).__name__}: no image is loaded; pass image=... "
                                  "or call .load(image)")
        return self.scale

    # --- messages from the browser ----------------------------------------------------
    def _on_front_msg(self, _w: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, Mapping):
            return
        kind = content.get("type")
        if kind == "image":
            self._send_image(str(content.get("key", "")))
        elif self.handle_msg(content, buffers or []):
            return
        elif self._session is not None:
            if kind == "submit":
                self._session.on_submit(content)
            elif kind == "skip":
                self._session.on_skip(content)
            elif kind == "heartbeat":
                self._session.on_heartbeat(content)

    def handle_msg(self, content: Mapping[str, Any], buffers: Sequence[Any]) -> bool:
        """A widget's own browser messages (auto-fit, wand ...); True when handled."""
        return False

    def send_prefetch(self, media: DisplayMedia) -> None:
        """Push an upcoming item's display copy to the browser, which decodes and keeps
        it until an item with the same ``alias`` is shown."""
        if media.alias:
            self.send({"type": "prefetch", "key": media.alias, "mime": media.mime},
                      buffers=[media.data])

    def _send_image(self, key: str) -> None:
        if self._image_bytes is None or key != self.item_key:
            return  # a request for an item that is no longer shown
        data, mime = self._image_bytes
        self.send({"type": "image", "key": key, "mime": mime}, buffers=[data])

    def _bind(self, session: SessionHooks, heartbeat_s: float) -> None:
        self._session = session
        self._bound = True
        self._heartbeat_s = float(heartbeat_s)

    def _ack(self, client_id: str, annotation_id: str | None) -> None:
        self.send({"type": "ack", "client_id": client_id, "annotation_id": annotation_id})

    def _refuse(self, client_id: str, why: str) -> None:
        """Answer a submit that was not stored: the browser stops resending it (and
        showing "saving…") and shows why."""
        self._message = why
        self.send({"type": "ack", "client_id": client_id, "annotation_id": None,
                   "error": why})


class ImageAnnotator(AnnotatorBase, Generic[A]):
    """Base of the widgets that draw regions on an image: boxes, polygons, masks (not
    used directly).

    The browser keeps the committed regions in display pixels in a synced trait of the
    subclass; the subclass's ``annotations`` and ``suggestions`` properties convert
    them from and to original pixels (:class:`DisplayScale`), checked against the image
    and the schema.
    """

    # the subclass's properties, in original pixels
    annotations: Any
    suggestions: Any

    #: the synced trait that holds the committed regions (display pixels)
    _REGIONS_TRAIT: ClassVar[str] = ""

    def load(self, image: ImageLike | DisplayMedia, *, annotations: Iterable[A] = (),
             suggestions: Iterable[Region] = ()) -> None:
        """Show another image (clears the regions unless ``annotations`` are given).

        Everything is checked against the new image first: when something does not
        fit, this raises and the widget still shows the last image as it was."""
        media = image if isinstance(image, DisplayMedia) else DisplayMedia(image,
                                                                           self.max_display)
        shown_scale = self.scale
        self.scale = media.scale  # what the regions are checked against and scaled by
        try:
            built = self._build(list(annotations), list(suggestions))
        finally:
            self.scale = shown_scale
        with self.hold_sync():  # one message: the browser sees the item and its state at once
            self._set_media(image=media)
            self._clear_regions()
            self._apply(built)

    def _build(self, annotations: list[A], suggestions: list[Region]) -> Any:
        """The display JSON of ``annotations`` and ``suggestions`` for the image whose
        scale is ``self.scale`` (checked; no trait is set), for :meth:`_apply`."""
        return self._annotations_json(annotations), self._suggestions_json(suggestions)

    def _apply(self, built: Any) -> None:
        """Show what :meth:`_build` made."""
        shown, suggested = built
        setattr(self, self._REGIONS_TRAIT, shown)
        self._suggestions = suggested

    def _annotations_json(self, regions: Iterable[A]) -> list[dict[str, Any]]:
        """``regions`` (original pixels) checked, as the display JSON of the regions trait."""
        raise NotImplementedError

    def _suggestions_json(self, regions: Iterable[Region]) -> list[dict[str, Any]]:
        """The suggestions this widget shows of ``regions``, as display JSON."""
        raise NotImplementedError

    def _clear_regions(self) -> None:
        """Forget the last image's regions and suggestions (the new ones are checked
        against the new image)."""
        setattr(self, self._REGIONS_TRAIT, [])
        self._suggestions = []

    def _checked_to_display(self, region: object, kind: type[R], where: str,
                            to_display: Callable[[DisplayScale, R], dict[str, Any]]
                            ) -> dict[str, Any]:
        """``region`` (original pixels), checked to be a ``kind`` that fits the image and
        the schema, as display-pixel JSON for the browser."""
        if not isinstance(region, kind):
            raise ValidationError(f"{where}: expected a {kind.__name__}, got "
                                  f"{type(region).__name__}")
        scale = self._require_scale()
        region = with_defaults(self.schema, region)
        self.schema.check_region(region, where, width=scale.width, height=scale.height)
        return to_display(scale, region)

    def _readable(self, shown: list[dict[str, Any]],
                  back: Callable[[list[dict[str, Any]]], Any], fix: str) -> None:
        """Refuse regions that the widget could not hand back once stored (a box thinner
        than a pixel snaps to no area): set, ``.annotations`` and every submit failed."""
        try:
            back(shown)
        except LabelnbError as e:
            raise ValidationError(f"{e} (as the widget would store it: {fix})") from None

    def _regions_from_display(
            self, items: Iterable[Mapping[str, Any]], what: str,
            to_original: Callable[[DisplayScale, Mapping[str, Any], str], R | None],
            check_labels: bool) -> list[R]:
        """Display-pixel JSON (as the browser sends it) as regions in original pixels;
        ``to_original(scale, item, where)`` converts one, or leaves it out with None (an
        empty mask). Attributes missing are filled from their defaults. With
        ``check_labels`` each is checked against the schema too."""
        items = list(items)
        if not items:
            return []
        scale = self._require_scale()
        out = []
        for i, d in enumerate(items):
            where = f"{type(self).__name__} {what} {i}"
            r = to_original(scale, d, where)
            if r is None:
                continue
            r = with_defaults(self.schema, r)  # the browser does not set attributes
            if check_labels:
                self.schema.check_region(r, where, width=scale.width, height=scale.height)
            out.append(r)
        return out
