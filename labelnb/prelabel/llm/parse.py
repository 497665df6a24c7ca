"""From a model's answer to labelnb regions: JSON extraction, schema validation, span
offset repair and box conversion.

* The answer must hold one JSON object. Models sometimes wrap it in a Markdown fence or
  a sentence; the first decodable object is taken. No object at all raises
  :class:`LLMOutputError`, naming the item and quoting the answer.
* A class that is not in the schema rejects that region (or, for ``choice``, the
  answer), with the reason.
* **Spans** are checked against their quote: ``text[start:end]`` must equal the
  quoted ``text``. When it does not, the quote is searched in the document (exactly,
  then ignoring case) and the occurrence nearest to the given ``start`` is taken: the
  span is *repaired*, and the repair is reported. A quote that is not in the document,
  or a span without a quote, is *rejected* with the reason.
* **Boxes** are converted from the prompt's :class:`~labelnb.prelabel.llm.prompt.BoxConvention`
  to pixel corners, clipped to the image; a box that is not four numbers, has its
  corners swapped, or is empty after clipping is rejected.

>>> from labelnb.schema import Schema
>>> s = Schema("spans", ["ORG", "PER"])
>>> doc = "Tim Cook runs Apple. Apple makes phones."
>>> out = parse_answer('```json\\n{"entities": [{"text": "Apple", "start": 22, "end": 27, '
...                    '"label": "ORG"}, {"text": "Steve", "start": 0, "end": 5, '
...                    '"label": "PER"}]}\\n```', s, text=doc)
>>> out.regions
(Span(start=21, end=26, label='ORG', score=None, attributes={}),)
>>> out.repairs[0]["reason"]
"offsets [22:27] hold 'pple '; the quote 'Apple' was found at [21:26] (nearest of 2)"
>>> out.rejections[0]["reason"]
"the quote 'Steve' is not in the text"
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from labelnb.errors import ValidationError
from labelnb.prelabel.llm.prompt import NORM_1000, BoxConvention
from labelnb.schema import Schema
from labelnb.types import Box, Choice, Region, Span

__all__ = ["LLMOutputError", "Parsed", "extract_json", "parse_answer"]


class LLMOutputError(ValidationError):
    """A model's answer is not the JSON the prompt asked for."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """Regions from one answer, with what was repaired and what was rejected (each a
    dict with ``index``, the region's position in the answer, and ``reason``).
    ``spans`` holds each kept region's character span in the answer text (for
    log-probability confidence), or None where it was not found."""

    regions: tuple[Region, ...]
    repairs: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    label_spans: tuple[tuple[int, int] | None, ...] = ()


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def extract_json(answer: str, where: str = "the answer") -> tuple[dict[str, Any], int]:
    """The first JSON object in ``answer`` and its character offset there."""
    if not isinstance(answer, str) or not answer.strip():
        raise LLMOutputError(f"{where}: the model returned no text; expected a JSON object")
    dec = json.JSONDecoder()
    stripped = answer.lstrip()
    try:
        obj = json.loads(answer)
        if isinstance(obj, dict):
            return obj, len(answer) - len(stripped)
    except json.JSONDecodeError:
        pass
    starts = [m.start(1) for m in _FENCE.finditer(answer)]
    starts += [i for i, ch in enumerate(answer) if ch == "{"]
    for s in starts:
        s2 = answer.find("{", s)
        if s2 < 0:
            continue
        try:
            obj, _ = dec.raw_decode(answer, s2)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj, s2
    snippet = answer if len(answer) <= 200 else answer[:200] + "…"
    raise LLMOutputError(f"{where}: the model's answer holds no JSON object: {snippet!r}. "
                         "Use a model that follows JSON instructions, or a provider with "
                         "structured output (OpenAI response_format)")


def _aligned(labels: Sequence[Any], found: Sequence[tuple[int, int]], answer: str
             ) -> list[tuple[int, int] | None]:
    """The answer span of each of ``labels`` (the parsed values, in order), from the
    string literals ``found`` in the answer, in order: the n-th literal belongs to the
    n-th label that is a string, so a null, list or object in between does not shift
    the later labels' spans onto their neighbours; a literal that does not spell its
    label gives None."""
    it = iter(found)
    out: list[tuple[int, int] | None] = []
    for lab in labels:
        m = next(it, None) if isinstance(lab, str) else None
        out.append(m if m is not None and _json_text(answer[m[0]:m[1]]) == lab else None)
    return out


def _json_text(raw: str) -> str | None:
    """The string a JSON string literal's inside (without its quotes) stands for."""
    try:
        v = json.loads(f'"{raw}"')
    except json.JSONDecodeError:
        return None
    return v if isinstance(v, str) else None


