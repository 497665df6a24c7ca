"""Prompts built from the project's schema, and the JSON the model must answer with.

The system prompt names the task (from the schema's kind), the annotator
instructions, and every class with its description and examples, as an annotation
guideline would. The user message carries the item: the text between markers, or
the image as an image content block. The answer is one JSON object:

========================  ===========================================================
kind                      answer
========================  ===========================================================
``choice``                ``{"label": "<class>"}``
``multi_choice``          ``{"labels": ["<class>", ...]}``
``spans``                 ``{"entities": [{"text": "<exact quote>", "start": int,
                          "end": int, "label": "<class>"}]}``
``boxes``                 ``{"objects": [{"label": "<class>", "box": [a, b, c, d]}]}``
========================  ===========================================================

Span offsets are character offsets (code points, end exclusive); the quote lets
:mod:`~labelnb.prelabel.llm.parse` check and repair them. Boxes come back in the
:class:`BoxConvention` the prompt states (default: ``x_min, y_min, x_max, y_max``
normalised to 0-1000, as several multimodal models are trained to answer) and are
converted to labelnb's pixel corners.

>>> from labelnb.schema import Schema
>>> s = Schema("choice", [{"name": "pos", "description": "praises the film",
...                        "examples": ["a joy to watch"]}, "neg"])
>>> p = build_prompt(s, text="What a joy.")
>>> print(p.system.splitlines()[0])
You are a careful data annotator. Classify the item into exactly one of the classes below.
>>> '- "pos": praises the film. Examples: "a joy to watch"' in p.system
True
>>> p.json_schema["properties"]["label"]["enum"]
['pos', 'neg']
>>> NORM_1000.to_pixels([100, 200, 500, 1000], width=640, height=480)
(64.0, 96.0, 320.0, 480.0)
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from labelnb.errors import ValidationError
from labelnb.schema import Schema

SUPPORTED_KINDS = ("choice", "multi_choice", "spans", "boxes")


@dataclass(frozen=True, slots=True)
class BoxConvention:
    """How a model writes boxes: ``scale`` ``"1000"`` (0-1000 of the image size),
    ``"1"`` (0-1) or ``"pixels"`` (of the image as sent), in ``order`` ``"xyxy"``
    (x_min, y_min, x_max, y_max) or ``"yxyx"`` (y_min, x_min, y_max, x_max)."""

    scale: Literal["1000", "1", "pixels"] = "1000"
    order: Literal["xyxy", "yxyx"] = "xyxy"

    def __post_init__(self) -> None:
        if self.scale not in ("1000", "1", "pixels"):
            raise ValidationError(f"BoxConvention: field 'scale' is {self.scale!r}; expected "
                                  "'1000', '1' or 'pixels'")
        if self.order not in ("xyxy", "yxyx"):
            raise ValidationError(f"BoxConvention: field 'order' is {self.order!r}; expected "
                                  "'xyxy' or 'yxyx'")

    def describe(self) -> str:
        names = ("x_min, y_min, x_max, y_max" if self.order == "xyxy"
                 else "y_min, x_min, y_max, x_max")
        unit = {"1000": "normalized to 0-1000 of the image width and height (0 is the left or "
                        "top edge, 1000 the right or bottom edge)",
                "1": "normalized to 0-1 of the image width and height (0 is the left or top "
                     "edge, 1 the right or bottom edge)",
                "pixels": "in pixels of the image as you see it, origin at the top-left "
                          "corner"}[self.scale]
        return f"[{names}], {unit}"

    def to_pixels(self, values: Any, *, width: float, height: float,
                  sent_width: float | None = None, sent_height: float | None = None
                  ) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` in pixels of the original ``width × height`` image.
        ``sent_*`` is the size of the image the model saw (for ``"pixels"``)."""
        a, b, c, d = (float(v) for v in values)
        x0, y0, x1, y1 = (a, b, c, d) if self.order == "xyxy" else (b, a, d, c)
        if self.scale == "pixels":
            sx = width / float(sent_width or width)
            sy = height / float(sent_height or height)
        else:
            full = 1000.0 if self.scale == "1000" else 1.0
            sx, sy = width / full, height / full
        return (x0 * sx, y0 * sy, x1 * sx, y1 * sy)


