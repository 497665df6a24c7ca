"""What a new user following the docs ran into (session 15's walk through README, docs/
and the notebooks): each test fails on the behaviour found then."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import labelnb
from labelnb import Choice, Schema
from labelnb.cli import main
from labelnb.errors import NoActiveLease, ValidationError


def test_cli_export_prints_its_warnings(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``labelnb export`` printed "1 warnings" and hid them (import printed its own)."""
    db = tmp_path / "t.db"
    p = labelnb.Project.create(db, "t", Schema("choice", ["pos", "neg"]))
    p.add_items([f"text {i}" for i in range(4)], group="batch1")  # one group: one split
    q = p.queue("ana")
    while q.claim() is not None:
        q.submit(Choice("pos"))
    p.close()
    code = main(["export", str(db), "--format", "hf", "--out", str(tmp_path / "out"),
                 "--split", "train=0.8,val=0.2"])
    out = capsys.readouterr().out
    assert code == 0
    warned = [line for line in out.splitlines() if line.startswith("  warning: ")]
    assert warned and "'val'" in warned[0] and "received no items" in warned[0]


def test_annotate_refuses_unknown_options_naming_them(tmp_path: Path) -> None:
    """A misspelt session argument or another kind's widget option was a bare TypeError."""
    p = labelnb.Project.create(tmp_path / "b.db", "pets", Schema("boxes", ["cat"]))
    with pytest.raises(ValidationError, match=r"argument 'max_dispaly' is not known\. Did "
                       r"you mean 'max_display'\?"):
        p.annotate("ana", max_dispaly=300)
    with pytest.raises(ValidationError) as e:
        p.annotate("ana", widget_options={"segment_fn": print})
    msg = str(e.value)
    assert "'segment_fn' is an option of the masks, polygons widget" in msg
    assert "this project labels 'boxes'" in msg and "keymap" in msg
    with pytest.raises(ValidationError, match="review\\(\\): argument 'max_dispaly'"):
        p.review("ana", max_dispaly=300)
    # the options a widget does take still work
    w = p.annotate("ana", widget_options={"keymap": {"submit": "Enter"}}, max_display=400)
    assert type(w).__name__ == "BoxAnnotator" and w.max_display == 400


def test_no_lease_error_names_the_lease_another_handle_holds(tmp_path: Path) -> None:
    """A notebook cell run again makes a new handle; its submit said only "holds no
    lease" although the annotator held one through the first handle."""
    p = labelnb.Project.create(tmp_path / "c.db", "r", Schema("choice", ["pos", "neg"]))
    p.add_items(["a", "b"])
    task = p.queue("ana").claim()
    assert task is not None
    with pytest.raises(NoActiveLease) as e:
        p.queue("ana").submit(Choice("pos"))
    assert f"holds task {task.id} (item {task.item_id}) through another handle" in str(e.value)
    assert "task=task" in str(e.value)
    with pytest.raises(NoActiveLease) as e:  # someone who holds nothing: the plain message
        p.queue("bob").submit(Choice("pos"))
    assert "another handle" not in str(e.value)
    # the fix the message gives works
    aid = p.queue("ana").submit(Choice("pos"), task=task)
    assert list(p.annotations()["id"]) == [aid]


def test_a_missing_annotator_name_is_asked_for_in_the_call_made(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "d.db", "r", Schema("choice", ["pos", "neg"]))
    with pytest.raises(ValidationError, match=r"project\.annotate\('ana'\)"):
        p.annotate()
    with pytest.raises(ValidationError, match=r"project\.review_queue\('ana'\)"):
        p.review_queue()
    with pytest.raises(ValidationError, match=r"project\.queue\('ana'\)"):
        p.queue()


def test_auto_says_when_the_checkpoint_file_is_not_there(tmp_path: Path) -> None:
    from labelnb.segment.sam import auto

    with pytest.warns(UserWarning, match="that file does not exist here"):
        auto(str(tmp_path / "nope.pth"), "vit_b", use_modal=False)
    there = tmp_path / "sam.pth"
    there.write_bytes(b"x")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        auto(str(there), "vit_b", use_modal=False)
    assert w and all("does not exist" not in str(x.message) for x in w)
