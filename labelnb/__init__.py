"""labelnb: notebook-native data labeling.

The public API: :class:`Project`, :class:`Schema`, the annotation types and
:func:`open`.
"""

from typing import TYPE_CHECKING

from labelnb.errors import LabelnbError
from labelnb.project import Project, open, projects
from labelnb.schema import Attribute, LabelClass, Schema
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Region, Span

if TYPE_CHECKING:
    from labelnb.formats.importer import ImportReport
    from labelnb.formats.pipeline import ExportReport

__version__ = "0.1.0"


def export(project: Project, format: str, path: str,  # noqa: A002
           **kw: object) -> "ExportReport":
    """Export a project's final labels (COCO, VOC, YOLO, spaCy DocBin, HF datasets,
    TFRecord, WebDataset), validated by loading them back; see
    :func:`labelnb.formats.pipeline.export` for the options."""
    from labelnb.formats.pipeline import export as _export

    return _export(project, format, path, **kw)  # type: ignore[arg-type]

def import_dataset(project: Project, format: str, path: str,  # noqa: A002
                   **kw: object) -> "ImportReport":
    """Import a dataset (COCO, VOC, YOLO, spaCy DocBin, JSONL, Label Studio JSON) as
    items plus annotations, or as predictions with ``as_predictions=True``: all or
    nothing, every problem reported; see :func:`labelnb.formats.importer.import_dataset`."""
    from labelnb.formats.importer import import_dataset as _import

    return _import(project, format, path, **kw)  # type: ignore[arg-type]


__all__ = [
    "Annotation", "Attribute", "Box", "Choice", "LabelClass", "LabelnbError", "Mask",
    "Polygon", "Project", "Region", "Schema", "Span", "__version__", "export",
    "import_dataset", "open", "projects",
]
