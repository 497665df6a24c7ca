"""SAM end to end with a tiny randomly initialised model: embed, cache, predict from
points and a box, convert to RLE and polygon."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

pytest.importorskip("segment_anything")  # the [sam] extra

import labelnb  # noqa: E402
from labelnb.errors import LabelnbError, ValidationError  # noqa: E402
from labelnb.segment.cache import (  # noqa: E402
    CachedSegmenter,
    EmbeddingCache,
    image_digest,
    precompute,
    project_cache,
)
from labelnb.segment.convert import mask_to_polygon, masks_to_regions  # noqa: E402
from labelnb.segment.sam import Embedding, TorchSam, auto, fetch_checkpoint, tiny_sam  # noqa: E402
from labelnb.types import Mask, Polygon  # noqa: E402


@pytest.fixture(scope="module")
def sam() -> TorchSam:
    return TorchSam(model=tiny_sam(seed=0), model_id="tiny-test", device="cpu")


def _img(h: int = 120, w: int = 160) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1).astype(np.uint8)


def test_embed_then_predict_from_points_and_box(sam: TorchSam) -> None:
    img = _img()
    emb = sam.embed(img)
    assert emb.features.shape == (1, 256, 64, 64) and emb.features.dtype == np.float16
    assert emb.original_size == (120, 160)
    assert emb.input_size == (768, 1024)  # the longer side scaled to 1024
    masks, scores, low = sam.predict(emb, np.array([[40.0, 30.0], [100.0, 90.0]]),
                                     np.array([1, 0]))
    assert masks.shape == (3, 120, 160) and masks.dtype == bool
    assert scores.shape == (3,) and np.all(np.diff(scores) <= 0)  # best first
    assert low.shape == (3, 256, 256)
    one, s1, _ = sam.predict(emb, None, None, box=np.array([10, 10, 90, 70]), multimask=False)
    assert one.shape == (1, 120, 160) and s1.shape == (1,)
    # a mask decoded from the same embedding is deterministic
    again, _, _ = sam.predict(emb, None, None, box=np.array([10, 10, 90, 70]), multimask=False)
    assert np.array_equal(one, again)


def test_the_output_converts_to_rle_and_polygon(sam: TorchSam) -> None:
    img = _img()
    masks, _, _ = sam.predict(sam.embed(img), None, None, box=np.array([10, 10, 90, 70]),
                              multimask=False)
    m = masks[0]
    if not m.any():  # random weights may give an empty mask; make the conversion meaningful
        m = np.zeros_like(m)
        m[20:60, 30:90] = True
    (rle,) = masks_to_regions(m[None], np.array([0.7]), "coin")
    assert isinstance(rle, Mask) and rle.score == 0.7
    assert np.array_equal(rle.to_array(), m)  # RLE in original pixels, lossless
    (poly,) = masks_to_regions(m[None], np.array([1.3]), "coin", polygon=True, tolerance=0)
    assert isinstance(poly, Polygon) and poly.score == 1.0
    filled = mask_to_array(poly, 120, 160)
    assert np.array_equal(filled, ndimage.binary_fill_holes(_largest(m)))


def _largest(m: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(m)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, np.arange(1, n + 1))
    return np.asarray(labels == int(np.argmax(sizes)) + 1)


def mask_to_array(poly: Polygon, h: int, w: int) -> np.ndarray:
    """Rasterise a polygon whose vertices are pixel corners (pixel centres inside)."""
    from matplotlib.path import Path as MplPath

    pts = np.asarray(poly.points).reshape(-1, 2)
    yy, xx = np.mgrid[0:h, 0:w]
    centres = np.column_stack([xx.ravel() + 0.5, yy.ravel() + 0.5])
    return np.asarray(MplPath(pts).contains_points(centres).reshape(h, w))


@pytest.mark.parametrize("seed", range(5))
def test_traced_outline_covers_exactly_the_filled_part(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = ndimage.binary_opening(rng.random((40, 50)) > 0.45)
    poly = mask_to_polygon(m, "x")
    assert np.array_equal(mask_to_array(poly, 40, 50), ndimage.binary_fill_holes(_largest(m)))
    simple = mask_to_polygon(m, "x", tolerance=1.5)
    assert 3 <= len(simple.points) // 2 < len(poly.points) // 2


def test_predict_needs_a_prompt_and_the_same_model(sam: TorchSam) -> None:
    emb = sam.embed(_img())
    with pytest.raises(ValidationError, match="at least one click or a box"):
        sam.predict(emb, None, None)
    other = Embedding(emb.features, emb.original_size, emb.input_size, "vit_h:abc")
    with pytest.raises(ValidationError, match="embed the image again"):
        sam.predict(other, np.array([[1.0, 1.0]]), np.array([1]))


def test_cache_hit_costs_no_encoder_call_and_a_new_model_misses(sam: TorchSam,
                                                                tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, memory_items=1)
    seg = CachedSegmenter(sam, cache)
    img, img2 = _img(), _img(100, 100)
    calls = sam.encoder_calls
    seg(img, np.array([[10.0, 10.0]]), np.array([1]), None)
    assert sam.encoder_calls == calls + 1
    seg(img, np.array([[10.0, 10.0], [50.0, 40.0]]), np.array([1, 0]), None)  # refine
    assert sam.encoder_calls == calls + 1 and cache.hits == 1
    seg(img2, np.array([[10.0, 10.0]]), np.array([1]), None)  # evicts img from memory
    seg(img, np.array([[12.0, 10.0]]), np.array([1]), None)  # found on disk
    assert sam.encoder_calls == calls + 2
    assert cache.path("tiny-test", image_digest(img)).is_file()
    assert set(seg.last_timing_ms) == {"embed", "decode"}
    # another model version must not reuse these embeddings
    other = TorchSam(model=sam.model, model_id="tiny-test-v2", device="cpu")
    assert cache.get("tiny-test-v2", image_digest(img)) is None
    CachedSegmenter(other, cache)(img, np.array([[10.0, 10.0]]), np.array([1]), None)
    assert other.encoder_calls == 1
    # a stored embedding round-trips in float16
    e = cache.get("tiny-test", image_digest(img))
    assert e is not None and e.features.dtype == np.float16


def test_refinement_feeds_the_previous_low_res_mask_back(sam: TorchSam,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    orig = sam.predict

    def spy(emb, points, labels, box=None, multimask=True, mask_input=None):  # type: ignore[no-untyped-def]
        seen.append(mask_input)
        return orig(emb, points, labels, box, multimask, mask_input)

    monkeypatch.setattr(sam, "predict", spy)
    seg = CachedSegmenter(sam)
    img = _img()
    seg(img, np.array([[40.0, 30.0]]), np.array([1]), None)
    seg(img, np.array([[40.0, 30.0], [90.0, 60.0]]), np.array([1, 0]), None)  # extends
    seg(img, np.array([[5.0, 5.0]]), np.array([1]), None)  # a new start
    assert seen[0] is None and seen[2] is None
    assert isinstance(seen[1], np.ndarray) and seen[1].shape == (256, 256)


def test_precompute_fills_the_project_cache_with_a_progress_bar(sam: TorchSam,
                                                                tmp_path: Path) -> None:
    from PIL import Image

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(_img(60 + 10 * i, 80)).save(paths[-1])
    (tmp_path / "broken.png").write_bytes(b"not an image")
    p = labelnb.Project.create(tmp_path / "s.db", "seg", labelnb.Schema("masks", ["coin"]))
    ids = p.add_items([str(x) for x in paths])
    cache = project_cache(p)
    assert str(cache.root).startswith(str(tmp_path))
    calls = sam.encoder_calls
    assert precompute(p, sam, progress=False) == {"embedded": 3, "cached": 0, "failed": 0}
    assert sam.encoder_calls == calls + 3
    assert precompute(p, sam, ids, progress=False) == {"embedded": 0, "cached": 3, "failed": 0}
    # the widget's call on the same image finds the precomputed embedding
    seg = CachedSegmenter(sam, project_cache(p))
    seg(np.asarray(p.load_image(ids[0]).convert("RGB")), np.array([[5.0, 5.0]]), np.array([1]),
        None)
    assert sam.encoder_calls == calls + 3


def test_checkpoint_paths_urls_and_sha256(tmp_path: Path) -> None:
    import hashlib

    f = tmp_path / "w.pth"
    f.write_bytes(b"weights")
    good = hashlib.sha256(b"weights").hexdigest()
    assert fetch_checkpoint(f, good) == f
    with pytest.raises(LabelnbError, match="sha256 is"):
        fetch_checkpoint(f, "0" * 64)
    with pytest.raises(LabelnbError, match="does not exist"):
        fetch_checkpoint(tmp_path / "missing.pth")
    # a URL is downloaded once into the cache dir
    url = f.as_uri()
    got = fetch_checkpoint(url, good, cache_dir=tmp_path / "cache")
    assert got.read_bytes() == b"weights" and got.parent.parent == tmp_path / "cache"
    f.write_bytes(b"changed")  # a second call does not download again
    assert fetch_checkpoint(url, good, cache_dir=tmp_path / "cache").read_bytes() == b"weights"
    # another URL ending in the same file name is another download, not the same file
    other = tmp_path / "v2"
    other.mkdir()
    (other / "w.pth").write_bytes(b"weights v2")
    got2 = fetch_checkpoint((other / "w.pth").as_uri(), cache_dir=tmp_path / "cache")
    assert got2.read_bytes() == b"weights v2" and got2 != got
    with pytest.raises(ValidationError, match="registry"):
        TorchSam("vit_x", f)
    with pytest.raises(ValidationError, match="has no published weights"):  # was a KeyError
        TorchSam("default", "default")  # a registry key without a published checkpoint


def test_auto_falls_back_to_the_classical_wand_with_a_log_line(caplog: pytest.LogCaptureFixture
                                                               ) -> None:
    from labelnb.segment.wand import ClassicalWand

    with caplog.at_level(logging.INFO, logger="labelnb"):
        seg = auto(None)
    assert isinstance(seg, ClassicalWand)
    assert "classical wand (no SAM checkpoint given)" in caplog.text
    # a checkpoint asked for by name and not used: a warning a notebook shows
    with pytest.warns(UserWarning, match="'x.pth' not used: no GPU here and Modal is not "
                      "configured") as w:
        wand = auto("x.pth", use_modal=False)
    assert isinstance(wand, ClassicalWand) and "device='cpu'" in str(w[0].message)
    # and what auto() returned works behind the cache's segmenter, which passes it through
    seg = CachedSegmenter(wand)
    img = np.zeros((40, 50, 3), np.uint8)
    img[10:30, 15:35] = 200
    masks, scores = seg(img, np.array([[25.0, 20.0]]), np.array([1]), None)
    assert masks.shape[1:] == (40, 50) and masks[0][20, 25] and not masks[0][2, 2]
    assert seg.model_id == "ClassicalWand" and seg.last_timing_ms["embed"] == 0.0


def test_images_of_more_than_8_bits_are_scaled_not_clipped_or_wrapped() -> None:
    """16-bit microscopy or medical images and float images become 8-bit by their own
    range: clipping made a 16-bit image white (the wand then took all of it), a cast
    wrapped it around, and floats above 1 became 0."""
    from PIL import Image

    from labelnb.errors import ValidationError
    from labelnb.segment.protocol import check_segment_output
    from labelnb.segment.sam import as_rgb_array
    from labelnb.widgets._media import as_pil

    a = np.full((6, 8), 1000, np.uint16)
    a[1:4, 2:6] = 3000
    for img in (a, Image.fromarray(a)):
        got = np.asarray(as_pil(img).convert("L"))
        assert set(np.unique(got).tolist()) == {0, 255}
        assert (got == 255).sum() == 12
    assert as_rgb_array(np.array([[[300, 600, 1000]]], np.uint16)).tolist() == [[[0, 109, 255]]]
    assert as_rgb_array(np.full((1, 1, 3), 0.8)).tolist() == [[[204, 204, 204]]]
    with pytest.raises(ValidationError, match="the 4 bytes given cannot be read as an image"):
        as_pil(b"junk")
    with pytest.raises(ValidationError, match="return boolean masks"):
        check_segment_output(np.full((1, 4, 4), 0.98), [0.9], height=4, width=4)
    m, _ = check_segment_output(np.ones((1, 4, 4), np.uint8), [0.9], height=4, width=4)
    assert m.dtype == np.bool_ and m.all()
