"""labelnb.jobs: a cancel that answered True never delivers a result, a job cancelled
before it started raises InterruptedError as documented, retrain names what is wrong
with its payload, and checkpoint='default' gets the model id the widgets' SAM has."""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelnb.errors import ValidationError
from labelnb.jobs import JobFailed, bodies, submit

TRAIN = {"texts": ["great film", "loved it", "wonderful cast", "awful plot", "boring",
                   "bad acting"],
         "labels": ["pos", "pos", "pos", "neg", "neg", "neg"]}
VAL = {"texts": ["great cast", "boring plot"], "labels": ["pos", "neg"]}


# -- cancel ----------------------------------------------------------------------------

class _FakeSam:
    model_id = "fake:0"

    def __init__(self, on_embed: Callable[[], None] = lambda: None) -> None:
        self.on_embed = on_embed

    def embed(self, arr: np.ndarray) -> Any:
        self.on_embed()
        return types.SimpleNamespace(features=np.zeros((1, 2, 2, 2), np.float32),
                                     original_size=arr.shape[:2], input_size=arr.shape[:2])


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_sam_embed_cancelled_during_its_last_image_ends_cancelled() -> None:
    """The check ran only before each image: a cancel during the last (or only) image
    was accepted, then the embeddings were delivered anyway."""
    flag = threading.Event()
    sam = _FakeSam(on_embed=flag.set)  # the cancel arrives while the image is embedded
    with pytest.raises(InterruptedError, match="cancelled after 1 of 1 images"):
        bodies.embed_images(sam, [_png()], cancelled=flag.is_set)
    out = bodies.embed_images(_FakeSam(), [_png(), _png()])  # no cancel: all of them
    assert len(out["embeddings"]) == 2 and out["model_id"] == "fake:0"


@pytest.fixture
def gated_job(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event,
                                                                 threading.Event]]:
    """A job ``gated`` that starts, signals ``started`` and returns once ``go`` is set,
    without ever asking whether it was cancelled (a step that cannot be interrupted)."""
    started, go = threading.Event(), threading.Event()

    def gated(payload: Any, log: Any = None, cancelled: Any = None) -> dict[str, Any]:
        started.set()
        assert go.wait(60)
        return {"ok": True}

    monkeypatch.setitem(bodies.JOBS, "gated", gated)
    try:
        yield started, go
    finally:
        go.set()


def test_a_cancel_accepted_while_running_never_delivers_the_result(
        gated_job: tuple[threading.Event, threading.Event]) -> None:
    started, go = gated_job
    h = submit("gated", {})
    assert started.wait(60)
    assert h.cancel() is True  # accepted: the job is running
    go.set()
    with pytest.raises(InterruptedError, match=r"job gated \(\w+\) was cancelled while it ran"):
        h.result(timeout=60)
    assert h.status == "cancelled"
    assert h.cancel() is True  # asked again: still no result coming
    done = submit("gated", {})
    assert done.result(timeout=60) == {"ok": True}
    assert done.cancel() is False and done.status == "done"  # finished already


def test_result_of_a_job_cancelled_before_it_started_raises_interrupted_error(
        gated_job: tuple[threading.Event, threading.Event]) -> None:
    """It raised concurrent.futures.CancelledError, which the docstring does not name."""
    _, go = gated_job
    busy = [submit("gated", {}) for _ in range(2)]  # the pool's two workers
    waiting = submit("retrain", {"train": TRAIN, "val": VAL})
    assert waiting.cancel() is True and waiting.status == "cancelled"
    with pytest.raises(InterruptedError, match="was cancelled before it started"):
        waiting.result(timeout=5)
    go.set()
    assert [b.result(timeout=60) for b in busy] == [{"ok": True}] * 2


# -- retrain payloads --------------------------------------------------------------------

@pytest.mark.parametrize(("payload", "msg"), [
    ({"train": {"texts": TRAIN["texts"]}, "val": VAL},
     r"field 'train' has keys \['texts'\], no 'labels'"),
    ({"train": TRAIN, "val": {"labels": ["pos"]}},
     r"field 'val' has keys \['labels'\], no 'texts' or 'features'"),
    ({"train": {**TRAIN, "features": [[0.0]] * 6}, "val": VAL},
     r"field 'train' has keys .*both 'texts' and 'features'"),
    ({"train": TRAIN, "val": {"features": [[0.0]], "labels": ["pos"]}},
     "the train split has texts and the val split features; give both splits the same"),
    ({"train": ["great film"], "val": VAL}, "field 'train' is a list; give"),
])
def test_retrain_names_a_malformed_split(payload: dict[str, Any], msg: str) -> None:
    """These were bare KeyErrors ('labels', 'texts')."""
    with pytest.raises(ValidationError, match=msg):
        bodies.retrain(payload)
    with pytest.raises(JobFailed, match=msg):
        submit("retrain", payload).result(timeout=60)


