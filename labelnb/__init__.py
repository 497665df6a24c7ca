"""labelnb: notebook-native data labeling.

The public API: :class:`Project`, :class:`Schema`, the annotation types and
:func:`open`.
"""

from labelnb.errors import LabelnbError
from labelnb.project import Project, open, projects
from labelnb.schema import Attribute, LabelClass, Schema
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Region, Span

__version__ = "0.1.0"


def export(project: Project, format: str, path: str, **kw: object) -> object:  # noqa: A002
    """Export a project's final labels (COCO, VOC, YOLO, spaCy DocBin, HF datasets,
    TFRecord, WebDataset), validated by loading them back; see
    :func:`labelnb.formats.pipeline.export` for the options."""
    from labelnb.formats.pipeline import export as _export

    return _export(project, format, path, **kw)  # type: ignore[arg-type]

__all__ = [
    "Annotation", "Attribute", "Box", "Choice", "LabelClass", "LabelnbError", "Mask",
    "Polygon", "Project", "Region", "Schema", "Span", "__version__", "export", "open",
    "projects",
]