NORM_1000 = BoxConvention("1000", "xyxy")
NORM_1 = BoxConvention("1", "xyxy")
PIXELS = BoxConvention("pixels", "xyxy")
#: Gemini's documented ``box_2d``: ``[y_min, x_min, y_max, x_max]`` in 0-1000
YXYX_1000 = BoxConvention("1000", "yxyx")
__all__ = ["BoxConvention", "ImagePart", "NORM_1", "NORM_1000", "PIXELS", "YXYX_1000",
           "Prompt", "SUPPORTED_KINDS", "build_prompt", "image_part"]


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image as sent to a model: encoded bytes, media type, and the size sent."""

    data: bytes = field(repr=False)
    media_type: str
    width: int
    height: int

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def image_part(image: Any, *, max_side: int = 1568, fmt: Literal["PNG", "JPEG"] = "PNG"
               ) -> ImagePart:
    """Encode a PIL image for a model, downscaled so its longer side is at most
    ``max_side`` (models downscale larger images themselves; sending less costs less)."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        raise ValidationError(f"image_part: expected a PIL image, got {type(image).__name__}")
    img = image
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.LANCZOS)
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    elif fmt == "PNG" and img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return ImagePart(buf.getvalue(), "image/png" if fmt == "PNG" else "image/jpeg",
                     img.width, img.height)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One request's content, independent of the provider's wire format."""

    system: str
    user: str
    kind: str
    json_schema: dict[str, Any] = field(hash=False)
    images: tuple[ImagePart, ...] = ()
    boxes: BoxConvention = NORM_1000

    def fingerprint(self) -> str:
        """A hash of everything the model sees (the text, the images' bytes, the
        answer format)."""
        body = {"system": self.system, "user": self.user, "kind": self.kind,
                "schema": self.json_schema, "images": [i.sha256 for i in self.images],
                "boxes": [self.boxes.scale, self.boxes.order]}
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


_TASKS = {
    "choice": "Classify the item into exactly one of the classes below.",
    "multi_choice": "Choose every class below that applies to the item (possibly none).",
    "spans": "Find every mention in the text that belongs to one of the entity classes below.",
    "boxes": "Find every object in the image that belongs to one of the classes below and "
             "draw a tight bounding box around each.",
}


def _answer_format(kind: str, boxes: BoxConvention) -> str:
    if kind == "choice":
        return 'Answer with one JSON object and nothing else: {"label": "<class name>"}'
    if kind == "multi_choice":
        return ('Answer with one JSON object and nothing else: {"labels": ["<class name>", '
                '...]} (an empty list when no class applies)')
    if kind == "spans":
        return ('Answer with one JSON object and nothing else: {"entities": [{"text": "<the '
                'exact text of the mention, copied character for character>", "start": '
                '<offset of its first character>, "end": <offset just after its last '
                'character>, "label": "<class name>"}, ...]}. Offsets count characters '
                '(Unicode code points) from 0 at the start of the text; "end" is exclusive. '
                'Use an empty list when there is no mention.')
    return ('Answer with one JSON object and nothing else: {"objects": [{"label": "<class '
            f'name>", "box": [four numbers]}}, ...]}}. Each box is {boxes.describe()}. Use an '
            'empty list when there is no such object.')


def _json_schema(kind: str, names: list[str]) -> dict[str, Any]:
    label = {"type": "string", "enum": names}

    def obj(props: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": props, "required": list(props),
                "additionalProperties": False}

    if kind == "choice":
        return obj({"label": label})
    if kind == "multi_choice":
        return obj({"labels": {"type": "array", "items": label}})
    if kind == "spans":
        return obj({"entities": {"type": "array", "items": obj({
            "text": {"type": "string"}, "start": {"type": "integer"},
            "end": {"type": "integer"}, "label": label})}})
    return obj({"objects": {"type": "array", "items": obj({
        "label": label, "box": {"type": "array", "items": {"type": "number"}}})}})


def build_prompt(schema: Schema, *, text: str | None = None, image: ImagePart | None = None,
                 boxes: BoxConvention = NORM_1000, variant: int = 0,
                 item_desc: str = "the item") -> Prompt:
    """The prompt for one item under ``schema``.

    ``variant`` 1 lists the classes in reverse order and words the request
    differently: a second, independent prompt for confidence by agreement.
    """
    kind = schema.kind
    if kind not in SUPPORTED_KINDS:
        raise ValidationError(
            f"LLM pre-labeling: a {kind!r} schema is not supported; it supports "
            f"{', '.join(SUPPORTED_KINDS)} (for masks and polygons, pre-label boxes and refine "
            "them with labelnb.segment)")
    if kind == "spans" and text is None:
        raise ValidationError(f"{item_desc}: a 'spans' schema needs a text item")
    if kind == "boxes" and image is None:
        raise ValidationError(f"{item_desc}: a 'boxes' schema needs an image item")
    if text is None and image is None:
        raise ValidationError(f"{item_desc}: give a text or an image")
    classes = list(schema.labels)
    if variant % 2 == 1:
        classes = classes[::-1]
    lines = []
    for c in classes:
        line = f'- "{c.name}"'
        if c.description:
            line += f": {c.description.strip().rstrip('.')}."
        if c.examples:
            line += " Examples: " + "; ".join(orjson.dumps(e).decode() for e in c.examples)
        lines.append(line)
    intro = ("You are a careful data annotator. " if variant % 2 == 0 else
             "You label data for a machine-learning dataset, following the guideline "
             "exactly. ")
    parts = [intro + _TASKS[kind]]
    if schema.instructions.strip():
        parts.append("Guideline:\n" + schema.instructions.strip())
    parts.append("Classes:\n" + "\n".join(lines))
    parts.append("Use only these class names, spelled exactly as given.")
    parts.append(_answer_format(kind, boxes))
    system = "\n\n".join(parts)
    if text is not None:
        user = ("Text (between the markers <<< and >>>):\n<<<\n" + text + "\n>>>"
                if variant % 2 == 0 else "Label this text:\n<<<\n" + text + "\n>>>")
    else:
        user = "Label this image." if variant % 2 == 0 else "Annotate the image above."
    return Prompt(system=system, user=user, kind=kind,
                  json_schema=_json_schema(kind, schema.names),
                  images=(image,) if image is not None else (), boxes=boxes)
