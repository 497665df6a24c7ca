"""Fixtures for the format tests: small PIL images, a labeled project, and an offline
ultralytics (no settings in the home folder, no font or dataset downloads)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

# Before ultralytics is imported anywhere: no network probes, settings in a temp folder.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR",
                      os.path.join(tempfile.gettempdir(), f"labelnb-tests-yolo-{os.getuid()}"))
os.environ.setdefault("YOLO_VERBOSE", "False")

from labelnb.project import Project  # noqa: E402
from labelnb.schema import Schema  # noqa: E402
from labelnb.types import Box  # noqa: E402


def make_image(path: Path, size: tuple[int, int], color: tuple[int, int, int] = (200, 30, 30),
               orientation: int | None = None) -> Path:
    """A solid JPEG/PNG of ``size`` (width, height) as stored (before EXIF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size, color)
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        im.save(path, exif=exif.tobytes())
    else:
        im.save(path)
    return path


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    """Twelve distinct images of a few sizes (distinct colours: distinct content)."""
    out = []
    for i in range(12):
        size = (64, 48) if i % 3 else (40, 72)
        ext = "jpg" if i % 2 else "png"
        out.append(make_image(tmp_path / "src" / f"img{i:02d}.{ext}", size,
                              (10 * i, 255 - 10 * i, 7 * i)))
    return out


@pytest.fixture
def boxes_project(tmp_path: Path, images: list[Path]) -> Project:
    """A 'boxes' project with every image labeled through the queue by 'ana'."""
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    ids = p.add_items([{"image": str(f), "group": f"g{i // 2}"} for i, f in enumerate(images)])
    assert len(ids) == len(images)
    q = p.queue("ana")
    while (task := q.claim()) is not None:
        it = task.item
        assert it.width is not None and it.height is not None
        n = it.id % 3
        regions = [Box(1 + k, 2, min(it.width, 10 + 7 * k), min(it.height, 12 + 3 * k),
                       "cat" if (it.id + k) % 2 else "dog") for k in range(n)]
        q.submit(regions)
    return p


@pytest.fixture
def offline_ultralytics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """check_det_dataset ends with check_font, which downloads Arial.ttf when missing:
    give it a local placeholder in a temp config folder so nothing is fetched."""
    import ultralytics.utils.checks as checks

    cfg = tmp_path / "ultralytics-config"
    cfg.mkdir()
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        (cfg / name).write_bytes(b"placeholder font: check_font only tests that it exists")
    monkeypatch.setattr(checks, "USER_CONFIG_DIR", cfg)


@pytest.fixture
def image_maker() -> Callable[..., Path]:
    """``make_image`` for tests (tests/ is not a package, so no relative imports)."""
    return make_image
