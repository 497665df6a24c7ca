"""One naming rule for SAM weights in the widget (TorchSam) and the ``sam_embed`` job
(``model_id_for``): checkpoints on another machine or behind URLs that end in the same
file name were one model to the embedding cache, and a URL was named differently by
the job and by the widget (precomputed embeddings never found)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import labelnb
from labelnb.errors import ValidationError
from labelnb.jobs import bodies, embed_items

segment_anything = pytest.importorskip("segment_anything")  # the [sam] extra


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """vit_b builds a tiny SAM whose weights depend on the checkpoint's bytes (no
    download, no real weights); downloads go to a fresh home."""
    from labelnb.segment import sam as sam_mod

    def build(checkpoint: str | None = None) -> Any:
        seed = int(hashlib.sha256(Path(str(checkpoint)).read_bytes()).hexdigest()[:6], 16)
        return sam_mod.tiny_sam(seed=seed)

    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_b", build)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(bodies, "_MODELS", {})
    return sam_mod


def _project(tmp_path: Path) -> Any:
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(tmp_path / "a.png")
    p = labelnb.Project.create(tmp_path / "m.db", "m", labelnb.Schema("masks", ["o"]))
    p.add_items([str(tmp_path / "a.png")])
    return p


def test_checkpoints_elsewhere_need_a_digest_or_a_model_id(tmp_path: Path) -> None:
    base = {"model_type": "vit_b", "checkpoint": "/weights/base/sam_vit_b.pth"}
    ft = {"model_type": "vit_b", "checkpoint": "/weights/finetuned/sam_vit_b.pth"}
    for cfg in (base, ft):  # were both 'vit_b:sam_vit_b.pth'
        with pytest.raises(ValidationError, match=r"field 'checkpoint' is '/weights/.*not a "
                                                  r"file on this machine.*give field 'sha256'"):
            bodies.model_id_for(cfg)
    a, b = hashlib.sha256(b"base").hexdigest(), hashlib.sha256(b"ft").hexdigest()
    ids = {bodies.model_id_for({**base, "sha256": a}), bodies.model_id_for({**ft, "sha256": b})}
    assert ids == {f"vit_b:{a[:16]}", f"vit_b:{b[:16]}"}
    assert bodies.model_id_for({**ft, "model_id": "sam-ft-v2"}) == "sam-ft-v2"
    # URLs ending in the same file name are two models
    urls = [bodies.model_id_for({"model_type": "vit_b",
                                 "checkpoint": f"https://a.example/{v}/sam.pth"})
            for v in ("v1", "v2")]
    assert len(set(urls)) == 2 and all(u.startswith("vit_b:sam-") for u in urls)


def test_fine_tuned_weights_are_not_served_the_base_models_embeddings(tmp_path: Path) -> None:
    """r14: the base model's embeddings were counted as cached for the fine-tuned one,
    so nothing was sent to Modal and the widget decoded base features."""
    from labelnb.segment.cache import EmbeddingCache, image_digest
    from labelnb.segment.sam import Embedding, as_rgb_array

    p = _project(tmp_path)
    cache = EmbeddingCache(tmp_path / "emb")
    base = {"model_type": "vit_b", "checkpoint": "/weights/base/sam_vit_b.pth",
            "sha256": hashlib.sha256(b"base").hexdigest()}
    mid = bodies.model_id_for(base)
    cache.put(mid, image_digest(as_rgb_array(p.load_image(1))),
              Embedding(np.zeros((1, 256, 64, 64), np.float16), (20, 30), (683, 1024), mid))
    ft = {"model_type": "vit_b", "checkpoint": "/weights/finetuned/sam_vit_b.pth"}
    with pytest.raises(ValidationError, match="field 'sha256'"):  # before any job is sent
        embed_items(p, ft, backend="modal", cache=cache)
    assert embed_items(p, base, backend="modal", cache=cache) == {"embedded": 0, "cached": 1}


def test_a_url_checkpoint_is_named_alike_by_the_job_and_the_widget(registry: Any,
                                                                    tmp_path: Path) -> None:
    """r13: the job named a URL by its file name, TorchSam by the downloaded file's
    path and time: the widget never found the precomputed embeddings."""
    from labelnb.segment.cache import CachedSegmenter, project_cache

    sam_mod = registry
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "sam_ft.pth").write_bytes(b"weights")
    url = (tmp_path / "w" / "sam_ft.pth").as_uri()
    p = _project(tmp_path)
    assert embed_items(p, {"model_type": "vit_b", "checkpoint": url}) == {"embedded": 1,
                                                                          "cached": 0}
    sam = sam_mod.TorchSam("vit_b", url, device="cpu")
    assert sam.model_id == bodies.model_id_for({"model_type": "vit_b", "checkpoint": url})
    seg = CachedSegmenter(sam, project_cache(p))
    masks, _ = seg(np.asarray(p.load_image(1).convert("RGB")), np.array([[5.0, 5.0]]),
                   np.array([1]), None)
    assert masks.shape[1:] == (20, 30)
    assert sam.encoder_calls == 0  # the precomputed embedding was found
    assert len(list(project_cache(p).root.iterdir())) == 1  # one model folder, not two