_LABEL_VALUE = re.compile(r'"label"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _label_value_spans(answer: str, offset: int) -> list[tuple[int, int]]:
    """Character spans of the values of ``"label"`` keys, in order (for logprobs)."""
    return [(m.start(1), m.end(1)) for m in _LABEL_VALUE.finditer(answer, offset)]


def _labels_array_spans(answer: str, offset: int) -> list[tuple[int, int]]:
    m = re.compile(r'"labels"\s*:\s*\[').search(answer, offset)
    if m is None:
        return []
    end = answer.find("]", m.end())
    seg_end = end if end >= 0 else len(answer)
    return [(x.start(1), x.end(1)) for x in
            re.finditer(r'"((?:[^"\\]|\\.)*)"', answer[:seg_end]) if x.start() >= m.end()]


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _find(doc: str, quote: str) -> list[int]:
    hits = [m.start() for m in re.finditer(re.escape(quote), doc)]
    if hits:
        return hits
    return [m.start() for m in re.finditer(re.escape(quote), doc, flags=re.IGNORECASE)
            if m.end() - m.start() == len(quote)]


def _known(label: Any, names: set[str]) -> TypeGuard[str]:
    """Whether ``label`` is one of the schema's class names (a list or an object the
    model put there instead of a name is not, and must not crash the lookup)."""
    return isinstance(label, str) and label in names


def _span(ent: Any, i: int, doc: str, names: set[str], repairs: list[dict[str, Any]],
          rejections: list[dict[str, Any]]) -> Span | None:
    if not isinstance(ent, dict):
        rejections.append({"index": i, "reason": f"entity {ent!r} is not a JSON object"})
        return None
    label = ent.get("label")
    if not _known(label, names):
        rejections.append({"index": i, "reason": f"label {label!r} is not in the schema "
                                                 f"({', '.join(sorted(names))})"})
        return None
    quote = ent.get("text")
    start, end = _int(ent.get("start")), _int(ent.get("end"))
    given = doc[start:end] if start is not None and end is not None and \
        0 <= start < end <= len(doc) else None
    if not isinstance(quote, str) or not quote:
        rejections.append({"index": i, "reason": "the entity has no 'text' quote to check its "
                                                 "offsets against"})
        return None
    if given == quote:
        return Span(start, end, label)  # type: ignore[arg-type]
    hits = _find(doc, quote)
    if not hits:
        rejections.append({"index": i, "reason": f"the quote {quote!r} is not in the text"})
        return None
    ref = start if start is not None else 0
    best = min(hits, key=lambda h: (abs(h - ref), h))
    where = (f"offsets [{start}:{end}] hold {given!r}" if given is not None else
             f"offsets [{ent.get('start')!r}:{ent.get('end')!r}] are not a span of the text")
    repairs.append({"index": i, "from": [ent.get("start"), ent.get("end")],
                    "to": [best, best + len(quote)],
                    "reason": f"{where}; the quote {quote!r} was found at "
                              f"[{best}:{best + len(quote)}]"
                              + (f" (nearest of {len(hits)})" if len(hits) > 1 else "")})
    return Span(best, best + len(quote), label)


def _box(obj: Any, i: int, names: set[str], conv: BoxConvention, width: int, height: int,
         sent: tuple[int, int] | None, rejections: list[dict[str, Any]]) -> Box | None:
    if not isinstance(obj, dict):
        rejections.append({"index": i, "reason": f"object {obj!r} is not a JSON object"})
        return None
    label = obj.get("label")
    if not _known(label, names):
        rejections.append({"index": i, "reason": f"label {label!r} is not in the schema "
                                                 f"({', '.join(sorted(names))})"})
        return None
    vals = obj.get("box")
    if (not isinstance(vals, list) or len(vals) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool)
                       and math.isfinite(v) for v in vals)):
        rejections.append({"index": i, "reason": f"box {vals!r} is not four numbers "
                                                 f"({conv.describe()})"})
        return None
    x0, y0, x1, y1 = conv.to_pixels(vals, width=width, height=height,
                                    sent_width=sent[0] if sent else None,
                                    sent_height=sent[1] if sent else None)
    if x1 < x0 or y1 < y0:
        rejections.append({"index": i, "reason": f"box {vals} has its corners swapped (expected "
                                                 f"{conv.describe()})"})
        return None
    cx0, cy0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
    cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    if cx1 - cx0 <= 0 or cy1 - cy0 <= 0:
        rejections.append({"index": i, "reason": f"box {vals} is empty inside the "
                                                 f"{width}x{height} image"})
        return None
    return Box(round(cx0, 2), round(cy0, 2), round(cx1, 2), round(cy1, 2), label)


