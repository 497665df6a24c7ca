"""The embedding cache: each image is encoded once per model, every click reuses it.

Embeddings are stored per model and image as float16 ``.npz`` files (about 2 MB for
SAM's 256×64×64) under a directory, with an in-memory LRU in front. An image is
keyed by a digest of its pixels, so the same picture is found whether it came from
the bulk precompute, the widget or a notebook cell; a different model (another
``model_id``, e.g. new weights) misses.

:class:`CachedSegmenter` wraps a segmenter into the widget's ``segment_fn`` hook: it
embeds through the cache and, when the new clicks extend the previous ones on the
same image, feeds the previous best low-resolution mask back to SAM (refinement).

>>> from labelnb.segment.sam import TorchSam, tiny_sam
>>> import tempfile
>>> sam = TorchSam(model=tiny_sam(), model_id="tiny")
>>> seg = CachedSegmenter(sam, EmbeddingCache(tempfile.mkdtemp()))
>>> img = np.zeros((40, 50, 3), np.uint8)
>>> _ = seg(img, np.array([[10.0, 10.0]]), np.array([1]), None)
>>> _ = seg(img, np.array([[10.0, 10.0], [30.0, 20.0]]), np.array([1, 0]), None)
>>> sam.encoder_calls   # the second click reused the embedding
1
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelnb.segment.protocol import check_prompts
from labelnb.segment.sam import Embedding, Segmenter, as_rgb_array

if TYPE_CHECKING:
    from labelnb.project import Project

log = logging.getLogger("labelnb")


def image_digest(arr: np.ndarray) -> str:
    """A digest of an image's pixels and shape (the cache key of an image)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(arr.shape).encode())
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk where the OS allows it (POSIX)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:  # some file systems refuse it; the file itself was flushed
        log.debug("labelnb: could not fsync the folder %s (%s)", folder, e)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120] or "model"


class EmbeddingCache:
    """Embeddings on disk under ``root/<model_id>/<digest>.npz`` plus an LRU of
    ``memory_items`` in memory. Thread-safe."""

    def __init__(self, root: str | os.PathLike[str], memory_items: int = 16) -> None:
        self.root = Path(root)
        self.memory_items = int(memory_items)
        self._lru: OrderedDict[tuple[str, str], Embedding] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def path(self, model_id: str, key: str) -> Path:
        return self.root / _safe(model_id) / f"{_safe(key)}.npz"

    def get(self, model_id: str, key: str) -> Embedding | None:
        with self._lock:
            emb = self._lru.get((model_id, key))
            if emb is not None:
                self._lru.move_to_end((model_id, key))
                self.hits += 1
                return emb
        p = self.path(model_id, key)
        if p.is_file():
            try:
                emb = Embedding.from_npz(p)
            except Exception as e:  # noqa: BLE001 - empty, torn, foreign: any of them a miss
                # (a zero-length file raises EOFError, a truncated one BadZipFile, ...);
                # deleted, or every click on this image would fail on it again
                log.warning("labelnb: cached embedding %s is unreadable (%s: %s); deleting it, "
                            "the image will be embedded again", p, type(e).__name__, e)
                try:
                    p.unlink(missing_ok=True)
                except OSError as e2:
                    log.warning("labelnb: could not delete %s (%s)", p, e2)
                emb = None
            if emb is not None and emb.model_id == model_id:
                self._remember(model_id, key, emb)
                with self._lock:
                    self.hits += 1
                return emb
        with self._lock:
            self.misses += 1
        return None

    def put(self, model_id: str, key: str, emb: Embedding) -> None:
        """Store ``emb`` in memory and on disk. A failed write (disk full, read-only
        folder) is logged and leaves no file behind; the embedding stays usable from
        memory, so the click that computed it still gets its masks."""
        p = self.path(model_id, key)
        tmp = p.with_name(p.name + f".{os.getpid()}.{threading.get_ident()}.tmp.npz")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            emb.to_npz(tmp)
            with open(tmp, "rb+") as f:  # on disk before the rename: a crash leaves the
                os.fsync(f.fileno())    # old file or the whole new one, never an empty one
            os.replace(tmp, p)  # readers never see half a file
        except OSError as e:
            log.warning("labelnb: could not write the cached embedding %s (%s); it is kept in "
                        "memory only (free disk space or make %s writable)", p, e, self.root)
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                log.warning("labelnb: could not remove the partial file %s", tmp)
        else:
            _fsync_dir(p.parent)
        self._remember(model_id, key, emb)

    def _remember(self, model_id: str, key: str, emb: Embedding) -> None:
        with self._lock:
            self._lru[(model_id, key)] = emb
            self._lru.move_to_end((model_id, key))
            while len(self._lru) > self.memory_items:
                self._lru.popitem(last=False)

    def embed(self, segmenter: Segmenter, image: Any) -> tuple[Embedding, np.ndarray, str]:
        """The embedding of ``image`` (computed and stored on a miss), the image as an
        RGB array, and its digest."""
        arr = as_rgb_array(image)
        key = image_digest(arr)
        emb = self.get(segmenter.model_id, key)
        if emb is None:
            emb = segmenter.embed(arr)
            self.put(segmenter.model_id, key, emb)
        return emb, arr, key


