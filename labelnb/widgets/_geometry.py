"""Display scale: the one place where display pixels become original pixels.

The browser draws a downscaled copy of the image and reports boxes in the pixels of
that copy ("display pixels"). Python maps them back to the original image (after EXIF
orientation) here, and snaps the corners to whole pixels.

>>> s = DisplayScale.fit(1600, 1200, max_side=800)
>>> (s.display_width, s.display_height)
(800, 600)
>>> s.box_to_original({"x0": 10, "y0": 20.2, "x1": 100.4, "y1": 50, "label": "cat"})
Box(x0=20.0, y0=40.0, x1=201.0, y1=100.0, label='cat', score=None, attributes={})
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from labelnb.errors import ValidationError
from labelnb.types import Box


@dataclass(frozen=True, slots=True)
class DisplayScale:
    """Original image size and the size of its displayed copy."""

    width: int
    height: int
    display_width: int
    display_height: int

    @classmethod
    def fit(cls, width: int, height: int, max_side: int) -> DisplayScale:
        """Downscale (never upscale) so that the longer side is at most ``max_side``."""
        if width <= 0 or height <= 0:
            raise ValidationError(f"image: size must be positive, got {width}x{height}")
        if max_side <= 0:
            raise ValidationError(f"field 'max_display' must be > 0, got {max_side}")
        f = min(1.0, max_side / max(width, height))
        return cls(width, height, max(1, round(width * f)), max(1, round(height * f)))

    @property
    def sx(self) -> float:
        """Original pixels per display pixel, horizontally."""
        return self.width / self.display_width

    @property
    def sy(self) -> float:
        return self.height / self.display_height

    def box_to_original(self, data: Mapping[str, Any], *, where: str = "box") -> Box:
        """A display-pixel box (JSON) as a :class:`Box` in original pixels, corners
        snapped to whole pixels and clipped to the image. Anything but a JSON object
        with numeric corners is refused with a :class:`ValidationError` (never a bare
        ``TypeError``: a bound widget would wait on "saving…" forever)."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"{where}: expected a JSON object with x0, y0, x1, y1 and "
                                  f"label, got {type(data).__name__} {data!r:.60}")
        try:
            xs = (float(data["x0"]) * self.sx, float(data["x1"]) * self.sx)
            ys = (float(data["y0"]) * self.sy, float(data["y1"]) * self.sy)
        except KeyError as e:
            raise ValidationError(f"{where}: missing field {e.args[0]!r}") from None
        except (TypeError, ValueError):
            raise ValidationError(f"{where}: corners must be numbers, got {dict(data)!r}") from None
        if not all(math.isfinite(v) for v in (*xs, *ys)):
            raise ValidationError(f"{where}: corners must be finite, got {dict(data)!r}")

        def snap(v: float, hi: int) -> float:
            return float(min(max(round(v), 0), hi))

        x0, x1 = sorted(snap(v, self.width) for v in xs)
        y0, y1 = sorted(snap(v, self.height) for v in ys)
        return Box(x0, y0, x1, y1, str(data.get("label", "")), score=data.get("score"),
                   attributes=data.get("attributes") or {})

    def points_to_display(self, points: Iterable[float]) -> list[float]:
        """A flat ``[x1, y1, x2, y2, ...]`` list in original pixels, in display pixels.

        >>> DisplayScale.fit(1600, 1200, 800).points_to_display((10, 8, 30, 0))
        [5.0, 4.0, 15.0, 0.0]
        """
        return [v / (self.sx if i % 2 == 0 else self.sy) for i, v in enumerate(points)]

    def box_to_display(self, box: Box) -> dict[str, Any]:
        """A :class:`Box` in original pixels as display-pixel JSON for the browser."""
        out = box.to_json()
        out.update(x0=box.x0 / self.sx, x1=box.x1 / self.sx, y0=box.y0 / self.sy,
                   y1=box.y1 / self.sy)
        return out

    def to_json(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height,
                "display_width": self.display_width, "display_height": self.display_height}