def parse_answer(answer: str, schema: Schema, *, text: str | None = None,
                 width: int | None = None, height: int | None = None,
                 sent_size: tuple[int, int] | None = None, boxes: BoxConvention = NORM_1000,
                 where: str = "the answer") -> Parsed:
    """Regions from one answer (see the module docstring). ``text`` is the document
    (spans); ``width``/``height`` the original image size and ``sent_size`` the size
    the model saw (boxes)."""
    data, offset = extract_json(answer, where)
    names = set(schema.names)
    kind = schema.kind
    repairs: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []
    if kind == "choice":
        label = data.get("label")
        if not _known(label, names):
            raise LLMOutputError(f"{where}: label {label!r} is not in the schema "
                                 f"({', '.join(schema.names)}); the answer was {answer[:200]!r}")
        spans = _label_value_spans(answer, offset)[:1]
        return Parsed((Choice(label),), label_spans=tuple(spans) or (None,))
    if kind == "multi_choice":
        labels = data.get("labels")
        if not isinstance(labels, list):
            raise LLMOutputError(f"{where}: field 'labels' must be a list of class names, got "
                                 f"{labels!r}")
        lab_spans = _aligned(labels, _labels_array_spans(answer, offset), answer)
        regions: list[Region] = []
        kept: list[tuple[int, int] | None] = []
        seen: set[str] = set()
        for i, lab in enumerate(labels):
            if not _known(lab, names):
                rejections.append({"index": i, "reason": f"label {lab!r} is not in the schema "
                                                         f"({', '.join(schema.names)})"})
                continue
            if lab in seen:
                continue
            seen.add(lab)
            regions.append(Choice(lab))
            kept.append(lab_spans[i])
        return Parsed(tuple(regions), repairs, rejections, tuple(kept))
    key = "entities" if kind == "spans" else "objects"
    items = data.get(key)
    if not isinstance(items, list):
        raise LLMOutputError(f"{where}: field {key!r} must be a list, got {items!r}")
    label_spans = _aligned([o.get("label") if isinstance(o, dict) else None for o in items],
                           _label_value_spans(answer, offset), answer)
    out: list[Region] = []
    kept_spans: list[tuple[int, int] | None] = []
    for i, obj in enumerate(items):
        region: Region | None
        if kind == "spans":
            if text is None:
                raise ValidationError(f"{where}: spans need the item's text")
            region = _span(obj, i, text, names, repairs, rejections)
        else:
            if width is None or height is None:
                raise ValidationError(f"{where}: boxes need the image's width and height")
            region = _box(obj, i, names, boxes, width, height, sent_size, rejections)
        if region is None or region in out:
            continue
        out.append(region)
        kept_spans.append(label_spans[i] if i < len(label_spans) else None)
    return Parsed(tuple(out), repairs, rejections, tuple(kept_spans))
