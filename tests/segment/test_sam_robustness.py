"""SAM's robustness: a torn or unwritable embedding cache, prompts checked as the
classical wand checks them, and ModalSam refusing embeddings of other weights."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelnb.errors import LabelnbError, ValidationError
from labelnb.segment.protocol import check_prompts
from labelnb.segment.wand import ClassicalWand

segment_anything = pytest.importorskip("segment_anything")  # the [sam] extra

from labelnb.segment.cache import (  # noqa: E402
    CachedSegmenter,
    EmbeddingCache,
    image_digest,
    precompute,
)
from labelnb.segment.sam import Embedding, ModalSam, TorchSam, tiny_sam  # noqa: E402

GPU_JOBS = Path(__file__).resolve().parents[2] / "gpu_jobs"


@pytest.fixture
def sam() -> TorchSam:
    return TorchSam(model=tiny_sam(seed=0), model_id="t", device="cpu")


def _img(h: int = 40, w: int = 50) -> np.ndarray:
    return (np.random.default_rng(h * w).random((h, w, 3)) * 255).astype(np.uint8)


# -- the embedding cache: torn files, failed writes ----------------------------------


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04" + b"\0" * 100, b"not a zip at all"],
                         ids=["zero-length", "truncated-zip", "garbage"])
def test_a_torn_cache_file_is_a_miss_and_is_replaced(sam: TorchSam, tmp_path: Path,
                                                     data: bytes,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """EOFError / BadZipFile escaped get(): every click on the image failed, forever."""
    img = _img()
    p = EmbeddingCache(tmp_path).path("t", image_digest(img))
    p.parent.mkdir(parents=True)
    p.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="labelnb"):
        masks, _ = CachedSegmenter(sam, EmbeddingCache(tmp_path))(
            img, np.array([[10.0, 10.0]]), np.array([1]), None)
    assert masks.shape == (3, 40, 50) and sam.encoder_calls == 1
    assert "unreadable" in caplog.text
    assert Embedding.from_npz(p).model_id == "t"  # rewritten whole
    CachedSegmenter(sam, EmbeddingCache(tmp_path))(img, np.array([[10.0, 10.0]]),
                                                   np.array([1]), None)
    assert sam.encoder_calls == 1  # the next session reads it from disk


def test_precompute_survives_a_torn_cache_file(sam: TorchSam, tmp_path: Path) -> None:
    from PIL import Image

    import labelnb

    Image.fromarray(_img()).save(tmp_path / "a.png")
    project = labelnb.Project.create(tmp_path / "m.db", "m", labelnb.Schema("masks", ["o"]))
    project.add_items([str(tmp_path / "a.png")])
    cache = EmbeddingCache(tmp_path / "emb")
    key = image_digest(np.asarray(Image.open(tmp_path / "a.png").convert("RGB")))
    cache.path("t", key).parent.mkdir(parents=True)
    cache.path("t", key).write_bytes(b"")
    assert precompute(project, sam, cache=cache) == {"embedded": 1, "cached": 0, "failed": 0}


def test_a_failed_cache_write_still_answers_the_click(sam: TorchSam, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A full disk failed the whole segment call after the encoder ran, and left a
    *.tmp.npz behind."""
    def full_disk(self: Embedding, path: Any) -> None:
        Path(path).write_bytes(b"PK\x03\x04partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Embedding, "to_npz", full_disk)
    seg = CachedSegmenter(sam, EmbeddingCache(tmp_path))
    img = _img()
    with caplog.at_level(logging.WARNING, logger="labelnb"):
        masks, scores = seg(img, np.array([[10.0, 10.0]]), np.array([1]), None)
    assert masks.shape == (3, 40, 50) and scores.shape == (3,)
    assert "No space left on device" in caplog.text
    assert [q for q in tmp_path.rglob("*") if q.is_file()] == []  # no partial file
    seg(img, np.array([[10.0, 10.0], [30.0, 20.0]]), np.array([1, 0]), None)
    assert sam.encoder_calls == 1  # kept in memory


def test_the_cache_file_is_on_disk_before_it_is_renamed(sam: TorchSam, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(a: Any, b: Any) -> None:
        events.append("replace")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    cache = EmbeddingCache(tmp_path)
    cache.put("t", "k", sam.embed(_img()))
    assert events[:2] == ["fsync", "replace"]
    assert Embedding.from_npz(cache.path("t", "k")).model_id == "t"


# -- prompts ---------------------------------------------------------------------------

BAD_PROMPTS = [
    ("click outside", np.array([[60.0, 60.0]]), np.array([1]), None,
     r"point 0 \(60, 60\) lies outside the 50x40 image; give clicks in image pixels"),
    ("click far outside", np.array([[-500.0, 9000.0]]), np.array([1]), None,
     r"point 0 \(-500, 9000\) lies outside the 50x40 image"),
    ("NaN click", np.array([[np.nan, 5.0]]), np.array([1]), None,
     r"point 0 \(nan, 5\) is not a finite number"),
    ("2 points, 1 label", np.array([[5.0, 5.0], [6.0, 6.0]]), np.array([1]), None,
     r"2 points but 1 labels; give one label \(1 or 0\) per point"),
    ("label 2", np.array([[5.0, 5.0]]), np.array([2]), None,
     r"label 0 is 2; give 1 for a positive click"),
    ("points of shape (2,)", np.array([5.0, 5.0]), np.array([1]), None,
     r"points has shape \(2,\); give an \(N, 2\) array"),
    ("box of 3 numbers", None, None, np.array([1.0, 2.0, 3.0]),
     r"box must be \[x0, y0, x1, y1\]"),
    ("NaN box", None, None, np.array([np.nan, 1.0, 3.0, 4.0]),
     r"box must be \[x0, y0, x1, y1\]"),
]


@pytest.mark.parametrize(("name", "points", "labels", "box", "msg"), BAD_PROMPTS,
                         ids=[c[0] for c in BAD_PROMPTS])
def test_sam_checks_prompts_as_the_wand_does(sam: TorchSam, tmp_path: Path, name: str,
                                             points: Any, labels: Any, box: Any,
                                             msg: str) -> None:
    """TorchSam decoded clicks outside the image, a NaN box and SAM's box-corner label
    2 into noise, and failed with IndexError on mismatched points and labels."""
    img = _img()
    emb = sam.embed(img)
    with pytest.raises(ValidationError, match="TorchSam: " + msg):
        sam.predict(emb, points, labels, box)
    cached = CachedSegmenter(sam, EmbeddingCache(tmp_path))
    before = sam.encoder_calls
    with pytest.raises(ValidationError, match="CachedSegmenter: " + msg):
        cached(img, points, labels, box)
    assert sam.encoder_calls == before  # refused before the encoder ran
    with pytest.raises(ValidationError, match="ClassicalWand: " + msg):
        ClassicalWand()(img, points, labels, box)
    with pytest.raises(ValidationError, match="segment_fn: " + msg):
        check_prompts(points, labels, box, height=40, width=50)


def test_good_prompts_still_decode(sam: TorchSam) -> None:
    emb = sam.embed(_img())
    edge, _, _ = sam.predict(emb, [[50.0, 40.0], [0.0, 0.0]], [1, 0])  # on the border: in
    assert edge.shape == (3, 40, 50)
    over, _, _ = sam.predict(emb, None, None, box=np.array([-5.0, -5.0, 20.0, 20.0]))
    assert over.shape == (3, 40, 50)  # a box over the border is fine
    out, scores, low = sam.predict(emb, None, None, box=np.array([100, 100, 200, 200]))
    assert out.shape == (0, 40, 50) and scores.shape == (0,) and low.shape == (0, 256, 256)
    with pytest.raises(ValidationError, match=r"mask_input has shape \(64, 64\)"):
        sam.predict(emb, [[5.0, 5.0]], [1], mask_input=np.zeros((64, 64)))


# -- ModalSam: the container's weights must be the decoder's ---------------------------


@pytest.fixture
def sam_app(monkeypatch: pytest.MonkeyPatch) -> Any:
    """gpu_jobs/sam_embed.py, with modal.Cls.from_name answering its SamEmbedder run
    through ``.local()`` (no account); ``app.calls`` records the parameters it got."""
    modal = pytest.importorskip("modal")  # the [modal] extra
    sys.path.insert(0, str(GPU_JOBS))
    try:
        import sam_embed as app
    finally:
        sys.path.remove(str(GPU_JOBS))
    calls: list[dict[str, Any]] = []

    def from_name(app_name: str, cls_name: str) -> Any:
        assert (app_name, cls_name) == ("labelnb-sam", "SamEmbedder")

        def make(**params: Any) -> Any:
            calls.append(params)
            inst = app.SamEmbedder(**params)

            def remote(images: list[bytes]) -> Any:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "no access to the Volume"
                    return inst.embed.local(images)

            return types.SimpleNamespace(embed=types.SimpleNamespace(remote=remote))

        return make

    monkeypatch.setattr(modal.Cls, "from_name", from_name)
    app.calls = calls
    return app


def test_modal_sam_refuses_embeddings_of_other_weights(sam_app: Any) -> None:
    """The container embedded with its own weights (tiny seed 0 here) and ModalSam
    stamped them with the local model's id (seed 5): noise masks, silently."""
    img = _img()
    wrong = ModalSam("tiny", model=tiny_sam(seed=5), model_id="tiny-sam:5")
    with pytest.raises(ValidationError, match=r"encoded the image with model 'tiny-sam:0'.*"
                                              r"not with the weights of this decoder "
                                              r"\('tiny-sam:5'\).*remote_checkpoint="):
        wrong.embed(img)
    assert wrong.encoder_calls == 0
    right = ModalSam("tiny", model=tiny_sam(seed=0), model_id="tiny-sam:0")
    emb = right.embed(img)
    local = TorchSam(model=tiny_sam(seed=0), model_id="tiny-sam:0", device="cpu").embed(img)
    assert emb.model_id == "tiny-sam:0" and np.array_equal(emb.features, local.features)
    assert sam_app.calls[-1] == {"model_type": "tiny", "checkpoint": "", "sha256": ""}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Any:
    from labelnb.jobs import bodies
    from labelnb.segment import sam as sam_mod

    def build(checkpoint: str | None = None) -> Any:
        seed = int(hashlib.sha256(Path(str(checkpoint)).read_bytes()).hexdigest()[:6], 16)
        return sam_mod.tiny_sam(seed=seed)

    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_b", build)
    monkeypatch.setattr(bodies, "_MODELS", {})
    return sam_mod


def test_modal_sam_sends_its_checkpoint_and_digest(sam_app: Any, registry: Any,
                                                   tmp_path: Path) -> None:
    """SamEmbedder got only model_type and loaded /weights/sam_<type>.pth, whatever it
    held; now it gets the checkpoint and its sha256 and checks its copy."""
    a, b = tmp_path / "sam_ft.pth", tmp_path / "sam_base.pth"
    a.write_bytes(b"fine-tuned")
    b.write_bytes(b"base")
    sha = hashlib.sha256(b"fine-tuned").hexdigest()
    img = _img()
    ms = ModalSam("vit_b", a, remote_checkpoint=str(a))  # the container sees the same file
    assert ms.model_id == f"vit_b:{sha[:16]}"  # its digest, computed here
    emb = ms.embed(img)
    assert sam_app.calls[-1] == {"model_type": "vit_b", "checkpoint": str(a), "sha256": sha}
    local = TorchSam("vit_b", a, sha256=sha, device="cpu")
    assert emb.model_id == local.model_id
    assert np.array_equal(emb.features, local.embed(img).features)
    # the container holding other weights under that name: its check refuses them
    other = ModalSam("vit_b", a, remote_checkpoint=str(b))
    with pytest.raises(LabelnbError, match=r"sha256 is .*expected " + sha):
        other.embed(img)
    # the default remote path when the checkpoint is a local file
    assert ModalSam("vit_b", a).remote_checkpoint == ""
    url = a.as_uri()
    assert ModalSam("vit_b", url, cache_dir=tmp_path / "dl").remote_checkpoint == url
