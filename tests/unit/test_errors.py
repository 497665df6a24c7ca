"""The one exception tree (``labelnb.errors``) and the shape of its messages."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from labelnb import errors
from labelnb.errors import (
    LabelnbError,
    MissingExtra,
    NotFoundError,
    QueueError,
    SchemaError,
    StoreError,
    ValidationError,
)
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Mask, Region, Span

ALL_ERRORS = [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
              if obj.__module__ == errors.__name__]


def test_the_module_defines_the_documented_errors() -> None:
    names = {c.__name__ for c in ALL_ERRORS}
    assert {"LabelnbError", "ValidationError", "SchemaError", "QueueError", "LeaseExpired",
            "FormatError", "MissingExtra", "NotFoundError", "StoreError"} <= names


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_every_error_is_a_labelnb_error_with_a_docstring(cls: type[Exception]) -> None:
    assert issubclass(cls, LabelnbError)
    assert issubclass(cls, Exception)
    assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"


@pytest.mark.parametrize(("cls", "builtin"), [
    (ValidationError, ValueError), (SchemaError, ValueError), (NotFoundError, LookupError),
    (errors.ItemNotFound, LookupError), (MissingExtra, ImportError),
])
def test_errors_are_also_the_matching_builtin(cls: type[Exception],
                                              builtin: type[Exception]) -> None:
    assert issubclass(cls, builtin)


@pytest.mark.parametrize(("child", "parent"), [
    (SchemaError, ValidationError), (errors.LeaseExpired, QueueError),
    (errors.NoActiveLease, QueueError), (errors.PermissionDenied, QueueError),
    (errors.DatabaseUnreachable, StoreError), (errors.CorruptDatabase, StoreError),
    (errors.DatabaseTooNew, StoreError), (errors.TaskNotFound, NotFoundError),
    (errors.ProjectNotFound, NotFoundError),
])
def test_hierarchy(child: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(child, parent)


def test_families_do_not_overlap() -> None:
    families = [ValidationError, NotFoundError, StoreError, QueueError, errors.FormatError,
                MissingExtra]
    for a in families:
        for b in families:
            if a is not b:
                assert not issubclass(a, b), (a, b)


@pytest.mark.parametrize("purpose", ["", "SAM embeddings"])
def test_missing_extra_names_the_package_and_the_fix(purpose: str) -> None:
    e = MissingExtra("torch", "sam", purpose)
    msg = str(e)
    assert e.package == "torch" and e.extra == "sam"
    assert msg.startswith("torch is needed")
    assert "pip install 'labelnb[sam]'" in msg
    assert (f"for {purpose}" in msg) == bool(purpose)
    with pytest.raises(ImportError):
        raise e


def _raises(fn: object) -> LabelnbError:
    with pytest.raises(LabelnbError) as e:
        fn()  # type: ignore[operator]
    return e.value


@pytest.mark.parametrize(("fn", "item", "field", "fix"), [
    (lambda: Box(9, 0, 1, 1, "car"), "'car'", "x1", "x0 <= x1"),
    (lambda: Span(0, 9, "PER").validate_against("short"), "'PER'", "'end'", "end exclusive"),
    (lambda: Mask({"size": [3, 3], "counts": "52203"}, "cell"), "'cell'", "'size'",
     "re-encode"),
    (lambda: Annotation(item_id=12, source="bot"), "item 12", "'source'", "'human'"),  # type: ignore[arg-type]
    (lambda: Region.from_json({"type": "box", "label": "a"}), "box", "'x0'", "missing"),
    (lambda: Schema(kind="boxes", labels=["a", "a"]), "schema", "label names", "unique"),
    (lambda: Schema(kind="boxes", labels=["a"]).check_region(Box(0, 0, 9, 9, "a"), "item 3",
                                                             width=4, height=4),
     "item 3", "outside", "clip"),
])
def test_messages_name_item_field_and_fix(fn: object, item: str, field: str, fix: str) -> None:
    msg = str(_raises(fn))
    assert item in msg, msg
    assert field in msg, msg
    assert fix in msg, msg


def test_wrong_size_mask_from_array_is_caught_by_the_base_class() -> None:
    arr = np.zeros((2, 3), bool)
    good = Mask.from_array(arr, "m")
    err = _raises(lambda: Mask({"size": [3, 3], "counts": good.rle["counts"]}, "m"))
    assert isinstance(err, ValueError)
