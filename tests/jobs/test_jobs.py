"""labelnb.jobs: the local backend and the Modal apps' functions (through ``.local()``)
run the same bodies and give the same results; failures surface with their traceback."""

from __future__ import annotations

import io
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import labelnb
from labelnb.errors import ValidationError
from labelnb.jobs import JobFailed, bodies, embed_items, submit

pytest.importorskip("segment_anything")  # the [sam] extra
modal = pytest.importorskip("modal")  # the [modal] extra

GPU_JOBS = Path(__file__).resolve().parents[2] / "gpu_jobs"


@pytest.fixture(scope="module")
def apps() -> Any:
    sys.path.insert(0, str(GPU_JOBS))
    try:
        import retrain as retrain_app
        import sam_embed as sam_app
    finally:
        sys.path.remove(str(GPU_JOBS))
    return sam_app, retrain_app


def _png(h: int, w: int, v: int) -> bytes:
    from PIL import Image

    yy, xx = np.mgrid[0:h, 0:w]
    buf = io.BytesIO()
    Image.fromarray(np.stack([xx % 256, yy % 256, np.full_like(xx, v)], -1).astype(np.uint8)
                    ).save(buf, format="PNG")
    return buf.getvalue()


TRAIN = {"texts": ["great film", "loved it", "wonderful cast", "awful plot", "boring",
                   "bad acting"],
         "labels": ["pos", "pos", "pos", "neg", "neg", "neg"]}
VAL = {"texts": ["great cast", "boring plot"], "labels": ["pos", "neg"]}


def test_sam_embed_local_backend_equals_the_modal_functions(apps: Any) -> None:
    sam_app, _ = apps
    payload = {"model": {"tiny": True, "seed": 3}, "images": [_png(30, 40, 10), _png(50, 20, 99)]}
    h = submit("sam_embed", payload)
    local = h.result(timeout=300)
    assert h.status == "done" and any("embedded image 2/2" in x for x in h.logs())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no access to the mounted Volume"
        via_fn = sam_app.sam_embed.local(payload)
        via_cls = sam_app.SamEmbedder(model_type="tiny").embed.local(payload["images"][:1])
    assert local["model_id"] == via_fn["model_id"] == "tiny-sam:3"
    assert via_cls["model_id"] == "tiny-sam:0"  # the Cls says which weights it loaded
    for a, b in zip(local["embeddings"], via_fn["embeddings"], strict=True):
        assert a["shape"] == b["shape"] == [1, 256, 64, 64]
        assert a["original_size"] == b["original_size"]
        assert a["features"] == b["features"]  # bit for bit: one code path
    # the Cls loads the model in @modal.enter and gives the same features (its seed is 0)
    seed0 = submit("sam_embed", {"model": {"tiny": True}, "images": payload["images"][:1]})
    assert via_cls["embeddings"][0]["features"] == \
        seed0.result(timeout=300)["embeddings"][0]["features"]


