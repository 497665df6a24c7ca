"""Package shape: a light import, the public API, the extras, one exception tree."""

from __future__ import annotations

import inspect
import subprocess
import sys
import tomllib
from pathlib import Path

import labelnb
import labelnb.errors as errors

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "segment_anything", "panel", "holoviews", "modal", "spacy", "datasets",
         "psycopg", "skimage", "playwright")


def test_import_is_light() -> None:
    code = ("import sys, labelnb; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"`import labelnb` pulled in heavy packages: {out}"


def test_public_api() -> None:
    for name in ("Project", "Schema", "open", "Box", "Polygon", "Mask", "Span", "Choice",
                 "Annotation"):
        assert name in labelnb.__all__ and hasattr(labelnb, name)


def test_extras_declared() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    for extra in ("postgres", "sam", "nlp", "hf", "modal", "dashboard", "dev", "all"):
        assert extra in extras, extra
    core = " ".join(meta["dependencies"]).lower()
    for dep in ("numpy", "pandas", "sqlalchemy", "alembic", "pillow", "anywidget",
                "ipywidgets", "pycocotools", "scikit-learn"):
        assert dep in core, dep
    assert meta["requires-python"] == ">=3.11"


def test_one_exception_tree() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, Exception) and c.__module__ == errors.__name__]
    assert len(classes) > 10
    for c in classes:
        assert issubclass(c, errors.LabelnbError), c


def test_missing_extra_names_the_extra() -> None:
    e = errors.MissingExtra("psycopg", "postgres", "a postgresql:// database")
    assert "pip install 'labelnb[postgres]'" in str(e)
    assert isinstance(e, ImportError)
