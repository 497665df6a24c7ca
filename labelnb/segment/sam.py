"""SAM segmenters: the image embedding computed once, each click answered from it.

``TorchSam`` wraps segment-anything's ``SamPredictor``: :meth:`~TorchSam.embed` runs the
heavy image encoder once per image, :meth:`~TorchSam.predict` runs the light prompt
encoder and mask decoder per click. ``ModalSam`` computes the embedding on a Modal
GPU (the app in ``gpu_jobs/sam_embed.py``) and decodes locally. :func:`auto` picks a
segmenter: a local GPU, else Modal if configured, else the classical wand.

Every segmenter here is also a ``segment_fn(image, points, labels, box) -> (masks,
scores)`` (see :mod:`labelnb.segment.protocol`), so it plugs into the mask widget's
wand. Coordinates are pixels of the original image, ``(x, y)``.

>>> sam = TorchSam(model=tiny_sam(seed=0))          # random weights, tiny encoder
>>> img = np.zeros((48, 64, 3), np.uint8)
>>> emb = sam.embed(img)
>>> emb.original_size, emb.features.dtype
((48, 64), dtype('float16'))
>>> masks, scores, low_res = sam.predict(emb, np.array([[20.0, 10.0]]), np.array([1]))
>>> masks.shape, scores.shape, low_res.shape
((3, 48, 64), (3,), (3, 256, 256))
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from labelnb.errors import LabelnbError, ValidationError
from labelnb.segment.protocol import check_prompts

log = logging.getLogger("labelnb")

#: published checkpoints of the segment-anything registry (URL, sha256)
CHECKPOINTS: dict[str, tuple[str, str]] = {
    "vit_h": ("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
              "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e"),
    "vit_l": ("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
              "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"),
    "vit_b": ("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
              "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"),
}


@dataclass(frozen=True)
class Embedding:
    """An image's SAM embedding and the sizes needed to decode from it.

    ``features`` is ``(1, 256, 64, 64)`` float16 (stored half size; decoded in float32),
    ``original_size`` the image's ``(h, w)``, ``input_size`` its resized ``(h, w)``
    inside the encoder's 1024×1024 input, ``model_id`` names the model that made it.
    """

    features: np.ndarray
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    model_id: str

    def to_npz(self, path: str | os.PathLike[str]) -> None:
        np.savez(path, features=self.features.astype(np.float16),
                 original_size=np.array(self.original_size), input_size=np.array(self.input_size),
                 model_id=np.array(self.model_id))

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str]) -> Embedding:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["features"], (int(z["original_size"][0]), int(z["original_size"][1])),
                       (int(z["input_size"][0]), int(z["input_size"][1])), str(z["model_id"]))


@runtime_checkable
class Segmenter(Protocol):
    """``embed(image) -> Embedding`` once per image; ``predict(...)`` per click."""

    model_id: str

    def embed(self, image: Any) -> Embedding: ...

    def predict(self, embedding: Embedding, points: np.ndarray | None, labels: np.ndarray | None,
                box: np.ndarray | None = None, multimask: bool = True,
                mask_input: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ...


def as_rgb_array(image: Any) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 RGB array from an array, a PIL image, a path or bytes."""
    from labelnb.media import to_uint8

    if isinstance(image, np.ndarray):
        arr = to_uint8(image)  # 16-bit or float images: scaled, not wrapped or zeroed
    else:
        from labelnb.media import as_pil

        arr = np.asarray(as_pil(image).convert("RGB"))
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValidationError(f"image: expected (H, W, 3) RGB, got shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3].astype(np.uint8))


def tiny_sam(seed: int = 0, embed_dim: int = 32, depth: int = 2, heads: int = 2) -> Any:
    """A SAM with a tiny randomly initialised image encoder, built with
    segment-anything's own builder: the real prompt encoder, mask decoder and
    pre/post-processing, for tests and demos (its masks are noise)."""
    import torch
    from segment_anything.build_sam import _build_sam

    torch.manual_seed(seed)
    return _build_sam(encoder_embed_dim=embed_dim, encoder_depth=depth, encoder_num_heads=heads,
                      encoder_global_attn_indexes=[depth - 1], checkpoint=None).eval()


def fetch_checkpoint(url_or_path: str | os.PathLike[str], sha256: str | None = None,
                     cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A local checkpoint file: a path as is, or a URL downloaded once into
    ``cache_dir`` (default ``~/.cache/labelnb/sam``), checked against ``sha256``."""
    s = os.fspath(url_or_path)
    if "://" not in s:
        path = Path(s)
        if not path.is_file():
            raise LabelnbError(f"SAM checkpoint {s!r} does not exist; give a path to the .pth "
                               f"file or its URL")
    else:
        root = Path(cache_dir or Path.home() / ".cache" / "labelnb" / "sam")
        name = s.rstrip("/").rsplit("/", 1)[-1]
        # one folder per URL: two URLs ending in the same file name (v1/sam.pth,
        # v2/sam.pth) are two downloads, not one file served for both
        path = root / _url_digest(s) / name
        if sha256 and not path.is_file() and (root / name).is_file():
            path = root / name  # downloaded by an older labelnb; checked by sha256 below
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            log.info("labelnb: downloading SAM checkpoint %s to %s", s, path)
            tmp = path.with_suffix(path.suffix + ".part")
            try:
                with urllib.request.urlopen(s, timeout=60) as r, open(tmp, "wb") as f:
                    while chunk := r.read(1 << 20):
                        f.write(chunk)
            except OSError as e:
                tmp.unlink(missing_ok=True)
                raise LabelnbError(f"SAM checkpoint: could not download {s} ({e}); download it "
                                   f"yourself and pass checkpoint='/path/to/file.pth'") from e
            tmp.rename(path)
    if sha256:
        digest = file_sha256(path)
        if digest != sha256.lower():
            raise LabelnbError(f"SAM checkpoint {path}: sha256 is {digest}, expected "
                               f"{sha256}; the file is corrupt or not the one asked for "
                               f"(delete it to download again)")
    return path


def _url_digest(url: str) -> str:
    return hashlib.blake2b(url.encode(), digest_size=8).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_model_id(model_type: str, path: str | os.PathLike[str],
                        sha256: str | None = None) -> str:
    """The ``model_id`` (embedding-cache key) of SAM weights loaded from ``path`` (a
    local file or a URL): the one naming rule of :class:`TorchSam`, :class:`ModalSam`
    and the ``sam_embed`` job (:func:`labelnb.jobs.bodies.model_id_for`).

    With ``sha256`` (the published weights, or a digest the caller checked) it is
    ``"<model_type>:<first 16 hex digits>"``, wherever the file lies. A URL without one
    is named by the whole URL (``"<model_type>:<file stem>-<digest of the URL>"``: two
    URLs ending in the same file name are two models). A local file is named by its
    resolved path, size and modification time, so another checkpoint (a later epoch,
    the same file name in another folder, a file overwritten with new weights) gets
    another id and misses the cached embeddings of the old one.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ("sam_finetuned_epoch1.pth", "sam_finetuned_epoch2.pth"):
    ...     _ = (d / name).write_bytes(b"weights")
    >>> a = checkpoint_model_id("vit_b", d / "sam_finetuned_epoch1.pth")
    >>> b = checkpoint_model_id("vit_b", d / "sam_finetuned_epoch2.pth")
    >>> a.startswith("vit_b:sam_finetuned_epoch1-"), a != b
    (True, True)
    """
    if sha256:
        return f"{model_type}:{sha256.lower()[:16]}"
    s = os.fspath(path)
    if "://" in s:
        name = s.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return f"{model_type}:{Path(name).stem[:48]}-{_url_digest(s)}"
    resolved = Path(path).resolve()
    st = resolved.stat()
    key = f"{resolved}\0{st.st_size}\0{st.st_mtime_ns}".encode()
    return f"{model_type}:{resolved.stem[:48]}-{hashlib.blake2b(key, digest_size=8).hexdigest()}"


def _device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchSam:
    """SAM on torch (CPU or CUDA), from segment-anything's model registry.

    ``model_type`` is a registry key (``vit_h``, ``vit_l``, ``vit_b``); ``checkpoint`` a
    path or URL (the published URL of ``model_type`` when ``"default"``), checked by
    ``sha256`` when given. ``model=`` takes an already built ``Sam`` instead (e.g.
    :func:`tiny_sam`). ``model_id`` names the model in embedding caches; by default it is
    :func:`checkpoint_model_id` of the checkpoint (its sha256, or its resolved path, size
    and modification time), so new weights never reuse old embeddings.
    """

    def __init__(self, model_type: str = "vit_h", checkpoint: str | os.PathLike[str] | None = None,
                 *, sha256: str | None = None, device: str = "auto", model: Any = None,
                 model_id: str | None = None, cache_dir: str | os.PathLike[str] | None = None
                 ) -> None:
        from segment_anything import SamPredictor, sam_model_registry

        self.device = _device(device)
        if model is None:
            if model_type not in sam_model_registry:
                raise ValidationError(f"TorchSam: model_type {model_type!r} is not in "
                                      f"segment-anything's registry "
                                      f"({', '.join(sorted(sam_model_registry))})")
            if checkpoint is None:
                raise ValidationError("TorchSam: give checkpoint='/path/sam.pth' (or a URL, or "
                                      "'default' for the published weights of model_type)")
            if os.fspath(checkpoint) == "default":
                if model_type not in CHECKPOINTS:
                    raise ValidationError(f"TorchSam: model_type {model_type!r} has no published "
                                          f"weights for checkpoint='default' (those of "
                                          f"{sorted(CHECKPOINTS)}); give one of them, or a "
                                          "checkpoint path or URL")
                checkpoint, sha256 = CHECKPOINTS[model_type]
            path = fetch_checkpoint(checkpoint, sha256, cache_dir)
            model = sam_model_registry[model_type](checkpoint=str(path))
            # a URL is named by the URL (as the sam_embed job names it), not by the
            # downloaded file
            named = checkpoint if "://" in os.fspath(checkpoint) else path
            model_id = model_id or checkpoint_model_id(model_type, named, sha256)
        self.model = model.to(self.device).eval()
        self.model_type = model_type
        self.model_id = model_id or f"{model_type}:custom-{id(model):x}"
        self.predictor = SamPredictor(self.model)
        self.encoder_calls = 0
        #: the predictor holds one image's state: one embed or predict at a time (two
        #: jobs sharing the model would read each other's features)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TorchSam({self.model_id!r}, device={self.device!r})"

    def embed(self, image: Any) -> Embedding:
        """Run the image encoder once (the heavy part)."""
        import torch

        arr = as_rgb_array(image)
        with self._lock:
            with torch.inference_mode():
                self.predictor.set_image(arr, image_format="RGB")
            self.encoder_calls += 1
            feats = self.predictor.features.detach().float().cpu().numpy().astype(np.float16)
            oh, ow = self.predictor.original_size
            ih, iw = self.predictor.input_size
        return Embedding(feats, (int(oh), int(ow)), (int(ih), int(iw)), self.model_id)

    def predict(self, embedding: Embedding, points: np.ndarray | None, labels: np.ndarray | None,
                box: np.ndarray | None = None, multimask: bool = True,
                mask_input: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks ``(K, H, W)`` bool, scores ``(K,)`` and the low-resolution logits
        ``(K, 256, 256)`` (feed one back as ``mask_input`` to refine with more clicks)."""
        import torch

        if embedding.model_id != self.model_id:
            raise ValidationError(f"TorchSam: the embedding was made by {embedding.model_id!r}, "
                                  f"not by this model ({self.model_id!r}); embed the image again")
        h, w = embedding.original_size
        where = type(self).__name__
        pts, lab, bx = check_prompts(points, labels, box, height=h, width=w, where=where)
        if not len(pts) and bx is None:
            raise ValidationError(f"{where}: give at least one click or a box")
        if mask_input is not None and np.shape(mask_input) not in ((256, 256), (1, 256, 256)):
            raise ValidationError(f"{where}: mask_input has shape {np.shape(mask_input)}; give "
                                  "one (256, 256) low-resolution mask from a previous predict")
        if bx is not None and (min(bx[0], bx[2]) >= w or max(bx[0], bx[2]) <= 0
                               or min(bx[1], bx[3]) >= h or max(bx[1], bx[3]) <= 0):
            # a box wholly outside the image holds nothing (as the classical wand answers)
            return (np.zeros((0, h, w), bool), np.zeros(0, np.float64),
                    np.zeros((0, 256, 256), np.float32))
        p = self.predictor
        with self._lock:
            p.reset_image()
            p.features = torch.from_numpy(embedding.features.astype(np.float32)).to(self.device)
            p.original_size = embedding.original_size
            p.input_size = embedding.input_size
            p.is_image_set = True
            with torch.inference_mode():
                masks, scores, low = p.predict(
                    point_coords=pts.astype(np.float32) if len(pts) else None,
                    point_labels=lab if len(pts) else None,
                    box=None if bx is None else bx.astype(np.float32),
                    mask_input=None if mask_input is None else np.asarray(
                        mask_input, np.float32).reshape(1, 256, 256),
                    multimask_output=multimask)
        order = np.argsort(-scores)
        return masks[order].astype(bool), scores[order].astype(np.float64), low[order]

    def __call__(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray,
                 box: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The ``segment_fn`` hook (embeds on every call; use :class:`CachedSegmenter`
        to embed each image once)."""
        masks, scores, _ = self.predict(self.embed(image), points, labels, box)
        return masks, np.clip(scores, 0.0, 1.0)


class ModalSam(TorchSam):
    """SAM with the image encoder on a Modal GPU and the decoder local.

    The embedding is computed by ``gpu_jobs/sam_embed.py``'s ``SamEmbedder`` (deployed
    as ``app_name``); the local model only needs its prompt encoder and mask decoder
    (the same checkpoint). Needs ``pip install labelnb[modal]`` and a Modal token.

    The container must encode with the very weights the decoder here has: it gets the
    checkpoint's ``sha256`` (computed from the local file when not given) and checks its
    own copy against it, and each embedding comes back with the container's model id;
    one that is not the id of these weights is refused (:class:`ValidationError`).
    ``remote_checkpoint`` is where the container finds the weights: a path in it (on
    the ``labelnb-weights`` Volume at ``/weights``) or a URL; by default the URL when
    ``checkpoint`` is one (or ``"default"``), else ``/weights/sam_<model_type>.pth``.
    """

    def __init__(self, model_type: str = "vit_h", checkpoint: str | os.PathLike[str] | None = None,
                 *, app_name: str = "labelnb-sam", sha256: str | None = None, device: str = "cpu",
                 model: Any = None, model_id: str | None = None, remote: Any = None,
                 remote_checkpoint: str | None = None,
                 cache_dir: str | os.PathLike[str] | None = None) -> None:
        if model is None and checkpoint is not None:
            if os.fspath(checkpoint) == "default" and model_type in CHECKPOINTS:
                checkpoint, sha256 = CHECKPOINTS[model_type]
            given = os.fspath(checkpoint)
            if remote_checkpoint is None and "://" in given:
                remote_checkpoint = given  # the container downloads the same URL
            if sha256 is None and model_type in _registry():
                # the digest the container checks its copy against (read once here;
                # the local file then needs no second check)
                path = fetch_checkpoint(checkpoint, None, cache_dir)
                sha256 = file_sha256(path)
                model_id = model_id or checkpoint_model_id(model_type, path, sha256)
                super().__init__(model_type, path, device=device, model_id=model_id,
                                 cache_dir=cache_dir)
            else:
                super().__init__(model_type, checkpoint, sha256=sha256, device=device,
                                 model_id=model_id, cache_dir=cache_dir)
        else:
            super().__init__(model_type, checkpoint, sha256=sha256, device=device, model=model,
                             model_id=model_id, cache_dir=cache_dir)
        self.app_name = app_name
        self.sha256 = sha256.lower() if sha256 else None
        self.remote_checkpoint = remote_checkpoint or ""
        #: the model id the container must report: that of these weights (an explicit
        #: ``model_id`` only renames the embeddings made with them)
        self.weights_id = (checkpoint_model_id(model_type, "", self.sha256) if self.sha256
                           else self.model_id)
        self._remote = remote

    def _embedder(self) -> Any:
        if self._remote is None:
            try:
                import modal
            except ImportError as e:
                raise LabelnbError("ModalSam needs the modal package: pip install "
                                   "'labelnb[modal]'") from e
            cls = modal.Cls.from_name(self.app_name, "SamEmbedder")
            self._remote = cls(model_type=self.model_type, checkpoint=self.remote_checkpoint,
                               sha256=self.sha256 or "").embed.remote
        return self._remote

    def embed(self, image: Any) -> Embedding:
        import io

        from PIL import Image

        arr = as_rgb_array(image)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        out = self._embedder()([buf.getvalue()])
        if not isinstance(out, dict) or "model_id" not in out:
            raise LabelnbError(f"ModalSam: the Modal app {self.app_name!r} answered in an older "
                               "format (no model id); redeploy it: modal deploy "
                               "gpu_jobs/sam_embed.py")
        if out["model_id"] != self.weights_id:
            remote = self.remote_checkpoint or f"/weights/sam_{self.model_type}.pth"
            where = "" if self.model_type == "tiny" else f" (checkpoint {remote!r} there)"
            raise ValidationError(
                f"ModalSam: the Modal app {self.app_name!r} encoded the image with model "
                f"{out['model_id']!r}{where}, not with the "
                f"weights of this decoder ({self.weights_id!r}); masks decoded from it would "
                "be noise. Fix: upload the same checkpoint (modal volume put labelnb-weights "
                f"<file> /sam_{self.model_type}.pth) or pass remote_checkpoint= its path or URL "
                "in the container")
        e = out["embeddings"][0]
        self.encoder_calls += 1
        feats = np.frombuffer(e["features"], np.float16).reshape(e["shape"])
        oh, ow = e["original_size"]
        ih, iw = e["input_size"]
        return Embedding(feats.copy(), (int(oh), int(ow)), (int(ih), int(iw)), self.model_id)


def _registry() -> Any:
    from segment_anything import sam_model_registry

    return sam_model_registry


def modal_configured() -> bool:
    """Whether Modal credentials are present (token in the environment or ~/.modal.toml)."""
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return True
    return (Path.home() / ".modal.toml").is_file()


def auto(checkpoint: str | os.PathLike[str] | None = None, model_type: str = "vit_h", *,
         use_modal: bool | None = None) -> Any:
    """The best segmenter this machine can run, with a log line saying which and why:
    SAM on a local GPU (needs ``checkpoint``), else SAM on Modal if configured (needs
    ``checkpoint`` for the local decoder), else the classical wand."""
    from labelnb.segment.wand import ClassicalWand

    try:
        import torch

        gpu = bool(torch.cuda.is_available())
    except ImportError:
        gpu = False
    if gpu and checkpoint is not None:
        seg: Any = TorchSam(model_type, checkpoint, device="cuda")
        log.info("labelnb: segmenter = SAM %s on the local GPU", model_type)
        return seg
    if (use_modal if use_modal is not None else modal_configured()) and checkpoint is not None:
        seg = ModalSam(model_type, checkpoint)
        log.info("labelnb: segmenter = SAM %s, encoder on Modal, decoder local", model_type)
        return seg
    if checkpoint is None:
        log.info("labelnb: segmenter = the classical wand (no SAM checkpoint given)")
    else:  # SAM was asked for by name: say so where a notebook shows it
        import warnings

        given = os.fspath(checkpoint)
        # a path that is not there fails later on a GPU machine too: say so now
        missing = ("" if given == "default" or "://" in given or Path(given).exists()
                   else " (and that file does not exist here: give the path of the downloaded "
                   "weights, or 'default' for the published ones)")
        warnings.warn(f"labelnb: SAM checkpoint {given!r} not used: no GPU "
                      "here and Modal is not configured, so the segmenter is the classical "
                      f"wand; run SAM on the CPU with TorchSam({model_type!r}, checkpoint, "
                      f"device='cpu') (slow), or configure Modal{missing}", UserWarning,
                      stacklevel=2)
    return ClassicalWand()