def test_retrain_local_backend_equals_the_modal_function(apps: Any) -> None:
    _, retrain_app = apps
    payload = {"train": TRAIN, "val": VAL, "config": {"C": 10.0}}
    local = submit("retrain", payload).result(timeout=120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        remote = retrain_app.retrain.local(payload)
    assert local["metrics"] == remote["metrics"]
    assert local["metrics"]["n_train"] == 6 and 0.0 <= local["metrics"]["accuracy"] <= 1.0
    import pickle

    model = pickle.loads(local["weights"])
    assert list(model.predict(["great", "boring"])) == list(
        pickle.loads(remote["weights"]).predict(["great", "boring"]))


def test_retrain_reads_a_labelnb_hf_export(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    p = labelnb.Project.create(tmp_path / "r.db", "r", labelnb.Schema("choice", ["pos", "neg"]))
    texts = [f"{t} {i}" for i in range(3) for t in TRAIN["texts"] + VAL["texts"]]
    labels = [lab for _ in range(3) for lab in TRAIN["labels"] + VAL["labels"]]
    ids = p.add_items(texts)
    q = p.queue("ana")
    for _ in ids:
        t = q.claim()
        assert t is not None
        q.submit([labelnb.Choice(labels[ids.index(t.item.id)])])
    out = tmp_path / "hf"
    labelnb.export(p, "hf", out, split={"train": 0.7, "val": 0.3}, seed=0)
    res = submit("retrain", {"dataset_path": str(out)}).result(timeout=120)
    assert res["metrics"]["n_train"] + res["metrics"]["n_val"] == len(ids)
    # a held-out split under another name is chosen with val_split
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    feats = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    rows = {"text": TRAIN["texts"], "label": [1, 1, 1, 0, 0, 0]}
    DatasetDict({"train": Dataset.from_dict(rows, features=feats),
                 "holdout": Dataset.from_dict(rows, features=feats)}).save_to_disk(tmp_path / "dd")
    with pytest.raises(JobFailed, match=r"name the held-out one with 'val_split' \(one of "
                                        r"\['holdout'\]\)"):
        submit("retrain", {"dataset_path": str(tmp_path / "dd")}).result(timeout=60)
    ok = submit("retrain", {"dataset_path": str(tmp_path / "dd"), "val_split": "holdout"})
    assert ok.result(timeout=60)["metrics"]["n_val"] == 6
    # an export without splits has no 'train': said so, with the export that has one
    labelnb.export(p, "hf", tmp_path / "whole")
    with pytest.raises(JobFailed, match=r"holds one unsplit dataset, no 'train' split; "
                                        r"export with split="):
        submit("retrain", {"dataset_path": str(tmp_path / "whole")}).result(timeout=60)


def test_a_retrain_cancelled_while_it_fits_drops_its_result() -> None:
    """The fit itself cannot stop half-way; a cancel that arrives during it still ends
    the job cancelled (it reported the cancel as accepted, then delivered the model)."""
    asked = []

    def cancelled() -> bool:  # not yet before the fit, then yes
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(InterruptedError, match="cancelled during training"):
        bodies.retrain({"train": TRAIN, "val": VAL}, cancelled=cancelled)
    assert len(asked) == 2


def test_a_failing_job_surfaces_its_traceback() -> None:
    h = submit("retrain", {"train": {"texts": ["a", "b"], "labels": ["x", "x"]}, "val": VAL})
    with pytest.raises(JobFailed) as ei:
        h.result(timeout=60)
    assert h.status == "failed"
    assert "needs at least 2" in str(ei.value)
    assert "bodies.py" in ei.value.remote_traceback and "in retrain" in ei.value.remote_traceback
    with pytest.raises(ValidationError, match="unknown job 'train'"):
        submit("train", {})
    with pytest.raises(ValidationError, match="backend must be"):
        submit("retrain", {}, backend="cloud")  # type: ignore[arg-type]


def test_modal_without_a_token_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    from labelnb.errors import LabelnbError

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.modal.toml
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    with pytest.raises(LabelnbError, match=r"modal setup.*modal deploy gpu_jobs/retrain.py"):
        submit("retrain", {"train": TRAIN, "val": VAL}, backend="modal")


def test_cancel_stops_a_job_between_images() -> None:
    images = [_png(64, 64, i) for i in range(40)]
    blocker = submit("sam_embed", {"model": {"tiny": True}, "images": images})
    second = submit("sam_embed", {"model": {"tiny": True}, "images": images})
    third = submit("sam_embed", {"model": {"tiny": True}, "images": images[:1]})
    assert third.cancel() and third.status == "cancelled"  # never started
    deadline = time.monotonic() + 120
    while blocker.status == "queued" and time.monotonic() < deadline:
        time.sleep(0.05)
    blocker.cancel()
    second.cancel()
    with pytest.raises(InterruptedError, match="cancelled"):
        blocker.result(timeout=300)
    assert blocker.status == "cancelled"
    assert len(blocker.logs()) < 42  # it stopped before the end


def test_embed_items_fills_the_project_cache(tmp_path: Path) -> None:
    from PIL import Image

    from labelnb.segment.cache import EmbeddingCache

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        Image.open(io.BytesIO(_png(40 + i, 50, i))).save(paths[-1])
    p = labelnb.Project.create(tmp_path / "m.db", "m", labelnb.Schema("masks", ["coin"]))
    p.add_items([str(x) for x in paths])
    cache = EmbeddingCache(tmp_path / "emb")
    assert embed_items(p, {"tiny": True}, batch=2, cache=cache) == {"embedded": 3, "cached": 0}
    assert embed_items(p, {"tiny": True}, cache=cache) == {"embedded": 0, "cached": 3}
    assert len(list((tmp_path / "emb").rglob("*.npz"))) == 3
    sha = "ab" * 32  # a checkpoint on another machine is named by its digest
    assert bodies.model_id_for({"model_type": "vit_b", "checkpoint": "/w/sam_vit_b.pth",
                                "sha256": sha}) == "vit_b:" + sha[:16]


def test_sam_embed_sees_images_as_the_widgets_do() -> None:
    """EXIF orientation applied (a phone photo stored sideways is embedded upright, at
    the size the widgets show) and 16-bit images scaled, not clipped."""
    from PIL import Image

    im = Image.fromarray(np.zeros((100, 200, 3), np.uint8))  # stored 200 wide, 100 high
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° to show: 100 wide, 200 high
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes())
    wide = io.BytesIO()
    Image.fromarray(np.array([[1000, 3000]] * 4, np.uint16)).save(wide, format="PNG")
    out = submit("sam_embed", {"model": {"tiny": True},
                               "images": [buf.getvalue(), wide.getvalue()]}).result(timeout=300)
    assert out["embeddings"][0]["original_size"] == [200, 100]
    assert out["embeddings"][1]["original_size"] == [4, 2]


def test_retrain_names_a_bad_split() -> None:
    """Mismatched lengths, an empty split or one string instead of a list (it was split
    into characters) get a labelnb error naming the split and field, not sklearn's."""
    ok = {"texts": ["good", "bad"], "labels": ["p", "n"]}
    for payload, msg in [
        ({"train": {"texts": ["a", "b", "c"], "labels": ["x", "y"]}, "val": ok},
         "the train split has 3 examples and 2 labels"),
        ({"train": ok, "val": {"texts": "good film", "labels": "p"}},
         "field 'val.texts' is one string"),
        ({"train": ok, "val": {"texts": [], "labels": []}}, "the val split has 0 examples"),
    ]:
        with pytest.raises(ValidationError, match=msg):
            bodies.retrain(payload)


def test_model_ids_of_local_checkpoints_do_not_collide(tmp_path: Path) -> None:
    """Two checkpoints whose file names share their first 16 characters were one model
    to the embedding cache (the id was the name's first 16 characters)."""
    a, b = tmp_path / "sam_finetuned_epoch1.pth", tmp_path / "sam_finetuned_epoch2.pth"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    ids = {bodies.model_id_for({"model_type": "vit_b", "checkpoint": str(x)}) for x in (a, b)}
    assert len(ids) == 2
    from labelnb.segment.sam import checkpoint_model_id

    assert bodies.model_id_for({"model_type": "vit_b", "checkpoint": str(a)}) == \
        checkpoint_model_id("vit_b", a)  # as a widget's TorchSam names the same file
    url = "https://example.org/weights/sam_finetuned_epoch2.pth"
    assert bodies.model_id_for({"model_type": "vit_b", "checkpoint": url}) == \
        checkpoint_model_id("vit_b", url)
    assert checkpoint_model_id("vit_b", url).startswith("vit_b:sam_finetuned_epoch2-")