@pytest.fixture
def hf_dir(tmp_path: Path) -> Callable[..., str]:
    pytest.importorskip("datasets")
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    def make(name: str, labels: str = "classlabel", **splits: list[Any]) -> str:
        feature = (ClassLabel(names=["neg", "pos"]) if labels == "classlabel"
                   else Value(labels))
        feats = Features({"text": Value("string"), "label": feature})
        DatasetDict({k: Dataset.from_dict({"text": TRAIN["texts"][:len(v)], "label": v},
                                          features=feats)
                     for k, v in splits.items()}).save_to_disk(tmp_path / name)
        return str(tmp_path / name)

    return make


def test_retrain_refuses_an_unknown_val_split(hf_dir: Callable[..., str]) -> None:
    """A misspelt val_split fell back to 'test' silently."""
    path = hf_dir("dd", train=[1, 1, 1, 0, 0, 0], holdout=[1, 1], test=[1, 1, 1, 0, 0, 0])
    with pytest.raises(ValidationError, match=r"field 'val_split' is 'holdot', not a split of "
                                              r"it .*give one of \['holdout', 'test'\]"):
        bodies.retrain({"dataset_path": path, "val_split": "holdot"})
    with pytest.raises(ValidationError, match="'val_split' is 'train', the training split"):
        bodies.retrain({"dataset_path": path, "val_split": "train"})
    assert bodies.retrain({"dataset_path": path, "val_split": "holdout"})["metrics"][
        "n_val"] == 2
    assert bodies.retrain({"dataset_path": path})["metrics"]["n_val"] == 6  # 'test' by name


@pytest.mark.parametrize(("dtype", "values"), [("string", ["p", "p", "p", "n", "n", "n"]),
                                                 ("int64", [1, 1, 1, 0, 0, 0])])
def test_retrain_reads_a_plain_label_column(hf_dir: Callable[..., str], dtype: str,
                                            values: list[Any]) -> None:
    """A string label column (not a ClassLabel) crashed: 'Value' has no 'names'."""
    path = hf_dir(f"plain_{dtype}", labels=dtype, train=values, validation=values)
    res = bodies.retrain({"dataset_path": path})
    assert res["metrics"]["n_train"] == 6 and res["metrics"]["accuracy"] == 1.0
    import pickle

    assert set(pickle.loads(res["weights"]).classes_) == set(values)


def test_retrain_refuses_missing_labels_and_a_missing_dataset(hf_dir: Callable[..., str],
                                                              tmp_path: Path) -> None:
    path = hf_dir("unlabeled", labels="string", train=["p", "p", None, "n", "n", "n"],
                  validation=["p", "n"])
    with pytest.raises(ValidationError, match=r"split 'train', row 2 \(0-based\): field "
                                              r"'label' is None"):
        bodies.retrain({"dataset_path": path})
    cl = hf_dir("classlabel_missing", train=[1, 1, -1, 0, 0, 0], validation=[1, 0])
    with pytest.raises(ValidationError, match="row 2 .*field 'label' is -1, not a label"):
        bodies.retrain({"dataset_path": cl})  # -1 indexed the last class name
    with pytest.raises(ValidationError, match="field 'dataset_path' is .*nope.*give the folder"):
        bodies.retrain({"dataset_path": str(tmp_path / "nope")})


# -- model ids -------------------------------------------------------------------------

def test_default_checkpoint_model_id_is_the_one_torchsam_uses(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """model_id_for gave 'vit_b:default', TorchSam('vit_b', 'default') the checkpoint's
    sha256: embed_items filled a cache that the widget never read."""
    from labelnb.segment.sam import CHECKPOINTS

    cfg = {"model_type": "vit_b", "checkpoint": "default"}
    assert bodies.model_id_for(cfg) == f"vit_b:{CHECKPOINTS['vit_b'][1][:16]}"
    assert bodies.model_id_for({"checkpoint": "default"}) == \
        f"vit_h:{CHECKPOINTS['vit_h'][1][:16]}"
    with pytest.raises(ValidationError, match="field 'model_type' is 'vit_x', which has no "
                                              "published weights"):
        bodies.model_id_for({"model_type": "vit_x", "checkpoint": "default"})
    # the same id as the widgets' TorchSam built from that config (no download: the
    # fetch and the vit_b builder give the tiny SAM)
    segment_anything = pytest.importorskip("segment_anything")
    pytest.importorskip("torch")
    import labelnb.segment.sam as sam_mod

    monkeypatch.setattr(sam_mod, "fetch_checkpoint",
                        lambda c, s=None, d=None: tmp_path / "sam_vit_b.pth")
    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_b",
                        lambda checkpoint=None: sam_mod.tiny_sam())
    widget = sam_mod.TorchSam("vit_b", "default", device="cpu")
    assert widget.model_id == bodies.model_id_for(cfg)
