"""Regressions in labelnb.segment: SAM model ids of checkpoint files (different weights
shared cached embeddings) and auto-fit of a box outside the image."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelnb.segment.autofit import autofit_box
from labelnb.types import Box

# -- auto-fit of a box outside the image ---------------------------------------------


def _coin() -> np.ndarray:
    img = np.zeros((100, 120), np.uint8)
    img[30:60, 40:90] = 200
    return img


@pytest.mark.parametrize("box", [
    Box(-50, -50, -10, -10, "c"),   # above-left: negative crop ends wrapped to the object
    Box(-40, 20, -8, 70, "c"),      # just left: was "the region is flat"
    Box(-12, 20, -2, 70, "c"),      # left, its margin reaching into the image
    Box(130, 10, 160, 40, "c"),     # right
    Box(40, 100, 90, 140, "c"),     # below
])
def test_a_box_outside_the_image_comes_back_unchanged(box: Box) -> None:
    fitted, note = autofit_box(_coin(), box)
    assert fitted == box
    assert note == "the box lies outside the image"


def test_a_box_over_the_image_border_still_fits() -> None:
    fitted, note = autofit_box(_coin(), Box(-5, 24, 97, 66, "c"))
    assert (fitted.x0, fitted.y0, fitted.x1, fitted.y1, note) == (40.0, 30.0, 90.0, 60.0, "")


# -- SAM model ids of checkpoint files -----------------------------------------------


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Any:
    """vit_b builds a tiny SAM whose weights depend on the checkpoint's bytes (no
    download, no real weights)."""
    segment_anything = pytest.importorskip("segment_anything")
    pytest.importorskip("torch")
    from labelnb.segment import sam as sam_mod

    def build(checkpoint: str | None = None) -> Any:
        seed = int(hashlib.sha256(Path(str(checkpoint)).read_bytes()).hexdigest()[:6], 16)
        return sam_mod.tiny_sam(seed=seed)

    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_b", build)
    return sam_mod


def test_checkpoints_with_similar_names_get_their_own_model_id(registry: Any,
                                                                tmp_path: Path) -> None:
    sam_mod = registry
    a, b = tmp_path / "sam_finetuned_epoch1.pth", tmp_path / "sam_finetuned_epoch2.pth"
    other = tmp_path / "other"
    other.mkdir()
    c = other / "sam_finetuned_epoch1.pth"  # the same name in another folder
    a.write_bytes(b"epoch 1")
    b.write_bytes(b"epoch 2")
    c.write_bytes(b"epoch 9")
    ids = [sam_mod.TorchSam("vit_b", f, device="cpu").model_id for f in (a, b, c)]
    assert len(set(ids)) == 3, ids
    assert all(i.startswith("vit_b:sam_finetuned_epoch") for i in ids)
    # the same file loads as the same model (its cached embeddings are found again)
    assert sam_mod.TorchSam("vit_b", a, device="cpu").model_id == ids[0]
    # a file overwritten with new weights is another model
    a.write_bytes(b"epoch 1, retrained")
    assert sam_mod.TorchSam("vit_b", a, device="cpu").model_id != ids[0]
    st = b.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size, newer file
    assert sam_mod.TorchSam("vit_b", b, device="cpu").model_id != ids[1]
    # a given sha256 names the weights
    good = hashlib.sha256(b.read_bytes()).hexdigest()
    assert sam_mod.TorchSam("vit_b", b, sha256=good, device="cpu").model_id == \
        f"vit_b:{good[:16]}"


def test_cached_embeddings_of_another_checkpoint_are_not_served(registry: Any,
                                                                 tmp_path: Path) -> None:
    from labelnb.segment.cache import EmbeddingCache, image_digest

    sam_mod = registry
    a, b = tmp_path / "sam_finetuned_epoch1.pth", tmp_path / "sam_finetuned_epoch2.pth"
    a.write_bytes(b"epoch 1")
    b.write_bytes(b"epoch 2")
    sa = sam_mod.TorchSam("vit_b", a, device="cpu")
    sb = sam_mod.TorchSam("vit_b", b, device="cpu")
    cache = EmbeddingCache(tmp_path / "emb")
    img = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    ea, _, _ = cache.embed(sa, img)
    eb, _, _ = cache.embed(sb, img)
    assert sb.encoder_calls == 1
    assert not np.allclose(ea.features, eb.features)
    # a cache written under the old, truncated id is simply missed
    old = sam_mod.Embedding(ea.features, ea.original_size, ea.input_size,
                            "vit_b:sam_finetuned_ep")
    cache.put("vit_b:sam_finetuned_ep", image_digest(img), old)
    fresh = sam_mod.TorchSam("vit_b", b, device="cpu")
    got, _, _ = EmbeddingCache(tmp_path / "emb").embed(fresh, img)
    assert fresh.encoder_calls == 0 and got.model_id == sb.model_id  # from disk, its own
    c = tmp_path / "sam_finetuned_epoch3.pth"
    c.write_bytes(b"epoch 3")
    sc = sam_mod.TorchSam("vit_b", c, device="cpu")
    assert cache.embed(sc, img)[0].model_id == sc.model_id and sc.encoder_calls == 1
