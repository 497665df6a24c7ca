"""One exception tree for labelnb.

Every error says which item (or task, or file) is at fault, which field, and how to
fix it. Catch :class:`LabelnbError` to catch them all.
"""

from __future__ import annotations


class LabelnbError(Exception):
    """Base class of every labelnb error."""


class ValidationError(LabelnbError, ValueError):
    """A value does not fit the types, the schema or the item it belongs to."""


class SchemaError(ValidationError):
    """A schema is malformed, or an annotation does not fit the project's schema."""


class NotFoundError(LabelnbError, LookupError):
    """An item, task, project or annotator does not exist."""


class ItemNotFound(NotFoundError):
    """An item id (or media path) does not exist."""


class TaskNotFound(NotFoundError):
    """A task id does not exist."""


class ProjectNotFound(NotFoundError):
    """No project of that name in the database."""


class AnnotatorNotFound(NotFoundError):
    """No annotator of that name in the project."""


class AnnotationNotFound(NotFoundError):
    """No annotation with that id in the project."""


class StoreError(LabelnbError):
    """The database cannot be opened or used."""


class DatabaseUnreachable(StoreError):
    """The database URL cannot be connected to."""


class CorruptDatabase(StoreError):
    """The file is not a usable SQLite database."""


class DatabaseTooNew(StoreError):
    """The database was written by a newer labelnb than the one running."""


class QueueError(LabelnbError):
    """A queue operation was refused."""


class NoActiveLease(QueueError):
    """The queue holds no lease to heartbeat, submit, skip or release."""


class LeaseExpired(QueueError):
    """The lease ran out (or was never this annotator's): the task went back to the pool."""


class PermissionDenied(QueueError):
    """An annotator tried something their role or the routing forbids."""


class CircularValidationError(ValidationError):
    """An evaluation set or split holds machine-made labels (see
    :mod:`labelnb.active.guard`); pass the override, with a reason, to go ahead."""


class FormatError(LabelnbError):
    """An import or export is malformed."""


class MissingExtra(LabelnbError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"{package} is needed{what} but is not installed. "
            f"Fix: pip install 'labelnb[{extra}]'"
        )
        self.package = package
        self.extra = extra