def project_cache(project: Project) -> EmbeddingCache:
    """The embedding cache of a project: beside a SQLite file
    (``<db>.labelnb-cache/<project>/embeddings``), else under
    ``~/.cache/labelnb/<database>/<project>/embeddings``."""
    url = project.store.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        root = db.with_name(db.name + ".labelnb-cache")
    else:
        root = Path.home() / ".cache" / "labelnb" / _safe(f"{url.host}_{url.database}")
    return EmbeddingCache(root / _safe(project.name) / "embeddings")


def precompute(project: Project, segmenter: Segmenter, item_ids: Iterable[int] | None = None,
               *, cache: EmbeddingCache | None = None, progress: bool | None = None
               ) -> dict[str, int]:
    """Embed every image item of ``project`` (or ``item_ids``) that the cache lacks,
    with a progress bar; returns counts ``{"embedded", "cached", "failed"}``. An
    image that cannot be read is logged and counted, not fatal."""
    from tqdm.auto import tqdm

    cache = cache or project_cache(project)
    if item_ids is None:
        items = project.items()
        item_ids = [int(i) for i, m in zip(items["id"], items["media"], strict=True)
                    if m == "image"]
    ids = list(item_ids)
    counts = {"embedded": 0, "cached": 0, "failed": 0}
    for item_id in tqdm(ids, desc="SAM embeddings", unit="image",
                        disable=(not progress) if progress is not None else len(ids) < 20):
        try:
            arr = as_rgb_array(project.load_image(item_id))
        except Exception as e:  # noqa: BLE001 - one bad file must not stop the batch
            log.warning("labelnb: item %s: could not read the image (%s)", item_id, e)
            counts["failed"] += 1
            continue
        key = image_digest(arr)
        if cache.get(segmenter.model_id, key) is not None:
            counts["cached"] += 1
            continue
        cache.put(segmenter.model_id, key, segmenter.embed(arr))
        counts["embedded"] += 1
    return counts


class CachedSegmenter:
    """A SAM segmenter as the wand's ``segment_fn``, embedding through a cache (any
    other segmenter, such as the classical wand that :func:`~labelnb.segment.sam.auto`
    may return, is called as it is).

    Clicks that extend the previous clicks on the same image are refined: the previous
    best low-resolution mask goes back to SAM as its mask prompt. ``last_timing_ms``
    holds the embed and decode times of the last call (the widget's debug overlay
    shows them).
    """

    def __init__(self, segmenter: Segmenter, cache: EmbeddingCache | None = None,
                 multimask: bool = True) -> None:
        import tempfile

        self.segmenter = segmenter
        self.cache = cache or EmbeddingCache(tempfile.mkdtemp(prefix="labelnb-emb-"))
        self.multimask = multimask
        self._last: tuple[str, list[tuple[float, float, int]], np.ndarray] | None = None
        self.last_timing_ms: dict[str, float] = {}

    @property
    def model_id(self) -> str:
        return str(getattr(self.segmenter, "model_id", type(self.segmenter).__name__))

    def __call__(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray,
                 box: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import time

        t0 = time.perf_counter()
        if not (hasattr(self.segmenter, "embed") and hasattr(self.segmenter, "predict")):
            # no embedding to cache (the classical wand, which auto() falls back to, or
            # any plain segment_fn): called as it is
            fn: Any = self.segmenter  # a plain segment_fn, not a Segmenter
            masks, scores = fn(image, points, labels, box)
            self.last_timing_ms = {"embed": 0.0,
                                   "decode": (time.perf_counter() - t0) * 1000}
            return masks, scores
        arr = as_rgb_array(image)
        # checked before the encoder runs: a bad click costs no embedding
        pts, lab, bx = check_prompts(points, labels, box, height=arr.shape[0],
                                     width=arr.shape[1], where="CachedSegmenter")
        emb, _arr, key = self.cache.embed(self.segmenter, arr)
        t1 = time.perf_counter()
        clicks = [(float(x), float(y), int(v)) for (x, y), v in zip(pts, lab, strict=True)]
        prev = None
        last = self._last
        if (last is not None and last[0] == key and bx is None
                and len(clicks) > len(last[1]) and clicks[:len(last[1])] == last[1]):
            prev = last[2]
        masks, scores, low = self.segmenter.predict(emb, pts if clicks else None,
                                                    lab if clicks else None, bx,
                                                    multimask=self.multimask and prev is None,
                                                    mask_input=prev)
        t2 = time.perf_counter()
        self._last = (key, clicks, low[0]) if len(low) else None
        self.last_timing_ms = {"embed": (t1 - t0) * 1000, "decode": (t2 - t1) * 1000}
        return masks, np.clip(scores, 0.0, 1.0)
